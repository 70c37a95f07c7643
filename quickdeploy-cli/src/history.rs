//! The deploy history of a stack: one entry per `deploy`, `full` and `rollback` that changed
//! something (when, who, from which commit, which files, which artifact versions and which
//! functions), and the decisions made on it: appending with a bound, the timeline filter, the
//! last change of each function (`status`), and which code a rollback goes back to. Pure:
//! `ops::history` reads and writes it in S3, next to the hot-patch record.
//!
//! Entries are kept oldest first; their ids count up from 1 and are never reused while the
//! history exists, so `rollback --to ID` names one entry for good.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::inspect::Inspected;
use crate::report::{
    DeployOutcome, DeployReport, FullOutcome, FullReport, FunctionStatus, RollbackOutcome,
    RollbackReport,
};
use crate::template::S3Object;

/// The history format's version.
pub const FORMAT: u32 = 1;
/// How many entries are kept: the newest.
pub const KEEP: usize = 200;
/// How many changed paths an entry lists (the counts cover them all).
pub const PATHS: usize = 20;

/// What kind of change an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// `deploy`: artifacts patched, functions updated.
    Quick,
    /// `full`: a CloudFormation deploy.
    Full,
    /// `deploy` that published a new version of a local layer and moved its users (code
    /// may have changed in the same deploy).
    Layer,
    /// `rollback`: functions pointed back at an earlier artifact version.
    Rollback,
}

impl Kind {
    /// Its name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Quick => "quick",
            Kind::Full => "full",
            Kind::Layer => "layer",
            Kind::Rollback => "rollback",
        }
    }
}

/// How the change ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Everything it set out to change is live.
    Deployed,
    /// Something failed (see the functions and artifacts).
    Failed,
}

/// What happened to one function in an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// It runs the entry's code now.
    Updated,
    /// Its update failed: what it runs is not known from the entry.
    Failed,
}

/// Where a deploy was made from, when in a git repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Git {
    /// `git rev-parse HEAD`.
    pub commit: String,
    /// `git status --porcelain` listed something: the code deployed is not the commit's.
    pub dirty: bool,
}

/// The files an entry deployed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Files {
    /// Added.
    pub added: usize,
    /// Modified.
    pub modified: usize,
    /// Deleted.
    pub deleted: usize,
    /// The changed paths, relative to the project root, up to [`PATHS`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// Changed paths not listed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub more: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Files {
    /// How many files changed.
    pub fn total(&self) -> usize {
        self.added + self.modified + self.deleted
    }
}

/// One version of an artifact: what a function can be pointed at.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Code {
    /// The S3 object version (none on an unversioned bucket).
    #[serde(default)]
    pub version_id: Option<String>,
    /// Its CodeSha256.
    pub code_sha256: String,
    /// The version of the manifest beside the artifact that describes it, when known (a
    /// rollback then reads that one instead of looking through the manifest's versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_version: Option<String>,
}

impl Code {
    /// The same artifact version and code, whatever is known of its manifest.
    pub fn same(&self, other: &Code) -> bool {
        self.version_id == other.version_id && self.code_sha256 == other.code_sha256
    }
}

/// An artifact's version before and after an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactChange {
    /// `s3://bucket/key`.
    pub artifact: String,
    /// Before (unknown for the first `full` that made it).
    #[serde(default)]
    pub before: Option<Code>,
    /// After (none when its patch failed).
    #[serde(default)]
    pub after: Option<Code>,
}

/// One function an entry changed (or failed to).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionChange {
    /// Logical id.
    pub logical_id: String,
    /// Physical name, when known.
    #[serde(default)]
    pub name: Option<String>,
    /// Its artifact, `s3://bucket/key`: see the entry's artifacts.
    pub artifact: String,
    /// Updated or failed.
    pub change: Change,
    /// The CodeSha256 it reported at the end.
    #[serde(default)]
    pub code_sha256: Option<String>,
    /// The version published for its aliases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The aliases moved to that version.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A layer a deploy published a new version of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerChange {
    /// Its logical id.
    pub logical_id: String,
    /// Its artifact, `s3://bucket/key`: see the entry's artifacts.
    pub artifact: String,
    /// The version its stack created.
    #[serde(default)]
    pub deployed: Option<String>,
    /// The version published.
    pub published: String,
    /// The functions moved to it, by logical id.
    pub users: Vec<String>,
}

