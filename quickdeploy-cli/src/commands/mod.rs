//! One module per sub-command: its arguments (clap), the typed options it builds from them,
//! the call into `ops`, and the rendering of the report. No command imports another; what
//! several share (arguments) is here.

use std::path::PathBuf;

use anyhow::anyhow;

use crate::aws::{AwsArgs, Clients, clients};
use crate::config::Project;
use crate::error::Error;

pub mod bootstrap;
pub mod deploy;
pub mod destroy;
pub mod full;
pub mod init;
pub mod patch_zip;
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
            project.config.stack.clone_from(stack);
        }
        Ok(project)
    }

    /// The AWS clients (exit 2 when there is no region or a bad endpoint).
    pub async fn clients(
        &self,
        patcher_endpoint: Option<&str>,
    ) -> Result<Clients, Error> {
        clients(&self.aws, patcher_endpoint)
            .await
            .map_err(|e| Error::bad_input("BadAwsConfig", e))
    }
}

