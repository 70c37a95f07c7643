//! `quickdeploy watch` against `sam sync --code --watch`, side by side in one run, on the same
//! moto: save-to-live latency for a one-line change in a function whose package holds 5 MiB of
//! files.
//!
//! The app is the one of `deploy_vs_sam` (plain CloudFormation: a small function, and a big one
//! with 5 x 1 MiB of incompressible files), deployed as two stacks: one by `quickdeploy full`,
//! one by `sam deploy`. Both watchers then run for the whole benchmark, each on its own copy.
//! Each save writes a different line into the big function's handler.py (alternating tools) and
//! is timed from just before the write until Lambda reports the function live on new code:
//! GetFunctionConfiguration, polled every 15 ms through the rig's proxy (what the tools talk
//! to), shows a new CodeSha256 and LastUpdateStatus Successful. Each result is checked:
//! quickdeploy's by its JSON line (outcome "deployed") and the patched S3 object's SHA-256,
//! SAM's by the zip SAM's own packager makes of its build folder.
//!
//! Both modes in one run, both watchers running throughout: plain moto, then AWS-like latency
//! (testkit::latency: every call through the proxy and every patcher Invoke delayed by 30 ms,
//! each function InProgress for 800 ms after an update). moto itself moves the CodeSha256 at
//! once, so the finish line is read through the proxy, which reports InProgress as Lambda
//! would: the same line for both tools. Each mode prints its own ratio, and quickdeploy's
//! `--timings` critical path of its last save.
//!
//! Run: `make bench-watch` (installs aws-sam-cli into .rig/sam-venv); `BENCH_RUNS` (default 10).

use std::io::{BufRead as _, BufReader, Read};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_lambda::types::LastUpdateStatus;
use testkit::app::App;
use testkit::bench_app::{
    SAM_BUCKET, SAM_STACK, SAM_VERSION, SideBySide, bench_runs, code_of, handler, median,
    patched_code_sha256, require_sam, sam_built, sam_command,
};
use testkit::latency::Latency;

const TIMEOUT: Duration = Duration::from_secs(30);
/// Between GetFunctionConfiguration calls while waiting for a save to go live.
const POLL: Duration = Duration::from_millis(15);
/// After each save is live: lets SAM's fixed delay and any follow-up round settle.
const PAUSE: Duration = Duration::from_millis(1500);

/// Copies everything `from` prints into `log`, on a thread.
fn collect(from: impl Read + Send + 'static, log: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            let mut log = log.lock().expect("log");
            log.push_str(&line);
            log.push('\n');
        }
    });
}

/// A watcher process and what it printed.
struct Watcher {
    child: Child,
    /// Kept open: SAM reads its confirmation from it.
    _stdin: Option<ChildStdin>,
    /// stderr (and for SAM, stdout too).
    log: Arc<Mutex<String>>,
    /// SAM: the process group to stop.
    group: bool,
}

impl Watcher {
    fn log(&self) -> String {
        self.log.lock().expect("log").clone()
    }