/// One change to the stack's code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Its id, counting up from 1.
    pub id: u64,
    /// When it ended, RFC 3339.
    pub at: String,
    /// The caller's ARN (STS GetCallerIdentity), or `unknown`.
    pub who: String,
    /// The project's git commit, when in a git repository.
    #[serde(default)]
    pub git: Option<Git>,
    /// Quick, full, layer or rollback.
    pub kind: Kind,
    /// Deployed or failed.
    pub outcome: Outcome,
    /// The files deployed (quick deploys).
    #[serde(default)]
    pub files: Files,
    /// Each artifact's version before and after.
    #[serde(default)]
    pub artifacts: Vec<ArtifactChange>,
    /// Each function changed.
    #[serde(default)]
    pub functions: Vec<FunctionChange>,
    /// Each layer published (kind `layer`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<LayerChange>,
    /// Milliseconds per phase.
    #[serde(default)]
    pub timings_ms: BTreeMap<String, f64>,
    /// A rollback: the entry whose code it went back to (none when it went back before the
    /// oldest entry kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub back_to: Option<u64>,
    /// A rollback: the entries it undid, newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub undid: Vec<u64>,
}

impl Entry {
    /// A new entry of `kind`; its id, time, caller and commit are filled in when it is
    /// recorded.
    pub fn new(kind: Kind, outcome: Outcome) -> Self {
        Self {
            id: 0,
            at: String::new(),
            who: String::new(),
            git: None,
            kind,
            outcome,
            files: Files::default(),
            artifacts: Vec::new(),
            functions: Vec::new(),
            layers: Vec::new(),
            timings_ms: BTreeMap::new(),
            back_to: None,
            undid: Vec::new(),
        }
    }

    /// The functions whose code this entry changed (updated), by logical id.
    pub fn updated(&self) -> impl Iterator<Item = &FunctionChange> {
        self.functions
            .iter()
            .filter(|f| f.change == Change::Updated)
    }

    /// True when it names the function (logical id or name), updated or failed.
    pub fn names(&self, function: &str) -> bool {
        self.functions
            .iter()
            .any(|f| f.logical_id == function || f.name.as_deref() == Some(function))
    }

    /// The artifact version before and after this entry, for a function it changed.
    fn code_of(&self, f: &FunctionChange) -> (Option<&Code>, Option<&Code>) {
        match self.artifacts.iter().find(|a| a.artifact == f.artifact) {
            Some(a) => (a.before.as_ref(), a.after.as_ref()),
            None => (None, None),
        }
    }
}

/// A stack's history, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// The format version.
    pub format: u32,
    /// The stack.
    pub stack: String,
    /// The entries, oldest first.
    pub entries: Vec<Entry>,
}

impl History {
    /// An empty history of `stack`.
    pub fn new(stack: &str) -> Self {
        Self {
            format: FORMAT,
            stack: stack.to_owned(),
            entries: Vec::new(),
        }
    }

    /// Appends `entry` with the next id, keeping the newest `keep` entries; the id given.
    /// An artifact whose version before the entry is not known (a `full` reads none) gets
    /// the version the newest earlier entry left it at.
    pub fn append(&mut self, mut entry: Entry, keep: usize) -> u64 {
        entry.id = self.entries.iter().map(|e| e.id).max().unwrap_or(0) + 1;
        for a in &mut entry.artifacts {
            let last = self
                .entries
                .iter()
                .rev()
                .flat_map(|e| &e.artifacts)
                .find(|x| x.artifact == a.artifact && x.after.is_some())
                .and_then(|x| x.after.clone());
            match (&mut a.before, last) {
                (before @ None, last) => *before = last,
                // The same version as the newest entry left it: its manifest is that one's.
                (Some(before), Some(last))
                    if before.manifest_version.is_none() && before.same(&last) =>
                {
                    before.manifest_version = last.manifest_version;
                }
                _ => {}
            }
        }
        let id = entry.id;
        self.entries.push(entry);
        let excess = self.entries.len().saturating_sub(keep.max(1));
        self.entries.drain(..excess);
        id
    }

    /// The timeline, newest first: the entries that name `function` (all when `None`), at
    /// most `limit`.
    pub fn timeline(&self, function: Option<&str>, limit: usize) -> Vec<Entry> {
        self.entries
            .iter()
            .rev()
            .filter(|e| function.is_none_or(|f| e.names(f)))
            .take(limit)
            .cloned()
            .collect()
    }

