//! Nested stacks of a CDK app (`NestedStack`). The parent's template has an
//! `AWS::CloudFormation::Stack` resource whose `TemplateURL` is an asset of the parent (the
//! `*.nested.template.json` beside it in the assembly, `aws:asset:property: TemplateURL`).
//! quickdeploy reads one stack and its nested stacks as one template: each nested resource
//! is merged into the parent's `Resources` under a qualified logical id, the nested stack's
//! construct id and its own (`Reports/reportFunction5A0E5255`; deeper ones
//! `Reports/Inner/...`), which CloudFormation's own ids (alphanumeric) never collide with.
//! The same merge is made of the synthesized templates (the model) and of the deployed ones
//! (`stack::deployed`), so comparing the two compares the nested stacks too. Pure.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::project::template::Template;

/// The resource type of a nested stack.
pub const STACK: &str = "AWS::CloudFormation::Stack";

/// A nested stack the CDK made, as its parent's template names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nested {
    /// The parent's resource (`ReportsNestedStackReportsNestedStackResource6385503C`).
    pub logical_id: String,
    /// What its resources are qualified by: the NestedStack's construct id (`Reports`), else
    /// the logical id.
    pub name: String,
    /// Its template, relative to the assembly folder (`aws:asset:path`).
    pub asset: String,
}

/// The nested stacks the CDK made in `template`, sorted by logical id. A stack resource
/// that is no CDK asset (a SAM app's, a hand-written `TemplateURL`) is not one: it is left
/// as CloudFormation sees it.
pub fn nested_stacks(template: &Template) -> Vec<Nested> {
    let mut out: Vec<Nested> = template.doc["Resources"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, r)| r["Type"] == STACK)
        .filter(|(_, r)| r["Metadata"]["aws:asset:property"] == "TemplateURL")
        .filter_map(|(id, r)| {
            let asset = r["Metadata"]["aws:asset:path"].as_str()?.to_owned();
            Some(Nested {
                logical_id: id.clone(),
                name: construct_id(&r["Metadata"]["aws:cdk:path"]).unwrap_or_else(|| id.clone()),
                asset,
            })
        })
        .collect();
    out.sort_by(|a, b| a.logical_id.cmp(&b.logical_id));
    out
}

/// `Reports` of `QdCdkJobs/Reports.NestedStack/Reports.NestedStackResource`.
fn construct_id(path: &Value) -> Option<String> {
    let parts: Vec<&str> = path.as_str()?.split('/').collect();
    let holder = parts.get(parts.len().checked_sub(2)?)?;
    let id = holder.strip_suffix(".NestedStack").unwrap_or(holder);
    (!id.is_empty()).then(|| id.to_owned())
}

/// `name/id`: a nested resource's logical id in the merged template.
pub fn qualify(name: &str, id: &str) -> String {
    format!("{name}/{id}")
}

/// Merges `child`, the template of `nested` (already merged with its own nested stacks),
/// into `parent`. Inside the child's resources, a `Ref`, `Fn::GetAtt`, `Fn::Sub` name or
/// `DependsOn` to a child resource is qualified, and a `Ref` to a parameter the parent
/// passes is replaced by what the parent passes (so a layer of the parent resolves as in
/// the parent). The parent's stack resource loses its `TemplateURL`: its content hash moves
/// with every nested change, and the merged resources carry the change itself.
pub fn merge(parent: &mut Template, nested: &Nested, child: &Template) {
    let Some(resources) = parent.doc["Resources"].as_object_mut() else {
        return;
    };
    let mut passed = Map::new();
    if let Some(r) = resources.get_mut(&nested.logical_id) {
        if let Some(p) = r["Properties"]["Parameters"].as_object() {
            passed = p.clone();
        }
        if let Some(p) = r["Properties"].as_object_mut() {
            p.remove("TemplateURL");
        }
    }
    let Some(theirs) = child.doc["Resources"].as_object() else {
        return;
    };
    let ids: BTreeSet<&str> = theirs.keys().map(String::as_str).collect();
    let scope = Scope {
        name: &nested.name,
        ids: &ids,
        passed: &passed,
    };
    for (id, r) in theirs {
        let mut r = scope.rewrite(r);
        if let Some(d) = r.get_mut("DependsOn") {
            *d = match d.take() {
                Value::String(s) => Value::String(scope.id(&s)),
                Value::Array(a) => Value::Array(
                    a.into_iter()
                        .map(|v| match v {
                            Value::String(s) => Value::String(scope.id(&s)),
                            other => other,
                        })
                        .collect(),
                ),
                other => other,
            };
        }
        resources.insert(qualify(&nested.name, id), r);
    }
}

