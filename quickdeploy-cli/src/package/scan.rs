//! Reading a package from disk: which files make it up, with their size, mtime and mode.
//!
//! A package is its folder plus any extra paths that belong to it (shared code outside the
//! folder, as monorepos have), minus what is ignored: the built-in and configured patterns
//! and what `.gitignore` files ignore, decided by [`PackageFilter`], the rules `watch` uses
//! too. Each extra path goes into the archive under its own name: `../shared` becomes
//! `shared/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use crate::artifact::diff::LocalFile;

pub use crate::package::filter::DEFAULT_IGNORES;
use crate::package::filter::PackageFilter;
pub use crate::package::spec::{PackageSpec, ScanError};

/// The package's files, sorted by archive path; the project root (for the `.gitignore`
/// files above the package) is found from the package folder ([`PackageFilter::discover`]).
///
/// Symbolic links are followed when they resolve inside the package folder or one of its
/// `include` paths (the file they point to is stored); a link that resolves anywhere else is
/// refused with [`ScanError::LinkOutside`], so a planted link cannot ship a secret.
pub fn scan(spec: &PackageSpec) -> Result<Vec<LocalFile>, ScanError> {
    let allowed = allowed_roots(spec)?;
    scan_with(spec, &PackageFilter::discover(spec)?, &allowed)
}

/// [`scan`] in the project whose root (where `quickdeploy.toml` is) is `project`.
pub fn scan_in(spec: &PackageSpec, project: &Path) -> Result<Vec<LocalFile>, ScanError> {
    let allowed = allowed_roots(spec)?;
    scan_with(spec, &PackageFilter::new(spec, project)?, &allowed)
}

fn scan_with(
    spec: &PackageSpec,
    filter: &PackageFilter,
    allowed: &[PathBuf],
) -> Result<Vec<LocalFile>, ScanError> {
    let mut found: BTreeMap<String, LocalFile> = BTreeMap::new();
    let mut add = |file: LocalFile| -> Result<(), ScanError> {
        if let Some(prev) = found.get(&file.path) {
            return Err(ScanError::Collision(
                file.path.clone(),
                prev.source.clone(),
                file.source,
            ));
        }
        found.insert(file.path.clone(), file);
        Ok(())
    };
    walk(filter, 0, &spec.folder, "", allowed, &mut add)?;
    for (i, extra) in spec.include.iter().enumerate() {
        let name = extra
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .ok_or_else(|| ScanError::Missing(extra.clone()))?;
        walk(filter, i + 1, extra, &name, allowed, &mut add)?;
    }
    Ok(found.into_values().collect())
}

/// Where links may point: the package folder and its `include` paths, resolved.
fn allowed_roots(spec: &PackageSpec) -> Result<Vec<PathBuf>, ScanError> {
    std::iter::once(&spec.folder)
        .chain(&spec.include)
        .map(|p| p.canonicalize().map_err(|_| ScanError::Missing(p.clone())))
        .collect()
}

/// Refuses a link that resolves outside `allowed`. Only links are resolved: everything else
/// below a root is inside it, and a file under a followed folder link was checked with the link.
pub fn check_link(path: &Path, allowed: &[PathBuf]) -> Result<(), ScanError> {
    let target = path
        .canonicalize()
        .map_err(|_| ScanError::LinkBroken(path.to_owned()))?;
    if allowed.iter().any(|root| target.starts_with(root)) {
        Ok(())
    } else {
        Err(ScanError::LinkOutside {
            link: path.to_owned(),
            target,
        })
    }
}

/// Adds the files of root `index` of `filter` (the folder at `root`), named under `prefix`.
fn walk(
    filter: &PackageFilter,
    index: usize,
    root: &Path,
    prefix: &str,
    allowed: &[PathBuf],
    add: &mut impl FnMut(LocalFile) -> Result<(), ScanError>,
) -> Result<(), ScanError> {
    if !root.exists() {
        return Err(ScanError::Missing(root.to_owned()));
    }
    if root.is_file() {
        return add(local_file(root, prefix.to_owned())?);
    }
    // Links are followed (a link inside the package is stored as the file it names) and each
    // one is checked against `allowed` as it is met; ignored folders are not entered.
    for entry in filter.walk(index) {
        let entry = entry.map_err(|e| ScanError::Io {
            path: root.to_owned(),
            message: e.to_string(),
        })?;
        if entry.path_is_symlink() {
            check_link(entry.path(), allowed)?;
        }
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
        let rel: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let path = if prefix.is_empty() {
            rel.join("/")
        } else {
            format!("{prefix}/{}", rel.join("/"))
        };
        add(local_file(entry.path(), path)?)?;
    }
    Ok(())
}

fn local_file(source: &Path, path: String) -> Result<LocalFile, ScanError> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::metadata(source).map_err(|e| ScanError::Io {
        path: source.to_owned(),
        message: e.to_string(),
    })?;
    let mtime_ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .and_then(|d| u64::try_from(d.as_nanos()).ok());
    Ok(LocalFile {
        path,
        source: source.to_owned(),
        size: meta.len(),
        mtime_ns,
        executable: meta.permissions().mode() & 0o111 != 0,
    })
}

