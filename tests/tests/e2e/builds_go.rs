//! Go functions (issue 23): `BuildMethod: go1.x` on `provided.al2023`, the shape `sam init`
//! makes for Go (tests/apps/build-go: an arm64 function, standard library only, for Debian's
//! Go 1.19). `init` lists it; `full` builds an executable `bootstrap` for AArch64 on this
//! x86_64 machine and deploys it; a one-line change is rebuilt and sent as a delta against
//! the deployed binary; without `go` on PATH the build says how to install it (exit 2) and
//! nothing is deployed.

use std::io::Read as _;

use testkit::app::Rig;
use testkit::fixtures::{artifact, code_sha256};

use crate::builds::{build, stderr, zip_entries};

const BUCKET: &str = "build-go-artifacts";
const KEY: &str = "quickdeploy/build-go/quickdeploy-build-Hello.zip";

/// The only entry of a Go function's artifact: `bootstrap`, 0755, its bytes.
fn bootstrap(zip: &[u8]) -> Vec<u8> {
    let entries = zip_entries(zip);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].0, "bootstrap");
    assert_eq!(entries[0].1 & 0o777, 0o755, "executable");
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).expect("a zip");
    let mut body = Vec::new();
    archive
        .by_name("bootstrap")
        .expect("bootstrap")
        .read_to_end(&mut body)
        .expect("read bootstrap");
    assert_eq!(&body[..4], b"\x7fELF");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_go_function_is_built_for_its_architecture_and_a_change_goes_as_a_delta() {
    let rig = Rig::start_app("build-go", BUCKET).await;
    let app = &rig.app;
    std::fs::remove_file(app.path("quickdeploy.toml")).expect("rm");
    let out = app
        .run(&["init", "--stack", "build-go", "--bucket", BUCKET])
        .await;
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{said}\n{}", stderr(&out));
    assert!(said.contains("build methods: Hello (go1.x)"), "{said}");
    let toml = std::fs::read_to_string(app.path("quickdeploy.toml")).expect("toml");
    assert!(
        toml.contains("quickdeploy builds it (BuildMethod go1.x)"),
        "{toml}"
    );

    let (out, doc) = app.run_json(&["full", "--yes"]).await;
    assert_eq!(out.status.code(), Some(0), "{doc}\n{}", stderr(&out));
    assert_eq!(build(&doc, "Hello")["method"], "go1.x", "{doc}");
    eprintln!("go build, cold: {} ms", build(&doc, "Hello")["ms"]);
    let first = app.object_in(BUCKET, KEY, None).await;
    let binary = bootstrap(&first);
    assert_eq!(
        u16::from_le_bytes([binary[18], binary[19]]),
        183,
        "AArch64, built on x86_64"
    );
    assert!(String::from_utf8_lossy(&binary).contains("hello from a Go Lambda"));
    let names = app.stack_functions("build-go").await;
    assert_eq!(
        app.code_shas_of(&names).await["Hello"],
        code_sha256(&first),
        "live"
    );

    // A one-line change: rebuilt, and only a delta of the binary travels.
    let main = std::fs::read_to_string(app.path("hello/main.go")).expect("main.go");
    app.write(
        "hello/main.go",
        &main.replace("hello from a Go Lambda", "hello again from a Go Lambda"),
    );
    let (out, doc) = app.run_json(&["deploy", "--no-fallback"]).await;
    assert_eq!(out.status.code(), Some(0), "{doc}\n{}", stderr(&out));
    assert_eq!(doc["outcome"], "deployed", "{doc}");
    eprintln!(
        "go build, one-line change: {} ms",
        build(&doc, "Hello")["ms"]
    );
    let a = artifact(&doc, "quickdeploy-build-Hello.zip");
    assert_eq!(a["paths"], serde_json::json!(["bootstrap"]), "{doc}");
    let sent = &a["files"][0];
    assert_eq!(sent["sent"], "delta", "{doc}");
    let (bytes, size) = (
        sent["bytes"].as_u64().expect("bytes"),
        sent["size"].as_u64().expect("size"),
    );
    eprintln!("go delta: {bytes} bytes sent for a {size}-byte binary");
    assert!(bytes * 10 < size, "{bytes} of {size} bytes: {doc}");
    let second = app.object_in(BUCKET, KEY, None).await;
    let binary = bootstrap(&second);
    assert!(String::from_utf8_lossy(&binary).contains("hello again from a Go Lambda"));
    assert_eq!(
        app.code_shas_of(&names).await["Hello"],
        code_sha256(&second),
        "live"
    );

    // The same source again builds the same binary: nothing to deploy.
    let (out, doc) = app.run_json(&["deploy", "--no-fallback"]).await;
    assert_eq!(out.status.code(), Some(0), "{doc}\n{}", stderr(&out));
    assert_eq!(doc["outcome"], "nothing-to-deploy", "{doc}");

    // A dependency: a module of the app's own outside the function's folder, required and
    // replaced by its local path in go.mod (no module proxy needed). The change to go.mod
    // and main.go deploys, and so does a later change to the dependency alone.
    let go_mod = std::fs::read_to_string(app.path("hello/go.mod")).expect("go.mod");
    app.write(
        "hello/go.mod",
        &format!(
            "{go_mod}\nrequire example.com/greet v0.0.0\n\nreplace example.com/greet => ../greet\n"
        ),
    );
    app.write(
        "hello/main.go",
        &main
            .replace("\"os\"\n", "\"os\"\n\n\t\"example.com/greet\"\n")
            .replace("Message: greeting,", "Message: greeting + greet.Suffix,"),
    );
    for (step, marker) in [
        ("go.mod and main.go", "(greet v1)"),
        ("the dependency", "(greet v2)"),
    ] {
        if step == "the dependency" {
            let greet = std::fs::read_to_string(app.path("greet/greet.go")).expect("greet.go");
            app.write("greet/greet.go", &greet.replace("(greet v1)", "(greet v2)"));
        }
        let (out, doc) = app.run_json(&["deploy", "--no-fallback"]).await;
        assert_eq!(
            out.status.code(),
            Some(0),
            "{step}: {doc}\n{}",
            stderr(&out)
        );
        assert_eq!(doc["outcome"], "deployed", "{step}: {doc}");
        let now = app.object_in(BUCKET, KEY, None).await;
        assert!(
            String::from_utf8_lossy(&bootstrap(&now)).contains(marker),
            "{step}: the binary holds {marker}"
        );
        assert_eq!(
            app.code_shas_of(&names).await["Hello"],
            code_sha256(&now),
            "{step}: live"
        );
    }
    let second = app.object_in(BUCKET, KEY, None).await;

    // No `go` on PATH: the install line, exit 2, nothing deployed.
    app.write(
        "hello/main.go",
        &main.replace("hello from a Go Lambda", "hello, without Go"),
    );
    let empty = tempfile::tempdir().expect("tmp");
    let out = app
        .command(&["deploy", "--no-fallback"])
        .env("PATH", empty.path())
        .output()
        .expect("run quickdeploy");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("cannot run `go` to build Hello") && err.contains("apt-get install golang-go"),
        "{err}"
    );
    assert_eq!(
        app.object_in(BUCKET, KEY, None).await,
        second,
        "nothing deployed"
    );
}
