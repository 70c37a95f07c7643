//! One module per sub-command: its arguments (clap), the typed options it builds from them,
//! the call into `ops`, and the rendering of the report. No command imports another; what
//! several share (arguments) is here.
//!
//! May use: everything below. Must not: import another command (shared arguments live
//! here), or do work beyond parsing, calling `ops` and rendering.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::anyhow;

use crate::artifact::patch::Patcher;
use crate::aws::{AwsArgs, Clients, clients};
use crate::error::Error;
use crate::lambda::pace::Pace;
use crate::ops::deploy::DeployOptions;
use crate::project::Project;
use crate::stack::consent::Consent;

pub mod bootstrap;
pub mod deploy;
pub mod destroy;
pub mod full;
pub mod history;
pub mod init;
pub mod patch_zip;
pub mod rollback;
pub mod status;
pub mod watch;

/// `--output FORMAT` and `--json`, for every command that can print JSON.
#[derive(Debug, Clone, clap::Args)]
pub struct OutputArgs {
    /// Output: human, or json (one document on stdout; `watch`: one line per round).
    #[arg(long, value_parser = ["human", "json"], value_name = "FORMAT")]
    pub output: Option<String>,
    /// Same as --output json.
    #[arg(long)]
    pub json: bool,
}

impl OutputArgs {
    /// JSON output, given whether the command defaults to it (`--ci`): --output decides when
    /// given.
    pub fn json(&self, default: bool) -> bool {
        match self.output.as_deref() {
            Some("json") => true,
            Some(_) => false,
            None => self.json || default,
        }
    }
}

/// Options shared by the commands that read a project.
#[derive(Debug, clap::Args)]
pub struct CommonArgs {
    /// quickdeploy.toml to use (default: found in this folder or above).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The stack to deploy, instead of quickdeploy.toml's `stack` (one project, several
    /// stages).
    #[arg(long, value_name = "NAME")]
    pub stack: Option<String>,
    #[command(flatten)]
    pub out: OutputArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
}

impl CommonArgs {
    /// JSON output, given whether the command defaults to it.
    pub fn json(&self, default: bool) -> bool {
        self.out.json(default)
    }

    /// Loads the project (exit 2 on a bad config).
    pub fn project(&self) -> Result<Project, Error> {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let mut project = Project::load(self.config.as_deref(), &cwd)
            .map_err(|e| Error::bad_input("BadConfig", anyhow!(e)))?;
        if let Some(stack) = &self.stack {
            crate::project::names::check_stack(stack)
                .map_err(|e| Error::bad_input("BadUsage", anyhow!("--stack: {e}")))?;
            project.config.stack.clone_from(stack);
        }
        Ok(project)
    }

    /// The AWS clients (exit 2 when there is no region or a bad endpoint).
    pub async fn clients(&self, patcher_endpoint: Option<&str>) -> Result<Clients, Error> {
        clients(&self.aws, patcher_endpoint)
            .await
            .map_err(|e| Error::bad_input("BadAwsConfig", e))
    }
}

/// `--target NAME` and `--all-targets`: the `[targets.NAME]` of quickdeploy.toml to run on.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TargetArgs {
    /// Run on this target of quickdeploy.toml's `[targets.NAME]` (repeatable): its region,
    /// profile or role, stack, bucket and patcher.
    #[arg(long = "target", value_name = "NAME")]
    pub targets: Vec<String>,
    /// Run on every target of quickdeploy.toml.
    #[arg(long, conflicts_with = "targets")]
    pub all_targets: bool,
}

/// The targets a command runs on, resolved: each one's clients and project, and the names of
/// those marked `confirm = true`.
pub struct Targets {
    /// Per target, in the order named.
    pub runs: Vec<crate::ops::fanout::TargetRun>,
    /// The targets marked `confirm = true`.
    pub confirm: Vec<String>,
}

impl TargetArgs {
    /// The targets asked for, resolved up front (every profile and role, before anything is
    /// done anywhere; exit 2 naming the target otherwise); `None` without `--target` or
    /// `--all-targets`.
    pub async fn resolve(
        &self,
        project: &Project,
        aws: &AwsArgs,
        patcher_endpoint: Option<&str>,
    ) -> Result<Option<Targets>, Error> {
        let picked = crate::project::targets::select(
            &project.config.targets,
            &self.targets,
            self.all_targets,
        )
        .map_err(|e| Error::bad_input("BadUsage", anyhow!(e)))?;
        let Some(picked) = picked else {
            return Ok(None);
        };
        let specs: Vec<crate::aws::target::TargetSpec> = picked
            .iter()
            .map(|(name, t)| crate::aws::target::TargetSpec {
                name: (*name).to_owned(),
                region: t.region.clone(),
                profile: t.profile.clone(),
                role_arn: t.role_arn.clone(),
            })
            .collect();
        let resolved = crate::aws::target::resolve_all(aws, &specs, patcher_endpoint)
            .await
            .map_err(|e| Error::bad_input("BadAwsConfig", e))?;
        let runs = resolved
            .into_iter()
            .zip(&picked)
            .map(|(target, (_, t))| crate::ops::fanout::TargetRun {
                target,
                project: Project {
                    config: project.config.for_target(t),
                    root: project.root.clone(),
                },
            })
            .collect();
        let confirm = picked
            .iter()
            .filter(|(_, t)| t.confirm)
            .map(|(n, _)| (*n).to_owned())
            .collect();
        Ok(Some(Targets { runs, confirm }))
    }
}

