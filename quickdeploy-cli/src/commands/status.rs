//! `quickdeploy status`: per function, what changed and what `deploy` would do. Reads only.

use crate::commands::{CommonArgs, TargetArgs};
use crate::error::{Error, Exit, Outcome};
use crate::render;

/// Show what changed since the last deploy and what `deploy` would do, without writing.
///
/// Reads the stack, each artifact's manifest and each function's CodeSha256; diffs each
/// package. Build commands are not run: for compiled functions, build first.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  quickdeploy status
  quickdeploy status --json | jq '.functions[] | select(.action != \"none\")'

Exit codes: 0 read, 1 AWS could not be read, 2 bad usage or configuration.")]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub targets: TargetArgs,
}

impl Args {
    /// JSON output.
    pub fn json(&self) -> bool {
        self.common.json(false)
    }
}

/// Runs `status`.
pub async fn run(args: Args) -> Outcome {
    let project = args.common.project()?;
    if let Some(targets) = args
        .targets
        .resolve(&project, &args.common.aws, None)
        .await?
    {
        let ui = crate::ops::Silent;
        let parallel = crate::plan::targets::PARALLEL;
        let report = crate::ops::fanout::each(
            &targets.runs,
            parallel,
            "StatusFailed",
            &ui,
            |r, _| async move {
                let s = crate::ops::status::status(r.project.clone(), &r.target.clients).await?;
                Ok((s, Exit::Success))
            },
        )
        .await;
        crate::render::targets::print_targets(args.json(), &report, render::deploy::status_lines);
        return Ok(report.exit());
    }
    let clients = args.common.clients(None).await?;
    // Nothing but a call that waits long is shown while status reads.
    let ui = crate::render::terminal::Terminal::new(args.json(), false);
    let status = crate::ops::shown(&clients, &ui, crate::ops::status::status(project, &clients))
        .await
        .map_err(|e| Error::classify(e, "StatusFailed"))?;
    if args.json() {
        render::print_json(&status);
    } else {
        render::print_lines(&render::deploy::status_lines(&status));
    }
    Ok(Exit::Success)
}
