//! A one-line change in a Go function's handler, three ways on the same moto: `quickdeploy
//! deploy` (deltas), `quickdeploy deploy --no-delta` (whole or zstd), and `sam sync --code`.
//!
//! The function is tests/apps/build-go's (`BuildMethod: go1.x` on `provided.al2023`, the shape
//! `sam init` makes; standard library only, since this machine reaches no Go module proxy;
//! Debian's Go 1.19), for x86_64 here. Two copies of one SAM app are deployed as two stacks on
//! one moto. Each run, for each tool in an order that rotates from run to run, the handler's
//! greeting (one line) gets a new marker, one character longer each time, then:
//!
//! - quickdeploy (both ways): `quickdeploy deploy`, which builds the function itself (`go
//!   build` with GOOS/GOARCH, CGO_ENABLED=0, -tags lambda.norpc, into
//!   `.quickdeploy/build/GoFn/bootstrap`), so its time includes its build. Checked: the
//!   function's CodeSha256 moved and is that of the patched S3 object, whose `bootstrap` is
//!   byte for byte the binary just built and holds the marker.
//! - SAM: `sam sync --code`, which builds with aws-lambda-builders' go_modules workflow (`go
//!   build` with GOOS/GOARCH; CGO_ENABLED=0 from the environment, as SAM's own tests set it),
//!   its build included. Checked: the CodeSha256 moved and is that of the zip SAM's packager
//!   makes of its build folder, whose `bootstrap` holds the marker.
//!
//! Both use the same Go build cache (the user's), warmed up first. Bytes sent are the request
//! bodies a counting proxy in front of moto saw, plus, for quickdeploy, its Invoke request to
//! the patcher.
//!
//! Run: `make bench-go` (installs aws-sam-cli into .rig/sam-venv; Go from Debian's
//! golang-go); `BENCH_RUNS` (default 3).

use std::path::{Path, PathBuf};

use testkit::bench_app::{
    BUCKET, QD_STACK, SAM_VERSION, SideBySide, bench_runs, deploy_verified, files_sent,
    longer_greeting, median, patcher_request_bytes, require_sam, rotation, sam_sync_verified,
    sam_warm_up, set_line,
};

const TEMPLATE: &str = r#"AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Description: quickdeploy deploy vs sam sync --code, a one-line change in a Go function
Resources:
  GoFn:
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: go1.x
    Properties:
      CodeUri: fn/
      Handler: bootstrap
      Runtime: provided.al2023
      Architectures: [x86_64]
      MemorySize: 256
"#;

/// The handler file, in each copy, and the line each run rewrites in it.
const MAIN_GO: &str = "fn/main.go";
const GREETING: &str = "const greeting = ";

/// The Go module's source in the repository.
fn module_source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("apps/build-go/hello")
}

/// The handler's greeting set to `marker`, a character longer than the last edit's
/// ([`longer_greeting`]).
fn set_greeting(root: &Path, marker: &str) {
    set_line(&root.join(MAIN_GO), GREETING, &longer_greeting(marker), "");
}

/// The app: the template, the module, and quickdeploy.toml (quickdeploy builds it).
fn make_app(dir: &Path) {
    std::fs::create_dir_all(dir.join("fn")).expect("mkdir");
    std::fs::write(dir.join("template.yaml"), TEMPLATE).expect("template");
    for f in ["go.mod", "main.go"] {
        std::fs::copy(module_source().join(f), dir.join("fn").join(f)).expect("module");
    }
    std::fs::write(
        dir.join("quickdeploy.toml"),
        format!(
            "stack = \"{QD_STACK}\"\ntemplate = \"template.yaml\"\nartifact_bucket = \"{BUCKET}\"\n"
        ),
    )
    .expect("toml");
}

