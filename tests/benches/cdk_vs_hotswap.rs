//! A CDK app (issue 24): `quickdeploy deploy` vs `cdk deploy --hotswap`, and save-to-live with
//! `quickdeploy watch` vs `cdk watch`, side by side in one run, on the same rig (moto, the
//! proxy that counts the bytes sent, the real patcher).
//!
//! The app is the CDK test app (`tests/apps/cdk-app`) in two copies: quickdeploy's deploys
//! stack `QdCdkApi`, the CDK's own the same stack renamed `QdCdkHot` (so that neither tool
//! sees the other's deploys). Its getOne NodejsFunction imports a 2 MiB module (1 MiB of
//! incompressible bytes, hex-encoded: a bundle the size of one with its dependencies; the test
//! app's own are about 1 KB). Each run writes a different line into `lambdas/get-one.ts`
//! (alternating tools) and times:
//! - deploy: the command, start to exit; checked by the function's CodeSha256 (quickdeploy's
//!   report's, the CDK's new asset's);
//! - watch: from just before the write until moto reports a new CodeSha256 for the function,
//!   polling every 15 ms.
//!
//! Bytes sent are the request bodies the proxy forwarded (in the watch runs, each tool's own by
//! User-Agent: `cdk watch` polls its logs all along) plus, for quickdeploy, its requests
//! to the patcher (its report's `request_bytes`, the patches' and the record's; the patcher
//! is invoked beside the proxy).
//!
//! Run: `make bench-cdk` (installs the app's node_modules); `BENCH_RUNS` (default 5).

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::app::App;
use testkit::bench_app::{bench_runs, median, patcher_request_bytes};
use testkit::cdk::{ASSETS_BUCKET, Cdk, CdkRig, blocking, cdk_endpoint, copy_app, source};

const STACK: &str = "QdCdkApi";
const HOT_STACK: &str = "QdCdkHot";
const BUCKET: &str = "qd-cdk-bench-artifacts";
const GET_ONE: &str = "getOneItemFunctionE3257B22";
const POLL: Duration = Duration::from_millis(15);
const TIMEOUT: Duration = Duration::from_secs(120);
/// After each save is live: lets either watcher's follow-up work settle.
const PAUSE: Duration = Duration::from_millis(1500);

/// get-one.ts returning `marker`.
fn handler(marker: &str) -> String {
    format!(
        "import {{ greeting, reply }} from './shared/format';\n\
         import {{ TABLE }} from './shared/table';\n\n\
         export const handler = async (event: {{ id?: string }}) => {{\n  \
         const id = event.id ?? 'none';\n  \
         return reply({{ item: id, size: TABLE.length, message: greeting('{marker}') }});\n\
         }};\n"
    )
}

/// The 2 MiB module and the first handler, into an app copy.
fn prepare(root: &Path, table: &str) {
    std::fs::write(
        root.join("lambdas/shared/table.ts"),
        format!("export const TABLE = '{table}';\n"),
    )
    .expect("table.ts");
    std::fs::write(root.join("lambdas/get-one.ts"), handler("start")).expect("get-one.ts");
}

async fn live(app: &App, name: &str) -> String {
    app.lambda
        .get_function_configuration()
        .function_name(name)
        .send()
        .await
        .expect("get_function_configuration")
        .code_sha256()
        .unwrap_or_default()
        .to_owned()
}

/// Polls until `name`'s CodeSha256 differs from `before`; the new one.
async fn changed(app: &App, name: &str, before: &str) -> String {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let now = live(app, name).await;
        if now != before {
            return now;
        }
        assert!(Instant::now() < deadline, "{name} did not change in time");
        tokio::time::sleep(POLL).await;
    }
}

/// The CodeSha256 of the asset getOne's synthesized template names in `cdk`'s assembly.
async fn asset_sha(app: &App, cdk: &Cdk, stack: &str) -> String {
    let key = &cdk.asset_keys(stack)[GET_ONE];
    let zip = app.object_in(ASSETS_BUCKET, key, None).await;
    testkit::fixtures::code_sha256(&zip)
}

/// The patcher's own timings (read, decode, patch, write), for each artifact it patched.
fn patcher_timings(report: &Value) -> Value {
    report["artifacts"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["patch"].get("timings_ms").cloned())
                .collect()
        })
        .unwrap_or_default()
}

