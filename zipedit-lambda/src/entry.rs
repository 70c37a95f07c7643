//! One file's content out of an archive, read from its own bytes only: what a delta is made
//! against when the previous content is not at hand (a fresh clone, a CI runner), fetched by a
//! ranged GET. The central directory (in the archive's last bytes) says where each entry is;
//! [`Located::range`] is the span to fetch; [`Located::content`] inflates it and checks its
//! CRC-32. Plain Rust, no I/O: the caller fetches.

use std::io::Read as _;

use crate::error::PatchError;
use crate::format::{self, CentralRecord, Source};
use crate::patch::TailReader;

/// How far a local header's extra field may outgrow the central one's (its length is 16-bit).
const LOCAL_EXTRA_MARGIN: u64 = 0xFFFF;

/// Where one entry of an archive is.
#[derive(Debug, Clone)]
pub struct Located {
    /// Its name in the archive.
    pub name: String,
    /// Its central directory record.
    record: CentralRecord,
    /// Where the central directory starts: no entry's bytes go past it.
    directory: u64,
}

/// Every entry of the archive whose last bytes are `tail` (bytes `tail_offset..total_len`,
/// holding the whole central directory), in directory order.
pub fn locate(tail: &[u8], tail_offset: u64, total_len: u64) -> Result<Vec<Located>, PatchError> {
    let mut src = Source::with_floor(TailReader::new(tail, tail_offset, total_len), tail_offset)?;
    let end = format::read_end(&mut src)?;
    let cd = src.read_vec(end.cd_offset, end.cd_size)?;
    Ok(format::parse_central(&cd, end.entries)?
        .into_iter()
        .map(|record| Located {
            name: record.name.clone(),
            record,
            directory: end.cd_offset,
        })
        .collect())
}

impl Located {
    /// The bytes to fetch, `start..end`: the local header, name, extra field and data (the
    /// local extra field may be longer than the central one says, so up to 64 KiB more, never
    /// past the central directory).
    pub fn range(&self) -> (u64, u64) {
        let start = self.record.local_offset;
        let end = start
            .saturating_add(self.record.estimated_extent())
            .saturating_add(LOCAL_EXTRA_MARGIN)
            .min(self.directory);
        (start, end)
    }

    /// The entry's content from `bytes`, the span [`Located::range`] gave, fetched: stored or
    /// inflated, its CRC-32 checked against the central directory.
    pub fn content(&self, bytes: &[u8]) -> Result<Vec<u8>, PatchError> {
        let (start, end) = self.range();
        let got = start + bytes.len() as u64;
        let mut src = Source::with_floor(TailReader::new(bytes, start, got.max(end)), start)?;
        let data_start = format::data_start(&mut src, &self.record)?;
        let data = src.read_vec(data_start, self.record.compressed_size)?;
        let out = match self.record.method() {
            0 => data,
            8 => {
                let mut out = Vec::new();
                flate2::read::DeflateDecoder::new(data.as_slice())
                    .read_to_end(&mut out)
                    .map_err(|e| {
                        PatchError::Corrupt(format!("entry {:?} does not inflate: {e}", self.name))
                    })?;
                out
            }
            m => {
                return Err(PatchError::Unsupported(format!(
                    "entry {:?} is compressed with method {m}: only stored (0) and deflated (8) entries are read",
                    self.name
                )));
            }
        };
        if crc32fast::hash(&out) != self.record.crc32 {
            return Err(PatchError::Corrupt(format!(
                "entry {:?}: its content does not match the CRC-32 of the central directory",
                self.name
            )));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PutFile, build_archive};

    #[test]
    fn a_damaged_entry_or_too_few_bytes_are_refused() {
        let text = b"the previous content of a file, stored or deflated";
        let archive = build_archive(vec![PutFile::new("a.txt", text.to_vec())]).expect("build");
        let total = archive.len() as u64;
        let located = locate(&archive, 0, total).expect("locate");
        let (start, end) = located[0].range();
        let bytes = &archive[start as usize..end as usize];
        assert_eq!(located[0].content(bytes).expect("content"), text);
        // One byte of its data changed: the CRC-32 says so.
        let mut bad = bytes.to_vec();
        let at = bad.len() - 10;
        bad[at] ^= 0x40;
        assert!(located[0].content(&bad).is_err(), "damaged");
        assert!(located[0].content(&bytes[..10]).is_err(), "cut short");
    }
}
