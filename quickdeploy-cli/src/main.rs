//! `quickdeploy`: parses the command line and dispatches to the library's `commands`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use quickdeploy::commands;
use quickdeploy::error::{self, Error, Outcome};

/// Deploy code changes to AWS Lambda in seconds, by patching the deployed zip artifact.
///
/// AWS access follows the standard chain: AWS_PROFILE or --profile, AWS_REGION or --region,
/// SSO, credential processes, instance roles. AWS_ENDPOINT_URL points every call at a local
/// emulator (S3 then uses path-style addressing).
#[derive(Debug, Parser)]
#[command(name = "quickdeploy", version, propagate_version = true)]
#[command(
    after_help = "Start with `quickdeploy init`, then `quickdeploy full` once, then \
`quickdeploy deploy` after each code change.\n\nExit codes: 0 success, 1 the operation failed, \
2 bad usage or configuration, 3 a full deploy is needed."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Deploy(commands::deploy::Args),
    Watch(commands::watch::Args),
    Status(commands::status::Args),
    Full(commands::full::Args),
    Init(commands::init::Args),
    Bootstrap(commands::bootstrap::Args),
    Destroy(commands::destroy::Args),
    PatchZip(commands::patch_zip::Args),
    History(commands::history::Args),
    Rollback(commands::rollback::Args),
}

fn main() -> ExitCode {
    quickdeploy::aws::clock::mark_command_began();
    // Rust ignores SIGPIPE, so println! to a closed pipe (`quickdeploy status | head -1`)
    // panics. Like other command-line tools, end quietly instead.
    // SAFETY: called first thing, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let json = cli.command.json();
    let outcome = match cli.command {
        Command::PatchZip(args) => commands::patch_zip::run(args),
        Command::Init(args) => commands::init::run(args),
        Command::Deploy(args) => block_on(commands::deploy::run(args), true),
        // watch handles Ctrl-C itself: it lets a running deploy finish.
        Command::Watch(args) => block_on(commands::watch::run(args), false),
        Command::Status(args) => block_on(commands::status::run(args), true),
        Command::Full(args) => block_on(commands::full::run(args), true),
        Command::Bootstrap(args) => block_on(commands::bootstrap::run(args), true),
        Command::Destroy(args) => block_on(commands::destroy::run(args), true),
        Command::History(args) => block_on(commands::history::run(args), true),
        Command::Rollback(args) => block_on(commands::rollback::run(args), true),
    };
    error::finish(outcome, json)
}

impl Command {
    /// Whether the command prints JSON: its error is then a JSON document too.
    fn json(&self) -> bool {
        match self {
            Command::Deploy(a) => a.json(),
            Command::Watch(a) => a.json(),
            Command::Status(a) => a.json(),
            Command::Full(a) => a.json(),
            Command::Bootstrap(a) => a.json(),
            Command::Destroy(a) => a.json(),
            Command::PatchZip(a) => a.json(),
            Command::History(a) => a.json(),
            Command::Rollback(a) => a.json(),
            Command::Init(_) => false,
        }
    }
}

/// Runs an AWS command on a fresh async runtime. With `interruptible`, Ctrl-C stops it and
/// clears the spinner line it may have drawn, so no remnant is left on the terminal.
fn block_on(command: impl Future<Output = Outcome>, interruptible: bool) -> Outcome {
    match tokio::runtime::Runtime::new() {
        Ok(rt) if interruptible => rt.block_on(async {
            tokio::select! {
                outcome = command => outcome,
                _ = tokio::signal::ctrl_c() => {
                    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                        eprint!("\r\x1b[2K");
                    }
                    Err(Error::Interrupted)
                }
            }
        }),
        Ok(rt) => rt.block_on(command),
        Err(e) => Err(Error::failed(
            "Runtime",
            anyhow::anyhow!(e).context("cannot start the async runtime"),
        )),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory as _;
        super::Cli::command().debug_assert();
    }
}
