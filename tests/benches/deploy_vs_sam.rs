//! `quickdeploy deploy` against `sam sync --code`, side by side in one run, on the same moto,
//! for a one-line change in a function whose package holds 5 MiB of files.
//!
//! Two copies of one app (plain CloudFormation: a small function, and a big one with 5 x 1 MiB
//! of incompressible files) are deployed as two stacks: one by `quickdeploy full`, one by `sam
//! deploy`. Each run changes one line of the big function's handler in both copies, then runs
//! both tools (alternating which goes first) and checks each result by CodeSha256, never by
//! exit code: quickdeploy's against the patched S3 object, SAM's against a zip SAM's own
//! packager makes of its build folder. Bytes sent are the request bodies a counting proxy in
//! front of moto saw, plus, for quickdeploy, the request it sent to the patcher.
//!
//! Both modes in one run: plain moto, then AWS-like latency (testkit::latency: every call
//! through the proxy and every patcher Invoke delayed by 30 ms, each function InProgress for
//! 800 ms after an update), SAM through the same proxy. Each mode prints its own ratio, and in
//! latency mode the median critical path of quickdeploy's `--timings`.
//!
//! Run: `make bench-deploy` (installs aws-sam-cli into .rig/sam-venv); `BENCH_RUNS` (default 7).

use std::time::Instant;

use testkit::bench_app::{
    SAM_SYNC_CODE, SAM_VERSION, SideBySide, bench_runs, code_of, handler, median,
    patched_code_sha256, patcher_request_bytes, require_sam, run_sam, sam_built,
};
use testkit::latency::Latency;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    require_sam("bench-deploy");
    let runs = bench_runs(7);
    // Both tools talk to moto through the proxy, which counts the bytes they send.
    let rig = SideBySide::deployed(true).await;
    let (qd, samapp, sam_home) = (&rig.qd, &rig.sam, rig.sam_home.path());
    let proxy = rig.proxy.as_ref().expect("the counting proxy");
    let sync_args = SAM_SYNC_CODE;

    // Warm-up, untimed: SAM asks once whether this is a development stack.
    samapp.write("src/big/handler.py", &handler("warm-up"));
    let (ok, _, text) = run_sam(samapp, sam_home, &sync_args, "y\n");
    assert!(ok, "sam sync warm-up failed:\n{text}");
    qd.write("src/big/handler.py", &handler("warm-up"));
    let (out, doc) = qd.run_json(&["deploy"]).await;
    assert!(out.status.success(), "quickdeploy warm-up: {doc}");
    proxy.take_sent_bytes();

    for mode in [None, Some(Latency::AWS_LIKE)] {
        proxy.set_latency(mode);
        rig.patcher
            .set_rtt(mode.map_or(std::time::Duration::ZERO, |l| l.rtt));
        let label = mode.map_or("plain moto".to_owned(), |l| l.label());
        let mut rounds = vec![];
        let (mut qd_ms, mut sam_ms, mut qd_bytes, mut sam_bytes) = (vec![], vec![], vec![], vec![]);
        for run in 0..runs {
            let marker = format!("run-{run}-{}", std::process::id());
            for first in [run % 2 == 0, run % 2 != 0] {
                if first {
                    qd.write("src/big/handler.py", &handler(&marker));
                    let before = code_of(qd, &rig.qd_big).await;
                    proxy.take_sent_bytes();
                    let t = Instant::now();
                    let (out, doc) = qd.run_json(&["deploy", "--timings"]).await;
                    let ms = t.elapsed().as_secs_f64() * 1e3;
                    let sent = proxy.take_sent_bytes() + patcher_request_bytes(&doc);
                    let expected = patched_code_sha256(qd, &doc).await;
                    let now = code_of(qd, &rig.qd_big).await;
                    assert!(
                        out.status.success() && now == expected && now != before,
                        "quickdeploy run {run} not verified: {now} vs {expected} (before {before})\n{doc}"
                    );
                    qd_ms.push(ms);
                    qd_bytes.push(sent as f64);
                    let trips = doc["timeline"]["round_trips_before_update"].as_f64();
                    rounds.push(trips.unwrap_or(f64::NAN));
                    eprintln!(
                        "run {run} ({label}): quickdeploy {ms:.0} ms, {sent} bytes sent, {} round trips before UpdateFunctionCode",
                        trips.unwrap_or(f64::NAN)
                    );
                    if run + 1 == runs {
                        eprintln!(
                            "  critical path ({label}): {}",
                            testkit::bench_app::critical_path(&doc)
                        );
                        // Every span, and what the patcher spent inside its Invoke: where the
                        // time between the reads and the update goes.
                        eprintln!(
                            "  time line ({label}): {}",
                            testkit::bench_app::time_line(&doc)
                        );
                        let patcher: Vec<String> = doc["artifacts"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|a| Some(a["patch"].get("timings_ms")?.to_string()))
                            .collect();
                        eprintln!("  patcher ({label}): {}", patcher.join(" "));
                        eprintln!("  timings_ms ({label}): {}", doc["timings_ms"]);
                    }
                } else {
                    samapp.write("src/big/handler.py", &handler(&marker));
                    let before = code_of(samapp, &rig.sam_big).await;
                    proxy.take_sent_bytes();
                    let (_ok, ms, text) = run_sam(samapp, sam_home, &sync_args, "");
                    let sent = proxy.take_sent_bytes();
                    let (built, expected) = sam_built(samapp);
                    let now = code_of(samapp, &rig.sam_big).await;
                    assert!(
                        built.contains(&marker) && now == expected && now != before,
                        "sam sync run {run} not verified: {now} vs {expected} (before {before})\n{text}"
                    );
                    sam_ms.push(ms);
                    sam_bytes.push(sent as f64);
                    eprintln!("run {run} ({label}): sam sync   {ms:.0} ms, {sent} bytes sent");
                }
            }
        }
        let (qm, sm) = (median(&mut qd_ms), median(&mut sam_ms));
        let (qb, sb) = (median(&mut qd_bytes), median(&mut sam_bytes));
        println!(
            "\none-line change, function with 5 MiB of files, {runs} runs each, moto 5.2.5, {label}; median round trips before UpdateFunctionCode: {:.0}",
            median(&mut rounds)
        );
        println!("| tool | median ms | min ms | median bytes sent | time ratio | bytes ratio |");
        println!("|---|---|---|---|---|---|");
        println!(
            "| quickdeploy deploy | {qm:.0} | {:.0} | {qb:.0} | {:.1}x less | {:.0}x fewer |",
            qd_ms[0],
            sm / qm,
            sb / qb.max(1.0)
        );
        println!(
            "| sam sync --code ({SAM_VERSION}) | {sm:.0} | {:.0} | {sb:.0} | 1x | 1x |",
            sam_ms[0]
        );
    }
}
