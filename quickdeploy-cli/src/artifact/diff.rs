//! What changed in a package since its artifact was written: pure logic over a list of local
//! files, the artifact's manifest, and a reader the caller gives (so tests need no disk).
//!
//! A file whose size, mtime and mode match its manifest entry is taken as unchanged without
//! being read; any other file is read and hashed, and counts as changed only if its SHA-256
//! or mode differs. A file changed back to what is deployed is therefore not a change.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::artifact::manifest::{FileEntry, sha256_hex};

/// A file of a package on disk, as the scan found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile {
    /// Its path inside the archive (`/`-separated).
    pub path: String,
    /// Where it is on disk.
    pub source: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: Option<u64>,
    /// Any execute bit set.
    pub executable: bool,
}

/// A changed file's new content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Put {
    /// Path inside the archive.
    pub path: String,
    /// The content.
    pub data: Vec<u8>,
    /// Hex SHA-256 of the content (the diff hashed it to compare).
    pub sha256: String,
    /// 0755 rather than 0644.
    pub executable: bool,
    /// New, rather than replacing a file.
    pub added: bool,
}

/// The difference between a package and its artifact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    /// New and modified files, with their content, sorted by path.
    pub puts: Vec<Put>,
    /// Paths in the artifact that are no longer in the package, sorted.
    pub deletes: Vec<String>,
    /// Files that had to be read and hashed (size, mtime or mode moved).
    pub hashed: usize,
    /// The manifest files as they will be once the change is deployed.
    pub next: BTreeMap<String, FileEntry>,
}

impl Diff {
    /// Nothing to deploy.
    pub fn is_empty(&self) -> bool {
        self.puts.is_empty() && self.deletes.is_empty()
    }

    /// Every changed path: puts then deletes.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.puts
            .iter()
            .map(|p| p.path.as_str())
            .chain(self.deletes.iter().map(String::as_str))
    }

    /// Counts: added, modified, deleted.
    pub fn counts(&self) -> (usize, usize, usize) {
        let added = self.puts.iter().filter(|p| p.added).count();
        (added, self.puts.len() - added, self.deletes.len())
    }
}

/// Compares `local` with `deployed`; `read` gives a file's content when it must be hashed.
pub fn diff<E>(
    deployed: &BTreeMap<String, FileEntry>,
    local: &[LocalFile],
    mut read: impl FnMut(&LocalFile) -> Result<Vec<u8>, E>,
) -> Result<Diff, E> {
    diff_hashed(deployed, local, |f| {
        let data = read(f)?;
        let sha = sha256_hex(&data);
        Ok((data, sha))
    })
}

/// [`diff`] with a reader that also gives the content's hex SHA-256: several targets'
/// diffs of one package then hash each file once ([`crate::plan::local`]).
pub fn diff_hashed<E>(
    deployed: &BTreeMap<String, FileEntry>,
    local: &[LocalFile],
    mut read: impl FnMut(&LocalFile) -> Result<(Vec<u8>, String), E>,
) -> Result<Diff, E> {
    let mut out = Diff::default();
    for file in local {
        let before = deployed.get(&file.path);
        if let Some(entry) = before {
            let untouched = entry.size == file.size
                && entry.executable == file.executable
                && entry.mtime_ns.is_some()
                && entry.mtime_ns == file.mtime_ns;
            if untouched {
                out.next.insert(file.path.clone(), entry.clone());
                continue;
            }
        }
        let (data, sha256) = read(file)?;
        out.hashed += 1;
        let entry = FileEntry {
            size: data.len() as u64,
            sha256,
            executable: file.executable,
            mtime_ns: file.mtime_ns,
        };
        let same =
            before.is_some_and(|b| b.sha256 == entry.sha256 && b.executable == entry.executable);
        if !same {
            out.puts.push(Put {
                path: file.path.clone(),
                data,
                sha256: entry.sha256.clone(),
                executable: file.executable,
                added: before.is_none(),
            });
        }
        out.next.insert(file.path.clone(), entry);
    }
    out.deletes = deployed
        .keys()
        .filter(|p| !out.next.contains_key(*p))
        .cloned()
        .collect();
    out.puts.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn local(path: &str, size: u64, mtime: u64) -> LocalFile {
        LocalFile {
            path: path.into(),
            source: PathBuf::from(path),
            size,
            mtime_ns: Some(mtime),
            executable: false,
        }
    }

    fn entry(data: &[u8], mtime: Option<u64>) -> FileEntry {
        FileEntry {
            size: data.len() as u64,
            sha256: sha256_hex(data),
            executable: false,
            mtime_ns: mtime,
        }
    }

    #[test]
    fn untouched_files_are_not_read() {
        let deployed = BTreeMap::from([("a.py".to_string(), entry(b"aaa", Some(1)))]);
        let d = diff(
            &deployed,
            &[local("a.py", 3, 1)],
            |_| -> Result<Vec<u8>, ()> { panic!("must not read an untouched file") },
        )
        .expect("diff");
        assert!(d.is_empty());
        assert_eq!(d.hashed, 0);
    }

    #[test]
    fn added_modified_deleted_and_touched_but_same() {
        let deployed = BTreeMap::from([
            ("same.py".to_string(), entry(b"same", Some(1))),
            ("mod.py".to_string(), entry(b"old", Some(1))),
            ("gone.py".to_string(), entry(b"gone", Some(1))),
        ]);
        let disk: HashMap<&str, &[u8]> = HashMap::from([
            ("same.py", &b"same"[..]),
            ("mod.py", &b"new!"[..]),
            ("new.py", &b"n"[..]),
        ]);
        let files = [
            local("mod.py", 4, 2),
            local("new.py", 1, 2),
            local("same.py", 4, 9), // touched: read, hashed, not a change
        ];
        let d = diff(&deployed, &files, |f| {
            Ok::<_, ()>(disk[f.path.as_str()].to_vec())
        })
        .expect("diff");
        assert_eq!(
            d.paths().collect::<Vec<_>>(),
            ["mod.py", "new.py", "gone.py"]
        );
        assert_eq!(d.counts(), (1, 1, 1));
        assert_eq!(d.hashed, 3);
        assert_eq!(
            d.next["same.py"].mtime_ns,
            Some(9),
            "the cache learns the new mtime"
        );
        assert!(!d.next.contains_key("gone.py"));
    }

    #[test]
    fn a_remote_manifest_without_mtimes_means_hashing_everything_once() {
        let deployed = BTreeMap::from([("a.py".to_string(), entry(b"a", None))]);
        let d = diff(&deployed, &[local("a.py", 1, 1)], |_| {
            Ok::<_, ()>(b"a".to_vec())
        })
        .expect("diff");
        assert!(d.is_empty());
        assert_eq!(d.hashed, 1);
    }

    #[test]
    fn a_mode_change_is_a_change() {
        let deployed = BTreeMap::from([("run".to_string(), entry(b"#!", Some(1)))]);
        let mut f = local("run", 2, 1);
        f.executable = true;
        let d = diff(&deployed, &[f], |_| Ok::<_, ()>(b"#!".to_vec())).expect("diff");
        assert_eq!(d.puts.len(), 1);
        assert!(d.puts[0].executable && !d.puts[0].added);
    }

    #[test]
    fn read_errors_propagate() {
        let r = diff(&BTreeMap::new(), &[local("x", 1, 1)], |_| Err("denied"));
        assert_eq!(r, Err("denied"));
    }
}
