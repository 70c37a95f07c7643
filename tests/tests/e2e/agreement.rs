//! `quickdeploy status --json` says what `quickdeploy deploy --json` then does. Each situation
//! is set up on the rig (the example app deployed into moto by `quickdeploy full`, the real
//! zipedit binary behind the Lambda Invoke API, every CLI call through the fault proxy), then
//! `status` runs, then `deploy`, both as processes, and [`assert_agree`] compares them:
//!
//! - the outcome: `nothing-to-deploy` is `nothing-to-deploy`, `quick-deploy` is `deployed`,
//!   `needs-full` is `needs-full` (exit 3 with `--no-fallback`);
//! - the functions status marks for the quick path (action `quick` or `update`) are exactly the
//!   functions deploy updated; `full` is not an update deploy makes but the full deploy it
//!   refuses with `--no-fallback`, so a `full` action must come with deploy's `needs-full`;
//! - each artifact's change and changed paths, and the functions not served, are the same in
//!   both documents, and every reason status gives for a full deploy is among deploy's.
//!
//! Each test shares one rig between the cases it runs, as the other end-to-end tests do; every
//! case leaves the app as deployed, which the nothing-changed case then checks.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_lambda::primitives::Blob;
use serde_json::Value;
use testkit::app::{App, Rig};
use testkit::proxy::LambdaFault;
use testkit::zipcheck::{Flavor, zip_crate_archive};

const GREETING: &str = "def greeting(name):\n    return f\"Hi there, {name}!\"\n";
const GREETING_AGAIN: &str = "def greeting(name):\n    return f\"Hello again, {name}!\"\n";

/// What deploy does for each status outcome.
fn deploy_outcome_for(status_outcome: &str) -> &'static str {
    match status_outcome {
        "nothing-to-deploy" => "nothing-to-deploy",
        "quick-deploy" => "deployed",
        "needs-full" => "needs-full",
        other => panic!("status outcome {other:?} is not one of docs/json.md's"),
    }
}

