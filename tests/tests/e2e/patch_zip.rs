//! `quickdeploy patch-zip`, run as a user runs it, its output checked by independent readers.

use std::path::Path;
use std::process::{Command, Output};

use testkit::zipcheck::{Tree, assert_reads_as, cd_offset, sha_hex};
use testkit::{bin, python_zip};

fn quickdeploy(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin("quickdeploy"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run quickdeploy")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    python_zip(
        &dir.path().join("app.zip"),
        &[
            ("handler.py", b"def handler(e, c):\n    return 1\n"),
            ("lib/util.py", b"X = 1\n"),
            ("lib/big.bin", &big),
        ],
    );
    std::fs::write(
        dir.path().join("handler.py"),
        "def handler(e, c):\n    return 2\n",
    )
    .expect("write");
    std::fs::write(dir.path().join("run"), "#!/bin/sh\n").expect("write");
    dir
}

#[test]
fn puts_and_deletes_give_an_archive_every_reader_accepts() {
    let dir = fixture();
    let d = dir.path();
    let o = quickdeploy(
        d,
        &[
            "patch-zip",
            "app.zip",
            "-o",
            "new.zip",
            "--put",
            "handler.py=handler.py",
            "--put-exec",
            "bin/run=run",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON document");
    assert_eq!(report["strategy"], "append");
    assert_eq!(
        (report["added"].as_u64(), report["modified"].as_u64()),
        (Some(1), Some(1))
    );
    let old = std::fs::read(d.join("app.zip")).expect("old");
    let new = std::fs::read(d.join("new.zip")).expect("new");
    assert_eq!(report["kept_prefix"].as_u64(), Some(cd_offset(&old)));
    assert!(
        new.starts_with(&old[..cd_offset(&old) as usize]),
        "append keeps the old prefix"
    );
    assert_eq!(
        report["code_sha256"].as_str(),
        Some(zipedit_sha(&new).as_str())
    );
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    // Python's zipfile writes mode 0600 for writestr entries; kept entries keep it.
    let want: Tree = [
        (
            "handler.py",
            b"def handler(e, c):\n    return 2\n".to_vec(),
            0o600,
        ),
        ("lib/util.py", b"X = 1\n".to_vec(), 0o600),
        ("lib/big.bin", big, 0o600),
        ("bin/run", b"#!/bin/sh\n".to_vec(), 0o755),
    ]
    .into_iter()
    .map(|(n, d, m)| (n.to_string(), (d, m)))
    .collect();
    assert_reads_as(&new, &want);

    // In place, deleting: auto rewrites, and the result is compact.
    let o = quickdeploy(
        d,
        &[
            "patch-zip",
            "new.zip",
            "-o",
            "new.zip",
            "--delete",
            "lib/big.bin",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(report["strategy"], "rewrite");
    assert_eq!(report["dead_bytes"].as_u64(), Some(0));
    let files =
        testkit::zipcheck::independent(&std::fs::read(d.join("new.zip")).expect("read")).files;
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        vec!["bin/run", "handler.py", "lib/util.py"]
    );
}

fn zipedit_sha(bytes: &[u8]) -> String {
    // CodeSha256 is base64(sha256); compare through hex to stay independent of the engine.
    let out = Command::new("python3")
        .arg("-c")
        .arg("import base64,sys;print(base64.b64encode(bytes.fromhex(sys.argv[1])).decode())")
        .arg(sha_hex(bytes))
        .output()
        .expect("python3");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn same_input_gives_the_same_bytes() {
    let dir = fixture();
    let d = dir.path();
    for out in ["a.zip", "b.zip"] {
        let o = quickdeploy(
            d,
            &[
                "patch-zip",
                "app.zip",
                "-o",
                out,
                "--put",
                "handler.py=handler.py",
                "--mode",
                "rewrite",
            ],
        );
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("CodeSha256"),
            "human output names CodeSha256"
        );
    }
    assert_eq!(
        std::fs::read(d.join("a.zip")).expect("a"),
        std::fs::read(d.join("b.zip")).expect("b")
    );
}

#[test]
fn bad_input_is_refused_with_the_fix_and_loses_nothing() {
    let dir = fixture();
    let d = dir.path();
    std::fs::write(d.join("out.zip"), "precious").expect("write");
    std::fs::write(d.join("notzip.zip"), "just text, not an archive").expect("write");
    let cases: &[(&[&str], i32, &str)] = &[
        (&["app.zip", "--put", "handler.py"], 2, "NAME=FILE"),
        (
            &["app.zip", "--put", "x.py=missing.py"],
            2,
            "cannot read missing.py",
        ),
        (&["app.zip", "--put", "../x.py=handler.py"], 2, "'..'"),
        (&["app.zip", "--put", "/abs.py=handler.py"], 2, "absolute"),
        (&["app.zip", "--delete", "nope.py"], 2, "no such entry"),
        (
            &["app.zip", "--put", "lib=handler.py"],
            2,
            "one is a file, the other a folder",
        ),
        (&["app.zip", "--max-dead-ratio", "3"], 2, "between 0 and 1"),
        (
            &["notzip.zip", "--put", "a=handler.py"],
            1,
            "not a zip archive",
        ),
        (
            &["missing.zip", "--put", "a=handler.py"],
            2,
            "cannot open missing.zip",
        ),
        (&["app.zip", "--mode", "sideways"], 2, "possible values"),
    ];
    for (args, code, needle) in cases {
        let mut all = vec!["patch-zip", "-o", "out.zip"];
        all.extend_from_slice(args);
        let o = quickdeploy(d, &all);
        assert_eq!(o.status.code(), Some(*code), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(needle),
            "{args:?}: {:?} should mention {needle:?}",
            stderr(&o)
        );
        assert_eq!(
            std::fs::read_to_string(d.join("out.zip")).expect("out"),
            "precious",
            "{args:?} touched the output"
        );
    }
    let o = quickdeploy(d, &["patch-zip", "notzip.zip", "-o", "out.zip", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("error as JSON");
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["error"]["type"], "NotAZip");
    let leftovers: Vec<_> = std::fs::read_dir(d)
        .expect("ls")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left behind");
}

#[test]
fn the_json_document_has_the_fields_docs_json_md_lists() {
    let dir = fixture();
    let d = dir.path();
    let o = quickdeploy(
        d,
        &[
            "patch-zip",
            "app.zip",
            "-o",
            "new.zip",
            "--put",
            "handler.py=handler.py",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON document");
    assert_eq!(doc["ok"], true, "{doc}");
    assert_eq!(doc["outcome"], "patched", "{doc}");
    assert_eq!(doc["input"], "app.zip", "{doc}");
    assert_eq!(doc["output"], "new.zip", "{doc}");
    // The engine's report, flattened into the document.
    for field in [
        "strategy",
        "added",
        "modified",
        "deleted",
        "unchanged",
        "entries",
        "size",
        "code_sha256",
        "dead_bytes",
        "kept_prefix",
        "written",
        "checkpoint",
    ] {
        assert!(doc.get(field).is_some(), "{field} missing: {doc}");
    }
    for phase in ["read_changes", "patch", "write", "total"] {
        assert!(doc["timings_ms"][phase].is_f64(), "{phase}: {doc}");
    }
}
