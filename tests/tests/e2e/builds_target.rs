//! Builds for the function, not for this machine (issue 23): pip installs wheels for each
//! function's architecture and Python (tests/apps/build-wheels: an arm64 python3.12 function,
//! an x86_64 python3.13 one, a layer for each, each with markupsafe 3.0.2 from PyPI, whose
//! `_speedups` module is compiled), read back from the deployed artifacts by the ELF machine
//! and the CPython tag of the `.so`; a package with no wheel for the target stops the build
//! with its name and the ways out; and a failing tool's error says why (npm's lock out of
//! sync, tests/apps/build-lock), exit 2, with nothing deployed; Java and .NET are refused
//! naming the way out (`build =` and `package =`); an npm native addon for another machine
//! (tests/apps/build-addon: an arm64 function, a prebuilt x86_64 `.node` from npm) is reported.

use serde_json::Value;
use testkit::app::{App, Rig};
use testkit::fixtures::{artifact, code_sha256};
use testkit::zipcheck::zip_crate_tree;

use crate::builds::{build, full, stderr};

const BUCKET: &str = "build-wheels-artifacts";
const STACK: &str = "build-wheels";

fn key(id: &str) -> String {
    format!("quickdeploy/{STACK}/quickdeploy-build-{id}.zip")
}

/// ELF's `e_machine` for x86-64 and AArch64.
const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;

/// The `_speedups` extension of markupsafe in an artifact (under `prefix`): its name, and
/// the ELF machine it was compiled for.
fn speedups(zip: &[u8], prefix: &str) -> (String, u16) {
    let tree = zip_crate_tree(zip);
    let (name, (body, _)) = tree
        .iter()
        .find(|(n, _)| {
            n.starts_with(&format!("{prefix}markupsafe/_speedups")) && n.ends_with(".so")
        })
        .unwrap_or_else(|| panic!("no markupsafe/_speedups*.so in {:?}", tree.keys()));
    assert_eq!(&body[..4], b"\x7fELF", "{name}");
    (name.clone(), u16::from_le_bytes([body[18], body[19]]))
}

