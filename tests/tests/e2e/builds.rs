//! Builds (issue 12, point 3): functions and layers with a `Metadata: BuildMethod` are built
//! into `.quickdeploy/build/<LogicalId>/`, which is their package. The apps
//! (tests/apps/build-python, build-node, build-make) use real registries: six and
//! typing_extensions from PyPI, is-number and esbuild (a devDependency: nothing is installed
//! by hand) from npm. Deployed into moto by `quickdeploy full`, quick-deployed through the
//! real zipedit patcher.

use std::io::Read as _;

use serde_json::Value;
use testkit::app::{App, Rig};
use testkit::fixtures::{artifact, code_sha256};

/// The archive's files, by name.
pub(crate) fn zip_files(bytes: &[u8]) -> std::collections::BTreeMap<String, String> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip");
    let mut out = std::collections::BTreeMap::new();
    for i in 0..archive.len() {
        let mut f = archive.by_index(i).expect("entry");
        let name = f.name().expect("entry name").into_owned();
        let mut body = Vec::new();
        f.read_to_end(&mut body).expect("read entry");
        out.insert(name, String::from_utf8_lossy(&body).into_owned());
    }
    out
}

/// The current artifact `key` of the app's bucket, unzipped.
pub(crate) async fn artifact_files(
    app: &App,
    bucket: &str,
    key: &str,
) -> std::collections::BTreeMap<String, String> {
    zip_files(&app.object_in(bucket, key, None).await)
}

/// The build of the report whose ids include `id`.
pub(crate) fn build<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["builds"]
        .as_array()
        .and_then(|b| {
            b.iter().find(|x| {
                x["ids"]
                    .as_array()
                    .is_some_and(|i| i.iter().any(|v| v == id))
            })
        })
        .unwrap_or_else(|| panic!("no build of {id} in {doc}"))
}

pub(crate) fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `full --yes`, which must succeed.
pub(crate) async fn full(app: &App) -> Value {
    let (out, doc) = app.run_json(&["full", "--yes"]).await;
    assert_eq!(out.status.code(), Some(0), "{doc}\n{}", stderr(&out));
    doc
}

