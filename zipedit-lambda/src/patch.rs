//! Applying a change set to an archive: the rewrite and append strategies, and choosing one.

use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Seek, Write};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::change::{ChangeSet, PutFile};
use crate::digest::{self, HashCheckpoint};
use crate::error::PatchError;
use crate::format::{self, CentralRecord, NewEntry, Source};

/// Which strategy to use; `Auto` chooses per patch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Append when the change deletes nothing and dead bytes stay under the threshold,
    /// otherwise rewrite (which also compacts).
    #[default]
    Auto,
    /// Copy every kept entry raw into a fresh archive: no dead bytes.
    Rewrite,
    /// Keep every byte before the old central directory; write only new entries and a new
    /// directory after it.
    Append,
}

impl Mode {
    /// True for [`Mode::Auto`], the default.
    pub fn is_auto(&self) -> bool {
        *self == Self::Auto
    }
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "rewrite" => Ok(Self::Rewrite),
            "append" => Ok(Self::Append),
            other => Err(format!(
                "unknown mode {other:?}: use auto, rewrite or append"
            )),
        }
    }
}

/// The strategy a patch actually used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// A fresh archive was written; `kept_prefix` is 0.
    Rewrite,
    /// The old archive's bytes up to `kept_prefix` start the new one.
    Append,
    /// The change set was empty: the old archive is the new one.
    Unchanged,
}

/// Knobs for [`patch`].
#[derive(Debug, Clone)]
pub struct PatchOptions {
    /// Which strategy to use.
    pub mode: Mode,
    /// In `Auto` mode, rewrite once dead bytes would exceed this share of the archive.
    pub max_dead_ratio: f64,
    /// Deflate level for put files, 0 to 9.
    pub compression_level: u32,
    /// The hash state after the old archive's central directory offset, from an earlier
    /// report. With it, append hashes only the bytes it writes.
    pub checkpoint: Option<HashCheckpoint>,
}

impl Default for PatchOptions {
    fn default() -> Self {
        Self {
            mode: Mode::Auto,
            max_dead_ratio: 0.25,
            compression_level: 6,
            checkpoint: None,
        }
    }
}

/// What a patch did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The strategy used.
    pub strategy: Strategy,
    /// Puts whose path was new.
    pub added: usize,
    /// Puts that replaced an entry.
    pub modified: usize,
    /// Entries removed.
    pub deleted: usize,
    /// Old entries carried over as they were.
    pub unchanged: usize,
    /// Entries in the new archive.
    pub entries: usize,
    /// Size of the new archive in bytes.
    pub size: u64,
    /// Base64 SHA-256 of the new archive, as Lambda reports CodeSha256.
    pub code_sha256: String,
    /// Bytes in the new archive that no central directory entry points at.
    pub dead_bytes: u64,
    /// Leading bytes of the old archive that the new one starts with unchanged.
    pub kept_prefix: u64,
    /// Bytes written after the kept prefix: what must be uploaded.
    pub written: u64,
    /// Hash state at the new archive's central directory, for the next append.
    pub checkpoint: HashCheckpoint,
}

/// A patched archive: `old[..kept_prefix]` followed by `tail`.
#[derive(Debug, Clone)]
pub struct Patched {
    /// Leading bytes of the old archive kept as they are (0 for rewrite).
    pub kept_prefix: u64,
    /// Everything after the kept prefix.
    pub tail: Vec<u8>,
    /// What was done.
    pub report: Report,
}

impl Patched {
    /// Writes the whole new archive: the kept prefix read from `old`, then the tail.
    pub fn write_to<R: Read + Seek, W: Write>(
        &self,
        old: R,
        out: &mut W,
    ) -> Result<(), PatchError> {
        let mut src = Source::new(old)?;
        let mut failed = None;
        src.copy_range(0, self.kept_prefix, |chunk| {
            if failed.is_none() {
                failed = out.write_all(chunk).err();
            }
        })?;
        if let Some(e) = failed {
            return Err(e.into());
        }
        out.write_all(&self.tail)?;
        Ok(())
    }

    /// The whole new archive in memory.
    pub fn to_vec(&self, old: &[u8]) -> Vec<u8> {
        let keep = self.kept_prefix as usize;
        let mut out = Vec::with_capacity(keep + self.tail.len());
        out.extend_from_slice(&old[..keep]);
        out.extend_from_slice(&self.tail);
        out
    }
}

