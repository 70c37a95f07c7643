//! CloudFormation and SAM templates: the functions they declare, where each one's code is, and
//! whether two templates differ in anything but code locations.
//!
//! YAML short-form tags (`!Ref`, `!GetAtt a.b`, `!Sub`, ...) become their long JSON forms
//! (`{"Ref": ...}`, `{"Fn::GetAtt": ["a", "b"]}`, `{"Fn::Sub": ...}`), so a YAML template and
//! the JSON CloudFormation hands back compare as equal when they say the same thing.
//!
//! (Over 500 lines with its tests: about 440 lines of reading templates, and the templates it
//! reads.)

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use serde_json::{Map, Value, json};

pub mod compare;
pub mod globals;
pub mod types;

pub use types::{BUNDLE_METHOD, LAMBDA_FUNCTION, LAMBDA_LAYER, SAM_FUNCTION, SAM_LAYER};

/// A template that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

/// A parsed template, intrinsic functions in their long form.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// The whole document.
    pub doc: Value,
}

/// Where a function's code comes from, as the template says it.
#[derive(Debug, Clone, PartialEq)]
pub enum CodeLocation {
    /// A local folder (or zip), relative to the template: `Code: ./src`, `CodeUri: src/`.
    Local(PathBuf),
    /// An object in S3; each part may still be an intrinsic (`{"Ref": "Param"}`).
    S3 {
        /// The bucket.
        bucket: Value,
        /// The key.
        key: Value,
        /// The object version, if pinned.
        version: Option<Value>,
    },
    /// Code written in the template itself (`ZipFile`, `InlineCode`): not patchable.
    Inline,
    /// A container image: not a zip.
    Image,
    /// Missing or of a shape quickdeploy does not read.
    Unknown,
}

/// A function the template declares.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionDef {
    /// Its logical id.
    pub logical_id: String,
    /// `AWS::Lambda::Function` or `AWS::Serverless::Function`.
    pub resource_type: String,
    /// Where its code is.
    pub code: CodeLocation,
    /// Aliases to move after an update: `AWS::Lambda::Alias` resources naming it, or SAM's
    /// `AutoPublishAlias` (its own, or from `Globals`).
    pub aliases: Vec<String>,
    /// `Layers`, as written (ARNs or intrinsics); a SAM function's with its Globals' first.
    pub layers: Vec<Value>,
    /// `Architectures`, where literal (a SAM function's with its Globals').
    pub architectures: Vec<String>,
    /// CodeDeploy traffic shifting: SAM's `DeploymentPreference` (unless `Enabled: false`),
    /// or an `AWS::Lambda::Alias` of it with a `CodeDeployLambdaAliasUpdate` update policy.
    pub deployment_preference: Option<Value>,
    /// `Metadata.BuildMethod` (how `sam build` builds it: `esbuild`, `makefile`, ...), or
    /// `cdk-esbuild` for a bundle the CDK made (its reader's `quickdeploy:bundle`).
    pub build_method: Option<String>,
    /// Ignore patterns its reader found for its package (a CDK asset's excludes, as
    /// `Metadata["quickdeploy:ignore"]`).
    pub ignore: Vec<String>,
    /// Why its reader found its code not quick-deployable (`Metadata["quickdeploy:not-quick"]`).
    pub not_quick: Option<String>,
}

/// A function's settings as its template states them, where it states them literally.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// `MemorySize`, MB.
    pub memory_size: Option<i32>,
    /// `Timeout`, seconds.
    pub timeout: Option<i32>,
    /// `Handler`.
    pub handler: Option<String>,
    /// `Runtime`.
    pub runtime: Option<String>,
}