/// SAM's environment for a Go build: no cgo (as SAM's own integration tests build), and no
/// module proxy (the module needs none, and none is reachable here).
fn sam_env() -> Vec<(String, String)> {
    [("CGO_ENABLED", "0"), ("GOPROXY", "off")]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tool {
    Delta,
    NoDelta,
    Sam,
}

/// What the timed runs of one tool measured.
#[derive(Default)]
struct Samples {
    build_ms: Vec<f64>,
    total_ms: Vec<f64>,
    bytes: Vec<f64>,
    binary: Vec<f64>,
}

/// One quickdeploy run: edit, `quickdeploy deploy` (its build included), verified.
async fn quickdeploy_run(rig: &SideBySide, marker: &str, no_delta: bool, s: &mut Samples) {
    set_greeting(rig.qd.root(), marker);
    let built = rig.qd.root().join(".quickdeploy/build/GoFn/bootstrap");
    let run = deploy_verified(rig, no_delta, "bootstrap", &built, marker).await;
    let doc = &run.doc;
    let build_ms = doc["builds"][0]["ms"].as_f64().unwrap_or_default();
    let way = if no_delta { "--no-delta" } else { "deltas" };
    eprintln!(
        "  quickdeploy {way}: {:.0} ms (build {build_ms:.0} ms), {} bytes sent (invoke {}); {:?}",
        run.ms,
        run.sent,
        patcher_request_bytes(doc),
        files_sent(doc),
    );
    s.build_ms.push(build_ms);
    s.total_ms.push(run.ms);
    s.bytes.push(run.sent as f64);
    s.binary.push(run.built.len() as f64);
}

/// One `sam sync --code` run (its build included): edit, sync, verified.
async fn sam_run(rig: &SideBySide, marker: &str, s: &mut Samples) {
    set_greeting(rig.sam.root(), marker);
    let run = sam_sync_verified(rig, &sam_env(), "GoFn", "bootstrap", marker).await;
    eprintln!(
        "  sam sync --code: {:.0} ms (build included), {} bytes sent; bootstrap {} bytes",
        run.ms, run.sent, run.built
    );
    s.total_ms.push(run.ms);
    s.bytes.push(run.sent as f64);
    s.binary.push(run.built as f64);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    require_sam("bench-go");
    let runs = bench_runs(3);
    let rig = SideBySide::deployed_app(true, make_app, "GoFn").await;
    set_greeting(rig.sam.root(), "warm-up");
    let ms = sam_warm_up(&rig, &sam_env());
    eprintln!("sam sync warm-up: {ms:.0} ms");
    quickdeploy_run(&rig, "warm-up", false, &mut Samples::default()).await;
    let tools = [Tool::Delta, Tool::NoDelta, Tool::Sam];
    let (mut delta, mut whole, mut sam) =
        (Samples::default(), Samples::default(), Samples::default());
    for run in 0..runs {
        let order = rotation(&tools, run);
        eprintln!("run {run}: {order:?}");
        for tool in order {
            let marker = format!("run-{run}-{tool:?}-{}", std::process::id());
            match tool {
                Tool::Delta => quickdeploy_run(&rig, &marker, false, &mut delta).await,
                Tool::NoDelta => quickdeploy_run(&rig, &marker, true, &mut whole).await,
                Tool::Sam => sam_run(&rig, &marker, &mut sam).await,
            }
        }
    }
    let (sam_total, sam_bytes) = (median(&mut sam.total_ms), median(&mut sam.bytes));
    println!(
        "\none-line change in a Go function's handler (bootstrap {:.0} bytes), {runs} runs each, moto 5.2.5, {}",
        median(&mut delta.binary),
        go_version()
    );
    println!(
        "| tool | build ms (in total) | total ms (saved to live) | bytes sent | time vs sam | bytes vs sam |"
    );
    println!("|---|---|---|---|---|---|");
    for (name, s) in [
        ("quickdeploy deploy (deltas)", &mut delta),
        ("quickdeploy deploy --no-delta", &mut whole),
    ] {
        let (total, bytes) = (median(&mut s.total_ms), median(&mut s.bytes));
        println!(
            "| {name} | {:.0} | {total:.0} | {bytes:.0} | {:.1}x less | {:.1}x fewer |",
            median(&mut s.build_ms),
            sam_total / total,
            sam_bytes / bytes.max(1.0)
        );
    }
    println!(
        "| sam sync --code ({SAM_VERSION}, go_modules) | (in its sync) | {sam_total:.0} | {sam_bytes:.0} | 1x | 1x |"
    );
}

/// `go version`, for the table's heading.
fn go_version() -> String {
    std::process::Command::new("go")
        .arg("version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "go: not found".into())
}
