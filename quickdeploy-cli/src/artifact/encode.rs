//! How each changed file travels to the patcher: whole, as one zstd frame, or as a zstd delta
//! against the content the artifact holds now, whichever makes the smaller request. Pure: the
//! previous content is given by the caller (the local cache or a ranged read of the artifact,
//! see `bases`), so the choice is tested without disk or servers.

use serde::Serialize;
use zipedit::delta;
use zipedit::event::{Content, Decoding, Encoding};

use crate::artifact::diff::Put;

/// Files at least this large are sent as a delta when their previous content is at hand.
/// Below it a compressed whole file is a few kilobytes at most: not worth a read of the base.
pub const DELTA_OVER: usize = 64 * 1024;
/// Files smaller than this go as they are: a zstd frame and its checks outweigh the saving.
pub const COMPRESS_OVER: usize = 512;
/// zstd level for whole files: fast (hundreds of MB/s), most of the gain on text.
pub const ZSTD_LEVEL: i32 = 3;
/// zstd level for deltas. Measured on three real pairs of a 13 MB Rust `bootstrap`
/// (BENCHMARKS.md, "Choosing the delta level"): levels 1 to 12 make deltas within 14% of each
/// other (long-distance matching finds the moved code at any level), while making one takes
/// 30 ms at 1, 201 ms at 9 and 7 s at 19: on the path of every save, the fastest wins.
pub const DELTA_LEVEL: i32 = 1;

/// How a file was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sent {
    /// As it is.
    Whole,
    /// One zstd frame of the file.
    Zstd,
    /// A zstd delta against the previous content.
    Delta,
    /// The previous content's head and tail kept, the middle sent.
    Splice,
}

impl Sent {
    /// True when it was made against the previous content.
    pub fn uses_base(self) -> bool {
        matches!(self, Self::Delta | Self::Splice)
    }
}

/// A splice at most this long is sent without making a zstd delta to compare: a delta of a
/// file past [`DELTA_OVER`] costs about ten bytes per 128 KiB block of it even where nothing
/// changed, so it cannot be much smaller, and making it takes milliseconds a megabyte.
const SMALL_SPLICE: usize = 256;

/// A file, encoded for the event.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// What goes in the event.
    pub content: Content,
    /// How.
    pub sent: Sent,
    /// The file's bytes as sent (before base64).
    pub bytes: usize,
}

/// A delta at most this fraction of the file is sent without making a zstd frame of the
/// whole file to compare: with the old content as reference, a delta is never much larger
/// than that frame (the same encoder, two levels lower), so the frame (tens of ms for a
/// megabyte bundle, on the path of every save) could at best save a few percent of it.
const SMALL_DELTA: usize = 8;

