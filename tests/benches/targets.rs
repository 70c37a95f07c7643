//! One change, many targets: a one-line change in a one-function Python app (300 library
//! files beside the handler), deployed to N = 1, 3 and 5 targets with one
//! `quickdeploy deploy --all-targets --ci`, on one moto serving every region and two accounts
//! (targets alternate between the home account and a second one reached by an assumed role;
//! regions cycle through five). For N = 3 and 5, side by side in the same run: the same change
//! deployed the way it is done without targets, one `deploy --target NAME` per target, one
//! after another.
//!
//! Per run: wall time; bytes sent from this machine (request bodies through the rig's proxy to
//! moto, plus the patch requests the reports say went to the patchers); the CLI's CPU time
//! (user + system of the child process, from getrusage); the local side's work as the report
//! counts it (package scans, files hashed); and moto's CPU time (from /proc): every target's
//! server side is the one moto process, one Python interpreter, so what real AWS does in N
//! regions at once, the rig does one request at a time. Every run is verified: each target's function
//! reports the CodeSha256 its patch answered, read back in its own account and region.
//!
//! Run: `make bench-targets`; `BENCH_RUNS` (default 5), `TARGETS_NS` (default "1,3,5").

use std::path::Path;
use std::time::Instant;

use serde_json::Value;
use testkit::bench_app::{bench_runs, median};
use testkit::targets::{Site, TargetsRig, set_greeting, write_one_function_app};

const REGIONS: [&str; 5] = [
    "us-east-1",
    "eu-west-1",
    "ap-southeast-2",
    "us-west-2",
    "eu-central-1",
];

/// The app: the one-function app with 300 library files of about 2 KiB.
fn make_app(dir: &Path) {
    write_one_function_app(dir);
    let lib = dir.join("src/api/lib");
    std::fs::create_dir_all(&lib).expect("mkdir");
    for i in 0..300 {
        std::fs::write(
            lib.join(format!("mod{i:03}.py")),
            format!("def f{i}(x):\n    return x + {i}\n").repeat(80),
        )
        .expect("lib file");
    }
}

