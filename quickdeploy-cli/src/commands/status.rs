//! `quickdeploy status`: per function, what changed and what `deploy` would do. Reads only.

use serde::Serialize;

use crate::commands::CommonArgs;
use crate::commands::deploy::{ArtifactReport, artifact_report};
use crate::error::{Error, Exit};
use crate::inspect::inspect;
use crate::update;

/// Show what changed since the last deploy and what `deploy` would do, without writing.
///
/// Reads the stack, each artifact's manifest and each function's CodeSha256; diffs each
/// package. Build commands are not run: for compiled functions, build first.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  quickdeploy status
  quickdeploy status --json | jq '.functions[] | select(.action != \"none\")'

Exit codes: 0 read, 1 AWS could not be read, 2 bad usage or configuration.")]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Serialize)]
struct FunctionStatus {
    logical_id: String,
    name: String,
    artifact: String,
    /// The function runs the artifact as it is now.
    live: Option<bool>,
    /// none, quick (patch and update), update (artifact is current, function is not), full.
    action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

#[derive(Debug, Serialize)]
struct Status {
    /// The stack and artifacts could be read.
    ok: bool,
    /// What `deploy` would do now: `nothing-to-deploy`, `quick-deploy` or `needs-full`.
    outcome: &'static str,
    stack: String,
    stack_status: Option<String>,
    needs_full: Vec<String>,
    artifacts: Vec<ArtifactReport>,
    functions: Vec<FunctionStatus>,
    not_served: Vec<crate::plan::Skipped>,
    new_functions: Vec<String>,
    /// Functions updated by `deploy` since the last `full`: they run code their template does
    /// not name.
    hot_patched: crate::hotpatch::Record,
    /// Why quick deploys are refused, if the stack is protected.
    #[serde(skip_serializing_if = "Option::is_none")]
    protected: Option<String>,
}

impl Args {
    /// JSON output.
    pub fn json(&self) -> bool {
        self.common.json(false)
    }
}

/// Runs `status`.
pub async fn run(args: Args) -> crate::error::Outcome {
    let json = args.common.json(false);
    let project = args.common.project()?;
    let clients = args.common.clients(None).await?;
    let seen = inspect(project, &clients)
        .await
        .map_err(|e| Error::classify(e, "StatusFailed"))?;
    let needs_full = seen.needs_full();
    let names = seen
        .groups
        .iter()
        .flat_map(|g| g.group.functions.iter().map(|f| f.name.clone()))
        .collect();
    let current = update::current_code(&clients.lambda, names).await;
    let mut functions = Vec::new();
    for g in &seen.groups {
        for f in &g.group.functions {
            let now = current.iter().find(|(n, _)| *n == f.name).map(|(_, r)| r);
            let (live, reason) = match now {
                Some(Ok(now)) => (Some(now.runs(&g.base.code_sha256)), None),
                Some(Err(e)) => (None, Some(format!("cannot read it: {e}"))),
                None => (None, None),
            };
            let action = if !needs_full.is_empty() {
                "full"
            } else if !g.diff.is_empty() {
                "quick"
            } else if live == Some(false) {
                "update"
            } else {
                "none"
            };
            functions.push(FunctionStatus {
                logical_id: f.logical_id.clone(),
                name: f.name.clone(),
                artifact: g.group.artifact.to_string(),
                live,
                action,
                reason,
            });
        }
    }
    functions.sort_by(|a, b| a.logical_id.cmp(&b.logical_id));
    let hot_patched = match crate::commands::deploy::record_bucket(&seen) {
        Some(bucket) => crate::hotpatch::load(&clients.s3, &bucket, &seen.project.config.stack)
            .await
            .unwrap_or_default(),
        None => Default::default(),
    };
    let protected = seen
        .deployed
        .as_ref()
        .and_then(|d| seen.project.config.protection(&d.tags));
    let outcome = if !needs_full.is_empty() || protected.is_some() {
        "needs-full"
    } else if functions.iter().any(|f| f.action != "none") {
        "quick-deploy"
    } else {
        "nothing-to-deploy"
    };
    let status = Status {
        ok: true,
        outcome,
        hot_patched,
        protected,
        stack: seen.project.config.stack.clone(),
        stack_status: seen.deployed.as_ref().map(|d| d.status.clone()),
        needs_full,
        artifacts: seen.groups.iter().map(artifact_report).collect(),
        functions,
        not_served: seen.plan.skipped.clone(),
        new_functions: seen.plan.new_functions.clone(),
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&status).unwrap_or_default()
        );
        return Ok(Exit::Success);
    }
    print_human(&status);
    Ok(Exit::Success)
}

/// The status for people: the stack, each artifact and function, what deploy would do.
fn print_human(status: &Status) {
    let names: Vec<&str> = status
        .artifacts
        .iter()
        .map(|a| a.artifact.as_str())
        .collect();
    let folder = crate::output::common_folder(&names);
    println!(
        "stack {} ({}){}",
        status.stack,
        status.stack_status.as_deref().unwrap_or("does not exist"),
        if folder.is_empty() {
            String::new()
        } else {
            format!(", artifacts in {folder}")
        }
    );
    for a in &status.artifacts {
        println!("  {}  {}", &a.artifact[folder.len()..], a.change.describe());
        for p in &a.paths {
            println!("      {p}");
        }
    }
    for f in &status.functions {
        let what = match f.action {
            "none" => "up to date".to_owned(),
            "quick" => "deploy would patch its artifact and update it".to_owned(),
            "update" => "deploy would update it (it does not run the current artifact)".to_owned(),
            _ => "needs a full deploy".to_owned(),
        };
        println!(
            "  {:<24} {:<40} {what}{}",
            f.logical_id,
            f.name,
            f.reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        );
    }
    for s in &status.not_served {
        println!("  not served: {}: {}", s.logical_id, s.reason);
    }
    if !status.hot_patched.is_empty() {
        println!(
            "hot-patched since the last full deploy (the next `quickdeploy full` reconciles them):"
        );
        for (id, e) in &status.hot_patched {
            println!(
                "  {id:<24} {} CodeSha256 {}",
                e.name,
                crate::output::short_sha(&e.code_sha256)
            );
        }
    }
    if let Some(why) = &status.protected {
        println!("protected: {why}: deploy goes the full way unless --force");
    }
    if !status.needs_full.is_empty() {
        println!("a full deploy is needed (`quickdeploy full`):");
        for why in &status.needs_full {
            println!("  - {why}");
        }
    }
}
