//! Patching an artifact where it lives, in S3. The Lambda runs this; so does the CLI's local
//! mode; both hand it their own client.
//!
//! Append, when the kept prefix is at least one multipart part (5 MiB): read the end of the
//! object by byte range, then a multipart upload whose first parts are UploadPartCopy of the
//! kept prefix (server side) and whose last part is the new bytes. Otherwise: get the object,
//! patch it, put it back. Every write is conditional on the object still having the ETag that
//! was read, so two patches racing on one artifact cannot lose an update, and the object is at
//! every moment the old complete zip or the new complete zip.
//!
//! A patcher killed mid-append (a Lambda timeout, an out-of-memory kill) leaves its multipart
//! upload behind, billed until aborted: before starting one, the patcher aborts the uploads of
//! the same key that are older than its own timeout, which no running patch can still own.
//!
//! Staged changes are read only below the staging prefix of the artifact's own bucket, so an
//! event cannot copy any other object the patcher's role can read into an artifact.

use std::time::{Duration, Instant, SystemTime};

use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use crate::change::{ChangeSet, PutFile};
use crate::delta::{self, DeltaError};
use crate::digest::HashCheckpoint;
use crate::entry;
use crate::error::PatchError;
use crate::event::{
    Decoding, Encoding, EventError, PatchAnswer, PatchEvent, Resolved, S3Url, Source, Timings,
};
use crate::patch::{
    Mode, PatchOptions, Patched, Strategy, directory_offset, patch_bytes, patch_directory,
};

/// S3's smallest part, except the last.
pub const MIN_PART: u64 = 5 * 1024 * 1024;
/// S3's largest part, and so the largest server-side copy in one UploadPartCopy.
pub const MAX_PART: u64 = 5 * 1024 * 1024 * 1024;
/// The first suffix read: the end record and, for most artifacts, the whole directory.
const TAIL_GUESS: u64 = 8 * 1024;
/// The end record with the longest possible comment fits in this much.
const TAIL_MAX: u64 = 64 * 1024 + 22;
/// The object metadata key holding the hash checkpoint at the central directory.
pub const CHECKPOINT_META: &str = "zipedit-checkpoint";

/// Where the CLI stages large changes, in the artifact's bucket.
pub const DEFAULT_STAGING_PREFIX: &str = ".quickdeploy/staging/";
/// Lambda's longest timeout: the default, so an unconfigured patcher never aborts a live upload.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(900);
/// The environment variable holding the function's timeout in seconds (cfn/zipedit.yaml sets it).
pub const TIMEOUT_ENV: &str = "ZIPEDIT_TIMEOUT_SECONDS";
/// The environment variable holding the staging prefix (cfn/zipedit.yaml sets it).
pub const STAGING_PREFIX_ENV: &str = "ZIPEDIT_STAGING_PREFIX";

/// How the patcher is configured: by its environment when it runs as the Lambda.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The longest a patch can run. A multipart upload of the artifact older than this belongs
    /// to no running patch, and is aborted before a new one starts.
    pub timeout: Duration,
    /// Staged changes are read only below this prefix, in the artifact's own bucket.
    pub staging_prefix: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_TIMEOUT,
            staging_prefix: DEFAULT_STAGING_PREFIX.to_owned(),
        }
    }
}

impl Settings {
    /// Reads [`TIMEOUT_ENV`] and [`STAGING_PREFIX_ENV`]; a variable that is absent or empty
    /// keeps its default.
    pub fn from_env() -> Result<Self, String> {
        let get = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Self::from_values(
            get(TIMEOUT_ENV).as_deref(),
            get(STAGING_PREFIX_ENV).as_deref(),
        )
    }

    /// [`Settings::from_env`] with the values given.
    pub fn from_values(
        timeout: Option<&str>,
        staging_prefix: Option<&str>,
    ) -> Result<Self, String> {
        let mut out = Self::default();
        if let Some(t) = timeout {
            let secs: u64 = t.trim().parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                format!("{TIMEOUT_ENV} must be a whole number of seconds above 0, got {t:?}")
            })?;
            out.timeout = Duration::from_secs(secs);
        }
        if let Some(p) = staging_prefix {
            // A prefix that is not a folder ("stage") would also admit "stage-secrets/...".
            if !p.ends_with('/') || p.starts_with('/') || p.contains(['*', '?']) {
                return Err(format!(
                    "{STAGING_PREFIX_ENV} must be a key prefix ending in '/', without wildcards, got {p:?}"
                ));
            }
            out.staging_prefix = p.to_owned();
        }
        Ok(out)
    }
}

