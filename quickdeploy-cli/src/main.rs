//! `quickdeploy`: deploy a code change to AWS Lambda in seconds.
//!
//! Each sub-command lives in its own module under `commands/`; this file parses the command
//! line, runs the command, and turns its outcome into an exit code.

mod commands;
mod exit;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Deploy code changes to AWS Lambda in seconds, by patching the deployed zip artifact.
#[derive(Debug, Parser)]
#[command(name = "quickdeploy", version, propagate_version = true)]
#[command(after_help = "Exit codes: 0 success, 1 the operation failed, 2 bad usage or input.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    PatchZip(commands::patch_zip::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::PatchZip(args) => commands::patch_zip::run(args),
    };
    exit::report(outcome)
}