/// The package's files after a save, from its previous scan (`previous`) and the paths the
/// file events named (`changed`, absolute): only those are looked at, so a save in a package
/// of thousands of files stats one. `None` when the events cannot say (a folder created,
/// renamed or deleted; a link; a `.gitignore`, whose rules decide what else belongs; an
/// `include` path): then only a full [`scan_in`] can.
pub fn rescan(
    spec: &PackageSpec,
    project: &Path,
    previous: &[LocalFile],
    changed: &std::collections::BTreeSet<PathBuf>,
) -> Option<Result<Vec<LocalFile>, ScanError>> {
    if !spec.include.is_empty() {
        return None;
    }
    let real = spec.folder.canonicalize().ok()?;
    let filter = PackageFilter::lenient(spec, project);
    let mut files: BTreeMap<String, LocalFile> = previous
        .iter()
        .map(|f| (f.path.clone(), f.clone()))
        .collect();
    for path in changed {
        let Some(rel) = path
            .strip_prefix(&real)
            .or_else(|_| path.strip_prefix(&spec.folder))
            .ok()
        else {
            continue;
        };
        if rel.as_os_str().is_empty()
            || path.file_name() == Some(std::ffi::OsStr::new(".gitignore"))
        {
            return None;
        }
        let rel: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let rel = rel.join("/");
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.is_file() => {
                if filter.includes(path, false) {
                    match local_file(&spec.folder.join(&rel), rel.clone()) {
                        Ok(f) => files.insert(rel, f),
                        Err(e) => return Some(Err(e)),
                    };
                } else {
                    files.remove(&rel);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // A deleted folder's files are gone too, and its events may not name them.
                let inside = format!("{rel}/");
                if files.keys().any(|k| k.starts_with(&inside)) {
                    return None;
                }
                files.remove(&rel);
            }
            // A folder (its files may have come with it unannounced), a link (scan checks
            // where it points), or an error the full scan reports best.
            _ => return None,
        }
    }
    Some(Ok(files.into_values().collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rescan_looks_only_at_the_named_paths_and_agrees_with_a_full_scan() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path().canonicalize().expect("real");
        std::fs::write(root.join("quickdeploy.toml"), "").expect("config");
        std::fs::write(root.join(".gitignore"), "*.log\n").expect("gitignore");
        let spec = PackageSpec {
            folder: root.join("fn"),
            include: Vec::new(),
            ignore: Vec::new(),
        };
        for (p, body) in [
            ("fn/app.py", "x"),
            ("fn/lib/util.py", "y"),
            ("fn/old.py", "o"),
        ] {
            let p = root.join(p);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, body).expect("write");
        }
        let before = scan_in(&spec, &root).expect("scan");
        // A save, a new file, a deletion, an ignored file, and a path of another package.
        std::fs::write(root.join("fn/app.py"), "changed").expect("write");
        std::fs::write(root.join("fn/lib/new.py"), "n").expect("write");
        std::fs::remove_file(root.join("fn/old.py")).expect("rm");
        std::fs::write(root.join("fn/debug.log"), "l").expect("write");
        let changed: std::collections::BTreeSet<PathBuf> = [
            "fn/app.py",
            "fn/lib/new.py",
            "fn/old.py",
            "fn/debug.log",
            "other/x.py",
        ]
        .iter()
        .map(|p| root.join(p))
        .collect();
        let quick = rescan(&spec, &root, &before, &changed)
            .expect("the events say it all")
            .expect("rescan");
        let full = scan_in(&spec, &root).expect("scan");
        let key = |v: &[LocalFile]| {
            v.iter()
                .map(|f| (f.path.clone(), f.size, f.mtime_ns, f.executable))
                .collect::<Vec<_>>()
        };
        assert_eq!(key(&quick), key(&full));
        assert_eq!(
            quick.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(),
            ["app.py", "lib/new.py", "lib/util.py"]
        );
        // What events cannot say: a new folder, a deleted one, a .gitignore.
        std::fs::create_dir_all(root.join("fn/pkg")).expect("mkdir");
        let dir_event = [root.join("fn/pkg")].into_iter().collect();
        assert!(rescan(&spec, &root, &full, &dir_event).is_none());
        std::fs::remove_dir_all(root.join("fn/lib")).expect("rm");
        let gone = [root.join("fn/lib")].into_iter().collect();
        assert!(rescan(&spec, &root, &full, &gone).is_none());
        let ignore = [root.join("fn/.gitignore")].into_iter().collect();
        assert!(rescan(&spec, &root, &full, &ignore).is_none());
    }

    #[test]
    fn walks_includes_and_ignores() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path();
        for (p, body) in [
            ("fn/app.py", "x"),
            ("fn/lib/util.py", "y"),
            ("fn/__pycache__/app.cpython-312.pyc", "z"),
            ("fn/.app.py.swp", "z"),
            ("fn/notes.md", "z"),
            ("shared/common.py", "c"),
        ] {
            let p = root.join(p);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, body).expect("write");
        }
        let spec = PackageSpec {
            folder: root.join("fn"),
            include: vec![root.join("fn/../shared")],
            ignore: vec!["*.md".into()],
        };
        let files = scan(&spec).expect("scan");
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["app.py", "lib/util.py", "shared/common.py"]);
        assert!(files.iter().all(|f| f.mtime_ns.is_some() && !f.executable));
    }

    #[test]
    fn gitignores_nested_and_above_decide_what_is_packaged() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path();
        for (p, body) in [
            ("quickdeploy.toml", ""),
            (".gitignore", "*.log\nbuild/\n"),
            ("fn/app.py", "x"),
            ("fn/run.log", "x"),
            ("fn/data/.gitignore", "*.txt\n!keep.txt\n"),
            ("fn/data/notes.txt", "x"),
            ("fn/data/keep.txt", "x"),
            ("build/out/bootstrap", "x"),
        ] {
            let p = root.join(p);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, body).expect("write");
        }
        let spec = |folder: &str| PackageSpec {
            folder: root.join(folder),
            include: vec![],
            ignore: vec![],
        };
        let paths =
            |files: Vec<LocalFile>| -> Vec<String> { files.into_iter().map(|f| f.path).collect() };
        let found = paths(scan(&spec("fn")).expect("scan"));
        assert_eq!(found, ["app.py", "data/.gitignore", "data/keep.txt"]);
        assert_eq!(
            paths(scan_in(&spec("fn"), root).expect("scan")),
            found,
            "the project root found is the one given"
        );
        // Ignored as a whole by the root .gitignore, and still a package.
        assert_eq!(
            paths(scan(&spec("build/out")).expect("scan")),
            ["bootstrap"]
        );
        // An ignored link is not followed, wherever it points.
        std::os::unix::fs::symlink("/etc/passwd", root.join("fn/data/x.txt")).expect("link");
        assert!(
            scan(&spec("fn")).is_ok(),
            "an ignored link is not part of the package"
        );
    }

    #[test]
    fn missing_folders_and_collisions_are_errors() {
        let dir = tempfile::tempdir().expect("tmp");
        let missing = PackageSpec {
            folder: dir.path().join("nope"),
            include: vec![],
            ignore: vec![],
        };
        assert!(matches!(scan(&missing), Err(ScanError::Missing(_))));
        std::fs::create_dir_all(dir.path().join("a/shared")).expect("mkdir");
        std::fs::create_dir_all(dir.path().join("shared")).expect("mkdir");
        std::fs::write(dir.path().join("a/shared/x.py"), "1").expect("write");
        std::fs::write(dir.path().join("shared/x.py"), "2").expect("write");
        let clash = PackageSpec {
            folder: dir.path().join("a"),
            include: vec![dir.path().join("shared")],
            ignore: vec![],
        };
        assert!(matches!(scan(&clash), Err(ScanError::Collision(..))));
    }

    #[test]
    fn links_inside_are_followed_links_outside_refused() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path();
        let pkg = root.join("fn");
        std::fs::create_dir_all(pkg.join("lib")).expect("mkdir");
        std::fs::create_dir_all(root.join("shared")).expect("mkdir");
        std::fs::create_dir_all(root.join("secret")).expect("mkdir");
        std::fs::write(pkg.join("lib/util.py"), "u").expect("write");
        std::fs::write(root.join("shared/common.py"), "c").expect("write");
        std::fs::write(root.join("secret/credentials"), "key").expect("write");
        symlink("lib/util.py", pkg.join("alias.py")).expect("link");
        symlink("lib", pkg.join("lib2")).expect("link");
        // Into an include path: allowed, it is part of the package.
        symlink("../shared/common.py", pkg.join("common.py")).expect("link");
        let spec = PackageSpec {
            folder: pkg.clone(),
            include: vec![root.join("shared")],
            ignore: vec![],
        };
        let files = scan(&spec).expect("links inside are fine");
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "alias.py",
                "common.py",
                "lib/util.py",
                "lib2/util.py",
                "shared/common.py"
            ]
        );

        for (name, target) in [
            ("creds", root.join("secret/credentials")),
            ("passwd", PathBuf::from("/etc/passwd")),
            ("outside", root.join("secret")),
        ] {
            let link = pkg.join(name);
            symlink(&target, &link).expect("link");
            match scan(&spec) {
                Err(ScanError::LinkOutside { link: l, .. }) => assert_eq!(l, link),
                other => panic!("{name}: expected LinkOutside, got {other:?}"),
            }
            let message = scan(&spec).expect_err("refused").to_string();
            assert!(message.contains(name) && message.contains("outside the package"));
            std::fs::remove_file(&link).expect("unlink");
        }
        symlink(root.join("nowhere"), pkg.join("dangling")).expect("link");
        // The walker meets it first: an error that names it.
        let broken = scan(&spec).expect_err("a broken link").to_string();
        assert!(broken.contains("dangling"), "{broken}");
    }
}
