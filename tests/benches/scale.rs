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

/// One measured quickdeploy deploy: wall ms and requests by kind; every function checked.
async fn quickdeploy_run(
    rig: &Setup,
    names: &[String],
    extra: &[&str],
    marker: &str,
) -> (f64, BTreeMap<String, usize>) {
    let qd = rig.qd();
    qd.write("src/shared/handler.py", &handler(marker));
    let mut args = vec!["deploy", "--ci"];
    args.extend_from_slice(extra);
    rig.moto().start_recording();
    let t = Instant::now();
    let (out, doc) = qd.run_json(&args).await;
    let ms = t.elapsed().as_secs_f64() * 1e3;
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
    (ms, calls)
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
    if n == 50 {
        return Setup::Both(SideBySide::deployed_app(true, make, "Fn0").await);
    }
    let moto = Moto::start();
    let proxy = S3Proxy::start(&moto.endpoint()).await;
    let patcher = Patcher::start_named(
        &testkit::bin("zipedit"),
        &moto.endpoint(),
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
    let (mut paced, mut unpaced, mut sam_ms) = (vec![], vec![], vec![]);
    let mut calls = BTreeMap::new();
    for run in 0..runs {
        let marker = format!("n{n}-run{run}-{}", std::process::id());
        // The order alternates from run to run: moto's state grows with every update.
        for paced_first in [run % 2 == 0, run % 2 != 0] {
            if paced_first {
                let (ms, c) =
                    quickdeploy_run(&rig, &qd_names, &[], &format!("{marker}-paced")).await;
                paced.push(ms);
                calls = c;
            } else {
                let (ms, _) = quickdeploy_run(&rig, &qd_names, &["--rate", "10000"], &marker).await;
                unpaced.push(ms);
            }
        }
        if let Some((both, names)) = &sam {
            sam_ms.push(sam_run(both, names, &marker).await);
        }
        eprintln!(
            "N = {n} run {run}: paced {:.0} ms, unpaced {:.0} ms{}",
            paced[run],
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
    println!("\none package shared by N functions, one-line change, {runs} runs each, moto 5.2.5");
    println!(
        "| N | deploy (paced 15/s) ms | deploy --rate 10000 ms | unpaced ms per extra function | sam sync --code ({SAM_VERSION}) ms | requests of one paced run |"
    );
    println!("|---|---|---|---|---|---|");
    for r in &rows {
        let per = if r.n > 1 {
            format!("{:.1}", (r.unpaced - base) / (r.n - 1) as f64)
        } else {
            "-".into()
        };
        let calls: Vec<String> = r.calls.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!(
            "| {} | {:.0} | {:.0} | {per} | {} | {} |",
            r.n,
            r.paced,
            r.unpaced,
            r.sam
                .map(|s| format!("{s:.0}"))
                .unwrap_or_else(|| "-".into()),
            calls.join(", ")
        );
    }
}
