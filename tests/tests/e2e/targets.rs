//! One change, many targets (issue 26): three targets in two regions and two accounts on the
//! rig (moto reads the region from each request's signature, and maps an assumed role's
//! credentials to the role's account). A change deploys to all of them from one local side,
//! each verified live by reading its function's CodeSha256 back in its own account and region;
//! one target failing (the fault proxy reports its update Failed, as moto cannot) leaves the
//! others deployed and recorded, and the exit 1 names it; a missing profile fails the command
//! before anything is deployed; history and rollback go per target; a `confirm = true` target
//! is not deployed without a terminal or --ci, even with --yes.

use serde_json::Value;
use testkit::proxy::LambdaFault;
use testkit::targets::{Site, TargetsRig, set_greeting, write_one_function_app};

/// The second account, reached by assuming a role there.
const OTHER_ACCOUNT: &str = "222222222222";

fn target<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["targets"]
        .as_array()
        .and_then(|a| a.iter().find(|t| t["target"] == name))
        .unwrap_or_else(|| panic!("no target {name} in {doc}"))
}

/// The CodeSha256 the deploy's patch of a target answered (what its function should run).
fn patched_sha(doc: &Value, name: &str) -> String {
    target(doc, name)["report"]["artifacts"][0]["patch"]["code_sha256"]
        .as_str()
        .unwrap_or_else(|| panic!("no patch for {name}: {doc}"))
        .to_owned()
}

