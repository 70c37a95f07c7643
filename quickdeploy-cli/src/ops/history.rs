//! `history`, and recording each deploy in the stack's deploy history: when, who (the
//! caller's ARN from STS GetCallerIdentity; `unknown`, with a warning, when STS does not
//! answer), the project's git commit and dirty flag (none outside git), then the conditional
//! append of [`crate::history::store`]. A history that cannot be written is a warning, never a
//! failed deploy.

use std::path::Path;
use std::time::Duration;

use crate::aws::Clients;
use crate::history::entry::{Entry, Git};
use crate::history::store::{Loaded, append, key, load, manifest_versions};
use crate::ops::{Event, Ui};
use crate::project::Project;
use crate::report::HistoryReport;

/// How long to wait for STS before recording `unknown`.
const STS_WAIT: Duration = Duration::from_secs(5);

/// What a deploy learned for its history entry while it ran, so that only the write is left
/// once its outcome is known.
#[derive(Debug, Default)]
pub struct Ahead {
    /// The history as read (and its ETag).
    pub history: Option<Loaded>,
    /// The project's git commit, asked when the deploy began (`Some(None)`: not in git).
    pub git: Option<Option<Git>>,
}

/// Records `entry` (when there is one) in the history of `stack` in `bucket`: fills in when,
/// who and the git commit, appends it; its id. A failure is a warning, not an error.
pub async fn record(
    clients: &Clients,
    project: &Project,
    bucket: Option<&str>,
    entry: Option<Entry>,
    ahead: Ahead,
    ui: &dyn Ui,
) -> Option<u64> {
    let (Some(bucket), Some(mut entry)) = (bucket, entry) else {
        return None;
    };
    let Ahead {
        history: read_before,
        git: git_ahead,
    } = ahead;
    let git = async {
        match git_ahead {
            Some(known) => known,
            None => git(&project.root).await,
        }
    };
    let (who, git, manifests) =
        tokio::join!(who(clients), git, manifest_versions(&clients.s3, &entry));
    for (a, version) in entry.artifacts.iter_mut().zip(manifests) {
        if let Some(after) = a.after.as_mut().filter(|c| c.manifest_version.is_none()) {
            after.manifest_version = version;
        }
    }
    entry.who = who.unwrap_or_else(|e| {
        ui.event(Event::Warning(&format!(
            "cannot tell who deploys (STS GetCallerIdentity: {e}): the history records `unknown`"
        )));
        "unknown".to_owned()
    });
    entry.git = git;
    entry.at = crate::aws::clock::now_rfc3339();
    let stack = &project.config.stack;
    match append(&clients.s3, bucket, stack, entry, read_before).await {
        Ok(id) => Some(id),
        Err(e) => {
            ui.event(Event::Warning(&format!(
                "{e:#}: this change is not in `quickdeploy history`"
            )));
            None
        }
    }
}

/// The caller's ARN, asked of STS once per set of clients (each target may be another
/// account).
pub async fn who(clients: &Clients) -> Result<String, String> {
    clients
        .identity
        .get_or_init(|| async {
            let sts = aws_sdk_sts::Client::new(&clients.config);
            match tokio::time::timeout(STS_WAIT, sts.get_caller_identity().send()).await {
                Ok(Ok(out)) => out
                    .arn()
                    .map(str::to_owned)
                    .ok_or_else(|| "it answered no ARN".to_owned()),
                Ok(Err(e)) => Err(crate::aws::describe(&e)),
                Err(_) => Err(format!("no answer within {} s", STS_WAIT.as_secs())),
            }
        })
        .await
        .clone()
}

/// The project's git commit and whether its work tree is dirty; `None` outside a git
/// repository (or without git).
pub async fn git(root: &Path) -> Option<Git> {
    let run = |args: &'static [&'static str]| {
        tokio::process::Command::new("git")
            .args(args)
            .current_dir(root)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
    };
    let (head, changes) =
        tokio::join!(run(&["rev-parse", "HEAD"]), run(&["status", "--porcelain"]));
    let head = head.ok().filter(|o| o.status.success())?;
    let commit = String::from_utf8_lossy(&head.stdout).trim().to_owned();
    if commit.is_empty() {
        return None;
    }
    let dirty = changes
        .ok()
        .filter(|o| o.status.success())
        .is_some_and(|o| !o.stdout.iter().all(u8::is_ascii_whitespace));
    Some(Git { commit, dirty })
}

/// Where a project's history is kept: quickdeploy.toml's `artifact_bucket`, else the bucket
/// the bootstrap stack made (as `full` uploads there).
pub async fn bucket(project: &Project, clients: &Clients) -> anyhow::Result<String> {
    if let Some(b) = &project.config.artifact_bucket {
        return Ok(b.clone());
    }
    crate::stack::deployed::parameter(&clients.cfn, crate::ops::bootstrap::STACK, "CodeBucket")
        .await
        .ok_or_else(|| {
            crate::project::config::BadConfig(
                "no artifact bucket, so no deploy history: set `artifact_bucket` in quickdeploy.toml, or run `quickdeploy bootstrap`".into(),
            )
            .into()
        })
}

/// What `history` shows: the timeline of `function` (all when `None`), newest first, at most
/// `limit` entries.
pub async fn history(
    project: &Project,
    clients: &Clients,
    function: Option<&str>,
    limit: usize,
) -> anyhow::Result<HistoryReport> {
    let bucket = bucket(project, clients).await?;
    let stack = &project.config.stack;
    let (history, _) = load(&clients.s3, &bucket, stack).await?;
    // A CDK app's function may be named by its construct path.
    let function = function.map(|f| project.function_id(f)).transpose()?;
    let function = function.as_deref();
    Ok(HistoryReport {
        ok: true,
        stack: stack.clone(),
        location: format!("s3://{bucket}/{}", key(stack)),
        kept: history.entries.len(),
        entries: history.timeline(function, limit),
    })
}
