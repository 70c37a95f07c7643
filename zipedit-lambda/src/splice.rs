//! Splices: a file's new content as the bytes it keeps of the old one at its head and at its
//! tail, and the bytes between them. A one-line edit of a 2 MiB bundle is then the line and
//! two numbers, where a zstd delta ([`crate::delta`]) pays about ten bytes for each 128 KiB
//! block of the output even when the block is a plain copy. Plain Rust, no AWS, no I/O.
//!
//! The payload is `head` and `tail` as LEB128 varints, then the middle bytes. Like a delta, a
//! splice names the size and SHA-256 of the content it makes, and [`apply`] checks both.

use crate::delta::{DeltaError, sha256_hex};

/// A splice of `new` against `old`: the common head and tail, and the middle in between.
pub fn make(old: &[u8], new: &[u8]) -> Vec<u8> {
    let head = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    // The tail may not reach into the head on either side.
    let room = old.len().min(new.len()) - head;
    let tail = old
        .iter()
        .rev()
        .zip(new.iter().rev())
        .take(room)
        .take_while(|(a, b)| a == b)
        .count();
    let mut out = Vec::with_capacity(20 + new.len() - head - tail);
    varint(&mut out, head as u64);
    varint(&mut out, tail as u64);
    out.extend_from_slice(&new[head..new.len() - tail]);
    out
}

/// The content `splice` makes from `old`, checked against the `size` and SHA-256 (`sha256`,
/// lowercase hex) it names. A head or tail past the old content, or a size the parts do not
/// add up to, is refused before anything is allocated.
pub fn apply(old: &[u8], splice: &[u8], size: u64, sha256: &str) -> Result<Vec<u8>, DeltaError> {
    let corrupt = |what: &str| DeltaError::Corrupt(format!("the splice {what}"));
    let (head, rest) = read_varint(splice).ok_or_else(|| corrupt("has no head length"))?;
    let (tail, middle) = read_varint(rest).ok_or_else(|| corrupt("has no tail length"))?;
    let kept = head
        .checked_add(tail)
        .filter(|k| *k <= old.len() as u64)
        .ok_or_else(|| corrupt("keeps more than the previous content holds"))?;
    let got = kept + middle.len() as u64;
    if got != size {
        return Err(DeltaError::Size { want: size, got });
    }
    let (head, tail) = (head as usize, tail as usize);
    let mut out = Vec::with_capacity(got as usize);
    out.extend_from_slice(&old[..head]);
    out.extend_from_slice(middle);
    out.extend_from_slice(&old[old.len() - tail..]);
    let got = sha256_hex(&out);
    if !got.eq_ignore_ascii_case(sha256) {
        return Err(DeltaError::Sha256 {
            want: sha256.to_owned(),
            got,
        });
    }
    Ok(out)
}

fn varint(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// A varint and what follows it; `None` when it is cut short or longer than a u64.
fn read_varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut n = 0u64;
    for (i, b) in bytes.iter().enumerate().take(10) {
        n |= u64::from(b & 0x7f).checked_shl(7 * i as u32)?;
        if b & 0x80 == 0 {
            return Some((n, &bytes[i + 1..]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_one_line_edit_of_a_large_file_is_the_line_and_two_numbers() {
        let old = b"// a bundle\n".repeat(200_000);
        let mut new = old.clone();
        let at = 1_000_000;
        new.splice(at..at + 12, b"return 'changed';\n".iter().copied());
        let splice = make(&old, &new);
        assert!(splice.len() < 30, "{} bytes", splice.len());
        let back = apply(&old, &splice, new.len() as u64, &sha256_hex(&new)).expect("apply");
        assert!(back == new);
    }

    #[test]
    fn a_wrong_base_a_false_size_and_a_cut_payload_are_refused() {
        let old = b"0123456789".repeat(100);
        let mut new = old.clone();
        new[500] = b'x';
        let (size, sha) = (new.len() as u64, sha256_hex(&new));
        let splice = make(&old, &new);
        let mut other = old.clone();
        other[0] = b'y';
        assert!(matches!(
            apply(&other, &splice, size, &sha),
            Err(DeltaError::Sha256 { .. })
        ));
        assert!(matches!(
            apply(&old, &splice, size + 1, &sha),
            Err(DeltaError::Size { .. })
        ));
        assert!(
            apply(&old[..10], &splice, size, &sha).is_err(),
            "short base"
        );
        assert!(apply(&old, &[0x80], size, &sha).is_err(), "cut varint");
        assert!(apply(&old, &[0xff; 11], size, &sha).is_err(), "long varint");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// For any old and new content, the splice applied to the old gives exactly the new.
        #[test]
        fn a_splice_applied_gives_exactly_the_new_content(
            old in proptest::collection::vec(any::<u8>(), 0..2_000),
            keep_head in any::<usize>(),
            keep_tail in any::<usize>(),
            middle in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let head = keep_head % (old.len() + 1);
            let tail = keep_tail % (old.len() - head + 1);
            let mut new = old[..head].to_vec();
            new.extend_from_slice(&middle);
            new.extend_from_slice(&old[old.len() - tail..]);
            let splice = make(&old, &new);
            prop_assert!(splice.len() <= middle.len() + 20);
            let back = apply(&old, &splice, new.len() as u64, &sha256_hex(&new)).expect("apply");
            prop_assert_eq!(back, new);
        }
    }
}
