//! What the operations found and did, as typed values: `--json` prints them as they are
//! (docs/json.md), `render` turns them into lines for people, and tests compare them. Outcomes
//! and statuses are enums, serialized as the stable strings of the JSON documents.
//!
//! May use: the concept folders and `error` (a report embeds their types).
//! Must not: do I/O or print (`render` prints); make decisions (they come made).

pub mod record;
pub mod targets;
pub mod timeline;

pub use crate::plan::rollout::{DeployOutcome, FunctionStatus, StatusAction, StatusOutcome};

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;
use zipedit::event::PatchAnswer;

use crate::artifact::remote;
use crate::error::Exit;
use crate::lambda::update::Outcome;
use crate::plan::classify::Change;
use crate::plan::groups::Skipped;
use crate::project::cdk::paths::construct_paths;
use crate::project::template::Template;
use crate::stack::change::Planned;

/// One artifact in a deploy or status report.
#[derive(Debug, Clone, Serialize)]
pub struct ArtifactReport {
    /// `s3://bucket/key`.
    pub artifact: String,
    /// The package folder.
    pub package: PathBuf,
    /// The change's kind.
    pub change: Change,
    /// Files added.
    pub added: usize,
    /// Files modified.
    pub modified: usize,
    /// Files deleted.
    pub deleted: usize,
    /// Changed paths.
    pub paths: Vec<String>,
    /// Files read and hashed to find the change.
    pub hashed: usize,
    /// Where the manifest came from: local, remote, artifact.
    pub manifest: remote::Source,
    /// The patcher's answer, when it patched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<PatchAnswer>,
    /// Bytes of the patch request sent from this machine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_bytes: Option<u64>,
    /// Bytes staged in S3 for the patch (files too large for the request), sent too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staged_bytes: Option<u64>,
    /// How each changed file was sent: whole, compressed or as a delta.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<SentFile>,
    /// Bytes read from the artifact for the deltas' previous content (none when the local
    /// cache had it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_bytes: Option<u64>,
    /// What went less well than it could and was worked around: previous content that could
    /// not be read (those files went compressed), a patcher too old for encoded changes (they
    /// went whole).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// A CDK app's first patch of an asset: the version of quickdeploy's own copy of the
    /// CDK's asset, made just before the patch (what the function ran before it: the history
    /// records it, so a rollback can go back to it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copy_version: Option<String>,
    /// Why patching failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The CodeSha256 the functions should end up with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_sha256: Option<String>,
    /// The layers made from it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<LayerReport>,
}

/// How one changed file went to the patcher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SentFile {
    /// Its path in the archive.
    pub path: String,
    /// Whole, `zstd` or `delta`.
    pub sent: crate::artifact::encode::Sent,
    /// Its size.
    pub size: u64,
    /// The bytes sent for it.
    pub bytes: u64,
    /// Where a delta's previous content came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<crate::artifact::bases::Origin>,
}

/// A layer made from an artifact, in a deploy or status report.
#[derive(Debug, Clone, Serialize)]
pub struct LayerReport {
    /// Its logical id.
    pub logical_id: String,
    /// The version its stack created, when it names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployed: Option<String>,
    /// The version this deploy published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    /// Why publishing failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The functions that use it, by logical id.
    pub users: Vec<String>,
}

impl ArtifactReport {
    /// True when its package has no change and nothing failed.
    pub fn unchanged(&self) -> bool {
        self.added + self.modified + self.deleted == 0 && self.error.is_none()
    }
}

/// One function in a deploy report.
#[derive(Debug, Clone, Serialize)]
pub struct FunctionReport {
    /// Logical id.
    pub logical_id: String,
    /// A CDK app's function: its construct path (`QdCdkApi/getOneItemFunction`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub construct_path: Option<String>,
    /// Name.
    pub name: String,
    /// What happened to it.
    pub status: FunctionStatus,
    /// Details for skipped and failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The rollout's details, when it was updated or failed updating.
    #[serde(skip_serializing_if = "Option::is_none", flatten)]
    pub rollout: Option<Outcome>,
    /// Its artifact's patch failed (the reason is the artifact's error).
    #[serde(skip)]
    pub not_patched: bool,
}

