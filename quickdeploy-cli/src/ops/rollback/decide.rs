//! A rollback's decisions, apart from its I/O: the artifacts to restore and the functions to
//! move back (from the history's pick), the question to ask, and the update jobs. Pure.

use std::collections::BTreeMap;

use anyhow::anyhow;

use crate::artifact::remote;
use crate::history::entry::{Code, History};
use crate::history::pick::{Goal, PickError};
use crate::lambda::update::Job;
use crate::lambda::update::Target;
use crate::project::template::S3Object;
use crate::report::{FunctionReport, FunctionStatus, RollbackReport, RolledArtifact};
/// One function to move: its goal, and what it is now.
#[derive(Debug)]
pub struct Move {
    pub goal: Goal,
    pub target: Target,
    /// Its CodeSha256 now, and whether its last update failed.
    pub now: Option<(String, bool)>,
    /// The RevisionId read, which the update must still match.
    pub revision: Option<String>,
}

/// One artifact the moves use.
#[derive(Debug)]
pub struct ArtifactPlan {
    pub at: S3Object,
    pub report: RolledArtifact,
    /// Restore `to` as the current version, conditional on this ETag.
    pub restore: Option<String>,
    /// The restored copy's ETag.
    pub copied_etag: Option<String>,
}

/// The logical ids of the functions asked for by logical id or name.
pub fn resolve(
    asked: &[String],
    targets: &BTreeMap<String, (Target, String)>,
    history: &History,
    stack: &str,
) -> Result<Vec<String>, PickError> {
    asked
        .iter()
        .map(|name| {
            if targets.contains_key(name) {
                return Ok(name.clone());
            }
            if let Some((id, _)) = targets.iter().find(|(_, (t, _))| &t.name == name) {
                return Ok(id.clone());
            }
            history
                .entries
                .iter()
                .flat_map(|e| &e.functions)
                .find(|f| &f.logical_id == name || f.name.as_ref() == Some(name))
                .map(|f| f.logical_id.clone())
                .ok_or_else(|| PickError::UnknownFunction {
                    name: name.clone(),
                    stack: stack.to_owned(),
                    known: targets.keys().cloned().collect::<Vec<_>>().join(", "),
                })
        })
        .collect()
}

/// `s3://bucket/key` as an object.
pub fn parse_artifact(artifact: &str) -> Option<S3Object> {
    let (bucket, key) = crate::history::entry::split_artifact(artifact)?;
    Some(S3Object {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        version: None,
    })
}

/// Whether an artifact is restored as its current version: only when every function of the
/// stack that runs it goes back to the same version, and it is not that version already.
pub fn plan_artifact(
    at: S3Object,
    head: remote::Head,
    goals: &[Goal],
    targets: &BTreeMap<String, (Target, String)>,
    moves: &[Move],
) -> ArtifactPlan {
    let artifact = at.to_string();
    let mine: Vec<&Goal> = goals.iter().filter(|g| g.artifact == artifact).collect();
    let to = mine[0].code.clone();
    let sharers: Vec<&String> = targets
        .iter()
        .filter(|(_, (_, a))| *a == artifact)
        .map(|(id, _)| id)
        .collect();
    let staying: Vec<&str> = sharers
        .iter()
        .filter(|id| !mine.iter().any(|g| &g.logical_id == **id))
        .map(|id| id.as_str())
        .collect();
    let one_version = mine.iter().all(|g| g.code.same(&to));
    // What the functions run now: the version the artifact has, with the CodeSha256 one of
    // them reports.
    let from = moves
        .iter()
        .find(|m| m.goal.artifact == artifact)
        .and_then(|m| m.now.as_ref())
        .map(|(sha, _)| Code {
            version_id: head.version_id.clone(),
            code_sha256: sha.clone(),
            manifest_version: None,
        });
    let current = head.version_id == to.version_id
        || head.uploaded_code_sha256.as_deref() == Some(to.code_sha256.as_str());
    let note = if !one_version {
        Some(
            "not restored as the current version: its functions go back to different versions"
                .to_owned(),
        )
    } else if !staying.is_empty() {
        Some(format!(
            "not restored as the current version: {} still run it (the next deploy brings the functions rolled back here to it again)",
            staying.join(", ")
        ))
    } else {
        None
    };
    let restore = (note.is_none() && !current).then(|| head.etag.clone());
    ArtifactPlan {
        at,
        report: RolledArtifact {
            artifact,
            functions: mine.iter().map(|g| g.logical_id.clone()).collect(),
            from,
            to,
            restored_version: None,
            note,
            error: None,
        },
        restore,
        copied_etag: None,
    }
}

