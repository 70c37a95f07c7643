//! The record of hot patches: which functions `deploy` updated outside CloudFormation since the
//! last `full`. Such a function runs code its stack's template does not name (drift); `status`
//! lists them and `full` reconciles them, then clears the record.
//!
//! It lives in S3, `.quickdeploy/hotpatched/<stack>.json` in the artifact bucket, so every
//! machine deploying the stack sees the same record. Two developers may deploy the stack at
//! once: [`add`] writes only if the record is still the one it read (`If-Match` its ETag, or
//! `If-None-Match: *` when there was none), and otherwise reads, merges and writes again, so
//! neither loses the other's entries.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use serde::{Deserialize, Serialize};

use crate::aws::AwsError;
use crate::aws::backoff::{Backoff, jitter};

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
    Ok(read(s3, bucket, stack).await?.0)
}

/// The record as read, and its ETag (`None`: there is no record).
pub type Read = (Record, Option<String>);

/// Reads the record ahead of [`add_to`] (while the patch runs), so only the write is left
/// once the functions are updated; `None` when it cannot be read (`add_to` reads it then).
pub async fn read_ahead(s3: &aws_sdk_s3::Client, bucket: &str, stack: &str) -> Option<Read> {
    read(s3, bucket, stack).await.ok()
}

/// The record and its ETag (`None`: there is no record).
async fn read(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    stack: &str,
) -> anyhow::Result<(Record, Option<String>)> {
    let got = crate::artifact::remote::get_object(s3, bucket, &key(stack))
        .await
        .context("cannot read the hot-patch record")?;
    Ok(match got {
        // An unreadable record is replaced (still only if nobody changed it meanwhile).
        Some((body, etag)) => (serde_json::from_slice(&body).unwrap_or_default(), etag),
        None => (Record::new(), None),
    })
}

/// How many times [`add`] reads, merges and writes before giving up on a record that keeps
/// changing under it.
const ATTEMPTS: u32 = 10;

/// Adds entries to the record, keeping every entry others add at the same time: the write is
/// conditional on the record read, and a lost race (412 PreconditionFailed, 409
/// ConditionalRequestConflict, or a record deleted meanwhile) reads and merges again, up to
/// [`ATTEMPTS`] times with a short random backoff.
pub async fn add(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    stack: &str,
    entries: Record,
) -> anyhow::Result<()> {
    add_to(s3, bucket, stack, entries, None).await
}

/// [`add`], starting from the record as `ahead` read it ([`read_ahead`]): when it changed
/// since, the conditional write fails and the record is read again, as for any lost race.
pub async fn add_to(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    stack: &str,
    entries: Record,
    mut ahead: Option<Read>,
) -> anyhow::Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(1));
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (mut record, etag) = match ahead.take() {
            Some(read) => read,
            None => read(s3, bucket, stack).await?,
        };
        record.extend(entries.clone());
        let put = s3
            .put_object()
            .bucket(bucket)
            .key(key(stack))
            .content_type("application/json")
            // Compact: it is written on every quick deploy.
            .body(ByteStream::from(serde_json::to_vec(&record)?));
        let put = match &etag {
            Some(etag) => put.if_match(etag),
            None => put.if_none_match("*"),
        };
        let error = match put.send().await {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        let lost_race = lost_race(&error);
        let error = AwsError::from(error);
        if lost_race && attempt < ATTEMPTS {
            tokio::time::sleep(jitter(backoff.next())).await;
            continue;
        }
        let context = if lost_race {
            format!(
                "cannot write s3://{bucket}/{}: it changed under each of {ATTEMPTS} attempts (others deploying {stack} at once); deploy again",
                key(stack)
            )
        } else {
            format!("cannot write s3://{bucket}/{}", key(stack))
        };
        return Err(anyhow::Error::from(error).context(context));
    }
}

/// True when a conditional write failed because the record changed since it was read: 412
/// PreconditionFailed (another write came first), 409 ConditionalRequestConflict (one is
/// under way), NoSuchKey (it was cleared meanwhile; `If-Match` needs an object). Not a
/// missing bucket, nor any other 404.
fn lost_race(
    e: &aws_sdk_s3::error::SdkError<aws_sdk_s3::operation::put_object::PutObjectError>,
) -> bool {
    match e.code() {
        Some("PreconditionFailed" | "ConditionalRequestConflict" | "NoSuchKey") => true,
        Some(_) => false,
        None => matches!(
            e.raw_response().map(|r| r.status().as_u16()),
            Some(412 | 409)
        ),
    }
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
