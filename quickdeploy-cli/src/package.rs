//! Packaging a folder into a deterministic zip, by the engine's rules (sorted paths, fixed
//! timestamps, 0644/0755): the same files always give the same bytes and CodeSha256, so an
//! unchanged package is recognised and not uploaded again.

use std::collections::BTreeMap;

use anyhow::Context;
use zipedit::{ChangeSet, Mode, PatchOptions, PutFile};

use crate::diff::LocalFile;
use crate::manifest::{FileEntry, sha256_hex};

/// A packaged artifact.
#[derive(Debug, Clone)]
pub struct Package {
    /// The zip.
    pub bytes: Vec<u8>,
    /// Its CodeSha256.
    pub code_sha256: String,
    /// The hash checkpoint zipedit stores beside an artifact so the next append need not
    /// read it (`offset:state`).
    pub checkpoint: String,
    /// What it holds.
    pub files: BTreeMap<String, FileEntry>,
}

/// Reads `files` and zips them.
pub fn package(files: &[LocalFile]) -> anyhow::Result<Package> {
    let mut puts = Vec::with_capacity(files.len());
    let mut manifest = BTreeMap::new();
    for f in files {
        let data = std::fs::read(&f.source)
            .with_context(|| format!("cannot read {}", f.source.display()))?;
        manifest.insert(
            f.path.clone(),
            FileEntry {
                size: data.len() as u64,
                sha256: sha256_hex(&data),
                executable: f.executable,
                mtime_ns: f.mtime_ns,
            },
        );
        puts.push(PutFile::new(f.path.clone(), data).executable(f.executable));
    }
    let changes = ChangeSet {
        puts,
        deletes: Vec::new(),
    };
    let opts = PatchOptions {
        mode: Mode::Rewrite,
        ..PatchOptions::default()
    };
    let patched = zipedit::patch_bytes(&zipedit::EMPTY_ARCHIVE, &changes, &opts)
        .context("cannot build the package zip")?;
    let cp = &patched.report.checkpoint;
    Ok(Package {
        code_sha256: patched.report.code_sha256.clone(),
        checkpoint: format!("{}:{}", cp.offset, cp.state),
        bytes: patched.tail,
        files: manifest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn same_files_same_bytes_whatever_the_mtime() {
        let dir = tempfile::tempdir().expect("tmp");
        let a = dir.path().join("a.py");
        let b = dir.path().join("run");
        std::fs::write(&a, "print(1)\n").expect("write");
        std::fs::write(&b, "#!/bin/sh\n").expect("write");
        let files = |mtime| {
            vec![
                LocalFile {
                    path: "a.py".into(),
                    source: a.clone(),
                    size: 9,
                    mtime_ns: Some(mtime),
                    executable: false,
                },
                LocalFile {
                    path: "bin/run".into(),
                    source: b.clone(),
                    size: 10,
                    mtime_ns: Some(mtime),
                    executable: true,
                },
            ]
        };
        let one = package(&files(1)).expect("package");
        let two = package(&files(2)).expect("package");
        assert_eq!(one.bytes, two.bytes);
        assert_eq!(one.code_sha256, zipedit::code_sha256(&one.bytes));
        let back = crate::remote::entries(&one.bytes).expect("reads back");
        assert!(back["bin/run"].executable && !back["a.py"].executable);
        assert_eq!(back["a.py"].sha256, one.files["a.py"].sha256);
        let missing = LocalFile {
            source: PathBuf::from("/nonexistent/x"),
            ..files(1)[0].clone()
        };
        assert!(package(&[missing]).is_err());
    }
}