/// Patches an archive held in memory. See [`patch`].
pub fn patch_bytes(
    old: &[u8],
    changes: &ChangeSet,
    opts: &PatchOptions,
) -> Result<Patched, PatchError> {
    patch(std::io::Cursor::new(old), changes, opts)
}

/// Applies `changes` to the archive read from `old`.
///
/// The old archive is validated (end record, central directory, every kept entry's local
/// header) before anything is produced; on error nothing is returned but the reason. Append
/// reads only the central directory, the local headers and, without a checkpoint, the prefix
/// for hashing; rewrite reads kept entries once and copies them without decompressing.
pub fn patch<R: Read + Seek>(
    old: R,
    changes: &ChangeSet,
    opts: &PatchOptions,
) -> Result<Patched, PatchError> {
    patch_source(Source::new(old)?, changes, opts, Access::Whole)
}

/// Where the central directory of an archive starts, from its last bytes: `tail` holds bytes
/// `tail_offset..total_len`. The S3 side fetches the end of an artifact, asks this, and then
/// fetches the rest of the directory if the tail did not reach it.
pub fn directory_offset(tail: &[u8], tail_offset: u64, total_len: u64) -> Result<u64, PatchError> {
    let mut src = Source::with_floor(TailReader::new(tail, tail_offset, total_len), tail_offset)?;
    Ok(format::read_end(&mut src)?.cd_offset)
}

/// Appends `changes` knowing only the end of the archive: `tail` holds bytes
/// `tail_offset..total_len` and must include the whole central directory.
///
/// Only append (or an unchanged archive) can be done this way, and only with a
/// [`PatchOptions::checkpoint`] at the old directory offset, because the kept prefix is never
/// read. Anything else answers [`PatchError::NeedsWholeArchive`]. Dead bytes are estimated from
/// the directory, since local headers are not read.
pub fn patch_directory(
    tail: &[u8],
    tail_offset: u64,
    total_len: u64,
    changes: &ChangeSet,
    opts: &PatchOptions,
) -> Result<Patched, PatchError> {
    let src = Source::with_floor(TailReader::new(tail, tail_offset, total_len), tail_offset)?;
    patch_source(src, changes, opts, Access::DirectoryOnly)
}

/// How much of the old archive the engine may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Whole,
    DirectoryOnly,
}

/// The engine: reads the old archive's directory, plans what is kept and put, chooses the
/// strategy, and writes the new tail while hashing the whole new archive.
fn patch_source<R: Read + Seek>(
    mut src: Source<R>,
    changes: &ChangeSet,
    opts: &PatchOptions,
    access: Access,
) -> Result<Patched, PatchError> {
    changes.validate()?;
    let end = format::read_end(&mut src)?;
    let cd = src.read_vec(end.cd_offset, end.cd_size)?;
    let records = format::parse_central(&cd, end.entries)?;
    let extents = match access {
        Access::Whole => entry_extents(&mut src, &records, end.cd_offset)?,
        Access::DirectoryOnly => records
            .iter()
            .map(CentralRecord::estimated_extent)
            .collect(),
    };
    let plan = Plan::resolve(&records, changes)?;

    let new_entries: Vec<Compressed> = plan
        .puts
        .iter()
        .map(|(put, old_mode)| Compressed::new(put, *old_mode, opts.compression_level))
        .collect();
    // Estimated extents (directory-only) may overshoot a little: never past the directory.
    let live_kept = plan
        .kept
        .iter()
        .map(|&i| extents[i])
        .sum::<u64>()
        .min(end.cd_offset);
    let strategy = choose_strategy(changes, opts, &end, live_kept, &new_entries);
    if access == Access::DirectoryOnly {
        directory_only_possible(strategy, opts, &end)?;
    }

    let (kept_prefix, dead_bytes) = match strategy {
        Strategy::Unchanged => (src.len(), end.cd_offset - live_kept),
        Strategy::Append => (end.cd_offset, end.cd_offset - live_kept),
        Strategy::Rewrite => (0, 0),
    };
    let mut hasher = start_hash(&mut src, opts, strategy, &end)?;
    let mut tail = Vec::new();
    let checkpoint = match strategy {
        Strategy::Unchanged => {
            let checkpoint = HashCheckpoint::capture(&hasher, end.cd_offset);
            src.copy_range(end.cd_offset, src.len() - end.cd_offset, |c| {
                hasher.update(c)
            })?;
            checkpoint
        }
        Strategy::Append | Strategy::Rewrite => {
            let kept = Kept {
                records: &records,
                extents: &extents,
                indexes: &plan.kept,
                live: live_kept,
            };
            let new = NewTail {
                strategy,
                kept_prefix,
                end: &end,
            };
            new.write(&mut src, &kept, &new_entries, &mut tail, &mut hasher)?
        }
    };

    let entries = match strategy {
        Strategy::Unchanged => records.len(),
        _ => plan.kept.len() + new_entries.len(),
    };
    let report = Report {
        strategy,
        added: plan.added,
        modified: plan.modified,
        deleted: plan.deleted,
        unchanged: plan.kept.len(),
        entries,
        size: kept_prefix + tail.len() as u64,
        code_sha256: digest::finish(hasher),
        dead_bytes,
        kept_prefix,
        written: tail.len() as u64,
        checkpoint,
    };
    Ok(Patched {
        kept_prefix,
        tail,
        report,
    })
}

