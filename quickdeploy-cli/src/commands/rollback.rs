//! `quickdeploy rollback`: functions back to an earlier artifact version from the history.

use std::io::IsTerminal as _;
use std::time::Duration;

use crate::commands::CommonArgs;
use crate::error::{Error, Outcome};
use crate::history::pick::{Pick, PickError};
use crate::lambda::pace::Pace;
use crate::ops::rollback::{RollbackOptions, rollback};
use crate::render::{self, terminal::Terminal};
use crate::stack::consent::Consent;

/// Point functions back at the code of an earlier deploy, in seconds.
///
/// Takes the artifact versions from `quickdeploy history`, points each function at its
/// earlier version (UpdateFunctionCode guarded by the RevisionId read, so a function someone
/// deployed meanwhile is left alone), waits until it is live, publishes a version for its
/// aliases, and makes the earlier version the artifact's current one again (with its
/// manifest), so the next `deploy` diffs against what runs. The rollback is recorded in the
/// history too: `rollback --steps 1` right after undoes it.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  quickdeploy rollback                         # undo the last deploy (asks on a terminal)
  quickdeploy rollback --steps 2 --yes         # undo the last two, no question
  quickdeploy rollback --to 12 --ci            # the code right after history entry #12
  quickdeploy rollback --function ReportFunction   # undo that function's last change only

A rollback across a `full` deploy (template or dependencies changed since) is refused,
since the old code may not match the stack's configuration: --force overrides. Without a
terminal, rollback needs --yes or --ci. A version the bucket's lifecycle rule expired is
named in the error, before anything is changed.

Exit codes: 0 rolled back (or nothing to do, or cancelled), 1 a function or an artifact
could not be rolled back (a RevisionId conflict: someone deployed meanwhile) or a version
has expired, 2 bad usage or configuration (no such entry or function), 3 refused: no
consent without a terminal, or it crosses a full deploy without --force.")]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub targets: crate::commands::TargetArgs,
    /// Go back to the code right after this history entry.
    #[arg(long, value_name = "ID", conflicts_with = "steps")]
    pub to: Option<u64>,
    /// Undo the newest N entries (of the functions asked for).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub steps: Option<u16>,
    /// Only this function (logical id, name, or a CDK construct path; repeatable).
    #[arg(long = "function", value_name = "FUNCTION")]
    pub functions: Vec<String>,
    /// Roll back even across a full deploy.
    #[arg(long)]
    pub force: bool,
    /// Roll back without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// For pipelines: never ask, JSON output unless --output human.
    #[arg(long)]
    pub ci: bool,
    /// Update at most this many functions at once.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub concurrency: u16,
    /// Give up on a function still InProgress after this many seconds.
    #[arg(long, default_value_t = 600, value_name = "SECONDS")]
    pub wait_timeout: u64,
}

impl Args {
    /// JSON output.
    pub fn json(&self) -> bool {
        self.common.json(self.ci)
    }

    /// The typed options of these arguments.
    pub fn options(&self) -> RollbackOptions {
        RollbackOptions {
            pick: match self.to {
                Some(id) => Pick::To(id),
                None => Pick::Steps(self.steps.unwrap_or(1).into()),
            },
            functions: self.functions.clone(),
            force: self.force,
            consent: Consent {
                yes: self.yes || self.ci,
                allow_removals: false,
                terminal: !self.ci && std::io::stdin().is_terminal(),
            },
            pace: Pace {
                concurrency: self.concurrency.into(),
                timeout: Duration::from_secs(self.wait_timeout),
                ..Pace::default()
            },
        }
    }
}

/// Runs `rollback`.
pub async fn run(args: Args) -> Outcome {
    let json = args.json();
    let project = args.common.project()?;
    if let Some(targets) = args
        .targets
        .resolve(&project, &args.common.aws, None)
        .await?
    {
        let opts = args.options();
        // Questions one target at a time; with consent given, every target at once.
        let parallel = if opts.consent.yes {
            crate::plan::targets::PARALLEL
        } else {
            1
        };
        let ui = Terminal::new(json, true);
        let opts = &opts;
        let report = crate::ops::fanout::each(
            &targets.runs,
            parallel,
            "RollbackFailed",
            &ui,
            |r, ui| async move {
                let done = rollback(&r.project, &r.target.clients, opts, &ui).await?;
                let exit = done.exit();
                Ok((done, exit))
            },
        )
        .await;
        ui.done();
        crate::render::targets::print_targets(json, &report, render::history::rollback_lines);
        return Ok(report.exit());
    }
    let clients = args.common.clients(None).await?;
    let ui = Terminal::new(json, true);
    let report = crate::ops::shown(
        &clients,
        &ui,
        rollback(&project, &clients, &args.options(), &ui),
    )
    .await;
    ui.done();
    let report = report.map_err(|e| match e.downcast_ref::<PickError>() {
        // Not bad input: a rollback that crosses a layer change is refused, as across `full`.
        Some(PickError::LayerChange { .. }) => {
            Error::new(crate::error::Exit::NeedsFull, "LayerRollbackRefused", e)
        }
        Some(_) => Error::bad_input("BadInput", e),
        None => Error::classify(e, "RollbackFailed"),
    })?;
    if json {
        render::print_json(&report);
    } else {
        render::print_lines(&render::history::rollback_lines(&report));
    }
    Ok(report.exit())
}
