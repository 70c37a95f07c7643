//! Packaging a folder into a deterministic zip, by the engine's rules (sorted paths, fixed
//! timestamps, 0644/0755): the same files always give the same bytes and CodeSha256, so an
//! unchanged package is recognised and not uploaded again.
//!
//! The zip is streamed to a temporary file one file at a time ([`zipedit::ArchiveWriter`]), so
//! a package of hundreds of megabytes costs a copy buffer of memory, not its size twice; and
//! Lambda's size limits are checked first ([`crate::package::limits`]), before anything is read.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use anyhow::Context;

use crate::artifact::diff::LocalFile;
use crate::artifact::manifest::FileEntry;

/// A packaged artifact, in a temporary file deleted when this is dropped.
#[derive(Debug)]
pub struct Package {
    /// The zip.
    pub file: tempfile::NamedTempFile,
    /// Its length.
    pub size: u64,
    /// Its CodeSha256.
    pub code_sha256: String,
    /// The hash checkpoint zipedit stores beside an artifact so the next append need not
    /// read it (`offset:state`).
    pub checkpoint: String,
    /// What it holds.
    pub files: BTreeMap<String, FileEntry>,
}

impl Package {
    /// Where the zip is.
    pub fn path(&self) -> &Path {
        self.file.path()
    }
}

/// Checks `files` against Lambda's limits, then zips them into a temporary file in `dir`.
pub fn package(files: &[LocalFile], dir: &Path) -> anyhow::Result<Package> {
    crate::package::limits::check_package(files)?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    let out = tmp
        .reopen()
        .context("cannot open the temporary package file")?;
    let mut writer =
        zipedit::ArchiveWriter::new(out, zipedit::PatchOptions::default().compression_level);
    let mut sorted: Vec<&LocalFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let mut manifest = BTreeMap::new();
    for f in sorted {
        let mut source = std::fs::File::open(&f.source)
            .with_context(|| format!("cannot read {}", f.source.display()))?;
        let size = source
            .metadata()
            .with_context(|| format!("cannot read {}", f.source.display()))?
            .len();
        let mut hashing = HashingReader::new(&mut source);
        writer
            .add(&f.path, Some(f.executable), size, &mut hashing)
            .with_context(|| format!("cannot package {}", f.source.display()))?;
        manifest.insert(
            f.path.clone(),
            FileEntry {
                size,
                sha256: hashing.finish(),
                executable: f.executable,
                mtime_ns: f.mtime_ns,
            },
        );
    }
    let (built, _) = writer.finish().context("cannot write the package zip")?;
    crate::package::limits::check_zip(built.size)?;
    Ok(Package {
        file: tmp,
        size: built.size,
        code_sha256: built.code_sha256,
        checkpoint: format!("{}:{}", built.checkpoint.offset, built.checkpoint.state),
        files: manifest,
    })
}

/// Hashes what is read through it. A stored entry is read twice (the engine rewinds after a
/// deflate that did not help), so hashing restarts whenever the reader goes back to the start.
struct HashingReader<'a, R> {
    inner: &'a mut R,
    hasher: sha2::Sha256,
}

impl<'a, R> HashingReader<'a, R> {
    fn new(inner: &'a mut R) -> Self {
        Self {
            inner,
            hasher: sha2::Digest::new(),
        }
    }

    fn finish(self) -> String {
        let digest = sha2::Digest::finalize(self.hasher);
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        sha2::Digest::update(&mut self.hasher, &buf[..n]);
        Ok(n)
    }
}

impl<R: std::io::Seek> std::io::Seek for HashingReader<'_, R> {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let at = self.inner.seek(to)?;
        if at == 0 {
            self.hasher = sha2::Digest::new();
        }
        Ok(at)
    }
}

/// Reads a whole package back.
#[cfg(test)]
pub fn read_all(pkg: &Package) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(usize::try_from(pkg.size).unwrap_or(0));
    std::fs::File::open(pkg.path())
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .with_context(|| format!("cannot read {}", pkg.path().display()))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::manifest::sha256_hex;
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
                    path: "bin/run".into(),
                    source: b.clone(),
                    size: 10,
                    mtime_ns: Some(mtime),
                    executable: true,
                },
                LocalFile {
                    path: "a.py".into(),
                    source: a.clone(),
                    size: 9,
                    mtime_ns: Some(mtime),
                    executable: false,
                },
            ]
        };
        let out = dir.path().join("out");
        let one = package(&files(1), &out).expect("package");
        let two = package(&files(2), &out).expect("package");
        let bytes = read_all(&one).expect("read");
        assert_eq!(bytes, read_all(&two).expect("read"));
        assert_eq!(bytes.len() as u64, one.size);
        assert_eq!(one.code_sha256, zipedit::code_sha256(&bytes));
        // The same bytes the engine builds in memory.
        let in_memory = zipedit::build_archive(vec![
            zipedit::PutFile::new("a.py", "print(1)\n").executable(false),
            zipedit::PutFile::new("bin/run", "#!/bin/sh\n").executable(true),
        ])
        .expect("build");
        assert_eq!(bytes, in_memory);
        let back = crate::artifact::remote::entries(&bytes).expect("reads back");
        assert!(back["bin/run"].executable && !back["a.py"].executable);
        assert_eq!(back["a.py"].sha256, one.files["a.py"].sha256);
        assert_eq!(one.files["a.py"].sha256, sha256_hex(b"print(1)\n"));
        let missing = LocalFile {
            source: PathBuf::from("/nonexistent/x"),
            ..files(1)[0].clone()
        };
        assert!(package(&[missing], &out).is_err());
    }

    #[test]
    fn incompressible_files_hash_once_though_read_twice() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("blob");
        let mut x = 7u64;
        let data: Vec<u8> = (0..100_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        std::fs::write(&p, &data).expect("write");
        let file = LocalFile {
            path: "blob".into(),
            source: p,
            size: data.len() as u64,
            mtime_ns: None,
            executable: false,
        };
        let pkg = package(&[file], &dir.path().join("out")).expect("package");
        assert_eq!(pkg.files["blob"].sha256, sha256_hex(&data));
    }
}
