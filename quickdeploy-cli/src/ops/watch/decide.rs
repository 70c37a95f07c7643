//! What a watch round does with the kept state ([`crate::plan::kept`]) once it has ended
//! (pure): keep it, forget it, or forget it and run the round once more afresh.

use crate::plan::rollout::{DeployOutcome, FunctionStatus};
use crate::report::DeployReport;

/// What follows a round, for the kept state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// A clean quick deploy: what it learned stays for the next round.
    Keep,
    /// Anything else: the next round reads everything again.
    Forget,
    /// It failed while acting on kept state, which may be what was wrong (another writer's
    /// artifact, a function changed or replaced behind our back): forget it and run the
    /// round again now, reading everything.
    Retry,
}

/// What follows a round that ended with `result`, having started with kept state or not
/// (`used`). Only a clean quick deploy (deployed, or nothing to deploy, every artifact and
/// function fine) keeps it: a full deploy changed the stack, `needs-full` means one may come
/// from elsewhere, and a failure is an assumption to check.
pub fn after_round(used: bool, result: Result<&DeployReport, ()>) -> Kept {
    let clean = result.is_ok_and(|r| {
        matches!(
            r.outcome,
            DeployOutcome::Deployed | DeployOutcome::NothingToDeploy
        ) && r.artifacts.iter().all(|a| a.error.is_none())
            && r.functions
                .iter()
                .all(|f| f.status != FunctionStatus::Failed)
    });
    let failed = result.map_or(true, |r| r.outcome == DeployOutcome::Failed);
    match (clean, failed && used) {
        (true, _) => Kept::Keep,
        (false, true) => Kept::Retry,
        (false, false) => Kept::Forget,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(outcome: DeployOutcome) -> DeployReport {
        DeployReport {
            ok: outcome != DeployOutcome::Failed,
            outcome,
            stack: "s".into(),
            needs_full: Vec::new(),
            refused: None,
            artifacts: Vec::new(),
            functions: Vec::new(),
            not_served: Vec::new(),
            full: None,
            builds: Vec::new(),
            synthesized: None,
            timings_ms: Default::default(),
            timeline: None,
            recorded: None,
            assumed: None,
        }
    }

    #[test]
    fn only_a_clean_quick_deploy_keeps_what_it_learned() {
        for o in [DeployOutcome::Deployed, DeployOutcome::NothingToDeploy] {
            assert_eq!(after_round(true, Ok(&report(o))), Kept::Keep);
            assert_eq!(after_round(false, Ok(&report(o))), Kept::Keep);
        }
        for o in [DeployOutcome::Full, DeployOutcome::NeedsFull] {
            assert_eq!(after_round(true, Ok(&report(o))), Kept::Forget, "{o:?}");
        }
    }

    #[test]
    fn a_failure_on_kept_state_is_retried_afresh_once() {
        let failed = report(DeployOutcome::Failed);
        assert_eq!(after_round(true, Ok(&failed)), Kept::Retry);
        assert_eq!(after_round(true, Err(())), Kept::Retry);
        // Afresh already (the retry itself, or a first round): nothing kept to blame.
        assert_eq!(after_round(false, Ok(&failed)), Kept::Forget);
        assert_eq!(after_round(false, Err(())), Kept::Forget);
    }

    #[test]
    fn a_round_that_deployed_but_left_a_function_failed_forgets() {
        let mut r = report(DeployOutcome::Deployed);
        r.functions.push(crate::report::FunctionReport {
            logical_id: "F".into(),
            name: "f".into(),
            status: FunctionStatus::Failed,
            reason: Some("x".into()),
            rollout: None,
            not_patched: false,
            construct_path: None,
        });
        assert_eq!(after_round(false, Ok(&r)), Kept::Forget);
    }
}