/// Why a patch in S3 failed. [`ArtifactError::kind`] is the Lambda `errorType`.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The event is malformed.
    #[error(transparent)]
    BadEvent(#[from] EventError),
    /// The artifact does not exist.
    #[error("artifact {0} does not exist: check the bucket and key (and the version, if given)")]
    ArtifactMissing(String),
    /// A staged change is not where the event says.
    #[error("staged change {path:?} is missing: {url} does not exist (upload it before invoking)")]
    StagedMissing {
        /// The path inside the archive.
        path: String,
        /// Where it was expected.
        url: String,
    },
    /// A staged change is outside the staging prefix of the artifact's bucket; nothing was read.
    #[error(
        "staged change {path:?} refused: {url} is outside {allowed}; the patcher reads staged changes only below the staging prefix of the artifact's own bucket: stage it there"
    )]
    StagedOutside {
        /// The path inside the archive.
        path: String,
        /// Where the event said it is.
        url: String,
        /// Where staged changes may be (`s3://bucket/prefix`).
        allowed: String,
    },
    /// The engine refused the change or the archive.
    #[error("{url}: {source}")]
    Patch {
        /// The artifact.
        url: String,
        /// The engine's reason.
        source: PatchError,
    },
    /// An encoded change does not decode to the content it names (a delta made against other
    /// bytes than the entry's, or corrupted); nothing was written.
    #[error(
        "change {path:?} ({encoding}) refused: {source}; nothing was written: send the file whole (or diff again against what is deployed)"
    )]
    Decode {
        /// The path inside the archive.
        path: String,
        /// How it was encoded.
        encoding: Encoding,
        /// What decoding found.
        source: DeltaError,
    },
    /// A delta names an entry the artifact does not have; nothing was written.
    #[error(
        "change {path:?} is a delta against the previous content, but {url} has no entry {path:?}; nothing was written: send the file whole"
    )]
    DeltaBaseMissing {
        /// The path inside the archive.
        path: String,
        /// The artifact.
        url: String,
    },
    /// Someone else changed the artifact; nothing was written.
    #[error(
        "artifact {url} changed under this patch ({detail}); nothing was written: diff again and retry"
    )]
    Conflict {
        /// The artifact.
        url: String,
        /// What showed it.
        detail: String,
    },
    /// The stack is no longer as the event's [`crate::event::StackGuard`] says; nothing was
    /// written.
    #[error(
        "stack {stack} is no longer as this patch was planned against ({detail}); nothing was written: read the stack again and retry"
    )]
    StackMoved {
        /// The stack's name.
        stack: String,
        /// What showed it.
        detail: String,
    },
    /// The stack could not be read to confirm the event's guard; nothing was written.
    #[error(
        "stack {stack} could not be read to confirm this patch ({message}); nothing was written: read the stack on the caller's side and retry without the guard"
    )]
    StackUnread {
        /// The stack's name.
        stack: String,
        /// Why not.
        message: String,
    },
    /// S3 refused a call.
    #[error("S3 {op} on {url} failed: {message}")]
    S3 {
        /// The S3 operation.
        op: &'static str,
        /// The object.
        url: String,
        /// S3's words.
        message: String,
    },
}

impl ArtifactError {
    /// A short, stable name for the kind of error.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::BadEvent(_) => "BadEvent",
            Self::ArtifactMissing(_) => "ArtifactMissing",
            Self::StagedMissing { .. } => "StagedObjectMissing",
            Self::StagedOutside { .. } => "StagedOutsideStaging",
            Self::Patch { source, .. } => source.kind(),
            Self::Decode { .. } => "DecodeRefused",
            Self::DeltaBaseMissing { .. } => "DeltaBaseMissing",
            Self::Conflict { .. } => "ArtifactChanged",
            Self::StackMoved { .. } => "StackMoved",
            Self::StackUnread { .. } => "StackUnread",
            Self::S3 { .. } => "S3Error",
        }
    }
}

fn s3_error<E: ProvideErrorMetadata + std::fmt::Debug>(
    op: &'static str,
    url: &S3Url,
) -> impl FnOnce(aws_sdk_s3::error::SdkError<E>) -> ArtifactError {
    let url = url.to_string();
    move |e| {
        let status = e.raw_response().map(|r| r.status().as_u16());
        if status == Some(412) || e.code() == Some("PreconditionFailed") {
            return ArtifactError::Conflict {
                url,
                detail: format!("{op} answered 412 Precondition Failed"),
            };
        }
        let message = match (e.code(), e.message()) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (Some(c), None) => c.to_owned(),
            _ => format!("{e:?}"),
        };
        ArtifactError::S3 { op, url, message }
    }
}

fn is_not_found<E: ProvideErrorMetadata>(e: &aws_sdk_s3::error::SdkError<E>) -> bool {
    e.raw_response().map(|r| r.status().as_u16()) == Some(404)
        || matches!(e.code(), Some("NoSuchKey" | "NotFound" | "NoSuchVersion"))
}

fn ms(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 1e3 * 100.0).round() / 100.0
}

/// One version of an artifact, as first read: what its ranged reads are pinned to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Current {
    /// Its ETag: every read and write is conditional on it.
    pub etag: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its version id, on a versioned bucket: reads name it.
    pub version_id: Option<String>,
    /// The hash checkpoint at its central directory, from its metadata.
    pub checkpoint: Option<HashCheckpoint>,
}

/// Patches the artifact an event names, and answers as the Lambda does, with the default
/// [`Settings`].
pub async fn patch_artifact(s3: &Client, event: &PatchEvent) -> Result<PatchAnswer, ArtifactError> {
    patch_artifact_with(s3, event, &Settings::default()).await
}

/// True when `key` is a plain key below `prefix`: no empty, `.` or `..` segment after it, which
/// a client or proxy normalising the request path could resolve to another key.
fn is_staged_key(key: &str, prefix: &str) -> bool {
    key.strip_prefix(prefix).is_some_and(|rest| {
        !rest.is_empty() && rest.split('/').all(|s| !matches!(s, "" | "." | ".."))
    })
}

/// [`patch_artifact`] with the patcher's settings: the change set read from the event, staged
/// changes fetched, the artifact's end read (or all of it), patched, written conditionally.
/// An event with a stack guard is refused (StackUnread): only [`patch_artifact_guarded`], given
/// a way to read the stack, can confirm one.
pub async fn patch_artifact_with(
    s3: &Client,
    event: &PatchEvent,
    settings: &Settings,
) -> Result<PatchAnswer, ArtifactError> {
    let unconfirmed = async {
        match &event.stack {
            None => Ok(()),
            Some(g) => Err(ArtifactError::StackUnread {
                stack: g.name.clone(),
                message: "this patcher has no CloudFormation client".into(),
            }),
        }
    };
    patch_artifact_guarded(s3, event, settings, unconfirmed).await
}

