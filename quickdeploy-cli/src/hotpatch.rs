//! The record of hot patches: which functions `deploy` updated outside CloudFormation since the
//! last `full`. Such a function runs code its stack's template does not name (drift); `status`
//! lists them and `full` reconciles them, then clears the record.
//!
//! It lives in S3, `.quickdeploy/hotpatched/<stack>.json` in the artifact bucket, so every
//! machine deploying the stack sees the same record.

use std::collections::BTreeMap;

use anyhow::Context;
use aws_sdk_s3::primitives::ByteStream;
use serde::{Deserialize, Serialize};

/// One hot-patched function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Its physical name.
    pub name: String,
    /// The CodeSha256 it was given.
    pub code_sha256: String,
    /// The artifact, `s3://bucket/key`, and its version when known.
    pub artifact: String,
    /// When, RFC 3339 (records written before were seconds since the epoch: read as such).
    #[serde(deserialize_with = "rfc3339_or_epoch")]
    pub at: String,
}

/// Reads a time as RFC 3339, or as the seconds since the epoch that earlier records hold.
fn rfc3339_or_epoch<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum At {
        Text(String),
        Epoch(i64),
    }
    Ok(match At::deserialize(d)? {
        At::Text(t) => t,
        At::Epoch(secs) => aws_smithy_types::DateTime::from_secs(secs)
            .fmt(aws_smithy_types::date_time::Format::DateTime)
            .unwrap_or_default(),
    })
}

/// The record for one stack, by logical id.
pub type Record = BTreeMap<String, Entry>;

/// The record's key in the artifact bucket.
pub fn key(stack: &str) -> String {
    format!(".quickdeploy/hotpatched/{stack}.json")
}

/// Reads the record; empty when there is none.
pub async fn load(s3: &aws_sdk_s3::Client, bucket: &str, stack: &str) -> anyhow::Result<Record> {
    match s3.get_object().bucket(bucket).key(key(stack)).send().await {
        Ok(out) => {
            let body = out
                .body
                .collect()
                .await
                .context("cannot read the hot-patch record")?;
            Ok(serde_json::from_slice(&body.into_bytes()).unwrap_or_default())
        }
        Err(e) if e.raw_response().map(|r| r.status().as_u16()) == Some(404) => Ok(Record::new()),
        Err(e) => Err(crate::aws::err(e))
            .with_context(|| format!("cannot read s3://{bucket}/{}", key(stack))),
    }
}

/// Adds entries to the record.
pub async fn add(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    stack: &str,
    entries: Record,
) -> anyhow::Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut record = load(s3, bucket, stack).await?;
    record.extend(entries);
    s3.put_object()
        .bucket(bucket)
        .key(key(stack))
        .content_type("application/json")
        .body(ByteStream::from(serde_json::to_vec_pretty(&record)?))
        .send()
        .await
        .map_err(crate::aws::err)
        .with_context(|| format!("cannot write s3://{bucket}/{}", key(stack)))?;
    Ok(())
}

/// Clears the record (after a full deploy).
pub async fn clear(s3: &aws_sdk_s3::Client, bucket: &str, stack: &str) -> anyhow::Result<()> {
    s3.delete_object()
        .bucket(bucket)
        .key(key(stack))
        .send()
        .await
        .map_err(crate::aws::err)
        .with_context(|| format!("cannot clear s3://{bucket}/{}", key(stack)))?;
    Ok(())
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_rfc3339_whatever_was_written() {
        let old: Entry = serde_json::from_str(
            r#"{"name":"f","code_sha256":"x","artifact":"s3://b/k","at":1796142653}"#,
        )
        .expect("old record");
        assert_eq!(old.at, "2026-12-01T16:30:53Z");
        let new: Entry = serde_json::from_str(
            r#"{"name":"f","code_sha256":"x","artifact":"s3://b/k","at":"2026-12-01T16:30:53Z"}"#,
        )
        .expect("new record");
        assert_eq!(new, old);
    }
}
