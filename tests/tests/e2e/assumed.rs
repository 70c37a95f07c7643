//! A `deploy` planned from this machine's copies (issue 25): the stack's copy in
//! `.quickdeploy/stacks/` and the local manifests, asking nothing before the patch. The patch
//! carries the copy's stack id and last update as a guard, which the real zipedit binary
//! confirms with its own DescribeStacks beside its first read; the other artifacts are
//! confirmed by HEAD beside the patch. The patcher's CloudFormation calls go through the
//! rig's proxy, as the CLI's do, so both see the LastUpdatedTime CloudFormation gives (moto
//! leaves it out). When the stack moved since the copy, nothing is written by the first
//! plan, and the deploy reads the stack and decides again.

use serde_json::Value;
use testkit::app::{BUCKET, Rig, STACK};

fn greeting(text: &str) -> String {
    format!("def greeting(name):\n    return f\"{text}, {{name}}!\"\n")
}

/// The calls in the deploy's time line that ended before its first Invoke (the patch) began:
/// the round trips the patch waited for.
fn calls_before_the_patch(doc: &Value) -> Vec<String> {
    let spans = doc["timeline"]["spans"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let invoke = spans
        .iter()
        .find(|s| s["name"] == "Lambda.Invoke")
        .and_then(|s| s["start_ms"].as_f64())
        .expect("the patch's Invoke is on the time line");
    spans
        .iter()
        .filter(|s| s["kind"] == "call" && s["end_ms"].as_f64() <= Some(invoke))
        .filter_map(|s| s["name"].as_str().map(str::to_owned))
        .collect()
}

/// The versions of the shared package's artifact in the bucket.
async fn versions_of_shared(rig: &Rig) -> usize {
    let listed = rig
        .app
        .s3
        .list_object_versions()
        .bucket(BUCKET)
        .send()
        .await
        .expect("list_object_versions");
    listed
        .versions()
        .iter()
        .filter(|v| v.key().is_some_and(|k| k.ends_with("src-shared.zip")))
        .count()
}

/// The stack updated as another machine would: through the proxy (which then moves its
/// LastUpdatedTime), its template as it was, with `tags`.
async fn update_stack_elsewhere(rig: &Rig, tags: &[(&str, &str)]) {
    let conf = testkit::rig::sdk_config(&rig.proxy.endpoint).await;
    let cfn = aws_sdk_cloudformation::Client::new(&conf);
    let mut update = cfn
        .update_stack()
        .stack_name(STACK)
        .use_previous_template(true)
        .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityIam)
        .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityAutoExpand);
    for (k, v) in tags {
        update = update.tags(
            aws_sdk_cloudformation::types::Tag::builder()
                .key(*k)
                .value(*v)
                .build(),
        );
    }
    update.send().await.expect("UpdateStack");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_from_this_machines_copies_patches_first_and_the_patcher_confirms_the_stack() {
    let rig = Rig::deployed().await;
    let app = &rig.app;
    // The first deploy reads the stack, and keeps its copy; the next plans from it.
    app.write("src/shared/greeting.py", &greeting("Zero"));
    let (out, zero) = app.run_json(&["deploy"]).await;
    assert!(out.status.success(), "{zero}");
    assert!(zero.get("assumed").is_none(), "no copy yet: {zero}");
    app.write("src/shared/greeting.py", &greeting("One"));
    rig.proxy.take_call_log();
    let (out, first) = app.run_json(&["deploy", "--timings"]).await;
    let log = rig.proxy.take_call_log();
    assert!(
        log.iter()
            .any(|c| c.starts_with("patcher cloudformation DescribeStacks")),
        "the patcher confirmed the stack: {log:#?}"
    );
    assert!(
        !log.iter().any(|c| c.starts_with("cloudformation ")),
        "the CLI asked CloudFormation nothing: {log:#?}"
    );
    assert!(out.status.success(), "{first}");
    assert_eq!(first["outcome"], "deployed", "{first}");
    assert_eq!(first["assumed"]["confirmed"], true, "{first}");
    let before = calls_before_the_patch(&first);
    assert!(before.is_empty(), "the patch waits for no read: {before:?}");
    assert_eq!(
        first["timeline"]["round_trips_before_update"], 1,
        "{}",
        first["timeline"]
    );
    let live = app.code_shas().await;
    assert_eq!(live["HelloFunction"], patched_sha(&first), "{first}");

    // Another machine tags the stack protected: the copy is out of date. The patcher refuses
    // the guarded patch (nothing written), and the deploy, reading the stack, refuses the
    // quick path.
    update_stack_elsewhere(&rig, &[("quickdeploy:protected", "true")]).await;
    let versions = versions_of_shared(&rig).await;
    app.write("src/shared/greeting.py", &greeting("Two"));
    let (out, refused) = app.run_json(&["deploy", "--no-fallback"]).await;
    assert_eq!(out.status.code(), Some(3), "{refused}");
    assert_eq!(refused["assumed"]["confirmed"], false, "{refused}");
    let why = refused["assumed"]["refused"].as_str().unwrap_or_default();
    assert!(why.contains("StackMoved"), "{why}");
    assert!(
        refused["needs_full"]
            .to_string()
            .contains("quickdeploy:protected=true"),
        "{refused}"
    );
    assert_eq!(versions_of_shared(&rig).await, versions, "nothing written");
    assert_eq!(app.code_shas().await, live, "nothing rolled out");

    // The stack unprotected again. The copy the last read left says protected, so the
    // deploy does not plan from it: it reads the stack, deploys, and the copy after that is
    // confirmed again.
    update_stack_elsewhere(&rig, &[("quickdeploy:protected", "false")]).await;
    let (out, third) = app.run_json(&["deploy"]).await;
    assert!(out.status.success(), "{third}");
    assert_eq!(third["outcome"], "deployed", "{third}");
    assert!(third.get("assumed").is_none(), "{third}");
    assert_eq!(versions_of_shared(&rig).await, versions + 1, "one patch");
    app.write("src/shared/greeting.py", &greeting("Four"));
    let (out, fourth) = app.run_json(&["deploy"]).await;
    assert!(out.status.success(), "{fourth}");
    assert_eq!(fourth["assumed"]["confirmed"], true, "{fourth}");
    assert_ne!(
        app.code_shas().await["HelloFunction"],
        live["HelloFunction"]
    );

    // Another machine updates the stack in a way that changes nothing for this deploy: the
    // guarded patch is refused, and the same command reads the stack and patches once.
    update_stack_elsewhere(&rig, &[("team", "cart")]).await;
    let versions = versions_of_shared(&rig).await;
    app.write("src/shared/greeting.py", &greeting("Five"));
    let (out, fifth) = app.run_json(&["deploy"]).await;
    assert!(out.status.success(), "{fifth}");
    assert_eq!(fifth["outcome"], "deployed", "{fifth}");
    assert_eq!(fifth["assumed"]["confirmed"], false, "{fifth}");
    assert!(
        fifth["assumed"]["refused"]
            .as_str()
            .is_some_and(|r| r.contains("StackMoved")),
        "{fifth}"
    );
    assert_eq!(versions_of_shared(&rig).await, versions + 1, "one patch");
    assert_eq!(
        app.code_shas().await["HelloFunction"],
        patched_sha(&fifth),
        "{fifth}"
    );
}

/// The CodeSha256 of the deploy's one patch.
fn patched_sha(doc: &Value) -> String {
    doc["artifacts"]
        .as_array()
        .and_then(|a| a.iter().find_map(|a| a["patch"]["code_sha256"].as_str()))
        .expect("the patch's CodeSha256")
        .to_owned()
}