/// Unchanged when there is nothing to do (unless a rewrite is asked for); else the mode asked
/// for, or in auto mode: rewrite when something is deleted (a streaming reader could still see
/// it) or when dead bytes would pass the limit, append otherwise.
fn choose_strategy(
    changes: &ChangeSet,
    opts: &PatchOptions,
    end: &format::EndRecord,
    live_kept: u64,
    new_entries: &[Compressed],
) -> Strategy {
    if changes.is_empty() && opts.mode != Mode::Rewrite {
        return Strategy::Unchanged;
    }
    match opts.mode {
        Mode::Rewrite => Strategy::Rewrite,
        Mode::Append => Strategy::Append,
        Mode::Auto if !changes.deletes.is_empty() => Strategy::Rewrite,
        Mode::Auto => {
            let dead = end.cd_offset - live_kept;
            let estimate = end.cd_offset
                + new_entries
                    .iter()
                    .map(|e| e.data.len() as u64 + 60)
                    .sum::<u64>()
                + end.cd_size;
            if dead as f64 > opts.max_dead_ratio * estimate as f64 {
                Strategy::Rewrite
            } else {
                Strategy::Append
            }
        }
    }
}

/// Whether the patch can be made knowing only the directory: not a rewrite (it reads every
/// kept entry), and only with a hash checkpoint at the old directory (the prefix is not read).
fn directory_only_possible(
    strategy: Strategy,
    opts: &PatchOptions,
    end: &format::EndRecord,
) -> Result<(), PatchError> {
    if strategy == Strategy::Rewrite {
        return Err(PatchError::NeedsWholeArchive(
            "this change is written by rewrite (it deletes, or dead bytes are past the limit)"
                .into(),
        ));
    }
    let resumable = opts
        .checkpoint
        .as_ref()
        .is_some_and(|cp| cp.offset == end.cd_offset);
    if !resumable {
        return Err(PatchError::NeedsWholeArchive(
            "no hash checkpoint at this archive's central directory".into(),
        ));
    }
    Ok(())
}

/// The running hash of the new archive up to its kept prefix: empty for a rewrite, resumed
/// from the checkpoint at the old directory when there is one, else hashed from the old bytes.
fn start_hash<R: Read + Seek>(
    src: &mut Source<R>,
    opts: &PatchOptions,
    strategy: Strategy,
    end: &format::EndRecord,
) -> Result<Sha256, PatchError> {
    Ok(match (&opts.checkpoint, strategy) {
        (_, Strategy::Rewrite) => Sha256::new(),
        (Some(cp), _) if cp.offset == end.cd_offset => cp.resume()?,
        _ => {
            let mut h = Sha256::new();
            src.copy_range(0, end.cd_offset, |chunk| h.update(chunk))?;
            h
        }
    })
}

/// The old entries a patch keeps.
struct Kept<'a> {
    records: &'a [CentralRecord],
    extents: &'a [u64],
    /// Their indexes in `records`, in archive order.
    indexes: &'a [usize],
    /// Their bytes in all.
    live: u64,
}

/// How the new tail is written: after the kept prefix (append), or the whole archive anew
/// (rewrite), ending with the old end record's comment.
struct NewTail<'a> {
    strategy: Strategy,
    kept_prefix: u64,
    end: &'a format::EndRecord,
}

