//! A fault-injecting S3 proxy in front of moto, for what moto cannot show by itself.
//!
//! - Racing writers: object writes (PutObject, CompleteMultipartUpload) are held until `hold`
//!   of them have arrived, then forwarded one at a time in arrival order. Two patches that read
//!   the same artifact then really race on the write, every time, not by luck of timing.
//! - `If-Match` on CompleteMultipartUpload: moto ignores it; the proxy enforces it as S3 does,
//!   answering 412 PreconditionFailed when the object's ETag is no longer the one given.
//!
//! Everything else passes through untouched.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
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
        });
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

async fn forward(State(p): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body: Bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or_default().to_owned();
    let hold = p.hold.load(Ordering::SeqCst);
    let write = hold > 0 && object_write(&parts.method, &path, &query, &parts.headers);
    let _turn = if write {
        let n = p.arrived.fetch_add(1, Ordering::SeqCst) + 1;
        if n >= hold {
            p.all_here.notify_waiters();
        } else {
            let wait = p.all_here.notified();
            // A lone writer is not held forever: the race it waited for did not come.
            let _ = tokio::time::timeout(Duration::from_secs(10), wait).await;
        }
        Some(p.one_at_a_time.lock().await)
    } else {
        None
    };
    if is_complete(&parts.method, &query) {
        if let Some(want) = parts.headers.get("if-match").and_then(|v| v.to_str().ok()) {
            // moto wants to know who asks (it does not check the signature).
            let mut head = p.client.head(format!("{}{path}", p.upstream));
            if let Some(auth) = parts.headers.get("authorization") {
                head = head.header("authorization", auth);
            }
            let head = head.send().await;
            let current = head.ok().and_then(|r| {
                r.headers()
                    .get("etag")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            });
            if current.as_deref().map(|e| e.trim_matches('"')) != Some(want.trim_matches('"')) {
                let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>PreconditionFailed</Code>\
                           <Message>At least one of the pre-conditions you specified did not hold</Message>\
                           <Condition>If-Match</Condition></Error>";
                return (
                    StatusCode::PRECONDITION_FAILED,
                    [("content-type", "application/xml")],
                    xml,
                )
                    .into_response();
            }
        }
    }
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
        if k != "host" {
            out = out.header(k, v);
        }
    }
    match out.send().await {
        Ok(r) => {
            let status = r.status();
            let headers = r.headers().clone();
            let bytes = r.bytes().await.unwrap_or_default();
            let mut resp = Response::new(Body::from(bytes));
            *resp.status_mut() = status;
            *resp.headers_mut() = headers;
            resp
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}
