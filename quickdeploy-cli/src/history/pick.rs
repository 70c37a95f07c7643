//! Which earlier state a rollback goes back to: by steps (undo the newest N entries that
//! changed the functions asked for) or to the state right after one entry, with what a full
//! deploy in between means. Pure, over a [`History`].
//!
//! (Over 500 lines with its tests: about 300 lines of rules, and the timelines they are tried
//! on.)

use std::collections::{BTreeMap, BTreeSet};

use super::entry::*;

/// Which earlier state a rollback goes back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// Undo the newest N entries that changed the functions asked for.
    Steps(usize),
    /// The state right after this entry.
    To(u64),
}

/// Why no rollback target could be picked (the user's request cannot be met: exit 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PickError {
    /// The history is empty.
    #[error(
        "the history of stack {0} is empty: nothing to roll back to (deploys are recorded from now on)"
    )]
    Empty(String),
    /// Fewer entries than steps.
    #[error(
        "--steps {want}: the history has only {have} change(s){which} to undo (`quickdeploy history` lists them)"
    )]
    NotEnough {
        /// Steps asked for.
        want: usize,
        /// Entries there are.
        have: usize,
        /// ` of FUNCTIONS`, or nothing.
        which: String,
    },
    /// No entry with that id.
    #[error(
        "--to {id}: no entry #{id} in the history (kept: #{oldest} to #{newest}; `quickdeploy history` lists them)"
    )]
    NoEntry {
        /// The id asked for.
        id: u64,
        /// The oldest id kept.
        oldest: u64,
        /// The newest id.
        newest: u64,
    },
    /// An entry to undo published a layer version: going back is not done by pointing
    /// functions at an earlier artifact.
    #[error(
        "entry #{entry} published a new version of layer {layers} and moved functions to it: rolling back a layer change is not supported yet. Deploy the earlier layer content instead (`git checkout <commit> -- <the layer's folder>`, then `quickdeploy deploy`, which publishes it as a new version), or run `quickdeploy full` from the earlier commit"
    )]
    LayerChange {
        /// The entry.
        entry: u64,
        /// Its layers' logical ids.
        layers: String,
    },
    /// A function asked for is neither in the stack nor in the history.
    #[error("--function {name}: no such function in stack {stack} or its history; known: {known}")]
    UnknownFunction {
        /// The name asked for.
        name: String,
        /// The stack.
        stack: String,
        /// The known logical ids.
        known: String,
    },
    /// The version to go back to is not recorded.
    #[error(
        "entry #{entry} does not record which version of {artifact} {function} ran before it{why}: it cannot be rolled back past that entry"
    )]
    Unknown {
        /// The entry.
        entry: u64,
        /// The function.
        function: String,
        /// Its artifact.
        artifact: String,
        /// Why not, when known.
        why: String,
    },
}

/// Where one function goes back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Goal {
    /// Logical id.
    pub logical_id: String,
    /// Name, when the history knows it.
    pub name: Option<String>,
    /// Its artifact, `s3://bucket/key`.
    pub artifact: String,
    /// The version and CodeSha256 to run.
    pub code: Code,
    /// The entry this code is taken from (the one undone, or the one gone back to).
    pub from_entry: u64,
    /// The git commit that code came from, when recorded.
    pub commit: Option<String>,
}

/// What a rollback goes back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picked {
    /// Per function, sorted by logical id.
    pub goals: Vec<Goal>,
    /// The entries undone, newest first.
    pub undone: Vec<u64>,
    /// The entry whose state is restored, if it is still in the history.
    pub back_to: Option<u64>,
    /// The full deploys between that state and now (a rollback across them may not match the
    /// stack's configuration).
    pub crossed_full: Vec<u64>,
}

impl Picked {
    /// Why the rollback is refused without `--force`: it crosses a full deploy.
    pub fn full_refusal(&self, stack: &str) -> Option<String> {
        if self.crossed_full.is_empty() {
            return None;
        }
        let ids: Vec<String> = self.crossed_full.iter().map(|i| format!("#{i}")).collect();
        Some(format!(
            "this rollback crosses the full deploy {} of stack {stack}: the template or dependencies changed since, so the old code may not match the stack's configuration; re-run with --force to roll back anyway, or check out the old commit and run `quickdeploy full`",
            ids.join(", ")
        ))
    }
}

