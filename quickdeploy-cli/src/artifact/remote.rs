//! The artifact side of a diff: what is deployed, read from S3.
//!
//! The manifest beside the artifact is used when it describes the object that is there now
//! (same ETag); the local copy when it does too (it also knows mtimes). When neither does,
//! because something other than quickdeploy wrote the artifact, the artifact itself is read
//! once and its entries hashed.

use std::collections::BTreeMap;
use std::io::Read as _;

use anyhow::{Context, anyhow};
use aws_sdk_s3::primitives::ByteStream;

use crate::artifact::manifest::{self, FORMAT, FileEntry, Manifest};
use crate::project::template::S3Object;

/// The artifact as S3 has it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// ETag.
    pub etag: String,
    /// Version id, on a versioned bucket.
    pub version_id: Option<String>,
    /// Size.
    pub size: u64,
    /// The CodeSha256 that `full` recorded in the object's metadata when it uploaded it.
    pub uploaded_code_sha256: Option<String>,
}

/// Where the manifest used for a diff came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// `.quickdeploy/manifests/`, still true of the artifact.
    Local,
    /// The manifest beside the artifact in S3.
    Remote,
    /// The artifact itself, read and hashed.
    Artifact,
}

impl Source {
    /// Its name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Local => "local",
            Source::Remote => "remote",
            Source::Artifact => "artifact",
        }
    }
}

/// Object metadata holding an uploaded package's CodeSha256, so `full` recognises an
/// unchanged package by a HEAD.
pub const CODE_SHA_META: &str = "quickdeploy-code-sha256";

/// The artifact's CodeSha256 if it is known without reading it: from the metadata `full`
/// wrote, or from the manifest beside it when that describes this very object.
pub async fn known_code_sha256(
    s3: &aws_sdk_s3::Client,
    at: &S3Object,
    head: &Head,
) -> Option<String> {
    if let Some(sha) = &head.uploaded_code_sha256 {
        return Some(sha.clone());
    }
    get_remote(s3, at)
        .await
        .ok()
        .flatten()
        .filter(|m| m.etag.trim_matches('"') == head.etag.trim_matches('"'))
        .map(|m| m.code_sha256)
}

/// HEAD of the artifact; an error naming the fix when it is missing.
pub async fn head(s3: &aws_sdk_s3::Client, at: &S3Object) -> anyhow::Result<Head> {
    let got = s3
        .head_object()
        .bucket(&at.bucket)
        .key(&at.key)
        .send()
        .await
        .map_err(|e| {
            if e.raw_response().map(|r| r.status().as_u16()) == Some(404) {
                anyhow!(
                    "artifact {at} does not exist: deploy the stack with `quickdeploy full` first"
                )
            } else {
                crate::aws::err(e).context(format!("cannot read artifact {at} (HeadObject)"))
            }
        })?;
    Ok(Head {
        etag: got.e_tag().unwrap_or_default().to_owned(),
        version_id: got.version_id().map(str::to_owned).filter(|v| v != "null"),
        size: got.content_length().unwrap_or_default().max(0) as u64,
        uploaded_code_sha256: got.metadata().and_then(|m| m.get(CODE_SHA_META)).cloned(),
    })
}

/// The manifest that describes the artifact as it is now, and where it came from.
pub async fn deployed_manifest(
    s3: &aws_sdk_s3::Client,
    at: &S3Object,
    head: &Head,
    local: Option<Manifest>,
) -> anyhow::Result<(Manifest, Source)> {
    let same = |m: &Manifest| m.etag.trim_matches('"') == head.etag.trim_matches('"');
    if let Some(m) = local.filter(same) {
        return Ok((m, Source::Local));
    }
    if let Some(m) = get_remote(s3, at).await?.filter(same) {
        return Ok((m, Source::Remote));
    }
    Ok((from_artifact(s3, at, head).await?, Source::Artifact))
}

/// The manifest kept beside the artifact, if there is a readable one.
pub async fn get_remote(
    s3: &aws_sdk_s3::Client,
    at: &S3Object,
) -> anyhow::Result<Option<Manifest>> {
    let key = manifest::remote_key(&at.key);
    let Some((body, _)) = get_object(s3, &at.bucket, &key).await? else {
        return Ok(None);
    };
    // A manifest that does not parse is as good as none: the artifact is the truth.
    Ok(serde_json::from_slice::<Manifest>(&body)
        .ok()
        .filter(|m| m.format == FORMAT))
}

/// An object's bytes and ETag; `None` when there is no such object (404).
pub async fn get_object(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> anyhow::Result<Option<(Vec<u8>, Option<String>)>> {
    // The patcher's reads of a stack's records are the same call.
    Ok(zipedit::records::get_object(s3, bucket, key).await?)
}

/// Writes the manifest beside its artifact.
pub async fn put_remote(s3: &aws_sdk_s3::Client, m: &Manifest) -> anyhow::Result<Option<String>> {
    let key = manifest::remote_key(&m.key);
    // Compact: a manifest is ~150 bytes a file pretty-printed, a third of that less here.
    let body = serde_json::to_vec(&m.for_remote())?;
    let put = s3
        .put_object()
        .bucket(&m.bucket)
        .key(&key)
        .content_type("application/json")
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(crate::aws::err)
        .with_context(|| format!("cannot write s3://{}/{key}", m.bucket))?;
    Ok(put.version_id().filter(|v| *v != "null").map(str::to_owned))
}

/// Reads the whole artifact and hashes each entry.
async fn from_artifact(
    s3: &aws_sdk_s3::Client,
    at: &S3Object,
    head: &Head,
) -> anyhow::Result<Manifest> {
    let mut get = s3.get_object().bucket(&at.bucket).key(&at.key);
    get = match &head.version_id {
        Some(v) => get.version_id(v),
        None => get.if_match(&head.etag),
    };
    let bytes = get
        .send()
        .await
        .map_err(crate::aws::err)
        .with_context(|| format!("cannot read artifact {at}"))?
        .body
        .collect()
        .await
        .with_context(|| format!("cannot read artifact {at}"))?
        .into_bytes();
    let files = entries(&bytes).with_context(|| format!("artifact {at} is not a readable zip"))?;
    Ok(Manifest {
        format: FORMAT,
        bucket: at.bucket.clone(),
        key: at.key.clone(),
        etag: head.etag.clone(),
        version_id: head.version_id.clone(),
        code_sha256: zipedit::code_sha256(&bytes),
        size: bytes.len() as u64,
        files,
    })
}

/// Each file entry of a zip, hashed.
pub fn entries(zip_bytes: &[u8]) -> anyhow::Result<BTreeMap<String, FileEntry>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes))?;
    let mut files = BTreeMap::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i)?;
        if entry.is_dir() {
            continue;
        }
        let executable = entry.unix_mode().is_some_and(|m| m & 0o111 != 0);
        let name = entry.name()?.into_owned();
        let mut data = Vec::with_capacity(entry.size() as usize);
        entry.read_to_end(&mut data)?;
        // A later entry of the same name wins, as it does for Lambda's extractor.
        files.insert(
            name,
            FileEntry {
                size: data.len() as u64,
                sha256: manifest::sha256_hex(&data),
                executable,
                mtime_ns: None,
            },
        );
    }
    Ok(files)
}
