//! `history`, and recording each deploy in the stack's deploy history: when, who (the
//! caller's ARN from STS GetCallerIdentity; `unknown`, with a warning, when STS does not
//! answer), the project's git commit and dirty flag (none outside git), then the conditional
//! append of [`crate::history::store`]. A quick deploy hands its entry and its hot patches to
//! the patcher, which appends them next to S3 from a frame of a few hundred bytes; this
//! machine writes them itself when the patcher cannot. A history that cannot be written is a
//! warning, never a failed deploy.

use std::path::Path;
use std::time::Duration;

use crate::artifact::hotpatch;
use crate::artifact::patch::{PatchFailure, Patcher};
use crate::aws::Clients;
use crate::history::entry::{Entry, Git};
use crate::history::store::{Loaded, append, key, load, manifest_versions};
use crate::ops::{Event, Ui};
use crate::project::Project;
use crate::report::{HistoryReport, Recorded};

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
    /// The hot patches to record beside the entry, and the hot-patch record as read while
    /// the deploy ran.
    pub hotpatch: Option<(hotpatch::Record, Option<hotpatch::Read>)>,
    /// The patcher: the zipedit Lambda appends the entry and the hot patches next to S3
    /// (none, or a local patcher: this machine appends them).
    pub patcher: Option<Patcher>,
}

/// Records `entry` (when there is one) in the history of `stack` in `bucket`: fills in when,
/// who and the git commit, appends it (with the hot patches of `ahead`); how. A failure is a
/// warning, not an error.
pub async fn record(
    clients: &Clients,
    project: &Project,
    bucket: Option<&str>,
    entry: Option<Entry>,
    ahead: Ahead,
    ui: &dyn Ui,
) -> Option<Recorded> {
    let Ahead {
        history: read_before,
        git: git_ahead,
        hotpatch: hot,
        patcher,
    } = ahead;
    let (hot, hot_read) = hot.unwrap_or_default();
    let bucket = bucket?;
    let Some(mut entry) = entry else {
        // Nothing to enter in the history; hot patches (if any) are still recorded.
        added(
            hotpatch::add_to(&clients.s3, bucket, &project.config.stack, hot, hot_read).await,
            ui,
        );
        return None;
    };
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
    // Through the zipedit Lambda only: a local patcher would read again what this machine
    // read already, to save a wire it does not have.
    if let (Some(Patcher::Lambda { client, function }), Some((history, _))) =
        (&patcher, &read_before)
    {
        let recorded = zipedit::records::Recorded {
            entry: entry.clone(),
            hotpatch: hot.clone(),
        };
        let newest = history.entries.last();
        if let Some(done) =
            by_patcher((client, function), bucket, stack, &recorded, newest, ui).await
        {
            return Some(done);
        }
    }
    let (appended, added) = tokio::join!(
        append(&clients.s3, bucket, stack, entry, read_before),
        hotpatch::add_to(&clients.s3, bucket, stack, hot, hot_read)
    );
    self::added(added, ui);
    match appended {
        Ok(id) => Some(Recorded {
            id,
            by: "client",
            request_bytes: None,
        }),
        Err(e) => {
            ui.event(Event::Warning(&format!(
                "{e:#}: this change is not in `quickdeploy history`"
            )));
            None
        }
    }
}

/// The deploy's record appended by the patcher, next to S3, from a frame made against the
/// newest entry read; `None` (with a warning when it is worth one) when this machine is to
/// append it instead.
async fn by_patcher(
    (client, function): (&aws_sdk_lambda::Client, &str),
    bucket: &str,
    stack: &str,
    recorded: &zipedit::records::Recorded,
    newest: Option<&Entry>,
    ui: &dyn Ui,
) -> Option<Recorded> {
    let asked = async {
        let request = zipedit::records::RecordRequest::new(bucket, stack, recorded, newest)
            .map_err(|e| PatchFailure::Other(e.into()))?;
        crate::artifact::patch::record(client, function, request).await
    };
    match asked.await {
        Ok((answer, request_bytes)) => Some(Recorded {
            id: answer.id,
            by: "patcher",
            request_bytes: Some(request_bytes),
        }),
        // Another deploy appended since the history was read: this machine appends (each
        // write conditional, as the patcher's are).
        Err(PatchFailure::Refused { kind, .. }) if kind == "RecordStale" => None,
        Err(PatchFailure::Refused { kind, .. }) if kind == "BadEvent" => {
            ui.event(Event::Warning(
                "the patcher does not write deploy records (it is older than this quickdeploy), so this machine wrote the history whole: update it with `quickdeploy bootstrap`",
            ));
            None
        }
        Err(e) => {
            ui.event(Event::Warning(&format!(
                "the patcher did not record this deploy ({e:#}): this machine wrote the history"
            )));
            None
        }
    }
}

/// Warns when the hot patches could not be recorded.
fn added(result: anyhow::Result<()>, ui: &dyn Ui) {
    if let Err(e) = result {
        ui.event(Event::Warning(&format!(
            "{e:#}: status will not list these hot patches"
        )));
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
