//! `quickdeploy deploy`: the quick path from changed files to live functions.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use serde::Serialize;
use zipedit::event::PatchAnswer;

use crate::aws::Clients;
use crate::classify::Change;
use crate::config::Project;
use crate::consent::{self, Consent};
use crate::error::{Error, Exit};
use crate::hotpatch;
use crate::inspect::{GroupState, Inspected, inspect, ms};
use crate::manifest::{self, FORMAT, Manifest};
use crate::output::{Output, Progress, human_bytes, short_sha};
use crate::patch::{self, PatchFailure, Patcher};
use crate::plan::Skipped;
use crate::remote;
use crate::template::S3Object;
use crate::update::{self, Job, Outcome, Pace};

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
pub struct Args {
    #[command(flatten)]
    pub common: super::CommonArgs,
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
}

/// One artifact in the report.
#[derive(Debug, Serialize)]
pub struct ArtifactReport {
    /// `s3://bucket/key`.
    pub artifact: String,
    /// The package folder.
    pub package: PathBuf,
    /// The change's kind.
    pub change: Change,
    /// Files added, modified, deleted.
    pub added: usize,
    /// Modified files.
    pub modified: usize,
    /// Deleted files.
    pub deleted: usize,
    /// Changed paths.
    pub paths: Vec<String>,
    /// Files read and hashed to find the change.
    pub hashed: usize,
    /// Where the manifest came from: local, remote, artifact.
    pub manifest: remote::Source,
    /// The patcher's answer, when it patched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<PatchAnswer>,
    /// Bytes of the patch request sent from this machine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_bytes: Option<u64>,
    /// Why patching failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The CodeSha256 the functions should end up with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_sha256: Option<String>,
}

/// One function in the report.
#[derive(Debug, Serialize)]
pub struct FunctionReport {
    /// Logical id.
    pub logical_id: String,
    /// Name.
    pub name: String,
    /// `updated`, `skipped` (already running the artifact) or `failed`.
    pub status: String,
    /// Details for skipped and failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The rollout's details, when it was updated or failed updating.
    #[serde(skip_serializing_if = "Option::is_none", flatten)]
    pub rollout: Option<Outcome>,
}

/// Phase times in milliseconds.
#[derive(Debug, Default, Serialize)]
pub struct Timings {
    /// Reading the stack, artifacts and manifests; scanning and diffing packages.
    pub diff: f64,
    /// Patching artifacts (in parallel): wall time.
    pub patch: f64,
    /// The longest UpdateFunctionCode call sequence (with retries).
    pub update: f64,
    /// The rest of the rollout: waiting for Successful, publishing.
    pub wait: f64,
    /// Everything.
    pub total: f64,
}

/// The whole deploy, as `--json` prints it.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Every function live and nothing failed.
    pub ok: bool,
    /// `deployed`, `nothing-to-deploy`, `needs-full` or `failed`.
    pub outcome: &'static str,
    /// The stack.
    pub stack: String,
    /// Why a full deploy is needed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub needs_full: Vec<String>,
    /// Why the fallback to a full deploy was not started (no consent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// Per artifact.
    pub artifacts: Vec<ArtifactReport>,
    /// Per function.
    pub functions: Vec<FunctionReport>,
    /// Functions the quick path does not serve.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_served: Vec<Skipped>,
    /// The full deploy it fell back to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full: Option<crate::commands::full::Report>,
    /// Phase times.
    pub timings_ms: Timings,
}

impl Args {
    /// JSON output.
    pub fn json(&self) -> bool {
        self.common.json(self.ci)
    }
}

