//! A stack's records next to its artifacts, in the artifact bucket: its deploy history
//! (`.quickdeploy/history/<stack>.json.zst`, [`crate::history`]) and its hot-patch record
//! (`.quickdeploy/hotpatched/<stack>.json`: which functions a quick deploy updated outside
//! CloudFormation since the last full one). The CLI and the patcher read and write them with
//! the same functions.
//!
//! The patcher's record request ([`RecordRequest`]) is why both live here: a deploy hands the
//! patcher its entry and its hot patches as one zstd frame made against the newest entry it
//! read (a few hundred bytes: the versions and hashes that are new), and the patcher appends
//! them next to S3. Written from the client, the history would travel whole on every deploy.
//!
//! The history is compact JSON, zstd-compressed. One written before (`<stack>.json`, plain
//! JSON) is read when there is no compressed one, and the next entry writes the compressed
//! one. Every write is a read, a change and a conditional write: `If-None-Match: *` when there
//! was nothing, `If-Match: <ETag>` otherwise. When another machine wrote in between, S3
//! answers 412 (or 409 ConditionalRequestConflict while its write is under way, or 404 when
//! the object was deleted meanwhile): the object is read again and the change made to that, a
//! bounded number of times, so two machines never lose each other's entries.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::history::{Entry, FORMAT, History, KEEP};

/// Attempts at a conditional write before giving up.
const ATTEMPTS: u32 = 10;
/// zstd level of the stored history: fast, and most of the gain is there.
const LEVEL: i32 = 3;
/// The largest record a frame may decode to: an entry lists at most 20 paths, and a rollback
/// of hundreds of functions is tens of kilobytes.
const MAX_RECORDED: u64 = 8 << 20;
/// Records up to this size are framed at zstd's highest level.
const SMALL_RECORD: usize = 16 << 10;

/// Why a record could not be read or written. [`RecordError::kind`] is the Lambda
/// `errorType`.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// S3 refused a read.
    #[error("cannot read s3://{bucket}/{key} (GetObject): {message}")]
    Read {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
        /// S3's words.
        message: String,
    },
    /// S3 refused a write.
    #[error("cannot write s3://{bucket}/{key} (PutObject): {message}")]
    Write {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
        /// S3's words.
        message: String,
    },
    /// Other writers changed the object under every attempt.
    #[error(
        "cannot write s3://{bucket}/{key}: it changed under each of {ATTEMPTS} attempts (others deploying {stack} at once); deploy again"
    )]
    Raced {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
        /// The stack.
        stack: String,
    },
    /// The record cannot be encoded (a bug, not bad input).
    #[error("cannot encode the record: {0}")]
    Encode(String),
    /// The request's frame was made against another newest entry than the history has now,
    /// or does not decode: nothing was written; the client writes the record itself.
    #[error("{0}; nothing was written")]
    Stale(String),
}

impl RecordError {
    /// A short, stable name for the kind of error.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Read { .. } | Self::Write { .. } => "S3Error",
            Self::Raced { .. } => "RecordRaced",
            Self::Encode(_) => "InternalError",
            Self::Stale(_) => "RecordStale",
        }
    }
}

/// The history's key in the artifact bucket.
pub fn history_key(stack: &str) -> String {
    format!(".quickdeploy/history/{stack}.json.zst")
}

/// Where histories were kept before they were compressed.
fn legacy_history_key(stack: &str) -> String {
    format!(".quickdeploy/history/{stack}.json")
}

/// The hot-patch record's key in the artifact bucket.
pub fn hotpatch_key(stack: &str) -> String {
    format!(".quickdeploy/hotpatched/{stack}.json")
}

/// The history as stored: compact JSON, zstd-compressed.
pub fn encode_history(history: &History) -> Result<Vec<u8>, RecordError> {
    let json = serde_json::to_vec(history).map_err(|e| RecordError::Encode(e.to_string()))?;
    zstd::bulk::compress(&json, LEVEL).map_err(|e| RecordError::Encode(e.to_string()))
}

