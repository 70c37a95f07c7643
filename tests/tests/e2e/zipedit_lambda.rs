//! The zipedit Lambda for real: the built binary pulling from a Lambda Runtime API, invoked
//! through the Lambda Invoke API with the AWS SDK, patching artifacts in moto's S3.

use aws_sdk_lambda::primitives::Blob;
use base64::Engine as _;
use serde_json::{Value, json};
use testkit::fixtures::{Invoked, NoiseFiles, PatcherRig};
use testkit::rig::Moto;
use testkit::zipcheck::{Flavor, Tree, assert_reads_as, independent, sha_hex, zip_crate_archive};

/// moto, a proxy between the patcher and moto (for the tests that need what moto cannot do
/// itself), and two patcher instances, as Lambda runs concurrent invocations side by side.
async fn start() -> PatcherRig {
    PatcherRig::start(2).await
}

fn app_files() -> Vec<(&'static str, &'static [u8], u32)> {
    vec![
        (
            "handler.py",
            b"def handler(event, context):\n    return 1\n",
            0o644,
        ),
        ("lib/util.py", b"X = 1\n", 0o644),
        ("bootstrap", b"#!/bin/sh\n", 0o755),
    ]
}

fn tree(files: &[(&str, &[u8], u32)]) -> Tree {
    files
        .iter()
        .map(|(n, d, m)| (n.to_string(), (d.to_vec(), *m)))
        .collect()
}