/// `quickdeploy watch --json` in the app; its rounds come through the receiver.
fn start_watch(app: &App) -> (Child, Receiver<Value>) {
    let mut child = app
        .command(&["watch", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run quickdeploy watch");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && tx.send(v).is_err()
            {
                return;
            }
        }
    });
    (child, rx)
}

struct Figures {
    ms: Vec<f64>,
    bytes: Vec<f64>,
}

impl Figures {
    fn new() -> Self {
        Self {
            ms: Vec::new(),
            bytes: Vec::new(),
        }
    }
    fn push(&mut self, ms: f64, bytes: u64) {
        self.ms.push(ms);
        self.bytes.push(bytes as f64);
    }
    fn medians(&mut self) -> (f64, f64, f64) {
        let min = self.ms.iter().copied().fold(f64::INFINITY, f64::min);
        (median(&mut self.ms), min, median(&mut self.bytes))
    }
}

fn table(title: &str, runs: usize, qd: &mut Figures, cdk: &mut Figures, cdk_name: &str) {
    let (q_ms, q_min, q_bytes) = qd.medians();
    let (c_ms, c_min, c_bytes) = cdk.medians();
    println!("\n{title}, {runs} runs each");
    println!("| tool | median ms | min ms | median bytes sent | time ratio | bytes ratio |");
    println!("|---|---|---|---|---|---|");
    println!("| quickdeploy | {q_ms:.0} | {q_min:.0} | {q_bytes:.0} | 1 | 1 |");
    println!(
        "| {cdk_name} | {c_ms:.0} | {c_min:.0} | {c_bytes:.0} | {:.1}x | {:.0}x |",
        c_ms / q_ms,
        c_bytes / q_bytes.max(1.0)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let runs = bench_runs(5);
    let hex: String = testkit::noise(24, 1024 * 1024)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();

    // quickdeploy's copy (the rig's app) and the CDK's own copy, same rig.
    let mut rig = CdkRig::start().await;
    rig.rig.app.endpoint = cdk_endpoint(&rig.rig.app.endpoint);
    let app = &rig.rig.app;
    testkit::rig::make_bucket(&app.s3, BUCKET, true).await;
    app.write(
        "quickdeploy.toml",
        &format!("stack = \"{STACK}\"\nartifact_bucket = \"{BUCKET}\"\n"),
    );
    prepare(app.root(), &hex);
    let hot_dir = tempfile::tempdir().expect("tmp");
    copy_app(&source(), hot_dir.path());
    prepare(hot_dir.path(), &hex);
    let bin = hot_dir.path().join("bin/app.js");
    let text = std::fs::read_to_string(&bin).expect("bin/app.js");
    std::fs::write(&bin, text.replace("'QdCdkApi'", &format!("'{HOT_STACK}'"))).expect("app.js");
    let hot = Cdk::new(hot_dir.path(), &rig.rig.proxy.endpoint);

    eprintln!("bootstrap, then both stacks deployed (quickdeploy full, cdk deploy)...");
    blocking(|| {
        rig.cdk.bootstrap().assert_ok();
        hot.synth().assert_ok();
        hot.deploy(&[HOT_STACK]).assert_ok();
    });
    let (out, doc) = app.run_json(&["full", "--yes"]).await;
    assert!(out.status.success(), "quickdeploy full: {doc}");
    let qd_name = app.stack_functions(STACK).await[GET_ONE].clone();
    let hot_name = app.stack_functions(HOT_STACK).await[GET_ONE].clone();
    let proxy = &rig.rig.proxy;

    // Deploy: the command, start to exit.
    let (mut qd_deploy, mut cdk_deploy) = (Figures::new(), Figures::new());
    for run in 0..=runs {
        let marker = format!("deploy {run}");
        std::fs::write(app.path("lambdas/get-one.ts"), handler(&marker)).expect("edit");
        proxy.take_sent_bytes();
        let t = Instant::now();
        let (out, doc) = app.run_json(&["deploy", "--timings"]).await;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        assert!(out.status.success(), "quickdeploy deploy: {doc}");
        let (through_proxy, to_patcher) = (proxy.take_sent_bytes(), patcher_request_bytes(&doc));
        let sent = through_proxy + to_patcher;
        let reported = doc["functions"]
            .as_array()
            .and_then(|fs| fs.iter().find(|f| f["logical_id"] == GET_ONE))
            .and_then(|f| f["code_sha256"].as_str())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(live(app, &qd_name).await, reported, "quickdeploy: {doc}");

        std::fs::write(hot.root.join("lambdas/get-one.ts"), handler(&marker)).expect("edit");
        proxy.take_sent_bytes();
        let hotswap = blocking(|| hot.hotswap(&[HOT_STACK])).assert_ok();
        let hot_sent = proxy.take_sent_bytes();
        assert!(hotswap.output.contains("hotswapped"), "{}", hotswap.output);
        let expected = asset_sha(app, &hot, HOT_STACK).await;
        assert_eq!(
            live(app, &hot_name).await,
            expected,
            "hotswap runs its asset"
        );
        let hot_ms = hotswap.took.as_secs_f64() * 1000.0;
        // Run 0 warms both up (caches, the first copy of the asset).
        if run == 0 {
            continue;
        }
        eprintln!(
            "deploy run {run}: quickdeploy {ms:.0} ms (its own: {}; the patcher's: {}) {sent} B \
             ({to_patcher} to the patcher, {through_proxy} through the proxy); \
             hotswap {hot_ms:.0} ms {hot_sent} B",
            doc["timings_ms"],
            patcher_timings(&doc)
        );
        if run == runs {
            eprintln!(
                "  time line of the last run: {}",
                testkit::bench_app::time_line(&doc)
            );
        }
        qd_deploy.push(ms, sent);
        cdk_deploy.push(hot_ms, hot_sent);
    }

    // Watch: save to live.
    let (mut qd_watch, mut cdk_watch) = (Figures::new(), Figures::new());
    let (mut watcher, rounds) = start_watch(app);
    rounds
        .recv_timeout(Duration::from_secs(60))
        .expect("quickdeploy watch's first round");
    let cdk_watcher = blocking(|| {
        let w = hot.watch(&[HOT_STACK]);
        // Its initial deploy, before the first save.
        assert!(
            w.wait_for("✅", 1, Duration::from_secs(120)),
            "cdk watch started: {}",
            w.output()
        );
        w
    });
    tokio::time::sleep(PAUSE).await;
    for run in 0..=runs {
        let marker = format!("watch {run}");
        while rounds.try_recv().is_ok() {}
        let before = live(app, &qd_name).await;
        proxy.take_sent_bytes();
        let t = Instant::now();
        std::fs::write(app.path("lambdas/get-one.ts"), handler(&marker)).expect("edit");
        changed(app, &qd_name, &before).await;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        tokio::time::sleep(PAUSE).await;
        // `cdk watch` runs beside it, polling its functions' logs: only quickdeploy's own.
        let (mut sent, _) = proxy.take_sent_bytes_split();
        let mut deployed = false;
        while let Ok(round) = rounds.try_recv() {
            deployed |= round["report"]["outcome"] == "deployed";
            sent += patcher_request_bytes(&round["report"]);
        }
        assert!(deployed, "quickdeploy watch reported the round");

        let before = live(app, &hot_name).await;
        let t = Instant::now();
        std::fs::write(hot.root.join("lambdas/get-one.ts"), handler(&marker)).expect("edit");
        let now = changed(app, &hot_name, &before).await;
        let hot_ms = t.elapsed().as_secs_f64() * 1000.0;
        // Until its round ends (it prints a ✅ per deploy), then what it sent.
        blocking(|| cdk_watcher.wait_for("✅", run + 2, Duration::from_secs(60)));
        tokio::time::sleep(PAUSE).await;
        let (_, hot_sent) = proxy.take_sent_bytes_split();
        assert_eq!(
            now,
            asset_sha(app, &hot, HOT_STACK).await,
            "cdk watch runs its asset"
        );
        if run == 0 {
            continue;
        }
        eprintln!(
            "watch run {run}: quickdeploy {ms:.0} ms {sent} B; cdk watch {hot_ms:.0} ms {hot_sent} B"
        );
        qd_watch.push(ms, sent);
        cdk_watch.push(hot_ms, hot_sent);
    }
    let _ = watcher.kill();
    let _ = watcher.wait();
    drop(cdk_watcher);

    let title = "one-line change in a NodejsFunction (2 MiB bundle), CDK app, moto 5.2.5";
    table(
        &format!("deploy: {title}"),
        runs,
        &mut qd_deploy,
        &mut cdk_deploy,
        "cdk deploy --hotswap",
    );
    table(
        &format!("save to live: {title}"),
        runs,
        &mut qd_watch,
        &mut cdk_watch,
        "cdk watch",
    );
}