/// Picks the code each function goes back to. `selected` are logical ids (all functions the
/// undone entries changed, when empty).
///
/// - `Steps(n)`: the newest `n` entries that updated a selected function are undone; each
///   function goes back to its artifact's version before the oldest undone entry that
///   changed it.
/// - `To(id)`: each selected function changed after entry `id` goes back to its artifact's
///   version right after `id` (the newest entry up to `id` that changed it), or, when none
///   did, to its version before the first later entry that changed it.
///
/// Full deploys newer than the state gone back to are listed in `crossed_full`.
pub fn pick(history: &History, how: Pick, selected: &[String]) -> Result<Picked, PickError> {
    let entries = &history.entries;
    if entries.is_empty() {
        return Err(PickError::Empty(history.stack.clone()));
    }
    let (boundary, undone, goals) = match how {
        Pick::Steps(n) => undo_steps(entries, n, selected)?,
        Pick::To(id) => undo_to(entries, id, selected)?,
    };
    if let Some(e) = undone
        .iter()
        .map(|&i| &entries[i])
        .find(|e| e.kind == Kind::Layer)
    {
        let layers: Vec<&str> = e.layers.iter().map(|l| l.logical_id.as_str()).collect();
        return Err(PickError::LayerChange {
            entry: e.id,
            layers: layers.join(", "),
        });
    }
    let mut out = Picked {
        goals: Vec::new(),
        undone: undone.iter().map(|&i| entries[i].id).collect(),
        back_to: boundary.checked_sub(1).map(|i| entries[i].id),
        crossed_full: entries[boundary.min(entries.len())..]
            .iter()
            .filter(|e| e.kind == Kind::Full && e.outcome == Outcome::Deployed)
            .map(|e| e.id)
            .collect(),
    };
    for (id, (i, after)) in goals {
        let e = &entries[i];
        let f = e
            .updated()
            .find(|f| f.logical_id == id)
            .expect("the goal's entry changed the function");
        let (before, after_code) = e.code_of(f);
        let code = if after { after_code } else { before };
        let unknown = |why: &str| PickError::Unknown {
            entry: e.id,
            function: id.clone(),
            artifact: f.artifact.clone(),
            why: why.to_owned(),
        };
        let code = code.ok_or_else(|| unknown(""))?;
        if code.version_id.is_none() {
            return Err(unknown(
                " (the artifact bucket is not versioned, so earlier versions are not kept)",
            ));
        }
        // The commit of the code gone back to: the entry's own when it is the state after
        // it, else the newest earlier entry's that recorded one.
        let commit = if after {
            e.git.as_ref().map(|g| g.commit.clone())
        } else {
            entries[..i]
                .iter()
                .rev()
                .find(|x| x.updated().any(|y| y.logical_id == id))
                .and_then(|x| x.git.as_ref().map(|g| g.commit.clone()))
        };
        out.goals.push(Goal {
            logical_id: id.clone(),
            name: f.name.clone(),
            artifact: f.artifact.clone(),
            code: code.clone(),
            from_entry: e.id,
            commit,
        });
    }
    Ok(out)
}

/// What going back undoes: the first entry undone, the entries undone (newest first), and per
/// function the entry whose code it goes back to (and whether the state after that entry).
type Undo = (usize, Vec<usize>, BTreeMap<String, (usize, bool)>);

/// Whether function `id` is among the `selected` (all when none are).
fn chosen(selected: &[String], id: &str) -> bool {
    selected.is_empty() || selected.iter().any(|s| s == id)
}

/// `--steps n`: the newest `n` entries that changed a selected function.
fn undo_steps(entries: &[Entry], n: usize, selected: &[String]) -> Result<Undo, PickError> {
    let chosen = |id: &str| chosen(selected, id);
    let changes = |e: &Entry| e.updated().any(|f| chosen(&f.logical_id));
    let mut goals: BTreeMap<String, (usize, bool)> = BTreeMap::new();
    let candidates: Vec<usize> = (0..entries.len())
        .rev()
        .filter(|&i| changes(&entries[i]))
        .collect();
    if candidates.len() < n.max(1) {
        return Err(PickError::NotEnough {
            want: n,
            have: candidates.len(),
            which: if selected.is_empty() {
                String::new()
            } else {
                format!(" of {}", selected.join(", "))
            },
        });
    }
    let undone = candidates[..n.max(1)].to_vec();
    // Newest to oldest: the oldest undone entry that changed a function wins.
    for &i in &undone {
        for f in entries[i].updated().filter(|f| chosen(&f.logical_id)) {
            goals.insert(f.logical_id.clone(), (i, false));
        }
    }
    Ok((undone[undone.len() - 1], undone, goals))
}

