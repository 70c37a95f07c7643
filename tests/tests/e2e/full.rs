//! The CloudFormation path end to end against moto: `quickdeploy bootstrap`, `full`, the
//! fallback from `deploy`, the hot-patch record, and protected stacks. The CLI runs as a
//! process; everything it calls goes through a pass-through proxy in front of moto.

use serde_json::Value;
use testkit::app::Rig;
use testkit::rig::Moto;

fn exit(out: &std::process::Output) -> Option<i32> {
    out.status.code()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_installs_the_patcher_once_and_a_second_run_changes_nothing() {
    let rig = Rig::start().await;
    let app = &rig.app;
    let binary = testkit::bin("zipedit");
    let args = [
        "bootstrap",
        "--binary",
        binary.to_str().expect("utf-8 path"),
        "--arch",
        "x86_64",
    ];
    let (out, doc) = app.run_json(&args).await;
    assert_eq!(
        exit(&out),
        Some(0),
        "{doc}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(doc["outcome"], "created", "{doc}");
    assert_eq!(doc["patcher"], "quickdeploy-zipedit");
    assert_eq!(doc["bucket_created"], true);
    let bucket = doc["bucket"].as_str().expect("bucket").to_owned();
    assert_eq!(bucket, "quickdeploy-artifacts-123456789012-us-east-1");

    // The bucket as promised: versioned, encrypted, public access blocked.
    let s3 = &app.s3;
    // (moto's GetBucketVersioning answer has a root element the SDK rejects: check by effect,
    // a put into a versioned bucket gets a version id.)
    let put = s3
        .put_object()
        .bucket(&bucket)
        .key("probe")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("put");
    assert!(put.version_id().is_some_and(|v| v != "null"), "{put:?}");
    let enc = s3
        .get_bucket_encryption()
        .bucket(&bucket)
        .send()
        .await
        .expect("encryption");
    let rules = enc
        .server_side_encryption_configuration()
        .map(|c| c.rules().len())
        .unwrap_or(0);
    assert_eq!(rules, 1);
    let pab = s3
        .get_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .expect("public access block");
    let c = pab
        .public_access_block_configuration()
        .expect("configuration");
    assert_eq!(
        (
            c.block_public_acls(),
            c.ignore_public_acls(),
            c.block_public_policy(),
            c.restrict_public_buckets()
        ),
        (Some(true), Some(true), Some(true), Some(true))
    );
    // Housekeeping: unfinished multipart uploads (a crashed patcher's) are aborted after a day,
    // old artifact versions expire while the newest are kept for rollback.
    let life = s3
        .get_bucket_lifecycle_configuration()
        .bucket(&bucket)
        .send()
        .await
        .expect("lifecycle rule");
    let rule = life.rules().first().expect("one rule");
    assert_eq!(rule.id(), Some("quickdeploy-housekeeping"));
    assert_eq!(
        rule.abort_incomplete_multipart_upload()
            .and_then(|a| a.days_after_initiation()),
        Some(1)
    );
    assert!(
        rule.noncurrent_version_expiration()
            .and_then(|n| n.noncurrent_days())
            .is_some_and(|d| d >= 30),
        "{rule:?}"
    );

    // The function runs exactly the code that was uploaded.
    let conf = app
        .lambda
        .get_function_configuration()
        .function_name("quickdeploy-zipedit")
        .send()
        .await
        .expect("the patcher function");
    assert_eq!(conf.code_sha256(), doc["code_sha256"].as_str());
    assert_eq!(conf.handler(), Some("bootstrap"));

    // Again: nothing to change, and nothing written.
    rig.moto.start_recording();
    let (out, doc) = app.run_json(&args).await;
    assert_eq!(exit(&out), Some(0), "{doc}");
    assert_eq!(doc["outcome"], "unchanged", "{doc}");
    assert_eq!(doc["code_uploaded"], false);
    assert_eq!(doc["bucket_created"], false);
    assert_eq!(
        Moto::writes(&rig.moto.recording()),
        Vec::<String>::new(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Later commands find the bucket by themselves: a project without artifact_bucket.
    let toml = std::fs::read_to_string(app.path("quickdeploy.toml")).expect("read");
    let without: String = toml
        .lines()
        .filter(|l| !l.starts_with("artifact_bucket"))
        .map(|l| format!("{l}\n"))
        .collect();
    app.write("quickdeploy.toml", &without);
    let (out, doc) = app.run_json(&["full", "--yes"]).await;
    assert_eq!(exit(&out), Some(0), "{doc}");
    assert!(
        doc["artifacts"][0]["artifact"]
            .as_str()
            .is_some_and(|a| a.starts_with(&format!("s3://{bucket}/"))),
        "{doc}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_falls_back_to_full_for_resource_changes_and_full_reconciles_hot_patches() {
    let rig = Rig::deployed().await;
    let app = &rig.app;

    // A quick deploy: recorded as hot patches, listed by status.
    app.write("src/shared/greeting.py", "def greeting(n):\n    return n\n");
    let (out, doc) = app.run_json(&["deploy"]).await;
    assert_eq!(exit(&out), Some(0), "{doc}");
    let (_, status) = app.run_json(&["status"]).await;
    let hot: Vec<&String> = status["hot_patched"]
        .as_object()
        .expect("record")
        .keys()
        .collect();
    assert_eq!(hot, ["GreetFunction", "HelloFunction"], "{status}");

    // A new queue and more memory: deploy says why and falls back to full.
    let template = std::fs::read_to_string(app.path("template.yaml")).expect("read");
    let template = template
        .replacen("MemorySize: 256", "MemorySize: 512", 1)
        .replacen(
            "Outputs:",
            "  Queue:\n    Type: AWS::SQS::Queue\n    Properties:\n      VisibilityTimeout: 60\n\nOutputs:",
            1,
        );
    app.write("template.yaml", &template);
    let out = app.run(&["deploy", "--yes"]).await;
    let text = stdout(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(exit(&out), Some(0), "{text}\n{err}");
    assert!(
        err.contains("falling back to a full deploy: template: "),
        "{err}"
    );
    assert!(err.contains("Queue (AWS::SQS::Queue) added"), "{err}");
    assert!(text.contains("Add      Queue"), "{text}");
    assert!(text.contains("Modify   ReportFunction"), "{text}");
    assert!(
        text.contains("reconciled hot-patched function(s): GreetFunction, HelloFunction"),
        "{text}"
    );

    // Applied: the queue exists, the memory changed, the record is clear.
    let names = app.stack_functions(testkit::app::STACK).await;
    let conf = app
        .lambda
        .get_function_configuration()
        .function_name(&names["ReportFunction"])
        .send()
        .await
        .expect("config");
    assert_eq!(conf.memory_size(), Some(512));
    let resources = app
        .cfn
        .describe_stack_resources()
        .stack_name(testkit::app::STACK)
        .send()
        .await
        .expect("resources");
    assert!(
        resources
            .stack_resources()
            .iter()
            .any(|r| r.logical_resource_id() == Some("Queue")
                && r.resource_type() == Some("AWS::SQS::Queue")),
        "{resources:?}"
    );
    let (_, status) = app.run_json(&["status"]).await;
    assert_eq!(status["hot_patched"], serde_json::json!({}), "{status}");

    // Nothing changed since: full says so, exit 0.
    let out = app.run(&["full", "--yes"]).await;
    assert_eq!(exit(&out), Some(0));
    assert!(
        stdout(&out).contains("nothing to deploy"),
        "{}",
        stdout(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dependency_change_falls_back_and_no_fallback_changes_nothing() {
    let rig = Rig::deployed().await;
    let app = &rig.app;
    let before = app.code_shas().await;
    app.write(
        "src/shared/requirements.txt",
        "# pinned nothing, but changed\n",
    );

    rig.moto.start_recording();
    let (out, doc) = app.run_json(&["deploy", "--ci", "--no-fallback"]).await;
    assert_eq!(exit(&out), Some(3), "{doc}");
    assert_eq!(Moto::writes(&rig.moto.recording()), Vec::<String>::new());
    assert_eq!(app.code_shas().await, before);

    let (out, doc) = app.run_json(&["deploy", "--ci"]).await;
    assert_eq!(exit(&out), Some(0), "{doc}");
    assert_eq!(doc["outcome"], "full");
    assert_eq!(doc["full"]["outcome"], "deployed", "{doc}");
    let uploaded: Vec<&Value> = doc["full"]["artifacts"]
        .as_array()
        .expect("artifacts")
        .iter()
        .filter(|a| a["uploaded"] == true)
        .collect();
    assert_eq!(
        uploaded.len(),
        1,
        "only the changed package is uploaded: {doc}"
    );
    let after = app.code_shas().await;
    assert_ne!(after["HelloFunction"], before["HelloFunction"]);
    assert_eq!(after["ReportFunction"], before["ReportFunction"]);
    let bytes = app
        .object("quickdeploy/quickdeploy-example/src-shared.zip", None)
        .await;
    let tree = testkit::zipcheck::zip_crate_tree(&bytes);
    assert_eq!(
        tree["requirements.txt"].0,
        b"# pinned nothing, but changed\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protected_stack_refuses_quick_deploys_unless_forced() {
    let rig = Rig::deployed().await;
    let app = &rig.app;
    let toml = std::fs::read_to_string(app.path("quickdeploy.toml")).expect("read");
    app.write(
        "quickdeploy.toml",
        &format!("{toml}protected = [\"quickdeploy-*\"]\n"),
    );
    app.write(
        "src/shared/greeting.py",
        "def greeting(n):\n    return 'hey'\n",
    );
    let (out, doc) = app.run_json(&["deploy", "--no-fallback"]).await;
    assert_eq!(exit(&out), Some(3), "{doc}");
    assert!(
        doc["needs_full"].to_string().contains("protected pattern"),
        "{doc}"
    );
    let (out, status) = app.run_json(&["status"]).await;
    assert_eq!(exit(&out), Some(0));
    assert!(
        status["protected"]
            .as_str()
            .is_some_and(|p| p.contains("quickdeploy-*")),
        "{status}"
    );
    let (out, doc) = app.run_json(&["deploy", "--force"]).await;
    assert_eq!(exit(&out), Some(0), "{doc}");
    assert_eq!(doc["outcome"], "deployed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_stack_update_reports_the_failed_events() {
    let rig = Rig::deployed().await;
    let app = &rig.app;
    // Fault-injecting proxy: moto's updates never fail, so the proxy reports this one as
    // CloudFormation would, a failed resource and a rolled-back stack.
    rig.proxy.fail_next_stack_update(
        "ReportFunction",
        "AWS::Lambda::Function",
        "Resource handler returned message: MemorySize value failed to satisfy constraint",
    );
    let template = std::fs::read_to_string(app.path("template.yaml")).expect("read");
    app.write(
        "template.yaml",
        &template.replacen("MemorySize: 256", "MemorySize: 20000", 1),
    );
    let (out, doc) = app.run_json(&["full", "--yes"]).await;
    assert_eq!(exit(&out), Some(1), "{doc}");
    assert_eq!(doc["outcome"], "failed");
    assert_eq!(doc["status"], "UPDATE_ROLLBACK_COMPLETE");
    let error = doc["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("ReportFunction (AWS::Lambda::Function) UPDATE_FAILED: Resource handler returned message: MemorySize"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_package_is_uploaded_in_parts() {
    let rig = Rig::deployed().await;
    let app = &rig.app;
    // 20 MiB that does not compress: past the 16 MiB multipart threshold.
    let noise = testkit::noise(20, 20 * 1024 * 1024);
    std::fs::write(app.path("src/report/big.bin"), &noise).expect("write");
    let (out, doc) = app.run_json(&["full", "--yes"]).await;
    assert_eq!(exit(&out), Some(0), "{doc}");
    let key = "quickdeploy/quickdeploy-example/src-report.zip";
    let head = app
        .s3
        .head_object()
        .bucket(testkit::app::BUCKET)
        .key(key)
        .send()
        .await
        .expect("head");
    // A multipart object's ETag ends in -<number of parts>.
    assert!(
        head.e_tag()
            .is_some_and(|e| e.trim_matches('"').ends_with("-3")),
        "{head:?}"
    );
    let bytes = app.object(key, None).await;
    let tree = testkit::zipcheck::zip_crate_tree(&bytes);
    assert!(tree["big.bin"].0 == noise, "the big file reads back");
    let shas = app.code_shas().await;
    use base64::Engine as _;
    use sha2::Digest as _;
    assert_eq!(
        shas["ReportFunction"],
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&bytes))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_runs_the_build_command_and_packages_its_output() {
    let rig = Rig::start().await;
    let app = &rig.app;
    let toml = std::fs::read_to_string(app.path("quickdeploy.toml")).expect("read");
    app.write(
        "quickdeploy.toml",
        &format!(
            "{toml}\n[functions.ReportFunction]\npackage = \"build/report\"\n\
             build = \"mkdir -p build/report && cp src/report/report.py build/report/ && echo built > build/report/BUILD_INFO\"\n"
        ),
    );
    let (out, doc) = app.run_json(&["full", "--yes"]).await;
    assert_eq!(
        exit(&out),
        Some(0),
        "{doc}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let artifact = doc["artifacts"]
        .as_array()
        .expect("artifacts")
        .iter()
        .find(|a| a["functions"] == serde_json::json!(["ReportFunction"]))
        .expect("report artifact");
    let key = artifact["artifact"]
        .as_str()
        .and_then(|a| a.strip_prefix(&format!("s3://{}/", testkit::app::BUCKET)))
        .expect("key")
        .to_owned();
    let tree = testkit::zipcheck::zip_crate_tree(&app.object(&key, None).await);
    assert_eq!(tree.keys().collect::<Vec<_>>(), ["BUILD_INFO", "report.py"]);
    assert_eq!(tree["BUILD_INFO"].0, b"built\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_reads_every_function_back_and_fails_when_one_is_not_as_the_template_says() {
    let rig = Rig::deployed().await;
    let (app, proxy) = (&rig.app, &rig.proxy);

    // A full deploy that went as the template says: every function verified.
    let template = std::fs::read_to_string(app.path("template.yaml")).expect("read");
    app.write(
        "template.yaml",
        &template.replace("MemorySize: 256", "MemorySize: 512"),
    );
    let (out, doc) = app.run_json(&["full", "--yes"]).await;
    assert_eq!(exit(&out), Some(0), "{doc}");
    let verified = doc["verified"].as_array().expect("verified");
    assert_eq!(verified.len(), 4, "{doc}");
    assert!(
        verified.iter().all(|c| c.get("differences").is_none()),
        "{doc}"
    );

    // A stack that says UPDATE_COMPLETE while a function is not live. moto's CloudFormation
    // updates functions inside moto, where no fault can be put, so the fault proxy makes
    // HelloFunction's last update Failed through a quick deploy first; Lambda then reports it
    // Failed until its next update, which the full deploy (inside moto) does not reach through
    // the proxy. full must read it back and fail, naming it, and keep the hot-patch record.
    let hello = app.function_names().await["HelloFunction"].clone();
    proxy.lambda_fault(
        &hello,
        testkit::proxy::LambdaFault {
            fail_with: Some("InternalError: the rig fails this update".into()),
            ..Default::default()
        },
    );
    app.write(
        "src/shared/greeting.py",
        "def greeting(name):\n    return f\"Hi, {name}\"\n",
    );
    let (out, _) = app.run_json(&["deploy"]).await;
    assert_eq!(exit(&out), Some(1));
    proxy.lambda_fault(&hello, testkit::proxy::LambdaFault::default());
    app.write(
        "template.yaml",
        &template.replace("MemorySize: 256", "MemorySize: 1024"),
    );
    let (out, doc) = app.run_json(&["full", "--yes"]).await;
    assert_eq!(exit(&out), Some(1), "{doc}");
    assert_eq!(doc["outcome"], "failed", "{doc}");
    let error = doc["error"].as_str().expect("error");
    assert!(
        error.contains("UPDATE_COMPLETE")
            && error.contains("HelloFunction: its last update failed"),
        "{error}"
    );
    assert!(doc.get("reconciled").is_none(), "{doc}");
    let (_, status) = app.run_json(&["status"]).await;
    assert!(
        status["hot_patched"].get("HelloFunction").is_some(),
        "the record is kept while a function is not as its template says: {status}"
    );
}
