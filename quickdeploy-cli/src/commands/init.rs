//! `quickdeploy init`: write a commented `quickdeploy.toml` from the template it finds.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};

use crate::config::FILE_NAME;
use crate::error::{Error, Exit};
use crate::template::{CodeLocation, Template};

/// Write a commented quickdeploy.toml for the template in this folder.
///
/// Looks for template.yaml, template.yml, template.json (here, then in cfn/), or takes
/// --template; lists its functions with their package folders.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  quickdeploy init
  quickdeploy init --template infra/app.yaml --stack my-app --bucket my-artifacts

Exit codes: 0 written, 2 bad usage (no template found, or quickdeploy.toml exists and no --force).")]
pub struct Args {
    /// The template (default: the first of template.yaml, template.yml, template.json,
    /// cfn/template.yaml found here).
    #[arg(long, value_name = "FILE")]
    template: Option<PathBuf>,
    /// The stack name (default: this folder's name).
    #[arg(long)]
    stack: Option<String>,
    /// The bucket full deploys upload artifacts to.
    #[arg(long, value_name = "BUCKET")]
    bucket: Option<String>,
    /// Replace an existing quickdeploy.toml.
    #[arg(long)]
    force: bool,
}

const CANDIDATES: &[&str] = &[
    "template.yaml",
    "template.yml",
    "template.json",
    "cfn/template.yaml",
    "cfn/template.yml",
];

/// Runs `init`.
pub fn run(args: Args) -> crate::error::Outcome {
    let bad = |e: anyhow::Error| Error::new(Exit::BadInput, "BadInput", e);
    let cwd = std::env::current_dir().map_err(|e| bad(anyhow!(e)))?;
    let target = cwd.join(FILE_NAME);
    if target.exists() && !args.force {
        return Err(bad(anyhow!(
            "{} exists already: pass --force to replace it",
            target.display()
        )));
    }
    let template = match args.template {
        Some(t) => t,
        None => CANDIDATES
            .iter()
            .map(PathBuf::from)
            .find(|p| cwd.join(p).is_file())
            .ok_or_else(|| {
                bad(anyhow!(
                    "no template found ({}): pass --template",
                    CANDIDATES.join(", ")
                ))
            })?,
    };
    let text = std::fs::read_to_string(cwd.join(&template))
        .with_context(|| format!("cannot read {}", template.display()))
        .map_err(bad)?;
    let parsed = Template::parse(&text)
        .map_err(|e| bad(anyhow!(e).context(format!("template {}", template.display()))))?;
    let stack = args.stack.unwrap_or_else(|| {
        cwd.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "my-app".into())
    });
    let body = render(&template, &stack, args.bucket.as_deref(), &parsed);
    std::fs::write(&target, body)
        .with_context(|| format!("cannot write {}", target.display()))
        .map_err(bad)?;
    println!(
        "wrote {} for stack {stack} with {} function(s) from {}",
        target.display(),
        parsed.functions().len(),
        template.display()
    );
    Ok(Exit::Success)
}

fn render(template: &Path, stack: &str, bucket: Option<&str>, t: &Template) -> String {
    let mut s = String::new();
    s.push_str(
        "# quickdeploy.toml: what the template cannot say. Paths are relative to this file.\n\n",
    );
    s.push_str("# The CloudFormation stack the app is deployed as.\n");
    s.push_str(&format!("stack = {:?}\n", stack));
    s.push_str("# The template (YAML or JSON, CloudFormation or SAM).\n");
    s.push_str(&format!("template = {:?}\n", template.to_string_lossy()));
    s.push_str("# Where `quickdeploy full` uploads artifacts.\n");
    match bucket {
        Some(b) => s.push_str(&format!("artifact_bucket = {b:?}\n")),
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
        s.push_str(&format!("\n[functions.{}]\n", f.logical_id));
        match &f.code {
            CodeLocation::Local(p) => s.push_str(&format!(
                "# package = {:?}    # from the template; set it for a build output folder\n",
                p.to_string_lossy()
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

    #[test]
    fn the_rendered_file_is_a_valid_config() {
        let t = Template::parse(
            "Resources:\n  Api:\n    Type: AWS::Lambda::Function\n    Properties:\n      Code: ./src\n",
        )
        .expect("template");
        let text = render(Path::new("template.yaml"), "app", Some("bkt"), &t);
        let c = crate::config::Config::parse(&text, Path::new("q")).expect("valid toml");
        assert_eq!(c.stack, "app");
        assert_eq!(c.artifact_bucket.as_deref(), Some("bkt"));
        assert!(c.functions.contains_key("Api"));
    }
}