/// A stored history (compressed, or plain JSON as written before); `None` when it is neither
/// or of another format (the versioned bucket keeps its bytes).
pub fn decode_history(bytes: &[u8]) -> Option<History> {
    let json = match zstd::stream::decode_all(bytes) {
        Ok(json) => json,
        Err(_) => bytes.to_vec(),
    };
    serde_json::from_slice::<History>(&json)
        .ok()
        .filter(|h| h.format == FORMAT)
}

/// A stack's history as read, and the ETag it was read at (`None`: not written yet).
pub type LoadedHistory = (History, Option<String>);

/// Reads the history and its ETag; an empty history (and no ETag) when there is none. A
/// history that does not parse reads as empty (the versioned bucket keeps its bytes).
pub async fn load_history(
    s3: &Client,
    bucket: &str,
    stack: &str,
) -> Result<LoadedHistory, RecordError> {
    let parse = |bytes: &[u8]| decode_history(bytes).unwrap_or_else(|| History::new(stack));
    match get_object(s3, bucket, &history_key(stack)).await? {
        Some((bytes, etag)) => Ok((parse(&bytes), etag)),
        // No compressed history yet: the one written before, if any (its ETag is not the
        // compressed key's: the next write creates that key).
        None => match get_object(s3, bucket, &legacy_history_key(stack)).await? {
            Some((bytes, _)) => Ok((parse(&bytes), None)),
            None => Ok((History::new(stack), None)),
        },
    }
}

/// Appends `entry` to the stack's history with a conditional write, reading it again when
/// another writer got there first; the entry's id. `read_before` (read while the deploy ran)
/// saves the first read: if it is stale by now, the conditional write says so.
pub async fn append_entry(
    s3: &Client,
    bucket: &str,
    stack: &str,
    entry: Entry,
    mut read_before: Option<LoadedHistory>,
) -> Result<u64, RecordError> {
    let key = history_key(stack);
    for attempt in 0..ATTEMPTS {
        let (mut history, etag) = match read_before.take() {
            Some(loaded) => loaded,
            None => load_history(s3, bucket, stack).await?,
        };
        let id = history.append(entry.clone(), KEEP);
        let body = encode_history(&history)?;
        if put_if(s3, bucket, &key, "application/zstd", body, etag.as_deref()).await? {
            return Ok(id);
        }
        tokio::time::sleep(backoff(attempt)).await;
    }
    Err(raced(bucket, &key, stack))
}

/// One hot-patched function (or layer) in the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HotPatch {
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

/// A stack's hot patches, by logical id.
pub type HotPatches = BTreeMap<String, HotPatch>;

/// The hot-patch record as read, and its ETag (`None`: there is no record).
pub type ReadHotPatches = (HotPatches, Option<String>);

/// Reads the hot-patch record and its ETag; empty when there is none. A record that does not
/// parse reads as empty (and is replaced, still only if nobody changed it meanwhile).
pub async fn read_hotpatches(
    s3: &Client,
    bucket: &str,
    stack: &str,
) -> Result<ReadHotPatches, RecordError> {
    Ok(match get_object(s3, bucket, &hotpatch_key(stack)).await? {
        Some((body, etag)) => (serde_json::from_slice(&body).unwrap_or_default(), etag),
        None => (HotPatches::new(), None),
    })
}

/// Adds `entries` to the hot-patch record, keeping every entry others add at the same time;
/// `ahead` (read while the deploy ran) saves the first read.
pub async fn add_hotpatches(
    s3: &Client,
    bucket: &str,
    stack: &str,
    entries: HotPatches,
    mut ahead: Option<ReadHotPatches>,
) -> Result<(), RecordError> {
    if entries.is_empty() {
        return Ok(());
    }
    let key = hotpatch_key(stack);
    for attempt in 0..ATTEMPTS {
        let (mut record, etag) = match ahead.take() {
            Some(read) => read,
            None => read_hotpatches(s3, bucket, stack).await?,
        };
        record.extend(entries.clone());
        // Compact: it is written on every quick deploy.
        let body = serde_json::to_vec(&record).map_err(|e| RecordError::Encode(e.to_string()))?;
        if put_if(s3, bucket, &key, "application/json", body, etag.as_deref()).await? {
            return Ok(());
        }
        tokio::time::sleep(backoff(attempt)).await;
    }
    Err(raced(bucket, &key, stack))
}

