//! The zip records the engine reads and writes, at the byte level.
//!
//! The engine parses the end record and the central directory itself rather than through the
//! `zip` crate, for two reasons: the append strategy must copy kept central records byte for byte
//! and keep their offsets, and the S3 side reads only the tail of an artifact by byte range, so
//! the parser works on "the central directory and where it sits", not on a whole archive.

use std::io::{Read, Seek, SeekFrom};

use crate::error::PatchError;

pub(crate) const LOCAL_SIG: u32 = 0x0403_4b50;
pub(crate) const CENTRAL_SIG: u32 = 0x0201_4b50;
pub(crate) const EOCD_SIG: u32 = 0x0605_4b50;
pub(crate) const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
pub(crate) const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
pub(crate) const DESCRIPTOR_SIG: u32 = 0x0807_4b50;

const EOCD_LEN: usize = 22;
const ZIP64_LOCATOR_LEN: usize = 20;
const ZIP64_EOCD_LEN: usize = 56;
const CENTRAL_FIXED_LEN: usize = 46;
const LOCAL_FIXED_LEN: usize = 30;
const MAX_COMMENT: usize = 0xFFFF;
const ZIP64_EXTRA_ID: u16 = 0x0001;

/// Flag bit 3: sizes and CRC follow the data in a data descriptor.
const FLAG_DATA_DESCRIPTOR: u16 = 1 << 3;
/// Flag bit 11: the name is UTF-8.
pub(crate) const FLAG_UTF8: u16 = 1 << 11;

/// DOS date for 1980-01-01, the earliest a zip can say: fixed so output is reproducible.
pub(crate) const FIXED_DOS_DATE: u16 = (1 << 5) | 1;
pub(crate) const FIXED_DOS_TIME: u16 = 0;

/// "Made by" host 3 (Unix), so readers honour the mode bits in the external attributes.
const HOST_UNIX: u8 = 3;
const S_IFREG: u32 = 0o100_000;

/// Positioned reads over the old archive: a `Read + Seek` and its length.
pub(crate) struct Source<R> {
    inner: R,
    len: u64,
    /// The first byte that can be read: 0, or where a fetched tail starts.
    floor: u64,
}

impl<R: Read + Seek> Source<R> {
    pub(crate) fn new(inner: R) -> std::io::Result<Self> {
        Self::with_floor(inner, 0)
    }

    pub(crate) fn with_floor(mut inner: R, floor: u64) -> std::io::Result<Self> {
        let len = inner.seek(SeekFrom::End(0))?;
        Ok(Self { inner, len, floor })
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    pub(crate) fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), PatchError> {
        let end = offset.checked_add(buf.len() as u64);
        if end.is_none_or(|end| end > self.len) {
            return Err(PatchError::Corrupt(format!(
                "a record at offset {offset} runs past the end of the archive ({} bytes): \
                 the archive is truncated",
                self.len
            )));
        }
        self.inner.seek(SeekFrom::Start(offset))?;
        self.inner.read_exact(buf)?;
        Ok(())
    }

    pub(crate) fn read_vec(&mut self, offset: u64, len: u64) -> Result<Vec<u8>, PatchError> {
        let len = usize::try_from(len)
            .map_err(|_| PatchError::Unsupported(format!("a {len}-byte read")))?;
        let mut buf = vec![0; len];
        self.read_at(offset, &mut buf)?;
        Ok(buf)
    }

