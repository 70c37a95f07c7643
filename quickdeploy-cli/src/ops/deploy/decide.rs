//! The quick path's decisions, apart from its I/O: what each function should end up running,
//! which functions to update (by [`crate::plan::rollout::action`]) and which layer moves go
//! with them, the hot-patch record's entries, and each artifact's report. Pure.

use zipedit::event::PatchAnswer;

use crate::artifact::hotpatch;
use crate::artifact::manifest::Manifest;
use crate::artifact::patch;
use crate::lambda::current::Current;
use crate::lambda::layer::Swap;
use crate::lambda::update::Job;
use crate::lambda::update::Target;
use crate::plan::inspect::{GroupState, Inspected};
use crate::plan::rollout::{self, Action, ArtifactState};
use crate::project::template::S3Object;
use crate::report::{
    ArtifactReport, DeployReport, FunctionReport, FunctionStatus, LayerReport, SentFile,
};

/// What a function's reason starts with when its artifact's patch failed.
pub const NOT_PATCHED: &str = "its artifact was not patched: ";

/// What went to the patcher for one artifact.
#[derive(Debug, Default)]
pub struct Sent {
    /// The request and staged objects, in bytes.
    pub wire: patch::Wire,
    /// How each file went.
    pub files: Vec<SentFile>,
    /// Bytes read from the artifact for deltas' previous content.
    pub base_bytes: u64,
    /// What was worked around.
    pub warnings: Vec<String>,
}

/// The CodeSha256 each function should end up with: its artifact's as patched, or as it was
/// when its package did not change (none when the patch failed).
pub fn targets(
    seen: &Inspected,
    patched: &[anyhow::Result<Patched>],
) -> std::collections::HashMap<String, String> {
    let mut out = std::collections::HashMap::new();
    for (g, result) in seen.groups.iter().zip(patched) {
        let sha = match result {
            Ok(Some(p)) => p.answer.code_sha256.clone(),
            Ok(None) => g.base.code_sha256.clone(),
            Err(_) => continue,
        };
        for f in &g.group.functions {
            out.insert(f.name.clone(), sha.clone());
        }
    }
    out
}

/// An artifact's patch: the answer, what was sent, the new manifest.
pub struct PatchedArtifact {
    pub answer: PatchAnswer,
    pub sent: Sent,
    pub manifest: Manifest,
    /// The version of the copy of the CDK's asset made for this first patch, if one was.
    pub copy_version: Option<String>,
}

/// An artifact's patch; `None` when its package did not change.
pub type Patched = Option<PatchedArtifact>;

