//! The app the side-by-side benchmarks against AWS SAM use, and how SAM is run on the rig:
//! plain CloudFormation, a small function and a big one whose package holds 5 x 1 MiB of
//! incompressible files; deployed as two stacks, one by quickdeploy and one by SAM.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::app::App;
use crate::fixtures::code_sha256;
use crate::noise;
use crate::proxy::S3Proxy;
use crate::rig::{Moto, Patcher, REGION};

/// quickdeploy's stack.
pub const QD_STACK: &str = "qd-bench";
/// SAM's stack.
pub const SAM_STACK: &str = "sam-bench";
/// quickdeploy's artifact bucket.
pub const BUCKET: &str = "bench-artifacts";
/// SAM's artifact bucket.
pub const SAM_BUCKET: &str = "sam-bench-artifacts";

/// `sam sync --code` of SAM's copy, as the benchmarks run it: no watch, no dependency layer.
pub const SAM_SYNC_CODE: [&str; 8] = [
    "sync",
    "--code",
    "--stack-name",
    SAM_STACK,
    "--no-dependency-layer",
    "--no-watch",
    "--s3-bucket",
    SAM_BUCKET,
];
/// The aws-sam-cli version `make sam-deps` installs.
pub const SAM_VERSION: &str = "1.170.0";

/// The template both stacks are made from.
pub const TEMPLATE: &str = r#"AWSTemplateFormatVersion: "2010-09-09"
Description: quickdeploy watch vs sam sync --watch benchmark app (plain CloudFormation)
Resources:
  FnRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {Service: lambda.amazonaws.com}
            Action: sts:AssumeRole
  SmallFn:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: handler.handler
      Role: !GetAtt FnRole.Arn
      Code: ./src/small
  BigFn:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: handler.handler
      Role: !GetAtt FnRole.Arn
      MemorySize: 256
      Code: ./src/big
"#;

/// A handler that returns `marker`: each run writes a new one.
pub fn handler(marker: &str) -> String {
    format!("def handler(event, context):\n    return {{\"marker\": \"{marker}\"}}\n")
}

/// The app's source, once: both copies start from it.
pub fn make_app(dir: &Path) {
    make_app_with_data(dir, 5);
}

/// [`make_app`] with `mib` 1 MiB files of incompressible bytes in the big function.
pub fn make_app_with_data(dir: &Path, mib: u64) {
    std::fs::create_dir_all(dir.join("src/small")).expect("mkdir");
    std::fs::create_dir_all(dir.join("src/big/data")).expect("mkdir");
    std::fs::write(dir.join("template.yaml"), TEMPLATE).expect("template");
    std::fs::write(dir.join("src/small/handler.py"), handler("small")).expect("small");
    std::fs::write(dir.join("src/big/handler.py"), handler("start")).expect("big");
    for i in 0..mib {
        std::fs::write(
            dir.join(format!("src/big/data/blob{i:02}.bin")),
            noise(i + 1, 1024 * 1024),
        )
        .expect("blob");
    }
    std::fs::write(
        dir.join("quickdeploy.toml"),
        format!(
            "stack = \"{QD_STACK}\"\ntemplate = \"template.yaml\"\nartifact_bucket = \"{BUCKET}\"\n"
        ),
    )
    .expect("toml");
}

/// The `sam` of `make sam-deps`.
pub fn sam_bin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.rig/sam-venv/bin/sam")
}