async fn rig() -> TargetsRig {
    let source = tempfile::tempdir().expect("tmp");
    write_one_function_app(source.path());
    let mut eu = Site::home("eu", "eu-west-1");
    eu.profile = Some("eu".into());
    let mut prod = Site::other("prod", "eu-west-1", OTHER_ACCOUNT);
    prod.confirm = true;
    let sites = vec![Site::home("dev", "us-east-1"), eu, prod];
    TargetsRig::start(source.path(), "qd-home-artifacts", sites).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_change_deploys_to_three_targets_in_two_regions_and_two_accounts() {
    let rig = rig().await;
    let app = &rig.app;
    let (out, doc) = app.run_json(&["full", "--all-targets", "--ci"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{doc}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(doc["failed"], serde_json::json!([]), "{doc}");
    // Each stack is where its target says: the prod one in the other account only.
    let prod_fn = rig.function("prod", "Api").await;
    let in_home = rig
        .at("eu")
        .lambda
        .get_function()
        .function_name(&prod_fn)
        .send()
        .await;
    assert!(
        in_home.is_err(),
        "prod's function is not in the home account's eu-west-1"
    );
    let dev_fn = rig.function("dev", "Api").await;
    let dev_in_eu = rig
        .at("eu")
        .lambda
        .get_function()
        .function_name(&dev_fn)
        .send()
        .await;
    assert!(dev_in_eu.is_err(), "dev's function is not in eu-west-1");
    let before: Vec<String> = rig.code_shas(&["dev", "eu", "prod"], "Api").await;

    // A one-line change: every target deploys it, and each runs it (read back from its own
    // account and region); the local side was done once.
    set_greeting(app.root(), "hello, everyone");
    let (out, doc) = app.run_json(&["deploy", "--all-targets", "--ci"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{doc}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(doc["ok"], true, "{doc}");
    for (i, site) in ["dev", "eu", "prod"].into_iter().enumerate() {
        let t = target(&doc, site);
        assert_eq!(t["report"]["outcome"], "deployed", "{site}: {doc}");
        let live = rig.code_sha(site, "Api").await;
        assert_eq!(
            live,
            patched_sha(&doc, site),
            "{site} runs what was patched"
        );
        assert_ne!(live, before[i], "{site} changed");
        assert_eq!(
            t["report"]["artifacts"][0]["artifact"]
                .as_str()
                .map(|a| a.starts_with(&format!("s3://qd-{site}-artifacts/"))),
            Some(true),
            "{site} patched in its own bucket: {doc}"
        );
    }
    assert_eq!(doc["local"]["scans"], 1, "one package scanned once: {doc}");
    assert_eq!(
        doc["local"]["hashed"], 1,
        "one changed file hashed once: {doc}"
    );
    assert!(
        doc["local"]["reused"].as_u64().is_some_and(|n| n >= 4),
        "{doc}"
    );

    // The human form names each target and the total.
    set_greeting(app.root(), "hello again");
    let out = app
        .run(&[
            "deploy", "--target", "dev", "--target", "eu", "--ci", "--output", "human",
        ])
        .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("target dev (us-east-1, stack qd-dev): ok"),
        "{text}"
    );
    assert!(
        text.contains("target eu (eu-west-1, stack qd-eu): ok"),
        "{text}"
    );
    assert!(text.contains("2 target(s), all ok"), "{text}");
    assert!(!text.contains("target prod"), "{text}");

    // status per target: prod has the change still to deploy, dev and eu do not.
    let (out, doc) = app.run_json(&["status", "--all-targets"]).await;
    assert_eq!(out.status.code(), Some(0), "{doc}");
    let outcome = |s: &str| {
        target(&doc, s)["report"]["outcome"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(outcome("dev"), outcome("eu"), "{doc}");
    assert_ne!(outcome("prod"), outcome("dev"), "{doc}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_target_is_named_the_others_stay_deployed_and_each_rolls_back_alone() {
    let rig = rig().await;
    let app = &rig.app;
    let (out, doc) = app.run_json(&["full", "--all-targets", "--ci"]).await;
    assert_eq!(out.status.code(), Some(0), "{doc}");
    set_greeting(app.root(), "v2");
    let (out, doc) = app.run_json(&["deploy", "--all-targets", "--ci"]).await;
    assert_eq!(out.status.code(), Some(0), "{doc}");
    let v2: Vec<String> = rig.code_shas(&["dev", "eu", "prod"], "Api").await;

    // prod's update fails (the proxy reports it Failed): exit 1 names prod; dev and eu run v3.
    rig.proxy.lambda_fault(
        &rig.function("prod", "Api").await,
        LambdaFault {
            fail_with: Some("Injected: prod's update failed".into()),
            ..LambdaFault::default()
        },
    );
    set_greeting(app.root(), "v3");
    let (out, doc) = app.run_json(&["deploy", "--all-targets", "--ci"]).await;
    assert_eq!(out.status.code(), Some(1), "{doc}");
    assert_eq!(doc["failed"], serde_json::json!(["prod"]), "{doc}");
    assert_eq!(
        target(&doc, "prod")["report"]["functions"][0]["status"],
        "failed",
        "{doc}"
    );
    let out = app
        .run(&["deploy", "--all-targets", "--ci", "--output", "human"])
        .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("1 failed (prod)"), "{text}");
    rig.proxy
        .lambda_fault(&rig.function("prod", "Api").await, LambdaFault::default());
    for site in ["dev", "eu"] {
        assert_eq!(
            rig.code_sha(site, "Api").await,
            patched_sha(&doc, site),
            "{site} stays deployed"
        );
    }

    // Each target's history records its own deploys; dev rolls back alone.
    let (out, doc) = app
        .run_json(&["history", "--target", "dev", "--target", "prod"])
        .await;
    assert_eq!(out.status.code(), Some(0), "{doc}");
    let entries = |s: &str| {
        target(&doc, s)["report"]["entries"]
            .as_array()
            .map_or(0, Vec::len)
    };
    assert!(entries("dev") >= 3, "full, v2, v3: {doc}");
    assert!(entries("prod") >= 2, "{doc}");
    // Who deployed is asked per target: prod's entries name the role assumed in its account.
    let who = |s: &str| {
        target(&doc, s)["report"]["entries"][0]["who"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        who("prod").contains(&format!("{OTHER_ACCOUNT}:assumed-role/deployer")),
        "{doc}"
    );
    assert!(!who("dev").contains(OTHER_ACCOUNT), "{doc}");
    let eu_v3 = rig.code_sha("eu", "Api").await;
    let (out, doc) = app.run_json(&["rollback", "--target", "dev", "--ci"]).await;
    assert_eq!(out.status.code(), Some(0), "{doc}");
    assert_eq!(
        rig.code_sha("dev", "Api").await,
        v2[0],
        "dev back at v2: {doc}"
    );
    assert_eq!(rig.code_sha("eu", "Api").await, eu_v3, "eu untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_profile_or_an_unconfirmed_target_deploys_nothing_anywhere() {
    let rig = rig().await;
    let app = &rig.app;
    let (out, doc) = app.run_json(&["full", "--all-targets", "--ci"]).await;
    assert_eq!(out.status.code(), Some(0), "{doc}");
    let before: Vec<String> = rig.code_shas(&["dev", "eu", "prod"], "Api").await;
    set_greeting(app.root(), "not yet");

    // A target whose profile is missing: exit 2 naming it and the fix; dev is not deployed.
    let toml = app.root().join("quickdeploy.toml");
    let mut text = std::fs::read_to_string(&toml).expect("toml");
    text.push_str("\n[targets.staging]\nregion = \"us-east-1\"\nprofile = \"staging-admin\"\nstack = \"qd-staging\"\n");
    std::fs::write(&toml, text).expect("toml");
    let out = app
        .run(&["deploy", "--target", "dev", "--target", "staging", "--ci"])
        .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("target staging"), "{err}");
    assert!(err.contains("\"staging-admin\""), "{err}");
    assert!(err.contains("profiles there: eu"), "{err}");
    assert_eq!(
        rig.code_sha("dev", "Api").await,
        before[0],
        "nothing deployed to dev"
    );

    // A role that cannot be assumed (STS does not answer): exit 2 naming the target, the role
    // and the fix, before anything is deployed to dev.
    let mut cmd = app.command(&["deploy", "--target", "dev", "--target", "prod", "--ci"]);
    cmd.env("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9");
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run"))
        .await
        .expect("join");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("target prod"), "{err}");
    assert!(
        err.contains("assuming arn:aws:iam::222222222222:role/deployer failed"),
        "{err}"
    );
    assert!(err.contains("[targets.prod]"), "{err}");
    assert_eq!(
        rig.code_sha("dev", "Api").await,
        before[0],
        "nothing deployed to dev"
    );

    // An unknown target name: exit 2 with the names there are.
    let out = app.run(&["deploy", "--target", "qa", "--ci"]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("dev, eu, prod, staging"), "{err}");

    // prod has confirm = true: --yes does not answer for it without a terminal (exit 3), and
    // no target is deployed; --ci does.
    let out = app
        .run(&["deploy", "--target", "dev", "--target", "prod", "--yes"])
        .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("target prod has `confirm = true`"), "{err}");
    assert_eq!(
        rig.code_sha("dev", "Api").await,
        before[0],
        "nothing deployed to dev"
    );
    let (out, doc) = app
        .run_json(&["deploy", "--target", "dev", "--target", "prod", "--ci"])
        .await;
    assert_eq!(out.status.code(), Some(0), "{doc}");
    assert_ne!(rig.code_sha("prod", "Api").await, before[2], "{doc}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_deploys_each_save_to_the_chosen_targets() {
    let rig = rig().await;
    let app = &rig.app;
    let (out, doc) = app.run_json(&["full", "--all-targets", "--ci"]).await;
    assert_eq!(out.status.code(), Some(0), "{doc}");
    let prod_before = rig.code_sha("prod", "Api").await;
    let watch =
        crate::watch::Watch::start(app, &["--target", "dev", "--target", "eu", "--ci"]).await;
    assert_eq!(watch.initial["ok"], true, "{}", watch.initial);
    let before = rig.code_shas(&["dev", "eu"], "Api").await;
    set_greeting(app.root(), "saved while watching");
    let round = watch
        .next(std::time::Duration::from_secs(30))
        .expect("a round after the save");
    assert_eq!(round["ok"], true, "{round}");
    let report = &round["report"];
    assert_eq!(report["failed"], serde_json::json!([]), "{round}");
    for (i, site) in ["dev", "eu"].into_iter().enumerate() {
        let live = rig.code_sha(site, "Api").await;
        assert_ne!(live, before[i], "{site} changed");
        assert_eq!(live, patched_sha(report, site), "{site} runs the save");
    }
    assert_eq!(
        report["targets"].as_array().map(Vec::len),
        Some(2),
        "{round}"
    );
    assert_eq!(
        rig.code_sha("prod", "Api").await,
        prod_before,
        "prod not chosen"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_installs_a_patcher_in_each_targets_account_and_region() {
    let rig = rig().await;
    let binary = testkit::bin("zipedit");
    let (out, doc) = rig
        .app
        .run_json(&[
            "bootstrap",
            "--binary",
            binary.to_str().expect("utf-8 path"),
            "--arch",
            "x86_64",
            "--all-targets",
        ])
        .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{doc}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(doc["failed"], serde_json::json!([]), "{doc}");
    for site in &rig.sites {
        let at = rig.at(&site.name);
        // Its patcher, under its own name, in its own account and region, with its bucket.
        let f = at
            .lambda
            .get_function()
            .function_name(site.patcher())
            .send()
            .await;
        assert!(
            f.is_ok(),
            "{}: no patcher {}: {doc}",
            site.name,
            site.patcher()
        );
        let t = target(&doc, &site.name);
        assert_eq!(
            t["report"]["bucket"].as_str(),
            Some(site.bucket().as_str()),
            "{doc}"
        );
    }
    // prod's patcher is not in the home account.
    let home = rig
        .at("eu")
        .lambda
        .get_function()
        .function_name("zipedit-prod")
        .send()
        .await;
    assert!(home.is_err(), "zipedit-prod only in the other account");
}