/// [`patch_artifact_with`], with `confirmed`, which says whether the event's stack guard
/// holds (the Lambda's is [`crate::stack::confirm`]), run beside the artifact's first read:
/// nothing is written unless it says yes.
pub async fn patch_artifact_guarded(
    s3: &Client,
    event: &PatchEvent,
    settings: &Settings,
    confirmed: impl std::future::Future<Output = Result<(), ArtifactError>>,
) -> Result<PatchAnswer, ArtifactError> {
    let started = Instant::now();
    let url = S3Url::parse(&event.src)?;
    let mut timings = Timings::default();

    // The change set is checked before anything is read.
    let Incoming {
        mut changes,
        staged,
        encoded,
    } = change_set(event, &url, settings)?;
    let t = Instant::now();
    let mut read_bytes = fetch_staged(s3, &mut changes, &staged).await?;
    timings.staged = ms(t);

    let t = Instant::now();
    // The manifest is read beside the artifact's end: its update costs one write, after. The
    // stack's guard is confirmed in the same round.
    let (opened, manifest_before, confirmed) = tokio::join!(
        open(s3, &url, event),
        read_manifest(s3, &url, event.manifest),
        confirmed
    );
    confirmed?;
    let (current, last) = opened?;
    read_bytes += last.len() as u64;
    let opts = PatchOptions {
        mode: event.mode,
        max_dead_ratio: event.max_dead_ratio.unwrap_or(0.25),
        checkpoint: current.checkpoint.clone(),
        ..PatchOptions::default()
    };
    let directory = read_directory(s3, &url, &current, event, last, &mut read_bytes).await?;
    timings.read = ms(t);

    let t = Instant::now();
    let reader = ArtifactReader {
        s3,
        url: &url,
        current: &current,
    };
    let whole = decode(
        &reader,
        directory.as_ref(),
        &mut changes,
        &encoded,
        &mut read_bytes,
    )
    .await?;
    timings.decode = ms(t);

    let (patched, whole) = patch(
        s3,
        &url,
        &current,
        directory.as_ref(),
        whole,
        &changes,
        &opts,
        &mut timings,
        &mut read_bytes,
    )
    .await?;

    let t = Instant::now();
    let (etag, version_id, written_bytes, copied_bytes) =
        write(s3, &url, &current, &patched, whole.as_deref(), settings).await?;
    let written = crate::manifest::Written {
        etag: etag.clone(),
        version_id: version_id.clone(),
        code_sha256: patched.report.code_sha256.clone(),
        size: patched.report.size,
    };
    let (key, kept) = (
        crate::manifest::key_of(&url.key),
        (&current, patched.report.strategy),
    );
    let (bucket, before) = (&url.bucket, manifest_before);
    let keep = keep_manifest(s3, bucket, &key, before, kept, &changes, written);
    let manifest = match event.manifest {
        true => Some(keep.await),
        false => None,
    };
    timings.write = ms(t);
    timings.total = ms(started);
    round_sums(&mut timings);
    let written = (etag, version_id, written_bytes, copied_bytes);
    Ok(answer(
        &url,
        &patched.report,
        written,
        read_bytes,
        timings,
        manifest,
    ))
}

/// The answer to a patch: what the patch did, the object written (its ETag, version, bytes
/// written and bytes copied server-side), what was read, the timings and the manifest's fate.
fn answer(
    url: &S3Url,
    report: &crate::patch::Report,
    (etag, version_id, written_bytes, copied_bytes): (String, Option<String>, u64, u64),
    read_bytes: u64,
    timings: Timings,
    manifest: Option<crate::event::ManifestAnswer>,
) -> PatchAnswer {
    PatchAnswer {
        added: report.added,
        modified: report.modified,
        deleted: report.deleted,
        unchanged: report.unchanged,
        bucket: url.bucket.clone(),
        key: url.key.clone(),
        version_id,
        etag,
        size: report.size,
        code_sha256: report.code_sha256.clone(),
        dead_bytes: report.dead_bytes,
        mode: report.strategy,
        copied_bytes,
        read_bytes,
        written_bytes,
        timings_ms: timings,
        manifest,
    }
}

/// Rounds the phases' times once more for the answer: sums of rounded figures are not rounded.
fn round_sums(timings: &mut Timings) {
    for v in [
        &mut timings.read,
        &mut timings.staged,
        &mut timings.decode,
        &mut timings.patch,
        &mut timings.write,
    ] {
        *v = (*v * 100.0).round() / 100.0;
    }
}

/// The manifest of the artifact at `url` as read before the patch: `Ok(None)` when there is
/// none, `Err` with why it cannot be used (unreadable, or S3 refused). Nothing is read unless
/// the event asks for the manifest to be kept.
async fn read_manifest(
    s3: &Client,
    url: &S3Url,
    keep: bool,
) -> Result<Option<crate::manifest::Manifest>, String> {
    if !keep {
        return Ok(None);
    }
    let at = S3Url {
        bucket: url.bucket.clone(),
        key: crate::manifest::key_of(&url.key),
    };
    let bytes = match get_staged(s3, &at).await {
        Ok(b) => b,
        Err(ArtifactError::ArtifactMissing(_)) => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| format!("{at} is not a manifest: {e}"))
}

/// Writes the manifest of the object just written, carried forward from the one `before`
/// (which must describe the object patched); what became of it. A manifest that cannot be
/// written is an answer, not a failed patch: the artifact is complete, and a manifest that
/// names another ETag is never trusted (the CLI then writes it whole, or reads the artifact).
async fn keep_manifest(
    s3: &Client,
    bucket: &str,
    key: &str,
    before: Result<Option<crate::manifest::Manifest>, String>,
    (current, strategy): (&Current, Strategy),
    changes: &ChangeSet,
    written: crate::manifest::Written,
) -> crate::event::ManifestAnswer {
    let skipped = |why: String| crate::event::ManifestAnswer {
        key: key.to_owned(),
        skipped: Some(why),
        ..crate::event::ManifestAnswer::default()
    };
    let before = match before {
        Ok(Some(m)) => m,
        Ok(None) => return skipped("there was no manifest".into()),
        Err(e) => return skipped(e),
    };
    if strategy == Strategy::Unchanged {
        return skipped("the patch changed nothing".into());
    }
    let Some(next) = before.patched(
        &current.etag,
        current.version_id.as_deref(),
        changes,
        written,
    ) else {
        return skipped(format!(
            "it described another object than {} (ETag {})",
            key.trim_end_matches(".manifest.json"),
            current.etag
        ));
    };
    let at = S3Url {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
    };
    let body = match serde_json::to_vec(&next) {
        Ok(b) => b,
        Err(e) => return skipped(e.to_string()),
    };
    match s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/json")
        .body(ByteStream::from(body))
        .send()
        .await
    {
        Ok(out) => crate::event::ManifestAnswer {
            key: key.to_owned(),
            written: true,
            version_id: out.version_id().map(str::to_owned),
            skipped: None,
        },
        Err(e) => skipped(s3_error("PutObject", &at)(e).to_string()),
    }
}

