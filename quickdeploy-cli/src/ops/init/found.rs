//! What `init` found and wrote: its options, its report, what a template says that decides
//! what a quick deploy does ([`Found`]), and the TOML spelling both file writers use. Shared
//! by the template path (`mod.rs`) and the CDK one (`cdk.rs`).

use std::path::PathBuf;

use serde::Serialize;

use crate::project::template::{CodeLocation, FunctionDef, Template};

/// What to write, and where.
#[derive(Debug, Clone)]
pub struct Options {
    /// The project's folder: the file goes here, and paths are relative to it.
    pub dir: PathBuf,
    /// The template (relative to `dir`); `None`: the first of [`CANDIDATES`] found.
    pub template: Option<PathBuf>,
    /// The stack name; `None`: the folder's name.
    pub stack: Option<String>,
    /// The bucket full deploys upload artifacts to.
    pub bucket: Option<String>,
    /// Replace an existing quickdeploy.toml.
    pub force: bool,
}

/// What `init` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The file written.
    pub path: PathBuf,
    /// The stack it names.
    pub stack: String,
    /// The template it names.
    pub template: PathBuf,
    /// How many functions the template declares (one section each).
    pub functions: usize,
    /// What the template says that decides what a quick deploy does.
    pub found: Found,
    /// A CDK app's stacks and functions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cdk: Option<CdkFound>,
}

/// What `init` found in the template.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Found {
    /// Every function, by logical id.
    pub functions: Vec<String>,
    /// Packages (local code folders) that more than one function is made from, with them.
    pub shared_packages: Vec<(PathBuf, Vec<String>)>,
    /// The aliases SAM's `Globals.Function.AutoPublishAlias` gives every function.
    pub globals_aliases: Vec<String>,
    /// Aliases per function, from the template (`AutoPublishAlias`, `AWS::Lambda::Alias`).
    pub aliases: Vec<(String, Vec<String>)>,
    /// The layers the template declares, with their local folders.
    pub layers: Vec<(String, Option<PathBuf>)>,
    /// The functions whose `Layers` name each layer (`!Ref`, their own or from Globals).
    pub layer_users: std::collections::BTreeMap<String, Vec<String>>,
    /// `Metadata.BuildMethod` per function that has one.
    pub build_methods: Vec<(String, String)>,
    /// How each layer with a `BuildMethod` is built (the method and the architecture it is
    /// built for, as `full` and `deploy` build it), or why it is not.
    pub layer_builds: std::collections::BTreeMap<String, String>,
    /// Functions the quick path never updates, and why.
    pub not_quick: Vec<(String, String)>,
}

impl Found {
    /// Reads `t`.
    pub fn of(t: &Template) -> Self {
        let fs = t.functions();
        let mut packages: std::collections::BTreeMap<PathBuf, Vec<String>> = Default::default();
        let mut found = Found {
            functions: fs.iter().map(|f| f.logical_id.clone()).collect(),
            globals_aliases: t
                .doc
                .pointer("/Globals/Function/AutoPublishAlias")
                .and_then(serde_json::Value::as_str)
                .map(|a| vec![a.to_owned()])
                .unwrap_or_default(),
            layers: t.layers(),
            ..Found::default()
        };
        for f in &fs {
            let id = f.logical_id.clone();
            // A CDK bundle's "folder" is where esbuild ran, not a package its functions share.
            let bundle = f.build_method.as_deref() == Some(crate::project::template::BUNDLE_METHOD);
            if let (CodeLocation::Local(p), false) = (&f.code, bundle) {
                let folder: PathBuf = p
                    .components()
                    .filter(|c| !matches!(c, std::path::Component::CurDir))
                    .collect();
                packages.entry(folder).or_default().push(id.clone());
            }
            if !f.aliases.is_empty() {
                found.aliases.push((id.clone(), f.aliases.clone()));
            }
            for (layer, _) in &found.layers {
                if f.layers.contains(&serde_json::json!({ "Ref": layer })) {
                    found
                        .layer_users
                        .entry(layer.clone())
                        .or_default()
                        .push(id.clone());
                }
            }
            if let Some(m) = &f.build_method {
                found.build_methods.push((id.clone(), m.clone()));
            }
            if let Some(why) = not_quick(f) {
                found.not_quick.push((id, why.to_owned()));
            }
        }
        found.shared_packages = packages.into_iter().filter(|(_, f)| f.len() > 1).collect();
        // The same decision the builds make (no quickdeploy.toml yet: no overrides).
        let here = std::path::Path::new(".");
        let builds = crate::build::decide::plan(t, &Default::default(), here, here);
        for b in &builds.items {
            for id in b
                .ids
                .iter()
                .filter(|id| found.layers.iter().any(|(l, _)| l == *id))
            {
                let how = match &b.method {
                    crate::build::method::Method::Unsupported { why, .. } => {
                        format!("not built: {why}")
                    }
                    m => format!("built by BuildMethod {} for {}", m.name(), b.architecture),
                };
                found.layer_builds.insert(id.clone(), how);
            }
        }
        found
    }
}

/// Why the quick path never updates `f`, in a few words.
pub fn not_quick(f: &FunctionDef) -> Option<&'static str> {
    match (&f.code, &f.deployment_preference) {
        (CodeLocation::Image, _) => Some("PackageType: Image; `quickdeploy full` deploys it"),
        (CodeLocation::Inline, _) => Some("inline code; `quickdeploy full` deploys it"),
        (_, Some(_)) => Some(
            "DeploymentPreference (CodeDeploy traffic shifting); a change to its package needs `quickdeploy full`",
        ),
        _ => None,
    }
}

/// A TOML string, quoted and escaped as TOML wants it (not as Rust's `{:?}` does).
pub fn string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// A TOML key: bare when it can be, else quoted.
pub fn key(s: &str) -> String {
    let bare = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare { s.to_owned() } else { string(s) }
}

/// What `init` found in a CDK app.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CdkFound {
    /// Every stack of the app, in the assembly's order.
    pub stacks: Vec<CdkStack>,
}

/// One stack of a CDK app.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CdkStack {
    /// Its CloudFormation name.
    pub name: String,
    /// Its CDK path (`Stage/Api`).
    pub display_name: String,
    /// `aws://ACCOUNT/REGION`.
    pub environment: String,
    /// Its functions.
    pub functions: Vec<CdkFunction>,
}

/// One function of a CDK stack.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CdkFunction {
    /// Its logical id.
    pub logical_id: String,
    /// Its construct path (`Api/getOneItemFunction`).
    pub construct_path: String,
    /// Where its code comes from, in words.
    pub source: String,
    /// Why it is not quick-deployable; `None` when it is.
    pub not_quick: Option<String>,
}
