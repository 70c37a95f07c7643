//! `quickdeploy deploy`: the quick path from changed files to live functions.

use std::io::IsTerminal as _;

use crate::error::{Error, Exit, Outcome};
use crate::ops::deploy::deploy;
use crate::ops::deploy::targets::{Gate, TargetRefused, deploy_targets};
use crate::render::{self, terminal::Terminal};

/// `deploy`'s arguments: shared with `watch`, so they live with the other shared ones.
pub use super::DeployArgs as Args;

/// Runs `deploy`.
pub async fn run(args: Args) -> Outcome {
    let json = args.json();
    let project = args.common.project()?;
    let resolved = args
        .targets
        .resolve(&project, &args.common.aws, args.patcher_endpoint())
        .await?;
    if let Some(targets) = resolved {
        return run_targets(&args, &project, targets, json).await;
    }
    let clients = args.common.clients(args.patcher_endpoint()).await?;
    let mut opts = args.options(&project, &clients)?;
    opts.began = crate::aws::clock::command_began();
    let ui = Terminal::new(json, true);
    let report = crate::ops::shown(&clients, &ui, deploy(project, &clients, &opts, &ui)).await;
    ui.done();
    let report = report.map_err(|e| Error::classify(e, "DeployFailed"))?;
    if json {
        render::print_json(&report);
    } else {
        render::print_lines(&render::deploy::deploy_lines(&report));
    }
    Ok(report.exit())
}

/// `deploy --target ... | --all-targets`: one local side, each target's remote side.
async fn run_targets(
    args: &Args,
    project: &crate::project::Project,
    targets: super::Targets,
    json: bool,
) -> Outcome {
    let mut opts = std::collections::HashMap::new();
    for r in &targets.runs {
        opts.insert(
            r.target.name.clone(),
            args.options(&r.project, &r.target.clients)?,
        );
    }
    let gate = Gate {
        ci: args.ci,
        terminal: !args.ci && std::io::stdin().is_terminal(),
    };
    let ui = Terminal::new(json, true);
    let report = deploy_targets(project, &targets.runs, opts, &targets.confirm, gate, &ui).await;
    ui.done();
    let report = report.map_err(|e| {
        if e.is::<TargetRefused>() {
            Error::new(Exit::NeedsFull, "TargetRefused", e)
        } else {
            Error::classify(e, "DeployFailed")
        }
    })?;
    crate::render::targets::print_targets(json, &report, render::deploy::deploy_lines);
    Ok(report.exit())
}