/// The artifact of function or layer `id` holds markupsafe's `.so` for `machine`, CPython
/// `tag` (`cpython-312-aarch64`), and nothing of this machine's Python 3.11.
async fn assert_built_for(app: &App, id: &str, prefix: &str, tag: &str, machine: u16) -> Vec<u8> {
    let zip = app.object_in(BUCKET, &key(id), None).await;
    let (name, got) = speedups(&zip, prefix);
    assert_eq!(got, machine, "{id}: {name} is for ELF machine {got}");
    assert!(name.contains(tag), "{id}: {name} is not {tag}");
    let tree = zip_crate_tree(&zip);
    assert!(
        !tree.keys().any(|n| n.contains("cpython-311")),
        "{id}: this machine's Python: {:?}",
        tree.keys()
    );
    zip
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wheels_are_installed_for_each_functions_architecture_and_python() {
    let rig = Rig::start_app("build-wheels", BUCKET).await;
    let app = &rig.app;
    let doc = full(app).await;
    // One install per target: each layer has its function's requirements and target, so
    // it takes the function's cache entry; the two targets are two entries.
    for (f, layer) in [("Arm", "ArmDeps"), ("X86", "X86Deps")] {
        assert_eq!(build(&doc, f)["dependencies"], "installed", "{f}: {doc}");
        assert_eq!(
            build(&doc, layer)["dependencies"],
            "cached",
            "{layer}: {doc}"
        );
        assert_eq!(build(&doc, f)["cache_key"], build(&doc, layer)["cache_key"]);
    }
    assert_ne!(
        build(&doc, "Arm")["cache_key"],
        build(&doc, "X86")["cache_key"]
    );

    let arm = assert_built_for(app, "Arm", "", "cpython-312-aarch64", EM_AARCH64).await;
    let x86 = assert_built_for(app, "X86", "", "cpython-313-x86_64", EM_X86_64).await;
    // ArmDeps states no architecture: it is built for its function's, arm64.
    let arm_layer =
        assert_built_for(app, "ArmDeps", "python/", "cpython-312-aarch64", EM_AARCH64).await;
    let x86_layer =
        assert_built_for(app, "X86Deps", "python/", "cpython-313-x86_64", EM_X86_64).await;

    // Live: each function runs its artifact, with its layer of the stack, whose content is
    // the layer's artifact.
    let names = app.stack_functions(STACK).await;
    for (id, zip, layer, layer_zip) in [
        ("Arm", &arm, "ArmDeps", &arm_layer),
        ("X86", &x86, "X86Deps", &x86_layer),
    ] {
        let (layers, sha) = app.running(&names[id], None).await;
        assert_eq!(sha, code_sha256(zip), "{id} runs its artifact");
        let arn = app.stack_layer(STACK, layer).await;
        assert_eq!(layers, std::slice::from_ref(&arn), "{id} uses {layer}");
        let (name, version) = arn.rsplit_once(':').expect("a version ARN");
        let got = app
            .lambda
            .get_layer_version()
            .layer_name(name)
            .version_number(version.parse().expect("a number"))
            .send()
            .await
            .expect("get_layer_version");
        assert_eq!(
            got.content().and_then(|c| c.code_sha256()),
            Some(code_sha256(layer_zip).as_str()),
            "{layer}"
        );
    }

    // A code change: quick, from the cache, one file; the .so stays the arm64 one.
    app.write(
        "arm/app.py",
        "from markupsafe import escape\n\n\ndef handler(event, context):\n    return {\"escaped\": str(escape(event.get(\"text\", \"<i>\"))), \"message\": \"changed\"}\n",
    );
    let (out, doc) = app.run_json(&["deploy", "--no-fallback"]).await;
    assert_eq!(out.status.code(), Some(0), "{doc}\n{}", stderr(&out));
    assert_eq!(doc["outcome"], "deployed", "{doc}");
    assert_eq!(build(&doc, "Arm")["dependencies"], "cached", "{doc}");
    assert_eq!(
        artifact(&doc, "quickdeploy-build-Arm.zip")["paths"],
        serde_json::json!(["app.py"]),
        "{doc}"
    );
    let arm = assert_built_for(app, "Arm", "", "cpython-312-aarch64", EM_AARCH64).await;
    assert_eq!(
        app.code_shas_of(&names).await["Arm"],
        code_sha256(&arm),
        "live"
    );

    // A dependency change: installed anew for the target (a full is needed: refused here),
    // then quick-deployed as the files the build changed, with `dependencies = "quick"`.
    app.write("arm/requirements.txt", "markupsafe==3.0.2\nsix==1.16.0\n");
    let (out, doc) = app.run_json(&["deploy", "--no-fallback"]).await;
    assert_eq!(out.status.code(), Some(3), "{doc}\n{}", stderr(&out));
    assert_eq!(build(&doc, "Arm")["dependencies"], "installed", "{doc}");
    let toml = std::fs::read_to_string(app.path("quickdeploy.toml")).expect("toml");
    app.write(
        "quickdeploy.toml",
        &format!("{toml}dependencies = \"quick\"\n"),
    );
    let (out, doc) = app.run_json(&["deploy", "--no-fallback"]).await;
    assert_eq!(out.status.code(), Some(0), "{doc}\n{}", stderr(&out));
    assert_eq!(doc["outcome"], "deployed", "{doc}");
    let paths = &artifact(&doc, "quickdeploy-build-Arm.zip")["paths"];
    let paths: Vec<&str> = paths
        .as_array()
        .expect("paths")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(paths.contains(&"six.py"), "{paths:?}");
    assert!(
        paths.iter().all(|p| !p.starts_with("markupsafe/")),
        "markupsafe did not move: {paths:?}"
    );
    let arm = assert_built_for(app, "Arm", "", "cpython-312-aarch64", EM_AARCH64).await;
    assert!(zip_crate_tree(&arm).contains_key("six.py"));
    assert_eq!(
        app.code_shas_of(&names).await["Arm"],
        code_sha256(&arm),
        "live"
    );
}

/// A source-only package of C code, `nativepkg 1.0`, as an sdist in a folder of its own:
/// what pip finds there for the target is source it would have to compile for this machine.
fn native_sdist(dir: &std::path::Path) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let script = r##"
import io, sys, tarfile
files = {
    "nativepkg-1.0/PKG-INFO": "Metadata-Version: 1.0\nName: nativepkg\nVersion: 1.0\n",
    "nativepkg-1.0/setup.py": "from setuptools import setup, Extension\nsetup(name='nativepkg', version='1.0', ext_modules=[Extension('nativepkg', ['nativepkg.c'])])\n",
    "nativepkg-1.0/nativepkg.c": "#include <Python.h>\nstatic struct PyModuleDef m = {PyModuleDef_HEAD_INIT, \"nativepkg\", 0, -1, 0};\nPyMODINIT_FUNC PyInit_nativepkg(void) { return PyModule_Create(&m); }\n",
}
with tarfile.open(sys.argv[1], "w:gz") as t:
    for name, text in files.items():
        data = text.encode()
        info = tarfile.TarInfo(name)
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
"##;
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(dir.join("nativepkg-1.0.tar.gz"))
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_only_package_is_built_here_when_pure_python_and_else_stops_the_build_naming_the_ways_out()
 {
    let rig = Rig::start_app("build-wheels", BUCKET).await;
    let app = &rig.app;
    // As a new user starts: init, which lists the builds.
    std::fs::remove_file(app.path("quickdeploy.toml")).expect("rm");
    let out = app
        .run(&["init", "--stack", STACK, "--bucket", BUCKET])
        .await;
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{said}\n{}", stderr(&out));
    assert!(
        said.contains("build methods: Arm (python3.12), X86 (python3.13)"),
        "{said}"
    );

    // A package of C code published as source only: pip finds no wheel for the target, and
    // a build here would make one for this machine. The build stops, naming the ways out.
    let dist = app.path("native-dist");
    native_sdist(&dist);
    app.write(
        "arm/requirements.txt",
        &format!(
            "--find-links {}\nmarkupsafe==3.0.2\nnativepkg==1.0\n",
            dist.display()
        ),
    );
    let out = app.run(&["full", "--yes"]).await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for part in [
        "No matching distribution found for nativepkg==1.0",
        "fix: nativepkg==1.0 has no wheel for python3.12 on arm64 (manylinux2014_aarch64",
        "pure-Python",
        "`build = \"...\"`",
        "[functions.Arm]",
        "--use-container",
        "--platform manylinux2014_aarch64",
        "nothing was deployed",
    ] {
        assert!(err.contains(part), "{part}:\n{err}");
    }
    assert_eq!(app.keys(BUCKET, "").await, Vec::<String>::new());
    assert!(
        !app.path(".quickdeploy/build-cache")
            .read_dir()
            .expect("cache")
            .flatten()
            .any(|e| e.file_name().to_string_lossy().contains(".tmp-")),
        "a failed install leaves no entry"
    );

    // docopt 0.6.2 is published as source only too, but is pure Python: built here into a
    // py2.py3-none-any wheel, as SAM does, it installs for the target and deploys.
    app.write("arm/requirements.txt", "markupsafe==3.0.2\ndocopt==0.6.2\n");
    let out = app.run(&["full", "--yes"]).await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("docopt==0.6.2 is published as source only: built here into docopt-0.6.2-py2.py3-none-any.whl"),
        "{err}"
    );
    let arm = app.object_in(BUCKET, &key("Arm"), None).await;
    let names: Vec<String> = zip_crate_tree(&arm).keys().cloned().collect();
    assert!(names.iter().any(|n| n == "docopt.py"), "{names:?}");
    assert!(
        !names.iter().any(|n| n.contains("wheels-built-here")),
        "the wheels built here stay out of the package: {names:?}"
    );
    assert_eq!(
        speedups(&arm, "").1,
        EM_AARCH64,
        "markupsafe still for arm64"
    );
    let functions = app.stack_functions(STACK).await;
    assert_eq!(
        app.code_shas_of(&functions).await["Arm"],
        code_sha256(&arm),
        "live"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_out_of_sync_exits_2_with_npms_first_lines_and_the_fix() {
    const LOCK_BUCKET: &str = "build-lock-artifacts";
    let rig = Rig::start_app("build-lock", LOCK_BUCKET).await;
    let app = &rig.app;
    let (out, doc) = app.run_json(&["full", "--yes"]).await;
    assert_eq!(out.status.code(), Some(2), "{doc}\n{}", stderr(&out));
    let message = doc["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let folder = app.path("fn");
    for part in [
        "building Locked failed: `npm ci --omit=dev --no-audit --no-fund`",
        &format!("(for {})", folder.display()),
        "its first error lines:",
        "are in sync",
        "Missing: is-odd@3.0.1 from lock file",
        "its last lines:",
        &format!(
            "fix: package.json and package-lock.json in {0} do not agree (`npm ci` installs the lock file only): run `npm install` in {0} and commit the updated package-lock.json",
            folder.display()
        ),
        "nothing was deployed",
    ] {
        assert!(message.contains(part), "{part}:\n{message}");
    }
    // npm's reason comes before its usage text, which is where the tail starts.
    let reason = message.find("are in sync").expect("reason");
    let tail = message.find("its last lines:").expect("tail");
    assert!(reason < tail, "{message}");
    assert_eq!(app.keys(LOCK_BUCKET, "").await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_and_dotnet_are_refused_naming_the_way_out() {
    const LOCK_BUCKET: &str = "build-lock-artifacts";
    let rig = Rig::start_app("build-lock", LOCK_BUCKET).await;
    let app = &rig.app;
    let template = std::fs::read_to_string(app.path("template.yaml")).expect("template");
    for (runtime, what) in [
        ("java21", "Java is not built"),
        ("dotnet8", ".NET is not built"),
    ] {
        // Named by its BuildMethod, or by its runtime alone (SAM builds Java and .NET by
        // runtime: the code folder is source, which must not be zipped as the function).
        let by_method = template.replace("nodejs22.x", runtime);
        let by_runtime = by_method.replace(
            &format!("    Metadata:\n      BuildMethod: {runtime}\n"),
            "",
        );
        assert_ne!(by_method, by_runtime, "the BuildMethod is gone");
        for (text, named) in [
            (by_method, format!("Locked: BuildMethod {runtime}: {what}")),
            (
                by_runtime,
                format!("Locked: Runtime {runtime} (SAM builds it by its runtime): {what}"),
            ),
        ] {
            app.write("template.yaml", &text);
            let out = app.run(&["full", "--yes"]).await;
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{err}");
            for part in [
                named.as_str(),
                "under [functions.Locked] in quickdeploy.toml set `build =`",
                "`package =`",
            ] {
                assert!(err.contains(part), "{part}:\n{err}");
            }
        }
    }
    assert_eq!(app.keys(LOCK_BUCKET, "").await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_addons_for_another_architecture_are_reported() {
    const ADDON_BUCKET: &str = "build-addon-artifacts";
    let rig = Rig::start_app("build-addon", ADDON_BUCKET).await;
    let app = &rig.app;
    let out = app.run(&["full", "--yes"]).await;
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "a warning, not a failure: {err}"
    );
    for part in [
        "warning: Native: 1 native addon(s) in node_modules are not built for arm64",
        "node_modules/@parcel/watcher-linux-x64-glibc/watcher.node",
        "--use-container",
    ] {
        assert!(err.contains(part), "{part}:\n{err}");
    }
}
