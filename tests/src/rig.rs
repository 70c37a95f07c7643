//! The local AWS rig: real API servers on loopback.
//!
//! - [`Moto`]: moto's server (S3, Lambda, IAM, CloudFormation), from the repo's virtualenv
//!   (`make test` creates it), switched to `use_docker: false` as soon as it answers.
//! - [`Patcher`]: the real zipedit binary as its own processes, pulling invocations from a
//!   Lambda Runtime API (crates.io `lambda-simulator`), behind a Lambda Invoke API that answers
//!   as real Lambda does: 200 with `X-Amz-Function-Error: Unhandled` on a function error, 413
//!   `RequestEntityTooLargeException` past 6 MB.
//!
//! Ports are picked free at start, so two checkouts (or two tests) never collide: listeners in
//! this process bind port 0 and keep it; moto, which binds its own, gets one outside the
//! kernel's ephemeral range (see `server_port`). Every process
//! started here is killed when its handle drops, and also if the test process dies (the kernel's
//! parent-death signal), so a failing test leaves nothing running.

use std::io::{Read, Write};

use base64::Engine as _;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use lambda_simulator::{Invocation, InvocationStatus, Simulator};

/// Fake credentials and region that every client on the rig uses.
pub const REGION: &str = "us-east-1";
/// Lambda's synchronous payload limit (request and response): 6 MB.
pub const MAX_PAYLOAD: usize = 6 * 1024 * 1024;

/// A loopback port for a server started as its own process (moto), which binds it itself.
///
/// Picked outside the kernel's ephemeral range (`ip_local_port_range`), because a port asked of
/// the kernel (`bind` to port 0) and released is soon handed out again: to another test's
/// listener, or as the source port of any outgoing connection, and then the server cannot bind
/// it. CI once lost a test that way: moto exited, and the test waited on another listener.
/// Ports below the range are never handed out by the kernel; each call takes the next one
/// (from an offset set by the process id, so two test processes rarely start on the same one)
/// that nothing is listening on.
fn server_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32768);
    // [low, ephemeral_low): 12,000 ports below the range, or what there is above 1024.
    let low = ephemeral_low.saturating_sub(12_000).max(1025);
    let span = ephemeral_low.saturating_sub(low).max(1);
    let offset = std::process::id().wrapping_mul(7919) % span;
    for _ in 0..span {
        let port = (low + (offset + NEXT.fetch_add(1, Ordering::Relaxed)) % span) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {low}..{ephemeral_low}")
}

/// Makes a child die with the test process, even if the test aborts without unwinding.
fn die_with_parent(cmd: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches only the child being set up.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

/// A minimal HTTP/1.1 call, for moto's control API (no client crate needed for three calls).
pub fn http(method: &str, port: u16, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    http_within(method, port, path, body, Duration::from_secs(30))
}

/// [`http`], waiting at most `timeout` for each read of the answer.
fn http_within(
    method: &str,
    port: u16,
    path: &str,
    body: &str,
    timeout: Duration,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(timeout))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// The Python that has moto: `QUICKDEPLOY_PYTHON`, else the repo's `.venv`, else `python3`.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("QUICKDEPLOY_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

/// The last `max` bytes of a file, as text (empty if it cannot be read).
fn tail_of(path: &Path, max: usize) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    String::from_utf8_lossy(&bytes[bytes.len().saturating_sub(max)..]).into_owned()
}

/// The size up to which moto keeps an object in memory (`MOTO_S3_DEFAULT_KEY_BUFFER_SIZE`).
pub const MOTO_KEY_BUFFER: u64 = 1 << 30;

/// moto's server on a free loopback port.
pub struct Moto {
    child: Child,
    /// The port it listens on.
    pub port: u16,
    /// Its own folder, for the request recording (moto's default is one file in the working
    /// folder, shared by every moto started there).
    _dir: tempfile::TempDir,
}

impl Moto {
    /// Starts moto, waits until it answers, and turns off Docker for Lambda. Its log (each
    /// request, and the traceback of each 500) is appended to the file `QD_MOTO_LOG` names, if set, and
    /// otherwise to a file in its own folder, whose end a failure to start shows.
    pub fn start() -> Self {
        Self::start_on(server_port)
    }

