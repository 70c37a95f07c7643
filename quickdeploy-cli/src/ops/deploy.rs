//! The quick path: inspect, patch every changed artifact, update the functions that do not
//! run it, record the hot patch; or, when only a full deploy would do, fall back to one (with
//! consent) or say why not.

use std::time::Instant;

use std::collections::BTreeMap;

use anyhow::{Context as _, anyhow};
use zipedit::event::{Content, PatchAnswer};

use crate::aws::Clients;
use crate::bases;
use crate::config::Project;
use crate::consent::{self, Consent};
use crate::encode;
use crate::hotpatch;
use crate::inspect::{GroupState, Inspected, inspect, ms};
use crate::layer::{self, Swap};
use crate::manifest::{self, FORMAT, Manifest};
use crate::ops::{Event, Ui, full};
use crate::patch::{self, PatchFailure, Patcher};
use crate::plan::Target;
use crate::publish;
use crate::remote;
use crate::report::{
    ArtifactReport, DeployOutcome, DeployReport, FunctionReport, FunctionStatus, LayerReport,
    SentFile, Timings,
};
use crate::rollout::{self, Action, ArtifactState};
use crate::template::S3Object;
use crate::update::{self, Current, Job, Pace};

/// What a function's reason starts with when its artifact's patch failed.
pub const NOT_PATCHED: &str = "its artifact was not patched: ";

/// How to deploy.
#[derive(Debug, Clone)]
pub struct DeployOptions {
    /// Who patches: this machine, or the zipedit Lambda.
    pub patcher: Patcher,
    /// Send large modified files as deltas against their previous content, when smaller.
    pub deltas: bool,
    /// How the patcher writes.
    pub mode: zipedit::Mode,
    /// How the functions are updated.
    pub pace: Pace,
    /// Quick-deploy even a protected stack.
    pub force: bool,
    /// When only a full deploy would do: run one with this consent, or (`None`, the
    /// `--no-fallback` case) report `needs-full`.
    pub fallback: Option<Consent>,
}

impl DeployOptions {
    /// Defaults for a caller with no flags: patch locally, append when possible, no fallback.
    pub fn local(clients: &Clients) -> Self {
        Self {
            patcher: Patcher::Local(clients.s3.clone()),
            deltas: true,
            mode: zipedit::Mode::Auto,
            pace: Pace::default(),
            force: false,
            fallback: None,
        }
    }
}

/// Deploys `project`: what `deploy`, `watch` and the tests call.
pub async fn deploy(
    project: Project,
    clients: &Clients,
    opts: &DeployOptions,
    ui: &dyn Ui,
) -> anyhow::Result<DeployReport> {
    let started = Instant::now();
    // Before anything is read: the packages are the build folders. A failed build stops here,
    // with nothing deployed.
    let builds = crate::ops::build(&project, ui)?;
    let build_ms = ms(started);
    ui.event(Event::Step("reading the stack and diffing packages"));
    // Who deploys (STS) is asked while the stack is read, not after the functions are live:
    // the history entry needs it, the quick path should not wait for it (it is cached).
    let (seen, _) = tokio::join!(inspect(project, clients), crate::ops::history::who(clients));
    let seen = seen?;
    let mut report = DeployReport {
        ok: false,
        outcome: DeployOutcome::NeedsFull,
        stack: seen.project.config.stack.clone(),
        needs_full: rollout::needs_full(&seen, opts.force),
        refused: None,
        artifacts: Vec::new(),
        functions: Vec::new(),
        not_served: seen.plan.skipped.clone(),
        full: None,
        builds,
        timings_ms: Timings {
            build: build_ms,
            diff: seen.ms,
            ..Timings::default()
        },
    };
    let mut versions = ManifestVersions::new();
    let bucket = record_bucket(&seen);
    let mut history = None;
    if report.needs_full.is_empty() {
        // The history is read while the deploy runs: only its write is left for the end.
        let read = async {
            let b = bucket.as_deref()?;
            crate::ops::history::load(&clients.s3, b, &seen.project.config.stack)
                .await
                .ok()
        };
        (versions, history) = tokio::join!(quick(&seen, clients, opts, ui, &mut report), read);
    } else {
        report.artifacts = seen.groups.iter().map(artifact_report).collect();
        fall_back(&seen, clients, opts.fallback, ui, &mut report).await?;
    }
    // Not the time the user took to answer the fallback's prompt.
    let answer = report.full.as_ref().map_or(0.0, |f| f.answer_ms());
    report.timings_ms.total = ms(started) - answer;
    let mut entry = crate::history::of_deploy(&seen, &report);
    for a in entry.iter_mut().flat_map(|e| e.artifacts.iter_mut()) {
        if let (Some(after), Some(v)) = (a.after.as_mut(), versions.get(&a.artifact)) {
            after.manifest_version = Some(v.clone());
        }
    }
    crate::ops::history::record(
        clients,
        &seen.project,
        bucket.as_deref(),
        entry,
        history,
        ui,
    )
    .await;
    Ok(report)
}