impl Template {
    /// Parses YAML (with short-form tags) or JSON.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(text)
            .map_err(|e| TemplateError(format!("not valid YAML or JSON: {e}")))?;
        let doc = to_json(yaml)?;
        if !doc.get("Resources").is_some_and(Value::is_object) {
            return Err(TemplateError(
                "it has no Resources section: is this a CloudFormation template?".into(),
            ));
        }
        Ok(Self { doc })
    }

    fn resources(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.doc
            .get("Resources")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
    }

    /// The functions, sorted by logical id; a SAM function's properties with its template's
    /// `Globals` merged in as SAM merges them ([`globals`]).
    pub fn functions(&self) -> Vec<FunctionDef> {
        let mut aliases: HashMap<&str, Vec<String>> = HashMap::new();
        let mut codedeploy: HashMap<&str, Value> = HashMap::new();
        for (_, r) in self.resources() {
            if r["Type"] == "AWS::Lambda::Alias" {
                let props = &r["Properties"];
                if let (Some(Value::String(target)), Some(name)) =
                    (props["FunctionName"].get("Ref"), props["Name"].as_str())
                {
                    aliases.entry(target).or_default().push(name.to_owned());
                    if let Some(p) = r.pointer("/UpdatePolicy/CodeDeployLambdaAliasUpdate") {
                        codedeploy.insert(target, p.clone());
                    }
                }
            }
        }
        let mut out: Vec<FunctionDef> = self
            .resources()
            .filter_map(|(id, r)| {
                let kind = r["Type"].as_str()?;
                let props = globals::function_properties(&self.doc, r);
                let code = match kind {
                    LAMBDA_FUNCTION => lambda_code(&props),
                    SAM_FUNCTION => sam_code(&props),
                    _ => return None,
                };
                let mut names = aliases.get(id.as_str()).cloned().unwrap_or_default();
                if let Some(a) = props["AutoPublishAlias"].as_str() {
                    names.push(a.to_owned());
                }
                names.sort();
                names.dedup();
                let deployment_preference = match kind {
                    SAM_FUNCTION => props
                        .get("DeploymentPreference")
                        .filter(|d| d.is_object() && d["Enabled"] != Value::Bool(false))
                        .cloned(),
                    _ => codedeploy.get(id.as_str()).cloned(),
                };
                Some(FunctionDef {
                    logical_id: id.clone(),
                    resource_type: kind.to_owned(),
                    code,
                    aliases: names,
                    layers: props["Layers"].as_array().cloned().unwrap_or_default(),
                    architectures: props["Architectures"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|a| a.as_str().map(str::to_owned))
                        .collect(),
                    deployment_preference,
                    build_method: match r["Metadata"].get("quickdeploy:bundle") {
                        Some(_) => Some(BUNDLE_METHOD.to_owned()),
                        None => r
                            .pointer("/Metadata/BuildMethod")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                    },
                    ignore: r["Metadata"]["quickdeploy:ignore"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|p| p.as_str().map(str::to_owned))
                        .collect(),
                    not_quick: r["Metadata"]["quickdeploy:not-quick"]
                        .as_str()
                        .map(str::to_owned),
                })
            })
            .collect();
        out.sort_by(|a, b| a.logical_id.cmp(&b.logical_id));
        out
    }

    /// The layers the template declares (`AWS::Serverless::LayerVersion`,
    /// `AWS::Lambda::LayerVersion`): logical id and, when local, the content folder.
    pub fn layers(&self) -> Vec<(String, Option<PathBuf>)> {
        let mut out: Vec<(String, Option<PathBuf>)> = self
            .resources()
            .filter_map(|(id, r)| {
                let local = match r["Type"].as_str()? {
                    SAM_LAYER => r.pointer("/Properties/ContentUri"),
                    LAMBDA_LAYER => r.pointer("/Properties/Content"),
                    _ => return None,
                }
                .and_then(Value::as_str)
                .filter(|p| !p.starts_with("s3://"))
                .map(PathBuf::from);
                Some((id.clone(), local))
            })
            .collect();
        out.sort();
        out
    }

    /// Where layer `id`'s content is, read as a function's code is (`Content` as
    /// `Code`, `ContentUri` as `CodeUri`): in a deployed template, the S3 object.
    pub fn layer_content(&self, id: &str) -> CodeLocation {
        let r = &self.doc["Resources"][id];
        match r["Type"].as_str() {
            Some(LAMBDA_LAYER) => lambda_code(&json!({"Code": r["Properties"]["Content"]})),
            Some(SAM_LAYER) => sam_code(&json!({"CodeUri": r["Properties"]["ContentUri"]})),
            _ => CodeLocation::Unknown,
        }
    }

    /// The layers whose content is a local folder (or zip), by logical id, the path as
    /// written (relative to the template): what `full` packages and uploads.
    pub fn local_layers(&self) -> BTreeMap<String, PathBuf> {
        self.layers()
            .into_iter()
            .filter_map(|(id, local)| Some((id, local?)))
            .collect()
    }

    /// The settings the template gives function `id` as literal values (a `Ref` or another
    /// intrinsic is not known before deploy and is left out); a SAM function's missing ones
    /// come from `Globals.Function`, as SAM merges them.
    pub fn function_settings(&self, id: &str) -> Settings {
        let Some(r) = self.doc.pointer(&format!("/Resources/{id}")) else {
            return Settings::default();
        };
        let props = globals::function_properties(&self.doc, r);
        let get = |name: &str| props.get(name);
        let int = |name: &str| {
            get(name)
                .and_then(Value::as_i64)
                .and_then(|n| i32::try_from(n).ok())
        };
        let text = |name: &str| get(name).and_then(Value::as_str).map(str::to_owned);
        Settings {
            memory_size: int("MemorySize"),
            timeout: int("Timeout"),
            handler: text("Handler"),
            runtime: text("Runtime"),
        }
    }

    /// True for a SAM template (it needs CAPABILITY_AUTO_EXPAND).
    pub fn is_sam(&self) -> bool {
        match &self.doc["Transform"] {
            Value::String(s) => s.starts_with("AWS::Serverless"),
            Value::Array(a) => a
                .iter()
                .any(|t| t.as_str().is_some_and(|s| s.starts_with("AWS::Serverless"))),
            _ => false,
        }
    }
}