/// Phase times of a deploy, in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    /// Building (`BuildMethod`s, `build` commands); 0 without builds.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub build: f64,
    /// Reading the stack, artifacts and manifests; scanning and diffing packages.
    pub diff: f64,
    /// Patching artifacts (in parallel): wall time.
    pub patch: f64,
    /// The longest UpdateFunctionCode call sequence (with retries).
    pub update: f64,
    /// The rest of the rollout: waiting for Successful, publishing.
    pub wait: f64,
    /// Everything.
    pub total: f64,
}

/// The whole deploy, as `--json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct DeployReport {
    /// Every function live and nothing failed.
    pub ok: bool,
    /// How it ended.
    pub outcome: DeployOutcome,
    /// The stack.
    pub stack: String,
    /// Why a full deploy is needed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub needs_full: Vec<String>,
    /// Why the fallback to a full deploy was not started (no consent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// Per artifact.
    pub artifacts: Vec<ArtifactReport>,
    /// Per function.
    pub functions: Vec<FunctionReport>,
    /// Functions the quick path does not serve.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_served: Vec<Skipped>,
    /// The full deploy it fell back to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full: Option<FullReport>,
    /// The builds run first (`BuildMethod`s, `build` commands).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub builds: Vec<crate::build::decide::Built>,
    /// A CDK app only: why it was synthesized first (its own code changed, or there was no
    /// synth yet); left out when no synth ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub synthesized: Option<String>,
    /// Phase times.
    pub timings_ms: Timings,
    /// Every phase and AWS call on one time line, with its critical path (`--timings`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline: Option<timeline::Timeline>,
    /// How the deploy was recorded in the stack's history (none: it was not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded: Option<Recorded>,
    /// Set when the deploy planned from this machine's copies of the stack and manifests,
    /// asking nothing before its patches (left out when it read them first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assumed: Option<Assumed>,
}

/// A deploy planned from this machine's copies ([`DeployReport::assumed`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assumed {
    /// The patcher confirmed the stack, and S3 the artifacts, as the copies said.
    pub confirmed: bool,
    /// Otherwise, what was not as the copies said: the deploy then read the stack and the
    /// artifacts, and planned again (nothing was rolled out from the first plan).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

/// How a deploy's history entry (and its hot patches) were written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recorded {
    /// The entry's id.
    pub id: u64,
    /// `patcher` (next to S3, from a frame of `request_bytes`) or `client` (this machine
    /// wrote the history and the record whole).
    pub by: &'static str,
    /// The record request's size, when the patcher wrote them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_bytes: Option<u64>,
}

impl DeployReport {
    /// Gives each function of a CDK app's `template` its construct path.
    pub fn name_constructs(&mut self, template: &Template) {
        let paths = construct_paths(template);
        for f in &mut self.functions {
            f.construct_path = paths.get(&f.logical_id).cloned();
        }
    }

    /// The exit code this report means.
    pub fn exit(&self) -> Exit {
        match self.outcome {
            DeployOutcome::NeedsFull => Exit::NeedsFull,
            DeployOutcome::Failed => Exit::Failed,
            DeployOutcome::Full if !self.ok => Exit::Failed,
            _ => Exit::Success,
        }
    }

    /// How many functions it updated.
    pub fn updated(&self) -> usize {
        self.count(FunctionStatus::Updated)
    }

    /// How many functions are in this status.
    pub fn count(&self, status: FunctionStatus) -> usize {
        self.functions.iter().filter(|f| f.status == status).count()
    }
}

/// One packaged artifact of a full deploy.
#[derive(Debug, Clone, Serialize)]
pub struct Uploaded {
    /// `s3://bucket/key`.
    pub artifact: String,
    /// The functions that run it.
    pub functions: Vec<String>,
    /// The layers (`AWS::Lambda::LayerVersion`, `AWS::Serverless::LayerVersion`) whose
    /// content it is; left out of the JSON when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<String>,
    /// Its CodeSha256.
    pub code_sha256: String,
    /// Its size.
    pub size: u64,
    /// False when the same package was there already.
    pub uploaded: bool,
}

