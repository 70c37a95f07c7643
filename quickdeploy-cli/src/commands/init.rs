//! `quickdeploy init`: write a commented `quickdeploy.toml` from the template it finds.

use std::path::PathBuf;

use anyhow::anyhow;

use crate::error::{Error, Exit};
use crate::ops::init::Options;
use crate::render::print_line;

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

/// Runs `init`.
pub fn run(args: Args) -> crate::error::Outcome {
    let dir = std::env::current_dir().map_err(|e| Error::bad_input("BadInput", anyhow!(e)))?;
    let report = crate::ops::init::init(&Options {
        dir,
        template: args.template,
        stack: args.stack,
        bucket: args.bucket,
        force: args.force,
    })?;
    print_line(&format!(
        "wrote {} for stack {} with {} function(s) from {}",
        report.path.display(),
        report.stack,
        report.functions,
        report.template.display()
    ));
    Ok(Exit::Success)
}