const PY_BUCKET: &str = "build-python-artifacts";
const PY_KEY: &str = "quickdeploy/build-python/quickdeploy-build-Py.zip";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_code_changes_go_quick_from_the_cache_and_dependency_changes_by_the_rule() {
    let rig = Rig::start_app("build-python", PY_BUCKET).await;
    let app = &rig.app;
    let doc = full(app).await;
    assert_eq!(build(&doc, "Py")["dependencies"], "installed", "{doc}");
    eprintln!("python build, cold cache: {} ms", build(&doc, "Py")["ms"]);
    let files = artifact_files(app, PY_BUCKET, PY_KEY).await;
    for f in ["app.py", "requirements.txt", "six.py"] {
        assert!(files.contains_key(f), "{f} in {:?}", files.keys());
    }
    // The layer is built into python/, as SAM builds a Python layer.
    let layer = artifact_files(
        app,
        PY_BUCKET,
        "quickdeploy/build-python/quickdeploy-build-Shared.zip",
    )
    .await;
    assert!(
        layer.contains_key("python/shared_util.py"),
        "{:?}",
        layer.keys()
    );
    let cache = app.path(".quickdeploy/build-cache");
    let entries = || std::fs::read_dir(&cache).expect("cache").count();
    assert_eq!(entries(), 1);

    // A code-only change: no install, one file copied, one file patched, quickly.
    app.write("src/app.py", "import six\n\n\ndef handler(event, context):\n    return {\"six\": six.__version__, \"message\": \"changed\"}\n");
    let t = std::time::Instant::now();
    let (out, doc) = app.run_json(&["deploy", "--no-fallback"]).await;
    let took = t.elapsed();
    assert_eq!(out.status.code(), Some(0), "{doc}\n{}", stderr(&out));
    assert_eq!(doc["outcome"], "deployed", "{doc}");
    let b = build(&doc, "Py");
    assert_eq!(b["dependencies"], "cached", "{doc}");
    assert_eq!(b["copied"], 1, "{doc}");
    assert_eq!(
        artifact(&doc, "quickdeploy-build-Py.zip")["paths"],
        serde_json::json!(["app.py"]),
        "{doc}"
    );
    eprintln!(
        "code-only deploy after a build: {took:?} (build {} ms)",
        doc["timings_ms"]["build"]
    );
    let files = artifact_files(app, PY_BUCKET, PY_KEY).await;
    assert!(files["app.py"].contains("changed"));
    assert!(files.contains_key("six.py"), "dependencies kept");
    let running = app
        .code_shas_of(&app.stack_functions("build-python").await)
        .await;
    assert_eq!(
        running["Py"],
        code_sha256(&app.object_in(PY_BUCKET, PY_KEY, None).await)
    );
    assert_eq!(entries(), 1, "nothing installed");

    // A dependency change: rebuilt, then a full deploy is needed (refused here).
    app.write(
        "src/requirements.txt",
        "six==1.16.0\ntyping_extensions==4.12.2\n",
    );
    let (out, doc) = app.run_json(&["deploy", "--no-fallback"]).await;
    assert_eq!(out.status.code(), Some(3), "{doc}\n{}", stderr(&out));
    assert!(
        doc["needs_full"].to_string().contains("requirements.txt"),
        "{doc}"
    );
    assert_eq!(build(&doc, "Py")["dependencies"], "installed", "{doc}");
    assert_eq!(entries(), 2);
    eprintln!(
        "python rebuild, new dependency: {} ms",
        build(&doc, "Py")["ms"]
    );

    // With `dependencies = "quick"`, the build's file changes are the deploy.
    let toml = std::fs::read_to_string(app.path("quickdeploy.toml")).expect("toml");
    app.write(
        "quickdeploy.toml",
        &format!("{toml}dependencies = \"quick\"\n"),
    );
    let (out, doc) = app.run_json(&["deploy", "--no-fallback"]).await;
    assert_eq!(out.status.code(), Some(0), "{doc}\n{}", stderr(&out));
    assert_eq!(doc["outcome"], "deployed", "{doc}");
    assert_eq!(build(&doc, "Py")["dependencies"], "cached", "{doc}");
    let a = artifact(&doc, "quickdeploy-build-Py.zip");
    let paths: Vec<&str> = a["paths"]
        .as_array()
        .expect("paths")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(paths.contains(&"typing_extensions.py"), "{paths:?}");
    assert!(paths.contains(&"requirements.txt"), "{paths:?}");
    assert!(
        paths
            .iter()
            .all(|p| *p == "requirements.txt" || p.starts_with("typing_extensions")),
        "only the new package and the requirements move: {paths:?}"
    );
    assert_eq!(a["deleted"], 0, "{doc}");
    let files = artifact_files(app, PY_BUCKET, PY_KEY).await;
    assert!(
        files.contains_key("typing_extensions.py"),
        "{:?}",
        files.keys()
    );
    assert!(files.contains_key("six.py"));
    let running = app
        .code_shas_of(&app.stack_functions("build-python").await)
        .await;
    assert_eq!(
        running["Py"],
        code_sha256(&app.object_in(PY_BUCKET, PY_KEY, None).await)
    );
}