    /// [`Moto::start`] on the ports `next_port` gives: when moto cannot take one (it exits, or
    /// does not answer), it is started again on the next, three times in all.
    pub fn start_on(mut next_port: impl FnMut() -> u16) -> Self {
        let dir = tempfile::tempdir().expect("moto's folder");
        let log = std::env::var_os("QD_MOTO_LOG")
            .map(PathBuf::from)
            .unwrap_or_else(|| dir.path().join("moto.log"));
        // A port can still be taken between the check and moto's bind (by another test
        // process): moto then exits at once, and it is started again on the next port.
        let mut tries = 0;
        let (child, port) = loop {
            tries += 1;
            let port = next_port();
            let mut child = Self::spawn(port, dir.path(), &log);
            match Self::wait_until_answering(&mut child, port) {
                Ok(()) => break (child, port),
                Err(why) if tries < 3 => {
                    eprintln!("moto on port {port} {why}: starting it again");
                }
                Err(why) => panic!(
                    "moto on port {port} {why}; the end of its log ({}):\n{}",
                    log.display(),
                    tail_of(&log, 2_000)
                ),
            }
        };
        let moto = Self {
            child,
            port,
            _dir: dir,
        };
        let (status, body) = http(
            "POST",
            port,
            "/moto-api/config",
            r#"{"lambda":{"use_docker":false}}"#,
        )
        .expect("configure moto");
        assert!(
            (200..300).contains(&status) && body.contains(r#""lambda": {"use_docker": false}"#),
            "moto config: {status} {body}"
        );
        moto
    }

    fn spawn(port: u16, dir: &Path, log: &Path) -> Child {
        let mut cmd = Command::new(python());
        cmd.args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        // The recorder stays off until a test starts it (Moto::start_recording): while on,
        // moto writes every request's body, base64 in JSON, to a file, which slowed the big
        // uploads of the tools the benchmarks compare (SAM's inline zips most).
        .env("MOTO_RECORDER_FILEPATH", dir.join("recording.jsonl"))
        // Objects in memory: by default moto spools every object over 5 MiB to a temporary
        // file, so its server-side copies (UploadPartCopy, CompleteMultipartUpload) and Lambda's
        // reads of a zip from S3 cost disk time that S3 does not have. Tests and benchmarks
        // hold at most a few hundred MB at once; the machine has 24 GiB.
        // (A value already in the environment wins: moto's own default is 5,241,856.)
        .env(
            "MOTO_S3_DEFAULT_KEY_BUFFER_SIZE",
            std::env::var("MOTO_S3_DEFAULT_KEY_BUFFER_SIZE")
                .unwrap_or_else(|_| MOTO_KEY_BUFFER.to_string()),
        )
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .expect("moto's log file"),
        ));
        die_with_parent(&mut cmd)
            .spawn()
            .expect("start moto (make test installs it into .venv: run `make rig-deps`)")
    }

    /// Waits until moto answers on `port`; the error says how it ended otherwise.
    fn wait_until_answering(child: &mut Child, port: u16) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("exited with {status}"));
            }
            // A short wait for the answer: if another listener holds the port, moto exits,
            // and the next look at the child says so.
            if matches!(
                http_within("GET", port, "/moto-api/", "", Duration::from_secs(5)),
                Ok((200, _))
            ) {
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err("did not answer within 60 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// CPU seconds (user + system) moto's process has used so far (Linux `/proc`), for
    /// benchmarks that need to tell the server's time from the client's.
    pub fn cpu_seconds(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // The fields after the command's closing parenthesis; utime and stime are 14 and 15.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        // SAFETY: sysconf reads a constant.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        (ticks(11) + ticks(12)) / hz.max(1.0)
    }

    /// `http://localhost:PORT`: moto reads path-style template URLs only with "localhost".
    pub fn endpoint(&self) -> String {
        format!("http://localhost:{}", self.port)
    }

    /// Starts moto's request recorder afresh.
    pub fn start_recording(&self) {
        for step in ["reset-recording", "start-recording"] {
            let (status, body) = http("POST", self.port, &format!("/moto-api/recorder/{step}"), "")
                .expect("recorder");
            assert!(
                (200..300).contains(&status),
                "moto recorder {step}: {status} {body}"
            );
        }
    }

    /// Stops the recorder (what it recorded stays readable by [`Moto::recording`]).
    pub fn stop_recording(&self) {
        let (status, body) =
            http("POST", self.port, "/moto-api/recorder/stop-recording", "").expect("recorder");
        assert!(
            (200..300).contains(&status),
            "moto recorder stop-recording: {status} {body}"
        );
    }

    /// Every request moto saw since [`Moto::start_recording`], one JSON object each
    /// (`method`, `url`, `headers`, `body`), moto's own control calls left out.
    pub fn recording(&self) -> Vec<serde_json::Value> {
        let (_, body) = http(
            "GET",
            self.port,
            "/moto-api/recorder/download-recording",
            "",
        )
        .expect("recording");
        body.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|r| !r["url"].as_str().unwrap_or_default().contains("/moto-api/"))
            .collect()
    }

    /// A request's header, whatever its case.
    pub fn header<'a>(request: &'a serde_json::Value, name: &str) -> Option<&'a str> {
        request["headers"]
            .as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
    }

    /// Requests that change something. CloudFormation posts its reads too (query protocol:
    /// `Action=` in the body; JSON protocol: the `X-Amz-Target` header), so a POST counts as a
    /// write unless it names a Describe, Get or List operation.
    pub fn writes(recording: &[serde_json::Value]) -> Vec<String> {
        let read_op = |op: &str| {
            ["Describe", "Get", "List"]
                .iter()
                .any(|p| op.starts_with(p))
        };
        // The recorder keeps bodies it takes for binary base64-encoded.
        let body_of = |r: &serde_json::Value| -> String {
            let raw = r["body"].as_str().unwrap_or_default();
            if r["body_encoded"] == true {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(raw)
                    .unwrap_or_default();
                String::from_utf8_lossy(&bytes).into_owned()
            } else {
                raw.to_owned()
            }
        };
        recording
            .iter()
            .filter(|r| {
                let method = r["method"].as_str().unwrap_or_default();
                let body = body_of(r);
                let target = Self::header(r, "x-amz-target").unwrap_or_default();
                let action = body
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("Action="))
                    .or_else(|| target.rsplit('.').next().filter(|t| !t.is_empty()));
                match method {
                    "GET" | "HEAD" => false,
                    "POST" => !action.is_some_and(read_op),
                    _ => true,
                }
            })
            .map(|r| {
                format!(
                    "{} {} target={:?} body={:.80}",
                    r["method"].as_str().unwrap_or("?"),
                    r["url"].as_str().unwrap_or("?"),
                    Self::header(r, "x-amz-target"),
                    body_of(r)
                )
            })
            .collect()
    }

    /// `METHOD url` per request, for readable assertion messages.
    pub fn summary(recording: &[serde_json::Value]) -> Vec<String> {
        recording
            .iter()
            .map(|r| {
                format!(
                    "{} {}",
                    r["method"].as_str().unwrap_or("?"),
                    r["url"].as_str().unwrap_or("?")
                )
            })
            .collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The SDK config every client on the rig uses: fake credentials, the region, an endpoint.
pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "testing", "testing", None, None, "rig",
        ))
        .endpoint_url(endpoint)
        .load()
        .await
}

