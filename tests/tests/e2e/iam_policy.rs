//! The policies as checked artifacts (issue 23): `docs/iam-policy.json`, the policy the README
//! tells users to attach, and the patcher's role in `cfn/zipedit.yaml`, each checked against
//! what the code really calls.
//!
//! - Live: every command (bootstrap, init, full, deploy of code, of a staged large change and
//!   of a layer, status, history, rollback, destroy) runs through the rig's proxies, which
//!   record each API call as IAM sees it (`testkit::iam`: the operation, and the actions and
//!   resources it needs; the mapping is explained there). One proxy takes the CLI's AWS calls,
//!   one its invokes of the patcher, one the patcher's own S3 calls. Every CLI call must be
//!   allowed by docs/iam-policy.json (placeholders filled in as docs/real-aws.md says), every
//!   patcher call by the role's policies, resources included; the test names each one that
//!   is not.
//! - Static: every AWS SDK operation the source of the CLI (and of the patcher) names must
//!   map to IAM actions that the policy (the role) grants, so that calls no test makes (such
//!   as ListFunctions, from 20 functions on) are covered too.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde_json::Value;
use testkit::app::{App, PATCHER};
use testkit::iam::{ACCOUNT, Call, Policy, REGION};
use testkit::proxy::S3Proxy;
use testkit::rig::{Moto, Patcher};

const STACK: &str = "iam-shop";
const BUCKET: &str = "quickdeploy-artifacts-123456789012-us-east-1";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// docs/iam-policy.json with its placeholders filled in, as docs/real-aws.md says.
fn user_policy(stack: &str, bucket: &str) -> Policy {
    let text = std::fs::read_to_string(root().join("docs/iam-policy.json")).expect("policy");
    let doc: Value = serde_json::from_str(&text).expect("docs/iam-policy.json is JSON");
    assert_eq!(doc["Version"], "2012-10-17");
    let (stack, bucket) = (stack.to_owned(), bucket.to_owned());
    Policy::new(&doc, &move |s| {
        s.replace("ACCOUNT_ID", ACCOUNT)
            .replace("REGION", REGION)
            .replace("ARTIFACT_BUCKET", &bucket)
            .replace("APP_STACK", &stack)
    })
}

/// A YAML value with CloudFormation's short tags as their long forms (`!Ref x` as
/// `{"Ref": "x"}`, `!GetAtt a.b` as `{"Fn::GetAtt": ["a", "b"]}`, `!Sub` as `Fn::Sub`, ...).
fn cfn_json(v: &serde_yaml_ng::Value) -> Value {
    use serde_yaml_ng::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(*b),
        Y::Number(n) => serde_json::to_value(n).unwrap_or(Value::Null),
        Y::String(s) => Value::String(s.clone()),
        Y::Sequence(s) => Value::Array(s.iter().map(cfn_json).collect()),
        Y::Mapping(m) => Value::Object(
            m.iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), cfn_json(v))))
                .collect(),
        ),
        Y::Tagged(t) => {
            let tag = t.tag.to_string();
            let tag = tag.trim_start_matches('!');
            let inner = cfn_json(&t.value);
            match (tag, inner) {
                ("Ref", v) => serde_json::json!({ "Ref": v }),
                ("GetAtt", Value::String(s)) => {
                    let (a, b) = s.split_once('.').unwrap_or((&s, ""));
                    serde_json::json!({ "Fn::GetAtt": [a, b] })
                }
                (other, v) => serde_json::json!({ format!("Fn::{other}"): v }),
            }
        }
    }
}

