//! Real SAM apps as they are written (issue 12): Globals, eight functions on one CodeUri,
//! CodeDeploy traffic shifting, a container image, a JSON template. Deployed into moto by
//! `quickdeploy full`; the rig's proxy expands the SAM transform with SAM's own translator, as
//! CloudFormation does on AWS, and answers GetTemplate with the SAM template as submitted
//! (testkit::sam), so quickdeploy reads the template as the user wrote it. moto does not make
//! a template's `AWS::Lambda::Alias` resources: the test makes them as CloudFormation would
//! (`testkit::sam::make_aliases`), then checks what quickdeploy does to them.

use std::collections::HashMap;
use std::path::Path;

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};
use testkit::app::{App, Rig};

/// A SAM test app deployed on its rig.
struct SamRig {
    rig: Rig,
    stack: &'static str,
}

impl std::ops::Deref for SamRig {
    type Target = Rig;
    fn deref(&self) -> &Rig {
        &self.rig
    }
}

/// The test app `tests/apps/NAME` on a fresh rig, deployed by `quickdeploy full --yes`, with
/// the aliases its expanded template declares.
async fn deployed(name: &str, stack: &'static str, bucket: &str) -> SamRig {
    let rig = Rig::start_app(name, bucket).await;
    let (out, doc) = rig.app.run_json(&["full", "--yes"]).await;
    assert!(
        out.status.success(),
        "full deploy of {name} failed: {doc}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sam = rig
        .proxy
        .sam_stack(stack)
        .expect("the proxy expanded the SAM template");
    let physical = rig.app.stack_functions(stack).await;
    testkit::sam::make_aliases(&rig.app.lambda, &sam, &physical).await;
    SamRig { rig, stack }
}

fn code_sha256(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

fn entry<'a>(doc: &'a Value, list: &str, logical_id: &str) -> &'a Value {
    doc[list]
        .as_array()
        .and_then(|fs| fs.iter().find(|f| f["logical_id"] == logical_id))
        .unwrap_or_else(|| panic!("no {logical_id} in {list} of {doc}"))
}