/// Applies [`rollout::action`] to every function: the artifacts and skipped or failed
/// functions go into the report; the updates to make and the manifests to save are returned.
pub fn decide(
    seen: &Inspected,
    running: &[(String, Result<Current, String>)],
    patched: Vec<anyhow::Result<Patched>>,
    report: &mut DeployReport,
) -> (Vec<Job>, Vec<Manifest>) {
    let mut jobs = Vec::new();
    let mut manifests = Vec::new();
    for (g, result) in seen.groups.iter().zip(patched) {
        let mut art = artifact_report(g);
        let (version, code_sha256) = match result {
            Ok(None) => (g.head.version_id.clone(), g.base.code_sha256.clone()),
            Ok(Some(PatchedArtifact {
                answer,
                sent,
                manifest,
                copy_version,
            })) => {
                art.copy_version = copy_version;
                art.request_bytes = (sent.wire.request > 0).then_some(sent.wire.request);
                art.staged_bytes = (sent.wire.staged > 0).then_some(sent.wire.staged);
                art.base_bytes = (sent.base_bytes > 0).then_some(sent.base_bytes);
                art.files = sent.files;
                art.warnings = sent.warnings;
                manifests.push(manifest);
                let at = (answer.version_id.clone(), answer.code_sha256.clone());
                art.patch = Some(answer);
                at
            }
            Err(e) => {
                art.error = Some(format!("{e:#}"));
                (None, String::new())
            }
        };
        let state = match &art.error {
            Some(_) => ArtifactState::Failed,
            None => ArtifactState::Ready {
                code_sha256: &code_sha256,
            },
        };
        for f in &g.group.functions {
            let now = running.iter().find(|(n, _)| n == &f.name).map(|(_, r)| r);
            let (status, reason) = match rollout::action(false, state, now) {
                Action::Update => {
                    jobs.push(Job {
                        target: f.clone(),
                        artifact: Some(S3Object {
                            version: version.clone(),
                            ..g.group.artifact.clone()
                        }),
                        code_sha256: code_sha256.clone(),
                        layers: Vec::new(),
                        revision_id: None,
                    });
                    continue;
                }
                Action::Skip => (FunctionStatus::Skipped, "already runs this artifact".into()),
                Action::Failed | Action::NeedsFull => (
                    FunctionStatus::Failed,
                    format!("{NOT_PATCHED}{}", art.error.as_deref().unwrap_or_default()),
                ),
            };
            report.functions.push(FunctionReport {
                logical_id: f.logical_id.clone(),
                construct_path: None,
                name: f.name.clone(),
                status,
                reason: Some(reason),
                rollout: None,
                not_patched: status == FunctionStatus::Failed,
            });
        }
        art.code_sha256 = (art.error.is_none()).then_some(code_sha256);
        report.artifacts.push(art);
    }
    (jobs, manifests)
}

/// Every function the quick path may update: those run from a package, and those using a
/// local layer.
pub fn function_names(seen: &Inspected) -> Vec<String> {
    let names: std::collections::BTreeSet<String> = seen
        .groups
        .iter()
        .flat_map(|g| {
            let users = g.group.layers.iter().flat_map(|l| l.users.iter());
            g.group.functions.iter().chain(users)
        })
        .map(|f| f.name.clone())
        .collect();
    names.into_iter().collect()
}

/// A function's moves to new layer versions, or why its layer has none.
pub struct LayerMove {
    pub target: Target,
    pub swaps: Vec<Swap>,
    pub failed: Option<String>,
}

/// Gives each layer user its moves: added to its code update when it has one, else a job of
/// its own that keeps its code (the CodeSha256 it runs). A user whose layer was not published
/// is not updated at all (new code on an old layer is a combination nobody deployed).
pub fn add_layer_moves(
    jobs: &mut Vec<Job>,
    moves: std::collections::BTreeMap<String, LayerMove>,
    running: &[(String, Result<Current, String>)],
    report: &mut DeployReport,
) {
    for (id, m) in moves {
        let failed = |why: String| FunctionReport {
            logical_id: id.clone(),
            construct_path: None,
            name: m.target.name.clone(),
            status: FunctionStatus::Failed,
            reason: Some(why),
            rollout: None,
            not_patched: false,
        };
        let now = running
            .iter()
            .find(|(n, _)| n == &m.target.name)
            .map(|(_, r)| r);
        let why = match (&m.failed, now) {
            (Some(why), _) => why.clone(),
            (None, _)
                if report
                    .functions
                    .iter()
                    .any(|f| f.logical_id == id && f.status == FunctionStatus::Failed) =>
            {
                continue;
            }
            (None, _) if jobs.iter().any(|j| j.target.logical_id == id) => {
                if let Some(job) = jobs.iter_mut().find(|j| j.target.logical_id == id) {
                    job.layers = m.swaps;
                }
                continue;
            }
            (
                None,
                Some(Ok(Current {
                    code_sha256: Some(sha),
                    ..
                })),
            ) => {
                report.functions.retain(|f| f.logical_id != id);
                jobs.push(Job {
                    target: m.target,
                    artifact: None,
                    code_sha256: sha.clone(),
                    layers: m.swaps,
                    revision_id: None,
                });
                continue;
            }
            (None, Some(Err(e))) => format!("cannot read it: {e}"),
            (None, _) => "cannot read what it runs".to_owned(),
        };
        jobs.retain(|j| j.target.logical_id != id);
        report.functions.retain(|f| f.logical_id != id);
        report.functions.push(failed(why));
    }
}

