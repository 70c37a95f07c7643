//! The rig deploys what AWS would (issue 23): `full` on a SAM app whose functions use a layer
//! of the same stack. moto 5.2.5 alone cannot update such a function: its CloudFormation hands
//! the LayerVersion object, not its ARN, to Lambda's model ("'LayerVersion' object has no
//! attribute 'replace'"), so after the first `full` every update left the functions with their
//! old code and settings, and quickdeploy's verification rightly refused it. On AWS this works.
//! The rig's proxy takes those `Layers` out of the templates moto sees and gives the functions
//! their layers itself after each change set (testkit::proxy, `without_function_layers`), so
//! moto updates code and settings as CloudFormation does. Everything is read back from moto.

use std::collections::HashMap;

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};
use testkit::app::{App, Rig};

const STACK: &str = "sam-shop";
const BUCKET: &str = "sam-shop-artifacts";

/// The code the functions' template (the expansion moto got) points at: the base64 SHA-256
/// of its S3 object, as Lambda's CodeSha256 says it, and the object's bytes. All eight
/// functions are on one CodeUri, so they share it.
async fn template_code(rig: &Rig) -> (String, Vec<u8>) {
    let sam = rig
        .proxy
        .sam_stack(STACK)
        .expect("the proxy expanded the SAM template");
    let resources = sam.expanded["Resources"].as_object().expect("resources");
    let codes: Vec<&Value> = resources
        .values()
        .filter(|r| r["Type"] == "AWS::Lambda::Function")
        .map(|r| &r["Properties"]["Code"])
        .collect();
    assert_eq!(codes.len(), 8, "{codes:?}");
    assert!(
        codes.iter().all(|c| *c == codes[0]),
        "one CodeUri: {codes:?}"
    );
    let code = codes[0];
    let bytes = rig
        .app
        .object_in(
            code["S3Bucket"].as_str().expect("S3Bucket"),
            code["S3Key"].as_str().expect("S3Key"),
            code["S3ObjectVersion"].as_str(),
        )
        .await;
    let sha = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&bytes));
    (sha, bytes)
}

/// Every function, read back from Lambda: it runs `code`, has `layer` as its only layer, and
/// has the MemorySize in `memory` (by logical id; 128, Lambda's default, for the others).
async fn check_functions(
    app: &App,
    names: &HashMap<String, String>,
    code: &str,
    layer: &str,
    memory: &[(&str, i32)],
    step: &str,
) {
    assert_eq!(names.len(), 8, "{names:?}");
    for (id, name) in names {
        let c = app
            .lambda
            .get_function_configuration()
            .function_name(name)
            .send()
            .await
            .expect("get_function_configuration");
        let layers: Vec<&str> = c.layers().iter().filter_map(|l| l.arn()).collect();
        let want_memory = memory
            .iter()
            .find(|(m, _)| m == id)
            .map_or(128, |(_, size)| *size);
        assert_eq!(
            (c.code_sha256(), layers, c.memory_size()),
            (Some(code), vec![layer], Some(want_memory)),
            "{step}: {id} ({name}) as the template says"
        );
    }
}

