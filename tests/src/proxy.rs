//! A fault-injecting S3 proxy in front of moto, for what moto cannot show by itself.
//!
//! - Racing writers: object writes (PutObject, CompleteMultipartUpload) are held until `hold`
//!   of them have arrived, then forwarded one at a time in arrival order. Two patches that read
//!   the same artifact then really race on the write, every time, not by luck of timing.
//! - Conditional writes, atomic as on S3: moto ignores `If-Match` on CompleteMultipartUpload
//!   and `x-amz-copy-source-if-match` on UploadPartCopy; the proxy enforces both (and `If-Match`
//!   on PutObject) as S3 does, answering 412 PreconditionFailed when the ETag is no longer the
//!   one given. Each check and the call it guards run under one lock, with every other object
//!   write, so no write lands between the check and the call (moto's own checks are not atomic
//!   with its writes).
//! - Multipart upload ages: moto lists every upload as initiated 2010-11-10T20:48:33Z, which
//!   would make every upload look stale to the patcher (and have it abort live ones). The proxy
//!   notes when each CreateMultipartUpload through it was answered, and puts that time into
//!   ListMultipartUploads answers. An upload it has not seen created (made straight at moto, or
//!   listed by another client before its creator's answer came back) is dated when the proxy
//!   first lists it: never older than it really is.
//! - A stall ([`S3Proxy::stall`]): the next request of a kind is held, so a test can kill the
//!   patcher while it waits; [`S3Proxy::drop_stalled`] then answers it without forwarding, as a
//!   request whose client died never reaches S3.
//!
//! - Lambda faults, per function ([`LambdaFault`]): UpdateFunctionCode answered with
//!   ResourceConflictException or TooManyRequestsException a number of times; after an update
//!   goes through, LastUpdateStatus reported as InProgress a number of times (moto's updates
//!   are Successful at once), then Successful or Failed with a reason.
//! - LastUpdatedTime in DescribeStacks for a stack updated through the proxy (moto gives
//!   none; CloudFormation moves it on every update, and `deploy`'s stack cache relies on it).
//! - A failing stack update ([`S3Proxy::fail_next_stack_update`]): after ExecuteChangeSet goes
//!   through, the stack is reported UPDATE_ROLLBACK_COMPLETE and its events gain an
//!   UPDATE_FAILED event for a resource (moto's updates do not fail, and it keeps stack-level
//!   events only).
//!
//! - For the history and rollback tests: a race on the writes to one key
//!   ([`S3Proxy::race_key`]); CopyObject's If-Match, enforced as S3 does (moto ignores it);
//!   Lambda RevisionIds ([`S3Proxy::lambda_revisions`]: moto's functions have none) and
//!   UpdateFunctionCode's S3ObjectVersion ([`S3Proxy::lambda_object_versions`]: moto reads
//!   the key's current version whatever version is named).
//!
//! - Templates moto can update: the `Layers` of functions that use a layer of the same stack
//!   are taken out of what moto sees (its update raises on them), and the proxy gives the
//!   functions their layers after each change set, as CloudFormation does
//!   (`without_function_layers`, `function_layers`). A `TemplateURL` is read into the body
//!   first, so it gets the same.
//! - Every call recorded, as IAM sees it ([`S3Proxy::calls`], [`crate::iam`]).
//! - What the CDK's CLI needs ([`crate::cdk`]): a `TemplateURL` at `http://127.0.0.1:PORT/…`
//!   read from its bucket and key (moto takes the bucket from the host, `127`), change sets
//!   kept per stack (`change_set_of_stack`: moto looks a name up across stacks, and a missing
//!   one is not ChangeSetNotFound), and an SSM-typed parameter's previous value kept as its
//!   name in SSM (`previous_ssm_values`: moto's next update raises on the resolved value).
//!   A nested stack's PhysicalResourceId is its stack ARN (`nested_stack_arns`: moto gives
//!   its name). Not made as AWS does: moto replaces a nested stack whose template changed
//!   (deletes it, makes a new one: new names for its functions) where CloudFormation updates
//!   it in place.
//! - AWS-like latency ([`S3Proxy::set_latency`], [`crate::latency`]): a round trip on every
//!   call, and every function InProgress for a while after each update; from
//!   `QD_RIG_RTT_MS` / `QD_RIG_INPROGRESS_MS` when set.
//!
//! - Connections kept open: moto's server closes each connection after its answer
//!   (`Connection: close`); AWS keeps them, so the proxy drops that header and its clients
//!   keep theirs (its own side to moto is reopened as moto needs).
//!
//! Everything else passes through untouched. `QD_PROXY_TRACE=1` prints each request with its
//! time (see `forward`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};

/// A running proxy; stops when dropped.
pub struct S3Proxy {
    /// `http://localhost:PORT`, to use as the S3 endpoint.
    pub endpoint: String,
    server: tokio::task::JoinHandle<()>,
    shared: Arc<Shared>,
}

struct Shared {
    upstream: String,
    client: reqwest::Client,
    hold: AtomicUsize,
    arrived: AtomicUsize,
    all_here: tokio::sync::Notify,
    one_at_a_time: tokio::sync::Mutex<()>,
    lambda: Mutex<HashMap<String, LambdaState>>,
    lambda_log: Mutex<Vec<String>>,
    /// Request bodies forwarded, in bytes: what a client sent through the proxy.
    sent: AtomicU64,
    /// The part of `sent` that came from an AWS SDK for Rust (quickdeploy, the patcher), by
    /// its User-Agent: what a bench counts for quickdeploy while another tool runs beside it.
    sent_by_rust: AtomicU64,
    /// Object writes and conditional copies, each with its condition check.
    conditional: tokio::sync::Mutex<()>,
    /// When each multipart upload created through the proxy began (upload id -> ISO 8601).
    upload_started: Mutex<HashMap<String, String>>,
    /// 412s given: on object writes (If-Match), on copies (x-amz-copy-source-if-match).
    refused_writes: AtomicUsize,
    refused_copies: AtomicUsize,
    /// The kind of request to hold next, if any.
    stall: Mutex<Option<Stall>>,
    /// Told when a request is being held.
    stall_arrived: tokio::sync::Notify,
    /// Tells the held request to go on (`false`) or to be dropped (`true`).
    stall_release: tokio::sync::watch::Sender<Option<bool>>,
    /// The failure to report after the next ExecuteChangeSet: (logical id, type, reason), and
    /// whether that execution happened.
    stack_fault: Mutex<Option<(String, String, String, bool)>>,
    /// What the history and rollback tests add ([`S3Proxy::race_key`], CopyObject's
    /// If-Match, [`S3Proxy::lambda_revisions`]).
    extras: Extras,
    /// Stacks deployed from SAM templates, by name ([`crate::sam`]).
    sam: Mutex<HashMap<String, crate::sam::SamStack>>,
    /// Every API call through the proxy, each once ([`S3Proxy::calls`]).
    calls: Mutex<std::collections::BTreeSet<crate::iam::Call>>,
    /// Every API call through the proxy, in order ([`S3Proxy::take_call_log`]); the patcher's
    /// own (`app/zipedit` in the user agent) begin with `patcher `.
    call_log: Mutex<Vec<String>>,
    /// When each stack was last updated through the proxy, by name: moto's DescribeStacks
    /// gives no LastUpdatedTime, CloudFormation's does (`with_updated_time`).
    stack_updated: Mutex<HashMap<String, String>>,
    /// The stack parameter values last submitted, by (stack, key) ([`previous_ssm_values`]).
    stack_parameters: Mutex<HashMap<(String, String), String>>,
    /// AWS-like latency, when in force ([`S3Proxy::set_latency`]).
    latency: crate::latency::Settling,
}

/// A kind of S3 request the proxy can hold ([`S3Proxy::stall`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stall {
    /// UploadPart: a part of new bytes in a multipart upload.
    UploadPart,
    /// UploadPartCopy: a server-side copy into a multipart upload.
    UploadPartCopy,
    /// CompleteMultipartUpload.
    Complete,
    /// PutObject (not a copy, not a part).
    PutObject,
}

/// What the proxy does to one function's Lambda calls.
#[derive(Debug, Clone, Default)]
pub struct LambdaFault {
    /// Answer this many UpdateFunctionCode calls with 409 ResourceConflictException.
    pub conflicts: usize,
    /// Answer this many UpdateFunctionCode calls with 429 TooManyRequestsException.
    pub throttles: usize,
    /// After an update goes through, report LastUpdateStatus InProgress this many times (the
    /// update's own answer counts as one).
    pub in_progress: usize,
    /// Then report Failed with this reason, instead of Successful.
    pub fail_with: Option<String>,
}

#[derive(Debug, Default)]
struct LambdaState {
    fault: LambdaFault,
    /// InProgress answers still to give for the update that went through.
    pending: usize,
    /// An update went through and its fate is being reported.
    updating: bool,
    /// The last update was reported Failed, with this reason, until the next update.
    failed: Option<String>,
}

impl S3Proxy {
    /// Proxies to `upstream` (moto's endpoint); nothing is held until [`S3Proxy::race`].
    pub async fn start(upstream: &str) -> Self {
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: reqwest::Client::new(),
            hold: AtomicUsize::new(0),
            arrived: AtomicUsize::new(0),
            all_here: tokio::sync::Notify::new(),
            one_at_a_time: tokio::sync::Mutex::new(()),
            lambda: Mutex::new(HashMap::new()),
            lambda_log: Mutex::new(Vec::new()),
            sent: AtomicU64::new(0),
            sent_by_rust: AtomicU64::new(0),
            conditional: tokio::sync::Mutex::new(()),
            upload_started: Mutex::new(HashMap::new()),
            refused_writes: AtomicUsize::new(0),
            refused_copies: AtomicUsize::new(0),
            stall: Mutex::new(None),
            stall_arrived: tokio::sync::Notify::new(),
            stall_release: tokio::sync::watch::channel(None).0,
            stack_fault: Mutex::new(None),
            extras: Extras::default(),
            sam: Mutex::new(HashMap::new()),
            calls: Mutex::new(std::collections::BTreeSet::new()),
            call_log: Mutex::new(Vec::new()),
            stack_updated: Mutex::new(HashMap::new()),
            stack_parameters: Mutex::new(HashMap::new()),
            latency: crate::latency::Settling::default(),
        });
        shared.latency.set(crate::latency::Latency::from_env());
        let app = axum::Router::new()
            .fallback(forward)
            .layer(axum::extract::DefaultBodyLimit::disable())
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let port = listener.local_addr().expect("address").port();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            endpoint: format!("http://localhost:{port}"),
            server,
            shared,
        }
    }

    /// Holds the next `writers` object writes until all of them arrived, then lets them
    /// through one at a time.
    pub fn race(&self, writers: usize) {
        self.shared.arrived.store(0, Ordering::SeqCst);
        self.shared.hold.store(writers, Ordering::SeqCst);
    }
}

impl S3Proxy {
    /// Holds the next request of kind `what` until [`S3Proxy::release_stalled`] or
    /// [`S3Proxy::drop_stalled`] (or 120 s, then it goes on).
    pub fn stall(&self, what: Stall) {
        self.shared.stall_release.send_replace(None);
        if let Ok(mut s) = self.shared.stall.lock() {
            *s = Some(what);
        }
    }