/// The SDK config of a client in `region` with `credentials` (another account's, from
/// [`assume_role`]): moto tells the region from the signature and the account from the key.
pub async fn sdk_config_as(
    endpoint: &str,
    region: &str,
    credentials: &Credentials,
) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_owned()))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            credentials.key.clone(),
            credentials.secret.clone(),
            credentials.token.clone(),
            None,
            "rig",
        ))
        .endpoint_url(endpoint)
        .load()
        .await
}

/// Assumes `role_arn` at moto (STS AssumeRole, by hand: three fields of one call need no
/// SDK). moto maps the credentials it answers to the role's account, so a role ARN of
/// another account is how the rig reaches a second account.
pub fn assume_role(port: u16, role_arn: &str) -> Credentials {
    let body = format!(
        "Action=AssumeRole&Version=2011-06-15&RoleSessionName=rig&RoleArn={}",
        role_arn.replace(':', "%3A").replace('/', "%2F")
    );
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to moto");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: localhost:{port}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send AssumeRole");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("AssumeRole's answer");
    let tag = |name: &str| {
        let start = raw
            .find(&format!("<{name}>"))
            .unwrap_or_else(|| panic!("no {name} in AssumeRole's answer: {raw}"))
            + name.len()
            + 2;
        let end = raw[start..]
            .find(&format!("</{name}>"))
            .expect("closing tag")
            + start;
        raw[start..end].to_owned()
    };
    Credentials {
        key: tag("AccessKeyId"),
        secret: tag("SecretAccessKey"),
        token: Some(tag("SessionToken")),
    }
}

