//! CDK apps run on the local rig (issue 24): the CDK's own CLI (`tests/apps/cdk-app`, aws-cdk
//! 2.1149.0) bootstraps, deploys and hotswaps through the rig's proxy as on AWS, and the two
//! places where moto alone differs from CloudFormation are shown, each with what the proxy
//! makes of it:
//! - a `TemplateURL` at `http://127.0.0.1:PORT/bucket/key` (the endpoint form the CDK needs):
//!   moto takes the bucket from the host unless it says `localhost`, and looks for bucket `127`;
//! - change sets per stack: moto looks a change set's name up across all stacks, so the CDK's
//!   `cdk-deploy-change-set` of one stack answers for another's, and a missing one is a
//!   ValidationError, not ChangeSetNotFound: a redeploy of two stacks hung (the CDK waits for its
//!   deleted change set to be gone).
//!
//! A third, shown by the redeploy here and by the proxy's unit test: moto keeps an SSM-typed
//! parameter's resolved value as its previous value (the CDK's `BootstrapVersion`, given as
//! `UsePreviousValue`), so every second `cdk deploy` of a stack was a 500 in ExecuteChangeSet.
//!
//! Everything is read back from moto. Times on this machine (2 cores, `cdk_rig::` alone): 30 s
//! for the module, nearly all of it the CDK test (bootstrap and synth side by side, deploy,
//! hotswap, redeploy); the two moto tests about 1 s each.

use std::collections::HashMap;

use aws_sdk_cloudformation::Client as Cfn;
use testkit::cdk::{ASSETS_BUCKET, CdkRig, STACKS, blocking};
use testkit::proxy::S3Proxy;
use testkit::rig::{Moto, sdk_config};

/// Every function of both stacks runs the asset its synthesized template names (GetFunction's
/// CodeSha256 is that of the asset zip in the CDK's assets bucket), and the layer version
/// holds its asset; `step` names the moment, for messages.
async fn check_assets(rig: &CdkRig, step: &str) {
    let live = rig.code_shas().await;
    let mut functions = 0;
    for stack in STACKS {
        let template = rig.cdk.template(stack);
        for (id, sha) in rig.asset_shas(stack).await {
            match template["Resources"][&id]["Type"].as_str() {
                Some("AWS::Lambda::Function") => {
                    functions += 1;
                    assert_eq!(
                        live.get(&id),
                        Some(&sha),
                        "{step}: {stack}/{id} does not run its asset; live: {live:?}"
                    );
                }
                Some("AWS::Lambda::LayerVersion") => {
                    let arn = rig.rig.app.stack_layer(stack, &id).await;
                    // `…:layer:NAME:VERSION` (moto's GetLayerVersionByArn answers 500).
                    let mut parts = arn.rsplitn(3, ':');
                    let version = parts.next().and_then(|v| v.parse().ok());
                    let name = parts.next().expect("layer name");
                    let layer = rig
                        .rig
                        .app
                        .lambda
                        .get_layer_version()
                        .layer_name(name)
                        .set_version_number(version)
                        .send()
                        .await
                        .expect("get_layer_version");
                    let content = layer.content().expect("layer content");
                    assert_eq!(
                        content.code_sha256(),
                        Some(sha.as_str()),
                        "{step}: layer {arn} does not hold its asset"
                    );
                }
                other => panic!("{step}: {stack}/{id} is a {other:?}"),
            }
        }
    }
    // getOne, list, helloPy; worker.
    assert_eq!(functions, 4, "{step}: functions of both stacks: {live:?}");
}

