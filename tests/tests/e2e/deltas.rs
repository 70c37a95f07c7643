//! Deltas and compressed changes (issue 15), end to end: the zipedit binary behind the Invoke
//! API decodes `zstd`, `zstd-delta` and `splice` changes (the previous content read by ranged GET from
//! artifacts of every flavor, or from the whole artifact when it is small) and refuses, with
//! the artifact byte-identical, a delta made against other bytes, a corrupted one, and one for
//! an entry the artifact does not have. Then `quickdeploy deploy` on the rig sends a large
//! binary's one-line change as a splice (the line and where it goes): its base from the local cache, then on a fresh clone
//! from a ranged read of the artifact.

use base64::Engine as _;
use serde_json::{Value, json};
use testkit::app::Rig;
use testkit::fixtures::{PatcherRig, artifact, code_sha256};
use testkit::rig::Moto;
use testkit::zipcheck::{Flavor, assert_reads_as, zip_crate_archive, zip_crate_tree};
use zipedit::delta;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A compiled binary's stand-in (incompressible) and the same after a one-line change.
fn binary_and_edit(len: usize) -> (Vec<u8>, Vec<u8>) {
    let old = testkit::noise(15, len);
    let mut new = old.clone();
    let at = len / 3;
    new[at..at + 24].copy_from_slice(b"Hello from the new line!");
    (old, new)
}

