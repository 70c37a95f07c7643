//! `quickdeploy full`: build, package deterministically, upload what changed, and deploy the
//! stack through a CloudFormation change set.

use std::io::IsTerminal as _;

use crate::commands::CommonArgs;
use crate::error::{Error, Outcome};
use crate::ops::full::{FullOptions, full};
use crate::render::{self, terminal::Terminal};
use crate::stack::consent::Consent;

/// Deploy everything through CloudFormation: for dependency and resource changes.
///
/// Runs each function's build command, zips each package deterministically (so an unchanged
/// package keeps its CodeSha256 and is not uploaded again), uploads changed artifacts, writes
/// a template whose code locations point at them (your template file is not modified),
/// creates a change set, shows it, and executes it.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  quickdeploy full                  # asks before executing when on a terminal
  quickdeploy full --yes --json     # no question; one JSON document
  quickdeploy full --yes --allow-removals   # also when resources are removed or replaced
  quickdeploy full --parameter Stage=dev
  quickdeploy full --dry-run        # what would change; nothing executed

Consent: on a terminal the change set is shown and you are asked. Without one, a change set
that creates the stack needs --yes; one that removes or replaces resources needs
--allow-removals even with --yes or --ci. A refused change set is deleted, nothing executed.

Exit codes: 0 deployed or nothing to deploy, 1 failed, 2 bad usage or configuration,
3 refused for want of consent (nothing was executed).")]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub targets: crate::commands::TargetArgs,
    /// Execute without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// For pipelines: never ask, JSON output unless --output human.
    #[arg(long)]
    pub ci: bool,
    /// Execute even when the change set removes or replaces resources (not implied by --yes).
    #[arg(long)]
    pub allow_removals: bool,
    /// Create and show the change set, then delete it: nothing is executed (packages are
    /// still uploaded, as the change set names them).
    #[arg(long, conflicts_with_all = ["yes", "allow_removals"])]
    pub dry_run: bool,
    /// A template parameter, KEY=VALUE (repeatable).
    #[arg(long = "parameter", value_name = "KEY=VALUE")]
    pub parameters: Vec<String>,
}

impl Args {
    /// JSON output.
    pub fn json(&self) -> bool {
        self.common.json(self.ci)
    }

    /// The typed options of these arguments (exit 2 for a parameter that is not KEY=VALUE).
    pub fn options(&self) -> Result<FullOptions, Error> {
        let params = self
            .parameters
            .iter()
            .map(|p| match p.split_once('=') {
                Some((k, v)) => Ok((k.to_owned(), v.to_owned())),
                None => Err(Error::bad_input(
                    "BadUsage",
                    anyhow::anyhow!("--parameter {p:?}: write it as KEY=VALUE"),
                )),
            })
            .collect::<Result<_, _>>()?;
        Ok(FullOptions {
            params,
            consent: Consent {
                yes: self.yes || self.ci,
                allow_removals: self.allow_removals,
                terminal: !self.ci && std::io::stdin().is_terminal(),
            },
            dry_run: self.dry_run,
            built: false,
            synthesized: false,
        })
    }
}

/// Runs `full`.
pub async fn run(args: Args) -> Outcome {
    let json = args.json();
    let project = args.common.project()?;
    if let Some(targets) = args
        .targets
        .resolve(&project, &args.common.aws, None)
        .await?
    {
        let mut opts = args.options()?;
        let ui = Terminal::new(json, false);
        // Built once for every target, before any: parallel builds of one folder would race.
        let builds =
            crate::ops::build(&project, &ui).map_err(|e| Error::classify(e, "FullDeployFailed"))?;
        opts.built = true;
        // Change sets shown and asked about one target at a time, unless consent is given.
        let parallel = if opts.consent.yes || opts.dry_run {
            crate::plan::targets::PARALLEL
        } else {
            1
        };
        let opts = &opts;
        let mut report = crate::ops::fanout::each(
            &targets.runs,
            parallel,
            "FullDeployFailed",
            &ui,
            |r, ui| async move {
                let done = full(&r.project, &r.target.clients, opts, &ui).await?;
                let exit = done.exit();
                Ok((done, exit))
            },
        )
        .await;
        report.builds = builds;
        crate::render::targets::print_targets(json, &report, render::full::full_lines);
        return Ok(report.exit());
    }
    let clients = args.common.clients(None).await?;
    let opts = args.options()?;
    let ui = Terminal::new(json, false);
    let report = crate::ops::shown(&clients, &ui, full(&project, &clients, &opts, &ui))
        .await
        .map_err(|e| Error::classify(e, "FullDeployFailed"))?;
    if json {
        render::print_json(&report);
    } else {
        render::print_lines(&render::full::full_lines(&report));
    }
    Ok(report.exit())
}
