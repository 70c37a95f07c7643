//! SAM's `Globals`: a SAM function's properties as the transform sees them, after merging
//! `Globals.Function` into the function's own.
//!
//! The rules are SAM's own (aws/serverless-application-model,
//! `samtranslator/plugins/globals/globals.py`, `GlobalProperties._do_merge`), followed here
//! exactly:
//! - the function's properties and the Globals' are merged as maps;
//! - maps (`Environment`, `DeploymentPreference`, ...) merge key by key, recursively, the
//!   function's keys winning;
//! - lists (`Layers`, `Architectures`, ...) are concatenated, the Globals' first, then the
//!   function's: `Layers: [A]` in Globals and `Layers: [B]` in the function give `[A, B]`;
//! - scalars, and any two values of different kinds, are the function's: it wins;
//! - an intrinsic (`{"Ref": ..}`, `{"Condition": ..}`, `{"Fn::...": ..}`, a map of one such
//!   key) counts as a scalar, since it resolves to one.
//!
//! `Metadata` and `PackageType` are not Globals properties (SAM refuses them there); they are
//! read from the function alone.

use super::types::SAM_FUNCTION;
use serde_json::{Map, Value};

/// The properties of the SAM function `resource` with the template's `Globals.Function`
/// merged in; any other resource's properties as they are.
pub fn function_properties(doc: &Value, resource: &Value) -> Value {
    let own = resource.get("Properties").cloned().unwrap_or(Value::Null);
    if resource["Type"] != SAM_FUNCTION {
        return own;
    }
    let own = match own {
        Value::Null => Value::Object(Map::new()),
        other => other,
    };
    match doc.pointer("/Globals/Function") {
        Some(globals @ Value::Object(_)) => merge(globals, &own),
        _ => own,
    }
}

/// SAM's merge of a global value with a local one (see the module's rules).
pub fn merge(global: &Value, local: &Value) -> Value {
    match (global, local) {
        (Value::Object(g), Value::Object(l)) if !is_intrinsic(global) && !is_intrinsic(local) => {
            let mut out = g.clone();
            for (k, v) in l {
                let merged = match g.get(k) {
                    Some(gv) => merge(gv, v),
                    None => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(g), Value::Array(l)) => Value::Array(g.iter().chain(l).cloned().collect()),
        _ => local.clone(),
    }
}

/// SAM's `is_intrinsic`: a map of one key, `Ref`, `Condition` or `Fn::*`.
pub fn is_intrinsic(v: &Value) -> bool {
    match v.as_object() {
        Some(m) if m.len() == 1 => m
            .keys()
            .next()
            .is_some_and(|k| k == "Ref" || k == "Condition" || k.starts_with("Fn::")),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalars_the_function_wins_lists_concatenate_maps_merge() {
        let g = json!({
            "Runtime": "python3.12",
            "AutoPublishAlias": "live",
            "Layers": [{"Ref": "Deps"}],
            "Architectures": ["arm64"],
            "Environment": {"Variables": {"A": "g", "B": "g"}},
            "DeploymentPreference": {"Enabled": false, "Type": "Canary10Percent5Minutes"}
        });
        let l = json!({
            "Runtime": "nodejs20.x",
            "Layers": ["arn:aws:lambda:us-east-1:1:layer:x:1"],
            "Environment": {"Variables": {"B": "l", "C": "l"}},
            "DeploymentPreference": {"Type": "Linear10PercentEvery1Minute"}
        });
        assert_eq!(
            merge(&g, &l),
            json!({
                "Runtime": "nodejs20.x",
                "AutoPublishAlias": "live",
                "Layers": [{"Ref": "Deps"}, "arn:aws:lambda:us-east-1:1:layer:x:1"],
                "Architectures": ["arm64"],
                "Environment": {"Variables": {"A": "g", "B": "l", "C": "l"}},
                // SAM's own example: the Globals' Enabled: false stays.
                "DeploymentPreference": {"Enabled": false, "Type": "Linear10PercentEvery1Minute"}
            })
        );
    }

    #[test]
    fn intrinsics_are_scalars_and_kinds_that_differ_take_the_function() {
        // A Ref is not merged key by key with a map: the function's value wins whole.
        assert_eq!(
            merge(&json!({"Ref": "G"}), &json!({"Ref": "L"})),
            json!({"Ref": "L"})
        );
        assert_eq!(
            merge(
                &json!({"Variables": {"A": 1}}),
                &json!({"Fn::If": ["c", {}, {}]})
            ),
            json!({"Fn::If": ["c", {}, {}]})
        );
        assert_eq!(
            merge(&json!(["a"]), &json!({"Ref": "L"})),
            json!({"Ref": "L"})
        );
        assert_eq!(merge(&json!("x"), &json!(["y"])), json!(["y"]));
        assert!(is_intrinsic(&json!({"Fn::GetAtt": ["R", "Arn"]})));
        assert!(!is_intrinsic(&json!({"Ref": "A", "Other": 1})));
    }

    #[test]
    fn only_sam_functions_take_globals() {
        let doc = json!({
            "Globals": {"Function": {"AutoPublishAlias": "live", "CodeUri": "src/"}},
            "Resources": {}
        });
        let sam = json!({"Type": "AWS::Serverless::Function"});
        assert_eq!(
            function_properties(&doc, &sam),
            json!({"AutoPublishAlias": "live", "CodeUri": "src/"})
        );
        let cfn = json!({"Type": "AWS::Lambda::Function", "Properties": {"Code": "./a"}});
        assert_eq!(function_properties(&doc, &cfn), json!({"Code": "./a"}));
    }
}
