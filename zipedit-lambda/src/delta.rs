//! Binary deltas: a file's new content as a zstd frame compressed against its previous content
//! (zstd's "patch-from": the old bytes are the frame's reference prefix), so a one-line change
//! to a 13 MB compiled `bootstrap` travels as tens of kilobytes. Plain Rust, no AWS, no I/O: the
//! CLI makes deltas and the patcher applies them with the same functions.
//!
//! A delta names the size and SHA-256 of the content it makes; [`apply`] checks both, so a
//! delta made against other bytes than the patcher's (or corrupted on the way) is refused
//! before anything is written.

use std::io::{Read as _, Write as _};

use sha2::{Digest as _, Sha256};

/// The largest old + new content a delta covers (the zstd window must hold both): 1 GiB,
/// far past Lambda's 250 MB unzipped limit.
pub const MAX_WINDOW: u64 = 1 << 30;

/// Why a delta could not be made or applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeltaError {
    /// zstd refused the frame (not a zstd frame, corrupted, or made against other content).
    #[error("the delta does not decode against the previous content: {0}")]
    Corrupt(String),
    /// The decoded content has another size than the delta names.
    #[error("the delta decodes to {got} bytes, not the {want} it names")]
    Size {
        /// Bytes it names.
        want: u64,
        /// Bytes it made (at most one past `want`: decoding stops there).
        got: u64,
    },
    /// The decoded content has another SHA-256 than the delta names: it was made against
    /// other bytes than the previous content.
    #[error("the delta decodes to content with SHA-256 {got}, not the {want} it names")]
    Sha256 {
        /// The SHA-256 it names (hex).
        want: String,
        /// The SHA-256 of what it made (hex).
        got: String,
    },
    /// Old and new content together pass [`MAX_WINDOW`].
    #[error(
        "{0} bytes of old and new content are past what a delta covers ({MAX_WINDOW}): send the file whole"
    )]
    TooLarge(u64),
}

/// The zstd window log that covers `old` and `new` together (at least 2^10).
fn window_log(old: u64, new: u64) -> Result<u32, DeltaError> {
    let total = old + new;
    if total > MAX_WINDOW {
        return Err(DeltaError::TooLarge(total));
    }
    Ok((u64::BITS - total.max(1).leading_zeros()).max(10))
}

fn zstd_error(e: std::io::Error) -> DeltaError {
    DeltaError::Corrupt(e.to_string())
}

/// The delta that turns `old` into `new`, at zstd `level` (1 to 19: higher is smaller and
/// slower), with long-distance matching over a window that covers both.
pub fn make(old: &[u8], new: &[u8], level: i32) -> Result<Vec<u8>, DeltaError> {
    let log = window_log(old.len() as u64, new.len() as u64)?;
    let mut encoder = zstd::stream::write::Encoder::with_ref_prefix(Vec::new(), level, old)
        .map_err(zstd_error)?;
    encoder.window_log(log).map_err(zstd_error)?;
    encoder.long_distance_matching(true).map_err(zstd_error)?;
    encoder
        .set_pledged_src_size(Some(new.len() as u64))
        .map_err(zstd_error)?;
    encoder.write_all(new).map_err(zstd_error)?;
    encoder.finish().map_err(zstd_error)
}

/// The content `delta` makes from `old`, checked against the `size` and SHA-256 (`sha256`,
/// lowercase hex) it names. Decoding stops one byte past `size`, so a delta cannot make the
/// patcher hold more than it announced.
pub fn apply(old: &[u8], delta: &[u8], size: u64, sha256: &str) -> Result<Vec<u8>, DeltaError> {
    let log = window_log(old.len() as u64, size)?;
    let mut decoder =
        zstd::stream::read::Decoder::with_ref_prefix(std::io::BufReader::new(delta), old)
            .map_err(zstd_error)?;
    decoder.window_log_max(log).map_err(zstd_error)?;
    read_checked(decoder, size, sha256)
}

/// `data` as one zstd frame at `level`, with long-distance matching over a window that covers
/// it: how an inline or staged change travels when that is smaller than the file itself.
pub fn compress(data: &[u8], level: i32) -> Result<Vec<u8>, DeltaError> {
    make(&[], data, level)
}

/// The content of the zstd frame `frame` ([`compress`]), checked against the `size` and
/// SHA-256 it names, as [`apply`] checks a delta.
pub fn decompress(frame: &[u8], size: u64, sha256: &str) -> Result<Vec<u8>, DeltaError> {
    apply(&[], frame, size, sha256)
}

/// Reads at most `size + 1` bytes from `decoder` and checks the size and SHA-256.
fn read_checked(
    decoder: impl std::io::Read,
    size: u64,
    sha256: &str,
) -> Result<Vec<u8>, DeltaError> {
    // Capacity from the announced size, but bounded: a false size must not allocate a gigabyte.
    let mut out = Vec::with_capacity(usize::try_from(size.min(64 << 20)).unwrap_or(0));
    decoder
        .take(size + 1)
        .read_to_end(&mut out)
        .map_err(zstd_error)?;
    if out.len() as u64 != size {
        return Err(DeltaError::Size {
            want: size,
            got: out.len() as u64,
        });
    }
    let got = hex(&Sha256::digest(&out));
    if !got.eq_ignore_ascii_case(sha256) {
        return Err(DeltaError::Sha256 {
            want: sha256.to_owned(),
            got,
        });
    }
    Ok(out)
}

