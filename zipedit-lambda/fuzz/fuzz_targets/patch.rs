//! Fuzzes the archive reader and the patcher together. See `fuzz/README.md`.
//!
//! Input: `[n][control: n % 64 bytes][old archive: the rest]`. The control bytes are read in
//! pairs `(op, arg)`; `name(arg)` is `NAMES[arg % len]`, where the list is a few fixed names
//! followed by up to 16 names found in the archive's own central directory records, so changes
//! hit real entries. `op % 8`:
//!
//! - 0: put text `name(arg)` (`arg % 7` lines; 0 lines is an empty file)
//! - 1: put `op` bytes of `arg` at `name(arg)`, executable when `arg` is odd, else not
//! - 2: delete `name(arg)`
//! - 3: set `max_dead_ratio` to `arg / 255`
//! - 4: put a file under `name(arg)` taken as a folder (`<name>/x`): file/folder conflicts
//! - 5: delete `name(arg)` with its trailing `/` toggled (folder entries by either name)
//! - 6: put `8 * arg` pseudo-random, incompressible bytes (stored, not deflated)
//! - 7: set the compression level to `arg % 10`
//!
//! The same change set is applied with every `Mode`. Properties checked on success are listed in
//! the README; an error is always acceptable, a panic never is.
#![no_main]

use std::collections::HashSet;
use std::io::{Cursor, Read};

use libfuzzer_sys::fuzz_target;
use zipedit::{
    ChangeSet, Mode, PatchOptions, Patched, PutFile, Strategy, code_sha256, patch_bytes,
    patch_directory,
};

const FIXED_NAMES: [&str; 7] = [
    "a.py",
    "lib/b.py",
    "bootstrap",
    "d/",
    "é/ü.txt",
    "lib",
    "new.txt",
];

/// Names of central directory records found by signature, independent of both zip readers.
fn raw_names(archive: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    let mut at = 0;
    while names.len() < 16 && at + 46 <= archive.len() {
        if archive[at..at + 4] == *b"PK\x01\x02" {
            let len = usize::from(u16::from_le_bytes([archive[at + 28], archive[at + 29]]));
            if let Some(name) = archive.get(at + 46..at + 46 + len) {
                let name = String::from_utf8_lossy(name).into_owned();
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        at += 1;
    }
    names
}

struct Input<'a> {
    archive: &'a [u8],
    changes: ChangeSet,
    ratio: f64,
    level: u32,
}

fn decode(data: &[u8]) -> Option<Input<'_>> {
    let (&n, rest) = data.split_first()?;
    let n = usize::from(n % 64).min(rest.len());
    let (ctl, archive) = rest.split_at(n);
    let names: Vec<String> = FIXED_NAMES
        .iter()
        .map(|s| s.to_string())
        .chain(raw_names(archive))
        .collect();
    let mut changes = ChangeSet::new();
    let (mut ratio, mut level) = (0.25, 6);
    let mut seed = 0x9E37_79B9u32;
    for (i, pair) in ctl.chunks(2).enumerate() {
        let (op, arg) = (pair[0], pair.get(1).copied().unwrap_or(0));
        let name = names[usize::from(arg) % names.len()].clone();
        match op % 8 {
            0 => changes.puts.push(PutFile::new(
                name,
                format!("text {i} {arg}\n").repeat(usize::from(arg % 7)),
            )),
            1 => changes
                .puts
                .push(PutFile::new(name, vec![arg; usize::from(op)]).executable(arg % 2 == 1)),
            2 => changes.deletes.push(name),
            3 => ratio = f64::from(arg) / 255.0,
            4 => changes.puts.push(PutFile::new(
                format!("{}/x", name.trim_end_matches('/')),
                vec![b'x'; usize::from(arg % 5)],
            )),
            5 => changes.deletes.push(match name.strip_suffix('/') {
                Some(bare) => bare.to_owned(),
                None => format!("{name}/"),
            }),
            6 => {
                let bytes = (0..usize::from(arg) * 8)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 17;
                        seed ^= seed << 5;
                        seed as u8
                    })
                    .collect::<Vec<u8>>();
                changes.puts.push(PutFile::new(name, bytes));
            }
            _ => level = u32::from(arg % 10),
        }
    }
    Some(Input {
        archive,
        changes,
        ratio,
        level,
    })
}

/// Every entry of a zip-crate archive, by index: name, content (or why it did not read), mode.
type Entries = Vec<(String, Result<Vec<u8>, String>, Option<u32>)>;