impl NewTail<'_> {
    /// Writes the kept entries (rewrite: their bytes, moved; append: only their records),
    /// the new entries, the central directory and the end record into `tail`, hashing it;
    /// the checkpoint at the new directory.
    fn write<R: Read + Seek>(
        &self,
        src: &mut Source<R>,
        kept: &Kept<'_>,
        new_entries: &[Compressed],
        tail: &mut Vec<u8>,
        hasher: &mut Sha256,
    ) -> Result<HashCheckpoint, PatchError> {
        let rewrite = self.strategy == Strategy::Rewrite;
        if rewrite {
            tail.reserve((kept.live + self.end.cd_size) as usize);
        }
        let mut central = Vec::new();
        for &i in kept.indexes {
            let rec = &kept.records[i];
            if rewrite {
                let at = tail.len() as u64;
                let start = tail.len();
                tail.resize(start + kept.extents[i] as usize, 0);
                src.read_at(rec.local_offset, &mut tail[start..])?;
                central.extend_from_slice(&rec.with_offset(at)?);
            } else {
                central.extend_from_slice(&rec.raw);
            }
        }
        for e in new_entries {
            let at = self.kept_prefix + tail.len() as u64;
            e.entry().write_local(tail);
            central.extend_from_slice(&e.entry().central_record(at));
        }
        let cd_offset = self.kept_prefix + tail.len() as u64;
        hasher.update(&*tail);
        let checkpoint = HashCheckpoint::capture(hasher, cd_offset);
        let entries = (kept.indexes.len() + new_entries.len()) as u64;
        let cd_start = tail.len();
        tail.extend_from_slice(&central);
        let cd_size = central.len() as u64;
        format::write_end(
            tail,
            entries,
            cd_offset,
            cd_size,
            &self.end.comment,
            cd_offset + cd_size,
        );
        hasher.update(&tail[cd_start..]);
        Ok(checkpoint)
    }
}

/// Reads over the last bytes of an archive, as fetched from S3 by a suffix range; a read
/// before them fails, which the directory-only path never does.
pub(crate) struct TailReader<'a> {
    tail: &'a [u8],
    offset: u64,
    total: u64,
    pos: u64,
}

impl<'a> TailReader<'a> {
    pub(crate) fn new(tail: &'a [u8], offset: u64, total: u64) -> Self {
        Self {
            tail,
            offset,
            total,
            pos: 0,
        }
    }
}

impl Read for TailReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos < self.offset {
            return Err(std::io::Error::other(format!(
                "byte {} is before the fetched tail of the archive (from {})",
                self.pos, self.offset
            )));
        }
        let at = (self.pos - self.offset) as usize;
        let n = buf.len().min(self.tail.len().saturating_sub(at));
        buf[..n].copy_from_slice(&self.tail[at..at + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for TailReader<'_> {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        self.pos = match to {
            std::io::SeekFrom::Start(p) => p,
            std::io::SeekFrom::End(d) => self.total.saturating_add_signed(d),
            std::io::SeekFrom::Current(d) => self.pos.saturating_add_signed(d),
        };
        Ok(self.pos)
    }
}

/// Each entry's local extent (header, data, descriptor), checked to lie before the central
/// directory and not to overlap another entry.
fn entry_extents<R: Read + Seek>(
    src: &mut Source<R>,
    records: &[CentralRecord],
    cd_offset: u64,
) -> Result<Vec<u64>, PatchError> {
    let mut extents = Vec::with_capacity(records.len());
    let mut spans = Vec::with_capacity(records.len());
    for rec in records {
        let len = format::local_extent(src, rec)?;
        let end = rec.local_offset + len;
        if end > cd_offset {
            return Err(PatchError::Corrupt(format!(
                "entry {:?} runs into the central directory (truncated or damaged data)",
                rec.name
            )));
        }
        extents.push(len);
        spans.push((rec.local_offset, end, rec.name.as_str()));
    }
    spans.sort_unstable();
    for pair in spans.windows(2) {
        if pair[1].0 < pair[0].1 {
            return Err(PatchError::Unsupported(format!(
                "entries {:?} and {:?} overlap (a crafted archive)",
                pair[0].2, pair[1].2
            )));
        }
    }
    Ok(extents)
}

/// The change set resolved against the archive's entries.
struct Plan<'c> {
    /// Indices of old records kept, in their old order.
    kept: Vec<usize>,
    /// Puts sorted by path, each with the mode of the entry it replaces.
    puts: Vec<(&'c PutFile, Option<u32>)>,
    added: usize,
    modified: usize,
    deleted: usize,
}

