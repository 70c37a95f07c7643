//! A one-line change in an esbuild-bundled function (a bundle of more than 2 MB), three ways on
//! the same moto: `quickdeploy deploy` (deltas), `quickdeploy deploy --no-delta` (whole or
//! zstd), and `sam sync --code`.
//!
//! The app (SAM, `BuildMethod: esbuild`, Minify false, as SAM's docs show it): `js/app.js`, a
//! handler that imports 500 generated modules (`js/modules/mNNN.js`: a table of records and
//! functions over it, pseudo-random but deterministic words and numbers), bundled by esbuild
//! (npm, pinned: the package.json and package-lock.json that `make bench-bundle` makes in
//! `.rig/esbuild`) into one `app.js` of about 2.3 MB. Two copies are deployed as two stacks on
//! one moto. Each run, for each tool in an order that rotates from run to run, the GREETING
//! line of the handler gets a new marker, then the tool runs; both build by themselves, so
//! each time includes its build (quickdeploy's report gives its own build time apart):
//!
//! - quickdeploy (both ways, quickdeploy's copy): `quickdeploy deploy` bundles with its esbuild
//!   build method. Checked: the function's CodeSha256 moved and is the SHA-256 of the patched
//!   S3 object, whose `app.js` is byte for byte the bundle quickdeploy built and holds the
//!   marker.
//! - SAM (SAM's copy): `sam sync --code`. Checked: the CodeSha256 moved and is that of the zip
//!   SAM's own packager makes of its build folder, whose `app.js` holds the marker.
//!
//! Bytes sent are the request bodies a counting proxy in front of moto saw, plus, for
//! quickdeploy, its Invoke request to the patcher (the patcher's own S3 traffic stays next to
//! S3 and is not counted).
//!
//! Run: `make bench-bundle` (installs aws-sam-cli and the pinned esbuild); `BENCH_RUNS`
//! (default 3).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use testkit::bench_app::{
    BUCKET, QD_STACK, SAM_VERSION, SideBySide, bench_runs, deploy_verified, files_sent, median,
    patcher_request_bytes, path_with_sam_venv, require_sam, rotation, sam_sync_verified,
    sam_warm_up, set_line,
};

const TEMPLATE: &str = r#"AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Description: quickdeploy deploy vs sam sync --code, a one-line change in an esbuild bundle
Resources:
  BundleFn:
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: esbuild
      BuildProperties:
        EntryPoints: [app.js]
        Minify: false
        Target: es2020
        Sourcemap: false
    Properties:
      CodeUri: js/
      Handler: app.handler
      Runtime: nodejs20.x
      MemorySize: 256
"#;

/// How many modules the handler imports.
const MODULES: usize = 500;
/// The handler, in each copy, and the line each run rewrites in it.
const APP_JS: &str = "js/app.js";
const GREETING: &str = "const GREETING = ";

/// `.rig/esbuild`: esbuild's pinned package.json and package-lock.json (`make bench-bundle`).
fn esbuild_pin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.rig/esbuild")
}

/// A deterministic stream of words and numbers (xorshift), so every copy is the same app.
struct Words(u64);

impl Words {
    const SYLLABLES: [&'static str; 24] = [
        "am", "ber", "cor", "dal", "en", "fir", "gar", "hol", "is", "jun", "kel", "lo", "mar",
        "nor", "os", "pel", "quin", "ros", "sal", "tor", "ul", "ven", "wes", "yar",
    ];

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn word(&mut self) -> String {
        let n = 2 + self.next() % 3;
        (0..n)
            .map(|_| Self::SYLLABLES[(self.next() % 24) as usize])
            .collect()
    }
}

/// Module `i`: a table of 40 records and the functions the handler calls on it.
fn module(i: usize, words: &mut Words) -> String {
    let mut s = format!(
        "// Rules for the {} region: a table of records and lookups over it.\nconst TABLE = [\n",
        words.word()
    );
    for id in 0..40 {
        let _ = writeln!(
            s,
            "  {{ id: {id}, code: \"{}\", name: \"{}-{}\", weight: {}.{:04}, tags: [\"{}\", \"{}\"] }},",
            words.word(),
            words.word(),
            words.word(),
            words.next() % 10,
            words.next() % 10_000,
            words.word(),
            words.word()
        );
    }
    let _ = write!(
        s,
        "];\n\nexport function lookup{i:03}(code) {{\n  return TABLE.find((r) => r.code === code) ?? null;\n}}\n\n\
         export function score{i:03}(input) {{\n  let total = 0;\n  for (const r of TABLE) {{\n    \
         total += r.weight * (input.length % (r.id + 3));\n  }}\n  return Math.round(total * 1000) / 1000;\n}}\n"
    );
    s
}

/// The handler: imports every module; GREETING is the line that changes.
fn app_js(marker: &str) -> String {
    let mut s = String::new();
    for i in 0..MODULES {
        let _ = writeln!(
            s,
            "import {{ lookup{i:03}, score{i:03} }} from \"./modules/m{i:03}.js\";"
        );
    }
    s.push_str("\nconst RULES = [\n");
    for i in 0..MODULES {
        let _ = writeln!(s, "  [lookup{i:03}, score{i:03}],");
    }
    let _ = write!(
        s,
        "];\n\n{GREETING}\"hello from {marker}\";\n\nexport const handler = async (event) => {{\n  \
         const input = String(event?.input ?? \"\");\n  const scores = RULES.map(([lookup, score]) => \
         [lookup(input) !== null, score(input)]);\n  return {{ greeting: GREETING, scores }};\n}};\n"
    );
    s
}

