//! Which file events matter to `quickdeploy watch`, and how a burst of them becomes one batch.
//!
//! A path matters when it is the template, `quickdeploy.toml`, or a file that belongs to a
//! package: the package's [`PackageFilter`] decides, the same rules `scan` packages by
//! (version-control and editor noise, caches, our own state, the configured ignores, and what
//! `.gitignore` files ignore, nested ones included). A package folder that git ignores as a
//! whole (a build output folder) is still watched: it is what that function's package is made
//! of. A change to a `.gitignore` those rules read matters too, and is read again.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::package::filter::PackageFilter;
use crate::package::spec::PackageSpec;

/// Decides which paths matter.
#[derive(Debug)]
pub struct Filter {
    packages: Vec<PackageFilter>,
    files: Vec<PathBuf>,
}

fn absolute(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_owned())
}

impl Filter {
    /// Watches `roots` (package folders and extra paths, each with `ignores` besides the
    /// defaults) and `files` (template, config); `project` is the project root, up to which
    /// `.gitignore` files are read.
    pub fn new(project: &Path, roots: &[PathBuf], files: &[PathBuf], ignores: &[String]) -> Self {
        let packages: Vec<PackageSpec> = roots
            .iter()
            .map(|r| PackageSpec {
                folder: r.clone(),
                include: Vec::new(),
                ignore: ignores.to_vec(),
            })
            .collect();
        Self::for_packages(project, &packages, files)
    }

    /// Watches each package of `packages` by its own ignores, and `files` (template, config);
    /// `project` is the project root, up to which `.gitignore` files are read.
    pub fn for_packages<'a>(
        project: &Path,
        packages: impl IntoIterator<Item = &'a PackageSpec>,
        files: &[PathBuf],
    ) -> Self {
        Self {
            packages: packages
                .into_iter()
                .map(|spec| PackageFilter::lenient(spec, project))
                .collect(),
            files: files.iter().map(|f| absolute(f)).collect(),
        }
    }

    /// The folders to watch recursively (each package folder and extra path, once).
    pub fn watch_roots(&self) -> Vec<PathBuf> {
        let mut roots: Vec<PathBuf> = Vec::new();
        for root in self.packages.iter().flat_map(PackageFilter::roots) {
            if !roots.iter().any(|r| r == root) {
                roots.push(root.to_owned());
            }
        }
        roots
    }

    /// The single files to watch (through their folders).
    pub fn watch_files(&self) -> &[PathBuf] {
        &self.files
    }

    /// True when a change at `path` may need a deploy.
    pub fn relevant(&self, path: &Path) -> bool {
        if self.files.iter().any(|f| f == path) {
            return true;
        }
        if path.file_name() == Some(std::ffi::OsStr::new(".gitignore"))
            && let Some(dir) = path.parent()
        {
            // Its rules may have changed: read it again when next needed.
            for p in &self.packages {
                p.forget(dir);
            }
            if self.packages.iter().any(|p| p.reads(path)) {
                return true;
            }
        }
        // A deleted path's kind is unknown: it counts as a file.
        let dir = path.is_dir();
        self.packages.iter().any(|p| p.includes(path, dir))
    }
}

/// When a batch of file events is complete: the adaptive debounce. A lone save (one file,
/// its events arriving together) ends after `settle` of quiet, so it deploys at once; as soon
/// as the batch shows a burst (another file, or the same file saved again), it ends only after
/// `burst` of quiet, so an editor saving several files or a `git checkout` is one round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Debounce {
    /// The quiet that ends a lone save.
    pub settle: Duration,
    /// The quiet that ends a burst (`--debounce-ms`).
    pub burst: Duration,
}

/// Events of one path this close to its first are one save (a write's truncate, data and
/// metadata events), not a second one.
pub const SAME_SAVE: Duration = Duration::from_millis(5);

impl Debounce {
    /// A burst ends after `burst` of quiet; a lone save after a fifth of it (20 ms of the
    /// default 100 ms): long enough for one save's events to arrive together, short against a
    /// deploy.
    pub fn adaptive(burst: Duration) -> Self {
        Self {
            settle: burst / 5,
            burst,
        }
    }
}

/// A batch being collected: its paths, when each was first seen, and whether it is a burst
/// (pure: the clock is the caller's).
#[derive(Debug, Clone)]
pub struct Batch {
    first: std::collections::BTreeMap<PathBuf, std::time::Instant>,
    last: std::time::Instant,
    burst: bool,
}

impl Batch {
    /// A batch of one event, at `now`.
    pub fn start(path: PathBuf, now: std::time::Instant) -> Self {
        Self {
            first: std::collections::BTreeMap::from([(path, now)]),
            last: now,
            burst: false,
        }
    }