/// How a full deploy ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FullOutcome {
    /// The change set ran and the stack is updated.
    Deployed,
    /// The stack already matched.
    NothingToDeploy,
    /// `--dry-run`: the change set was shown and deleted.
    DryRun,
    /// The user said no.
    Cancelled,
    /// No consent without a terminal: nothing executed (exit 3).
    Refused,
    /// The stack update failed.
    Failed,
}

/// What a full deploy did, as `--json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct FullReport {
    /// Deployed, or nothing to deploy.
    pub ok: bool,
    /// How it ended.
    pub outcome: FullOutcome,
    /// The stack.
    pub stack: String,
    /// Each package.
    pub artifacts: Vec<Uploaded>,
    /// What the change set did.
    pub changes: Vec<Planned>,
    /// The stack's final status.
    pub status: Option<String>,
    /// Why it failed, with the failed stack events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Hot-patched functions this deploy reconciled (their record is cleared).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reconciled: Vec<String>,
    /// Each function read back after the deploy: what it runs against what was meant.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub verified: Vec<FunctionCheck>,
    /// The builds run first (`BuildMethod`s, `build` commands); none when a deploy that fell
    /// back had run them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub builds: Vec<crate::build::decide::Built>,
    /// Milliseconds per step (`build`, `package`, `changeset`, `execute`, `total`; `answer`
    /// is the time the user took to answer, not counted in `total`).
    pub timings_ms: BTreeMap<&'static str, f64>,
}

/// One function read back after a full deploy.
#[derive(Debug, Clone, Serialize)]
pub struct FunctionCheck {
    /// Logical id.
    pub logical_id: String,
    /// Name.
    pub name: String,
    /// The CodeSha256 it runs.
    pub code_sha256: Option<String>,
    /// How it differs from its package and template; empty when it matches.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<String>,
}

impl FullReport {
    /// A full deploy's report before its change set: nothing to deploy yet, these artifacts,
    /// builds and phase times so far.
    pub fn starting(
        stack: String,
        artifacts: Vec<Uploaded>,
        builds: Vec<crate::build::decide::Built>,
        timings_ms: std::collections::BTreeMap<&'static str, f64>,
    ) -> Self {
        FullReport {
            ok: true,
            outcome: FullOutcome::NothingToDeploy,
            stack,
            artifacts,
            changes: Vec::new(),
            status: None,
            error: None,
            reconciled: Vec::new(),
            verified: Vec::new(),
            builds,
            timings_ms,
        }
    }

    /// The exit code this report means.
    pub fn exit(&self) -> Exit {
        match self.outcome {
            _ if self.ok => Exit::Success,
            FullOutcome::Refused => Exit::NeedsFull,
            _ => Exit::Failed,
        }
    }

    /// The milliseconds the user took answering the prompt, if asked.
    pub fn answer_ms(&self) -> f64 {
        self.timings_ms.get("answer").copied().unwrap_or_default()
    }
}

/// One function in a status report.
#[derive(Debug, Clone, Serialize)]
pub struct FunctionState {
    /// Logical id.
    pub logical_id: String,
    /// A CDK app's function: its construct path (`QdCdkApi/getOneItemFunction`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub construct_path: Option<String>,
    /// Name.
    pub name: String,
    /// Its artifact.
    pub artifact: String,
    /// The function runs the artifact as it is now (unknown when it could not be read).
    pub live: Option<bool>,
    /// What `deploy` would do to it.
    pub action: StatusAction,
    /// Why, when it is not obvious.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The status of a project, as `status --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// The stack and artifacts could be read.
    pub ok: bool,
    /// What `deploy` would do now.
    pub outcome: StatusOutcome,
    /// The stack.
    pub stack: String,
    /// Its status, `None` when it does not exist.
    pub stack_status: Option<String>,
    /// Why a full deploy is needed.
    pub needs_full: Vec<String>,
    /// Per artifact.
    pub artifacts: Vec<ArtifactReport>,
    /// Per function.
    pub functions: Vec<FunctionState>,
    /// Functions the quick path does not serve.
    pub not_served: Vec<Skipped>,
    /// Functions in the template but not in the stack.
    pub new_functions: Vec<String>,
    /// Functions updated by `deploy` since the last `full`: they run code their template does
    /// not name.
    pub hot_patched: crate::artifact::hotpatch::Record,
    /// Why quick deploys are refused, if the stack is protected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protected: Option<String>,
    /// Each function's last change in the deploy history, by logical id.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub last_change: BTreeMap<String, crate::history::entry::LastChange>,
    /// The builds run first, as `deploy` runs them: how each function and layer with a
    /// `BuildMethod` (or a `build` command) is built, and for which architecture.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub builds: Vec<crate::build::decide::Built>,
}