/// QdCdkJobs' nested stack (`Reports`, a NestedStack): its physical id in its parent is its
/// stack ARN, as CloudFormation gives it (moto gives the nested stack's name: the proxy
/// answers as AWS does), and its function runs the asset its own template names.
async fn check_nested(rig: &CdkRig, step: &str) {
    let stacks = rig.nested_stacks("QdCdkJobs").await;
    let at_moto = rig.nested_stacks_at_moto("QdCdkJobs").await;
    assert_eq!(stacks.len(), 1, "{step}: one nested stack: {stacks:?}");
    for (id, arn) in &stacks {
        let name = &at_moto[id];
        assert!(
            name.starts_with("QdCdkJobs-Reports") && !name.starts_with("arn:"),
            "{step}: moto gives the nested stack's name: {name}"
        );
        assert!(
            arn.starts_with(&format!(
                "arn:aws:cloudformation:us-east-1:123456789012:stack/{name}/"
            )),
            "{step}: a nested stack's physical id is its ARN at the proxy: {arn}"
        );
    }
    let names = rig.nested_functions("QdCdkJobs").await;
    let live = rig.rig.app.code_shas_of(&names).await;
    let mut functions = 0;
    for (id, template) in rig.cdk.nested_templates("QdCdkJobs") {
        for (f, r) in template["Resources"].as_object().into_iter().flatten() {
            if r["Type"] != "AWS::Lambda::Function" {
                continue;
            }
            functions += 1;
            let key = r["Properties"]["Code"]["S3Key"].as_str().expect("S3Key");
            let zip = rig.rig.app.object_in(ASSETS_BUCKET, key, None).await;
            assert_eq!(
                live.get(&format!("{id}/{f}")),
                Some(&testkit::fixtures::code_sha256(&zip)),
                "{step}: the nested {f} does not run its asset; live {live:?}"
            );
        }
    }
    assert_eq!(functions, 1, "{step}: reportFunction: {live:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cdk_bootstraps_deploys_and_hotswaps_on_the_rig() {
    let rig = CdkRig::deployed().await;
    check_assets(&rig, "after cdk deploy").await;
    check_nested(&rig, "after cdk deploy").await;
    let names = rig.rig.app.stack_functions("QdCdkApi").await;
    let hello = &names["helloPyFunction5B268986"];
    let config = rig
        .rig
        .app
        .lambda
        .get_function_configuration()
        .function_name(hello)
        .send()
        .await
        .expect("helloPy");
    assert_eq!(
        config.layers().len(),
        1,
        "helloPy has the stack's layer: {config:?}"
    );

    // One line in one handler, the CDK's fast path: only that function's code moves.
    let before = rig.code_shas().await;
    let handler = rig.rig.app.path("lambdas/get-one.ts");
    let text = std::fs::read_to_string(&handler).expect("get-one.ts");
    let edited = text.replacen("greeting('get-one')", "greeting('get-one, edited')", 1);
    assert_ne!(text, edited, "the edit applies");
    std::fs::write(&handler, edited).expect("edit");
    let hotswap = blocking(|| rig.cdk.hotswap(&["QdCdkApi"])).assert_ok();
    assert!(
        hotswap.output.contains("hotswapped!"),
        "the CDK hotswapped rather than deployed:\n{}",
        hotswap.output
    );
    check_assets(&rig, "after cdk deploy --hotswap").await;
    let after = rig.code_shas().await;
    let moved: Vec<&String> = after
        .iter()
        .filter(|(id, sha)| before.get(*id) != Some(sha))
        .map(|(id, _)| id)
        .collect();
    assert_eq!(
        moved,
        ["getOneItemFunctionE3257B22"],
        "only get-one changed; before {before:?}, after {after:?}"
    );

    // A full deploy of both stacks again: each stack's old `cdk-deploy-change-set` is deleted
    // and waited for, as CloudFormation keeps them (per stack: the proxy), then the new one runs.
    let redeploy = blocking(|| rig.cdk.deploy(&STACKS)).assert_ok();
    assert!(
        redeploy.output.contains("✅  QdCdkApi") && redeploy.output.contains("✅  QdCdkJobs"),
        "{}",
        redeploy.output
    );
    check_assets(&rig, "after a second cdk deploy").await;
    check_nested(&rig, "after a second cdk deploy").await;
}

/// CloudFormation clients at moto and at a proxy in front of it.
async fn clients() -> (Moto, S3Proxy, Cfn, Cfn, aws_sdk_s3::Client) {
    let moto = Moto::start();
    let proxy = S3Proxy::start(&moto.endpoint()).await;
    let at_moto = Cfn::new(&sdk_config(&moto.endpoint()).await);
    let at_proxy = Cfn::new(&sdk_config(&proxy.endpoint).await);
    let s3 = testkit::rig::s3_client(&moto.endpoint()).await;
    (moto, proxy, at_moto, at_proxy, s3)
}

const TEMPLATE: &str = r#"{"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_url_at_127_0_0_1_is_read_as_cloudformation_reads_it() {
    let (moto, proxy, at_moto, at_proxy, s3) = clients().await;
    testkit::rig::make_bucket(&s3, ASSETS_BUCKET, false).await;
    testkit::rig::put_object(&s3, ASSETS_BUCKET, "t.json", TEMPLATE.into()).await;
    let url_at = |endpoint: &str| {
        format!(
            "{}/{ASSETS_BUCKET}/t.json",
            testkit::cdk::cdk_endpoint(endpoint)
        )
    };
    let create = |cfn: &Cfn, stack: &str, url: String| {
        cfn.create_change_set()
            .stack_name(stack)
            .change_set_name("cdk-deploy-change-set")
            .change_set_type(aws_sdk_cloudformation::types::ChangeSetType::Create)
            .template_url(url)
            .send()
    };

    // moto alone: the bucket is taken from the host, `127`.
    let err = create(&at_moto, "straight", url_at(&moto.endpoint()))
        .await
        .expect_err("moto reads http://127.0.0.1:PORT/bucket/key as bucket 127");
    let said = format!(
        "{:?}",
        aws_sdk_cloudformation::error::DisplayErrorContext(&err)
    );
    assert!(said.contains("bucket does not exist"), "{said}");

    // Through the proxy: the template is read from its bucket and key, as on AWS.
    let made = create(&at_proxy, "proxied", url_at(&proxy.endpoint))
        .await
        .expect("a change set from the template at the URL");
    let described = at_proxy
        .describe_change_set()
        .change_set_name(made.id().expect("id"))
        .send()
        .await
        .expect("describe");
    let added: Vec<&str> = described
        .changes()
        .iter()
        .filter_map(|c| c.resource_change()?.logical_resource_id())
        .collect();
    assert_eq!(added, ["Topic"], "{described:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_sets_are_kept_per_stack_as_cloudformation_keeps_them() {
    let (_moto, _proxy, at_moto, at_proxy, _s3) = clients().await;
    const NAME: &str = "cdk-deploy-change-set";
    let mut ids = HashMap::new();
    for stack in ["Api", "Jobs"] {
        let made = at_proxy
            .create_change_set()
            .stack_name(stack)
            .change_set_name(NAME)
            .change_set_type(aws_sdk_cloudformation::types::ChangeSetType::Create)
            .template_body(TEMPLATE)
            .send()
            .await
            .expect("create change set");
        ids.insert(stack, made.id().expect("id").to_owned());
    }
    let describe = |cfn: &Cfn, stack: &str| {
        cfn.describe_change_set()
            .stack_name(stack)
            .change_set_name(NAME)
            .send()
    };
    // By name, each stack's own (moto gives the last one made, whatever the stack).
    for stack in ["Api", "Jobs"] {
        let d = describe(&at_proxy, stack).await.expect("describe");
        assert_eq!(
            d.change_set_id(),
            Some(ids[stack].as_str()),
            "{stack}: {d:?}"
        );
    }
    let listed = at_proxy
        .list_change_sets()
        .stack_name("Api")
        .send()
        .await
        .expect("list");
    let stacks: Vec<&str> = listed
        .summaries()
        .iter()
        .filter_map(|s| s.stack_name())
        .collect();
    assert_eq!(stacks, ["Api"], "ListChangeSets names the stack's own only");

    // The CDK's cleanup before a deploy: delete by name, then wait until it is gone.
    at_proxy
        .delete_change_set()
        .stack_name("Api")
        .change_set_name(NAME)
        .send()
        .await
        .expect("delete Api's change set");
    let at_moto_after = describe(&at_moto, "Api")
        .await
        .expect("moto answers with another stack's change set");
    assert_eq!(
        at_moto_after.stack_name(),
        Some("Jobs"),
        "moto's lookup ignores StackName"
    );
    let gone = describe(&at_proxy, "Api")
        .await
        .expect_err("Api has no change set now");
    assert!(
        gone.as_service_error()
            .is_some_and(|e| e.is_change_set_not_found_exception()),
        "ChangeSetNotFound, as the CDK waits for: {:?}",
        aws_sdk_cloudformation::error::DisplayErrorContext(&gone)
    );
    let jobs = describe(&at_proxy, "Jobs")
        .await
        .expect("Jobs keeps its own");
    assert_eq!(jobs.change_set_id(), Some(ids["Jobs"].as_str()));
    // Deleting what is not there succeeds, as CloudFormation's does for a stack that exists.
    at_proxy
        .delete_change_set()
        .stack_name("Api")
        .change_set_name(NAME)
        .send()
        .await
        .expect("a second delete");
    assert!(
        describe(&at_proxy, "Jobs").await.is_ok(),
        "Jobs' change set survives Api's deletes"
    );
}