/// An S3 object a function's code can point at.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct S3Object {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Version, when pinned.
    pub version: Option<String>,
}

impl std::fmt::Display for S3Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

impl CodeLocation {
    /// The S3 object, with `Ref`s and `Fn::Sub`s resolved from the stack's parameters.
    pub fn resolve_s3(&self, params: &HashMap<String, String>) -> Result<S3Object, String> {
        match self {
            Self::S3 {
                bucket,
                key,
                version,
            } => Ok(S3Object {
                bucket: resolve_string(bucket, params)?,
                key: resolve_string(key, params)?,
                version: version
                    .as_ref()
                    .map(|v| resolve_string(v, params))
                    .transpose()?
                    .filter(|v| !v.is_empty()),
            }),
            Self::Local(p) => Err(format!(
                "it is a local path ({}), not an S3 object",
                p.display()
            )),
            Self::Inline => Err("its code is inline in the template".into()),
            Self::Image => Err("it is a container image, not a zip".into()),
            Self::Unknown => Err("its code location is missing or not understood".into()),
        }
    }
}

fn lambda_code(props: &Value) -> CodeLocation {
    match &props["PackageType"] {
        Value::String(s) if s == "Image" => return CodeLocation::Image,
        _ => {}
    }
    match &props["Code"] {
        Value::String(path) => CodeLocation::Local(PathBuf::from(path)),
        Value::Object(c) if c.contains_key("ZipFile") => CodeLocation::Inline,
        Value::Object(c) if c.contains_key("ImageUri") => CodeLocation::Image,
        Value::Object(c) if c.contains_key("S3Bucket") && c.contains_key("S3Key") => {
            CodeLocation::S3 {
                bucket: c["S3Bucket"].clone(),
                key: c["S3Key"].clone(),
                version: c.get("S3ObjectVersion").cloned(),
            }
        }
        _ => CodeLocation::Unknown,
    }
}

/// A SAM function's code, from its properties with the Globals merged in.
fn sam_code(props: &Value) -> CodeLocation {
    if props["PackageType"] == "Image" {
        return CodeLocation::Image;
    }
    if !props["InlineCode"].is_null() {
        return CodeLocation::Inline;
    }
    match props["CodeUri"].clone() {
        Value::String(s) => match s.strip_prefix("s3://").and_then(|r| r.split_once('/')) {
            Some((bucket, key)) => CodeLocation::S3 {
                bucket: json!(bucket),
                key: json!(key),
                version: None,
            },
            None => CodeLocation::Local(PathBuf::from(s)),
        },
        Value::Object(c) if c.contains_key("Bucket") && c.contains_key("Key") => CodeLocation::S3 {
            bucket: c["Bucket"].clone(),
            key: c["Key"].clone(),
            version: c.get("Version").cloned(),
        },
        _ => CodeLocation::Unknown,
    }
}