/// The SHA-256 of `data`, lowercase hex: what a delta names.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Pseudo-random bytes (incompressible, like a compiled binary's).
    fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn a_small_edit_in_a_large_file_is_a_small_delta() {
        let old = noise(4 << 20, 7);
        let mut new = old.clone();
        new[1_000_000..1_000_040].copy_from_slice(&[b'x'; 40]);
        new.extend_from_slice(b"a few new bytes at the end");
        let delta = make(&old, &new, 3).expect("make");
        assert!(delta.len() < 2_000, "{} bytes", delta.len());
        let back = apply(&old, &delta, new.len() as u64, &sha256_hex(&new)).expect("apply");
        assert!(back == new);
    }

    #[test]
    fn the_wrong_base_a_corrupt_delta_and_a_false_size_are_refused() {
        let old = noise(200_000, 1);
        let mut new = old.clone();
        new[5] ^= 0xff;
        let (size, sha) = (new.len() as u64, sha256_hex(&new));
        let delta = make(&old, &new, 3).expect("make");
        let other = noise(200_000, 2);
        assert!(apply(&other, &delta, size, &sha).is_err(), "wrong base");
        let mut corrupt = delta.clone();
        let mid = corrupt.len() / 2;
        corrupt[mid] ^= 0x55;
        assert!(apply(&old, &corrupt, size, &sha).is_err(), "corrupt");
        assert!(matches!(
            apply(&old, &delta, size - 1, &sha),
            Err(DeltaError::Size { .. })
        ));
        assert!(matches!(
            apply(&old, &delta, size, &sha256_hex(b"other")),
            Err(DeltaError::Sha256 { .. })
        ));
        assert!(apply(&old, b"not zstd at all", size, &sha).is_err());
    }

    #[test]
    fn a_compressed_frame_round_trips_and_is_checked() {
        let text = b"def handler(event, context):\n    return 'hello'\n".repeat(500);
        let frame = compress(&text, 3).expect("compress");
        assert!(frame.len() < text.len() / 20, "{} bytes", frame.len());
        let sha = sha256_hex(&text);
        assert_eq!(
            decompress(&frame, text.len() as u64, &sha).expect("decompress"),
            text
        );
        assert!(decompress(&frame, text.len() as u64, &sha256_hex(b"x")).is_err());
        assert!(decompress(&frame[..frame.len() - 3], text.len() as u64, &sha).is_err());
    }

    #[test]
    fn windows_cover_old_and_new_and_stop_at_the_limit() {
        assert_eq!(window_log(0, 0), Ok(10));
        assert_eq!(window_log(13_014_032, 13_014_100), Ok(25));
        assert!(matches!(
            window_log(MAX_WINDOW, 1),
            Err(DeltaError::TooLarge(_))
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// For any old and new content, the delta applied to the old gives exactly the new.
        #[test]
        fn a_delta_applied_gives_exactly_the_new_content(
            old in proptest::collection::vec(any::<u8>(), 0..20_000),
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..50),
            tail in proptest::collection::vec(any::<u8>(), 0..2_000),
            cut in any::<usize>(),
        ) {
            let mut new = old.clone();
            for (at, byte) in edits {
                if !new.is_empty() {
                    let i = at % new.len();
                    new[i] = byte;
                }
            }
            new.truncate(cut % (new.len() + 1));
            new.extend_from_slice(&tail);
            let delta = make(&old, &new, 3).expect("make");
            let back = apply(&old, &delta, new.len() as u64, &sha256_hex(&new)).expect("apply");
            prop_assert_eq!(back, new);
        }

        /// Against any other base, or with any byte of it changed, a delta gives exactly the
        /// new content or is refused: never other bytes. (It may still succeed when what it
        /// needs of the base is unchanged, e.g. a delta of literals only.)
        #[test]
        fn a_wrong_base_or_a_damaged_delta_never_gives_other_content(
            old in proptest::collection::vec(any::<u8>(), 1..8_000),
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..20),
            flip in any::<usize>(),
            mask in 1u8..=255,
        ) {
            let mut new = old.clone();
            for (at, byte) in &edits {
                let i = at % new.len();
                new[i] = *byte;
            }
            new.extend_from_slice(&old[..old.len() / 2]);
            let (size, sha) = (new.len() as u64, sha256_hex(&new));
            let delta = make(&old, &new, 3).expect("make");
            let mut other = old.clone();
            let i = flip % other.len();
            other[i] ^= mask;
            if let Ok(got) = apply(&other, &delta, size, &sha) {
                prop_assert_eq!(&got, &new);
            }
            let mut damaged = delta.clone();
            let j = flip % damaged.len();
            damaged[j] ^= mask;
            if let Ok(got) = apply(&old, &damaged, size, &sha) {
                prop_assert_eq!(&got, &new);
            }
        }
    }
}
