//! `quickdeploy history` end to end: the example app deployed into moto by `quickdeploy full`
//! and changed with `quickdeploy deploy` (the real zipedit binary behind the Lambda Invoke
//! API), every command a process, every call through the proxy in front of moto. What each
//! entry records (when, who by STS, the git commit and dirty flag, the files, each artifact's
//! versions, each function), the timeline's filters, `status`'s last change per function,
//! and two machines appending at once: both patch and append from this machine (`--local`,
//! with the `zipedit::records` functions the patcher runs, so the writes pass the proxy), the
//! proxy holds both history writes
//! until both have arrived, then lets them through one at a time (moto alone would let them
//! interleave), so the second is refused by its If-Match and appends again. (Two patcher
//! instances racing are `records::`.)

use std::path::Path;
use std::process::Output;

use serde_json::Value;
use testkit::app::{App, Rig};

const GREETING_A: &str = "def greeting(name):\n    return f\"Hi there, {name}!\"\n";
const GREETING_C: &str = "def greeting(name):\n    return f\"Good day, {name}.\"\n";
const REPORT_B: &str = "def handler(event, context):\n    return {\"report\": \"v2\"}\n";
/// moto's caller identity.
const MOTO_ARN: &str = "arn:aws:sts::123456789012:user/moto";

