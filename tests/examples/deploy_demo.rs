//! The demo of the deploy path, from nothing: start the local rig (moto, and the real zipedit
//! binary behind the Lambda Runtime and Invoke APIs), install the patcher with `quickdeploy
//! bootstrap`, deploy the example app (`examples/app`) with `quickdeploy full`, change one line
//! and quick-deploy it, change one line of the Rust function (rebuilt, and its new binary sent
//! as a delta), then change the template and see deploy fall back to a full deploy:
//! each function's CodeSha256 before and after, and the time of each step. Everything it
//! started stops when it ends.
//!
//! Run: `cargo run -p quickdeploy-tests --example deploy_demo` (make demo does).

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Instant;

use testkit::app::App;
use testkit::rig::{Moto, Patcher};

fn step(n: u32, what: &str) {
    println!("\n== {n}. {what}");
}

fn show_shas(
    title: &str,
    shas: &HashMap<String, String>,
    before: Option<&HashMap<String, String>>,
) {
    println!("   {title}");
    let mut ids: Vec<&String> = shas.keys().collect();
    ids.sort();
    for id in ids {
        let mark = match before.map(|b| b.get(id) != shas.get(id)) {
            Some(true) => "  <- changed",
            Some(false) => "  (unchanged)",
            None => "",
        };
        println!("     {id:<18} {}{mark}", shas[id]);
    }
}

/// Runs quickdeploy with its output shown as a user sees it; the wall time.
async fn run(app: &App, args: &[&str]) -> (bool, f64) {
    println!("   $ quickdeploy {}", args.join(" "));
    let mut cmd = app.command(args);
    cmd.stdout(Stdio::inherit()).stderr(Stdio::inherit());
    let t = Instant::now();
    let status = tokio::task::spawn_blocking(move || cmd.status())
        .await
        .expect("join")
        .expect("run quickdeploy");
    let ms = t.elapsed().as_secs_f64() * 1e3;
    println!("   (exit {}, {ms:.0} ms wall)", status.code().unwrap_or(-1));
    (status.success(), ms)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let all = Instant::now();
    let mut times: Vec<(&str, f64)> = Vec::new();

    step(
        1,
        "start the local rig: moto (S3, Lambda, IAM, CloudFormation) and the zipedit Lambda",
    );
    let t = Instant::now();
    let moto = Moto::start();
    let patcher = Patcher::start_named(
        &testkit::bin("zipedit"),
        &moto.endpoint(),
        1,
        testkit::app::PATCHER,
    )
    .await;
    let app = App::new(&moto.endpoint(), &moto.endpoint(), &patcher.invoke_endpoint).await;
    println!(
        "   moto at {}, patcher Invoke API at {}",
        moto.endpoint(),
        patcher.invoke_endpoint
    );
    println!("   example app copied to {}", app.root().display());
    times.push(("start the rig", t.elapsed().as_secs_f64() * 1e3));

    step(
        2,
        "install the patcher: bucket, code and stack (quickdeploy bootstrap), twice",
    );
    let binary = testkit::bin("zipedit");
    let binary = binary.to_str().expect("a UTF-8 path");
    let arch = if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "x86_64"
    };
    let bootstrap = ["bootstrap", "--binary", binary, "--arch", arch];
    let (ok, ms) = run(&app, &bootstrap).await;
    assert!(ok, "bootstrap failed");
    times.push(("quickdeploy bootstrap", ms));
    let (ok, ms) = run(&app, &bootstrap).await;
    assert!(ok, "the second bootstrap failed");
    times.push(("quickdeploy bootstrap (again: nothing to change)", ms));

    step(
        3,
        "deploy the example app the full way: package, upload, change set, execute",
    );
    let (ok, ms) = run(&app, &["full", "--yes"]).await;
    assert!(ok, "the full deploy failed");
    times.push(("quickdeploy full (new stack)", ms));
    let before = app.code_shas().await;
    show_shas("functions' CodeSha256:", &before, None);

    step(
        4,
        "change one line in the package HelloFunction and GreetFunction share",
    );
    let file = "src/shared/greeting.py";
    let text = std::fs::read_to_string(app.path(file)).expect("read");
    app.write(file, &text.replace("Hello, {name}!", "Hi there, {name}!"));
    println!("   {file}: \"Hello, {{name}}!\" -> \"Hi there, {{name}}!\"");

    step(
        5,
        "quickdeploy status: what changed, what deploy would do (reads only)",
    );
    let (_, ms) = run(&app, &["status"]).await;
    times.push(("quickdeploy status", ms));

    step(
        6,
        "quickdeploy deploy: patch the artifact through the zipedit Lambda, update, wait",
    );
    let (ok, ms) = run(&app, &["deploy"]).await;
    assert!(ok, "the quick deploy failed");
    times.push(("quickdeploy deploy (one-line change)", ms));
    let after = app.code_shas().await;
    show_shas("functions' CodeSha256 now:", &after, Some(&before));

    step(
        7,
        "a one-line change in the Rust function: rebuilt, its new bootstrap sent as a delta",
    );
    let main_rs = "src/wordcount/src/main.rs";
    let source = std::fs::read_to_string(app.path(main_rs)).expect("read main.rs");
    let edited = source.replacen("counted by Rust", "counted by Rust (demo)", 1);
    assert_ne!(edited, source, "the Rust function's reply");
    app.write(main_rs, &edited);
    let before = app.code_shas().await;
    let (ok, ms) = run(&app, &["deploy"]).await;
    assert!(ok, "the Rust quick deploy failed");
    times.push(("quickdeploy deploy (Rust: build + delta)", ms));
    show_shas(
        "functions' CodeSha256 now:",
        &app.code_shas().await,
        Some(&before),
    );

    step(8, "deploy again: nothing changed, nothing is written");
    let (ok, ms) = run(&app, &["deploy"]).await;
    assert!(ok, "the no-op deploy failed");
    times.push(("quickdeploy deploy (no change)", ms));

    step(
        9,
        "change the template (ReportFunction gets more memory): deploy falls back to full",
    );
    let template = std::fs::read_to_string(app.path("template.yaml")).expect("read");
    app.write(
        "template.yaml",
        &template.replacen("MemorySize: 256", "MemorySize: 512", 1),
    );
    let (ok, ms) = run(&app, &["deploy", "--yes"]).await;
    assert!(ok, "the fallback deploy failed");
    times.push(("quickdeploy deploy (template change: full)", ms));

    step(
        10,
        "quickdeploy status: up to date, the hot patches reconciled",
    );
    let (_, ms) = run(&app, &["status"]).await;
    times.push(("quickdeploy status", ms));

    println!("\n== summary");
    for (what, ms) in &times {
        println!("   {what:<52} {ms:>8.0} ms");
    }
    println!(
        "   {:<52} {:>8.0} ms",
        "whole demo",
        all.elapsed().as_secs_f64() * 1e3
    );
    drop(patcher);
    drop(moto);
}
