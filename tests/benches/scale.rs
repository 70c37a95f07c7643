//! Scale: a one-line change in one package shared by N functions (N = 1, 10, 50, 200), on
//! moto, through the rig's proxy. For each N a fresh moto and the app deployed by `quickdeploy
//! full` (at N = 50 also by `sam deploy`, as a second stack), then per run:
//!
//! - `quickdeploy deploy --ci` as a user runs it: updates paced at Lambda's control-plane
//!   quota (15 calls/s, all functions together; reads at GetFunction's 100/s);
//! - `quickdeploy deploy --ci --rate 10000`: unpaced, what moto itself costs per function;
//! - at N = 50, `sam sync --code` of SAM's copy.
//!
//! Every result is verified: each of the N functions reports the CodeSha256 of the artifact
//! the tool made (quickdeploy: the patched object, read back; SAM: the zip SAM's own packager
//! makes of its build folder). The requests each quickdeploy run made are counted by kind
//! from moto's recorder (the patcher's S3 calls included), to show what grows with N: one
//! UpdateFunctionCode per function; the reads of what they run (GetFunction each below 20
//! functions, ListFunctions pages from there on) and everything else constant or near it.
//!
//! With `SCALE_ALIASES=1` (issue 25) every function also has an alias `live` (a version
//! published and the alias made after `full`, `aliases = ["live"]` in quickdeploy.toml, as
//! SAM's AutoPublishAlias does): each update is then UpdateFunctionCode with `Publish: true`
//! and an UpdateAlias, 2 writes a function. Each row prints the writes per function, the
//! paced run's wall time against the quota floor (N x writes / 15 per s) and the client CPU
//! per function (user + system time of the quickdeploy process, from getrusage of the
//! children, over N). `QUICKDEPLOY_BIN` runs another build of quickdeploy (main's, to
//! compare). `SCALE_NO_STACK_COPY=1` removes the stack's copy before each deploy, so it reads
//! the stack before its patch instead of planning from the copy: the two on one binary.
//!
//! Run: `make bench-scale`; `SCALE_NS` (default "1,10,50,200"), `BENCH_RUNS` (default 3).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use testkit::app::App;
use testkit::bench_app::{
    BUCKET, QD_STACK, SAM_STACK, SAM_SYNC_CODE, SAM_VERSION, SideBySide, bench_runs, code_of,
    median, patched_code_sha256, require_sam, run_sam, sam_expected_sha,
};
use testkit::proxy::S3Proxy;
use testkit::rig::{Moto, Patcher};

/// The handler every function runs, returning `marker`.
fn handler(marker: &str) -> String {
    format!("def handler(event, context):\n    return {{\"marker\": \"{marker}\"}}\n")
}

/// The app: N functions (Fn0..) on one package, `src/shared`, plain CloudFormation.
fn make_app<const N: usize>(dir: &Path) {
    let mut template = String::from(
        "AWSTemplateFormatVersion: \"2010-09-09\"\nDescription: quickdeploy scale benchmark\nResources:\n  FnRole:\n    Type: AWS::IAM::Role\n    Properties:\n      AssumeRolePolicyDocument:\n        Version: \"2012-10-17\"\n        Statement:\n          - Effect: Allow\n            Principal: {Service: lambda.amazonaws.com}\n            Action: sts:AssumeRole\n",
    );
    for i in 0..N {
        template.push_str(&format!(
            "  Fn{i}:\n    Type: AWS::Lambda::Function\n    Properties:\n      Runtime: python3.12\n      Handler: handler.handler\n      Role: !GetAtt FnRole.Arn\n      Code: ./src/shared\n"
        ));
    }
    std::fs::create_dir_all(dir.join("src/shared")).expect("mkdir");
    std::fs::write(dir.join("template.yaml"), template).expect("template");
    std::fs::write(dir.join("src/shared/handler.py"), handler("start")).expect("handler");
    std::fs::write(
        dir.join("src/shared/util.py"),
        "def words(s):\n    return s.split()\n".repeat(50),
    )
    .expect("util");
    std::fs::write(
        dir.join("quickdeploy.toml"),
        format!(
            "stack = \"{QD_STACK}\"\ntemplate = \"template.yaml\"\nartifact_bucket = \"{BUCKET}\"\n"
        ),
    )
    .expect("toml");
}