impl<'c> Plan<'c> {
    fn resolve(records: &[CentralRecord], changes: &'c ChangeSet) -> Result<Self, PatchError> {
        // The last record of a name is the one readers see; all of them go when it is replaced.
        let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, rec) in records.iter().enumerate() {
            by_name.entry(rec.name.as_str()).or_default().push(i);
        }
        let mut removed = vec![false; records.len()];
        let mut deleted = 0;
        for path in &changes.deletes {
            let bare = path.trim_end_matches('/');
            let dir = format!("{bare}/");
            let hits: Vec<usize> = [bare, dir.as_str()]
                .iter()
                .filter_map(|n| by_name.get(n))
                .flatten()
                .copied()
                .collect();
            if hits.is_empty() {
                return Err(PatchError::DeleteMissing(path.clone()));
            }
            for i in hits {
                removed[i] = true;
            }
            deleted += 1;
        }
        let mut puts: Vec<(&PutFile, Option<u32>)> = Vec::with_capacity(changes.puts.len());
        let (mut added, mut modified) = (0, 0);
        for put in &changes.puts {
            let old_mode = match by_name.get(put.path.as_str()) {
                Some(hits) => {
                    for &i in hits {
                        removed[i] = true;
                    }
                    modified += 1;
                    hits.last().and_then(|&i| records[i].unix_mode)
                }
                None => {
                    added += 1;
                    None
                }
            };
            puts.push((put, old_mode));
        }
        puts.sort_by(|a, b| a.0.path.cmp(&b.0.path));
        let kept: Vec<usize> = (0..records.len()).filter(|&i| !removed[i]).collect();

        // A put must not turn a file into a folder or a folder into a file.
        let names: BTreeSet<&str> = kept
            .iter()
            .map(|&i| records[i].name.as_str())
            .chain(puts.iter().map(|(p, _)| p.path.as_str()))
            .collect();
        for (put, _) in &puts {
            let path = put.path.as_str();
            for (at, _) in path.match_indices('/') {
                if names.contains(&path[..at]) {
                    return Err(PatchError::PathConflict {
                        path: path.to_owned(),
                        other: path[..at].to_owned(),
                    });
                }
            }
            let under = format!("{path}/");
            if let Some(other) = names
                .range(under.as_str()..)
                .next()
                .filter(|n| n.starts_with(&under))
            {
                return Err(PatchError::PathConflict {
                    path: path.to_owned(),
                    other: (*other).to_owned(),
                });
            }
        }
        Ok(Self {
            kept,
            puts,
            added,
            modified,
            deleted,
        })
    }
}

/// A put file, compressed once, ready to write.
struct Compressed<'a> {
    path: &'a str,
    mode: u32,
    method: u16,
    crc32: u32,
    size: u64,
    data: std::borrow::Cow<'a, [u8]>,
}

pub(crate) const STORED: u16 = 0;
pub(crate) const DEFLATED: u16 = 8;

/// The Unix mode of a put entry: as asked, else the replaced entry's, else 0755 for a root
/// `bootstrap` (Lambda's custom runtime entry point) and 0644 for the rest.
pub(crate) fn entry_mode(path: &str, executable: Option<bool>, old_mode: Option<u32>) -> u32 {
    match (executable, old_mode) {
        (Some(true), _) => 0o755,
        (Some(false), _) => 0o644,
        (None, Some(mode)) => mode,
        (None, None) if path == "bootstrap" => 0o755,
        (None, None) => 0o644,
    }
}

impl<'a> Compressed<'a> {
    fn new(put: &'a PutFile, old_mode: Option<u32>, level: u32) -> Self {
        let mode = entry_mode(&put.path, put.executable, old_mode);
        let crc32 = crc32fast::hash(&put.data);
        let mut enc = flate2::write::DeflateEncoder::new(
            Vec::with_capacity(put.data.len() / 2 + 64),
            flate2::Compression::new(level.min(9)),
        );
        // Writing to a Vec cannot fail.
        let deflated = enc
            .write_all(&put.data)
            .and_then(|()| enc.finish())
            .unwrap_or_default();
        // Stored when deflate does not help, so incompressible files are not inflated.
        let (method, data) = if !deflated.is_empty() && deflated.len() < put.data.len() {
            (DEFLATED, std::borrow::Cow::Owned(deflated))
        } else {
            (STORED, std::borrow::Cow::Borrowed(put.data.as_slice()))
        };
        Self {
            path: &put.path,
            mode,
            method,
            crc32,
            size: put.data.len() as u64,
            data,
        }
    }

    fn entry(&self) -> NewEntry<'_> {
        NewEntry {
            name: self.path,
            mode: self.mode,
            method: self.method,
            crc32: self.crc32,
            uncompressed_size: self.size,
            compressed_size: self.data.len() as u64,
            data: &self.data,
        }
    }
}
