//! Which functions share which artifact, and from which package folder: pure decisions from
//! the local template, `quickdeploy.toml` and the deployed stack.
//!
//! (Over 500 lines with its tests: about 440 lines of one decision, and the templates it is
//! tried on.)

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::lambda::update::Target;
use crate::package::spec::PackageSpec;
use crate::project::config::Config;
use crate::project::normalize;
use crate::project::template::{CodeLocation, FunctionDef, S3Object, Template};
use crate::stack::deployed::Deployed;

/// One artifact, the package it is made from, and the functions that run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The artifact in S3 (without a version: the patch writes a new one).
    pub artifact: S3Object,
    /// Its package.
    pub package: PackageSpec,
    /// The functions that use it, by logical id.
    pub functions: Vec<Target>,
    /// Functions made from the same package that the quick path must not update (CodeDeploy
    /// traffic shifting): when the package changes, only a full deploy will do.
    pub not_quick: Vec<Skipped>,
    /// The layers made from it: a change publishes a new version of each and moves their users.
    pub layers: Vec<LayerPlan>,
    /// The object `artifact` is first copied from, when it does not exist yet: a CDK asset,
    /// which the quick path never writes ([`own_artifacts`]).
    pub seed: Option<S3Object>,
}

/// A layer whose content is a local folder, as deployed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LayerPlan {
    /// Its logical id.
    pub logical_id: String,
    /// The version its stack created (its physical id): what a new version is published
    /// beside, with the same settings. `None` when the stack names none: a change to it then
    /// needs a full deploy.
    pub version_arn: Option<String>,
    /// The functions whose `Layers` name it (`!Ref`), to move to the new version.
    pub users: Vec<Target>,
}

/// A function the quick path cannot serve, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Its logical id.
    pub logical_id: String,
    /// Why, in words.
    pub reason: String,
}

/// The grouping of a project's functions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Artifacts to diff, patch and roll out.
    pub groups: Vec<Group>,
    /// Functions left out, with the reason.
    pub skipped: Vec<Skipped>,
    /// Functions in the local template that the stack does not have yet.
    pub new_functions: Vec<String>,
}

/// A `[functions.X]` in quickdeploy.toml for a function the template does not declare: its
/// settings would be silently ignored, so it is an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("quickdeploy.toml has [functions.{name}], but the template declares no function {name}{}: fix the name, or remove the section", suggestion.as_ref().map(|s| format!(" (did you mean {s}?)")).unwrap_or_default())]
pub struct UnknownFunction {
    /// The name in quickdeploy.toml.
    pub name: String,
    /// The template's closest function name, when one is close.
    pub suggestion: Option<String>,
}

/// Refuses `[functions.X]` sections that name no function of `local`.
pub fn check_config_functions(local: &Template, config: &Config) -> Result<(), UnknownFunction> {
    let ids: Vec<String> = local
        .functions()
        .into_iter()
        .map(|f| f.logical_id)
        .collect();
    for name in config.functions.keys() {
        if ids.contains(name) {
            continue;
        }
        let suggestion = ids
            .iter()
            .map(|id| {
                (
                    strsim::jaro_winkler(&name.to_lowercase(), &id.to_lowercase()),
                    id,
                )
            })
            .filter(|(score, _)| *score > 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, id)| id.clone());
        return Err(UnknownFunction {
            name: name.clone(),
            suggestion,
        });
    }
    Ok(())
}

/// Why the functions cannot be grouped by artifact: the user's template or config must change
/// (exit 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PlanError(pub String);