/// The full deploy instead, when consent allows; else the report says why not.
async fn fall_back(
    seen: &Inspected,
    clients: &Clients,
    consent: Option<Consent>,
    ui: &dyn Ui,
    report: &mut DeployReport,
) -> anyhow::Result<()> {
    let Some(consent) = consent else {
        return Ok(());
    };
    if let Err(why) = consent::fallback(consent) {
        report.refused = Some(why);
        return Ok(());
    }
    ui.event(Event::Line(&format!(
        "falling back to a full deploy: {}",
        report.needs_full.join("; ")
    )));
    let opts = full::FullOptions {
        consent,
        built: true,
        ..full::FullOptions::default()
    };
    let done = full::full(&seen.project, clients, &opts, ui).await?;
    report.ok = done.ok;
    report.outcome = match done.outcome {
        crate::report::FullOutcome::Refused => DeployOutcome::NeedsFull,
        _ => DeployOutcome::Full,
    };
    report.full = Some(done);
    Ok(())
}

/// The quick path proper: patch, decide, roll out, record.
async fn quick(
    seen: &Inspected,
    clients: &Clients,
    opts: &DeployOptions,
    ui: &dyn Ui,
    report: &mut DeployReport,
) -> ManifestVersions {
    let t = Instant::now();
    ui.event(Event::Step("patching"));
    let quotas = update::Quotas::new(&opts.pace);
    let running = update::current_code(&clients.lambda, &quotas, function_names(seen));
    let cache = bases::Cache::new(&seen.project.state_dir(), bases::CACHE_LIMIT);
    let patches = seen
        .groups
        .iter()
        .map(|g| patch_group(g, opts, clients, &cache));
    let (mut running, patched) = tokio::join!(running, futures::future::join_all(patches));
    update::confirm(
        &clients.lambda,
        &quotas,
        &mut running,
        &targets(seen, &patched),
    )
    .await;

    let (mut jobs, manifests) = decide(seen, &running, patched, report);
    let moves = publish_layers(seen, clients, ui, report).await;
    add_layer_moves(&mut jobs, moves, &running, report);
    report.timings_ms.patch = ms(t);
    save_manifests(seen, &manifests, ui);
    let t = Instant::now();
    let rollout = Rollout {
        jobs,
        manifests: &manifests,
        quotas: &quotas,
    };
    let (outcomes, versions) = roll_out(seen, clients, opts, ui, rollout, report).await;
    let rollout_ms = ms(t);
    report.timings_ms.update = outcomes.iter().map(|o| o.update_ms).fold(0.0, f64::max);
    report.timings_ms.wait =
        ((rollout_ms - report.timings_ms.update).max(0.0) * 100.0).round() / 100.0;
    report
        .functions
        .extend(outcomes.into_iter().map(|o| FunctionReport {
            logical_id: o.logical_id.clone(),
            name: o.name.clone(),
            status: if o.updated {
                FunctionStatus::Updated
            } else {
                FunctionStatus::Failed
            },
            reason: o.reason.clone(),
            rollout: Some(o),
            not_patched: false,
        }));
    report
        .functions
        .sort_by(|a, b| a.logical_id.cmp(&b.logical_id));
    let patch_failed = report
        .artifacts
        .iter()
        .any(|a| a.error.is_some() || a.layers.iter().any(|l| l.error.is_some()));
    report.outcome =
        rollout::deploy_outcome(&report.functions, patch_failed, !manifests.is_empty());
    report.ok = report.outcome != DeployOutcome::Failed;
    versions
}

