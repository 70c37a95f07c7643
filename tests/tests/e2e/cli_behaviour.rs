//! The CLI as a careful user expects it, run as a process: it never hangs on an endpoint that
//! does not answer, and its errors name the call and the endpoint.

use std::time::{Duration, Instant};

use testkit::app::Rig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_endpoint_times_out_naming_the_call_and_the_endpoint() {
    let rig = Rig::start().await;
    let (url, _listener) = testkit::rig::stalled_endpoint();
    for args in [
        &["status", "--read-timeout", "2", "--connect-timeout", "2"][..],
        &[
            "deploy",
            "--ci",
            "--read-timeout",
            "2",
            "--connect-timeout",
            "2",
        ],
    ] {
        let mut cmd = rig.app.command(args);
        cmd.env("AWS_ENDPOINT_URL", &url);
        let started = Instant::now();
        let out = tokio::task::spawn_blocking(move || cmd.output().expect("run"))
            .await
            .expect("join");
        let took = started.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);
        // Three attempts of 2 s each, plus start-up: far from the minutes it took before.
        assert!(took < Duration::from_secs(40), "{args:?} took {took:?}");
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&url) && stderr.contains("AWS_ENDPOINT_URL"),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains("no answer in time"), "{args:?}: {stderr}");
        assert!(stderr.contains("cannot "), "the call is named: {stderr}");
    }
}