/// CPU seconds (user + system) of this process's waited-for children so far.
fn children_cpu() -> f64 {
    // SAFETY: getrusage writes only into the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

/// One measured command: wall ms, bytes sent, CPU s, and its JSON document.
struct Measured {
    ms: f64,
    bytes: u64,
    cpu: f64,
    server_cpu: f64,
    doc: Value,
}

/// The patch request bytes a (targets) report says it sent to the patchers.
fn patcher_bytes(doc: &Value) -> u64 {
    let one = |r: &Value| testkit::bench_app::patcher_request_bytes(r);
    match doc["targets"].as_array() {
        Some(ts) => ts.iter().map(|t| one(&t["report"])).sum(),
        None => one(doc),
    }
}

async fn measure(rig: &TargetsRig, args: &[&str]) -> Measured {
    rig.proxy.take_sent_bytes();
    let (cpu, server) = (children_cpu(), rig.moto.cpu_seconds());
    let t = Instant::now();
    let (out, doc) = rig.app.run_json(args).await;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let (cpu, server_cpu) = (children_cpu() - cpu, rig.moto.cpu_seconds() - server);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {doc}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = rig.proxy.take_sent_bytes() + patcher_bytes(&doc);
    Measured {
        ms,
        bytes,
        cpu,
        server_cpu,
        doc,
    }
}

/// Each target runs the CodeSha256 its patch answered.
async fn verify(rig: &TargetsRig, site: &str, report: &Value) {
    let want = report["artifacts"][0]["patch"]["code_sha256"]
        .as_str()
        .unwrap_or_else(|| panic!("{site}: no patch in {report}"));
    assert_eq!(rig.code_sha(site, "Api").await, want, "{site} is live");
}

#[derive(Default)]
struct Series {
    ms: Vec<f64>,
    bytes: Vec<f64>,
    cpu: Vec<f64>,
    server: Vec<f64>,
    hashed: Vec<f64>,
    scans: Vec<f64>,
}

impl Series {
    fn add(&mut self, m: &Measured, scans: f64, hashed: f64) {
        self.ms.push(m.ms);
        self.bytes.push(m.bytes as f64);
        self.cpu.push(m.cpu);
        self.server.push(m.server_cpu);
        self.scans.push(scans);
        self.hashed.push(hashed);
    }

    fn line(&mut self, label: &str, one: f64) -> String {
        let ms = median(&mut self.ms);
        format!(
            "| {label} | {ms:.0} | {:.2}x | {:.0} | {:.3} | {:.3} | {:.0} | {:.0} |",
            ms / one,
            median(&mut self.bytes),
            median(&mut self.cpu),
            median(&mut self.server),
            median(&mut self.scans),
            median(&mut self.hashed),
        )
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let runs = bench_runs(5);
    let ns: Vec<usize> = std::env::var("TARGETS_NS")
        .unwrap_or_else(|_| "1,3,5".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let mut lines = Vec::new();
    let mut one_target_ms = None;
    for &n in &ns {
        let sites: Vec<Site> = (0..n)
            .map(|i| {
                let (name, region) = (format!("t{i}"), REGIONS[i % REGIONS.len()]);
                if i % 2 == 1 {
                    Site::other(&name, region, "222222222222")
                } else {
                    Site::home(&name, region)
                }
            })
            .collect();
        let source = tempfile::tempdir().expect("tmp");
        make_app(source.path());
        let rig = TargetsRig::start(source.path(), "qd-home-artifacts", sites.clone()).await;
        eprintln!("N = {n}: full --all-targets");
        let (out, doc) = rig.app.run_json(&["full", "--all-targets", "--ci"]).await;
        assert_eq!(out.status.code(), Some(0), "{doc}");
        // One untimed round: the local manifest caches are written, as after any deploy.
        set_greeting(rig.app.root(), "warm");
        measure(&rig, &["deploy", "--all-targets", "--ci"]).await;
        let mut fan = Series::default();
        let mut seq = Series::default();
        for run in 0..runs {
            set_greeting(rig.app.root(), &format!("fan {run}"));
            let m = measure(&rig, &["deploy", "--all-targets", "--ci"]).await;
            for s in &sites {
                let t = m.doc["targets"]
                    .as_array()
                    .and_then(|a| a.iter().find(|t| t["target"] == s.name.as_str()))
                    .expect("target in report");
                verify(&rig, &s.name, &t["report"]).await;
            }
            if std::env::var_os("TARGETS_TRACE").is_some() {
                for t in m.doc["targets"].as_array().into_iter().flatten() {
                    eprintln!(
                        "{} {} ms {}",
                        t["target"], t["ms"], t["report"]["timings_ms"]
                    );
                }
            }
            let local = &m.doc["local"];
            fan.add(
                &m,
                local["scans"].as_f64().unwrap_or_default(),
                local["hashed"].as_f64().unwrap_or_default(),
            );
            if n > 1 {
                // The same change as N commands, one per target, one after another.
                set_greeting(rig.app.root(), &format!("seq {run}"));
                let mut total = Measured {
                    ms: 0.0,
                    bytes: 0,
                    cpu: 0.0,
                    server_cpu: 0.0,
                    doc: Value::Null,
                };
                let (mut scans, mut hashed) = (0.0, 0.0);
                for s in &sites {
                    let m = measure(&rig, &["deploy", "--target", &s.name, "--ci"]).await;
                    let t = &m.doc["targets"][0];
                    verify(&rig, &s.name, &t["report"]).await;
                    total.ms += m.ms;
                    total.bytes += m.bytes;
                    total.cpu += m.cpu;
                    total.server_cpu += m.server_cpu;
                    scans += m.doc["local"]["scans"].as_f64().unwrap_or_default();
                    hashed += m.doc["local"]["hashed"].as_f64().unwrap_or_default();
                }
                seq.add(&total, scans, hashed);
            }
        }
        let one = *one_target_ms.get_or_insert_with(|| {
            let mut v = fan.ms.clone();
            median(&mut v)
        });
        lines.push(fan.line(&format!("N = {n}, one `deploy --all-targets`"), one));
        if n > 1 {
            lines.push(seq.line(
                &format!("N = {n}, {n} `deploy --target` one after another"),
                one,
            ));
        }
    }
    println!("\nMedians of {runs} runs; ratio: wall time over one target's (N = 1, first row).\n");
    println!(
        "| run | wall ms | vs one target | bytes sent | CLI CPU s | moto CPU s | package scans | files hashed |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for l in lines {
        println!("{l}");
    }
}
