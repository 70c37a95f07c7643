//! The reader of CDK apps: a folder with a `cdk.json`. Its model is the synthesized template
//! of the stack `quickdeploy.toml` names, read from the cloud assembly ([`assembly`]), with
//! each asset-backed function and layer given a local package as a SAM template gives one:
//! - a bundled asset (a `NodejsFunction`) is built again by the esbuild command the CDK ran,
//!   as recorded at the last synth ([`record`]): the `quickdeploy:bundle` metadata, which
//!   `build` reads as the `cdk-esbuild` method;
//! - a copied asset (`Code.fromAsset(dir)`, a layer's) has the project folder it was staged
//!   from as its package, with the files the asset left out ignored (`quickdeploy:ignore`);
//! - any other asset says why it is not quick-deployable (`quickdeploy:not-quick`).
//!
//! Running the synth and recording it is an op's work (`ops::cdk`); this only reads files.

pub mod assembly;
pub mod nested;
pub mod paths;
pub mod record;
pub mod sources;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::config::{BadConfig, Config};
use super::model::{Kind, Model};
use super::template::{LAMBDA_FUNCTION, LAMBDA_LAYER, Template};

pub use super::model::CDK_JSON;
pub use super::template::BUNDLE_METHOD;

/// The cloud assembly folder of the app rooted at `root`: quickdeploy.toml's `cdk_out`, else
/// `cdk.json`'s `output`, else `cdk.out`.
pub fn assembly_dir(root: &Path, config: &Config) -> PathBuf {
    if let Some(dir) = &config.cdk_out {
        return root.join(dir);
    }
    let output = std::fs::read_to_string(root.join(CDK_JSON))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v["output"].as_str().map(str::to_owned));
    root.join(output.unwrap_or_else(|| "cdk.out".into()))
}

/// The stack of `stacks` that `name` names: its CloudFormation name, artifact id or display
/// name; else an error listing them.
pub fn find_stack<'a>(
    stacks: &'a [assembly::StackArtifact],
    name: &str,
) -> Result<&'a assembly::StackArtifact, BadConfig> {
    stacks
        .iter()
        .find(|s| s.stack_name == name || s.id == name || s.display_name == name)
        .ok_or_else(|| {
            let names: Vec<&str> = stacks.iter().map(|s| s.stack_name.as_str()).collect();
            BadConfig(format!(
                "the CDK app has no stack {name} (it has: {}): fix `stack` in quickdeploy.toml",
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            ))
        })
}

/// The model of the CDK app rooted at `root`, for the stack `config` names.
pub fn read(root: &Path, config: &Config) -> Result<Model, BadConfig> {
    let out = assembly_dir(root, config);
    let stacks = assembly::stacks(&out).map_err(|e| {
        BadConfig(format!(
            "{e}: this CDK app has no cloud assembly yet: run `quickdeploy deploy` (which synthesizes it) or `npx cdk synth`"
        ))
    })?;
    let stack = find_stack(&stacks, &config.stack)?;
    let mut template = template_of(stack)?;
    let record = record::load(root).unwrap_or_default();
    give_packages(&mut template, &record, &stack.dir, root);
    Ok(Model {
        template,
        dir: root.to_owned(),
        kind: Kind::Cdk,
    })
}

/// How deep nested stacks are read: CloudFormation allows no cycle, so this only bounds a
/// broken assembly.
const NESTING: usize = 8;

/// The synthesized template of `stack` with its nested stacks merged in ([`nested`]).
pub fn template_of(stack: &assembly::StackArtifact) -> Result<Template, BadConfig> {
    read_template(&stack.template, &stack.dir, NESTING)
}

fn read_template(path: &Path, dir: &Path, depth: usize) -> Result<Template, BadConfig> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        BadConfig(format!(
            "cannot read the synthesized template {}: {e}: synthesize again (`npx cdk synth`)",
            path.display()
        ))
    })?;
    let mut template = Template::parse(&text)
        .map_err(|e| BadConfig(format!("template {}: {e}", path.display())))?;
    for n in nested::nested_stacks(&template) {
        if depth == 0 {
            return Err(BadConfig(format!(
                "{}: nested stacks deeper than {NESTING} levels: synthesize again (`npx cdk synth`)",
                path.display()
            )));
        }
        let child = read_template(&dir.join(&n.asset), dir, depth - 1)?;
        nested::merge(&mut template, &n, &child);
    }
    Ok(template)
}

/// Gives each asset-backed function and layer of `template` its local package, from
/// `record` (see the module's comment). `assembly` is the folder its assets are staged in.
pub fn give_packages(
    template: &mut Template,
    record: &record::Record,
    assembly: &Path,
    root: &Path,
) {
    let Some(resources) = template.doc["Resources"].as_object_mut() else {
        return;
    };
    for r in resources.values_mut() {
        let property = match r["Type"].as_str() {
            Some(LAMBDA_FUNCTION) => "Code",
            Some(LAMBDA_LAYER) => "Content",
            _ => continue,
        };
        let Some(asset) = r["Metadata"]["aws:asset:path"].as_str().map(str::to_owned) else {
            continue;
        };
        if r["Metadata"]["aws:asset:property"].as_str() != Some(property) {
            continue;
        }
        let staged = assembly.join(&asset);
        let (code, meta) = if let Some(b) = record.bundles.get(&asset) {
            (
                relative(&sources_folder(b)),
                (
                    "quickdeploy:bundle",
                    json!({
                        "Program": b.program,
                        "Cwd": match b.cwd.as_os_str().is_empty() {
                            true => root.to_owned(),
                            false => root.join(&b.cwd),
                        },
                        "Args": b.args,
                        "Outfile": b.outfile,
                        "Inputs": b.inputs,
                        "Asset": staged,
                    }),
                ),
            )
        } else if let Some(f) = record.folders.get(&asset) {
            (relative(&f.folder), ("quickdeploy:ignore", json!(f.ignore)))
        } else {
            let why = record.opaque.get(&asset).cloned().unwrap_or_else(|| {
                format!("its asset {asset} was not recorded at a synth by quickdeploy: run `quickdeploy full` once")
            });
            if let Some(m) = r["Metadata"].as_object_mut() {
                m.insert("quickdeploy:not-quick".into(), json!(why));
            }
            continue;
        };
        r["Properties"][property] = json!(code);
        if let Some(m) = r["Metadata"].as_object_mut() {
            m.insert(meta.0.into(), meta.1);
        }
    }
}

