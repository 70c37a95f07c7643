//! `init`: write a commented `quickdeploy.toml` from the template it finds, or for the CDK
//! app it is in ([`cdk`]).

pub mod cdk;

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use serde::Serialize;

use crate::error::Error;
use crate::project::config::FILE_NAME;
use crate::project::template::{CodeLocation, FunctionDef, Template};

/// The templates looked for, in order, when none is named.
pub const CANDIDATES: &[&str] = &[
    "template.yaml",
    "template.yml",
    "template.json",
    "cfn/template.yaml",
    "cfn/template.yml",
];

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
    pub cdk: Option<cdk::CdkFound>,
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
fn not_quick(f: &FunctionDef) -> Option<&'static str> {
    match (&f.code, &f.deployment_preference) {
        (CodeLocation::Image, _) => Some("PackageType: Image; `quickdeploy full` deploys it"),
        (CodeLocation::Inline, _) => Some("inline code; `quickdeploy full` deploys it"),
        (_, Some(_)) => Some(
            "DeploymentPreference (CodeDeploy traffic shifting); a change to its package needs `quickdeploy full`",
        ),
        _ => None,
    }
}

/// Writes `quickdeploy.toml` in `opts.dir`. Every failure is bad input (exit 2): the file
/// exists (without `force`), no template, an unreadable or invalid one, an unwritable folder.
pub fn init(opts: &Options, ui: &dyn crate::ops::Ui) -> Result<Report, Error> {
    let bad = |e: anyhow::Error| Error::bad_input("BadInput", e);
    let target = opts.dir.join(FILE_NAME);
    if target.exists() && !opts.force {
        return Err(bad(anyhow!(
            "{} exists already: pass --force to replace it",
            target.display()
        )));
    }
    let no_template =
        opts.template.is_none() && !CANDIDATES.iter().any(|p| opts.dir.join(p).is_file());
    if no_template && opts.dir.join(crate::project::cdk::CDK_JSON).is_file() {
        return cdk::init(opts, ui);
    }
    let template = match &opts.template {
        Some(t) => t.clone(),
        None => CANDIDATES
            .iter()
            .map(PathBuf::from)
            .find(|p| opts.dir.join(p).is_file())
            .ok_or_else(|| {
                bad(anyhow!(
                    "no template found ({}): pass --template",
                    CANDIDATES.join(", ")
                ))
            })?,
    };
    let text = std::fs::read_to_string(opts.dir.join(&template))
        .with_context(|| format!("cannot read {}", template.display()))
        .map_err(bad)?;
    let parsed = Template::parse(&text)
        .map_err(|e| bad(anyhow!(e).context(format!("template {}", template.display()))))?;
    // A name the user gives must be one AWS takes; the folder's name is made into one.
    let stack = match &opts.stack {
        Some(name) => {
            crate::project::names::check_stack(name).map_err(|e| bad(anyhow!("--stack: {e}")))?;
            name.clone()
        }
        None => crate::project::names::suggest_stack(
            &opts
                .dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "my-app".into()),
        ),
    };
    if let Some(bucket) = &opts.bucket {
        crate::project::names::check_bucket(bucket).map_err(|e| bad(anyhow!("--bucket: {e}")))?;
    }
    let body = render(&template, &stack, opts.bucket.as_deref(), &parsed);
    std::fs::write(&target, body)
        .with_context(|| format!("cannot write {}", target.display()))
        .map_err(bad)?;
    Ok(Report {
        path: target,
        stack,
        template,
        functions: parsed.functions().len(),
        found: Found::of(&parsed),
        cdk: None,
    })
}

/// A TOML string, quoted and escaped as TOML wants it (not as Rust's `{:?}` does).
pub(crate) fn string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// A TOML key: bare when it can be, else quoted.
pub(crate) fn key(s: &str) -> String {
    let bare = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare { s.to_owned() } else { string(s) }
}

