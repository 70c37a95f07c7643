//! What to do to each function, and what that adds up to: the decisions `deploy` acts on and
//! `status` reports, made in one place so the two cannot disagree. Pure: it is given what was
//! read (the inspection, each artifact's state, what each function runs) and decides.

use crate::plan::inspect::Inspected;
use serde::Serialize;

use crate::lambda::current::Current;

/// What happened to one function in a deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FunctionStatus {
    /// Pointed at the patched artifact and live.
    Updated,
    /// Already ran the artifact: nothing to do.
    Skipped,
    /// Not live: its patch or its update failed.
    Failed,
}

impl FunctionStatus {
    /// The word people read (the same as in JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            FunctionStatus::Updated => "updated",
            FunctionStatus::Skipped => "skipped",
            FunctionStatus::Failed => "failed",
        }
    }
}

/// How a deploy ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeployOutcome {
    /// Patched and every function live.
    Deployed,
    /// Every function already ran its package.
    NothingToDeploy,
    /// Only a full deploy would do, and none was run.
    NeedsFull,
    /// It fell back to a full deploy (see `full`).
    Full,
    /// A patch or a function failed.
    Failed,
}

/// What `deploy` would do to one function now (`status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StatusAction {
    /// Nothing: it runs its package as it is.
    None,
    /// Patch its artifact and update it.
    Quick,
    /// Update it: its artifact is current, the function is not.
    Update,
    /// Only a full deploy would do.
    Full,
}

/// What `deploy` would do as a whole (`status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StatusOutcome {
    /// Every function runs its package.
    NothingToDeploy,
    /// deploy would take the quick path.
    QuickDeploy,
    /// deploy would need a full deploy.
    NeedsFull,
}

/// An artifact as the decision sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactState<'a> {
    /// Its package changed and it is not patched yet (what `status` sees).
    Changed,
    /// It holds the package as it is now, with this CodeSha256 (unchanged, or just patched).
    Ready {
        /// The CodeSha256 the functions must run.
        code_sha256: &'a str,
    },
    /// Its patch failed.
    Failed,
}

/// What Lambda said a function runs: `None` when it was not asked (or did not answer in the
/// list), an error when the read failed.
pub type Running<'a> = Option<&'a Result<Current, String>>;

/// What to do to one function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// It runs the artifact already.
    Skip,
    /// Point it at the artifact (after patching it, when it is `Changed`). A function whose
    /// state could not be read is updated too: the update says what is wrong.
    Update,
    /// Its artifact's patch failed: it cannot be updated.
    Failed,
    /// Only a full deploy would do.
    NeedsFull,
}

/// Decides for one function.
pub fn action(needs_full: bool, artifact: ArtifactState<'_>, running: Running<'_>) -> Action {
    if needs_full {
        return Action::NeedsFull;
    }
    match artifact {
        ArtifactState::Failed => Action::Failed,
        ArtifactState::Changed => Action::Update,
        ArtifactState::Ready { code_sha256 } => match running {
            Some(Ok(now)) if now.runs(code_sha256) => Action::Skip,
            _ => Action::Update,
        },
    }
}

/// Why the quick path cannot deploy what was inspected, one line each: the stack does not
/// exist, the template or dependencies changed, a function is new, or (unless `force`) the
/// stack is protected.
pub fn needs_full(seen: &Inspected, force: bool) -> Vec<String> {
    let mut why = seen.needs_full();
    if !force && let Some(reason) = protection(seen) {
        why.push(format!(
            "{reason}: quick deploys are refused (--force overrides)"
        ));
    }
    why
}

/// Why quick deploys to this stack are refused, if it is protected.
pub fn protection(seen: &Inspected) -> Option<String> {
    seen.deployed
        .as_ref()
        .and_then(|d| seen.project.config.protection(&d.tags))
}

/// What `status` shows for a function whose decision is `action`; `changed` when its package
/// changed.
pub fn status_action(action: Action, changed: bool) -> StatusAction {
    match action {
        Action::NeedsFull => StatusAction::Full,
        Action::Skip => StatusAction::None,
        Action::Update | Action::Failed if changed => StatusAction::Quick,
        Action::Update | Action::Failed => StatusAction::Update,
    }
}

