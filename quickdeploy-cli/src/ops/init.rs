//! `init`: write a commented `quickdeploy.toml` from the template it finds.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use serde::Serialize;

use crate::config::FILE_NAME;
use crate::error::Error;
use crate::template::{CodeLocation, Template};

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
}

/// Writes `quickdeploy.toml` in `opts.dir`. Every failure is bad input (exit 2): the file
/// exists (without `force`), no template, an unreadable or invalid one, an unwritable folder.
pub fn init(opts: &Options) -> Result<Report, Error> {
    let bad = |e: anyhow::Error| Error::bad_input("BadInput", e);
    let target = opts.dir.join(FILE_NAME);
    if target.exists() && !opts.force {
        return Err(bad(anyhow!(
            "{} exists already: pass --force to replace it",
            target.display()
        )));
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
    let stack = opts.stack.clone().unwrap_or_else(|| {
        opts.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "my-app".into())
    });
    let body = render(&template, &stack, opts.bucket.as_deref(), &parsed);
    std::fs::write(&target, body)
        .with_context(|| format!("cannot write {}", target.display()))
        .map_err(bad)?;
    Ok(Report {
        path: target,
        stack,
        template,
        functions: parsed.functions().len(),
    })
}

/// A TOML string, quoted and escaped as TOML wants it (not as Rust's `{:?}` does).
fn string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// A TOML key: bare when it can be, else quoted.
fn key(s: &str) -> String {
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
    for f in t.functions() {
        s.push_str(&format!("\n[functions.{}]\n", key(&f.logical_id)));
        match &f.code {
            CodeLocation::Local(p) => s.push_str(&format!(
                "# package = {}    # from the template; set it for a build output folder\n",
                string(&p.to_string_lossy())
            )),
            _ => s.push_str(
                "# package = \"build/out\"    # the template names no local folder: set one\n",
            ),
        }
        s.push_str("# build = \"make build\"     # run before packaging\n");
        s.push_str("# include = [\"../shared\"]  # extra paths that belong to the package\n");
        s.push_str("# ignore = [\"tests/\"]\n");
        s.push_str("# aliases = [\"live\"]          # publish a version and move these after each deploy\n");
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
        let c = crate::config::Config::parse(&text, Path::new("q")).expect("valid toml");
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
        let c: crate::config::Config = toml::from_str(&text).expect("valid toml");
        assert_eq!(c.stack, stack);
        assert_eq!(c.template, template_path);
        assert_eq!(c.artifact_bucket.as_deref(), Some(bucket));
        assert!(c.functions.contains_key("Api"));
        let debug_escaped = format!("stack = {stack:?}\ntemplate = \"t\"\n");
        assert!(
            toml::from_str::<crate::config::Config>(&debug_escaped).is_err(),
            "the old way should fail here: {debug_escaped}"
        );
    }

    #[test]
    fn keys_are_bare_when_they_can_be() {
        assert_eq!(key("HelloFunction"), "HelloFunction");
        assert_eq!(key("a-b_c9"), "a-b_c9");
        assert_eq!(key("a.b"), "\"a.b\"");
        assert_eq!(key(""), "\"\"");
    }
}
