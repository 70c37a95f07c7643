//! `quickdeploy rollback` end to end: the example app deployed into moto by `quickdeploy
//! full`, changed and quick-deployed through the real zipedit binary behind the Lambda Invoke
//! API, then rolled back, all as processes. Every call the CLI makes goes through the fault
//! proxy in front of moto, which does three things moto does not (each test says which it
//! turns on):
//!
//! - UpdateFunctionCode honours S3ObjectVersion (`lambda_object_versions`): moto reads the
//!   key's current version whatever version is named, so without it a rollback that points a
//!   function at an earlier version would not be checked at all;
//! - Lambda RevisionIds (`lambda_revisions`): moto's functions have none;
//! - CopyObject's If-Match (always): moto copies whatever the destination's ETag.
//!
//! "Byte-identical" is checked both ways: the CodeSha256 Lambda reports is the earlier one,
//! and the artifact's current object unzips to the earlier files (it is the earlier bytes).

use serde_json::Value;
use testkit::app::{App, BUCKET, Rig};
use testkit::fixtures::code_sha256;
use testkit::fixtures::{artifact, function, statuses};
use testkit::zipcheck::{Flavor, zip_crate_archive, zip_crate_tree};

const SHARED_KEY: &str = "quickdeploy/quickdeploy-example/src-shared.zip";
const REPORT_KEY: &str = "quickdeploy/quickdeploy-example/src-report.zip";
const GREETING_A: &str = "def greeting(name):\n    return f\"Hi there, {name}!\"\n";
const GREETING_C: &str = "def greeting(name):\n    return f\"Good day, {name}.\"\n";
const REPORT_B: &str = "def handler(event, context):\n    return {\"report\": \"v2\"}\n";

fn exit(out: &std::process::Output) -> Option<i32> {
    out.status.code()
}

