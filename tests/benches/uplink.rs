//! A slow uplink: `quickdeploy deploy` vs `sam sync --code` for a one-line change in a 30 MB
//! function, both tools behind a 20 Mbit/s link with about 40 ms of round trip.
//!
//! Everything runs in a network namespace of its own (`ip netns add`, as root), on that
//! namespace's loopback only: the bench re-runs itself inside it. The link: this kernel has no
//! `netem`, so the rate is an HTB class on the namespace's `lo` (20 Mbit/s each way, for packets
//! to and from the relays' ports only) and the delay is the relays': every byte is forwarded
//! 20 ms after it arrived, each way. The tools talk to AWS (the counting proxy in front of moto)
//! and to the patcher's Invoke API through the relays; the patcher's own S3 traffic does not
//! cross the link (on AWS the patcher runs next to S3), but goes through a counting forwarder
//! so its round trips are counted and reported.
//!
//! The app is the side-by-side app (plain CloudFormation) with 30 x 1 MiB of incompressible
//! files in the big function. Each run changes one line of its handler in both copies and runs
//! both tools, alternating which goes first; each is checked by CodeSha256 (quickdeploy's
//! against the patched S3 object, SAM's against the zip SAM's own packager makes of its build
//! folder). Bytes sent are the request bodies the counting proxy saw, plus quickdeploy's
//! Invoke request.
//!
//! Run: `make bench-uplink` (root; installs aws-sam-cli); `BENCH_RUNS` (default 3).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use testkit::bench_app::{
    SAM_SYNC_CODE, SAM_VERSION, SideBySide, bench_runs, code_of, handler, median,
    patched_code_sha256, patcher_request_bytes, require_sam, run_sam, sam_built, sam_warm_up,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The relays' ports: the AWS APIs (the counting proxy), and the patcher's Invoke API. The
/// namespace is the bench's own, so they are free; HTB shapes packets to and from them.
const AWS_PORT: u16 = 17001;
const INVOKE_PORT: u16 = 17002;
/// The relay to an echo server that measures the link.
const PROBE_PORT: u16 = 17003;
/// The link: rate each way, and the delay each way (twice this is the round trip).
const RATE: &str = "20mbit";
const ONE_WAY: Duration = Duration::from_millis(20);
/// The big function's data: this many 1 MiB files of incompressible bytes.
const DATA_MIB: u64 = 30;
const NS_ENV: &str = "QD_UPLINK_NETNS";

/// The side-by-side app with 30 MiB of data in the big function.
fn make_app(dir: &Path) {
    testkit::bench_app::make_app_with_data(dir, DATA_MIB);
}

