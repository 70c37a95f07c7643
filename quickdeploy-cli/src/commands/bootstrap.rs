//! `quickdeploy bootstrap`: install the zipedit patcher in an account and region, once.

use crate::aws::AwsArgs;
use crate::error::{Error, Exit};
use crate::ops::bootstrap::Options;
use crate::ops::bootstrap::package::CodeSource;
use crate::project::config::DEFAULT_PATCHER;
use crate::render::terminal::Terminal;
use crate::render::{print_json, print_lines};

/// The patcher stack's name lives in `ops::bootstrap`; re-exported for callers that name it here.
use crate::ops::bootstrap::STACK;

/// Install the zipedit patcher: its stack, and an artifact bucket if none is given.
///
/// Packages the zipedit Lambda (a built binary, a bootstrap.zip from
/// scripts/package-lambda.sh, or by default the package `make install` installed), uploads it, and creates or updates the patcher stack from
/// cfn/zipedit.yaml. Without --bucket it uses the artifact bucket
/// quickdeploy-artifacts-ACCOUNT-REGION; either bucket is made when missing: versioned,
/// encrypted, public access blocked, with a lifecycle rule that aborts abandoned multipart
/// uploads and expires old versions (keeping the newest 20). Running it again with the same code
/// changes nothing.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  quickdeploy bootstrap --region eu-west-1            # the package `make install` installed
  quickdeploy bootstrap --arch x86_64 --output json
  scripts/package-lambda.sh --arch arm64 && quickdeploy bootstrap --code target/lambda/bootstrap.zip
  quickdeploy bootstrap --binary target/debug/zipedit --arch x86_64 --bucket my-artifacts

Without --code or --binary, the patcher's package zipedit-ARCH.zip is taken from
$QUICKDEPLOY_PATCHER_PACKAGE_DIR, else from ../share/quickdeploy/ next to the quickdeploy
executable (where `make install` puts it).

Exit codes: 0 installed (or already up to date), 1 failed, 2 bad usage or configuration
(no patcher package found, no region or credentials).")]
pub struct Args {
    /// The packaged patcher (bootstrap.zip from scripts/package-lambda.sh; default: the
    /// installed zipedit-ARCH.zip).
    #[arg(long, value_name = "ZIP", conflicts_with = "binary")]
    code: Option<std::path::PathBuf>,
    /// A built zipedit binary, packaged here as `bootstrap`.
    #[arg(long, value_name = "FILE")]
    binary: Option<std::path::PathBuf>,
    /// The artifact bucket (default: quickdeploy-artifacts-ACCOUNT-REGION, made if missing).
    #[arg(long, value_name = "BUCKET")]
    bucket: Option<String>,
    /// The patcher's instruction set; must match the code.
    #[arg(long, default_value = "arm64", value_parser = ["arm64", "x86_64"])]
    arch: String,
    /// The patcher's function name.
    #[arg(long, default_value = DEFAULT_PATCHER, value_name = "NAME")]
    function_name: String,
    /// The patcher stack's name.
    #[arg(long, default_value = STACK, value_name = "NAME")]
    stack: String,
    /// quickdeploy.toml whose `[targets.NAME]` --target names (default: found in this folder
    /// or above).
    #[arg(long, value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    #[command(flatten)]
    targets: super::TargetArgs,
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

/// Runs `bootstrap`.
pub async fn run(args: Args) -> crate::error::Outcome {
    let json = args.json();
    let opts = Options {
        code: match (args.code, args.binary) {
            (Some(zip), _) => CodeSource::Zip(zip),
            (None, Some(binary)) => CodeSource::Binary(binary),
            (None, None) => CodeSource::Installed,
        },
        bucket: args.bucket,
        arch: args.arch,
        function_name: args.function_name,
        stack: args.stack,
    };
    let package = crate::ops::bootstrap::package::package(&opts.code, &opts.arch)?;
    if !args.targets.targets.is_empty() || args.targets.all_targets {
        let cwd = std::env::current_dir().unwrap_or_else(|_| ".".into());
        let project = crate::project::Project::load(args.config.as_deref(), &cwd)
            .map_err(|e| Error::bad_input("BadConfig", anyhow::anyhow!(e)))?;
        let Some(targets) = args.targets.resolve(&project, &args.aws, None).await? else {
            return Ok(Exit::Success);
        };
        let ui = Terminal::new(json, true);
        let (opts, package) = (&opts, &package);
        let report = crate::ops::fanout::each(
            &targets.runs,
            crate::plan::targets::PARALLEL,
            "BootstrapFailed",
            &ui,
            |r, ui| async move {
                // Each target's own bucket and patcher name when its table gives them.
                let opts = Options {
                    bucket: r
                        .project
                        .config
                        .artifact_bucket
                        .clone()
                        .or(opts.bucket.clone()),
                    function_name: r
                        .project
                        .config
                        .patcher
                        .clone()
                        .unwrap_or_else(|| opts.function_name.clone()),
                    ..opts.clone()
                };
                let done = crate::ops::bootstrap::bootstrap(
                    &r.target.clients,
                    &opts,
                    package.clone(),
                    &ui,
                )
                .await?;
                Ok((done, Exit::Success))
            },
        )
        .await;
        ui.done();
        crate::render::targets::print_targets(json, &report, crate::render::setup::bootstrap_lines);
        return Ok(report.exit());
    }
    let clients = crate::aws::clients(&args.aws, None)
        .await
        .map_err(|e| Error::bad_input("BadAwsConfig", e))?;
    let ui = Terminal::new(json, true);
    let report = crate::ops::bootstrap::bootstrap(&clients, &opts, package, &ui).await;
    ui.done();
    let report = report?;
    if json {
        print_json(&report);
    } else {
        print_lines(&crate::render::setup::bootstrap_lines(&report));
    }
    Ok(Exit::Success)
}