fn read_all(za: &mut zip::ZipArchive<Cursor<&[u8]>>) -> Entries {
    (0..za.len())
        .map(|i| {
            let (name, mode) = match za.by_index_data(i) {
                // Raw bytes decoded lossily, as the engine names entries.
                Ok(e) => (
                    String::from_utf8_lossy(e.name_raw()).into_owned(),
                    e.unix_mode(),
                ),
                Err(e) => (format!("<entry {i}: {e}>"), None),
            };
            let mut got = Vec::new();
            // read_to_end checks the CRC-32 (and the size) once the entry is fully read.
            let content = za
                .by_index(i)
                .map_err(|e| e.to_string())
                .and_then(|mut f| f.read_to_end(&mut got).map_err(|e| e.to_string()))
                .map(|_| got);
            (name, content, mode)
        })
        .collect()
}

/// Whether a delete of `path` removes an entry named `name` (a folder by either name).
fn deleted_by(path: &str, name: &str) -> bool {
    let bare = path.trim_end_matches('/');
    name == bare || name.strip_suffix('/') == Some(bare)
}

fn check(
    input: &Input<'_>,
    mode: Mode,
    p: &Patched,
    zin: &mut Option<(zip::ZipArchive<Cursor<&[u8]>>, Entries)>,
) {
    let old = input.archive;
    let changes = &input.changes;
    let r = &p.report;
    assert!(
        p.kept_prefix <= old.len() as u64,
        "kept prefix {} past the old archive",
        p.kept_prefix
    );
    let out = p.to_vec(old);

    // The report describes the bytes.
    assert_eq!(r.size, out.len() as u64, "report.size");
    assert_eq!(r.code_sha256, code_sha256(&out), "report.code_sha256");
    assert_eq!(r.kept_prefix, p.kept_prefix, "report.kept_prefix");
    assert_eq!(r.written, p.tail.len() as u64, "report.written");
    assert_eq!(r.added + r.modified, changes.puts.len(), "added + modified");
    assert_eq!(r.deleted, changes.deletes.len(), "deleted");

    // The strategy follows the mode.
    match (mode, r.strategy) {
        (Mode::Rewrite, Strategy::Rewrite) => {}
        (Mode::Append, Strategy::Append) if !changes.is_empty() => {}
        (Mode::Append | Mode::Auto, Strategy::Unchanged) if changes.is_empty() => {}
        (Mode::Auto, Strategy::Rewrite) if !changes.is_empty() => {}
        (Mode::Auto, Strategy::Append) if changes.deletes.is_empty() && !changes.is_empty() => {}
        (m, s) => panic!("mode {m:?} gave strategy {s:?} for {changes:?}"),
    }
    match r.strategy {
        Strategy::Rewrite => assert_eq!(p.kept_prefix, 0, "rewrite keeps no prefix"),
        Strategy::Unchanged => assert!(out == old, "an unchanged archive is the old bytes"),
        Strategy::Append => {
            let keep = p.kept_prefix as usize;
            assert!(
                out[..keep] == old[..keep],
                "append output starts with the old prefix"
            );
            assert_eq!(
                r.entries,
                r.unchanged + changes.puts.len(),
                "entries after append"
            );
        }
    }

    // The engine reads what it wrote, and sees the entries the report counts.
    let again = patch_bytes(&out, &ChangeSet::new(), &PatchOptions::default())
        .unwrap_or_else(|e| panic!("the engine rejects its own {:?} output: {e}", r.strategy));
    assert_eq!(
        again.report.entries, r.entries,
        "entries seen when reading the output"
    );

    // Resuming the hash from the checkpoint, with or without the archive's prefix, matches a
    // full rehash.
    let next = ChangeSet::new().put(PutFile::new("zz-fuzz-next.txt", "next\n"));
    let plain = PatchOptions {
        mode: Mode::Append,
        ..PatchOptions::default()
    };
    let resumed = PatchOptions {
        checkpoint: Some(r.checkpoint.clone()),
        ..plain.clone()
    };
    let a = patch_bytes(&out, &next, &plain);
    let b = patch_bytes(&out, &next, &resumed);
    let c = patch_directory(&out, 0, out.len() as u64, &next, &resumed);
    match (&a, &b) {
        (Ok(a), Ok(b)) => {
            assert_eq!(
                a.report.code_sha256, b.report.code_sha256,
                "checkpoint resume: sha"
            );
            assert!(a.tail == b.tail, "checkpoint resume: tail");
            assert_eq!(
                a.report.code_sha256,
                code_sha256(&a.to_vec(&out)),
                "second append: sha"
            );
            let c =
                c.unwrap_or_else(|e| panic!("patch_directory fails where patch_bytes works: {e}"));
            assert_eq!(
                a.report.code_sha256, c.report.code_sha256,
                "patch_directory: sha"
            );
            assert!(a.tail == c.tail, "patch_directory: tail");
            assert_eq!(a.kept_prefix, c.kept_prefix, "patch_directory: kept prefix");
        }
        (Err(ea), Err(eb)) => assert_eq!(ea.kind(), eb.kind(), "checkpoint changes the error"),
        (a, b) => panic!(
            "a checkpoint changes whether the append works: {:?} vs {:?}",
            a.as_ref().err(),
            b.as_ref().err()
        ),
    }

    // An independent reader: whenever it opened the old archive, it opens the new one, every
    // entry reads back with its CRC-32 checked, put files hold what was put, kept entries hold
    // what they held, and the names are the kept ones in their old order then the puts sorted.
    let Some((zin, before)) = zin else { return };
    let mut zout = zip::ZipArchive::new(Cursor::new(out.as_slice())).unwrap_or_else(|e| {
        panic!(
            "the zip crate opened the old archive but not the {:?} output: {e}",
            r.strategy
        )
    });
    let after = read_all(&mut zout);
    let put_names: HashSet<&str> = changes.puts.iter().map(|p| p.path.as_str()).collect();
    let comparable = !zin.has_duplicate_names();
    for put in &changes.puts {
        let i = zout
            .index_for_name_raw(put.path.as_bytes())
            .unwrap_or_else(|| panic!("put {:?} is missing from the output", put.path));
        let (_, content, mode) = &after[i];
        match content {
            Ok(got) => assert!(
                *got == put.data,
                "put {:?} reads back different bytes",
                put.path
            ),
            Err(e) => panic!("put {:?} does not read back: {e}", put.path),
        }
        let new_file = comparable && !before.iter().any(|(n, ..)| *n == put.path);
        let want = match put.executable {
            Some(true) => Some(0o755),
            Some(false) => Some(0o644),
            None if new_file && put.path == "bootstrap" => Some(0o755),
            None if new_file => Some(0o644),
            None => None,
        };
        if let Some(want) = want {
            assert_eq!(
                mode.map(|m| m & 0o7777),
                Some(want),
                "mode of put {:?}",
                put.path
            );
        }
    }
    if comparable {
        let kept: Vec<&(String, Result<Vec<u8>, String>, Option<u32>)> = before
            .iter()
            .filter(|(n, ..)| {
                !put_names.contains(n.as_str()) && !changes.deletes.iter().any(|d| deleted_by(d, n))
            })
            .collect();
        let mut sorted_puts: Vec<&str> = put_names.iter().copied().collect();
        sorted_puts.sort_unstable();
        let want: Vec<&str> = kept
            .iter()
            .map(|(n, ..)| n.as_str())
            .chain(sorted_puts)
            .collect();
        let got: Vec<&str> = after.iter().map(|(n, ..)| n.as_str()).collect();
        assert_eq!(
            got, want,
            "entry names and order in the {:?} output",
            r.strategy
        );
        assert_eq!(zout.len(), r.entries, "report.entries vs the zip crate");
        for (old_entry, new_entry) in kept.iter().zip(&after) {
            if let Ok(was) = &old_entry.1 {
                match &new_entry.1 {
                    Ok(now) => assert!(now == was, "kept entry {:?} changed", old_entry.0),
                    Err(e) => panic!(
                        "kept entry {:?} read before but not after: {e}",
                        old_entry.0
                    ),
                }
            }
        }
    }
}

