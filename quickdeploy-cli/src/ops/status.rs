//! What changed since the last deploy and what `deploy` would do, decided by the same rules
//! (`rollout`) that `deploy` acts on. Reads only.

use crate::aws::Clients;
use crate::lambda::current;
use crate::lambda::pace::{Pace, Quotas};
use crate::ops::deploy::decide::{artifact_report, function_names, record_bucket};
use crate::plan::inspect::{Inspected, inspect};
use crate::plan::rollout::{self, ArtifactState};
use crate::project::Project;
use crate::report::{FunctionState, StatusAction, StatusReport};

/// Reads the stack, the artifacts, their manifests and what each function runs; diffs each
/// package; says per function what `deploy` would do.
///
/// Builds first, as `deploy` does (writing only build folders and the build cache), so what
/// it reports is what `deploy` would send; the tools' output goes nowhere.
pub async fn status(project: Project, clients: &Clients) -> anyhow::Result<StatusReport> {
    let builds = crate::ops::build(&project, &crate::ops::Silent)?;
    let seen = inspect(project, clients).await?;
    let needs_full = rollout::needs_full(&seen, false);
    let mut functions = functions(&seen, clients, !needs_full.is_empty()).await;
    if let Some(d) = &seen.deployed {
        let paths = crate::project::cdk::paths::construct_paths(&d.template);
        for f in &mut functions {
            f.construct_path = paths.get(&f.logical_id).cloned();
        }
    }
    let stack = &seen.project.config.stack;
    let (hot_patched, last_change) = match record_bucket(&seen) {
        Some(bucket) => {
            let (hot, history) = tokio::join!(
                crate::artifact::hotpatch::load(&clients.s3, &bucket, stack),
                crate::history::store::load(&clients.s3, &bucket, stack)
            );
            let last = history.map(|(h, _)| h.last_changes());
            (hot.unwrap_or_default(), last.unwrap_or_default())
        }
        None => Default::default(),
    };
    let actions: Vec<_> = functions.iter().map(|f| f.action).collect();
    Ok(StatusReport {
        ok: true,
        outcome: rollout::status_outcome(&needs_full, &actions),
        stack: seen.project.config.stack.clone(),
        stack_status: seen.deployed.as_ref().map(|d| d.status.clone()),
        needs_full,
        artifacts: seen.groups.iter().map(artifact_report).collect(),
        functions,
        not_served: seen.plan.skipped.clone(),
        new_functions: seen.plan.new_functions.clone(),
        hot_patched,
        protected: rollout::protection(&seen),
        last_change,
        builds,
    })
}

/// Each function's state and the action `deploy` would take, sorted by logical id.
async fn functions(seen: &Inspected, clients: &Clients, needs_full: bool) -> Vec<FunctionState> {
    let quotas = Quotas::new(&Pace::default());
    let mut running = current::current_code(&clients.lambda, &quotas, function_names(seen)).await;
    let targets = seen
        .groups
        .iter()
        .flat_map(|g| {
            g.group
                .functions
                .iter()
                .map(|f| (f.name.clone(), g.base.code_sha256.clone()))
        })
        .collect();
    current::confirm(&clients.lambda, &quotas, &mut running, &targets).await;
    let mut out = Vec::new();
    for g in &seen.groups {
        let changed = !g.diff.is_empty();
        let state = if changed {
            ArtifactState::Changed
        } else {
            ArtifactState::Ready {
                code_sha256: &g.base.code_sha256,
            }
        };
        for f in &g.group.functions {
            let now = running.iter().find(|(n, _)| *n == f.name).map(|(_, r)| r);
            let action = rollout::action(needs_full, state, now);
            let (live, reason) = match now {
                Some(Ok(now)) => (Some(now.runs(&g.base.code_sha256)), None),
                Some(Err(e)) => (None, Some(format!("cannot read it: {e}"))),
                None => (None, None),
            };
            out.push(FunctionState {
                logical_id: f.logical_id.clone(),
                construct_path: None,
                name: f.name.clone(),
                artifact: g.group.artifact.to_string(),
                live,
                action: rollout::status_action(action, changed),
                reason,
            });
        }
    }
    layer_users(seen, needs_full, &mut out);
    out.sort_by(|a, b| a.logical_id.cmp(&b.logical_id));
    out
}

/// The functions using a changed layer: `deploy` moves them to its new version.
fn layer_users(seen: &Inspected, needs_full: bool, out: &mut Vec<FunctionState>) {
    let action = if needs_full {
        StatusAction::Full
    } else {
        StatusAction::Quick
    };
    for g in seen.groups.iter().filter(|g| !g.diff.is_empty()) {
        for l in &g.group.layers {
            for u in &l.users {
                let why = format!("its layer {} changed", l.logical_id);
                match out.iter_mut().find(|f| f.logical_id == u.logical_id) {
                    Some(f) if f.action != StatusAction::Full => {
                        f.action = action;
                        f.reason.get_or_insert(why);
                    }
                    Some(_) => {}
                    None => out.push(FunctionState {
                        logical_id: u.logical_id.clone(),
                        construct_path: None,
                        name: u.name.clone(),
                        artifact: g.group.artifact.to_string(),
                        live: None,
                        action,
                        reason: Some(why),
                    }),
                }
            }
        }
    }
}
