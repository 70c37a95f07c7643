//! The patcher's and the artifacts' bucket made ready: created when missing, versioned,
//! encrypted, with the lifecycle rule that aborts incomplete uploads and expires old versions.

use anyhow::{Context, anyhow};
use aws_sdk_s3::error::{ProvideErrorMetadata as _, SdkError};
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketVersioningStatus,
    CreateBucketConfiguration, ExpirationStatus, LifecycleRule, LifecycleRuleFilter,
    NoncurrentVersionExpiration, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    VersioningConfiguration,
};

/// The bucket's lifecycle rule: aborts multipart uploads a crashed patcher or CLI left (parts
/// are billed until then), and expires old artifact versions while keeping the newest ones,
/// which are what a rollback points functions back at.
pub const LIFECYCLE_RULE: &str = "quickdeploy-housekeeping";

/// Days after which an unfinished multipart upload is aborted.
pub const ABORT_UPLOADS_AFTER_DAYS: i32 = 1;

/// Noncurrent versions kept whatever their age, and how long older ones are kept.
pub const KEEP_VERSIONS: i32 = 20;

/// See [`KEEP_VERSIONS`].
pub const KEEP_VERSIONS_DAYS: i32 = 30;

/// Whether a thing a HEAD request asked about (HeadObject, HeadBucket) is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// It answered: there.
    Present,
    /// Not found (404, `NotFound`, `NoSuchKey`, `NoSuchBucket`): safe to make.
    Missing,
    /// Anything else (403 for want of a right, a throttle, no answer): not known, so nothing
    /// may be made or uploaded on the guess that it is missing.
    Unknown,
}

/// What a HEAD answer says: `status` is its HTTP status (none when no answer came), `code`
/// the service's error code. Only a not-found means missing: S3 answers 403 to a caller
/// without the right to read, and also for a missing object when the caller may not list the
/// bucket.
pub fn presence(status: Option<u16>, code: Option<&str>) -> Presence {
    match (status, code) {
        (Some(200..=299), _) => Presence::Present,
        (Some(404), _) | (_, Some("NotFound" | "NoSuchKey" | "NoSuchBucket")) => Presence::Missing,
        _ => Presence::Unknown,
    }
}

/// [`presence`] of an SDK call's result.
pub fn answered<T, E: aws_sdk_s3::error::ProvideErrorMetadata>(
    result: &Result<T, SdkError<E>>,
) -> Presence {
    match result {
        Ok(_) => Presence::Present,
        Err(e) => presence(e.raw_response().map(|r| r.status().as_u16()), e.code()),
    }
}

/// `answered 403`, or `got no answer`: a HEAD's answer has no body, so its status is all
/// there is to say.
pub fn status_text<E>(e: &SdkError<E>) -> String {
    match e.raw_response() {
        Some(r) => format!("answered {}", r.status().as_u16()),
        None => "got no answer".to_owned(),
    }
}

/// Makes the bucket if it is missing: versioned, encrypted, public access blocked, with the
/// housekeeping lifecycle rule. True when it was made. Only a not-found answer to HeadBucket
/// counts as missing.
pub async fn ensure_bucket(
    s3: &aws_sdk_s3::Client,
    name: &str,
    region: &str,
) -> anyhow::Result<bool> {
    let head = s3.head_bucket().bucket(name).send().await;
    match (answered(&head), head) {
        (_, Ok(_)) => return Ok(false),
        (Presence::Missing, Err(_)) => {}
        (_, Err(e)) => {
            let answer = status_text(&e);
            return Err(crate::aws::err(e).context(format!(
                "cannot tell whether bucket {name} exists (s3:HeadBucket {answer}), so none \
                 was made. Fix: allow these credentials s3:ListBucket on it, or pass --bucket \
                 with one they may use"
            )));
        }
    }
    let mut create = s3.create_bucket().bucket(name);
    if region != "us-east-1" {
        create = create.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(region.into())
                .build(),
        );
    }
    create
        .send()
        .await
        .map_err(crate::aws::err)
        .with_context(|| format!("cannot create bucket {name}"))?;
    configure_bucket(s3, name).await?;
    Ok(true)
}

/// Versioning, default encryption, blocked public access and the lifecycle rule.
pub async fn configure_bucket(s3: &aws_sdk_s3::Client, name: &str) -> anyhow::Result<()> {
    let fail = |what: &str| format!("cannot {what} bucket {name}");
    s3.put_bucket_versioning()
        .bucket(name)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .map_err(crate::aws::err)
        .with_context(|| fail("version"))?;
    s3.put_bucket_encryption()
        .bucket(name)
        .server_side_encryption_configuration(encryption()?)
        .send()
        .await
        .map_err(crate::aws::err)
        .with_context(|| fail("encrypt"))?;
    s3.put_public_access_block()
        .bucket(name)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .map_err(crate::aws::err)
        .with_context(|| fail("block public access to"))?;
    s3.put_bucket_lifecycle_configuration()
        .bucket(name)
        .lifecycle_configuration(lifecycle()?)
        .send()
        .await
        .map_err(crate::aws::err)
        .with_context(|| fail("set the lifecycle rule of"))?;
    Ok(())
}

/// Default encryption with S3-managed keys.
pub fn encryption() -> anyhow::Result<ServerSideEncryptionConfiguration> {
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(
            ServerSideEncryptionByDefault::builder()
                .sse_algorithm(ServerSideEncryption::Aes256)
                .build()
                .map_err(|e| anyhow!(e))?,
        )
        .build();
    ServerSideEncryptionConfiguration::builder()
        .rules(rule)
        .build()
        .map_err(|e| anyhow!(e))
}

pub fn lifecycle() -> anyhow::Result<BucketLifecycleConfiguration> {
    let rule = LifecycleRule::builder()
        .id(LIFECYCLE_RULE)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix("").build())
        .abort_incomplete_multipart_upload(
            AbortIncompleteMultipartUpload::builder()
                .days_after_initiation(ABORT_UPLOADS_AFTER_DAYS)
                .build(),
        )
        .noncurrent_version_expiration(
            NoncurrentVersionExpiration::builder()
                .noncurrent_days(KEEP_VERSIONS_DAYS)
                .newer_noncurrent_versions(KEEP_VERSIONS)
                .build(),
        )
        .build()
        .map_err(|e| anyhow!(e))?;
    BucketLifecycleConfiguration::builder()
        .rules(rule)
        .build()
        .map_err(|e| anyhow!(e))
}
