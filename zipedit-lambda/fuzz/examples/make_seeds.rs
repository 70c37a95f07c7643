//! Regenerates the seed corpus in `fuzz/corpus/patch/`: archives from `zipedit::build_archive`
//! here, then the Python `zipfile` ones by running `make_seeds.py`. Each seed is an archive
//! behind a control block, in the input format of `fuzz_targets/patch.rs`.
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --example make_seeds   # from zipedit-lambda/
//! ```

use std::path::Path;
use std::process::Command;

use zipedit::{EMPTY_ARCHIVE, PutFile, build_archive};

/// Indices into the target's name list: 0..=6 are fixed names, 7.. the archive's own entries.
const BOOTSTRAP: u8 = 2;
const D_DIR: u8 = 3;
const NEW: u8 = 6;
const OWN: u8 = 7;

fn seed(dir: &Path, name: &str, pairs: &[(u8, u8)], archive: &[u8]) {
    let control: Vec<u8> = pairs.iter().flat_map(|&(op, arg)| [op, arg]).collect();
    let mut bytes = vec![control.len() as u8];
    bytes.extend_from_slice(&control);
    bytes.extend_from_slice(archive);
    std::fs::write(dir.join(name), bytes).expect("write seed");
}

fn main() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = fuzz.join("corpus").join("patch");
    std::fs::create_dir_all(&dir).expect("create corpus dir");

    // Sorted by path: bootstrap (0755), handler.py, lib/util.py are own entries 0, 1, 2.
    let built = build_archive(vec![
        PutFile::new(
            "handler.py",
            "def handler(event, context):\n    return 1\n".repeat(4),
        ),
        PutFile::new("lib/util.py", "X = 1\n"),
        PutFile::new("bootstrap", "#!/bin/sh\nexec ./handler\n"),
    ])
    .expect("build_archive");
    // Replace handler.py with one line of text.
    seed(&dir, "build-modify", &[(0, OWN + 1)], &built);
    // Delete lib/util.py, add new.txt: auto rewrites because of the delete.
    seed(&dir, "build-delete-add", &[(2, OWN + 2), (0, NEW)], &built);
    // Nothing to do: unchanged, except in rewrite mode.
    seed(&dir, "build-noop", &[], &built);
    // 33 bytes over lib/util.py, executable (odd arg); 56 random bytes over bootstrap.
    seed(
        &dir,
        "build-exec-random",
        &[(0x21, OWN + 2), (6, OWN)],
        &built,
    );
    // The 22-byte empty archive: add bootstrap (new, so 0755) and d/x.
    seed(
        &dir,
        "empty-archive",
        &[(0, BOOTSTRAP), (4, D_DIR)],
        &EMPTY_ARCHIVE,
    );

    let status = Command::new("python3")
        .arg(fuzz.join("make_seeds.py"))
        .status()
        .expect("run python3 make_seeds.py");
    assert!(status.success(), "make_seeds.py failed");
}
