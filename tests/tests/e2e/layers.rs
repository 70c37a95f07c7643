//! Local layer folders (issue 12): `quickdeploy full` packages a layer whose content is a
//! local folder (`AWS::Lambda::LayerVersion` `Content`, `AWS::Serverless::LayerVersion`
//! `ContentUri`) like a function's package, uploads it unless the same bytes are there, and
//! hands CloudFormation the uploaded object (`{S3Bucket, S3Key, S3ObjectVersion}`; SAM's
//! `{Bucket, Key, Version}`). The apps (tests/apps/cfn-layer, tests/apps/sam-layer) are
//! deployed into moto through the rig's proxy, which expands SAM with SAM's translator; moto
//! makes the layer version from the uploaded object. moto's CloudFormation drops a function's
//! `Layers`; the rig's proxy gives them back after each change set, as CloudFormation would.

use serde_json::{Value, json};
use testkit::app::{App, Rig};
use testkit::rig::Moto;

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
    let rig = Rig::start_app(a.dir, a.bucket).await;
    let (moto, app) = (&rig.moto, &rig.app);
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

    // The layer's content moving from its folder to S3 is not a template change: a quick
    // deploy has nothing to do (before issue 12's quick layer path it wanted a full deploy).
    let (out, doc) = app.run_json(&["deploy", "--no-fallback"]).await;
    assert_eq!(out.status.code(), Some(0), "{doc}");
    assert_eq!(doc["outcome"], "nothing-to-deploy", "{doc}");

    // `full` read the function back with the layer (the rig's proxy sets functions' Layers as
    // CloudFormation does). Someone then removes it by hand: drift. A layer change publishes
    // a version, but the function is not moved onto a layer list nobody deployed: it fails,
    // naming the fix.
    let names = app.stack_functions(a.dir).await;
    for name in names.values() {
        app.lambda
            .update_function_configuration()
            .function_name(name)
            .set_layers(Some(Vec::new()))
            .send()
            .await
            .expect("drift by hand");
    }
    let code_before = app.code_shas_of(&names).await;
    // `full` with nothing to change reads every function back, Layers too, and says so.
    let (out, doc) = app.run_json(&["full", "--yes"]).await;
    assert_eq!(out.status.code(), Some(1), "{doc}");
    let why = doc["error"].as_str().unwrap_or_default();
    assert!(why.contains("Layers are [], the template says ["), "{doc}");
    app.write(
        "layers/deps/python/greeting/words.py",
        "def hello_to(name):\n    return f\"hi, {name}\"\n",
    );
    let (out, doc) = app.run_json(&["deploy", "--no-fallback"]).await;
    assert_eq!(out.status.code(), Some(1), "{doc}");
    let f = &doc["functions"][0];
    assert_eq!(f["status"], "failed", "{doc}");
    let why = f["reason"].as_str().unwrap_or_default();
    assert!(
        why.contains("does not use layer") && why.contains("quickdeploy full"),
        "{doc}"
    );
    assert_eq!(
        app.code_shas_of(&app.stack_functions(a.dir).await).await,
        code_before
    );
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

/// The artifact of layer `id` in a deploy report.
pub(crate) fn layer_report<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["artifacts"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["layers"][0]["logical_id"] == id))
        .unwrap_or_else(|| panic!("no artifact for layer {id} in {doc}"))
}

/// tests/apps/sam-layer-users after `full`, with the aliases CloudFormation would make.
pub(crate) struct UsersApp {
    pub(crate) rig: Rig,
    /// Physical function names by logical id.
    pub(crate) ids: std::collections::HashMap<String, String>,
    /// The version of Extra the stack made.
    extra1: String,
}

const USERS_STACK: &str = "sam-layer-users";
const USERS: [&str; 3] = ["Audit", "Hello", "Report"];

