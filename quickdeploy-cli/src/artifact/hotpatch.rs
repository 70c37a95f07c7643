//! The record of hot patches: which functions `deploy` updated outside CloudFormation since the
//! last `full`. Such a function runs code its stack's template does not name (drift); `status`
//! lists them and `full` reconciles them, then clears the record.
//!
//! It lives in S3, `.quickdeploy/hotpatched/<stack>.json` in the artifact bucket, so every
//! machine deploying the stack sees the same record. Its reads and conditional writes are the
//! zipedit crate's ([`zipedit::records`]), which the patcher runs too: two developers may
//! deploy the stack at once, and a write that lost the race reads, merges and writes again, so
//! neither loses the other's entries.

use anyhow::Context;

/// One hot-patched function.
pub type Entry = zipedit::records::HotPatch;

/// The record for one stack, by logical id.
pub type Record = zipedit::records::HotPatches;

/// The record as read, and its ETag (`None`: there is no record).
pub type Read = zipedit::records::ReadHotPatches;

/// The record's key in the artifact bucket.
pub fn key(stack: &str) -> String {
    zipedit::records::hotpatch_key(stack)
}

/// Reads the record; empty when there is none.
pub async fn load(s3: &aws_sdk_s3::Client, bucket: &str, stack: &str) -> anyhow::Result<Record> {
    Ok(zipedit::records::read_hotpatches(s3, bucket, stack)
        .await
        .context("cannot read the hot-patch record")?
        .0)
}

/// Reads the record ahead of [`add_to`] (while the patch runs), so only the write is left
/// once the functions are updated; `None` when it cannot be read (`add_to` reads it then).
pub async fn read_ahead(s3: &aws_sdk_s3::Client, bucket: &str, stack: &str) -> Option<Read> {
    zipedit::records::read_hotpatches(s3, bucket, stack)
        .await
        .ok()
}

/// Adds entries to the record, keeping every entry others add at the same time.
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
    ahead: Option<Read>,
) -> anyhow::Result<()> {
    zipedit::records::add_hotpatches(s3, bucket, stack, entries, ahead)
        .await
        .context("cannot add to the hot-patch record")
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