/// The file's text: the settings given, and every other one commented out with an example.
pub fn render(template: &Path, stack: &str, bucket: Option<&str>, t: &Template) -> String {
    let mut s = String::new();
    s.push_str(
        "# quickdeploy.toml: what the template cannot say. Paths are relative to this file.\n\n",
    );
    s.push_str("# The CloudFormation stack the app is deployed as.\n");
    s.push_str(&format!("stack = {}\n", string(stack)));
    s.push_str("# The template (YAML or JSON, CloudFormation or SAM).\n");
    s.push_str(&format!(
        "template = {}\n",
        string(&template.to_string_lossy())
    ));
    s.push_str("# Where `quickdeploy full` uploads artifacts.\n");
    match bucket {
        Some(b) => s.push_str(&format!("artifact_bucket = {}\n", string(b))),
        None => s.push_str("# artifact_bucket = \"my-artifacts\"\n"),
    }
    s.push_str("# The zipedit patcher's function name (`quickdeploy bootstrap` installs it).\n");
    s.push_str("# patcher = \"quickdeploy-zipedit\"\n");
    s.push_str(
        "# More dependency files, besides Cargo.lock, package-lock.json, requirements*.txt, ...\n",
    );
    s.push_str("# dependency_files = [\"deps.lock\"]\n");
    s.push_str("# Ignore patterns (gitignore syntax) for every package.\n");
    s.push_str("# ignore = [\"tests/\", \"*.md\"]\n");
    let found = Found::of(t);
    for (folder, fs) in &found.shared_packages {
        s.push_str(&format!(
            "\n# {} share the package {}: one artifact, patched once per deploy.",
            fs.join(", "),
            folder.display()
        ));
    }
    if !found.shared_packages.is_empty() {
        s.push('\n');
    }
    for f in t.functions() {
        s.push_str(&format!("\n[functions.{}]\n", key(&f.logical_id)));
        match &f.code {
            CodeLocation::Local(p) => s.push_str(&format!(
                "# package = {}    # from the template; set it for a build output folder\n",
                string(&p.to_string_lossy())
            )),
            CodeLocation::Image | CodeLocation::Inline => {}
            _ => s.push_str(
                "# package = \"build/out\"    # the template names no local folder: set one\n",
            ),
        }
        if let Some(m) = &f.build_method {
            let props = &t.doc["Resources"][&f.logical_id]["Metadata"]["BuildProperties"];
            s.push_str(&match crate::build::method::method_of(&f.logical_id, m, props) {
                crate::build::method::Method::Unsupported { why, .. } => format!("# {why}\n"),
                _ => format!(
                    "# quickdeploy builds it (BuildMethod {m}) into .quickdeploy/build/; `package` or `build` here take over\n"
                ),
            });
        }
        if let Some(why) = not_quick(&f) {
            s.push_str(&format!("# not quick-deployed: {why}\n"));
        }
        if matches!(f.code, CodeLocation::Image | CodeLocation::Inline) {
            continue;
        }
        s.push_str("# build = \"make build\"     # run before packaging\n");
        s.push_str(
            "# include = [\"lib/common\"]  # more paths for its package, relative to this file (not to the package); each goes in under its own name\n",
        );
        s.push_str("# ignore = [\"tests/\"]\n");
        if !f.aliases.is_empty() {
            s.push_str(&format!(
                "# aliases from the template: {} (moved to a new version after each quick deploy; nothing to set)\n",
                f.aliases.join(", ")
            ));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> Template {
        Template::parse(
            "Resources:\n  Api:\n    Type: AWS::Lambda::Function\n    Properties:\n      Code: ./src\n",
        )
        .expect("template")
    }

    #[test]
    fn the_rendered_file_is_a_valid_config() {
        let text = render(Path::new("template.yaml"), "app", Some("bkt"), &template());
        let c = crate::project::config::Config::parse(&text, Path::new("q")).expect("valid toml");
        assert_eq!(c.stack, "app");
        assert_eq!(c.artifact_bucket.as_deref(), Some("bkt"));
        assert!(c.functions.contains_key("Api"));
        // Plain values read as before: basic strings in double quotes.
        assert!(text.contains("stack = \"app\"\n"), "{text}");
        assert!(text.contains("template = \"template.yaml\"\n"), "{text}");
        assert!(text.contains("artifact_bucket = \"bkt\"\n"), "{text}");
        assert!(text.contains("# package = \"./src\""), "{text}");
    }

    #[test]
    fn names_with_quotes_backslashes_tabs_and_non_ascii_round_trip() {
        // A quote, a backslash, a tab, non-ASCII letters, and an é written as e + U+0301 (as
        // macOS spells file names), which Rust's `{:?}` writes as `\u{301}`: not TOML.
        let stack = "my \"app\"\\stage\tÜber-ñ-cafe\u{301}";
        let template_path = Path::new("cfn\\dir \"x\"/tëmplate\t1.yaml");
        let bucket = "bkt'\\\"é";
        let text = render(template_path, stack, Some(bucket), &template());
        let c: crate::project::config::Config = toml::from_str(&text).expect("valid toml");
        assert_eq!(c.stack, stack);
        assert_eq!(c.template, template_path);
        assert_eq!(c.artifact_bucket.as_deref(), Some(bucket));
        assert!(c.functions.contains_key("Api"));
        let debug_escaped = format!("stack = {stack:?}\ntemplate = \"t\"\n");
        assert!(
            toml::from_str::<crate::project::config::Config>(&debug_escaped).is_err(),
            "the old way should fail here: {debug_escaped}"
        );
    }

    #[test]
    fn writes_what_the_template_says_and_only_that() {
        let t = Template::parse(
            r#"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function: {AutoPublishAlias: live, CodeUri: src/, Runtime: python3.12}
Resources:
  A: {Type: AWS::Serverless::Function, Properties: {Handler: a.h}}
  B: {Type: AWS::Serverless::Function, Properties: {Handler: b.h, CodeUri: ./src}}
  C: {Type: AWS::Serverless::Function, Properties: {Handler: c.h, CodeUri: c/, Layers: [!Ref Deps], DeploymentPreference: {Type: AllAtOnce}}, Metadata: {BuildMethod: esbuild}}
  Deps: {Type: AWS::Serverless::LayerVersion, Properties: {ContentUri: layers/deps}}
"#,
        )
        .expect("template");
        let text = render(Path::new("template.yaml"), "app", None, &t);
        let c = crate::project::config::Config::parse(&text, Path::new("q")).expect("valid toml");
        // Aliases come from the template: none is written as a setting.
        assert!(c.functions.values().all(|f| f.aliases.is_empty()), "{text}");
        assert!(!text.contains("# aliases = "), "{text}");
        assert!(text.contains("# aliases from the template: live"), "{text}");
        assert!(text.contains("A, B share the package src"), "{text}");
        assert!(text.contains("relative to this file"), "{text}");
        assert!(text.contains("BuildMethod esbuild"), "{text}");
        assert!(
            text.contains("# not quick-deployed: DeploymentPreference"),
            "{text}"
        );

        let found = Found::of(&t);
        assert_eq!(found.globals_aliases, ["live"]);
        assert_eq!(found.functions, ["A", "B", "C"]);
        assert_eq!(found.shared_packages.len(), 1);
        assert_eq!(found.layers[0].0, "Deps");
        assert_eq!(found.layer_users["Deps"], ["C"]);
        assert_eq!(
            found.build_methods,
            [("C".to_owned(), "esbuild".to_owned())]
        );
        assert_eq!(found.not_quick[0].0, "C");

        // A plain function without aliases gets no aliases line at all.
        let plain = render(Path::new("t"), "app", None, &template());
        assert!(!plain.contains("aliases"), "{plain}");
    }

    #[test]
    fn keys_are_bare_when_they_can_be() {
        assert_eq!(key("HelloFunction"), "HelloFunction");
        assert_eq!(key("a-b_c9"), "a-b_c9");
        assert_eq!(key("a.b"), "\"a.b\"");
        assert_eq!(key(""), "\"\"");
    }
}