impl UsersApp {
    /// Deployed by `full` (the rig's proxy gives the functions their `Layers`, as
    /// CloudFormation does), then the aliases made (moto makes none). Also the stack's
    /// version of Deps.
    pub(crate) async fn deployed() -> (Self, String) {
        let rig = Rig::start_app(USERS_STACK, "sam-layer-users-artifacts").await;
        let app = &rig.app;
        let (out, doc) = app.run_json(&["full", "--yes"]).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{doc}\n{stderr}");
        let ids = app.stack_functions(USERS_STACK).await;
        let sam = rig
            .proxy
            .sam_stack(USERS_STACK)
            .expect("the proxy expanded the SAM template");
        testkit::sam::make_aliases(&app.lambda, &sam, &ids).await;
        let deps1 = app.stack_layer(USERS_STACK, "Deps").await;
        let extra1 = app.stack_layer(USERS_STACK, "Extra").await;
        let me = Self { ids, extra1, rig };
        for id in USERS {
            let layers = me.rig.app.running(&me.ids[id], None).await.0;
            assert_eq!(layers, me.wants(&deps1, id), "{id} after full");
        }
        (me, deps1)
    }

    /// The layers function `id` should run with this version of Deps: Extra keeps its place.
    fn wants(&self, deps: &str, id: &str) -> Vec<String> {
        match id {
            "Hello" => vec![deps.to_owned(), self.extra1.clone()],
            _ => vec![deps.to_owned()],
        }
    }

    /// Each user, read back: the report, `$LATEST` and the version `live` points at run
    /// `deps` (and, when given, the code `code`).
    pub(crate) async fn check_users(&self, doc: &Value, deps: &str, code: Option<&str>) {
        let app = &self.rig.app;
        for id in USERS {
            let f = doc["functions"]
                .as_array()
                .and_then(|fs| fs.iter().find(|f| f["logical_id"] == id))
                .unwrap_or_else(|| panic!("{id} in {doc}"));
            assert_eq!(f["status"], "updated", "{doc}");
            assert_eq!(f["layers"], json!(self.wants(deps, id)), "{doc}");
            let live = app.alias_version(&self.ids[id], "live").await;
            assert_eq!(f["version"], live.as_str(), "{doc}");
            for qualifier in [None, Some(live.as_str())] {
                let (layers, sha) = app.running(&self.ids[id], qualifier).await;
                assert_eq!(layers, self.wants(deps, id), "{id} at {qualifier:?}");
                if let Some(code) = code {
                    assert_eq!(sha, code, "{id} at {qualifier:?}");
                }
            }
        }
    }
}

/// The version of Deps a deploy published, checked against the layer API: a new version of
/// the same layer as `before`, from the patched artifact, with its settings; `before` kept.
async fn check_published(app: &App, doc: &Value, before: &str) -> String {
    let deps = layer_report(doc, "Deps");
    let published = deps["layers"][0]["published"]
        .as_str()
        .unwrap_or_else(|| panic!("a published version: {doc}"))
        .to_owned();
    let (layer, number) = published.rsplit_once(':').expect("a layer version ARN");
    assert_eq!(
        before.rsplit_once(':').map(|(l, _)| l),
        Some(layer),
        "the same layer"
    );
    let name = layer.rsplit(':').next().expect("a layer name");
    let number: i64 = number.parse().expect("a version number");
    let get = |n: i64| {
        app.lambda
            .get_layer_version()
            .layer_name(name)
            .version_number(n)
            .send()
    };
    let new = get(number).await.expect("the new layer version");
    assert_eq!(
        new.content().and_then(|c| c.code_sha256()),
        deps["patch"]["code_sha256"].as_str(),
        "published from the patched artifact"
    );
    assert_eq!(new.compatible_runtimes().len(), 1, "settings copied");
    get(number - 1)
        .await
        .expect("old versions are kept: they are the way back");
    published
}

