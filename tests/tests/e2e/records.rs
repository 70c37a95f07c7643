//! A deploy's record written by the patcher (issue 24's bytes), end to end: the zipedit binary
//! behind the Invoke API, a proxy between it and moto. A record request carries the history
//! entry and the hot patches as one zstd frame made against the newest entry the client read;
//! the patcher appends both next to S3. A frame made against an entry that is no longer the
//! newest is refused (RecordStale) with nothing written, and two patcher instances recording
//! at once (the proxy holds both history writes until both arrived, then lets them through one
//! at a time) keep both entries: the second write's If-Match fails and it appends again.

use serde_json::Value;
use testkit::fixtures::PatcherRig;
use zipedit::history::{
    ArtifactChange, Change, Code, Entry, FunctionChange, History, Kind, Outcome,
};
use zipedit::records::{HotPatch, RecordEvent, RecordRequest, Recorded};

const BUCKET: &str = "artifacts";
const STACK: &str = "Api";
const ARTIFACT: &str = "s3://artifacts/quickdeploy/cdk/Api/0123456789abcdef.zip";

/// A quick deploy's entry whose artifact went to `version`.
fn entry(version: &str) -> Entry {
    let sha = format!("{version:=<43}=");
    let mut e = Entry::new(Kind::Quick, Outcome::Deployed);
    e.at = "2026-12-07T11:02:13Z".into();
    e.who = "arn:aws:sts::123456789012:user/moto".into();
    e.files.modified = 1;
    e.files.paths = vec!["lambdas/get-one.ts".into()];
    e.artifacts.push(ArtifactChange {
        artifact: ARTIFACT.into(),
        before: None,
        after: Some(Code {
            version_id: Some(version.into()),
            code_sha256: sha.clone(),
            manifest_version: None,
        }),
    });
    e.functions.push(FunctionChange {
        logical_id: "GetOne".into(),
        name: Some("Api-GetOne-7OI6D4S5IW2Q".into()),
        artifact: ARTIFACT.into(),
        change: Change::Updated,
        code_sha256: Some(sha),
        version: None,
        aliases: Vec::new(),
        reason: None,
    });
    e.timings_ms.insert("total".into(), 98.76);
    e
}

/// The entry and its hot patch, as a deploy records them.
fn recorded(e: Entry) -> Recorded {
    let hot = HotPatch {
        name: "Api-GetOne-7OI6D4S5IW2Q".into(),
        code_sha256: e.functions[0].code_sha256.clone().unwrap_or_default(),
        artifact: ARTIFACT.into(),
        at: e.at.clone(),
    };
    Recorded {
        hotpatch: [("GetOne".to_owned(), hot)].into(),
        entry: e,
    }
}

/// A rig whose bucket holds a history of two entries; that history.
async fn with_history(instances: usize) -> (PatcherRig, History) {
    let env = PatcherRig::start(instances).await;
    env.bucket(BUCKET, true).await;
    let mut history = History::new(STACK);
    history.append(entry("v1"), 200);
    history.append(entry("v2"), 200);
    let stored = zipedit::records::encode_history(&history).expect("encode");
    env.put(BUCKET, &zipedit::records::history_key(STACK), stored)
        .await;
    (env, history)
}

fn event(request: RecordRequest) -> Value {
    serde_json::to_value(RecordEvent { record: request }).expect("json")
}

async fn stored_history(env: &PatcherRig) -> History {
    let bytes = env.get(BUCKET, &zipedit::records::history_key(STACK)).await;
    zipedit::records::decode_history(&bytes).expect("a history")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_patcher_appends_a_deploys_entry_and_hot_patches_from_a_small_frame() {
    let (env, history) = with_history(1).await;
    let next = recorded(entry("v3"));
    let request =
        RecordRequest::new(BUCKET, STACK, &next, history.entries.last()).expect("request");
    let event = event(request);
    let size = event.to_string().len();
    let whole = zipedit::records::encode_history(&history)
        .expect("encode")
        .len();
    assert!(
        size < 450,
        "a {size}-byte request (the history alone is {whole} bytes compressed): {event}"
    );
    let answer = env.invoke(&event).await.expect("recorded");
    assert_eq!(
        (answer["id"].as_u64(), answer["hotpatched"].as_u64()),
        (Some(3), Some(1)),
        "{answer}"
    );

    let now = stored_history(&env).await;
    assert_eq!(now.entries.len(), 3);
    let appended = &now.entries[2];
    assert_eq!(appended.id, 3);
    assert_eq!(appended.functions, next.entry.functions);
    // The version before is the one the newest entry left the artifact at, as a client's
    // append fills it in.
    let before = appended.artifacts[0].before.as_ref().expect("before");
    assert_eq!(before.version_id.as_deref(), Some("v2"));
    let record = env
        .get(BUCKET, &zipedit::records::hotpatch_key(STACK))
        .await;
    let record: zipedit::records::HotPatches = serde_json::from_slice(&record).expect("record");
    assert_eq!(record, next.hotpatch);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_made_against_an_older_entry_is_refused_and_nothing_written() {
    let (env, history) = with_history(1).await;
    let key = zipedit::records::history_key(STACK);
    let before = env.get(BUCKET, &key).await;
    // Made against entry 1: another deploy (entry 2) came in between.
    let request = RecordRequest::new(
        BUCKET,
        STACK,
        &recorded(entry("v3")),
        history.entries.first(),
    )
    .expect("request");
    let (kind, message) = env.invoke(&event(request)).await.expect_err("stale");
    assert_eq!(kind, "RecordStale", "{message}");
    assert!(
        message.contains("entry 1") && message.contains("nothing was written"),
        "{message}"
    );
    assert!(
        env.get(BUCKET, &key).await == before,
        "the history is as it was"
    );
    let record = env
        .s3
        .head_object()
        .bucket(BUCKET)
        .key(zipedit::records::hotpatch_key(STACK))
        .send()
        .await;
    assert!(record.is_err(), "no hot-patch record written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_patchers_recording_at_once_keep_both_entries() {
    let (env, history) = with_history(2).await;
    env.proxy.race_key(".quickdeploy/history/", 2);
    let newest = history.entries.last();
    let a = RecordRequest::new(BUCKET, STACK, &recorded(entry("v3a")), newest).expect("a");
    let b = RecordRequest::new(BUCKET, STACK, &recorded(entry("v3b")), newest).expect("b");
    let (a, b) = (event(a), event(b));
    let (a, b) = tokio::join!(env.invoke(&a), env.invoke(&b));
    let (a, b) = (a.expect("a recorded"), b.expect("b recorded"));
    let mut ids = [a["id"].as_u64(), b["id"].as_u64()];
    ids.sort();
    assert_eq!(ids, [Some(3), Some(4)], "{a} {b}");
    let (refused, _) = env.proxy.refused();
    assert!(refused > 0, "no history write was refused: no race");
    let now = stored_history(&env).await;
    let mut versions: Vec<_> = now.entries[2..]
        .iter()
        .filter_map(|e| e.artifacts[0].after.as_ref()?.version_id.clone())
        .collect();
    versions.sort();
    assert_eq!(versions, ["v3a", "v3b"], "both entries kept");
}
