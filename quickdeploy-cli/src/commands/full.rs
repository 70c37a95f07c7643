//! `quickdeploy full`: build, package deterministically, upload what changed, and deploy the
//! stack through a CloudFormation change set.

use std::collections::BTreeMap;
use std::io::{BufRead as _, IsTerminal as _, Write as _};

use std::time::Instant;

use anyhow::{Context, anyhow, bail};
use serde::Serialize;

use crate::aws::Clients;
use crate::changeset::{self, Planned};
use crate::commands::CommonArgs;
use crate::config::Project;
use crate::consent::{self, Consent, Decision};
use crate::error::{Error, Exit};
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

impl Args {
    /// JSON output.
    pub fn json(&self) -> bool {
        self.common.json(self.ci)
    }
}

/// Runs `full`.
pub async fn run(args: Args) -> crate::error::Outcome {
    let json = args.common.json(args.ci);
    let project = args.common.project()?;
    let clients = args.common.clients(None).await?;
    let fail = |code, kind, error| Error::new(code, kind, error);
    let mut params = Vec::new();
    for p in &args.parameters {
        let (k, v) = p.split_once('=').ok_or_else(|| {
            fail(
                Exit::BadInput,
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
        .map_err(|e| Error::classify(e, "FullDeployFailed"))?;
    print(&report, json);
    match report.outcome {
        _ if report.ok => Ok(Exit::Success),
        "refused" => Ok(Exit::NeedsFull),
        _ => Ok(Exit::Failed),
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
                "Exit::Failed: {}",
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
        match report.timings_ms.get("answer") {
            Some(answer) => println!("{verdict} ({total:.0} ms, and {answer:.0} ms answering)"),
            None => println!("{verdict} ({total:.0} ms)"),
        }
    }
}

/// The full deploy, given its clients: `full`, and `deploy` when it falls back, call it.
/// Phases: build, package and upload, change set, consent, execute, reconcile.
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
    let stack_name = project.config.stack.clone();
    let bucket = artifact_bucket(project, clients).await?;
    let (template, template_dir) = project.template()?;
    crate::plan::check_config_functions(&template, &project.config)?;

    let t = Instant::now();
    run_builds(project, json)?;
    timings.insert("build", ms(t));

    let t = Instant::now();
    let packages =
        crate::plan::local_packages(&template, &project.config, &project.root, &template_dir);
    let (locations, uploaded) = upload_packages(project, clients, &packages, &bucket, json).await?;
    timings.insert("package", ms(t));
    if !json {
        // Before the change set and its events, in the order things happen.
        print_uploads(&uploaded);
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
        print_changes(&stack_name, &created);
    }
    if dry_run {
        changeset::discard(&clients.cfn, &stack_name, &created).await?;
        report.outcome = "dry-run";
    } else if consented(clients, consent, &created, &mut report).await? {
        execute(clients, &created, &mut report, json).await?;
        if report.ok {
            report.reconciled = reconcile(clients, &bucket, &stack_name, hot).await?;
        }
    }
    report
        .timings_ms
        .insert("total", ms(started) - answered(&report));
    Ok(report)
}

/// The artifact bucket: quickdeploy.toml's, else the one the bootstrap stack made.
async fn artifact_bucket(project: &Project, clients: &Clients) -> anyhow::Result<String> {
    if let Some(b) = &project.config.artifact_bucket {
        return Ok(b.clone());
    }
    stack::parameter(&clients.cfn, crate::commands::bootstrap::STACK, "CodeBucket")
        .await
        .ok_or_else(|| {
            crate::error::BadConfig(
                "no artifact bucket: set `artifact_bucket` in quickdeploy.toml, or run `quickdeploy bootstrap`, which makes one".into(),
            )
            .into()
        })
}

/// Runs each distinct build command once, in the project root, in the order first named.
fn run_builds(project: &Project, json: bool) -> anyhow::Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    let builds = project
        .config
        .functions
        .values()
        .filter_map(|f| f.build.as_deref())
        .filter(|cmd| seen.insert(*cmd));
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
    Ok(())
}

/// Where each function's code goes, by logical id.
type Locations = BTreeMap<String, S3Object>;

/// Packages each distinct package and uploads what changed. Every package is read and
/// checked (links, limits) before the first upload, so a bad one stops the deploy with
/// nothing written.
async fn upload_packages(
    project: &Project,
    clients: &Clients,
    packages: &BTreeMap<crate::scan::PackageSpec, Vec<String>>,
    bucket: &str,
    json: bool,
) -> anyhow::Result<(Locations, Vec<Uploaded>)> {
    let scanned = packages
        .iter()
        .map(|(spec, functions)| {
            let files = scan(spec)?;
            crate::limits::check_package(&files)?;
            anyhow::Ok((spec, functions, files))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut locations = BTreeMap::new();
    let mut uploaded = Vec::new();
    for (spec, functions, files) in scanned {
        let pkg = package(&files, &project.state_dir().join("packages"))?;
        let at = upload_package(project, clients, spec, &pkg, bucket, json).await?;
        for f in functions {
            locations.insert(f.clone(), at.object.clone());
        }
        uploaded.push(Uploaded {
            artifact: at.object.to_string(),
            functions: functions.clone(),
            code_sha256: pkg.code_sha256,
            size: pkg.size,
            uploaded: at.uploaded,
        });
    }
    Ok((locations, uploaded))
}

/// Where a package went, and whether it had to be uploaded.
struct Placed {
    object: S3Object,
    uploaded: bool,
}

/// Uploads one package unless the same bytes are there already; writes its manifests.
async fn upload_package(
    project: &Project,
    clients: &Clients,
    spec: &crate::scan::PackageSpec,
    pkg: &crate::package::Package,
    bucket: &str,
    json: bool,
) -> anyhow::Result<Placed> {
    let config = &project.config;
    let prefix = config.artifact_prefix.as_deref().unwrap_or("quickdeploy/");
    let rel = spec
        .folder
        .strip_prefix(&project.root)
        .unwrap_or(&spec.folder)
        .to_string_lossy()
        .trim_matches('/')
        .replace(['/', '\\', '.', ' '], "-");
    let rel = rel.trim_matches('-');
    let key = format!(
        "{prefix}{}/{}.zip",
        config.stack,
        if rel.is_empty() { "root" } else { rel }
    );
    let mut at = S3Object {
        bucket: bucket.to_owned(),
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
    let (etag, version) = match existing {
        Some(h) if same => (h.etag, h.version_id),
        _ => {
            let put = upload::upload(
                &clients.s3,
                bucket,
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
        }
    };
    at.version = version.clone();
    let m = Manifest {
        format: FORMAT,
        bucket: bucket.to_owned(),
        key,
        etag,
        version_id: version,
        code_sha256: pkg.code_sha256.clone(),
        size: pkg.size,
        files: pkg.files.clone(),
    };
    manifest::save_local(&manifest::local_path(&project.state_dir(), &at), &m)
        .context("cannot save the local manifest")?;
    remote::put_remote(&clients.s3, &m).await?;
    Ok(Placed {
        object: at,
        uploaded: !same,
    })
}

fn print_uploads(uploaded: &[Uploaded]) {
    for a in uploaded {
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

fn print_changes(stack: &str, created: &changeset::Created) {
    println!(
        "change set for stack {stack} ({}):",
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

/// Whether the change set may be executed: by the rules of [`consent::decide`], asking on a
/// terminal. A change set that will not be executed is deleted, and the report says why.
async fn consented(
    clients: &Clients,
    consent: Consent,
    created: &changeset::Created,
    report: &mut Report,
) -> anyhow::Result<bool> {
    let go_ahead = match consent::decide(consent, &report.stack, created.create, &created.changes) {
        Decision::Execute => true,
        Decision::Ask => {
            let t = Instant::now();
            let yes = ask(&created.changes)?;
            // The time spent answering is the user's, not the deploy's: reported apart.
            report.timings_ms.insert("answer", ms(t));
            if !yes {
                report.outcome = "cancelled";
            }
            yes
        }
        Decision::Refuse(why) => {
            report.ok = false;
            report.outcome = "refused";
            report.error = Some(why);
            false
        }
    };
    if !go_ahead {
        changeset::discard(&clients.cfn, &report.stack, created).await?;
    }
    Ok(go_ahead)
}

/// Executes the change set, streaming the stack's events, and records how it ended.
async fn execute(
    clients: &Clients,
    created: &changeset::Created,
    report: &mut Report,
    json: bool,
) -> anyhow::Result<()> {
    let t = Instant::now();
    let on_event = |line: &str| {
        if !json {
            eprintln!("{line}");
        }
    };
    let done = changeset::execute(&clients.cfn, &report.stack, created, &on_event).await?;
    report.timings_ms.insert("execute", ms(t));
    report.status = Some(done.status.clone());
    if done.failed.is_empty() && !done.rolled_back {
        report.outcome = "deployed";
    } else {
        report.ok = false;
        report.outcome = "failed";
        report.error = Some(format!(
            "stack {} ended {}; failed: {}",
            report.stack,
            done.status,
            if done.failed.is_empty() {
                "no resource event says why".to_owned()
            } else {
                done.failed.join("; ")
            }
        ));
    }
    Ok(())
}

/// The time the user took to answer the prompt, if asked.
fn answered(report: &Report) -> f64 {
    report.timings_ms.get("answer").copied().unwrap_or_default()
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