/// What a deploy records: its history entry and its hot patches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recorded {
    /// The entry to append (its id is given by the append).
    pub entry: Entry,
    /// The hot patches to add to the record.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hotpatch: HotPatches,
}

/// The patcher's record request: `{"record": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordEvent {
    /// What to record, and where.
    pub record: RecordRequest,
}

/// A deploy's record for the patcher to write next to S3.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordRequest {
    /// The artifact bucket the records are in.
    pub bucket: String,
    /// The stack.
    pub stack: String,
    /// The id of the newest history entry the client read, which the frame was made against
    /// (none: it read no history, and the frame stands alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<u64>,
    /// [`Recorded`] as JSON in one zstd frame (with its content checksum) made against the
    /// JSON of entry `after`, base64.
    pub frame: String,
}

/// The patcher's answer to a record request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordAnswer {
    /// The id the entry was given.
    pub id: u64,
    /// How many hot patches were added to the record.
    pub hotpatched: usize,
    /// Milliseconds: the reads, the writes, and the whole request.
    pub timings_ms: BTreeMap<String, f64>,
}

impl RecordRequest {
    /// The request that records `recorded` in `stack`'s history, whose newest entry (as read)
    /// is `newest`.
    pub fn new(
        bucket: &str,
        stack: &str,
        recorded: &Recorded,
        newest: Option<&Entry>,
    ) -> Result<Self, RecordError> {
        let encode = |e: std::io::Error| RecordError::Encode(e.to_string());
        let json = serde_json::to_vec(recorded).map_err(|e| RecordError::Encode(e.to_string()))?;
        let reference = reference(newest)?;
        // The highest level for the usual record of a few functions (well under a
        // millisecond); a fast one for a deploy of hundreds, whose entry is tens of KB.
        let level = if json.len() < SMALL_RECORD { 19 } else { 3 };
        let mut encoder =
            zstd::stream::write::Encoder::with_ref_prefix(Vec::new(), level, &reference)
                .map_err(encode)?;
        encoder.include_checksum(true).map_err(encode)?;
        encoder.write_all(&json).map_err(encode)?;
        let frame = encoder.finish().map_err(encode)?;
        Ok(Self {
            bucket: bucket.to_owned(),
            stack: stack.to_owned(),
            after: newest.map(|e| e.id),
            frame: STANDARD.encode(frame),
        })
    }

    /// What the frame holds, decoded against `newest`, the history's newest entry now: refused
    /// (stale) when that is not the entry the frame was made against.
    pub fn recorded(&self, newest: Option<&Entry>) -> Result<Recorded, RecordError> {
        let stale =
            |why: String| RecordError::Stale(format!("the record of {}: {why}", self.stack));
        let newest = match (self.after, newest) {
            (None, _) => None,
            (Some(after), Some(e)) if e.id == after => Some(e),
            (Some(after), e) => {
                let now = e.map_or("none".to_owned(), |e| e.id.to_string());
                return Err(stale(format!(
                    "it was made against entry {after}, and the newest entry is {now}"
                )));
            }
        };
        let frame = STANDARD
            .decode(&self.frame)
            .map_err(|e| stale(format!("its frame is not base64: {e}")))?;
        let reference = reference(newest)?;
        let decoder = zstd::stream::read::Decoder::with_ref_prefix(
            std::io::BufReader::new(&frame[..]),
            &reference,
        )
        .map_err(|e| stale(format!("its frame does not decode: {e}")))?;
        let mut json = Vec::new();
        decoder
            .take(MAX_RECORDED)
            .read_to_end(&mut json)
            .map_err(|e| {
                stale(format!(
                    "its frame does not decode against entry {:?}: {e}",
                    self.after
                ))
            })?;
        serde_json::from_slice(&json).map_err(|e| stale(format!("its frame is not a record: {e}")))
    }
}

