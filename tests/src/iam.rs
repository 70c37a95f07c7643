//! IAM as the rig checks it (issue 23, "the policy as a checked artifact"): which API operation
//! a request is ([`operation`], what the proxy records), which IAM actions on which resources
//! that operation needs ([`needs`]), and whether a policy allows them ([`Policy`]).
//!
//! From operation to action. Most operations are the action of the same name
//! (`lambda:UpdateFunctionCode`); these are not:
//! - S3 is authorised by action per resource, not by operation: HeadObject is `s3:GetObject`;
//!   with a `versionId`, GetObject and HeadObject are `s3:GetObjectVersion` and DeleteObject
//!   is `s3:DeleteObjectVersion`. CreateMultipartUpload, UploadPart and
//!   CompleteMultipartUpload are `s3:PutObject` on the destination; UploadPartCopy and
//!   CopyObject are also `s3:GetObject` (`s3:GetObjectVersion` with a versionId) on the
//!   source. ListParts is `s3:ListMultipartUploadParts`, ListMultipartUploads is
//!   `s3:ListBucketMultipartUploads`, ListObjectVersions is `s3:ListBucketVersions`,
//!   ListObjects(V2) and HeadBucket are `s3:ListBucket`, DeleteObjects is `s3:DeleteObject`
//!   (or `s3:DeleteObjectVersion`) per key it names. PutBucketEncryption is
//!   `s3:PutEncryptionConfiguration`, PutPublicAccessBlock is
//!   `s3:PutBucketPublicAccessBlock`, Put/GetBucketLifecycleConfiguration are
//!   `s3:Put/GetLifecycleConfiguration`.
//! - Lambda: Invoke is `lambda:InvokeFunction`. A call that names a qualifier (a version or
//!   an alias) is on the qualified ARN `function:NAME:QUALIFIER`. UpdateFunctionCode and
//!   PublishLayerVersion from S3 read the object with the caller's credentials
//!   (`s3:GetObject`/`s3:GetObjectVersion`); UpdateFunctionConfiguration with `Layers` needs
//!   `lambda:GetLayerVersion` on each layer version it names. ListFunctions, ListLayers and
//!   ListLayerVersions have no resource (`*`).
//! - CloudFormation: each action is on the stack (`stack/NAME/ID`); a change set with the
//!   SAM transform is also `cloudformation:CreateChangeSet` on the transform
//!   (`arn:aws:cloudformation:REGION:aws:transform/Serverless-2016-10-31`).
//! - `sts:GetCallerIdentity` needs no permission (AWS allows it always).

use std::collections::BTreeSet;

/// The rig's account and region, as moto has them.
pub const ACCOUNT: &str = "123456789012";
/// The rig's region.
pub const REGION: &str = crate::rig::REGION;

/// One API call, as the proxy saw it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Call {
    /// `s3`, `lambda`, `cloudformation`, `sts`, ... (the signature's service).
    pub service: String,
    /// The API operation (`UploadPartCopy`), or `?METHOD path` when the proxy cannot tell.
    pub operation: String,
    /// The IAM actions and resources it needs ([`needs`]).
    pub needs: Vec<(String, String)>,
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.service, self.operation)
    }
}

/// The request as an API call: its operation and what it needs.
pub fn operation(
    method: &str,
    path: &str,
    query: &str,
    headers: &axum::http::HeaderMap,
    body: &[u8],
) -> Call {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    // The credential scope names the service: `Credential=AKID/DATE/REGION/SERVICE/aws4_request`.
    let scope = header("authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(3))
        .map(str::to_owned);
    let text = std::str::from_utf8(body).unwrap_or_default();
    let service = if path.starts_with("/2015-03-31/functions") || path.starts_with("/2018-10-31/") {
        "lambda".to_owned()
    } else {
        scope.unwrap_or_else(|| "s3".to_owned())
    };
    let unknown = || format!("?{method} {path}?{query}");
    let (operation, needs) = match service.as_str() {
        "s3" => s3(method, path, query, header, text),
        "lambda" => lambda(method, path, query, text),
        _ => {
            let form = crate::sam::form_decode(text);
            let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            let action = get("Action").or_else(|| {
                header("x-amz-target").and_then(|t| t.rsplit('.').next().map(str::to_owned))
            });
            match action {
                Some(action) => {
                    let needs = query_needs(&service, &action, &get);
                    (action, needs)
                }
                None => (unknown(), Vec::new()),
            }
        }
    };
    Call {
        service,
        operation,
        needs,
    }
}

fn has(query: &str, name: &str) -> bool {
    query
        .split('&')
        .any(|q| q == name || q.starts_with(&format!("{name}=")))
}

fn param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .find_map(|q| q.strip_prefix(&format!("{name}=")))
        .map(|v| v.replace("%3A", ":").replace("%3a", ":"))
}