    /// Waits until the stalled request has arrived and is being held.
    pub async fn stalled(&self) {
        self.shared.stall_arrived.notified().await;
    }

    /// The 412s the proxy gave so far: (object writes refused by If-Match, UploadPartCopy
    /// refused by x-amz-copy-source-if-match).
    pub fn refused(&self) -> (usize, usize) {
        (
            self.shared.refused_writes.load(Ordering::SeqCst),
            self.shared.refused_copies.load(Ordering::SeqCst),
        )
    }

    /// Lets the held request go on to moto.
    pub fn release_stalled(&self) {
        self.shared.stall_release.send_replace(Some(false));
    }

    /// Answers the held request with an error, never forwarding it: its client was killed, and
    /// the request never reached S3.
    pub fn drop_stalled(&self) {
        self.shared.stall_release.send_replace(Some(true));
    }

    /// Injects `fault` into the Lambda calls on `function` (its name, not its ARN) from now
    /// on. A function whose last update was reported Failed keeps being reported Failed
    /// until its next update, as Lambda does.
    pub fn lambda_fault(&self, function: &str, fault: LambdaFault) {
        if let Ok(mut m) = self.shared.lambda.lock() {
            m.entry(function.to_owned()).or_default().fault = fault;
        }
    }

    /// Makes the next stack update fail on `logical_id` (of `resource_type`) with `reason`, as
    /// CloudFormation reports it: a failed resource event, then a rolled-back stack.
    pub fn fail_next_stack_update(&self, logical_id: &str, resource_type: &str, reason: &str) {
        if let Ok(mut f) = self.shared.stack_fault.lock() {
            *f = Some((
                logical_id.into(),
                resource_type.into(),
                reason.into(),
                false,
            ));
        }
    }

    /// The SAM template `stack` was last deployed from, and its expansion; `None` when it was
    /// not deployed from one through this proxy.
    pub fn sam_stack(&self, stack: &str) -> Option<crate::sam::SamStack> {
        self.shared.sam.lock().ok()?.get(stack).cloned()
    }

    /// Every API call clients sent through the proxy so far, each once, as IAM sees it: the
    /// operation and the actions and resources it needs ([`crate::iam::operation`]).
    pub fn calls(&self) -> Vec<crate::iam::Call> {
        self.shared
            .calls
            .lock()
            .map(|c| c.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Forgets the calls seen so far: [`S3Proxy::calls`] then lists only what comes after.
    pub fn forget_calls(&self) {
        if let Ok(mut c) = self.shared.calls.lock() {
            c.clear();
        }
    }

    /// Every API call since the last time this was asked, in order, as `service Operation
    /// resource` (`cloudformation GetTemplate arn:...`, `s3 HeadObject arn:aws:s3:::b/k`):
    /// what a round asked, to show what it did not need to.
    pub fn take_call_log(&self) -> Vec<String> {
        self.shared
            .call_log
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }

    /// Request body bytes forwarded since the last call, and resets the count.
    pub fn take_sent_bytes(&self) -> u64 {
        self.shared.sent_by_rust.store(0, Ordering::SeqCst);
        self.shared.sent.swap(0, Ordering::SeqCst)
    }

    /// [`S3Proxy::take_sent_bytes`], split by sender: the AWS SDK for Rust's requests
    /// (quickdeploy's), and everyone else's (the AWS CLI's, the CDK's), as their User-Agent
    /// says. Two tools running at once (`cdk watch` polls its logs) are then told apart.
    pub fn take_sent_bytes_split(&self) -> (u64, u64) {
        let rust = self.shared.sent_by_rust.swap(0, Ordering::SeqCst);
        let all = self.shared.sent.swap(0, Ordering::SeqCst);
        (rust, all.saturating_sub(rust))
    }

    /// Every Lambda call seen, as `METHOD function/op -> status what`, in order.
    pub fn lambda_log(&self) -> Vec<String> {
        self.shared
            .lambda_log
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }
}

impl Drop for S3Proxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn object_write(method: &Method, path: &str, query: &str, headers: &HeaderMap) -> bool {
    let has_key = path
        .trim_start_matches('/')
        .split_once('/')
        .is_some_and(|(_, k)| !k.is_empty());
    let put_object = *method == Method::PUT
        && has_key
        && !query.contains("partNumber")
        && !headers.contains_key("x-amz-copy-source");
    put_object || is_complete(method, query)
}

fn is_complete(method: &Method, query: &str) -> bool {
    *method == Method::POST && query.split('&').any(|p| p.starts_with("uploadId="))
}

fn stall_kind(method: &Method, path: &str, query: &str, headers: &HeaderMap) -> Option<Stall> {
    let part = *method == Method::PUT && query.contains("partNumber");
    let copy = headers.contains_key("x-amz-copy-source");
    if is_complete(method, query) {
        Some(Stall::Complete)
    } else if part && copy {
        Some(Stall::UploadPartCopy)
    } else if part {
        Some(Stall::UploadPart)
    } else if object_write(method, path, query, headers) && !copy {
        Some(Stall::PutObject)
    } else {
        None
    }
}

fn precondition_failed(condition: &str) -> Response {
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>PreconditionFailed</Code>\
         <Message>At least one of the pre-conditions you specified did not hold</Message>\
         <Condition>{condition}</Condition></Error>"
    );
    (
        StatusCode::PRECONDITION_FAILED,
        [("content-type", "application/xml")],
        xml,
    )
        .into_response()
}

/// The current ETag of `path` (`/bucket/key`, optionally `?versionId=`), asked of moto with
/// the caller's credentials (moto wants to know who asks; it does not check the signature).
async fn current_etag(p: &Shared, path_and_query: &str, headers: &HeaderMap) -> Option<String> {
    let mut head = p.client.head(format!("{}{path_and_query}", p.upstream));
    if let Some(auth) = headers.get("authorization") {
        head = head.header("authorization", auth);
    }
    let r = head.send().await.ok()?;
    if !r.status().is_success() {
        return None;
    }
    r.headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(|e| e.trim_matches('"').to_owned())
}

/// The 412 S3 would give this request, if one of its ETag conditions does not hold.
async fn check_conditions(
    p: &Shared,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
) -> Option<Response> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let object_write = object_write(method, path, query, headers);
    if object_write
        && let Some(want) = header("if-match")
        && current_etag(p, path, headers).await.as_deref() != Some(want.trim_matches('"'))
    {
        p.refused_writes.fetch_add(1, Ordering::SeqCst);
        return Some(precondition_failed("If-Match"));
    }
    let copy_part = *method == Method::PUT && query.contains("partNumber");
    if copy_part
        && let (Some(source), Some(want)) = (
            header("x-amz-copy-source"),
            header("x-amz-copy-source-if-match"),
        )
    {
        // `bucket/key` or `/bucket/key`, percent-encoded, maybe `?versionId=`: as a path.
        let source = format!("/{}", source.trim_start_matches('/'));
        // A missing source is moto's to answer (404), as S3 answers it.
        if let Some(etag) = current_etag(p, &source, headers).await
            && etag != want.trim_matches('"')
        {
            p.refused_copies.fetch_add(1, Ordering::SeqCst);
            return Some(precondition_failed("x-amz-copy-source-If-Match"));
        }
    }
    None
}

/// Every request, timed on stderr when `QD_PROXY_TRACE` is set: when it arrived (ms of the
/// wall clock, modulo 1,000 s, so traces of other processes line up), how long it took, its
/// status, its method and URI, and its body's length. What a slow deploy waits on, and what
/// it sends, one line each.
async fn forward(state: State<Arc<Shared>>, req: Request) -> Response {
    if std::env::var_os("QD_PROXY_TRACE").is_none() {
        return forward_inner(state, req).await;
    }
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() % 1_000_000)
    };
    let length = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("0")
        .to_owned();
    let what = format!("{} {} ({length} B)", req.method(), req.uri());
    let start = now();
    let r = forward_inner(state, req).await;
    eprintln!(
        "proxy {start:>7} +{:>5} ms {} {what}",
        now().saturating_sub(start),
        r.status().as_u16()
    );
    r
}

