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
    // The folder's name holds a quote, a backslash, a tab and non-ASCII letters (é spelled
    // e + U+0301, as macOS spells file names). The template's path under it is written as
    // it is; the stack, which defaults to the folder's name, is made a name CloudFormation
    // takes (issue 23: a name AWS would refuse is never written).
    let name = "my \"app\"\\ \tÜber-cafe\u{301}";
    let dir = root.path().join(name);
    std::fs::create_dir_all(dir.join(name)).expect("mkdir");
    std::fs::write(dir.join(name).join("template.yaml"), TEMPLATE).expect("write");
    let template = format!("{name}/template.yaml");
    let out = quickdeploy(
        &dir,
        &["init", "--template", &template, "--bucket", "bkt.e-1"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "for stack my-app-ber-cafe with 1 function(s) from {template}"
        )),
        "{stdout}"
    );
    let doc = read_toml(&dir);
    assert_eq!(doc["stack"], "my-app-ber-cafe", "{doc}");
    assert_eq!(doc["template"], template.as_str(), "{doc}");
    assert_eq!(doc["artifact_bucket"], "bkt.e-1", "{doc}");
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
    let out = quickdeploy(
        &dir,
        &[
            "init",
            "--stack",
            "other",
            "--template",
            &template,
            "--force",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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

#[test]
fn init_refuses_a_stack_or_bucket_name_aws_would_refuse_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(dir.path().join("cfn")).expect("mkdir");
    std::fs::write(dir.path().join("cfn/template.yaml"), TEMPLATE).expect("write");
    for (args, said) in [
        (
            &["init", "--stack", "bad name!"][..],
            "stack name \"bad name!\" would be refused by CloudFormation",
        ),
        (&["init", "--stack", "2fast"], "it must start with a letter"),
        (
            &["init", "--bucket", "My_Bucket"],
            "bucket name \"My_Bucket\" would be refused by S3",
        ),
    ] {
        let out = quickdeploy(dir.path(), args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(said), "{args:?}: {stderr}");
        assert!(!dir.path().join("quickdeploy.toml").exists(), "{args:?}");
    }
}

/// Issue 23: `init` says how each layer is built, as `full` and `deploy` will build it (the
/// method and the architecture), beside the functions that use it.
#[test]
fn init_names_each_layers_build_method_and_architecture() {
    let dir = tempfile::tempdir().expect("tmp");
    let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("apps/build-python");
    testkit::app::copy_dir(&app, dir.path());
    std::fs::remove_file(dir.path().join("quickdeploy.toml")).expect("rm");
    let arm = std::fs::read_to_string(dir.path().join("template.yaml"))
        .expect("read")
        .replace(
            "      CompatibleRuntimes: [python3.12]\n",
            "      CompatibleRuntimes: [python3.12]\n      CompatibleArchitectures: [arm64]\n",
        );
    std::fs::write(dir.path().join("template.yaml"), arm).expect("write");
    let out = quickdeploy(dir.path(), &["init"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("layer Shared"))
        .unwrap_or_else(|| panic!("no layer line: {stdout}"));
    assert!(
        line.ends_with("used by Py; built by BuildMethod python3.12 for arm64"),
        "{line}"
    );
}