/// Groups the functions of `local` by the artifact the deployed stack gives them.
/// `root` is the project root, `template_dir` the folder the template's paths are relative to.
pub fn plan(
    local: &Template,
    deployed: &Deployed,
    config: &Config,
    root: &Path,
    template_dir: &Path,
) -> Result<Plan, PlanError> {
    let deployed_fns: BTreeMap<String, _> = deployed
        .template
        .functions()
        .into_iter()
        .map(|f| (f.logical_id.clone(), f))
        .collect();
    let mut groups: BTreeMap<(String, String), Group> = BTreeMap::new();
    let mut out = Plan::default();
    let builds = crate::build::decide::plan(local, config, root, template_dir);
    for f in local.functions() {
        let id = f.logical_id.clone();
        let skip = |reason: String| Skipped {
            logical_id: id.clone(),
            reason,
        };
        let Some(there) = deployed_fns.get(&id) else {
            out.new_functions.push(id);
            continue;
        };
        if let Some(why) = not_quick_code(&f) {
            out.skipped.push(skip(why));
            continue;
        }
        let Some(package) = package_of(&f, config, root, template_dir, &builds) else {
            out.skipped.push(skip(format!(
                "the template gives no local package folder: set `package` under [functions.{id}] in quickdeploy.toml"
            )));
            continue;
        };
        let (artifact, target) = match target_of(&f, there, deployed, config) {
            Ok(found) => found,
            Err(why) => {
                out.skipped.push(skip(why));
                continue;
            }
        };
        let g = group_for(&mut groups, &artifact, &package, &id)?;
        match not_quick_update(&f) {
            Some(why) => {
                g.not_quick.push(skip(why.clone()));
                out.skipped.push(skip(why));
            }
            None => g.functions.push(target),
        }
    }
    add_layers(local, deployed, config, (root, template_dir), &mut groups)?;
    out.groups = groups.into_values().collect();
    Ok(out)
}

/// Points every group whose artifact is a CDK asset (its functions' or layers' resources in
/// `local` carry `aws:asset:path`) at quickdeploy's own copy of it in `bucket`, with the asset
/// as its seed. The CDK's asset objects are content-addressed (the key is the hash of what
/// they hold) and must stay what their key says, so the quick path patches a copy:
/// `<prefix>cdk/<stack>/<asset key>`, made by a server-side copy the first time. A new
/// asset (after the CDK's deploy) has a new key, so its copy starts afresh from it.
pub fn own_artifacts(plan: &mut Plan, local: &Template, stack: &str, bucket: &str, prefix: &str) {
    let is_asset = |id: &str| local.doc["Resources"][id]["Metadata"]["aws:asset:path"].is_string();
    for g in &mut plan.groups {
        let ids = g
            .functions
            .iter()
            .map(|t| t.logical_id.as_str())
            .chain(g.not_quick.iter().map(|s| s.logical_id.as_str()))
            .chain(g.layers.iter().map(|l| l.logical_id.as_str()));
        let mut ids = ids.peekable();
        if ids.peek().is_none() || !ids.all(is_asset) {
            continue;
        }
        let own = S3Object {
            bucket: bucket.to_owned(),
            key: format!("{prefix}cdk/{stack}/{}", g.artifact.key),
            version: None,
        };
        g.seed = Some(std::mem::replace(&mut g.artifact, own));
    }
}

/// The groups, by artifact bucket and key.
type Groups = BTreeMap<(String, String), Group>;

/// The group of `artifact`, made from `package`, which `id` (a function or layer) joins;
/// refused when the artifact's other users have another package.
fn group_for<'a>(
    groups: &'a mut Groups,
    artifact: &S3Object,
    package: &PackageSpec,
    id: &str,
) -> Result<&'a mut Group, PlanError> {
    let key = (artifact.bucket.clone(), artifact.key.clone());
    let g = groups.entry(key).or_insert_with(|| Group {
        artifact: artifact.clone(),
        package: package.clone(),
        functions: Vec::new(),
        not_quick: Vec::new(),
        layers: Vec::new(),
        seed: None,
    });
    if &g.package != package {
        let other = g
            .functions
            .first()
            .map(|t| &t.logical_id)
            .or(g.not_quick.first().map(|s| &s.logical_id))
            .or(g.layers.first().map(|l| &l.logical_id))
            .cloned()
            .unwrap_or_default();
        return Err(PlanError(format!(
            "{other} and {id} share the artifact {artifact} but have different packages ({} and {}): give them the same package settings, or separate artifacts",
            g.package.folder.display(),
            package.folder.display()
        )));
    }
    Ok(g)
}

