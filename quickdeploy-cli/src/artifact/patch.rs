//! Patching an artifact: through the zipedit Lambda next to the artifacts, or with `--local`
//! the same engine and S3 logic on this machine. Either way the event and the answer are the
//! zipedit crate's, so both give byte-identical artifacts.
//!
//! Each file goes whole, compressed or as a delta, whichever is smaller (`encode`). A change
//! still too large for Lambda's 6 MB request limit has its largest files staged in S3 first
//! (below the artifact bucket's staging prefix, as encoded), and the event points at them.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_s3::primitives::ByteStream;
use zipedit::event::{Content, PatchAnswer, PatchEvent, S3Url};
use zipedit::records::{RecordAnswer, RecordEvent, RecordRequest};

use crate::project::template::S3Object;

/// Where staged changes go, in the artifact's bucket (the patcher stack lets the patcher read,
/// never write, there).
pub const STAGING_PREFIX: &str = ".quickdeploy/staging/";

/// Requests up to this size go inline: under Lambda's 6 MB (6,291,456 bytes) with room for
/// the SDK's framing.
pub const MAX_INLINE: usize = 6_000_000;

/// Who runs the patch.
#[derive(Debug, Clone)]
pub enum Patcher {
    /// The zipedit Lambda, by function name.
    Lambda {
        /// The client that invokes it.
        client: aws_sdk_lambda::Client,
        /// Its name or ARN.
        function: String,
    },
    /// This machine, with this S3 client.
    Local(aws_sdk_s3::Client),
}

/// Why a patch failed.
#[derive(Debug, thiserror::Error)]
pub enum PatchFailure {
    /// The patcher refused or failed (its errorType and message).
    #[error("the patcher answered {kind}: {message}")]
    Refused {
        /// errorType, e.g. ArtifactChanged.
        kind: String,
        /// errorMessage.
        message: String,
    },
    /// Anything else: the invoke itself, staging, decoding.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Builds the event: each changed file's content as `encode` chose it, the deletes,
/// `expected_etag`, which makes the write conditional on the artifact still being what the
/// diff was made against, and the artifact's manifest for the patcher to keep up to date.
pub fn event(
    artifact: &S3Object,
    changes: BTreeMap<String, Content>,
    deletes: &[String],
    expected_etag: &str,
    mode: zipedit::Mode,
) -> PatchEvent {
    PatchEvent {
        src: artifact.to_string(),
        changes,
        deletes: deletes.to_vec(),
        mode,
        expected_etag: Some(expected_etag.to_owned()),
        manifest: true,
        ..PatchEvent::default()
    }
}

/// The event as the oldest patcher reads it: every file whole, no manifest to keep (a patcher
/// older than those fields refuses the event as a bad one, and writes nothing).
pub fn oldest_form(mut event: PatchEvent, whole: BTreeMap<String, Content>) -> PatchEvent {
    event.changes = whole;
    event.manifest = false;
    event
}

/// The bytes a patch sent from this machine (none for a local patch).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wire {
    /// The invoke request.
    pub request: u64,
    /// Objects staged in S3 for it.
    pub staged: u64,
}

/// Runs the patch; the answer, and the bytes sent from this machine.
pub async fn run(
    patcher: &Patcher,
    s3: &aws_sdk_s3::Client,
    mut event: PatchEvent,
    artifact: &S3Object,
) -> Result<(PatchAnswer, Wire), PatchFailure> {
    match patcher {
        Patcher::Local(client) => {
            let answer = zipedit::s3::patch_artifact(client, &event)
                .await
                .map_err(|e| PatchFailure::Refused {
                    kind: e.kind().to_owned(),
                    message: e.to_string(),
                })?;
            Ok((answer, Wire::default()))
        }
        Patcher::Lambda { client, function } => {
            let (staged, staged_bytes) = stage_if_needed(s3, &mut event, artifact).await?;
            let result = invoke(client, function, &event).await;
            if !staged.is_empty() {
                // Best effort: a leftover staged object costs storage, not correctness.
                let _ = unstage(s3, &artifact.bucket, &staged).await;
            }
            let request = serde_json::to_vec(&event)
                .map(|v| v.len() as u64)
                .unwrap_or(0);
            result.map(|a| {
                (
                    a,
                    Wire {
                        request,
                        staged: staged_bytes,
                    },
                )
            })
        }
    }
}

/// Hands a deploy's record (its history entry and hot patches) to the zipedit Lambda, which
/// appends them next to S3; the answer, and the request's size. (A local patch has no wire to
/// save: its deploy appends with the same `zipedit::records` functions from here.)
pub async fn record(
    client: &aws_sdk_lambda::Client,
    function: &str,
    request: RecordRequest,
) -> Result<(RecordAnswer, u64), PatchFailure> {
    let event = RecordEvent { record: request };
    let size = serde_json::to_vec(&event).map_or(0, |v| v.len() as u64);
    let answer = invoke(client, function, &event).await?;
    Ok((answer, size))
}

