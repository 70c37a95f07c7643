//! The zipedit patcher against crashes and hostile events, on the rig: the real binary pulling
//! from a Lambda Runtime API, patching artifacts in moto through the fault-injecting proxy.
//!
//! These tests start the patcher processes themselves (not through `rig::Patcher`): they give
//! each its own environment (`ZIPEDIT_TIMEOUT_SECONDS`, `ZIPEDIT_STAGING_PREFIX`, as
//! cfn/zipedit.yaml sets them) and kill one with SIGKILL mid-write, as a Lambda timeout or an
//! out-of-memory kill would.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use lambda_simulator::{Invocation, InvocationStatus, Simulator};
use serde_json::{Value, json};
use testkit::noise;
use testkit::proxy::{S3Proxy, Stall};
use testkit::rig::{Moto, REGION, s3_client};
use testkit::zipcheck::{Flavor, Tree, assert_reads_as, independent, zip_crate_archive};

/// What an invocation gave: the answer, or (errorType, errorMessage).
type Invoked = Result<Value, (String, String)>;

struct Rig {
    moto: Moto,
    proxy: S3Proxy,
    s3: aws_sdk_s3::Client,
    /// Through the proxy, for uploads whose start time must be listed as it was (moto lists
    /// every upload as begun in 2010; the proxy lists those made through it correctly).
    s3_via_proxy: aws_sdk_s3::Client,
    sim: Arc<Simulator>,
    patchers: Vec<Child>,
}

impl Rig {
    async fn start() -> Self {
        let moto = Moto::start();
        let proxy = S3Proxy::start(&moto.endpoint()).await;
        let s3 = s3_client(&moto.endpoint()).await;
        let s3_via_proxy = s3_client(&proxy.endpoint).await;
        let sim = Arc::new(
            Simulator::builder()
                .function_name("zipedit")
                .build()
                .await
                .expect("start the Lambda Runtime API simulator"),
        );
        Self {
            moto,
            proxy,
            s3,
            s3_via_proxy,
            sim,
            patchers: Vec::new(),
        }
    }

    /// Starts one patcher process with `env` on top of what Lambda sets; it takes the next
    /// invocation queued.
    fn spawn(&mut self, env: &[(&str, &str)]) {
        let mut cmd = Command::new(testkit::bin("zipedit"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", self.sim.addr().to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "zipedit")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/zipedit")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "safety")
            .env("AWS_ENDPOINT_URL", &self.proxy.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", REGION)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe and touches only the child being set up; it makes
        // the patcher die with the test process, so a failing test leaves nothing running.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        self.patchers
            .push(cmd.spawn().expect("start the zipedit binary"));
    }

    /// SIGKILL to every patcher process: no clean-up code of the patcher's runs.
    fn kill_all(&mut self) {
        for c in &mut self.patchers {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.patchers.clear();
    }

    async fn invoke(&self, event: Value) -> Invoked {
        invoke(&self.sim, event).await
    }

    /// Invokes without waiting for the answer (the patcher will be killed before it gives one).
    fn invoke_in_background(&self, event: Value) -> tokio::task::JoinHandle<Invoked> {
        let sim = self.sim.clone();
        tokio::spawn(async move { invoke(&sim, event).await })
    }

    async fn bucket(&self, name: &str, versioned: bool) {
        testkit::rig::make_bucket(&self.s3, name, versioned).await;
    }

    async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) {
        testkit::rig::put_object(&self.s3, bucket, key, body).await;
    }

    async fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        testkit::rig::get_object(&self.s3, bucket, key).await
    }

