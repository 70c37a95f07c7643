//! Building a fresh archive from files, by the same rules as a patch.

use std::collections::HashSet;
use std::io::{Read, Seek, SeekFrom, Write};

use flate2::write::DeflateEncoder;
use sha2::{Digest, Sha256};

use crate::change::{ChangeSet, PutFile, check_path};
use crate::digest::{self, HashCheckpoint};
use crate::error::PatchError;
use crate::format::{self, NewEntry};
use crate::patch::{DEFLATED, Mode, PatchOptions, STORED, entry_mode, patch_bytes};

/// The smallest valid zip: an end record and nothing else.
pub const EMPTY_ARCHIVE: [u8; 22] = [
    0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// A deterministic archive of `files`: sorted by path, fixed timestamps, 0644/0755 modes.
/// The same files always give the same bytes, hence the same CodeSha256.
pub fn build_archive(files: Vec<PutFile>) -> Result<Vec<u8>, PatchError> {
    let changes = ChangeSet {
        puts: files,
        deletes: Vec::new(),
    };
    let opts = PatchOptions {
        mode: Mode::Rewrite,
        ..PatchOptions::default()
    };
    Ok(patch_bytes(&EMPTY_ARCHIVE, &changes, &opts)?.tail)
}

/// What [`ArchiveWriter::finish`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// The archive's length in bytes.
    pub size: u64,
    /// Its CodeSha256.
    pub code_sha256: String,
    /// The hash state at its central directory, for the next append.
    pub checkpoint: HashCheckpoint,
    /// Entries written.
    pub entries: u64,
}

/// Writes a deterministic archive one file at a time, streaming: memory holds a copy buffer and
/// the central directory, never a file or the archive, so a package of hundreds of megabytes
/// is built in a few megabytes. The bytes are exactly those [`build_archive`] gives for the
/// same files. Files must be added sorted by path, as [`build_archive`] orders them.
///
/// Each entry's local header is written with placeholder sizes, the data deflated straight to
/// `out`, then the header rewritten in place (same length: whether ZIP64 is needed depends on
/// the uncompressed size alone). Data that deflate does not shrink is written again, stored.
pub struct ArchiveWriter<W: Write + Seek> {
    out: W,
    level: u32,
    offset: u64,
    central: Vec<u8>,
    entries: u64,
    names: HashSet<String>,
    last: Option<String>,
}

impl<W: Write + Seek> ArchiveWriter<W> {
    /// A writer at the start of `out`, deflating at `compression_level` (0 to 9; the engine's
    /// default is [`PatchOptions::default`]'s).
    pub fn new(out: W, compression_level: u32) -> Self {
        Self {
            out,
            level: compression_level.min(9),
            offset: 0,
            central: Vec::new(),
            entries: 0,
            names: HashSet::new(),
            last: None,
        }
    }

    /// Adds the file `path` whose `size` bytes `data` reads; `executable` as for [`PutFile`].
    pub fn add<R: Read + Seek>(
        &mut self,
        path: &str,
        executable: Option<bool>,
        size: u64,
        data: &mut R,
    ) -> Result<(), PatchError> {
        self.check_order(path)?;
        let start = self.offset;
        let mut entry = NewEntry {
            name: path,
            mode: entry_mode(path, executable, None),
            method: DEFLATED,
            crc32: 0,
            uncompressed_size: size,
            compressed_size: 0,
            data: &[],
        };
        let header_len = self.write_header(&entry)?;
        let origin = data.stream_position()?;
        let (crc32, deflated) = {
            let counter = Counting::new(&mut self.out);
            let mut enc = DeflateEncoder::new(counter, flate2::Compression::new(self.level));
            let crc32 = copy_counted(data, &mut enc, size, path)?;
            (crc32, enc.finish()?.count)
        };
        entry.crc32 = crc32;
        entry.compressed_size = deflated;
        // Stored when deflate does not help, as the engine does for put files.
        if deflated == 0 || deflated >= size {
            entry.method = STORED;
            entry.compressed_size = size;
            self.out.seek(SeekFrom::Start(start + header_len))?;
            data.seek(SeekFrom::Start(origin))?;
            copy_counted(data, &mut self.out, size, path)?;
        }
        let end = start + header_len + entry.compressed_size;
        self.out.seek(SeekFrom::Start(start))?;
        self.write_header(&entry)?;
        self.out.seek(SeekFrom::Start(end))?;
        self.central.extend_from_slice(&entry.central_record(start));
        self.offset = end;
        self.entries += 1;
        Ok(())
    }