/// With the default timeouts (an attempt's answer 20 s, the whole call 45 s), a stalled
/// endpoint fails `status` well within 90 s, not after the 327 s that five attempts of 60 s
/// and their backoff took, and the wait is not silent: after 5 s a line names the call, the
/// endpoint and the attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_endpoint_is_shown_while_waiting_and_fails_within_the_deadline() {
    let rig = Rig::start().await;
    let (url, _listener) = testkit::rig::stalled_endpoint();
    let mut cmd = rig.app.command(&["status"]);
    cmd.env("AWS_ENDPOINT_URL", &url)
        .env_remove("QUICKDEPLOY_READ_TIMEOUT")
        .env_remove("QUICKDEPLOY_CALL_TIMEOUT");
    let started = Instant::now();
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run"))
        .await
        .expect("join");
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(took < Duration::from_secs(90), "took {took:?}: {stderr}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let waiting = stderr
        .lines()
        .find(|l| l.starts_with("still waiting for "))
        .unwrap_or_else(|| panic!("no progress line: {stderr}"));
    assert!(
        waiting.contains(&url) && waiting.contains("attempt 1") && waiting.contains("5 s"),
        "{waiting}"
    );
    assert!(stderr.contains("no answer in time"), "{stderr}");
    assert!(stderr.contains(&url), "the endpoint is named: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_section_the_template_lacks_is_an_error_with_a_suggestion() {
    let rig = Rig::start().await;
    let app = &rig.app;
    let toml = std::fs::read_to_string(app.path("quickdeploy.toml")).expect("read");
    app.write(
        "quickdeploy.toml",
        &format!("{toml}\n[functions.HeloFunction]\ninclude = [\"../lib\"]\n"),
    );
    for args in [&["status"][..], &["deploy", "--ci"], &["full", "--yes"]] {
        let out = app.run(args).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("[functions.HeloFunction]")
                && stderr.contains("did you mean HelloFunction?"),
            "{args:?}: {stderr}"
        );
        // Said once, not twice.
        assert_eq!(stderr.matches("did you mean").count(), 1, "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_makes_a_named_bucket_that_does_not_exist() {
    let rig = Rig::start().await;
    let app = &rig.app;
    let binary = testkit::bin("zipedit");
    let args = [
        "bootstrap",
        "--binary",
        binary.to_str().expect("utf-8 path"),
        "--arch",
        "x86_64",
        "--bucket",
        "my-own-artifacts",
    ];
    let (out, doc) = app.run_json(&args).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{doc}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(doc["bucket"], "my-own-artifacts");
    assert_eq!(doc["bucket_created"], true, "{doc}");
    // Versioned (a put gets a version id), with the housekeeping rule.
    let put = app
        .s3
        .put_object()
        .bucket("my-own-artifacts")
        .key("probe")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("put");
    assert!(put.version_id().is_some_and(|v| v != "null"), "{put:?}");
    let life = app
        .s3
        .get_bucket_lifecycle_configuration()
        .bucket("my-own-artifacts")
        .send()
        .await
        .expect("lifecycle");
    assert_eq!(life.rules()[0].id(), Some("quickdeploy-housekeeping"));
    // Again: the bucket is there, nothing is made.
    let (out, doc) = app.run_json(&args).await;
    assert_eq!(out.status.code(), Some(0), "{doc}");
    assert_eq!(doc["bucket_created"], false, "{doc}");
}

/// Runs the CLI in the app with extra environment; (exit code, stderr).
async fn run_env(
    app: &testkit::app::App,
    args: &[&str],
    env: &[(&str, &str)],
    remove: &[&str],
) -> (Option<i32>, String) {
    let mut cmd = app.command(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    for k in remove {
        cmd.env_remove(k);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run"))
        .await
        .expect("join");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_errors_exit_2_with_one_plain_message() {
    let rig = Rig::start().await;
    let app = &rig.app;

    // A profile that is not there: said so, not "no region".
    std::fs::write(
        app.path(".aws-config"),
        "[profile dev]\nregion = us-east-1\n",
    )
    .expect("write");
    let config = app.path(".aws-config");
    let config = config.to_str().expect("utf-8");
    let (code, stderr) = run_env(
        app,
        &["status", "--profile", "dve"],
        &[("AWS_CONFIG_FILE", config)],
        &["AWS_REGION"],
    )
    .await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("AWS profile \"dve\" not found") && stderr.contains("profiles there: dev"),
        "{stderr}"
    );
    assert!(!stderr.contains("region"), "{stderr}");

    // No credentials anywhere: one line that says what to do.
    let (code, stderr) = run_env(
        app,
        &["status"],
        &[],
        &["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
    )
    .await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("no AWS credentials found"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    // A refused connection names the endpoint.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "http://localhost:{}",
        closed.local_addr().expect("addr").port()
    );
    drop(closed);
    let (code, stderr) = run_env(app, &["status"], &[("AWS_ENDPOINT_URL", &url)], &[]).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot connect") && stderr.contains(&url),
        "{stderr}"
    );

    // A missing template, for every command that reads it.
    std::fs::rename(app.path("template.yaml"), app.path("template.yml.bak")).expect("move");
    for args in [&["status"][..], &["deploy", "--ci"], &["full", "--yes"]] {
        let (code, stderr) = run_env(app, args, &[], &[]).await;
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("cannot read the template"), "{stderr}");
        assert_eq!(
            stderr.matches("cannot read the template").count(),
            1,
            "{stderr}"
        );
    }
    std::fs::rename(app.path("template.yml.bak"), app.path("template.yaml")).expect("move");

    // An artifact bucket that does not exist.
    let toml = std::fs::read_to_string(app.path("quickdeploy.toml")).expect("read");
    app.write(
        "quickdeploy.toml",
        &toml.replace("quickdeploy-example-artifacts", "no-such-bucket-here"),
    );
    let (code, stderr) = run_env(app, &["full", "--yes"], &[], &[]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("bucket no-such-bucket-here does not exist"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_patcher_is_said_once_and_names_are_short() {
    let rig = Rig::deployed().await;
    let app = &rig.app;
    app.write("src/shared/greeting.py", "def greeting(n):\n    return n\n");
    app.write("src/report/report.py", "def handler(e, c):\n    return 1\n");
    let out = app.run(&["deploy", "--patcher", "no-such-patcher"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert_eq!(stdout.matches("Function not found").count(), 1, "{stdout}");
    assert!(
        stdout.contains("patch FAILED for src-report.zip, src-shared.zip:"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "artifacts in s3://quickdeploy-example-artifacts/quickdeploy/quickdeploy-example/"
        ),
        "{stdout}"
    );
    // status says in one word what deploy would do.
    let (_, status) = app.run_json(&["status"]).await;
    assert_eq!(
        (&status["ok"], &status["outcome"]),
        (&true.into(), &"quick-deploy".into())
    );
    // QUICKDEPLOY_PATCHER names the patcher too; the right one deploys.
    let mut cmd = app.command(&["deploy", "--json"]);
    cmd.env("QUICKDEPLOY_PATCHER", testkit::app::PATCHER);
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run"))
        .await
        .expect("join");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["outcome"], "deployed", "{doc}");
    let (_, status) = app.run_json(&["status"]).await;
    assert_eq!(status["outcome"], "nothing-to-deploy", "{status}");
    // Nothing left: the unchanged artifacts are one short line each.
    let out = app.run(&["deploy"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("  src-shared.zip  unchanged\n"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_dry_run_shows_the_change_set_and_executes_nothing() {
    let rig = Rig::deployed().await;
    let app = &rig.app;
    let template = std::fs::read_to_string(app.path("template.yaml")).expect("read");
    app.write(
        "template.yaml",
        &template.replacen("MemorySize: 256", "MemorySize: 512", 1),
    );
    let (out, doc) = app.run_json(&["full", "--dry-run"]).await;
    assert_eq!(out.status.code(), Some(0), "{doc}");
    assert_eq!(doc["outcome"], "dry-run", "{doc}");
    assert!(
        doc["changes"].to_string().contains("ReportFunction"),
        "{doc}"
    );
    assert_eq!(
        app.memory_size("ReportFunction").await,
        Some(256),
        "nothing executed"
    );
    // --stack names another stack: a dry run there would create it, and is deleted again.
    let (out, doc) = app
        .run_json(&[
            "full",
            "--dry-run",
            "--stack",
            "quickdeploy-example-staging",
        ])
        .await;
    assert_eq!(out.status.code(), Some(0), "{doc}");
    assert_eq!(doc["stack"], "quickdeploy-example-staging", "{doc}");
    assert_eq!(doc["outcome"], "dry-run", "{doc}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verbose_traces_every_aws_call_with_its_time() {
    let rig = Rig::deployed().await;
    let out = rig.app.run(&["status", "-v"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let calls: Vec<&str> = stderr.lines().filter(|l| l.starts_with("aws ")).collect();
    assert!(
        calls
            .iter()
            .any(|l| l.starts_with("aws CloudFormation.DescribeStacks 200 ") && l.ends_with(" ms")),
        "{stderr}"
    );
    assert!(
        calls.iter().any(|l| l.starts_with("aws S3.HeadObject 200")),
        "{stderr}"
    );
    // Without -v, none of it.
    let out = rig.app.run(&["status"]).await;
    assert!(!String::from_utf8_lossy(&out.stderr).contains("aws CloudFormation."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_into_a_closed_pipe_ends_quietly() {
    let rig = Rig::deployed().await;
    let mut cmd = rig.app.command(&["status"]);
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let stderr = tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().expect("run");
        // `| head -0`: the reader is gone before status prints (it reads AWS first).
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        String::from_utf8_lossy(&out.stderr).into_owned()
    })
    .await
    .expect("join");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_template_or_a_shared_artifact_conflict_is_bad_input() {
    let rig = Rig::deployed().await;
    let app = &rig.app;

    // Two functions that share an artifact but are given different packages: the user's
    // config must change (exit 2), not a failure of the deploy (exit 1).
    let toml = std::fs::read_to_string(app.path("quickdeploy.toml")).expect("read");
    app.write(
        "quickdeploy.toml",
        &format!("{toml}\n[functions.GreetFunction]\npackage = \"src/report\"\n"),
    );
    for args in [&["status"][..], &["deploy", "--ci"]] {
        let out = app.run(args).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("share the artifact"), "{args:?}: {stderr}");
    }
    // With --json the error is a document too, naming its kind.
    let (out, doc) = app.run_json(&["deploy", "--ci"]).await;
    assert_eq!(out.status.code(), Some(2), "{doc}");
    assert_eq!(doc["error"]["type"], "BadInput", "{doc}");
    app.write("quickdeploy.toml", &toml);

    // A template that is not YAML, for every command that reads it (watch stops at start).
    let template = std::fs::read_to_string(app.path("template.yaml")).expect("read");
    app.write("template.yaml", "Resources: [unclosed\n");
    for args in [
        &["status"][..],
        &["deploy", "--ci"],
        &["full", "--yes"],
        &["watch", "--no-fallback"],
    ] {
        let out = app.run(args).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("YAML"), "{args:?}: {stderr}");
    }
    app.write("template.yaml", &template);
    let out = app.run(&["status"]).await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

/// Issue 23: a stack or bucket name AWS would refuse stops every command when the project
/// is loaded, exit 2, naming the rule and a name that works: nothing is built, packaged or
/// uploaded (moto takes such names, so without the check `full` would upload first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_aws_would_refuse_stops_the_command_before_anything_is_uploaded() {
    let rig = Rig::start().await;
    let app = &rig.app;
    let toml = std::fs::read_to_string(app.path("quickdeploy.toml")).expect("read");
    let stack = toml
        .lines()
        .find(|l| l.starts_with("stack = "))
        .expect("a stack line")
        .to_owned();
    let cases = [
        (
            toml.replace(&stack, "stack = \"bad name!\""),
            "stack name \"bad name!\" would be refused by CloudFormation",
        ),
        (
            format!("{toml}\n").replace(
                "artifact_bucket = \"quickdeploy-example-artifacts\"",
                "artifact_bucket = \"Quickdeploy_Artifacts\"",
            ),
            "bucket name \"Quickdeploy_Artifacts\" would be refused by S3",
        ),
    ];
    for (text, said) in &cases {
        assert_ne!(text.trim(), toml.trim(), "the case changes the file");
        app.write("quickdeploy.toml", text);
        for args in [&["full", "--yes"][..], &["deploy", "--ci"], &["status"]] {
            let out = app.run(args).await;
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
            assert!(stderr.contains(said), "{args:?}: {stderr}");
        }
    }
    app.write("quickdeploy.toml", &toml);
    let out = app.run(&["full", "--yes", "--stack", "bad name!"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--stack: stack name \"bad name!\""),
        "{stderr}"
    );
    // Nothing reached S3 or CloudFormation.
    assert_eq!(
        app.keys(testkit::app::BUCKET, "").await,
        Vec::<String>::new()
    );
    let stacks = app.cfn.describe_stacks().send().await.expect("stacks");
    assert!(stacks.stacks().is_empty(), "{:?}", stacks.stacks());
}

/// Issue 23: `status` names how each function and layer is built (the method and the
/// architecture), as `deploy` builds them, human and JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_names_each_build_with_its_method_and_architecture() {
    let rig = Rig::start_app("build-python", "build-python-artifacts").await;
    let app = &rig.app;
    let out = app.run(&["full", "--yes"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = app.run(&["status"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for built in [
        "built Shared by python3.12 for x86_64",
        "built Py by python3.12 for x86_64",
    ] {
        assert!(stdout.contains(built), "{built}: {stdout}");
    }
    let (_, doc) = app.run_json(&["status"]).await;
    let builds = doc["builds"].as_array().expect("builds");
    assert!(
        builds
            .iter()
            .any(|b| b["ids"] == serde_json::json!(["Shared"]) && b["architecture"] == "x86_64"),
        "{doc}"
    );
}