/// The folder a bundle's own sources are in (the deepest folder holding every input outside
/// `node_modules`): its code location, which `watch` watches. esbuild still runs where the
/// CDK ran it (`cwd`); a whole project root with its `node_modules` is not watched.
fn sources_folder(b: &record::Bundle) -> PathBuf {
    let mut inputs = b
        .inputs
        .iter()
        .filter(|i| !i.split('/').any(|part| part == "node_modules"))
        .map(|i| Path::new(i).parent().unwrap_or(Path::new("")).to_owned());
    let Some(mut common) = inputs.next() else {
        return b.cwd.clone();
    };
    for dir in inputs {
        while !dir.starts_with(&common) {
            if !common.pop() {
                break;
            }
        }
    }
    common
}

/// A path from the project root as a template's code location (`.` for the root itself).
fn relative(p: &Path) -> String {
    match p.as_os_str().is_empty() {
        true => ".".into(),
        false => p.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const SYNTHESIZED: &str = r#"{"Resources":{
      "GetOne1":{"Type":"AWS::Lambda::Function","Properties":{"Code":{"S3Bucket":"cdk-b","S3Key":"aaa.zip"},"Handler":"index.handler","Runtime":"nodejs22.x"},
        "Metadata":{"aws:cdk:path":"Api/getOne/Resource","aws:asset:path":"asset.aaa","aws:asset:is-bundled":true,"aws:asset:property":"Code"}},
      "Py1":{"Type":"AWS::Lambda::Function","Properties":{"Code":{"S3Bucket":"cdk-b","S3Key":"bbb.zip"},"Handler":"app.handler"},
        "Metadata":{"aws:cdk:path":"Api/py/Resource","aws:asset:path":"asset.bbb","aws:asset:is-bundled":false,"aws:asset:property":"Code"}},
      "Layer1":{"Type":"AWS::Lambda::LayerVersion","Properties":{"Content":{"S3Bucket":"cdk-b","S3Key":"ccc.zip"}},
        "Metadata":{"aws:asset:path":"asset.ccc","aws:asset:property":"Content"}},
      "Other1":{"Type":"AWS::Lambda::Function","Properties":{"Code":{"S3Bucket":"cdk-b","S3Key":"ddd.zip"}},
        "Metadata":{"aws:asset:path":"asset.ddd","aws:asset:property":"Code"}}}}"#;

    #[test]
    fn assets_become_packages_as_recorded() {
        let mut t = Template::parse(SYNTHESIZED).expect("parse");
        let record = record::Record {
            format: record::FORMAT,
            bundles: BTreeMap::from([(
                "asset.aaa".into(),
                record::Bundle {
                    program: vec!["esbuild".into()],
                    cwd: PathBuf::new(),
                    args: vec!["--bundle".into(), "lambdas/get-one.ts".into()],
                    outfile: "index.js".into(),
                    inputs: vec![
                        "lambdas/get-one.ts".into(),
                        "lambdas/shared/f.ts".into(),
                        "node_modules/uuid/index.js".into(),
                    ],
                },
            )]),
            folders: BTreeMap::from([
                (
                    "asset.bbb".into(),
                    record::FolderSource {
                        folder: "functions/py".into(),
                        ignore: vec!["/tests/".into()],
                    },
                ),
                (
                    "asset.ccc".into(),
                    record::FolderSource {
                        folder: "layers/common".into(),
                        ignore: Vec::new(),
                    },
                ),
            ]),
            ..record::Record::default()
        };
        give_packages(
            &mut t,
            &record,
            Path::new("/app/cdk.out"),
            Path::new("/app"),
        );
        let fns: BTreeMap<String, _> = t
            .functions()
            .into_iter()
            .map(|f| (f.logical_id.clone(), f))
            .collect();
        use crate::project::template::CodeLocation;
        assert_eq!(fns["GetOne1"].code, CodeLocation::Local("lambdas".into()));
        assert_eq!(fns["GetOne1"].build_method.as_deref(), Some(BUNDLE_METHOD));
        let bundle = &t.doc["Resources"]["GetOne1"]["Metadata"]["quickdeploy:bundle"];
        assert_eq!(bundle["Asset"], "/app/cdk.out/asset.aaa");
        assert_eq!(bundle["Cwd"], "/app");
        assert_eq!(fns["Py1"].code, CodeLocation::Local("functions/py".into()));
        assert_eq!(fns["Py1"].ignore, ["/tests/"]);
        assert_eq!(t.local_layers()["Layer1"], PathBuf::from("layers/common"));
        assert!(
            fns["Other1"]
                .not_quick
                .as_deref()
                .is_some_and(|w| w.contains("quickdeploy full"))
        );
        // None of it is a change to what CloudFormation was given.
        let deployed = Template::parse(SYNTHESIZED).expect("parse");
        assert!(
            t.resource_changes(&deployed).is_empty(),
            "{:?}",
            t.resource_changes(&deployed)
        );
    }
}