const NODE_BUCKET: &str = "build-node-artifacts";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_and_esbuild_functions_build_with_npm_and_deploy_code_changes_quickly() {
    let rig = Rig::start_app("build-node", NODE_BUCKET).await;
    let app = &rig.app;
    let doc = full(app).await;
    assert_eq!(build(&doc, "Node")["dependencies"], "installed", "{doc}");
    assert_eq!(build(&doc, "Bundle")["dependencies"], "installed", "{doc}");
    eprintln!(
        "node build, cold cache: {} ms; esbuild: {} ms",
        build(&doc, "Node")["ms"],
        build(&doc, "Bundle")["ms"]
    );
    let node_key = "quickdeploy/build-node/quickdeploy-build-Node.zip";
    let bundle_key = "quickdeploy/build-node/quickdeploy-build-Bundle.zip";
    let node = artifact_files(app, NODE_BUCKET, node_key).await;
    for f in ["app.js", "package.json", "node_modules/is-number/index.js"] {
        assert!(node.contains_key(f), "{f} in {:?}", node.keys());
    }
    assert!(
        !node.keys().any(|k| k.starts_with("node_modules/is-odd")),
        "no devDependencies: {:?}",
        node.keys()
    );
    // esbuild's bundle alone: is-number inside it, no node_modules, no TypeScript.
    let bundle = artifact_files(app, NODE_BUCKET, bundle_key).await;
    assert_eq!(
        bundle.keys().collect::<Vec<_>>(),
        ["app.js"],
        "{:?}",
        bundle.keys()
    );
    assert!(
        bundle["app.js"].contains("num - num === 0"),
        "is-number bundled: {}",
        bundle["app.js"]
    );

    app.write("esb/app.ts", "import isNumber from \"is-number\";\n\nexport const handler = async (event: { value: unknown }) => ({\n  number: isNumber(event.value),\n  message: \"bundled again\",\n});\n");
    app.write("node/app.js", "const isNumber = require(\"is-number\");\n\nexports.handler = async (event) => ({ number: isNumber(event.value), message: \"changed\" });\n");
    let (out, doc) = app.run_json(&["deploy", "--no-fallback"]).await;
    assert_eq!(out.status.code(), Some(0), "{doc}\n{}", stderr(&out));
    assert_eq!(doc["outcome"], "deployed", "{doc}");
    assert_eq!(build(&doc, "Node")["dependencies"], "cached", "{doc}");
    assert_eq!(build(&doc, "Bundle")["dependencies"], "cached", "{doc}");
    eprintln!(
        "node build, warm cache: {} ms; esbuild: {} ms; deploy total {} ms",
        build(&doc, "Node")["ms"],
        build(&doc, "Bundle")["ms"],
        doc["timings_ms"]["total"]
    );
    assert_eq!(
        artifact(&doc, "quickdeploy-build-Node.zip")["paths"],
        serde_json::json!(["app.js"]),
        "{doc}"
    );
    assert_eq!(
        artifact(&doc, "quickdeploy-build-Bundle.zip")["paths"],
        serde_json::json!(["app.js"]),
        "{doc}"
    );
    let bundle = artifact_files(app, NODE_BUCKET, bundle_key).await;
    assert!(bundle["app.js"].contains("bundled again"));
    let running = app
        .code_shas_of(&app.stack_functions("build-node").await)
        .await;
    assert_eq!(
        running["Bundle"],
        code_sha256(&app.object_in(NODE_BUCKET, bundle_key, None).await)
    );
    assert_eq!(
        running["Node"],
        code_sha256(&app.object_in(NODE_BUCKET, node_key, None).await)
    );

    // A rebuild with nothing changed deploys nothing: unchanged outputs keep their times.
    let (out, doc) = app.run_json(&["deploy", "--no-fallback"]).await;
    assert_eq!(out.status.code(), Some(0), "{doc}\n{}", stderr(&out));
    assert_eq!(doc["outcome"], "nothing-to-deploy", "{doc}");
}

