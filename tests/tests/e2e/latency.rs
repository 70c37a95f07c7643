//! The rig's AWS-like latency mode (testkit::latency) does what it says: every call through
//! the proxy pays the round trip, a function updated through it reports InProgress for the
//! set time (in the update's own answer and in GetFunction), refuses a second update meanwhile
//! with ResourceConflictException as Lambda does, and is Successful after; a quick deploy
//! waits for that and goes live. moto alone shows none of this (its updates are Successful at
//! once).

use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::app::Rig;
use testkit::latency::Latency;

fn status_of(c: Option<&aws_sdk_lambda::types::FunctionConfiguration>) -> String {
    c.and_then(|c| c.last_update_status())
        .map(|s| s.as_str().to_owned())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_mode_delays_calls_and_keeps_updates_in_progress_for_their_time() {
    let rig = Rig::deployed().await;
    let latency = Latency {
        rtt: Duration::from_millis(40),
        in_progress: Duration::from_millis(1500),
    };
    rig.proxy.set_latency(Some(latency));
    rig.patcher.set_rtt(latency.rtt);
    let lambda = testkit::rig::lambda_client(&rig.proxy.endpoint).await;
    let name = rig.app.function_names().await["HelloFunction"].clone();

    let t = Instant::now();
    let before = lambda.get_function().function_name(&name).send().await;
    let took = t.elapsed();
    let before = before.expect("GetFunction");
    assert!(took >= latency.rtt, "one call took {took:?}");
    assert_eq!(status_of(before.configuration()), "Successful");

    let updated = lambda
        .update_function_configuration()
        .function_name(&name)
        .description("latency mode")
        .send()
        .await
        .expect("UpdateFunctionConfiguration");
    let at = Instant::now();
    assert_eq!(
        updated.last_update_status().map(|s| s.as_str()),
        Some("InProgress")
    );
    let read = lambda
        .get_function()
        .function_name(&name)
        .send()
        .await
        .expect("GetFunction");
    assert!(at.elapsed() < latency.in_progress, "the test was too slow");
    assert_eq!(status_of(read.configuration()), "InProgress");
    let second = lambda
        .update_function_configuration()
        .function_name(&name)
        .description("too soon")
        .send()
        .await;
    if at.elapsed() < latency.in_progress {
        let e = second.expect_err("a second update while InProgress");
        let code = aws_sdk_lambda::error::ProvideErrorMetadata::code(&e).map(str::to_owned);
        assert_eq!(code.as_deref(), Some("ResourceConflictException"), "{e:?}");
    }
    tokio::time::sleep(latency.in_progress.saturating_sub(at.elapsed()) + latency.rtt).await;
    let after = lambda
        .get_function_configuration()
        .function_name(&name)
        .send()
        .await
        .expect("GetFunctionConfiguration");
    assert_eq!(
        after.last_update_status().map(|s| s.as_str()),
        Some("Successful")
    );

    // A quick deploy under it waits for the function to settle, then reports it live.
    rig.app.write(
        "src/shared/greeting.py",
        "def greeting(name):\n    return f\"Hi, {name}, slowly\"\n",
    );
    let t = Instant::now();
    let (out, doc) = rig
        .app
        .run_json(&["deploy", "--no-fallback", "--timings"])
        .await;
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "{doc}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(doc["outcome"], "deployed", "{doc}");
    assert!(took >= latency.in_progress, "deployed in {took:?}: {doc}");
    // --timings: every call on the time line, the path ending at UpdateFunctionCode, each of
    // its calls at least a round trip long.
    let timeline = &doc["timeline"];
    let spans = timeline["spans"].as_array().expect("spans");
    let path: Vec<&Value> = timeline["critical_path"]
        .as_array()
        .expect("critical path")
        .iter()
        .map(|i| &spans[i.as_u64().expect("index") as usize])
        .collect();
    assert_eq!(
        path.last().map(|s| &s["name"]),
        Some(&Value::from("Lambda.UpdateFunctionCode")),
        "{timeline}"
    );
    for s in &path {
        let took = s["end_ms"].as_f64().unwrap_or(0.0) - s["start_ms"].as_f64().unwrap_or(0.0);
        assert!(took >= 39.0, "{s}");
    }
    assert_eq!(
        timeline["round_trips_before_update"].as_u64(),
        Some(path.len() as u64 - 1)
    );
    // The command's own setup (configuration, credentials, clients) is on the line too: its
    // first span, from 0, over before the first call.
    let setup = &spans[0];
    assert_eq!(
        (setup["kind"].as_str(), setup["name"].as_str()),
        (Some("phase"), Some("setup")),
        "{timeline}"
    );
    assert_eq!(setup["start_ms"].as_f64(), Some(0.0), "{timeline}");
    let first_call = spans
        .iter()
        .filter(|s| s["kind"] == "call")
        .filter_map(|s| s["start_ms"].as_f64())
        .fold(f64::MAX, f64::min);
    let setup_end = setup["end_ms"].as_f64().unwrap_or(f64::MAX);
    assert!(setup_end > 0.0 && setup_end <= first_call, "{timeline}");
    eprintln!("{timeline:#}");
    let live = lambda
        .get_function_configuration()
        .function_name(&name)
        .send()
        .await
        .expect("GetFunctionConfiguration");
    assert_eq!(
        live.last_update_status().map(|s| s.as_str()),
        Some("Successful")
    );
}