fn s3_arn(bucket: &str, key: Option<&str>) -> String {
    match key {
        Some(k) => format!("arn:aws:s3:::{bucket}/{k}"),
        None => format!("arn:aws:s3:::{bucket}"),
    }
}

fn s3_read(versioned: bool) -> &'static str {
    if versioned {
        "s3:GetObjectVersion"
    } else {
        "s3:GetObject"
    }
}

type Needs = Vec<(String, String)>;

fn s3<'a>(
    method: &str,
    path: &str,
    query: &str,
    header: impl Fn(&str) -> Option<&'a str>,
    body: &str,
) -> (String, Needs) {
    let rest = path.trim_start_matches('/');
    let (bucket, key) = match rest.split_once('/') {
        Some((b, k)) if !k.is_empty() => (b, Some(k)),
        Some((b, _)) => (b, None),
        None => (rest, None),
    };
    let one = |op: &str, action: &str, resource: String| {
        (op.to_owned(), vec![(action.to_owned(), resource)])
    };
    let bucket_arn = s3_arn(bucket, None);
    let Some(key) = key else {
        return match method {
            "PUT" if has(query, "versioning") => {
                one("PutBucketVersioning", "s3:PutBucketVersioning", bucket_arn)
            }
            "PUT" if has(query, "encryption") => one(
                "PutBucketEncryption",
                "s3:PutEncryptionConfiguration",
                bucket_arn,
            ),
            "PUT" if has(query, "publicAccessBlock") => one(
                "PutPublicAccessBlock",
                "s3:PutBucketPublicAccessBlock",
                bucket_arn,
            ),
            "PUT" if has(query, "lifecycle") => one(
                "PutBucketLifecycleConfiguration",
                "s3:PutLifecycleConfiguration",
                bucket_arn,
            ),
            "PUT" if query.is_empty() || has(query, "x-id") => {
                one("CreateBucket", "s3:CreateBucket", bucket_arn)
            }
            "GET" if has(query, "versions") => {
                one("ListObjectVersions", "s3:ListBucketVersions", bucket_arn)
            }
            "GET" if has(query, "uploads") => one(
                "ListMultipartUploads",
                "s3:ListBucketMultipartUploads",
                bucket_arn,
            ),
            "GET" if has(query, "lifecycle") => one(
                "GetBucketLifecycleConfiguration",
                "s3:GetLifecycleConfiguration",
                bucket_arn,
            ),
            "GET" if has(query, "location") => {
                one("GetBucketLocation", "s3:GetBucketLocation", bucket_arn)
            }
            "GET" if has(query, "versioning") => {
                one("GetBucketVersioning", "s3:GetBucketVersioning", bucket_arn)
            }
            "GET" if has(query, "list-type") => one("ListObjectsV2", "s3:ListBucket", bucket_arn),
            "GET" if !query.contains('=') || has(query, "prefix") => {
                one("ListObjects", "s3:ListBucket", bucket_arn)
            }
            "HEAD" => one("HeadBucket", "s3:ListBucket", bucket_arn),
            "DELETE" if query.is_empty() || has(query, "x-id") => {
                one("DeleteBucket", "s3:DeleteBucket", bucket_arn)
            }
            "POST" if has(query, "delete") => {
                // <Object><Key>k</Key><VersionId>v</VersionId></Object>, per object.
                let needs = body
                    .split("<Object>")
                    .skip(1)
                    .filter_map(|o| {
                        let key = o.split("<Key>").nth(1)?.split("</Key>").next()?;
                        let action = if o.contains("<VersionId>") {
                            "s3:DeleteObjectVersion"
                        } else {
                            "s3:DeleteObject"
                        };
                        Some((action.to_owned(), s3_arn(bucket, Some(key))))
                    })
                    .collect();
                ("DeleteObjects".to_owned(), needs)
            }
            _ => (format!("?{method} {path}?{query}"), Vec::new()),
        };
    };
    let object = s3_arn(bucket, Some(key));
    let versioned = has(query, "versionId");
    let copy_source = header("x-amz-copy-source").map(|s| {
        let s = s.trim_start_matches('/');
        let (s, version) = match s.split_once("?versionId=") {
            Some((s, _)) => (s, true),
            None => (s, false),
        };
        (s3_read(version).to_owned(), format!("arn:aws:s3:::{s}"))
    });
    let put = ("s3:PutObject".to_owned(), object.clone());
    match method {
        "PUT" if has(query, "partNumber") => match copy_source {
            Some(source) => ("UploadPartCopy".to_owned(), vec![put, source]),
            None => ("UploadPart".to_owned(), vec![put]),
        },
        "PUT" if has(query, "tagging") => one("PutObjectTagging", "s3:PutObjectTagging", object),
        "PUT" => match copy_source {
            Some(source) => ("CopyObject".to_owned(), vec![put, source]),
            None => ("PutObject".to_owned(), vec![put]),
        },
        "POST" if has(query, "uploads") => ("CreateMultipartUpload".to_owned(), vec![put]),
        "POST" if has(query, "uploadId") => ("CompleteMultipartUpload".to_owned(), vec![put]),
        "GET" if has(query, "uploadId") => one("ListParts", "s3:ListMultipartUploadParts", object),
        "GET" if has(query, "attributes") => {
            let action = if versioned {
                "s3:GetObjectVersionAttributes"
            } else {
                "s3:GetObjectAttributes"
            };
            (
                "GetObjectAttributes".to_owned(),
                vec![
                    (action.to_owned(), object.clone()),
                    (s3_read(versioned).to_owned(), object),
                ],
            )
        }
        "GET" => one("GetObject", s3_read(versioned), object),
        "HEAD" => one("HeadObject", s3_read(versioned), object),
        "DELETE" if has(query, "uploadId") => {
            one("AbortMultipartUpload", "s3:AbortMultipartUpload", object)
        }
        "DELETE" => {
            let action = if versioned {
                "s3:DeleteObjectVersion"
            } else {
                "s3:DeleteObject"
            };
            one("DeleteObject", action, object)
        }
        _ => (format!("?{method} {path}?{query}"), Vec::new()),
    }
}

