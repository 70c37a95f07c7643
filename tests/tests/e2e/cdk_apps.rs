//! CDK apps end to end (issue 24): the `quickdeploy` CLI as a process in a copy of the CDK test
//! app (`tests/apps/cdk-app`), on the rig with the real patcher, the app's own CDK CLI doing
//! the bootstrap and the CDK's deploys. One story on one rig (one bootstrap), as a user goes
//! through it: full via the CDK's deploy, verified; one-line handler changes on the quick path
//! with no synth; the shared module; a copied asset; the CDK's asset objects left as they are;
//! status; rollback; watch; `lib/` changes (code-only, then a template change: exit 3 without
//! consent, the CDK's deploy with `--yes`, hot patches put back on their assets). Then a stack
//! not bootstrapped for the CDK, and `init` (last: it is being built beside these tests).
//! Beside it, a story on the second stack's NestedStack: its function quick-deployed as the
//! parent's own, named by its construct path in `history` and `rollback`, a change to its
//! template the CDK's deploy, then status and history clean.
//!
//! Times on this machine (2 cores, other builds running, `cdk_apps::` alone): about 65 s for
//! the module, the story 50 to 63 s (the bootstrap about 7 s, the first full about 15 to 30 s),
//! the other two about 12 s each, side by side with it.
//!
//! The synth is proven not to run: quickdeploy.toml's `synth` appends a line to a file outside
//! the app before synthesizing, and the record's modification time is checked too.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;
use testkit::cdk::{ASSETS_BUCKET, CdkRig, blocking, cdk_endpoint};

use crate::watch::Watch;

/// The stack quickdeploy deploys (the app's first; the second is the CDK's alone here).
const STACK: &str = "QdCdkApi";
/// quickdeploy's artifact bucket for the app.
const BUCKET: &str = "qd-cdk-artifacts";
const GET_ONE: &str = "getOneItemFunctionE3257B22";
const LIST: &str = "listItemsFunction";
const HELLO: &str = "helloPyFunction5B268986";

/// A CDK rig ready for quickdeploy: the artifact bucket, quickdeploy.toml naming the stack and
/// a `synth` that logs each run into `synth_log` (outside the app), and the CLI pointed at the
/// proxy as `http://127.0.0.1:PORT` (the form the CDK it runs needs).
struct QdCdk {
    rig: CdkRig,
    synth_log: PathBuf,
    _scratch: tempfile::TempDir,
}

impl QdCdk {
    async fn start() -> Self {
        Self::start_for(STACK).await
    }

    /// [`QdCdk::start`] with quickdeploy.toml naming `stack`.
    async fn start_for(stack: &str) -> Self {
        let mut rig = CdkRig::start().await;
        rig.rig.app.endpoint = cdk_endpoint(&rig.rig.app.endpoint);
        testkit::rig::make_bucket(&rig.rig.app.s3, BUCKET, true).await;
        let scratch = tempfile::tempdir().expect("tmp");
        let synth_log = scratch.path().join("synth.log");
        rig.rig.app.write(
            "quickdeploy.toml",
            &format!(
                "stack = \"{stack}\"\nartifact_bucket = \"{BUCKET}\"\n\
                 synth = \"echo ran >> {} && npx --no-install cdk synth --quiet\"\n",
                synth_log.display()
            ),
        );
        Self {
            rig,
            synth_log,
            _scratch: scratch,
        }
    }

    fn app(&self) -> &testkit::app::App {
        &self.rig.rig.app
    }

    /// How many times the synth command ran.
    fn synths(&self) -> usize {
        std::fs::read_to_string(&self.synth_log)
            .unwrap_or_default()
            .lines()
            .count()
    }

