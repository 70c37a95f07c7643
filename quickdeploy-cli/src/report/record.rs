//! What a report leaves in the deploy history: the entry of a quick deploy (from what it
//! inspected and its report), of a full deploy and of a rollback. Here rather than in
//! `history`, so the history's types need no report and the reports may embed them.

use std::collections::BTreeMap;
use std::path::Path;

use crate::history::entry::{
    ArtifactChange, Change, Code, Entry, FunctionChange, Kind, LayerChange, Outcome, PATHS,
};
use crate::plan::inspect::Inspected;
use crate::project::template::S3Object;
use crate::report::{
    DeployOutcome, DeployReport, FullOutcome, FullReport, FunctionStatus, RollbackOutcome,
    RollbackReport,
};

/// A function a deploy or rollback updated (or failed to), as the history keeps it.
fn change_of(f: &crate::report::FunctionReport, artifact: String) -> FunctionChange {
    let rollout = f.rollout.as_ref();
    FunctionChange {
        logical_id: f.logical_id.clone(),
        name: Some(f.name.clone()),
        artifact,
        change: if f.status == FunctionStatus::Updated {
            Change::Updated
        } else {
            Change::Failed
        },
        code_sha256: rollout.and_then(|o| o.code_sha256.clone()),
        version: rollout.and_then(|o| o.version.clone()),
        aliases: rollout.map(|o| o.aliases.clone()).unwrap_or_default(),
        reason: f.reason.clone(),
    }
}

/// The layers a deploy published, and the functions it moved to them that no code change of
/// the entry names; an entry with a layer is of kind `layer`.
fn add_layers(entry: &mut Entry, report: &DeployReport) {
    for a in &report.artifacts {
        for l in &a.layers {
            let Some(published) = &l.published else {
                continue;
            };
            entry.layers.push(LayerChange {
                logical_id: l.logical_id.clone(),
                artifact: a.artifact.clone(),
                deployed: l.deployed.clone(),
                published: published.clone(),
                users: l.users.clone(),
            });
            let moved = report
                .functions
                .iter()
                .filter(|f| f.status != FunctionStatus::Skipped && l.users.contains(&f.logical_id));
            for f in moved {
                if !entry.functions.iter().any(|x| x.logical_id == f.logical_id) {
                    entry.functions.push(change_of(f, a.artifact.clone()));
                }
            }
        }
    }
    if !entry.layers.is_empty() {
        entry.kind = Kind::Layer;
    }
}

/// The entry of a quick deploy, from what it inspected and its report; `None` when it changed
/// nothing (nothing to deploy, a full deploy needed: refused) or fell back to `full` (which
/// records itself).
pub fn of_deploy(seen: &Inspected, report: &DeployReport) -> Option<Entry> {
    let outcome = match report.outcome {
        DeployOutcome::Deployed => Outcome::Deployed,
        DeployOutcome::Failed => Outcome::Failed,
        DeployOutcome::NothingToDeploy | DeployOutcome::NeedsFull | DeployOutcome::Full => {
            return None;
        }
    };
    let mut entry = Entry::new(Kind::Quick, outcome);
    let mut paths = Vec::new();
    for g in &seen.groups {
        let artifact = g.group.artifact.to_string();
        let Some(a) = report.artifacts.iter().find(|a| a.artifact == artifact) else {
            continue;
        };
        let functions: Vec<_> = report
            .functions
            .iter()
            .filter(|f| f.status != FunctionStatus::Skipped)
            .filter(|f| {
                g.group
                    .functions
                    .iter()
                    .any(|t| t.logical_id == f.logical_id)
            })
            .collect();
        if a.patch.is_none() && a.error.is_none() && functions.is_empty() {
            continue;
        }
        entry.files.added += a.added;
        entry.files.modified += a.modified;
        entry.files.deleted += a.deleted;
        let folder = relative(&g.group.package.folder, &seen.project.root);
        paths.extend(a.paths.iter().map(|p| join(&folder, p)));
        // A CDK asset's first patch: before it, the function ran the copy made for it (the
        // same code as the CDK's asset), not a version of quickdeploy's artifact.
        let before = Code {
            version_id: a
                .copy_version
                .clone()
                .or_else(|| g.head.version_id.clone().filter(|_| !g.seeded)),
            code_sha256: g.base.code_sha256.clone(),
            manifest_version: None,
        };
        let after = match (&a.patch, &a.error) {
            (Some(p), _) => Some(Code {
                version_id: p.version_id.clone(),
                code_sha256: p.code_sha256.clone(),
                manifest_version: None,
            }),
            (None, None) => Some(before.clone()),
            (None, Some(_)) => None,
        };
        entry.artifacts.push(ArtifactChange {
            artifact: artifact.clone(),
            before: Some(before),
            after,
        });
        entry.functions.extend(
            functions
                .into_iter()
                .map(|f| change_of(f, artifact.clone())),
        );
    }
    add_layers(&mut entry, report);
    entry.files.more = paths.len().saturating_sub(PATHS);
    paths.truncate(PATHS);
    entry.files.paths = paths;
    let t = &report.timings_ms;
    for (phase, ms) in [
        ("diff", t.diff),
        ("patch", t.patch),
        ("update", t.update),
        ("wait", t.wait),
        ("total", t.total),
    ] {
        entry.timings_ms.insert(phase.to_owned(), ms);
    }
    Some(entry)
}

