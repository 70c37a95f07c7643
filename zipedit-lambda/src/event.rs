//! The zipedit Lambda's event and answer, as JSON. No AWS here: the CLI builds events with the
//! same types and tests check them without a server.
//!
//! The original QuickBuild event is accepted unchanged:
//! `{"src": "s3://bucket/key", "changes": {"path": "new text content"}}`.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::patch::{Mode, Strategy};

/// A request to patch one artifact in S3.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchEvent {
    /// The artifact, as `s3://bucket/key`.
    pub src: String,
    /// Files to put, by path inside the archive.
    #[serde(default)]
    pub changes: BTreeMap<String, Content>,
    /// Paths to delete.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deletes: Vec<String>,
    /// `auto` (default), `rewrite` or `append`.
    #[serde(default)]
    pub mode: Mode,
    /// In auto mode, rewrite once dead bytes would pass this share of the archive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_dead_ratio: Option<f64>,
    /// Refuse the patch unless the artifact still has this ETag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_etag: Option<String>,
    /// Refuse the patch unless this is still the artifact's current version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_version: Option<String>,
}

/// The new content of one file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Content {
    /// UTF-8 text, as the original QuickBuild event sends it.
    Text(String),
    /// Binary, staged, or with an explicit executable flag.
    Detailed(Detailed),
}

/// Exactly one of `text`, `base64` or `s3`, and optionally `executable`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Detailed {
    /// UTF-8 text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Bytes, base64 encoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base64: Option<String>,
    /// Bytes staged in S3 (`s3://bucket/key`), for changes past the 6 MB payload limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<String>,
    /// `true` for 0755, `false` for 0644; absent keeps a replaced entry's mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executable: Option<bool>,
}

/// Where a file's bytes come from once the event is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// In the event itself.
    Inline(Vec<u8>),
    /// Staged in S3, to be fetched.
    Staged(S3Url),
}

/// A bucket and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    /// Bucket name.
    pub bucket: String,
    /// Object key.
    pub key: String,
}

impl std::fmt::Display for S3Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// The event is malformed; the message says which field and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad event: {0}")]
pub struct EventError(pub String);

impl S3Url {
    /// Parses `s3://bucket/key`.
    pub fn parse(s: &str) -> Result<Self, EventError> {
        let rest = s
            .strip_prefix("s3://")
            .ok_or_else(|| EventError(format!("{s:?} is not an S3 URL: write s3://bucket/key")))?;
        match rest.split_once('/') {
            Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => Ok(Self {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
            }),
            _ => Err(EventError(format!(
                "{s:?} names no object: write s3://bucket/key"
            ))),
        }
    }
}

impl Content {
    /// Where the bytes come from, and the executable flag.
    pub fn resolve(&self, path: &str) -> Result<(Source, Option<bool>), EventError> {
        match self {
            Self::Text(t) => Ok((Source::Inline(t.clone().into_bytes()), None)),
            Self::Detailed(d) => {
                let given = [d.text.is_some(), d.base64.is_some(), d.s3.is_some()];
                if given.iter().filter(|g| **g).count() != 1 {
                    return Err(EventError(format!(
                        "change {path:?} must have exactly one of \"text\", \"base64\" or \"s3\""
                    )));
                }
                let source = if let Some(t) = &d.text {
                    Source::Inline(t.clone().into_bytes())
                } else if let Some(b) = &d.base64 {
                    Source::Inline(STANDARD.decode(b).map_err(|e| {
                        EventError(format!("change {path:?}: \"base64\" does not decode: {e}"))
                    })?)
                } else {
                    let url = d.s3.as_deref().unwrap_or_default();
                    Source::Staged(
                        S3Url::parse(url)
                            .map_err(|e| EventError(format!("change {path:?}: {}", e.0)))?,
                    )
                };
                Ok((source, d.executable))
            }
        }
    }

    /// Binary content, inline.
    pub fn bytes(data: &[u8], executable: Option<bool>) -> Self {
        match (std::str::from_utf8(data), executable) {
            (Ok(text), None) => Self::Text(text.to_owned()),
            (Ok(text), Some(_)) => Self::Detailed(Detailed {
                text: Some(text.to_owned()),
                executable,
                ..Detailed::default()
            }),
            (Err(_), _) => Self::Detailed(Detailed {
                base64: Some(STANDARD.encode(data)),
                executable,
                ..Detailed::default()
            }),
        }
    }

    /// Content staged in S3.
    pub fn staged(url: &S3Url, executable: Option<bool>) -> Self {
        Self::Detailed(Detailed {
            s3: Some(url.to_string()),
            executable,
            ..Detailed::default()
        })
    }
}

/// How long each step took, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// Reading the artifact's metadata and central directory (or the whole artifact).
    pub read: f64,
    /// Fetching staged changes.
    pub staged: f64,
    /// Running the engine.
    pub patch: f64,
    /// Writing the new artifact.
    pub write: f64,
    /// All of it.
    pub total: f64,
}

/// The answer to a [`PatchEvent`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchAnswer {
    /// Puts whose path was new.
    pub added: usize,
    /// Puts that replaced an entry.
    pub modified: usize,
    /// Entries removed.
    pub deleted: usize,
    /// Entries carried over.
    pub unchanged: usize,
    /// The artifact's bucket.
    pub bucket: String,
    /// The artifact's key.
    pub key: String,
    /// The new object version, when the bucket is versioned.
    pub version_id: Option<String>,
    /// The new object's ETag.
    pub etag: String,
    /// The new object's size in bytes.
    pub size: u64,
    /// Base64 SHA-256 of the new object, as Lambda's CodeSha256.
    pub code_sha256: String,
    /// Bytes no entry points at (an estimate when only the directory was read).
    pub dead_bytes: u64,
    /// The strategy used.
    pub mode: Strategy,
    /// Bytes of the old object copied server side.
    pub copied_bytes: u64,
    /// Bytes that passed through the Lambda: read from S3 and written to it.
    pub read_bytes: u64,
    /// Bytes uploaded by the Lambda.
    pub written_bytes: u64,
    /// Time spent per step.
    pub timings_ms: Timings,
}
