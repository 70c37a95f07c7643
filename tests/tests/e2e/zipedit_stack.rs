//! `cfn/zipedit.yaml` for real: cfn-lint passes it, the packaged zipedit binary is its code, and
//! a stack created from it in moto has the function, role and log group it promises. A second
//! test reads the role's policy out of the template and proves it grants no S3 wildcard.

use std::collections::{BTreeSet, HashMap};
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_cloudformation::types::{Capability, Parameter, ResourceStatus, StackStatus};
use aws_sdk_lambda::types::{Architecture, Runtime};
use aws_sdk_s3::primitives::ByteStream;
use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use testkit::rig::{Moto, lambda_client, python, s3_client, sdk_config};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn template_path() -> PathBuf {
    repo().join("cfn/zipedit.yaml")
}

fn code_sha256(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

/// The function's architecture for the binary this machine built (moto runs neither).
fn host_architecture() -> (&'static str, Architecture) {
    match std::env::consts::ARCH {
        "aarch64" => ("arm64", Architecture::Arm64),
        _ => ("x86_64", Architecture::X8664),
    }
}

/// cfn-lint from the same virtualenv as moto (`make rig-deps` installs both).
fn cfn_lint(template: &Path) {
    let lint = python().with_file_name("cfn-lint");
    let out = Command::new(&lint)
        .arg(template)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {}: {e} (run `make rig-deps` to install cfn-lint into .venv)",
                lint.display()
            )
        });
    assert!(
        out.status.success(),
        "cfn-lint finds problems in {} (exit {:?}):\n{}{}",
        template.display(),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The template as JSON, short tags (`!Sub`, `!Ref`) turned into their long forms by cfn-lint's
/// own decoder, so the test reads it exactly as cfn-lint does.
fn template_json() -> Value {
    let out = Command::new(python())
        .args([
            "-c",
            "import json, sys\n\
             from cfnlint.decode import decode\n\
             template, problems = decode(sys.argv[1])\n\
             if problems: sys.exit('\\n'.join(str(p) for p in problems))\n\
             json.dump(template, sys.stdout)\n",
        ])
        .arg(template_path())
        .output()
        .expect("run the venv's python (make rig-deps)");
    assert!(
        out.status.success(),
        "cfn-lint's decoder cannot read the template: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("template JSON")
}

/// Starts `scripts/package-lambda.sh --binary`, packaging a built zipedit as a person would.
fn start_package(binary: &Path, out: &Path) -> std::process::Child {
    Command::new(repo().join("scripts/package-lambda.sh"))
        .arg("--binary")
        .arg(binary)
        .arg("--out")
        .arg(out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run scripts/package-lambda.sh")
}

/// Waits for a packaging run: the zip's bytes and the CodeSha256 the script printed.
fn finish_package(run: std::process::Child, out: &Path) -> (Vec<u8>, String) {
    let run = run.wait_with_output().expect("package-lambda.sh");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "package-lambda.sh failed:\n{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let printed = stdout
        .lines()
        .find_map(|l| l.strip_prefix("CodeSha256:"))
        .unwrap_or_else(|| panic!("no CodeSha256 line in:\n{stdout}"))
        .trim()
        .to_owned();
    let zip = std::fs::read(out.join("bootstrap.zip")).expect("the packaged zip");
    (zip, printed)
}

fn param(key: &str, value: &str) -> Parameter {
    Parameter::builder()
        .parameter_key(key)
        .parameter_value(value)
        .build()
}

/// An IAM Query API call to moto, without an IAM SDK crate: moto routes by the credential
/// scope in Authorization and does not check the signature.
fn moto_iam(port: u16, form: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to moto");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: localhost:{port}\r\n\
         Content-Type: application/x-www-form-urlencoded; charset=utf-8\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/iam/aws4_request, \
         SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    )
    .expect("send");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read");
    raw
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8(out).expect("UTF-8 policy")
}

/// The inline policy `name` of `role`, as moto's CloudFormation resolved it.
fn role_policy(port: u16, role: &str, name: &str) -> Value {
    let raw = moto_iam(
        port,
        &format!("Action=GetRolePolicy&Version=2010-05-08&RoleName={role}&PolicyName={name}"),
    );
    let doc = raw
        .split_once("<PolicyDocument>")
        .and_then(|(_, rest)| rest.split_once("</PolicyDocument>"))
        .map(|(doc, _)| doc)
        .unwrap_or_else(|| panic!("no PolicyDocument in moto's answer:\n{raw}"));
    let doc = doc
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&apos;", "'")
        .replace("&amp;", "&");
    let doc = if doc.trim_start().starts_with('{') {
        doc
    } else {
        percent_decode(&doc)
    };
    if let Ok(policy) = serde_json::from_str(&doc) {
        return policy;
    }
    // moto stores a policy that CloudFormation made as a Python dict and answers its repr
    // (single quotes), where AWS answers JSON: read that with Python's literal parser.
    let mut py = Command::new(python())
        .args([
            "-c",
            "import ast, json, sys; json.dump(ast.literal_eval(sys.stdin.read()), sys.stdout)",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python");
    py.stdin
        .take()
        .expect("stdin")
        .write_all(doc.as_bytes())
        .expect("send the policy");
    let out = py.wait_with_output().expect("python");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("policy: {e}\n{doc}"))
}

/// A field that may be one string or a list of them, as a list.
fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .unwrap_or_else(|| panic!("not a string: {x}"))
                    .to_owned()
            })
            .collect(),
        other => panic!("expected a string or a list of strings, got {other}"),
    }
}