async fn forward_inner(State(p): State<Arc<Shared>>, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    if let Some(uri) = layer_by_name(&parts.uri) {
        parts.uri = uri;
    }
    let body: Bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let agent = parts
        .headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|a| a.to_str().ok())
        .unwrap_or_default();
    // The patcher's own calls (the stack guard's DescribeStacks: `app/zipedit` in its user
    // agent) come from inside the region on AWS, as its S3 calls, which go to moto straight:
    // neither the client's round trip nor the client's bytes.
    let from_the_patcher = agent.contains("app/zipedit");
    if !from_the_patcher {
        p.sent.fetch_add(body.len() as u64, Ordering::SeqCst);
        if agent.contains("aws-sdk-rust") {
            p.sent_by_rust
                .fetch_add(body.len() as u64, Ordering::SeqCst);
        }
    }
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or_default().to_owned();
    // AWS-like latency (S3Proxy::set_latency): the round trip, and updates while one settles.
    if !from_the_patcher {
        p.latency.round_trip().await;
    }
    let settling = settling_call(&parts.method, &path, &query);
    if let Some((function, op)) = &settling
        && let Some((kind, message)) = p.latency.refusal(function, *op)
    {
        return lambda_error(StatusCode::CONFLICT, kind, &message);
    }
    // Every call as its client sent it, for the IAM checks (S3Proxy::calls).
    let call = crate::iam::operation(parts.method.as_str(), &path, &query, &parts.headers, &body);
    // The patcher's own calls are logged as its.
    if let Ok(mut log) = p.call_log.lock() {
        let resource = call.needs.first().map(|n| n.1.as_str()).unwrap_or("");
        let who = if from_the_patcher { "patcher " } else { "" };
        log.push(format!("{who}{call} {resource}"));
    }
    if let Ok(mut calls) = p.calls.lock() {
        calls.insert(call);
    }
    let lambda_call = lambda_call(&path);
    let cfn_action = (parts.method == Method::POST)
        .then(|| {
            std::str::from_utf8(&body)
                .ok()?
                .split('&')
                .find_map(|kv| kv.strip_prefix("Action="))
                .map(str::to_owned)
        })
        .flatten();
    if let Some((function, op)) = &lambda_call
        && let Some(r) = lambda_before(&p, &parts.method, function, op)
    {
        return r;
    }
    if let Some(r) = as_old_patcher(&p, &lambda_call, &body) {
        return r;
    }
    // RevisionIds, as Lambda checks them (S3Proxy::lambda_revisions).
    let _revision_turn =
        match revision_turn(&p, &parts.method, &lambda_call, &parts.headers, &body).await {
            Ok(turn) => turn,
            Err(refused) => return refused,
        };
    // SAM: expanded before moto sees it; its original answered by GetTemplate (crate::sam).
    let text = std::str::from_utf8(&body).unwrap_or_default().to_owned();
    let original_of = crate::sam::get_template_stack(&text).and_then(|stack| {
        let sam = p.sam.lock().ok()?.get(&stack).map(|s| s.original.clone());
        sam.or_else(|| p.extras.submitted.lock().ok()?.get(&stack).cloned())
    });
    let cfn = CfnCall {
        stack: cfn_action.as_ref().and_then(|_| {
            crate::sam::form_decode(&text)
                .into_iter()
                .find_map(|(k, v)| (k == "StackName").then_some(v))
        }),
        action: cfn_action.clone(),
    };
    // Change sets per stack, as CloudFormation keeps them (`change_set_of_stack`).
    let auth = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = match change_set_of_stack(&p, cfn_action.as_deref(), &text, &auth).await {
        Ok(Some(rewritten)) => rewritten,
        Ok(None) => body,
        Err(answered) => return answered,
    };
    // A template as moto can take it (CreateChangeSet, CreateStack, UpdateStack): a
    // TemplateURL's fetched into the body, SAM expanded, kept for the functions' layers, and
    // those layers taken out of what moto sees (`without_function_layers`).
    let body = match cfn_action.as_deref() {
        Some(a) if crate::sam::TEMPLATE_ACTIONS.contains(&a) => {
            let (text, body) = match template_from_url(&p, &text).await {
                Some(b) => (String::from_utf8_lossy(&b).into_owned(), b),
                None => (text, body),
            };
            let (text, body) = match previous_ssm_values(&p, &text) {
                Some(b) => (String::from_utf8_lossy(&b).into_owned(), b),
                None => (text, body),
            };
            match expand_sam(&p, text, body).await {
                Ok(b) => {
                    keep_template(&p, &b);
                    let stripped = without_function_layers(&b);
                    keep_submitted(&p, &b, stripped.is_some());
                    stripped.unwrap_or(b)
                }
                Err(refused) => return refused,
            }
        }
        _ => body,
    };
    // S3ObjectVersion, as Lambda honours it (S3Proxy::lambda_object_versions).
    let body = match versioned_code(&p, &parts.method, &lambda_call, &parts.headers, &body).await {
        Ok(Some(rewritten)) => rewritten,
        Ok(None) => body,
        Err(refused) => return refused,
    };
    // A race on the writes to one key (S3Proxy::race_key).
    let _key_turn = keyed_race(&p, &parts.method, &path, &query, &parts.headers).await;
    let _turn = held_write(&p, &parts.method, &path, &query, &parts.headers).await;
    if let Some(dropped) = stalled(&p, &parts.method, &path, &query, &parts.headers).await {
        return dropped;
    }
    // CopyObject with If-Match: checked and done as one step, as on S3 (moto ignores it).
    let _copy_turn = match copy_turn(&p, &parts.method, &path, &query, &parts.headers).await {
        Ok(turn) => turn,
        Err(refused) => return refused,
    };
    // Object writes and conditional copies: the check and the call as one step, as on S3.
    let guarded = object_write(&parts.method, &path, &query, &parts.headers)
        || parts.headers.contains_key("x-amz-copy-source-if-match");
    let _atomic = if guarded {
        Some(p.conditional.lock().await)
    } else {
        None
    };
    if guarded
        && let Some(refused) =
            check_conditions(&p, &parts.method, &path, &query, &parts.headers).await
    {
        return refused;
    }
    if parts.method == Method::POST && path.contains("/layers/") && path.ends_with("/versions") {
        let out = upstream_request(&p, &parts, body);
        return match out.send().await {
            Ok(r) => layer_published(&p, r).await,
            Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
        };
    }
    if let Some((function, op)) = &settling {
        p.latency.begin(function, *op);
    }
    let out = upstream_request(&p, &parts, body);
    match out.send().await {
        Ok(r) => {
            let resp = answer(
                &p,
                r,
                &parts.method,
                &query,
                &lambda_call,
                &cfn,
                &original_of,
            )
            .await;
            let resp = settled(&p, resp, &settling).await;
            if let (Some("ExecuteChangeSet" | "CreateStack" | "UpdateStack"), Some(stack)) =
                (cfn.action.as_deref(), &cfn.stack)
                && resp.status().is_success()
            {
                function_layers(&p, stack).await;
                if cfn.action.as_deref() != Some("CreateStack") {
                    stack_updated(&p, stack);
                }
            }
            resp
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

/// The request as it goes on to moto: the same method, path, query and headers, with the
/// body as the proxy may have rewritten it (its length is its own).
fn upstream_request(
    p: &Shared,
    parts: &axum::http::request::Parts,
    body: Bytes,
) -> reqwest::RequestBuilder {
    let url = format!(
        "{}{}",
        p.upstream,
        parts
            .uri
            .path_and_query()
            .map(|x| x.as_str())
            .unwrap_or("/")
    );
    let mut out = p.client.request(parts.method.clone(), url).body(body);
    for (k, v) in &parts.headers {
        // The body may have been rewritten (a SAM template expanded): its length is its own.
        if k != "host" && k != "content-length" {
            out = out.header(k, v);
        }
    }
    out
}

/// A CloudFormation call (query protocol): its Action and the StackName it names.
struct CfnCall {
    action: Option<String>,
    stack: Option<String>,
}

/// moto's answer as AWS would give it: Lambda states and RevisionIds, stack and upload
/// details, a SAM stack's original template.
async fn answer(
    p: &Shared,
    r: reqwest::Response,
    method: &Method,
    query: &str,
    lambda_call: &Option<(String, String)>,
    cfn: &CfnCall,
    original_of: &Option<String>,
) -> Response {
    let status = r.status();
    let headers = r.headers().clone();
    let mut headers = headers;
    let mut bytes = r.bytes().await.unwrap_or_default();
    let rewritten = match (lambda_call, &cfn.action) {
        (Some((function, op)), _) => lambda_after(p, method, function, op, status, &bytes),
        (None, Some(action)) => stack_after(p, action, &bytes),
        _ if status.is_success() => uploads_after(p, method, query, &bytes),
        _ => None,
    };
    let rewritten = match cfn.action.as_deref() {
        Some("DescribeStackResources" | "ListStackResources")
            if status.is_success() && rewritten.is_none() =>
        {
            let layers = layer_physical_ids(p, &bytes, cfn.stack.as_deref()).await;
            let base = layers.clone().unwrap_or_else(|| bytes.clone());
            nested_stack_arns(p, &base).await.or(layers)
        }
        _ => rewritten,
    };
    let rewritten = match cfn.action.as_deref() {
        Some("DescribeStacks") if status.is_success() => {
            with_updated_time(p, rewritten.as_deref().unwrap_or(&bytes)).or(rewritten)
        }
        _ => rewritten,
    };
    let rewritten = match original_of {
        Some(t) if status.is_success() => std::str::from_utf8(&bytes)
            .ok()
            .and_then(|a| crate::sam::with_template_body(a, t))
            .map(Bytes::from),
        _ => rewritten,
    };
    if let Some(b) = rewritten {
        bytes = b;
        headers.remove("content-length");
        headers.remove("transfer-encoding");
    }
    if let Some(b) = with_revision(p, method, lambda_call, status, &bytes) {
        bytes = b;
        headers.remove("content-length");
        headers.remove("transfer-encoding");
    }
    passed_on(status, headers, bytes)
}

/// moto's answer as the proxy's client gets it. moto's server closes each connection after
/// its answer; AWS keeps them open, so the proxy does too (its own side to moto is reopened
/// as needed).
fn passed_on(status: StatusCode, mut headers: HeaderMap, bytes: Bytes) -> Response {
    headers.remove("connection");
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    resp
}

/// A SAM change set expanded to plain CloudFormation for moto, the SAM original kept for
/// GetTemplate (crate::sam); the body as it was when it is not SAM.
async fn expand_sam(p: &Shared, text: String, body: Bytes) -> Result<Bytes, Response> {
    let expanded = tokio::task::spawn_blocking(move || crate::sam::expand_change_set(&text))
        .await
        .ok()
        .flatten();
    match expanded {
        Some(Ok((new_body, stack, sam))) => {
            if let Ok(mut m) = p.sam.lock() {
                m.insert(stack, sam);
            }
            Ok(Bytes::from(new_body))
        }
        Some(Err(why)) => Err((StatusCode::BAD_REQUEST, why).into_response()),
        None => Ok(body),
    }
}

/// During a race (S3Proxy::race), an object write waits until all racers are here, then
/// goes one at a time: the turn is held until the answer.
async fn held_write<'a>(
    p: &'a Shared,
    method: &Method,
    path: &str,
    query: &str,
    headers: &axum::http::HeaderMap,
) -> Option<tokio::sync::MutexGuard<'a, ()>> {
    let hold = p.hold.load(Ordering::SeqCst);
    if hold == 0 || !object_write(method, path, query, headers) {
        return None;
    }
    let n = p.arrived.fetch_add(1, Ordering::SeqCst) + 1;
    if n >= hold {
        p.all_here.notify_waiters();
    } else {
        let wait = p.all_here.notified();
        // A lone writer is not held forever: the race it waited for did not come.
        let _ = tokio::time::timeout(Duration::from_secs(10), wait).await;
    }
    Some(p.one_at_a_time.lock().await)
}

/// The request the test asked to stall (S3Proxy::stall): held until the test releases it;
/// the answer when the test drops it.
async fn stalled(
    p: &Shared,
    method: &Method,
    path: &str,
    query: &str,
    headers: &axum::http::HeaderMap,
) -> Option<Response> {
    let kind = stall_kind(method, path, query, headers);
    let stall_now = kind.is_some()
        && p.stall
            .lock()
            .map(|mut s| {
                let hit = *s == kind;
                if hit {
                    *s = None;
                }
                hit
            })
            .unwrap_or(false);
    if !stall_now {
        return None;
    }
    let mut release = p.stall_release.subscribe();
    // notify_one keeps a permit, so a test that starts waiting late still sees it.
    p.stall_arrived.notify_one();
    let decided =
        tokio::time::timeout(Duration::from_secs(120), release.wait_for(Option::is_some)).await;
    match decided {
        Ok(Ok(d)) if *d == Some(true) => {
            Some((StatusCode::SERVICE_UNAVAILABLE, "dropped by the test").into_response())
        }
        _ => None,
    }
}

/// Notes when an upload began (CreateMultipartUpload), or puts those times into a
/// ListMultipartUploads answer in place of moto's fixed date.
fn uploads_after(p: &Shared, method: &Method, query: &str, body: &[u8]) -> Option<Bytes> {
    if !query.split('&').any(|q| q == "uploads" || q == "uploads=") {
        return None;
    }
    let text = std::str::from_utf8(body).ok()?;
    let between = |s: &'_ str, open: &str, close: &str| -> Option<String> {
        let from = s.find(open)? + open.len();
        let to = s[from..].find(close)? + from;
        Some(s[from..to].to_owned())
    };
    let mut started = p.upload_started.lock().ok()?;
    if *method == Method::POST {
        let id = between(text, "<UploadId>", "</UploadId>")?;
        started.entry(id).or_insert_with(iso8601_now);
        return None;
    }
    if *method != Method::GET {
        return None;
    }
    let mut parts = text.split("<Upload>");
    let mut out = parts.next()?.to_owned();
    for upload in parts {
        out.push_str("<Upload>");
        let when = between(upload, "<UploadId>", "</UploadId>")
            .map(|id| started.entry(id).or_insert_with(iso8601_now).clone());
        match (when, between(upload, "<Initiated>", "</Initiated>")) {
            (Some(when), Some(moto_date)) => out.push_str(&upload.replacen(
                &format!("<Initiated>{moto_date}</Initiated>"),
                &format!("<Initiated>{when}</Initiated>"),
                1,
            )),
            _ => out.push_str(upload),
        }
    }
    Some(Bytes::from(out))
}