    /// `quickdeploy ARGS --json` with the CDK's own checks off (nothing leaves the machine).
    async fn run(&self, args: &[&str]) -> (Option<i32>, Value, String) {
        let mut all: Vec<&str> = args.to_vec();
        all.push("--json");
        let mut cmd = self.app().command(&all);
        cmd.env("CDK_DISABLE_VERSION_CHECK", "1")
            .env("CDK_DISABLE_CLI_TELEMETRY", "true");
        let out = tokio::task::spawn_blocking(move || cmd.output().expect("run quickdeploy"))
            .await
            .expect("join");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "quickdeploy {args:?} printed no JSON ({e}); exit {:?}\nstdout: {}\nstderr: {stderr}",
                out.status.code(),
                String::from_utf8_lossy(&out.stdout),
            )
        });
        (out.status.code(), doc, stderr)
    }

    /// [`QdCdk::run`], which must exit 0.
    async fn ok(&self, args: &[&str]) -> Value {
        let (code, doc, stderr) = self.run(args).await;
        assert_eq!(code, Some(0), "quickdeploy {args:?}: {doc}\n{stderr}");
        doc
    }

    /// The stack's functions' CodeSha256 by logical id.
    async fn live(&self) -> HashMap<String, String> {
        let names = self.app().stack_functions(STACK).await;
        self.app().code_shas_of(&names).await
    }

    /// A function's MemorySize by logical id.
    async fn memory(&self, id: &str) -> Option<i32> {
        let name = self.app().stack_functions(STACK).await.remove(id)?;
        self.app()
            .lambda
            .get_function_configuration()
            .function_name(name)
            .send()
            .await
            .expect("get_function_configuration")
            .memory_size()
    }

    /// Every function of the stack runs the asset its synthesized template names.
    async fn on_assets(&self, step: &str) {
        let live = self.live().await;
        let assets = self.rig.asset_shas(STACK).await;
        let mut functions = 0;
        for (id, sha) in &live {
            functions += 1;
            assert_eq!(
                assets.get(id),
                Some(sha),
                "{step}: {id} does not run its asset; live {live:?}, assets {assets:?}"
            );
        }
        assert_eq!(functions, 3, "{step}: getOne, list, helloPy: {live:?}");
    }

    /// The ETag of each of the CDK's asset objects the template names.
    async fn asset_etags(&self) -> HashMap<String, String> {
        let mut out = HashMap::new();
        for (_, key) in self.rig.cdk.asset_keys(STACK) {
            let head = self
                .app()
                .s3
                .head_object()
                .bucket(ASSETS_BUCKET)
                .key(&key)
                .send()
                .await
                .expect("head the CDK's asset");
            out.insert(key, head.e_tag().unwrap_or_default().to_owned());
        }
        out
    }

    /// Replaces `from` by `to` in the app's file `rel` (which must change).
    fn edit(&self, rel: &str, from: &str, to: &str) {
        let path = self.app().path(rel);
        let text = std::fs::read_to_string(&path).expect("read");
        let edited = text.replacen(from, to, 1);
        assert_ne!(text, edited, "the edit of {rel} applies");
        std::fs::write(&path, edited).expect("edit");
    }
}