/// `ZIPEDIT_FUZZ_DEBUG=1` prints what each mode did, e.g. to see what a seed exercises.
fn debug() -> bool {
    static DEBUG: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DEBUG.get_or_init(|| std::env::var_os("ZIPEDIT_FUZZ_DEBUG").is_some())
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = decode(data) else { return };
    if debug() {
        eprintln!("changes: {:?}", input.changes);
    }
    let mut zin = zip::ZipArchive::new(Cursor::new(input.archive))
        .ok()
        .map(|mut za| {
            let entries = read_all(&mut za);
            (za, entries)
        });
    for mode in [Mode::Auto, Mode::Rewrite, Mode::Append] {
        let opts = PatchOptions {
            mode,
            max_dead_ratio: input.ratio,
            compression_level: input.level,
            ..PatchOptions::default()
        };
        let result = patch_bytes(input.archive, &input.changes, &opts);
        if debug() {
            match &result {
                Ok(p) => eprintln!(
                    "{mode:?}: {:?}, {} entries, {} bytes",
                    p.report.strategy, p.report.entries, p.report.size
                ),
                Err(e) => eprintln!("{mode:?}: error: {e}"),
            }
        }
        if let Ok(p) = result {
            check(&input, mode, &p, &mut zin);
        }
    }
});