/// The smallest way to send `put`: `base` is the entry's previous content (already checked
/// against the deployed manifest's SHA-256), when it is known and the file was modified.
/// `compress` false sends every file whole (a local patch has no wire to save).
///
/// Cheapest first: a small delta is taken at once, and the whole file (as JSON text or
/// base64, a copy of the file) is only sized when an encoding could lose to it.
pub fn encode(put: &Put, base: Option<&[u8]>, compress: bool) -> Encoded {
    let executable = Some(put.executable);
    let whole = || Encoded {
        content: Content::bytes(&put.data, executable),
        sent: Sent::Whole,
        bytes: put.data.len(),
    };
    if !compress || put.data.len() < COMPRESS_OVER {
        return whole();
    }
    let decoding = |encoding| Decoding {
        encoding,
        size: put.data.len() as u64,
        sha256: put.sha256.clone(),
    };
    let mut candidates = Vec::new();
    let base = base.filter(|_| put.data.len() >= DELTA_OVER);
    if let Some(base) = base {
        let patch = zipedit::splice::make(base, &put.data);
        let splice = Encoded {
            content: Content::encoded(&patch, &decoding(Encoding::Splice), executable),
            sent: Sent::Splice,
            bytes: patch.len(),
        };
        if patch.len() <= SMALL_SPLICE {
            return splice;
        }
        candidates.push(splice);
    }
    if let Some(base) = base
        && let Ok(patch) = delta::make(base, &put.data, DELTA_LEVEL)
    {
        let small = patch.len() <= put.data.len() / SMALL_DELTA;
        let delta = Encoded {
            content: Content::encoded(&patch, &decoding(Encoding::ZstdDelta), executable),
            sent: Sent::Delta,
            bytes: patch.len(),
        };
        if small {
            return delta;
        }
        candidates.push(delta);
    }
    if let Ok(frame) = delta::compress(&put.data, ZSTD_LEVEL) {
        candidates.push(Encoded {
            content: Content::encoded(&frame, &decoding(Encoding::Zstd), executable),
            sent: Sent::Zstd,
            bytes: frame.len(),
        });
    }
    // The request's size is what counts: text goes as JSON text, bytes as base64.
    let size = |c: &Encoded| serde_json::to_vec(&c.content).map_or(usize::MAX, |v| v.len());
    let best = candidates.into_iter().min_by_key(|c| size(c));
    match best {
        // The whole file is at least its own length in the request: an encoding whose
        // request is shorter wins without the copy.
        Some(b) if size(&b) < put.data.len() => b,
        Some(b) => {
            let w = whole();
            if size(&w) <= size(&b) { w } else { b }
        }
        None => whole(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zipedit::event::Resolved;

    fn put(data: Vec<u8>) -> Put {
        Put {
            path: "bootstrap".into(),
            sha256: delta::sha256_hex(&data),
            data,
            executable: true,
            added: false,
        }
    }

    /// Pseudo-random bytes: incompressible, like machine code.
    fn noise(len: usize) -> Vec<u8> {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    /// What the patcher makes of the content, given the previous content.
    fn decoded(e: &Encoded, base: &[u8]) -> Vec<u8> {
        let Resolved {
            source, decoding, ..
        } = e.content.resolve("bootstrap").expect("resolves");
        let zipedit::event::Source::Inline(bytes) = source else {
            panic!("inline")
        };
        match decoding {
            None => bytes,
            Some(d) if d.encoding == Encoding::Zstd => {
                delta::decompress(&bytes, d.size, &d.sha256).expect("decompress")
            }
            Some(d) if d.encoding == Encoding::Splice => {
                zipedit::splice::apply(base, &bytes, d.size, &d.sha256).expect("splice")
            }
            Some(d) => delta::apply(base, &bytes, d.size, &d.sha256).expect("apply"),
        }
    }

    #[test]
    fn a_small_edit_to_a_large_binary_goes_as_a_splice() {
        let old = noise(1 << 20);
        let mut new = old.clone();
        new[500_000..500_020].copy_from_slice(b"a one-line change...");
        let e = encode(&put(new.clone()), Some(&old), true);
        assert_eq!(e.sent, Sent::Splice);
        assert!(e.bytes < 30, "{} bytes", e.bytes);
        assert_eq!(decoded(&e, &old), new);
    }

    #[test]
    fn edits_far_apart_in_a_large_binary_go_as_a_delta() {
        // A splice would carry the megabyte between the two edits.
        let old = noise(2 << 20);
        let mut new = old.clone();
        new[1_000..1_020].copy_from_slice(b"one edit at the top.");
        new[2_000_000..2_000_020].copy_from_slice(b"and one at the end..");
        let e = encode(&put(new.clone()), Some(&old), true);
        assert_eq!(e.sent, Sent::Delta);
        assert!(e.bytes < 1_000, "{} bytes", e.bytes);
        assert_eq!(decoded(&e, &old), new);
    }

    #[test]
    fn a_rewritten_text_file_goes_as_the_smaller_of_a_delta_and_a_frame() {
        // A base unrelated to the new content: the delta cannot be small, so a frame of the
        // whole file is made and compared, and the smaller sent.
        let old = noise(200_000);
        let text = b"export const handler = async () => ({ statusCode: 200 });\n".repeat(4_000);
        let e = encode(&put(text.clone()), Some(&old), true);
        assert!(matches!(e.sent, Sent::Zstd | Sent::Delta), "{:?}", e.sent);
        assert!(e.bytes < text.len() / 50, "{} bytes", e.bytes);
        assert_eq!(decoded(&e, &old), text);
    }

    #[test]
    fn without_a_base_text_is_compressed_and_noise_goes_whole() {
        let text = b"export const handler = async () => ({ statusCode: 200 });\n".repeat(4_000);
        let e = encode(&put(text.clone()), None, true);
        assert_eq!(e.sent, Sent::Zstd);
        assert!(e.bytes < text.len() / 50, "{} bytes", e.bytes);
        assert_eq!(decoded(&e, &[]), text);
        let random = noise(200_000);
        let e = encode(&put(random.clone()), None, true);
        assert_eq!(
            e.sent,
            Sent::Whole,
            "a frame of noise is larger than the noise"
        );
        assert_eq!(decoded(&e, &[]), random);
    }

    #[test]
    fn small_files_local_patches_and_small_bases_go_as_they_are() {
        let e = encode(&put(b"print(1)\n".to_vec()), None, true);
        assert_eq!(e.sent, Sent::Whole);
        assert!(
            matches!(e.content, Content::Detailed(_)),
            "executable flag kept"
        );
        let big = b"x = 1\n".repeat(100_000);
        assert_eq!(encode(&put(big.clone()), None, false).sent, Sent::Whole);
        // Under DELTA_OVER a base is not used even when given.
        let small = b"y = 2\n".repeat(1_000);
        assert_ne!(
            encode(&put(small.clone()), Some(&small), true).sent,
            Sent::Delta
        );
    }
}