/// An S3 client for moto (path-style addressing).
pub async fn s3_client(endpoint: &str) -> aws_sdk_s3::Client {
    let conf = sdk_config(endpoint).await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&conf)
            .force_path_style(true)
            .build(),
    )
}

/// A Lambda client for an endpoint (moto's, or the patcher's Invoke API).
pub async fn lambda_client(endpoint: &str) -> aws_sdk_lambda::Client {
    aws_sdk_lambda::Client::new(&sdk_config(endpoint).await)
}

/// The zipedit binary running as Lambda runs it, behind an Invoke API.
pub struct Patcher {
    /// The function name the Invoke API serves (the first, when it serves several).
    pub function_name: String,
    /// `http://127.0.0.1:PORT` of the Invoke API.
    pub invoke_endpoint: String,
    runtimes: Vec<Child>,
    server: tokio::task::JoinHandle<()>,
    front: Arc<Front>,
    _sims: Vec<Arc<Simulator>>,
}

/// Whose credentials and region a patcher function runs with: as a Lambda function, it is
/// one account's, in one region.
#[derive(Debug, Clone)]
pub struct RunAs {
    /// Its function name.
    pub name: String,
    /// Its region (`AWS_REGION`).
    pub region: String,
    /// Its credentials: access key, secret, session token.
    pub credentials: Credentials,
}

impl RunAs {
    /// `name`, in the rig's region with its credentials.
    pub fn rig(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            region: REGION.to_owned(),
            credentials: Credentials::rig(),
        }
    }
}

/// An access key, its secret and a session token (for assumed roles).
#[derive(Debug, Clone)]
pub struct Credentials {
    /// `AWS_ACCESS_KEY_ID`.
    pub key: String,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret: String,
    /// `AWS_SESSION_TOKEN`, for an assumed role's credentials.
    pub token: Option<String>,
}

impl Credentials {
    /// The rig's default account (moto's 123456789012).
    pub fn rig() -> Self {
        Self {
            key: "testing".into(),
            secret: "testing".into(),
            token: None,
        }
    }
}

struct Front {
    /// Each function's Runtime API, by function name.
    sims: std::collections::HashMap<String, Arc<Simulator>>,
    /// A round trip added to every Invoke, in ms (AWS-like latency, [`Patcher::set_rtt`]).
    rtt_ms: std::sync::atomic::AtomicU64,
}

impl Patcher {
    /// Starts `concurrency` zipedit processes (Lambda runs concurrent invocations in separate
    /// instances) against a Runtime API, and the Invoke API in front of it. `s3_endpoint` is
    /// what the patcher uses as `AWS_ENDPOINT_URL`.
    pub async fn start(binary: &Path, s3_endpoint: &str, concurrency: usize) -> Self {
        Self::start_named(binary, s3_endpoint, concurrency, "zipedit").await
    }

    /// [`Patcher::start`], serving the function under `function_name`.
    pub async fn start_named(
        binary: &Path,
        s3_endpoint: &str,
        concurrency: usize,
        function_name: &str,
    ) -> Self {
        let one = [RunAs::rig(function_name)];
        Self::start_many(binary, s3_endpoint, concurrency, &one).await
    }

    /// [`Patcher::start_named`], its CloudFormation calls (the stack guard's DescribeStacks) to
    /// `cfn_endpoint`: the rig's proxy, which gives DescribeStacks the LastUpdatedTime moto
    /// leaves out, as the CLI sees it.
    pub async fn start_named_via(
        binary: &Path,
        s3_endpoint: &str,
        cfn_endpoint: &str,
        concurrency: usize,
        function_name: &str,
    ) -> Self {
        let one = [RunAs::rig(function_name)];
        Self::start_many_via(binary, s3_endpoint, Some(cfn_endpoint), concurrency, &one).await
    }

    /// Several patcher functions behind one Invoke API, routed by function name: each its
    /// own Runtime API and `concurrency` zipedit processes, with its own account's
    /// credentials and region (one patcher per target, as `bootstrap` installs them).
    pub async fn start_many(
        binary: &Path,
        s3_endpoint: &str,
        concurrency: usize,
        functions: &[RunAs],
    ) -> Self {
        Self::start_many_via(binary, s3_endpoint, None, concurrency, functions).await
    }

