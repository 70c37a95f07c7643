//! The previous content of the files sent as deltas ("bases"): from the local cache of what
//! this machine deployed, else from the artifact itself, which a fresh clone or a CI runner
//! has too: one ranged read of its end (the central directory says where each entry is) and
//! one ranged read per entry, of just its compressed bytes.
//!
//! The cache is `.quickdeploy/content/<sha256>`, the files as deployed, by SHA-256, bounded
//! in size: the least recently used go first. A base is checked against the SHA-256 the
//! deployed manifest names before it is used; a stale or damaged copy is only a cache miss.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context as _;
use serde::Serialize;
use zipedit::delta::sha256_hex;
use zipedit::event::S3Url;

use crate::artifact::remote::Head;
use crate::project::template::S3Object;

/// The cache's folder under the project's `.quickdeploy/`.
pub const CACHE_DIR: &str = "content";
/// The most the cache holds before the least recently used files are removed.
pub const CACHE_LIMIT: u64 = 1 << 30;

/// Where a base came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// This machine's cache.
    Cache,
    /// A ranged read of the artifact.
    Artifact,
}

/// The content cache of one project.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
    limit: u64,
}

impl Cache {
    /// The cache below `state_dir` (the project's `.quickdeploy/`), holding at most `limit`
    /// bytes.
    pub fn new(state_dir: &Path, limit: u64) -> Self {
        Self {
            dir: state_dir.join(CACHE_DIR),
            limit,
        }
    }

    /// The content with this SHA-256 (hex), if cached and intact. A hit is marked as used.
    pub fn get(&self, sha256: &str) -> Option<Vec<u8>> {
        let path = self.dir.join(sha256);
        let data = std::fs::read(&path).ok()?;
        if sha256_hex(&data) != sha256 {
            let _ = std::fs::remove_file(&path);
            return None;
        }
        // Least recently used goes first: a hit counts as a use.
        let _ = std::fs::File::options()
            .append(true)
            .open(&path)
            .and_then(|f| f.set_modified(SystemTime::now()));
        Some(data)
    }

    /// Keeps `data`, whose SHA-256 (hex) is `sha256` (the diff or the package computed it),
    /// written whole or not at all; then trims the cache to its limit.
    pub fn put(&self, sha256: &str, data: &[u8]) -> anyhow::Result<()> {
        let path = self.dir.join(sha256);
        if !path.exists() {
            std::fs::create_dir_all(&self.dir)
                .with_context(|| format!("cannot create {}", self.dir.display()))?;
            let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)
                .with_context(|| format!("cannot write in {}", self.dir.display()))?;
            std::io::Write::write_all(&mut tmp, data)?;
            tmp.persist(&path)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        self.trim();
        Ok(())
    }

    /// Removes the least recently used files until the cache is within its limit.
    fn trim(&self) {
        let Ok(read) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut files: Vec<(SystemTime, u64, PathBuf)> = read
            .filter_map(Result::ok)
            .filter_map(|e| {
                let m = e.metadata().ok().filter(|m| m.is_file())?;
                Some((m.modified().ok()?, m.len(), e.path()))
            })
            .collect();
        let mut total: u64 = files.iter().map(|(_, len, _)| len).sum();
        files.sort();
        for (_, len, path) in files {
            if total <= self.limit {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                total -= len;
            }
        }
    }
}

/// The bases found for a diff: content by path, where each came from, and the bytes read
/// from S3 for them.
#[derive(Debug, Default)]
pub struct Bases {
    /// Previous content, by path.
    pub content: HashMap<String, Vec<u8>>,
    /// Where each came from, by path.
    pub from: HashMap<String, Origin>,
    /// Bytes read from the artifact for them.
    pub read_bytes: u64,
}

/// The previous content of `wanted` (path and the SHA-256 the deployed manifest names): from
/// `cache`, and the rest from the artifact as `head` saw it. A base that cannot be read is
/// left out (its file goes compressed instead); the error says why, for a warning.
pub async fn find(
    s3: &aws_sdk_s3::Client,
    cache: &Cache,
    artifact: &S3Object,
    head: &Head,
    wanted: &[(String, String)],
) -> (Bases, Option<anyhow::Error>) {
    let mut bases = Bases::default();
    let mut missing = Vec::new();
    for (path, sha) in wanted {
        match cache.get(sha) {
            Some(data) => {
                bases.content.insert(path.clone(), data);
                bases.from.insert(path.clone(), Origin::Cache);
            }
            None => missing.push((path.clone(), sha.clone())),
        }
    }
    if missing.is_empty() {
        return (bases, None);
    }
    let error = from_artifact(s3, artifact, head, &missing, &mut bases)
        .await
        .err();
    (bases, error)
}

/// Reads the entries `missing` names from the artifact, checked against their SHA-256, into
/// `bases` (and the cache is left alone: it holds what this machine deployed). The reads are
/// the patcher's own ([`zipedit::s3::read_entries`]), pinned to the version `head` saw.
async fn from_artifact(
    s3: &aws_sdk_s3::Client,
    artifact: &S3Object,
    head: &Head,
    missing: &[(String, String)],
    bases: &mut Bases,
) -> anyhow::Result<()> {
    let url = S3Url {
        bucket: artifact.bucket.clone(),
        key: artifact.key.clone(),
    };
    let current = zipedit::s3::Current {
        etag: head.etag.clone(),
        size: head.size,
        version_id: head.version_id.clone(),
        checkpoint: None,
    };
    let names: Vec<String> = missing.iter().map(|(path, _)| path.clone()).collect();
    let (mut found, read_bytes) = zipedit::s3::read_entries(s3, &url, &current, &names)
        .await
        .with_context(|| format!("cannot read the previous files from {artifact}"))?;
    bases.read_bytes += read_bytes;
    for (path, sha) in missing {
        if let Some(content) = found.remove(path).filter(|c| &sha256_hex(c) == sha) {
            bases.content.insert(path.clone(), content);
            bases.from.insert(path.clone(), Origin::Artifact);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_gives_back_intact_content_and_stays_within_its_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = Cache::new(dir.path(), 250);
        let (a, b, c) = (vec![1u8; 100], vec![2u8; 100], vec![3u8; 100]);
        cache.put(&sha256_hex(&a), &a).expect("put a");
        cache.put(&sha256_hex(&b), &b).expect("put b");
        // a is used after b was written: b is now the least recently used.
        let old = SystemTime::now() - std::time::Duration::from_secs(60);
        for (data, age) in [(&a, 0), (&b, 30)] {
            let f = std::fs::File::options()
                .append(true)
                .open(dir.path().join(CACHE_DIR).join(sha256_hex(data)))
                .expect("open");
            f.set_modified(old + std::time::Duration::from_secs(age))
                .expect("mtime");
        }
        assert_eq!(cache.get(&sha256_hex(&a)), Some(a.clone()));
        cache.put(&sha256_hex(&c), &c).expect("put c");
        assert_eq!(
            cache.get(&sha256_hex(&b)),
            None,
            "least recently used: gone"
        );
        assert_eq!(cache.get(&sha256_hex(&a)), Some(a));
        assert_eq!(cache.get(&sha256_hex(&c)), Some(c.clone()));
        // A damaged copy is a miss, and is removed.
        let path = dir.path().join(CACHE_DIR).join(sha256_hex(&c));
        std::fs::write(&path, b"damaged").expect("damage");
        assert_eq!(cache.get(&sha256_hex(&c)), None);
        assert!(!path.exists());
    }
}