/// A request's kind, for counting: Lambda operations by name, S3 by method.
fn kind(request: &serde_json::Value) -> String {
    let method = request["method"].as_str().unwrap_or("?");
    let url = request["url"].as_str().unwrap_or("?");
    let path = url.split('?').next().unwrap_or(url);
    if let Some(rest) = path.split("/2015-03-31/functions/").nth(1) {
        return match (method, rest.split_once('/').map(|(_, op)| op)) {
            ("PUT", Some("code")) => "UpdateFunctionCode",
            ("GET", Some("configuration")) => "GetFunctionConfiguration",
            ("GET", None) if !rest.is_empty() => "GetFunction",
            ("GET", None) => "ListFunctions",
            ("POST", Some("invocations")) => "Invoke",
            ("POST", Some("versions")) => "PublishVersion",
            ("PUT", Some(op)) if op.starts_with("aliases/") => "UpdateAlias",
            ("GET", Some("aliases")) => "ListAliases",
            _ => "other Lambda",
        }
        .to_owned();
    }
    if url.contains("2015-03-31") || url.contains("2018-10-31") {
        return "other Lambda".to_owned();
    }
    if method == "POST" {
        return "CloudFormation/STS/other POST".to_owned();
    }
    format!("S3 {method}")
}

/// The user and system CPU time, in ms, of this process's children that ended so far.
fn children_cpu_ms() -> f64 {
    // SAFETY: getrusage writes into the struct it is given, nothing else.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_CHILDREN is a valid `who`.
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) } != 0 {
        return 0.0;
    }
    let ms = |t: libc::timeval| t.tv_sec as f64 * 1e3 + t.tv_usec as f64 / 1e3;
    ms(usage.ru_utime) + ms(usage.ru_stime)
}

/// The Lambda writes of a run, by Lambda's 15/s quota: updates, publishes, alias moves.
fn writes(calls: &BTreeMap<String, usize>) -> usize {
    [
        "UpdateFunctionCode",
        "PublishVersion",
        "UpdateAlias",
        "UpdateFunctionConfiguration",
    ]
    .iter()
    .filter_map(|k| calls.get(*k))
    .sum()
}

/// One measured quickdeploy deploy: wall ms, requests by kind and the quickdeploy process's
/// CPU ms; every function checked (and its alias, when it has one).
async fn quickdeploy_run(
    rig: &Setup,
    names: &[String],
    extra: &[&str],
    marker: &str,
) -> (f64, BTreeMap<String, usize>, f64) {
    let qd = rig.qd();
    qd.write("src/shared/handler.py", &handler(marker));
    // SCALE_NO_STACK_COPY=1: the stack's copy removed before each deploy, which then reads
    // the stack before its patch, as a deploy without copies does (an A/B of the plan from
    // the copies, on one binary).
    if std::env::var("SCALE_NO_STACK_COPY").as_deref() == Ok("1") {
        let _ = std::fs::remove_dir_all(qd.path(".quickdeploy/stacks"));
    }
    let mut args = vec!["deploy", "--ci"];
    args.extend_from_slice(extra);
    rig.moto().start_recording();
    let cpu = children_cpu_ms();
    let t = Instant::now();
    let (out, doc) = qd.run_json(&args).await;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    // The only child that ended meanwhile is this quickdeploy (moto and the patcher run on).
    let cpu = children_cpu_ms() - cpu;
    // Off again before SAM's runs: the recorder's cost is quickdeploy's alone here.
    rig.moto().stop_recording();
    let mut calls = BTreeMap::new();
    for r in rig.moto().recording() {
        *calls.entry(kind(&r)).or_insert(0) += 1;
    }
    assert!(out.status.success(), "deploy {extra:?} failed: {doc}");
    let expected = patched_code_sha256(qd, &doc).await;
    for name in names {
        assert_eq!(code_of(qd, name).await, expected, "{name} after {extra:?}");
    }
    if aliased() {
        // Spot checks (every 25th): the alias names a version that runs the new code.
        for name in names.iter().step_by(25) {
            let version = qd.alias_version(name, "live").await;
            let running = qd
                .lambda
                .get_function_configuration()
                .function_name(name)
                .qualifier(&version)
                .send()
                .await
                .expect("version's configuration");
            assert_eq!(
                running.code_sha256().unwrap_or_default(),
                expected,
                "{name}:live"
            );
        }
    }
    (ms, calls, cpu)
}