/// `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`, from a name, a partial or a
/// full ARN as the path carries it.
fn function_arn(name: &str, qualifier: Option<&str>) -> String {
    let name = name.replace("%3A", ":").replace("%3a", ":");
    let (name, own) = match name.split_once(":function:") {
        Some((_, rest)) => rest
            .split_once(':')
            .map_or((rest.to_owned(), None), |(n, q)| {
                (n.to_owned(), Some(q.to_owned()))
            }),
        None => (name.clone(), None),
    };
    match qualifier.map(str::to_owned).or(own) {
        Some(q) => format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}:{q}"),
        None => format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"),
    }
}

fn layer_arn(name: &str, version: Option<&str>) -> String {
    let name = name.replace("%3A", ":").replace("%3a", ":");
    let name = name.rsplit(":layer:").next().unwrap_or(&name);
    let name = name.split(':').next().unwrap_or(name);
    match version {
        Some(v) => format!("arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{name}:{v}"),
        None => format!("arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{name}"),
    }
}

fn lambda(method: &str, path: &str, query: &str, body: &str) -> (String, Needs) {
    // Only small bodies name S3 code or layers; a ZipFile or an invoke's payload (up to 6 MB
    // and more) is not parsed, so the recording costs the benchmarks nothing.
    let doc: serde_json::Value = if body.len() <= 64 * 1024 {
        serde_json::from_str(body).unwrap_or_default()
    } else {
        serde_json::Value::Null
    };
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let qualifier = param(query, "Qualifier");
    let q = qualifier.as_deref();
    let needs = |action: &str, resource: String| vec![(format!("lambda:{action}"), resource)];
    // Code read from S3 with the caller's credentials.
    let code_read = |code: &serde_json::Value| -> Needs {
        match (code["S3Bucket"].as_str(), code["S3Key"].as_str()) {
            (Some(b), Some(k)) => vec![(
                s3_read(code["S3ObjectVersion"].is_string()).to_owned(),
                s3_arn(b, Some(k)),
            )],
            _ => Vec::new(),
        }
    };
    let (op, needs): (&str, Needs) = match (method, parts.as_slice()) {
        ("GET", ["2015-03-31", "functions"]) => {
            ("ListFunctions", needs("ListFunctions", "*".into()))
        }
        ("POST", ["2015-03-31", "functions"]) => (
            "CreateFunction",
            needs(
                "CreateFunction",
                function_arn(doc["FunctionName"].as_str().unwrap_or("?"), None),
            ),
        ),
        ("GET", ["2015-03-31", "functions", f]) => {
            ("GetFunction", needs("GetFunction", function_arn(f, q)))
        }
        ("DELETE", ["2015-03-31", "functions", f]) => (
            "DeleteFunction",
            needs("DeleteFunction", function_arn(f, q)),
        ),
        ("GET", ["2015-03-31", "functions", f, "configuration"]) => (
            "GetFunctionConfiguration",
            needs("GetFunctionConfiguration", function_arn(f, q)),
        ),
        ("PUT", ["2015-03-31", "functions", f, "configuration"]) => {
            let mut n = needs("UpdateFunctionConfiguration", function_arn(f, None));
            for l in doc["Layers"].as_array().into_iter().flatten() {
                if let Some(arn) = l.as_str() {
                    let version = arn.rsplit(':').next();
                    n.push(("lambda:GetLayerVersion".into(), layer_arn(arn, version)));
                }
            }
            ("UpdateFunctionConfiguration", n)
        }
        ("PUT", ["2015-03-31", "functions", f, "code"]) => {
            let mut n = needs("UpdateFunctionCode", function_arn(f, None));
            n.extend(code_read(&doc));
            ("UpdateFunctionCode", n)
        }
        ("POST", ["2015-03-31", "functions", f, "versions"]) => (
            "PublishVersion",
            needs("PublishVersion", function_arn(f, None)),
        ),
        ("GET", ["2015-03-31", "functions", f, "versions"]) => (
            "ListVersionsByFunction",
            needs("ListVersionsByFunction", function_arn(f, None)),
        ),
        ("POST", ["2015-03-31", "functions", f, "invocations"]) => {
            ("Invoke", needs("InvokeFunction", function_arn(f, q)))
        }
        ("GET", ["2015-03-31", "functions", f, "aliases"]) => {
            ("ListAliases", needs("ListAliases", function_arn(f, None)))
        }
        ("POST", ["2015-03-31", "functions", f, "aliases"]) => {
            ("CreateAlias", needs("CreateAlias", function_arn(f, None)))
        }
        ("GET", ["2015-03-31", "functions", f, "aliases", a]) => {
            ("GetAlias", needs("GetAlias", function_arn(f, Some(a))))
        }
        ("PUT", ["2015-03-31", "functions", f, "aliases", a]) => (
            "UpdateAlias",
            needs("UpdateAlias", function_arn(f, Some(a))),
        ),
        ("GET", ["2018-10-31", "layers"]) => ("ListLayers", needs("ListLayers", "*".into())),
        ("GET", ["2018-10-31", "layers", _, "versions"]) => {
            ("ListLayerVersions", needs("ListLayerVersions", "*".into()))
        }
        ("POST", ["2018-10-31", "layers", l, "versions"]) => {
            let mut n = needs("PublishLayerVersion", layer_arn(l, None));
            n.extend(code_read(&doc["Content"]));
            ("PublishLayerVersion", n)
        }
        ("GET", ["2018-10-31", "layers", l, "versions", v]) => (
            "GetLayerVersion",
            needs("GetLayerVersion", layer_arn(l, Some(v))),
        ),
        ("DELETE", ["2018-10-31", "layers", l, "versions", v]) => (
            "DeleteLayerVersion",
            needs("DeleteLayerVersion", layer_arn(l, Some(v))),
        ),
        _ => return (format!("?{method} {path}?{query}"), Vec::new()),
    };
    (op.to_owned(), needs)
}

