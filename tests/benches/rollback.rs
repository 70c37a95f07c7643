//! `quickdeploy rollback` of 10 functions against `quickdeploy full` of the previous commit,
//! on the same moto: the two ways back to the code that ran before a bad deploy.
//!
//! The app: plain CloudFormation, 10 Python functions, each with its own package (a handler
//! and 512 KiB of incompressible vendored bytes). Commit 1 is deployed by `full`. Each run
//! deploys commit 2 (untimed, `deploy`: all 10 handlers changed), then goes back to commit 1
//! both ways, alternating which goes first:
//!
//! - `rollback --ci`: the 10 functions pointed back at their earlier artifact versions (and
//!   the artifacts restored as current);
//! - `full --yes` of commit 1's files: build nothing, package and upload 10 artifacts, change
//!   set, execute.
//!
//! Each is checked by CodeSha256, never by exit code: every function must report commit 1's
//! (the packaging is deterministic, so both ways give the same CodeSha256s).
//!
//! Run: `make bench-rollback`; `BENCH_RUNS` (default 5).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use testkit::app::{App, PATCHER};
use testkit::bench_app::{bench_runs, code_of, median};
use testkit::noise;
use testkit::rig::{Moto, Patcher};

const STACK: &str = "rollback-bench";
const BUCKET: &str = "rollback-bench-artifacts";
const FUNCTIONS: usize = 10;

fn handler(marker: &str) -> String {
    format!("def handler(event, context):\n    return {{\"marker\": \"{marker}\"}}\n")
}

fn make_app(dir: &Path) {
    let mut template = String::from(
        "AWSTemplateFormatVersion: \"2010-09-09\"\nResources:\n  FnRole:\n    Type: AWS::IAM::Role\n    Properties:\n      AssumeRolePolicyDocument:\n        Version: \"2012-10-17\"\n        Statement:\n          - Effect: Allow\n            Principal: {Service: lambda.amazonaws.com}\n            Action: sts:AssumeRole\n",
    );
    for i in 0..FUNCTIONS {
        template.push_str(&format!(
            "  Fn{i}:\n    Type: AWS::Lambda::Function\n    Properties:\n      Runtime: python3.12\n      Handler: handler.handler\n      Role: !GetAtt FnRole.Arn\n      Code: ./src/f{i}\n"
        ));
        let folder = dir.join(format!("src/f{i}"));
        std::fs::create_dir_all(folder.join("vendor")).expect("mkdir");
        std::fs::write(folder.join("handler.py"), handler("commit-1")).expect("handler");
        std::fs::write(
            folder.join("vendor/lib.bin"),
            noise(100 + i as u64, 512 * 1024),
        )
        .expect("vendored bytes");
    }
    std::fs::write(dir.join("template.yaml"), template).expect("template");
    std::fs::write(
        dir.join("quickdeploy.toml"),
        format!(
            "stack = \"{STACK}\"\ntemplate = \"template.yaml\"\nartifact_bucket = \"{BUCKET}\"\n"
        ),
    )
    .expect("toml");
}

fn write_handlers(app: &App, marker: &str) {
    for i in 0..FUNCTIONS {
        app.write(&format!("src/f{i}/handler.py"), &handler(marker));
    }
}

async fn shas(app: &App, names: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (id, name) in names {
        out.insert(id.clone(), code_of(app, name).await);
    }
    out
}

/// Runs `quickdeploy ARGS --json`: its wall time in ms; panics unless it exits 0.
async fn timed(app: &App, args: &[&str]) -> f64 {
    let t = Instant::now();
    let (out, doc) = app.run_json(args).await;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    assert!(
        out.status.success(),
        "quickdeploy {args:?}: {doc}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ms
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let runs = bench_runs(5);
    let moto = Moto::start();
    let patcher =
        Patcher::start_named(&testkit::bin("zipedit"), &moto.endpoint(), 1, PATCHER).await;
    let source = tempfile::tempdir().expect("tmp");
    make_app(source.path());
    let app = App::from_dir(
        source.path(),
        BUCKET,
        &moto.endpoint(),
        &moto.endpoint(),
        &patcher.invoke_endpoint,
    )
    .await;
    eprintln!("deploying commit 1 (quickdeploy full)...");
    timed(&app, &["full", "--yes"]).await;
    let names: BTreeMap<String, String> = app.stack_functions(STACK).await.into_iter().collect();
    assert_eq!(names.len(), FUNCTIONS);
    let commit_1 = shas(&app, &names).await;

    let (mut rollback_ms, mut full_ms) = (Vec::new(), Vec::new());
    for run in 0..runs {
        for rollback_first in [run % 2 == 0, run % 2 != 0] {
            // Commit 2, the bad deploy: every handler changed.
            write_handlers(&app, &format!("commit-2-run-{run}-{rollback_first}"));
            timed(&app, &["deploy", "--ci"]).await;
            let bad = shas(&app, &names).await;
            assert!(
                bad.iter().all(|(id, sha)| commit_1[id] != *sha),
                "commit 2 is not live"
            );
            let (what, ms) = if rollback_first {
                ("rollback", timed(&app, &["rollback", "--ci"]).await)
            } else {
                write_handlers(&app, "commit-1");
                ("full", timed(&app, &["full", "--yes"]).await)
            };
            assert_eq!(
                shas(&app, &names).await,
                commit_1,
                "{what} run {run}: not every function runs commit 1"
            );
            // The local files go back to commit 1 too (the rollback leaves them alone).
            write_handlers(&app, "commit-1");
            match what {
                "rollback" => rollback_ms.push(ms),
                _ => full_ms.push(ms),
            }
            eprintln!("run {run}: {what} {ms:.0} ms");
        }
    }
    let (r, f) = (median(&mut rollback_ms), median(&mut full_ms));
    println!(
        "\nback to the previous commit, {FUNCTIONS} functions (512 KiB packages), {runs} runs each, moto 5.2.5"
    );
    println!("| way back | median ms | min ms | max ms | ratio |");
    println!("|---|---|---|---|---|");
    println!(
        "| quickdeploy rollback --ci | {r:.0} | {:.0} | {:.0} | {:.1}x faster |",
        rollback_ms[0],
        rollback_ms[rollback_ms.len() - 1],
        f / r
    );
    println!(
        "| quickdeploy full --yes (previous commit) | {f:.0} | {:.0} | {:.0} | 1x |",
        full_ms[0],
        full_ms[full_ms.len() - 1]
    );
}
