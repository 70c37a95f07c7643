//! Uploading a packaged artifact from its file: one PutObject when small, a multipart upload
//! with a progress bar (on a terminal) when large. Bodies stream from the file, part by part,
//! so memory does not grow with the artifact. A failed multipart upload is aborted, so no
//! half-written parts are left to pay for. Also the server-side copy of a CDK asset that
//! quickdeploy patches instead of the asset ([`copy_seed`]).

use std::path::Path;

use anyhow::{Context, anyhow};
use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use futures::StreamExt as _;

use crate::artifact::remote::Head;
use crate::project::template::S3Object;

/// Artifacts larger than this go up in parts.
pub const MULTIPART_OVER: u64 = 16 * 1024 * 1024;
/// The part size (S3's minimum is 5 MiB).
pub const PART: u64 = 8 * 1024 * 1024;

/// A byte progress bar for an upload, drawn only on a terminal.
fn progress_bar(progress: bool, size: u64, key: &str) -> indicatif::ProgressBar {
    if !(progress && std::io::IsTerminal::is_terminal(&std::io::stderr())) {
        return indicatif::ProgressBar::hidden();
    }
    let b = indicatif::ProgressBar::new(size);
    b.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    b.set_message(format!("uploading {key}"));
    b
}

/// An S3 error, as a configuration error (exit 2) when the bucket does not exist.
fn missing_bucket<E>(e: &aws_sdk_s3::error::SdkError<E>, bucket: &str) -> anyhow::Error
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_s3::error::ProvideErrorMetadata as _;
    if e.code() == Some("NoSuchBucket") {
        anyhow!(crate::project::config::BadConfig(format!(
            "bucket {bucket} does not exist: fix `artifact_bucket` in quickdeploy.toml, or make it with `quickdeploy bootstrap --bucket {bucket}`"
        )))
    } else {
        anyhow!(crate::aws::describe(e))
    }
}

/// `len` bytes of `file` from `offset`, as a body read from disk when sent.
async fn body(file: &Path, offset: u64, len: u64) -> anyhow::Result<ByteStream> {
    ByteStream::read_from()
        .path(file)
        .offset(offset)
        .length(Length::Exact(len))
        .build()
        .await
        .with_context(|| format!("cannot read {}", file.display()))
}

/// What S3 answered.
#[derive(Debug, Clone)]
pub struct Uploaded {
    /// The new object's ETag.
    pub etag: String,
    /// Its version id, on a versioned bucket.
    pub version_id: Option<String>,
}

/// Uploads the `size` bytes of `file` to `bucket`/`key` with `metadata`; `progress` shows a
/// bar for multipart.
pub async fn upload(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    (file, size): (&Path, u64),
    metadata: &[(&str, &str)],
    progress: bool,
) -> anyhow::Result<Uploaded> {
    let at = format!("s3://{bucket}/{key}");
    if size <= MULTIPART_OVER {
        return put_single(s3, bucket, key, (file, size), metadata).await;
    }
    let mut create = s3.create_multipart_upload().bucket(bucket).key(key);
    for (k, v) in metadata {
        create = create.metadata(*k, *v);
    }
    let id = create
        .send()
        .await
        .map_err(|e| missing_bucket(&e, bucket))
        .with_context(|| format!("cannot start uploading {at}"))?
        .upload_id()
        .context("CreateMultipartUpload answered no upload id")?
        .to_owned();
    let bar = progress_bar(progress, size, key);
    let completed = match upload_parts(s3, bucket, key, &id, (file, size), &bar).await {
        Ok(parts) => s3
            .complete_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(&id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(crate::aws::err)
            .with_context(|| format!("cannot complete the upload of {at}")),
        Err(e) => Err(e),
    };
    bar.finish_and_clear();
    match completed {
        Ok(out) => Ok(Uploaded {
            etag: out.e_tag().unwrap_or_default().to_owned(),
            version_id: out.version_id().map(str::to_owned).filter(|v| v != "null"),
        }),
        Err(e) => {
            let _ = s3
                .abort_multipart_upload()
                .bucket(bucket)
                .key(key)
                .upload_id(&id)
                .send()
                .await;
            Err(e)
        }
    }
}

/// One PutObject, for a file up to [`MULTIPART_OVER`].
async fn put_single(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    (file, size): (&Path, u64),
    metadata: &[(&str, &str)],
) -> anyhow::Result<Uploaded> {
    let mut put = s3.put_object().bucket(bucket).key(key);
    for (k, v) in metadata {
        put = put.metadata(*k, *v);
    }
    let out = put
        .body(body(file, 0, size).await?)
        .customize()
        .config_override(crate::aws::upload_override(s3, size))
        .send()
        .await
        .map_err(|e| missing_bucket(&e, bucket))
        .with_context(|| format!("cannot upload s3://{bucket}/{key}"))?;
    Ok(Uploaded {
        etag: out.e_tag().unwrap_or_default().to_owned(),
        version_id: out.version_id().map(str::to_owned).filter(|v| v != "null"),
    })
}

/// The parts of a multipart upload, four at a time, in order.
async fn upload_parts(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    id: &str,
    (file, size): (&Path, u64),
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<Vec<CompletedPart>> {
    let at = format!("s3://{bucket}/{key}");
    let parts = (0..size.div_ceil(PART)).map(|i| {
        let at = at.as_str();
        let offset = i * PART;
        let len = PART.min(size - offset);
        async move {
            let n = i32::try_from(i + 1).context("too many parts")?;
            let out = s3
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(id)
                .part_number(n)
                .body(body(file, offset, len).await?)
                .customize()
                .config_override(crate::aws::upload_override(s3, len))
                .send()
                .await
                .map_err(crate::aws::err)
                .with_context(|| format!("cannot upload part {n} of {at}"))?;
            bar.inc(len);
            anyhow::Ok(
                CompletedPart::builder()
                    .part_number(n)
                    .set_e_tag(out.e_tag().map(str::to_owned))
                    .build(),
            )
        }
    });
    let done: Vec<anyhow::Result<CompletedPart>> =
        futures::stream::iter(parts).buffered(4).collect().await;
    done.into_iter().collect()
}

/// Makes quickdeploy's own copy of a CDK asset (`seed`, as `head` saw it) at `own`: a
/// server-side CopyObject, refused if the asset changed since it was read
/// (`x-amz-copy-source-if-match`). The asset itself is never written. Returns the copy's head.
pub async fn copy_seed(
    s3: &aws_sdk_s3::Client,
    seed: &S3Object,
    head: &Head,
    own: &S3Object,
) -> anyhow::Result<Head> {
    let mut source = format!("{}/{}", seed.bucket, zipedit::s3::encode_key(&seed.key));
    if let Some(v) = &head.version_id {
        source.push_str(&format!("?versionId={v}"));
    }
    let out = s3
        .copy_object()
        .bucket(&own.bucket)
        .key(&own.key)
        .copy_source(source)
        .copy_source_if_match(&head.etag)
        .send()
        .await
        .map_err(crate::aws::err)
        .with_context(|| {
            format!("cannot copy the CDK asset {seed} to {own} (CopyObject): check that the artifact bucket exists and that you may read the asset")
        })?;
    Ok(Head {
        etag: out
            .copy_object_result()
            .and_then(|r| r.e_tag())
            .unwrap_or_default()
            .to_owned(),
        version_id: out.version_id().map(str::to_owned).filter(|v| v != "null"),
        size: head.size,
        uploaded_code_sha256: None,
    })
}