/// The names a nested template's resources see.
struct Scope<'a> {
    name: &'a str,
    ids: &'a BTreeSet<&'a str>,
    passed: &'a Map<String, Value>,
}

impl Scope<'_> {
    /// `id` qualified when it is one of the child's resources.
    fn id(&self, id: &str) -> String {
        match self.ids.contains(id) {
            true => qualify(self.name, id),
            false => id.to_owned(),
        }
    }

    fn rewrite(&self, v: &Value) -> Value {
        match v {
            Value::Object(o) if o.len() == 1 => {
                let (k, inner) = o.iter().next().expect("one entry");
                match (k.as_str(), inner) {
                    ("Ref", Value::String(id)) => {
                        if let Some(given) = self.passed.get(id) {
                            return given.clone();
                        }
                        single("Ref", Value::String(self.id(id)))
                    }
                    ("Fn::GetAtt", Value::Array(a)) => {
                        let mut a = a.clone();
                        if let Some(Value::String(id)) = a.first() {
                            a[0] = Value::String(self.id(id));
                        }
                        single(k, Value::Array(a))
                    }
                    ("Fn::GetAtt", Value::String(s)) => {
                        let (id, attr) = s.split_once('.').unwrap_or((s, ""));
                        single(k, Value::String(format!("{}.{attr}", self.id(id))))
                    }
                    ("Fn::Sub", Value::String(s)) => single(k, Value::String(self.sub(s))),
                    ("Fn::Sub", Value::Array(a)) => {
                        let mut a: Vec<Value> = a.iter().map(|x| self.rewrite(x)).collect();
                        if let Some(Value::String(s)) = a.first() {
                            a[0] = Value::String(self.sub(s));
                        }
                        single(k, Value::Array(a))
                    }
                    _ => single(k, self.rewrite(inner)),
                }
            }
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, x)| (k.clone(), self.rewrite(x)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(|x| self.rewrite(x)).collect()),
            other => other.clone(),
        }
    }

    /// `${Id}` and `${Id.Attr}` in a `Fn::Sub` string, qualified for the child's resources.
    fn sub(&self, s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(at) = rest.find("${") {
            out.push_str(&rest[..at + 2]);
            rest = &rest[at + 2..];
            let Some(end) = rest.find('}') else {
                break;
            };
            let var = &rest[..end];
            let (id, attr) = match var.split_once('.') {
                Some((id, attr)) => (id, Some(attr)),
                None => (var, None),
            };
            out.push_str(&self.id(id));
            if let Some(attr) = attr {
                out.push('.');
                out.push_str(attr);
            }
            rest = &rest[end..];
        }
        out.push_str(rest);
        out
    }
}

