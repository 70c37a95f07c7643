//! Getting onto AWS and off it again, on the rig: `bootstrap` finds the package `make install`
//! installed without --code or --binary, and `destroy` removes the patcher stack, and only when
//! named (with --yes, or nothing changes) the versioned artifact bucket with every version in it.
//! The CLI runs as a process whose stdin is not a terminal, as in CI.

use std::path::Path;
use std::process::{Command, Output};

use aws_sdk_s3::primitives::ByteStream;
use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use testkit::app::{App, Rig};

/// Where bootstrap makes its bucket on the rig (moto's account, the rig's region).
const DEFAULT_BUCKET: &str = "quickdeploy-artifacts-123456789012-us-east-1";
const STACK: &str = "quickdeploy-zipedit";

/// Runs `quickdeploy ARGS` with extra environment variables.
async fn run_env(app: &App, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = app.command(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    tokio::task::spawn_blocking(move || cmd.output().expect("run quickdeploy"))
        .await
        .expect("join")
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}); exit {:?}\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A folder laid out as `make install` leaves PREFIX/share/quickdeploy: the debug zipedit
/// packaged by scripts/package-lambda.sh, as zipedit-x86_64.zip. Returns the zip's CodeSha256.
fn installed_package(share: &Path) -> String {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = tempfile::tempdir().expect("tmp");
    let run = Command::new(repo.join("scripts/package-lambda.sh"))
        .arg("--binary")
        .arg(testkit::bin("zipedit"))
        .arg("--out")
        .arg(out.path())
        .output()
        .expect("run scripts/package-lambda.sh");
    assert!(
        run.status.success(),
        "package-lambda.sh failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let zip = std::fs::read(out.path().join("bootstrap.zip")).expect("zip");
    std::fs::write(share.join("zipedit-x86_64.zip"), &zip).expect("install the package");
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&zip))
}

/// The stack's status in moto, `None` once it is gone.
async fn stack_status(app: &App, stack: &str) -> Option<String> {
    match app.cfn.describe_stacks().stack_name(stack).send().await {
        Ok(d) => d
            .stacks()
            .first()
            .and_then(|s| s.stack_status())
            .map(|s| s.as_str().to_owned())
            .filter(|s| s != "DELETE_COMPLETE"),
        Err(_) => None,
    }
}

async fn bucket_exists(app: &App, bucket: &str) -> bool {
    app.s3.head_bucket().bucket(bucket).send().await.is_ok()
}