/// `deploy --ci`, which must succeed.
async fn deploy(app: &App) -> Value {
    let (out, doc) = app.run_json(&["deploy", "--ci"]).await;
    assert_eq!(
        exit(&out),
        Some(0),
        "{doc}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    doc
}

/// `rollback --ci ARGS`: its exit code and document.
async fn rollback(app: &App, args: &[&str]) -> (Option<i32>, Value) {
    let mut all = vec!["rollback", "--ci"];
    all.extend_from_slice(args);
    let (out, doc) = app.run_json(&all).await;
    eprintln!(
        "rollback {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (exit(&out), doc)
}

fn ids(v: &Value) -> Vec<u64> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

// Long: one story, each step building on the one before, as a user goes through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_deploys_two_steps_back_forward_again_and_one_function_alone() {
    let rig = Rig::deployed().await;
    rig.proxy.lambda_object_versions();
    let app = &rig.app;
    let initial = app.code_shas().await;
    let report_0 = app.object(REPORT_KEY, None).await;

    // Three changes: shared (#2), report (#3), shared again (#4).
    app.write("src/shared/greeting.py", GREETING_A);
    deploy(app).await;
    let shared_a = app.object(SHARED_KEY, None).await;
    assert_eq!(
        app.code_shas().await["HelloFunction"],
        code_sha256(&shared_a)
    );
    app.write("src/report/report.py", REPORT_B);
    deploy(app).await;
    app.write("src/shared/greeting.py", GREETING_C);
    deploy(app).await;

    // Two steps back: #4 and #3 undone, the code right after #2.
    let (code, doc) = rollback(app, &["--steps", "2"]).await;
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(doc["outcome"], "rolled-back", "{doc}");
    assert_eq!(
        (ids(&doc["undone"]), doc["back_to"].as_u64()),
        (vec![4, 3], Some(2))
    );
    assert_eq!(
        statuses(&doc),
        pairs(&[
            ("GreetFunction", "updated"),
            ("HelloFunction", "updated"),
            ("ReportFunction", "updated")
        ])
    );
    assert_eq!(doc["recorded"], 5, "{doc}");
    let now = app.code_shas().await;
    assert_eq!(now["HelloFunction"], code_sha256(&shared_a));
    assert_eq!(now["GreetFunction"], code_sha256(&shared_a));
    assert_eq!(now["ReportFunction"], initial["ReportFunction"]);
    // The artifacts are those versions again, as their current versions: the same bytes, so
    // the same files unzipped.
    let shared_now = app.object(SHARED_KEY, None).await;
    assert_eq!(zip_crate_tree(&shared_now), zip_crate_tree(&shared_a));
    assert_eq!(code_sha256(&shared_now), code_sha256(&shared_a));
    assert_eq!(
        zip_crate_tree(&shared_now)["greeting.py"].0,
        GREETING_A.as_bytes()
    );
    let report_now = app.object(REPORT_KEY, None).await;
    assert_eq!(zip_crate_tree(&report_now), zip_crate_tree(&report_0));
    assert_eq!(code_sha256(&report_now), code_sha256(&report_0));
    let restored = artifact(&doc, "src-shared.zip")["restored_version"].clone();
    assert!(restored.is_string(), "{doc}");

    // status sees the local files (C, B) differ from what runs, and the rollback as the last
    // change.
    let (_, status) = app.run_json(&["status"]).await;
    assert_eq!(
        function(&status, "HelloFunction")["action"],
        "quick",
        "{status}"
    );
    assert_eq!(status["last_change"]["HelloFunction"]["kind"], "rollback");
    assert_eq!(status["last_change"]["HelloFunction"]["id"], 5);
    let text = String::from_utf8_lossy(&app.run(&["status"]).await.stdout).into_owned();
    assert!(text.contains("last change: #5 rollback"), "{text}");

    // Deploy again: the diff is against the rolled-back state, read from the manifest the
    // rollback restored beside each artifact.
    let doc = deploy(app).await;
    for (key, path) in [
        ("src-shared.zip", "greeting.py"),
        ("src-report.zip", "report.py"),
    ] {
        let a = artifact(&doc, key);
        assert_eq!(a["paths"], serde_json::json!([path]), "{a}");
        assert_eq!(a["manifest"], "remote", "the restored manifest: {a}");
    }
    let shared_again = app.object(SHARED_KEY, None).await;
    assert_eq!(
        zip_crate_tree(&shared_again)["greeting.py"].0,
        GREETING_C.as_bytes()
    );
    let again = app.code_shas().await;
    assert_eq!(again["HelloFunction"], code_sha256(&shared_again));

    // One function alone: ReportFunction's last change (#6) undone; the others stay.
    let (code, doc) = rollback(app, &["--function", "ReportFunction"]).await;
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(ids(&doc["undone"]), [6]);
    assert_eq!(statuses(&doc), pairs(&[("ReportFunction", "updated")]));
    let now = app.code_shas().await;
    assert_eq!(now["ReportFunction"], initial["ReportFunction"]);
    assert_eq!(now["HelloFunction"], again["HelloFunction"]);
    assert_eq!(now["GreetFunction"], again["GreetFunction"]);
    let report_now = app.object(REPORT_KEY, None).await;
    assert_eq!(zip_crate_tree(&report_now), zip_crate_tree(&report_0));

    // One function of a shared artifact, by its physical name: it goes back to the version
    // named (S3ObjectVersion, honoured through the proxy); the artifact stays as it is,
    // since GreetFunction still runs it.
    let hello = app.function_names().await["HelloFunction"].clone();
    let (code, doc) = rollback(app, &["--function", &hello]).await;
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(statuses(&doc), pairs(&[("HelloFunction", "updated")]));
    let shared = artifact(&doc, "src-shared.zip");
    assert!(shared["restored_version"].is_null(), "{shared}");
    assert!(
        shared["note"]
            .as_str()
            .is_some_and(|n| n.contains("GreetFunction")),
        "{shared}"
    );
    let now = app.code_shas().await;
    assert_eq!(now["HelloFunction"], code_sha256(&shared_a));
    assert_eq!(now["GreetFunction"], again["GreetFunction"]);
    assert_eq!(app.object(SHARED_KEY, None).await, shared_again);
    // The next deploy brings it back to the artifact, and only it.
    let (_, status) = app.run_json(&["status"]).await;
    assert_eq!(
        function(&status, "HelloFunction")["action"],
        "update",
        "{status}"
    );
    let doc = deploy(app).await;
    assert_eq!(function(&doc, "HelloFunction")["status"], "updated");
    assert_eq!(function(&doc, "GreetFunction")["status"], "skipped");
    assert_eq!(
        app.code_shas().await["HelloFunction"],
        again["HelloFunction"]
    );

    // The timeline: every change above, newest first.
    let (_, history) = app.run_json(&["history"]).await;
    let kinds: Vec<&str> = history["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        kinds,
        [
            "quick", "rollback", "rollback", "quick", "rollback", "quick", "quick", "quick", "full"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_across_a_full_deploy_is_refused_unless_forced() {
    let rig = Rig::deployed().await;
    rig.proxy.lambda_object_versions();
    let app = &rig.app;
    let initial = app.code_shas().await;
    app.write("src/shared/greeting.py", GREETING_A);
    deploy(app).await; // #2
    let shared_a = app.object(SHARED_KEY, None).await;
    // A template change: the full way (#3).
    let template = std::fs::read_to_string(app.path("template.yaml")).expect("read");
    app.write(
        "template.yaml",
        &template.replacen("MemorySize: 256", "MemorySize: 512", 1),
    );
    let (out, doc) = app.run_json(&["full", "--yes"]).await;
    assert_eq!(exit(&out), Some(0), "{doc}");
    app.write("src/shared/greeting.py", GREETING_C);
    deploy(app).await; // #4
    let before = app.code_shas().await;

    // Two steps back would cross the full deploy #3: refused, nothing changed (exit 3).
    for args in [&["--steps", "2"][..], &["--to", "2"]] {
        let (code, doc) = rollback(app, args).await;
        assert_eq!(code, Some(3), "{args:?}: {doc}");
        assert_eq!(doc["outcome"], "refused");
        assert_eq!(ids(&doc["crossed_full"]), [3]);
        let why = doc["refused"].as_str().unwrap_or_default();
        assert!(
            why.contains("full deploy #3") && why.contains("--force"),
            "{why}"
        );
    }
    let out = app
        .run(&["rollback", "--ci", "--steps", "2", "--output", "human"])
        .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("REFUSED, nothing was changed"), "{text}");
    assert_eq!(app.code_shas().await, before);

    // Without a terminal and without --yes: refused for want of consent (exit 3).
    let (out, doc) = app.run_json(&["rollback"]).await;
    assert_eq!(exit(&out), Some(3), "{doc}");
    assert!(
        doc["refused"].as_str().is_some_and(|w| w.contains("--yes")),
        "{doc}"
    );
    // Bad requests are the user's to fix (exit 2).
    for args in [&["--to", "99"][..], &["--function", "NoSuchFunction"]] {
        let (code, doc) = rollback(app, args).await;
        assert_eq!(code, Some(2), "{args:?}: {doc}");
    }
    assert_eq!(app.code_shas().await, before);

    // With --force it goes: the code before the full deploy, which itself stays deployed
    // (the rollback changes code only, not the configuration).
    let (code, doc) = rollback(app, &["--steps", "2", "--force"]).await;
    assert_eq!(code, Some(0), "{doc}");
    let now = app.code_shas().await;
    assert_eq!(now["HelloFunction"], code_sha256(&shared_a));
    assert_eq!(now["ReportFunction"], initial["ReportFunction"]);
    assert_eq!(app.memory_size("ReportFunction").await, Some(512));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_deploy_during_a_rollback_is_not_overwritten() {
    let rig = Rig::deployed().await;
    rig.proxy.lambda_object_versions();
    rig.proxy.lambda_revisions();
    let app = &rig.app;
    let initial = app.code_shas().await;
    app.write("src/shared/greeting.py", GREETING_A);
    deploy(app).await; // #2
    app.write("src/report/report.py", REPORT_B);
    deploy(app).await; // #3

    // The rollback reads every function's RevisionId, then asks on the terminal. While it
    // waits, someone else updates ReportFunction straight at moto (another tool, another
    // machine): its RevisionId moves (the proxy derives it from what moto has), and the
    // rollback's guarded UpdateFunctionCode gets 412 PreconditionFailedException.
    let names = app.function_names().await;
    let mut term = app.on_terminal(&["rollback", "--steps", "2"]);
    assert!(
        term.wait_for("roll back? [y/N]", std::time::Duration::from_secs(60)),
        "{}",
        term.screen()
    );
    let theirs = zip_crate_archive(
        &[(
            "report.py",
            b"def handler(e, c):\n    return 'theirs'\n",
            0o644,
        )],
        &[],
        "",
        Flavor::Seekable,
    );
    let updated = app
        .lambda
        .update_function_code()
        .function_name(&names["ReportFunction"])
        .zip_file(aws_sdk_lambda::primitives::Blob::new(theirs.clone()))
        .send()
        .await
        .expect("someone else's update");
    assert_eq!(updated.code_sha256(), Some(code_sha256(&theirs).as_str()));
    term.type_line("y");
    let code = term.wait(std::time::Duration::from_secs(120));
    let screen = term.screen();
    assert_eq!(code, Some(1), "{screen}");
    assert!(screen.contains("RevisionId conflict"), "{screen}");
    assert!(screen.contains("FAILED      ReportFunction"), "{screen}");
    let now = app.code_shas().await;
    assert_eq!(
        now["ReportFunction"],
        code_sha256(&theirs),
        "not overwritten"
    );
    assert_eq!(
        now["HelloFunction"], initial["HelloFunction"],
        "rolled back"
    );
    assert_eq!(
        now["GreetFunction"], initial["GreetFunction"],
        "rolled back"
    );
    assert!(
        rig.proxy
            .lambda_log()
            .iter()
            .any(|l| l.contains("412 PreconditionFailedException")),
        "{:?}",
        rig.proxy.lambda_log()
    );

    // A quickdeploy deploy meanwhile: it patches the artifact, so the rollback's copy,
    // conditional on the ETag it read, is refused (412 from the proxy, as S3 answers; moto
    // ignores CopyObject's If-Match) and the functions keep the deploy's code.
    // (The newest entry is that rollback: undoing it moves HelloFunction and GreetFunction
    // back to A, restoring their shared artifact.)
    let mut term = app.on_terminal(&["rollback", "--steps", "1"]);
    assert!(
        term.wait_for("roll back? [y/N]", std::time::Duration::from_secs(60)),
        "{}",
        term.screen()
    );
    app.write("src/shared/greeting.py", GREETING_C);
    let doc = deploy(app).await;
    assert_eq!(function(&doc, "HelloFunction")["status"], "updated");
    let deployed = app.code_shas().await;
    let (refused_before, _) = rig.proxy.refused();
    term.type_line("y");
    let code = term.wait(std::time::Duration::from_secs(120));
    let screen = term.screen();
    assert_eq!(code, Some(1), "{screen}");
    assert!(
        screen.contains("changed after rollback read it"),
        "{screen}"
    );
    assert_eq!(app.code_shas().await, deployed, "the deploy's code stays");
    assert!(rig.proxy.refused().0 > refused_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_the_lifecycle_rule_expired_is_named() {
    let rig = Rig::deployed().await;
    let app = &rig.app;
    app.write("src/shared/greeting.py", GREETING_A);
    deploy(app).await;
    let before = app.code_shas().await;
    let (_, history) = app.run_json(&["history"]).await;
    let entry = &history["entries"][0];
    let gone = entry["artifacts"][0]["before"]["version_id"]
        .as_str()
        .expect("the version before")
        .to_owned();
    // What a NoncurrentVersionExpiration rule does after its days.
    app.s3
        .delete_object()
        .bucket(BUCKET)
        .key(SHARED_KEY)
        .version_id(&gone)
        .send()
        .await
        .expect("expire the version");
    let (code, doc) = rollback(app, &[]).await;
    assert_eq!(code, Some(1), "{doc}");
    let message = doc["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&gone) && message.contains("lifecycle rule expired it"),
        "{message}"
    );
    assert!(message.contains("entry #2"), "{message}");
    assert_eq!(app.code_shas().await, before, "nothing changed");
    let (_, history) = app.run_json(&["history"]).await;
    assert_eq!(history["kept"], 2, "no rollback recorded: {history}");
}