    /// Streams `len` bytes from `offset` into `sink`, in chunks, without holding them all.
    pub(crate) fn copy_range(
        &mut self,
        offset: u64,
        len: u64,
        mut sink: impl FnMut(&[u8]),
    ) -> Result<(), PatchError> {
        let mut buf = vec![0; 1 << 20];
        let mut done = 0;
        while done < len {
            let n = (len - done).min(buf.len() as u64) as usize;
            self.read_at(offset + done, &mut buf[..n])?;
            sink(&buf[..n]);
            done += n as u64;
        }
        Ok(())
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

/// Where the central directory is, from the end record (and its ZIP64 form when present).
#[derive(Debug, Clone)]
pub(crate) struct EndRecord {
    pub(crate) entries: u64,
    pub(crate) cd_offset: u64,
    pub(crate) cd_size: u64,
    pub(crate) comment: Vec<u8>,
}

/// Finds and reads the end of central directory record, following the ZIP64 locator if any.
pub(crate) fn read_end<R: Read + Seek>(src: &mut Source<R>) -> Result<EndRecord, PatchError> {
    let len = src.len();
    let (eocd_pos, rec) = find_end_record(src)?;
    let (this_disk, cd_disk) = (u16_at(&rec, 4), u16_at(&rec, 6));
    // In a one-disk archive both counts are the same; readers that disagree on which to trust
    // see different entries (the fuzzer found one: the zip crate listed 2, unzip and Python 3).
    let mut counts = (u64::from(u16_at(&rec, 8)), u64::from(u16_at(&rec, 10)));
    let mut cd_size = u64::from(u32_at(&rec, 12));
    let mut cd_offset = u64::from(u32_at(&rec, 16));
    let comment = rec[EOCD_LEN..].to_vec();
    // A comment holding an end record's signature reads differently to different readers (some
    // take the first signature found from the end), and a patch would carry it over: refuse.
    if comment.windows(4).any(|w| w == EOCD_SIG.to_le_bytes()) {
        return Err(PatchError::Unsupported(
            "the archive comment contains an end of central directory signature, which readers \
             may take for the real end record"
                .into(),
        ));
    }
    let mut cd_end_bound = eocd_pos;
    if let Some(z) = read_zip64_end(src, eocd_pos)? {
        (counts, cd_size, cd_offset, cd_end_bound) = z;
    }
    if this_disk != 0 || cd_disk != 0 {
        return Err(PatchError::Unsupported(
            "a split (multi-disk) archive".into(),
        ));
    }
    if counts.0 != counts.1 {
        return Err(PatchError::Corrupt(format!(
            "the end record counts {} entries on this disk but {} in all, in a one-disk archive",
            counts.0, counts.1
        )));
    }
    check_directory_bounds(cd_offset, cd_size, cd_end_bound, len)?;
    Ok(EndRecord {
        entries: counts.1,
        cd_offset,
        cd_size,
        comment,
    })
}

/// The end record's position and its bytes (with the comment): the last signature whose
/// comment length reaches exactly the end of the archive.
fn find_end_record<R: Read + Seek>(src: &mut Source<R>) -> Result<(u64, Vec<u8>), PatchError> {
    let len = src.len();
    if len < EOCD_LEN as u64 {
        return Err(PatchError::NotZip(format!(
            "{len} bytes is too short to be a zip archive"
        )));
    }
    let window = (len - src.floor.min(len)).min((EOCD_LEN + MAX_COMMENT) as u64);
    if window < EOCD_LEN as u64 {
        return Err(PatchError::NotZip(format!(
            "{window} bytes is too short to hold an end record"
        )));
    }
    let tail = src.read_vec(len - window, window)?;
    let mut found = None;
    let mut loose = None;
    for at in (0..=tail.len() - EOCD_LEN).rev() {
        if u32_at(&tail, at) != EOCD_SIG {
            continue;
        }
        let comment_len = u16_at(&tail, at + 20) as usize;
        if at + EOCD_LEN + comment_len == tail.len() {
            found = Some(at);
            break;
        }
        loose.get_or_insert(at);
    }
    let Some(at) = found else {
        return Err(match loose {
            Some(_) => PatchError::Unsupported(
                "data follows the end of central directory record (a concatenated or damaged \
                 archive)"
                    .into(),
            ),
            None => PatchError::NotZip(
                "no end of central directory record: not a zip archive, or truncated".into(),
            ),
        });
    };
    Ok((len - window + at as u64, tail[at..].to_vec()))
}

/// The ZIP64 end record's (counts, directory size, directory offset, its own position), when
/// a ZIP64 locator sits right before the end record (the archive needs 64-bit fields).
#[allow(clippy::type_complexity)] // the four fields it overrides, as read_end holds them
fn read_zip64_end<R: Read + Seek>(
    src: &mut Source<R>,
    eocd_pos: u64,
) -> Result<Option<((u64, u64), u64, u64, u64)>, PatchError> {
    if eocd_pos < ZIP64_LOCATOR_LEN as u64 {
        return Ok(None);
    }
    let mut loc = [0u8; ZIP64_LOCATOR_LEN];
    src.read_at(eocd_pos - ZIP64_LOCATOR_LEN as u64, &mut loc)?;
    if u32_at(&loc, 0) != ZIP64_LOCATOR_SIG {
        return Ok(None);
    }
    let z64_pos = u64_at(&loc, 8);
    if z64_pos
        .checked_add(ZIP64_EOCD_LEN as u64)
        .is_none_or(|end| end > eocd_pos - ZIP64_LOCATOR_LEN as u64)
    {
        return Err(PatchError::Corrupt(format!(
            "the ZIP64 locator points at offset {z64_pos}, outside the archive"
        )));
    }
    let mut z = [0u8; ZIP64_EOCD_LEN];
    src.read_at(z64_pos, &mut z)?;
    if u32_at(&z, 0) != ZIP64_EOCD_SIG {
        return Err(PatchError::Corrupt(format!(
            "no ZIP64 end record at offset {z64_pos}, where the locator points"
        )));
    }
    if u32_at(&z, 16) != 0 || u32_at(&z, 20) != 0 {
        return Err(PatchError::Unsupported(
            "a split (multi-disk) archive".into(),
        ));
    }
    Ok(Some((
        (u64_at(&z, 24), u64_at(&z, 32)),
        u64_at(&z, 40),
        u64_at(&z, 48),
        z64_pos,
    )))
}

/// The directory must end exactly where the end records begin (`bound`): anything between is
/// a prefixed or self-extracting archive, anything past is a truncated or damaged one.
fn check_directory_bounds(
    cd_offset: u64,
    cd_size: u64,
    bound: u64,
    len: u64,
) -> Result<(), PatchError> {
    match cd_offset.checked_add(cd_size) {
        Some(end) if end == bound => Ok(()),
        Some(end) if end < bound && cd_offset < bound => Err(PatchError::Unsupported(format!(
            "{} bytes between the central directory and the end record, or data \
             before the first entry (a self-extracting or prefixed archive)",
            bound - end
        ))),
        _ => Err(PatchError::Corrupt(format!(
            "the end record places the central directory at {cd_offset}..+{cd_size}, \
             past where it can be in a {len}-byte archive (truncated?)"
        ))),
    }
}

/// One central directory record: its bytes as they are, plus the fields the engine needs.
#[derive(Debug, Clone)]
pub(crate) struct CentralRecord {
    /// The record as stored, so a kept entry's record is written back byte for byte.
    pub(crate) raw: Vec<u8>,
    pub(crate) name: String,
    pub(crate) flags: u16,
    pub(crate) crc32: u32,
    pub(crate) compressed_size: u64,
    pub(crate) local_offset: u64,
    /// Where in `raw` the local header offset lives (the 32-bit field, or the ZIP64 extra's),
    /// and how wide it is, so rewrite can move the entry.
    offset_field: (usize, usize),
    /// Unix permission bits, when the archive recorded them.
    pub(crate) unix_mode: Option<u32>,
}

impl CentralRecord {
    /// Its compression method (0 stored, 8 deflated).
    pub(crate) fn method(&self) -> u16 {
        u16_at(&self.raw, 10)
    }

    /// The local extent guessed from the central record alone (local extras may differ a
    /// little), for when local headers are not at hand.
    pub(crate) fn estimated_extent(&self) -> u64 {
        let name_extra = u64::from(u16_at(&self.raw, 28)) + u64::from(u16_at(&self.raw, 30));
        let descriptor = if self.flags & FLAG_DATA_DESCRIPTOR != 0 {
            16
        } else {
            0
        };
        LOCAL_FIXED_LEN as u64 + name_extra + self.compressed_size + descriptor
    }

    /// The record with its local header offset changed (rewrite moves kept entries down).
    pub(crate) fn with_offset(&self, offset: u64) -> Result<Vec<u8>, PatchError> {
        let mut raw = self.raw.clone();
        let (at, width) = self.offset_field;
        match width {
            4 => {
                let small = u32::try_from(offset)
                    .ok()
                    .filter(|&o| o != u32::MAX)
                    .ok_or_else(|| {
                        PatchError::Unsupported(format!(
                            "moving entry {:?} to offset {offset} needs a ZIP64 field it lacks",
                            self.name
                        ))
                    })?;
                raw[at..at + 4].copy_from_slice(&small.to_le_bytes());
            }
            _ => raw[at..at + 8].copy_from_slice(&offset.to_le_bytes()),
        }
        Ok(raw)
    }
}

/// Parses the central directory bytes into records.
pub(crate) fn parse_central(cd: &[u8], expected: u64) -> Result<Vec<CentralRecord>, PatchError> {
    let mut out = Vec::with_capacity(expected.min(1 << 16) as usize);
    let mut pos = 0usize;
    while pos < cd.len() {
        let index = out.len();
        if cd.len() - pos < CENTRAL_FIXED_LEN || u32_at(cd, pos) != CENTRAL_SIG {
            return Err(PatchError::Corrupt(format!(
                "central directory record {index} at offset +{pos} is damaged"
            )));
        }
        let r = &cd[pos..];
        let name_len = u16_at(r, 28) as usize;
        let extra_len = u16_at(r, 30) as usize;
        let comment_len = u16_at(r, 32) as usize;
        let total = CENTRAL_FIXED_LEN + name_len + extra_len + comment_len;
        if r.len() < total {
            return Err(PatchError::Corrupt(format!(
                "central directory record {index} runs past the directory's end"
            )));
        }
        let raw = r[..total].to_vec();
        let name_bytes = &raw[CENTRAL_FIXED_LEN..CENTRAL_FIXED_LEN + name_len];
        let name = String::from_utf8_lossy(name_bytes).into_owned();
        if u16_at(r, 34) != 0 {
            return Err(PatchError::Unsupported(format!(
                "entry {name:?} lives on another disk of a split archive"
            )));
        }
        let mut uncompressed_size = u64::from(u32_at(r, 24));
        let mut compressed_size = u64::from(u32_at(r, 20));
        let mut local_offset = u64::from(u32_at(r, 42));
        let mut offset_field = (42, 4);
        // ZIP64 extra: only the fields whose 32-bit slot is saturated appear, in this order.
        let extra_start = CENTRAL_FIXED_LEN + name_len;
        let extra = &raw[extra_start..extra_start + extra_len];
        let mut e = 0usize;
        while e + 4 <= extra.len() {
            let id = u16_at(extra, e);
            let size = u16_at(extra, e + 2) as usize;
            let body = e + 4;
            if body + size > extra.len() {
                break;
            }
            if id == ZIP64_EXTRA_ID {
                let mut f = body;
                let mut take = |slot: &mut u64, saturated: bool| -> Option<usize> {
                    if !saturated {
                        return None;
                    }
                    if f + 8 > body + size {
                        return None;
                    }
                    *slot = u64_at(extra, f);
                    f += 8;
                    Some(f - 8)
                };
                take(&mut uncompressed_size, u32_at(r, 24) == u32::MAX);
                take(&mut compressed_size, u32_at(r, 20) == u32::MAX);
                if let Some(at) = take(&mut local_offset, u32_at(r, 42) == u32::MAX) {
                    offset_field = (extra_start + at, 8);
                }
                break;
            }
            e = body + size;
        }
        if offset_field.1 == 4 && u32_at(r, 42) == u32::MAX {
            return Err(PatchError::Corrupt(format!(
                "entry {name:?} says its offset is in a ZIP64 field, which is missing"
            )));
        }
        let made_by_host = raw[5];
        let external = u32_at(r, 38);
        let unix_mode =
            (made_by_host == HOST_UNIX && external >> 16 != 0).then_some((external >> 16) & 0o7777);
        out.push(CentralRecord {
            name,
            flags: u16_at(r, 8),
            crc32: u32_at(r, 16),
            compressed_size,
            local_offset,
            offset_field,
            unix_mode,
            raw,
        });
        pos += total;
    }
    if out.len() as u64 != expected {
        return Err(PatchError::Corrupt(format!(
            "the end record promises {expected} entries, the central directory holds {}",
            out.len()
        )));
    }
    Ok(out)
}

/// Where an entry's data starts: past its local header, name and (local) extra field.
pub(crate) fn data_start<R: Read + Seek>(
    src: &mut Source<R>,
    rec: &CentralRecord,
) -> Result<u64, PatchError> {
    Ok(local_header(src, rec)?.0)
}

/// An entry's local header: where its data starts, and its name and extra lengths.
fn local_header<R: Read + Seek>(
    src: &mut Source<R>,
    rec: &CentralRecord,
) -> Result<(u64, u64, u64), PatchError> {
    let mut h = [0u8; LOCAL_FIXED_LEN];
    src.read_at(rec.local_offset, &mut h).map_err(|_| {
        PatchError::Corrupt(format!(
            "entry {:?}: its local header at offset {} is outside the archive",
            rec.name, rec.local_offset
        ))
    })?;
    if u32_at(&h, 0) != LOCAL_SIG {
        return Err(PatchError::Corrupt(format!(
            "entry {:?}: no local header at offset {}",
            rec.name, rec.local_offset
        )));
    }
    let name_len = u64::from(u16_at(&h, 26));
    let extra_len = u64::from(u16_at(&h, 28));
    let data_start = rec.local_offset + LOCAL_FIXED_LEN as u64 + name_len + extra_len;
    Ok((data_start, name_len, extra_len))
}

/// Finds the byte extent of an entry's local part: header, data, and data descriptor if any.
pub(crate) fn local_extent<R: Read + Seek>(
    src: &mut Source<R>,
    rec: &CentralRecord,
) -> Result<u64, PatchError> {
    let (data_start, name_len, extra_len) = local_header(src, rec)?;
    let data_end = data_start
        .checked_add(rec.compressed_size)
        .ok_or_else(|| PatchError::Corrupt(format!("entry {:?}: impossible size", rec.name)))?;
    if rec.flags & FLAG_DATA_DESCRIPTOR == 0 {
        return Ok(data_end - rec.local_offset);
    }
    // A data descriptor: optional signature, CRC, then 32-bit sizes, or 64-bit ones when the
    // local header carries a ZIP64 extra. The CRC must match the central record's.
    let local_extra = src.read_vec(
        rec.local_offset + LOCAL_FIXED_LEN as u64 + name_len,
        extra_len,
    )?;
    let mut zip64 = false;
    let mut e = 0usize;
    while e + 4 <= local_extra.len() {
        if u16_at(&local_extra, e) == ZIP64_EXTRA_ID {
            zip64 = true;
        }
        e += 4 + u16_at(&local_extra, e + 2) as usize;
    }
    let sizes = if zip64 { 16 } else { 8 };
    let mut d = [0u8; 4];
    src.read_at(data_end, &mut d)?;
    let sig = if u32_at(&d, 0) == DESCRIPTOR_SIG {
        4
    } else {
        0
    };
    let mut crc = [0u8; 4];
    src.read_at(data_end + sig, &mut crc)?;
    if u32_at(&crc, 0) != rec.crc32 {
        return Err(PatchError::Corrupt(format!(
            "entry {:?}: its data descriptor does not match the central directory",
            rec.name
        )));
    }
    Ok(data_end + sig + 4 + sizes - rec.local_offset)
}

/// How a new entry's data is stored.
pub(crate) struct NewEntry<'a> {
    pub(crate) name: &'a str,
    pub(crate) mode: u32,
    pub(crate) method: u16,
    pub(crate) crc32: u32,
    pub(crate) uncompressed_size: u64,
    /// The length of the compressed data: `data.len()`, or, when the data is streamed
    /// separately ([`crate::ArchiveWriter`]), its length once known.
    pub(crate) compressed_size: u64,
    pub(crate) data: &'a [u8],
}

fn push16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn push32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn push64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn saturate32(v: u64) -> u32 {
    u32::try_from(v)
        .ok()
        .filter(|&x| x != u32::MAX)
        .unwrap_or(u32::MAX)
}

fn name_flags(name: &str) -> u16 {
    if name.is_ascii() { 0 } else { FLAG_UTF8 }
}

impl NewEntry<'_> {
    fn sizes_need_zip64(&self) -> bool {
        self.uncompressed_size >= u64::from(u32::MAX) || self.compressed_size >= u64::from(u32::MAX)
    }