/// The few intrinsic functions the role's policies use, evaluated with `params`.
fn eval(v: &Value, params: &HashMap<&str, Value>) -> Value {
    let sub = |text: &str, vars: &HashMap<String, Value>| {
        let mut out = text.to_owned();
        for (k, v) in vars {
            out = out.replace(&format!("${{{k}}}"), v.as_str().unwrap_or_default());
        }
        for (k, v) in params {
            out = out.replace(&format!("${{{k}}}"), v.as_str().unwrap_or_default());
        }
        out.replace("${AWS::Partition}", "aws")
            .replace("${AWS::Region}", REGION)
            .replace("${AWS::AccountId}", ACCOUNT)
    };
    let Value::Object(m) = v else {
        return match v {
            Value::Array(a) => Value::Array(a.iter().map(|x| eval(x, params)).collect()),
            other => other.clone(),
        };
    };
    let one = (m.len() == 1).then(|| m.iter().next()).flatten();
    match one {
        Some((k, x)) if k == "Ref" => params[x.as_str().expect("a Ref names")].clone(),
        Some((k, x)) if k == "Fn::GetAtt" => {
            assert_eq!(x, &serde_json::json!(["LogGroup", "Arn"]), "GetAtt known");
            Value::String(format!(
                "arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{PATCHER}:*"
            ))
        }
        Some((k, x)) if k == "Fn::Sub" => match x {
            Value::String(s) => Value::String(sub(s, &HashMap::new())),
            Value::Array(a) => {
                let vars = a[1]
                    .as_object()
                    .map(|o| {
                        o.iter()
                            .map(|(k, v)| (k.clone(), eval(v, params)))
                            .collect()
                    })
                    .unwrap_or_default();
                Value::String(sub(a[0].as_str().unwrap_or_default(), &vars))
            }
            _ => panic!("Sub of {x}"),
        },
        Some((k, x)) if k == "Fn::Join" => {
            let delim = x[0].as_str().unwrap_or_default();
            let parts = eval(&x[1], params);
            let parts: Vec<&str> = parts
                .as_array()
                .map(|a| a.iter().filter_map(|p| p.as_str()).collect())
                .unwrap_or_default();
            Value::String(parts.join(delim))
        }
        Some((k, x)) if k == "Fn::Split" => {
            let delim = x[0].as_str().unwrap_or_default();
            let text = eval(&x[1], params);
            Value::Array(
                text.as_str()
                    .unwrap_or_default()
                    .split(delim)
                    .map(|s| Value::String(s.to_owned()))
                    .collect(),
            )
        }
        _ => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), eval(x, params)))
                .collect(),
        ),
    }
}