/// `full --yes`, which must succeed with its own verification passing (it reads every function
/// back and compares it with the template).
async fn full(app: &App, step: &str) -> Value {
    let (out, doc) = app.run_json(&["full", "--yes"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{step}: {doc}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(doc["outcome"], "deployed", "{step}: {doc}");
    doc
}

/// Quick-deploys after writing `path`: every function updated on the quick path; the code
/// the patch produced.
async fn quick_deploy(app: &App, path: &str, body: &str) -> String {
    app.write(path, body);
    let (out, doc) = app.run_json(&["deploy", "--no-fallback"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{doc}\n{stderr}");
    assert_eq!(doc["outcome"], "deployed", "{doc}");
    let updated = doc["functions"]
        .as_array()
        .map(|fs| fs.iter().filter(|f| f["status"] == "updated").count());
    assert_eq!(updated, Some(8), "{doc}");
    doc["artifacts"]
        .as_array()
        .and_then(|a| a.iter().find_map(|x| x["patch"]["code_sha256"].as_str()))
        .unwrap_or_else(|| panic!("src.zip patched: {doc}"))
        .to_owned()
}

/// The shopping-cart shape (tests/apps/sam-shop: a same-stack layer in `Globals` `Layers:
/// [!Ref Common]`, `AutoPublishAlias`, eight functions on one CodeUri): `full`, two quick
/// deploys, then a `full` for a requirements.txt change and one for a MemorySize change. Each
/// full passes quickdeploy's own verification, and every function reads back from Lambda as
/// the template says: its CodeSha256, its MemorySize, its layer. Without the proxy taking the
/// same-stack `Layers` out of what moto sees, the second `full` fails: moto's update raises
/// half way and the functions keep their old code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_updates_functions_on_a_same_stack_layer_as_on_aws_through_the_rigs_proxy() {
    let rig = Rig::start_app(STACK, BUCKET).await;
    let app = &rig.app;
    let out = app
        .run(&["init", "--stack", STACK, "--bucket", BUCKET])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    full(app, "first full").await;
    let names = app.stack_functions(STACK).await;
    let sam = rig.proxy.sam_stack(STACK).expect("expanded");
    testkit::sam::make_aliases(&app.lambda, &sam, &names).await;
    let layer = app.stack_layer(STACK, "Common").await;
    let (code, _) = template_code(&rig).await;
    check_functions(app, &names, &code, &layer, &[("Report", 256)], "first full").await;

    let code = quick_deploy(
        app,
        "src/report.py",
        "def daily(event, context):\n    return {\"report\": \"v2\"}\n",
    )
    .await;
    check_functions(app, &names, &code, &layer, &[("Report", 256)], "quick 1").await;
    let quick = quick_deploy(
        app,
        "src/shared/money.py",
        "def cents(amount):\n    return round(amount * 100)\n",
    )
    .await;
    check_functions(app, &names, &quick, &layer, &[("Report", 256)], "quick 2").await;

    // A dependency change: only a full deploys it.
    app.write("src/requirements.txt", "# the shop's dependencies\n");
    full(app, "full for requirements.txt").await;
    let (code, zip) = template_code(&rig).await;
    assert_ne!(code, quick, "the full deployed a new package");
    assert!(
        zip.windows(b"requirements.txt".len())
            .any(|w| w == b"requirements.txt"),
        "the package holds requirements.txt"
    );
    let layer = app.stack_layer(STACK, "Common").await;
    check_functions(
        app,
        &names,
        &code,
        &layer,
        &[("Report", 256)],
        "full for requirements.txt",
    )
    .await;

    // A settings change.
    let template = std::fs::read_to_string(app.path("template.yaml")).expect("template");
    let changed = template.replace("MemorySize: 256", "MemorySize: 512");
    assert_ne!(template, changed);
    app.write("template.yaml", &changed);
    full(app, "full for MemorySize").await;
    let (code_now, _) = template_code(&rig).await;
    assert_eq!(code_now, code, "the code did not change");
    let layer = app.stack_layer(STACK, "Common").await;
    check_functions(
        app,
        &names,
        &code,
        &layer,
        &[("Report", 512)],
        "full for MemorySize",
    )
    .await;
}

/// A plain CloudFormation template with a function on a same-stack layer.
fn layered_template(bucket: &str, memory: i32) -> String {
    serde_json::json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                               "Action": "sts:AssumeRole"}]}}},
            "Lay": {"Type": "AWS::Lambda::LayerVersion", "Properties": {
                "LayerName": "lay", "CompatibleRuntimes": ["python3.12"],
                "Content": {"S3Bucket": bucket, "S3Key": "layer.zip"}}},
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": {
                "Runtime": "python3.12", "Handler": "app.handler",
                "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                "Code": {"S3Bucket": bucket, "S3Key": "code.zip"},
                "MemorySize": memory, "Layers": [{"Ref": "Lay"}]}}
        }
    })
    .to_string()
}

/// The other ways a template reaches CloudFormation: CreateStack and UpdateStack with a
/// TemplateURL (as `aws cloudformation deploy` and `sam deploy` send large ones). The proxy
/// reads the template from S3 into the request, so moto gets it without the same-stack
/// `Layers` and updates the function as CloudFormation does; the proxy gives it its layer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_and_update_stack_from_a_template_url_update_a_layered_function_as_on_aws() {
    use testkit::zipcheck::{Flavor, zip_crate_archive};
    let rig = Rig::start_app(STACK, BUCKET).await;
    let s3 = &rig.app.s3;
    let zip = |name: &str, body: &[u8]| {
        zip_crate_archive(&[(name, body, 0o644)], &[], "", Flavor::Seekable)
    };
    testkit::rig::put_object(
        s3,
        BUCKET,
        "code.zip",
        zip("app.py", b"def handler(e, c):\n    return 1\n"),
    )
    .await;
    testkit::rig::put_object(s3, BUCKET, "layer.zip", zip("python/lib.py", b"X = 1\n")).await;
    let cfn =
        aws_sdk_cloudformation::Client::new(&testkit::rig::sdk_config(&rig.proxy.endpoint).await);
    for (step, memory) in [("create", 128), ("update", 512)] {
        let key = format!("{step}.json");
        testkit::rig::put_object(
            s3,
            BUCKET,
            &key,
            layered_template(BUCKET, memory).into_bytes(),
        )
        .await;
        let url = format!("{}/{BUCKET}/{key}", rig.proxy.endpoint);
        let iam = aws_sdk_cloudformation::types::Capability::CapabilityIam;
        if step == "create" {
            let sent = cfn
                .create_stack()
                .stack_name("url-stack")
                .template_url(&url);
            sent.capabilities(iam)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| format!("{e:?}"))
        } else {
            let sent = cfn
                .update_stack()
                .stack_name("url-stack")
                .template_url(&url);
            sent.capabilities(iam)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| format!("{e:?}"))
        }
        .unwrap_or_else(|e| panic!("{step}: {e}"));
        let names = rig.app.stack_functions("url-stack").await;
        let c = rig
            .app
            .lambda
            .get_function_configuration()
            .function_name(&names["Fn"])
            .send()
            .await
            .expect("get_function_configuration");
        let layers: Vec<&str> = c.layers().iter().filter_map(|l| l.arn()).collect();
        let layer = rig.app.stack_layer("url-stack", "Lay").await;
        assert_eq!(
            (c.memory_size(), layers),
            (Some(memory), vec![layer.as_str()]),
            "{step}: the function as the template says"
        );
    }
}
