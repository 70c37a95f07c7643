//! Many functions on one package (issue 15, scale): from `current::LIST_FROM` functions on,
//! deploy reads what they run with ListFunctions (50 a call) instead of one GetFunction each,
//! and reads again by GetFunction only the functions that seem to run their target code
//! already, since ListFunctions leaves out LastUpdateStatus: a function whose last update
//! Failed (the rig's proxy says so, as moto cannot) is then updated again, not skipped.

use std::collections::BTreeMap;

use serde_json::Value;
use testkit::app::Rig;
use testkit::proxy::LambdaFault;

/// Functions on the shared package: past `LIST_FROM`.
const SHARED: usize = 21;

/// The app: SHARED functions on `src/shared`, one (`Other`) on `src/other`.
fn write_app(dir: &std::path::Path) {
    let mut template = String::from(
        "AWSTemplateFormatVersion: \"2010-09-09\"\nResources:\n  Role:\n    Type: AWS::IAM::Role\n    Properties:\n      AssumeRolePolicyDocument:\n        Version: \"2012-10-17\"\n        Statement:\n          - Effect: Allow\n            Principal: {Service: lambda.amazonaws.com}\n            Action: sts:AssumeRole\n",
    );
    let function = |id: &str, code: &str| {
        format!(
            "  {id}:\n    Type: AWS::Lambda::Function\n    Properties:\n      Runtime: python3.12\n      Handler: app.handler\n      Role: !GetAtt Role.Arn\n      Code: {code}\n"
        )
    };
    for i in 0..SHARED {
        template.push_str(&function(&format!("Fn{i:02}"), "./src/shared"));
    }
    template.push_str(&function("Other", "./src/other"));
    for (folder, body) in [("src/shared", "v = 1\n"), ("src/other", "o = 1\n")] {
        std::fs::create_dir_all(dir.join(folder)).expect("mkdir");
        std::fs::write(
            dir.join(folder).join("app.py"),
            format!("{body}def handler(e, c):\n    return v\n"),
        )
        .expect("write");
    }
    std::fs::write(dir.join("template.yaml"), template).expect("template");
    std::fs::write(
        dir.join("quickdeploy.toml"),
        "stack = \"many\"\ntemplate = \"template.yaml\"\nartifact_bucket = \"many-artifacts\"\n",
    )
    .expect("toml");
}

/// Lambda requests by kind in moto's recording: ListFunctions, GetFunction, UpdateFunctionCode.
fn lambda_calls(recording: &[Value]) -> BTreeMap<&'static str, usize> {
    let mut out = BTreeMap::new();
    for r in recording {
        let (method, url) = (r["method"].as_str(), r["url"].as_str().unwrap_or_default());
        let path = url.split('?').next().unwrap_or_default();
        let Some(rest) = path.split("/2015-03-31/functions").nth(1) else {
            continue;
        };
        let kind = match (method, rest.trim_matches('/').split('/').count(), rest) {
            (Some("GET"), _, "" | "/") => "ListFunctions",
            (Some("GET"), 1, _) => "GetFunction",
            (Some("PUT"), _, r) if r.ends_with("/code") => "UpdateFunctionCode",
            _ => continue,
        };
        *out.entry(kind).or_insert(0) += 1;
    }
    out
}

/// Each function's status, by logical id.
fn statuses(doc: &Value) -> BTreeMap<String, String> {
    testkit::fixtures::statuses(doc).into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_functions_are_read_by_listing_and_a_failed_one_is_still_retried() {
    let source = tempfile::tempdir().expect("tmp");
    write_app(source.path());
    let rig = Rig::start_with(source.path(), "many-artifacts").await;
    let app = &rig.app;
    let (out, doc) = app.run_json(&["full", "--yes"]).await;
    assert!(out.status.success(), "{doc}");
    let names = app.stack_functions("many").await;

    // A change to the shared package: its 21 functions are listed, not read one by one;
    // only Other, which runs its (unchanged) target already, is read by GetFunction.
    app.write(
        "src/shared/app.py",
        "v = 2\ndef handler(e, c):\n    return v\n",
    );
    rig.moto.start_recording();
    let (out, doc) = app.run_json(&["deploy", "--ci"]).await;
    assert_eq!(out.status.code(), Some(0), "{doc}");
    let calls = lambda_calls(&rig.moto.recording());
    assert_eq!(calls.get("UpdateFunctionCode"), Some(&SHARED), "{calls:?}");
    assert_eq!(calls.get("GetFunction"), Some(&1), "Other only: {calls:?}");
    assert!(
        calls.get("ListFunctions").is_some_and(|n| *n >= 1),
        "{calls:?}"
    );
    let s = statuses(&doc);
    assert_eq!(s["Other"], "skipped", "{doc}");
    assert!(
        s.iter()
            .filter(|(id, _)| *id != "Other")
            .all(|(_, st)| st == "updated"),
        "{doc}"
    );

    // Fn03's next update fails (the proxy reports Failed, and keeps reporting it).
    rig.proxy.lambda_fault(
        &names["Fn03"],
        LambdaFault {
            fail_with: Some("Injected: the update failed".into()),
            ..LambdaFault::default()
        },
    );
    app.write(
        "src/shared/app.py",
        "v = 3\ndef handler(e, c):\n    return v\n",
    );
    let (out, doc) = app.run_json(&["deploy", "--ci"]).await;
    assert_eq!(out.status.code(), Some(1), "{doc}");
    assert_eq!(statuses(&doc)["Fn03"], "failed", "{doc}");

    // Nothing changed since, and Fn03 reports the artifact's CodeSha256 (moto applied it), so
    // the listing alone would skip it: read again, its Failed update is retried.
    rig.proxy
        .lambda_fault(&names["Fn03"], LambdaFault::default());
    let (_, status) = app.run_json(&["status"]).await;
    let fn03 = status["functions"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["logical_id"] == "Fn03"))
        .expect("Fn03 in status");
    assert_eq!(fn03["live"], false, "status says it is not live: {status}");
    let (out, doc) = app.run_json(&["deploy", "--ci"]).await;
    assert_eq!(out.status.code(), Some(0), "{doc}");
    let s = statuses(&doc);
    assert_eq!(s["Fn03"], "updated", "retried: {doc}");
    assert_eq!(
        s.values().filter(|st| *st == "skipped").count(),
        SHARED,
        "the rest already run it: {doc}"
    );
}