/// `field` of each entry of `doc[list]`, by logical id (deploy leaves out an empty
/// `not_served`).
fn by_id(doc: &Value, list: &str, field: &str) -> BTreeMap<String, String> {
    let entries = match &doc[list] {
        Value::Null if list == "not_served" => &Vec::new(),
        v => v.as_array().unwrap_or_else(|| panic!("no {list} in {doc}")),
    };
    entries
        .iter()
        .map(|f| {
            (
                f["logical_id"].as_str().expect("logical_id").to_owned(),
                f[field].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The logical ids in `map` whose value is one of `values`.
fn ids_with(map: &BTreeMap<String, String>, values: &[&str]) -> BTreeSet<String> {
    map.iter()
        .filter(|(_, v)| values.contains(&v.as_str()))
        .map(|(k, _)| k.clone())
        .collect()
}

/// Per artifact: its change's kind and its changed paths.
fn changes(doc: &Value) -> BTreeMap<String, (Value, Value)> {
    doc["artifacts"]
        .as_array()
        .unwrap_or_else(|| panic!("no artifacts in {doc}"))
        .iter()
        .map(|a| {
            (
                a["artifact"].as_str().expect("artifact").to_owned(),
                (a["change"]["kind"].clone(), a["paths"].clone()),
            )
        })
        .collect()
}

/// The strings of a JSON list (none when it is left out).
fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Asserts that `deploy` (its document and exit code) did what `status` said it would.
fn assert_agree(case: &str, status: &Value, deploy: &Value, deploy_exit: Option<i32>) {
    let both = format!("{case}\nstatus: {status}\ndeploy (exit {deploy_exit:?}): {deploy}");
    assert_eq!(status["ok"], true, "status could not read: {both}");
    let said = status["outcome"].as_str().unwrap_or_default();
    assert_eq!(
        deploy["outcome"],
        deploy_outcome_for(said),
        "outcome: status said {said:?}; {both}"
    );
    let want_exit = if said == "needs-full" { 3 } else { 0 };
    assert_eq!(deploy_exit, Some(want_exit), "deploy's exit code: {both}");

    let actions = by_id(status, "functions", "action");
    let done = by_id(deploy, "functions", "status");
    assert_eq!(
        ids_with(&actions, &["quick", "update"]),
        ids_with(&done, &["updated"]),
        "status's quick and update actions {actions:?} are not the functions deploy updated \
         {done:?}: {both}"
    );
    let full = ids_with(&actions, &["full"]);
    if !full.is_empty() {
        assert_eq!(
            deploy["outcome"], "needs-full",
            "status marks {full:?} for a full deploy, deploy did not go the full way: {both}"
        );
    }

    // Artifacts, functions not served and the reasons for a full deploy, as both read them.
    assert_eq!(
        changes(status),
        changes(deploy),
        "artifacts' changes: {both}"
    );
    assert_eq!(
        by_id(status, "not_served", "reason"),
        by_id(deploy, "not_served", "reason"),
        "not served: {both}"
    );
    let (why_status, why_deploy) = (
        strings(&status["needs_full"]),
        strings(&deploy["needs_full"]),
    );
    assert!(
        why_status.is_subset(&why_deploy),
        "status's reasons for a full deploy are not deploy's: {both}"
    );
    assert_eq!(
        why_deploy.is_empty(),
        said != "needs-full",
        "deploy gives reasons for a full deploy exactly when status says needs-full: {both}"
    );
}

/// `status --json` (it reads only: exit 0), then `deploy --json ARGS`; compares them, and
/// returns both documents for the case's own checks.
async fn status_then_deploy(app: &App, case: &str, deploy_args: &[&str]) -> (Value, Value) {
    let (out, status) = app.run_json(&["status"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{case}: status failed: {status}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut args = vec!["deploy"];
    args.extend_from_slice(deploy_args);
    let (out, deploy) = app.run_json(&args).await;
    assert_agree(case, &status, &deploy, out.status.code());
    (status, deploy)
}

/// The example app's functions, in the order of [`Actions`].
const FUNCTIONS: [&str; 4] = [
    "GreetFunction",
    "HelloFunction",
    "ReportFunction",
    "WordCountFunction",
];

/// A value for each of [`FUNCTIONS`]: status's actions, or deploy's statuses.
type Actions = [&'static str; 4];

/// [`FUNCTIONS`] with `values`, as [`by_id`] gives them.
fn named(values: Actions) -> BTreeMap<String, String> {
    FUNCTIONS
        .iter()
        .zip(values)
        .map(|(id, v)| ((*id).to_owned(), v.to_owned()))
        .collect()
}

/// A case the quick path serves: status gives each function the action `want` says (and
/// `quick-deploy`, or `nothing-to-deploy` when every action is `none`); deploy, agreeing,
/// updates exactly the functions marked `quick` or `update`.
async fn quick_case(app: &App, case: &str, want: Actions) {
    let (status, deploy) = status_then_deploy(app, case, &[]).await;
    assert_eq!(
        by_id(&status, "functions", "action"),
        named(want),
        "{case}: {status}"
    );
    let acting = ids_with(&named(want), &["quick", "update"]);
    let outcome = match acting.is_empty() {
        true => "nothing-to-deploy",
        false => "quick-deploy",
    };
    assert_eq!(status["outcome"], outcome, "{case}: {status}");
    let updated = ids_with(&by_id(&deploy, "functions", "status"), &["updated"]);
    assert_eq!(updated, acting, "{case}: {deploy}");
}

/// (a) Nothing changed: nothing to deploy, and deploy updates nothing.
async fn nothing_changed(app: &App, case: &str) {
    quick_case(app, case, ["none", "none", "none", "none"]).await;
}

/// (e), (f), (g): status says a full deploy is needed, and `deploy --no-fallback` refuses it
/// (exit 3) having updated nothing; status's actions are `want`, when given.
async fn needs_full(app: &App, case: &str, want: Option<Actions>) -> (Value, Value) {
    let (status, deploy) = status_then_deploy(app, case, &["--no-fallback"]).await;
    assert_eq!(status["outcome"], "needs-full", "{case}: {status}");
    if let Some(want) = want {
        assert_eq!(
            by_id(&status, "functions", "action"),
            named(want),
            "{case}: {status}"
        );
    }
    assert_eq!(
        deploy["functions"],
        serde_json::json!([]),
        "{case}: {deploy}"
    );
    (status, deploy)
}

/// Every function `full`.
const ALL_FULL: Actions = ["full", "full", "full", "full"];

/// Rewrites the app's file at `path` with `edit`; the text it had.
fn edit(app: &App, path: &str, edit: impl Fn(&str) -> String) -> String {
    let before = std::fs::read_to_string(app.path(path)).expect("read");
    app.write(path, &edit(&before));
    before
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_says_what_the_quick_path_then_does() {
    let rig = Rig::deployed().await;
    let (app, proxy) = (&rig.app, &rig.proxy);
    let names = app.function_names().await;
    nothing_changed(app, "(a) just deployed").await;

    // (b) A code change in the shared package: its two functions, not the report's.
    app.write("src/shared/greeting.py", GREETING);
    let case = "(b) code change in src/shared";
    quick_case(app, case, ["quick", "quick", "none", "none"]).await;
    nothing_changed(app, "(a) after (b)").await;

    // (c) The report function's code changed out of band, to a zip of something else: it does
    // not run its artifact, the artifact itself is current.
    let other = zip_crate_archive(
        &[("report.py", b"def handler(e, c):\n    return 0\n", 0o644)],
        &[],
        "",
        Flavor::Seekable,
    );
    app.lambda
        .update_function_code()
        .function_name(&names["ReportFunction"])
        .zip_file(Blob::new(other))
        .send()
        .await
        .expect("update_function_code out of band");
    let case = "(c) ReportFunction changed out of band";
    quick_case(app, case, ["none", "none", "update", "none"]).await;
    nothing_changed(app, "(a) after (c)").await;

    // (d) A Failed function. moto's updates never fail, so the fault proxy reports Hello's
    // next update Failed (LastUpdateStatus in the UpdateFunctionCode answer and in every
    // GetFunctionConfiguration after it, until its next update, as Lambda does). The deploy
    // that meets it updates Greet and fails Hello (exit 1, outcome failed): that is the setup,
    // not a case.
    let hello = &names["HelloFunction"];
    let fail = LambdaFault {
        fail_with: Some("InternalError: the rig fails this update".into()),
        ..LambdaFault::default()
    };
    proxy.lambda_fault(hello, fail);
    app.write("src/shared/greeting.py", GREETING_AGAIN);
    let (out, setup) = app.run_json(&["deploy"]).await;
    assert_eq!(out.status.code(), Some(1), "setup of (d): {setup}");
    assert_eq!(
        by_id(&setup, "functions", "status"),
        named(["updated", "failed", "skipped", "skipped"]),
        "setup of (d): {setup}"
    );
    // The fault is gone; Hello is still reported Failed until it is updated again.
    proxy.lambda_fault(hello, LambdaFault::default());
    let case = "(d) HelloFunction's last update Failed";
    quick_case(app, case, ["none", "update", "none", "none"]).await;
    nothing_changed(app, "(a) after (d)").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_says_when_deploy_needs_the_full_way() {
    let rig = Rig::deployed().await;
    let app = &rig.app;

    // (e) A dependency change, with a code change beside it.
    app.write("src/shared/greeting.py", GREETING);
    let requirements = edit(app, "src/shared/requirements.txt", |_| {
        "requests==2.32.3\n".into()
    });
    let case = "(e) requirements.txt changed in src/shared";
    let (_, deploy) = needs_full(app, case, Some(ALL_FULL)).await;
    let why = deploy["needs_full"].to_string();
    assert!(why.contains("requirements.txt"), "{case}: {why}");
    app.write("src/shared/requirements.txt", &requirements);

    // (f) A template change: ReportFunction's MemorySize (the code change still pending).
    let template = edit(app, "template.yaml", |t| {
        t.replacen("MemorySize: 256", "MemorySize: 512", 1)
    });
    let case = "(f) MemorySize changed in the template";
    let (_, deploy) = needs_full(app, case, Some(ALL_FULL)).await;
    let why = deploy["needs_full"].to_string();
    assert!(why.contains("MemorySize"), "{case}: {why}");
    app.write("template.yaml", &template);
}

/// Protects the example app's stack by a pattern in quickdeploy.toml (the stack tag
/// `quickdeploy:protected=true` is read into the same reason, on the same path).
fn protect(app: &App) {
    edit(app, "quickdeploy.toml", |t| {
        format!("{t}protected = [\"quickdeploy-*\"]\n")
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_says_a_protected_stack_with_nothing_changed_needs_the_full_way() {
    let rig = Rig::deployed().await;
    let app = &rig.app;
    protect(app);
    // (g) with nothing to deploy: deploy still refuses the quick path, and status says so.
    let case = "(g) protected stack, nothing changed";
    let (status, deploy) = needs_full(app, case, None).await;
    let protected = status["protected"].as_str().unwrap_or_default();
    assert!(protected.contains("quickdeploy-*"), "{case}: {status}");
    let why = deploy["needs_full"].to_string();
    assert!(why.contains("quickdeploy-*"), "{case}: {why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_says_a_protected_stack_with_a_code_change_needs_the_full_way() {
    let rig = Rig::deployed().await;
    let app = &rig.app;
    protect(app);
    app.write("src/shared/greeting.py", GREETING);
    // (g) the case protection is for: a code change that a quick deploy would take live.
    let case = "(g) protected stack, code change in src/shared";
    let (status, _) = needs_full(app, case, Some(ALL_FULL)).await;
    assert!(status["protected"].is_string(), "{case}: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_says_deploy_will_try_a_function_it_cannot_read() {
    let rig = Rig::deployed().await;
    let app = &rig.app;
    // Not in the brief's list: a function status cannot read (here deleted out of band, so
    // GetFunctionConfiguration answers 404; a denied or throttled read is the same to both).
    // Whatever deploy does with it, status must say it: deploy's attempts are status's actions.
    let report = app.function_names().await["ReportFunction"].clone();
    app.lambda
        .delete_function()
        .function_name(&report)
        .send()
        .await
        .expect("delete_function out of band");
    let case = "(h) ReportFunction cannot be read";
    let (out, status) = app.run_json(&["status"]).await;
    assert_eq!(out.status.code(), Some(0), "{case}: {status}");
    let (out, deploy) = app.run_json(&["deploy"]).await;
    let exit = out.status.code();
    let both = format!("{case}\nstatus: {status}\ndeploy (exit {exit:?}): {deploy}");
    let attempted = ids_with(
        &by_id(&deploy, "functions", "status"),
        &["updated", "failed"],
    );
    let acting = ids_with(&by_id(&status, "functions", "action"), &["quick", "update"]);
    assert_eq!(acting, attempted, "the functions deploy tried: {both}");
    if status["outcome"] == "nothing-to-deploy" {
        assert_eq!(exit, Some(0), "{both}");
    }
}
