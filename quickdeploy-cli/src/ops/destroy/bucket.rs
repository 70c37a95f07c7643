//! Emptying a bucket before its stack deletes it: incomplete multipart uploads aborted, every
//! object version and delete marker deleted in batches of DeleteObjects.

use anyhow::{Context, anyhow, bail};
use aws_sdk_s3::types::{Delete, ObjectIdentifier};

use crate::ops::{Event, Ui};

/// S3 DeleteObjects takes at most this many keys per call.
pub const DELETE_BATCH: usize = 1000;

/// What emptying a bucket removed.
#[derive(Debug, Default)]
pub struct Emptied {
    pub versions: u64,
    pub markers: u64,
    pub uploads: u64,
}

/// Aborts unfinished multipart uploads (billed until aborted), then deletes every object
/// version and delete marker, 1000 per DeleteObjects call.
pub async fn empty_bucket(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    ui: &dyn Ui,
) -> anyhow::Result<Emptied> {
    let mut done = Emptied {
        uploads: abort_uploads(s3, bucket).await?,
        ..Emptied::default()
    };
    delete_versions(s3, bucket, ui, &mut done).await?;
    Ok(done)
}

/// Aborts every unfinished multipart upload in `bucket`; how many.
pub async fn abort_uploads(s3: &aws_sdk_s3::Client, bucket: &str) -> anyhow::Result<u64> {
    let mut aborted = 0;
    loop {
        let page = s3
            .list_multipart_uploads()
            .bucket(bucket)
            .send()
            .await
            .map_err(crate::aws::err)
            .with_context(|| {
                format!(
                    "cannot list unfinished uploads in {bucket} (s3:ListBucketMultipartUploads)"
                )
            })?;
        let uploads = page.uploads();
        if uploads.is_empty() {
            break;
        }
        for u in uploads {
            let (Some(key), Some(id)) = (u.key(), u.upload_id()) else {
                continue;
            };
            s3.abort_multipart_upload()
                .bucket(bucket)
                .key(key)
                .upload_id(id)
                .send()
                .await
                .map_err(crate::aws::err)
                .with_context(|| {
                    format!(
                        "cannot abort the upload of s3://{bucket}/{key} (s3:AbortMultipartUpload)"
                    )
                })?;
            aborted += 1;
        }
        if page.is_truncated() != Some(true) {
            break;
        }
    }
    Ok(aborted)
}

/// Deletes every object version and delete marker in `bucket`, counting them into `done`.
/// Lists from the start after each batch, as the deleted keys are gone from the listing.
pub async fn delete_versions(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    ui: &dyn Ui,
    done: &mut Emptied,
) -> anyhow::Result<()> {
    loop {
        let page = s3
            .list_object_versions()
            .bucket(bucket)
            .max_keys(DELETE_BATCH as i32)
            .send()
            .await
            .map_err(crate::aws::err)
            .with_context(|| {
                format!("cannot list the versions in {bucket} (s3:ListBucketVersions)")
            })?;
        let mut ids = Vec::new();
        for v in page.versions() {
            if let Some(key) = v.key() {
                ids.push(identifier(key, v.version_id())?);
            }
        }
        let versions = ids.len() as u64;
        for m in page.delete_markers() {
            if let Some(key) = m.key() {
                ids.push(identifier(key, m.version_id())?);
            }
        }
        if ids.is_empty() {
            return Ok(());
        }
        for batch in ids.chunks(DELETE_BATCH) {
            delete_batch(s3, bucket, batch).await?;
        }
        done.versions += versions;
        done.markers += ids.len() as u64 - versions;
        ui.event(Event::Line(&format!(
            "  bucket {bucket}: {} versions and {} delete markers deleted",
            done.versions, done.markers
        )));
    }
}

/// One DeleteObjects call. A partial failure stops with its reasons: the same versions would
/// be listed again.
pub async fn delete_batch(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    batch: &[ObjectIdentifier],
) -> anyhow::Result<()> {
    let out = s3
        .delete_objects()
        .bucket(bucket)
        .delete(
            Delete::builder()
                .set_objects(Some(batch.to_vec()))
                .quiet(true)
                .build()
                .map_err(|e| anyhow!(e))?,
        )
        .send()
        .await
        .map_err(crate::aws::err)
        .with_context(|| {
            format!("cannot delete object versions in {bucket} (s3:DeleteObjectVersion)")
        })?;
    if out.errors().is_empty() {
        return Ok(());
    }
    let reasons: Vec<String> = out
        .errors()
        .iter()
        .take(5)
        .map(|e| {
            format!(
                "{}: {} {}",
                e.key().unwrap_or("?"),
                e.code().unwrap_or("?"),
                e.message().unwrap_or("")
            )
        })
        .collect();
    bail!(
        "{} of {} deletions in {bucket} failed (s3:DeleteObjectVersion): {}",
        out.errors().len(),
        batch.len(),
        reasons.join("; ")
    )
}

pub fn identifier(key: &str, version: Option<&str>) -> anyhow::Result<ObjectIdentifier> {
    ObjectIdentifier::builder()
        .key(key)
        .set_version_id(version.map(str::to_owned))
        .build()
        .map_err(|e| anyhow!(e))
}