/// Runs `program args`, panicking with its output unless it succeeds.
fn sh(program: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The namespace's link: `lo` up, an HTB root whose default class is unlimited, and one
/// 20 Mbit/s class for packets to the relays (the uplink) and one for packets from them
/// (the downlink), IPv4 and IPv6.
fn shape(ns: &str) {
    let tc = |args: &str| {
        let mut all = vec!["netns", "exec", ns, "tc"];
        all.extend(args.split_whitespace());
        sh("ip", &all);
    };
    sh(
        "ip",
        &["netns", "exec", ns, "ip", "link", "set", "lo", "up"],
    );
    tc("qdisc add dev lo root handle 1: htb default 30");
    // quantum: one MTU-sized packet per round at this rate (the default warns it is too big).
    tc(&format!(
        "class add dev lo parent 1: classid 1:10 htb rate {RATE} ceil {RATE} quantum 1514"
    ));
    tc(&format!(
        "class add dev lo parent 1: classid 1:20 htb rate {RATE} ceil {RATE} quantum 1514"
    ));
    tc("class add dev lo parent 1: classid 1:30 htb rate 100gbit quantum 200000");
    for port in [AWS_PORT, INVOKE_PORT, PROBE_PORT] {
        // One priority per protocol: tc refuses two protocols at one priority.
        for (proto, m, prio) in [("ip", "ip", 1), ("ipv6", "ip6", 2)] {
            tc(&format!(
                "filter add dev lo parent 1: protocol {proto} prio {prio} u32 match {m} dport {port} 0xffff flowid 1:10"
            ));
            tc(&format!(
                "filter add dev lo parent 1: protocol {proto} prio {prio} u32 match {m} sport {port} 0xffff flowid 1:20"
            ));
        }
    }
}

/// Outside the namespace: makes it, shapes its loopback, runs this bench inside it, and
/// removes it whatever happened.
fn run_in_namespace() -> ! {
    // Needs root: without it `ip netns add` fails, saying why.
    let ns = format!("qd-uplink-{}", std::process::id());
    sh("ip", &["netns", "add", &ns]);
    let status = std::panic::catch_unwind(|| {
        shape(&ns);
        let exe = std::env::current_exe().expect("this bench's path");
        let mut cmd = std::process::Command::new("ip");
        cmd.args(["netns", "exec", &ns]).arg(exe);
        cmd.args(std::env::args_os().skip(1)).env(NS_ENV, &ns);
        cmd.status().expect("run the bench in the namespace")
    });
    let _ = std::process::Command::new("ip")
        .args(["netns", "del", &ns])
        .status();
    match status {
        Ok(s) => std::process::exit(s.code().unwrap_or(1)),
        Err(_) => std::process::exit(2),
    }
}

/// A TCP relay on 127.0.0.1:`port` to `upstream` that forwards every byte `ONE_WAY` after it
/// arrived, each way; reads go on meanwhile, so only the delay is added, not a window limit.
async fn relay(port: u16, upstream: String) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind the relay");
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::join!(delayed(cr, sw), delayed(sr, cw));
            });
        }
    });
}

/// Copies `from` to `to`, each chunk written `ONE_WAY` after it was read.
async fn delayed(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let reader = async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = from.read(&mut buf).await {
            if tx
                .send((tokio::time::Instant::now() + ONE_WAY, buf[..n].to_vec()))
                .is_err()
            {
                break;
            }
        }
    };
    let writer = async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}

/// An HTTP forwarder in front of moto for the patcher's S3 calls: counts them.
struct Counter {
    upstream: String,
    client: reqwest::Client,
    requests: AtomicU64,
    log: std::sync::Mutex<Vec<String>>,
}

async fn count_and_forward(State(c): State<Arc<Counter>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(body): Result<Bytes, _> = axum::body::to_bytes(body, usize::MAX).await else {
        return axum::http::StatusCode::BAD_REQUEST.into_response();
    };
    c.requests.fetch_add(1, Ordering::SeqCst);
    let target = parts.uri.path_and_query().map_or("/", |x| x.as_str());
    if let Ok(mut log) = c.log.lock() {
        let range = parts.headers.get("range").map(|r| format!(" range {r:?}"));
        log.push(format!(
            "{} {target}{}",
            parts.method,
            range.unwrap_or_default()
        ));
    }
    let mut out = c
        .client
        .request(parts.method.clone(), format!("{}{target}", c.upstream))
        .body(body);
    for (k, v) in &parts.headers {
        if k != "host" && k != "content-length" {
            out = out.header(k, v);
        }
    }
    let Ok(r) = out.send().await else {
        return axum::http::StatusCode::BAD_GATEWAY.into_response();
    };
    let (status, headers) = (r.status(), r.headers().clone());
    let mut resp = Response::new(axum::body::Body::from(r.bytes().await.unwrap_or_default()));
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    resp
}