    /// Writes the central directory and end record, cuts `out` to the archive's length (a
    /// stored entry may leave deflate's bytes past it), and hashes the archive by reading it
    /// back once.
    pub fn finish(mut self) -> Result<(Built, W), PatchError>
    where
        W: Read + SetLen,
    {
        let cd_offset = self.offset;
        let mut tail = std::mem::take(&mut self.central);
        let cd_size = tail.len() as u64;
        format::write_end(
            &mut tail,
            self.entries,
            cd_offset,
            cd_size,
            &[],
            cd_offset + cd_size,
        );
        self.out.write_all(&tail)?;
        self.out.flush()?;
        let size = cd_offset + tail.len() as u64;
        self.out.set_len(size)?;
        self.out.seek(SeekFrom::Start(0))?;
        let mut hasher = Sha256::new();
        let mut prefix = (&mut self.out).take(cd_offset);
        std::io::copy(&mut prefix, &mut HashWriter(&mut hasher))?;
        let checkpoint = HashCheckpoint::capture(&hasher, cd_offset);
        hasher.update(&tail);
        Ok((
            Built {
                size,
                code_sha256: digest::finish(hasher),
                checkpoint,
                entries: self.entries,
            },
            self.out,
        ))
    }

    fn check_order(&mut self, path: &str) -> Result<(), PatchError> {
        check_path(path, false)?;
        if self.last.as_deref().is_some_and(|last| last >= path) {
            return Err(if self.names.contains(path) {
                PatchError::DuplicatePath(path.to_owned())
            } else {
                PatchError::Unsupported(format!(
                    "{path:?} added after {:?}: add files sorted by path",
                    self.last.as_deref().unwrap_or_default()
                ))
            });
        }
        // Sorted order puts a folder's name before its files, so only ancestors can clash.
        for (at, _) in path.match_indices('/') {
            if self.names.contains(&path[..at]) {
                return Err(PatchError::PathConflict {
                    path: path.to_owned(),
                    other: path[..at].to_owned(),
                });
            }
        }
        self.names.insert(path.to_owned());
        self.last = Some(path.to_owned());
        Ok(())
    }

    fn write_header(&mut self, entry: &NewEntry<'_>) -> Result<u64, PatchError> {
        let mut header = Vec::with_capacity(64 + entry.name.len());
        entry.write_local_header(&mut header);
        self.out.write_all(&header)?;
        Ok(header.len() as u64)
    }
}

/// An output that can be cut to a length: a file, or a buffer in memory.
pub trait SetLen {
    /// Cuts (or extends) to `len` bytes.
    fn set_len(&mut self, len: u64) -> std::io::Result<()>;
}

impl SetLen for std::fs::File {
    fn set_len(&mut self, len: u64) -> std::io::Result<()> {
        std::fs::File::set_len(self, len)
    }
}

impl SetLen for std::io::Cursor<Vec<u8>> {
    fn set_len(&mut self, len: u64) -> std::io::Result<()> {
        let len = usize::try_from(len).map_err(std::io::Error::other)?;
        self.get_mut().resize(len, 0);
        Ok(())
    }
}