/// The logical ids a deploy report says it updated, sorted; by prefix for the ones whose hash
/// suffix the test does not pin.
fn updated(doc: &Value) -> Vec<String> {
    let mut ids: Vec<String> = doc["functions"]
        .as_array()
        .map(|fs| {
            fs.iter()
                .filter(|f| f["status"] == "updated")
                .filter_map(|f| f["logical_id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

fn starts(ids: &[String], prefixes: &[&str]) -> bool {
    ids.len() == prefixes.len() && ids.iter().zip(prefixes).all(|(id, p)| id.starts_with(p))
}

/// What the deploy sent to the patcher in all.
fn request_bytes(doc: &Value) -> u64 {
    doc["artifacts"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["request_bytes"].as_u64()).sum())
        .unwrap_or(0)
}

fn mtime(path: &Path) -> SystemTime {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// Long: one story on one rig, each step building on the one before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cdk_app_full_quick_watch_rollback_and_back_to_the_cdk() {
    let started = Instant::now();
    let qd = QdCdk::start().await;
    let app = qd.app();
    blocking(|| qd.rig.cdk.bootstrap()).assert_ok();
    // A bundle of a real size (the test app's are about 1 KB): 256 KB of table that get-one
    // imports, so that a one-line change is visibly small against its bundle.
    let table: String = testkit::noise(24, 128 * 1024)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    app.write(
        "lambdas/shared/table.ts",
        &format!("export const TABLE = '{table}';\n"),
    );
    qd.edit(
        "lambdas/get-one.ts",
        "import { greeting, reply } from './shared/format';",
        "import { greeting, reply } from './shared/format';\nimport { TABLE } from './shared/table';",
    );
    qd.edit(
        "lambdas/get-one.ts",
        "item: id,",
        "item: id, size: TABLE.length,",
    );

    // Full: the CDK's own deploy of a fresh synth, then every function read back.
    let doc = qd.ok(&["full", "--yes"]).await;
    assert_eq!(doc["outcome"], "deployed", "{doc}");
    assert_eq!(qd.synths(), 1, "full synthesized once");
    qd.on_assets("after full").await;
    let record = app.path(".quickdeploy/cdk/record.json");
    let recorded = mtime(&record);
    let etags = qd.asset_etags().await;
    let zip_size = {
        let key = &qd.rig.cdk.asset_keys(STACK)[GET_ONE];
        app.object_in(ASSETS_BUCKET, key, None).await.len() as u64
    };
    eprintln!("full: {:.1?}", started.elapsed());

    // One line in one handler: only its function, no synth, a patch the size of the change.
    let before = qd.live().await;
    qd.edit(
        "lambdas/get-one.ts",
        "greeting('get-one')",
        "greeting('get-one, edited')",
    );
    let doc = qd.ok(&["deploy"]).await;
    assert_eq!(doc["outcome"], "deployed", "{doc}");
    assert!(doc.get("synthesized").is_none_or(Value::is_null), "{doc}");
    assert_eq!(updated(&doc), [GET_ONE], "{doc}");
    assert_eq!(qd.synths(), 1, "no synth for a handler's line");
    assert_eq!(mtime(&record), recorded, "the record was not rewritten");
    let sent = request_bytes(&doc);
    eprintln!("one line in get-one: {sent} bytes sent, bundle zip {zip_size} bytes");
    assert!(
        sent > 0 && sent < 8_000 && sent * 10 < zip_size,
        "sent {sent} bytes for a one-line change to a {zip_size}-byte bundle: {doc}"
    );
    let after = qd.live().await;
    for (id, sha) in &before {
        assert_eq!(
            after[id] != *sha,
            id == GET_ONE,
            "{id}: before {before:?}, after {after:?}"
        );
    }
    let own: Vec<String> = app.keys(BUCKET, &format!("quickdeploy/cdk/{STACK}/")).await;
    assert!(
        own.iter().any(|k| k.ends_with(".zip")),
        "quickdeploy's own copy of the asset: {own:?}"
    );

    // The shared module: both functions that import it.
    qd.edit(
        "lambdas/shared/format.ts",
        "`hello ${name}`",
        "`hi ${name}`",
    );
    let doc = qd.ok(&["deploy"]).await;
    assert!(starts(&updated(&doc), &[GET_ONE, LIST]), "{doc}");
    // A copied asset (Code.fromAsset): its folder is the package.
    qd.edit(
        "functions/hello-py/app.py",
        "\"hello-py\"",
        "\"hello-py, edited\"",
    );
    let doc = qd.ok(&["deploy"]).await;
    assert_eq!(updated(&doc), [HELLO], "{doc}");
    assert_eq!(qd.synths(), 1, "no synth for asset sources");
    assert_eq!(
        qd.asset_etags().await,
        etags,
        "the CDK's asset objects are what their keys say"
    );

    // status: the hot patches are drift from the assets.
    let status = qd.ok(&["status"]).await;
    let hot = status["hot_patched"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    assert!(
        hot.contains_key(GET_ONE) && hot.contains_key(HELLO),
        "{status}"
    );

    // rollback: helloPy's change undone.
    let patched_hello = qd.live().await[HELLO].clone();
    let before_hello = after[HELLO].clone();
    let doc = qd.ok(&["rollback", "--ci"]).await;
    let now = qd.live().await;
    assert_eq!(now[HELLO], before_hello, "rolled back: {doc}");
    assert_ne!(now[HELLO], patched_hello);

    // watch: a save goes live.
    {
        let watch = Watch::start(app, &[]).await;
        let before = qd.live().await[GET_ONE].clone();
        qd.edit("lambdas/get-one.ts", "edited", "watched");
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut rounds = Vec::new();
        while Instant::now() < deadline && qd.live().await[GET_ONE] == before {
            if let Some(r) = watch.next(Duration::from_millis(200)) {
                rounds.push(r);
            }
        }
        assert_ne!(
            qd.live().await[GET_ONE],
            before,
            "watch deployed the save: {rounds:?}"
        );
    }
    assert_eq!(qd.synths(), 1, "watch did not synthesize");

    // lib/, code only: synthesized, nothing for the template.
    qd.edit(
        "lib/api-stack.js",
        "class ApiStack",
        "// a comment\nclass ApiStack",
    );
    let doc = qd.ok(&["deploy"]).await;
    assert_eq!(qd.synths(), 2, "a change in lib/ synthesizes: {doc}");
    assert!(doc["synthesized"].is_string(), "why it synthesized: {doc}");

    // lib/, a template change: without a terminal or --yes, nothing runs (exit 3).
    qd.edit("lib/api-stack.js", "memorySize: 256", "memorySize: 512");
    let live_before = qd.live().await;
    let (code, doc, stderr) = qd.run(&["deploy"]).await;
    assert_eq!(code, Some(3), "{doc}\n{stderr}");
    assert_eq!(doc["outcome"], "needs-full", "{doc}");
    assert_eq!(qd.memory(GET_ONE).await, Some(256));
    assert_eq!(qd.live().await, live_before, "nothing deployed");

    // With --yes: the CDK's deploy, and the hot patches put back on their assets.
    let doc = qd.ok(&["deploy", "--yes"]).await;
    assert_eq!(doc["outcome"], "full", "{doc}");
    assert_eq!(qd.memory(GET_ONE).await, Some(512));
    qd.on_assets("after the fallback to the CDK's deploy").await;
    let status = qd.ok(&["status"]).await;
    assert!(
        status["hot_patched"]
            .as_object()
            .is_none_or(serde_json::Map::is_empty),
        "no drift after full: {status}"
    );

    // And `full` itself after a quick deploy: the function back on the CDK's (new) asset.
    qd.edit("lambdas/get-one.ts", "watched", "fully");
    let doc = qd.ok(&["deploy"]).await;
    assert_eq!(updated(&doc), [GET_ONE], "{doc}");
    let status = qd.ok(&["status"]).await;
    assert!(status["hot_patched"].get(GET_ONE).is_some(), "{status}");
    let doc = qd.ok(&["full", "--yes"]).await;
    assert_eq!(doc["outcome"], "deployed", "{doc}");
    qd.on_assets("after full").await;
    let status = qd.ok(&["status"]).await;
    assert!(
        status["hot_patched"]
            .as_object()
            .is_none_or(serde_json::Map::is_empty),
        "no drift after full: {status}"
    );
    // history: each step of the story, newest first, read back from the CDK stack's record.
    let history = qd.ok(&["history"]).await;
    let kinds: Vec<&str> = history["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(kinds.first(), Some(&"full"), "{history}");
    assert_eq!(kinds.last(), Some(&"full"), "the first full: {history}");
    assert!(
        kinds.contains(&"quick") && kinds.contains(&"rollback"),
        "{kinds:?}: {history}"
    );
    eprintln!("story: {:.1?}", started.elapsed());
}

/// The nested stack's function, as quickdeploy names it: the NestedStack's construct id and
/// the function's logical id in the nested template.
const REPORT: &str = "Reports/reportFunction5A0E5255";
const JOBS: &str = "QdCdkJobs";

impl QdCdk {
    /// The nested function's physical name, as its nested stack names it now.
    async fn report(&self) -> String {
        let names = self.rig.nested_functions(JOBS).await;
        assert_eq!(names.len(), 1, "one nested function: {names:?}");
        names.into_values().next().unwrap_or_default()
    }

    async fn report_config(
        &self,
    ) -> aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput {
        self.app()
            .lambda
            .get_function_configuration()
            .function_name(self.report().await)
            .send()
            .await
            .expect("get_function_configuration")
    }
}

/// The construct path a report gives a function, by logical id.
fn construct_path<'a>(doc: &'a Value, id: &str) -> Option<&'a str> {
    doc["functions"]
        .as_array()?
        .iter()
        .find(|f| f["logical_id"] == id)?["construct_path"]
        .as_str()
}

// Long: one story on one rig (a nested stack: full, quick, status, history, rollback, back to
// the CDK's deploy).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nested_stacks_function_deploys_as_its_parents_own() {
    let started = Instant::now();
    let qd = QdCdk::start_for(JOBS).await;
    blocking(|| qd.rig.cdk.bootstrap()).assert_ok();
    let doc = qd.ok(&["full", "--yes"]).await;
    let verified: Vec<&str> = doc["verified"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["logical_id"].as_str())
        .collect();
    assert!(
        verified.contains(&REPORT),
        "the nested function read back: {doc}"
    );
    assert_eq!(verified.len(), 2, "worker and report: {doc}");
    assert_eq!(qd.synths(), 1);

    // One line in the nested handler: that function alone, no synth, as the parent's own.
    let before = qd.report_config().await;
    qd.edit("lambdas/report.ts", "'daily'", "'weekly'");
    let doc = qd.ok(&["deploy"]).await;
    assert_eq!(updated(&doc), [REPORT], "{doc}");
    assert_eq!(
        construct_path(&doc, REPORT),
        Some("QdCdkJobs/Reports/reportFunction"),
        "{doc}"
    );
    assert_eq!(qd.synths(), 1, "no synth for a nested handler's line");
    let patched = qd.report_config().await;
    assert_ne!(
        patched.code_sha256(),
        before.code_sha256(),
        "the nested function moved"
    );

    // status: its hot patch is drift; history and rollback name it by its construct path.
    let status = qd.ok(&["status"]).await;
    assert!(status["hot_patched"].get(REPORT).is_some(), "{status}");
    assert_eq!(
        construct_path(&status, REPORT),
        Some("QdCdkJobs/Reports/reportFunction"),
        "{status}"
    );
    let kinds = |doc: &Value| -> Vec<String> {
        doc["entries"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["kind"].as_str().map(str::to_owned))
            .collect()
    };
    let history = qd
        .ok(&["history", "--function", "Reports/reportFunction"])
        .await;
    assert_eq!(kinds(&history), ["quick", "full"], "{history}");
    let worker = qd
        .ok(&["history", "--function", "QdCdkJobs/workerFunction"])
        .await;
    assert_eq!(
        kinds(&worker),
        ["full"],
        "the worker was not quick-deployed: {worker}"
    );
    let doc = qd
        .ok(&[
            "rollback",
            "--ci",
            "--function",
            "QdCdkJobs/Reports/reportFunction",
        ])
        .await;
    assert_eq!(updated(&doc), [REPORT], "{doc}");
    assert_eq!(
        qd.report_config().await.code_sha256(),
        before.code_sha256(),
        "rolled back: {doc}"
    );

    // The shared module: the nested function imports it, the parent's worker does not.
    qd.edit(
        "lambdas/shared/format.ts",
        "`hello ${name}`",
        "`hi ${name}`",
    );
    let doc = qd.ok(&["deploy"]).await;
    assert_eq!(updated(&doc), [REPORT], "{doc}");
    assert_eq!(qd.synths(), 1, "no synth for the shared module");

    // A change in the nested template that is not only asset hashes: the CDK's deploy, and
    // the hot patch reconciled.
    qd.edit(
        "lib/jobs-stack.js",
        "entry: path.join(root, 'lambdas', 'report.ts'),",
        "entry: path.join(root, 'lambdas', 'report.ts'),\n      memorySize: 512,",
    );
    let (code, doc, stderr) = qd.run(&["deploy"]).await;
    assert_eq!(code, Some(3), "{doc}\n{stderr}");
    assert!(
        doc["needs_full"].to_string().contains(REPORT),
        "names the nested function: {doc}"
    );
    let doc = qd.ok(&["deploy", "--yes"]).await;
    assert_eq!(doc["outcome"], "full", "{doc}");
    assert_eq!(qd.report_config().await.memory_size(), Some(512));
    let status = qd.ok(&["status"]).await;
    assert!(
        status["hot_patched"]
            .as_object()
            .is_none_or(serde_json::Map::is_empty),
        "no drift after the CDK's deploy: {status}"
    );
    let actions: Vec<&Value> = status["functions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| &f["action"])
        .collect();
    assert!(
        actions.len() == 2 && actions.iter().all(|a| *a == "none"),
        "{status}"
    );
    let history = qd.ok(&["history"]).await;
    assert_eq!(
        history["entries"][0]["kind"], "full",
        "the CDK's deploy recorded: {history}"
    );
    eprintln!("nested story: {:.1?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_not_bootstrapped_for_the_cdk_is_a_clear_error() {
    let qd = QdCdk::start().await;
    let (code, doc, stderr) = qd.run(&["full", "--yes"]).await;
    assert_ne!(code, Some(0), "{doc}\n{stderr}");
    // quickdeploy's fix, and the CDK's own reason (the bootstrap's version parameter), shown.
    assert!(
        stderr.contains("run `npx cdk bootstrap`")
            && stderr.contains("/cdk-bootstrap/hnb659fds/version not found"),
        "the error names the bootstrap and why: {doc}\n{stderr}"
    );
    assert!(
        app_stack_absent(&qd).await,
        "nothing deployed: {doc}\n{stderr}"
    );
}

async fn app_stack_absent(qd: &QdCdk) -> bool {
    qd.app()
        .cfn
        .describe_stacks()
        .stack_name(STACK)
        .send()
        .await
        .is_err()
}

// Last: `init` for a CDK app is being written beside these tests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_lists_the_stacks_and_functions_of_a_cdk_app() {
    let qd = QdCdk::start().await;
    let app = qd.app();
    std::fs::remove_file(app.path("quickdeploy.toml")).expect("rm quickdeploy.toml");
    blocking(|| qd.rig.cdk.synth()).assert_ok();
    let out = app.run(&["init", "--bucket", BUCKET]).await;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{said}");
    for name in [
        "QdCdkApi",
        "QdCdkJobs",
        "getOneItemFunction",
        "listItemsFunction",
        "helloPyFunction",
        "workerFunction",
        "QdCdkJobs/Reports/reportFunction",
    ] {
        assert!(said.contains(name), "init names {name}:\n{said}");
    }
    let toml = std::fs::read_to_string(app.path("quickdeploy.toml")).expect("init wrote it");
    assert!(toml.contains("QdCdkApi"), "{toml}");
}