fn resolve_string(v: &Value, params: &HashMap<String, String>) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Object(m) if m.len() == 1 => {
            if let Some(Value::String(name)) = m.get("Ref") {
                return params
                    .get(name)
                    .cloned()
                    .ok_or_else(|| format!("Ref {name} has no value in the stack's parameters"));
            }
            if let Some(Value::String(template)) = m.get("Fn::Sub") {
                let mut out = String::new();
                let mut rest = template.as_str();
                while let Some(at) = rest.find("${") {
                    out.push_str(&rest[..at]);
                    let end = rest[at..]
                        .find('}')
                        .ok_or_else(|| format!("Fn::Sub {template:?} has an unclosed ${{"))?
                        + at;
                    let name = &rest[at + 2..end];
                    out.push_str(params.get(name).ok_or_else(|| {
                        format!(
                            "Fn::Sub {template:?}: {name} has no value in the stack's parameters"
                        )
                    })?);
                    rest = &rest[end + 1..];
                }
                out.push_str(rest);
                return Ok(out);
            }
            Err(format!("{v} is an intrinsic quickdeploy does not resolve"))
        }
        other => Err(format!("{other} is not a string")),
    }
}

/// YAML to JSON, turning short-form tags into long-form intrinsics.
fn to_json(v: serde_yaml_ng::Value) -> Result<Value, TemplateError> {
    use serde_yaml_ng::Value as Y;
    Ok(match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!(i)
            } else if let Some(u) = n.as_u64() {
                json!(u)
            } else {
                json!(n.as_f64())
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => {
            Value::Array(items.into_iter().map(to_json).collect::<Result<_, _>>()?)
        }
        Y::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    other => {
                        return Err(TemplateError(format!(
                            "a mapping key is not a string: {other:?}"
                        )));
                    }
                };
                out.insert(key, to_json(v)?);
            }
            Value::Object(out)
        }
        Y::Tagged(t) => {
            let name = t.tag.to_string();
            let name = name.trim_start_matches('!').to_owned();
            let value = to_json(t.value)?;
            match name.as_str() {
                "Ref" | "Condition" => json!({ name: value }),
                "GetAtt" => match value {
                    Value::String(s) => {
                        let (res, attr) = s.split_once('.').ok_or_else(|| {
                            TemplateError(format!("!GetAtt {s}: write it as Resource.Attribute"))
                        })?;
                        json!({ "Fn::GetAtt": [res, attr] })
                    }
                    other => json!({ "Fn::GetAtt": other }),
                },
                _ => json!({ format!("Fn::{name}"): value }),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAM: &str = r#"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.12
    CodeUri: src/shared/
Parameters:
  Bucket: {Type: String}
Resources:
  Api:
    Type: AWS::Serverless::Function
    Properties:
      Handler: api.handler
      AutoPublishAlias: live
      Role: !GetAtt Role.Arn
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: s3://bkt/worker.zip
      Handler: w.handler
  Role:
    Type: AWS::IAM::Role
    Properties:
      Path: !Sub "/${AWS::StackName}/"
"#;

    #[test]
    fn short_form_tags_become_long_form() {
        let t = Template::parse(SAM).expect("parse");
        assert_eq!(
            t.doc["Resources"]["Api"]["Properties"]["Role"],
            json!({"Fn::GetAtt": ["Role", "Arn"]})
        );
        assert_eq!(
            t.doc["Resources"]["Role"]["Properties"]["Path"],
            json!({"Fn::Sub": "/${AWS::StackName}/"})
        );
        assert!(t.is_sam());
    }

    #[test]
    fn finds_functions_code_and_aliases() {
        let t = Template::parse(SAM).expect("parse");
        let f = t.functions();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].logical_id, "Api");
        assert_eq!(f[0].code, CodeLocation::Local(PathBuf::from("src/shared/")));
        assert_eq!(f[0].aliases, ["live"]);
        let s3 = f[1].code.resolve_s3(&HashMap::new()).expect("s3");
        assert_eq!((s3.bucket.as_str(), s3.key.as_str()), ("bkt", "worker.zip"));
    }

    #[test]
    fn lambda_code_forms_and_parameter_resolution() {
        let t = Template::parse(
            r#"{"Resources": {
                "A": {"Type": "AWS::Lambda::Function", "Properties": {"Code": "./a"}},
                "B": {"Type": "AWS::Lambda::Function", "Properties": {"Code": {"ZipFile": "x"}}},
                "C": {"Type": "AWS::Lambda::Function", "Properties": {"Code":
                      {"S3Bucket": {"Ref": "B"}, "S3Key": {"Fn::Sub": "apps/${Name}.zip"}}}},
                "AliasC": {"Type": "AWS::Lambda::Alias", "Properties":
                      {"FunctionName": {"Ref": "C"}, "Name": "prod", "FunctionVersion": "1"}}
            }}"#,
        )
        .expect("json parses");
        let f = t.functions();
        assert_eq!(f[0].code, CodeLocation::Local(PathBuf::from("./a")));
        assert_eq!(f[1].code, CodeLocation::Inline);
        let params = HashMap::from([("B".into(), "bkt".into()), ("Name".into(), "c".into())]);
        let s3 = f[2].code.resolve_s3(&params).expect("resolves");
        assert_eq!(s3.to_string(), "s3://bkt/apps/c.zip");
        assert_eq!(f[2].aliases, ["prod"]);
        assert!(f[2].code.resolve_s3(&HashMap::new()).is_err());
    }

    const SAM_GLOBALS: &str = r#"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.12
    CodeUri: src/
    AutoPublishAlias: live
    Layers: [!Ref Deps]
    Architectures: [arm64]
    DeploymentPreference: {Type: AllAtOnce, Enabled: false}