/// Now, as S3 writes times: `2026-01-01T00:00:00.000Z`.
fn iso8601_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let (secs, ms) = (now.as_secs(), now.subsec_millis());
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        rest / 3_600,
        rest % 3_600 / 60,
        rest % 60
    )
}

/// Lambda's layer calls (`/2018-10-31/layers/LAYER/...`) take the layer's name or its ARN;
/// moto looks some up by name only (ListLayerVersions by ARN finds no versions, which `sam
/// sync` calls so). The same call with the name the ARN ends with, for an ARN.
fn layer_by_name(uri: &axum::http::Uri) -> Option<axum::http::Uri> {
    let rest = uri.path().strip_prefix("/2018-10-31/layers/")?;
    let (layer, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let layer = layer.replace("%3A", ":").replace("%3a", ":");
    let name = layer.strip_prefix("arn:")?.rsplit(':').next()?;
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    format!("/2018-10-31/layers/{name}/{tail}{query}")
        .parse()
        .ok()
}

/// `(function, op)` for Lambda's `/2015-03-31/functions/NAME/OP` paths; GetFunction's
/// `/2015-03-31/functions/NAME` has op "".
fn lambda_call(path: &str) -> Option<(String, String)> {
    let rest = path.strip_prefix("/2015-03-31/functions/")?;
    let (name, op) = rest.split_once('/').unwrap_or((rest, ""));
    if name.is_empty() {
        return None;
    }
    let name = name.rsplit(':').next().unwrap_or(name).replace("%3A", ":");
    Some((name, op.to_owned()))
}

fn log(p: &Shared, line: String) {
    if let Ok(mut l) = p.lambda_log.lock() {
        l.push(line);
    }
}

fn lambda_error(status: StatusCode, kind: &str, message: &str) -> Response {
    let body = serde_json::json!({ "Type": "User", "message": message }).to_string();
    (
        status,
        [
            ("x-amzn-ErrorType", kind),
            ("content-type", "application/json"),
        ],
        body,
    )
        .into_response()
}

/// A fault answered instead of forwarding, if one is due.
fn lambda_before(p: &Shared, method: &Method, function: &str, op: &str) -> Option<Response> {
    let mut all = p.lambda.lock().ok()?;
    let state = all.get_mut(function)?;
    if *method == Method::PUT && op == "code" {
        if state.fault.conflicts > 0 {
            state.fault.conflicts -= 1;
            log(
                p,
                format!("PUT {function}/code -> 409 ResourceConflictException"),
            );
            return Some(lambda_error(
                StatusCode::CONFLICT,
                "ResourceConflictException",
                &format!(
                    "The operation cannot be performed at this time. An update is in progress for resource: {function}"
                ),
            ));
        }
        if state.fault.throttles > 0 {
            state.fault.throttles -= 1;
            log(
                p,
                format!("PUT {function}/code -> 429 TooManyRequestsException"),
            );
            return Some(lambda_error(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequestsException",
                "Rate exceeded",
            ));
        }
    }
    None
}

/// Sets a configuration's LastUpdateStatus, its reason and reason code.
fn set_update_status(config: &mut serde_json::Value, status: &str, reason: &str, code: &str) {
    config["LastUpdateStatus"] = status.into();
    config["LastUpdateStatusReason"] = reason.into();
    config["LastUpdateStatusReasonCode"] = code.into();
}

/// The answer with LastUpdateStatus rewritten, if this function's fault says so: in
/// GetFunctionConfiguration's and UpdateFunctionCode's answer, and in GetFunction's
/// `Configuration`.
fn lambda_after(
    p: &Shared,
    method: &Method,
    function: &str,
    op: &str,
    status: StatusCode,
    body: &[u8],
) -> Option<Bytes> {
    let at = if op.is_empty() {
        function.to_owned()
    } else {
        format!("{function}/{op}")
    };
    let mut all = p.lambda.lock().ok()?;
    let Some(state) = all.get_mut(function) else {
        log(p, format!("{method} {at} -> {}", status.as_u16()));
        return None;
    };
    let is_update = *method == Method::PUT && op == "code";
    let is_read = *method == Method::GET && (op == "configuration" || op.is_empty());
    if !status.is_success() || !(is_update || is_read) {
        log(p, format!("{method} {at} -> {}", status.as_u16()));
        return None;
    }
    if is_update {
        state.updating = true;
        state.failed = None;
        state.pending = state.fault.in_progress;
    }
    let mut doc: serde_json::Value = serde_json::from_slice(body).ok()?;
    let config = if op.is_empty() {
        &mut doc["Configuration"]
    } else {
        &mut doc
    };
    if let Some(reason) = &state.failed {
        set_update_status(config, "Failed", reason, "InternalError");
        log(
            p,
            format!("{method} {at} -> {} Failed (still)", status.as_u16()),
        );
        return serde_json::to_vec(&doc).ok().map(Bytes::from);
    }
    if !state.updating {
        log(p, format!("{method} {at} -> {}", status.as_u16()));
        return None;
    }
    let said = if state.pending > 0 {
        state.pending -= 1;
        set_update_status(
            config,
            "InProgress",
            "The function is being created.",
            "Creating",
        );
        "InProgress".to_owned()
    } else if let Some(reason) = state.fault.fail_with.clone() {
        set_update_status(config, "Failed", &reason, "InternalError");
        state.updating = false;
        state.failed = Some(reason);
        "Failed".to_owned()
    } else {
        state.updating = false;
        "Successful".to_owned()
    };
    log(p, format!("{method} {at} -> {} {said}", status.as_u16()));
    serde_json::to_vec(&doc).ok().map(Bytes::from)
}

/// Notes that `stack` was updated now (an ExecuteChangeSet or UpdateStack went through); a
/// stack name or an ARN's name part.
fn stack_updated(p: &Shared, stack: &str) {
    let name = stack
        .strip_prefix("arn:")
        .and_then(|a| a.split('/').nth(1))
        .unwrap_or(stack);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    // ISO 8601 with milliseconds, as CloudFormation's answers give times.
    let secs = now.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    let at = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_millis()
    );
    if let Ok(mut u) = p.stack_updated.lock() {
        u.insert(name.to_owned(), at);
    }
}

/// The civil date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A DescribeStacks answer with each stack updated through the proxy given its
/// LastUpdatedTime, which moto leaves out and CloudFormation moves on every update.
fn with_updated_time(p: &Shared, body: &[u8]) -> Option<Bytes> {
    let text = std::str::from_utf8(body).ok()?;
    if text.contains("<LastUpdatedTime>") {
        return None;
    }
    let updated = p.stack_updated.lock().ok()?.clone();
    let mut out = text.to_owned();
    for (name, at) in &updated {
        let tag = format!("<StackName>{name}</StackName>");
        out = out.replace(
            &tag,
            &format!("{tag}<LastUpdatedTime>{at}</LastUpdatedTime>"),
        );
    }
    (out != text).then(|| Bytes::from(out))
}

/// Rewrites CloudFormation answers after an execution that is to fail.
fn stack_after(p: &Shared, action: &str, body: &[u8]) -> Option<Bytes> {
    let mut fault = p.stack_fault.lock().ok()?;
    let (logical_id, resource_type, reason, executed) = fault.as_mut()?;
    if action == "ExecuteChangeSet" {
        *executed = true;
        return None;
    }
    if !*executed {
        return None;
    }
    let text = std::str::from_utf8(body).ok()?;
    match action {
        "DescribeStacks" => Some(Bytes::from(text.replace(
            "<StackStatus>UPDATE_COMPLETE</StackStatus>",
            "<StackStatus>UPDATE_ROLLBACK_COMPLETE</StackStatus>",
        ))),
        "DescribeStackEvents" => {
            let event = format!(
                "<member><EventId>proxy-failure-1</EventId><StackName>stack</StackName>\
                 <StackId>stack</StackId><LogicalResourceId>{logical_id}</LogicalResourceId>\
                 <PhysicalResourceId>{logical_id}</PhysicalResourceId><ResourceType>{resource_type}</ResourceType>\
                 <Timestamp>2026-01-01T00:00:00Z</Timestamp><ResourceStatus>UPDATE_FAILED</ResourceStatus>\
                 <ResourceStatusReason>{reason}</ResourceStatusReason></member>"
            );
            Some(Bytes::from(text.replacen(
                "<StackEvents>",
                &format!("<StackEvents>{event}"),
                1,
            )))
        }
        _ => None,
    }
}

// --- Layer versions' physical ids, as CloudFormation gives them (moto gives none). ---

/// A PublishLayerVersion answer, passed on as it is; its version noted as published through
/// the proxy (not by CloudFormation).
async fn layer_published(p: &Shared, r: reqwest::Response) -> Response {
    let status = r.status();
    let headers = r.headers().clone();
    let bytes = r.bytes().await.unwrap_or_default();
    let arn = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v["LayerVersionArn"].as_str().map(str::to_owned));
    if let (Some(arn), Ok(mut seen)) = (arn, p.extras.published_layers.lock()) {
        seen.insert(arn);
    }
    passed_on(status, headers, bytes)
}

/// A DescribeStackResources or ListStackResources answer (about `stack`, the request's
/// StackName: ListStackResources' members do not name it) with each
/// `AWS::Lambda::LayerVersion` given its PhysicalResourceId, the layer version ARN, as
/// CloudFormation gives it: moto leaves it out (or empty). moto names a stack's layer
/// `<stack>-<logical id>-<suffix>`; the version is its latest one not published through the
/// proxy (a quick deploy's versions are not the stack's).
async fn layer_physical_ids(p: &Shared, body: &[u8], stack: Option<&str>) -> Option<Bytes> {
    let text = std::str::from_utf8(body).ok()?;
    if !text.contains("<ResourceType>AWS::Lambda::LayerVersion</ResourceType>") {
        return None;
    }
    let layers = lambda_json(p, "/2018-10-31/layers").await?;
    let mut out = String::new();
    for (i, member) in text.split("<member>").enumerate() {
        if i > 0 {
            out.push_str("<member>");
        }
        let tag = |name: &str| {
            let start = member.find(&format!("<{name}>"))? + name.len() + 2;
            let end = member[start..].find(&format!("</{name}>"))? + start;
            Some(member[start..end].to_owned())
        };
        let stack_layer = (member.contains("AWS::Lambda::LayerVersion")
            && tag("PhysicalResourceId").is_none_or(|id| id.is_empty()))
        .then(|| {
            let stack = tag("StackName").or_else(|| stack.map(str::to_owned))?;
            Some((stack, tag("LogicalResourceId")?))
        })
        .flatten();
        let arn = match stack_layer {
            Some((stack, id)) => stack_layer_id(p, &layers, &stack, &id).await,
            None => None,
        };
        let member = match arn {
            Some(_) => member
                .replace("<PhysicalResourceId></PhysicalResourceId>", "")
                .replace("<PhysicalResourceId/>", ""),
            None => member.to_owned(),
        };
        match (arn, member.find("</LogicalResourceId>")) {
            (Some(arn), Some(at)) => {
                let at = at + "</LogicalResourceId>".len();
                out.push_str(&member[..at]);
                out.push_str(&format!("<PhysicalResourceId>{arn}</PhysicalResourceId>"));
                out.push_str(&member[at..]);
            }
            _ => out.push_str(&member),
        }
    }
    Some(Bytes::from(out))
}