/// The deploy history of a stack, as `history --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryReport {
    /// The history could be read.
    pub ok: bool,
    /// The stack.
    pub stack: String,
    /// Where it is kept: `s3://bucket/key`.
    pub location: String,
    /// How many entries are kept in all.
    pub kept: usize,
    /// The entries shown, newest first.
    pub entries: Vec<crate::history::entry::Entry>,
}

/// How a rollback ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RollbackOutcome {
    /// Every function asked for runs the earlier code.
    RolledBack,
    /// Every function asked for already ran it.
    NothingToRollBack,
    /// The user said no: nothing changed.
    Cancelled,
    /// Not done: no consent without a terminal, or it crosses a full deploy (exit 3).
    Refused,
    /// A function or an artifact could not be rolled back.
    Failed,
}

/// One artifact in a rollback.
#[derive(Debug, Clone, Serialize)]
pub struct RolledArtifact {
    /// `s3://bucket/key`.
    pub artifact: String,
    /// The functions of this rollback that run it.
    pub functions: Vec<String>,
    /// Its version before, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<crate::history::entry::Code>,
    /// The earlier version the functions go back to.
    pub to: crate::history::entry::Code,
    /// The version the copy of `to` became, when it was restored as the current version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restored_version: Option<String>,
    /// Why it is not restored as the current version, or why that failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Restoring it failed: its functions were not rolled back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What a rollback did, as `rollback --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct RollbackReport {
    /// Every function asked for runs the earlier code (or nothing was to be done).
    pub ok: bool,
    /// How it ended.
    pub outcome: RollbackOutcome,
    /// The stack.
    pub stack: String,
    /// The history entry whose code the functions go back to, if still kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub back_to: Option<u64>,
    /// The history entries undone, newest first.
    pub undone: Vec<u64>,
    /// Full deploys crossed (refused without --force).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub crossed_full: Vec<u64>,
    /// Why it was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// Per artifact.
    pub artifacts: Vec<RolledArtifact>,
    /// Per function: updated (rolled back), skipped (already ran it) or failed.
    pub functions: Vec<FunctionReport>,
    /// The history entry this rollback was recorded as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded: Option<u64>,
    /// Milliseconds per step (`read`, `restore`, `update`, `total`; `answer` is the time the
    /// user took to answer, not counted in `total`).
    pub timings_ms: BTreeMap<&'static str, f64>,
}

impl RollbackReport {
    /// Gives each function of a CDK app's `template` its construct path.
    pub fn name_constructs(&mut self, template: &Template) {
        let paths = construct_paths(template);
        for f in &mut self.functions {
            f.construct_path = paths.get(&f.logical_id).cloned();
        }
    }

    /// The exit code this report means.
    pub fn exit(&self) -> Exit {
        match self.outcome {
            RollbackOutcome::Refused => Exit::NeedsFull,
            RollbackOutcome::Failed => Exit::Failed,
            _ => Exit::Success,
        }
    }

    /// The milliseconds the user took answering the prompt, if asked.
    pub fn answer_ms(&self) -> f64 {
        self.timings_ms.get("answer").copied().unwrap_or_default()
    }

    /// How many functions failed.
    pub fn count_failed(&self) -> usize {
        self.functions
            .iter()
            .filter(|f| f.status == FunctionStatus::Failed)
            .count()
    }

    /// How many functions it rolled back.
    pub fn rolled_back(&self) -> usize {
        self.functions
            .iter()
            .filter(|f| f.status == FunctionStatus::Updated)
            .count()
    }
}

/// For `skip_serializing_if`: a phase that did not run.
fn is_zero(ms: &f64) -> bool {
    *ms == 0.0
}