/// The patcher's role in cfn/zipedit.yaml: all its policies' statements as one policy, for
/// the artifact buckets `buckets` and the template's default staging prefix.
fn patcher_role(buckets: &[&str]) -> Policy {
    let text = std::fs::read_to_string(root().join("cfn/zipedit.yaml")).expect("zipedit.yaml");
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("YAML");
    let doc = cfn_json(&yaml);
    let mut params: HashMap<&str, Value> = HashMap::new();
    // A CommaDelimitedList: its Ref is a list.
    params.insert("ArtifactBucketNames", serde_json::json!(buckets));
    params.insert(
        "StagingPrefix",
        doc["Parameters"]["StagingPrefix"]["Default"].clone(),
    );
    params.insert("FunctionName", Value::String(PATCHER.to_owned()));
    let policies = doc["Resources"]["Role"]["Properties"]["Policies"]
        .as_array()
        .expect("the role's policies");
    let statements: Vec<Value> = policies
        .iter()
        .flat_map(|p| {
            eval(&p["PolicyDocument"]["Statement"], &params)
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    Policy::new(&serde_json::json!({ "Statement": statements }), &|s| {
        s.to_owned()
    })
}

/// Each call's needs the policy does not allow, as lines naming the call, the action and the
/// resource; calls whose operation is not known are named too.
fn refused(who: &str, calls: &[Call], policy: &Policy, file: &str) -> Vec<String> {
    let mut out = Vec::new();
    for c in calls {
        if c.operation.starts_with('?') {
            out.push(format!(
                "{who}: {c}: an operation testkit::iam does not know"
            ));
        }
        for (action, resource) in &c.needs {
            if !policy.allows(action, resource) {
                out.push(format!(
                    "{who}: {c} needs {action} on {resource}, which {file} does not grant"
                ));
            }
        }
    }
    out
}

fn ok(out: &std::process::Output, doc: &Value, step: &str) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{step}: {doc}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every command a user runs, through recording proxies; every call each process made is one
/// its policy grants: the CLI's by docs/iam-policy.json, the patcher's by its role in
/// cfn/zipedit.yaml.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_the_cli_and_the_patcher_make_is_granted_by_their_policies() {
    let moto = Moto::start();
    let cli = S3Proxy::start(&moto.endpoint()).await;
    let patcher_s3 = S3Proxy::start(&moto.endpoint()).await;
    let patcher =
        Patcher::start_named(&testkit::bin("zipedit"), &patcher_s3.endpoint, 1, PATCHER).await;
    let invokes = S3Proxy::start(&patcher.invoke_endpoint).await;
    let source = root().join("tests/apps/sam-shop");
    // The bucket App makes is not the one used: bootstrap makes the artifact bucket.
    let app = App::from_dir(
        &source,
        "iam-unused",
        &moto.endpoint(),
        &cli.endpoint,
        &invokes.endpoint,
    )
    .await;

    let binary = testkit::bin("zipedit");
    let binary = binary.to_str().expect("utf-8 path");
    let (out, doc) = app
        .run_json(&["bootstrap", "--binary", binary, "--arch", "x86_64"])
        .await;
    ok(&out, &doc, "bootstrap");
    assert_eq!(doc["bucket"], BUCKET, "{doc}");
    let out = app
        .run(&["init", "--stack", STACK, "--bucket", BUCKET])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (out, doc) = app.run_json(&["full", "--yes"]).await;
    ok(&out, &doc, "full");
    let names = app.stack_functions(STACK).await;
    let sam = cli.sam_stack(STACK).expect("expanded");
    testkit::sam::make_aliases(&app.lambda, &sam, &names).await;

    let deploy = |what: &'static str| {
        let app = &app;
        async move {
            let (out, doc) = app.run_json(&["deploy", "--no-fallback"]).await;
            ok(&out, &doc, what);
            assert_eq!(doc["outcome"], "deployed", "{what}: {doc}");
        }
    };
    // The layer first: rollback does not go back over a layer change.
    app.write(
        "layers/python/common/catalog.py",
        "PRODUCTS = {\"p1\": \"teapot\"}\n",
    );
    deploy("a layer change").await;
    app.write(
        "src/report.py",
        "def daily(event, context):\n    return {\"report\": \"v2\"}\n",
    );
    deploy("a code change").await;
    // Past the 6 MB invoke payload: staged under .quickdeploy/staging/, read by the patcher.
    let big = testkit::noise(23, 6_500_000);
    std::fs::write(app.path("src/big.bin"), big).expect("write");
    deploy("a staged change").await;
    // A small change to an artifact of more than 5 MiB: the patcher copies the kept prefix
    // server-side (UploadPartCopy) and appends.
    app.write(
        "src/report.py",
        "def daily(event, context):\n    return {\"report\": \"v3\"}\n",
    );
    deploy("an append").await;
    for args in [&["status"][..], &["history"]] {
        let (out, doc) = app.run_json(args).await;
        ok(&out, &doc, args[0]);
    }
    let (out, doc) = app.run_json(&["rollback", "--yes"]).await;
    ok(&out, &doc, "rollback");
    let (out, doc) = app
        .run_json(&["destroy", "--yes", "--delete-bucket", BUCKET])
        .await;
    ok(&out, &doc, "destroy");

    let mut cli_calls = cli.calls();
    cli_calls.extend(invokes.calls());
    let patcher_calls = patcher_s3.calls();
    let ops =
        |calls: &[Call]| -> BTreeSet<String> { calls.iter().map(|c| c.to_string()).collect() };
    // The scenario reached what it is for: the layer path, invokes, staging, the patcher.
    for op in [
        "lambda PublishLayerVersion",
        "lambda GetLayerVersion",
        "lambda UpdateFunctionConfiguration",
        "lambda Invoke",
        "cloudformation CreateChangeSet",
        "s3 DeleteObjects",
    ] {
        assert!(
            ops(&cli_calls).contains(op),
            "{op} in {:?}",
            ops(&cli_calls)
        );
    }
    // The stack guard of a deploy planned from this machine's copy of the stack.
    for op in ["s3 UploadPartCopy", "cloudformation DescribeStacks"] {
        assert!(
            ops(&patcher_calls).contains(op),
            "{op} in {:?}",
            ops(&patcher_calls)
        );
    }
    let mut missing = refused(
        "quickdeploy",
        &cli_calls,
        &user_policy(STACK, BUCKET),
        "docs/iam-policy.json",
    );
    missing.extend(refused(
        "the patcher",
        &patcher_calls,
        &patcher_role(&[BUCKET]),
        "the role in cfn/zipedit.yaml",
    ));
    assert!(
        missing.is_empty(),
        "calls the policies do not grant:\n{}\n\nquickdeploy called: {:?}\nthe patcher called: {:?}",
        missing.join("\n"),
        ops(&cli_calls),
        ops(&patcher_calls)
    );
}