/// A DescribeStackResources or ListStackResources answer with each nested stack
/// (`AWS::CloudFormation::Stack`) given its stack ARN as its PhysicalResourceId, as
/// CloudFormation gives it: moto gives the nested stack's name.
async fn nested_stack_arns(p: &Shared, body: &[u8]) -> Option<Bytes> {
    let text = std::str::from_utf8(body).ok()?;
    if !text.contains("<ResourceType>AWS::CloudFormation::Stack</ResourceType>") {
        return None;
    }
    let mut out = String::new();
    for (i, member) in text.split("<member>").enumerate() {
        if i > 0 {
            out.push_str("<member>");
        }
        let name = member
            .contains("<ResourceType>AWS::CloudFormation::Stack</ResourceType>")
            .then(|| xml_tag(member, "PhysicalResourceId"))
            .flatten()
            .filter(|id| !id.is_empty() && !id.starts_with("arn:"));
        let arn = match &name {
            Some(name) => stack_arn(p, name).await,
            None => None,
        };
        match (name, arn) {
            (Some(name), Some(arn)) => out.push_str(&member.replace(
                &format!("<PhysicalResourceId>{name}</PhysicalResourceId>"),
                &format!("<PhysicalResourceId>{arn}</PhysicalResourceId>"),
            )),
            _ => out.push_str(member),
        }
    }
    Some(Bytes::from(out))
}

/// The text of the first `<name>` element in `xml`.
fn xml_tag(xml: &str, name: &str) -> Option<String> {
    let start = xml.find(&format!("<{name}>"))? + name.len() + 2;
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(xml[start..end].to_owned())
}

/// The StackId (ARN) of the stack named `name`, from moto (DescribeStacks).
async fn stack_arn(p: &Shared, name: &str) -> Option<String> {
    let text = cfn_query(
        p,
        &format!("Action=DescribeStacks&Version=2010-05-15&StackName={name}"),
        "",
    )
    .await?;
    xml_tag(&text, "StackId")
}

// --- Functions' Layers, as CloudFormation sets them (moto's CloudFormation drops them). ---

/// Keeps the template of a plain CloudFormation request body as submitted, for GetTemplate
/// to answer as AWS does, when the proxy changed what moto got (`changed`); forgets it when
/// moto got it as it was (a SAM template's original is kept in `Shared::sam`).
fn keep_submitted(p: &Shared, body: &[u8], changed: bool) {
    let pairs = crate::sam::form_decode(std::str::from_utf8(body).unwrap_or_default());
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let (Some(stack), Ok(mut kept)) = (get("StackName"), p.extras.submitted.lock()) else {
        return;
    };
    match get("TemplateBody") {
        Some(t) if changed => {
            kept.insert(stack, t);
        }
        _ => {
            kept.remove(&stack);
        }
    }
}

/// Keeps the template of a CreateChangeSet (form-encoded, SAM already expanded), by stack.
fn keep_template(p: &Shared, body: &[u8]) {
    let pairs = crate::sam::form_decode(std::str::from_utf8(body).unwrap_or_default());
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let (Some(stack), Some(Ok(doc))) = (
        get("StackName"),
        get("TemplateBody").map(|t| serde_json::from_str::<serde_json::Value>(&t)),
    ) else {
        return;
    };
    if let Ok(mut t) = p.extras.stack_templates.lock() {
        t.insert(stack, doc);
    }
}

/// One entry of a function's `Layers` that the proxy gives it (see [`proxy_layers`]).
enum LayerEntry<'a> {
    /// A literal layer version ARN.
    Arn(&'a str),
    /// `{"Ref": id}` to an `AWS::Lambda::LayerVersion` of the same template.
    StackLayer(&'a str),
}

/// The `Layers` of the function resource `function` when the proxy gives them after each
/// change set: every entry a literal ARN or a Ref to a layer version of the same template.
/// `None` when it has none, or an entry the proxy cannot resolve (a parameter, an import):
/// moto resolves those itself, so they stay in what it sees.
fn proxy_layers<'a>(
    resources: &'a serde_json::Map<String, serde_json::Value>,
    function: &'a serde_json::Value,
) -> Option<Vec<LayerEntry<'a>>> {
    if function["Type"] != "AWS::Lambda::Function" {
        return None;
    }
    function["Properties"]["Layers"]
        .as_array()?
        .iter()
        .map(|entry| match (entry.as_str(), entry["Ref"].as_str()) {
            (Some(arn), _) => Some(LayerEntry::Arn(arn)),
            (None, Some(layer))
                if resources
                    .get(layer)
                    .is_some_and(|r| r["Type"] == "AWS::Lambda::LayerVersion") =>
            {
                Some(LayerEntry::StackLayer(layer))
            }
            _ => None,
        })
        .collect()
}

/// A template-carrying request body (form-encoded, SAM already expanded) with `Layers` taken
/// out of each `AWS::Lambda::Function` whose layers the proxy gives it ([`proxy_layers`],
/// [`function_layers`]); `None` when there is nothing to take out.
///
/// moto 5.2.5 cannot update such a function: its CloudFormation resolves `{"Ref": layer}` of
/// a same-stack `AWS::Lambda::LayerVersion` to the LayerVersion *object* (it has no
/// `physical_resource_id`), and `LambdaFunction.update_configuration` hands that object to
/// `split_arn`, which raises "'LayerVersion' object has no attribute 'replace'"
/// (moto/cloudformation/parsing.py `clean_json`, moto/awslambda/models.py
/// `_get_layers_data`). The stack update then stops half way, and every function keeps its
/// old code and settings. On create moto drops `Layers` anyway. With them taken out, moto
/// updates code and settings as CloudFormation does, and the proxy sets the layers after.
fn without_function_layers(body: &[u8]) -> Option<Bytes> {
    let mut pairs = crate::sam::form_decode(std::str::from_utf8(body).ok()?);
    let (_, template) = pairs.iter_mut().find(|(k, _)| k == "TemplateBody")?;
    let mut doc: serde_json::Value = serde_json::from_str(template).ok()?;
    let resources = doc["Resources"].as_object()?;
    let strip: Vec<String> = resources
        .iter()
        .filter(|(_, r)| proxy_layers(resources, r).is_some())
        .map(|(id, _)| id.clone())
        .collect();
    if strip.is_empty() {
        return None;
    }
    for id in &strip {
        if let Some(props) = doc["Resources"][id]["Properties"].as_object_mut() {
            props.remove("Layers");
        }
    }
    *template = doc.to_string();
    Some(Bytes::from(crate::sam::form_encode(&pairs)))
}

/// A CreateChangeSet, CreateStack or UpdateStack body whose `TemplateURL` names a JSON
/// template in (moto's) S3, with that template as its `TemplateBody` instead, so the proxy's
/// rewriting sees it as CloudFormation would have read it; `None` for any other body (a YAML
/// template goes to moto as it was).
async fn template_from_url(p: &Shared, text: &str) -> Option<Bytes> {
    let mut pairs = crate::sam::form_decode(text);
    let at = pairs.iter().position(|(k, _)| k == "TemplateURL")?;
    let url = reqwest::Url::parse(&pairs[at].1).ok()?;
    let host = url.host_str()?;
    // Path style (`localhost:PORT/bucket/key`, `s3.REGION.amazonaws.com/bucket/key`), or
    // virtual-hosted (`bucket.s3.REGION.amazonaws.com/key`).
    let path = match host.split_once(".s3") {
        Some((bucket, _)) if !host.starts_with("s3.") && !host.starts_with("s3-") => {
            format!("/{bucket}{}", url.path())
        }
        _ => url.path().to_owned(),
    };
    let r = p
        .client
        .get(format!("{}{path}", p.upstream))
        .header("authorization", S3_AUTH)
        .send()
        .await
        .ok()?;
    if !r.status().is_success() {
        return None;
    }
    let template = r.text().await.ok()?;
    serde_json::from_str::<serde_json::Value>(&template).ok()?;
    pairs.remove(at);
    pairs.push(("TemplateBody".to_owned(), template));
    Some(Bytes::from(crate::sam::form_encode(&pairs)))
}

/// An Authorization header moto reads as S3's (it checks no signature).
const S3_AUTH: &str = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0";

/// After a change set of `stack` ran (or CreateStack, UpdateStack): each function whose
/// template `Layers` the proxy gives ([`proxy_layers`]: literal ARNs or Refs to the stack's
/// own layers, taken out of what moto saw) is given them, as CloudFormation does (a Ref is
/// the layer's version the stack made). A function given layers before whose template now
/// has none is given none, as CloudFormation removes them. Any other function is left as
/// moto has it.
async fn function_layers(p: &Shared, stack: &str) {
    let Some(doc) = p
        .extras
        .stack_templates
        .lock()
        .ok()
        .and_then(|t| t.get(stack).cloned())
    else {
        return;
    };
    let Some(resources) = doc["Resources"].as_object() else {
        return;
    };
    let before = p
        .extras
        .layered
        .lock()
        .ok()
        .and_then(|l| l.get(stack).cloned())
        .unwrap_or_default();
    let wanted: Vec<(&String, Vec<LayerEntry>)> = resources
        .iter()
        .filter_map(|(id, r)| match proxy_layers(resources, r) {
            Some(list) => Some((id, list)),
            None if before.contains(id) && r["Properties"]["Layers"].is_null() => {
                Some((id, Vec::new()))
            }
            None => None,
        })
        .collect();
    if wanted.is_empty() {
        return;
    }
    let (Some(names), Some(layers)) = (
        stack_functions(p, stack).await,
        lambda_json(p, "/2018-10-31/layers").await,
    ) else {
        return;
    };
    let mut given = std::collections::BTreeSet::new();
    'functions: for (id, list) in wanted {
        let Some(name) = names.get(id.as_str()) else {
            continue;
        };
        let mut arns = Vec::new();
        for entry in list {
            let arn = match entry {
                LayerEntry::Arn(arn) => Some(arn.to_owned()),
                LayerEntry::StackLayer(layer) => {
                    stack_layer_version(p, &layers, stack, layer).await
                }
            };
            let Some(arn) = arn else {
                continue 'functions;
            };
            arns.push(arn);
        }
        if !arns.is_empty() {
            given.insert(id.clone());
        }
        let _ = p
            .client
            .put(format!(
                "{}/2015-03-31/functions/{name}/configuration",
                p.upstream
            ))
            .header("authorization", LAMBDA_AUTH)
            .json(&serde_json::json!({ "Layers": arns }))
            .send()
            .await;
    }
    if let Ok(mut l) = p.extras.layered.lock() {
        l.insert(stack.to_owned(), given);
    }
}