/// A staged change: the index of its put, and where its bytes are.
type Staged = Vec<(usize, S3Url)>;

/// The event read and checked: the change set (staged puts have no data yet, encoded puts
/// hold their encoded bytes), the staged puts, and the encoded ones with their decoding.
struct Incoming {
    changes: ChangeSet,
    staged: Staged,
    encoded: Vec<(usize, Decoding)>,
}

/// The event's change set, checked. A staged change must be below the staging prefix of the
/// artifact's own bucket.
fn change_set(
    event: &PatchEvent,
    url: &S3Url,
    settings: &Settings,
) -> Result<Incoming, ArtifactError> {
    let mut changes = ChangeSet::new();
    let mut staged = Vec::new();
    let mut encoded = Vec::new();
    for (path, content) in &event.changes {
        let Resolved {
            source,
            executable,
            decoding,
        } = content.resolve(path)?;
        if let Some(d) = decoding {
            encoded.push((changes.puts.len(), d));
        }
        let data = match source {
            Source::Inline(data) => data,
            Source::Staged(at) => {
                if at.bucket != url.bucket || !is_staged_key(&at.key, &settings.staging_prefix) {
                    return Err(ArtifactError::StagedOutside {
                        path: path.clone(),
                        url: at.to_string(),
                        allowed: format!("s3://{}/{}", url.bucket, settings.staging_prefix),
                    });
                }
                staged.push((changes.puts.len(), at));
                Vec::new()
            }
        };
        changes.puts.push(PutFile {
            path: path.clone(),
            data,
            executable,
        });
    }
    changes.deletes = event.deletes.clone();
    changes.validate().map_err(|source| ArtifactError::Patch {
        url: url.to_string(),
        source,
    })?;
    if let Some(r) = event.max_dead_ratio.filter(|r| !(0.0..=1.0).contains(r)) {
        return Err(EventError(format!("max_dead_ratio must be between 0 and 1, got {r}")).into());
    }
    Ok(Incoming {
        changes,
        staged,
        encoded,
    })
}

/// Reads byte ranges of the artifact as first read.
struct ArtifactReader<'a> {
    s3: &'a Client,
    url: &'a S3Url,
    current: &'a Current,
}

impl ArtifactReader<'_> {
    async fn range(&self, from: u64, to: u64) -> Result<Vec<u8>, ArtifactError> {
        get_range(self.s3, self.url, self.current, from, to).await
    }
}

/// Decodes the encoded puts in place. A delta's previous content is its entry in the
/// artifact: located from the directory already read (then one ranged GET per entry, in
/// parallel), or from the whole artifact when it is small, which is then returned so the
/// patch does not read it again. Any decode that does not give exactly the content named
/// refuses the whole patch before anything is written.
async fn decode(
    reader: &ArtifactReader<'_>,
    directory: Option<&(Vec<u8>, u64)>,
    changes: &mut ChangeSet,
    encoded: &[(usize, Decoding)],
    read_bytes: &mut u64,
) -> Result<Option<Vec<u8>>, ArtifactError> {
    let refused = |path: &str, d: &Decoding, source| ArtifactError::Decode {
        path: path.to_owned(),
        encoding: d.encoding,
        source,
    };
    let deltas: Vec<&(usize, Decoding)> = encoded
        .iter()
        .filter(|(_, d)| d.encoding.needs_base())
        .collect();
    let (bases, whole) = delta_bases(reader, directory, changes, &deltas, read_bytes).await?;
    for (index, d) in encoded {
        let put = &mut changes.puts[*index];
        let decoded = match d.encoding {
            Encoding::Zstd => delta::decompress(&put.data, d.size, &d.sha256),
            Encoding::ZstdDelta => {
                let base = bases.get(index).map(Vec::as_slice).unwrap_or_default();
                delta::apply(base, &put.data, d.size, &d.sha256)
            }
            Encoding::Splice => {
                let base = bases.get(index).map(Vec::as_slice).unwrap_or_default();
                crate::splice::apply(base, &put.data, d.size, &d.sha256)
            }
        };
        put.data = decoded.map_err(|e| refused(&put.path, d, e))?;
    }
    Ok(whole)
}

/// The previous content of each delta's entry, by put index, and the whole artifact when it
/// had to be read for them.
async fn delta_bases(
    reader: &ArtifactReader<'_>,
    directory: Option<&(Vec<u8>, u64)>,
    changes: &ChangeSet,
    deltas: &[&(usize, Decoding)],
    read_bytes: &mut u64,
) -> Result<(std::collections::HashMap<usize, Vec<u8>>, Option<Vec<u8>>), ArtifactError> {
    let mut bases = std::collections::HashMap::new();
    if deltas.is_empty() {
        return Ok((bases, None));
    }
    let url = reader.url.to_string();
    let corrupt = |source| ArtifactError::Patch {
        url: url.clone(),
        source,
    };
    let size = reader.current.size;
    let (located, whole) = match directory {
        Some((tail, from)) => (entry::locate(tail, *from, size).map_err(corrupt)?, None),
        None => {
            let whole = reader.range(0, size).await?;
            *read_bytes += whole.len() as u64;
            (
                entry::locate(&whole, 0, size).map_err(corrupt)?,
                Some(whole),
            )
        }
    };
    let mut wanted = Vec::new();
    for (index, _) in deltas {
        let path = &changes.puts[*index].path;
        let found = located.iter().find(|l| &l.name == path).ok_or_else(|| {
            ArtifactError::DeltaBaseMissing {
                path: path.clone(),
                url: url.clone(),
            }
        })?;
        wanted.push((*index, found));
    }
    let spans: Vec<&entry::Located> = wanted.iter().map(|(_, l)| *l).collect();
    let held = match (&whole, directory) {
        (Some(w), _) => Some((w.as_slice(), 0)),
        (None, Some((tail, from))) => Some((tail.as_slice(), *from)),
        (None, None) => None,
    };
    let contents = fetch_entries(reader, &spans, held, read_bytes).await?;
    bases.extend(wanted.iter().map(|(index, _)| *index).zip(contents));
    Ok((bases, whole))
}

