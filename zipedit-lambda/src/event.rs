//! The zipedit Lambda's event and answer, as JSON. No AWS here: the CLI builds events with the
//! same types and tests check them without a server.
//!
//! The original QuickBuild event is accepted unchanged:
//! `{"src": "s3://bucket/key", "changes": {"path": "new text content"}}`.
//!
//! A change's bytes (`base64` or `s3`) may be encoded, so a large file travels small:
//! `"encoding": "zstd"` is a zstd frame of the content; `"encoding": "zstd-delta"` is a zstd
//! frame made against the entry's previous content in the artifact ([`crate::delta`]);
//! `"encoding": "splice"` keeps the previous content's head and tail and replaces what lies
//! between ([`crate::splice`]). Each names the content's `size` and `sha256` (hex), which
//! the patcher checks before writing.

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
    /// `auto` (default: left out of the events the CLI sends), `rewrite` or `append`.
    #[serde(default, skip_serializing_if = "Mode::is_auto")]
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
    /// Keep the artifact's manifest up to date ([`crate::manifest`], at
    /// [`crate::manifest::key_of`] the artifact's key): after the artifact is written, a
    /// manifest there that described the object patched is rewritten to describe the new one
    /// ([`PatchAnswer::manifest`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub manifest: bool,
    /// Refuse the patch, before anything is written, unless CloudFormation still says this of
    /// the stack whose function runs the artifact ([`StackGuard`]). The CLI sends it when it
    /// planned from its copy of the stack instead of reading the stack first: the patcher's
    /// DescribeStacks goes beside its own read of the artifact, one round trip less.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<StackGuard>,
}

/// What a stack must still be for a patch to be written ([`PatchEvent::stack`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackGuard {
    /// The stack's name, as DescribeStacks is asked for it.
    pub name: String,
    /// Its id (ARN): a stack made again under the same name is another stack.
    pub stack_id: String,
    /// Its LastUpdatedTime (CreationTime when never updated) and status, as
    /// [`stack_updated`] writes them: any update of the stack, from anywhere, moves it.
    pub updated: String,
}

/// A stack's LastUpdatedTime (or CreationTime), as seconds and nanoseconds since the epoch,
/// and its status, as one text: what [`StackGuard::updated`] holds, and what the CLI's copy of
/// the stack is confirmed by. One function, so the two sides cannot write it differently.
pub fn stack_updated(secs: i64, nanos: u32, status: &str) -> String {
    format!("{secs}.{nanos:09} {status}")
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

/// Exactly one of `text`, `base64` or `s3`, and optionally `executable`; `base64` and `s3`
/// may be encoded (`encoding`, with the content's `size` and `sha256`).
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
    /// How the bytes of `base64` or `s3` are encoded; absent: they are the content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Encoding>,
    /// The content's size in bytes, once decoded (required with `encoding`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// The content's SHA-256, lowercase hex, once decoded (required with `encoding`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// How a change's bytes are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Encoding {
    /// One zstd frame of the content ([`crate::delta::compress`]).
    Zstd,
    /// One zstd frame made against the entry's previous content in the artifact
    /// ([`crate::delta::make`]): the entry must exist, and the result is checked.
    ZstdDelta,
    /// The entry's previous content with its middle replaced ([`crate::splice::make`]): the
    /// entry must exist, and the result is checked.
    Splice,
}

impl Encoding {
    /// True when the bytes decode against the entry's previous content.
    pub fn needs_base(self) -> bool {
        matches!(self, Self::ZstdDelta | Self::Splice)
    }
}

impl std::fmt::Display for Encoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Zstd => "zstd",
            Self::ZstdDelta => "zstd-delta",
            Self::Splice => "splice",
        })
    }
}

/// What an encoded change decodes to: checked by the patcher before anything is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoding {
    /// How the bytes are encoded.
    pub encoding: Encoding,
    /// The content's size.
    pub size: u64,
    /// The content's SHA-256, lowercase hex.
    pub sha256: String,
}

/// A change read from the event: where its bytes come from, its executable flag, and how to
/// decode them (`None`: they are the content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Where the bytes are.
    pub source: Source,
    /// `Some(true)` for 0755, `Some(false)` for 0644, `None` keeps the entry's mode.
    pub executable: Option<bool>,
    /// How the bytes decode to the content.
    pub decoding: Option<Decoding>,
}

