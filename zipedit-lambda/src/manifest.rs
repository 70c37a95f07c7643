//! The manifest: what an artifact in S3 holds, file by file (path, size, SHA-256, mode).
//!
//! quickdeploy keeps one beside each artifact ([`key_of`]: `<key>.manifest.json`), so a fresh clone or a CI
//! runner can diff against what is deployed without reading the artifact. The patcher keeps it
//! up to date itself when an event names it ([`crate::event::PatchEvent::manifest`]): the
//! changed files' entries are all that change, and they are known where the patch is made, so
//! the manifest is rewritten next to S3 rather than sent whole from the deploying machine (a
//! package of thousands of files has a manifest of hundreds of kilobytes).
//!
//! A manifest names the artifact's ETag: it describes that object and no other. [`patched`]
//! refuses to carry forward one that does not describe the object the patch started from.
//!
//! [`patched`]: Manifest::patched

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::change::ChangeSet;

/// Where an artifact's manifest is kept: beside it, in its bucket.
pub fn key_of(artifact_key: &str) -> String {
    format!("{artifact_key}.manifest.json")
}

/// The manifest format's version, bumped when a field changes meaning.
pub const FORMAT: u32 = 1;

/// What one artifact holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The format version.
    pub format: u32,
    /// The artifact's bucket.
    pub bucket: String,
    /// The artifact's key.
    pub key: String,
    /// The ETag of the object this manifest describes.
    pub etag: String,
    /// Its version id, on a versioned bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// Base64 SHA-256 of the object, as Lambda's CodeSha256.
    pub code_sha256: String,
    /// The object's size.
    pub size: u64,
    /// Each file, by its path inside the archive.
    pub files: BTreeMap<String, FileEntry>,
}

/// One file in the artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Size in bytes.
    pub size: u64,
    /// Hex SHA-256 of the content.
    pub sha256: String,
    /// Mode 0755 rather than 0644.
    pub executable: bool,
    /// Modification time of the local file it was taken from, in nanoseconds since the epoch;
    /// only in a deploying machine's local copy, never beside the artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime_ns: Option<u64>,
}

/// The object a patch wrote: what the manifest beside it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Its ETag.
    pub etag: String,
    /// Its version id, on a versioned bucket.
    pub version_id: Option<String>,
    /// Base64 SHA-256, as Lambda's CodeSha256.
    pub code_sha256: String,
    /// Its size.
    pub size: u64,
}

impl Manifest {
    /// The copy stored beside the artifact: the same, without local modification times.
    pub fn for_remote(&self) -> Self {
        let mut m = self.clone();
        for f in m.files.values_mut() {
            f.mtime_ns = None;
        }
        m
    }

    /// The manifest of the object `written` by applying `changes` to the object this one
    /// describes; `None` when this one describes another object than `etag` (and `version`,
    /// when both are known) or is of another format: it cannot be carried forward.
    pub fn patched(
        &self,
        etag: &str,
        version: Option<&str>,
        changes: &ChangeSet,
        written: Written,
    ) -> Option<Manifest> {
        let same_version = match (self.version_id.as_deref(), version) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        if self.format != FORMAT || self.etag != etag || !same_version {
            return None;
        }
        let mut next = self.for_remote();
        for path in &changes.deletes {
            next.files.remove(path);
        }
        for put in &changes.puts {
            // As the engine gives the entry its mode: the put's, else the replaced entry's,
            // else the default (0755 only for a root `bootstrap`).
            let executable = put.executable.unwrap_or_else(|| {
                self.files
                    .get(&put.path)
                    .map_or(put.path == "bootstrap", |f| f.executable)
            });
            next.files.insert(
                put.path.clone(),
                FileEntry {
                    size: put.data.len() as u64,
                    sha256: crate::delta::sha256_hex(&put.data),
                    executable,
                    mtime_ns: None,
                },
            );
        }
        next.etag = written.etag;
        next.version_id = written.version_id;
        next.code_sha256 = written.code_sha256;
        next.size = written.size;
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::PutFile;

    fn entry(data: &[u8], executable: bool) -> FileEntry {
        FileEntry {
            size: data.len() as u64,
            sha256: crate::delta::sha256_hex(data),
            executable,
            mtime_ns: Some(7),
        }
    }

    fn before() -> Manifest {
        let mut m = Manifest {
            format: FORMAT,
            bucket: "b".into(),
            key: "k.zip".into(),
            etag: "\"old\"".into(),
            version_id: Some("v1".into()),
            code_sha256: "old=".into(),
            size: 100,
            files: BTreeMap::new(),
        };
        m.files.insert("app.py".into(), entry(b"print(1)\n", false));
        m.files.insert("bootstrap".into(), entry(b"\x7fELF", true));
        m.files.insert("gone.txt".into(), entry(b"x", false));
        m
    }

    fn written() -> Written {
        Written {
            etag: "\"new\"".into(),
            version_id: Some("v2".into()),
            code_sha256: "new=".into(),
            size: 120,
        }
    }

    #[test]
    fn the_changed_entries_change_and_the_rest_is_carried_forward() {
        let mut changes = ChangeSet::new()
            .put(PutFile::new("app.py", "print(2)\n"))
            .put(PutFile::new("bootstrap", "\x7fELF2"))
            .put(PutFile {
                path: "new.sh".into(),
                data: b"#!/bin/sh\n".to_vec(),
                executable: Some(true),
            });
        changes.deletes = vec!["gone.txt".into()];
        let next = before()
            .patched("\"old\"", Some("v1"), &changes, written())
            .expect("describes the object patched");
        assert_eq!(next.files.len(), 3);
        assert_eq!(
            next.files["app.py"],
            FileEntry {
                mtime_ns: None,
                ..entry(b"print(2)\n", false)
            }
        );
        assert!(
            next.files["bootstrap"].executable,
            "the replaced entry's mode"
        );
        assert!(next.files["new.sh"].executable, "the put's mode");
        assert!(!next.files.contains_key("gone.txt"));
        assert_eq!(
            (next.etag.as_str(), next.version_id.as_deref(), next.size),
            ("\"new\"", Some("v2"), 120)
        );
        assert!(
            next.files.values().all(|f| f.mtime_ns.is_none()),
            "no local times beside the artifact"
        );
    }

    #[test]
    fn a_manifest_of_another_object_is_not_carried_forward() {
        let changes = ChangeSet::new().put(PutFile::new("app.py", "print(2)\n"));
        let m = before();
        assert_eq!(
            m.patched("\"other\"", Some("v1"), &changes, written()),
            None
        );
        assert_eq!(m.patched("\"old\"", Some("v0"), &changes, written()), None);
        let old_format = Manifest {
            format: 0,
            ..before()
        };
        assert_eq!(
            old_format.patched("\"old\"", None, &changes, written()),
            None
        );
        assert!(m.patched("\"old\"", None, &changes, written()).is_some());
    }
}
