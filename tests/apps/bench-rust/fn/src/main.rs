//! The benchmark's Rust function: lists a bucket's keys under a prefix and answers with them
//! and a greeting. `make bench-rust` edits the GREETING line (a one-line change) and rebuilds.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

/// The line the benchmark changes.
const GREETING: &str = "hello from the start";

async fn handler(s3: &aws_sdk_s3::Client, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let bucket = event.payload["bucket"].as_str().unwrap_or("example");
    let prefix = event.payload["prefix"].as_str().unwrap_or("");
    let listed = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .send()
        .await?;
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    Ok(json!({ "greeting": GREETING, "keys": keys }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = aws_config::load_from_env().await;
    let s3 = aws_sdk_s3::Client::new(&config);
    lambda_runtime::run(service_fn(|event| handler(&s3, event))).await
}
