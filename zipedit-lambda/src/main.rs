//! The zipedit Lambda: patch changed files into a function's zip artifact in S3.
//!
//! The event and answer are documented in the crate README and in [`zipedit::event`]. Errors come
//! back as Lambda function errors whose `errorType` names the kind (ArtifactMissing, NotAZip,
//! PathRejected, ArtifactChanged, StackMoved, StagedObjectMissing, BadEvent, ...). A patch whose
//! event has a stack guard is written only if one DescribeStacks, beside the artifact's first
//! read, says the stack is still as the guard says ([`zipedit::stack`]).
//!
//! An event with a `record` field is a deploy's record instead ([`zipedit::records`]): its
//! history entry and hot patches, appended next to S3 (errors RecordStale, RecordRaced,
//! S3Error).

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;
use zipedit::event::PatchEvent;
use zipedit::records::RecordEvent;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    // `app/zipedit` in every call's user agent: CloudTrail (and the rig's proxy) tell the
    // patcher's calls from the CLI's.
    let app = aws_config::AppName::new("zipedit").map_err(|e| format!("app name: {e}"))?;
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .app_name(app)
        .load()
        .await;
    // A custom endpoint (moto, MinIO, LocalStack) needs path-style addressing; AWS itself never
    // sets one for a Lambda, so this only changes behaviour off AWS.
    let custom_endpoint = std::env::var_os("AWS_ENDPOINT_URL").is_some()
        || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
    let s3_config = aws_sdk_s3::config::Builder::from(&config)
        .force_path_style(custom_endpoint)
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(s3_config);
    // Only for the stack guards of patches planned from the caller's copy of the stack.
    let cfn = aws_sdk_cloudformation::Client::new(&config);
    // A misconfigured function fails at start, where its first invocation reports why.
    let settings = zipedit::s3::Settings::from_env()?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let clients = (s3.clone(), cfn.clone());
        let settings = settings.clone();
        async move { handle(&clients, &settings, event.payload).await }
    }))
    .await
}

async fn handle(
    (s3, cfn): &(aws_sdk_s3::Client, aws_sdk_cloudformation::Client),
    settings: &zipedit::s3::Settings,
    payload: Value,
) -> Result<Value, Diagnostic> {
    if payload.get("record").is_some() {
        return record(s3, payload).await;
    }
    let event: PatchEvent = serde_json::from_value(payload).map_err(|e| Diagnostic {
        error_type: "BadEvent".into(),
        error_message: format!("bad event: {e}; see the zipedit README for the schema"),
    })?;
    let confirmed = async {
        match &event.stack {
            Some(guard) => zipedit::stack::confirm(cfn, guard).await,
            None => Ok(()),
        }
    };
    let answer = zipedit::s3::patch_artifact_guarded(s3, &event, settings, confirmed).await;
    reply(answer, zipedit::s3::ArtifactError::kind)
}

async fn record(s3: &aws_sdk_s3::Client, payload: Value) -> Result<Value, Diagnostic> {
    let event: RecordEvent = serde_json::from_value(payload).map_err(|e| Diagnostic {
        error_type: "BadEvent".into(),
        error_message: format!("bad record request: {e}; see zipedit::records for the schema"),
    })?;
    let answer = zipedit::records::record(s3, &event.record).await;
    reply(answer, zipedit::records::RecordError::kind)
}

/// The answer as JSON, or the error as a function error whose `errorType` is its kind.
fn reply<T: serde::Serialize, E: std::fmt::Display>(
    result: Result<T, E>,
    kind: fn(&E) -> &'static str,
) -> Result<Value, Diagnostic> {
    match result {
        Ok(answer) => serde_json::to_value(answer).map_err(|e| Diagnostic {
            error_type: "InternalError".into(),
            error_message: e.to_string(),
        }),
        Err(e) => Err(Diagnostic {
            error_type: kind(&e).into(),
            error_message: e.to_string(),
        }),
    }
}