    /// Appends the local header and data; sizes are known up front, so no data descriptor.
    pub(crate) fn write_local(&self, out: &mut Vec<u8>) {
        self.write_local_header(out);
        out.extend_from_slice(self.data);
    }

    /// Appends the local header alone.
    pub(crate) fn write_local_header(&self, out: &mut Vec<u8>) {
        let zip64 = self.sizes_need_zip64();
        push32(out, LOCAL_SIG);
        push16(out, if zip64 { 45 } else { 20 });
        push16(out, name_flags(self.name));
        push16(out, self.method);
        push16(out, FIXED_DOS_TIME);
        push16(out, FIXED_DOS_DATE);
        push32(out, self.crc32);
        push32(
            out,
            if zip64 {
                u32::MAX
            } else {
                self.compressed_size as u32
            },
        );
        push32(
            out,
            if zip64 {
                u32::MAX
            } else {
                self.uncompressed_size as u32
            },
        );
        push16(out, self.name.len() as u16);
        push16(out, if zip64 { 20 } else { 0 });
        out.extend_from_slice(self.name.as_bytes());
        if zip64 {
            push16(out, ZIP64_EXTRA_ID);
            push16(out, 16);
            push64(out, self.uncompressed_size);
            push64(out, self.compressed_size);
        }
    }