/// The bytes of `[start, end)` when `held` (bytes already read, and the offset they start at)
/// covers the span.
fn held_span(held: Option<(&[u8], u64)>, start: u64, end: u64) -> Option<Vec<u8>> {
    let (bytes, at) = held?;
    let from = usize::try_from(start.checked_sub(at)?).ok()?;
    let to = usize::try_from(end.checked_sub(at)?).ok()?;
    bytes.get(from..to).map(<[u8]>::to_vec)
}

/// The content of each of `located`, in order: sliced from the bytes already read (`held`:
/// the whole artifact, or its tail, where the entry patched last sits, so editing one file
/// again and again costs no read of its own), else each by its own ranged read, in parallel;
/// inflated and CRC-checked. Bytes read are added to `read_bytes`.
async fn fetch_entries(
    reader: &ArtifactReader<'_>,
    located: &[&entry::Located],
    held: Option<(&[u8], u64)>,
    read_bytes: &mut u64,
) -> Result<Vec<Vec<u8>>, ArtifactError> {
    let fetches = located.iter().map(|l| {
        let (start, end) = l.range();
        async move {
            match held_span(held, start, end) {
                Some(bytes) => Ok((bytes, false)),
                None => reader.range(start, end).await.map(|b| (b, true)),
            }
        }
    });
    let fetched = futures::future::join_all(fetches).await;
    let mut out = Vec::with_capacity(located.len());
    for (l, got) in located.iter().zip(fetched) {
        let (bytes, read) = got?;
        if read {
            *read_bytes += bytes.len() as u64;
        }
        out.push(l.content(&bytes).map_err(|source| ArtifactError::Patch {
            url: reader.url.to_string(),
            source,
        })?);
    }
    Ok(out)
}

/// The content of the entries `names` of the artifact at `url`, as `current` describes it,
/// read the way the patcher reads a delta's previous content: the central directory from the
/// object's end, then each entry by its own ranged read, in parallel, inflated and CRC-checked.
/// Every read names the version and is conditional on the ETag. A name the archive does not
/// hold is left out. Returns the contents by name and the bytes read.
pub async fn read_entries(
    s3: &Client,
    url: &S3Url,
    current: &Current,
    names: &[String],
) -> Result<(std::collections::HashMap<String, Vec<u8>>, u64), ArtifactError> {
    let reader = ArtifactReader { s3, url, current };
    let mut read_bytes = 0;
    let (tail, from, _) = read_tail(&reader, None, &mut read_bytes).await?;
    let located =
        entry::locate(&tail, from, current.size).map_err(|source| ArtifactError::Patch {
            url: url.to_string(),
            source,
        })?;
    let wanted: Vec<&entry::Located> = located.iter().filter(|l| names.contains(&l.name)).collect();
    let contents = fetch_entries(&reader, &wanted, Some((&tail, from)), &mut read_bytes).await?;
    let found = wanted
        .iter()
        .map(|l| l.name.clone())
        .zip(contents)
        .collect();
    Ok((found, read_bytes))
}

/// Fetches the staged changes' bytes (in parallel) into their puts; the bytes read.
async fn fetch_staged(
    s3: &Client,
    changes: &mut ChangeSet,
    staged: &Staged,
) -> Result<u64, ArtifactError> {
    let mut read = 0u64;
    let fetches = staged.iter().map(|(_, at)| get_staged(s3, at));
    for ((index, at), got) in staged.iter().zip(futures::future::join_all(fetches).await) {
        let data = got.map_err(|e| match e {
            ArtifactError::ArtifactMissing(_) => ArtifactError::StagedMissing {
                path: changes.puts[*index].path.clone(),
                url: at.to_string(),
            },
            other => other,
        })?;
        read += data.len() as u64;
        changes.puts[*index].data = data;
    }
    Ok(read)
}

/// The artifact's central directory and the bytes from where it starts (or from the end
/// record's guess, if earlier), when appending may copy the prefix server side; `None` when
/// the whole object must be read. `last` is the object's last bytes, as [`open`] read them.
/// Bytes read are added to `read_bytes`.
async fn read_directory(
    s3: &Client,
    url: &S3Url,
    current: &Current,
    event: &PatchEvent,
    last: Vec<u8>,
    read_bytes: &mut u64,
) -> Result<Option<(Vec<u8>, u64)>, ArtifactError> {
    if event.mode == Mode::Rewrite || current.checkpoint.is_none() || current.size <= MIN_PART {
        return Ok(None);
    }
    let reader = ArtifactReader { s3, url, current };
    let (tail, from, cd) = read_tail(&reader, Some(last), read_bytes).await?;
    Ok((cd >= MIN_PART).then_some((tail, from)))
}

/// The artifact's last bytes, holding its whole central directory: those bytes, where they
/// start, and where the directory starts. `first` is its last bytes when already read (by
/// [`open`]); else they are read. Then a second read when a long archive comment hides the
/// end record, another when the directory is longer than the read. Bytes read here are added
/// to `read_bytes`.
async fn read_tail(
    reader: &ArtifactReader<'_>,
    first: Option<Vec<u8>>,
    read_bytes: &mut u64,
) -> Result<(Vec<u8>, u64, u64), ArtifactError> {
    let size = reader.current.size;
    let (mut guess_from, mut tail) = match first {
        Some(bytes) => (size.saturating_sub(bytes.len() as u64), bytes),
        None => {
            let from = size.saturating_sub(TAIL_GUESS);
            let bytes = reader.range(from, size).await?;
            *read_bytes += bytes.len() as u64;
            (from, bytes)
        }
    };
    let mut found = directory_offset(&tail, guess_from, size);
    if found.is_err() && guess_from > 0 {
        // A long archive comment can push the end record out of the first guess.
        guess_from = size.saturating_sub(TAIL_MAX);
        tail = reader.range(guess_from, size).await?;
        *read_bytes += tail.len() as u64;
        found = directory_offset(&tail, guess_from, size);
    }
    let cd = found.map_err(|source| ArtifactError::Patch {
        url: reader.url.to_string(),
        source,
    })?;
    if cd < guess_from {
        let mut rest = reader.range(cd, guess_from).await?;
        *read_bytes += rest.len() as u64;
        rest.append(&mut tail);
        tail = rest;
    }
    Ok((tail, cd.min(guess_from), cd))
}

