//! `bootstrap` on the rig when S3 will not say whether the patcher's code is there.
//!
//! moto answers HeadObject 404 or 200 and nothing else, so a small proxy in front of it (S3
//! only, through `AWS_ENDPOINT_URL_S3`) answers HeadObject on the patcher's code with 403, as
//! S3 does for credentials without s3:GetObject, or without s3:ListBucket when the object is
//! missing. Only a not-found may be taken for "not there, upload": a 403 must stop bootstrap
//! naming the call, the object and the fix, with nothing uploaded and no stack made.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use testkit::app::Rig;

/// Where bootstrap puts the patcher's code.
const CODE_PREFIX: &str = "quickdeploy/patcher/";
const BUCKET: &str = "head-denied-artifacts";

struct Deny {
    upstream: String,
    client: reqwest::Client,
    /// Answer HeadObject on the code with 403 (else forward it).
    deny_head: AtomicBool,
    /// `METHOD path` of every request on the code's keys, in order.
    seen: Mutex<Vec<String>>,
}

async fn forward(State(p): State<Arc<Deny>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    if path.contains(CODE_PREFIX)
        && let Ok(mut seen) = p.seen.lock()
    {
        seen.push(format!("{} {path}", parts.method));
    }
    if parts.method == Method::HEAD
        && path.contains(CODE_PREFIX)
        && p.deny_head.load(Ordering::SeqCst)
    {
        // What S3 sends a HEAD it refuses: a status, and no body to say more.
        return StatusCode::FORBIDDEN.into_response();
    }
    let body: Bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let url = format!(
        "{}{}",
        p.upstream,
        parts.uri.path_and_query().map_or("/", |x| x.as_str())
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
            let mut resp = Response::new(Body::from(r.bytes().await.unwrap_or_default()));
            *resp.status_mut() = status;
            *resp.headers_mut() = headers;
            resp
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

/// Starts the proxy in front of `upstream`; its endpoint and its state.
async fn start(upstream: &str) -> (String, Arc<Deny>) {
    let state = Arc::new(Deny {
        upstream: upstream.trim_end_matches('/').to_owned(),
        client: reqwest::Client::new(),
        deny_head: AtomicBool::new(true),
        seen: Mutex::new(Vec::new()),
    });
    let app = axum::Router::new()
        .fallback(forward)
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://localhost:{port}"), state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_head_object_stops_bootstrap_without_uploading() {
    let rig = Rig::start().await;
    let app = &rig.app;
    let (endpoint, proxy) = start(&rig.moto.endpoint()).await;
    let binary = testkit::bin("zipedit");
    let args = [
        "bootstrap",
        "--binary",
        binary.to_str().expect("utf-8 path"),
        "--arch",
        "x86_64",
        "--bucket",
        BUCKET,
        "--json",
    ];
    let run = || {
        let mut cmd = app.command(&args);
        cmd.env("AWS_ENDPOINT_URL_S3", &endpoint);
        tokio::task::spawn_blocking(move || cmd.output().expect("run quickdeploy"))
    };

    let out = run().await.expect("join");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("error as JSON");
    assert_eq!(doc["ok"], false, "{doc}");
    assert_eq!(doc["error"]["type"], "BootstrapFailed", "{doc}");
    // The call, the object and the fix are named.
    assert!(stderr.contains("s3:HeadObject answered 403"), "{stderr}");
    assert!(
        stderr.contains(&format!("s3://{BUCKET}/{CODE_PREFIX}zipedit-")),
        "{stderr}"
    );
    assert!(
        stderr.contains("s3:GetObject") && stderr.contains("s3:ListBucket"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was uploaded"), "{stderr}");
    // Asked once, and nothing written: no PutObject, no object, no stack.
    let seen = proxy.seen.lock().expect("log").clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].starts_with("HEAD "), "{seen:?}");
    assert_eq!(app.keys(BUCKET, CODE_PREFIX).await, Vec::<String>::new());
    assert!(
        app.cfn
            .describe_stacks()
            .stack_name("quickdeploy-zipedit")
            .send()
            .await
            .is_err(),
        "no patcher stack was made"
    );

    // The same run through the same proxy, HeadObject answered by moto (404): uploaded.
    proxy.deny_head.store(false, Ordering::SeqCst);
    let out = run().await.expect("join");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report");
    assert_eq!(doc["code_uploaded"], true, "{doc}");
    assert_eq!(doc["outcome"], "created", "{doc}");
    let seen = proxy.seen.lock().expect("log").clone();
    assert!(
        seen.iter().any(|s| s.starts_with("PUT ")),
        "uploaded through the proxy: {seen:?}"
    );
}
