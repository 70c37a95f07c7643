//! Racing patchers on one artifact, on the rig: N writers x M rounds through the real zipedit
//! Lambda, appends and rewrites mixed, with and without `expected_etag`, on a versioned and an
//! unversioned bucket. moto enforces neither `If-Match` on CompleteMultipartUpload nor
//! `x-amz-copy-source-if-match` on UploadPartCopy: the fault proxy does, as S3 does.
//!
//! Every success's change is in the artifact afterwards, every loser gets `ArtifactChanged` and
//! its change is nowhere, the object is a valid zip after every round, and no multipart upload
//! is left. `make test` runs 4 writers x 5 rounds; `make stress` runs 8 x 50
//! (`RACE_WRITERS`, `RACE_ROUNDS`) and prints the figures.

use std::collections::BTreeSet;
use std::time::Instant;

use aws_sdk_lambda::primitives::Blob;
use serde_json::{Value, json};
use testkit::noise;
use testkit::proxy::S3Proxy;
use testkit::rig::{Moto, Patcher, lambda_client, s3_client};
use testkit::zipcheck::{Flavor, independent, sha_hex, zip_crate_archive};

type Invoked = Result<Value, (String, String)>;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

async fn invoke(lambda: &aws_sdk_lambda::Client, event: Value) -> Invoked {
    let out = lambda
        .invoke()
        .function_name("zipedit")
        .payload(Blob::new(event.to_string()))
        .send()
        .await
        .expect("the Invoke API answers");
    let body: Value =
        serde_json::from_slice(out.payload().expect("payload").as_ref()).expect("JSON answer");
    match out.function_error() {
        None => Ok(body),
        Some(_) => Err((
            body["errorType"].as_str().unwrap_or_default().into(),
            body["errorMessage"].as_str().unwrap_or_default().into(),
        )),
    }
}

async fn get(s3: &aws_sdk_s3::Client, bucket: &str) -> (Vec<u8>, String) {
    let out = s3
        .get_object()
        .bucket(bucket)
        .key("app.zip")
        .send()
        .await
        .expect("get");
    let etag = out.e_tag().unwrap_or_default().to_owned();
    let bytes = out
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes()
        .to_vec();
    (bytes, etag)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_appends_and_rewrites_lose_nothing_and_leave_a_valid_zip() {
    let writers = env_number("RACE_WRITERS", 4);
    let rounds = env_number("RACE_ROUNDS", 5);
    let moto = Moto::start();
    let proxy = S3Proxy::start(&moto.endpoint()).await;
    // One instance per writer, as Lambda runs concurrent invocations side by side.
    let patcher = Patcher::start(&testkit::bin("zipedit"), &proxy.endpoint, writers).await;
    let s3 = s3_client(&moto.endpoint()).await;
    let lambda = lambda_client(&patcher.invoke_endpoint).await;

    // A 6 MiB artifact per bucket: past one multipart part, so appends copy server side.
    let blobs: Vec<Vec<u8>> = (0..6u64).map(|i| noise(i + 40, 1024 * 1024)).collect();
    let names: Vec<String> = (0..6).map(|i| format!("vendor/lib{i}.so")).collect();
    let files: Vec<(&str, &[u8], u32)> = names
        .iter()
        .zip(&blobs)
        .map(|(n, b)| (n.as_str(), b.as_slice(), 0o644))
        .collect();
    let old = zip_crate_archive(&files, &[], "", Flavor::Seekable);
    let buckets = ["plain", "versioned"];
    for bucket in buckets {
        testkit::rig::make_bucket(&s3, bucket, bucket == "versioned").await;
        testkit::rig::put_object(&s3, bucket, "app.zip", old.clone()).await;
        // Stores the hash checkpoint, so later appends read only the directory.
        invoke(
            &lambda,
            json!({"src": format!("s3://{bucket}/app.zip"), "changes": {"start.py": "S = 1\n"}}),
        )
        .await
        .expect("first patch");
    }

    let started = Instant::now();
    let (mut successes, mut losers) = (0usize, 0usize);
    let mut modes_won = BTreeSet::new();
    let mut won: Vec<BTreeSet<String>> = vec![BTreeSet::new(), BTreeSet::new()];
    let mut lost: Vec<BTreeSet<String>> = vec![BTreeSet::new(), BTreeSet::new()];
    for round in 0..rounds {
        let b = round % 2;
        let bucket = buckets[b];
        // Half the rounds hold every write until all writers have read (a certain race, one
        // winner); the other half run free, so copies and writes interleave as they come.
        let held = round % 4 < 2;
        proxy.race(if held { writers } else { 0 });
        let (_, etag) = get(&s3, bucket).await;
        let calls = (0..writers).map(|w| {
            let path = format!("w{w}/r{round}.py");
            let mode = if w % 2 == 0 { "append" } else { "rewrite" };
            let mut event = json!({
                "src": format!("s3://{bucket}/app.zip"),
                "mode": mode,
                "changes": {path.clone(): format!("W = ({w}, {round})\n")},
            });
            if (w / 2) % 2 == 0 {
                event["expected_etag"] = etag.clone().into();
            }
            let lambda = lambda.clone();
            tokio::spawn(async move { (path, mode, invoke(&lambda, event).await) })
        });
        let calls: Vec<_> = calls.collect();
        let mut winners = 0;
        for call in calls {
            let (path, mode, r) = call.await.expect("the invocation task");
            match r {
                Ok(answer) => {
                    assert_eq!(answer["mode"], mode, "{path}: {answer}");
                    winners += 1;
                    modes_won.insert(mode);
                    won[b].insert(path);
                }
                Err((kind, message)) => {
                    assert_eq!(kind, "ArtifactChanged", "{path}: {message}");
                    assert!(message.contains("nothing was written"), "{message}");
                    lost[b].insert(path);
                }
            }
        }
        if held {
            assert_eq!(winners, 1, "round {round}: one write wins a certain race");
        } else {
            assert!(winners >= 1, "round {round}: the first write always wins");
        }
        successes += winners;
        losers += writers - winners;

        // After every round: a valid zip holding every success so far and no loser's change.
        let (bytes, _) = get(&s3, bucket).await;
        let files = independent(&bytes).files;
        for path in &won[b] {
            assert!(
                files.contains_key(path),
                "round {round}: {path} succeeded but is not in the artifact"
            );
        }
        for path in &lost[b] {
            assert!(
                !files.contains_key(path),
                "round {round}: {path} was refused but is in the artifact"
            );
        }
        for (name, blob) in names.iter().zip(&blobs) {
            assert_eq!(files[name].0, sha_hex(blob), "round {round}: {name} intact");
        }
        let uploads = s3
            .list_multipart_uploads()
            .bucket(bucket)
            .send()
            .await
            .expect("list uploads");
        assert!(
            uploads.uploads().is_empty(),
            "round {round}: losers aborted their uploads: {:?}",
            uploads.uploads()
        );
    }
    let wall = started.elapsed();
    assert!(
        modes_won.len() == 2 || rounds < 4,
        "both append and rewrite won some rounds: {modes_won:?}"
    );
    // Where the losers were stopped: at HEAD (expected_etag), or by a 412 the proxy gave.
    let (refused_writes, refused_copies) = proxy.refused();
    println!(
        "race: {writers} writers x {rounds} rounds: {} invocations in {:.1} s, {successes} successes, {losers} losers (ArtifactChanged; 412 on write {refused_writes}, on copy {refused_copies}), 0 lost, 0 invalid zips",
        writers * rounds,
        wall.as_secs_f64()
    );
    // The patcher lives to here: its processes stop when it drops.
    drop(patcher);
}
