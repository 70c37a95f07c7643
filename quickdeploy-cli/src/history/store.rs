//! The deploy history in S3: `.quickdeploy/history/<stack>.json.zst` in the artifact bucket,
//! next to the hot-patch record, so every machine deploying the stack appends to the same one.
//! Its reads and conditional appends are the zipedit crate's ([`zipedit::records`]), which the
//! patcher runs too: a quick deploy hands its entry to the patcher, and this machine appends
//! it only when the patcher cannot (`full`, `rollback`, a patcher older than records, a race).
//!
//! [`crate::ops::history`] fills in who and from where, and turns a failed write into a warning.

use anyhow::Context;

use super::entry::Entry;

/// The history's key in the artifact bucket.
pub fn key(stack: &str) -> String {
    zipedit::records::history_key(stack)
}

/// A stack's history as read, and the ETag it was read at (`None`: not written yet).
pub type Loaded = zipedit::records::LoadedHistory;

/// Reads the history and its ETag; an empty history (and no ETag) when there is none.
pub async fn load(s3: &aws_sdk_s3::Client, bucket: &str, stack: &str) -> anyhow::Result<Loaded> {
    zipedit::records::load_history(s3, bucket, stack)
        .await
        .context("cannot read the deploy history")
}

/// Appends `entry` to the stack's history with a conditional write, retrying when another
/// writer got there first; the entry's id.
pub async fn append(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    stack: &str,
    entry: Entry,
    read_before: Option<Loaded>,
) -> anyhow::Result<u64> {
    zipedit::records::append_entry(s3, bucket, stack, entry, read_before)
        .await
        .context("cannot append to the deploy history")
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
