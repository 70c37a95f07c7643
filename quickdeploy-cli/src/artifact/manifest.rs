//! The manifest: what an artifact in S3 holds, file by file (path, size, SHA-256, mode).
//!
//! One manifest per artifact. It is kept in two places: beside the artifact in S3
//! (`<key>.manifest.json`, without modification times), so a fresh clone or a CI runner can
//! diff against what is deployed, and in the project's `.quickdeploy/` folder with each file's
//! modification time, so files whose size and mtime did not move are not even read. The type
//! is the patcher's ([`zipedit::manifest`]): a quick deploy's patcher rewrites the copy in S3
//! itself, from the changes it applies, so the whole manifest does not travel each deploy.
//!
//! A manifest names the artifact's ETag: it describes that object and no other. Whether a
//! function runs that object is Lambda's to say (its CodeSha256), not the manifest's.

use std::path::{Path, PathBuf};

use crate::project::template::S3Object;

pub use zipedit::manifest::{FORMAT, FileEntry, Manifest};

/// The artifact a manifest describes.
pub fn artifact_of(m: &Manifest) -> S3Object {
    S3Object {
        bucket: m.bucket.clone(),
        key: m.key.clone(),
        version: m.version_id.clone(),
    }
}

/// Where the remote copy of an artifact's manifest is kept (the patcher's convention: it
/// keeps the copy up to date).
pub fn remote_key(artifact_key: &str) -> String {
    zipedit::manifest::key_of(artifact_key)
}

/// Where the local copy of an artifact's manifest is kept, under the state folder.
pub fn local_path(state_dir: &Path, artifact: &S3Object) -> PathBuf {
    let name: String = format!("{}/{}", artifact.bucket, artifact.key)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    state_dir.join("manifests").join(format!("{name}.json"))
}

/// Reads a local manifest; `None` when there is none or it cannot be used (it is a cache:
/// the remote copy is the truth).
pub fn load_local(path: &Path) -> Option<Manifest> {
    let text = std::fs::read(path).ok()?;
    serde_json::from_slice::<Manifest>(&text)
        .ok()
        .filter(|m| m.format == FORMAT)
}

/// Writes a local manifest atomically, creating the state folder (which ignores itself in
/// git) when needed.
pub fn save_local(path: &Path, manifest: &Manifest) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    if let Some(state) = dir.parent() {
        let ignore = state.join(".gitignore");
        if !ignore.exists() {
            std::fs::write(ignore, "# quickdeploy's local state\n*\n")?;
        }
    }
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    serde_json::to_writer_pretty(&mut tmp, manifest)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Hex of a SHA-256 digest.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_are_flat_and_safe() {
        let p = local_path(
            Path::new("/s"),
            &S3Object {
                bucket: "b".into(),
                key: "apps/../x y.zip".into(),
                version: None,
            },
        );
        assert_eq!(p, Path::new("/s/manifests/b_apps_.._x_y.zip.json"));
    }

    #[test]
    fn saves_and_loads_and_ignores_itself() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join(".quickdeploy/manifests/a.json");
        let mut m = Manifest {
            format: FORMAT,
            bucket: "b".into(),
            key: "k".into(),
            etag: "\"e\"".into(),
            ..Manifest::default()
        };
        m.files.insert(
            "a.py".into(),
            FileEntry {
                size: 1,
                sha256: sha256_hex(b"x"),
                executable: false,
                mtime_ns: Some(5),
            },
        );
        save_local(&path, &m).expect("save");
        assert_eq!(load_local(&path), Some(m.clone()));
        assert!(dir.path().join(".quickdeploy/.gitignore").exists());
        assert_eq!(m.for_remote().files["a.py"].mtime_ns, None);
        std::fs::write(&path, "{").expect("corrupt");
        assert_eq!(load_local(&path), None);
    }
}
