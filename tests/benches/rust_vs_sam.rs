//! A one-line change in a Rust function's handler, three ways on the same moto: `quickdeploy
//! deploy` (deltas), `quickdeploy deploy --no-delta` (whole or zstd), and `sam sync --code`.
//!
//! The function is a real crate (`tests/apps/bench-rust/fn`: lambda_runtime and aws-sdk-s3,
//! release, stripped; the workspace's Cargo.lock versions), as issue 15 measured one. Two
//! copies of one SAM app (`BuildMethod: rust-cargolambda`) are deployed as two stacks on one
//! moto. Each run, for each tool in an order that rotates from run to run, one line of the
//! handler (the GREETING constant) gets a new marker, then:
//!
//! - quickdeploy (both ways, quickdeploy's copy): the bench compiles the crate with cargo
//!   (incremental, release; timed on its own as the build) into `target/bench-rust/target`,
//!   installs the binary as `pkg/bootstrap` (quickdeploy.toml: `package = "pkg"`), and times
//!   `quickdeploy deploy`. Checked: the function's CodeSha256 moved and is the SHA-256 of the
//!   patched S3 object, whose `bootstrap` entry is byte for byte the binary just built and
//!   holds the marker.
//! - SAM (SAM's copy): `sam sync --code`, which builds with cargo-lambda (from PyPI, with zig,
//!   in `.rig/sam-venv`; cargo's target folder `target/bench-rust/sam-target`), so its time
//!   includes its build. Checked: the CodeSha256 moved and is that of the zip SAM's own
//!   packager makes of its build folder, whose `bootstrap` holds the marker.
//!
//! Bytes sent are the request bodies a counting proxy in front of moto saw, plus, for
//! quickdeploy, its Invoke request to the patcher (the patcher's own S3 traffic stays next to
//! S3 and is not counted). Then the zstd delta level: each delta run's old/new binary pair, a
//! delta made at each level (size, time to make, time to apply); the pairs are kept in
//! `target/bench-rust/pairN/`.
//!
//! Run: `make bench-rust` (installs aws-sam-cli and cargo-lambda into .rig/sam-venv);
//! `BENCH_RUNS` (default 3).

use std::path::{Path, PathBuf};
use std::time::Instant;

use testkit::bench_app::{
    BUCKET, QD_STACK, SAM_VERSION, SideBySide, bench_runs, deploy_verified, files_sent,
    longer_greeting, median, patcher_request_bytes, path_with_sam_venv, require_sam, rotation,
    sam_sync_verified, sam_warm_up, set_line,
};

const TEMPLATE: &str = r#"AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Description: quickdeploy deploy vs sam sync --code, a one-line change in a Rust function
Resources:
  RustFn:
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: rust-cargolambda
      BuildProperties:
        Binary: bench-fn
    Properties:
      CodeUri: fn/
      Handler: bootstrap
      Runtime: provided.al2023
      Architectures: [x86_64]
      MemorySize: 256
"#;

/// The handler file, in each copy, and the line each run rewrites in it.
const MAIN_RS: &str = "fn/src/main.rs";
const GREETING: &str = "const GREETING: &str = ";

/// The crate's source in the repository.
fn crate_source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("apps/bench-rust/fn")
}

/// `target/bench-rust`: the benchmark's cargo target folders (its own, so the workspace's
/// builds and this one never invalidate each other).
fn bench_target() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-rust")
}