/// Starts the counting forwarder to `upstream`: its endpoint and its counter.
async fn counter(upstream: &str) -> (String, Arc<Counter>) {
    let c = Arc::new(Counter {
        upstream: upstream.trim_end_matches('/').to_owned(),
        client: reqwest::Client::new(),
        requests: AtomicU64::new(0),
        log: std::sync::Mutex::new(Vec::new()),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let endpoint = format!(
        "http://localhost:{}",
        listener.local_addr().expect("addr").port()
    );
    let app = axum::Router::new()
        .fallback(count_and_forward)
        .with_state(c.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (endpoint, c)
}

/// `host:port` of an `http://host:port` endpoint, with `localhost` as 127.0.0.1 (the relays
/// speak IPv4).
fn authority(endpoint: &str) -> String {
    endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .replace("localhost", "127.0.0.1")
}

fn main() {
    if std::env::var_os(NS_ENV).is_none() {
        require_sam("bench-uplink");
        run_in_namespace();
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(bench());
}

/// What the timed runs measured, per tool.
#[derive(Default)]
struct Samples {
    ms: Vec<f64>,
    bytes: Vec<f64>,
    patcher_calls: Vec<f64>,
    /// The patcher's own time (its report's total): its S3 calls against moto, off the link.
    patcher_ms: Vec<f64>,
}

/// Inside the namespace: both stacks deployed off the link, the tools then pointed at the
/// relays, one untimed warm-up each, then the runs.
async fn bench() {
    let runs = bench_runs(3);
    let mut rig = SideBySide::deployed_app(true, make_app, "BigFn").await;
    let proxy_endpoint = rig
        .proxy
        .as_ref()
        .expect("the counting proxy")
        .endpoint
        .clone();
    // The patcher the tools use: its S3 calls counted on their way to moto.
    let (s3_endpoint, calls) = counter(&rig.moto.endpoint()).await;
    let patcher = testkit::rig::Patcher::start_named_via(
        &testkit::bin("zipedit"),
        &s3_endpoint,
        &proxy_endpoint,
        1,
        testkit::app::PATCHER,
    )
    .await;
    relay(AWS_PORT, authority(&proxy_endpoint)).await;
    relay(INVOKE_PORT, authority(&patcher.invoke_endpoint)).await;
    let aws = format!("http://127.0.0.1:{AWS_PORT}");
    rig.qd.endpoint = aws.clone();
    rig.sam.endpoint = aws;
    rig.qd.patcher_endpoint = format!("http://127.0.0.1:{INVOKE_PORT}");
    echo_relay().await;
    eprintln!("link: {}", probe().await);

    rig.sam.write("src/big/handler.py", &handler("warm-up"));
    let ms = sam_warm_up(&rig, &[]);
    eprintln!("sam sync warm-up: {ms:.0} ms");
    rig.qd.write("src/big/handler.py", &handler("warm-up"));
    let (out, doc) = rig.qd.run_json(&["deploy"]).await;
    assert!(out.status.success(), "quickdeploy warm-up: {doc}");

    let (mut qd, mut sam) = (Samples::default(), Samples::default());
    for run in 0..runs {
        let marker = format!("run-{run}-{}", std::process::id());
        for first in [run % 2 == 0, run % 2 != 0] {
            match first {
                true => quickdeploy_run(&rig, &calls, &marker, &mut qd).await,
                false => sam_run(&rig, &marker, &mut sam).await,
            }
        }
    }
    print_table(runs, &mut qd, &mut sam);
    if let Ok(log) = calls.log.lock() {
        eprintln!("the patcher's S3 calls, all runs: {log:#?}");
    }
    eprintln!("{}", sh("tc", &["-s", "class", "show", "dev", "lo"]));
}

/// An echo server, and a relay to it on `PROBE_PORT`: the link measured without a server's
/// own time in it.
async fn echo_relay() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.into_split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    relay(PROBE_PORT, addr).await;
}

/// The link as measured through the echo relay: one byte's round trip, and 2 MiB sent while
/// their echo is read back (both ways shaped, pipelined).
async fn probe() -> String {
    let s = tokio::net::TcpStream::connect(("127.0.0.1", PROBE_PORT))
        .await
        .expect("connect");
    let _ = s.set_nodelay(true);
    let (mut r, mut w) = s.into_split();
    let mut one = [0u8; 1];
    let t = Instant::now();
    w.write_all(b"x").await.expect("write");
    r.read_exact(&mut one).await.expect("echo");
    let rtt = t.elapsed().as_secs_f64();
    let len = 2usize << 20;
    let t = Instant::now();
    let send = async {
        w.write_all(&vec![b'x'; len]).await.expect("write");
    };
    let receive = async {
        let mut back = vec![0u8; len];
        r.read_exact(&mut back).await.expect("echo");
    };
    tokio::join!(send, receive);
    let secs = t.elapsed().as_secs_f64();
    format!(
        "one byte's round trip {:.0} ms; 2 MiB through in {secs:.2} s = {:.1} Mbit/s",
        rtt * 1e3,
        len as f64 * 8.0 / secs / 1e6
    )
}

async fn quickdeploy_run(rig: &SideBySide, calls: &Counter, marker: &str, s: &mut Samples) {
    let (qd, proxy) = (&rig.qd, rig.proxy.as_ref().expect("proxy"));
    qd.write("src/big/handler.py", &handler(marker));
    let before = code_of(qd, &rig.qd_big).await;
    proxy.take_sent_bytes();
    let patcher_before = calls.requests.load(Ordering::SeqCst);
    let t = Instant::now();
    let (out, doc) = qd.run_json(&["deploy"]).await;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let sent = proxy.take_sent_bytes() + patcher_request_bytes(&doc);
    let patcher_calls = calls.requests.load(Ordering::SeqCst) - patcher_before;
    let expected = patched_code_sha256(qd, &doc).await;
    let now = code_of(qd, &rig.qd_big).await;
    assert!(
        out.status.success() && now == expected && now != before,
        "quickdeploy ({marker}) not verified: {now} vs {expected} (before {before})\n{doc}"
    );
    eprintln!(
        "  quickdeploy deploy: {ms:.0} ms, {sent} bytes sent, the patcher's S3 calls {patcher_calls} ({:.0} ms in the patcher); timings {}",
        patcher_ms(&doc),
        doc["timings_ms"]
    );
    s.ms.push(ms);
    s.bytes.push(sent as f64);
    s.patcher_calls.push(patcher_calls as f64);
    s.patcher_ms.push(patcher_ms(&doc));
}

/// The patcher's own time in a deploy report (its answer's total), over all artifacts.
fn patcher_ms(report: &serde_json::Value) -> f64 {
    report["artifacts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["patch"]["timings_ms"]["total"].as_f64())
        .sum()
}

async fn sam_run(rig: &SideBySide, marker: &str, s: &mut Samples) {
    let (samapp, proxy) = (&rig.sam, rig.proxy.as_ref().expect("proxy"));
    samapp.write("src/big/handler.py", &handler(marker));
    let before = code_of(samapp, &rig.sam_big).await;
    proxy.take_sent_bytes();
    let (_ok, ms, text) = run_sam(samapp, rig.sam_home.path(), &SAM_SYNC_CODE, "");
    let sent = proxy.take_sent_bytes();
    let (built, expected) = sam_built(samapp);
    let now = code_of(samapp, &rig.sam_big).await;
    assert!(
        built.contains(marker) && now == expected && now != before,
        "sam sync ({marker}) not verified: {now} vs {expected} (before {before})\n{text}"
    );
    eprintln!("  sam sync --code: {ms:.0} ms, {sent} bytes sent");
    s.ms.push(ms);
    s.bytes.push(sent as f64);
}

fn print_table(runs: usize, qd: &mut Samples, sam: &mut Samples) {
    let (qm, sm) = (median(&mut qd.ms), median(&mut sam.ms));
    let (qb, sb) = (median(&mut qd.bytes), median(&mut sam.bytes));
    println!(
        "\none-line change, 30 MB function, {RATE} each way and {} ms round trip, {runs} runs each, moto 5.2.5",
        ONE_WAY.as_millis() * 2
    );
    println!(
        "| tool | median ms | min ms | median bytes sent | the patcher's S3 calls | of which in the patcher, ms | vs sam sync |"
    );
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| quickdeploy deploy | {qm:.0} | {:.0} | {qb:.0} | {:.0} | {:.0} | {:.1}x less time, {:.0}x fewer bytes |",
        qd.ms[0],
        median(&mut qd.patcher_calls),
        median(&mut qd.patcher_ms),
        sm / qm,
        sb / qb.max(1.0)
    );
    println!(
        "| sam sync --code ({SAM_VERSION}) | {sm:.0} | {:.0} | {sb:.0} | | | 1x |",
        sam.ms[0]
    );
}