/// Adds each deployed layer whose content is a local folder to the group of its artifact,
/// with the functions that use it. A layer the stack does not have yet is a template change
/// (a full deploy); a user the quick path must not update makes a change to it need one too.
fn add_layers(
    local: &Template,
    deployed: &Deployed,
    config: &Config,
    (root, template_dir): (&Path, &Path),
    groups: &mut Groups,
) -> Result<(), PlanError> {
    let functions = local.functions();
    for (package, ids) in local_layer_packages(local, config, root, template_dir) {
        for id in ids {
            let Ok(mut artifact) = deployed
                .template
                .layer_content(&id)
                .resolve_s3(&deployed.parameters)
            else {
                continue; // A new layer, or not from S3: a template change already.
            };
            artifact.version = None;
            let version_arn = layer_version_of(deployed, &id);
            let mut layer = LayerPlan {
                logical_id: id.clone(),
                version_arn: version_arn.cloned(),
                users: Vec::new(),
            };
            let mut not_quick = Vec::new();
            let uses = serde_json::json!({ "Ref": id });
            for f in functions.iter().filter(|f| f.layers.contains(&uses)) {
                let Some(name) = deployed.physical.get(&f.logical_id) else {
                    continue; // A new function: a template change already.
                };
                match not_quick_update(f) {
                    Some(why) => not_quick.push(Skipped {
                        logical_id: f.logical_id.clone(),
                        reason: format!("it uses layer {id}, and {why}"),
                    }),
                    None => layer.users.push(Target {
                        logical_id: f.logical_id.clone(),
                        name: name.clone(),
                        aliases: aliases_of(f, config),
                    }),
                }
            }
            let g = group_for(groups, &artifact, &package, &id)?;
            g.not_quick.extend(not_quick);
            g.layers.push(layer);
        }
    }
    Ok(())
}

/// The layer version ARNs a function's template `Layers` name in the deployed stack: literal
/// ARNs as written, a `Ref` to one of the template's layers as the version the stack made.
/// `None` when it names none, or any entry is something else (a parameter, an import): then
/// what it resolves to is not known here.
pub fn layers_of(f: &FunctionDef, local: &Template, deployed: &Deployed) -> Option<Vec<String>> {
    if f.layers.is_empty() {
        return None;
    }
    let ours: Vec<String> = local.layers().into_iter().map(|(id, _)| id).collect();
    f.layers
        .iter()
        .map(|entry| match (entry.as_str(), entry["Ref"].as_str()) {
            (Some(arn), _) => Some(arn.to_owned()),
            (None, Some(id)) if ours.iter().any(|l| l == id) => {
                layer_version_of(deployed, id).cloned()
            }
            _ => None,
        })
        .collect()
}