/// A change as the CLI sends it encoded.
fn encoded(bytes: &[u8], encoding: &str, content: &[u8]) -> Value {
    json!({
        "base64": b64(bytes), "encoding": encoding, "size": content.len(),
        "sha256": delta::sha256_hex(content), "executable": true
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deltas_and_compressed_changes_decode_for_every_flavor() {
    let env = PatcherRig::start(1).await;
    let (old, new) = binary_and_edit(300_000);
    let text = b"def handler(event, context):\n    return 'compressed'\n".repeat(200);
    for (i, flavor) in [Flavor::Seekable, Flavor::Stream, Flavor::Zip64]
        .into_iter()
        .enumerate()
    {
        // bootstrap deflated (first entry), handler.py stored: both kinds of base.
        let files = [
            ("bootstrap", old.as_slice(), 0o755),
            ("lib.so", old.as_slice(), 0o644),
            ("handler.py", b"v = 1\n".as_slice(), 0o644),
        ];
        let key = format!("app-{i}.zip");
        env.artifact(
            "artifacts",
            false,
            &key,
            zip_crate_archive(&files, &[], "", flavor),
        )
        .await;
        let patch = delta::make(&old, &new, 9).expect("delta");
        assert!(patch.len() < 2_000, "{} bytes", patch.len());
        let frame = delta::compress(&text, 3).expect("zstd");
        let answer = env
            .invoke(&json!({
                "src": format!("s3://artifacts/{key}"),
                "changes": {
                    "bootstrap": encoded(&patch, "zstd-delta", &new),
                    "lib.so": encoded(&zipedit::splice::make(&old, &new), "splice", &new),
                    "handler.py": encoded(&frame, "zstd", &text),
                },
            }))
            .await
            .unwrap_or_else(|e| panic!("{flavor:?}: {e:?}"));
        assert_eq!(answer["modified"], 3, "{flavor:?}: {answer}");
        assert!(
            answer["timings_ms"]["decode"].as_f64().is_some(),
            "{answer}"
        );
        let bytes = env.check_answer(&answer).await;
        let want = [
            ("bootstrap", new.as_slice(), 0o100755),
            ("lib.so", new.as_slice(), 0o100755),
            ("handler.py", text.as_slice(), 0o100755),
        ];
        let tree = zip_crate_tree(&bytes);
        for (name, data, _) in want {
            assert!(tree[name].0 == data, "{flavor:?}: {name} decoded exactly");
        }
        assert_eq!(tree["bootstrap"].1 & 0o777, 0o755, "{flavor:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_base_a_corrupt_delta_or_a_missing_entry_is_refused_and_nothing_written() {
    let env = PatcherRig::start(1).await;
    let (old, new) = binary_and_edit(200_000);
    let files = [
        ("bootstrap", old.as_slice(), 0o755),
        ("handler.py", b"v = 1\n".as_slice(), 0o644),
    ];
    let zip = zip_crate_archive(&files, &[], "", Flavor::Seekable);
    env.artifact("artifacts", true, "app.zip", zip.clone())
        .await;
    // The same files, but another bootstrap: a delta made against `old` applied to it makes
    // other bytes than `new`.
    let other = testkit::noise(99, 200_000);
    let moved = [
        ("bootstrap", other.as_slice(), 0o755),
        ("handler.py", b"v = 1\n".as_slice(), 0o644),
    ];
    let moved = zip_crate_archive(&moved, &[], "", Flavor::Seekable);
    env.artifact("artifacts", true, "moved.zip", moved.clone())
        .await;
    let good = delta::make(&old, &new, 9).expect("delta");
    let mut corrupt = good.clone();
    let mid = corrupt.len() / 2;
    corrupt[mid] ^= 0x5a;
    let frame = delta::compress(b"x = 2\n".repeat(100).as_slice(), 3).expect("zstd");
    let cases = [
        (
            "moved.zip",
            "bootstrap",
            encoded(&good, "zstd-delta", &new),
            "DecodeRefused",
        ),
        (
            "app.zip",
            "bootstrap",
            encoded(&corrupt, "zstd-delta", &new),
            "DecodeRefused",
        ),
        // The right delta, but a content SHA-256 that is not what it makes.
        (
            "app.zip",
            "bootstrap",
            encoded(&good, "zstd-delta", &old),
            "DecodeRefused",
        ),
        (
            "app.zip",
            "handler.py",
            encoded(&frame, "zstd", b"something else"),
            "DecodeRefused",
        ),
        (
            "app.zip",
            "new/tool",
            encoded(&good, "zstd-delta", &new),
            "DeltaBaseMissing",
        ),
    ];
    for (key, path, change, kind) in cases {
        env.moto.start_recording();
        let got = env
            .invoke(&json!({"src": format!("s3://artifacts/{key}"), "changes": {path: change}}))
            .await;
        let (got_kind, message) = got.expect_err("refused");
        assert_eq!(got_kind, kind, "{key} {path}: {message}");
        assert!(message.contains("nothing was written"), "{message}");
        assert_eq!(
            Moto::writes(&env.moto.recording()),
            Vec::<String>::new(),
            "{path}"
        );
        let want = if key == "app.zip" { &zip } else { &moved };
        assert!(
            env.get("artifacts", key).await == *want,
            "{key} {path}: byte-identical"
        );
    }
    // And the right delta goes through.
    let answer = env
        .invoke(&json!({"src": "s3://artifacts/app.zip", "changes": {"bootstrap": encoded(&good, "zstd-delta", &new)}}))
        .await
        .expect("patched");
    let bytes = env.check_answer(&answer).await;
    let mut want = testkit::zipcheck::Tree::new();
    want.insert("bootstrap".into(), (new.clone(), 0o755));
    want.insert("handler.py".into(), (b"v = 1\n".to_vec(), 0o644));
    assert_reads_as(&bytes, &want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_appended_delta_reads_only_the_directory_and_its_entry() {
    let env = PatcherRig::start(1).await;
    let (old, new) = binary_and_edit(4 << 20);
    let vendor = testkit::noise(3, 8 << 20);
    let files = [
        ("bootstrap", old.as_slice(), 0o755),
        ("vendor.so", vendor.as_slice(), 0o644),
        ("handler.py", b"v = 1\n".as_slice(), 0o644),
    ];
    env.artifact(
        "artifacts",
        true,
        "big.zip",
        zip_crate_archive(&files, &[], "", Flavor::Seekable),
    )
    .await;
    // A first patch stores the hash checkpoint that lets later ones append.
    let first = env
        .invoke(&json!({"src": "s3://artifacts/big.zip", "changes": {"handler.py": "v = 2\n"}}))
        .await
        .expect("first");
    env.check_answer(&first).await;
    let patch = delta::make(&old, &new, 9).expect("delta");
    let (answer, ranged) = append_recording_ranges(
        &env,
        "s3://artifacts/big.zip",
        json!({"bootstrap": encoded(&patch, "zstd-delta", &new)}),
    )
    .await;
    assert!(
        ranged.len() >= 2,
        "the directory and the entry read by range: {ranged:?}"
    );
    // The base's 4 MiB (and the directory) were read, not the whole 12 MiB archive.
    let read = answer["read_bytes"].as_u64().expect("read bytes");
    assert!(read < 5 << 20, "read {read}");
    let bytes = env.check_answer(&answer).await;
    assert!(zip_crate_tree(&bytes)["bootstrap"].0 == new);
}

/// Patches `src` with `changes` in append mode, recording moto's requests meanwhile: the
/// answer (checked to be an append) and the Range header of each ranged read.
async fn append_recording_ranges(
    env: &PatcherRig,
    src: &str,
    changes: Value,
) -> (Value, Vec<String>) {
    env.moto.start_recording();
    let answer = env
        .invoke(&json!({"src": src, "mode": "append", "changes": changes}))
        .await
        .expect("patched");
    assert_eq!(answer["mode"], "append", "{answer}");
    let ranged = env
        .moto
        .recording()
        .iter()
        .filter_map(|r| Moto::header(r, "range").map(str::to_owned))
        .collect();
    (answer, ranged)
}

/// Editing the file patched last again (the edit loop: one handler saved over and over): its
/// newest entry sits in the artifact's last bytes, which the patcher reads anyway for the
/// directory, so the splice's previous content costs no read of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_splice_of_the_file_patched_last_reads_nothing_but_the_tail() {
    let env = PatcherRig::start(1).await;
    let vendor = testkit::noise(4, 8 << 20);
    let v1 = b"def handler(event, context):\n    return 1\n".repeat(20);
    let files = [
        ("vendor.so", vendor.as_slice(), 0o644),
        ("handler.py", v1.as_slice(), 0o644),
    ];
    env.artifact(
        "artifacts",
        true,
        "edit.zip",
        zip_crate_archive(&files, &[], "", Flavor::Seekable),
    )
    .await;
    let v2 = b"def handler(event, context):\n    return 2\n".repeat(20);
    let first = env
        .invoke(&json!({"src": "s3://artifacts/edit.zip", "changes": {"handler.py": String::from_utf8_lossy(&v2)}}))
        .await
        .expect("first");
    assert_eq!(first["mode"], "append", "{first}");
    env.check_answer(&first).await;
    let mut v3 = v2.clone();
    v3[40] = b'3';
    let (answer, ranged) = append_recording_ranges(
        &env,
        "s3://artifacts/edit.zip",
        json!({"handler.py": encoded(&zipedit::splice::make(&v2, &v3), "splice", &v3)}),
    )
    .await;
    assert_eq!(
        ranged.len(),
        1,
        "only the tail is read by range: {ranged:?}"
    );
    let read = answer["read_bytes"].as_u64().expect("read bytes");
    assert!(read <= 8 * 1024, "read {read}");
    let bytes = env.check_answer(&answer).await;
    assert_eq!(zip_crate_tree(&bytes)["handler.py"].0, v3);
}

/// The example app with a 2 MiB binary in the report function's package, deployed in full.
async fn app_with_binary() -> (Rig, Vec<u8>) {
    let rig = Rig::start().await;
    let (old, _) = binary_and_edit(2 << 20);
    std::fs::write(rig.app.path("src/report/engine.bin"), &old).expect("write");
    let (out, doc) = rig.app.run_json(&["full", "--yes"]).await;
    assert!(out.status.success(), "{doc}");
    (rig, old)
}

/// Deploys `new` as engine.bin with `deploy --ci`, checks it runs, and returns the report of
/// its artifact.
async fn deploy_binary(rig: &Rig, new: &[u8]) -> Value {
    let app = &rig.app;
    std::fs::write(app.path("src/report/engine.bin"), new).expect("write");
    let (out, doc) = app.run_json(&["deploy", "--ci"]).await;
    assert_eq!(out.status.code(), Some(0), "{doc}");
    let report = artifact(&doc, "src-report.zip").clone();
    let bytes = app.patched(&doc, "src-report.zip").await;
    assert!(
        zip_crate_tree(&bytes)["engine.bin"].0 == new,
        "the new binary is in the artifact"
    );
    assert_eq!(
        app.code_shas().await["ReportFunction"],
        code_sha256(&bytes),
        "the function runs it"
    );
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_sends_a_binarys_edit_as_a_splice_from_the_cache_then_from_the_artifact() {
    let (rig, old) = app_with_binary().await;
    let mut new = old.clone();
    new[700_000..700_020].copy_from_slice(b"first one-line edit.");

    let report = deploy_binary(&rig, &new).await;
    let file = &report["files"][0];
    assert_eq!(
        (
            file["path"].as_str(),
            file["sent"].as_str(),
            file["base"].as_str()
        ),
        (Some("engine.bin"), Some("splice"), Some("cache")),
        "{report}"
    );
    let sent = report["request_bytes"].as_u64().expect("request bytes");
    assert!(
        sent < 1_000,
        "a 2 MiB file's one-line edit sent in {sent} bytes: {report}"
    );
    assert!(
        report["base_bytes"].is_null(),
        "nothing read back: {report}"
    );

    // A fresh clone (a CI runner): no cache; the base is read from the artifact by range.
    std::fs::remove_dir_all(rig.app.path(".quickdeploy")).expect("local state");
    let mut newer = new.clone();
    newer[1_500_000..1_500_021].copy_from_slice(b"second one-line edit.");
    let report = deploy_binary(&rig, &newer).await;
    let file = &report["files"][0];
    assert_eq!(
        (file["sent"].as_str(), file["base"].as_str()),
        (Some("splice"), Some("artifact")),
        "{report}"
    );
    let base = report["base_bytes"].as_u64().expect("base bytes");
    assert!(
        base < 3 << 20,
        "the entry and the directory, not the artifact: {base}"
    );
    assert!(
        report["request_bytes"].as_u64().expect("sent") < 1_000,
        "{report}"
    );
}

/// `deploy --ci` with the patcher's Invoke API at `endpoint`: its exit and its JSON report.
async fn deploy_through(app: &testkit::app::App, endpoint: &str) -> (std::process::Output, Value) {
    let mut cmd = app.command(&["deploy", "--ci"]);
    cmd.env("QUICKDEPLOY_PATCHER_ENDPOINT", endpoint);
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("deploy"))
        .await
        .expect("join");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    (out, doc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patcher_older_than_encoded_changes_gets_the_files_whole() {
    let (rig, old) = app_with_binary().await;
    let app = &rig.app;
    // In front of the patcher's Invoke API: a proxy answering encoded events as a patcher
    // from before them does (BadEvent), and passing the rest.
    let front = testkit::proxy::S3Proxy::start(&app.patcher_endpoint).await;
    front.old_patcher();
    let mut new = old.clone();
    new[300_000..300_015].copy_from_slice(b"edit for an old");
    std::fs::write(app.path("src/report/engine.bin"), &new).expect("write");
    let (out, doc) = deploy_through(app, &front.endpoint).await;
    assert_eq!(out.status.code(), Some(0), "{doc}");
    assert_eq!(
        front.refused_invokes(),
        2,
        "the encoded event was refused once, and the deploy's record once"
    );
    // The record this machine wrote instead, whole, and said why.
    assert_eq!(doc["recorded"]["by"], "client", "{doc}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("does not write deploy records")
            && stderr.contains("quickdeploy bootstrap"),
        "{stderr}"
    );
    let report = artifact(&doc, "src-report.zip");
    assert_eq!(report["files"][0]["sent"], "whole", "{report}");
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("older than this quickdeploy")
            && warnings.contains("quickdeploy bootstrap"),
        "{report}"
    );
    let bytes = app.patched(&doc, "src-report.zip").await;
    assert!(
        zip_crate_tree(&bytes)["engine.bin"].0 == new,
        "the file went whole"
    );
    assert_eq!(app.code_shas().await["ReportFunction"], code_sha256(&bytes));
    // Nor does it keep manifests: this machine wrote it, describing the new object.
    assert_eq!(report["patch"]["manifest"], Value::Null, "{report}");
    let key = report["patch"]["key"].as_str().expect("key");
    let manifest = app
        .s3
        .get_object()
        .bucket(testkit::app::BUCKET)
        .key(format!("{key}.manifest.json"))
        .send()
        .await
        .expect("the manifest");
    let manifest: Value =
        serde_json::from_slice(&manifest.body.collect().await.expect("body").into_bytes())
            .expect("JSON");
    assert_eq!(
        manifest["code_sha256"].as_str(),
        Some(code_sha256(&bytes).as_str())
    );

    // The next deploy plans from this machine's copy of the stack, and its patch carries a
    // stack guard, which the old patcher refuses too (nothing written): the deploy warns,
    // reads the stack, and patches as the old patcher reads it.
    new[300_000..300_015].copy_from_slice(b"edit for an ol2");
    std::fs::write(app.path("src/report/engine.bin"), &new).expect("write");
    let (out, doc) = deploy_through(app, &front.endpoint).await;
    assert_eq!(out.status.code(), Some(0), "{doc}");
    assert_eq!(doc["assumed"]["confirmed"], false, "{doc}");
    assert_eq!(
        front.refused_invokes(),
        5,
        "the guarded event, the encoded one and the record refused"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("could not confirm the stack") && stderr.contains("quickdeploy bootstrap"),
        "{stderr}"
    );
    let bytes = app.patched(&doc, "src-report.zip").await;
    assert!(zip_crate_tree(&bytes)["engine.bin"].0 == new);
    assert_eq!(app.code_shas().await["ReportFunction"], code_sha256(&bytes));
}