const MAKE_BUCKET: &str = "build-make-artifacts";
const MAKE_KEY: &str = "quickdeploy/build-make/quickdeploy-build-Made.zip";
const FAILING: &str = "build-Made:\n\t@echo compiling app.py\n\t@echo 'error: the build is broken on purpose' >&2\n\t@exit 3\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_makefile_build_deploys_its_output_and_a_failing_build_deploys_nothing() {
    let rig = Rig::start_app("build-make", MAKE_BUCKET).await;
    let app = &rig.app;
    let doc = full(app).await;
    assert_eq!(build(&doc, "Made")["method"], "makefile", "{doc}");
    let files = artifact_files(app, MAKE_BUCKET, MAKE_KEY).await;
    assert_eq!(files["version.py"].trim(), "VERSION = \"1.0\"");
    assert!(
        !files.contains_key("Makefile"),
        "only what make put in ARTIFACTS_DIR"
    );

    app.write("src/VERSION", "1.1\n");
    let (out, doc) = app.run_json(&["deploy", "--no-fallback"]).await;
    assert_eq!(out.status.code(), Some(0), "{doc}\n{}", stderr(&out));
    assert_eq!(
        artifact(&doc, "quickdeploy-build-Made.zip")["paths"],
        serde_json::json!(["version.py"]),
        "{doc}"
    );

    // A failing build: exit 1 with make's own words, and nothing written.
    let before = app.object_in(MAKE_BUCKET, MAKE_KEY, None).await;
    let running = app
        .code_shas_of(&app.stack_functions("build-make").await)
        .await;
    app.write("src/Makefile", FAILING);
    app.write("src/VERSION", "1.2\n");
    let (out, doc) = app.run_json(&["deploy", "--no-fallback"]).await;
    assert_eq!(out.status.code(), Some(1), "{doc}\n{}", stderr(&out));
    let message = doc.to_string();
    assert!(message.contains("broken on purpose"), "{doc}");
    assert!(message.contains("make -C"), "{doc}");
    assert_eq!(app.object_in(MAKE_BUCKET, MAKE_KEY, None).await, before);
    assert_eq!(
        app.code_shas_of(&app.stack_functions("build-make").await)
            .await,
        running
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_build_stops_full_before_anything_is_uploaded() {
    let rig = Rig::start_app("build-make", MAKE_BUCKET).await;
    let app = &rig.app;
    app.write("src/Makefile", FAILING);
    let out = app.run(&["full", "--yes"]).await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("broken on purpose"), "{err}");
    assert!(err.contains("nothing was deployed"), "{err}");
    assert_eq!(app.keys(MAKE_BUCKET, "").await, Vec::<String>::new());
    let stacks = app
        .cfn
        .describe_stacks()
        .stack_name("build-make")
        .send()
        .await;
    assert!(stacks.is_err(), "no stack: {stacks:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_watches_the_source_of_a_build_and_its_own_build_starts_no_round() {
    let rig = Rig::start_app("build-python", PY_BUCKET).await;
    let app = &rig.app;
    full(app).await;
    let watch = crate::watch::Watch::start(app, &["--no-fallback"]).await;
    let wait = std::time::Duration::from_secs(30);
    let first = &watch.initial;
    assert_eq!(first["report"]["outcome"], "nothing-to-deploy", "{first}");
    app.write(
        "src/app.py",
        "def handler(event, context):\n    return {\"message\": \"watched\"}\n",
    );
    let round = watch.next(wait).expect("a round for the save");
    assert_eq!(round["report"]["outcome"], "deployed", "{round}");
    assert_eq!(
        round["report"]["builds"][0]["dependencies"], "cached",
        "{round}"
    );
    // The build wrote into .quickdeploy/build/Py: not a change to deploy.
    let more = watch.next(std::time::Duration::from_secs(2));
    assert!(more.is_none(), "no round by itself: {more:?}");
    drop(watch);
    let files = artifact_files(app, PY_BUCKET, PY_KEY).await;
    assert!(files["app.py"].contains("watched"));
}

/// The archive's entries: name, Unix mode and the first bytes.
pub(crate) fn zip_entries(bytes: &[u8]) -> Vec<(String, u32, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip");
    (0..archive.len())
        .map(|i| {
            let mut f = archive.by_index(i).expect("entry");
            let mut head = vec![0u8; 4];
            f.read_exact(&mut head).expect("read entry");
            let name = f.name().expect("entry name").into_owned();
            (name, f.unix_mode().unwrap_or_default(), head)
        })
        .collect()
}

/// `BuildMethod: rust-cargolambda` (tests/apps/build-rust, a crate without dependencies): the
/// crate is compiled in release mode for the function's architecture (this machine's, with
/// plain cargo when cargo-lambda is not installed), its binary packaged alone as an
/// executable `bootstrap`; a source change recompiles and goes the quick path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_function_is_compiled_packaged_as_bootstrap_and_quick_deployed() {
    const BUCKET: &str = "build-rust-artifacts";
    const KEY: &str = "quickdeploy/build-rust/quickdeploy-build-Hello.zip";
    let rig = Rig::start_app("build-rust", BUCKET).await;
    let app = &rig.app;
    let doc = full(app).await;
    eprintln!("rust build, cold: {} ms", build(&doc, "Hello")["ms"]);
    let first = app.object_in(BUCKET, KEY, None).await;
    let entries = zip_entries(&first);
    assert_eq!(entries.len(), 1, "{entries:?}");
    let (name, mode, head) = &entries[0];
    assert_eq!(name, "bootstrap");
    assert_eq!(mode & 0o777, 0o755, "executable");
    assert_eq!(head, b"\x7fELF", "a compiled binary");

    app.write(
        "hello/src/main.rs",
        "fn main() {\n    println!(\"hello again from a Rust Lambda\");\n}\n",
    );
    let (out, doc) = app.run_json(&["deploy", "--no-fallback"]).await;
    assert_eq!(out.status.code(), Some(0), "{doc}\n{}", stderr(&out));
    assert_eq!(doc["outcome"], "deployed", "{doc}");
    eprintln!("rust build, incremental: {} ms", build(&doc, "Hello")["ms"]);
    assert_eq!(
        artifact(&doc, KEY)["paths"],
        serde_json::json!(["bootstrap"]),
        "{doc}"
    );
    let second = app.object_in(BUCKET, KEY, None).await;
    assert_ne!(code_sha256(&second), code_sha256(&first));
    let names = app.stack_functions("build-rust").await;
    assert_eq!(
        app.code_shas_of(&names).await["Hello"],
        code_sha256(&second),
        "the function runs the new binary"
    );
}