/// The stack's functions, physical name by logical id, from moto (DescribeStackResources).
async fn stack_functions(p: &Shared, stack: &str) -> Option<HashMap<String, String>> {
    let text = cfn_query(
        p,
        &format!("Action=DescribeStackResources&Version=2010-05-15&StackName={stack}"),
        "",
    )
    .await?;
    let tag = |member: &str, name: &str| {
        let start = member.find(&format!("<{name}>"))? + name.len() + 2;
        let end = member[start..].find(&format!("</{name}>"))? + start;
        Some(member[start..end].to_owned())
    };
    Some(
        text.split("<member>")
            .filter(|m| m.contains("<ResourceType>AWS::Lambda::Function</ResourceType>"))
            .filter_map(|m| Some((tag(m, "LogicalResourceId")?, tag(m, "PhysicalResourceId")?)))
            .collect(),
    )
}

/// The JSON answer to a GET of the Lambda API at moto; `None` when there is none.
async fn lambda_json(p: &Shared, path: &str) -> Option<serde_json::Value> {
    lambda_get(p, path).send().await.ok()?.json().await.ok()
}

/// A GET of the Lambda API at moto; moto tells the service from the credential scope.
fn lambda_get(p: &Shared, path: &str) -> reqwest::RequestBuilder {
    p.client
        .get(format!("{}{path}", p.upstream))
        .header("authorization", LAMBDA_AUTH)
}

/// An Authorization header moto reads as the Lambda API's (it checks no signature).
const LAMBDA_AUTH: &str = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=0";

/// The physical id of the stack's layer `id`: [`stack_layer_version`], remembered, as
/// CloudFormation keeps it when that version is deleted outside it (`sam sync` deletes the
/// version it replaces).
async fn stack_layer_id(
    p: &Shared,
    layers: &serde_json::Value,
    stack: &str,
    id: &str,
) -> Option<String> {
    let key = (stack.to_owned(), id.to_owned());
    let found = stack_layer_version(p, layers, stack, id).await;
    let mut known = p.extras.stack_layers.lock().ok()?;
    match found {
        Some(arn) => {
            known.insert(key, arn.clone());
            Some(arn)
        }
        None => known.get(&key).cloned(),
    }
}

/// The latest version of the stack's layer `id` that the proxy did not see published.
async fn stack_layer_version(
    p: &Shared,
    layers: &serde_json::Value,
    stack: &str,
    id: &str,
) -> Option<String> {
    let prefix = format!("{stack}-{id}-");
    let name = layers["Layers"]
        .as_array()?
        .iter()
        .filter_map(|l| l["LayerName"].as_str())
        .find(|n| n.starts_with(&prefix))?
        .to_owned();
    let versions = lambda_json(p, &format!("/2018-10-31/layers/{name}/versions")).await?;
    let ours = p.extras.published_layers.lock().ok()?.clone();
    versions["LayerVersions"]
        .as_array()?
        .iter()
        .filter_map(|v| Some((v["Version"].as_i64()?, v["LayerVersionArn"].as_str()?)))
        .filter(|(_, arn)| !ours.contains(*arn))
        .max_by_key(|(n, _)| *n)
        .map(|(_, arn)| arn.to_owned())
}

// --- AWS-like latency (crate::latency): a round trip per call, updates InProgress a while. ---

impl S3Proxy {
    /// Puts `latency` in force from now on, for every call through the proxy (`None`: plain
    /// moto). Functions updated before keep whatever status they had.
    pub fn set_latency(&self, latency: Option<crate::latency::Latency>) {
        self.shared.latency.set(latency);
    }

    /// The latency in force.
    pub fn latency(&self) -> Option<crate::latency::Latency> {
        self.shared.latency.get()
    }
}

/// The answer with LastUpdateStatus InProgress while the function settles (AWS-like
/// latency); as it was otherwise.
async fn settled(
    p: &Shared,
    resp: Response,
    settling: &Option<(String, crate::latency::LambdaOp)>,
) -> Response {
    let Some((function, op)) = settling else {
        return resp;
    };
    if p.latency.get().is_none() {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    match p
        .latency
        .answer(function, *op, parts.status.is_success(), &bytes)
    {
        Some(b) => {
            parts.headers.remove("content-length");
            parts.headers.remove("transfer-encoding");
            Response::from_parts(parts, Body::from(b))
        }
        None => Response::from_parts(parts, Body::from(bytes)),
    }
}

/// The function (its name, from a name or an ARN) and the kind of a Lambda call, for
/// [`crate::latency::Settling`]; `None` for any other call.
fn settling_call(
    method: &Method,
    path: &str,
    query: &str,
) -> Option<(String, crate::latency::LambdaOp)> {
    let rest = path.strip_prefix("/2015-03-31/functions/")?;
    let (name, op) = rest.split_once('/').unwrap_or((rest, ""));
    let op = crate::latency::LambdaOp::of(method.as_str(), op, query);
    (!name.is_empty() && op != crate::latency::LambdaOp::Other)
        .then(|| (crate::latency::function_key(name), op))
}

// --- For the history and rollback tests (tests/tests/e2e/history.rs, rollback.rs):
// a race on the writes to one key, CopyObject's If-Match, and Lambda RevisionIds. ---

/// The state behind [`S3Proxy::race_key`], CopyObject's If-Match and
/// [`S3Proxy::lambda_revisions`].
#[derive(Default)]
struct Extras {
    /// Object writes to keys containing this are raced: (part of the key, writers).
    race_key: Mutex<Option<(String, usize)>>,
    key_arrived: AtomicUsize,
    key_all_here: tokio::sync::Notify,
    key_turn: tokio::sync::Mutex<()>,
    /// Functions have RevisionIds, and UpdateFunctionCode checks the one it is given.
    revisions: std::sync::atomic::AtomicBool,
    /// A RevisionId check and the update it guards, as one step.
    code_updates: tokio::sync::Mutex<()>,
    /// UpdateFunctionCode honours S3ObjectVersion.
    object_versions: std::sync::atomic::AtomicBool,
    /// Layer versions published through the proxy (by quickdeploy, not by CloudFormation).
    published_layers: Mutex<std::collections::BTreeSet<String>>,
    /// The template of each stack's last change set, as moto got it (SAM expanded).
    stack_templates: Mutex<HashMap<String, serde_json::Value>>,
    /// Plain CloudFormation templates as submitted, by stack, where moto got them changed
    /// (`keep_submitted`): GetTemplate answers them.
    submitted: Mutex<HashMap<String, String>>,
    /// The functions (logical ids) the proxy gave layers to, by stack ([`function_layers`]).
    layered: Mutex<HashMap<String, std::collections::BTreeSet<String>>>,
    /// The physical id last given to each (stack, layer logical id).
    stack_layers: Mutex<HashMap<(String, String), String>>,
    /// Invokes whose event has encoded changes are refused as a patcher older than them
    /// refuses them ([`S3Proxy::old_patcher`]); how many were.
    old_patcher: std::sync::atomic::AtomicBool,
    refused_invokes: AtomicUsize,
}

impl S3Proxy {
    /// Holds the next `writers` object writes (PutObject, CompleteMultipartUpload) to keys
    /// containing `part` until all of them arrived (or 20 s passed), then lets them through
    /// one at a time in arrival order: writers that read the same object before writing
    /// really race on the write. Other writes pass as usual.
    pub fn race_key(&self, part: &str, writers: usize) {
        self.shared.extras.key_arrived.store(0, Ordering::SeqCst);
        if let Ok(mut k) = self.shared.extras.race_key.lock() {
            *k = Some((part.to_owned(), writers));
        }
    }

    /// From now on Lambda functions have RevisionIds, as on AWS (moto's have none):
    /// GetFunctionConfiguration and UpdateFunctionCode answers carry one, derived from the
    /// function's CodeSha256 and LastModified as moto has them (so an update made straight at
    /// moto changes it too), and an UpdateFunctionCode whose RevisionId is not the current one
    /// is answered 412 PreconditionFailedException, as Lambda answers it, checked and
    /// forwarded as one step.
    pub fn lambda_revisions(&self) {
        self.shared.extras.revisions.store(true, Ordering::SeqCst);
    }

    /// From now on, in front of a patcher's Invoke API: an invoke whose event has encoded
    /// changes (`"encoding"`), a manifest to keep (`"manifest"`), a stack guard (`"stack"`) or
    /// is a deploy's record (`"record"`) is answered as a zipedit patcher older than them
    /// answers it, a BadEvent
    /// function error, and not forwarded; the rest pass.
    pub fn old_patcher(&self) {
        self.shared.extras.old_patcher.store(true, Ordering::SeqCst);
    }

    /// Invokes refused by [`S3Proxy::old_patcher`] so far.
    pub fn refused_invokes(&self) -> usize {
        self.shared.extras.refused_invokes.load(Ordering::SeqCst)
    }
}

/// [`S3Proxy::old_patcher`]'s answer to an invoke with encoded changes, if this is one.
fn as_old_patcher(p: &Shared, call: &Option<(String, String)>, body: &[u8]) -> Option<Response> {
    let (_, op) = call.as_ref()?;
    if !p.extras.old_patcher.load(Ordering::SeqCst) || op != "invocations" {
        return None;
    }
    // What the patcher's serde (deny_unknown_fields) said before these fields existed.
    let event: serde_json::Value = serde_json::from_slice(body).ok()?;
    let encoded = event["changes"]
        .as_object()
        .is_some_and(|c| c.values().any(|v| v.get("encoding").is_some()));
    let message = if event.get("stack").is_some() {
        "bad event: unknown field `stack`, expected one of `src`, `changes`, `deletes`, `mode`, `max_dead_ratio`, `expected_etag`, `expected_version`, `manifest`; see the zipedit README for the schema"
    } else if encoded {
        "bad event: data did not match any variant of untagged enum Content; see the zipedit README for the schema"
    } else if event.get("manifest").is_some() {
        "bad event: unknown field `manifest`, expected one of `src`, `changes`, `deletes`, `mode`, `max_dead_ratio`, `expected_etag`, `expected_version`; see the zipedit README for the schema"
    } else if event.get("record").is_some() {
        "bad event: unknown field `record`, expected one of `src`, `changes`, `deletes`, `mode`, `max_dead_ratio`, `expected_etag`, `expected_version`, `manifest`; see the zipedit README for the schema"
    } else {
        return None;
    };
    p.extras.refused_invokes.fetch_add(1, Ordering::SeqCst);
    let body = serde_json::json!({
        "errorType": "BadEvent",
        "errorMessage": message,
    });
    Some(
        (
            StatusCode::OK,
            [
                ("x-amz-function-error", "Unhandled"),
                ("content-type", "application/json"),
            ],
            body.to_string(),
        )
            .into_response(),
    )
}

/// The turn of an object write to a raced key ([`S3Proxy::race_key`]), once every racer
/// arrived.
async fn keyed_race<'a>(
    p: &'a Shared,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
) -> Option<tokio::sync::MutexGuard<'a, ()>> {
    let (part, hold) = p.extras.race_key.lock().ok()?.clone()?;
    if !object_write(method, path, query, headers) || !path.contains(&part) {
        return None;
    }
    // Made before counting, so the last racer's notify_waiters cannot be missed.
    let all_here = p.extras.key_all_here.notified();
    let n = p.extras.key_arrived.fetch_add(1, Ordering::SeqCst) + 1;
    if n >= hold {
        p.extras.key_all_here.notify_waiters();
    } else {
        let _ = tokio::time::timeout(Duration::from_secs(20), all_here).await;
    }
    Some(p.extras.key_turn.lock().await)
}