/// Runs `deploy`.
pub async fn run(args: Args) -> crate::error::Outcome {
    let json = args.common.json(args.ci);
    let project = args.common.project()?;
    let patcher_endpoint = if args.local {
        None
    } else {
        args.patcher_endpoint.as_deref()
    };
    let clients = args.common.clients(patcher_endpoint).await?;
    let out = Output::new(json);
    let report = deploy(&args, project, &clients, &out)
        .await
        .map_err(|e| Error::classify(e, "DeployFailed"))?;
    out.deploy_report(&report);
    match report.outcome {
        "needs-full" => Ok(Exit::NeedsFull),
        "failed" => Ok(Exit::Failed),
        "full" if report.full.as_ref().is_some_and(|f| !f.ok) => Ok(Exit::Failed),
        _ => Ok(Exit::Success),
    }
}

// Long (plan, patch, roll out, record, report in one place): its decisions move to a pure
// rollout module and its I/O to ops::deploy in issue 11 ("The CLI's shape"), not piecemeal here.
/// The deploy itself, given its clients: what the tests and `watch` call too.
pub async fn deploy(
    args: &Args,
    project: Project,
    clients: &Clients,
    out: &Output,
) -> anyhow::Result<Report> {
    let started = Instant::now();
    let mode: zipedit::Mode = args.mode.parse().map_err(|e: String| anyhow!(e))?;
    let patcher = if args.local {
        Patcher::Local(clients.s3.clone())
    } else {
        Patcher::Lambda {
            client: clients.patcher.clone(),
            function: args
                .patcher
                .clone()
                .unwrap_or_else(|| project.config.patcher_name().to_owned()),
        }
    };
    let progress = Progress::new(out);
    progress.say("reading the stack and diffing packages");
    let seen: Inspected = inspect(project, clients).await?;
    let stack = seen.project.config.stack.clone();
    let mut needs_full = seen.needs_full();
    if !args.force {
        let protection = seen
            .deployed
            .as_ref()
            .and_then(|d| seen.project.config.protection(&d.tags));
        if let Some(why) = protection {
            needs_full.push(format!(
                "{why}: quick deploys are refused (--force overrides)"
            ));
        }
    }
    let mut report = Report {
        ok: false,
        outcome: "needs-full",
        stack,
        needs_full,
        refused: None,
        artifacts: Vec::new(),
        functions: Vec::new(),
        not_served: seen.plan.skipped.clone(),
        full: None,
        timings_ms: Timings {
            diff: seen.ms,
            ..Timings::default()
        },
    };
    if !report.needs_full.is_empty() {
        report.artifacts = seen.groups.iter().map(artifact_report).collect();
        progress.done();
        let consent = Consent {
            yes: args.yes || args.ci,
            allow_removals: args.allow_removals,
            terminal: !args.ci && std::io::IsTerminal::is_terminal(&std::io::stdin()),
        };
        if !args.no_fallback {
            if let Err(why) = consent::fallback(consent) {
                report.refused = Some(why);
            } else {
                if !out.json {
                    eprintln!(
                        "falling back to a full deploy: {}",
                        report.needs_full.join("; ")
                    );
                }
                let full = crate::commands::full::full(
                    &seen.project,
                    clients,
                    &[],
                    consent,
                    false,
                    out.json,
                )
                .await?;
                report.ok = full.ok;
                report.outcome = if full.outcome == "refused" {
                    "needs-full"
                } else {
                    "full"
                };
                report.full = Some(full);
            }
        }
        // Not the time the user took to answer the fallback's prompt.
        let answer = report
            .full
            .as_ref()
            .and_then(|f| f.timings_ms.get("answer").copied())
            .unwrap_or_default();
        report.timings_ms.total = ms(started) - answer;
        return Ok(report);
    }

    // Patch every changed artifact, in parallel; meanwhile read each function's CodeSha256.
    let t = Instant::now();
    progress.say("patching");
    let names: Vec<String> = seen
        .groups
        .iter()
        .flat_map(|g| g.group.functions.iter().map(|f| f.name.clone()))
        .collect();
    let current = update::current_code(&clients.lambda, names);
    let patches = seen
        .groups
        .iter()
        .map(|g| patch_group(g, &patcher, clients, mode));
    let (current, patched) = tokio::join!(current, futures::future::join_all(patches));
    report.timings_ms.patch = ms(t);

    let mut jobs = Vec::new();
    let mut manifests = Vec::new();
    for (g, result) in seen.groups.iter().zip(patched) {
        let mut art = artifact_report(g);
        let (artifact, code_sha256) = match result {
            Ok(None) => (
                S3Object {
                    version: g.head.version_id.clone(),
                    ..g.group.artifact.clone()
                },
                g.base.code_sha256.clone(),
            ),
            Ok(Some((answer, sent, manifest))) => {
                let at = S3Object {
                    version: answer.version_id.clone(),
                    ..g.group.artifact.clone()
                };
                let sha = answer.code_sha256.clone();
                art.request_bytes = (sent > 0).then_some(sent);
                art.patch = Some(answer);
                manifests.push(manifest);
                (at, sha)
            }
            Err(e) => {
                art.error = Some(format!("{e:#}"));
                for f in &g.group.functions {
                    report.functions.push(FunctionReport {
                        logical_id: f.logical_id.clone(),
                        name: f.name.clone(),
                        status: "failed".into(),
                        reason: Some(format!("{}{e:#}", crate::output::NOT_PATCHED)),
                        rollout: None,
                    });
                }
                report.artifacts.push(art);
                continue;
            }
        };
        art.code_sha256 = Some(code_sha256.clone());
        for f in &g.group.functions {
            let now = current.iter().find(|(n, _)| n == &f.name).map(|(_, r)| r);
            match now {
                Some(Ok(now)) if now.runs(&code_sha256) => report.functions.push(FunctionReport {
                    logical_id: f.logical_id.clone(),
                    name: f.name.clone(),
                    status: "skipped".into(),
                    reason: Some("already runs this artifact".into()),
                    rollout: None,
                }),
                _ => jobs.push(Job {
                    target: f.clone(),
                    artifact: artifact.clone(),
                    code_sha256: code_sha256.clone(),
                }),
            }
        }
        report.artifacts.push(art);
    }

    // The manifests describe the patched artifacts whatever happens to the functions: which
    // function runs what is Lambda's to say, and the next deploy asks it.
    let state_dir = seen.project.state_dir();
    for m in &manifests {
        if let Err(e) = manifest::save_local(&manifest::local_path(&state_dir, &m.artifact()), m) {
            progress.warn(&format!("could not save the local manifest cache: {e}"));
        }
    }
    let remote_writes =
        futures::future::join_all(manifests.iter().map(|m| remote::put_remote(&clients.s3, m)));

    let t = Instant::now();
    let pace = Pace {
        concurrency: args.concurrency.into(),
        timeout: Duration::from_secs(args.wait_timeout),
        ..Pace::default()
    };
    if !jobs.is_empty() {
        progress.say(&format!("updating {} function(s)", jobs.len()));
    }
    let on_state = |name: &str, state: &str| progress.say(&format!("{name}: {state}"));
    // Recorded as hot-patched before the outcome is known, alongside the rollout rather than
    // after it (it is off the critical path): a function whose update fails may still have
    // changed, so listing it until the next full deploy is the safe side.
    let patched: hotpatch::Record = jobs
        .iter()
        .map(|j| {
            (
                j.target.logical_id.clone(),
                hotpatch::Entry {
                    name: j.target.name.clone(),
                    code_sha256: j.code_sha256.clone(),
                    artifact: j.artifact.to_string(),
                    at: crate::output::now_rfc3339(),
                },
            )
        })
        .collect();
    let record = async {
        match record_bucket(&seen) {
            Some(bucket) => hotpatch::add(&clients.s3, &bucket, &report.stack, patched).await,
            None => Ok(()),
        }
    };
    let (outcomes, writes, recorded) = tokio::join!(
        update::roll_out(&clients.lambda, jobs, &pace, &on_state),
        remote_writes,
        record
    );
    if let Err(e) = recorded {
        progress.warn(&format!("{e:#}: status will not list these hot patches"));
    }
    let rollout_ms = ms(t);
    for w in writes {
        if let Err(e) = w {
            progress.warn(&format!(
                "{e:#}: the next deploy from another machine will read the artifact instead"
            ));
        }
    }
    report.timings_ms.update = outcomes.iter().map(|o| o.update_ms).fold(0.0, f64::max);
    report.timings_ms.wait =
        ((rollout_ms - report.timings_ms.update).max(0.0) * 100.0).round() / 100.0;
    for o in outcomes {
        report.functions.push(FunctionReport {
            logical_id: o.logical_id.clone(),
            name: o.name.clone(),
            status: o.status.into(),
            reason: o.reason.clone(),
            rollout: Some(o),
        });
    }
    report
        .functions
        .sort_by(|a, b| a.logical_id.cmp(&b.logical_id));
    let failed = report.functions.iter().any(|f| f.status == "failed")
        || report.artifacts.iter().any(|a| a.error.is_some());
    let updated = report.functions.iter().any(|f| f.status == "updated");
    report.ok = !failed;
    report.outcome = if failed {
        "failed"
    } else if updated || !manifests.is_empty() {
        "deployed"
    } else {
        "nothing-to-deploy"
    };
    report.timings_ms.total = ms(started);
    progress.done();
    Ok(report)
}