/// Every operation of the AWS SDK crate for `service` (`s3`, `lambda`, ...), by the folders
/// of `src/operation` in cargo's registry: the SDK's method names (`put_object`).
fn sdk_operations(service: &str) -> BTreeSet<String> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .expect("CARGO_HOME or HOME");
    let mut ops = BTreeSet::new();
    let registries = std::fs::read_dir(home.join("registry/src")).expect("cargo's registry");
    for registry in registries.flatten() {
        for krate in std::fs::read_dir(registry.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = krate.file_name().to_string_lossy().into_owned();
            let Some(version) = name.strip_prefix(&format!("aws-sdk-{service}-")) else {
                continue;
            };
            if !version.starts_with(|c: char| c.is_ascii_digit()) {
                continue;
            }
            for op in std::fs::read_dir(krate.path().join("src/operation"))
                .into_iter()
                .flatten()
                .flatten()
            {
                if op.path().is_dir() {
                    ops.insert(op.file_name().to_string_lossy().into_owned());
                }
            }
        }
    }
    assert!(
        !ops.is_empty(),
        "no aws-sdk-{service} sources under {home:?}"
    );
    ops
}

/// Every `.name()` method call (no arguments) in the Rust files under `dir`, with the file.
fn method_calls(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("source folder").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(method_calls(&path));
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("source");
        let bytes = text.as_bytes();
        for (i, _) in text.match_indices('.') {
            let name: String = text[i + 1..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit())
                .collect();
            let after = text[i + 1 + name.len()..].trim_start();
            let first = bytes.get(i + 1).copied().unwrap_or(b' ');
            if !name.is_empty() && first.is_ascii_lowercase() && after.starts_with("()") {
                out.push((name, path.display().to_string()));
            }
        }
    }
    out
}

/// The static check: each SDK operation the source under `dirs` calls, of `services`, maps to
/// IAM actions (testkit::iam::actions_of) that `policy` grants on some resource; the lines
/// naming those that do not, and the operations found.
fn uncovered(
    dirs: &[PathBuf],
    services: &[&str],
    policy: &Policy,
    file: &str,
) -> (Vec<String>, BTreeSet<String>) {
    let known: Vec<(&str, BTreeSet<String>)> =
        services.iter().map(|s| (*s, sdk_operations(s))).collect();
    let mut missing = Vec::new();
    let mut found = BTreeSet::new();
    for (method, path) in dirs.iter().flat_map(|d| method_calls(d)) {
        for (service, ops) in &known {
            if !ops.contains(&method) {
                continue;
            }
            found.insert(format!("{service} {method}"));
            match testkit::iam::actions_of(service, &method) {
                None => missing.push(format!(
                    "{path}: {service} {method}: not mapped to IAM actions in testkit::iam::actions_of"
                )),
                Some(actions) => {
                    for a in actions.iter().filter(|a| !policy.names(a)) {
                        missing.push(format!("{path}: {service} {method} needs {a}, not in {file}"));
                    }
                }
            }
        }
    }
    missing.sort();
    missing.dedup();
    (missing, found)
}

/// Every SDK operation in quickdeploy-cli/src is granted by docs/iam-policy.json, and every
/// S3 operation in zipedit-lambda/src by the patcher's role: calls no e2e test makes too.
#[test]
fn every_sdk_operation_in_the_source_is_in_its_policy() {
    // The CLI's own calls, and with `--local` the patch engine's S3 side (zipedit::s3) with
    // the user's credentials.
    let (mut missing, cli) = uncovered(
        &[
            root().join("quickdeploy-cli/src"),
            root().join("zipedit-lambda/src"),
        ],
        &["s3", "lambda", "cloudformation", "sts"],
        &user_policy(STACK, BUCKET),
        "docs/iam-policy.json",
    );
    for op in [
        "lambda list_functions",
        "lambda publish_layer_version",
        "s3 upload_part_copy",
    ] {
        assert!(cli.contains(op), "the scan sees {op}: {cli:?}");
    }
    let (patcher_missing, patcher) = uncovered(
        &[root().join("zipedit-lambda/src")],
        &["s3", "cloudformation"],
        &patcher_role(&[BUCKET]),
        "the role in cfn/zipedit.yaml",
    );
    assert!(patcher.contains("s3 upload_part_copy"), "{patcher:?}");
    assert!(
        patcher.contains("cloudformation describe_stacks"),
        "{patcher:?}"
    );
    missing.extend(patcher_missing);
    assert!(
        missing.is_empty(),
        "{}\n\nfound: {cli:?}\n{patcher:?}",
        missing.join("\n")
    );
}