/// Patches from the directory alone when the engine can; else reads the whole object and
/// patches that, which is then returned too (a rewrite writes from it).
#[allow(clippy::too_many_arguments)] // the phases' shared state, passed as it is
async fn patch(
    s3: &Client,
    url: &S3Url,
    current: &Current,
    directory: Option<&(Vec<u8>, u64)>,
    whole: Option<Vec<u8>>,
    changes: &ChangeSet,
    opts: &PatchOptions,
    timings: &mut Timings,
    read_bytes: &mut u64,
) -> Result<(Patched, Option<Vec<u8>>), ArtifactError> {
    let patch_err = |source| ArtifactError::Patch {
        url: url.to_string(),
        source,
    };
    if let Some((tail, from)) = directory {
        let t = Instant::now();
        let result = patch_directory(tail, *from, current.size, changes, opts);
        timings.patch = ms(t);
        match result {
            Ok(p) => return Ok((p, None)),
            Err(PatchError::NeedsWholeArchive(_)) => {}
            Err(e) => return Err(patch_err(e)),
        }
    }
    let bytes = match whole {
        Some(bytes) => bytes,
        None => {
            let t_read = Instant::now();
            let bytes = get_range(s3, url, current, 0, current.size).await?;
            *read_bytes += bytes.len() as u64;
            timings.read += ms(t_read);
            bytes
        }
    };
    let t = Instant::now();
    let p = patch_bytes(&bytes, changes, opts).map_err(patch_err)?;
    timings.patch += ms(t);
    Ok((p, Some(bytes)))
}

/// Writes the patched archive, conditional on the version read: nothing when unchanged, the
/// tail after a server-side copy of the kept prefix when appending past a part's size, else
/// the whole object. Its ETag, version, bytes written and bytes copied by S3.
async fn write(
    s3: &Client,
    url: &S3Url,
    current: &Current,
    patched: &Patched,
    whole: Option<&[u8]>,
    settings: &Settings,
) -> Result<(String, Option<String>, u64, u64), ArtifactError> {
    let report = &patched.report;
    Ok(match report.strategy {
        Strategy::Unchanged => (current.etag.clone(), current.version_id.clone(), 0, 0),
        Strategy::Append if patched.kept_prefix >= MIN_PART => {
            let (etag, version) = write_multipart(s3, url, current, patched, settings).await?;
            (
                etag,
                version,
                patched.tail.len() as u64,
                patched.kept_prefix,
            )
        }
        _ => {
            let body = match whole {
                Some(old) => patched.to_vec(old),
                None => patched.tail.clone(),
            };
            let len = body.len() as u64;
            let (etag, version) = put_whole(s3, url, current, body, &report.checkpoint).await?;
            (etag, version, len, 0)
        }
    })
}

/// What the artifact is now and its last bytes (at most [`TAIL_GUESS`]), from one GET of a
/// suffix range: S3 answers it with the object's ETag, version, metadata and total size, so
/// no HEAD goes before it (one S3 round trip less a patch). An object S3 will not give a
/// range of (an empty one) is HEADed instead. Refused when the event expects another ETag or
/// version.
async fn open(
    s3: &Client,
    url: &S3Url,
    event: &PatchEvent,
) -> Result<(Current, Vec<u8>), ArtifactError> {
    let got = s3
        .get_object()
        .bucket(&url.bucket)
        .key(&url.key)
        .range(format!("bytes=-{TAIL_GUESS}"))
        .send()
        .await;
    let got = match got {
        Ok(got) => got,
        Err(e) if e.code() == Some("InvalidRange") => {
            return Ok((head(s3, url, event).await?, Vec::new()));
        }
        Err(e) if is_not_found(&e) => return Err(ArtifactError::ArtifactMissing(url.to_string())),
        Err(e) => return Err(s3_error("GetObject", url)(e)),
    };
    // "bytes FROM-TO/SIZE"; without it the whole object came.
    let size = got
        .content_range()
        .and_then(|r| r.rsplit_once('/'))
        .and_then(|(_, n)| n.parse::<u64>().ok())
        .unwrap_or(got.content_length().unwrap_or_default().max(0) as u64);
    let current = Current {
        etag: got.e_tag().unwrap_or_default().to_owned(),
        size,
        version_id: got.version_id().map(str::to_owned).filter(|v| v != "null"),
        checkpoint: checkpoint_of(got.metadata()),
    };
    expect(&current, url, event)?;
    let body = got.body.collect().await.map_err(|e| ArtifactError::S3 {
        op: "GetObject",
        url: url.to_string(),
        message: e.to_string(),
    })?;
    Ok((current, body.into_bytes().to_vec()))
}

/// The hash checkpoint in an object's metadata, if it has a readable one.
fn checkpoint_of(
    metadata: Option<&std::collections::HashMap<String, String>>,
) -> Option<HashCheckpoint> {
    let (offset, state) = metadata?.get(CHECKPOINT_META)?.split_once(':')?;
    Some(HashCheckpoint {
        offset: offset.parse().ok()?,
        state: state.to_owned(),
    })
}

async fn head(s3: &Client, url: &S3Url, event: &PatchEvent) -> Result<Current, ArtifactError> {
    let got = s3
        .head_object()
        .bucket(&url.bucket)
        .key(&url.key)
        .send()
        .await
        .map_err(|e| {
            if is_not_found(&e) {
                ArtifactError::ArtifactMissing(url.to_string())
            } else {
                s3_error("HeadObject", url)(e)
            }
        })?;
    let current = Current {
        etag: got.e_tag().unwrap_or_default().to_owned(),
        size: got.content_length().unwrap_or_default().max(0) as u64,
        version_id: got.version_id().map(str::to_owned).filter(|v| v != "null"),
        checkpoint: checkpoint_of(got.metadata()),
    };
    expect(&current, url, event)?;
    Ok(current)
}

