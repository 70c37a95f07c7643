//! `quickdeploy full`: build, package deterministically, upload what changed, and deploy the
//! stack through a CloudFormation change set.

use std::collections::BTreeMap;
use std::io::{BufRead as _, IsTerminal as _, Write as _};

use std::time::Instant;

use anyhow::{Context, anyhow, bail};
use serde::Serialize;

use crate::aws::Clients;
use crate::changeset::{self, Planned};
use crate::commands::deploy::CommonArgs;
use crate::config::Project;
use crate::consent::{self, Consent, Decision};
use crate::exit::{BAD_INPUT, FAILED, Failure, NEEDS_FULL};
use crate::inspect::ms;
use crate::manifest::{self, FORMAT, Manifest};
use crate::output::short_sha;
use crate::package::package;
use crate::scan::scan;
use crate::template::S3Object;
use crate::{hotpatch, remote, stack, upload};

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

/// One packaged artifact.
#[derive(Debug, Serialize)]
pub struct Uploaded {
    /// `s3://bucket/key`.
    pub artifact: String,
    /// The functions that run it.
    pub functions: Vec<String>,
    /// Its CodeSha256.
    pub code_sha256: String,
    /// Its size.
    pub size: u64,
    /// False when the same package was there already.
    pub uploaded: bool,
}

/// What a full deploy did, as `--json` prints it.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Deployed, or nothing to deploy.
    pub ok: bool,
    /// `deployed`, `nothing-to-deploy`, `dry-run`, `cancelled`, `refused` (no consent; exit 3)
    /// or `failed`.
    pub outcome: &'static str,
    /// The stack.
    pub stack: String,
    /// Each package.
    pub artifacts: Vec<Uploaded>,
    /// What the change set did.
    pub changes: Vec<Planned>,
    /// The stack's final status.
    pub status: Option<String>,
    /// Why it failed, with the failed stack events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Hot-patched functions this deploy reconciled (their record is cleared).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reconciled: Vec<String>,
    /// Milliseconds per step.
    pub timings_ms: BTreeMap<&'static str, f64>,
}

/// Runs `full`.
pub async fn run(args: Args) -> Result<(), Failure> {
    let json = args.common.json(args.ci);
    let project = args.common.project(json)?;
    let clients = args.common.clients(None, json).await?;
    let fail = |code, kind, error| Failure {
        code,
        kind,
        error,
        json,
    };
    let mut params = Vec::new();
    for p in &args.parameters {
        let (k, v) = p.split_once('=').ok_or_else(|| {
            fail(
                BAD_INPUT,
                "BadUsage",
                anyhow!("--parameter {p:?}: write it as KEY=VALUE"),
            )
        })?;
        params.push((k.to_owned(), v.to_owned()));
    }
    let consent = Consent {
        yes: args.yes || args.ci,
        allow_removals: args.allow_removals,
        terminal: !args.ci && std::io::stdin().is_terminal(),
    };
    let report = full(&project, &clients, &params, consent, args.dry_run, json)
        .await
        .map_err(|e| Failure::from_error(e, "FullDeployFailed", json))?;
    print(&report, json);
    match report.outcome {
        _ if report.ok => Ok(()),
        "refused" => Err(Failure::quiet(NEEDS_FULL)),
        _ => Err(Failure::quiet(FAILED)),
    }
}

/// Prints a full deploy's report.
pub fn print(report: &Report, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        if !report.reconciled.is_empty() {
            println!(
                "  reconciled hot-patched function(s): {}",
                report.reconciled.join(", ")
            );
        }
        let verdict = match report.outcome {
            "nothing-to-deploy" => "nothing to deploy: the stack is up to date".to_owned(),
            "cancelled" => "cancelled: nothing was executed".to_owned(),
            "dry-run" => {
                "dry run: the change set was shown and deleted, nothing executed".to_owned()
            }
            "refused" => format!(
                "REFUSED, nothing was executed: {}",
                report.error.as_deref().unwrap_or("no consent")
            ),
            "failed" => format!(
                "FAILED: {}",
                report
                    .error
                    .as_deref()
                    .unwrap_or("the stack did not deploy")
            ),
            _ => format!(
                "stack {} is {}",
                report.stack,
                report.status.as_deref().unwrap_or("?")
            ),
        };
        let total = report.timings_ms.get("total").copied().unwrap_or_default();
        println!("{verdict} ({total:.0} ms)");
    }
}