/// `SCALE_ALIASES=1`: every function has an alias.
fn aliased() -> bool {
    std::env::var("SCALE_ALIASES").is_ok_and(|v| v == "1")
}

/// Gives every function a published version and an alias `live` on it, and tells
/// quickdeploy to move it ([functions.X] aliases = ["live"]).
async fn add_aliases(qd: &App, n: usize) {
    let names = qd.stack_functions(QD_STACK).await;
    let mut toml = std::fs::read_to_string(qd.path("quickdeploy.toml")).expect("toml");
    for i in 0..n {
        let id = format!("Fn{i}");
        let name = &names[&id];
        let version = qd
            .lambda
            .publish_version()
            .function_name(name)
            .send()
            .await
            .expect("publish")
            .version()
            .unwrap_or_default()
            .to_owned();
        qd.lambda
            .create_alias()
            .function_name(name)
            .name("live")
            .function_version(&version)
            .send()
            .await
            .expect("alias");
        toml.push_str(&format!("\n[functions.{id}]\naliases = [\"live\"]\n"));
    }
    qd.write("quickdeploy.toml", &toml);
}

/// One measured `sam sync --code`: wall ms; every function checked against SAM's build.
async fn sam_run(rig: &SideBySide, names: &[String], marker: &str) -> f64 {
    let sam = &rig.sam;
    sam.write("src/shared/handler.py", &handler(marker));
    let (ok, ms, text) = run_sam(sam, rig.sam_home.path(), &SAM_SYNC_CODE, "y\n");
    assert!(ok, "sam sync failed:\n{text}");
    let expected = sam_expected_sha(&sam.root().join(".aws-sam/build/Fn0"));
    for name in names {
        assert_eq!(code_of(sam, name).await, expected, "sam sync: {name}");
    }
    ms
}

/// The deployed app: both stacks (at N = 50), or quickdeploy's alone.
enum Setup {
    Both(SideBySide),
    Alone {
        qd: App,
        moto: Moto,
        _rig: (S3Proxy, Patcher, tempfile::TempDir),
    },
}

impl Setup {
    fn qd(&self) -> &App {
        match self {
            Self::Both(b) => &b.qd,
            Self::Alone { qd, .. } => qd,
        }
    }

    /// moto, whose recorder counts the requests.
    fn moto(&self) -> &Moto {
        match self {
            Self::Both(b) => &b.moto,
            Self::Alone { moto, .. } => moto,
        }
    }
}

/// The app for `n` functions, deployed by quickdeploy (and by SAM at 50: sam deploy sends the
/// template inline, which past 51,200 bytes, at 200 functions, it cannot).
async fn deployed(n: usize) -> Setup {
    let make: fn(&Path) = match n {
        1 => make_app::<1>,
        10 => make_app::<10>,
        50 => make_app::<50>,
        200 => make_app::<200>,
        other => panic!("SCALE_NS: {other} is not one of 1, 10, 50, 200"),
    };
    if n == 50 && !aliased() {
        return Setup::Both(SideBySide::deployed_app(true, make, "Fn0").await);
    }
    let moto = Moto::start();
    let proxy = S3Proxy::start(&moto.endpoint()).await;
    let patcher = Patcher::start_named_via(
        &testkit::bin("zipedit"),
        &moto.endpoint(),
        &proxy.endpoint,
        1,
        testkit::app::PATCHER,
    )
    .await;
    let source = tempfile::tempdir().expect("tmp");
    make(source.path());
    let qd = App::from_dir(
        source.path(),
        BUCKET,
        &moto.endpoint(),
        &proxy.endpoint,
        &patcher.invoke_endpoint,
    )
    .await;
    let (out, doc) = qd.run_json(&["full", "--yes"]).await;
    assert!(out.status.success(), "quickdeploy full: {doc}");
    if aliased() {
        add_aliases(&qd, n).await;
    }
    Setup::Alone {
        qd,
        moto,
        _rig: (proxy, patcher, source),
    }
}

