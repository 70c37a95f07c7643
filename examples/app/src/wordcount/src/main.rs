//! The example app's Rust function: built by quickdeploy (`binary = "wordcount"` in
//! quickdeploy.toml), deployed as `bootstrap` on the `provided.al2023` runtime.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

/// Counts the words of `text` in the event.
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let text = event.payload["text"].as_str().unwrap_or_default();
    let words = text.split_whitespace().count();
    Ok(json!({ "words": words, "message": "counted by Rust" }))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handler)).await
}