    /// The central directory record for this entry, whose local header is at `offset`.
    pub(crate) fn central_record(&self, offset: u64) -> Vec<u8> {
        let big_sizes = self.sizes_need_zip64();
        let big_offset = offset >= u64::from(u32::MAX);
        let mut extra = Vec::new();
        if big_sizes {
            push64(&mut extra, self.uncompressed_size);
            push64(&mut extra, self.compressed_size);
        }
        if big_offset {
            push64(&mut extra, offset);
        }
        let version = if big_sizes || big_offset { 45 } else { 20 };
        let mut out = Vec::with_capacity(CENTRAL_FIXED_LEN + self.name.len() + 24);
        push32(&mut out, CENTRAL_SIG);
        push16(&mut out, (u16::from(HOST_UNIX) << 8) | version);
        push16(&mut out, version);
        push16(&mut out, name_flags(self.name));
        push16(&mut out, self.method);
        push16(&mut out, FIXED_DOS_TIME);
        push16(&mut out, FIXED_DOS_DATE);
        push32(&mut out, self.crc32);
        push32(
            &mut out,
            if big_sizes {
                u32::MAX
            } else {
                self.compressed_size as u32
            },
        );
        push32(
            &mut out,
            if big_sizes {
                u32::MAX
            } else {
                self.uncompressed_size as u32
            },
        );
        push16(&mut out, self.name.len() as u16);
        push16(
            &mut out,
            if extra.is_empty() {
                0
            } else {
                extra.len() as u16 + 4
            },
        );
        push16(&mut out, 0); // comment
        push16(&mut out, 0); // disk
        push16(&mut out, 0); // internal attributes
        push32(&mut out, (S_IFREG | self.mode) << 16);
        push32(&mut out, if big_offset { u32::MAX } else { offset as u32 });
        out.extend_from_slice(self.name.as_bytes());
        if !extra.is_empty() {
            push16(&mut out, ZIP64_EXTRA_ID);
            push16(&mut out, extra.len() as u16);
            out.extend_from_slice(&extra);
        }
        out
    }
}