/// The largest content an encoded change may announce: Lambda unzips at most 250 MB, and
/// the patcher must not be made to allocate more than it can hold.
pub const MAX_DECODED: u64 = 512 << 20;

impl Detailed {
    /// The decoding `encoding`, `size` and `sha256` describe, checked: all three or none of
    /// them, not with `text`, a plausible size and a 64-digit hex SHA-256.
    fn decoding(&self, path: &str) -> Result<Option<Decoding>, EventError> {
        let bad = |why: &str| Err(EventError(format!("change {path:?}: {why}")));
        let Some(encoding) = self.encoding else {
            if self.size.is_some() || self.sha256.is_some() {
                return bad(
                    "\"size\" and \"sha256\" describe encoded content: give \"encoding\" too, or leave them out",
                );
            }
            return Ok(None);
        };
        if self.text.is_some() {
            return bad("\"text\" cannot be encoded: send encoded bytes as \"base64\" or \"s3\"");
        }
        let (Some(size), Some(sha256)) = (self.size, &self.sha256) else {
            return bad("an encoded change needs the content's \"size\" and \"sha256\"");
        };
        if size > MAX_DECODED {
            return bad(&format!(
                "\"size\" {size} is past the {MAX_DECODED} bytes a change may decode to"
            ));
        }
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return bad("\"sha256\" must be 64 hex digits");
        }
        Ok(Some(Decoding {
            encoding,
            size,
            sha256: sha256.to_ascii_lowercase(),
        }))
    }
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
    /// Where the bytes come from, the executable flag, and how they decode.
    pub fn resolve(&self, path: &str) -> Result<Resolved, EventError> {
        match self {
            Self::Text(t) => Ok(Resolved {
                source: Source::Inline(t.clone().into_bytes()),
                executable: None,
                decoding: None,
            }),
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
                Ok(Resolved {
                    source,
                    executable: d.executable,
                    decoding: d.decoding(path)?,
                })
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

    /// Encoded bytes, inline: they decode as `decoding` says.
    pub fn encoded(data: &[u8], decoding: &Decoding, executable: Option<bool>) -> Self {
        Self::Detailed(Detailed {
            base64: Some(STANDARD.encode(data)),
            executable,
            encoding: Some(decoding.encoding),
            size: Some(decoding.size),
            sha256: Some(decoding.sha256.clone()),
            ..Detailed::default()
        })
    }

    /// The bytes this content carries inline, as sent (still encoded, if it is); `None` for
    /// staged content or base64 that does not decode.
    pub fn inline_bytes(&self) -> Option<Vec<u8>> {
        match self {
            Self::Text(t) => Some(t.clone().into_bytes()),
            Self::Detailed(d) => match (&d.text, &d.base64) {
                (Some(t), _) => Some(t.clone().into_bytes()),
                (None, Some(b)) => STANDARD.decode(b).ok(),
                (None, None) => None,
            },
        }
    }

    /// The same content with its bytes at `url` instead of inline: executable flag and
    /// encoding kept.
    pub fn moved_to(&self, url: &S3Url) -> Self {
        let mut d = match self {
            Self::Text(_) => Detailed::default(),
            Self::Detailed(d) => d.clone(),
        };
        d.text = None;
        d.base64 = None;
        d.s3 = Some(url.to_string());
        Self::Detailed(d)
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
    /// Decoding compressed changes and deltas, with the ranged reads of their previous
    /// content.
    #[serde(default)]
    pub decode: f64,
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
    /// The manifest the event named, and whether it now describes the new object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<ManifestAnswer>,
}

/// What became of the manifest an event named ([`PatchEvent::manifest`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestAnswer {
    /// Its key, in the artifact's bucket.
    pub key: String,
    /// It was written and describes the new object.
    pub written: bool,
    /// Its new version, when written to a versioned bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// Why it was not written: there was none, it did not describe the object patched, the
    /// patch changed nothing, or S3 refused (the artifact is written all the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(change: serde_json::Value) -> Result<Resolved, EventError> {
        let content: Content = serde_json::from_value(change).expect("parses");
        content.resolve("bootstrap")
    }

    const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn the_seed_event_still_reads_as_plain_content() {
        let event: PatchEvent = serde_json::from_value(serde_json::json!({
            "src": "s3://b/k.zip",
            "changes": {"app.py": "print(1)\n"}
        }))
        .expect("the QuickBuild event");
        let r = event.changes["app.py"].resolve("app.py").expect("resolves");
        assert_eq!(r.source, Source::Inline(b"print(1)\n".to_vec()));
        assert_eq!(r.decoding, None);
    }

    #[test]
    fn an_encoded_change_names_its_decoding() {
        let r = resolve(serde_json::json!({
            "base64": "AAEC", "encoding": "zstd-delta", "size": 4, "sha256": SHA.to_uppercase(),
            "executable": true
        }))
        .expect("resolves");
        assert_eq!(r.source, Source::Inline(vec![0, 1, 2]));
        assert_eq!(r.executable, Some(true));
        let d = r.decoding.expect("decoding");
        assert_eq!(
            (d.encoding, d.size, d.sha256.as_str()),
            (Encoding::ZstdDelta, 4, SHA)
        );
        let staged = resolve(serde_json::json!({
            "s3": "s3://b/.quickdeploy/staging/x/bootstrap", "encoding": "zstd", "size": 4,
            "sha256": SHA
        }))
        .expect("staged");
        assert!(matches!(staged.source, Source::Staged(_)));
        assert_eq!(staged.decoding.map(|d| d.encoding), Some(Encoding::Zstd));
    }

    #[test]
    fn an_encoding_without_its_checks_or_on_text_is_refused() {
        let cases = [
            (
                serde_json::json!({"text": "x", "encoding": "zstd", "size": 1, "sha256": SHA}),
                "cannot be encoded",
            ),
            (
                serde_json::json!({"base64": "AA==", "encoding": "zstd", "sha256": SHA}),
                "needs the content's",
            ),
            (
                serde_json::json!({"base64": "AA==", "encoding": "zstd", "size": 1, "sha256": "abc"}),
                "64 hex digits",
            ),
            (
                serde_json::json!({"base64": "AA==", "encoding": "zstd", "size": MAX_DECODED + 1, "sha256": SHA}),
                "past the",
            ),
            (
                serde_json::json!({"base64": "AA==", "size": 1}),
                "give \"encoding\" too",
            ),
        ];
        for (change, want) in cases {
            let err = resolve(change.clone()).expect_err("refused");
            assert!(err.0.contains(want), "{change}: {}", err.0);
        }
        let unknown: Result<Content, _> =
            serde_json::from_value(serde_json::json!({"base64": "AA==", "encoding": "gzip"}));
        assert!(
            unknown.is_err(),
            "an unknown encoding is not read as plain content"
        );
    }

    #[test]
    fn moving_encoded_content_to_s3_keeps_its_decoding_and_mode() {
        let d = Decoding {
            encoding: Encoding::ZstdDelta,
            size: 4,
            sha256: SHA.to_owned(),
        };
        let inline = Content::encoded(&[7, 8, 9], &d, Some(true));
        assert_eq!(inline.inline_bytes(), Some(vec![7, 8, 9]));
        let url = S3Url::parse("s3://b/.quickdeploy/staging/n/bootstrap").expect("url");
        let moved = inline.moved_to(&url);
        assert_eq!(moved.inline_bytes(), None);
        let r = moved.resolve("bootstrap").expect("resolves");
        assert_eq!(r.source, Source::Staged(url));
        assert_eq!((r.executable, r.decoding), (Some(true), Some(d)));
        let json = serde_json::to_value(&moved).expect("json");
        assert_eq!(json["encoding"], "zstd-delta");
    }

    #[test]
    fn a_stack_guard_travels_only_when_set_and_names_its_fields_exactly() {
        let plain = serde_json::to_value(PatchEvent::default()).expect("json");
        assert!(plain.get("stack").is_none(), "{plain}");
        let guarded = PatchEvent {
            stack: Some(StackGuard {
                name: "app".into(),
                stack_id: "arn:aws:cloudformation:us-east-1:1:stack/app/x".into(),
                updated: stack_updated(1_700_000_000, 5, "UPDATE_COMPLETE"),
            }),
            ..PatchEvent::default()
        };
        let json = serde_json::to_value(&guarded).expect("json");
        assert_eq!(
            json["stack"]["updated"],
            "1700000000.000000005 UPDATE_COMPLETE"
        );
        let back: PatchEvent = serde_json::from_value(json).expect("reads back");
        assert_eq!(back, guarded);
        // A misspelled field is an error, not a guard that checks nothing.
        let typo = serde_json::json!({
            "src": "s3://b/k.zip",
            "stack": {"name": "app", "stack_id": "x", "updatd": "y"}
        });
        assert!(serde_json::from_value::<PatchEvent>(typo).is_err());
    }
}