/// The app: the template, the handler and its modules, esbuild's pin, quickdeploy.toml.
fn make_app(dir: &Path) {
    let js = dir.join("js");
    std::fs::create_dir_all(js.join("modules")).expect("mkdir");
    std::fs::write(dir.join("template.yaml"), TEMPLATE).expect("template");
    std::fs::write(js.join("app.js"), app_js("start")).expect("app.js");
    let mut words = Words(0x9e37_79b9_7f4a_7c15);
    for i in 0..MODULES {
        std::fs::write(
            js.join(format!("modules/m{i:03}.js")),
            module(i, &mut words),
        )
        .expect("module");
    }
    for f in ["package.json", "package-lock.json"] {
        std::fs::copy(esbuild_pin().join(f), js.join(f))
            .unwrap_or_else(|e| panic!("{f} of .rig/esbuild ({e}): run `make bench-bundle`"));
    }
    std::fs::write(
        dir.join("quickdeploy.toml"),
        format!(
            "stack = \"{QD_STACK}\"\ntemplate = \"template.yaml\"\nartifact_bucket = \"{BUCKET}\"\n"
        ),
    )
    .expect("toml");
}

/// The handler with GREETING set to `marker` (the one line that changes).
fn set_greeting(root: &Path, marker: &str) {
    set_line(
        &root.join(APP_JS),
        GREETING,
        &format!("hello from {marker}"),
        ";",
    );
}

/// SAM's environment: esbuild's own folder on PATH too (SAM looks for esbuild in the
/// installed node_modules, then on PATH).
fn sam_env() -> Vec<(String, String)> {
    let bin = esbuild_pin().join("node_modules/.bin");
    vec![(
        "PATH".to_owned(),
        format!("{}:{}", bin.display(), path_with_sam_venv()),
    )]
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
}

/// One quickdeploy run: edit, deploy (its build included; timed), verify.
async fn quickdeploy_run(rig: &SideBySide, marker: &str, no_delta: bool, s: &mut Samples) {
    let qd = &rig.qd;
    set_greeting(qd.root(), marker);
    let bundle = qd.root().join(".quickdeploy/build/BundleFn/app.js");
    let run = deploy_verified(rig, no_delta, "app.js", &bundle, marker).await;
    let doc = &run.doc;
    let build_ms = doc["timings_ms"]["build"].as_f64().unwrap_or(0.0);
    eprintln!(
        "  quickdeploy (no_delta {no_delta}): {:.0} ms (build {build_ms:.0}), {} bytes sent (invoke {}), bundle {} bytes; {:?}; timings {}",
        run.ms,
        run.sent,
        patcher_request_bytes(doc),
        run.built.len(),
        files_sent(doc),
        doc["timings_ms"]
    );
    s.build_ms.push(build_ms);
    s.total_ms.push(run.ms);
    s.bytes.push(run.sent as f64);
}

/// One `sam sync --code` run (its build included): edit, sync (timed), verify.
async fn sam_run(rig: &SideBySide, marker: &str, s: &mut Samples) {
    set_greeting(rig.sam.root(), marker);
    let run = sam_sync_verified(rig, &sam_env(), "BundleFn", "app.js", marker).await;
    eprintln!(
        "  sam sync --code: {:.0} ms (build included), {} bytes sent, bundle {} bytes",
        run.ms, run.sent, run.built
    );
    s.total_ms.push(run.ms);
    s.bytes.push(run.sent as f64);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    require_sam("bench-bundle");
    let runs = bench_runs(3);
    let rig = SideBySide::deployed_app(true, make_app, "BundleFn").await;
    // Warm-up, untimed: SAM asks once whether this is a development stack; each tool installs
    // esbuild from npm once.
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
    let (sam_ms, sam_bytes) = (median(&mut sam.total_ms), median(&mut sam.bytes));
    println!(
        "\none-line change in an esbuild bundle ({MODULES} modules), {runs} runs each, moto 5.2.5"
    );
    println!(
        "| tool | total ms (saved to live, build included) | of which build ms | bytes sent | time vs sam | bytes vs sam |"
    );
    println!("|---|---|---|---|---|---|");
    for (name, s) in [
        ("quickdeploy deploy (deltas)", &mut delta),
        ("quickdeploy deploy --no-delta", &mut whole),
    ] {
        let (ms, bytes) = (median(&mut s.total_ms), median(&mut s.bytes));
        println!(
            "| {name} | {ms:.0} | {:.0} | {bytes:.0} | {:.1}x less | {:.1}x fewer |",
            median(&mut s.build_ms),
            sam_ms / ms,
            sam_bytes / bytes.max(1.0)
        );
    }
    println!(
        "| sam sync --code ({SAM_VERSION}) | {sam_ms:.0} | (in its sync) | {sam_bytes:.0} | 1x | 1x |"
    );
}
