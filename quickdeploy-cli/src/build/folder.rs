//! Making a build folder hold exactly the files it should while writing only those that
//! changed, so unchanged files keep their modification times and the diff stays O(change).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::tool::{BuildError, io};
use crate::build::method::Build;
use crate::package::scan::scan_in;

/// The source folder's files, by the rules of a package (ignores, `.gitignore`, links).
pub fn add_sources(
    wanted: &mut BTreeMap<String, PathBuf>,
    b: &Build,
    root: &Path,
) -> Result<(), BuildError> {
    let files = scan_in(&b.source_spec(), root).map_err(|source| BuildError::Source {
        ids: b.ids.join(", "),
        source,
    })?;
    wanted.extend(files.into_iter().map(|f| (f.path, f.source)));
    Ok(())
}

/// Every file under `dir`, as `prefix/<path inside dir>`.
pub fn add_tree(
    wanted: &mut BTreeMap<String, PathBuf>,
    dir: &Path,
    prefix: &str,
    ids: &str,
) -> Result<(), BuildError> {
    for entry in walkdir::WalkDir::new(dir).follow_links(true) {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(dir).to_owned();
            io(ids, "read", &path, e.into())
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        let Ok(rel) = entry.path().strip_prefix(dir) else {
            continue;
        };
        let rel = rel.to_string_lossy().replace('\\', "/");
        let name = if prefix.is_empty() {
            rel
        } else {
            format!("{prefix}/{rel}")
        };
        wanted.insert(name, entry.into_path());
    }
    Ok(())
}

/// Makes `target` (inside the build folder `top`) hold exactly `wanted` (path inside it,
/// file it comes from): a file whose size and modification time (or, failing that, bytes)
/// match is left alone; a new or changed one is copied with its source's modification time;
/// anything else under `top` is removed. Returns (written, removed).
pub fn mirror(
    target: &Path,
    top: &Path,
    wanted: &BTreeMap<String, PathBuf>,
    ids: &str,
) -> Result<(usize, usize), BuildError> {
    std::fs::create_dir_all(target).map_err(|e| io(ids, "create", target, e))?;
    let dirs: std::collections::HashSet<&str> = wanted
        .keys()
        .flat_map(|k| k.match_indices('/').map(move |(i, _)| &k[..i]))
        .collect();
    let mut removed = 0;
    for entry in walkdir::WalkDir::new(top).contents_first(true).min_depth(1) {
        let entry = entry.map_err(|e| io(ids, "read", top, e.into()))?;
        let path = entry.path();
        let keep = path
            .strip_prefix(target)
            .ok()
            .map(|r| r.to_string_lossy().replace('\\', "/"))
            .is_some_and(|r| wanted.contains_key(&r) || dirs.contains(r.as_str()));
        let inside_target = target.starts_with(path);
        if keep || inside_target {
            continue;
        }
        let result = if entry.file_type().is_dir() {
            std::fs::remove_dir(path)
        } else {
            removed += 1;
            std::fs::remove_file(path)
        };
        result.map_err(|e| io(ids, "remove", path, e))?;
    }
    let mut written = 0;
    for (rel, from) in wanted {
        let to = target.join(rel);
        if same(from, &to) {
            continue;
        }
        copy(from, &to).map_err(|e| io(ids, "write", &to, e))?;
        written += 1;
    }
    Ok((written, removed))
}

/// True when `to` already holds `from`: same size, and the same modification time or else
/// the same bytes (a tool that rewrote an identical file).
pub fn same(from: &Path, to: &Path) -> bool {
    let (Ok(a), Ok(b)) = (std::fs::metadata(from), std::fs::symlink_metadata(to)) else {
        return false;
    };
    if !b.is_file() || a.len() != b.len() {
        return false;
    }
    if a.modified()
        .ok()
        .is_some_and(|t| b.modified().ok() == Some(t))
    {
        return true;
    }
    matches!((std::fs::read(from), std::fs::read(to)), (Ok(x), Ok(y)) if x == y)
}

/// Copies `from` to `to` (permissions too), giving it `from`'s modification time, so the
/// next build and the diff see it as unchanged.
pub fn copy(from: &Path, to: &Path) -> std::io::Result<()> {
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if to.is_dir() {
        std::fs::remove_dir_all(to)?;
    } else if to.symlink_metadata().is_ok() {
        std::fs::remove_file(to)?;
    }
    std::fs::copy(from, to)?;
    let modified = std::fs::metadata(from)?.modified()?;
    std::fs::File::options()
        .write(true)
        .open(to)?
        .set_modified(modified)
}