/// What a query- or JSON-protocol call needs (CloudFormation, STS, and the like).
fn query_needs(service: &str, action: &str, get: &dyn Fn(&str) -> Option<String>) -> Needs {
    match (service, action) {
        ("sts", "GetCallerIdentity") => Vec::new(),
        ("cloudformation", _) => {
            let resource = match get("StackName") {
                // A stack id: arn:aws:cloudformation:REGION:ACCOUNT:stack/NAME/ID.
                Some(s) if s.starts_with("arn:") => s,
                Some(s) => format!("arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{s}/*"),
                None => "*".to_owned(),
            };
            let mut needs = vec![(format!("cloudformation:{action}"), resource)];
            let sam = get("TemplateBody").is_some_and(|t| t.contains("AWS::Serverless-2016-10-31"));
            if action == "CreateChangeSet" && sam {
                needs.push((
                    "cloudformation:CreateChangeSet".into(),
                    format!("arn:aws:cloudformation:{REGION}:aws:transform/Serverless-2016-10-31"),
                ));
            }
            needs
        }
        _ => vec![(format!("{service}:{action}"), "*".to_owned())],
    }
}

/// The IAM actions an SDK operation (its method name, `put_object`) of `service` needs, with
/// no resource: what [`operation`] would give the request it sends. For the static check of
/// calls no test makes (`ListFunctions` from 20 functions on). `None` when it is not known
/// here.
pub fn actions_of(service: &str, method: &str) -> Option<BTreeSet<String>> {
    let camel: String = method
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    let s3 = |a: &[&str]| Some(a.iter().map(|s| format!("s3:{s}")).collect());
    match service {
        "s3" => match camel.as_str() {
            "HeadObject" | "GetObject" => s3(&["GetObject", "GetObjectVersion"]),
            "PutObject" | "CreateMultipartUpload" | "UploadPart" | "CompleteMultipartUpload" => {
                s3(&["PutObject"])
            }
            "UploadPartCopy" | "CopyObject" => s3(&["PutObject", "GetObject", "GetObjectVersion"]),
            "AbortMultipartUpload" => s3(&["AbortMultipartUpload"]),
            "ListParts" => s3(&["ListMultipartUploadParts"]),
            "ListMultipartUploads" => s3(&["ListBucketMultipartUploads"]),
            "ListObjectVersions" => s3(&["ListBucketVersions"]),
            "ListObjects" | "ListObjectsV2" | "HeadBucket" => s3(&["ListBucket"]),
            "DeleteObject" | "DeleteObjects" => s3(&["DeleteObject", "DeleteObjectVersion"]),
            "DeleteBucket" => s3(&["DeleteBucket"]),
            "CreateBucket" => s3(&["CreateBucket"]),
            "PutBucketVersioning" => s3(&["PutBucketVersioning"]),
            "PutBucketEncryption" => s3(&["PutEncryptionConfiguration"]),
            "PutPublicAccessBlock" => s3(&["PutBucketPublicAccessBlock"]),
            "PutBucketLifecycleConfiguration" => s3(&["PutLifecycleConfiguration"]),
            "GetBucketLifecycleConfiguration" => s3(&["GetLifecycleConfiguration"]),
            "GetBucketLocation" => s3(&["GetBucketLocation"]),
            _ => None,
        },
        "lambda" => {
            let mut a: BTreeSet<String> = BTreeSet::new();
            a.insert(match camel.as_str() {
                "Invoke" => "lambda:InvokeFunction".to_owned(),
                other => format!("lambda:{other}"),
            });
            match camel.as_str() {
                "UpdateFunctionConfiguration" => {
                    a.insert("lambda:GetLayerVersion".into());
                }
                "UpdateFunctionCode" | "PublishLayerVersion" => {
                    a.insert("s3:GetObject".into());
                    a.insert("s3:GetObjectVersion".into());
                }
                _ => {}
            }
            Some(a)
        }
        "sts" if camel == "GetCallerIdentity" => Some(BTreeSet::new()),
        "cloudformation" => Some(BTreeSet::from([format!("cloudformation:{camel}")])),
        _ => None,
    }
}

