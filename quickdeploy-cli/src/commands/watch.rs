//! `quickdeploy watch`: save a file, and it is live.

use std::time::Duration;

use crate::commands::DeployArgs;
use crate::error::{Error, Exit, Outcome};
use crate::ops::watch::{Stopped, WatchOptions, watch};
use crate::render::terminal::WatchTerminal;

/// Watch the packages, the template and quickdeploy.toml; deploy each change as it is saved.
///
/// A lone save deploys after a fifth of --debounce-ms of quiet (20 ms); a burst (several files,
/// or the same file saved again) becomes one deploy after --debounce-ms of quiet.
/// Changes made while a deploy runs are collected into one follow-up deploy. Code-only changes
/// go the quick way; dependency or template changes go the full way (asking first on a
/// terminal unless --yes), or with --no-fallback are reported and left for later. A failed
/// deploy is reported and watching goes on: the next change retries what is not live.
/// Ctrl-C lets a running deploy finish; a second Ctrl-C stops at once.
#[derive(Debug, clap::Args)]
#[group(id = "watch_args")]
#[command(after_help = "Examples:
  quickdeploy watch
  quickdeploy watch --json --no-fallback     # one JSON line per deploy; never the full way
  quickdeploy watch --yes                    # template changes go the full way unasked

It deploys what is pending when it starts, then each save. After a failure, Enter retries.
Without a terminal, a template or dependency change needs --yes to go the full way.
Ignored: version control, editor swap and backup files, caches, .quickdeploy/, what .gitignore
ignores (but a package folder git ignores as a whole, such as a build output, is watched).

With --json: one JSON line per round (not one document): {\"round\", \"at\", \"ok\", \"paths\",
\"report\" or \"error\"}; see docs/json.md.

Exit codes: 0 stopped by Ctrl-C, 1 could not start, 2 bad usage or configuration,
130 stopped by a second Ctrl-C during a deploy.")]
pub struct Args {
    #[command(flatten)]
    pub deploy: DeployArgs,
    /// Quiet time that ends a burst of file events, in milliseconds (a lone save: a fifth).
    #[arg(long, default_value_t = 100, value_name = "MS")]
    pub debounce_ms: u64,
}

impl Args {
    /// JSON output (one line per round).
    pub fn json(&self) -> bool {
        self.deploy.common.json(false)
    }
}

/// Runs `watch` until Ctrl-C.
pub async fn run(args: Args) -> Outcome {
    let project = args.deploy.common.project()?;
    let resolved = args
        .deploy
        .targets
        .resolve(
            &project,
            &args.deploy.common.aws,
            args.deploy.patcher_endpoint(),
        )
        .await?;
    let (clients, targets) = match resolved {
        // Targets' clients are resolved once, here: a change to a target's region, profile or
        // role in quickdeploy.toml needs a restart (its stack, bucket and patcher do not).
        Some(t) => {
            let mut opts = std::collections::HashMap::new();
            for r in &t.runs {
                opts.insert(
                    r.target.name.clone(),
                    args.deploy.options(&r.project, &r.target.clients)?,
                );
            }
            let clients = t.runs[0].target.clients.clone();
            let ci = args.deploy.ci;
            let targets = crate::ops::deploy::targets::Targets {
                runs: t.runs,
                opts,
                confirm: t.confirm,
                gate: crate::ops::deploy::targets::Gate {
                    ci,
                    terminal: !ci && std::io::IsTerminal::is_terminal(&std::io::stdin()),
                },
            };
            (clients, Some(targets))
        }
        None => {
            let clients = args
                .deploy
                .common
                .clients(args.deploy.patcher_endpoint())
                .await?;
            (clients, None)
        }
    };
    let opts = WatchOptions {
        deploy: args.deploy.options(&project, &clients)?,
        debounce: Duration::from_millis(args.debounce_ms),
        targets,
    };
    let ui = WatchTerminal::new(args.json());
    // The config and template may change while watching: each round reads them afresh.
    let load = || args.deploy.common.project().map_err(anyhow::Error::new);
    match crate::ops::shown(&clients, &ui, watch(&load, &clients, &opts, &ui)).await {
        Ok(Stopped::Quietly) => Ok(Exit::Success),
        Ok(Stopped::DuringDeploy) => Err(Error::Interrupted),
        Err(e) => Err(Error::classify(e, "WatchFailed")),
    }
}
