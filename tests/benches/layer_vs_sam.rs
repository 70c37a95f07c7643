//! A one-line change in a local layer used by three functions, three ways on the same moto:
//! `quickdeploy deploy` (the quick layer path), `sam sync --code` (which syncs layers), and
//! `quickdeploy full`.
//!
//! The app (SAM): a Python layer, Deps (`layers/deps/python/deps/...`: three modules and
//! 4 x 512 KiB of incompressible data files), used by three functions that share `src/`. Two
//! copies of it are deployed as two stacks on one moto: one by `quickdeploy full`, one by `sam
//! package` + `sam deploy`. Also measured: the deploy history's size after each quickdeploy
//! command (one object each command rewrites whole). Each run changes one line of `words.py` in the layer, with a new
//! marker each time, and runs each tool once (the order rotates from run to run):
//!
//! - `quickdeploy deploy` in quickdeploy's copy. Checked: the report names the version it
//!   published; every user function's `Layers` is exactly that version, which is a new version
//!   of the stack's layer; and that version's CodeSha256 is the SHA-256 of the patched S3
//!   object (read back from the bucket, at the version the report names).
//! - `sam sync --code` in SAM's copy. Checked: every user function's `Layers` is one version of
//!   the stack's layer, a version none of them used before the sync, and that version's
//!   CodeSha256 is that of the zip SAM's own packager makes of the layer's folder.
//! - `quickdeploy full --yes` in quickdeploy's copy. Checked: the stack's layer (its
//!   PhysicalResourceId) is a new version whose CodeSha256 is the one the report gives the
//!   layer's artifact, the zip of the folder as it is now.
//!
//! Bytes sent are the request bodies the counting proxy in front of moto saw, plus, for
//! `quickdeploy deploy`, its Invoke request to the patcher (the patcher's own S3 traffic stays
//! next to S3 and is not counted). Wall time is the whole command, process start to exit.
//!
//! moto gaps, closed as AWS would: moto's CloudFormation drops functions' `Layers`, so after
//! every stack deploy (the first two, and each `full`) the bench gives each function the
//! stack's layer version (UpdateFunctionConfiguration), as CloudFormation would have. The rest
//! the rig's proxy closes for every request that goes through it (both tools', and the bench's
//! stack reads): moto gives a layer version no PhysicalResourceId (the proxy fills it in, and
//! keeps it when `sam sync` deletes that version), and its layer calls take no layer ARN (the
//! proxy passes the name). No alias (moto skips `AWS::Lambda::Alias`).
//!
//! Each function names the layer in its own `Layers`, not through `Globals`: SAM CLI 1.170.0's
//! function provider does not apply `Globals`' `Layers`, so `sam sync` would publish the layer
//! and move no function.
//!
//! Run: `make bench-layer` (installs aws-sam-cli into .rig/sam-venv); `BENCH_RUNS` (default 5).

use std::path::Path;
use std::time::Instant;

use serde_json::Value;
use testkit::app::App;
use testkit::bench_app::{
    BUCKET, QD_STACK, SAM_STACK, SAM_SYNC_CODE, SAM_VERSION, SideBySide, bench_runs, median,
    patched_code_sha256, patcher_request_bytes, require_sam, run_sam, sam_expected_sha,
};
use testkit::noise;

/// The layer's folder, and the file each run changes in it.
const LAYER: &str = "layers/deps";
const CHANGED: &str = "layers/deps/python/deps/words.py";

const TEMPLATE: &str = r#"AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Description: quickdeploy deploy vs sam sync --code vs quickdeploy full, a layer change
Globals:
  Function:
    Runtime: python3.12
    CodeUri: src/
Resources:
  Deps:
    Type: AWS::Serverless::LayerVersion
    Properties:
      CompatibleRuntimes: [python3.12]
      ContentUri: layers/deps/
  Orders:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.orders
      Layers: [!Ref Deps]
  Invoices:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.invoices
      Layers: [!Ref Deps]
  Reports:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.reports
      Layers: [!Ref Deps]
"#;

const APP_PY: &str = r#"from deps.words import greet
from deps.tables import lookup


def orders(event, context):
    return {"greeting": greet("orders"), "rate": lookup(0, 1)}


def invoices(event, context):
    return {"greeting": greet("invoices"), "rate": lookup(1, 2)}


def reports(event, context):
    return {"greeting": greet("reports"), "rate": lookup(2, 3)}
"#;

const TABLES_PY: &str = r#"import os

_HERE = os.path.join(os.path.dirname(__file__), "data")