/// An IAM policy document: its statements' effect, actions and resources, with placeholders
/// replaced. Conditions are taken as met (the rig cannot tell the service a role is passed
/// to); `NotAction` and `NotResource` are not read (the policies here have none).
pub struct Policy {
    statements: Vec<(bool, Vec<String>, Vec<String>)>,
}

impl Policy {
    /// From an IAM policy document; `replace` is applied to every action and resource.
    pub fn new(doc: &serde_json::Value, replace: &dyn Fn(&str) -> String) -> Self {
        let list = |v: &serde_json::Value| -> Vec<String> {
            match v {
                serde_json::Value::String(s) => vec![replace(s)],
                serde_json::Value::Array(a) => {
                    a.iter().filter_map(|s| s.as_str()).map(replace).collect()
                }
                _ => Vec::new(),
            }
        };
        let statements = match &doc["Statement"] {
            serde_json::Value::Array(a) => a.clone(),
            s => vec![s.clone()],
        };
        Self {
            statements: statements
                .iter()
                .map(|s| {
                    (
                        s["Effect"] == "Allow",
                        list(&s["Action"]),
                        list(&s["Resource"]),
                    )
                })
                .collect(),
        }
    }

    /// Whether `action` on `resource` is allowed: some Allow statement matches and no Deny
    /// does. `*` and `?` are wildcards in actions (case-insensitively) and resources.
    pub fn allows(&self, action: &str, resource: &str) -> bool {
        let matches = |actions: &[String], resources: &[String]| {
            actions
                .iter()
                .any(|a| glob(&a.to_ascii_lowercase(), &action.to_ascii_lowercase()))
                && resources.iter().any(|r| glob(r, resource))
        };
        let mut allowed = false;
        for (allow, actions, resources) in &self.statements {
            if matches(actions, resources) {
                if !allow {
                    return false;
                }
                allowed = true;
            }
        }
        allowed
    }