fn single(k: &str, v: Value) -> Value {
    Value::Object(Map::from_iter([(k.to_owned(), v)]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PARENT: &str = r#"{"Resources":{
      "Worker1":{"Type":"AWS::Lambda::Function","Properties":{"Code":{"S3Bucket":"b","S3Key":"w.zip"}}},
      "Layer1":{"Type":"AWS::Lambda::LayerVersion","Properties":{"Content":{"S3Bucket":"b","S3Key":"l.zip"}}},
      "ReportsNestedStackReportsNestedStackResourceABC":{"Type":"AWS::CloudFormation::Stack",
        "Properties":{"TemplateURL":{"Fn::Join":["",["https://s3.us-east-1.",{"Ref":"AWS::URLSuffix"},"/cdk-b/1a57.json"]]},
          "Parameters":{"referencetoLayerRef":{"Ref":"Layer1"}}},
        "Metadata":{"aws:cdk:path":"Jobs/Reports.NestedStack/Reports.NestedStackResource",
          "aws:asset:path":"JobsReports0BD7B3BC.nested.template.json","aws:asset:property":"TemplateURL"}},
      "SamApp":{"Type":"AWS::CloudFormation::Stack","Properties":{"TemplateURL":"https://x/t.json"}}}}"#;

    const CHILD: &str = r#"{"Parameters":{"referencetoLayerRef":{"Type":"String"}},"Resources":{
      "Role1":{"Type":"AWS::IAM::Role","Properties":{}},
      "Report1":{"Type":"AWS::Lambda::Function","DependsOn":["Role1"],
        "Properties":{"Code":{"S3Bucket":"b","S3Key":"r.zip"},"Role":{"Fn::GetAtt":["Role1","Arn"]},
          "Layers":[{"Ref":"referencetoLayerRef"}],
          "Environment":{"Variables":{"ARN":{"Fn::Sub":"${Role1.Arn}/${AWS::Region}"},"ME":"Role1.x"}}},
        "Metadata":{"aws:cdk:path":"Jobs/Reports/report/Resource"}}}}"#;

    #[test]
    fn only_the_cdks_nested_stacks_named_by_construct_id() {
        let t = Template::parse(PARENT).expect("parse");
        assert_eq!(
            nested_stacks(&t),
            [Nested {
                logical_id: "ReportsNestedStackReportsNestedStackResourceABC".into(),
                name: "Reports".into(),
                asset: "JobsReports0BD7B3BC.nested.template.json".into(),
            }]
        );
        assert_eq!(
            construct_id(&json!("A/B/Inner.NestedStack/Inner.NestedStackResource")).as_deref(),
            Some("Inner")
        );
        assert_eq!(construct_id(&json!("Only")), None);
    }

    #[test]
    fn a_merge_qualifies_the_childs_names_and_takes_what_the_parent_passes() {
        let mut t = Template::parse(PARENT).expect("parse");
        let child = Template::parse(CHILD).expect("parse");
        let n = &nested_stacks(&t)[0];
        merge(&mut t, n, &child);
        let r = &t.doc["Resources"];
        let report = &r["Reports/Report1"];
        assert_eq!(report["DependsOn"], json!(["Reports/Role1"]));
        assert_eq!(
            report["Properties"]["Role"],
            json!({"Fn::GetAtt":["Reports/Role1","Arn"]})
        );
        assert_eq!(report["Properties"]["Layers"], json!([{"Ref":"Layer1"}]));
        assert_eq!(
            report["Properties"]["Environment"]["Variables"],
            json!({"ARN":{"Fn::Sub":"${Reports/Role1.Arn}/${AWS::Region}"},"ME":"Role1.x"})
        );
        assert!(r["Reports/Role1"].is_object());
        assert!(r["Role1"].is_null(), "nothing unqualified");
        let stack = &r["ReportsNestedStackReportsNestedStackResourceABC"]["Properties"];
        assert!(stack["TemplateURL"].is_null(), "{stack}");
        assert!(stack["Parameters"].is_object());
        assert!(r["SamApp"]["Properties"]["TemplateURL"].is_string());
        let ids: Vec<String> = t.functions().into_iter().map(|f| f.logical_id).collect();
        assert_eq!(ids, ["Reports/Report1", "Worker1"]);
    }

    #[test]
    fn a_nested_change_in_code_only_is_no_resource_change_and_any_other_is() {
        let merged = |child: &str, url: &str| {
            let mut t = Template::parse(&PARENT.replace("1a57", url)).expect("parse");
            let n = nested_stacks(&t)[0].clone();
            merge(&mut t, &n, &Template::parse(child).expect("parse"));
            t
        };
        let deployed = merged(CHILD, "1a57");
        let code = merged(&CHILD.replace("r.zip", "r2.zip"), "99ff");
        assert!(
            code.resource_changes(&deployed).is_empty(),
            "{:?}",
            code.resource_changes(&deployed)
        );
        let role = merged(
            &CHILD.replace("\"Properties\":{}", "\"Properties\":{\"Path\":\"/x/\"}"),
            "77ee",
        );
        let changes = role.resource_changes(&deployed);
        assert!(
            changes.iter().any(|c| c.contains("Reports/Role1")),
            "{changes:?}"
        );
    }
}
