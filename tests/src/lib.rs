//! Shared helpers for quickdeploy's tests: independent zip checkers and the local AWS rig.
#![allow(clippy::missing_panics_doc)]

#[cfg(feature = "rig")]
pub mod app;
#[cfg(feature = "rig")]
pub mod bench_app;
#[cfg(feature = "rig")]
pub mod cdk;
#[cfg(feature = "rig")]
pub mod fixtures;
#[cfg(feature = "rig")]
pub mod iam;
#[cfg(feature = "rig")]
pub mod latency;
#[cfg(feature = "rig")]
pub mod proxy;
#[cfg(feature = "rig")]
pub mod rig;
#[cfg(feature = "rig")]
pub mod sam;
#[cfg(feature = "rig")]
pub mod targets;
pub mod zipcheck;

use std::path::PathBuf;

/// Path of a binary built from this workspace (`make test` builds them before testing).
pub fn bin(name: &str) -> PathBuf {
    // A bench may run another build of the CLI (main's, to compare): `QUICKDEPLOY_BIN`.
    if let Some(other) = std::env::var_os("QUICKDEPLOY_BIN").filter(|_| name == "quickdeploy") {
        return PathBuf::from(other);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    // A bench may run the release builds (what `cargo install` gives a user):
    // `QD_BENCH_PROFILE=release`, after `cargo build --release -p quickdeploy-cli -p zipedit-lambda`.
    let profile = std::env::var("QD_BENCH_PROFILE").unwrap_or_else(|_| "debug".into());
    let path = target.join(&profile).join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace{}` first (`make test` builds the debug ones)",
        path.display(),
        if profile == "release" {
            " --release"
        } else {
            ""
        }
    );
    path
}

/// Writes a zip of `files` with Python's `zipfile` (deflated), a tool independent of ours.
pub fn python_zip(path: &std::path::Path, files: &[(&str, &[u8])]) {
    let spec: Vec<(String, String)> = files
        .iter()
        .map(|(n, d)| {
            (
                n.to_string(),
                d.iter().map(|b| format!("{b:02x}")).collect(),
            )
        })
        .collect();
    use std::io::Write as _;
    let mut child = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import json,sys,zipfile\n\
             with zipfile.ZipFile(sys.argv[1],'w',zipfile.ZIP_DEFLATED) as z:\n  \
             for n,h in json.load(sys.stdin): z.writestr(n, bytes.fromhex(h))\n",
        )
        .arg(path)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("run python3");
    let spec = serde_json::to_vec(&spec).expect("json");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&spec)
        .expect("send spec");
    let status = child.wait().expect("python3");
    assert!(
        status.success(),
        "python zipfile could not write {}",
        path.display()
    );
}

/// Incompressible bytes (xorshift64), so an archive's size is what it says; the same seed
/// always gives the same bytes.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}
