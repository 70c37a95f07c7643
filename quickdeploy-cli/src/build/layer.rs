//! Which layers quickdeploy builds and how (pure): each layer with a `BuildMethod` whose
//! content is a local folder, into its runtime's folder (`python/`, `nodejs/`) as SAM builds
//! layers, for the architecture its `CompatibleArchitectures` or its functions say.

use std::path::Path;

use serde_json::Value;

use super::method::{Build, Method, method_of};
use crate::project::config::Config;
use crate::project::normalize;
use crate::project::template::Template;

/// Each layer with a `BuildMethod` whose content is a local folder, built into its runtime's
/// folder inside its build folder (`build_dir/<LogicalId>`), as SAM does.
pub fn layer_builds(
    local: &Template,
    config: &Config,
    build_dir: &Path,
    template_dir: &Path,
) -> Vec<Build> {
    let mut out = Vec::new();
    for (id, path) in local.local_layers() {
        let r = &local.doc["Resources"][&id];
        let Some(m) = r.pointer("/Metadata/BuildMethod").and_then(Value::as_str) else {
            continue;
        };
        let mut method = method_of(&id, m, &r["Metadata"]["BuildProperties"]);
        let folder = build_dir.join(&id);
        let sub = method.layer_subfolder().unwrap_or_else(|| {
            method = Method::Unsupported {
                method: m.to_owned(),
                why: format!("layer {id}: BuildMethod {m} builds functions, not layers (SAM refuses it too): use python3.x, nodejs*, or makefile"),
            };
            ""
        });
        let compatible: Vec<String> = r
            .pointer("/Properties/CompatibleArchitectures")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        let users: Vec<String> = local
            .functions()
            .iter()
            .filter(|f| {
                f.layers
                    .iter()
                    .any(|l| l["Ref"].as_str() == Some(id.as_str()))
            })
            .map(|f| {
                f.architectures
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "x86_64".into())
            })
            .collect();
        let architecture = layer_architecture(&compatible, &users);
        out.push(Build {
            ids: vec![id.clone()],
            method,
            source: normalize(&template_dir.join(path)),
            target: if sub.is_empty() {
                folder.clone()
            } else {
                folder.join(sub)
            },
            out: folder,
            architecture,
            ignore: config.ignore.clone(),
            runtimes: Vec::new(),
        });
    }
    out
}

/// The architecture a layer is built for: its first `CompatibleArchitectures` (SAM's rule),
/// else that of the functions using it when they agree, else `x86_64` (Lambda's default).
pub fn layer_architecture(compatible: &[String], users: &[String]) -> String {
    if let Some(first) = compatible.first() {
        return first.clone();
    }
    match users.first() {
        Some(a) if users.iter().all(|u| u == a) => a.clone(),
        _ => "x86_64".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layer_builds_for_its_compatible_architecture_else_its_functions() {
        let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            layer_architecture(&s(&["arm64", "x86_64"]), &s(&["x86_64"])),
            "arm64"
        );
        assert_eq!(layer_architecture(&[], &s(&["arm64", "arm64"])), "arm64");
        assert_eq!(layer_architecture(&[], &s(&["arm64", "x86_64"])), "x86_64");
        assert_eq!(layer_architecture(&[], &[]), "x86_64");
        let t = Template::parse(
            "Resources:\n  L: {Type: AWS::Serverless::LayerVersion, Properties: {ContentUri: l}, Metadata: {BuildMethod: python3.12}}\n  F: {Type: AWS::Serverless::Function, Properties: {CodeUri: f, Handler: a.h, Runtime: python3.12, Architectures: [arm64], Layers: [!Ref L]}}\n",
        )
        .expect("template");
        let c = Config::parse("stack = \"s\"\ntemplate = \"t.yaml\"\n", Path::new("q")).expect("c");
        let b = layer_builds(
            &t,
            &c,
            Path::new("/app/.quickdeploy/build"),
            Path::new("/app"),
        );
        assert_eq!(b[0].ids, ["L"]);
        assert_eq!(b[0].architecture, "arm64", "its function's");
        assert_eq!(b[0].target, Path::new("/app/.quickdeploy/build/L/python"));
    }
}
