//! `quickdeploy deploy` and `status` end to end: the example app deployed into moto by
//! `quickdeploy full`, then changed and quick-deployed through the real zipedit binary behind
//! the Lambda Invoke API. Every call the CLI makes goes through a proxy in front of moto; it
//! passes everything through, except in the test that names the Lambda faults it injects
//! (InProgress, Failed, ResourceConflictException, TooManyRequestsException), which moto
//! cannot show by itself.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};
use testkit::app::Rig;
use testkit::fixtures::{artifact, function};
use testkit::proxy::LambdaFault;
use testkit::rig::Moto;
use testkit::zipcheck::{independent, zip_crate_tree};

async fn rig() -> Rig {
    Rig::deployed().await
}

fn code_sha256(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

fn exit(out: &std::process::Output) -> Option<i32> {
    out.status.code()
}

const GREETING: &str = "def greeting(name):\n    return f\"Hi there, {name}!\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_line_change_in_a_shared_package_updates_exactly_its_functions() {
    let rig = rig().await;
    let (moto, app) = (&rig.moto, &rig.app);
    let before = app.code_shas().await;
    assert_eq!(
        before["HelloFunction"], before["GreetFunction"],
        "one shared artifact"
    );

    app.write("src/shared/greeting.py", GREETING);

    // status says what deploy would do, and writes nothing.
    moto.start_recording();
    let (out, status) = app.run_json(&["status"]).await;
    assert_eq!(exit(&out), Some(0), "{status}");
    assert_eq!(
        Moto::writes(&moto.recording()),
        Vec::<String>::new(),
        "status wrote"
    );
    assert_eq!(function(&status, "HelloFunction")["action"], "quick");
    assert_eq!(function(&status, "GreetFunction")["action"], "quick");
    assert_eq!(function(&status, "ReportFunction")["action"], "none");
    assert_eq!(
        artifact(&status, "src-shared.zip")["paths"],
        serde_json::json!(["greeting.py"])
    );

    let (out, doc) = app.run_json(&["deploy"]).await;
    assert_eq!(
        exit(&out),
        Some(0),
        "{doc}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(doc["outcome"], "deployed");
    assert_eq!(function(&doc, "HelloFunction")["status"], "updated");
    assert_eq!(function(&doc, "GreetFunction")["status"], "updated");
    assert_eq!(function(&doc, "ReportFunction")["status"], "skipped");
    let shared = artifact(&doc, "src-shared.zip");
    assert_eq!(shared["change"]["kind"], "code-only");
    assert_eq!(
        (shared["added"].as_u64(), shared["modified"].as_u64()),
        (Some(0), Some(1))
    );
    assert_eq!(
        shared["hashed"], 1,
        "only the touched file is read: {shared}"
    );
    assert_eq!(shared["manifest"], "local");
    assert!(
        artifact(&doc, "src-report.zip")["patch"].is_null(),
        "report not patched"
    );

    // Lambda reports the patched object's hash, and the object reads as the new package.
    let after = app.code_shas().await;
    let bytes = app.patched(&doc, "src-shared.zip").await;
    assert_eq!(after["HelloFunction"], code_sha256(&bytes));
    assert_eq!(after["GreetFunction"], code_sha256(&bytes));
    assert_eq!(shared["patch"]["code_sha256"], code_sha256(&bytes));
    assert_ne!(after["HelloFunction"], before["HelloFunction"]);
    assert_eq!(
        after["ReportFunction"], before["ReportFunction"],
        "untouched"
    );
    let tree = zip_crate_tree(&bytes);
    assert_eq!(tree["greeting.py"].0, GREETING.as_bytes());
    assert_eq!(
        tree.keys().collect::<Vec<_>>(),
        ["app.py", "greeting.py", "requirements.txt"]
    );
    independent(&bytes); // Python's zipfile and unzip -t accept it

    // Again: nothing to deploy, and the human output says so.
    let out = app.run(&["deploy"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(exit(&out), Some(0), "{text}");
    assert!(text.contains("nothing to deploy"), "{text}");
    assert!(text.contains("skipped  HelloFunction"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_file_and_a_deleted_file() {
    let rig = rig().await;
    let app = &rig.app;
    std::fs::remove_file(app.path("src/shared/greeting.py")).expect("delete");
    app.write(
        "src/shared/salutation.py",
        "def greeting(name):\n    return f\"Greetings, {name}.\"\n",
    );
    app.write(
        "src/shared/app.py",
        &std::fs::read_to_string(app.path("src/shared/app.py"))
            .expect("read")
            .replace("from greeting import", "from salutation import"),
    );
    let (out, doc) = app.run_json(&["deploy"]).await;
    assert_eq!(exit(&out), Some(0), "{doc}");
    let shared = artifact(&doc, "src-shared.zip");
    assert_eq!(
        (
            shared["added"].as_u64(),
            shared["modified"].as_u64(),
            shared["deleted"].as_u64()
        ),
        (Some(1), Some(1), Some(1)),
        "{shared}"
    );
    // A deletion is written by rewrite: a streaming extractor could not see it in an append.
    assert_eq!(shared["patch"]["mode"], "rewrite");
    let bytes = app.patched(&doc, "src-shared.zip").await;
    let tree = zip_crate_tree(&bytes);
    assert_eq!(
        tree.keys().collect::<Vec<_>>(),
        ["app.py", "requirements.txt", "salutation.py"]
    );
    let seen = independent(&bytes);
    assert!(!seen.files.contains_key("greeting.py"));
    assert_eq!(app.code_shas().await["GreetFunction"], code_sha256(&bytes));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_change_touches_no_aws_write_api() {
    let rig = rig().await;
    let (moto, app) = (&rig.moto, &rig.app);
    let before = app.code_shas().await;
    moto.start_recording();
    let (out, doc) = app.run_json(&["deploy"]).await;
    assert_eq!(exit(&out), Some(0), "{doc}");
    assert_eq!(doc["outcome"], "nothing-to-deploy");
    let recording = moto.recording();
    assert!(!recording.is_empty(), "the recorder saw the reads");
    assert_eq!(Moto::writes(&recording), Vec::<String>::new());
    for a in doc["artifacts"].as_array().expect("artifacts") {
        assert!(a["patch"].is_null(), "{a}");
        assert_eq!(a["hashed"], 0, "nothing read from disk: {a}");
    }
    assert_eq!(app.code_shas().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dependency_and_template_changes_refuse_the_quick_path() {
    let rig = rig().await;
    let (moto, app) = (&rig.moto, &rig.app);
    let before = app.code_shas().await;

    app.write("src/shared/greeting.py", GREETING);
    app.write("src/shared/requirements.txt", "requests==2.32.3\n");
    moto.start_recording();
    let (out, doc) = app.run_json(&["deploy", "--ci", "--no-fallback"]).await;
    assert_eq!(exit(&out), Some(3), "{doc}");
    assert_eq!(doc["outcome"], "needs-full");
    assert_eq!(
        artifact(&doc, "src-shared.zip")["change"]["kind"],
        "dependencies"
    );
    let why = doc["needs_full"].to_string();
    assert!(why.contains("requirements.txt"), "{why}");
    assert_eq!(Moto::writes(&moto.recording()), Vec::<String>::new());
    assert_eq!(app.code_shas().await, before);

    // Undo the dependency change; change the template instead.
    app.write(
        "src/shared/requirements.txt",
        "# No third-party packages yet; changing this file needs a full deploy.\n",
    );
    let template = std::fs::read_to_string(app.path("template.yaml")).expect("read");
    app.write(
        "template.yaml",
        &template.replacen("MemorySize: 256", "MemorySize: 512", 1),
    );
    moto.start_recording();
    let (out, doc) = app.run_json(&["deploy", "--no-fallback"]).await;
    assert_eq!(exit(&out), Some(3), "{doc}");
    assert_eq!(
        artifact(&doc, "src-shared.zip")["change"]["kind"],
        "resources"
    );
    assert!(
        doc["needs_full"]
            .to_string()
            .contains("ReportFunction changed: MemorySize"),
        "{doc}"
    );
    assert_eq!(Moto::writes(&moto.recording()), Vec::<String>::new());
    assert_eq!(app.code_shas().await, before);
    let out = app.run(&["deploy", "--no-fallback"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("a full deploy is needed"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_clone_diffs_against_the_artifact_in_s3() {
    let rig = rig().await;
    let app = &rig.app;
    // No local state, as on a CI runner: the manifest beside the artifact is used.
    std::fs::remove_dir_all(app.path(".quickdeploy")).expect("local state");
    app.write("src/shared/greeting.py", GREETING);
    let (out, doc) = app.run_json(&["deploy", "--ci"]).await;
    assert_eq!(exit(&out), Some(0), "{doc}");
    let shared = artifact(&doc, "src-shared.zip");
    assert_eq!(shared["manifest"], "remote");
    assert_eq!(shared["paths"], serde_json::json!(["greeting.py"]));
    assert_eq!(shared["hashed"], 3, "every file hashed once: {shared}");

    // Without the manifest either (the artifact written by something else): the artifact
    // itself is read.
    std::fs::remove_dir_all(app.path(".quickdeploy")).expect("local state");
    let key = shared["patch"]["key"].as_str().expect("key").to_owned();
    app.s3
        .delete_object()
        .bucket(testkit::app::BUCKET)
        .key(format!("{key}.manifest.json"))
        .send()
        .await
        .expect("delete manifest");
    app.write(
        "src/shared/app.py",
        "def hello(e, c):\n    return 1\n\ndef greet(e, c):\n    return 2\n",
    );
    let (out, doc) = app.run_json(&["deploy"]).await;
    assert_eq!(exit(&out), Some(0), "{doc}");
    let shared = artifact(&doc, "src-shared.zip");
    assert_eq!(shared["manifest"], "artifact");
    assert_eq!(shared["paths"], serde_json::json!(["app.py"]));
    let bytes = app.patched(&doc, "src-shared.zip").await;
    assert_eq!(app.code_shas().await["HelloFunction"], code_sha256(&bytes));
}

/// The patcher rewrites the manifest beside the artifact it patched (next to S3, from the
/// changes it applied), so the deploying machine never sends it whole; it is exactly the one
/// the CLI keeps locally, and a fresh clone diffs against it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_patcher_keeps_the_manifest_beside_the_artifact() {
    let rig = rig().await;
    let app = &rig.app;
    app.write("src/shared/greeting.py", GREETING);
    rig.proxy.forget_calls();
    let (out, doc) = app.run_json(&["deploy", "--ci"]).await;
    assert_eq!(exit(&out), Some(0), "{doc}");
    let shared = artifact(&doc, "src-shared.zip");
    assert_eq!(shared["patch"]["manifest"]["written"], true, "{shared}");
    let key = shared["patch"]["key"].as_str().expect("key").to_owned();
    let manifest_key = format!("{key}.manifest.json");
    let calls = rig.proxy.calls();
    let sent: Vec<String> = calls
        .iter()
        .filter(|c| c.operation == "PutObject")
        .flat_map(|c| c.needs.iter().map(|(_, r)| r.clone()))
        .collect();
    // The patcher wrote the manifest, and the history and hot-patch record too (the deploy's
    // record request): the CLI wrote no object at all.
    assert!(sent.is_empty(), "the CLI wrote objects itself: {sent:?}");
    assert_eq!(doc["recorded"]["by"], "patcher", "{doc}");
    assert!(
        calls.iter().any(|c| c.operation == "UpdateFunctionCode"),
        "the proxy saw the CLI's calls"
    );

    // The manifest in S3 names the new object and holds what the CLI's local copy holds.
    let object = |key: String| async move {
        let got = app
            .s3
            .get_object()
            .bucket(testkit::app::BUCKET)
            .key(key)
            .send()
            .await
            .expect("get");
        let etag = got.e_tag().unwrap_or_default().to_owned();
        (
            etag,
            got.body
                .collect()
                .await
                .expect("body")
                .into_bytes()
                .to_vec(),
        )
    };
    let (etag, _) = object(key.clone()).await;
    let (_, remote) = object(manifest_key).await;
    let remote: Value = serde_json::from_slice(&remote).expect("manifest JSON");
    assert_eq!(remote["etag"].as_str(), Some(etag.as_str()), "{remote}");
    let local_path = std::fs::read_dir(app.path(".quickdeploy/manifests"))
        .expect("local manifests")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().contains("src-shared.zip"))
        .expect("the shared artifact's local manifest");
    let mut local: Value =
        serde_json::from_slice(&std::fs::read(local_path).expect("read")).expect("json");
    for f in local["files"].as_object_mut().expect("files").values_mut() {
        f.as_object_mut().expect("entry").remove("mtime_ns");
    }
    assert_eq!(remote, local, "the patcher's manifest is the CLI's");

    // A fresh clone diffs against it: only the file changed since.
    std::fs::remove_dir_all(app.path(".quickdeploy")).expect("local state");
    app.write("src/shared/greeting.py", "def greeting(n):\n    return n\n");
    let (out, doc) = app.run_json(&["deploy", "--ci"]).await;
    assert_eq!(exit(&out), Some(0), "{doc}");
    let shared = artifact(&doc, "src-shared.zip");
    assert_eq!(shared["manifest"], "remote", "{shared}");
    assert_eq!(shared["paths"], serde_json::json!(["greeting.py"]));
    let bytes = app.patched(&doc, "src-shared.zip").await;
    assert_eq!(app.code_shas().await["HelloFunction"], code_sha256(&bytes));
}

/// The local manifests only say which artifacts to HEAD early (while the stack is read): the
/// HEAD decides whether a manifest still describes the artifact, and a manifest of an artifact
/// that is gone costs nothing but its HEAD.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_manifests_are_a_cache_that_the_artifacts_head_overrules() {
    let rig = rig().await;
    let app = &rig.app;
    let dir = app.path(".quickdeploy/manifests");
    let shared_path = std::fs::read_dir(&dir)
        .expect("local manifests")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().contains("src-shared.zip"))
        .expect("the shared artifact's local manifest");
    let mut doc: Value =
        serde_json::from_slice(&std::fs::read(&shared_path).expect("read")).expect("json");
    // One of an artifact that no longer exists, and the real one made stale (as after a
    // deploy from another machine: its ETag is not the object's).
    let mut gone = doc.clone();
    gone["key"] = "quickdeploy/gone/src-gone.zip".into();
    std::fs::write(dir.join("gone.json"), gone.to_string()).expect("write");
    doc["etag"] = "\"0123456789abcdef0123456789abcdef\"".into();
    std::fs::write(&shared_path, doc.to_string()).expect("write");

    app.write("src/shared/greeting.py", GREETING);
    let (out, report) = app.run_json(&["deploy"]).await;
    assert_eq!(exit(&out), Some(0), "{report}");
    let shared = artifact(&report, "src-shared.zip");
    assert_eq!(
        shared["manifest"], "remote",
        "the stale local one was not used"
    );
    assert_eq!(shared["paths"], serde_json::json!(["greeting.py"]));
    let bytes = app.patched(&report, "src-shared.zip").await;
    assert_eq!(app.code_shas().await["HelloFunction"], code_sha256(&bytes));

    // The next deploy uses the local manifest the last one saved.
    app.write("src/shared/greeting.py", "def greeting(n):\n    return n\n");
    let (out, report) = app.run_json(&["deploy"]).await;
    assert_eq!(exit(&out), Some(0), "{report}");
    assert_eq!(artifact(&report, "src-shared.zip")["manifest"], "local");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_and_lambda_patches_give_byte_identical_artifacts() {
    let (a, b) = tokio::join!(rig(), rig());
    let mut shas = BTreeMap::new();
    for (rig, flag) in [(&a, "--local"), (&b, "--ci")] {
        rig.app.write("src/shared/greeting.py", GREETING);
        rig.app
            .write("src/report/notes.txt", "binary-ish \u{0} text\n");
        let (out, doc) = rig.app.run_json(&["deploy", flag]).await;
        assert_eq!(exit(&out), Some(0), "{flag}: {doc}");
        for key in ["src-shared.zip", "src-report.zip"] {
            let bytes = rig.app.patched(&doc, key).await;
            shas.entry(key)
                .or_insert_with(Vec::new)
                .push((flag, code_sha256(&bytes), bytes.len()));
        }
        let request = artifact(&doc, "src-shared.zip")["request_bytes"].clone();
        if flag == "--local" {
            assert!(request.is_null(), "nothing sent to a patcher: {request}");
        } else {
            assert!(request.as_u64().is_some_and(|n| n < 4096), "{request}");
        }
    }
    for (key, runs) in shas {
        assert_eq!(runs[0].1, runs[1].1, "{key}: {runs:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_that_fails_to_update_is_reported_and_the_rest_go_live() {
    let rig = rig().await;
    let (proxy, app) = (&rig.proxy, &rig.app);
    let names = app.function_names().await;
    let hello = names["HelloFunction"].clone();
    // Fault-injecting proxy: Hello stays InProgress three times, then Failed; Greet's first
    // update meets a ResourceConflictException; Report's is throttled once.
    let reason = "Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit.";
    proxy.lambda_fault(
        &hello,
        LambdaFault {
            in_progress: 3,
            fail_with: Some(reason.into()),
            ..LambdaFault::default()
        },
    );
    proxy.lambda_fault(
        &names["GreetFunction"],
        LambdaFault {
            conflicts: 1,
            in_progress: 2,
            ..LambdaFault::default()
        },
    );
    proxy.lambda_fault(
        &names["ReportFunction"],
        LambdaFault {
            throttles: 1,
            ..LambdaFault::default()
        },
    );
    app.write("src/shared/greeting.py", GREETING);
    app.write(
        "src/report/report.py",
        "def handler(e, c):\n    return {\"report\": 2}\n",
    );
    let (out, doc) = app.run_json(&["deploy", "--ci"]).await;
    assert_eq!(exit(&out), Some(1), "{doc}");
    assert_eq!(doc["outcome"], "failed");
    let h = function(&doc, "HelloFunction");
    assert_eq!(h["status"], "failed", "{h}");
    assert!(
        h["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("4KB limit"),
        "{h}"
    );
    let g = function(&doc, "GreetFunction");
    assert_eq!(g["status"], "updated", "{g}");
    assert_eq!(g["retries"], 1, "one conflict, retried: {g}");
    assert_eq!(function(&doc, "ReportFunction")["status"], "updated");
    let log = proxy.lambda_log();
    let said = |needle: &str| log.iter().filter(|l| l.contains(needle)).count();
    assert_eq!(
        said(&format!("PUT {}/code -> 409", names["GreetFunction"])),
        1,
        "{log:#?}"
    );
    assert_eq!(
        said(&format!("PUT {}/code -> 429", names["ReportFunction"])),
        1,
        "{log:#?}"
    );
    assert!(
        said(&format!("GET {hello} -> 200 InProgress")) >= 2,
        "{log:#?}"
    );
    assert_eq!(
        said(&format!("GET {} -> 200 InProgress", names["GreetFunction"])),
        1,
        "{log:#?}"
    );

    // The next deploy retries what is not live: Hello only, now that its fault is gone.
    proxy.lambda_fault(&hello, LambdaFault::default());
    let (out, doc) = app.run_json(&["deploy"]).await;
    assert_eq!(exit(&out), Some(0), "{doc}");
    assert_eq!(function(&doc, "HelloFunction")["status"], "updated");
    assert_eq!(function(&doc, "GreetFunction")["status"], "skipped");
    assert_eq!(function(&doc, "ReportFunction")["status"], "skipped");
    assert!(
        doc["artifacts"]
            .as_array()
            .expect("a")
            .iter()
            .all(|a| a["patch"].is_null())
    );
    let shas = app.code_shas().await;
    assert_eq!(shas["HelloFunction"], shas["GreetFunction"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_with_an_alias_gets_a_new_version_and_the_alias_moves() {
    let rig = rig().await;
    let app = &rig.app;
    let report = app.function_names().await["ReportFunction"].clone();
    let first = app
        .lambda
        .publish_version()
        .function_name(&report)
        .send()
        .await
        .expect("publish")
        .version()
        .expect("version")
        .to_owned();
    app.lambda
        .create_alias()
        .function_name(&report)
        .name("live")
        .function_version(&first)
        .send()
        .await
        .expect("alias");
    let toml = std::fs::read_to_string(app.path("quickdeploy.toml")).expect("read");
    app.write(
        "quickdeploy.toml",
        &format!("{toml}\n[functions.ReportFunction]\naliases = [\"live\"]\n"),
    );
    app.write(
        "src/report/report.py",
        "def handler(e, c):\n    return {\"report\": 3}\n",
    );
    let seen = rig.proxy.lambda_log().len();
    let (out, doc) = app.run_json(&["deploy"]).await;
    assert_eq!(exit(&out), Some(0), "{doc}");
    // One write publishes: UpdateFunctionCode with Publish, no PublishVersion after it.
    let log = rig.proxy.lambda_log();
    assert!(
        log[seen..]
            .iter()
            .any(|l| l.starts_with(&format!("PUT {report}/code"))),
        "{log:?}"
    );
    assert!(
        !log[seen..]
            .iter()
            .any(|l| l.starts_with(&format!("POST {report}/versions"))),
        "{log:?}"
    );
    let f = function(&doc, "ReportFunction");
    assert_eq!(f["status"], "updated", "{f}");
    let version = f["version"]
        .as_str()
        .expect("a published version")
        .to_owned();
    assert_ne!(version, first);
    assert_eq!(f["aliases"], serde_json::json!(["live"]));
    let alias = app
        .lambda
        .get_alias()
        .function_name(&report)
        .name("live")
        .send()
        .await
        .expect("get_alias");
    assert_eq!(alias.function_version(), Some(version.as_str()));
    let published = app
        .lambda
        .get_function_configuration()
        .function_name(&report)
        .qualifier(&version)
        .send()
        .await
        .expect("the version");
    assert_eq!(
        published.code_sha256(),
        artifact(&doc, "src-report.zip")["code_sha256"].as_str()
    );
    // Functions without aliases publish nothing.
    assert!(function(&doc, "HelloFunction")["version"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_past_the_payload_limit_is_staged_in_s3() {
    let rig = rig().await;
    let app = &rig.app;
    // 7 MiB that does not compress: past Lambda's 6 MB request limit even before base64.
    let big = testkit::noise(7, 7 * 1024 * 1024);
    std::fs::write(app.path("src/report/model.bin"), &big).expect("write");
    app.write("src/report/report.py", "def handler(e, c):\n    return 7\n");
    let (out, doc) = app.run_json(&["deploy"]).await;
    assert_eq!(exit(&out), Some(0), "{doc}");
    let report = artifact(&doc, "src-report.zip");
    let sent = report["request_bytes"].as_u64().expect("request bytes");
    assert!(
        sent < 6_000_000,
        "the request stayed under the limit: {sent}"
    );
    let bytes = app.patched(&doc, "src-report.zip").await;
    let tree = zip_crate_tree(&bytes);
    assert!(
        tree["model.bin"].0 == big,
        "the staged file is in the artifact"
    );
    assert_eq!(app.code_shas().await["ReportFunction"], code_sha256(&bytes));
    // The staged object was cleaned up.
    assert_eq!(
        app.keys(testkit::app::BUCKET, ".quickdeploy/staging/")
            .await,
        Vec::<String>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttle_costs_at_most_the_sdks_attempts_not_a_retry_loop_on_top() {
    let rig = rig().await;
    let (proxy, app) = (&rig.proxy, &rig.app);
    let report = app.function_names().await["ReportFunction"].clone();
    // Fault-injecting proxy: Report's UpdateFunctionCode is throttled (429) 50 times over,
    // more than any retry allows. The SDK's standard retry (5 attempts, configured once in
    // aws::clients) is the only retry: before, a hand loop on top of it multiplied attempts.
    proxy.lambda_fault(
        &report,
        LambdaFault {
            throttles: 50,
            ..LambdaFault::default()
        },
    );
    app.write(
        "src/report/report.py",
        "def handler(e, c):\n    return {\"report\": 3}\n",
    );
    let (out, doc) = app.run_json(&["deploy", "--ci"]).await;
    assert_eq!(exit(&out), Some(1), "{doc}");
    let r = function(&doc, "ReportFunction");
    assert_eq!(r["status"], "failed", "{r}");
    assert!(
        r["reason"]
            .as_str()
            .is_some_and(|s| s.contains("TooManyRequestsException")),
        "{r}"
    );
    let throttled = proxy
        .lambda_log()
        .iter()
        .filter(|l| l.contains(&format!("PUT {report}/code -> 429")))
        .count();
    assert_eq!(throttled, 5, "one call, the SDK's 5 attempts");
    proxy.lambda_fault(&report, LambdaFault::default());
}

/// The calls of `log` (the proxy's call log) that read the stack's template or resources.
fn stack_reads(log: &[String]) -> Vec<&String> {
    log.iter()
        .filter(|c| {
            c.starts_with("cloudformation GetTemplate")
                || c.starts_with("cloudformation DescribeStackResources")
        })
        .collect()
}

/// A code change deployed (and checked live): the calls it made, by the proxy's log.
async fn deployed_with_log(rig: &Rig, text: &str) -> Vec<String> {
    let app = &rig.app;
    let body = format!("def greeting(name):\n    return f\"{text}, {{name}}!\"\n");
    app.write("src/shared/greeting.py", &body);
    rig.proxy.take_call_log();
    let (out, doc) = app.run_json(&["deploy"]).await;
    assert!(out.status.success(), "{doc}");
    assert_eq!(doc["outcome"], "deployed", "{doc}");
    let live = app.code_shas().await["HelloFunction"].clone();
    assert_eq!(
        live,
        code_sha256(&app.patched(&doc, "src-shared.zip").await)
    );
    rig.proxy.take_call_log()
}

/// `deploy` keeps the stack's template and physical ids in `.quickdeploy/stacks/`, confirmed
/// by one DescribeStacks (stack id, LastUpdatedTime, status): a second deploy asks no
/// GetTemplate nor DescribeStackResources. After `full` updates the stack (the proxy gives
/// DescribeStacks the LastUpdatedTime moto leaves out), and with a broken copy, the next
/// deploy reads them again and is right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_deploy_takes_the_stack_from_its_confirmed_copy() {
    let rig = Rig::deployed().await;
    let app = &rig.app;
    let deploy = |text: &'static str| deployed_with_log(&rig, text);
    let first = deploy("One").await;
    assert_eq!(stack_reads(&first).len(), 2, "no copy yet: {first:#?}");
    let second = deploy("Two").await;
    assert_eq!(stack_reads(&second), Vec::<&String>::new(), "{second:#?}");
    // By the CLI, or, for a deploy planned from the copy, by the patcher (its stack guard).
    assert!(
        second
            .iter()
            .any(|c| c.starts_with("cloudformation DescribeStacks")
                || c.starts_with("patcher cloudformation DescribeStacks")),
        "the copy is confirmed: {second:#?}"
    );

    // The stack is updated: its copy is no longer confirmed.
    let template = std::fs::read_to_string(app.path("template.yaml")).expect("read");
    app.write(
        "template.yaml",
        &template.replacen("MemorySize: 256", "MemorySize: 384", 1),
    );
    let (out, doc) = app.run_json(&["full", "--yes"]).await;
    assert!(out.status.success(), "{doc}");
    let third = deploy("Three").await;
    assert_eq!(stack_reads(&third).len(), 2, "updated since: {third:#?}");
    assert_eq!(stack_reads(&deploy("Four").await).len(), 0);

    // A copy that does not parse is no copy.
    let copies = app.path(".quickdeploy/stacks");
    for e in std::fs::read_dir(&copies).expect("the copies") {
        std::fs::write(e.expect("entry").path(), "{broken").expect("break");
    }
    assert_eq!(stack_reads(&deploy("Five").await).len(), 2);
}
