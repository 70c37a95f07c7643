//! Which paths belong to a package: the one answer both `scan` (what is packaged and diffed)
//! and `watch` (what starts a deploy) ask, so a file is never deployed by one rule and
//! watched by another.
//!
//! A path belongs to its package when it is under the package folder or one of its `include`
//! paths and nothing ignores it:
//! - the built-in ignores ([`DEFAULT_IGNORES`]: version control, editor swap and backup files,
//!   caches, `.quickdeploy/`) and the package's configured `ignore` patterns, in gitignore
//!   syntax relative to the package folder (or include path); a configured `!pattern` brings
//!   back a path a `.gitignore` ignores (`ignore = ["!node_modules/"]` for dependencies
//!   installed into a package folder that git ignores);
//! - the `.gitignore` files, read as git reads them: every one inside the package (nested ones
//!   included) and those in the folders above it up to the project root. The nearest file
//!   that has a say decides, `!pattern` re-includes, and nothing under an ignored folder comes
//!   back. (Not `.git/info/exclude` nor the user's global excludes: what is deployed must not
//!   depend on the machine deploying it.)
//!
//! A package folder (or include path) that the `.gitignore` files above it ignore as a whole,
//! such as a build output folder, is still a package: those files' rules are then left out
//! for it, while the `.gitignore` files inside it still apply.
//!
//! (Over 500 lines with its tests: about 380 lines of rules, and their cases beside them.)

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::package::spec::{PackageSpec, ScanError};

/// Left out of every package, in gitignore syntax: version control, caches, editor leftovers,
/// our own state.
pub const DEFAULT_IGNORES: &[&str] = &[
    ".git/",
    ".hg/",
    ".svn/",
    ".quickdeploy/",
    "__pycache__/",
    "*.pyc",
    ".DS_Store",
    "*.swp",
    "*.swo",
    "*.swx",
    "*~",
    ".#*",
    // Emacs autosaves, `#name#`; escaped, as a bare `#` starts a comment.
    "\\#*#",
];

/// The file git reads its ignore rules from, in every folder.
const GITIGNORE: &str = ".gitignore";

/// Decides which paths belong to one package. Cheap to clone (shared inside); reads each
/// folder's `.gitignore` once, when first needed.
#[derive(Debug, Clone)]
pub struct PackageFilter {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The package folder, then each `include` path, in the spec's order.
    roots: Vec<Root>,
    /// The built-in and configured ignores; matched with paths relative to a root.
    own: Gitignore,
    /// Each folder's `.gitignore` as read (`None`: it has none), by the folder's path.
    gitignores: Mutex<HashMap<PathBuf, Option<Arc<Gitignore>>>>,
}

#[derive(Debug)]
struct Root {
    /// As the spec gives it: a walk from here yields paths in the caller's form.
    given: PathBuf,
    /// Resolved: the OS watcher reports paths under this.
    real: PathBuf,
    /// The folders above it whose `.gitignore` apply to it, from the project root down to
    /// its parent; none when it is not under the project root.
    parents: Vec<PathBuf>,
}

impl PackageFilter {
    /// The filter of `spec`'s package in the project whose root (where `quickdeploy.toml`
    /// is) is `project`: `.gitignore` files are read up to there. A configured ignore pattern
    /// that is not valid is an error.
    pub fn new(spec: &PackageSpec, project: &Path) -> Result<Self, ScanError> {
        Self::build(spec, Some(project), true)
    }

    /// [`PackageFilter::new`] with the project root found from the package folder: the
    /// nearest folder at or above it holding `quickdeploy.toml`, else a `.git`; with neither,
    /// only the `.gitignore` files inside the package count.
    pub fn discover(spec: &PackageSpec) -> Result<Self, ScanError> {
        let project = project_root(&spec.folder);
        Self::build(spec, project.as_deref(), true)
    }