/// The version alias `alias` of `function` points at, and that version's CodeSha256.
async fn alias_code(app: &App, function: &str, alias: &str) -> (String, String) {
    let version = app
        .lambda
        .get_alias()
        .function_name(function)
        .name(alias)
        .send()
        .await
        .expect("get_alias")
        .function_version()
        .unwrap_or_default()
        .to_owned();
    let sha = app
        .lambda
        .get_function_configuration()
        .function_name(function)
        .qualifier(&version)
        .send()
        .await
        .expect("get_function_configuration of the version")
        .code_sha256()
        .unwrap_or_default()
        .to_owned();
    (version, sha)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quick_deploy_moves_the_alias_sam_globals_give_every_function() {
    let rig = deployed("sam-globals", "sam-globals", "sam-globals-artifacts").await;
    let app = &rig.app;
    // quickdeploy read the SAM template, not moto's expansion of it.
    assert!(
        rig.proxy
            .sam_stack(rig.stack)
            .is_some_and(|s| s.original.contains("AWS::Serverless-2016-10-31"))
    );
    let names = app.stack_functions(rig.stack).await;
    assert_eq!(names.len(), 8, "{names:?}");
    let mut before = Vec::new();
    for name in names.values() {
        before.push(alias_code(app, name, "live").await);
    }

    app.write(
        "src/greeting.py",
        "def greeting(name):\n    return f\"Hi, {name}!\"\n",
    );
    let (out, status) = app.run_json(&["status"]).await;
    assert_eq!(out.status.code(), Some(0), "{status}");
    assert_eq!(status["outcome"], "quick-deploy", "{status}");
    assert_eq!(status["artifacts"].as_array().map(Vec::len), Some(1));

    let (out, doc) = app.run_json(&["deploy", "--no-fallback"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{doc}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(doc["outcome"], "deployed", "{doc}");
    let patched = &doc["artifacts"][0]["patch"];
    let bytes = app
        .object_in(
            "sam-globals-artifacts",
            patched["key"].as_str().expect("key"),
            patched["version_id"].as_str(),
        )
        .await;
    let new_sha = code_sha256(&bytes);
    for (i, (id, name)) in names.iter().enumerate() {
        let f = entry(&doc, "functions", id);
        assert_eq!(f["status"], "updated", "{f}");
        // Globals' AutoPublishAlias: `live` moved, not just $LATEST.
        assert_eq!(f["aliases"], serde_json::json!(["live"]), "{f}");
        let (version, sha) = alias_code(app, name, "live").await;
        assert_eq!(sha, new_sha, "{id}: live runs the new code");
        assert_ne!(version, before[i].0, "{id}: live points at a new version");
        assert_eq!(f["version"], version.as_str());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_shifted_and_image_functions_are_not_quick_deployed_and_say_why() {
    let rig = deployed("sam-special", "sam-special", "sam-special-artifacts").await;
    let app = &rig.app;
    let names = app.stack_functions(rig.stack).await;

    // Canary's package changes: only a full deploy shifts its traffic through CodeDeploy.
    app.write(
        "canary/handler.py",
        "def main(event, context):\n    return \"canary 2\"\n",
    );
    let (out, status) = app.run_json(&["status"]).await;
    assert_eq!(out.status.code(), Some(0), "{status}");
    assert_eq!(status["outcome"], "needs-full", "{status}");
    let why = status["needs_full"].to_string();
    assert!(
        why.contains("Canary") && why.contains("DeploymentPreference"),
        "{why}"
    );
    assert!(
        entry(&status, "not_served", "Image")["reason"]
            .as_str()
            .is_some_and(|r| r.contains("PackageType: Image")),
        "{status}"
    );
    assert!(
        entry(&status, "not_served", "Canary")["reason"]
            .as_str()
            .is_some_and(|r| r.contains("DeploymentPreference"))
    );

    let canary_before = alias_code(app, &names["Canary"], "live").await;
    let (out, doc) = app.run_json(&["deploy", "--no-fallback"]).await;
    assert_eq!(out.status.code(), Some(3), "{doc}");
    assert_eq!(doc["outcome"], "needs-full", "{doc}");
    assert_eq!(
        doc["needs_full"], status["needs_full"],
        "status and deploy agree"
    );
    assert_eq!(doc["not_served"], status["not_served"]);
    assert_eq!(
        alias_code(app, &names["Canary"], "live").await,
        canary_before,
        "Canary untouched"
    );

    // Canary back as deployed, Plain changed: Plain is quick-deployed, Canary and Image are
    // left alone and listed as not served.
    app.write(
        "canary/handler.py",
        "def main(event, context):\n    return \"canary\"\n",
    );
    app.write(
        "plain/handler.py",
        "def main(event, context):\n    return \"plain 2\"\n",
    );
    let (out, doc) = app.run_json(&["deploy", "--no-fallback"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{doc}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(doc["outcome"], "deployed", "{doc}");
    assert_eq!(entry(&doc, "functions", "Plain")["status"], "updated");
    assert!(
        doc["functions"]
            .as_array()
            .is_some_and(|fs| fs.iter().all(|f| f["logical_id"] == "Plain")),
        "{doc}"
    );
    let plain_live = alias_code(app, &names["Plain"], "live").await;
    let latest = app
        .lambda
        .get_function_configuration()
        .function_name(&names["Plain"])
        .send()
        .await
        .expect("get_function_configuration");
    assert_eq!(Some(plain_live.1.as_str()), latest.code_sha256());
    entry(&doc, "not_served", "Image");
    entry(&doc, "not_served", "Canary");
}

#[test]
fn init_reports_the_globals_alias_and_writes_only_what_is_true() {
    let dir = tempfile::tempdir().expect("tmp");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("apps/sam-globals/template.yaml");
    std::fs::copy(&source, dir.path().join("template.yaml")).expect("copy");
    let out = std::process::Command::new(testkit::bin("quickdeploy"))
        .args(["init", "--stack", "app"])
        .current_dir(dir.path())
        .output()
        .expect("run init");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("with 8 function(s)"), "{said}");
    assert!(
        said.contains("aliases from Globals (AutoPublishAlias): live"),
        "{said}"
    );
    assert!(
        said.contains("shared package src: F1, F2, F3, F4, F5, F6, F7, F8"),
        "{said}"
    );
    let written = std::fs::read_to_string(dir.path().join("quickdeploy.toml")).expect("written");
    assert!(!written.contains("aliases ="), "{written}");
    assert_eq!(
        written.matches("# aliases from the template: live").count(),
        8,
        "{written}"
    );
    assert!(written.contains("relative to this file"), "{written}");

    // The JSON variant, with a traffic-shifted and an image function.
    let json = tempfile::tempdir().expect("tmp");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("apps/sam-special/template.json");
    std::fs::copy(&source, json.path().join("template.json")).expect("copy");
    let out = std::process::Command::new(testkit::bin("quickdeploy"))
        .args(["init"])
        .current_dir(json.path())
        .output()
        .expect("run init");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("not quick-deployed: Canary (DeploymentPreference"),
        "{said}"
    );
    assert!(said.contains("Image (PackageType: Image"), "{said}");
}

/// tests/apps/sam-shop's functions, each read back through `live` (the alias its events
/// call): the version it points at runs `code` with `layers`.
async fn check_live(app: &App, names: &HashMap<String, String>, code: &str, layers: &[String]) {
    assert_eq!(names.len(), 8, "{names:?}");
    for (id, name) in names {
        let live = app.alias_version(name, "live").await;
        assert_eq!(
            app.running(name, Some(&live)).await,
            (layers.to_vec(), code.to_owned()),
            "{id} through live (version {live})"
        );
    }
}

/// Deploys after `change` (files written), checking it went the quick path and every
/// function is updated; the deploy report.
async fn quick_deploy(app: &App, change: &[(&str, &str)]) -> Value {
    for (path, body) in change {
        app.write(path, body);
    }
    let (out, doc) = app.run_json(&["deploy", "--no-fallback"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{doc}\n{stderr}");
    assert_eq!(doc["outcome"], "deployed", "{doc}");
    let updated = doc["functions"]
        .as_array()
        .map(|fs| fs.iter().filter(|f| f["status"] == "updated").count());
    assert_eq!(updated, Some(8), "{doc}");
    doc
}

/// Issue 12's "done when", on an app of the shape it was filed on (tests/apps/sam-shop: eight
/// functions on one CodeUri with shared code, a local layer with shared code and a
/// requirements.txt, Globals with Runtime, Layers and AutoPublishAlias, API, SQS and DynamoDB
/// stream events): `init` and `full` with no hand edits, then a code change, a shared-code
/// change and a layer change each quick-deployed and verified live through `live`. moto's
/// gaps are closed as in the other SAM tests: the aliases made (`make_aliases`); the rig's
/// proxy gives functions the `Layers` CloudFormation would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_of_the_shape_issue_12_was_filed_on_deploys_with_init_and_full_then_quick() {
    const STACK: &str = "sam-shop";
    let rig = Rig::start_app(STACK, "sam-shop-artifacts").await;
    let app = &rig.app;
    let out = app
        .run(&["init", "--stack", STACK, "--bucket", "sam-shop-artifacts"])
        .await;
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("with 8 function(s)"), "{said}");
    assert!(said.contains("AutoPublishAlias): live"), "{said}");
    assert!(
        said.contains("layer Common (./layers/): used by AddToCart, CartChanged, GetProduct, ListProducts, PlaceOrder, ProcessOrder, Report, ShipOrder"),
        "the layer and its users: {said}"
    );
    let (out, doc) = app.run_json(&["full", "--yes"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{doc}\n{stderr}");
    let names = app.stack_functions(STACK).await;
    let sam = rig.proxy.sam_stack(STACK).expect("expanded");
    testkit::sam::make_aliases(&app.lambda, &sam, &names).await;
    let common1 = app.stack_layer(STACK, "Common").await;

    let code_of = |doc: &Value| {
        let a = doc["artifacts"].as_array().and_then(|a| {
            a.iter().find(|x| {
                x["artifact"]
                    .as_str()
                    .is_some_and(|s| s.ends_with("/src.zip"))
            })
        });
        a.and_then(|a| a["patch"]["code_sha256"].as_str())
            .unwrap_or_else(|| panic!("src.zip patched: {doc}"))
            .to_owned()
    };
    let doc = quick_deploy(
        app,
        &[(
            "src/report.py",
            "def daily(event, context):\n    return {\"report\": \"v2\"}\n",
        )],
    )
    .await;
    check_live(app, &names, &code_of(&doc), std::slice::from_ref(&common1)).await;
    let doc = quick_deploy(
        app,
        &[(
            "src/shared/money.py",
            "def cents(amount):\n    return round(amount * 100)\n",
        )],
    )
    .await;
    let code = code_of(&doc);
    check_live(app, &names, &code, std::slice::from_ref(&common1)).await;
    let doc = quick_deploy(
        app,
        &[(
            "layers/python/common/catalog.py",
            "PRODUCTS = {\"p1\": \"teapot\"}\n",
        )],
    )
    .await;
    let common2 = doc["artifacts"]
        .as_array()
        .and_then(|a| a.iter().find_map(|x| x["layers"][0]["published"].as_str()))
        .unwrap_or_else(|| panic!("a layer version published: {doc}"))
        .to_owned();
    check_live(app, &names, &code, &[common2]).await;
}