/// The full deploy, given its clients: `full`, and `deploy` when it falls back, call it.
pub async fn full(
    project: &Project,
    clients: &Clients,
    params: &[(String, String)],
    consent: Consent,
    dry_run: bool,
    json: bool,
) -> anyhow::Result<Report> {
    let started = Instant::now();
    let mut timings = BTreeMap::new();
    let config = &project.config;
    let stack_name = config.stack.clone();
    let bucket = match &config.artifact_bucket {
        Some(b) => b.clone(),
        // The bootstrap stack keeps the patcher's code in the artifact bucket it made.
        None => stack::parameter(&clients.cfn, crate::commands::bootstrap::STACK, "CodeBucket")
            .await
            .ok_or_else(|| {
                crate::exit::BadConfig(
                    "no artifact bucket: set `artifact_bucket` in quickdeploy.toml, or run `quickdeploy bootstrap`, which makes one".into(),
                )
            })?,
    };
    let prefix = config
        .artifact_prefix
        .clone()
        .unwrap_or_else(|| "quickdeploy/".into());
    let (template, template_dir) = project.template()?;
    crate::plan::check_config_functions(&template, config)?;

    // Build commands, each once, in the project root.
    let t = Instant::now();
    let mut builds: Vec<&str> = config
        .functions
        .values()
        .filter_map(|f| f.build.as_deref())
        .collect();
    builds.dedup();
    for cmd in builds {
        if !json {
            eprintln!("building: {cmd}");
        }
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .current_dir(&project.root)
            .stdout(if json {
                std::process::Stdio::null()
            } else {
                std::process::Stdio::inherit()
            })
            .status()
            .with_context(|| format!("cannot run the build command {cmd:?}"))?;
        if !status.success() {
            bail!("the build command {cmd:?} failed ({status})");
        }
    }
    timings.insert("build", ms(t));

    // One artifact per distinct package.
    let t = Instant::now();
    let packages = crate::plan::local_packages(&template, config, &project.root, &template_dir);
    let mut locations = BTreeMap::new();
    let mut uploaded = Vec::new();
    // Every package is read and checked (links, limits) before the first upload, so a bad
    // one stops the deploy with nothing written.
    let scanned = packages
        .iter()
        .map(|(spec, functions)| {
            let files = scan(spec)?;
            crate::limits::check_package(&files)?;
            anyhow::Ok((spec, functions, files))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    for (spec, functions, files) in scanned {
        let pkg = package(&files, &project.state_dir().join("packages"))?;
        let rel = spec
            .folder
            .strip_prefix(&project.root)
            .unwrap_or(&spec.folder)
            .to_string_lossy()
            .trim_matches('/')
            .replace(['/', '\\', '.', ' '], "-");
        let rel = rel.trim_matches('-');
        let key = format!(
            "{prefix}{stack_name}/{}.zip",
            if rel.is_empty() { "root" } else { rel }
        );
        let mut at = S3Object {
            bucket: bucket.clone(),
            key: key.clone(),
            version: None,
        };
        let existing = remote::head(&clients.s3, &at).await.ok();
        let same = match &existing {
            Some(h) => {
                remote::known_code_sha256(&clients.s3, &at, h)
                    .await
                    .as_deref()
                    == Some(pkg.code_sha256.as_str())
            }
            None => false,
        };
        let (etag, version) = if same {
            let h = existing.context("checked above")?;
            (h.etag, h.version_id)
        } else {
            let put = upload::upload(
                &clients.s3,
                &bucket,
                &key,
                (pkg.path(), pkg.size),
                &[
                    (zipedit::s3::CHECKPOINT_META, pkg.checkpoint.as_str()),
                    (remote::CODE_SHA_META, pkg.code_sha256.as_str()),
                ],
                !json,
            )
            .await?;
            (put.etag, put.version_id)
        };
        at.version = version.clone();
        let m = Manifest {
            format: FORMAT,
            bucket: bucket.clone(),
            key: key.clone(),
            etag,
            version_id: version,
            code_sha256: pkg.code_sha256.clone(),
            size: pkg.size,
            files: pkg.files.clone(),
        };
        manifest::save_local(&manifest::local_path(&project.state_dir(), &at), &m)
            .context("cannot save the local manifest")?;
        remote::put_remote(&clients.s3, &m).await?;
        for f in functions {
            locations.insert(f.clone(), at.clone());
        }
        uploaded.push(Uploaded {
            artifact: at.to_string(),
            functions: functions.clone(),
            code_sha256: pkg.code_sha256,
            size: pkg.size,
            uploaded: !same,
        });
    }
    timings.insert("package", ms(t));
    if !json {
        // Before the change set and its events, in the order things happen.
        for a in &uploaded {
            println!(
                "  {} {} ({}; CodeSha256 {}) for {}",
                if a.uploaded { "uploaded " } else { "unchanged" },
                a.artifact,
                crate::output::human_bytes(a.size),
                short_sha(&a.code_sha256),
                a.functions.join(", ")
            );
        }
    }

    let t = Instant::now();
    let body = serde_json::to_string_pretty(&template.with_code_locations(&locations))?;
    // Kept for reading: what CloudFormation was given. The user's template is left alone.
    let packaged = project
        .state_dir()
        .join("packaged")
        .join(format!("{stack_name}.json"));
    if let Some(dir) = packaged.parent() {
        let _ = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&packaged, &body));
    }
    let exists = stack::describe(&clients.cfn, &stack_name).await?.is_some();
    let created = changeset::create(
        &clients.cfn,
        &stack_name,
        &body,
        params,
        template.is_sam(),
        exists,
    )
    .await?;
    timings.insert("changeset", ms(t));
    let hot = hotpatch::load(&clients.s3, &bucket, &stack_name)
        .await
        .unwrap_or_default();
    let mut report = Report {
        ok: true,
        outcome: "nothing-to-deploy",
        stack: stack_name.clone(),
        artifacts: uploaded,
        changes: Vec::new(),
        status: None,
        error: None,
        reconciled: Vec::new(),
        timings_ms: timings,
    };
    let Some(created) = created else {
        if !dry_run {
            report.reconciled = reconcile(clients, &bucket, &stack_name, hot).await?;
        }
        report.timings_ms.insert("total", ms(started));
        return Ok(report);
    };
    report.changes = created.changes.clone();
    if !json {
        println!(
            "change set for stack {stack_name} ({}):",
            if created.create {
                "new stack"
            } else {
                "update"
            }
        );
        for c in &created.changes {
            println!(
                "  {:<8} {:<28} {:<32} {}",
                c.action,
                c.logical_id,
                c.resource_type,
                c.replacement
                    .as_deref()
                    .map(|r| format!("replacement: {r}"))
                    .unwrap_or_default()
            );
        }
    }
    if dry_run {
        changeset::discard(&clients.cfn, &stack_name, &created).await?;
        report.outcome = "dry-run";
        report.timings_ms.insert("total", ms(started));
        return Ok(report);
    }
    let go_ahead = match consent::decide(consent, &stack_name, created.create, &created.changes) {
        Decision::Execute => true,
        Decision::Ask => ask(&created.changes)?,
        Decision::Refuse(why) => {
            changeset::discard(&clients.cfn, &stack_name, &created).await?;
            report.ok = false;
            report.outcome = "refused";
            report.error = Some(why);
            report.timings_ms.insert("total", ms(started));
            return Ok(report);
        }
    };
    if !go_ahead {
        changeset::discard(&clients.cfn, &stack_name, &created).await?;
        report.outcome = "cancelled";
        report.timings_ms.insert("total", ms(started));
        return Ok(report);
    }
    let t = Instant::now();
    let on_event = |line: &str| {
        if !json {
            eprintln!("{line}");
        }
    };
    let done = changeset::execute(&clients.cfn, &stack_name, &created, &on_event).await?;
    report.timings_ms.insert("execute", ms(t));
    report.status = Some(done.status.clone());
    if done.failed.is_empty() && !done.rolled_back {
        report.outcome = "deployed";
        report.reconciled = reconcile(clients, &bucket, &stack_name, hot).await?;
    } else {
        report.ok = false;
        report.outcome = "failed";
        report.error = Some(format!(
            "stack {stack_name} ended {}; failed: {}",
            done.status,
            if done.failed.is_empty() {
                "no resource event says why".to_owned()
            } else {
                done.failed.join("; ")
            }
        ));
    }
    report.timings_ms.insert("total", ms(started));
    Ok(report)
}

/// Asks on the terminal; what would be removed or replaced is listed apart first.
fn ask(changes: &[Planned]) -> anyhow::Result<bool> {
    let removed = consent::removals(changes);
    if !removed.is_empty() {
        eprintln!("this change set REMOVES or REPLACES (data and physical ids are lost):");
        for c in removed {
            eprintln!(
                "  {:<8} {:<28} {}",
                if c.action == "Remove" {
                    "Remove"
                } else {
                    "Replace"
                },
                c.logical_id,
                c.resource_type
            );
        }
    }
    eprint!("execute this change set? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

/// After a successful full deploy every function runs what its template names: the hot-patch
/// record is cleared; the functions it listed are returned.
async fn reconcile(
    clients: &Clients,
    bucket: &str,
    stack: &str,
    hot: hotpatch::Record,
) -> anyhow::Result<Vec<String>> {
    if hot.is_empty() {
        return Ok(Vec::new());
    }
    hotpatch::clear(&clients.s3, bucket, stack).await?;
    Ok(hot.into_keys().collect())
}