/// The setup most tests here start with: bucket `artifacts` holding `app.zip` of
/// [`app_files`], written the way `flavor` says.
async fn app_artifact(versioned: bool, flavor: Flavor) -> PatcherRig {
    let env = start().await;
    let zip = zip_crate_archive(&app_files(), &[], "", flavor);
    env.artifact("artifacts", versioned, "app.zip", zip).await;
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_original_quickbuild_event_works_unchanged() {
    let env = app_artifact(false, Flavor::Seekable).await;
    let answer = env
        .invoke(&json!({"src": "s3://artifacts/app.zip", "changes": {"handler.py": "def handler(event, context):\n    return 2\n", "new.py": "N = 1\n"}}))
        .await
        .expect("patched");
    assert_eq!(
        (answer["added"].as_u64(), answer["modified"].as_u64()),
        (Some(1), Some(1))
    );
    let bytes = env.check_answer(&answer).await;
    let mut want = tree(&app_files());
    want.insert(
        "handler.py".into(),
        (
            b"def handler(event, context):\n    return 2\n".to_vec(),
            0o644,
        ),
    );
    want.insert("new.py".into(), (b"N = 1\n".to_vec(), 0o644));
    assert_reads_as(&bytes, &want);
    assert!(
        answer["timings_ms"]["total"].as_f64().is_some(),
        "timings in the answer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_staged_executable_and_delete_changes() {
    let env = app_artifact(true, Flavor::Stream).await;
    let binary: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let staged: Vec<u8> = (0..2_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    // Staged where the CLI stages: below the staging prefix of the artifact's own bucket.
    env.put(
        "artifacts",
        ".quickdeploy/staging/run-1/data/big.bin",
        staged.clone(),
    )
    .await;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&binary);
    let answer = env
        .invoke(&json!({
            "src": "s3://artifacts/app.zip",
            "changes": {
                "data/table.bin": {"base64": b64},
                "data/big.bin": {"s3": "s3://artifacts/.quickdeploy/staging/run-1/data/big.bin"},
                "tool": {"text": "#!/bin/sh\necho hi\n", "executable": true},
            },
            "deletes": ["lib/util.py"],
        }))
        .await
        .expect("patched");
    assert_eq!(
        (answer["added"].as_u64(), answer["deleted"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(answer["mode"], "rewrite", "a delete is written by rewrite");
    assert!(
        answer["version_id"].as_str().is_some_and(|v| !v.is_empty()),
        "versioned bucket: a version id"
    );
    let bytes = env.check_answer(&answer).await;
    let mut want = tree(&app_files());
    want.remove("lib/util.py");
    want.insert("data/table.bin".into(), (binary, 0o644));
    want.insert("data/big.bin".into(), (staged, 0o644));
    want.insert("tool".into(), (b"#!/bin/sh\necho hi\n".to_vec(), 0o755));
    assert_reads_as(&bytes, &want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_20_mib_artifact_is_appended_with_a_server_side_copy() {
    let env = start().await;
    // 20 MiB of incompressible files, as a packaging tool writes them.
    let vendor = NoiseFiles::mib(20, 1, |i| format!("vendor/lib{i:02}.so"));
    let mut files = vendor.files();
    files.push(("handler.py", b"v = 1\n", 0o644));
    let old = zip_crate_archive(&files, &[], "", Flavor::Seekable);
    env.artifact("artifacts", true, "big.zip", old).await;

    // First patch: no checkpoint yet, so the whole object is read once (and a checkpoint stored).
    let first = env
        .invoke(&json!({"src": "s3://artifacts/big.zip", "changes": {"handler.py": "v = 2\n"}}))
        .await
        .expect("first");
    env.check_answer(&first).await;

    // Second patch: only the directory is read; the prefix is copied by S3 itself.
    env.moto.start_recording();
    let second = env
        .invoke(&json!({"src": "s3://artifacts/big.zip", "changes": {"handler.py": "v = 3\n"}}))
        .await
        .expect("second");
    // What the patcher asked of S3, before the test's own reads join the recording.
    let rec = env.moto.recording();
    assert_eq!(second["mode"], "append");
    let bytes = env.check_answer(&second).await;
    let copied = second["copied_bytes"].as_u64().expect("copied");
    assert!(
        copied > 20 * 1024 * 1024,
        "the kept prefix ({copied}) was copied server side"
    );
    let moved = second["read_bytes"].as_u64().expect("read")
        + second["written_bytes"].as_u64().expect("written");
    assert!(
        moved < 16 * 1024,
        "only the directory and the change pass through the Lambda, not {moved} bytes"
    );

    // moto's request recorder: the upload really used UploadPartCopy, with the prefix range.
    let summary = Moto::summary(&rec);
    let copies: Vec<&Value> = rec
        .iter()
        .filter(|r| r["method"] == "PUT" && Moto::header(r, "x-amz-copy-source").is_some())
        .collect();
    assert_eq!(copies.len(), 1, "one UploadPartCopy: {summary:#?}");
    assert_eq!(
        Moto::header(copies[0], "x-amz-copy-source-range"),
        Some(format!("bytes=0-{}", copied - 1).as_str())
    );
    let unranged_gets: Vec<&String> = rec
        .iter()
        .zip(&summary)
        .filter(|(r, _)| r["method"] == "GET" && Moto::header(r, "range").is_none())
        .map(|(_, s)| s)
        // Listing the key's leftover uploads (to abort stale ones) reads no object.
        .filter(|s| !s.contains("?uploads"))
        .collect();
    assert!(
        unranged_gets.is_empty(),
        "no unranged GET of the artifact: {unranged_gets:?}"
    );
    let listings = summary
        .iter()
        .filter(|s| s.starts_with("GET") && s.ends_with("/artifacts/?uploads&prefix=big.zip"))
        .count();
    assert_eq!(
        listings, 1,
        "one ListMultipartUploads of the key before the upload: {summary:#?}"
    );

    let mut want = tree(&files);
    want.insert("handler.py".into(), (b"v = 3\n".to_vec(), 0o644));
    assert_reads_as(&bytes, &want);
    assert!(bytes.starts_with(&env.get("artifacts", "big.zip").await[..copied as usize]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_come_back_as_function_errors_a_person_can_act_on() {
    let env = app_artifact(false, Flavor::Seekable).await;
    env.put("artifacts", "notes.txt", b"not a zip".to_vec())
        .await;
    let before = env.get("artifacts", "app.zip").await;
    let cases = [
        (
            json!({"src": "s3://artifacts/missing.zip", "changes": {"a": "1"}}),
            "ArtifactMissing",
            "does not exist",
        ),
        (
            json!({"src": "s3://artifacts/notes.txt", "changes": {"a": "1"}}),
            "NotAZip",
            "not a zip archive",
        ),
        (
            json!({"src": "s3://artifacts/app.zip", "changes": {"../evil": "1"}}),
            "PathRejected",
            "'..'",
        ),
        (
            json!({"src": "s3://artifacts/app.zip", "changes": {"a": "1"}, "expected_etag": "\"0000\""}),
            "ArtifactChanged",
            "nothing was written",
        ),
        (
            json!({"src": "s3://artifacts/app.zip", "changes": {"a": {"s3": "s3://artifacts/.quickdeploy/staging/nope"}}}),
            "StagedObjectMissing",
            "upload it before invoking",
        ),
        (
            json!({"src": "artifacts/app.zip", "changes": {}}),
            "BadEvent",
            "s3://bucket/key",
        ),
        (
            json!({"source": "s3://artifacts/app.zip"}),
            "BadEvent",
            "unknown field",
        ),
        (
            json!({"src": "s3://artifacts/app.zip", "deletes": ["nope.py"]}),
            "DeleteMissing",
            "no such entry",
        ),
    ];
    for (event, kind, needle) in cases {
        let (got_kind, message) = env.invoke(&event).await.expect_err(kind);
        assert_eq!(got_kind, kind, "{event}: {message}");
        assert!(
            message.contains(needle),
            "{kind}: {message:?} should mention {needle:?}"
        );
    }
    assert_eq!(
        env.get("artifacts", "app.zip").await,
        before,
        "failed patches left the artifact as it was"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payloads_past_6_mb_get_lambdas_413() {
    let env = start().await;
    let big = "x".repeat(testkit::rig::MAX_PAYLOAD + 10);
    let err = env
        .lambda
        .invoke()
        .function_name("zipedit")
        .payload(Blob::new(
            json!({"src": "s3://a/b", "changes": {"a": big}}).to_string(),
        ))
        .send()
        .await
        .expect_err("too large");
    // Real Lambda names it RequestEntityTooLargeException, which the SDK's model does not know.
    use aws_sdk_lambda::error::ProvideErrorMetadata;
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(413));
    assert_eq!(
        err.code(),
        Some("RequestEntityTooLargeException"),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_entries_are_byte_identical_after_a_patch() {
    let env = start().await;
    let old = zip_crate_archive(&app_files(), &["lib/"], "keep me", Flavor::Stream);
    env.artifact("artifacts", false, "app.zip", old.clone())
        .await;
    let answer = env
        .invoke(&json!({"src": "s3://artifacts/app.zip", "changes": {"lib/util.py": "X = 2\n"}}))
        .await
        .expect("ok");
    let bytes = env.check_answer(&answer).await;
    let (before, after) = (
        testkit::zipcheck::raw_entries(&old),
        testkit::zipcheck::raw_entries(&bytes),
    );
    assert!(
        before["handler.py"] == after["handler.py"] && before["bootstrap"] == after["bootstrap"]
    );
    let ind = independent(&bytes);
    assert_eq!(ind.comment, "keep me");
    assert_eq!(ind.files["lib/util.py"].0, sha_hex(b"X = 2\n"));
}

/// Two patches of one artifact race; the proxy makes both read before either writes.
async fn race(env: &PatcherRig, src: &str) -> (Vec<(&'static str, Invoked)>, Vec<u8>) {
    env.proxy.race(2);
    let a = json!({"src": src, "changes": {"a.py": "A = 'from a'\n"}});
    let b = json!({"src": src, "changes": {"b.py": "B = 'from b'\n"}});
    let (ra, rb) = tokio::join!(env.invoke(&a), env.invoke(&b));
    let url = src.trim_start_matches("s3://");
    let (bucket, key) = url.split_once('/').expect("s3 url");
    (vec![("a.py", ra), ("b.py", rb)], env.get(bucket, key).await)
}

fn check_race(results: &[(&'static str, Invoked)], bytes: &[u8]) {
    let winners: Vec<&str> = results
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one patch wins: {results:?}");
    for (name, r) in results {
        if let Err((kind, message)) = r {
            assert_eq!(kind, "ArtifactChanged", "{name}: {message}");
            assert!(message.contains("nothing was written"), "{message}");
        }
    }
    let files = independent(bytes).files;
    let winner = winners[0];
    let loser = if winner == "a.py" { "b.py" } else { "a.py" };
    assert!(
        files.contains_key(winner),
        "the winner's change is in the artifact"
    );
    assert!(
        !files.contains_key(loser),
        "the loser's change is not: nothing was lost or mixed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_patches_one_wins_one_reports_a_conflict() {
    // Small artifact: both patches get, patch and PutObject with If-Match (moto enforces it).
    let env = app_artifact(false, Flavor::Seekable).await;
    let (results, bytes) = race(&env, "s3://artifacts/app.zip").await;
    check_race(&results, &bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_appends_one_wins_and_the_loser_aborts_its_upload() {
    // Large artifact with a checkpoint: both append by multipart upload. moto ignores If-Match on
    // CompleteMultipartUpload, so the proxy enforces it, as S3 does.
    let env = start().await;
    let vendor = NoiseFiles::mib(8, 100, |i| format!("vendor/lib{i}.so"));
    let zip = zip_crate_archive(&vendor.files(), &[], "", Flavor::Seekable);
    env.artifact("artifacts", true, "big.zip", zip).await;
    env.invoke(&json!({"src": "s3://artifacts/big.zip", "changes": {"first.py": "1"}}))
        .await
        .expect("checkpoint");
    let (results, bytes) = race(&env, "s3://artifacts/big.zip").await;
    for (_, r) in &results {
        if let Ok(answer) = r {
            assert_eq!(
                answer["mode"], "append",
                "the race is on the multipart path"
            );
        }
    }
    check_race(&results, &bytes);
    let uploads = env
        .s3
        .list_multipart_uploads()
        .bucket("artifacts")
        .send()
        .await
        .expect("list uploads");
    assert!(
        uploads.uploads().is_empty(),
        "the loser's upload was aborted: {:?}",
        uploads.uploads()
    );
}