/// Copies exactly `size` bytes, returning their CRC-32; a file that changed size while being
/// read is an error, not a corrupt entry.
fn copy_counted<R: Read, W: Write>(
    data: &mut R,
    out: &mut W,
    size: u64,
    path: &str,
) -> Result<u32, PatchError> {
    let mut crc = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut left = size;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = data.read(&mut buf[..want])?;
        if n == 0 {
            break;
        }
        crc.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        left -= n as u64;
    }
    let mut probe = [0u8; 1];
    if left > 0 || data.read(&mut probe)? > 0 {
        return Err(PatchError::Io(std::io::Error::other(format!(
            "{path}: the file changed size while it was read (expected {size} bytes)"
        ))));
    }
    Ok(crc.finalize())
}

/// Counts what passes through to the archive.
struct Counting<W> {
    inner: W,
    count: u64,
}

impl<W> Counting<W> {
    fn new(inner: W) -> Self {
        Self { inner, count: 0 }
    }
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

struct HashWriter<'a>(&'a mut Sha256);

impl Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xorshift(len: usize) -> Vec<u8> {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    fn stream(files: &[(&str, Vec<u8>, Option<bool>)]) -> (Built, Vec<u8>) {
        let mut w = ArchiveWriter::new(std::io::Cursor::new(Vec::new()), 6);
        for (path, data, exec) in files {
            let mut r = std::io::Cursor::new(data.clone());
            w.add(path, *exec, data.len() as u64, &mut r).expect("add");
        }
        let (built, out) = w.finish().expect("finish");
        (built, out.into_inner())
    }

    #[test]
    fn streams_the_same_bytes_as_build_archive() {
        let noise: Vec<u8> = (0..70_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let files = vec![
            ("a.py", b"print(1)\n".repeat(500), Some(false)),
            ("bin/run", b"#!/bin/sh\n".to_vec(), Some(true)),
            ("bootstrap", noise.clone(), None),
            ("data.bin", noise.repeat(3), Some(false)),
            ("empty", Vec::new(), Some(false)),
            ("lib/\u{e9}t\u{e9}.py", b"x = 1\n".to_vec(), None),
            // Last and incompressible: stored after deflate wrote past it, so finish must cut.
            ("zz.bin", xorshift(200_000), None),
        ];
        let (built, bytes) = stream(&files);
        let expected = build_archive(
            files
                .iter()
                .map(|(p, d, e)| PutFile {
                    path: (*p).to_owned(),
                    data: d.clone(),
                    executable: *e,
                })
                .collect(),
        )
        .expect("build");
        assert_eq!(bytes, expected);
        assert_eq!(built.size, expected.len() as u64);
        assert_eq!(built.code_sha256, crate::code_sha256(&expected));
        assert_eq!(built.entries, 7);
        // The checkpoint resumes: an append from it reports the right CodeSha256.
        let opts = PatchOptions {
            mode: Mode::Append,
            checkpoint: Some(built.checkpoint.clone()),
            ..PatchOptions::default()
        };
        let next = patch_bytes(
            &expected,
            &ChangeSet::new().put(PutFile::new("a.py", "print(2)\n")),
            &opts,
        )
        .expect("append");
        assert_eq!(
            next.report.code_sha256,
            crate::code_sha256(&next.to_vec(&expected))
        );
    }

    #[test]
    fn refuses_bad_order_duplicates_conflicts_and_short_files() {
        let mut w = ArchiveWriter::new(std::io::Cursor::new(Vec::new()), 6);
        let mut r = std::io::Cursor::new(b"x".to_vec());
        w.add("b", None, 1, &mut r).expect("first");
        r.set_position(0);
        assert!(matches!(
            w.add("b", None, 1, &mut r),
            Err(PatchError::DuplicatePath(_))
        ));
        r.set_position(0);
        assert!(w.add("a", None, 1, &mut r).is_err());
        r.set_position(0);
        assert!(matches!(
            w.add("b/c", None, 1, &mut r),
            Err(PatchError::PathConflict { .. })
        ));
        r.set_position(0);
        assert!(matches!(
            w.add("../x", None, 1, &mut r),
            Err(PatchError::PathRejected { .. })
        ));
        r.set_position(0);
        assert!(matches!(
            w.add("c", None, 5, &mut r),
            Err(PatchError::Io(_))
        ));
    }
}