    /// [`Patcher::start_many`], CloudFormation at `cfn_endpoint` when given (see
    /// [`Patcher::start_named_via`]), else at `s3_endpoint` too.
    pub async fn start_many_via(
        binary: &Path,
        s3_endpoint: &str,
        cfn_endpoint: Option<&str>,
        concurrency: usize,
        functions: &[RunAs],
    ) -> Self {
        let mut sims = std::collections::HashMap::new();
        let mut runtimes = Vec::new();
        let mut all = Vec::new();
        for f in functions {
            let sim = Arc::new(
                Simulator::builder()
                    .function_name(&f.name)
                    .build()
                    .await
                    .expect("start the Lambda Runtime API simulator"),
            );
            let runtime_api = sim.addr().to_string();
            for i in 0..concurrency {
                let mut cmd = Command::new(binary);
                cmd.env_clear()
                    .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                    .env("AWS_LAMBDA_RUNTIME_API", &runtime_api)
                    .env("AWS_LAMBDA_FUNCTION_NAME", &f.name)
                    .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
                    .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
                    .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/zipedit")
                    .env("AWS_LAMBDA_LOG_STREAM_NAME", format!("rig/{i}"))
                    .env("AWS_ENDPOINT_URL", s3_endpoint)
                    .env(
                        "AWS_ENDPOINT_URL_CLOUDFORMATION",
                        cfn_endpoint.unwrap_or(s3_endpoint),
                    )
                    .env("AWS_ACCESS_KEY_ID", &f.credentials.key)
                    .env("AWS_SECRET_ACCESS_KEY", &f.credentials.secret)
                    .env("AWS_REGION", &f.region)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
                if let Some(token) = &f.credentials.token {
                    cmd.env("AWS_SESSION_TOKEN", token);
                }
                runtimes.push(
                    die_with_parent(&mut cmd)
                        .spawn()
                        .expect("start the zipedit binary"),
                );
            }
            sims.insert(f.name.clone(), sim.clone());
            all.push(sim);
        }
        let front = Arc::new(Front {
            sims,
            rtt_ms: std::sync::atomic::AtomicU64::new(
                crate::latency::Latency::from_env().map_or(0, |l| l.rtt.as_millis() as u64),
            ),
        });
        let app = axum::Router::new()
            .route(
                "/2015-03-31/functions/{name}/invocations",
                axum::routing::post(invoke),
            )
            // Larger than Lambda's limit, so the 413 is ours and worded as Lambda words it.
            .layer(DefaultBodyLimit::max(4 * MAX_PAYLOAD))
            .with_state(front.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the Invoke API");
        let addr = listener.local_addr().expect("address");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            function_name: functions
                .first()
                .map(|f| f.name.clone())
                .unwrap_or_default(),
            invoke_endpoint: format!("http://{addr}"),
            runtimes,
            server,
            front,
            _sims: all,
        }
    }