fn exit(out: &Output) -> Option<i32> {
    out.status.code()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn git(root: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
        .args(args)
        .current_dir(root)
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

async fn history(app: &App, args: &[&str]) -> Value {
    let mut all = vec!["history"];
    all.extend_from_slice(args);
    let (out, doc) = app.run_json(&all).await;
    assert_eq!(exit(&out), Some(0), "{doc}\n{}", stderr(&out));
    doc
}

fn ids(doc: &Value) -> Vec<u64> {
    doc["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["id"].as_u64())
        .collect()
}

/// The logical ids an entry changed, sorted.
fn changed(entry: &Value) -> Vec<String> {
    let mut out: Vec<String> = entry["functions"]
        .as_array()
        .expect("functions")
        .iter()
        .filter(|f| f["change"] == "updated")
        .filter_map(|f| f["logical_id"].as_str().map(str::to_owned))
        .collect();
    out.sort();
    out
}

fn shared(entry: &Value) -> &Value {
    entry["artifacts"]
        .as_array()
        .and_then(|a| {
            a.iter().find(|x| {
                x["artifact"]
                    .as_str()
                    .is_some_and(|n| n.ends_with("src-shared.zip"))
            })
        })
        .unwrap_or_else(|| panic!("no shared artifact in {entry}"))
}

// Long: what one entry of each kind records, field by field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_is_recorded_with_who_where_and_what() {
    let rig = Rig::start().await;
    let app = &rig.app;
    git(app.root(), &["init", "-q"]);
    git(app.root(), &["add", "-A"]);
    git(app.root(), &["commit", "-qm", "the example app"]);
    let head = git(app.root(), &["rev-parse", "HEAD"]);

    let (out, doc) = app.run_json(&["full", "--yes"]).await;
    assert_eq!(exit(&out), Some(0), "{doc}");
    app.write("src/shared/greeting.py", GREETING_A);
    let (out, deployed) = app.run_json(&["deploy", "--ci"]).await;
    assert_eq!(exit(&out), Some(0), "{deployed}");
    // Written by the patcher, next to S3, from a frame of a few hundred bytes.
    assert_eq!(deployed["recorded"]["by"], "patcher", "{deployed}");
    let sent = deployed["recorded"]["request_bytes"]
        .as_u64()
        .unwrap_or(u64::MAX);
    assert!(sent < 1_000, "{sent} bytes: {deployed}");
    // Nothing to deploy changes nothing, and is not recorded.
    let (out, doc) = app.run_json(&["deploy", "--ci"]).await;
    assert_eq!(
        (exit(&out), doc["outcome"].as_str()),
        (Some(0), Some("nothing-to-deploy"))
    );

    let doc = history(app, &[]).await;
    assert_eq!(ids(&doc), [2, 1], "{doc}");
    assert_eq!(doc["kept"], 2);
    let (quick, full) = (&doc["entries"][0], &doc["entries"][1]);
    // The full deploy: a clean work tree (quickdeploy's state folder ignores itself).
    assert_eq!(full["kind"], "full");
    assert_eq!(full["outcome"], "deployed");
    assert_eq!(full["who"], MOTO_ARN);
    assert_eq!(full["git"]["commit"], head.as_str());
    assert_eq!(full["git"]["dirty"], false, "{full}");
    // src/shared, src/report and the Rust function's bootstrap.
    assert_eq!(full["artifacts"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        changed(full),
        [
            "GreetFunction",
            "HelloFunction",
            "ReportFunction",
            "WordCountFunction"
        ]
    );
    // The quick deploy: the file, the versions, the functions, the time.
    assert_eq!(quick["kind"], "quick");
    assert_eq!(quick["who"], MOTO_ARN);
    assert_eq!(quick["git"]["commit"], head.as_str());
    assert_eq!(quick["git"]["dirty"], true, "greeting.py is modified");
    assert!(
        quick["at"]
            .as_str()
            .is_some_and(|t| t.starts_with("20") && t.ends_with('Z')),
        "{quick}"
    );
    assert_eq!(quick["files"]["modified"], 1);
    assert_eq!(
        quick["files"]["paths"],
        serde_json::json!(["src/shared/greeting.py"])
    );
    let patch = &deployed["artifacts"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["patch"].is_object()))
        .expect("a patched artifact")["patch"];
    let art = shared(quick);
    assert_eq!(art["after"]["version_id"], patch["version_id"]);
    assert_eq!(art["after"]["code_sha256"], patch["code_sha256"]);
    assert_eq!(art["before"], shared(full)["after"], "{doc}");
    // The manifest written beside that version, so a rollback reads it in one call.
    assert!(art["after"]["manifest_version"].is_string(), "{art}");
    assert_eq!(changed(quick), ["GreetFunction", "HelloFunction"]);
    for f in quick["functions"].as_array().expect("functions") {
        assert_eq!(f["code_sha256"], patch["code_sha256"], "{f}");
    }
    assert!(
        quick["timings_ms"]["total"]
            .as_f64()
            .is_some_and(|t| t > 0.0),
        "{quick}"
    );

    // The filters, and the timeline for people.
    assert_eq!(
        ids(&history(app, &["--function", "ReportFunction"]).await),
        [1]
    );
    assert_eq!(ids(&history(app, &["--limit", "1"]).await), [2]);
    let out = app.run(&["history"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("#2    "), "{text}");
    assert!(
        text.contains("quick    deployed by arn:aws:sts::123456789012:user/moto"),
        "{text}"
    );
    assert!(text.contains("(dirty)"), "{text}");
    assert!(text.contains("src/shared/greeting.py"), "{text}");

    // status: each function's last change.
    let (_, status) = app.run_json(&["status"]).await;
    assert_eq!(status["last_change"]["HelloFunction"]["id"], 2, "{status}");
    assert_eq!(status["last_change"]["ReportFunction"]["id"], 1);
    assert_eq!(status["last_change"]["ReportFunction"]["kind"], "full");

    // STS unreachable: the deploy goes on, with a warning, and records `unknown`.
    app.write("src/shared/greeting.py", GREETING_C);
    let mut cmd = app.command(&["deploy", "--ci"]);
    cmd.env("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9");
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("deploy"))
        .await
        .expect("join");
    assert_eq!(exit(&out), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning: cannot tell who deploys"),
        "{}",
        stderr(&out)
    );
    let doc = history(app, &["--limit", "1"]).await;
    assert_eq!(doc["entries"][0]["who"], "unknown", "{doc}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_machines_appending_at_once_keep_both_entries() {
    let rig = Rig::deployed().await;
    let a = &rig.app;
    // The Rust function's binary as built, as its package: the two deploys must both diff
    // before either patches, and two copies sharing one cargo target folder take turns at
    // cargo (and rebuild, each copy being another crate to it), which staggers them.
    let toml = std::fs::read_to_string(a.path("quickdeploy.toml")).expect("toml");
    let prebuilt = toml.replace(
        "functions.WordCountFunction.binary = \"wordcount\"",
        "functions.WordCountFunction.package = \".quickdeploy/build/WordCountFunction\"",
    );
    assert_ne!(prebuilt, toml, "the example app builds WordCountFunction");
    std::fs::write(a.path("quickdeploy.toml"), prebuilt).expect("toml");
    // Machine B: another clone of the same project.
    let b = tempfile::tempdir().expect("tmp");
    // Times kept (copy_dir), as a clone's are older than its first build: otherwise B's
    // build recompiles the Rust function for seconds, and A's deploy ends before B reads
    // anything: no race left to test.
    testkit::app::copy_dir(a.root(), b.path());
    a.write("src/report/report.py", REPORT_B);
    std::fs::write(b.path().join("src/shared/greeting.py"), GREETING_A).expect("write");

    // Both read the history (entry #1), then write it: the proxy holds both writes until both
    // arrived and lets them through one at a time, so the second write's If-Match no longer
    // holds (412): it reads the history again and appends to that.
    rig.proxy.race_key(".quickdeploy/history/", 2);
    let (refused_before, _) = rig.proxy.refused();
    let mut on_a = a.command(&["deploy", "--ci", "--local"]);
    let mut on_b = a.command(&["deploy", "--ci", "--local"]);
    on_b.current_dir(b.path());
    let (out_a, out_b) = tokio::join!(
        tokio::task::spawn_blocking(move || on_a.output().expect("deploy on A")),
        tokio::task::spawn_blocking(move || on_b.output().expect("deploy on B"))
    );
    let (out_a, out_b) = (out_a.expect("join"), out_b.expect("join"));
    for out in [&out_a, &out_b] {
        assert_eq!(exit(out), Some(0), "{}", stderr(out));
        assert!(
            !stderr(out).contains("not in `quickdeploy history`"),
            "{}",
            stderr(out)
        );
    }
    let (refused, _) = rig.proxy.refused();
    assert!(refused > refused_before, "no write was refused: no race");

    let doc = history(a, &[]).await;
    assert_eq!(ids(&doc), [3, 2, 1], "both entries kept: {doc}");
    let mut touched: Vec<Vec<String>> = doc["entries"].as_array().expect("entries")[..2]
        .iter()
        .map(changed)
        .collect();
    touched.sort();
    assert_eq!(
        touched,
        [
            vec!["GreetFunction".to_owned(), "HelloFunction".to_owned()],
            vec!["ReportFunction".to_owned()]
        ]
    );
}