def lookup(table, offset):
    with open(os.path.join(_HERE, f"table{table}.bin"), "rb") as f:
        f.seek(offset)
        return f.read(1)[0]
"#;

/// The layer module each run changes: only the `MARKER` line differs.
fn words(marker: &str) -> String {
    format!(
        "\"\"\"Greetings the functions share.\"\"\"\n\nGREETING = \"hello\"\nMARKER = \"{marker}\"\n\n\ndef greet(name):\n    return f\"{{GREETING}}, {{name}} ({{MARKER}})\"\n"
    )
}

fn make_app(dir: &Path) {
    let data = dir.join(LAYER).join("python/deps/data");
    std::fs::create_dir_all(&data).expect("mkdir");
    std::fs::create_dir_all(dir.join("src")).expect("mkdir");
    std::fs::write(dir.join("template.yaml"), TEMPLATE).expect("template");
    std::fs::write(dir.join("src/app.py"), APP_PY).expect("app.py");
    let deps = dir.join(LAYER).join("python/deps");
    std::fs::write(deps.join("__init__.py"), "").expect("__init__.py");
    std::fs::write(deps.join("tables.py"), TABLES_PY).expect("tables.py");
    std::fs::write(dir.join(CHANGED), words("start")).expect("words.py");
    for i in 0..4 {
        std::fs::write(
            data.join(format!("table{i}.bin")),
            noise(20 + i, 512 * 1024),
        )
        .expect("data");
    }
    std::fs::write(
        dir.join("quickdeploy.toml"),
        format!(
            "stack = \"{QD_STACK}\"\ntemplate = \"template.yaml\"\nartifact_bucket = \"{BUCKET}\"\n"
        ),
    )
    .expect("toml");
}

/// One copy's stack, as the bench reads it: CloudFormation through the proxy (which gives the
/// layer version its PhysicalResourceId), and the user functions' names.
struct Stack<'a> {
    app: &'a App,
    name: &'static str,
    cfn: aws_sdk_cloudformation::Client,
    functions: Vec<String>,
}

impl<'a> Stack<'a> {
    async fn new(app: &'a App, name: &'static str) -> Self {
        let conf = testkit::rig::sdk_config(&app.endpoint).await;
        let mut functions: Vec<String> = app.stack_functions(name).await.into_values().collect();
        functions.sort();
        assert_eq!(functions.len(), 3, "{name}: {functions:?}");
        Self {
            app,
            name,
            cfn: aws_sdk_cloudformation::Client::new(&conf),
            functions,
        }
    }

    /// The layer version the stack holds (its `AWS::Lambda::LayerVersion`'s physical id).
    async fn layer(&self) -> String {
        let resources = self
            .cfn
            .describe_stack_resources()
            .stack_name(self.name)
            .send()
            .await
            .expect("describe_stack_resources");
        resources
            .stack_resources()
            .iter()
            .find(|r| r.resource_type() == Some("AWS::Lambda::LayerVersion"))
            .and_then(|r| r.physical_resource_id())
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| panic!("{}: no layer version in {resources:?}", self.name))
            .to_owned()
    }

    /// moto gap: its CloudFormation drops functions' `Layers`. Gives every function the
    /// stack's layer version, as CloudFormation would have.
    async fn give_layers(&self) {
        let layer = self.layer().await;
        for f in &self.functions {
            self.app
                .lambda
                .update_function_configuration()
                .function_name(f)
                .layers(&layer)
                .send()
                .await
                .expect("moto gap: Layers as CloudFormation sets them");
        }
    }

    /// Each user function's `Layers`.
    async fn users_layers(&self) -> Vec<Vec<String>> {
        let mut out = vec![];
        for f in &self.functions {
            let c = self
                .app
                .lambda
                .get_function_configuration()
                .function_name(f)
                .send()
                .await
                .expect("get_function_configuration");
            out.push(
                c.layers()
                    .iter()
                    .filter_map(|l| l.arn())
                    .map(str::to_owned)
                    .collect(),
            );
        }
        out
    }

    /// The one layer version every user function runs; panics unless they all run exactly one,
    /// the same.
    async fn users_layer(&self) -> String {
        let all = self.users_layers().await;
        match all.first() {
            Some(first) if first.len() == 1 && all.iter().all(|l| l == first) => first[0].clone(),
            _ => panic!(
                "{}: the users do not run one layer version: {all:?}",
                self.name
            ),
        }
    }

    /// A layer version's CodeSha256, as Lambda (moto) reports it.
    async fn layer_sha(&self, arn: &str) -> String {
        let (layer, version) = arn.rsplit_once(':').expect("a layer version ARN");
        let name = layer.rsplit(':').next().expect("a layer name");
        self.app
            .lambda
            .get_layer_version()
            .layer_name(name)
            .version_number(version.parse().expect("a version number"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("get_layer_version {arn}: {e:?}"))
            .content()
            .and_then(|c| c.code_sha256())
            .unwrap_or_default()
            .to_owned()
    }
}

