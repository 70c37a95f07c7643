//! `quickdeploy destroy`: remove what `bootstrap` installed: the patcher stack and, only when
//! named, the versioned artifact bucket with every version in it.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use anyhow::{Context, anyhow};

use crate::aws::AwsArgs;
use crate::error::{Error, Exit};
use crate::ops::bootstrap::STACK;
use crate::ops::destroy::decide::{Question, refused};
use crate::ops::destroy::{Options, Outcome};
use crate::render::terminal::Terminal;
use crate::render::{print_json, print_lines};

/// Remove the patcher stack, and with --delete-bucket empty and delete the artifact bucket.
///
/// Deletes the patcher stack (its function, role and log group) and waits until it is gone,
/// showing its events. The artifact bucket is kept unless you name it with --delete-bucket:
/// then every object version and delete marker in it is deleted, unfinished multipart uploads
/// are aborted, and the bucket is deleted. The bucket may hold other apps' artifacts and the
/// versions their functions were deployed from; they go with it.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  quickdeploy destroy                       # lists what will go and asks (on a terminal)
  quickdeploy destroy --yes                 # the patcher stack only; the bucket stays
  quickdeploy destroy --yes --delete-bucket quickdeploy-artifacts-123456789012-eu-west-1

Consent: on a terminal you are shown what will be removed and asked; to remove a bucket you
type its name. Without a terminal, --yes is needed. A bucket is only ever removed when its
name is given to --delete-bucket (there is no default). Refused: exit 3, nothing changed.

Exit codes: 0 removed (or nothing to remove), 1 failed, 2 bad usage or configuration (bucket
not found, no region or credentials), 3 refused for want of consent (nothing was changed).")]
pub struct Args {
    /// The patcher stack's name.
    #[arg(long, default_value = STACK, value_name = "NAME")]
    stack: String,
    /// Also empty (every version, delete marker and unfinished upload) and delete this bucket.
    #[arg(long, value_name = "BUCKET")]
    delete_bucket: Option<String>,
    /// Remove without asking.
    #[arg(long, short = 'y')]
    yes: bool,
    #[command(flatten)]
    out: super::OutputArgs,
    #[command(flatten)]
    aws: AwsArgs,
}

impl Args {
    /// JSON output: --output decides when given, as in the other commands.
    pub fn json(&self) -> bool {
        self.out.json(false)
    }
}

/// Runs `destroy`.
pub async fn run(args: Args) -> crate::error::Outcome {
    let json = args.json();
    let clients = crate::aws::clients(&args.aws, None)
        .await
        .map_err(|e| Error::bad_input("BadAwsConfig", e))?;
    let opts = Options {
        stack: args.stack,
        delete_bucket: args.delete_bucket,
    };
    let plan = crate::ops::destroy::plan(&clients, &opts).await?;
    let terminal = std::io::stdin().is_terminal();
    if let Some(question) = crate::ops::destroy::decide::consent(&plan, args.yes, terminal)? {
        ask(&question)?;
    }
    let ui = Terminal::new(json, true);
    let report = crate::ops::destroy::destroy(&clients, &plan, &ui).await;
    ui.done();
    let report = report?;
    if json {
        print_json(&report);
    } else if report.outcome == Outcome::Nothing {
        eprintln!("stack {} does not exist: nothing to remove", report.stack);
    } else {
        print_lines(&crate::render::setup::destroy_lines(&report));
    }
    Ok(Exit::Success)
}

/// Asks on the terminal (stderr, stdin); refused unless the answer consents.
fn ask(question: &Question) -> Result<(), Error> {
    eprintln!("this removes:");
    for line in &question.details {
        eprintln!("  {line}");
    }
    eprint!("{} ", question.prompt);
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the answer")
        .map_err(refused)?;
    if !question.accepts(&line) {
        return Err(refused(anyhow!("not confirmed: nothing was removed")));
    }
    Ok(())
}