/// Refuses the artifact when the event expects another ETag or version of it.
fn expect(current: &Current, url: &S3Url, event: &PatchEvent) -> Result<(), ArtifactError> {
    let conflict = |detail: String| ArtifactError::Conflict {
        url: url.to_string(),
        detail,
    };
    if let Some(want) = &event.expected_etag
        && want.trim_matches('"') != current.etag.trim_matches('"')
    {
        return Err(conflict(format!(
            "its ETag is {}, not {want}",
            current.etag
        )));
    }
    if let Some(want) = &event.expected_version
        && current.version_id.as_deref() != Some(want)
    {
        return Err(conflict(format!(
            "its current version is {}, not {want}",
            current.version_id.as_deref().unwrap_or("(unversioned)")
        )));
    }
    Ok(())
}

/// Bytes `from..to` of the artifact as it was first read (by version, or by ETag).
async fn get_range(
    s3: &Client,
    url: &S3Url,
    current: &Current,
    from: u64,
    to: u64,
) -> Result<Vec<u8>, ArtifactError> {
    if from >= to {
        return Ok(Vec::new());
    }
    let mut req = s3
        .get_object()
        .bucket(&url.bucket)
        .key(&url.key)
        .range(format!("bytes={from}-{}", to - 1))
        .if_match(&current.etag);
    if let Some(v) = &current.version_id {
        req = req.version_id(v);
    }
    let out = req.send().await.map_err(s3_error("GetObject", url))?;
    let body = out.body.collect().await.map_err(|e| ArtifactError::S3 {
        op: "GetObject",
        url: url.to_string(),
        message: e.to_string(),
    })?;
    Ok(body.into_bytes().to_vec())
}

async fn get_staged(s3: &Client, at: &S3Url) -> Result<Vec<u8>, ArtifactError> {
    let out = s3
        .get_object()
        .bucket(&at.bucket)
        .key(&at.key)
        .send()
        .await
        .map_err(|e| {
            if is_not_found(&e) {
                ArtifactError::ArtifactMissing(at.to_string())
            } else {
                s3_error("GetObject", at)(e)
            }
        })?;
    let body = out.body.collect().await.map_err(|e| ArtifactError::S3 {
        op: "GetObject",
        url: at.to_string(),
        message: e.to_string(),
    })?;
    Ok(body.into_bytes().to_vec())
}

fn checkpoint_meta(cp: &HashCheckpoint) -> String {
    format!("{}:{}", cp.offset, cp.state)
}

async fn put_whole(
    s3: &Client,
    url: &S3Url,
    current: &Current,
    body: Vec<u8>,
    checkpoint: &HashCheckpoint,
) -> Result<(String, Option<String>), ArtifactError> {
    let out = s3
        .put_object()
        .bucket(&url.bucket)
        .key(&url.key)
        .content_type("application/zip")
        .metadata(CHECKPOINT_META, checkpoint_meta(checkpoint))
        .if_match(&current.etag)
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(s3_error("PutObject", url))?;
    Ok((
        out.e_tag().unwrap_or_default().to_owned(),
        out.version_id().map(str::to_owned),
    ))
}

