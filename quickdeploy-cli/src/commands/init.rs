//! `quickdeploy init`: write a commented `quickdeploy.toml` from the template it finds.

use std::path::PathBuf;

use anyhow::anyhow;

use crate::error::{Error, Exit};
use crate::ops::init::Options;
use crate::render::print_line;

/// Write a commented quickdeploy.toml for the template in this folder.
///
/// Looks for template.yaml, template.yml, template.json (here, then in cfn/), or takes
/// --template; in a CDK app (a cdk.json and no template), synthesizes it and reads its cloud
/// assembly instead. Reports what it found (stacks, functions and their sources, shared
/// packages, aliases, layers, build methods, what is not quick-deployable) and writes only
/// what is true.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  quickdeploy init
  quickdeploy init --template infra/app.yaml --stack my-app --bucket my-artifacts
  quickdeploy init --stack ApiStack          # in a CDK app: which of its stacks

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

/// Runs `init`.
pub fn run(args: Args) -> crate::error::Outcome {
    let dir = std::env::current_dir().map_err(|e| Error::bad_input("BadInput", anyhow!(e)))?;
    let ui = crate::render::terminal::Terminal::new(false, true);
    let report = crate::ops::init::init(
        &Options {
            dir,
            template: args.template,
            stack: args.stack,
            bucket: args.bucket,
            force: args.force,
        },
        &ui,
    )?;
    print_line(&format!(
        "wrote {} for stack {} with {} function(s) from {}",
        report.path.display(),
        report.stack,
        report.functions,
        report.template.display()
    ));
    let f = &report.found;
    let pairs = |v: &[(String, String)]| {
        v.iter()
            .map(|(a, b)| format!("{a} ({b})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut lines = vec![format!("  functions: {}", f.functions.join(", "))];
    for (folder, fs) in &f.shared_packages {
        lines.push(format!(
            "  shared package {}: {}",
            folder.display(),
            fs.join(", ")
        ));
    }
    if !f.globals_aliases.is_empty() {
        lines.push(format!(
            "  aliases from Globals (AutoPublishAlias): {}: moved after every quick deploy",
            f.globals_aliases.join(", ")
        ));
    }
    let aliases: Vec<_> = f
        .aliases
        .iter()
        .map(|(id, a)| (id.clone(), a.join(", ")))
        .collect();
    if !aliases.is_empty() {
        lines.push(format!("  aliases: {}", pairs(&aliases)));
    }
    if !f.layers.is_empty() {
        for (id, p) in &f.layers {
            let at = p
                .as_ref()
                .map(|p| format!(" ({})", p.display()))
                .unwrap_or_default();
            let users = match f.layer_users.get(id) {
                Some(users) => format!("used by {}", users.join(", ")),
                None => "no function names it".to_owned(),
            };
            let built = match f.layer_builds.get(id) {
                Some(how) => format!("; {how}"),
                None => String::new(),
            };
            lines.push(format!("  layer {id}{at}: {users}{built}"));
        }
    }
    if !f.build_methods.is_empty() {
        lines.push(format!("  build methods: {}", pairs(&f.build_methods)));
    }
    if !f.not_quick.is_empty() {
        lines.push(format!("  not quick-deployed: {}", pairs(&f.not_quick)));
    }
    for st in report.cdk.iter().flat_map(|c| &c.stacks) {
        lines.push(format!(
            "  CDK stack {} ({}){}",
            st.name,
            st.environment,
            if st.name == report.stack {
                ": the one quickdeploy.toml names"
            } else {
                ""
            }
        ));
        for f in &st.functions {
            lines.push(format!(
                "    {} ({}): {}",
                f.construct_path, f.logical_id, f.source
            ));
            if let Some(why) = &f.not_quick {
                lines.push(format!("      not quick-deployed: {why}"));
            }
        }
    }
    for l in lines {
        print_line(&l);
    }
    Ok(Exit::Success)
}