/// The example app's Rust function (examples/app/src/wordcount, `binary = "wordcount"` in
/// quickdeploy.toml) through `watch` (issue 15): the crate is compiled for the function's
/// architecture with an explicit `--target`; a one-line change to its source is rebuilt and
/// its new `bootstrap` deployed, live (the function's CodeSha256 is the artifact's, whose
/// `bootstrap` is the new binary, 0755); a build that fails (a syntax error) is reported with
/// the compiler's words and watching goes on; the fix deploys. Its dependencies come compiled
/// from the tests' shared cargo target folder (`testkit::app::rust_target_dir`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_function_is_rebuilt_and_deployed_by_watch_and_a_failed_build_is_survived() {
    const ID: &str = "WordCountFunction";
    const MAIN: &str = "src/wordcount/src/main.rs";
    let rig = Rig::deployed().await;
    let app = &rig.app;
    let original = std::fs::read_to_string(app.path(MAIN)).expect("main.rs");
    assert!(original.contains("counted by Rust"), "{original}");
    let watch = crate::watch::Watch::start(app, &["--no-fallback"]).await;
    let first = &watch.initial;
    assert_eq!(
        first["report"]["outcome"], "nothing-to-deploy",
        "the same source builds the same binary: {first}"
    );
    let wait = std::time::Duration::from_secs(120);

    app.write(
        MAIN,
        &original.replace("counted by Rust", "counted by Rust, watched"),
    );
    let round = watch.next(wait).expect("a round for the save");
    assert_eq!(round["report"]["outcome"], "deployed", "{round}");
    eprintln!(
        "rust build in watch, one-line change: {} ms",
        build(&round["report"], ID)["ms"]
    );
    assert_live_bootstrap(app, &round["report"], "counted by Rust, watched").await;

    app.write(
        MAIN,
        &original.replace("async fn handler", "async fn handler("),
    );
    let broken = watch.next(wait).expect("a round for the broken save");
    assert_eq!(broken["ok"], false, "{broken}");
    let error = broken["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("building WordCountFunction failed") && error.contains("error"),
        "the compiler's words: {broken}"
    );

    app.write(
        MAIN,
        &original.replace("counted by Rust", "counted by Rust, fixed"),
    );
    let fixed = watch.next(wait).expect("watching went on");
    assert_eq!(fixed["report"]["outcome"], "deployed", "{fixed}");
    assert_live_bootstrap(app, &fixed["report"], "counted by Rust, fixed").await;
}

