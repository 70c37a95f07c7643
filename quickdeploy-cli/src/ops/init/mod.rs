//! `init`: write a commented `quickdeploy.toml` from the template it finds, or for the CDK
//! app it is in ([`cdk`]).

pub mod cdk;
pub mod found;

pub use found::{Found, Options, Report};
use found::{key, not_quick, string};

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};

use crate::error::Error;
use crate::project::config::FILE_NAME;
use crate::project::template::{CodeLocation, Template};

/// The templates looked for, in order, when none is named.
pub const CANDIDATES: &[&str] = &[
    "template.yaml",
    "template.yml",
    "template.json",
    "cfn/template.yaml",
    "cfn/template.yml",
];

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