    /// Each function's last change, by logical id.
    pub fn last_changes(&self) -> BTreeMap<String, LastChange> {
        let mut out = BTreeMap::new();
        for e in self.entries.iter().rev() {
            for f in &e.functions {
                out.entry(f.logical_id.clone())
                    .or_insert_with(|| LastChange {
                        id: e.id,
                        at: e.at.clone(),
                        who: e.who.clone(),
                        kind: e.kind,
                        change: f.change,
                        code_sha256: f.code_sha256.clone(),
                        commit: e.git.as_ref().map(|g| g.commit.clone()),
                    });
            }
        }
        out
    }
}

/// A function's last change, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastChange {
    /// The entry.
    pub id: u64,
    /// When.
    pub at: String,
    /// Who.
    pub who: String,
    /// What kind of change.
    pub kind: Kind,
    /// Updated or failed.
    pub change: Change,
    /// The CodeSha256 it reported then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_sha256: Option<String>,
    /// The git commit it came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

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
        let before = Code {
            version_id: g.head.version_id.clone(),
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

/// `s3://bucket/key` as (bucket, key).
pub fn split_artifact(artifact: &str) -> Option<(&str, &str)> {
    artifact.strip_prefix("s3://")?.split_once('/')
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

    fn code(v: &str) -> Code {
        Code {
            version_id: Some(v.to_owned()),
            code_sha256: format!("sha-{v}"),
            manifest_version: None,
        }
    }

    /// An entry changing `functions` of artifact `art` from version `from` to `to`.
    fn entry(kind: Kind, art: &str, from: Option<&str>, to: &str, functions: &[&str]) -> Entry {
        let mut e = Entry::new(kind, Outcome::Deployed);
        e.at = "2026-01-01T00:00:00Z".into();
        e.who = "arn:aws:iam::1:user/me".into();
        e.artifacts.push(ArtifactChange {
            artifact: art.into(),
            before: from.map(code),
            after: Some(code(to)),
        });
        e.functions = functions
            .iter()
            .map(|f| FunctionChange {
                logical_id: (*f).into(),
                name: Some(format!("app-{f}")),
                artifact: art.into(),
                change: Change::Updated,
                code_sha256: Some(format!("sha-{to}")),
                version: None,
                aliases: Vec::new(),
                reason: None,
            })
            .collect();
        e
    }

    /// #1 full (shared s1, report r1), #2 quick shared s2, #3 quick report r2, #4 quick
    /// shared s3.
    fn history() -> History {
        let mut h = History::new("app");
        let mut full = entry(
            Kind::Full,
            "s3://b/shared.zip",
            None,
            "s1",
            &["Hello", "Greet"],
        );
        let report = entry(Kind::Full, "s3://b/report.zip", None, "r1", &["Report"]);
        full.artifacts.extend(report.artifacts);
        full.functions.extend(report.functions);
        h.append(full, KEEP);
        h.append(
            entry(
                Kind::Quick,
                "s3://b/shared.zip",
                Some("s1"),
                "s2",
                &["Hello", "Greet"],
            ),
            KEEP,
        );
        h.append(
            entry(
                Kind::Quick,
                "s3://b/report.zip",
                Some("r1"),
                "r2",
                &["Report"],
            ),
            KEEP,
        );
        h.append(
            entry(
                Kind::Quick,
                "s3://b/shared.zip",
                Some("s2"),
                "s3",
                &["Hello", "Greet"],
            ),
            KEEP,
        );
        h
    }

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

    #[test]
    fn entries_read_back_as_written_and_kinds_are_stable_strings() {
        let h = history();
        let text = serde_json::to_string(&h).expect("json");
        let back: History = serde_json::from_str(&text).expect("read back");
        assert_eq!(back, h);
        let v = serde_json::to_value(&h.entries[0]).expect("json");
        assert_eq!(v["kind"], "full");
        assert_eq!(v["outcome"], "deployed");
        assert_eq!(v["functions"][0]["change"], "updated");
        assert_eq!(
            serde_json::to_value(Kind::Layer).expect("json"),
            serde_json::json!("layer")
        );
        // A minimal entry (fields added later default).
        let e: Entry = serde_json::from_str(
            r#"{"id":1,"at":"t","who":"w","kind":"quick","outcome":"failed"}"#,
        )
        .expect("minimal");
        assert!(e.functions.is_empty() && e.git.is_none());
    }
}