/// CopyObject's `If-Match`, the ETag the destination must still have (S3 copies only then;
/// moto ignores it). Not with `x-amz-copy-source-if-match`, which `check_conditions` guards.
fn copy_if_match(method: &Method, query: &str, headers: &HeaderMap) -> Option<String> {
    let copy = *method == Method::PUT
        && !query.contains("partNumber")
        && headers.contains_key("x-amz-copy-source")
        && !headers.contains_key("x-amz-copy-source-if-match");
    if !copy {
        return None;
    }
    let want = headers.get("if-match")?.to_str().ok()?;
    Some(want.trim_matches('"').to_owned())
}

/// A copy with `If-Match` checked and done as one step (the lock held until it is answered);
/// 412 when the destination's ETag moved.
async fn copy_turn<'a>(
    p: &'a Shared,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
) -> Result<Option<tokio::sync::MutexGuard<'a, ()>>, Response> {
    let Some(want) = copy_if_match(method, query, headers) else {
        return Ok(None);
    };
    let turn = p.conditional.lock().await;
    if current_etag(p, path, headers).await.as_deref() != Some(want.as_str()) {
        p.refused_writes.fetch_add(1, Ordering::SeqCst);
        return Err(precondition_failed("If-Match"));
    }
    Ok(Some(turn))
}

/// A function's RevisionId as the proxy gives it: from its CodeSha256 and LastModified.
fn revision_of(config: &serde_json::Value) -> String {
    use sha2::Digest as _;
    let text = format!(
        "{}|{}",
        config["CodeSha256"].as_str().unwrap_or_default(),
        config["LastModified"].as_str().unwrap_or_default()
    );
    let hex: String = sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// An UpdateFunctionCode's RevisionId check ([`S3Proxy::lambda_revisions`]): the turn to
/// hold until it is answered, or the 412 to answer.
async fn revision_turn<'a>(
    p: &'a Shared,
    method: &Method,
    call: &Option<(String, String)>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Option<tokio::sync::MutexGuard<'a, ()>>, Response> {
    let Some((function, op)) = call else {
        return Ok(None);
    };
    if !p.extras.revisions.load(Ordering::SeqCst) || *method != Method::PUT || op != "code" {
        return Ok(None);
    }
    let turn = p.extras.code_updates.lock().await;
    let asked = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|d| d["RevisionId"].as_str().map(str::to_owned));
    let Some(asked) = asked else {
        return Ok(Some(turn));
    };
    let mut get = p.client.get(format!(
        "{}/2015-03-31/functions/{function}/configuration",
        p.upstream
    ));
    if let Some(auth) = headers.get("authorization") {
        get = get.header("authorization", auth);
    }
    let now = match get.send().await {
        Ok(r) => r.bytes().await.ok(),
        Err(_) => None,
    }
    .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
    .map(|doc| revision_of(&doc));
    if now.as_deref() != Some(asked.as_str()) {
        log(
            p,
            format!("PUT {function}/code -> 412 PreconditionFailedException"),
        );
        return Err(lambda_error(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailedException",
            "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
        ));
    }
    Ok(Some(turn))
}

/// A GetFunction, GetFunctionConfiguration or UpdateFunctionCode answer with its RevisionId, when the
/// proxy gives them ([`S3Proxy::lambda_revisions`]).
fn with_revision(
    p: &Shared,
    method: &Method,
    call: &Option<(String, String)>,
    status: StatusCode,
    body: &[u8],
) -> Option<Bytes> {
    let (_, op) = call.as_ref()?;
    let answer = (*method == Method::GET && (op == "configuration" || op.is_empty()))
        || (*method == Method::PUT && op == "code");
    if !p.extras.revisions.load(Ordering::SeqCst) || !status.is_success() || !answer {
        return None;
    }
    let mut doc: serde_json::Value = serde_json::from_slice(body).ok()?;
    let config = if op.is_empty() {
        &mut doc["Configuration"]
    } else {
        &mut doc
    };
    config["RevisionId"] = revision_of(config).into();
    serde_json::to_vec(&doc).ok().map(Bytes::from)
}

impl S3Proxy {
    /// From now on UpdateFunctionCode honours S3ObjectVersion, as Lambda does (moto reads the
    /// key's current version whatever version is named): the proxy reads the named version
    /// from moto and sends its bytes as ZipFile instead; a version that does not exist is
    /// answered 400 InvalidParameterValueException, as Lambda answers it.
    pub fn lambda_object_versions(&self) {
        self.shared
            .extras
            .object_versions
            .store(true, Ordering::SeqCst);
    }
}

/// The body of an UpdateFunctionCode that names an S3ObjectVersion, rewritten to carry that
/// version's bytes ([`S3Proxy::lambda_object_versions`]); `Ok(None)` to forward it as it is.
async fn versioned_code(
    p: &Shared,
    method: &Method,
    call: &Option<(String, String)>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Option<Bytes>, Response> {
    use base64::Engine as _;
    let is_update = matches!(call, Some((_, op)) if op == "code") && *method == Method::PUT;
    if !is_update || !p.extras.object_versions.load(Ordering::SeqCst) {
        return Ok(None);
    }
    let Ok(mut doc) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Ok(None);
    };
    let (Some(bucket), Some(key), Some(version)) = (
        doc["S3Bucket"].as_str(),
        doc["S3Key"].as_str(),
        doc["S3ObjectVersion"].as_str(),
    ) else {
        return Ok(None);
    };
    let encode = |s: &str| -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    let mut get = p.client.get(format!(
        "{}/{bucket}/{}?versionId={}",
        p.upstream,
        encode(key),
        encode(version)
    ));
    // moto picks the service by the signature's scope: the caller signed for Lambda.
    if let Some(auth) = headers.get("authorization").and_then(|a| a.to_str().ok()) {
        get = get.header(
            "authorization",
            auth.replace("/lambda/aws4_request", "/s3/aws4_request"),
        );
    }
    let bytes = match get.send().await {
        Ok(r) if r.status().is_success() => r.bytes().await.ok(),
        _ => None,
    };
    let Some(bytes) = bytes else {
        return Err(lambda_error(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            "Error occurred while GetObject. S3 Error Code: NoSuchVersion. S3 Error Message: The specified version does not exist.",
        ));
    };
    if let Some(o) = doc.as_object_mut() {
        o.remove("S3Bucket");
        o.remove("S3Key");
        o.remove("S3ObjectVersion");
        o.insert(
            "ZipFile".into(),
            base64::engine::general_purpose::STANDARD
                .encode(&bytes)
                .into(),
        );
    }
    Ok(serde_json::to_vec(&doc).ok().map(Bytes::from))
}

// --- Change sets per stack, as CloudFormation keeps them (the CDK's deploys need it). ---

/// The change-set calls that name one change set, by name (with its StackName) or by ARN.
const CHANGE_SET_ACTIONS: [&str; 3] = ["DescribeChangeSet", "ExecuteChangeSet", "DeleteChangeSet"];

/// A change-set call as CloudFormation answers it, where moto does not.
///
/// CloudFormation keeps change sets per stack: `cdk-deploy-change-set` of QdCdkApi and that of
/// QdCdkJobs are two change sets, and one that does not exist is `ChangeSetNotFound` (404).
/// moto 5.2.5 keeps one list for the region and looks a name up in it ignoring StackName
/// (moto/cloudformation/models.py `describe_change_set`, `execute_change_set`,
/// `delete_change_set`), and answers a missing one with ValidationError "Stack with id ...
/// does not exist". The CDK deletes its old change set before each deploy of a stack that
/// exists, then polls DescribeChangeSet until it is gone (ChangeSetNotFoundException): against
/// moto that poll either throws (ValidationError) or, when another stack has a change set of
/// the same name, never ends (seen: `cdk deploy` of two stacks hung for 10 minutes). So:
/// - Describe, Execute and Delete by name go to moto by the ARN of *that stack's* change set
///   (`Ok(Some(body))`); by ARN they go as they are when moto has it;
/// - a change set the stack does not have is answered here (`Err`): Describe and Execute with
///   404 ChangeSetNotFound, Delete with success, as CloudFormation does for a stack that exists
///   (the CDK relies on it);
/// - ListChangeSets is answered with the stack's change sets only (moto lists all).
///
/// `Ok(None)`: any other call, forwarded as it is.
async fn change_set_of_stack(
    p: &Shared,
    action: Option<&str>,
    text: &str,
    auth: &str,
) -> Result<Option<Bytes>, Response> {
    let Some(action) = action.filter(|a| CHANGE_SET_ACTIONS.contains(a) || *a == "ListChangeSets")
    else {
        return Ok(None);
    };
    let mut pairs = crate::sam::form_decode(text);
    let param = |pairs: &[(String, String)], name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let stack = param(&pairs, "StackName");
    // moto ignores StackName here and lists every stack's change sets, of the account and
    // region the request is signed for (its authorization, passed on: targets in other
    // regions and accounts have their own).
    let listed = cfn_query(
        p,
        "Action=ListChangeSets&Version=2010-05-15&StackName=any",
        auth,
    )
    .await;
    let Some(listed) = listed else {
        return Ok(None);
    };
    let summaries = change_set_summaries(&listed);
    if action == "ListChangeSets" {
        let Some(stack) = stack else {
            return Ok(None);
        };
        return Err(xml_answer(
            StatusCode::OK,
            list_change_sets_answer(&listed, &summaries, &stack),
        ));
    }
    let Some(named) = param(&pairs, "ChangeSetName") else {
        return Ok(None);
    };
    let found = summaries.iter().find(|s| {
        if named.starts_with("arn:") {
            s.id == named
        } else {
            s.name == named && stack.as_deref().is_some_and(|st| s.of_stack(st))
        }
    });
    match (found, action) {
        (Some(s), _) => {
            if let Some((_, v)) = pairs.iter_mut().find(|(k, _)| k == "ChangeSetName") {
                v.clone_from(&s.id);
            }
            Ok(Some(Bytes::from(crate::sam::form_encode(&pairs))))
        }
        (None, "DeleteChangeSet") => Err(xml_answer(
            StatusCode::OK,
            "<DeleteChangeSetResponse xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\">\
             <DeleteChangeSetResult/><ResponseMetadata><RequestId>qd-proxy</RequestId>\
             </ResponseMetadata></DeleteChangeSetResponse>"
                .to_owned(),
        )),
        (None, _) => Err(xml_answer(
            StatusCode::NOT_FOUND,
            format!(
                "<ErrorResponse xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\">\
                 <Error><Type>Sender</Type><Code>ChangeSetNotFound</Code>\
                 <Message>ChangeSet [{}] does not exist</Message></Error>\
                 <RequestId>qd-proxy</RequestId></ErrorResponse>",
                xml_escape(&named)
            ),
        )),
    }
}