/// The entry of a full deploy, from its report and where it put each function's code (by
/// logical id); `None` unless it executed a change set (deployed or failed).
pub fn of_full(report: &FullReport, locations: &BTreeMap<String, S3Object>) -> Option<Entry> {
    let outcome = match report.outcome {
        FullOutcome::Deployed => Outcome::Deployed,
        FullOutcome::Failed => Outcome::Failed,
        _ => return None,
    };
    let mut entry = Entry::new(Kind::Full, outcome);
    for u in &report.artifacts {
        let version = u
            .functions
            .iter()
            .chain(&u.layers)
            .find_map(|id| locations.get(id))
            .and_then(|at| at.version.clone());
        entry.artifacts.push(ArtifactChange {
            artifact: u.artifact.clone(),
            before: None,
            after: Some(Code {
                version_id: version,
                code_sha256: u.code_sha256.clone(),
                manifest_version: None,
            }),
        });
        for id in &u.functions {
            let check = report.verified.iter().find(|c| &c.logical_id == id);
            entry.functions.push(FunctionChange {
                logical_id: id.clone(),
                name: check.map(|c| c.name.clone()),
                artifact: u.artifact.clone(),
                change: match outcome {
                    Outcome::Deployed => Change::Updated,
                    Outcome::Failed => Change::Failed,
                },
                code_sha256: check
                    .and_then(|c| c.code_sha256.clone())
                    .or_else(|| Some(u.code_sha256.clone())),
                version: None,
                aliases: Vec::new(),
                reason: check
                    .filter(|c| !c.differences.is_empty())
                    .map(|c| c.differences.join(", ")),
            });
        }
    }
    for (phase, ms) in &report.timings_ms {
        entry.timings_ms.insert((*phase).to_owned(), *ms);
    }
    Some(entry)
}

/// The entry of a rollback, from its report; `None` unless it changed something.
pub fn of_rollback(report: &RollbackReport) -> Option<Entry> {
    let outcome = match report.outcome {
        RollbackOutcome::RolledBack => Outcome::Deployed,
        RollbackOutcome::Failed => Outcome::Failed,
        _ => return None,
    };
    let mut entry = Entry::new(Kind::Rollback, outcome);
    entry.back_to = report.back_to;
    entry.undid = report.undone.clone();
    for a in &report.artifacts {
        entry.artifacts.push(ArtifactChange {
            artifact: a.artifact.clone(),
            before: a.from.clone(),
            after: Some(Code {
                version_id: a.restored_version.clone().or(a.to.version_id.clone()),
                code_sha256: a.to.code_sha256.clone(),
                manifest_version: None,
            }),
        });
    }
    for f in report
        .functions
        .iter()
        .filter(|f| f.status != FunctionStatus::Skipped)
    {
        let artifact = report
            .artifacts
            .iter()
            .find(|a| a.functions.contains(&f.logical_id))
            .map(|a| a.artifact.clone())
            .unwrap_or_default();
        entry.functions.push(change_of(f, artifact));
    }
    for (phase, ms) in &report.timings_ms {
        entry.timings_ms.insert((*phase).to_owned(), *ms);
    }
    Some(entry)
}

/// `folder` relative to `root`, with `/` separators (empty for the root itself).
fn relative(folder: &Path, root: &Path) -> String {
    folder
        .strip_prefix(root)
        .unwrap_or(folder)
        .to_string_lossy()
        .replace('\\', "/")
        .trim_matches('/')
        .to_owned()
}

fn join(folder: &str, path: &str) -> String {
    if folder.is_empty() {
        path.to_owned()
    } else {
        format!("{folder}/{path}")
    }
}
