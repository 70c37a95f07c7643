//! Whether a change to the stack may go ahead: pure rules, tested without servers.
//!
//! The rule a careful user expects: without a terminal, never do what was not asked for. A
//! fallback from `deploy` to a full deploy, a new stack, and anything that removes or replaces
//! a resource each need explicit consent; removals need their own (`--allow-removals`, or the
//! terminal prompt that lists them) even with `--yes`/`--ci`.

use crate::stack::change::{Planned, removals};

/// What the user said, and whether they can be asked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Consent {
    /// `--yes` or `--ci`: execute without asking.
    pub yes: bool,
    /// `--allow-removals`: a change set may delete or replace resources.
    pub allow_removals: bool,
    /// A person can answer a prompt (stdin is a terminal, and not `--ci`).
    pub terminal: bool,
}

/// What to do with a change set that has changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Execute it.
    Execute,
    /// Show it and ask; `removals` are shown apart, as what cannot be undone.
    Ask,
    /// Do not execute it; delete it. The reason names the flag that gives consent.
    Refuse(String),
}

/// Whether `deploy` may fall back to a full deploy at all, decided before anything is built or
/// uploaded: with no terminal to ask and no `--yes`, it may not.
pub fn fallback(consent: Consent) -> Result<(), String> {
    if consent.yes || consent.terminal {
        Ok(())
    } else {
        Err("a full deploy is needed, and without a terminal quickdeploy does not start one it was not asked for: re-run with --yes (or --ci), or run `quickdeploy full`".into())
    }
}

/// Whether `rollback` may point functions back at earlier code: with `--yes` (or `--ci`) it
/// goes ahead, on a terminal it asks first, and otherwise it refuses (nothing changed).
pub fn rollback(consent: Consent) -> Decision {
    if consent.yes {
        Decision::Execute
    } else if consent.terminal {
        Decision::Ask
    } else {
        Decision::Refuse("without a terminal, quickdeploy does not roll back functions it was not asked to: re-run with --yes (or --ci)".into())
    }
}

/// What to do with a created change set. `stack` names it in the reasons; `create` is true
/// when the change set makes a new stack.
pub fn decide(consent: Consent, stack: &str, create: bool, changes: &[Planned]) -> Decision {
    let removed = removals(changes);
    let names = || {
        removed
            .iter()
            .map(|c| {
                format!(
                    "{} {} ({})",
                    if c.action == "Remove" {
                        "removes"
                    } else {
                        "replaces"
                    },
                    c.logical_id,
                    c.resource_type
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    if consent.terminal && (!consent.yes || (!removed.is_empty() && !consent.allow_removals)) {
        return Decision::Ask;
    }
    if !removed.is_empty() && !consent.allow_removals {
        return Decision::Refuse(format!(
            "the change set for stack {stack} {}: re-run with --allow-removals to allow it, or on a terminal to be asked",
            names()
        ));
    }
    if consent.yes {
        return Decision::Execute;
    }
    if create {
        return Decision::Refuse(format!(
            "stack {stack} does not exist, and without a terminal quickdeploy does not create one it was not asked for: check `stack` in quickdeploy.toml, then re-run with --yes"
        ));
    }
    Decision::Execute
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(action: &str, id: &str, replacement: Option<&str>) -> Planned {
        Planned {
            action: action.into(),
            logical_id: id.into(),
            resource_type: "AWS::Lambda::Function".into(),
            replacement: replacement.map(str::to_owned),
            retained: false,
        }
    }

    const fn consent(yes: bool, allow_removals: bool, terminal: bool) -> Consent {
        Consent {
            yes,
            allow_removals,
            terminal,
        }
    }

    #[test]
    fn removals_are_removes_and_replacements() {
        let changes = [
            change("Add", "Queue", None),
            change("Modify", "Fn", Some("False")),
            change("Modify", "Table", Some("True")),
            change("Modify", "Bucket", Some("Conditional")),
            change("Remove", "Old", None),
        ];
        let ids: Vec<&str> = removals(&changes)
            .iter()
            .map(|c| c.logical_id.as_str())
            .collect();
        assert_eq!(ids, ["Table", "Bucket", "Old"]);
        // What the stack keeps (DeletionPolicy or UpdateReplacePolicy Retain) is not removed.
        let mut kept = changes.to_vec();
        for c in &mut kept {
            c.retained = true;
        }
        assert!(removals(&kept).is_empty());
    }

    #[test]
    fn a_fallback_needs_yes_or_a_terminal() {
        assert!(fallback(consent(false, false, false)).is_err());
        assert!(fallback(consent(false, true, false)).is_err());
        assert!(fallback(consent(true, false, false)).is_ok());
        assert!(fallback(consent(false, false, true)).is_ok());
    }

    #[test]
    fn a_rollback_needs_yes_or_a_terminal() {
        assert_eq!(rollback(consent(true, false, false)), Decision::Execute);
        assert_eq!(rollback(consent(true, false, true)), Decision::Execute);
        assert_eq!(rollback(consent(false, false, true)), Decision::Ask);
        assert!(
            matches!(rollback(consent(false, true, false)), Decision::Refuse(why) if why.contains("--yes"))
        );
    }

    #[test]
    fn every_combination_is_decided_as_documented() {
        let modify = [change("Modify", "Fn", Some("False"))];
        let remove = [change("Remove", "Fn", None)];
        for yes in [false, true] {
            for allow in [false, true] {
                for terminal in [false, true] {
                    let c = consent(yes, allow, terminal);
                    for create in [false, true] {
                        let plain = decide(c, "s", create, &modify);
                        let removing = decide(c, "s", create, &remove);
                        // A terminal without --yes always asks.
                        if terminal && !yes {
                            assert_eq!(plain, Decision::Ask);
                            assert_eq!(removing, Decision::Ask);
                            continue;
                        }
                        // Removals: --allow-removals, or the prompt; never --yes alone.
                        match (allow, terminal) {
                            (true, _) => assert_eq!(
                                matches!(removing, Decision::Refuse(_)),
                                !yes && !terminal && create,
                                "{c:?} create={create}: {removing:?}"
                            ),
                            (false, true) => assert_eq!(removing, Decision::Ask),
                            (false, false) => {
                                assert!(
                                    matches!(&removing, Decision::Refuse(why) if why.contains("--allow-removals") && why.contains("removes Fn"))
                                );
                            }
                        }
                        // A new stack without a terminal needs --yes.
                        let expected_plain = if !yes && !terminal && create {
                            "refuse"
                        } else {
                            "execute"
                        };
                        match (expected_plain, &plain) {
                            ("execute", Decision::Execute) => {}
                            ("refuse", Decision::Refuse(why)) => assert!(why.contains("--yes")),
                            (want, got) => {
                                panic!("{c:?} create={create}: want {want}, got {got:?}")
                            }
                        }
                    }
                }
            }
        }
    }
}
