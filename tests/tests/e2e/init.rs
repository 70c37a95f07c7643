//! `quickdeploy init`, run as a user runs it: the file it writes is TOML another reader
//! (Python's tomllib) reads back to the same values, whatever the names hold.

use std::path::Path;
use std::process::{Command, Output};

fn quickdeploy(dir: &Path, args: &[&str]) -> Output {
    Command::new(testkit::bin("quickdeploy"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run quickdeploy")
}

/// `quickdeploy.toml` in `dir` as Python's tomllib reads it, as JSON.
fn read_toml(dir: &Path) -> serde_json::Value {
    let out = Command::new("python3")
        .arg("-c")
        .arg("import json,sys,tomllib;print(json.dumps(tomllib.load(open(sys.argv[1],'rb'))))")
        .arg(dir.join("quickdeploy.toml"))
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "tomllib cannot read it: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

const TEMPLATE: &str =
    "Resources:\n  Api:\n    Type: AWS::Lambda::Function\n    Properties:\n      Code: ./src\n";

#[test]
fn init_writes_toml_any_reader_reads_back_whatever_the_names_hold() {
    let root = tempfile::tempdir().expect("tmp");
    // The stack defaults to the folder's name: a quote, a backslash, a tab and non-ASCII
    // letters (é spelled e + U+0301, as macOS spells file names).
    let name = "my \"app\"\\ \tÜber-cafe\u{301}";
    let dir = root.path().join(name);
    std::fs::create_dir_all(dir.join("cfn")).expect("mkdir");
    std::fs::write(dir.join("cfn/template.yaml"), TEMPLATE).expect("write");
    let out = quickdeploy(&dir, &["init", "--bucket", "bkt\"\\é"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "for stack {name} with 1 function(s) from cfn/template.yaml"
        )),
        "{stdout}"
    );
    let doc = read_toml(&dir);
    assert_eq!(doc["stack"], name, "{doc}");
    assert_eq!(doc["template"], "cfn/template.yaml", "{doc}");
    assert_eq!(doc["artifact_bucket"], "bkt\"\\é", "{doc}");
    assert!(doc["functions"]["Api"].is_object(), "{doc}");

    // Again: the file is there, and stays unless --force.
    let before = std::fs::read(dir.join("quickdeploy.toml")).expect("read");
    let out = quickdeploy(&dir, &["init", "--stack", "other"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--force"), "{stderr}");
    assert_eq!(
        std::fs::read(dir.join("quickdeploy.toml")).expect("read"),
        before
    );
    let out = quickdeploy(&dir, &["init", "--stack", "other", "--force"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(read_toml(&dir)["stack"], "other");
}

#[test]
fn init_without_a_template_exits_2_naming_the_places_looked() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = quickdeploy(dir.path(), &["init"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("template.yaml") && stderr.contains("--template"),
        "{stderr}"
    );
    assert!(!dir.path().join("quickdeploy.toml").exists());
}