/// The ARN without its version.
fn unversioned(arn: &str) -> &str {
    arn.rsplit_once(':').map_or(arn, |(layer, _)| layer)
}

#[derive(Clone, Copy, PartialEq)]
enum Tool {
    Deploy,
    Sync,
    Full,
}

impl Tool {
    fn label(self) -> &'static str {
        match self {
            Tool::Deploy => "quickdeploy deploy",
            Tool::Sync => "sam sync --code",
            Tool::Full => "quickdeploy full",
        }
    }
}

/// Everything the bench drives: the rig, both stacks, and SAM's sync command.
struct Bench<'a> {
    rig: &'a SideBySide,
    qd: Stack<'a>,
    sam: Stack<'a>,
    sync_args: [&'static str; 8],
}

impl Bench<'_> {
    /// The size of quickdeploy's deploy history, one object that each `deploy` and `full`
    /// rewrites whole: part of the bytes they send, growing with each entry (up to 200).
    async fn history_bytes(&self) -> u64 {
        let key = quickdeploy::history::store::key(QD_STACK);
        let head = self
            .rig
            .qd
            .s3
            .head_object()
            .bucket(BUCKET)
            .key(&key)
            .send()
            .await;
        head.expect("the deploy history")
            .content_length()
            .unwrap_or(0) as u64
    }

    /// Changes the layer's line to `marker` in the tool's copy, runs the tool, checks what it
    /// did: its wall time in ms, the bytes it sent, and of those, the history's.
    async fn run(&self, tool: Tool, marker: &str) -> (f64, u64, u64) {
        let proxy = self.rig.proxy.as_ref().expect("the counting proxy");
        let copy = if tool == Tool::Sync {
            &self.sam
        } else {
            &self.qd
        };
        copy.app.write(CHANGED, &words(marker));
        let before = copy.users_layer().await;
        let stack_before = copy.layer().await;
        proxy.take_sent_bytes();
        let t = Instant::now();
        match tool {
            Tool::Deploy => {
                let (out, doc) = self.rig.qd.run_json(&["deploy"]).await;
                let ms = t.elapsed().as_secs_f64() * 1e3;
                let sent = proxy.take_sent_bytes() + patcher_request_bytes(&doc);
                assert!(out.status.success(), "quickdeploy deploy: {doc}");
                self.check_deploy(&doc, &before).await;
                (ms, sent, self.history_bytes().await)
            }
            Tool::Sync => {
                let (ok, ms, text) =
                    run_sam(&self.rig.sam, self.rig.sam_home.path(), &self.sync_args, "");
                let sent = proxy.take_sent_bytes();
                assert!(ok, "sam sync failed:\n{text}");
                self.check_sync(&before, &text).await;
                (ms, sent, 0)
            }
            Tool::Full => {
                let (out, doc) = self.rig.qd.run_json(&["full", "--yes"]).await;
                let ms = t.elapsed().as_secs_f64() * 1e3;
                let sent = proxy.take_sent_bytes();
                assert!(out.status.success(), "quickdeploy full: {doc}");
                self.check_full(&doc, &stack_before).await;
                (ms, sent, self.history_bytes().await)
            }
        }
    }

    /// Every user runs the version the report says it published: a new version of the
    /// stack's layer, made from the patched S3 object.
    async fn check_deploy(&self, doc: &Value, before: &str) {
        let published = doc["artifacts"]
            .as_array()
            .and_then(|a| a.iter().find_map(|x| x["layers"][0]["published"].as_str()))
            .unwrap_or_else(|| panic!("no layer version published: {doc}"));
        let now = self.qd.users_layer().await;
        assert_eq!(now, published, "the users run the published version: {doc}");
        assert!(
            now != before && unversioned(&now) == unversioned(before),
            "a new version of the same layer: {now} (before {before})"
        );
        let expected = patched_code_sha256(&self.rig.qd, doc).await;
        assert_eq!(
            self.qd.layer_sha(&now).await,
            expected,
            "{now} is the patched artifact"
        );
    }

    /// Every user runs one new version of the stack's layer, made from SAM's zip of the
    /// layer's folder.
    async fn check_sync(&self, before: &str, text: &str) {
        let now = self.sam.users_layer().await;
        assert!(
            now != before && unversioned(&now) == unversioned(before),
            "sam sync: a new version of the same layer: {now} (before {before})\n{text}"
        );
        let expected = sam_expected_sha(&self.rig.sam.root().join(LAYER));
        assert_eq!(
            self.sam.layer_sha(&now).await,
            expected,
            "sam sync: {now} is SAM's zip of the layer folder\n{text}"
        );
    }

    /// The stack holds a new layer version, made from the artifact `full` packaged; then the
    /// users get it (moto gap), so the next `deploy` starts from a stack as AWS would leave it.
    async fn check_full(&self, doc: &Value, stack_before: &str) {
        let packaged = doc["artifacts"]
            .as_array()
            .and_then(|a| {
                a.iter()
                    .find(|x| x["layers"].as_array().is_some_and(|l| !l.is_empty()))
            })
            .and_then(|x| x["code_sha256"].as_str())
            .unwrap_or_else(|| panic!("no layer artifact: {doc}"));
        let now = self.qd.layer().await;
        assert_ne!(
            now, stack_before,
            "full: the stack holds a new layer version: {doc}"
        );
        assert_eq!(
            self.qd.layer_sha(&now).await,
            packaged,
            "full: {now}: {doc}"
        );
        self.qd.give_layers().await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    require_sam("bench-layer");
    let runs = bench_runs(5);
    let rig = SideBySide::deployed_app(true, make_app, "Orders").await;
    let bench = Bench {
        rig: &rig,
        qd: Stack::new(&rig.qd, QD_STACK).await,
        sam: Stack::new(&rig.sam, SAM_STACK).await,
        sync_args: SAM_SYNC_CODE,
    };
    bench.qd.give_layers().await;
    bench.sam.give_layers().await;

    // Warm-up, untimed: SAM asks once whether this is a development stack.
    let before = bench.sam.users_layer().await;
    bench.sam.app.write(CHANGED, &words("warm-up"));
    let (ok, _, text) = run_sam(&rig.sam, rig.sam_home.path(), &bench.sync_args, "y\n");
    assert!(ok, "sam sync warm-up failed:\n{text}");
    bench.check_sync(&before, &text).await;
    for tool in [Tool::Deploy, Tool::Full] {
        bench.run(tool, &format!("warm-up-{}", tool.label())).await;
    }

    let tools = [Tool::Deploy, Tool::Sync, Tool::Full];
    let mut ms: [Vec<f64>; 3] = Default::default();
    let mut bytes: [Vec<f64>; 3] = Default::default();
    let mut history: [Vec<f64>; 3] = Default::default();
    for run in 0..runs {
        let mut order = [0, 1, 2];
        order.rotate_left(run % 3);
        for i in order {
            let tool = tools[i];
            let marker = format!("run-{run}-{i}-{}", std::process::id());
            let (t, sent, hist) = bench.run(tool, &marker).await;
            eprintln!(
                "run {run}: {:<18} {t:.0} ms, {sent} bytes sent ({hist} the history)",
                tool.label()
            );
            ms[i].push(t);
            bytes[i].push(sent as f64);
            history[i].push(hist as f64);
        }
    }

    let med: Vec<(f64, f64, f64, f64)> = (0..3)
        .map(|i| {
            let m = median(&mut ms[i]);
            (m, ms[i][0], median(&mut bytes[i]), median(&mut history[i]))
        })
        .collect();
    let (sam_ms, sam_bytes) = (med[1].0, med[1].2);
    println!(
        "\none-line change in a 2 MiB layer used by 3 functions, {runs} runs each, moto 5.2.5, \
         aws-sam-cli {SAM_VERSION}"
    );
    println!(
        "| tool | median ms | min ms | median bytes sent | of which the history | time vs sam sync | bytes vs sam sync |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (i, tool) in tools.iter().enumerate() {
        let (m, min, b, h) = med[i];
        println!(
            "| {} | {m:.0} | {min:.0} | {b:.0} | {h:.0} | {:.2}x | {:.4}x |",
            tool.label(),
            m / sam_ms,
            b / sam_bytes.max(1.0)
        );
    }
    println!(
        "quickdeploy deploy vs sam sync --code: {:.1}x less time, {:.0}x fewer bytes; \
         vs quickdeploy full: {:.1}x less time, {:.0}x fewer bytes",
        sam_ms / med[0].0,
        sam_bytes / med[0].2.max(1.0),
        med[2].0 / med[0].0,
        med[2].2 / med[0].2.max(1.0)
    );
}