/// Checks an S3 policy document against the buckets it was made for: object actions on
/// `bucket/*`, ListBucket on the buckets, no wildcard action or resource in any Allow, and the
/// staging prefix denied writes.
fn check_artifact_policy(policy: &Value, buckets: &[&str], staging_prefix: &str) {
    let statements = policy["Statement"]
        .as_array()
        .unwrap_or_else(|| panic!("no statements: {policy}"));
    let object_actions: BTreeSet<&str> = [
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:PutObject",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts",
    ]
    .into();
    let objects: Vec<String> = buckets
        .iter()
        .map(|b| format!("arn:aws:s3:::{b}/*"))
        .collect();
    let bucket_arns: Vec<String> = buckets
        .iter()
        .map(|b| format!("arn:aws:s3:::{b}"))
        .collect();
    let mut allowed = BTreeSet::new();
    let mut staging_denied = false;
    for st in statements {
        let actions = strings(&st["Action"]);
        let resources = strings(&st["Resource"]);
        assert!(
            st.get("NotAction").is_none() && st.get("NotResource").is_none(),
            "NotAction/NotResource grant everything else: {st}"
        );
        match st["Effect"].as_str() {
            Some("Allow") => {
                for a in &actions {
                    assert!(!a.contains('*'), "wildcard action {a} in {st}");
                    allowed.insert(a.clone());
                }
                for r in &resources {
                    assert!(r != "*" && !r.starts_with("arn:aws:s3:::*"), "{r} in {st}");
                }
                let acts: BTreeSet<&str> = actions.iter().map(String::as_str).collect();
                if acts == BTreeSet::from(["s3:ListBucket", "s3:ListBucketMultipartUploads"]) {
                    assert_eq!(
                        resources, bucket_arns,
                        "bucket listings on the buckets only"
                    );
                } else {
                    assert_eq!(acts, object_actions, "object actions: {st}");
                    assert_eq!(resources, objects, "object actions on bucket/* only");
                }
            }
            Some("Deny") => {
                staging_denied |= actions.iter().any(|a| a == "s3:PutObject")
                    && resources.contains(&format!("arn:aws:s3:::*/{staging_prefix}*"));
            }
            other => panic!("effect {other:?} in {st}"),
        }
    }
    let mut expected: BTreeSet<String> = object_actions.iter().map(|a| a.to_string()).collect();
    expected.insert("s3:ListBucket".into());
    expected.insert("s3:ListBucketMultipartUploads".into());
    assert_eq!(allowed, expected, "everything the policy allows");
    assert!(
        staging_denied,
        "writes below {staging_prefix} are not denied: {policy}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_template_lints_clean_and_deploys_the_packaged_binary_in_moto() {
    cfn_lint(&template_path());

    // The code: the real zipedit binary, packaged by the script, twice, to the same bytes.
    let binary = testkit::bin("zipedit");
    let dir = tempfile::tempdir().expect("temp dir");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let (first, second) = (start_package(&binary, &a), start_package(&binary, &b));
    let (zip, printed) = finish_package(first, &a);
    let (again, _) = finish_package(second, &b);
    assert!(
        zip == again,
        "packaging the same binary twice gave different zips"
    );
    let sha = code_sha256(&zip);
    assert_eq!(printed, sha, "the script's CodeSha256");
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&zip)).expect("a zip");
    assert_eq!(archive.len(), 1, "bootstrap and nothing else");
    let mut entry = archive.by_index(0).expect("entry");
    assert_eq!(entry.name().expect("entry name"), "bootstrap");
    assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o755));
    let mut inside = Vec::new();
    entry.read_to_end(&mut inside).expect("inflate");
    assert!(
        inside == std::fs::read(&binary).expect("binary"),
        "bootstrap is not the built binary"
    );

    let moto = Moto::start();
    let endpoint = moto.endpoint();
    let s3 = s3_client(&endpoint).await;
    for bucket in ["code", "artifacts", "more-artifacts"] {
        s3.create_bucket()
            .bucket(bucket)
            .send()
            .await
            .expect("bucket");
    }
    s3.put_object()
        .bucket("code")
        .key("zipedit/bootstrap.zip")
        .body(ByteStream::from(zip.clone()))
        .send()
        .await
        .expect("upload the code");

    let (arch, arch_enum) = host_architecture();
    let cfn = aws_sdk_cloudformation::Client::new(&sdk_config(&endpoint).await);
    let template = std::fs::read_to_string(template_path()).expect("template");
    let stack_id = cfn
        .create_stack()
        .stack_name("quickdeploy-zipedit")
        .template_body(template)
        .capabilities(Capability::CapabilityIam)
        .parameters(param("FunctionName", "zipedit-test"))
        .parameters(param("ArtifactBucketNames", "artifacts,more-artifacts"))
        .parameters(param("CodeBucket", "code"))
        .parameters(param("CodeKey", "zipedit/bootstrap.zip"))
        .parameters(param("Architecture", arch))
        .send()
        .await
        .expect("create_stack")
        .stack_id
        .expect("stack id");

    // moto creates stacks synchronously; real CloudFormation does not, so poll as for real.
    let deadline = Instant::now() + Duration::from_secs(120);
    let stack = loop {
        let stacks = cfn
            .describe_stacks()
            .stack_name(&stack_id)
            .send()
            .await
            .expect("describe_stacks");
        let stack = stacks.stacks().first().cloned().expect("the stack");
        match stack.stack_status() {
            Some(StackStatus::CreateComplete) => break stack,
            Some(StackStatus::CreateInProgress) | None => {
                assert!(Instant::now() < deadline, "stack not created in 120 s");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Some(other) => panic!(
                "stack {other}: {}",
                stack.stack_status_reason().unwrap_or("no reason given")
            ),
        }
    };
    let outputs: HashMap<&str, &str> = stack
        .outputs()
        .iter()
        .filter_map(|o| Some((o.output_key()?, o.output_value()?)))
        .collect();
    assert_eq!(outputs.get("FunctionName"), Some(&"zipedit-test"));
    let function_arn = outputs.get("FunctionArn").expect("FunctionArn output");
    assert!(
        function_arn.ends_with(":function:zipedit-test"),
        "{function_arn}"
    );
    let role_arn = *outputs.get("RoleArn").expect("RoleArn output");
    assert!(role_arn.starts_with("arn:aws:iam::"), "{role_arn}");

    // The function, as Lambda reports it.
    let lambda = lambda_client(&endpoint).await;
    let got = lambda
        .get_function()
        .function_name("zipedit-test")
        .send()
        .await
        .expect("get_function");
    let conf = got.configuration().expect("configuration");
    assert_eq!(conf.runtime(), Some(&Runtime::Providedal2023));
    assert_eq!(conf.handler(), Some("bootstrap"));
    assert_eq!(conf.architectures(), &[arch_enum]);
    assert_eq!(conf.code_sha256(), Some(sha.as_str()), "CodeSha256");
    assert_eq!(conf.code_size(), zip.len() as i64);
    assert_eq!(conf.role(), Some(role_arn));
    assert_eq!(conf.memory_size(), Some(1024));
    assert_eq!(conf.timeout(), Some(120));
    // The patcher knows its own timeout (to tell a killed patch's upload from a live one) and
    // the staging prefix (the only place it reads staged changes).
    let vars = conf
        .environment()
        .and_then(|e| e.variables())
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        vars.get("ZIPEDIT_TIMEOUT_SECONDS").map(String::as_str),
        Some("120")
    );
    assert_eq!(
        vars.get("ZIPEDIT_STAGING_PREFIX").map(String::as_str),
        Some(".quickdeploy/staging/")
    );

    // The stack's resources: the log group under the function's name, the role, the function.
    let resources = cfn
        .describe_stack_resources()
        .stack_name(&stack_id)
        .send()
        .await
        .expect("describe_stack_resources");
    let by_id: HashMap<&str, _> = resources
        .stack_resources()
        .iter()
        .filter_map(|r| Some((r.logical_resource_id()?, r)))
        .collect();
    let mut seen: Vec<&str> = by_id.keys().copied().collect();
    seen.sort_unstable();
    assert_eq!(
        seen,
        ["Function", "LogGroup", "Role"],
        "the stack's resources"
    );
    for (id, kind) in [
        ("LogGroup", "AWS::Logs::LogGroup"),
        ("Role", "AWS::IAM::Role"),
        ("Function", "AWS::Lambda::Function"),
    ] {
        let r = by_id[id];
        assert_eq!(r.resource_type(), Some(kind), "{id}");
        assert_eq!(
            r.resource_status(),
            Some(&ResourceStatus::CreateComplete),
            "{id}"
        );
    }
    assert_eq!(
        by_id["LogGroup"].physical_resource_id(),
        Some("/aws/lambda/zipedit-test")
    );

    // The role's S3 policy as a CloudFormation engine resolved it (moto's), not just as written.
    let role_name = by_id["Role"].physical_resource_id().expect("role name");
    assert!(role_arn.ends_with(&format!("/{role_name}")), "{role_arn}");
    let policy = role_policy(moto.port, role_name, "artifacts");
    check_artifact_policy(
        &policy,
        &["artifacts", "more-artifacts"],
        ".quickdeploy/staging/",
    );
}