/// A build whose inputs did not change is not run (issue 25): `cargo` behind a wrapper on
/// PATH that logs each run. The first deploy with the wrapper runs it (PATH is part of the
/// build's environment, another PATH may find another cargo); a deploy right after, with no
/// change, runs no cargo and reports the build skipped; a one-line change to the crate runs
/// it again, and deploys the new binary; the stack is read while cargo runs (its time line).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_rust_crate_is_not_built_again_and_a_one_line_change_is() {
    const ID: &str = "WordCountFunction";
    const MAIN: &str = "src/wordcount/src/main.rs";
    let rig = Rig::deployed().await;
    let app = &rig.app;
    let real = std::process::Command::new("sh")
        .args(["-c", "command -v cargo"])
        .output()
        .expect("sh");
    let real = String::from_utf8_lossy(&real.stdout).trim().to_owned();
    assert!(!real.is_empty(), "cargo on PATH");
    let bin = tempfile::tempdir().expect("tmp");
    let log = bin.path().join("cargo.log");
    let wrapper = bin.path().join("cargo");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexec '{real}' \"$@\"\n",
            log.display()
        ),
    )
    .expect("wrapper");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let deploy = |timings: bool| {
        let mut args = vec!["deploy", "--no-fallback", "--json"];
        if timings {
            args.push("--timings");
        }
        let mut cmd = app.command(&args);
        cmd.env("PATH", &path);
        async move {
            let out = tokio::task::spawn_blocking(move || cmd.output().expect("run"))
                .await
                .expect("join");
            let doc: Value = serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|e| panic!("no JSON ({e}): {}", stderr(&out)));
            assert_eq!(out.status.code(), Some(0), "{doc}\n{}", stderr(&out));
            doc
        }
    };
    let runs = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("build"))
            .count()
    };

    let first = deploy(false).await;
    assert_eq!(build(&first, ID)["skipped"], false, "{first}");
    assert_eq!(
        build(&first, ID)["ran_because"],
        "its settings or environment changed",
        "{first}"
    );
    assert_eq!(runs(), 1, "cargo ran through the wrapper");
    assert_eq!(first["outcome"], "nothing-to-deploy", "{first}");

    let again = deploy(false).await;
    assert_eq!(build(&again, ID)["skipped"], true, "{again}");
    assert!(build(&again, ID).get("ran_because").is_none(), "{again}");
    assert_eq!(runs(), 1, "no cargo ran: {again}");
    assert_eq!(again["outcome"], "nothing-to-deploy", "{again}");

    let original = std::fs::read_to_string(app.path(MAIN)).expect("main.rs");
    app.write(
        MAIN,
        &original.replace("counted by Rust", "counted by Rust, once more"),
    );
    // Without the stack's copy, so that the stack is read (a deploy planned from the copy
    // reads nothing before the patch, which waits for the build anyway).
    std::fs::remove_dir_all(app.path(".quickdeploy/stacks")).expect("the stack's copy");
    let changed = deploy(true).await;
    assert_eq!(build(&changed, ID)["skipped"], false, "{changed}");
    // The stack is read while cargo runs; the update waits for the build.
    let spans = changed["timeline"]["spans"].as_array().expect("timeline");
    let span = |kind: &str, name: &str| {
        spans
            .iter()
            .find(|s| s["kind"] == kind && s["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name}: {changed}"))
    };
    let (built, stack) = (
        span("phase", "build"),
        span("call", "CloudFormation.DescribeStacks"),
    );
    let at = |s: &Value, k: &str| s[k].as_f64().expect("ms");
    eprintln!(
        "build {:.0}-{:.0} ms, DescribeStacks {:.0}-{:.0} ms, critical path {}",
        at(built, "start_ms"),
        at(built, "end_ms"),
        at(stack, "start_ms"),
        at(stack, "end_ms"),
        changed["timeline"]["critical_path"]
    );
    assert!(
        at(stack, "start_ms") < at(built, "end_ms"),
        "the stack read began before the build ended: {changed}"
    );
    let update = span("call", "Lambda.UpdateFunctionCode");
    assert!(at(update, "start_ms") >= at(built, "end_ms"), "{changed}");
    let because = build(&changed, ID)["ran_because"]
        .as_str()
        .unwrap_or_default();
    assert!(because.ends_with("src/main.rs changed"), "{changed}");
    assert_eq!(runs(), 2, "cargo ran for the change");
    assert_eq!(changed["outcome"], "deployed", "{changed}");
    assert_live_bootstrap(app, &changed, "counted by Rust, once more").await;
}