/// What one N measured.
struct Row {
    n: usize,
    paced: f64,
    unpaced: f64,
    sam: Option<f64>,
    calls: BTreeMap<String, usize>,
    /// Median CPU ms of the quickdeploy process, paced runs.
    cpu: f64,
}

async fn measure(n: usize, runs: usize) -> Row {
    eprintln!("N = {n}: deploying...");
    let rig = deployed(n).await;
    let qd_names: Vec<String> = rig
        .qd()
        .stack_functions(QD_STACK)
        .await
        .into_values()
        .collect();
    assert_eq!(qd_names.len(), n);
    let sam = match &rig {
        Setup::Both(both) => {
            let names: Vec<String> = both
                .sam
                .stack_functions(SAM_STACK)
                .await
                .into_values()
                .collect();
            assert_eq!(names.len(), n);
            // Warm-up, untimed: SAM asks once whether this is a development stack.
            sam_run(both, &names, "warm-up").await;
            Some((both, names))
        }
        Setup::Alone { .. } => None,
    };
    quickdeploy_run(&rig, &qd_names, &[], "warm-up").await;
    let (mut paced, mut unpaced, mut sam_ms, mut cpu) = (vec![], vec![], vec![], vec![]);
    let mut calls = BTreeMap::new();
    for run in 0..runs {
        let marker = format!("n{n}-run{run}-{}", std::process::id());
        // The order alternates from run to run: moto's state grows with every update.
        for paced_first in [run % 2 == 0, run % 2 != 0] {
            if paced_first {
                let (ms, c, used) =
                    quickdeploy_run(&rig, &qd_names, &[], &format!("{marker}-paced")).await;
                paced.push(ms);
                cpu.push(used);
                calls = c;
            } else {
                let (ms, _, _) =
                    quickdeploy_run(&rig, &qd_names, &["--rate", "10000"], &marker).await;
                unpaced.push(ms);
            }
        }
        if let Some((both, names)) = &sam {
            sam_ms.push(sam_run(both, names, &marker).await);
        }
        eprintln!(
            "N = {n} run {run}: paced {:.0} ms (CPU {:.0} ms), unpaced {:.0} ms{}",
            paced[run],
            cpu[run],
            unpaced[run],
            sam_ms
                .last()
                .map(|s| format!(", sam sync {s:.0} ms"))
                .unwrap_or_default()
        );
    }
    Row {
        n,
        paced: median(&mut paced),
        unpaced: median(&mut unpaced),
        sam: (!sam_ms.is_empty()).then(|| median(&mut sam_ms)),
        calls,
        cpu: median(&mut cpu),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    require_sam("bench-scale");
    let runs = bench_runs(3);
    let ns: Vec<usize> = std::env::var("SCALE_NS")
        .unwrap_or_else(|_| "1,10,50,200".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let mut rows = Vec::new();
    for n in ns {
        rows.push(measure(n, runs).await);
    }
    let base = rows.first().map_or(0.0, |r| r.unpaced);
    let with = if aliased() {
        ", every function with an alias"
    } else {
        ""
    };
    println!(
        "\none package shared by N functions{with}, one-line change, {runs} runs each, moto 5.2.5"
    );
    println!(
        "| N | deploy (paced 15/s) ms | quota floor ms (N x writes / 15 per s) | paced / floor | writes per function | client CPU per function ms | deploy --rate 10000 ms | unpaced ms per extra function | sam sync --code ({SAM_VERSION}) ms | requests of one paced run |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        let per = if r.n > 1 {
            format!("{:.1}", (r.unpaced - base) / (r.n - 1) as f64)
        } else {
            "-".into()
        };
        let w = writes(&r.calls);
        let floor = w as f64 / 15.0 * 1e3;
        let calls: Vec<String> = r.calls.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!(
            "| {} | {:.0} | {floor:.0} | {:.2}x | {:.2} | {:.2} | {:.0} | {per} | {} | {} |",
            r.n,
            r.paced,
            r.paced / floor.max(1.0),
            w as f64 / r.n as f64,
            r.cpu / r.n as f64,
            r.unpaced,
            r.sam
                .map(|s| format!("{s:.0}"))
                .unwrap_or_else(|| "-".into()),
            calls.join(", ")
        );
    }
}