/// Resolves the intrinsic functions the role's policies use (Ref, Fn::Join, Fn::Split, Fn::Sub;
/// Fn::GetAtt stays a marker), the way CloudFormation would for these parameters.
fn resolve(v: &Value, params: &HashMap<&str, Value>) -> Value {
    let text = |v: &Value| -> String {
        match resolve(v, params) {
            Value::String(s) => s,
            other => panic!("expected a string, got {other}"),
        }
    };
    match v {
        Value::Object(m) if m.len() == 1 => {
            let (k, arg) = m.iter().next().expect("one key");
            match k.as_str() {
                "Ref" => {
                    let name = arg.as_str().expect("Ref name");
                    params
                        .get(name)
                        .cloned()
                        .unwrap_or_else(|| panic!("Ref {name}: no value in this test"))
                }
                "Fn::GetAtt" => json!(format!("GetAtt:{}", strings(arg).join("."))),
                "Fn::Join" => {
                    let delimiter = arg[0].as_str().expect("a literal Join delimiter");
                    let items = match resolve(&arg[1], params) {
                        Value::Array(a) => a,
                        other => panic!("Join needs a list, got {other}"),
                    };
                    json!(items.iter().map(&text).collect::<Vec<_>>().join(delimiter))
                }
                "Fn::Split" => {
                    let delimiter = arg[0].as_str().expect("a literal Split delimiter");
                    json!(text(&arg[1]).split(delimiter).collect::<Vec<_>>())
                }
                "Fn::Sub" => {
                    let (template, vars) = match arg {
                        Value::String(s) => (s.as_str(), serde_json::Map::new()),
                        Value::Array(a) => (
                            a[0].as_str().expect("Sub template"),
                            a[1].as_object().expect("Sub variables").clone(),
                        ),
                        other => panic!("Fn::Sub {other}"),
                    };
                    let mut out = String::new();
                    let mut rest = template;
                    while let Some(at) = rest.find("${") {
                        out.push_str(&rest[..at]);
                        let end = rest[at..].find('}').expect("closing }") + at;
                        let name = &rest[at + 2..end];
                        out.push_str(&match vars.get(name) {
                            Some(v) => text(v),
                            None => text(&json!({ "Ref": name })),
                        });
                        rest = &rest[end + 1..];
                    }
                    out.push_str(rest);
                    json!(out)
                }
                _ => json!({ k: resolve(arg, params) }),
            }
        }
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), resolve(v, params)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|x| resolve(x, params)).collect()),
        other => other.clone(),
    }
}

