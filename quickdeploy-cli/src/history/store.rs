//! The deploy history in S3: `.quickdeploy/history/<stack>.json.zst` in the artifact bucket,
//! next to the hot-patch record, so every machine deploying the stack appends to the same one.
//! It is compact JSON, zstd-compressed: every deploy rewrites it whole, and up to 200 entries
//! of about 2.5 KB each would otherwise add half a megabyte to each quick deploy's traffic.
//! A history written before (`<stack>.json`, plain JSON) is read when there is no compressed
//! one, and the next entry writes the compressed one.
//!
//! Appending is a read, an append ([`super::entry::History::append`]) and a conditional
//! write: `If-None-Match: *` when there is no history yet, `If-Match: <ETag>` otherwise. When
//! another machine wrote in between, S3 answers 412 (or 409 ConditionalRequestConflict while
//! its write is under way, or 404 when the history was deleted meanwhile): the history is
//! read again and the entry appended to that, a bounded number of times, so two machines
//! never lose each other's entries.
//!
//! [`crate::ops::history`] fills in who and from where, and turns a failed write into a warning.

use std::time::Duration;

use anyhow::{Context, anyhow};
use aws_sdk_s3::primitives::ByteStream;

use super::entry::{Entry, History, KEEP};

/// Attempts at a conditional write before giving up.
const ATTEMPTS: u32 = 8;

/// zstd level of the stored history: fast, and most of the gain is there.
const LEVEL: i32 = 3;

/// The history's key in the artifact bucket.
pub fn key(stack: &str) -> String {
    format!(".quickdeploy/history/{stack}.json.zst")
}

/// Where histories were kept before they were compressed.
fn legacy_key(stack: &str) -> String {
    format!(".quickdeploy/history/{stack}.json")
}

/// The history as stored: compact JSON, zstd-compressed.
pub fn encode(history: &History) -> anyhow::Result<Vec<u8>> {
    let json = serde_json::to_vec(history)?;
    zstd::bulk::compress(&json, LEVEL).context("cannot compress the deploy history")
}

/// A stored history (compressed, or plain JSON as written before); `None` when it is neither
/// or of another format (the versioned bucket keeps its bytes).
pub fn decode(bytes: &[u8]) -> Option<History> {
    let json = match zstd::stream::decode_all(bytes) {
        Ok(json) => json,
        Err(_) => bytes.to_vec(),
    };
    serde_json::from_slice::<History>(&json)
        .ok()
        .filter(|h| h.format == crate::history::entry::FORMAT)
}

/// Reads the history and its ETag; an empty history (and no ETag) when there is none. A
/// history that does not parse reads as empty (the versioned bucket keeps its bytes).
pub async fn load(s3: &aws_sdk_s3::Client, bucket: &str, stack: &str) -> anyhow::Result<Loaded> {
    match read(s3, bucket, &key(stack)).await? {
        Some((bytes, etag)) => Ok((decode(&bytes).unwrap_or_else(|| History::new(stack)), etag)),
        // No compressed history yet: the one written before, if any (its ETag is not the
        // compressed key's: the next write creates that key).
        None => match read(s3, bucket, &legacy_key(stack)).await? {
            Some((bytes, _)) => Ok((decode(&bytes).unwrap_or_else(|| History::new(stack)), None)),
            None => Ok((History::new(stack), None)),
        },
    }
}

/// A stack's history as read, and the ETag it was read at (`None`: not written yet).
pub type Loaded = (History, Option<String>);

/// An object's bytes and ETag; `None` when there is no such object.
async fn read(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> anyhow::Result<Option<(Vec<u8>, Option<String>)>> {
    crate::artifact::remote::get_object(s3, bucket, key)
        .await
        .context("cannot read the deploy history")
}

/// The HTTP status of a failed S3 call, when it got an answer.
fn status<E>(e: &aws_sdk_s3::error::SdkError<E>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

/// Appends `entry` to the stack's history with a conditional write, retrying when another
/// writer got there first; the entry's id.
pub async fn append(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    stack: &str,
    entry: Entry,
    mut read_before: Option<Loaded>,
) -> anyhow::Result<u64> {
    let key = key(stack);
    let mut last = None;
    for attempt in 0..ATTEMPTS {
        // A history read while the deploy ran saves a round trip; if it is stale by now, the
        // conditional write says so and the loop reads it again.
        let (mut history, etag) = match read_before.take() {
            Some(loaded) => loaded,
            None => load(s3, bucket, stack).await?,
        };
        let id = history.append(entry.clone(), KEEP);
        let mut put = s3
            .put_object()
            .bucket(bucket)
            .key(&key)
            .content_type("application/zstd")
            .body(ByteStream::from(encode(&history)?));
        put = match &etag {
            Some(etag) => put.if_match(etag),
            None => put.if_none_match("*"),
        };
        match put.send().await {
            Ok(_) => return Ok(id),
            // Someone else wrote (412), is writing (409), or removed it (404): read again.
            Err(e) if matches!(status(&e), Some(412 | 409 | 404)) => {
                last = Some(crate::aws::err(e));
                let jitter = u64::from(std::process::id() % 7) * 5;
                tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt + 1) + jitter))
                    .await;
            }
            Err(e) => {
                return Err(crate::aws::err(e)).with_context(|| {
                    format!("cannot write the deploy history s3://{bucket}/{key} (PutObject)")
                });
            }
        }
    }
    Err(last.unwrap_or_else(|| anyhow!("no attempt made"))).with_context(|| {
        format!(
            "cannot append to the deploy history s3://{bucket}/{key}: other writers changed it {ATTEMPTS} times in a row"
        )
    })
}

/// The version of each of the entry's artifacts' manifests as it is now (just written, so
/// describing the artifact's `after`; a rollback checks that before trusting it).
pub async fn manifest_versions(s3: &aws_sdk_s3::Client, entry: &Entry) -> Vec<Option<String>> {
    let heads = entry.artifacts.iter().map(|a| async move {
        let (bucket, key) = crate::history::entry::split_artifact(&a.artifact)?;
        // Known already when the deploy wrote the manifest (PutObject answers the version).
        let after = a.after.as_ref()?;
        if let Some(v) = &after.manifest_version {
            return Some(v.clone());
        }
        let head = s3
            .head_object()
            .bucket(bucket)
            .key(crate::artifact::manifest::remote_key(key))
            .send()
            .await
            .ok()?;
        head.version_id()
            .filter(|v| *v != "null")
            .map(str::to_owned)
    });
    futures::future::join_all(heads).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::entry::{Kind, Outcome};

    #[test]
    fn the_stored_history_is_compressed_and_the_old_form_still_reads() {
        let mut h = History::new("app");
        for _ in 0..50 {
            let mut e = Entry::new(Kind::Quick, Outcome::Deployed);
            e.who = "arn:aws:iam::123456789012:user/someone".into();
            e.files.paths = (0..20).map(|i| format!("src/module_{i}.py")).collect();
            h.append(e, KEEP);
        }
        let stored = encode(&h).expect("encode");
        let plain = serde_json::to_vec_pretty(&h).expect("json");
        assert!(
            stored.len() * 10 < plain.len(),
            "{} vs {}",
            stored.len(),
            plain.len()
        );
        assert_eq!(decode(&stored), Some(h.clone()));
        assert_eq!(
            decode(&plain),
            Some(h),
            "a history written before reads as it was"
        );
        assert_eq!(decode(b"not a history"), None);
    }
}