/// The quick layer path (issue 12), on tests/apps/sam-layer-users: Deps, a local layer, used
/// by three functions through Globals (with Globals' AutoPublishAlias `live`); Hello also has
/// Extra after it. A change to a file of Deps publishes a new version of Deps from the
/// patched artifact, moves each user to it keeping Extra in its place, moves `live`, records
/// the hot patch; a layer and code change together end in one version with both; `full`
/// reconciles. Three moto gaps: its CloudFormation drops functions' `Layers` and gives a
/// layer version no PhysicalResourceId, which the rig's proxy puts right as CloudFormation
/// would; and it skips `AWS::Lambda::Alias` resources, which the test makes
/// (`testkit::sam::make_aliases`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_layer_change_publishes_a_version_moves_its_users_and_full_reconciles_it() {
    let (users, deps1) = UsersApp::deployed().await;
    let app = &users.rig.app;
    let code_before = app.running(&users.ids["Hello"], None).await.1;
    let words = "layers/deps/python/greeting/words.py";

    // A file of the layer changes: status says each user would be updated, and why.
    app.write(words, "def hello_to(name):\n    return f\"hi, {name}\"\n");
    let (out, doc) = app.run_json(&["status"]).await;
    assert_eq!(out.status.code(), Some(0), "{doc}");
    assert_eq!(doc["outcome"], "quick-deploy", "{doc}");
    for f in doc["functions"].as_array().expect("functions") {
        assert_eq!(f["action"], "quick", "{doc}");
        assert_eq!(f["reason"], "its layer Deps changed", "{doc}");
    }

    // The quick layer path: a new version, every user on it, the code unchanged.
    let (out, doc) = app.run_json(&["deploy", "--no-fallback"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{doc}\n{stderr}");
    assert_eq!(doc["outcome"], "deployed", "{doc}");
    let deps = &layer_report(&doc, "Deps")["layers"][0];
    assert_eq!(deps["deployed"], deps1.as_str(), "{doc}");
    assert_eq!(deps["users"], json!(USERS), "{doc}");
    let deps2 = check_published(app, &doc, &deps1).await;
    users.check_users(&doc, &deps2, Some(&code_before)).await;
    let (_, doc) = app.run_json(&["status"]).await;
    assert_eq!(doc["outcome"], "nothing-to-deploy", "{doc}");
    let hot: Vec<&String> = doc["hot_patched"]
        .as_object()
        .expect("record")
        .keys()
        .collect();
    assert_eq!(hot, ["Audit", "Deps", "Hello", "Report"], "{doc}");
    assert_eq!(doc["hot_patched"]["Deps"]["name"], deps2.as_str(), "{doc}");
    // The history says what happened; a rollback by artifact would point the users' code at
    // the layer's zip, so it is refused (exit 3) naming the way back, and nothing moves.
    let (_, doc) = app.run_json(&["history"]).await;
    let last = &doc["entries"][0];
    assert_eq!(last["kind"], "layer", "{doc}");
    assert_eq!(last["layers"][0]["published"], deps2.as_str(), "{doc}");
    let (out, doc) = app.run_json(&["rollback", "--steps", "1", "--yes"]).await;
    assert_eq!(out.status.code(), Some(3), "{doc}");
    assert!(
        doc.to_string().contains("rolling back a layer change"),
        "{doc}"
    );
    let (layers, code) = app.running(&users.ids["Hello"], None).await;
    assert_eq!(
        (layers, code),
        (users.wants(&deps2, "Hello"), code_before.clone())
    );

    // The layer and a function's code in one deploy: one version with both.
    app.write(words, "def hello_to(name):\n    return f\"hey, {name}\"\n");
    let app_py = std::fs::read_to_string(app.path("src/app.py")).expect("app.py");
    app.write("src/app.py", &format!("{app_py}\n# changed\n"));
    let (out, doc) = app.run_json(&["deploy", "--no-fallback"]).await;
    assert_eq!(out.status.code(), Some(0), "{doc}");
    let deps3 = check_published(app, &doc, &deps2).await;
    let code = doc["artifacts"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["layers"].is_null()))
        .and_then(|a| a["patch"]["code_sha256"].as_str())
        .unwrap_or_else(|| panic!("the code artifact's patch: {doc}"))
        .to_owned();
    users.check_users(&doc, &deps3, Some(&code)).await;

    // full deploys the stack as the template says and clears the record; SAM's renamed
    // versions and layer versions are kept (Retain), so no removal consent is needed.
    let (out, doc) = app.run_json(&["full", "--yes"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{doc}\n{stderr}");
    let (_, doc) = app.run_json(&["status"]).await;
    assert_eq!(doc["outcome"], "nothing-to-deploy", "{doc}");
    assert!(
        doc.get("hot_patched")
            .is_none_or(|h| h.as_object().is_some_and(|o| o.is_empty())),
        "{doc}"
    );
    let (out, doc) = app.run_json(&["deploy", "--no-fallback"]).await;
    assert_eq!(out.status.code(), Some(0), "{doc}");
    assert_eq!(doc["outcome"], "nothing-to-deploy", "{doc}");
}