/// `sam ARGS` in the app's root against the rig; SAM keeps its "confirmed this dev stack"
/// answer in `home`.
pub fn sam_command(app: &App, home: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(sam_bin());
    cmd.current_dir(app.root())
        .args(args)
        .env("AWS_ENDPOINT_URL", &app.endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_SESSION_TOKEN", "testing")
        .env("AWS_REGION", REGION)
        .env("AWS_DEFAULT_REGION", REGION)
        .env("SAM_CLI_TELEMETRY", "0")
        .env("__SAM_CLI_APP_DIR", home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// CodeSha256 of the zip SAM's own packager makes of a build folder (its zips are
/// deterministic), computed by SAM's Python.
pub fn sam_expected_sha(build_dir: &Path) -> String {
    let py = sam_bin().with_file_name("python");
    let out = Command::new(py)
        .arg("-c")
        .arg(
            "import base64,hashlib,os,sys,tempfile,logging\nlogging.disable(logging.INFO)\n\
             from samcli.lib.package.utils import make_zip_with_lambda_permissions\n\
             z=make_zip_with_lambda_permissions(os.path.join(tempfile.gettempdir(),'qd-bench-'+os.urandom(4).hex()),sys.argv[1])\n\
             print(base64.b64encode(hashlib.sha256(open(z,'rb').read()).digest()).decode()); os.remove(z)",
        )
        .arg(build_dir)
        .output()
        .expect("sam's python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The median (sorts `v`).
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Deploys the two stacks: quickdeploy's with `quickdeploy full`, SAM's with `sam deploy`, in
/// two steps: `sam package` uploads the artifacts, then `sam deploy --use-json` of the packaged
/// template, with no bucket, sends the template in the request as JSON, which the rig's proxy
/// expands for moto when it is SAM's (given a bucket, `sam deploy` uploads the template and
/// sends its URL; without `--use-json`, YAML).
pub async fn deploy_both(qd: &App, sam: &App, sam_home: &Path) {
    eprintln!("deploying both stacks (quickdeploy full, sam deploy)...");
    let (out, doc) = qd.run_json(&["full", "--yes"]).await;
    assert!(out.status.success(), "quickdeploy full: {doc}");
    let packaged = sam_home.join("packaged.json");
    let packaged = packaged.to_str().expect("a UTF-8 path");
    let package = [
        "package",
        "--s3-bucket",
        SAM_BUCKET,
        "--output-template-file",
        packaged,
    ];
    let (ok, _, text) = run_sam(sam, sam_home, &package, "");
    assert!(ok, "sam package failed:\n{text}");
    let deploy = [
        "deploy",
        "--template-file",
        packaged,
        "--stack-name",
        SAM_STACK,
        "--capabilities",
        "CAPABILITY_IAM",
        "--no-confirm-changeset",
        "--no-fail-on-empty-changeset",
        "--no-progressbar",
        "--use-json",
    ];
    let (ok, _, text) = run_sam(sam, sam_home, &deploy, "");
    assert!(ok, "sam deploy failed:\n{text}");
}

/// Runs `sam ARGS` to the end with `stdin` as its input (SAM asks before it syncs a stack
/// the first time): whether it exited 0, its wall time in ms, and what it printed.
pub fn run_sam(app: &App, home: &Path, args: &[&str], stdin: &str) -> (bool, f64, String) {
    run_sam_env(app, home, args, stdin, &[])
}

/// One untimed `sam sync --code` on SAM's copy (answering yes to its development-stack
/// question), with `env`; its time. Panics with SAM's output when it fails.
pub fn sam_warm_up(rig: &SideBySide, env: &[(String, String)]) -> f64 {
    let (ok, ms, text) = run_sam_env(&rig.sam, rig.sam_home.path(), &SAM_SYNC_CODE, "y\n", env);
    assert!(ok, "sam sync warm-up failed:\n{text}");
    ms
}

/// The bytes of the requests a quickdeploy report says it sent to the patcher (which the
/// counting proxy does not see: the patcher is invoked straight).
pub fn patcher_request_bytes(report: &Value) -> u64 {
    let patches: u64 = report["artifacts"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["request_bytes"].as_u64()).sum())
        .unwrap_or(0);
    // The deploy's record (history entry and hot patches), when the patcher wrote it.
    patches + report["recorded"]["request_bytes"].as_u64().unwrap_or(0)
}

/// Stops the benchmark unless `make sam-deps` installed SAM (`make_target` runs it).
pub fn require_sam(make_target: &str) {
    assert!(
        sam_bin().exists(),
        "{} is missing: run `make {make_target}`, which installs aws-sam-cli {SAM_VERSION}",
        sam_bin().display()
    );
}

/// `BENCH_RUNS`, else `default`.
pub fn bench_runs(default: usize) -> usize {
    std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A function's CodeSha256, as Lambda (moto) reports it.
pub async fn code_of(app: &App, function: &str) -> String {
    app.lambda
        .get_function_configuration()
        .function_name(function)
        .send()
        .await
        .expect("get_function_configuration")
        .code_sha256()
        .unwrap_or_default()
        .to_owned()
}

/// The CodeSha256 of the artifact a quickdeploy deploy report says it patched, computed from
/// the object's bytes in quickdeploy's bucket.
pub async fn patched_code_sha256(qd: &App, report: &Value) -> String {
    code_sha256(&patched_object(qd, report).await)
}

/// The bytes of the artifact a quickdeploy deploy report says it patched (the first), at the
/// version it names, in quickdeploy's bucket.
async fn patched_object(qd: &App, report: &Value) -> Vec<u8> {
    let art = report["artifacts"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["patch"].is_object()))
        .unwrap_or_else(|| panic!("no patch in {report}"));
    qd.object_in(
        BUCKET,
        art["patch"]["key"].as_str().expect("key"),
        art["patch"]["version_id"].as_str(),
    )
    .await
}

/// What SAM last built of the big function: its handler.py (empty if none), and the
/// CodeSha256 SAM's packager gives that build.
pub fn sam_built(sam: &App) -> (String, String) {
    let build = sam.root().join(".aws-sam/build/BigFn");
    let handler = std::fs::read_to_string(build.join("handler.py")).unwrap_or_default();
    (handler, sam_expected_sha(&build))
}

/// Both stacks deployed on one moto, ready to be raced: the app's source, its two copies, the
/// patcher, and the name of the function the benchmark changes in each stack.
pub struct SideBySide {
    /// quickdeploy's copy.
    pub qd: App,
    /// SAM's copy.
    pub sam: App,
    /// Where SAM keeps its "confirmed this dev stack" answer.
    pub sam_home: tempfile::TempDir,
    /// The function the benchmark changes (BigFn of [`make_app`]'s app) in quickdeploy's stack.
    pub qd_big: String,
    /// The same function in SAM's stack.
    pub sam_big: String,
    /// The counting proxy both tools talk to, when asked for.
    pub proxy: Option<S3Proxy>,
    /// The zipedit binary behind the Invoke API.
    pub patcher: Patcher,
    /// moto.
    pub moto: Moto,
    _source: tempfile::TempDir,
}

impl SideBySide {
    /// Starts moto and the patcher, makes the app and its two copies, and deploys both stacks.
    /// Both tools talk to moto straight, or through a proxy that counts the bytes they send
    /// (`through_proxy`; it adds a hop to every call).
    pub async fn deployed(through_proxy: bool) -> Self {
        Self::deployed_app(through_proxy, make_app, "BigFn").await
    }

    /// Like [`SideBySide::deployed`], for the app `make_app` writes into a folder (its
    /// quickdeploy.toml naming [`QD_STACK`] and [`BUCKET`]); `function` is the logical id of
    /// the function whose names `qd_big` and `sam_big` hold. A SAM template needs the proxy,
    /// which expands it for moto.
    pub async fn deployed_app(through_proxy: bool, make_app: fn(&Path), function: &str) -> Self {
        let moto = Moto::start();
        let proxy = match through_proxy {
            true => Some(S3Proxy::start(&moto.endpoint()).await),
            false => None,
        };
        // The patcher's stack guard sees the stack as the tools do: through the proxy.
        let patcher = Patcher::start_named_via(
            &crate::bin("zipedit"),
            &moto.endpoint(),
            &proxy
                .as_ref()
                .map_or(moto.endpoint(), |p| p.endpoint.clone()),
            1,
            crate::app::PATCHER,
        )
        .await;
        let source = tempfile::tempdir().expect("tmp");
        make_app(source.path());
        let moto_endpoint = moto.endpoint();
        let endpoint = proxy
            .as_ref()
            .map_or(moto_endpoint.as_str(), |p| p.endpoint.as_str());
        let copy = |bucket| {
            App::from_dir(
                source.path(),
                bucket,
                &moto_endpoint,
                endpoint,
                &patcher.invoke_endpoint,
            )
        };
        let qd = copy(BUCKET).await;
        let sam = copy(SAM_BUCKET).await;
        let sam_home = tempfile::tempdir().expect("sam home");
        deploy_both(&qd, &sam, sam_home.path()).await;
        let qd_big = qd.stack_functions(QD_STACK).await[function].clone();
        let sam_big = sam.stack_functions(SAM_STACK).await[function].clone();
        Self {
            qd,
            sam,
            sam_home,
            qd_big,
            sam_big,
            proxy,
            patcher,
            moto,
            _source: source,
        }
    }
}

/// What one verified `quickdeploy deploy` took.
pub struct QdDeploy {
    /// Wall time, its own build included.
    pub ms: f64,
    /// Bytes sent: what the counting proxy saw, and the Invoke request to the patcher.
    pub sent: u64,
    /// Its `--json` report.
    pub doc: Value,
    /// The built file that was checked.
    pub built: Vec<u8>,
}

/// `quickdeploy deploy` (with `--no-delta` when asked) of quickdeploy's copy (already edited
/// to hold `marker`), timed and verified, not by exit code: the function's CodeSha256 moved
/// and is the patched object's, whose `entry` is byte for byte the file at `built` (read
/// after the deploy: quickdeploy may have built it) and holds the marker.
pub async fn deploy_verified(
    rig: &SideBySide,
    no_delta: bool,
    entry: &str,
    built: &Path,
    marker: &str,
) -> QdDeploy {
    let qd = &rig.qd;
    let proxy = rig.proxy.as_ref().expect("the counting proxy");
    let before = code_of(qd, &rig.qd_big).await;
    proxy.take_sent_bytes();
    let args: &[&str] = if no_delta {
        &["deploy", "--no-delta"]
    } else {
        &["deploy"]
    };
    let t = std::time::Instant::now();
    let (out, doc) = qd.run_json(args).await;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let sent = proxy.take_sent_bytes() + patcher_request_bytes(&doc);
    let expected = patched_code_sha256(qd, &doc).await;
    let now = code_of(qd, &rig.qd_big).await;
    let deployed = patched_entry(qd, &doc, entry).await;
    let built = std::fs::read(built).expect("the built file");
    assert!(
        out.status.success()
            && now == expected
            && now != before
            && deployed == built
            && contains_bytes(&deployed, marker.as_bytes()),
        "quickdeploy {args:?} ({marker}) not verified: {now} vs {expected} (before {before})\n{doc}"
    );
    QdDeploy {
        ms,
        sent,
        doc,
        built,
    }
}

/// What one verified `sam sync --code` took.
pub struct SamSync {
    /// Wall time, build included.
    pub ms: f64,
    /// Bytes sent, as the counting proxy saw them.
    pub sent: u64,
    /// The size of the built file that was checked.
    pub built: usize,
}

/// One `sam sync --code` of SAM's copy (already edited to hold `marker`), with `env` added,
/// verified, not by exit code: `file` in the build folder of `function` holds the marker, and
/// the function's CodeSha256 moved and is that of the zip SAM's own packager makes of that
/// folder.
pub async fn sam_sync_verified(
    rig: &SideBySide,
    env: &[(String, String)],
    function: &str,
    file: &str,
    marker: &str,
) -> SamSync {
    let sam = &rig.sam;
    let proxy = rig.proxy.as_ref().expect("the counting proxy");
    let before = code_of(sam, &rig.sam_big).await;
    proxy.take_sent_bytes();
    let (ok, ms, text) = run_sam_env(sam, rig.sam_home.path(), &SAM_SYNC_CODE, "", env);
    let sent = proxy.take_sent_bytes();
    let build = sam.root().join(".aws-sam/build").join(function);
    let built = std::fs::read(build.join(file)).unwrap_or_default();
    let expected = sam_expected_sha(&build);
    let now = code_of(sam, &rig.sam_big).await;
    assert!(
        ok && contains_bytes(&built, marker.as_bytes()) && now == expected && now != before,
        "sam sync ({marker}) not verified: {now} vs {expected} (before {before})\n{text}"
    );
    SamSync {
        ms,
        sent,
        built: built.len(),
    }
}

/// [`run_sam`] with extra environment: SAM's builds of compiled functions need their tools
/// on `PATH` (cargo-lambda, zig) and their settings (cargo's target folder, beta flags).
pub fn run_sam_env(
    app: &App,
    home: &Path,
    args: &[&str],
    stdin: &str,
    env: &[(String, String)],
) -> (bool, f64, String) {
    let mut cmd = sam_command(app, home, args);
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    let t = std::time::Instant::now();
    let mut child = cmd.spawn().expect("run sam (make sam-deps installs it)");
    {
        use std::io::Write as _;
        let mut input = child.stdin.take().expect("stdin");
        let _ = input.write_all(stdin.as_bytes());
    }
    let out = child.wait_with_output().expect("sam");
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), ms, text)
}

/// `PATH` with `.rig/sam-venv/bin` first: the tools `make sam-deps` and the benches install
/// there (cargo-lambda and zig for SAM's Rust builds) are found by SAM's builders.
pub fn path_with_sam_venv() -> String {
    let venv = sam_bin().parent().expect("venv bin").display().to_string();
    format!("{venv}:{}", std::env::var("PATH").unwrap_or_default())
}

/// Bytes a quickdeploy deploy report says it read back as previous content (deltas' bases
/// fetched by ranged GETs of the artifact), over all artifacts.
pub fn base_bytes(report: &Value) -> u64 {
    report["artifacts"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["base_bytes"].as_u64()).sum())
        .unwrap_or(0)
}

/// How each changed file went to the patcher, from a deploy report: `path sent size->bytes
/// (base)` per file, for the log and the checks.
pub fn files_sent(report: &Value) -> Vec<String> {
    let files = report["artifacts"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|a| a["files"].as_array().into_iter().flatten());
    files
        .map(|f| {
            format!(
                "{} {} {}->{}{}",
                f["path"].as_str().unwrap_or("?"),
                f["sent"].as_str().unwrap_or("?"),
                f["size"],
                f["bytes"],
                f["base"]
                    .as_str()
                    .map(|b| format!(" ({b})"))
                    .unwrap_or_default()
            )
        })
        .collect()
}

/// One entry of the artifact a quickdeploy deploy report says it patched, read from the
/// object's bytes in quickdeploy's bucket by the `zip` crate: what Lambda runs, not what the
/// tool meant to send.
pub async fn patched_entry(qd: &App, report: &Value, path: &str) -> Vec<u8> {
    let bytes = patched_object(qd, report).await;
    let mut tree = crate::zipcheck::zip_crate_tree(&bytes);
    tree.remove(path)
        .unwrap_or_else(|| panic!("{path} is not in the patched artifact"))
        .0
}

/// Sets the line of the source file `path` that starts with `prefix` to
/// `{prefix}"{value}"{end}`: the one line a bench's edit changes.
pub fn set_line(path: &Path, prefix: &str, value: &str, end: &str) {
    let text = std::fs::read_to_string(path).expect("source");
    let line = text
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in {}", path.display()))
        .to_owned();
    let text = text.replace(&line, &format!("{prefix}\"{value}\"{end}"));
    std::fs::write(path, text).expect("source");
}

/// How many greetings [`longer_greeting`] made in this process.
static EDITS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// `hello from {marker}` and one more `!` than the last call's: each edit changes the string's
/// length, as most real edits do. In a compiled binary that moves the read-only data after it
/// and every address pointing there, which is what a delta has to cope with (an edit of the
/// same length changes a few bytes, and any delta is tiny).
pub fn longer_greeting(marker: &str) -> String {
    let n = EDITS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    format!("hello from {marker}{}", "!".repeat(n + 1))
}

/// The order the tools run in, run `run`: rotated by one each run, so each goes first,
/// second, ... equally often over a multiple of their number of runs.
pub fn rotation<T: Copy>(tools: &[T], run: usize) -> Vec<T> {
    let mut order = tools.to_vec();
    order.rotate_left(run % tools.len().max(1));
    order
}

/// Whether `needle` occurs in `haystack` (a marker string in a compiled binary or bundle).
pub fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// One span of a `--timings` report's time line as `name start-end` (ms since it began).
fn span_text(span: &Value) -> Option<String> {
    Some(format!(
        "{} {:.0}-{:.0}",
        span["name"].as_str()?,
        span["start_ms"].as_f64()?,
        span["end_ms"].as_f64()?
    ))
}

/// Every phase and call of a `--timings` report's time line, `name start-end`, comma-separated.
pub fn time_line(report: &Value) -> String {
    let spans = report["timeline"]["spans"].as_array().into_iter().flatten();
    spans.filter_map(span_text).collect::<Vec<_>>().join(", ")
}

/// The critical path of a `--timings` report, as `Call start-end -> ...`.
pub fn critical_path(report: &Value) -> String {
    let t = &report["timeline"];
    let path = t["critical_path"].as_array().into_iter().flatten();
    path.filter_map(|i| span_text(&t["spans"][i.as_u64()? as usize]))
        .collect::<Vec<_>>()
        .join(" -> ")
}
