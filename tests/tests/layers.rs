//! Local layer folders (issue 12): `quickdeploy full` packages a layer whose content is a
//! local folder (`AWS::Lambda::LayerVersion` `Content`, `AWS::Serverless::LayerVersion`
//! `ContentUri`) like a function's package, uploads it unless the same bytes are there, and
//! hands CloudFormation the uploaded object (`{S3Bucket, S3Key, S3ObjectVersion}`; SAM's
//! `{Bucket, Key, Version}`). The apps (tests/apps/cfn-layer, tests/apps/sam-layer) are
//! deployed into moto through the rig's proxy, which expands SAM with SAM's translator; moto
//! makes the layer version from the uploaded object. moto's CloudFormation drops a function's
//! `Layers`, so that the function uses the layer cannot be read back here.

use std::path::Path;

use serde_json::{Value, json};
use testkit::app::App;
use testkit::proxy::S3Proxy;
use testkit::rig::{Moto, Patcher};

/// One test app: its folder under tests/apps, stack, bucket, layer and the packaged form.
struct LayerApp {
    dir: &'static str,
    bucket: &'static str,
    layer: &'static str,
    /// The layer's content property in the packaged template, and its three field names.
    field: &'static str,
    names: [&'static str; 3],
}

fn layer_artifact<'a>(doc: &'a Value, layer: &str) -> &'a Value {
    doc["artifacts"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["layers"] == json!([layer])))
        .unwrap_or_else(|| panic!("no artifact for layer {layer} in {doc}"))
}

fn zip_names(bytes: &[u8]) -> Vec<String> {
    let archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip");
    let mut names: Vec<String> = archive
        .file_names()
        .map(|n| n.expect("entry name").into_owned())
        .collect();
    names.sort();
    names
}

/// `full --yes` twice: the layer's folder is uploaded the first time, as it is, the packaged
/// template points at it, moto makes the layer from it; the second time it is not written.
async fn full_uploads_the_layer_once(a: &LayerApp) {
    let moto = Moto::start();
    let proxy = S3Proxy::start(&moto.endpoint()).await;
    let patcher = Patcher::start_named(
        &testkit::bin("zipedit"),
        &moto.endpoint(),
        1,
        testkit::app::PATCHER,
    )
    .await;
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("apps")
        .join(a.dir);
    let app = App::from_dir(
        &source,
        a.bucket,
        &moto.endpoint(),
        &proxy.endpoint,
        &patcher.invoke_endpoint,
    )
    .await;
    let key = format!("quickdeploy/{}/layers-deps.zip", a.dir);

    let (out, doc) = app.run_json(&["full", "--yes"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{doc}\n{stderr}");
    assert_eq!(doc["outcome"], "deployed", "{doc}");
    let layer = layer_artifact(&doc, a.layer);
    assert_eq!(
        layer["artifact"],
        format!("s3://{}/{key}", a.bucket),
        "{doc}"
    );
    assert_eq!(layer["uploaded"], true, "{doc}");
    assert_eq!(layer["functions"], json!([]), "{doc}");

    // What CloudFormation was given: the layer's content is the uploaded object.
    let packaged = app.path(&format!(".quickdeploy/packaged/{}.json", a.dir));
    let packaged: Value =
        serde_json::from_str(&std::fs::read_to_string(packaged).expect("packaged template"))
            .expect("json");
    let content = &packaged["Resources"][a.layer]["Properties"][a.field];
    assert_eq!(content[a.names[0]], a.bucket, "{content}");
    assert_eq!(content[a.names[1]], key.as_str(), "{content}");
    let version = content[a.names[2]]
        .as_str()
        .unwrap_or_else(|| panic!("a pinned version: {content}"))
        .to_owned();

    // The object holds the folder as it is: a Python layer keeps python/...
    let names = zip_names(&app.object_in(a.bucket, &key, Some(&version)).await);
    assert!(
        names.contains(&"python/greeting/words.py".to_owned()),
        "{names:?}"
    );
    assert!(names.iter().all(|n| n.starts_with("python/")), "{names:?}");

    // moto made the layer version from that object.
    let layers = app.lambda.list_layers().send().await.expect("list_layers");
    let made = layers.layers();
    assert_eq!(made.len(), 1, "{layers:?}");
    let got = app
        .lambda
        .get_layer_version()
        .layer_name(made[0].layer_name().expect("a name"))
        .version_number(1)
        .send()
        .await
        .expect("get_layer_version");
    assert_eq!(
        got.content().and_then(|c| c.code_sha256()),
        layer["code_sha256"].as_str(),
        "{got:?}"
    );

    // Again, unchanged: the layer's object is not written again.
    moto.start_recording();
    let (out, doc) = app.run_json(&["full", "--yes"]).await;
    assert_eq!(out.status.code(), Some(0), "{doc}");
    assert_eq!(layer_artifact(&doc, a.layer)["uploaded"], false, "{doc}");
    let rewritten: Vec<String> = Moto::writes(&moto.recording())
        .into_iter()
        .filter(|w| {
            let url = w.split(' ').nth(1).unwrap_or_default();
            url.split('?').next().unwrap_or_default().ends_with(&key)
        })
        .collect();
    assert_eq!(rewritten, Vec::<String>::new());

    // A quick deploy does not update layers (yet): the local folder differs from the deployed
    // object in the template, so it needs a full deploy, and says so.
    let (out, doc) = app.run_json(&["deploy", "--no-fallback"]).await;
    assert_eq!(out.status.code(), Some(3), "{doc}");
    assert!(doc.to_string().contains(a.layer), "{doc}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_uploads_a_cloudformation_layer_folder_once_and_points_content_at_it() {
    full_uploads_the_layer_once(&LayerApp {
        dir: "cfn-layer",
        bucket: "cfn-layer-artifacts",
        layer: "DepsLayer",
        field: "Content",
        names: ["S3Bucket", "S3Key", "S3ObjectVersion"],
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_uploads_a_sam_layer_folder_once_and_points_content_uri_at_it() {
    full_uploads_the_layer_once(&LayerApp {
        dir: "sam-layer",
        bucket: "sam-layer-artifacts",
        layer: "Deps",
        field: "ContentUri",
        names: ["Bucket", "Key", "Version"],
    })
    .await;
}