/// A CreateChangeSet, CreateStack or UpdateStack body (its template in `TemplateBody`) in
/// which each parameter of an SSM type (`AWS::SSM::Parameter::Value<…>`) given as
/// `UsePreviousValue` carries that previous value instead: the parameter's name in SSM, last
/// submitted for this stack through the proxy, else the template's Default. `None` when there
/// is none to change. Every value submitted is noted for the next call.
///
/// CloudFormation resolves such a parameter from SSM again on each update. moto 5.2.5 keeps
/// the resolved value as the previous one and looks *it* up in SSM on the next update, finds
/// no parameter named `34`, and raises in ExecuteChangeSet (`'NoneType' object has no attribute
/// 'value'`, moto/cloudformation/parsing.py `parse_ssm_parameter`): a 500. Every CDK stack has
/// one (`BootstrapVersion`, default `/cdk-bootstrap/hnb659fds/version`), and the CDK updates a
/// stack with `UsePreviousValue`, so the second `cdk deploy` of any stack failed.
fn previous_ssm_values(p: &Shared, text: &str) -> Option<Bytes> {
    let mut known = p.stack_parameters.lock().ok()?;
    fill_previous_ssm_values(&mut known, text).map(Bytes::from)
}

/// [`previous_ssm_values`] with the values last submitted (by stack and key) at hand.
fn fill_previous_ssm_values(
    known: &mut HashMap<(String, String), String>,
    text: &str,
) -> Option<String> {
    let mut pairs = crate::sam::form_decode(text);
    let get = |pairs: &[(String, String)], name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let stack = get(&pairs, "StackName")?;
    let template = get(&pairs, "TemplateBody")
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .unwrap_or_default();
    let members: Vec<String> = pairs
        .iter()
        .filter_map(|(k, _)| {
            let rest = k.strip_prefix("Parameters.member.")?;
            rest.strip_suffix(".ParameterKey").map(str::to_owned)
        })
        .collect();
    let mut changed = false;
    for n in members {
        let field = |f: &str| format!("Parameters.member.{n}.{f}");
        let Some(key) = get(&pairs, &field("ParameterKey")) else {
            continue;
        };
        let slot = &template["Parameters"][&key];
        let ssm = slot["Type"]
            .as_str()
            .is_some_and(|t| t.starts_with("AWS::SSM::Parameter::Value"));
        let previous = get(&pairs, &field("UsePreviousValue")).is_some_and(|v| v == "true");
        if previous && ssm {
            let value = known
                .get(&(stack.clone(), key.clone()))
                .cloned()
                .or_else(|| slot["Default"].as_str().map(str::to_owned));
            if let Some(value) = value {
                pairs.retain(|(k, _)| *k != field("UsePreviousValue"));
                pairs.push((field("ParameterValue"), value));
                changed = true;
            }
        }
        if let Some(value) = get(&pairs, &field("ParameterValue")) {
            known.insert((stack.clone(), key), value);
        }
    }
    changed.then(|| crate::sam::form_encode(&pairs))
}

/// One member of a ListChangeSets answer.
#[derive(Debug, PartialEq)]
struct ChangeSetSummary {
    /// The member's XML, as moto wrote it.
    xml: String,
    name: String,
    id: String,
    stack_name: String,
    stack_id: String,
}

impl ChangeSetSummary {
    /// Whether it belongs to `stack`, a stack's name or its ARN.
    fn of_stack(&self, stack: &str) -> bool {
        self.stack_name == stack || self.stack_id == stack
    }
}

/// The members of a ListChangeSets answer.
fn change_set_summaries(xml: &str) -> Vec<ChangeSetSummary> {
    let tag = |member: &str, name: &str| -> String {
        let open = format!("<{name}>");
        let Some(start) = member.find(&open).map(|i| i + open.len()) else {
            return String::new();
        };
        let end = member[start..]
            .find(&format!("</{name}>"))
            .map_or(start, |i| i + start);
        member[start..end].to_owned()
    };
    let Some(from) = xml.find("<Summaries>") else {
        return Vec::new();
    };
    let to = xml.find("</Summaries>").unwrap_or(xml.len());
    xml[from..to.max(from)]
        .split("<member>")
        .skip(1)
        .filter_map(|m| {
            let member = m.split("</member>").next()?;
            Some(ChangeSetSummary {
                xml: format!("<member>{member}</member>"),
                name: tag(member, "ChangeSetName"),
                id: tag(member, "ChangeSetId"),
                stack_name: tag(member, "StackName"),
                stack_id: tag(member, "StackId"),
            })
        })
        .collect()
}

/// moto's ListChangeSets answer with the members of `stack` only.
fn list_change_sets_answer(xml: &str, summaries: &[ChangeSetSummary], stack: &str) -> String {
    let (Some(from), Some(to)) = (xml.find("<Summaries>"), xml.find("</Summaries>")) else {
        return xml.to_owned();
    };
    let kept: String = summaries
        .iter()
        .filter(|s| s.of_stack(stack))
        .map(|s| s.xml.as_str())
        .collect();
    format!("{}<Summaries>{kept}{}", &xml[..from], &xml[to..])
}

/// `&`, `<`, `>` and quotes escaped for XML text.
fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An XML answer of CloudFormation's query protocol.
fn xml_answer(status: StatusCode, body: String) -> Response {
    (status, [("content-type", "text/xml")], body).into_response()
}

/// A CloudFormation query-protocol call of the proxy's own at moto; its answer's text.
async fn cfn_query(p: &Shared, form: &str, auth: &str) -> Option<String> {
    let default = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/cloudformation/aws4_request, SignedHeaders=host, Signature=0";
    p.client
        .post(format!("{}/", p.upstream))
        .header(
            "authorization",
            if auth.is_empty() { default } else { auth },
        )
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_owned())
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_since_1970_are_civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(20_794), (2026, 12, 7));
    }

    fn body(template: &serde_json::Value) -> Vec<u8> {
        crate::sam::form_encode(&[
            ("Action".into(), "CreateChangeSet".into()),
            ("StackName".into(), "s".into()),
            ("TemplateBody".into(), template.to_string()),
        ])
        .into_bytes()
    }

    fn template_of(body: &[u8]) -> serde_json::Value {
        let pairs = crate::sam::form_decode(std::str::from_utf8(body).expect("utf-8"));
        let t = &pairs
            .iter()
            .find(|(k, _)| k == "TemplateBody")
            .expect("body")
            .1;
        serde_json::from_str(t).expect("json")
    }

    #[test]
    fn moto_gets_no_layers_the_proxy_gives_and_keeps_those_it_resolves_itself() {
        let t = serde_json::json!({"Resources": {
            "Lay": {"Type": "AWS::Lambda::LayerVersion", "Properties": {}},
            "Same": {"Type": "AWS::Lambda::Function",
                     "Properties": {"MemorySize": 256, "Layers": [{"Ref": "Lay"}, "arn:aws:lambda:us-east-1:1:layer:x:1"]}},
            "Param": {"Type": "AWS::Lambda::Function",
                      "Properties": {"Layers": [{"Ref": "LayerParam"}]}},
            "None": {"Type": "AWS::Lambda::Function", "Properties": {}}
        }});
        let out = template_of(&without_function_layers(&body(&t)).expect("rewritten"));
        let r = &out["Resources"];
        assert!(r["Same"]["Properties"]["Layers"].is_null(), "{out}");
        assert_eq!(r["Same"]["Properties"]["MemorySize"], 256);
        assert_eq!(
            r["Param"]["Properties"]["Layers"],
            t["Resources"]["Param"]["Properties"]["Layers"]
        );
        // Nothing to take out: the body goes as it was.
        let plain = serde_json::json!({"Resources": {"None": t["Resources"]["None"].clone()}});
        assert!(without_function_layers(&body(&plain)).is_none());
    }

    #[test]
    fn change_sets_are_told_apart_by_stack_and_listed_per_stack() {
        let member = |stack: &str, name: &str, n: u8| {
            format!(
                "<member><StackId>arn:aws:cloudformation:us-east-1:1:stack/{stack}/u{n}</StackId>\
                 <StackName>{stack}</StackName>\
                 <ChangeSetId>arn:aws:cloudformation:us-east-1:1:changeSet/{name}/c{n}</ChangeSetId>\
                 <ChangeSetName>{name}</ChangeSetName><Status>CREATE_COMPLETE</Status></member>"
            )
        };
        let xml = format!(
            "<ListChangeSetsResponse><ListChangeSetsResult><Summaries>{}{}</Summaries>\
             </ListChangeSetsResult></ListChangeSetsResponse>",
            member("Api", "cdk-deploy-change-set", 1),
            member("Jobs", "cdk-deploy-change-set", 2)
        );
        let all = change_set_summaries(&xml);
        assert_eq!(all.len(), 2, "{all:?}");
        assert_eq!(all[1].stack_name, "Jobs");
        assert_eq!(
            all[1].id,
            "arn:aws:cloudformation:us-east-1:1:changeSet/cdk-deploy-change-set/c2"
        );
        assert!(all[0].of_stack("arn:aws:cloudformation:us-east-1:1:stack/Api/u1"));
        assert!(!all[0].of_stack("Jobs"));
        let jobs = list_change_sets_answer(&xml, &all, "Jobs");
        assert!(
            jobs.contains("/c2</ChangeSetId>") && !jobs.contains("/c1<"),
            "{jobs}"
        );
        assert!(jobs.ends_with("</ListChangeSetsResult></ListChangeSetsResponse>"));
        assert!(change_set_summaries("<ListChangeSetsResponse/>").is_empty());
    }

    #[test]
    fn an_ssm_parameter_kept_from_before_is_its_name_in_ssm_not_its_value() {
        let template = serde_json::json!({"Parameters": {
            "BootstrapVersion": {"Type": "AWS::SSM::Parameter::Value<String>",
                                 "Default": "/cdk-bootstrap/hnb659fds/version"},
            "Plain": {"Type": "String", "Default": "x"}
        }});
        let form = |params: &[(&str, &str)]| {
            let mut pairs = vec![
                ("Action".to_owned(), "CreateChangeSet".to_owned()),
                ("StackName".to_owned(), "QdCdkApi".to_owned()),
                ("TemplateBody".to_owned(), template.to_string()),
            ];
            pairs.extend(
                params
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
            );
            crate::sam::form_encode(&pairs)
        };
        let value_of = |text: &str| {
            crate::sam::form_decode(text)
                .into_iter()
                .find(|(k, _)| k == "Parameters.member.1.ParameterValue")
                .map(|(_, v)| v)
        };
        let mut known = HashMap::new();
        let previous = [
            ("Parameters.member.1.ParameterKey", "BootstrapVersion"),
            ("Parameters.member.1.UsePreviousValue", "true"),
        ];
        // Nothing submitted before: the template's default, the parameter's name.
        let out = fill_previous_ssm_values(&mut known, &form(&previous)).expect("rewritten");
        assert_eq!(
            value_of(&out).as_deref(),
            Some("/cdk-bootstrap/hnb659fds/version")
        );
        assert!(!out.contains("UsePreviousValue"), "{out}");
        // A name given before is the previous value.
        let given = [
            ("Parameters.member.1.ParameterKey", "BootstrapVersion"),
            ("Parameters.member.1.ParameterValue", "/custom/version"),
        ];
        assert!(fill_previous_ssm_values(&mut known, &form(&given)).is_none());
        let out = fill_previous_ssm_values(&mut known, &form(&previous)).expect("rewritten");
        assert_eq!(value_of(&out).as_deref(), Some("/custom/version"));
        // A parameter of another type keeps UsePreviousValue.
        let plain = [
            ("Parameters.member.1.ParameterKey", "Plain"),
            ("Parameters.member.1.UsePreviousValue", "true"),
        ];
        assert!(fill_previous_ssm_values(&mut known, &form(&plain)).is_none());
    }
}