    /// In-progress multipart uploads in `bucket`, as (key, upload id).
    async fn uploads(&self, bucket: &str) -> Vec<(String, String)> {
        let out = self
            .s3
            .list_multipart_uploads()
            .bucket(bucket)
            .send()
            .await
            .expect("ListMultipartUploads");
        out.uploads()
            .iter()
            .map(|u| {
                (
                    u.key().unwrap_or_default().to_owned(),
                    u.upload_id().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// Starts a multipart upload by hand, as another client would.
    async fn start_upload(&self, bucket: &str, key: &str) -> String {
        self.s3_via_proxy
            .create_multipart_upload()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .expect("CreateMultipartUpload")
            .upload_id()
            .unwrap_or_default()
            .to_owned()
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.kill_all();
    }
}

async fn invoke(sim: &Simulator, event: Value) -> Invoked {
    let id = sim.enqueue(Invocation::new(event, 120_000)).await;
    let state = testkit::rig::wait_for_invocation(sim, &id, Duration::from_secs(130))
        .await
        .expect("the invocation completes");
    match (state.status, state.response, state.error) {
        (InvocationStatus::Success, Some(r), _) => Ok(r.payload),
        (_, _, Some(e)) => Err((e.error_type, e.error_message)),
        (status, _, None) => Err(("Sandbox".into(), format!("ended as {status:?}"))),
    }
}

/// An ~8 MiB artifact of incompressible files: past one multipart part, so patches append.
fn big_files() -> Vec<(String, Vec<u8>, u32)> {
    let mut files: Vec<(String, Vec<u8>, u32)> = (0..8u64)
        .map(|i| {
            (
                format!("vendor/lib{i}.so"),
                noise(i + 7, 1024 * 1024),
                0o644,
            )
        })
        .collect();
    files.push(("handler.py".into(), b"V = 0\n".to_vec(), 0o644));
    files
}

fn archive(files: &[(String, Vec<u8>, u32)]) -> Vec<u8> {
    let refs: Vec<(&str, &[u8], u32)> = files
        .iter()
        .map(|(n, d, m)| (n.as_str(), d.as_slice(), *m))
        .collect();
    zip_crate_archive(&refs, &[], "", Flavor::Seekable)
}

fn tree(files: &[(String, Vec<u8>, u32)]) -> Tree {
    files
        .iter()
        .map(|(n, d, m)| (n.clone(), (d.clone(), *m)))
        .collect()
}

/// Kills the patcher while the proxy holds its `stall` request, then checks what it left: the
/// artifact exactly as before, and (for an append) the upload it never finished.
async fn kill_during(rig: &mut Rig, stall: Stall, event: Value, before: &[u8]) -> usize {
    rig.proxy.stall(stall);
    let pending = rig.invoke_in_background(event);
    tokio::time::timeout(Duration::from_secs(60), rig.proxy.stalled())
        .await
        .unwrap_or_else(|_| panic!("the patcher never sent {stall:?}"));
    rig.kill_all();
    // The request in flight died with its client: it never reaches S3.
    rig.proxy.drop_stalled();
    pending.abort();
    assert_eq!(
        rig.get("artifacts", "big.zip").await,
        before,
        "killed during {stall:?}: the artifact is the old one, whole"
    );
    rig.uploads("artifacts").await.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patcher_killed_mid_write_leaves_no_upload_after_the_next_patch() {
    let mut rig = Rig::start().await;
    rig.bucket("artifacts", true).await;
    let mut files = big_files();
    rig.put("artifacts", "big.zip", archive(&files)).await;
    // The patcher's timeout, as cfn/zipedit.yaml passes the function's Timeout: small here, so
    // the killed patch's upload is stale after a short wait.
    const TIMEOUT: u64 = 3;
    let env = [("ZIPEDIT_TIMEOUT_SECONDS", "3")];
    rig.spawn(&env);
    // First patch: stores the hash checkpoint, so the next ones append from the directory.
    rig.invoke(json!({"src": "s3://artifacts/big.zip", "changes": {"handler.py": "V = 1\n"}}))
        .await
        .expect("first patch");
    files[8].1 = b"V = 1\n".to_vec();

    // 1. Killed while sending the appended bytes (UploadPart), after the server-side copy.
    let before = rig.get("artifacts", "big.zip").await;
    let left = kill_during(
        &mut rig,
        Stall::UploadPart,
        json!({"src": "s3://artifacts/big.zip", "mode": "append", "changes": {"killed.py": "K = 1\n"}}),
        &before,
    )
    .await;
    assert_eq!(
        left, 1,
        "the kill left its upload behind (what the fix cleans)"
    );
    tokio::time::sleep(Duration::from_secs(TIMEOUT + 1)).await;
    rig.spawn(&env);
    let next = rig
        .invoke(json!({"src": "s3://artifacts/big.zip", "changes": {"handler.py": "V = 2\n"}}))
        .await
        .expect("the next patch");
    assert_eq!(next["mode"], "append", "{next}");
    assert_eq!(
        rig.uploads("artifacts").await,
        vec![],
        "the next patch aborted the stale upload, and left none of its own"
    );
    files[8].1 = b"V = 2\n".to_vec();
    let bytes = rig.get("artifacts", "big.zip").await;
    assert_reads_as(&bytes, &tree(&files));
    assert!(!independent(&bytes).files.contains_key("killed.py"));

    // 2. Killed while completing the upload (CompleteMultipartUpload).
    let before = rig.get("artifacts", "big.zip").await;
    let left = kill_during(
        &mut rig,
        Stall::Complete,
        json!({"src": "s3://artifacts/big.zip", "mode": "append", "changes": {"killed.py": "K = 2\n"}}),
        &before,
    )
    .await;
    assert_eq!(left, 1, "the kill left its upload behind");
    // Two uploads the next patch must leave alone: one of a longer key that shares the prefix
    // (stale, but not this artifact's), and one of this key that is younger than the timeout
    // (a patch still running could own it).
    let other = rig.start_upload("artifacts", "big.zip.bak").await;
    tokio::time::sleep(Duration::from_secs(TIMEOUT + 1)).await;
    let fresh = rig.start_upload("artifacts", "big.zip").await;
    rig.spawn(&env);
    rig.invoke(json!({"src": "s3://artifacts/big.zip", "changes": {"handler.py": "V = 3\n"}}))
        .await
        .expect("the next patch");
    let mut left = rig.uploads("artifacts").await;
    left.sort();
    assert_eq!(
        left,
        vec![
            ("big.zip".to_owned(), fresh),
            ("big.zip.bak".to_owned(), other)
        ],
        "only the killed patch's stale upload was aborted"
    );
    files[8].1 = b"V = 3\n".to_vec();
    assert_reads_as(&rig.get("artifacts", "big.zip").await, &tree(&files));
    for (key, id) in left {
        rig.s3
            .abort_multipart_upload()
            .bucket("artifacts")
            .key(key)
            .upload_id(id)
            .send()
            .await
            .expect("abort");
    }

    // 3. Killed during a rewrite (PutObject): no upload at all, the object untouched.
    let before = rig.get("artifacts", "big.zip").await;
    let left = kill_during(
        &mut rig,
        Stall::PutObject,
        json!({"src": "s3://artifacts/big.zip", "mode": "rewrite", "changes": {"killed.py": "K = 3\n"}}),
        &before,
    )
    .await;
    assert_eq!(left, 0, "a rewrite uploads in one PutObject");
    rig.spawn(&env);
    let next = rig
        .invoke(json!({"src": "s3://artifacts/big.zip", "mode": "rewrite", "changes": {"handler.py": "V = 4\n"}}))
        .await
        .expect("the next patch");
    assert_eq!(next["mode"], "rewrite");
    assert_eq!(rig.uploads("artifacts").await, vec![]);
    files[8].1 = b"V = 4\n".to_vec();
    let bytes = rig.get("artifacts", "big.zip").await;
    assert_reads_as(&bytes, &tree(&files));
    assert_eq!(bytes.len() as u64, next["size"].as_u64().expect("size"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staged_changes_outside_the_staging_prefix_are_refused_before_any_read() {
    let mut rig = Rig::start().await;
    rig.bucket("artifacts", false).await;
    rig.bucket("other-bucket", false).await;
    let files = vec![("handler.py".to_owned(), b"V = 0\n".to_vec(), 0o644)];
    rig.put("artifacts", "app.zip", archive(&files)).await;
    rig.put("other-bucket", "secret", b"TOKEN".to_vec()).await;
    rig.put("artifacts", "secrets/key", b"TOKEN".to_vec()).await;
    rig.put("other-bucket", ".quickdeploy/staging/x", b"TOKEN".to_vec())
        .await;
    rig.put("artifacts", "custom/stage/ok.py", b"OK = 1\n".to_vec())
        .await;
    rig.put(
        "artifacts",
        ".quickdeploy/staging/ok.py",
        b"OK = 0\n".to_vec(),
    )
    .await;
    // The staging prefix as the template passes it, set to something other than the default.
    rig.spawn(&[("ZIPEDIT_STAGING_PREFIX", "custom/stage/")]);
    let before = rig.get("artifacts", "app.zip").await;
    for staged in [
        "s3://other-bucket/secret",
        "s3://other-bucket/custom/stage/x",
        "s3://artifacts/secrets/key",
        "s3://artifacts/custom/stage/../../secrets/key",
        "s3://artifacts/custom/stage/",
        // The default prefix is not the configured one.
        "s3://artifacts/.quickdeploy/staging/ok.py",
    ] {
        rig.moto.start_recording();
        let (kind, message) = rig
            .invoke(
                json!({"src": "s3://artifacts/app.zip", "changes": {"stolen.txt": {"s3": staged}}}),
            )
            .await
            .expect_err(staged);
        let rec = rig.moto.recording();
        assert_eq!(kind, "StagedOutsideStaging", "{staged}: {message}");
        assert!(
            message.contains(staged)
                && message.contains("s3://artifacts/custom/stage/")
                && message.contains("stage it there"),
            "the message names the object and where staged changes may be: {message}"
        );
        assert!(
            rec.is_empty(),
            "{staged}: refused before any S3 call: {:?}",
            Moto::summary(&rec)
        );
        assert_eq!(
            rig.get("artifacts", "app.zip").await,
            before,
            "{staged}: the artifact is byte-identical"
        );
    }
    // Below the configured prefix of the artifact's own bucket: read and patched in.
    let answer = rig
        .invoke(json!({"src": "s3://artifacts/app.zip", "changes": {"ok.py": {"s3": "s3://artifacts/custom/stage/ok.py"}}}))
        .await
        .expect("a staged change where it belongs");
    assert_eq!(answer["added"], 1);
    let mut want = tree(&files);
    want.insert("ok.py".into(), (b"OK = 1\n".to_vec(), 0o644));
    assert_reads_as(&rig.get("artifacts", "app.zip").await, &want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_lambda_cannot_extract_are_refused_through_the_lambda() {
    let mut rig = Rig::start().await;
    rig.bucket("artifacts", false).await;
    let files = vec![("handler.py".to_owned(), b"V = 0\n".to_vec(), 0o644)];
    rig.put("artifacts", "app.zip", archive(&files)).await;
    rig.spawn(&[]);
    let before = rig.get("artifacts", "app.zip").await;
    let long = "a".repeat(65_533);
    let cases = [
        ("new\nline.py".to_owned(), "control character"),
        ("tab\there.py".to_owned(), "control character"),
        ("del\u{7f}.py".to_owned(), "control character"),
        ("esc\u{1b}[31m.py".to_owned(), "control character"),
        (format!("src/{}", "n".repeat(256)), "longer than 255 bytes"),
        (long, "longer than 255 bytes"),
    ];
    for (path, needle) in cases {
        let (kind, message) = rig
            .invoke(json!({"src": "s3://artifacts/app.zip", "changes": {path.clone(): "x"}}))
            .await
            .expect_err("refused");
        assert_eq!(kind, "PathRejected", "{message}");
        assert!(message.contains(needle), "{needle}: {message}");
        assert_eq!(
            rig.get("artifacts", "app.zip").await,
            before,
            "the artifact is byte-identical"
        );
    }
    // 255 bytes is allowed: Linux's NAME_MAX.
    let ok = "m".repeat(255);
    rig.invoke(json!({"src": "s3://artifacts/app.zip", "changes": {ok.clone(): "x"}}))
        .await
        .expect("a 255-byte name");
    assert!(
        independent(&rig.get("artifacts", "app.zip").await)
            .files
            .contains_key(&ok)
    );
}