async fn invoke<E: serde::Serialize, A: serde::de::DeserializeOwned>(
    client: &aws_sdk_lambda::Client,
    function: &str,
    event: &E,
) -> Result<A, PatchFailure> {
    let payload = serde_json::to_vec(event).context("cannot encode the patcher's event")?;
    let out = client
        .invoke()
        .function_name(function)
        .payload(Blob::new(payload))
        .send()
        .await
        .map_err(|e| {
            use aws_sdk_lambda::error::ProvideErrorMetadata as _;
            let hint = if e.code() == Some("ResourceNotFoundException") {
                ": install it with `quickdeploy bootstrap`, name it with --patcher, or patch from this machine with --local"
            } else {
                ""
            };
            anyhow!("cannot invoke the patcher {function}: {}{hint}", crate::aws::describe(&e))
        })?;
    let body = out
        .payload()
        .map(|b| b.as_ref().to_vec())
        .unwrap_or_default();
    if out.function_error().is_some() {
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        return Err(PatchFailure::Refused {
            kind: v["errorType"].as_str().unwrap_or("Unhandled").to_owned(),
            message: v["errorMessage"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned()),
        });
    }
    serde_json::from_slice(&body)
        .with_context(|| {
            format!(
                "the patcher {function} answered something that is not an answer to its event: {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            )
        })
        .map_err(PatchFailure::Other)
}

/// Moves the largest files (as encoded) to S3 until the request fits inline; the staged keys
/// and their bytes.
async fn stage_if_needed(
    s3: &aws_sdk_s3::Client,
    event: &mut PatchEvent,
    artifact: &S3Object,
) -> anyhow::Result<(Vec<String>, u64)> {
    let size = |e: &PatchEvent| serde_json::to_vec(e).map(|v| v.len()).unwrap_or(usize::MAX);
    if size(event) <= MAX_INLINE {
        return Ok((Vec::new(), 0));
    }
    let mut by_size: Vec<(String, Vec<u8>)> = event
        .changes
        .iter()
        .filter_map(|(path, c)| Some((path.clone(), c.inline_bytes()?)))
        .collect();
    by_size.sort_by_key(|(_, bytes)| std::cmp::Reverse(bytes.len()));
    let nonce = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let base = format!("{STAGING_PREFIX}{nonce:x}-{}/", std::process::id());
    let (mut staged, mut staged_bytes) = (Vec::new(), 0u64);
    for (path, bytes) in by_size {
        if size(event) <= MAX_INLINE {
            break;
        }
        let key = format!("{base}{path}");
        staged_bytes += bytes.len() as u64;
        let sent = bytes.len() as u64;
        s3.put_object()
            .bucket(&artifact.bucket)
            .key(&key)
            .body(ByteStream::from(bytes))
            .customize()
            .config_override(crate::aws::upload_override(s3, sent))
            .send()
            .await
            .map_err(crate::aws::err)
            .with_context(|| format!("cannot stage {path} at s3://{}/{key}", artifact.bucket))?;
        let url = S3Url {
            bucket: artifact.bucket.clone(),
            key: key.clone(),
        };
        if let Some(content) = event.changes.get_mut(&path) {
            *content = content.moved_to(&url);
        }
        staged.push(key);
    }
    Ok((staged, staged_bytes))
}

async fn unstage(s3: &aws_sdk_s3::Client, bucket: &str, keys: &[String]) -> anyhow::Result<()> {
    let deletes = keys
        .iter()
        .map(|k| s3.delete_object().bucket(bucket).key(k).send());
    for r in futures::future::join_all(deletes).await {
        r.map_err(crate::aws::err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_carries_changes_deletes_modes_and_the_etag() {
        let changes = BTreeMap::from([
            (
                "app.py".to_owned(),
                Content::bytes(b"print(1)\n", Some(false)),
            ),
            (
                "bin/tool".to_owned(),
                Content::bytes(&[0, 159, 146, 150], Some(true)),
            ),
        ]);
        let at = S3Object {
            bucket: "b".into(),
            key: "k.zip".into(),
            version: None,
        };
        let e = event(
            &at,
            changes,
            &["old.py".into()],
            "\"etag\"",
            zipedit::Mode::Auto,
        );
        let v = serde_json::to_value(&e).expect("json");
        assert_eq!(v["src"], "s3://b/k.zip");
        assert_eq!(v["changes"]["app.py"]["text"], "print(1)\n");
        assert_eq!(v["changes"]["app.py"]["executable"], false);
        assert_eq!(v["changes"]["bin/tool"]["base64"], "AJ+Slg==");
        assert_eq!(v["deletes"], serde_json::json!(["old.py"]));
        assert_eq!(v["expected_etag"], "\"etag\"");
        // The Lambda reads back exactly what was sent.
        let back: PatchEvent = serde_json::from_value(v).expect("the patcher accepts it");
        assert_eq!(back, e);
    }
}