    fn stop(&mut self) {
        if self.group {
            // SAM runs builds in child processes: stop the whole group.
            let pgid = self.child.id() as libc::pid_t;
            // SAFETY: signals the process group this benchmark created for SAM.
            unsafe { libc::kill(-pgid, libc::SIGTERM) };
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(5) {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            // SAFETY: as above.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        } else {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

/// `quickdeploy watch --json`: its JSON lines come through the receiver.
fn start_quickdeploy(app: &App) -> (Watcher, Receiver<serde_json::Value>) {
    let mut child = app
        .command(&["watch", "--json", "--timings"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run quickdeploy watch");
    let log = Arc::new(Mutex::new(String::new()));
    collect(child.stderr.take().expect("stderr"), log.clone());
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = channel();
    let lines = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            match serde_json::from_str::<serde_json::Value>(&line) {
                Ok(doc) => {
                    if tx.send(doc).is_err() {
                        return;
                    }
                }
                Err(_) => lines
                    .lock()
                    .expect("log")
                    .push_str(&format!("stdout: {line}\n")),
            }
        }
    });
    let watcher = Watcher {
        child,
        _stdin: None,
        log,
        group: false,
    };
    (watcher, rx)
}

/// `sam sync --code --watch`, confirming the development stack on its stdin (kept open).
fn start_sam(app: &App, home: &Path) -> Watcher {
    let mut cmd = sam_command(
        app,
        home,
        &[
            "sync",
            "--code",
            "--watch",
            "--stack-name",
            SAM_STACK,
            "--no-dependency-layer",
            "--s3-bucket",
            SAM_BUCKET,
        ],
    );
    cmd.process_group(0);
    let mut child = cmd.spawn().expect("run sam (make bench-watch installs it)");
    let mut stdin = child.stdin.take().expect("stdin");
    {
        use std::io::Write as _;
        stdin.write_all(b"y\n").expect("answer sam");
        stdin.flush().expect("answer sam");
    }
    let log = Arc::new(Mutex::new(String::new()));
    collect(child.stdout.take().expect("stdout"), log.clone());
    collect(child.stderr.take().expect("stderr"), log.clone());
    Watcher {
        child,
        _stdin: Some(stdin),
        log,
        group: true,
    }
}

/// A function's CodeSha256 and whether its last update is Successful, as `lambda` (through
/// the proxy: what the tools see) reports it.
async fn live_code(lambda: &aws_sdk_lambda::Client, function: &str) -> (String, bool) {
    let c = lambda
        .get_function_configuration()
        .function_name(function)
        .send()
        .await
        .expect("get_function_configuration through the proxy");
    let ok = c
        .last_update_status()
        .is_none_or(|s| *s == LastUpdateStatus::Successful);
    (c.code_sha256().unwrap_or_default().to_owned(), ok)
}

/// Saves the big handler with `marker` and waits until the function is live on code other
/// than `before` (a new CodeSha256, LastUpdateStatus Successful): milliseconds from the
/// save, and the new CodeSha256.
async fn save_to_live(
    app: &App,
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    marker: &str,
    before: &str,
    watcher: &Watcher,
) -> (f64, String) {
    let t = Instant::now();
    app.write("src/big/handler.py", &handler(marker));
    loop {
        let (now, settled) = live_code(lambda, function).await;
        if now != before && settled {
            return (t.elapsed().as_secs_f64() * 1e3, now);
        }
        assert!(
            t.elapsed() < TIMEOUT,
            "save {marker} not live after {TIMEOUT:?}; the watcher printed:\n{}",
            watcher.log()
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Every JSON line quickdeploy printed so far.
fn drain(rx: &Receiver<serde_json::Value>) -> Vec<serde_json::Value> {
    rx.try_iter().collect()
}

/// Waits (up to the save's timeout) for quickdeploy's next JSON line.
async fn next_line(rx: &Receiver<serde_json::Value>, watcher: &Watcher) -> serde_json::Value {
    let t = Instant::now();
    loop {
        if let Ok(doc) = rx.try_recv() {
            return doc;
        }
        assert!(
            t.elapsed() < TIMEOUT,
            "quickdeploy watch printed no JSON line; stderr:\n{}",
            watcher.log()
        );
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    require_sam("bench-watch");
    let runs = bench_runs(10);
    // Both tools talk to moto through the proxy, which adds the latency in latency mode.
    let rig = SideBySide::deployed(true).await;
    let (qd, samapp) = (&rig.qd, &rig.sam);
    let (qd_big, sam_big) = (&rig.qd_big, &rig.sam_big);
    let proxy = rig.proxy.as_ref().expect("the proxy");
    let lambda = testkit::rig::lambda_client(&proxy.endpoint).await;

    eprintln!("starting both watchers...");
    let (mut qd_watch, lines) = start_quickdeploy(qd);
    let mut sam_watch = start_sam(samapp, rig.sam_home.path());
    // quickdeploy announces itself only without --json; SAM logs "Sync watch started." and
    // then starts its file observer. With --code there is no initial sync.
    let t = Instant::now();
    while !sam_watch.log().contains("Sync watch started") {
        assert!(
            t.elapsed() < TIMEOUT,
            "sam sync --watch did not start:\n{}",
            sam_watch.log()
        );
        if let Ok(Some(status)) = sam_watch.child.try_wait() {
            panic!("sam sync --watch exited ({status}):\n{}", sam_watch.log());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    if let Ok(Some(status)) = qd_watch.child.try_wait() {
        panic!("quickdeploy watch exited ({status}):\n{}", qd_watch.log());
    }

    let mut qd_code = code_of(qd, qd_big).await;
    let mut sam_code = code_of(samapp, sam_big).await;
    let mut tables = Vec::new();
    for mode in [None, Some(Latency::AWS_LIKE)] {
        proxy.set_latency(mode);
        rig.patcher.set_rtt(mode.map_or(Duration::ZERO, |l| l.rtt));
        let label = mode.map_or("plain moto".to_owned(), |l| l.label());
        let (mut qd_ms, mut sam_ms, mut qd_own) = (vec![], vec![], vec![]);
        let mut qd_rounds = 0usize;
        let mut last_path = String::new();
        // One untimed save per tool first (run 0) in each mode.
        for run in 0..=runs {
            let timed = run > 0;
            for quickdeploy_turn in [run % 2 == 0, run % 2 != 0] {
                let marker = format!("save-{}-{run}-{}", tables.len(), std::process::id());
                if quickdeploy_turn {
                    drain(&lines);
                    let (ms, now) =
                        save_to_live(qd, &lambda, qd_big, &marker, &qd_code, &qd_watch).await;
                    let line = next_line(&lines, &qd_watch).await;
                    let report = &line["report"];
                    assert_eq!(
                        report["outcome"],
                        "deployed",
                        "quickdeploy save {run}: {line}\n{}",
                        qd_watch.log()
                    );
                    let expected = patched_code_sha256(qd, report).await;
                    assert_eq!(now, expected, "quickdeploy save {run}: {line}");
                    tokio::time::sleep(PAUSE).await;
                    let extra = drain(&lines);
                    assert!(
                        extra.iter().all(|l| l["error"].is_null()),
                        "quickdeploy save {run}, follow-up round failed: {extra:?}"
                    );
                    assert_eq!(
                        code_of(qd, qd_big).await,
                        now,
                        "quickdeploy save {run}: CodeSha256 moved again"
                    );
                    qd_code = now;
                    if timed {
                        qd_rounds += 1 + extra.len();
                        qd_ms.push(ms);
                        qd_own.push(report["timings_ms"]["total"].as_f64().unwrap_or(0.0));
                        last_path = testkit::bench_app::critical_path(report);
                    }
                    eprintln!(
                        "save {run} ({label}): quickdeploy watch {ms:.0} ms{}",
                        if timed { "" } else { " (warm-up)" }
                    );
                } else {
                    let (ms, now) =
                        save_to_live(samapp, &lambda, sam_big, &marker, &sam_code, &sam_watch)
                            .await;
                    let (built, expected) = sam_built(samapp);
                    assert!(
                        built.contains(&marker) && now == expected,
                        "sam sync --watch save {run} not verified: {now} vs {expected}\n{}",
                        sam_watch.log()
                    );
                    tokio::time::sleep(PAUSE).await;
                    let settled = code_of(samapp, sam_big).await;
                    assert_eq!(
                        settled,
                        now,
                        "sam save {run}: CodeSha256 moved again\n{}",
                        sam_watch.log()
                    );
                    sam_code = now;
                    if timed {
                        sam_ms.push(ms);
                    }
                    eprintln!(
                        "save {run} ({label}): sam sync --watch  {ms:.0} ms{}",
                        if timed { "" } else { " (warm-up)" }
                    );
                }
            }
        }
        let (qm, sm) = (median(&mut qd_ms), median(&mut sam_ms));
        let own = median(&mut qd_own);
        let mut table = format!(
            "\nsave-to-live, one-line change, function with 5 MiB of files, {runs} saves each, moto 5.2.5, {label}\n"
        );
        table += "| tool | median ms | min ms | max ms | sam median / this median |\n";
        table += "|---|---|---|---|---|\n";
        table += &format!(
            "| quickdeploy watch (adaptive debounce) | {qm:.0} | {:.0} | {:.0} | {:.1}x |\n",
            qd_ms[0],
            qd_ms[qd_ms.len() - 1],
            sm / qm
        );
        table += &format!(
            "| sam sync --code --watch ({SAM_VERSION}) | {sm:.0} | {:.0} | {:.0} | 1x |\n",
            sam_ms[0],
            sam_ms[sam_ms.len() - 1]
        );
        table += &format!(
            "\nquickdeploy ({label}): median deploy time in its own report {own:.0} ms; {qd_rounds} deploy rounds for {runs} saves\ncritical path of its last save: {last_path}\n"
        );
        eprint!("{table}");
        tables.push(table);
    }
    qd_watch.stop();
    sam_watch.stop();
    for t in tables {
        print!("{t}");
    }
}
