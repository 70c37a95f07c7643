//! What the CLI refuses to do, end to end against moto, the CLI run as a process with no
//! terminal (its stdin is not one): links out of a package, fallbacks and new stacks nobody
//! asked for, removals without explicit consent, packages over Lambda's limits.

use serde_json::Value;
use testkit::app::{BUCKET, Rig, STACK};
use testkit::rig::Moto;

fn exit(out: &std::process::Output) -> Option<i32> {
    out.status.code()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The artifact of the shared package, as `full` names it.
const SHARED_KEY: &str = "quickdeploy/quickdeploy-example/src-shared.zip";

/// The write calls moto saw, less S3 ones (the staged-artifact and manifest uploads that come
/// before a change set), so what is left is what touched the stack or the functions.
fn stack_writes(moto: &Moto) -> Vec<String> {
    Moto::writes(&moto.recording())
        .into_iter()
        .filter(|w| !w.starts_with("PUT ") && !w.contains(BUCKET))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_out_of_the_package_are_refused_by_every_command() {
    let rig = Rig::deployed().await;
    let app = &rig.app;
    let artifact = app.object(SHARED_KEY, None).await;
    let before = app.code_shas().await;
    let secret = tempfile::tempdir().expect("tmp");
    std::fs::write(secret.path().join("credentials"), "aws_secret_access_key=x").expect("write");
    std::os::unix::fs::symlink(
        secret.path().join("credentials"),
        app.path("src/shared/creds.py"),
    )
    .expect("link");

    rig.moto.start_recording();
    for args in [
        &["deploy", "--ci"][..],
        &["deploy", "--local", "--ci"],
        &["status"],
        &["full", "--yes"],
    ] {
        let (out, doc) = app.run_json(args).await;
        assert_eq!(exit(&out), Some(2), "{args:?}: {doc}");
        let message = doc["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("creds.py") && message.contains("outside the package"),
            "{args:?}: {doc}"
        );
        assert_eq!(doc["error"]["type"], "BadInput", "{args:?}: {doc}");
    }
    assert_eq!(Moto::writes(&rig.moto.recording()), Vec::<String>::new());
    assert_eq!(app.object(SHARED_KEY, None).await, artifact);
    assert_eq!(app.code_shas().await, before);

    // patch-zip: a --put FILE that is a link out of the working folder.
    let zip = app.path("local.zip");
    std::fs::write(&zip, &artifact).expect("write");
    let out = app
        .run(&[
            "patch-zip",
            "local.zip",
            "-o",
            "local.zip",
            "--put",
            "creds.py=src/shared/creds.py",
        ])
        .await;
    assert_eq!(exit(&out), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("outside the package"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&zip).expect("read"), artifact);

    // A link inside the package is stored as the file it names.
    std::fs::remove_file(app.path("src/shared/creds.py")).expect("unlink");
    std::os::unix::fs::symlink("greeting.py", app.path("src/shared/alias.py")).expect("link");
    let (out, doc) = app.run_json(&["deploy", "--ci"]).await;
    assert_eq!(exit(&out), Some(0), "{doc}\n{}", stderr(&out));
    let tree = testkit::zipcheck::zip_crate_tree(&app.object(SHARED_KEY, None).await);
    assert_eq!(tree["alias.py"].0, tree["greeting.py"].0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fallback_needs_yes_and_removals_need_allow_removals() {
    let rig = Rig::deployed().await;
    let app = &rig.app;
    let functions = app.function_names().await;
    // The template loses GreetFunction: a full deploy would delete it.
    let template = std::fs::read_to_string(app.path("template.yaml")).expect("read");
    let start = template.find("  GreetFunction:").expect("GreetFunction");
    let end = template.find("  ReportFunction:").expect("ReportFunction");
    app.write(
        "template.yaml",
        &format!("{}{}", &template[..start], &template[end..]),
    );

    // No terminal, no --yes: no fallback at all, nothing written anywhere.
    rig.moto.start_recording();
    let (out, doc) = app.run_json(&["deploy"]).await;
    assert_eq!(exit(&out), Some(3), "{doc}");
    assert_eq!(doc["outcome"], "needs-full", "{doc}");
    assert!(
        doc["refused"].as_str().is_some_and(|r| r.contains("--yes")),
        "{doc}"
    );
    assert_eq!(Moto::writes(&rig.moto.recording()), Vec::<String>::new());

    // --yes is consent to the fallback, not to a removal: refused, the change set deleted.
    for args in [
        &["deploy", "--yes"][..],
        &["deploy", "--ci"],
        &["full", "--yes"],
    ] {
        rig.moto.start_recording();
        let (out, doc) = app.run_json(args).await;
        assert_eq!(exit(&out), Some(3), "{args:?}: {doc}");
        let full = if args[0] == "deploy" {
            &doc["full"]
        } else {
            &doc
        };
        assert_eq!(full["outcome"], "refused", "{args:?}: {doc}");
        let why = full["error"].as_str().unwrap_or_default();
        assert!(
            why.contains("removes GreetFunction") && why.contains("--allow-removals"),
            "{args:?}: {doc}"
        );
        let writes = stack_writes(&rig.moto);
        assert!(
            writes.iter().all(|w| !w.contains("ExecuteChangeSet")),
            "{args:?}: {writes:?}"
        );
        assert!(
            writes.iter().any(|w| w.contains("DeleteChangeSet")),
            "{args:?}: {writes:?}"
        );
        assert_eq!(app.function_names().await, functions);
        let sets = app
            .cfn
            .list_change_sets()
            .stack_name(STACK)
            .send()
            .await
            .expect("list_change_sets");
        // moto keeps executed change sets; none may be left waiting.
        let waiting: Vec<_> = sets
            .summaries()
            .iter()
            .filter(|c| c.execution_status().map(|e| e.as_str()) != Some("EXECUTE_COMPLETE"))
            .collect();
        assert_eq!(waiting.len(), 0, "{sets:?}");
    }

    // With --allow-removals too: executed.
    let (out, doc) = app.run_json(&["deploy", "--yes", "--allow-removals"]).await;
    assert_eq!(exit(&out), Some(0), "{doc}\n{}", stderr(&out));
    assert_eq!(doc["full"]["outcome"], "deployed", "{doc}");
    let after = app.function_names().await;
    assert!(!after.contains_key("GreetFunction"), "{after:?}");
    assert!(after.contains_key("HelloFunction"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_without_a_terminal_creates_no_stack_it_was_not_asked_for() {
    let rig = Rig::start().await;
    let app = &rig.app;
    let (out, doc) = app.run_json(&["full"]).await;
    assert_eq!(exit(&out), Some(3), "{doc}\n{}", stderr(&out));
    assert_eq!(doc["outcome"], "refused", "{doc}");
    assert!(
        doc["error"]
            .as_str()
            .is_some_and(|e| e.contains("does not exist") && e.contains("--yes")),
        "{doc}"
    );
    // The empty stack CloudFormation made to hold the change set is gone too.
    let live: Vec<Value> = app
        .cfn
        .list_stacks()
        .send()
        .await
        .expect("list_stacks")
        .stack_summaries()
        .iter()
        .filter(|s| s.stack_name() == Some(STACK))
        .filter(|s| {
            s.stack_status()
                .is_some_and(|st| st.as_str() != "DELETE_COMPLETE")
        })
        .map(|s| Value::String(format!("{s:?}")))
        .collect();
    assert_eq!(live, Vec::<Value>::new());

    let (out, doc) = app.run_json(&["full", "--yes"]).await;
    assert_eq!(exit(&out), Some(0), "{doc}\n{}", stderr(&out));
    assert_eq!(doc["outcome"], "deployed", "{doc}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packages_over_lambdas_limit_are_refused_before_anything_is_uploaded() {
    let rig = Rig::deployed().await;
    let app = &rig.app;
    let before = app.code_shas().await;
    // A sparse file: 300 MB by its size, nothing on disk. Refused by size alone, unread.
    let big = std::fs::File::create(app.path("src/shared/model.bin")).expect("create");
    big.set_len(300_000_000).expect("set_len");
    app.write("src/shared/vocab.txt", "small\n");

    rig.moto.start_recording();
    for args in [
        &["deploy", "--ci", "--no-fallback"][..],
        &["status"],
        &["full", "--yes"],
    ] {
        let (out, doc) = app.run_json(args).await;
        assert_eq!(exit(&out), Some(2), "{args:?}: {doc}");
        let message = doc["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("model.bin (300000000 bytes)") && message.contains("250 MB"),
            "{args:?}: {doc}"
        );
    }
    assert_eq!(Moto::writes(&rig.moto.recording()), Vec::<String>::new());
    assert_eq!(app.code_shas().await, before);
}