/// Deploy code changes the quick way: patch the artifact in S3, update every function.
///
/// Diffs each function's package against the artifact it runs (the manifest kept beside the
/// artifact in S3, so a fresh clone works too), sends only the changed files to the patcher,
/// then calls UpdateFunctionCode on every function of that artifact in parallel and waits
/// until each is live. Functions already running the artifact are skipped. Dependency or
/// template changes go the full CloudFormation way instead (see below).
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  quickdeploy deploy                       # patch through the zipedit Lambda, update, wait
  quickdeploy deploy --local               # patch from this machine (no patcher needed)
  quickdeploy deploy --ci                  # no prompts, JSON out, exit codes below
  AWS_ENDPOINT_URL=http://localhost:5000 quickdeploy deploy --region us-east-1

When dependencies or resources changed (or the stack is protected), deploy says why in one
line and runs `quickdeploy full` instead; --no-fallback refuses (exit 3). Without a terminal
the fallback needs --yes or --ci, and a change set that removes or replaces resources needs
--allow-removals even then (else exit 3, nothing executed).

Exit codes: 0 every function live (or nothing to do), 1 a function or patch failed,
2 bad usage or configuration, 3 a full deploy is needed and --no-fallback refused it.")]
pub struct DeployArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub targets: TargetArgs,
    /// Run the patch on this machine instead of through the zipedit Lambda.
    #[arg(long)]
    pub local: bool,
    /// For pipelines: never prompt, JSON output unless --output human.
    #[arg(long)]
    pub ci: bool,
    /// The zipedit function to invoke (default: quickdeploy.toml's `patcher`, else
    /// quickdeploy-zipedit).
    #[arg(long, env = "QUICKDEPLOY_PATCHER", value_name = "NAME")]
    pub patcher: Option<String>,
    /// Invoke the patcher at this endpoint (a local Invoke API); other calls are unaffected.
    #[arg(long, env = "QUICKDEPLOY_PATCHER_ENDPOINT", value_name = "URL")]
    pub patcher_endpoint: Option<String>,
    /// How the patcher writes: auto (append unless it deletes or dead bytes pile up),
    /// append, or rewrite.
    #[arg(long, default_value = "auto", value_parser = ["auto", "append", "rewrite"])]
    pub mode: String,
    /// Update at most this many functions at once.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub concurrency: u16,
    /// Give up on a function still InProgress after this many seconds.
    #[arg(long, default_value_t = 600, value_name = "SECONDS")]
    pub wait_timeout: u64,
    /// Lambda control-plane calls (UpdateFunctionCode and the like) per second, all functions
    /// together: Lambda's quota is 15 per account and Region, so more only provokes throttling.
    #[arg(long, default_value_t = 15, value_name = "PER_SECOND", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub rate: u32,
    /// Send changed files whole or zstd-compressed, never as deltas against their previous
    /// content (which is otherwise read from .quickdeploy/content or the artifact).
    #[arg(long)]
    pub no_delta: bool,
    /// When dependencies or resources changed, exit 3 instead of falling back to a full deploy.
    #[arg(long)]
    pub no_fallback: bool,
    /// Quick-deploy even a protected stack.
    #[arg(long)]
    pub force: bool,
    /// Execute a fallback full deploy without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Let a fallback full deploy remove or replace resources (not implied by --yes).
    #[arg(long)]
    pub allow_removals: bool,
    /// Print every phase and AWS call on one time line, from the command's own setup
    /// (configuration, credentials, clients) on, and the critical path up to the first
    /// UpdateFunctionCode (in --json: `timeline`).
    #[arg(long)]
    pub timings: bool,
}

impl DeployArgs {
    /// JSON output.
    pub fn json(&self) -> bool {
        self.common.json(self.ci)
    }

    /// The endpoint to invoke the patcher at, when it is not the patcher's usual one.
    pub fn patcher_endpoint(&self) -> Option<&str> {
        if self.local {
            None
        } else {
            self.patcher_endpoint.as_deref()
        }
    }

    /// The typed options of these arguments.
    pub fn options(&self, project: &Project, clients: &Clients) -> Result<DeployOptions, Error> {
        let patcher = if self.local {
            Patcher::Local(clients.s3.clone())
        } else {
            Patcher::Lambda {
                client: clients.patcher.clone(),
                function: self
                    .patcher
                    .clone()
                    .unwrap_or_else(|| project.config.patcher_name().to_owned()),
            }
        };
        let consent = Consent {
            yes: self.yes || self.ci,
            allow_removals: self.allow_removals,
            terminal: !self.ci && std::io::stdin().is_terminal(),
        };
        Ok(DeployOptions {
            patcher,
            deltas: !self.no_delta,
            mode: self
                .mode
                .parse()
                .map_err(|e: String| Error::bad_input("BadUsage", anyhow::anyhow!(e)))?,
            pace: Pace {
                concurrency: self.concurrency.into(),
                timeout: Duration::from_secs(self.wait_timeout),
                writes_per_second: self.rate,
                ..Pace::default()
            },
            force: self.force,
            fallback: (!self.no_fallback).then_some(consent),
            shared: None,
            timings: self.timings,
            kept: None,
            began: None,
        })
    }
}