/// Where the hot-patch record of a project lives: its artifact bucket.
pub fn record_bucket(seen: &Inspected) -> Option<String> {
    seen.project
        .config
        .artifact_bucket
        .clone()
        .or_else(|| seen.groups.first().map(|g| g.group.artifact.bucket.clone()))
}

type Patched = Option<(PatchAnswer, u64, Manifest)>;

/// Patches one artifact if its package changed; the answer, request bytes, and new manifest.
async fn patch_group(
    g: &GroupState,
    patcher: &Patcher,
    clients: &Clients,
    mode: zipedit::Mode,
) -> anyhow::Result<Patched> {
    if g.diff.is_empty() {
        return Ok(None);
    }
    let event = patch::event(&g.group.artifact, &g.diff, &g.head.etag, mode);
    let (answer, sent) = patch::run(patcher, &clients.s3, event, &g.diff, &g.group.artifact)
        .await
        .map_err(|e| match e {
            PatchFailure::Refused { kind, message } if kind == "ArtifactChanged" => anyhow!(
                "{message} (someone else deployed this artifact meanwhile: run deploy again)"
            ),
            other => anyhow!(other),
        })?;
    let manifest = Manifest {
        format: FORMAT,
        bucket: answer.bucket.clone(),
        key: answer.key.clone(),
        etag: answer.etag.clone(),
        version_id: answer.version_id.clone(),
        code_sha256: answer.code_sha256.clone(),
        size: answer.size,
        files: g.diff.next.clone(),
    };
    Ok(Some((answer, sent, manifest)))
}

/// The report of one artifact before any patch.
pub fn artifact_report(g: &GroupState) -> ArtifactReport {
    let (added, modified, deleted) = g.diff.counts();
    ArtifactReport {
        artifact: g.group.artifact.to_string(),
        package: g.group.package.folder.clone(),
        change: g.change.clone(),
        added,
        modified,
        deleted,
        paths: g.diff.paths().map(str::to_owned).collect(),
        hashed: g.diff.hashed,
        manifest: g.source,
        patch: None,
        request_bytes: None,
        error: None,
        code_sha256: None,
    }
}

/// One line about a patch, for people.
pub fn describe_patch(a: &PatchAnswer) -> String {
    let how = match a.mode {
        zipedit::Strategy::Append => "patched by append",
        zipedit::Strategy::Rewrite => "patched by rewrite",
        zipedit::Strategy::Unchanged => "nothing to write",
    };
    format!(
        "{how} in {:.0} ms: {} through the patcher, {} copied by S3; CodeSha256 {}",
        a.timings_ms.total,
        human_bytes(a.read_bytes + a.written_bytes),
        human_bytes(a.copied_bytes),
        short_sha(&a.code_sha256)
    )
}
