//! Patching one 10 KiB file into 10, 50 and 200 MiB artifacts through the running zipedit
//! Lambda against moto: append (prefix copied server side) vs rewrite (the whole object through
//! the Lambda), with the bytes each moved through the Lambda. Run: `make bench-lambda`.
//!
//! Wall time is measured around the Invoke call, so it includes the Invoke API, the Runtime
//! API, the Lambda's S3 calls and moto's own work (moto keeps objects in Python memory; on AWS
//! the server-side copy is far cheaper than here, so the append figures are conservative).

use std::time::Instant;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_s3::primitives::ByteStream;
use serde_json::{Value, json};
use testkit::noise;
use testkit::rig::{Moto, Patcher, lambda_client, s3_client};
use testkit::zipcheck::{Flavor, zip_crate_archive};

const MIB: usize = 1024 * 1024;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn invoke(lambda: &aws_sdk_lambda::Client, event: &Value) -> Value {
    let out = lambda
        .invoke()
        .function_name("zipedit")
        .payload(Blob::new(event.to_string()))
        .send()
        .await
        .expect("invoke");
    let body: Value =
        serde_json::from_slice(out.payload().expect("payload").as_ref()).expect("json");
    assert!(out.function_error().is_none(), "function error: {body}");
    body
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let binary = std::env::var_os("ZIPEDIT_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| testkit::bin("zipedit"));
    let moto = Moto::start();
    let patcher = Patcher::start(&binary, &moto.endpoint(), 1).await;
    let s3 = s3_client(&moto.endpoint()).await;
    let lambda = lambda_client(&patcher.invoke_endpoint).await;
    s3.create_bucket()
        .bucket("bench")
        .send()
        .await
        .expect("bucket");

    println!("zipedit binary: {}", binary.display());
    println!("runs per cell: {runs} (median reported)\n");
    println!(
        "| artifact | mode | median ms | min ms | through the Lambda (read + written) | copied by S3 | rewrite/append |"
    );
    println!("|---|---|---|---|---|---|---|");
    for size_mib in [10usize, 50, 200] {
        // Files of 1 MiB of incompressible bytes, and the 10 KiB file that changes.
        let blobs: Vec<Vec<u8>> = (0..size_mib as u64).map(|i| noise(i + 1, MIB)).collect();
        let names: Vec<String> = (0..size_mib)
            .map(|i| format!("vendor/lib{i:03}.so"))
            .collect();
        let changed = noise(9_999, 10 * 1024);
        let mut files: Vec<(&str, &[u8], u32)> = names
            .iter()
            .zip(&blobs)
            .map(|(n, b)| (n.as_str(), b.as_slice(), 0o644))
            .collect();
        files.push(("src/handler.bin", &changed, 0o644));
        let artifact = zip_crate_archive(&files, &[], "", Flavor::Seekable);
        let key = format!("app-{size_mib}.zip");
        s3.put_object()
            .bucket("bench")
            .key(&key)
            .body(ByteStream::from(artifact))
            .send()
            .await
            .expect("put");
        let src = format!("s3://bench/{key}");
        // One patch first, so the artifact carries the hash checkpoint append needs.
        invoke(
            &lambda,
            &json!({"src": src, "changes": {"warmup.txt": "x"}}),
        )
        .await;

        let mut medians = Vec::new();
        for mode in ["append", "rewrite"] {
            let mut times = Vec::new();
            let mut moved = (0, 0);
            for run in 0..runs {
                let mut content = noise(run as u64 + 7, 10 * 1024);
                content[0] = run as u8;
                let b64 = base64_encode(&content);
                let event = json!({"src": src, "mode": mode, "changes": {"src/handler.bin": {"base64": b64}}});
                let t = Instant::now();
                let answer = invoke(&lambda, &event).await;
                times.push(t.elapsed().as_secs_f64() * 1e3);
                assert_eq!(answer["mode"], mode);
                moved = (
                    answer["read_bytes"].as_u64().unwrap_or(0)
                        + answer["written_bytes"].as_u64().unwrap_or(0),
                    answer["copied_bytes"].as_u64().unwrap_or(0),
                );
            }
            let min = times.iter().copied().fold(f64::INFINITY, f64::min);
            let med = median(&mut times);
            medians.push(med);
            let ratio = if mode == "rewrite" {
                format!("{:.1}x", med / medians[0])
            } else {
                String::new()
            };
            println!(
                "| {size_mib} MiB | {mode} | {med:.0} | {min:.0} | {} | {} | {ratio} |",
                human(moved.0),
                human(moved.1)
            );
        }
    }
}

fn human(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

fn base64_encode(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}