    /// Another event, at `now`: another path, or the same path saved again, makes a burst.
    pub fn add(&mut self, path: PathBuf, now: std::time::Instant) {
        match self.first.get(&path) {
            Some(at) if now.saturating_duration_since(*at) <= SAME_SAVE => {}
            Some(_) => self.burst = true,
            None => {
                self.burst = true;
                self.first.insert(path, now);
            }
        }
        self.last = self.last.max(now);
    }

    /// True once it is a burst.
    pub fn is_burst(&self) -> bool {
        self.burst
    }

    /// When it is complete if nothing else comes.
    pub fn ends_at(&self, d: Debounce) -> std::time::Instant {
        self.last + if self.burst { d.burst } else { d.settle }
    }

    /// Its paths.
    pub fn paths(self) -> BTreeSet<PathBuf> {
        self.first.into_keys().collect()
    }
}

/// Collects one batch: the first path, then every path that comes until the batch is complete
/// ([`Debounce`]). `None` when the stream ended.
pub async fn next_batch(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<PathBuf>,
    debounce: Debounce,
) -> Option<BTreeSet<PathBuf>> {
    let first = rx.recv().await?;
    let mut batch = Batch::start(first, std::time::Instant::now());
    loop {
        let end = tokio::time::Instant::from_std(batch.ends_at(debounce));
        match tokio::time::timeout_at(end, rx.recv()).await {
            Ok(Some(p)) => batch.add(p, std::time::Instant::now()),
            _ => return Some(batch.paths()),
        }
    }
}