/// Object versions and delete markers in a bucket (one page: the tests keep it under 1000).
async fn versions(app: &App, bucket: &str) -> (usize, usize) {
    let mut count = (0, 0);
    let mut key_marker = None;
    let mut version_marker = None;
    loop {
        let page = app
            .s3
            .list_object_versions()
            .bucket(bucket)
            .set_key_marker(key_marker.take())
            .set_version_id_marker(version_marker.take())
            .send()
            .await
            .expect("list_object_versions");
        count.0 += page.versions().len();
        count.1 += page.delete_markers().len();
        if page.is_truncated() != Some(true) {
            return count;
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        version_marker = page.next_version_id_marker().map(str::to_owned);
    }
}

/// `bootstrap` with no --code/--binary and the package where `make install` puts it.
async fn bootstrap_installed(app: &App, share: &Path) -> Value {
    let out = run_env(
        app,
        &["bootstrap", "--arch", "x86_64", "--output", "json"],
        &[("QUICKDEPLOY_PATCHER_PACKAGE_DIR", share)],
    )
    .await;
    let doc = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{doc}\n{}", stderr(&out));
    doc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_finds_the_installed_package_or_says_where_it_looked() {
    let rig = Rig::start().await;
    let app = &rig.app;
    // Nothing installed: exit 2, naming the place looked in and the fix; nothing made.
    let empty = tempfile::tempdir().expect("tmp");
    let out = run_env(
        app,
        &["bootstrap", "--arch", "x86_64"],
        &[("QUICKDEPLOY_PATCHER_PACKAGE_DIR", empty.path())],
    )
    .await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let looked = empty.path().join("zipedit-x86_64.zip");
    assert!(err.contains(&looked.display().to_string()), "{err}");
    assert!(
        err.contains("share/quickdeploy/zipedit-x86_64.zip"),
        "{err}"
    );
    assert!(
        err.contains("make install") && err.contains("--code"),
        "{err}"
    );
    assert!(!bucket_exists(app, DEFAULT_BUCKET).await);
    assert_eq!(stack_status(app, STACK).await, None);

    // Installed: taken by itself; the code uploaded is that package, byte for byte.
    let share = tempfile::tempdir().expect("tmp");
    let sha = installed_package(share.path());
    let doc = bootstrap_installed(app, share.path()).await;
    assert_eq!(doc["outcome"], "created", "{doc}");
    assert_eq!(doc["code_sha256"], sha.as_str(), "{doc}");
    assert_eq!(
        doc["source"],
        share
            .path()
            .join("zipedit-x86_64.zip")
            .display()
            .to_string()
            .as_str(),
        "{doc}"
    );
    let conf = app
        .lambda
        .get_function_configuration()
        .function_name("quickdeploy-zipedit")
        .send()
        .await
        .expect("the patcher function");
    assert_eq!(conf.code_sha256(), Some(sha.as_str()));
    // --output human prints no JSON; a second run changes nothing.
    let out = run_env(
        app,
        &["bootstrap", "--arch", "x86_64", "--output", "human"],
        &[("QUICKDEPLOY_PATCHER_PACKAGE_DIR", share.path())],
    )
    .await;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");
    assert!(text.contains("nothing to change"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroy_removes_the_patcher_stack_and_keeps_the_bucket() {
    let rig = Rig::start().await;
    let app = &rig.app;
    let share = tempfile::tempdir().expect("tmp");
    installed_package(share.path());
    bootstrap_installed(app, share.path()).await;
    assert_eq!(
        stack_status(app, STACK).await.as_deref(),
        Some("CREATE_COMPLETE")
    );
    let before = versions(app, DEFAULT_BUCKET).await;
    assert!(before.0 > 0, "bootstrap uploaded the patcher's code");

    let (out, doc) = app.run_json(&["destroy", "--yes"]).await;
    assert_eq!(out.status.code(), Some(0), "{doc}\n{}", stderr(&out));
    assert_eq!(doc["ok"], true, "{doc}");
    assert_eq!(doc["outcome"], "destroyed", "{doc}");
    assert_eq!(doc["stack_deleted"], true, "{doc}");
    assert_eq!(doc["stack_status"], "DELETE_COMPLETE", "{doc}");
    assert_eq!(doc["bucket_deleted"], false, "{doc}");
    assert_eq!(stack_status(app, STACK).await, None);
    // The stack's function went with it.
    assert!(
        app.lambda
            .get_function()
            .function_name("quickdeploy-zipedit")
            .send()
            .await
            .is_err(),
        "the patcher function is still there"
    );
    // The bucket and every version in it stay.
    assert!(bucket_exists(app, DEFAULT_BUCKET).await);
    assert_eq!(versions(app, DEFAULT_BUCKET).await, before);

    // Again: nothing to remove, exit 0.
    let (out, doc) = app.run_json(&["destroy", "--yes"]).await;
    assert_eq!(out.status.code(), Some(0), "{doc}\n{}", stderr(&out));
    assert_eq!(doc["outcome"], "nothing", "{doc}");
}

/// A versioned bucket holding `keys` keys written `rounds` times each, one delete marker, and an
/// unfinished multipart upload.
async fn fill(app: &App, bucket: &str, keys: usize, rounds: usize) {
    let s3 = &app.s3;
    testkit::rig::make_bucket(s3, bucket, true).await;
    for round in 0..rounds {
        let puts = (0..keys).map(|k| {
            s3.put_object()
                .bucket(bucket)
                .key(format!("artifacts/f{k}.zip"))
                .body(ByteStream::from(
                    format!("round {round} key {k}").into_bytes(),
                ))
                .send()
        });
        for put in futures_join(puts).await {
            put.expect("put");
        }
    }
    s3.delete_object()
        .bucket(bucket)
        .key("artifacts/f0.zip")
        .send()
        .await
        .expect("delete marker");
    s3.create_multipart_upload()
        .bucket(bucket)
        .key("staging/unfinished")
        .send()
        .await
        .expect("multipart upload");
}

/// Awaits the futures 32 at a time, in order.
async fn futures_join<F>(futs: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let mut out = Vec::new();
    let mut pending = Vec::new();
    for f in futs {
        pending.push(tokio::spawn(f));
        if pending.len() == 32 {
            for h in pending.drain(..) {
                out.push(h.await.expect("join"));
            }
        }
    }
    for h in pending {
        out.push(h.await.expect("join"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroy_delete_bucket_empties_every_version_in_batches_and_deletes_it() {
    let rig = Rig::start().await;
    let app = &rig.app;
    // 3 rounds of 350 keys: 1050 versions, past one DeleteObjects batch of 1000.
    fill(app, "doomed-artifacts", 350, 3).await;
    assert_eq!(versions(app, "doomed-artifacts").await, (1050, 1));

    let (out, doc) = app
        .run_json(&["destroy", "--yes", "--delete-bucket", "doomed-artifacts"])
        .await;
    assert_eq!(out.status.code(), Some(0), "{doc}\n{}", stderr(&out));
    assert_eq!(doc["outcome"], "destroyed", "{doc}");
    // No patcher stack on this rig: only the bucket goes.
    assert_eq!(doc["stack_deleted"], false, "{doc}");
    assert_eq!(doc["bucket_deleted"], true, "{doc}");
    assert_eq!(doc["versions_deleted"], 1050, "{doc}");
    assert_eq!(doc["delete_markers_deleted"], 1, "{doc}");
    assert_eq!(doc["uploads_aborted"], 1, "{doc}");
    assert!(!bucket_exists(app, "doomed-artifacts").await);
    // The app's own bucket was not named, and stays.
    assert!(bucket_exists(app, testkit::app::BUCKET).await);

    // A bucket that is not there: exit 2, nothing changed.
    let (out, doc) = app
        .run_json(&["destroy", "--yes", "--delete-bucket", "doomed-artifacts"])
        .await;
    assert_eq!(out.status.code(), Some(2), "{doc}\n{}", stderr(&out));
    assert_eq!(doc["ok"], false, "{doc}");
    assert!(stderr(&out).contains("not found"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroy_without_yes_and_without_a_terminal_exits_3_and_changes_nothing() {
    let rig = Rig::start().await;
    let app = &rig.app;
    let share = tempfile::tempdir().expect("tmp");
    installed_package(share.path());
    bootstrap_installed(app, share.path()).await;
    fill(app, "kept-artifacts", 5, 2).await;
    let stack_before = stack_status(app, STACK).await;
    let default_before = versions(app, DEFAULT_BUCKET).await;
    let kept_before = versions(app, "kept-artifacts").await;

    for args in [
        &["destroy"][..],
        &["destroy", "--delete-bucket", "kept-artifacts"][..],
        &["destroy", "--delete-bucket", DEFAULT_BUCKET][..],
    ] {
        let (out, doc) = app.run_json(args).await;
        assert_eq!(
            out.status.code(),
            Some(3),
            "{args:?}: {doc}\n{}",
            stderr(&out)
        );
        assert_eq!(doc["ok"], false, "{doc}");
        assert_eq!(doc["error"]["type"], "Refused", "{doc}");
        assert!(stderr(&out).contains("--yes"), "{}", stderr(&out));
    }
    // Nothing changed: the stack, both buckets and all their versions and uploads.
    assert_eq!(stack_status(app, STACK).await, stack_before);
    assert_eq!(versions(app, DEFAULT_BUCKET).await, default_before);
    assert_eq!(versions(app, "kept-artifacts").await, kept_before);
    let uploads = app
        .s3
        .list_multipart_uploads()
        .bucket("kept-artifacts")
        .send()
        .await
        .expect("uploads");
    assert_eq!(uploads.uploads().len(), 1);
    assert!(
        app.lambda
            .get_function()
            .function_name("quickdeploy-zipedit")
            .send()
            .await
            .is_ok()
    );
}

/// Runs `quickdeploy ARGS` on a pseudo-terminal, typing `answer`. Returns the exit code and
/// everything the terminal showed.
async fn on_terminal(app: &App, args: &[&str], answer: &str) -> (Option<i32>, String) {
    let mut term = app.on_terminal(args);
    term.type_line(answer);
    tokio::task::spawn_blocking(move || {
        let code = term.wait(std::time::Duration::from_secs(120));
        (code, term.screen())
    })
    .await
    .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroy_on_a_terminal_lists_what_goes_and_removes_a_bucket_only_when_its_name_is_typed() {
    let rig = Rig::start().await;
    let app = &rig.app;
    let share = tempfile::tempdir().expect("tmp");
    installed_package(share.path());
    bootstrap_installed(app, share.path()).await;
    let before = versions(app, DEFAULT_BUCKET).await;

    // "n": nothing removed, exit 3; the listing named the stack's resources.
    let (code, shown) = on_terminal(app, &["destroy"], "n").await;
    assert_eq!(code, Some(3), "{shown}");
    assert!(shown.contains("remove it? [y/N]"), "{shown}");
    assert!(
        shown.contains("Function (AWS::Lambda::Function) quickdeploy-zipedit"),
        "{shown}"
    );
    assert!(shown.contains("AWS::IAM::Role"), "{shown}");
    assert_eq!(
        stack_status(app, STACK).await.as_deref(),
        Some("CREATE_COMPLETE")
    );

    // A bucket goes only when its whole name is typed: "y" is not enough.
    let args = ["destroy", "--delete-bucket", DEFAULT_BUCKET];
    let (code, shown) = on_terminal(app, &args, "y").await;
    assert_eq!(code, Some(3), "{shown}");
    assert!(shown.contains("type the bucket's name"), "{shown}");
    assert!(shown.contains("object versions"), "{shown}");
    assert_eq!(versions(app, DEFAULT_BUCKET).await, before);
    assert!(stack_status(app, STACK).await.is_some());

    let (code, shown) = on_terminal(app, &args, DEFAULT_BUCKET).await;
    assert_eq!(code, Some(0), "{shown}");
    assert!(shown.contains("DELETE_COMPLETE"), "{shown}");
    assert_eq!(stack_status(app, STACK).await, None);
    assert!(!bucket_exists(app, DEFAULT_BUCKET).await);
}