/// The version ARN the stack made for layer `id`: its physical id. SAM renames an
/// `AWS::Serverless::LayerVersion` in the stack it makes: `<id><10 hex digits of a hash of its
/// content location>`, so the stack's resources have that name, not `id`.
fn layer_version_of<'a>(deployed: &'a Deployed, id: &str) -> Option<&'a String> {
    let sam_named = |logical: &str| {
        logical
            .strip_prefix(id)
            .is_some_and(|hash| hash.len() == 10 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    let mut found = deployed
        .physical
        .iter()
        .filter(|(logical, arn)| (*logical == id || sam_named(logical)) && !arn.is_empty());
    match (found.next(), found.next()) {
        (Some((_, arn)), None) => Some(arn),
        _ => None, // None, or more than one: which one is unknown.
    }
}

/// Where a function's code lives in the deployed stack (the artifact, without a version) and
/// which physical function with which aliases runs it; else why the quick path cannot serve it.
fn target_of(
    f: &FunctionDef,
    there: &FunctionDef,
    deployed: &Deployed,
    config: &Config,
) -> Result<(S3Object, Target), String> {
    let id = &f.logical_id;
    let mut artifact = there
        .code
        .resolve_s3(&deployed.parameters)
        .map_err(|why| format!("in the deployed stack {why}: deploy it with `quickdeploy full`"))?;
    artifact.version = None;
    let name = deployed
        .physical
        .get(id)
        .ok_or("the stack has no physical function for it")?;
    let target = Target {
        logical_id: id.clone(),
        name: name.clone(),
        aliases: aliases_of(f, config),
    };
    Ok((artifact, target))
}

/// The aliases to move after updating `f`: the template's and quickdeploy.toml's.
fn aliases_of(f: &FunctionDef, config: &Config) -> Vec<String> {
    let mut aliases = f.aliases.clone();
    if let Some(fc) = config.functions.get(&f.logical_id) {
        aliases.extend(fc.aliases.iter().cloned());
    }
    aliases.sort();
    aliases.dedup();
    aliases
}

/// Why the quick path cannot serve a function at all, whatever changes: its code is not a
/// zip it can patch.
fn not_quick_code(f: &FunctionDef) -> Option<String> {
    if let Some(why) = &f.not_quick {
        return Some(why.clone());
    }
    match f.code {
        CodeLocation::Image => Some(
            "PackageType: Image: quick deploys patch zip artifacts; a container image is built and pushed only by a full deploy (`quickdeploy full`)".into(),
        ),
        CodeLocation::Inline => Some(
            "its code is inline in the template (InlineCode or ZipFile): a template change, deployed by `quickdeploy full`".into(),
        ),
        _ => None,
    }
}

/// Why the quick path must not update a function whose zip package it can read: a change to
/// that package needs a full deploy.
fn not_quick_update(f: &FunctionDef) -> Option<String> {
    f.deployment_preference.as_ref().map(|_| {
        "it has a DeploymentPreference (CodeDeploy traffic shifting): a quick deploy would move its alias at once, past the traffic shifting and its alarms and hooks; only a full deploy shifts traffic through CodeDeploy".to_owned()
    })
}

/// Each package the local template and config describe, with the functions made from it:
/// what `full` packages and `watch` watches. Functions with inline, image or S3 code have none.
pub fn local_packages(
    local: &Template,
    config: &Config,
    root: &Path,
    template_dir: &Path,
) -> BTreeMap<PackageSpec, Vec<String>> {
    let mut packages: BTreeMap<PackageSpec, Vec<String>> = BTreeMap::new();
    let builds = crate::build::decide::plan(local, config, root, template_dir);
    for f in local.functions() {
        let Some(spec) = package_of(&f, config, root, template_dir, &builds) else {
            continue;
        };
        packages.entry(spec).or_default().push(f.logical_id.clone());
    }
    packages
}

/// Each local layer folder the template names (`Content`, `ContentUri`), with the layers made
/// from it: packaged as it is (a Python layer keeps its `python/` folder), with the config's
/// `ignore` patterns; a layer with a `BuildMethod` is its build folder (`crate::build`).
pub fn local_layer_packages(
    local: &Template,
    config: &Config,
    root: &Path,
    template_dir: &Path,
) -> BTreeMap<PackageSpec, Vec<String>> {
    let mut packages: BTreeMap<PackageSpec, Vec<String>> = BTreeMap::new();
    let builds = crate::build::decide::plan(local, config, root, template_dir);
    for (id, path) in local.local_layers() {
        let folder = match builds.output_of(&id) {
            Some(out) => out.to_owned(),
            None => normalize(&template_dir.join(path)),
        };
        let spec = PackageSpec {
            folder,
            include: Vec::new(),
            ignore: config.ignore.clone(),
        };
        packages.entry(spec).or_default().push(id);
    }
    packages
}

/// A function's package as the config and template say it; `None` when neither names a
/// local folder (inline, image or S3 code). A function quickdeploy builds (its template's
/// `BuildMethod`) is its build folder.
fn package_of(
    f: &FunctionDef,
    config: &Config,
    root: &Path,
    template_dir: &Path,
    builds: &crate::build::decide::Builds,
) -> Option<PackageSpec> {
    let fc = config
        .functions
        .get(&f.logical_id)
        .cloned()
        .unwrap_or_default();
    let folder = match (&fc.package, &f.code) {
        (Some(p), _) => root.join(p),
        (None, CodeLocation::Local(_)) if builds.output_of(&f.logical_id).is_some() => {
            builds.output_of(&f.logical_id)?.to_owned()
        }
        (None, CodeLocation::Local(p)) => template_dir.join(p),
        _ => return None,
    };
    let mut ignore = config.ignore.clone();
    ignore.extend(f.ignore.iter().cloned());
    ignore.extend(fc.ignore.iter().cloned());
    Some(PackageSpec {
        folder: normalize(&folder),
        include: fc
            .include
            .iter()
            .map(|p| normalize(&root.join(p)))
            .collect(),
        ignore,
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use std::collections::HashMap;

    fn deployed(template: &str) -> Deployed {
        Deployed {
            template: Template::parse(template).expect("deployed template"),
            parameters: HashMap::from([("Bucket".into(), "art".into())]),
            physical: HashMap::from([
                ("A".into(), "app-A-123".into()),
                ("B".into(), "app-B-456".into()),
                ("C".into(), "app-C-789".into()),
            ]),
            status: "UPDATE_COMPLETE".into(),
            tags: HashMap::new(),
        }
    }

    /// The plan of `local` against `stack`, project and template in `/p`, default config.
    fn plan_in(local: &Template, stack: &Deployed) -> Plan {
        plan(
            local,
            stack,
            &Config::default(),
            Path::new("/p"),
            Path::new("/p"),
        )
        .expect("plan")
    }

    const LOCAL: &str = r#"
Resources:
  A: {Type: AWS::Lambda::Function, Properties: {Code: ./src/shared}}
  B: {Type: AWS::Lambda::Function, Properties: {Code: src/shared/}}
  C: {Type: AWS::Lambda::Function, Properties: {Code: ./src/own}}
  D: {Type: AWS::Lambda::Function, Properties: {Code: ./src/new}}
  E: {Type: AWS::Lambda::Function, Properties: {Code: {ZipFile: "x"}}}
"#;

    const DEPLOYED: &str = r#"
Resources:
  A: {Type: AWS::Lambda::Function, Properties: {Code: {S3Bucket: !Ref Bucket, S3Key: shared.zip, S3ObjectVersion: v1}}}
  B: {Type: AWS::Lambda::Function, Properties: {Code: {S3Bucket: art, S3Key: shared.zip}}}
  C: {Type: AWS::Lambda::Function, Properties: {Code: {S3Bucket: art, S3Key: own.zip}}}
  E: {Type: AWS::Lambda::Function, Properties: {Code: {ZipFile: "x"}}}
"#;

    #[test]
    fn groups_functions_by_artifact() {
        let local = Template::parse(LOCAL).expect("local");
        let p = plan(
            &local,
            &deployed(DEPLOYED),
            &Config::default(),
            Path::new("/p"),
            Path::new("/p/cfn"),
        )
        .expect("plan");
        assert_eq!(p.groups.len(), 2);
        // Sorted by bucket and key: own.zip, then shared.zip.
        let shared = &p.groups[1];
        assert_eq!(shared.artifact.to_string(), "s3://art/shared.zip");
        assert_eq!(
            shared.artifact.version, None,
            "the patch makes a new version"
        );
        assert_eq!(shared.package.folder, Path::new("/p/cfn/src/shared"));
        let names: Vec<&str> = shared.functions.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["app-A-123", "app-B-456"]);
        assert_eq!(p.groups[0].functions[0].logical_id, "C");
        assert_eq!(p.new_functions, ["D"]);
        assert_eq!(p.skipped.len(), 1);
        assert!(p.skipped[0].reason.contains("inline"), "{:?}", p.skipped);
    }

    #[test]
    fn a_deployed_local_layer_joins_its_artifact_group_with_its_users() {
        let local = Template::parse(
            r#"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function: {Layers: [!Ref Deps], Runtime: python3.12}
Resources:
  A: {Type: AWS::Serverless::Function, Properties: {CodeUri: src/, Handler: a.h, AutoPublishAlias: live}}
  B: {Type: AWS::Serverless::Function, Properties: {CodeUri: src/, Handler: b.h, DeploymentPreference: {Type: AllAtOnce}}}
  C: {Type: AWS::Serverless::Function, Properties: {CodeUri: src/, Handler: c.h, Layers: ["arn:aws:lambda:us-east-1:1:layer:x:1"]}}
  Deps: {Type: AWS::Serverless::LayerVersion, Properties: {ContentUri: layers/deps/}}
  New: {Type: AWS::Serverless::LayerVersion, Properties: {ContentUri: layers/new/}}
"#,
        )
        .expect("local");
        let mut stack = deployed(
            r#"
Resources:
  A: {Type: AWS::Serverless::Function, Properties: {CodeUri: {Bucket: art, Key: src.zip}}}
  B: {Type: AWS::Serverless::Function, Properties: {CodeUri: {Bucket: art, Key: src.zip}}}
  C: {Type: AWS::Serverless::Function, Properties: {CodeUri: {Bucket: art, Key: src.zip}}}
  Deps: {Type: AWS::Serverless::LayerVersion, Properties: {ContentUri: {Bucket: art, Key: deps.zip, Version: v3}}}
"#,
        );
        // As SAM names the layer in the stack it makes.
        let deps1 = "arn:aws:lambda:us-east-1:1:layer:Deps-abc:1";
        stack.physical.insert("Depsa8dc2b3d32".into(), deps1.into());
        stack
            .physical
            .insert("DepsTable".into(), "not a layer".into());
        let p = plan_in(&local, &stack);
        assert_eq!(p.groups.len(), 2, "{p:?}");
        let deps = &p.groups[0];
        assert_eq!(deps.artifact.to_string(), "s3://art/deps.zip");
        assert_eq!(deps.package.folder, Path::new("/p/layers/deps"));
        assert!(deps.functions.is_empty());
        assert_eq!(deps.layers.len(), 1, "the new layer is a template change");
        let layer = &deps.layers[0];
        assert_eq!(layer.logical_id, "Deps");
        assert_eq!(layer.version_arn.as_deref(), Some(deps1));
        // SAM appends C's own Layers to the Globals' ones, so C uses Deps too.
        let users: Vec<_> = layer.users.iter().map(|t| t.logical_id.as_str()).collect();
        assert_eq!(users, ["A", "C"]);
        assert_eq!(layer.users[0].aliases, ["live"]);
        assert_eq!(deps.not_quick.len(), 1);
        assert!(
            deps.not_quick[0].reason.contains("uses layer Deps"),
            "{:?}",
            deps.not_quick
        );
    }

    #[test]
    fn a_functions_layers_resolve_to_the_stack_versions_or_stay_unknown() {
        let local = Template::parse(
            r#"
Parameters: {Shared: {Type: String}}
Resources:
  Deps: {Type: AWS::Serverless::LayerVersion, Properties: {ContentUri: layers/deps/}}
  A: {Type: AWS::Serverless::Function, Properties: {CodeUri: src/, Layers: [!Ref Deps, "arn:aws:lambda:us-east-1:1:layer:x:3"]}}
  B: {Type: AWS::Serverless::Function, Properties: {CodeUri: src/, Layers: [!Ref Shared]}}
  C: {Type: AWS::Serverless::Function, Properties: {CodeUri: src/}}
"#,
        )
        .expect("local");
        let mut stack = deployed("Resources: {}\n");
        stack.physical.insert(
            "Depsa8dc2b3d32".into(),
            "arn:aws:lambda:us-east-1:1:layer:d:4".into(),
        );
        let f = |id: &str| {
            local
                .functions()
                .into_iter()
                .find(|f| f.logical_id == id)
                .expect("function")
        };
        assert_eq!(
            layers_of(&f("A"), &local, &stack),
            Some(vec![
                "arn:aws:lambda:us-east-1:1:layer:d:4".to_owned(),
                "arn:aws:lambda:us-east-1:1:layer:x:3".to_owned()
            ])
        );
        assert_eq!(layers_of(&f("B"), &local, &stack), None, "a parameter");
        assert_eq!(layers_of(&f("C"), &local, &stack), None, "none stated");
    }

    #[test]
    fn image_and_traffic_shifted_functions_are_not_quick_deployed() {
        let local = Template::parse(
            r#"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function: {AutoPublishAlias: live, Runtime: python3.12}
Resources:
  A: {Type: AWS::Serverless::Function, Properties: {CodeUri: src/, Handler: a.h}}
  B: {Type: AWS::Serverless::Function, Properties: {CodeUri: src/, Handler: b.h, DeploymentPreference: {Type: AllAtOnce}}}
  C: {Type: AWS::Serverless::Function, Properties: {PackageType: Image, ImageUri: "repo:1"}}
"#,
        )
        .expect("local");
        let there = deployed(
            r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  A: {Type: AWS::Serverless::Function, Properties: {CodeUri: {Bucket: art, Key: src.zip}}}
  B: {Type: AWS::Serverless::Function, Properties: {CodeUri: {Bucket: art, Key: src.zip}}}
  C: {Type: AWS::Serverless::Function, Properties: {PackageType: Image, ImageUri: "repo:1"}}
"#,
        );
        let p = plan_in(&local, &there);
        assert_eq!(p.groups.len(), 1);
        let g = &p.groups[0];
        assert_eq!(g.functions.len(), 1);
        assert_eq!(g.functions[0].aliases, ["live"], "from Globals");
        assert_eq!(g.not_quick[0].logical_id, "B");
        assert!(g.not_quick[0].reason.contains("DeploymentPreference"));
        let skipped: Vec<&str> = p.skipped.iter().map(|s| s.logical_id.as_str()).collect();
        assert_eq!(skipped, ["B", "C"], "both are reported not served");
        assert!(p.skipped[1].reason.contains("Image"), "{:?}", p.skipped);
    }

    #[test]
    fn config_overrides_the_package_and_a_conflict_is_an_error() {
        let local = Template::parse(LOCAL).expect("local");
        let mut config = Config::default();
        config.functions.insert(
            "B".into(),
            crate::project::config::FunctionConfig {
                package: Some("build/b".into()),
                ..Default::default()
            },
        );
        let err = plan(
            &local,
            &deployed(DEPLOYED),
            &config,
            Path::new("/p"),
            Path::new("/p"),
        )
        .expect_err("A and B share an artifact but not a package");
        assert!(err.0.contains("share the artifact"), "{err}");
    }

    #[test]
    fn layer_folders_are_packages_of_their_own_shared_by_the_same_folder() {
        let t = Template::parse(
            "Resources:\n  A: {Type: AWS::Lambda::LayerVersion, Properties: {Content: ./layers/deps}}\n  B: {Type: AWS::Serverless::LayerVersion, Properties: {ContentUri: layers/deps/}}\n  C: {Type: AWS::Lambda::LayerVersion, Properties: {Content: {S3Bucket: b, S3Key: k}}}\n",
        )
        .expect("parse");
        let config = Config {
            ignore: vec!["*.pyc".into()],
            ..Config::default()
        };
        let layers = local_layer_packages(&t, &config, Path::new("/app"), Path::new("/app/infra"));
        assert_eq!(layers.len(), 1, "{layers:?}");
        let (spec, ids) = layers.iter().next().expect("one");
        assert_eq!(spec.folder, PathBuf::from("/app/infra/layers/deps"));
        assert!(spec.include.is_empty());
        assert_eq!(spec.ignore, ["*.pyc"]);
        assert_eq!(ids, &["A", "B"]);
    }
}