/// Aborts the multipart uploads of exactly this key that began more than `timeout` ago: left by
/// a patch that was killed (every patch ends within the timeout, so none still owns them). Best
/// effort: a bucket's AbortIncompleteMultipartUpload rule is the backstop, so a failure here is
/// logged and the patch goes on.
async fn abort_stale_uploads(s3: &Client, url: &S3Url, timeout: Duration, own: &str) {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let cutoff = now - timeout.as_secs_f64();
    let (mut key_marker, mut id_marker) = (None::<String>, None::<String>);
    loop {
        let listed = s3
            .list_multipart_uploads()
            .bucket(&url.bucket)
            .prefix(&url.key)
            .set_key_marker(key_marker.take())
            .set_upload_id_marker(id_marker.take())
            .send()
            .await;
        let page = match listed {
            Ok(p) => p,
            Err(e) => {
                eprintln!(
                    "zipedit: could not list stale multipart uploads of {url}: {}",
                    s3_error("ListMultipartUploads", url)(e)
                );
                return;
            }
        };
        for upload in page.uploads() {
            // The prefix also matches longer keys ("app.zip" and "app.zip.bak"): exact key only.
            // Never this patch's own upload, whatever its start time says (moto gives every
            // upload the same one, in 2010).
            let stale = upload.key() == Some(url.key.as_str())
                && upload.upload_id() != Some(own)
                && upload.initiated().is_some_and(|t| t.as_secs_f64() < cutoff);
            let Some(id) = upload.upload_id().filter(|_| stale) else {
                continue;
            };
            let aborted = s3
                .abort_multipart_upload()
                .bucket(&url.bucket)
                .key(&url.key)
                .upload_id(id)
                .send()
                .await;
            match aborted {
                Ok(_) => eprintln!("zipedit: aborted stale multipart upload {id} of {url}"),
                // Another patch may have aborted it a moment before: that is the same outcome.
                Err(e) if e.code() == Some("NoSuchUpload") => {}
                Err(e) => eprintln!(
                    "zipedit: could not abort stale multipart upload {id} of {url}: {}",
                    s3_error("AbortMultipartUpload", url)(e)
                ),
            }
        }
        if page.is_truncated() != Some(true) {
            return;
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        id_marker = page.next_upload_id_marker().map(str::to_owned);
        if key_marker.is_none() && id_marker.is_none() {
            return;
        }
    }
}

/// Percent-encodes a key (or version id) for `x-amz-copy-source`, keeping `/`.
pub fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The kept prefix split into copy parts: each at most 5 GiB, each at least 5 MiB.
pub fn copy_ranges(prefix: u64) -> Vec<(u64, u64)> {
    let parts = prefix.div_ceil(MAX_PART).max(1);
    let size = prefix.div_ceil(parts);
    (0..parts)
        .map(|i| (i * size, ((i + 1) * size).min(prefix)))
        .filter(|(a, b)| a < b)
        .collect()
}

async fn write_multipart(
    s3: &Client,
    url: &S3Url,
    current: &Current,
    patched: &Patched,
    settings: &Settings,
) -> Result<(String, Option<String>), ArtifactError> {
    let created = s3
        .create_multipart_upload()
        .bucket(&url.bucket)
        .key(&url.key)
        .content_type("application/zip")
        .metadata(CHECKPOINT_META, checkpoint_meta(&patched.report.checkpoint))
        .send()
        .await
        .map_err(s3_error("CreateMultipartUpload", url))?;
    let upload_id = created.upload_id().unwrap_or_default().to_owned();
    // Clearing up after killed patches is not this write's business: it goes beside the
    // parts, not a round trip before them.
    let (_, result) = tokio::join!(
        abort_stale_uploads(s3, url, settings.timeout, &upload_id),
        fill_multipart(s3, url, current, patched, &upload_id)
    );
    if result.is_err() {
        // A failed upload is aborted so no parts linger; the object itself was never touched.
        let _ = s3
            .abort_multipart_upload()
            .bucket(&url.bucket)
            .key(&url.key)
            .upload_id(&upload_id)
            .send()
            .await;
    }
    result
}

async fn fill_multipart(
    s3: &Client,
    url: &S3Url,
    current: &Current,
    patched: &Patched,
    upload_id: &str,
) -> Result<(String, Option<String>), ArtifactError> {
    let mut source = format!("{}/{}", url.bucket, encode_key(&url.key));
    if let Some(v) = &current.version_id {
        source.push_str(&format!("?versionId={v}"));
    }
    let ranges = copy_ranges(patched.kept_prefix);
    let copies = ranges.iter().enumerate().map(|(i, (from, to))| {
        let source = source.clone();
        async move {
            let part = i as i32 + 1;
            let out = s3
                .upload_part_copy()
                .bucket(&url.bucket)
                .key(&url.key)
                .upload_id(upload_id)
                .part_number(part)
                .copy_source(source)
                .copy_source_range(format!("bytes={from}-{}", to - 1))
                .copy_source_if_match(&current.etag)
                .send()
                .await
                .map_err(s3_error("UploadPartCopy", url))?;
            let etag = out
                .copy_part_result()
                .and_then(|r| r.e_tag())
                .unwrap_or_default();
            Ok::<_, ArtifactError>(
                CompletedPart::builder()
                    .part_number(part)
                    .e_tag(etag)
                    .build(),
            )
        }
    });
    // The tail goes up while S3 copies the kept prefix: parts of one upload may be sent in
    // any order and at once, so the two cost one round trip, not two.
    let last = ranges.len() as i32 + 1;
    let tail = async {
        let out = s3
            .upload_part()
            .bucket(&url.bucket)
            .key(&url.key)
            .upload_id(upload_id)
            .part_number(last)
            .body(ByteStream::from(patched.tail.clone()))
            .send()
            .await
            .map_err(s3_error("UploadPart", url))?;
        Ok::<_, ArtifactError>(
            CompletedPart::builder()
                .part_number(last)
                .e_tag(out.e_tag().unwrap_or_default())
                .build(),
        )
    };
    let (mut parts, tail) =
        futures::future::try_join(futures::future::try_join_all(copies), tail).await?;
    parts.push(tail);
    let done = s3
        .complete_multipart_upload()
        .bucket(&url.bucket)
        .key(&url.key)
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .if_match(&current.etag)
        .send()
        .await
        .map_err(s3_error("CompleteMultipartUpload", url))?;
    Ok((
        done.e_tag().unwrap_or_default().to_owned(),
        done.version_id().map(str::to_owned),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_ranges_cover_the_prefix_in_valid_parts() {
        const GIB: u64 = 1024 * 1024 * 1024;
        for prefix in [
            MIN_PART,
            20 * 1024 * 1024,
            5 * GIB,
            5 * GIB + 1,
            12 * GIB + 7,
            40 * GIB,
        ] {
            let ranges = copy_ranges(prefix);
            assert_eq!(ranges.first().map(|r| r.0), Some(0));
            assert_eq!(ranges.last().map(|r| r.1), Some(prefix), "covers {prefix}");
            for pair in ranges.windows(2) {
                assert_eq!(pair[0].1, pair[1].0, "contiguous");
            }
            for (from, to) in &ranges {
                let len = to - from;
                assert!(len <= MAX_PART, "{len} exceeds 5 GiB");
                assert!(
                    len >= MIN_PART,
                    "{len} is below 5 MiB (only the upload's last part may be)"
                );
            }
            assert_eq!(
                ranges.len() as u64,
                prefix.div_ceil(MAX_PART),
                "as few parts as possible"
            );
        }
    }

    #[test]
    fn staged_keys_must_be_plain_keys_below_the_prefix() {
        let p = DEFAULT_STAGING_PREFIX;
        assert!(is_staged_key(".quickdeploy/staging/abc/handler.py", p));
        for key in [
            ".quickdeploy/staging/",
            ".quickdeploy/staging/../secrets/key",
            ".quickdeploy/staging/a/./b",
            ".quickdeploy/staging//b",
            ".quickdeploy/stagingX/b",
            "other/.quickdeploy/staging/b",
            "app.zip",
        ] {
            assert!(!is_staged_key(key, p), "{key}");
        }
    }

    #[test]
    fn settings_come_from_the_environment_values() {
        assert_eq!(Settings::from_values(None, None), Ok(Settings::default()));
        let s = Settings::from_values(Some("120"), Some("stage/")).expect("valid");
        assert_eq!(s.timeout, Duration::from_secs(120));
        assert_eq!(s.staging_prefix, "stage/");
        for (t, p) in [
            (Some("0"), None),
            (Some("2m"), None),
            (None, Some("stage")),
            (None, Some("/abs/")),
            (None, Some("st*/")),
        ] {
            assert!(Settings::from_values(t, p).is_err(), "{t:?} {p:?}");
        }
    }

    #[test]
    fn copy_source_keys_are_percent_encoded() {
        assert_eq!(encode_key("a b/ü+c.zip"), "a%20b/%C3%BC%2Bc.zip");
        assert_eq!(encode_key("plain/key-1_2.~zip"), "plain/key-1_2.~zip");
    }
}