    /// Adds `rtt` to every Invoke from now on, as the round trip to a real Lambda would
    /// (the proxy's [`crate::proxy::S3Proxy::set_latency`] does it for every other call).
    pub fn set_rtt(&self, rtt: Duration) {
        self.front
            .rtt_ms
            .store(rtt.as_millis() as u64, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for Patcher {
    fn drop(&mut self) {
        self.server.abort();
        for c in &mut self.runtimes {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn lambda_error(status: StatusCode, kind: &str, message: &str) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-amzn-ErrorType",
        HeaderValue::from_str(kind).unwrap_or(HeaderValue::from_static("Error")),
    );
    let body = serde_json::json!({ "Type": "User", "message": message }).to_string();
    (status, headers, body).into_response()
}

/// `POST /2015-03-31/functions/NAME/invocations`, answered as Lambda answers it.
async fn invoke(
    State(front): State<Arc<Front>>,
    UrlPath(name): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let rtt = front.rtt_ms.load(std::sync::atomic::Ordering::SeqCst);
    if rtt > 0 {
        tokio::time::sleep(Duration::from_millis(rtt)).await;
    }
    // The SDK may send the function's ARN or name; match on the name part.
    let short = name.rsplit(':').next().unwrap_or(&name);
    let Some(sim) = front.sims.get(short) else {
        return lambda_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            &format!("Function not found: {name}"),
        );
    };
    if body.len() > MAX_PAYLOAD {
        return lambda_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLargeException",
            &format!(
                "Request must be smaller than {MAX_PAYLOAD} bytes for the InvokeFunction operation"
            ),
        );
    }
    match headers
        .get("x-amz-invocation-type")
        .and_then(|v| v.to_str().ok())
    {
        None | Some("RequestResponse") => {}
        Some(other) => {
            return lambda_error(
                StatusCode::BAD_REQUEST,
                "InvalidParameterValueException",
                &format!("invocation type {other} is not served by the local rig"),
            );
        }
    }
    let payload: serde_json::Value =
        match serde_json::from_slice(if body.is_empty() { b"{}" } else { &body }) {
            Ok(v) => v,
            Err(e) => {
                return lambda_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequestContentException",
                    &format!("Could not parse request body into json: {e}"),
                );
            }
        };
    let id = sim.enqueue(Invocation::new(payload, 120_000)).await;
    let state = match wait_for_invocation(sim, &id, Duration::from_secs(130)).await {
        Ok(s) => s,
        Err(e) => {
            return lambda_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ServiceException",
                &e.to_string(),
            );
        }
    };
    let mut out = HeaderMap::new();
    out.insert(
        "x-amz-executed-version",
        HeaderValue::from_static("$LATEST"),
    );
    out.insert("content-type", HeaderValue::from_static("application/json"));
    let function_error = |out: &mut HeaderMap, kind: &str, message: &str| {
        out.insert(
            "x-amz-function-error",
            HeaderValue::from_static("Unhandled"),
        );
        let body = serde_json::json!({ "errorType": kind, "errorMessage": message }).to_string();
        (StatusCode::OK, out.clone(), body).into_response()
    };
    match (state.status, state.response, state.error) {
        (InvocationStatus::Success, Some(r), _) => {
            let body = r.payload.to_string();
            if body.len() > MAX_PAYLOAD {
                return function_error(
                    &mut out,
                    "Function.ResponseSizeTooLarge",
                    "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
                );
            }
            (StatusCode::OK, out, body).into_response()
        }
        (_, _, Some(e)) => function_error(&mut out, &e.error_type, &e.error_message),
        (status, _, None) => function_error(
            &mut out,
            "Sandbox.Timedout",
            &format!("invocation ended as {status:?}"),
        ),
    }
}

/// Makes a bucket in moto, versioned when asked: the setup most rig tests start with.
pub async fn make_bucket(s3: &aws_sdk_s3::Client, name: &str, versioned: bool) {
    use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
    s3.create_bucket()
        .bucket(name)
        .send()
        .await
        .expect("create bucket");
    if versioned {
        s3.put_bucket_versioning()
            .bucket(name)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .expect("versioning");
    }
}

/// Puts an object.
pub async fn put_object(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(aws_sdk_s3::primitives::ByteStream::from(body))
        .send()
        .await
        .expect("put");
}

/// An object's bytes.
pub async fn get_object(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    s3.get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("get")
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes()
        .to_vec()
}

/// Waits until the invocation `id` has ended (success, error or timeout).
///
/// `Simulator::wait_for_invocation_complete` (lambda-simulator 0.2) alone is not enough: it
/// checks the state, then waits on a `Notify` that `notify_waiters` wakes, which keeps no
/// permit, so an answer recorded between the check and the wait is missed and the caller
/// waits out its whole timeout (seen here: an invocation answered at once reported as not
/// complete after 130 s). So it is asked in slices of 2 ms: woken at once by the answer's
/// notice as a rule, and 2 ms late at worst when the notice was missed (polling every 2 ms
/// made every Invoke through the rig about 1-2 ms slower than the answer).
pub async fn wait_for_invocation(
    sim: &Simulator,
    id: &str,
    timeout: Duration,
) -> Result<lambda_simulator::InvocationState, String> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match sim
            .wait_for_invocation_complete(id, Duration::from_millis(2))
            .await
        {
            Ok(state) => return Ok(state),
            Err(lambda_simulator::SimulatorError::Timeout(_)) => {}
            Err(e) => return Err(format!("invocation {id}: {e}")),
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "invocation {id} did not complete within {timeout:?}"
            ));
        }
    }
}

/// A listener that accepts connections and never answers: the stalled endpoint.
pub fn stalled_endpoint() -> (String, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "http://localhost:{}",
        listener.local_addr().expect("addr").port()
    );
    listener.set_nonblocking(true).expect("nonblocking");
    let handle = std::thread::spawn(move || {
        let mut held = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while std::time::Instant::now() < deadline {
            match listener.accept() {
                Ok((stream, _)) => held.push(stream),
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
            if held.len() > 64 {
                break;
            }
        }
    });
    (url, handle)
}