    /// Like [`PackageFilter::new`], but a configured pattern that is not valid is left out
    /// rather than refused (for `watch`, which must keep going; the deploy reports it).
    pub fn lenient(spec: &PackageSpec, project: &Path) -> Self {
        Self::build(spec, Some(project), false).unwrap_or_else(|_| {
            // Only a glob set that cannot be built at all gets here: the built-ins alone.
            let bare = PackageSpec {
                ignore: Vec::new(),
                ..spec.clone()
            };
            Self::build(&bare, Some(project), false).unwrap_or_else(|_| Self::empty())
        })
    }

    fn empty() -> Self {
        Self {
            inner: Arc::new(Inner {
                roots: Vec::new(),
                own: Gitignore::empty(),
                gitignores: Mutex::new(HashMap::new()),
            }),
        }
    }

    fn build(spec: &PackageSpec, project: Option<&Path>, strict: bool) -> Result<Self, ScanError> {
        let project = project.map(real);
        let roots = std::iter::once(&spec.folder)
            .chain(&spec.include)
            .map(|given| {
                let real = real(given);
                let parents = match &project {
                    Some(p) if real.starts_with(p) && real != *p => real
                        .ancestors()
                        .skip(1)
                        .take_while(|a| a.starts_with(p))
                        .map(Path::to_owned)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect(),
                    _ => Vec::new(),
                };
                Root {
                    given: given.clone(),
                    real,
                    parents,
                }
            })
            .collect();
        Ok(Self {
            inner: Arc::new(Inner {
                roots,
                own: own_rules(&spec.ignore, strict)?,
                gitignores: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// True when `path` (a file, or a folder when `is_dir`) belongs to the package: it is
    /// under the package folder or an `include` path, and neither it nor a folder between it
    /// and there is ignored. An `include` path that names a file belongs as a whole; a root
    /// folder itself is not a file of the package.
    pub fn includes(&self, path: &Path, is_dir: bool) -> bool {
        (0..self.inner.roots.len()).any(|i| {
            let Some(rel) = self.relative(i, path) else {
                return false;
            };
            if rel.is_empty() {
                return !is_dir;
            }
            let above = self.above_applies(i);
            (1..=rel.len()).all(|k| {
                let dir = k < rel.len() || is_dir;
                !self.ignored_here(i, &rel[..k], dir, above)
            })
        })
    }

    /// True when `path` is a `.gitignore` this filter reads: in a folder of the package that
    /// is not ignored, or in a folder above it up to the project root. A change to it may
    /// change what belongs.
    pub fn reads(&self, path: &Path) -> bool {
        if path.file_name() != Some(OsStr::new(GITIGNORE)) {
            return false;
        }
        let Some(dir) = path.parent() else {
            return false;
        };
        self.inner
            .roots
            .iter()
            .any(|r| dir == r.real || dir == r.given || r.parents.iter().any(|p| p == dir))
            || self.includes(dir, true)
    }

    /// Reads `dir`'s `.gitignore` afresh when next needed (it changed).
    pub fn forget(&self, dir: &Path) {
        self.gitignores().remove(dir);
    }

    /// The package folder and its `include` paths, resolved.
    pub fn roots(&self) -> impl Iterator<Item = &Path> {
        self.inner.roots.iter().map(|r| r.real.as_path())
    }

    /// A walk of root `index` (0: the package folder, then each `include` path in order) that
    /// goes only where the package is: it does not enter an ignored folder and skips ignored
    /// files, by the rules of [`PackageFilter::includes`] (each entry checked once, its
    /// folders having been checked as the walk entered them). Links are followed.
    pub(crate) fn walk(&self, index: usize) -> ignore::Walk {
        let root = &self.inner.roots[index];
        let filter = self.clone();
        let above = self.above_applies(index);
        ignore::WalkBuilder::new(&root.given)
            .standard_filters(false)
            .follow_links(true)
            .filter_entry(move |entry| {
                let Some(rel) = filter.relative(index, entry.path()) else {
                    return true;
                };
                if rel.is_empty() {
                    return true;
                }
                let dir = entry.file_type().is_some_and(|t| t.is_dir());
                !filter.ignored_here(index, &rel, dir, above)
            })
            .build()
    }

    /// `path`'s components below root `index`, when it is under it (as given or resolved).
    fn relative<'p>(&self, index: usize, path: &'p Path) -> Option<Vec<&'p OsStr>> {
        let root = &self.inner.roots[index];
        let rel = path
            .strip_prefix(&root.real)
            .or_else(|_| path.strip_prefix(&root.given))
            .ok()?;
        Some(rel.iter().collect())
    }

    /// Whether the rules ignore `rel` (under root `index`) itself, its folders aside. The
    /// configured and built-in rules first, then the nearest `.gitignore` with a say; those
    /// above the root only when `above`.
    fn ignored_here(&self, index: usize, rel: &[&OsStr], is_dir: bool, above: bool) -> bool {
        let root = &self.inner.roots[index];
        let path: PathBuf = rel.iter().collect();
        if let Some(ignored) = decided(self.inner.own.matched(&path, is_dir)) {
            return ignored;
        }
        for depth in (0..rel.len()).rev() {
            let dir: PathBuf = root.real.join(rel[..depth].iter().collect::<PathBuf>());
            if let Some(git) = self.gitignore(&dir) {
                let below: PathBuf = rel[depth..].iter().collect();
                if let Some(ignored) = decided(git.matched(&below, is_dir)) {
                    return ignored;
                }
            }
        }
        if above {
            for parent in root.parents.iter().rev() {
                if let Some(git) = self.gitignore(parent)
                    && let Ok(from) = root.real.strip_prefix(parent)
                {
                    let below = from.join(&path);
                    if let Some(ignored) = decided(git.matched(&below, is_dir)) {
                        return ignored;
                    }
                }
            }
        }
        false
    }

    /// False when the `.gitignore` files above root `index` ignore it as a whole (a build
    /// output folder): then their rules are left out for it.
    fn above_applies(&self, index: usize) -> bool {
        let root = &self.inner.roots[index];
        let Some(top) = root.parents.first() else {
            return true;
        };
        let Ok(rel) = root.real.strip_prefix(top) else {
            return true;
        };
        let rel: Vec<&OsStr> = rel.iter().collect();
        for k in 1..=rel.len() {
            // The folders above this candidate, nearest first: parents[k-1] down to parents[0].
            for parent in root.parents[..k.min(root.parents.len())].iter().rev() {
                let Some(git) = self.gitignore(parent) else {
                    continue;
                };
                let Ok(from) = parent.strip_prefix(top) else {
                    continue;
                };
                let skip = from.iter().count();
                let below: PathBuf = rel[skip..k].iter().collect();
                match decided(git.matched(&below, true)) {
                    Some(true) => return false,
                    Some(false) => break,
                    None => {}
                }
            }
        }
        true
    }

    fn gitignores(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Option<Arc<Gitignore>>>> {
        self.inner
            .gitignores
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `dir`'s `.gitignore`, read once; `None` when it has none (or nothing in it).
    fn gitignore(&self, dir: &Path) -> Option<Arc<Gitignore>> {
        let mut cache = self.gitignores();
        if let Some(known) = cache.get(dir) {
            return known.clone();
        }
        let file = dir.join(GITIGNORE);
        let read = if file.is_file() {
            let mut b = GitignoreBuilder::new(dir);
            // A line git cannot read is skipped, as git skips it; the others still count.
            let _ = b.add(&file);
            b.build().ok().filter(|g| !g.is_empty()).map(Arc::new)
        } else {
            None
        };
        cache.insert(dir.to_owned(), read.clone());
        read
    }
}

/// `Some(true)` ignored, `Some(false)` re-included, `None` no say.
fn decided<T>(m: Match<T>) -> Option<bool> {
    match m {
        Match::None => None,
        Match::Ignore(_) => Some(true),
        Match::Whitelist(_) => Some(false),
    }
}

/// The built-in ignores and `configured`, as one matcher of paths relative to a root.
fn own_rules(configured: &[String], strict: bool) -> Result<Gitignore, ScanError> {
    let mut b = GitignoreBuilder::new("");
    for pattern in DEFAULT_IGNORES
        .iter()
        .copied()
        .chain(configured.iter().map(String::as_str))
    {
        if let Err(e) = b.add_line(None, pattern)
            && strict
        {
            return Err(ScanError::BadPattern {
                pattern: pattern.to_owned(),
                message: e.to_string(),
            });
        }
    }
    b.build().map_err(|e| ScanError::BadPattern {
        pattern: configured.join(", "),
        message: e.to_string(),
    })
}

/// `p` resolved when it exists, else made absolute as it stands.
fn real(p: &Path) -> PathBuf {
    p.canonicalize()
        .or_else(|_| std::path::absolute(p))
        .unwrap_or_else(|_| p.to_owned())
}

/// The nearest folder at or above `folder` holding `quickdeploy.toml`, else a `.git`.
fn project_root(folder: &Path) -> Option<PathBuf> {
    let start = real(folder);
    let find = |marker: &str| {
        start
            .ancestors()
            .find(|d| d.join(marker).exists())
            .map(Path::to_owned)
    };
    find(crate::project::config::FILE_NAME).or_else(|| find(".git"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tmp");
        for (p, body) in files {
            let p = dir.path().join(p);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, body).expect("write");
        }
        dir
    }

    fn spec(folder: PathBuf) -> PackageSpec {
        PackageSpec {
            folder,
            include: Vec::new(),
            ignore: Vec::new(),
        }
    }

    #[test]
    fn nested_gitignores_decide_nearest_first_and_negations_re_include() {
        let dir = tree(&[
            ("quickdeploy.toml", ""),
            (".gitignore", "*.log\n*.tmp\n"),
            ("src/.gitignore", "!keep.log\n"),
            ("src/fn/.gitignore", "fixtures/\n*.txt\n!keep.txt\n"),
            ("src/fn/sub/.gitignore", "!*.tmp\n"),
        ]);
        let root = real(dir.path());
        let f = PackageFilter::new(&spec(root.join("src/fn")), &root).expect("filter");
        let yes = |p: &str| f.includes(&root.join(p), false);
        assert!(yes("src/fn/app.py"));
        assert!(!yes("src/fn/notes.txt"), "the package's own .gitignore");
        assert!(yes("src/fn/keep.txt"), "negated there");
        assert!(
            !yes("src/fn/fixtures/data.json"),
            "an ignored folder's files"
        );
        assert!(!f.includes(&root.join("src/fn/fixtures"), true));
        assert!(!yes("src/fn/run.log"), "the project root's .gitignore");
        assert!(yes("src/fn/keep.log"), "re-included by a nearer one above");
        assert!(!yes("src/fn/a.tmp"));
        assert!(yes("src/fn/sub/a.tmp"), "a nested one inside the package");
        assert!(!yes("src/other/app.py"), "outside the package");
        assert!(!f.includes(&root.join("src/fn"), true), "the folder itself");
        assert!(
            !yes("src/fn/.git/config") && !yes("src/fn/x.py~"),
            "built-in"
        );
        assert!(!yes("src/fn/#x.py#") && !yes("src/fn/.quickdeploy/m.json"));
        assert!(f.reads(&root.join(".gitignore")) && f.reads(&root.join("src/fn/sub/.gitignore")));
        assert!(
            !f.reads(&root.join("src/other/.gitignore")) && !f.reads(&root.join("src/fn/a.py"))
        );
    }

    #[test]
    fn nothing_under_an_ignored_folder_comes_back() {
        let dir = tree(&[
            ("quickdeploy.toml", ""),
            ("fn/.gitignore", "out/\n!out/keep.txt\n"),
        ]);
        let root = real(dir.path());
        let f = PackageFilter::new(&spec(root.join("fn")), &root).expect("filter");
        assert!(
            !f.includes(&root.join("fn/out/keep.txt"), false),
            "as git does"
        );
    }

    #[test]
    fn a_package_folder_ignored_as_a_whole_is_still_a_package() {
        let dir = tree(&[
            ("quickdeploy.toml", ""),
            (".gitignore", "build/\n*.log\n"),
            ("build/out/.gitignore", "*.map\n"),
        ]);
        let root = real(dir.path());
        let f = PackageFilter::new(&spec(root.join("build/out")), &root).expect("filter");
        assert!(f.includes(&root.join("build/out/bootstrap"), false));
        assert!(
            f.includes(&root.join("build/out/trace.log"), false),
            "the rules above it are left out"
        );
        assert!(
            !f.includes(&root.join("build/out/app.js.map"), false),
            "its own still count"
        );
        // A folder beside it that git does not ignore keeps every rule.
        let g = PackageFilter::new(&spec(root.join("src")), &root).expect("filter");
        assert!(!g.includes(&root.join("src/trace.log"), false));
    }

    #[test]
    fn configured_patterns_ignore_and_bring_back() {
        let dir = tree(&[
            ("quickdeploy.toml", ""),
            (".gitignore", "*.gen.js\nnode_modules/\n"),
        ]);
        let root = real(dir.path());
        let f = PackageFilter::new(
            &PackageSpec {
                folder: root.join("fn"),
                include: vec![root.join("shared")],
                ignore: vec!["tests/".into(), "!*.gen.js".into(), "!node_modules/".into()],
            },
            &root,
        )
        .expect("filter");
        assert!(!f.includes(&root.join("fn/tests/t.py"), false));
        assert!(
            !f.includes(&root.join("shared/tests/t.py"), false),
            "relative to each root"
        );
        assert!(
            f.includes(&root.join("fn/api.gen.js"), false),
            "brought back"
        );
        // Dependencies installed into the package folder, which git ignores: brought back.
        assert!(f.includes(&root.join("fn/node_modules/left-pad/index.js"), false));
        let plain = PackageFilter::new(&spec(root.join("fn")), &root).expect("filter");
        assert!(!plain.includes(&root.join("fn/node_modules/left-pad/index.js"), false));
        assert!(f.includes(&root.join("shared/x.py"), false));
        let bad = PackageSpec {
            ignore: vec!["a{b".into()],
            ..spec(root.join("fn"))
        };
        assert!(matches!(
            PackageFilter::new(&bad, &root),
            Err(ScanError::BadPattern { .. })
        ));
        assert!(PackageFilter::lenient(&bad, &root).includes(&root.join("fn/a.py"), false));
    }

    #[test]
    fn a_changed_gitignore_is_read_again_once_forgotten() {
        let dir = tree(&[("quickdeploy.toml", ""), ("fn/a.py", "")]);
        let root = real(dir.path());
        let f = PackageFilter::new(&spec(root.join("fn")), &root).expect("filter");
        assert!(f.includes(&root.join("fn/a.py"), false));
        std::fs::write(root.join("fn/.gitignore"), "a.py\n").expect("write");
        assert!(f.includes(&root.join("fn/a.py"), false), "read once");
        f.forget(&root.join("fn"));
        assert!(!f.includes(&root.join("fn/a.py"), false));
    }

    #[test]
    fn the_project_root_is_where_quickdeploy_toml_is() {
        let dir = tree(&[
            (".gitignore", "*.py\n"),
            ("app/quickdeploy.toml", ""),
            ("app/.gitignore", "*.log\n"),
            ("app/fn/a.py", ""),
        ]);
        let root = real(dir.path());
        assert_eq!(project_root(&root.join("app/fn")), Some(root.join("app")));
        let f = PackageFilter::discover(&spec(root.join("app/fn"))).expect("filter");
        assert!(
            f.includes(&root.join("app/fn/a.py"), false),
            "nothing above the project"
        );
        assert!(!f.includes(&root.join("app/fn/a.log"), false));
    }
}