/// Appends the end records for a central directory of `entries` records, `cd_size` bytes long,
/// starting at `cd_offset`, using the ZIP64 forms only when a value does not fit.
pub(crate) fn write_end(
    out: &mut Vec<u8>,
    entries: u64,
    cd_offset: u64,
    cd_size: u64,
    comment: &[u8],
    zip64_end_at: u64,
) {
    let zip64 =
        entries >= 0xFFFF || cd_size >= u64::from(u32::MAX) || cd_offset >= u64::from(u32::MAX);
    if zip64 {
        push32(out, ZIP64_EOCD_SIG);
        push64(out, (ZIP64_EOCD_LEN - 12) as u64);
        push16(out, (u16::from(HOST_UNIX) << 8) | 45);
        push16(out, 45);
        push32(out, 0);
        push32(out, 0);
        push64(out, entries);
        push64(out, entries);
        push64(out, cd_size);
        push64(out, cd_offset);
        push32(out, ZIP64_LOCATOR_SIG);
        push32(out, 0);
        push64(out, zip64_end_at);
        push32(out, 1);
    }
    let count16 = if entries >= 0xFFFF {
        0xFFFF
    } else {
        entries as u16
    };
    push32(out, EOCD_SIG);
    push16(out, 0);
    push16(out, 0);
    push16(out, count16);
    push16(out, count16);
    push32(out, saturate32(cd_size));
    push32(out, saturate32(cd_offset));
    push16(out, comment.len() as u16);
    out.extend_from_slice(comment);
}