/// `--to id`: every later entry that changed a selected function is undone.
fn undo_to(entries: &[Entry], id: u64, selected: &[String]) -> Result<Undo, PickError> {
    let chosen = |id: &str| chosen(selected, id);
    let changes = |e: &Entry| e.updated().any(|f| chosen(&f.logical_id));
    let mut goals: BTreeMap<String, (usize, bool)> = BTreeMap::new();
    let Some(t) = entries.iter().position(|e| e.id == id) else {
        return Err(PickError::NoEntry {
            id,
            oldest: entries[0].id,
            newest: entries[entries.len() - 1].id,
        });
    };
    let undone: Vec<usize> = (t + 1..entries.len())
        .rev()
        .filter(|&i| changes(&entries[i]))
        .collect();
    let moved: BTreeSet<&str> = undone
        .iter()
        .flat_map(|&i| entries[i].updated())
        .map(|f| f.logical_id.as_str())
        .filter(|id| chosen(id))
        .collect();
    for f in moved {
        let at_or_before = (0..=t)
            .rev()
            .find(|&i| entries[i].updated().any(|x| x.logical_id == f));
        let goal = match at_or_before {
            Some(i) => (i, true),
            // The oldest later entry that changed it: its version before.
            None => {
                let first_later = undone
                    .iter()
                    .rev()
                    .copied()
                    .find(|&i| entries[i].updated().any(|x| x.logical_id == f));
                (first_later.unwrap_or(t + 1), false)
            }
        };
        goals.insert(f.to_owned(), goal);
    }
    Ok((t + 1, undone, goals))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::fixtures::{code, entry, history};

    fn goals(p: &Picked) -> Vec<(String, String, u64)> {
        p.goals
            .iter()
            .map(|g| {
                (
                    g.logical_id.clone(),
                    g.code.version_id.clone().unwrap_or_default(),
                    g.from_entry,
                )
            })
            .collect()
    }

    fn g(id: &str, v: &str, from: u64) -> (String, String, u64) {
        (id.into(), v.into(), from)
    }

    #[test]
    fn steps_undo_the_newest_entries() {
        let h = history();
        let p = pick(&h, Pick::Steps(1), &[]).expect("one step");
        assert_eq!(goals(&p), [g("Greet", "s2", 4), g("Hello", "s2", 4)]);
        assert_eq!((p.undone.clone(), p.back_to), (vec![4], Some(3)));
        assert!(p.crossed_full.is_empty() && p.full_refusal("app").is_none());

        let p = pick(&h, Pick::Steps(2), &[]).expect("two steps");
        assert_eq!(
            goals(&p),
            [
                g("Greet", "s2", 4),
                g("Hello", "s2", 4),
                g("Report", "r1", 3)
            ]
        );
        assert_eq!((p.undone.clone(), p.back_to), (vec![4, 3], Some(2)));

        // Three steps: shared goes back before #2 (the oldest undone entry that changed it).
        let p = pick(&h, Pick::Steps(3), &[]).expect("three steps");
        assert_eq!(
            goals(&p),
            [
                g("Greet", "s1", 2),
                g("Hello", "s1", 2),
                g("Report", "r1", 3)
            ]
        );
        // Four: the full deploy itself, whose versions before are not known.
        assert!(matches!(
            pick(&h, Pick::Steps(4), &[]),
            Err(PickError::Unknown { entry: 1, .. })
        ));
        assert!(matches!(
            pick(&h, Pick::Steps(5), &[]),
            Err(PickError::NotEnough {
                want: 5,
                have: 4,
                ..
            })
        ));
    }

    #[test]
    fn a_layer_change_is_recorded_as_such_and_not_rolled_back_by_artifact() {
        let mut h = history();
        let mut layer = entry(Kind::Layer, "s3://b/deps.zip", Some("d1"), "d2", &["Hello"]);
        layer.layers.push(LayerChange {
            logical_id: "Deps".into(),
            artifact: "s3://b/deps.zip".into(),
            deployed: Some("arn:aws:lambda:us-east-1:1:layer:deps:1".into()),
            published: "arn:aws:lambda:us-east-1:1:layer:deps:2".into(),
            users: vec!["Hello".into()],
        });
        h.append(layer, KEEP);
        let json = serde_json::to_value(&h.entries[4]).expect("json");
        assert_eq!(json["kind"], "layer");
        assert_eq!(json["layers"][0]["users"], serde_json::json!(["Hello"]));
        // Undoing it would point Hello's code at the layer's artifact: refused, naming it.
        let refused = pick(&h, Pick::Steps(1), &[]).expect_err("refused");
        assert!(
            matches!(&refused, PickError::LayerChange { entry: 5, layers } if layers == "Deps"),
            "{refused:?}"
        );
        assert!(
            refused.to_string().contains("quickdeploy deploy"),
            "{refused}"
        );
        assert!(pick(&h, Pick::To(3), &[]).is_err(), "nor across it");
        // Entries before it can still be picked for functions it did not move.
        assert!(pick(&h, Pick::Steps(1), &["Report".into()]).is_ok());
        // An old history without layers reads as before.
        let old: Entry = serde_json::from_value(serde_json::json!({
            "id": 1, "at": "t", "who": "w", "kind": "quick", "outcome": "deployed"
        }))
        .expect("old entry");
        assert!(old.layers.is_empty());
    }

    #[test]
    fn steps_count_only_the_functions_asked_for() {
        let h = history();
        let report = ["Report".to_owned()];
        let p = pick(&h, Pick::Steps(1), &report).expect("report's last change");
        assert_eq!(goals(&p), [g("Report", "r1", 3)]);
        assert_eq!(p.undone, [3]);
        let hello = ["Hello".to_owned()];
        let p = pick(&h, Pick::Steps(2), &hello).expect("hello's last two");
        assert_eq!(goals(&p), [g("Hello", "s1", 2)]);
        assert_eq!(p.undone, [4, 2]);
        // Report's second change back is the full deploy that made it: no version before.
        let err = pick(&h, Pick::Steps(2), &report).expect_err("made by the full deploy");
        assert!(matches!(err, PickError::Unknown { entry: 1, .. }), "{err}");
    }

    #[test]
    fn to_goes_back_to_the_state_right_after_an_entry() {
        let h = history();
        let p = pick(&h, Pick::To(2), &[]).expect("to #2");
        assert_eq!(
            goals(&p),
            [
                g("Greet", "s2", 2),
                g("Hello", "s2", 2),
                g("Report", "r1", 1)
            ]
        );
        assert_eq!((p.undone.clone(), p.back_to), (vec![4, 3], Some(2)));
        let p = pick(&h, Pick::To(4), &[]).expect("to the newest");
        assert!(p.goals.is_empty() && p.undone.is_empty());
        let p = pick(&h, Pick::To(1), &["Report".to_owned()]).expect("report to #1");
        assert_eq!(goals(&p), [g("Report", "r1", 1)]);
        assert!(p.crossed_full.is_empty());
        assert_eq!(
            pick(&h, Pick::To(9), &[]),
            Err(PickError::NoEntry {
                id: 9,
                oldest: 1,
                newest: 4
            })
        );
    }

    #[test]
    fn a_rollback_across_a_full_deploy_is_named() {
        let mut h = history();
        let mut full = entry(
            Kind::Full,
            "s3://b/shared.zip",
            None,
            "s4",
            &["Hello", "Greet"],
        );
        full.artifacts.push(ArtifactChange {
            artifact: "s3://b/report.zip".into(),
            before: None,
            after: Some(code("r2")),
        });
        h.append(full, KEEP);
        // The full deploy's versions before were filled from the entries before it.
        assert_eq!(h.entries[4].artifacts[0].before, Some(code("s3")));
        assert_eq!(h.entries[4].artifacts[1].before, Some(code("r2")));
        h.append(
            entry(
                Kind::Quick,
                "s3://b/shared.zip",
                Some("s4"),
                "s5",
                &["Hello", "Greet"],
            ),
            KEEP,
        );
        let one = pick(&h, Pick::Steps(1), &[]).expect("the quick deploy after it");
        assert!(one.crossed_full.is_empty());
        let two = pick(&h, Pick::Steps(2), &[]).expect("across it");
        assert_eq!(two.crossed_full, [5]);
        assert_eq!(goals(&two), [g("Greet", "s3", 5), g("Hello", "s3", 5)]);
        let why = two.full_refusal("app").expect("refused");
        assert!(
            why.contains("full deploy #5") && why.contains("--force"),
            "{why}"
        );
        let to = pick(&h, Pick::To(2), &[]).expect("to #2");
        assert_eq!(to.crossed_full, [5]);
        // A full deploy that failed changed no configuration.
        h.entries[4].outcome = Outcome::Failed;
        assert!(
            pick(&h, Pick::Steps(2), &[])
                .expect("two")
                .crossed_full
                .is_empty()
        );
    }

    #[test]
    fn appending_numbers_bounds_and_filters() {
        let mut h = history();
        assert_eq!(
            h.entries.iter().map(|e| e.id).collect::<Vec<_>>(),
            [1, 2, 3, 4]
        );
        let id = h.append(
            entry(
                Kind::Rollback,
                "s3://b/report.zip",
                Some("r2"),
                "r1",
                &["Report"],
            ),
            3,
        );
        assert_eq!(id, 5);
        assert_eq!(
            h.entries.iter().map(|e| e.id).collect::<Vec<_>>(),
            [3, 4, 5]
        );
        // Ids keep counting after the oldest are dropped.
        assert_eq!(h.append(Entry::new(Kind::Quick, Outcome::Failed), 3), 6);
        let t: Vec<u64> = h
            .timeline(Some("Report"), 10)
            .iter()
            .map(|e| e.id)
            .collect();
        // #3 went with the bound: the rollback is Report's only entry left.
        assert_eq!(t, [5]);
        let t: Vec<u64> = h
            .timeline(Some("app-Hello"), 10)
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(t, [4]);
        let t: Vec<u64> = h.timeline(None, 2).iter().map(|e| e.id).collect();
        assert_eq!(t, [6, 5]);
        let last = h.last_changes();
        assert_eq!(
            (last["Report"].id, last["Report"].kind, last["Hello"].id),
            (5, Kind::Rollback, 4)
        );
        assert!(matches!(
            pick(&History::new("app"), Pick::Steps(1), &[]),
            Err(PickError::Empty(_))
        ));
    }

    #[test]
    fn a_version_before_an_entry_knows_its_manifest_from_the_entry_that_made_it() {
        let mut h = History::new("app");
        let mut first = entry(Kind::Quick, "s3://b/x.zip", Some("a"), "b", &["F"]);
        first.artifacts[0]
            .after
            .as_mut()
            .expect("after")
            .manifest_version = Some("m1".into());
        h.append(first, KEEP);
        h.append(
            entry(Kind::Quick, "s3://b/x.zip", Some("b"), "c", &["F"]),
            KEEP,
        );
        let before = h.entries[1].artifacts[0].before.clone().expect("before");
        assert_eq!(before.manifest_version.as_deref(), Some("m1"));
        let p = pick(&h, Pick::Steps(1), &[]).expect("one step");
        assert_eq!(p.goals[0].code.manifest_version.as_deref(), Some("m1"));
        // Another version than the one the newest entry left: its manifest is not known.
        h.append(
            entry(Kind::Quick, "s3://b/x.zip", Some("z"), "d", &["F"]),
            KEEP,
        );
        assert_eq!(
            h.entries[2].artifacts[0]
                .before
                .as_ref()
                .expect("before")
                .manifest_version,
            None
        );
    }

    #[test]
    fn an_unversioned_bucket_cannot_be_rolled_back() {
        let mut h = History::new("app");
        let mut e = entry(Kind::Quick, "s3://b/x.zip", Some("a"), "b", &["F"]);
        e.artifacts[0].before = Some(Code {
            version_id: None,
            code_sha256: "x".into(),
            manifest_version: None,
        });
        h.append(e, KEEP);
        let err = pick(&h, Pick::Steps(1), &[]).expect_err("no version");
        assert!(err.to_string().contains("not versioned"), "{err}");
    }
}