/// What `deploy` would do as a whole, given the functions' actions.
pub fn status_outcome(needs_full: &[String], actions: &[StatusAction]) -> StatusOutcome {
    if !needs_full.is_empty() {
        StatusOutcome::NeedsFull
    } else if actions.iter().any(|a| *a != StatusAction::None) {
        StatusOutcome::QuickDeploy
    } else {
        StatusOutcome::NothingToDeploy
    }
}

/// How a quick deploy ended: failed when a function or a patch failed; deployed when a
/// function was updated or an artifact patched; else nothing to deploy.
pub fn deploy_outcome(
    functions: &[FunctionStatus],
    patch_failed: bool,
    patched: bool,
) -> DeployOutcome {
    if patch_failed || functions.contains(&FunctionStatus::Failed) {
        DeployOutcome::Failed
    } else if patched || functions.contains(&FunctionStatus::Updated) {
        DeployOutcome::Deployed
    } else {
        DeployOutcome::NothingToDeploy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running(sha: &str, failed: bool) -> Result<Current, String> {
        Ok(Current {
            code_sha256: Some(sha.to_owned()),
            failed,
            listed: false,
        })
    }

    const A: ArtifactState<'static> = ArtifactState::Ready { code_sha256: "A" };

    #[test]
    fn each_function_gets_one_action() {
        let runs_a = running("A", false);
        let runs_b = running("B", false);
        let failed_on_a = running("A", true);
        let unreadable: Result<Current, String> = Err("AccessDenied".into());
        assert_eq!(action(false, A, Some(&runs_a)), Action::Skip);
        assert_eq!(action(false, A, Some(&runs_b)), Action::Update);
        // A function whose last update failed is not live, whatever CodeSha256 it reports.
        assert_eq!(action(false, A, Some(&failed_on_a)), Action::Update);
        assert_eq!(action(false, A, Some(&unreadable)), Action::Update);
        assert_eq!(action(false, A, None), Action::Update);
        assert_eq!(
            action(false, ArtifactState::Changed, Some(&runs_a)),
            Action::Update
        );
        assert_eq!(
            action(false, ArtifactState::Failed, Some(&runs_a)),
            Action::Failed
        );
        // A full deploy wins over everything.
        for art in [A, ArtifactState::Changed, ArtifactState::Failed] {
            assert_eq!(action(true, art, Some(&runs_a)), Action::NeedsFull);
        }
    }

    #[test]
    fn status_shows_what_deploy_would_do() {
        assert_eq!(status_action(Action::Skip, false), StatusAction::None);
        assert_eq!(status_action(Action::Update, true), StatusAction::Quick);
        assert_eq!(status_action(Action::Update, false), StatusAction::Update);
        assert_eq!(status_action(Action::NeedsFull, true), StatusAction::Full);
        let why = vec!["template: MemorySize".to_owned()];
        assert_eq!(
            status_outcome(&why, &[StatusAction::Full]),
            StatusOutcome::NeedsFull
        );
        assert_eq!(
            status_outcome(&[], &[StatusAction::None, StatusAction::Update]),
            StatusOutcome::QuickDeploy
        );
        assert_eq!(
            status_outcome(&[], &[StatusAction::None]),
            StatusOutcome::NothingToDeploy
        );
    }

    #[test]
    fn the_outcome_adds_up_the_functions() {
        use FunctionStatus::*;
        assert_eq!(
            deploy_outcome(&[Updated, Skipped], false, true),
            DeployOutcome::Deployed
        );
        assert_eq!(
            deploy_outcome(&[Updated, Failed], false, true),
            DeployOutcome::Failed
        );
        assert_eq!(
            deploy_outcome(&[Skipped], true, false),
            DeployOutcome::Failed
        );
        assert_eq!(
            deploy_outcome(&[Skipped], false, false),
            DeployOutcome::NothingToDeploy
        );
        // Patched, though every function already ran the result (someone else updated them).
        assert_eq!(
            deploy_outcome(&[Skipped], false, true),
            DeployOutcome::Deployed
        );
        assert_eq!(
            deploy_outcome(&[], false, false),
            DeployOutcome::NothingToDeploy
        );
    }
}