/// The bytes a record's frame is made against: the newest entry as JSON.
fn reference(newest: Option<&Entry>) -> Result<Vec<u8>, RecordError> {
    newest.map_or(Ok(Vec::new()), |e| {
        serde_json::to_vec(e).map_err(|e| RecordError::Encode(e.to_string()))
    })
}

/// Carries out a record request: reads the history and the hot-patch record, decodes the
/// frame against the history's newest entry, and appends to both (each write conditional).
pub async fn record(s3: &Client, request: &RecordRequest) -> Result<RecordAnswer, RecordError> {
    let start = Instant::now();
    let (bucket, stack) = (request.bucket.as_str(), request.stack.as_str());
    let (history, hotpatches) = tokio::join!(
        load_history(s3, bucket, stack),
        read_hotpatches(s3, bucket, stack)
    );
    let (history, hotpatches) = (history?, hotpatches?);
    let read = ms(start);
    let recorded = request.recorded(history.0.entries.last())?;
    let hotpatched = recorded.hotpatch.len();
    let written = Instant::now();
    let (id, added) = tokio::join!(
        append_entry(s3, bucket, stack, recorded.entry, Some(history)),
        add_hotpatches(s3, bucket, stack, recorded.hotpatch, Some(hotpatches))
    );
    let (id, ()) = (id?, added?);
    let timings_ms = BTreeMap::from([
        ("read".to_owned(), read),
        ("write".to_owned(), ms(written)),
        ("total".to_owned(), ms(start)),
    ]);
    Ok(RecordAnswer {
        id,
        hotpatched,
        timings_ms,
    })
}

/// An object's bytes and ETag; `None` when there is no such object.
pub async fn get_object(
    s3: &Client,
    bucket: &str,
    key: &str,
) -> Result<Option<(Vec<u8>, Option<String>)>, RecordError> {
    let failed = |message: String| RecordError::Read {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        message,
    };
    match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => {
            let etag = out.e_tag().map(str::to_owned);
            let body = out
                .body
                .collect()
                .await
                .map_err(|e| failed(e.to_string()))?;
            Ok(Some((body.into_bytes().to_vec(), etag)))
        }
        Err(e) if e.raw_response().map(|r| r.status().as_u16()) == Some(404) => Ok(None),
        Err(e) => Err(failed(words(&e))),
    }
}

/// Writes `body` if the object is still at `etag` (`None`: if there is none); false when
/// another writer got there first.
async fn put_if(
    s3: &Client,
    bucket: &str,
    key: &str,
    content_type: &str,
    body: Vec<u8>,
    etag: Option<&str>,
) -> Result<bool, RecordError> {
    let put = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .body(ByteStream::from(body));
    let put = match etag {
        Some(etag) => put.if_match(etag),
        None => put.if_none_match("*"),
    };
    match put.send().await {
        Ok(_) => Ok(true),
        Err(e) if lost_race(&e) => Ok(false),
        Err(e) => Err(RecordError::Write {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            message: words(&e),
        }),
    }
}

/// True when a conditional write failed because the object changed since it was read: 412
/// PreconditionFailed (another write came first), 409 ConditionalRequestConflict (one is
/// under way), NoSuchKey (it was deleted meanwhile; `If-Match` needs an object). Not a
/// missing bucket.
fn lost_race<E: ProvideErrorMetadata>(e: &aws_sdk_s3::error::SdkError<E>) -> bool {
    match e.code() {
        Some("PreconditionFailed" | "ConditionalRequestConflict" | "NoSuchKey") => true,
        Some(_) => false,
        None => matches!(
            e.raw_response().map(|r| r.status().as_u16()),
            Some(412 | 409 | 404)
        ),
    }
}

