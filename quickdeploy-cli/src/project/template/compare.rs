//! Whether two templates differ in anything but code locations (what makes a change
//! code-only), and a template with its code locations pointed elsewhere (what `full` deploys).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::{LAMBDA_FUNCTION, LAMBDA_LAYER, S3Object, SAM_FUNCTION, SAM_LAYER, Template};

impl Template {
    /// The template with every function's code location and layer's content location taken
    /// out: what must be equal for a change to be code-only.
    pub fn without_code_locations(&self) -> Value {
        let mut doc = self.doc.clone();
        if let Some(Value::Object(resources)) = doc.get_mut("Resources") {
            for r in resources.values_mut() {
                let field = match r["Type"].as_str() {
                    Some(LAMBDA_FUNCTION) => "Code",
                    Some(SAM_FUNCTION) => "CodeUri",
                    Some(LAMBDA_LAYER) => "Content",
                    Some(SAM_LAYER) => "ContentUri",
                    _ => continue,
                };
                if let Some(Value::Object(p)) = r.get_mut("Properties") {
                    p.remove(field);
                }
                // A CDK asset's metadata names its hash, which moves with the code; quickdeploy's
                // own (a reader's) is not CloudFormation's.
                if let Some(Value::Object(m)) = r.get_mut("Metadata") {
                    m.retain(|k, _| !k.starts_with("aws:asset:") && !k.starts_with("quickdeploy:"));
                }
            }
        }
        if let Some(Value::Object(f)) = doc.pointer_mut("/Globals/Function") {
            f.remove("CodeUri");
        }
        doc
    }

    /// What differs between two templates, ignoring code locations: one line per difference,
    /// empty when the change is code-only.
    pub fn resource_changes(&self, deployed: &Template) -> Vec<String> {
        let (mine, theirs) = (
            self.without_code_locations(),
            deployed.without_code_locations(),
        );
        if mine == theirs {
            return Vec::new();
        }
        let empty = Map::new();
        let section = |doc: &Value, name: &str| doc.get(name).cloned();
        let mut out = Vec::new();
        let keys: BTreeSet<&String> = mine
            .as_object()
            .unwrap_or(&empty)
            .keys()
            .chain(theirs.as_object().unwrap_or(&empty).keys())
            .collect();
        for key in keys {
            if key == "Resources" || section(&mine, key) == section(&theirs, key) {
                continue;
            }
            out.push(format!("the template's {key} section changed"));
        }
        let a = mine["Resources"].as_object().unwrap_or(&empty);
        let b = theirs["Resources"].as_object().unwrap_or(&empty);
        let ids: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for id in ids {
            match (a.get(id), b.get(id)) {
                (Some(r), None) => out.push(format!(
                    "{id} ({}) added",
                    r["Type"].as_str().unwrap_or("?")
                )),
                (None, Some(r)) => out.push(format!(
                    "{id} ({}) removed",
                    r["Type"].as_str().unwrap_or("?")
                )),
                (Some(x), Some(y)) if x != y => {
                    let changed = changed_fields(x, y);
                    out.push(format!("{id} changed: {}", changed.join(", ")));
                }
                _ => {}
            }
        }
        out
    }

    /// The template with the given functions' code locations, and layers' content
    /// locations, pointing at S3 objects, as `aws cloudformation package` writes it.
    pub fn with_code_locations(&self, locations: &BTreeMap<String, S3Object>) -> Value {
        let mut doc = self.doc.clone();
        if let Some(Value::Object(resources)) = doc.get_mut("Resources") {
            for (id, r) in resources.iter_mut() {
                let Some(at) = locations.get(id) else {
                    continue;
                };
                let Some((field, value)) = r["Type"].as_str().and_then(|t| s3_location(t, at))
                else {
                    continue;
                };
                if let Some(Value::Object(p)) = r.get_mut("Properties") {
                    p.insert(field.into(), value);
                } else if let Value::Object(m) = r {
                    m.insert("Properties".into(), json!({ field: value }));
                }
            }
        }
        doc
    }
}

/// The property of a resource of type `kind` that names its code, and its value pointing at
/// `at`: CloudFormation's `{S3Bucket, S3Key, S3ObjectVersion}` (`Code`, `Content`), SAM's
/// `{Bucket, Key, Version}` (`CodeUri`, `ContentUri`: samtranslator's S3 location object).
/// `None` for a type without code.
fn s3_location(kind: &str, at: &S3Object) -> Option<(&'static str, Value)> {
    let (field, names) = match kind {
        LAMBDA_FUNCTION => ("Code", ["S3Bucket", "S3Key", "S3ObjectVersion"]),
        LAMBDA_LAYER => ("Content", ["S3Bucket", "S3Key", "S3ObjectVersion"]),
        SAM_FUNCTION => ("CodeUri", ["Bucket", "Key", "Version"]),
        SAM_LAYER => ("ContentUri", ["Bucket", "Key", "Version"]),
        _ => return None,
    };
    let mut value = json!({ names[0]: at.bucket, names[1]: at.key });
    if let Some(v) = &at.version {
        value[names[2]] = json!(v);
    }
    Some((field, value))
}

/// The top-level fields of two resources that differ, and inside Properties the properties.
fn changed_fields(a: &Value, b: &Value) -> Vec<String> {
    let empty = Map::new();
    let mut out = Vec::new();
    let (ma, mb) = (
        a.as_object().unwrap_or(&empty),
        b.as_object().unwrap_or(&empty),
    );
    let keys: BTreeSet<&String> = ma.keys().chain(mb.keys()).collect();
    for k in keys {
        if ma.get(k) == mb.get(k) {
            continue;
        }
        if k == "Properties" {
            let (pa, pb) = (
                ma.get(k).and_then(Value::as_object).unwrap_or(&empty),
                mb.get(k).and_then(Value::as_object).unwrap_or(&empty),
            );
            let props: BTreeSet<&String> = pa.keys().chain(pb.keys()).collect();
            out.extend(
                props
                    .into_iter()
                    .filter(|p| pa.get(*p) != pb.get(*p))
                    .map(|p| p.to_string()),
            );
        } else {
            out.push(k.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_locations_do_not_count_as_resource_changes() {
        let local = Template::parse(
            "Resources:\n  F:\n    Type: AWS::Lambda::Function\n    Properties:\n      Code: ./src\n      MemorySize: 128\n",
        )
        .expect("parse");
        let packaged = Template {
            doc: local.with_code_locations(&BTreeMap::from([(
                "F".to_owned(),
                S3Object {
                    bucket: "b".into(),
                    key: "k".into(),
                    version: Some("v1".into()),
                },
            )])),
        };
        assert_eq!(
            packaged.doc["Resources"]["F"]["Properties"]["Code"]["S3ObjectVersion"],
            "v1"
        );
        assert!(local.resource_changes(&packaged).is_empty());

        let bigger = Template::parse(
            "Resources:\n  F:\n    Type: AWS::Lambda::Function\n    Properties:\n      Code: ./other\n      MemorySize: 256\n  Q:\n    Type: AWS::SQS::Queue\n",
        )
        .expect("parse");
        assert_eq!(
            bigger.resource_changes(&packaged),
            ["F changed: MemorySize", "Q (AWS::SQS::Queue) added"]
        );
    }
}
