//! The demo's second half: start the local rig (moto, and the real zipedit binary behind the
//! Lambda Runtime and Invoke APIs), put a 30 MiB artifact in S3, and patch a one-line change
//! into it through the Lambda, twice: the first patch reads the artifact whole (it carries no
//! hash checkpoint yet), the second appends with a server-side copy. Prints what happened and
//! how long each step took; everything it started stops when it ends.
//!
//! Run: `cargo run -p quickdeploy-tests --example lambda_demo` (make demo does).

use std::time::Instant;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_s3::primitives::ByteStream;
use serde_json::{Value, json};
use testkit::noise;
use testkit::rig::{Moto, Patcher, lambda_client, s3_client};
use testkit::zipcheck::{Flavor, zip_crate_archive};

fn step(n: u32, what: &str) {
    println!("\n== {n}. {what}");
}

fn took(t: Instant) -> String {
    format!("{:.0} ms", t.elapsed().as_secs_f64() * 1e3)
}

fn show(answer: &Value) {
    let t = &answer["timings_ms"];
    println!(
        "   {} -> {} bytes, CodeSha256 {}\n   mode {}: {} bytes through the Lambda (read {} + written {}), {} copied by S3\n   \
         Lambda's own steps: read {} ms, patch {} ms, write {} ms, total {} ms",
        answer["key"].as_str().unwrap_or("?"),
        answer["size"],
        answer["code_sha256"].as_str().unwrap_or("?"),
        answer["mode"].as_str().unwrap_or("?"),
        answer["read_bytes"].as_u64().unwrap_or(0) + answer["written_bytes"].as_u64().unwrap_or(0),
        answer["read_bytes"],
        answer["written_bytes"],
        answer["copied_bytes"],
        t["read"],
        t["patch"],
        t["write"],
        t["total"],
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let all = Instant::now();
    step(
        1,
        "start the local rig: moto (S3) and the real zipedit binary behind the Lambda APIs",
    );
    let t = Instant::now();
    let moto = Moto::start();
    let patcher = Patcher::start(&testkit::bin("zipedit"), &moto.endpoint(), 1).await;
    let s3 = s3_client(&moto.endpoint()).await;
    let lambda = lambda_client(&patcher.invoke_endpoint).await;
    println!(
        "   moto on {}, Invoke API on {} ({})",
        moto.endpoint(),
        patcher.invoke_endpoint,
        took(t)
    );

    step(2, "put a 30 MiB artifact in a versioned bucket");
    let t = Instant::now();
    s3.create_bucket()
        .bucket("demo-artifacts")
        .send()
        .await
        .expect("bucket");
    let enabled = aws_sdk_s3::types::VersioningConfiguration::builder()
        .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
        .build();
    s3.put_bucket_versioning()
        .bucket("demo-artifacts")
        .versioning_configuration(enabled)
        .send()
        .await
        .expect("versioning");
    let blobs: Vec<Vec<u8>> = (0..30u64).map(|i| noise(i + 1, 1 << 20)).collect();
    let names: Vec<String> = (0..30).map(|i| format!("vendor/lib{i:02}.so")).collect();
    let mut files: Vec<(&str, &[u8], u32)> = names
        .iter()
        .zip(&blobs)
        .map(|(n, b)| (n.as_str(), b.as_slice(), 0o644))
        .collect();
    let handler = b"def handler(event, context):\n    return {'version': 1}\n";
    files.push(("handler.py", handler, 0o644));
    let artifact = zip_crate_archive(&files, &[], "", Flavor::Seekable);
    let size = artifact.len();
    s3.put_object()
        .bucket("demo-artifacts")
        .key("app.zip")
        .body(ByteStream::from(artifact))
        .send()
        .await
        .expect("put");
    println!("   s3://demo-artifacts/app.zip: {size} bytes ({})", took(t));

    for (n, version) in [(3, 2), (4, 3)] {
        let what = if version == 2 {
            "change one line and patch it through the Lambda (first time: read whole, checkpoint stored)"
        } else {
            "change it again: now only the directory and the change pass through the Lambda"
        };
        step(n, what);
        let event = json!({
            "src": "s3://demo-artifacts/app.zip",
            "changes": {"handler.py": format!("def handler(event, context):\n    return {{'version': {version}}}\n")},
        });
        let t = Instant::now();
        let out = lambda
            .invoke()
            .function_name(&patcher.function_name)
            .payload(Blob::new(event.to_string()))
            .send()
            .await
            .expect("invoke");
        let answer: Value =
            serde_json::from_slice(out.payload().expect("payload").as_ref()).expect("json");
        if let Some(kind) = out.function_error() {
            panic!("the patcher failed ({kind}): {answer}");
        }
        println!(
            "   invoke took {}; new version {}",
            took(t),
            answer["version_id"].as_str().unwrap_or("-")
        );
        show(&answer);
    }

    step(5, "check: the object in S3 now says version 3");
    let got = s3
        .get_object()
        .bucket("demo-artifacts")
        .key("app.zip")
        .send()
        .await
        .expect("get");
    let bytes = got.body.collect().await.expect("body").into_bytes();
    let mut za = zip::ZipArchive::new(std::io::Cursor::new(bytes.as_ref())).expect("a zip");
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut za.by_name("handler.py").expect("handler.py"),
        &mut text,
    )
    .expect("read");
    println!(
        "   handler.py: {}",
        text.lines().last().unwrap_or("").trim()
    );
    println!("\nDone in {}; the rig stops now.", took(all));
}