/// S3's words for a failed call: its code and message, or, for a call that never reached S3
/// (timeout, refused connection, DNS), what happened, the endpoint and what to check.
fn words<E>(e: &aws_sdk_s3::error::SdkError<E>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_s3::error::SdkError;
    let chain = || error_chain(e);
    let unreached = match e {
        SdkError::TimeoutError(_) => Some("no answer in time"),
        SdkError::DispatchFailure(d) if d.is_timeout() => Some("no answer in time"),
        SdkError::DispatchFailure(d) if d.is_io() => Some("cannot connect"),
        SdkError::DispatchFailure(_) => Some("the request was not sent"),
        _ => None,
    };
    if let Some(what) = unreached {
        let endpoint = ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
            .into_iter()
            .find_map(|v| {
                Some(format!(
                    "endpoint {} ({v})",
                    std::env::var(v).ok().filter(|u| !u.is_empty())?
                ))
            })
            .unwrap_or_else(|| "S3's regional endpoint".to_owned());
        return format!(
            "{what}: {}; {endpoint}: check that it is reachable and the network is up",
            chain()
        );
    }
    match (e.code(), e.message()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_owned(),
        _ => chain(),
    }
}

/// An error and its sources, `: `-separated: what an SDK error says when it never reached a
/// service (its own text is only "dispatch failure").
pub fn error_chain<E: std::error::Error + ?Sized>(e: &E) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

fn raced(bucket: &str, key: &str, stack: &str) -> RecordError {
    RecordError::Raced {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        stack: stack.to_owned(),
    }
}

/// The wait before the next attempt after a lost race: doubling from 20 ms up to 640 ms, plus
/// up to as much again at random, so writers that collided do not collide again.
fn backoff(attempt: u32) -> Duration {
    let base = 20u64 << attempt.min(5);
    let noise = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()))
        ^ u64::from(std::process::id()).wrapping_mul(0x9e37_79b9);
    Duration::from_millis(base + noise % (base + 1))
}