/// Adds to `batch` every path that comes until `window` passes without one.
pub async fn drain(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<PathBuf>,
    window: Duration,
    batch: &mut BTreeSet<PathBuf>,
) {
    while let Ok(Some(p)) = tokio::time::timeout(window, rx.recv()).await {
        batch.insert(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tmp");
        for p in [
            "src/fn/app.py",
            "build/out/bootstrap",
            "template.yaml",
            "README.md",
        ] {
            let p = dir.path().join(p);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, "x").expect("write");
        }
        std::fs::write(dir.path().join(".gitignore"), "build/\n*.log\n").expect("gitignore");
        dir
    }

    #[test]
    fn packages_template_and_config_matter_noise_does_not() {
        let dir = project();
        let root = absolute(dir.path());
        let f = Filter::new(
            &root,
            &[root.join("src/fn"), root.join("build/out")],
            &[root.join("template.yaml")],
            &["*.md".into()],
        );
        assert!(f.relevant(&root.join("src/fn/app.py")));
        assert!(f.relevant(&root.join("src/fn/new/module.py")));
        assert!(f.relevant(&root.join("template.yaml")));
        assert!(
            !f.relevant(&root.join("README.md")),
            "outside every package"
        );
        assert!(
            !f.relevant(&root.join("src/fn/.app.py.swp")),
            "editor swap file"
        );
        assert!(!f.relevant(&root.join("src/fn/app.py~")), "backup file");
        assert!(!f.relevant(&root.join("src/fn/__pycache__/app.pyc")));
        assert!(!f.relevant(&root.join("src/fn/run.log")), "git ignores it");
        assert!(
            !f.relevant(&root.join("src/fn/NOTES.md")),
            "a configured ignore"
        );
        assert!(
            f.relevant(&root.join("build/out/bootstrap")),
            "a build output folder that git ignores is still a package"
        );
    }

    /// Watch reacts to a path exactly when scan packages it.
    fn agree(project: &Path, spec: &PackageSpec, filter: &Filter, files: &[&str]) -> Vec<String> {
        let packaged: Vec<String> = crate::package::scan::scan_in(spec, project)
            .expect("scan")
            .into_iter()
            .map(|f| f.path)
            .collect();
        let folder = absolute(&spec.folder);
        for f in files {
            let path = folder.join(f);
            assert_eq!(
                filter.relevant(&path),
                packaged.iter().any(|p| p == f),
                "{f}: watch and scan disagree ({packaged:?})"
            );
        }
        packaged
    }

    #[test]
    fn scan_and_watch_agree_on_nested_gitignores_and_negations() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = absolute(dir.path());
        let files = [
            "app.py",
            "debug.log",
            "data/fixture.json",
            "data/notes.txt",
            "data/keep.txt",
            "data/deep/more.txt",
            "vendor/lib.py",
        ];
        for f in files {
            let p = root.join("src/fn").join(f);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, "x").expect("write");
        }
        std::fs::write(root.join("quickdeploy.toml"), "").expect("config");
        std::fs::write(root.join(".gitignore"), "*.log\n").expect("gitignore");
        // Nested, in a subfolder of the package: a pattern and its negation.
        std::fs::write(root.join("src/fn/data/.gitignore"), "*.txt\n!keep.txt\n")
            .expect("nested gitignore");
        std::fs::write(root.join("src/fn/.gitignore"), "vendor/\n").expect("gitignore");
        let spec = PackageSpec {
            folder: root.join("src/fn"),
            include: Vec::new(),
            ignore: Vec::new(),
        };
        let filter = Filter::for_packages(&root, [&spec], &[]);
        let packaged = agree(&root, &spec, &filter, &files);
        assert_eq!(
            packaged,
            [
                ".gitignore",
                "app.py",
                "data/.gitignore",
                "data/fixture.json",
                "data/keep.txt"
            ]
        );
        // Filter::new (flat roots and ignores) decides the same.
        let flat = Filter::new(&root, &[root.join("src/fn")], &[], &[]);
        agree(&root, &spec, &flat, &files);
        // The nested .gitignore changes: watch hears it, and both read it afresh.
        let nested = root.join("src/fn/data/.gitignore");
        std::fs::write(&nested, "*.json\n").expect("rewrite");
        assert!(filter.relevant(&nested));
        let packaged = agree(&root, &spec, &filter, &files);
        assert!(
            packaged.iter().any(|p| p == "data/notes.txt"),
            "{packaged:?}"
        );
        assert!(
            !packaged.iter().any(|p| p == "data/fixture.json"),
            "{packaged:?}"
        );
    }

    #[test]
    fn a_package_folder_git_ignores_as_a_whole_is_packaged_and_watched() {
        let dir = project();
        let root = absolute(dir.path());
        std::fs::write(root.join("quickdeploy.toml"), "").expect("config");
        std::fs::write(root.join("build/out/trace.log"), "x").expect("write");
        std::fs::write(root.join("build/out/bootstrap.swp"), "x").expect("write");
        let spec = PackageSpec {
            folder: root.join("build/out"),
            include: Vec::new(),
            ignore: Vec::new(),
        };
        let filter = Filter::for_packages(&root, [&spec], &[]);
        let packaged = agree(
            &root,
            &spec,
            &filter,
            &["bootstrap", "trace.log", "bootstrap.swp"],
        );
        // The root .gitignore's `build/` and `*.log` are left out for it; built-ins are not.
        assert_eq!(packaged, ["bootstrap", "trace.log"]);
    }

    #[tokio::test]
    async fn a_burst_is_one_batch_and_a_pause_splits_batches() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for i in 0..5 {
            tx.send(PathBuf::from(format!("f{}", i % 2))).expect("send");
        }
        let d = Debounce::adaptive(Duration::from_millis(50));
        let batch = next_batch(&mut rx, d).await.expect("batch");
        assert_eq!(batch.len(), 2, "five events on two paths");
        tokio::spawn(async move {
            tx.send(PathBuf::from("a")).expect("send");
            tokio::time::sleep(Duration::from_millis(200)).await;
            tx.send(PathBuf::from("b")).expect("send");
        });
        let one = next_batch(&mut rx, d).await.expect("batch");
        let two = next_batch(&mut rx, d).await.expect("batch");
        assert_eq!((one.len(), two.len()), (1, 1));
        assert!(next_batch(&mut rx, d).await.is_none(), "sender gone");
    }

    #[test]
    fn a_lone_save_ends_at_once_and_a_burst_waits_for_quiet() {
        let d = Debounce::adaptive(Duration::from_millis(100));
        assert_eq!(d.settle, Duration::from_millis(20));
        let t0 = std::time::Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        // One save: its events (truncate, data) within a millisecond or two.
        let mut lone = Batch::start("a.py".into(), t0);
        lone.add("a.py".into(), ms(1));
        assert!(!lone.is_burst());
        assert_eq!(lone.ends_at(d), ms(21), "the settle after its last event");
        // The same file saved again 10 ms later: an editor's double save, one round.
        let mut double = lone.clone();
        double.add("a.py".into(), ms(10));
        assert!(double.is_burst());
        assert_eq!(double.ends_at(d), ms(110));
        // Another file: an editor saving several, a checkout.
        let mut several = Batch::start("a.py".into(), t0);
        several.add("b.py".into(), t0);
        assert!(several.is_burst());
        assert_eq!(several.ends_at(d), ms(100));
        // Each new event moves the end; the paths are each once.
        several.add("c.py".into(), ms(90));
        assert_eq!(several.ends_at(d), ms(190));
        // An event the clock saw earlier (a late delivery) does not move it back.
        several.add("a.py".into(), ms(50));
        assert_eq!(several.ends_at(d), ms(190));
        assert_eq!(several.paths().len(), 3);
    }
}