    /// Every action some Allow statement names, whatever its resource.
    pub fn names(&self, action: &str) -> bool {
        self.statements.iter().any(|(allow, actions, _)| {
            *allow
                && actions
                    .iter()
                    .any(|a| glob(&a.to_ascii_lowercase(), &action.to_ascii_lowercase()))
        })
    }
}

/// IAM's wildcard match: `*` any run of characters, `?` any one.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_as_iam_matches_them() {
        assert!(glob("arn:aws:s3:::b/*", "arn:aws:s3:::b/k/x.zip"));
        assert!(!glob("arn:aws:s3:::b/*", "arn:aws:s3:::b"));
        assert!(glob("lambda:Get*", "lambda:GetFunction"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "ac"));
    }

    #[test]
    fn a_deny_wins_and_nothing_is_allowed_unless_said() {
        let doc = serde_json::json!({"Statement": [
            {"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": "arn:aws:s3:::BUCKET/*"},
            {"Effect": "Deny", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::*/staging/*"}
        ]});
        let p = Policy::new(&doc, &|s| s.replace("BUCKET", "b"));
        assert!(p.allows("s3:PutObject", "arn:aws:s3:::b/a.zip"));
        assert!(!p.allows("s3:PutObject", "arn:aws:s3:::b/staging/x"));
        assert!(!p.allows("s3:GetObject", "arn:aws:s3:::b/a.zip"));
        assert!(!p.allows("s3:PutObject", "arn:aws:s3:::other/a.zip"));
    }

    #[test]
    fn a_copy_needs_the_read_of_its_source_and_the_write_of_its_destination() {
        let mut h = axum::http::HeaderMap::new();
        h.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=t/20260101/us-east-1/s3/aws4_request"
                .parse()
                .unwrap(),
        );
        h.insert(
            "x-amz-copy-source",
            "/b/old.zip?versionId=3".parse().unwrap(),
        );
        let c = operation("PUT", "/b/new.zip", "partNumber=1&uploadId=u", &h, b"");
        assert_eq!(c.operation, "UploadPartCopy");
        assert_eq!(
            c.needs,
            [
                ("s3:PutObject".into(), "arn:aws:s3:::b/new.zip".into()),
                (
                    "s3:GetObjectVersion".into(),
                    "arn:aws:s3:::b/old.zip".into()
                )
            ]
        );
        let c = operation("GET", "/b", "versions&prefix=x", &h, b"");
        assert_eq!(
            (c.operation.as_str(), c.needs[0].0.as_str()),
            ("ListObjectVersions", "s3:ListBucketVersions")
        );
    }
}