/// The function runs the artifact just deployed (same CodeSha256), whose only entry is an
/// executable `bootstrap`, byte for byte the binary in the build folder, saying `text`.
async fn assert_live_bootstrap(app: &App, report: &Value, text: &str) {
    const ID: &str = "WordCountFunction";
    let artifact = report["artifacts"]
        .as_array()
        .and_then(|a| {
            a.iter().find(|x| {
                x["package"]
                    .as_str()
                    .is_some_and(|p| p.ends_with(&format!(".quickdeploy/build/{ID}")))
            })
        })
        .unwrap_or_else(|| panic!("no artifact of {ID} in {report}"));
    assert_eq!(
        artifact["paths"],
        serde_json::json!(["bootstrap"]),
        "{report}"
    );
    // The rebuilt binary went as a delta against the one deployed, a fraction of its size.
    let sent = &artifact["files"][0];
    assert_eq!(sent["sent"], "delta", "{report}");
    let (bytes, size) = (sent["bytes"].as_u64(), sent["size"].as_u64());
    assert!(
        bytes.zip(size).is_some_and(|(b, s)| b * 10 < s),
        "{bytes:?} of {size:?} bytes: {report}"
    );
    let url = artifact["artifact"].as_str().expect("artifact");
    let (bucket, key) = url
        .trim_start_matches("s3://")
        .split_once('/')
        .expect("s3://bucket/key");
    let names = app.function_names().await;
    let (_, code_sha) = app.running(&names[ID], None).await;
    let deployed = app.object_in(bucket, key, None).await;
    assert_eq!(code_sha, code_sha256(&deployed), "live");
    let entries = zip_entries(&deployed);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].0, "bootstrap");
    assert_eq!(entries[0].1 & 0o777, 0o755, "executable");
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&deployed)).expect("a zip");
    let mut body = Vec::new();
    archive
        .by_name("bootstrap")
        .expect("bootstrap")
        .read_to_end(&mut body)
        .expect("read bootstrap");
    let built = std::fs::read(app.path(".quickdeploy/build/WordCountFunction/bootstrap"))
        .expect("the built bootstrap");
    assert!(body == built, "the artifact holds the binary just built");
    assert!(
        String::from_utf8_lossy(&built).contains(text),
        "the new binary"
    );
}

/// A Rust binary linked against this machine's glibc (plain cargo: no cargo-zigbuild or
/// cargo-lambda here) for a `provided.al2` function, whose glibc is 2.26: it would deploy and
/// then fail every invocation, so the build refuses it (exit 2), saying what it needs, what the
/// runtime has and the fixes, and nothing is uploaded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_binary_that_needs_a_newer_glibc_than_its_runtime_is_refused_at_build_time() {
    const BUCKET: &str = "build-rust-artifacts";
    // The premises: plain cargo builds here, and this machine's glibc is newer than AL2's.
    for tool in ["cargo-zigbuild", "cargo-lambda"] {
        let found = std::process::Command::new("sh")
            .args([
                "-c",
                &format!("command -v {tool} || ls ~/.cargo/bin/{tool}"),
            ])
            .output()
            .expect("sh");
        assert!(
            !found.status.success(),
            "this test needs plain cargo, and {tool} is installed"
        );
    }
    let me = std::fs::read(std::env::current_exe().expect("exe")).expect("read");
    let host = quickdeploy::build::rust::glibc_needed(&me).expect("elf");
    assert!(
        host > Some((2, 26)),
        "this machine's binaries need {host:?}"
    );

    let rig = Rig::start_app("build-rust", BUCKET).await;
    let app = &rig.app;
    let template = std::fs::read_to_string(app.path("template.yaml")).expect("read");
    app.write(
        "template.yaml",
        &template.replace("Runtime: provided.al2023", "Runtime: provided.al2"),
    );
    let out = app.run(&["full", "--yes"]).await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("Hello: the built bootstrap needs glibc 2.")
            && err.contains("provided.al2 has 2.26")
            && err.contains("cargo-zigbuild")
            && err.contains("nothing was deployed"),
        "{err}"
    );
    assert_eq!(app.keys(BUCKET, "").await, Vec::<String>::new());
}