/// The error for a version that is gone.
pub fn expired(at: &S3Object, version: &str, goal: Option<&Goal>) -> anyhow::Error {
    let how = match goal.and_then(|g| g.commit.as_deref()) {
        Some(commit) => format!(
            "check out commit {} and run `quickdeploy full` to deploy that code again",
            &commit[..commit.len().min(12)]
        ),
        None => "deploy that code again from its source with `quickdeploy full`".to_owned(),
    };
    let entry = goal.map_or(String::new(), |g| {
        format!(" (history entry #{})", g.from_entry)
    });
    anyhow!(
        "version {version} of {at}{entry} no longer exists: the bucket's lifecycle rule expired it (noncurrent versions are deleted after some days). Roll back to a newer entry (`quickdeploy history`), or {how}"
    )
}

/// What the user is asked to agree to.
pub fn question(todo: &[Move], artifacts: &[ArtifactPlan], report: &RollbackReport) -> Vec<String> {
    let ids = |v: &[u64]| {
        v.iter()
            .map(|i| format!("#{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = vec![match report.back_to {
        Some(id) => format!(
            "roll back stack {} to history entry #{id}, undoing {}:",
            report.stack,
            ids(&report.undone)
        ),
        None => format!(
            "roll back stack {}, undoing {}:",
            report.stack,
            ids(&report.undone)
        ),
    }];
    let short = |s: &str| s.get(..12).unwrap_or(s).to_owned();
    for m in todo {
        out.push(format!(
            "  {:<24} CodeSha256 {} -> {} (version {} of {})",
            m.goal.logical_id,
            short(m.now.as_ref().map_or("?", |(s, _)| s)),
            short(&m.goal.code.code_sha256),
            short(m.goal.code.version_id.as_deref().unwrap_or("?")),
            m.goal.artifact
        ));
    }
    for a in artifacts.iter().filter(|a| a.restore.is_some()) {
        out.push(format!(
            "  {} becomes version {} again (a copy of it is made the current version)",
            a.report.artifact,
            short(a.report.to.version_id.as_deref().unwrap_or("?"))
        ));
    }
    if !report.crossed_full.is_empty() {
        out.push(format!(
            "  --force: this crosses the full deploy {}",
            ids(&report.crossed_full)
        ));
    }
    out
}

/// The update of each function to move, with its move; a report for each that cannot be.
pub fn jobs_of(
    todo: Vec<Move>,
    artifacts: &[ArtifactPlan],
) -> (Vec<(Job, Move)>, Vec<FunctionReport>) {
    let mut reports = Vec::new();
    let mut jobs = Vec::new();
    for m in todo {
        let a = artifacts
            .iter()
            .find(|a| a.report.artifact == m.goal.artifact);
        if let Some(e) = a.and_then(|a| a.report.error.as_deref()) {
            reports.push(function_report(
                &m,
                FunctionStatus::Failed,
                &format!("its artifact could not be restored: {e}"),
            ));
            continue;
        }
        // The restored copy when there is one (the current version: no lifecycle rule
        // expires it); else the earlier version itself.
        let version =
            a.and_then(|a| a.report.restored_version.clone())
                .or(m.goal.code.version_id.clone());
        let at = parse_artifact(&m.goal.artifact).map(|at| S3Object { version, ..at });
        match at {
            Some(artifact) => jobs.push((
                Job {
                    target: m.target.clone(),
                    artifact: Some(artifact),
                    code_sha256: m.goal.code.code_sha256.clone(),
                    layers: Vec::new(),
                    revision_id: m.revision.clone(),
                },
                m,
            )),
            None => reports.push(function_report(
                &m,
                FunctionStatus::Failed,
                "bad artifact URL",
            )),
        }
    }
    (jobs, reports)
}

pub fn function_report(m: &Move, status: FunctionStatus, reason: &str) -> FunctionReport {
    FunctionReport {
        logical_id: m.target.logical_id.clone(),
        construct_path: None,
        name: m.target.name.clone(),
        status,
        reason: Some(reason.to_owned()),
        rollout: None,
        not_patched: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(id: &str) -> Target {
        Target {
            logical_id: id.into(),
            name: format!("app-{id}"),
            aliases: Vec::new(),
        }
    }

    fn goal(id: &str, artifact: &str, version: &str) -> Move {
        Move {
            goal: Goal {
                logical_id: id.into(),
                name: None,
                artifact: artifact.into(),
                code: Code {
                    version_id: Some(version.into()),
                    code_sha256: format!("sha-{version}"),
                    manifest_version: None,
                },
                from_entry: 1,
                commit: None,
            },
            target: target(id),
            now: None,
            revision: Some(format!("rev-{id}")),
        }
    }

    fn plan(artifact: &str, restored: Option<&str>, error: Option<&str>) -> ArtifactPlan {
        ArtifactPlan {
            at: parse_artifact(artifact).expect("artifact"),
            report: RolledArtifact {
                artifact: artifact.into(),
                functions: Vec::new(),
                from: None,
                to: Code {
                    version_id: Some("v1".into()),
                    code_sha256: "sha-v1".into(),
                    manifest_version: None,
                },
                restored_version: restored.map(str::to_owned),
                note: None,
                error: error.map(str::to_owned),
            },
            restore: None,
            copied_etag: None,
        }
    }

    #[test]
    fn each_move_becomes_a_pinned_update_or_a_failure_that_says_why() {
        let artifacts = [
            plan("s3://b/restored.zip", Some("v9"), None),
            plan("s3://b/kept.zip", None, None),
            plan("s3://b/broken.zip", None, Some("AccessDenied")),
        ];
        let (jobs, failed) = jobs_of(
            vec![
                goal("A", "s3://b/restored.zip", "v1"),
                goal("B", "s3://b/kept.zip", "v2"),
                goal("C", "s3://b/broken.zip", "v3"),
                goal("D", "not-an-s3-url", "v4"),
            ],
            &artifacts,
        );
        let pinned: Vec<(&str, Option<&str>, &str, Option<&str>)> = jobs
            .iter()
            .map(|(j, _)| {
                let at = j.artifact.as_ref().expect("artifact");
                (
                    j.target.logical_id.as_str(),
                    at.version.as_deref(),
                    j.code_sha256.as_str(),
                    j.revision_id.as_deref(),
                )
            })
            .collect();
        // The restored copy when there is one, else the earlier version itself; the update
        // must still find the RevisionId read before it.
        assert_eq!(
            pinned,
            [
                ("A", Some("v9"), "sha-v1", Some("rev-A")),
                ("B", Some("v2"), "sha-v2", Some("rev-B")),
            ]
        );
        let why: Vec<(&str, FunctionStatus, &str)> = failed
            .iter()
            .map(|f| {
                (
                    f.logical_id.as_str(),
                    f.status,
                    f.reason.as_deref().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            why,
            [
                (
                    "C",
                    FunctionStatus::Failed,
                    "its artifact could not be restored: AccessDenied"
                ),
                ("D", FunctionStatus::Failed, "bad artifact URL"),
            ]
        );
        assert_eq!(
            parse_artifact("s3://b/k/x.zip").map(|a| a.key),
            Some("k/x.zip".into())
        );
        assert_eq!(parse_artifact("https://b/k"), None);
    }
}