/// Compiles the crate at `krate` (release, incremental) into `target/bench-rust/target`:
/// the binary's bytes and the milliseconds the build took.
fn cargo_build(krate: &Path) -> (Vec<u8>, f64) {
    let target = bench_target().join("target");
    let t = Instant::now();
    let out = std::process::Command::new("cargo")
        .args(["build", "--release", "--offline", "--manifest-path"])
        .arg(krate.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .output()
        .expect("run cargo");
    let ms = t.elapsed().as_secs_f64() * 1e3;
    assert!(
        out.status.success(),
        "building {} failed:\n{}",
        krate.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let binary = std::fs::read(target.join("release/bench-fn")).expect("the built binary");
    (binary, ms)
}

/// Writes `binary` as an executable `bootstrap` in `dir`.
fn install_bootstrap(dir: &Path, binary: &[u8]) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::create_dir_all(dir).expect("mkdir");
    let path = dir.join("bootstrap");
    std::fs::write(&path, binary).expect("bootstrap");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// The handler with GREETING set to `marker` (the one line that changes), a character longer
/// than the last edit's ([`longer_greeting`]).
fn set_greeting(root: &Path, marker: &str) {
    set_line(&root.join(MAIN_RS), GREETING, &longer_greeting(marker), ";");
}

/// The app: the template, the crate (source and lock), quickdeploy.toml deploying `pkg/`, and
/// `pkg/bootstrap` built from the crate as it is in the repository (the bench builds it first).
fn make_app(dir: &Path) {
    std::fs::create_dir_all(dir.join("fn/src")).expect("mkdir");
    std::fs::write(dir.join("template.yaml"), TEMPLATE).expect("template");
    for f in ["Cargo.toml", "Cargo.lock", "src/main.rs"] {
        std::fs::copy(crate_source().join(f), dir.join("fn").join(f)).expect("crate");
    }
    let built = bench_target().join("target/release/bench-fn");
    install_bootstrap(&dir.join("pkg"), &std::fs::read(built).expect("prebuilt"));
    std::fs::write(
        dir.join("quickdeploy.toml"),
        format!(
            "stack = \"{QD_STACK}\"\ntemplate = \"template.yaml\"\nartifact_bucket = \"{BUCKET}\"\n\n# The bench compiles the crate itself (timed apart) and deploys the binary.\n[functions.RustFn]\npackage = \"pkg\"\n"
        ),
    )
    .expect("toml");
}

/// SAM's environment for a Rust build: cargo-lambda and zig from .rig/sam-venv, its own
/// target folder (cargo-lambda links with zig: other flags than the bench's cargo build),
/// no network for cargo, and SAM's beta flag for rust-cargolambda.
fn sam_env() -> Vec<(String, String)> {
    let pairs = [
        ("PATH", path_with_sam_venv()),
        (
            "CARGO_TARGET_DIR",
            bench_target().join("sam-target").display().to_string(),
        ),
        ("CARGO_NET_OFFLINE", "true".into()),
        ("SAM_CLI_BETA_RUST_CARGO_LAMBDA", "1".into()),
    ];
    pairs.map(|(k, v)| (k.to_owned(), v)).into()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tool {
    Delta,
    NoDelta,
    Sam,
}

/// What one timed run of one tool measured.
#[derive(Default)]
struct Samples {
    build_ms: Vec<f64>,
    deploy_ms: Vec<f64>,
    total_ms: Vec<f64>,
    bytes: Vec<f64>,
}

/// The last old/new binary pair quickdeploy deployed (for the delta levels).
type Pair = (Vec<u8>, Vec<u8>);

/// One quickdeploy run: edit, build (timed), deploy (timed), verify. The old and new binary.
async fn quickdeploy_run(rig: &SideBySide, marker: &str, no_delta: bool, s: &mut Samples) -> Pair {
    let qd = &rig.qd;
    let old = std::fs::read(qd.root().join("pkg/bootstrap")).expect("old bootstrap");
    set_greeting(qd.root(), marker);
    let (binary, build_ms) = cargo_build(&qd.root().join("fn"));
    install_bootstrap(&qd.root().join("pkg"), &binary);
    let installed = qd.root().join("pkg/bootstrap");
    let run = deploy_verified(rig, no_delta, "bootstrap", &installed, marker).await;
    let doc = &run.doc;
    let way = if no_delta { "--no-delta" } else { "deltas" };
    eprintln!(
        "  quickdeploy {way}: build {build_ms:.0} ms, deploy {:.0} ms, {} bytes sent (invoke {}, staged {}), base read {} bytes; {:?}; timings {}",
        run.ms,
        run.sent,
        patcher_request_bytes(doc),
        doc["artifacts"][0]["staged_bytes"],
        testkit::bench_app::base_bytes(doc),
        files_sent(doc),
        doc["timings_ms"]
    );
    s.build_ms.push(build_ms);
    s.deploy_ms.push(run.ms);
    s.total_ms.push(build_ms + run.ms);
    s.bytes.push(run.sent as f64);
    (old, binary)
}

/// One `sam sync --code` run (its build included): edit, sync (timed), verify.
async fn sam_run(rig: &SideBySide, marker: &str, s: &mut Samples) {
    set_greeting(rig.sam.root(), marker);
    let run = sam_sync_verified(rig, &sam_env(), "RustFn", "bootstrap", marker).await;
    eprintln!(
        "  sam sync --code: {:.0} ms (build included), {} bytes sent; bootstrap {} bytes",
        run.ms, run.sent, run.built
    );
    s.deploy_ms.push(run.ms);
    s.total_ms.push(run.ms);
    s.bytes.push(run.sent as f64);
}

/// Untimed: the bench's own cargo build of the crate (so `make_app` finds a binary), then
/// both stacks, then one sync and one deploy each (SAM compiles the dependencies with
/// cargo-lambda the first time and asks whether this is a development stack).
async fn warmed_up() -> SideBySide {
    let (_, ms) = cargo_build(&crate_source());
    eprintln!("initial cargo build of the crate: {ms:.0} ms");
    let rig = SideBySide::deployed_app(true, make_app, "RustFn").await;
    set_greeting(rig.sam.root(), "warm-up");
    let ms = sam_warm_up(&rig, &sam_env());
    eprintln!("sam sync warm-up (compiles the dependencies with cargo-lambda): {ms:.0} ms");
    let mut ignored = Samples::default();
    quickdeploy_run(&rig, "warm-up", false, &mut ignored).await;
    rig
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    require_sam("bench-rust");
    let runs = bench_runs(3);
    let rig = warmed_up().await;
    let tools = [Tool::Delta, Tool::NoDelta, Tool::Sam];
    let (mut delta, mut whole, mut sam) =
        (Samples::default(), Samples::default(), Samples::default());
    let mut pairs = Vec::new();
    for run in 0..runs {
        let order = rotation(&tools, run);
        eprintln!("run {run}: {order:?}");
        for tool in order {
            let marker = format!("run-{run}-{tool:?}-{}", std::process::id());
            match tool {
                Tool::Delta => pairs.push(quickdeploy_run(&rig, &marker, false, &mut delta).await),
                Tool::NoDelta => {
                    quickdeploy_run(&rig, &marker, true, &mut whole).await;
                }
                Tool::Sam => sam_run(&rig, &marker, &mut sam).await,
            }
        }
    }
    print_table(runs, &mut delta, &mut whole, &mut sam);
    // Kept for a cross-check with the zstd CLI (`zstd --patch-from=old new --long=27`).
    for (i, (old, new)) in pairs.iter().enumerate() {
        let kept = bench_target().join(format!("pair{i}"));
        std::fs::create_dir_all(&kept).expect("mkdir");
        std::fs::write(kept.join("old"), old).expect("old");
        std::fs::write(kept.join("new"), new).expect("new");
    }
    delta_levels(&pairs);
}

/// The side-by-side table: medians, and each tool against sam sync.
fn print_table(runs: usize, delta: &mut Samples, whole: &mut Samples, sam: &mut Samples) {
    let (sam_total, sam_bytes) = (median(&mut sam.total_ms), median(&mut sam.bytes));
    println!("\none-line change in a Rust function's handler, {runs} runs each, moto 5.2.5");
    println!(
        "| tool | build ms | deploy ms | total ms (saved to live) | bytes sent | time vs sam | bytes vs sam |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, s) in [
        ("quickdeploy deploy (deltas)", delta),
        ("quickdeploy deploy --no-delta", whole),
    ] {
        let (total, bytes) = (median(&mut s.total_ms), median(&mut s.bytes));
        println!(
            "| {name} | {:.0} | {:.0} | {total:.0} | {bytes:.0} | {:.1}x less | {:.1}x fewer |",
            median(&mut s.build_ms),
            median(&mut s.deploy_ms),
            sam_total / total,
            sam_bytes / bytes.max(1.0)
        );
    }
    println!(
        "| sam sync --code ({SAM_VERSION}, cargo-lambda) | (in its sync) | {:.0} | {sam_total:.0} | {sam_bytes:.0} | 1x | 1x |",
        median(&mut sam.deploy_ms)
    );
}

/// zstd delta levels on the real old/new binary pairs of the delta runs (one edit each):
/// each pair's delta size, and the median time to make and to apply a delta over all pairs
/// (`zipedit::delta`, as the CLI and the patcher run it; the slow levels once per pair).
fn delta_levels(pairs: &[Pair]) {
    println!(
        "\nzstd delta levels, {} old/new bootstrap pairs:",
        pairs.len()
    );
    for (i, (old, new)) in pairs.iter().enumerate() {
        let differing =
            old.iter().zip(new).filter(|(a, b)| a != b).count() + old.len().abs_diff(new.len());
        println!(
            "pair {i}: {} -> {} bytes, {differing} bytes differ",
            old.len(),
            new.len()
        );
    }
    println!("| level | delta bytes per pair | make ms (median) | apply ms (median) |");
    println!("|---|---|---|---|");
    for level in [1, 3, 6, 9, 12, 15, 19] {
        let (mut make_ms, mut apply_ms, mut sizes) = (vec![], vec![], vec![]);
        let reps = if level >= 15 { 1 } else { 3 };
        for (old, new) in pairs {
            let sha = zipedit::delta::sha256_hex(new);
            for _ in 0..reps {
                let t = Instant::now();
                let patch = zipedit::delta::make(old, new, level).expect("delta");
                make_ms.push(t.elapsed().as_secs_f64() * 1e3);
                let t = Instant::now();
                let back =
                    zipedit::delta::apply(old, &patch, new.len() as u64, &sha).expect("apply");
                apply_ms.push(t.elapsed().as_secs_f64() * 1e3);
                assert!(
                    back == *new,
                    "level {level}: the delta does not give the new binary"
                );
                sizes.push(patch.len());
            }
        }
        sizes.dedup();
        let sizes: Vec<String> = sizes.iter().map(usize::to_string).collect();
        println!(
            "| {level} | {} | {:.0} | {:.0} |",
            sizes.join(" / "),
            median(&mut make_ms),
            median(&mut apply_ms)
        );
    }
}