/// The hot-patch record's entries for these updates (a function whose layers moved names
/// its new layer versions in place of an artifact), and for the layers published: their
/// stack's template still names the versions it created.
pub fn hot_patches(jobs: &[Job], artifacts: &[ArtifactReport]) -> hotpatch::Record {
    let functions = jobs.iter().map(|j| {
        let artifact = match &j.artifact {
            Some(a) => a.to_string(),
            None => {
                let arns: Vec<&str> = j.layers.iter().map(|s| s.version_arn.as_str()).collect();
                format!("layers {}", arns.join(", "))
            }
        };
        let entry = hotpatch::Entry {
            name: j.target.name.clone(),
            code_sha256: j.code_sha256.clone(),
            artifact,
            at: crate::aws::clock::now_rfc3339(),
        };
        (j.target.logical_id.clone(), entry)
    });
    let layers = artifacts.iter().flat_map(|a| {
        a.layers.iter().filter_map(move |l| {
            let entry = hotpatch::Entry {
                name: l.published.clone()?,
                code_sha256: a.patch.as_ref()?.code_sha256.clone(),
                artifact: a.artifact.clone(),
                at: crate::aws::clock::now_rfc3339(),
            };
            Some((l.logical_id.clone(), entry))
        })
    });
    functions.chain(layers).collect()
}

/// Where the hot-patch record of a project lives: its artifact bucket.
pub fn record_bucket(seen: &Inspected) -> Option<String> {
    seen.project
        .config
        .artifact_bucket
        .clone()
        .or_else(|| seen.groups.first().map(|g| g.group.artifact.bucket.clone()))
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
        files: Vec::new(),
        staged_bytes: None,
        base_bytes: None,
        copy_version: None,
        warnings: Vec::new(),
        error: None,
        code_sha256: None,
        layers: g
            .group
            .layers
            .iter()
            .map(|l| LayerReport {
                logical_id: l.logical_id.clone(),
                deployed: l.version_arn.clone(),
                published: None,
                error: None,
                users: l.users.iter().map(|u| u.logical_id.clone()).collect(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str, artifact: Option<&str>, layers: &[&str]) -> Job {
        Job {
            target: Target {
                logical_id: id.into(),
                name: format!("app-{id}"),
                aliases: Vec::new(),
            },
            artifact: artifact.map(|key| S3Object {
                bucket: "b".into(),
                key: key.into(),
                version: Some("v2".into()),
            }),
            code_sha256: format!("sha-{id}"),
            layers: layers
                .iter()
                .map(|arn| Swap {
                    layer: arn.rsplit_once(':').map(|(l, _)| l).unwrap_or(arn).into(),
                    version_arn: (*arn).into(),
                })
                .collect(),
            revision_id: None,
        }
    }

    #[test]
    fn the_hot_patch_record_names_the_artifact_or_the_layers_each_function_moved_to() {
        let record = hot_patches(
            &[
                job("Api", Some("src.zip"), &[]),
                job("Worker", None, &["arn:aws:lambda:us-east-1:1:layer:deps:7"]),
            ],
            &[],
        );
        let seen: Vec<(&str, &str, &str, &str)> = record
            .iter()
            .map(|(id, e)| {
                (
                    id.as_str(),
                    e.name.as_str(),
                    e.code_sha256.as_str(),
                    e.artifact.as_str(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("Api", "app-Api", "sha-Api", "s3://b/src.zip"),
                (
                    "Worker",
                    "app-Worker",
                    "sha-Worker",
                    "layers arn:aws:lambda:us-east-1:1:layer:deps:7"
                ),
            ]
        );
        assert!(record.values().all(|e| e.at.ends_with('Z')), "{record:?}");
    }
}