fn ms(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 1e3 * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{ArtifactChange, Change, Code, FunctionChange, Kind, Outcome};

    fn entry(id: u64, version: &str, sha: &str) -> Entry {
        let mut e = Entry::new(Kind::Quick, Outcome::Deployed);
        e.id = id;
        e.at = "2026-12-07T11:02:13Z".into();
        e.who = "arn:aws:iam::123456789012:user/dev".into();
        e.files.modified = 1;
        e.files.paths = vec!["lambdas/get-one.ts".into()];
        let artifact = "s3://artifacts/quickdeploy/cdk/Api/0123456789abcdef.zip".to_owned();
        e.artifacts.push(ArtifactChange {
            artifact: artifact.clone(),
            before: None,
            after: Some(Code {
                version_id: Some(version.into()),
                code_sha256: sha.into(),
                manifest_version: None,
            }),
        });
        e.functions.push(FunctionChange {
            logical_id: "getOneItemFunctionE3257B22".into(),
            name: Some("Api-getOneItemFunctionE3257B22-7OI6D4S5IW2Q".into()),
            artifact,
            change: Change::Updated,
            code_sha256: Some(sha.into()),
            version: None,
            aliases: Vec::new(),
            reason: None,
        });
        e.timings_ms.insert("total".into(), 123.45);
        e
    }

    fn recorded(e: Entry) -> Recorded {
        let f = &e.functions[0];
        let hot = HotPatch {
            name: f.name.clone().unwrap_or_default(),
            code_sha256: f.code_sha256.clone().unwrap_or_default(),
            artifact: f.artifact.clone(),
            at: e.at.clone(),
        };
        Recorded {
            hotpatch: BTreeMap::from([(f.logical_id.clone(), hot)]),
            entry: e,
        }
    }

    #[test]
    fn a_record_made_against_the_newest_entry_is_small_and_reads_back_against_it() {
        let newest = entry(
            11,
            "54cabe4a-df6f-4f23-916d-7fd9176cc358",
            "q1mTc1Dm8RpPjYt0hR0JmZs2bXkmBzVn3cD0i5oWc1Y=",
        );
        let next = recorded(entry(
            0,
            "7c1f2e3d-4b5a-4968-8776-655443322110",
            "Zx9yW8vU7tS6rQ5pO4nM3lK2jI1hG0fE9dC8bA7z6Y4=",
        ));
        let request =
            RecordRequest::new("artifacts", "Api", &next, Some(&newest)).expect("request");
        let whole = serde_json::to_vec(&next).expect("json").len();
        assert!(
            request.frame.len() * 3 < whole,
            "{} base64 bytes for a {whole}-byte record",
            request.frame.len()
        );
        assert_eq!(request.recorded(Some(&newest)).expect("decodes"), next);
        let alone = RecordRequest::new("artifacts", "Api", &next, None).expect("request");
        assert_eq!(alone.recorded(Some(&newest)).expect("stands alone"), next);
    }

    #[test]
    fn a_record_made_against_another_entry_is_refused_as_stale() {
        let newest = entry(11, "v11", "sha11");
        let next = recorded(entry(0, "v12", "sha12"));
        let request =
            RecordRequest::new("artifacts", "Api", &next, Some(&newest)).expect("request");
        let moved_on = entry(12, "v12", "sha12");
        assert!(matches!(
            request.recorded(Some(&moved_on)),
            Err(RecordError::Stale(_))
        ));
        assert!(matches!(request.recorded(None), Err(RecordError::Stale(_))));
        // The same id with other content (a history rewritten meanwhile): the checksum says so.
        let mut rewritten = newest.clone();
        rewritten.who = "arn:aws:iam::123456789012:user/someone-else".into();
        assert!(matches!(
            request.recorded(Some(&rewritten)),
            Err(RecordError::Stale(_))
        ));
        let mut damaged = request.clone();
        damaged.frame = "not base64!".into();
        assert!(matches!(
            damaged.recorded(Some(&newest)),
            Err(RecordError::Stale(_))
        ));
    }

    #[test]
    fn the_stored_history_is_compressed_and_the_old_form_still_reads() {
        let mut h = History::new("app");
        for i in 0..50 {
            let mut e = entry(0, &format!("v{i}"), "sha");
            e.files.paths = (0..20).map(|i| format!("src/module_{i}.py")).collect();
            h.append(e, KEEP);
        }
        let stored = encode_history(&h).expect("encode");
        let plain = serde_json::to_vec_pretty(&h).expect("json");
        assert!(
            stored.len() * 10 < plain.len(),
            "{} vs {}",
            stored.len(),
            plain.len()
        );
        assert_eq!(decode_history(&stored), Some(h.clone()));
        assert_eq!(
            decode_history(&plain),
            Some(h),
            "a history written before reads as it was"
        );
        assert_eq!(decode_history(b"not a history"), None);
    }

    #[test]
    fn hot_patch_times_read_as_rfc3339_whatever_was_written() {
        let old: HotPatch = serde_json::from_str(
            r#"{"name":"f","code_sha256":"x","artifact":"s3://b/k","at":1796142653}"#,
        )
        .expect("old record");
        assert_eq!(old.at, "2026-12-01T16:30:53Z");
        let new: HotPatch = serde_json::from_str(
            r#"{"name":"f","code_sha256":"x","artifact":"s3://b/k","at":"2026-12-01T16:30:53Z"}"#,
        )
        .expect("new record");
        assert_eq!(new, old);
    }

    #[test]
    fn waits_after_a_lost_race_grow_and_stay_bounded() {
        assert!(backoff(0) >= Duration::from_millis(20) && backoff(0) <= Duration::from_millis(40));
        assert!(backoff(9) <= Duration::from_millis(1_280));
    }
}