/// The CodeSha256 each function should end up with: its artifact's as patched, or as it was
/// when its package did not change (none when the patch failed).
fn targets(
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
struct PatchedArtifact {
    answer: PatchAnswer,
    sent: Sent,
    manifest: Manifest,
}

/// An artifact's patch; `None` when its package did not change.
type Patched = Option<PatchedArtifact>;

/// Applies [`rollout::action`] to every function: the artifacts and skipped or failed
/// functions go into the report; the updates to make and the manifests to save are returned.
fn decide(
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
            })) => {
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
struct LayerMove {
    target: Target,
    swaps: Vec<Swap>,
    failed: Option<String>,
}

/// Publishes a new version of each layer whose artifact was patched (in parallel), noted in
/// the report's artifacts; the moves each user function needs, by logical id.
async fn publish_layers(
    seen: &Inspected,
    clients: &Clients,
    ui: &dyn Ui,
    report: &mut DeployReport,
) -> std::collections::BTreeMap<String, LayerMove> {
    let mut work = Vec::new();
    for (g, art) in seen.groups.iter().zip(&report.artifacts) {
        let Some(p) = &art.patch else { continue };
        let at = S3Object {
            version: p.version_id.clone(),
            ..g.group.artifact.clone()
        };
        // A layer without a version to publish beside needed a full deploy (Inspected).
        work.extend(g.group.layers.iter().filter_map(|l| {
            Some((
                l,
                l.version_arn.as_deref()?,
                at.clone(),
                p.code_sha256.clone(),
            ))
        }));
    }
    let mut moves = std::collections::BTreeMap::new();
    if work.is_empty() {
        return moves;
    }
    ui.event(Event::Step(&format!(
        "publishing {} layer version(s)",
        work.len()
    )));
    let published = futures::future::join_all(
        work.iter()
            .map(|(_, like, at, sha)| publish::layer_version(&clients.lambda, like, at, sha)),
    )
    .await;
    for ((l, _, _, _), result) in work.iter().zip(published) {
        let noted = report
            .artifacts
            .iter_mut()
            .flat_map(|a| a.layers.iter_mut())
            .find(|r| r.logical_id == l.logical_id);
        let (swap, failed) = match result {
            Ok(p) => {
                let layer = layer::unversioned(&p.version_arn)
                    .unwrap_or_default()
                    .to_owned();
                let swap = Swap {
                    layer,
                    version_arn: p.version_arn.clone(),
                };
                if let Some(n) = noted {
                    n.published = Some(p.version_arn);
                }
                (Some(swap), None)
            }
            Err(e) => {
                let why = format!("{e:#}");
                if let Some(n) = noted {
                    n.error = Some(why.clone());
                }
                (
                    None,
                    Some(format!(
                        "its layer {} was not published: {why}",
                        l.logical_id
                    )),
                )
            }
        };
        for u in &l.users {
            let m = moves
                .entry(u.logical_id.clone())
                .or_insert_with(|| LayerMove {
                    target: u.clone(),
                    swaps: Vec::new(),
                    failed: None,
                });
            m.swaps.extend(swap.clone());
            if failed.is_some() {
                m.failed.clone_from(&failed);
            }
        }
    }
    moves
}

/// Gives each layer user its moves: added to its code update when it has one, else a job of
/// its own that keeps its code (the CodeSha256 it runs). A user whose layer was not published
/// is not updated at all (new code on an old layer is a combination nobody deployed).
fn add_layer_moves(
    jobs: &mut Vec<Job>,
    moves: std::collections::BTreeMap<String, LayerMove>,
    running: &[(String, Result<Current, String>)],
    report: &mut DeployReport,
) {
    for (id, m) in moves {
        let failed = |why: String| FunctionReport {
            logical_id: id.clone(),
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

/// The local manifest cache of what was patched. The manifests describe the patched
/// artifacts whatever happens to the functions: which function runs what is Lambda's to say,
/// and the next deploy asks it.
fn save_manifests(seen: &Inspected, manifests: &[Manifest], ui: &dyn Ui) {
    let state_dir = seen.project.state_dir();
    for m in manifests {
        if let Err(e) = manifest::save_local(&manifest::local_path(&state_dir, &m.artifact()), m) {
            ui.event(Event::Warning(&format!(
                "could not save the local manifest cache: {e}"
            )));
        }
    }
}

/// Updates the functions while the remote manifests and the hot-patch record are written.
/// What a rollout is given besides the deploy's own: its jobs, the manifests to write beside
/// the artifacts, and the deploy's shared Lambda quotas.
struct Rollout<'a> {
    jobs: Vec<Job>,
    manifests: &'a [Manifest],
    quotas: &'a update::Quotas,
}

async fn roll_out(
    seen: &Inspected,
    clients: &Clients,
    opts: &DeployOptions,
    ui: &dyn Ui,
    rollout: Rollout<'_>,
    report: &DeployReport,
) -> (Vec<update::Outcome>, ManifestVersions) {
    let Rollout {
        jobs,
        manifests,
        quotas,
    } = rollout;
    let stack = report.stack.as_str();
    if !jobs.is_empty() {
        ui.event(Event::Step(&format!("updating {} function(s)", jobs.len())));
    }
    let on_state = |name: &str, state: &str| ui.event(Event::Function { name, state });
    let remote_writes =
        futures::future::join_all(manifests.iter().map(|m| remote::put_remote(&clients.s3, m)));
    // Recorded as hot-patched before the outcome is known, alongside the rollout (it is off
    // the critical path): a function whose update fails may still have changed, so listing it
    // until the next full deploy is the safe side.
    let record = hot_patches(&jobs, &report.artifacts);
    let recorded = async {
        match record_bucket(seen) {
            Some(bucket) => hotpatch::add(&clients.s3, &bucket, stack, record).await,
            None => Ok(()),
        }
    };
    let (outcomes, writes, recorded) = tokio::join!(
        update::roll_out(&clients.lambda, jobs, &opts.pace, quotas, &on_state),
        remote_writes,
        recorded
    );
    if let Err(e) = recorded {
        ui.event(Event::Warning(&format!(
            "{e:#}: status will not list these hot patches"
        )));
    }
    let mut versions = ManifestVersions::new();
    for (m, written) in manifests.iter().zip(writes) {
        match written {
            Ok(Some(v)) => {
                versions.insert(m.artifact().to_string(), v);
            }
            Ok(None) => {}
            Err(e) => ui.event(Event::Warning(&format!(
                "{e:#}: the next deploy from another machine will read the artifact instead"
            ))),
        }
    }
    (outcomes, versions)
}

/// The version of each manifest a deploy wrote beside its artifact, by `s3://bucket/key` of
/// the artifact: the history entry records them without asking S3 again.
type ManifestVersions = std::collections::BTreeMap<String, String>;

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
            at: crate::clock::now_rfc3339(),
        };
        (j.target.logical_id.clone(), entry)
    });
    let layers = artifacts.iter().flat_map(|a| {
        a.layers.iter().filter_map(move |l| {
            let entry = hotpatch::Entry {
                name: l.published.clone()?,
                code_sha256: a.patch.as_ref()?.code_sha256.clone(),
                artifact: a.artifact.clone(),
                at: crate::clock::now_rfc3339(),
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

/// Patches one artifact if its package changed.
async fn patch_group(
    g: &GroupState,
    opts: &DeployOptions,
    clients: &Clients,
    cache: &bases::Cache,
) -> anyhow::Result<Patched> {
    if g.diff.is_empty() {
        return Ok(None);
    }
    let (changes, mut sent) = encode_changes(g, opts, clients, cache).await?;
    let encoded = sent.files.iter().any(|f| f.sent != encode::Sent::Whole);
    let event = |changes| {
        patch::event(
            &g.group.artifact,
            changes,
            &g.diff.deletes,
            &g.head.etag,
            opts.mode,
        )
    };
    let mut ran = patch::run(
        &opts.patcher,
        &clients.s3,
        event(changes),
        &g.group.artifact,
    )
    .await;
    if encoded && matches!(&ran, Err(PatchFailure::Refused { kind, .. }) if kind == "BadEvent") {
        // A patcher older than encoded changes refuses them as a bad event (nothing written):
        // send the files whole instead, and say how to update it.
        sent.warnings.push(
            "the patcher does not read compressed changes or deltas (it is older than this quickdeploy), so the files went whole: update it with `quickdeploy bootstrap`".into(),
        );
        for f in &mut sent.files {
            (f.sent, f.bytes, f.base) = (encode::Sent::Whole, f.size, None);
        }
        let whole = g
            .diff
            .puts
            .iter()
            .map(|p| (p.path.clone(), encode::encode(p, None, false).content))
            .collect();
        ran = patch::run(&opts.patcher, &clients.s3, event(whole), &g.group.artifact).await;
    }
    let (answer, wire) = ran.map_err(|e| match e {
        PatchFailure::Refused { kind, message } if kind == "ArtifactChanged" => {
            anyhow!("{message} (someone else deployed this artifact meanwhile: run deploy again)")
        }
        other => anyhow!(other),
    })?;
    sent.wire = wire;
    // The next deploy's deltas are made against what this one deployed.
    for put in g
        .diff
        .puts
        .iter()
        .filter(|p| p.data.len() >= encode::DELTA_OVER)
    {
        let _ = cache.put(&put.sha256, &put.data);
    }
    let manifest = Manifest {
        format: FORMAT,
        bucket: answer.bucket.clone(),
        key: answer.key.clone(),
        etag: answer.etag.clone(),
        version_id: answer.version_id.clone(),
        code_sha256: answer.code_sha256.clone(),
        size: answer.size,
        files: g.diff.next.clone(),
    };
    Ok(Some(PatchedArtifact {
        answer,
        sent,
        manifest,
    }))
}

/// What went to the patcher for one artifact.
#[derive(Debug, Default)]
struct Sent {
    /// The request and staged objects, in bytes.
    wire: patch::Wire,
    /// How each file went.
    files: Vec<SentFile>,
    /// Bytes read from the artifact for deltas' previous content.
    base_bytes: u64,
    /// What was worked around.
    warnings: Vec<String>,
}

/// Each changed file encoded for the patcher (whole, compressed or as a delta against its
/// previous content, whichever is smaller), off the async threads: compressing a large
/// binary is CPU work. A local patch sends everything whole: there is no wire to save.
async fn encode_changes(
    g: &GroupState,
    opts: &DeployOptions,
    clients: &Clients,
    cache: &bases::Cache,
) -> anyhow::Result<(BTreeMap<String, Content>, Sent)> {
    let compress = matches!(opts.patcher, Patcher::Lambda { .. });
    let deltas = compress && opts.deltas;
    let wanted: Vec<(String, String)> = g
        .diff
        .puts
        .iter()
        .filter(|p| deltas && !p.added && p.data.len() >= encode::DELTA_OVER)
        .filter_map(|p| Some((p.path.clone(), g.base.files.get(&p.path)?.sha256.clone())))
        .collect();
    let (found, base_error) =
        bases::find(&clients.s3, cache, &g.group.artifact, &g.head, &wanted).await;
    let puts = g.diff.puts.clone();
    let bases::Bases {
        content,
        from,
        read_bytes,
    } = found;
    let encoded = tokio::task::spawn_blocking(move || {
        puts.iter()
            .map(|p| {
                let base = content.get(&p.path).map(Vec::as_slice);
                let e = encode::encode(p, base, compress);
                (p.path.clone(), p.data.len(), e)
            })
            .collect::<Vec<_>>()
    })
    .await
    .context("encoding the changed files failed")?;
    let mut sent = Sent {
        base_bytes: read_bytes,
        warnings: base_error
            .map(|e| {
                format!("previous content not read ({e:#}); those files went compressed instead of as deltas")
            })
            .into_iter()
            .collect(),
        ..Sent::default()
    };
    let mut changes = BTreeMap::new();
    for (path, size, e) in encoded {
        sent.files.push(SentFile {
            path: path.clone(),
            sent: e.sent,
            size: size as u64,
            bytes: e.bytes as u64,
            base: (e.sent == encode::Sent::Delta)
                .then(|| from.get(&path).copied())
                .flatten(),
        });
        changes.insert(path, e.content);
    }
    Ok((changes, sent))
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