#[test]
fn the_role_grants_no_s3_wildcard_and_only_the_buckets_given() {
    let t = template_json();
    let staging = t["Parameters"]["StagingPrefix"]["Default"]
        .as_str()
        .expect("StagingPrefix default");
    assert_eq!(staging, ".quickdeploy/staging/");
    assert_eq!(
        t["Parameters"]["ArtifactBucketNames"]["Type"],
        "CommaDelimitedList"
    );
    let role = &t["Resources"]["Role"]["Properties"];
    assert!(
        role.get("ManagedPolicyArns").is_none(),
        "managed policies (AmazonS3FullAccess and the like) are not wanted: {role}"
    );
    assert_eq!(
        role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"],
        "lambda.amazonaws.com"
    );

    // One bucket and two, as the stack would resolve them.
    for buckets in [vec!["artifacts"], vec!["artifacts", "more-artifacts"]] {
        let params: HashMap<&str, Value> = HashMap::from([
            ("ArtifactBucketNames", json!(buckets)),
            ("StagingPrefix", json!(staging)),
            ("AWS::Partition", json!("aws")),
            ("AWS::Region", json!("eu-west-1")),
            ("AWS::AccountId", json!("123456789012")),
        ]);
        let policies = resolve(&role["Policies"], &params);
        let by_name: HashMap<&str, &Value> = policies
            .as_array()
            .expect("Policies")
            .iter()
            .map(|p| {
                (
                    p["PolicyName"].as_str().expect("name"),
                    &p["PolicyDocument"],
                )
            })
            .collect();
        let mut names: Vec<&str> = by_name.keys().copied().collect();
        names.sort_unstable();
        assert_eq!(names, ["artifacts", "logs", "stacks"]);
        check_artifact_policy(by_name["artifacts"], &buckets, staging);

        // Logs: write to its own group only.
        let logs = &by_name["logs"]["Statement"];
        assert_eq!(logs.as_array().map(Vec::len), Some(1), "{logs}");
        assert_eq!(
            strings(&logs[0]["Action"]),
            ["logs:CreateLogStream", "logs:PutLogEvents"]
        );
        assert_eq!(strings(&logs[0]["Resource"]), ["GetAtt:LogGroup.Arn"]);

        // Stacks: DescribeStacks only (the stack guard), on its own account and Region's.
        let stacks = &by_name["stacks"]["Statement"];
        assert_eq!(stacks.as_array().map(Vec::len), Some(1), "{stacks}");
        assert_eq!(stacks[0]["Effect"], "Allow");
        assert_eq!(
            strings(&stacks[0]["Action"]),
            ["cloudformation:DescribeStacks"]
        );
        assert_eq!(
            strings(&stacks[0]["Resource"]),
            ["arn:aws:cloudformation:eu-west-1:123456789012:stack/*"]
        );
    }

    // The function and its log group, as the issue asks.
    let f = &t["Resources"]["Function"]["Properties"];
    assert_eq!(f["Runtime"], "provided.al2023");
    assert_eq!(f["Handler"], "bootstrap");
    assert_eq!(f["Architectures"], json!([{ "Ref": "Architecture" }]));
    let arch = &t["Parameters"]["Architecture"];
    assert_eq!(arch["Default"], "arm64");
    assert_eq!(arch["AllowedValues"], json!(["arm64", "x86_64"]));
    let log = &t["Resources"]["LogGroup"]["Properties"];
    assert_eq!(
        log["LogGroupName"],
        json!({ "Fn::Sub": "/aws/lambda/${FunctionName}" })
    );
    assert_eq!(log["RetentionInDays"], json!({ "Ref": "LogRetentionDays" }));
}
