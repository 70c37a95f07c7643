//! The deploy history of a stack: one entry per `deploy`, `full` and `rollback` that changed
//! something (when, who, from which commit, which files, which artifact versions and which
//! functions), appending with a bound, the timeline filter and the last change of each
//! function (`status`). Pure: `crate::records` (with the `aws` feature) reads and writes it in
//! S3, next to the hot-patch record, for the patcher and for the CLI, which makes the entries
//! and decides what a rollback goes back to.
//!
//! Entries are kept oldest first; their ids count up from 1 and are never reused while the
//! history exists, so `rollback --to ID` names one entry for good.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
    pub fn code_of(&self, f: &FunctionChange) -> (Option<&Code>, Option<&Code>) {
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

/// `s3://bucket/key` as (bucket, key).
pub fn split_artifact(artifact: &str) -> Option<(&str, &str)> {
    artifact.strip_prefix("s3://")?.split_once('/')
}