Resources:
  Deps:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: layers/deps}
  Plain:
    Type: AWS::Serverless::Function
    Properties: {Handler: a.h}
  Own:
    Type: AWS::Serverless::Function
    Properties:
      Handler: b.h
      Runtime: nodejs20.x
      AutoPublishAlias: prod
      Layers: ["arn:aws:lambda:us-east-1:1:layer:x:1"]
      DeploymentPreference: {Enabled: true}
    Metadata: {BuildMethod: esbuild}
  Canary:
    Type: AWS::Lambda::Function
    Properties: {Code: ./c, Handler: c.h}
  CanaryLive:
    Type: AWS::Lambda::Alias
    UpdatePolicy: {CodeDeployLambdaAliasUpdate: {ApplicationName: app, DeploymentGroupName: g}}
    Properties: {FunctionName: !Ref Canary, Name: live, FunctionVersion: "1"}
"#;

    #[test]
    fn sam_globals_decide_aliases_layers_code_and_traffic_shifting() {
        let t = Template::parse(SAM_GLOBALS).expect("parse");
        let f = t.functions();
        let by_id = |id: &str| f.iter().find(|x| x.logical_id == id).expect(id);
        let plain = by_id("Plain");
        // Globals' AutoPublishAlias: a quick deploy must move `live`.
        assert_eq!(plain.aliases, ["live"]);
        assert_eq!(plain.code, CodeLocation::Local(PathBuf::from("src/")));
        assert_eq!(plain.layers, [json!({"Ref": "Deps"})]);
        assert_eq!(plain.architectures, ["arm64"]);
        // Globals' `Enabled: false` is kept by SAM's map merge.
        assert_eq!(plain.deployment_preference, None);
        assert_eq!(
            t.function_settings("Plain").runtime.as_deref(),
            Some("python3.12")
        );

        let own = by_id("Own");
        assert_eq!(own.aliases, ["prod"], "the function's scalar wins");
        assert_eq!(
            own.layers,
            [
                json!({"Ref": "Deps"}),
                json!("arn:aws:lambda:us-east-1:1:layer:x:1")
            ],
            "lists: Globals first, then the function's"
        );
        assert!(own.deployment_preference.is_some());
        assert_eq!(own.build_method.as_deref(), Some("esbuild"));
        assert_eq!(
            t.function_settings("Own").runtime.as_deref(),
            Some("nodejs20.x")
        );

        // Plain CloudFormation: CodeDeploy through the alias's update policy; no Globals.
        let canary = by_id("Canary");
        assert_eq!(canary.aliases, ["live"]);
        assert!(canary.deployment_preference.is_some());
        assert!(canary.layers.is_empty());
        assert_eq!(t.function_settings("Canary").runtime, None);
        assert_eq!(
            t.layers(),
            [("Deps".to_owned(), Some(PathBuf::from("layers/deps")))]
        );
    }

    #[test]
    fn sam_image_functions_and_json_templates() {
        let t = Template::parse(
            r#"{"Transform": "AWS::Serverless-2016-10-31",
                "Globals": {"Function": {"AutoPublishAlias": "live"}},
                "Resources": {
                  "Img": {"Type": "AWS::Serverless::Function",
                          "Properties": {"PackageType": "Image", "ImageUri": "repo:1"},
                          "Metadata": {"DockerContext": "./img"}},
                  "Zip": {"Type": "AWS::Serverless::Function",
                          "Properties": {"CodeUri": "zip/", "Handler": "h", "Runtime": "python3.12"}}
                }}"#,
        )
        .expect("json parses");
        let f = t.functions();
        assert_eq!(f[0].code, CodeLocation::Image);
        assert_eq!(f[0].aliases, ["live"]);
        assert_eq!(f[1].code, CodeLocation::Local(PathBuf::from("zip/")));
        assert_eq!(f[1].aliases, ["live"]);
    }

    const LAYERS: &str = r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  Deps:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: layers/deps/, CompatibleRuntimes: [python3.12]}
  Remote:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: s3://bkt/remote.zip}
  RemoteObject:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: {Bucket: bkt, Key: obj.zip}}
  Plain:
    Type: AWS::Lambda::LayerVersion
    Properties: {Content: ./layers/plain, LayerName: plain}
  PlainS3:
    Type: AWS::Lambda::LayerVersion
    Properties: {Content: {S3Bucket: bkt, S3Key: p.zip}}
  Fn:
    Type: AWS::Lambda::Function
    Properties: {Code: ./src, Handler: a.h, Layers: [!Ref Plain]}
