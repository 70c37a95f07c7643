//! `quickdeploy history`: the stack's deploy timeline, newest first. Reads only.

use crate::commands::CommonArgs;
use crate::error::{Error, Exit, Outcome};
use crate::render;

/// Show what was deployed when, by whom and from which commit, newest first.
///
/// Every `deploy`, `full` and `rollback` that changes code appends an entry to the stack's
/// history (kept in the artifact bucket, shared by every machine): when, who (the caller's
/// ARN), the git commit and whether the work tree was dirty, the files changed, each
/// artifact's S3 version and CodeSha256 before and after, each function updated, and the
/// time per phase. The newest 200 entries are kept. Entry ids are what `rollback --to` takes.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  quickdeploy history                           # the last 20 entries
  quickdeploy history --function HelloFunction  # only the entries that changed it
  quickdeploy history --limit 200 --json | jq '.entries[] | {id, kind, who}'
  quickdeploy rollback --to 12                  # back to the code right after entry #12

Exit codes: 0 read (an empty history too), 1 S3 could not be read, 2 bad usage or
configuration (no artifact bucket).")]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub targets: crate::commands::TargetArgs,
    /// Only entries that changed this function (logical id, name, or a CDK construct path).
    #[arg(long, value_name = "FUNCTION")]
    pub function: Option<String>,
    /// Show at most this many entries.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub limit: usize,
}

impl Args {
    /// JSON output.
    pub fn json(&self) -> bool {
        self.common.json(false)
    }
}

/// Runs `history`.
pub async fn run(args: Args) -> Outcome {
    let project = args.common.project()?;
    if let Some(targets) = args
        .targets
        .resolve(&project, &args.common.aws, None)
        .await?
    {
        let ui = crate::ops::Silent;
        let parallel = crate::plan::targets::PARALLEL;
        let (function, limit) = (args.function.as_deref(), args.limit);
        let report = crate::ops::fanout::each(
            &targets.runs,
            parallel,
            "HistoryFailed",
            &ui,
            |r, _| async move {
                let h =
                    crate::ops::history::history(&r.project, &r.target.clients, function, limit)
                        .await?;
                Ok((h, Exit::Success))
            },
        )
        .await;
        crate::render::targets::print_targets(args.json(), &report, render::history::history_lines);
        return Ok(report.exit());
    }
    let clients = args.common.clients(None).await?;
    let report =
        crate::ops::history::history(&project, &clients, args.function.as_deref(), args.limit)
            .await
            .map_err(|e| Error::classify(e, "HistoryFailed"))?;
    if args.json() {
        render::print_json(&report);
    } else {
        render::print_lines(&render::history::history_lines(&report));
    }
    Ok(Exit::Success)
}