"#;

    #[test]
    fn finds_the_layers_whose_content_is_local() {
        let t = Template::parse(LAYERS).expect("parse");
        assert_eq!(
            t.local_layers(),
            BTreeMap::from([
                ("Deps".to_owned(), PathBuf::from("layers/deps/")),
                ("Plain".to_owned(), PathBuf::from("./layers/plain")),
            ])
        );
        assert_eq!(t.layers().len(), 5, "S3 ones are listed, without a folder");
    }

    #[test]
    fn layer_content_points_at_s3_in_each_dialect() {
        let t = Template::parse(LAYERS).expect("parse");
        let at = |key: &str, version: Option<&str>| S3Object {
            bucket: "b".into(),
            key: key.into(),
            version: version.map(str::to_owned),
        };
        let doc = t.with_code_locations(&BTreeMap::from([
            ("Deps".to_owned(), at("deps.zip", Some("v1"))),
            ("Plain".to_owned(), at("plain.zip", Some("v2"))),
            ("Fn".to_owned(), at("src.zip", None)),
        ]));
        let props = |id: &str| &doc["Resources"][id]["Properties"];
        assert_eq!(
            props("Deps")["ContentUri"],
            json!({"Bucket": "b", "Key": "deps.zip", "Version": "v1"})
        );
        assert_eq!(props("Deps")["CompatibleRuntimes"], json!(["python3.12"]));
        assert_eq!(
            props("Plain")["Content"],
            json!({"S3Bucket": "b", "S3Key": "plain.zip", "S3ObjectVersion": "v2"})
        );
        assert_eq!(props("Plain")["LayerName"], "plain");
        assert_eq!(
            props("Fn")["Code"],
            json!({"S3Bucket": "b", "S3Key": "src.zip"})
        );
        assert_eq!(props("Fn")["Layers"], json!([{"Ref": "Plain"}]));
        // Layers not named are left as written.
        assert_eq!(props("Remote")["ContentUri"], "s3://bkt/remote.zip");
        assert_eq!(
            props("PlainS3"),
            &t.doc["Resources"]["PlainS3"]["Properties"]
        );
        // The packaged template, read back: where each layer's content is, and a layer's
        // content moving to S3 is not a resource change (the quick path serves it).
        let packaged = Template { doc };
        assert_eq!(
            packaged.layer_content("Deps"),
            CodeLocation::S3 {
                bucket: json!("b"),
                key: json!("deps.zip"),
                version: Some(json!("v1"))
            }
        );
        assert!(matches!(
            packaged.layer_content("Plain"),
            CodeLocation::S3 { .. }
        ));
        assert_eq!(packaged.layer_content("Fn"), CodeLocation::Unknown);
        assert!(t.resource_changes(&packaged).is_empty());
    }

    #[test]
    fn rejects_what_is_not_a_template() {
        assert!(Template::parse("just: text").is_err());
        assert!(Template::parse("Resources: [unclosed").is_err());
    }
}
