//! The quick path: inspect, patch every changed artifact, update the functions that do not
//! run it, record the hot patch; or, when only a full deploy would do, fall back to one (with
//! consent) or say why not.

use std::time::Instant;

use crate::artifact::bases;
use crate::artifact::hotpatch;
use crate::artifact::manifest::{self, Manifest};
use crate::artifact::patch::Patcher;
use crate::artifact::remote;
use crate::aws::Clients;
use crate::aws::clock::ms;
use crate::aws::trace::SpanKind;
use crate::lambda::current;
use crate::lambda::layer::{self, Swap};
use crate::lambda::pace::{Pace, Quotas};
use crate::lambda::publish;
use crate::lambda::update::{self, Job};
use crate::ops::{Event, Ui, full};
use crate::plan::inspect::{Inspected, inspect_assumed, inspect_kept};
use crate::plan::local::Local;
use crate::plan::rollout;
use crate::project::Project;
use crate::project::template::S3Object;
use crate::report::{DeployOutcome, DeployReport, FunctionReport, FunctionStatus, Timings};
use crate::stack::consent::{self, Consent};
pub mod decide;

mod patching;
pub mod targets;

use decide::{
    LayerMove, add_layer_moves, artifact_report, function_names, hot_patches, record_bucket,
    targets,
};
use patching::{How, patch_group};

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
    /// The local side shared with other targets' deploys of the same change, whose builds
    /// already ran ([`targets`]); `None`: this deploy builds and has a memo of its own.
    pub shared: Option<Local>,
    /// Put the time line of the deploy's phases and calls in the report (`--timings`).
    pub timings: bool,
    /// What `watch` keeps of the remote side between rounds: taken instead of read, and
    /// kept up to date from this deploy's reads and answers (`plan::kept`).
    pub kept: Option<crate::plan::kept::Memory>,
    /// When the command began, for a one-off deploy: the time line then starts there, with
    /// the command's setup (configuration, credentials, clients) as its first phase. `None`
    /// (a `watch` round, a target of several): the line starts with the deploy.
    pub began: Option<Instant>,
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
            shared: None,
            timings: false,
            kept: None,
            began: None,
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
    start_time_line(clients, opts.began);
    // A CDK app whose own code changed is synthesized first; a change to assets' sources
    // only is not (the builds rebuild them). With several targets, once before them.
    let prepared = match &opts.shared {
        Some(_) => crate::ops::cdk::Prepared::default(),
        None => {
            let _p = clients.trace.phase("synth");
            crate::ops::cdk::prepare(&project, ui)?
        }
    };
    // The packages are the build folders: the builds run while the stack and the artifacts
    // are read, and the packages' scans wait for them (the gate). A failed build stops
    // here, with nothing deployed: its error comes before anything the reads found. With
    // several targets, they were built once before.
    let (local, gate) = match &opts.shared {
        Some(local) => (local.clone(), None),
        None => {
            let local = Local::new();
            let gate = local.gated();
            (local, Some(gate))
        }
    };
    let building = async {
        let Some(gate) = gate else {
            return anyhow::Ok((Vec::new(), 0.0));
        };
        let _p = clients.trace.phase("build");
        let t = Instant::now();
        let built = crate::ops::build_meanwhile(&project, ui).await?;
        gate.open();
        Ok((built, ms(t)))
    };
    ui.event(Event::Step("reading the stack and diffing packages"));
    let inspected = async {
        let _p = clients.trace.phase("inspect");
        inspect_first(&project, clients, &local, opts).await
    };
    let who_and_git = who_and_git(clients, &project);
    let (built, seen) = tokio::join!(building, inspected);
    let (builds, build_ms) = built?;
    let mut seen = seen?;
    let mut report = starting(&seen, opts, builds, build_ms, prepared.synthesized.clone());
    let mut quick_done = Quick::default();
    let bucket = record_bucket(&seen);
    let mut history = None;
    if report.needs_full.is_empty() {
        // The history is read while the deploy runs: only its write is left for the end.
        let read = async {
            let b = bucket.as_deref()?;
            crate::history::store::load(&clients.s3, b, &seen.project.config.stack)
                .await
                .ok()
        };
        (quick_done, history) =
            tokio::join!(quick(&seen, clients, opts, &local, ui, &mut report), read);
        if let Some(refused) = quick_done.replan.take() {
            (seen, quick_done) =
                afresh(&project, clients, opts, &local, ui, &mut report, refused).await?;
        }
    } else {
        report.artifacts = seen.groups.iter().map(artifact_report).collect();
        fall_back(&seen, clients, opts.fallback, ui, &mut report).await?;
    }
    // Not the time the user took to answer the fallback's prompt.
    let answer = report.full.as_ref().map_or(0.0, |f| f.answer_ms());
    report.timings_ms.total = ms(started) - answer;
    if let Some(d) = &seen.deployed {
        report.name_constructs(&d.template);
    }
    {
        let _p = clients.trace.phase("history");
        let Quick {
            versions, hotpatch, ..
        } = quick_done;
        let ahead = crate::ops::history::Ahead {
            history,
            // The task cannot fail but by a panic: then the entry names no commit.
            git: Some(who_and_git.await.ok().flatten()),
            hotpatch,
            patcher: Some(opts.patcher.clone()),
        };
        report.recorded = record_deploy(&seen, clients, &report, &versions, ahead, ui).await;
    }
    if opts.timings {
        report.timeline = Some(crate::report::timeline::Timeline::of(clients.trace.spans()));
    }
    Ok(report)
}

/// Who deploys (STS) and the git commit (a `git status` of a large work tree takes a while),
/// for the history entry at the end: asked at once, on their own, so the patch does not wait
/// for them (with the stack planned from its copy, the inspection takes less time than
/// either). The identity is cached in `clients` for the entry; the commit is the answer.
fn who_and_git(
    clients: &Clients,
    project: &Project,
) -> tokio::task::JoinHandle<Option<crate::history::entry::Git>> {
    let (c, root) = (clients.clone(), project.root.clone());
    tokio::spawn(async move {
        let (_, git) = tokio::join!(
            crate::ops::history::who(&c),
            crate::ops::history::git(&root)
        );
        git
    })
}

/// The deploy's first look at the stack and the artifacts. With the zipedit Lambda (whose
/// patches can carry a stack guard) and outside `watch` (which keeps its own), it is planned
/// from this machine's copies first, asking nothing ([`inspect_assumed`]): taken when there
/// is one artifact to patch and nothing that needs a full deploy, and then confirmed by the
/// patch itself (the stack guard, the ETag) and by HEADs of the other artifacts beside it.
/// Otherwise, or without copies, the stack and artifacts are read.
async fn inspect_first(
    project: &Project,
    clients: &Clients,
    local: &Local,
    opts: &DeployOptions,
) -> anyhow::Result<Inspected> {
    if opts.kept.is_none()
        && matches!(opts.patcher, Patcher::Lambda { .. })
        // Whatever goes wrong in the plan from the copies is met again, and reported, in the
        // plan from what is read.
        && let Ok(Some(seen)) = inspect_assumed(project.clone(), clients, local).await
        && rollout::needs_full(&seen, opts.force).is_empty()
        // One artifact to patch: if its patch is refused, nothing was written, and the plan
        // from reads starts from what the first found. (With two, one could be written while
        // the other is refused, and the second plan would not see the first's change as this
        // deploy's.)
        && seen.groups.iter().filter(|g| !g.diff.is_empty()).count() == 1
    {
        return Ok(seen);
    }
    inspect_kept(project.clone(), clients, local, opts.kept.as_ref()).await
}

/// After a plan from the copies that a patch or an artifact refused (`refused`: what was not
/// as they said): the stack and artifacts are read, and the deploy planned and run again.
/// Nothing of the first plan was rolled out; what its patches wrote, the reads now see.
async fn afresh(
    project: &Project,
    clients: &Clients,
    opts: &DeployOptions,
    local: &Local,
    ui: &dyn Ui,
    report: &mut DeployReport,
    refused: String,
) -> anyhow::Result<(Inspected, Quick)> {
    // A patcher that cannot confirm a stack (older than stack guards, or without
    // cloudformation:DescribeStacks) refuses every plan from the copies: worth a warning.
    if refused.contains("StackUnread") || refused.contains("does not take stack guards") {
        ui.event(Event::Warning(&format!(
            "the patcher could not confirm the stack ({refused}), so the stack is read first: update the patcher with `quickdeploy bootstrap`"
        )));
    } else {
        ui.event(Event::Line(&format!(
            "this machine's copy of the stack or an artifact is out of date ({refused}): reading them again"
        )));
    }
    report.assumed = Some(crate::report::Assumed {
        confirmed: false,
        refused: Some(refused),
    });
    let seen = {
        let _p = clients.trace.phase("inspect");
        inspect_kept(project.clone(), clients, local, None).await?
    };
    report.needs_full = rollout::needs_full(&seen, opts.force);
    report.timings_ms.diff += seen.ms;
    let mut done = Quick::default();
    if report.needs_full.is_empty() {
        done = quick(&seen, clients, opts, local, ui, report).await;
    } else {
        report.artifacts = seen.groups.iter().map(artifact_report).collect();
        fall_back(&seen, clients, opts.fallback, ui, report).await?;
    }
    Ok((seen, done))
}

/// Each deploy (each watch round) its own time line; a one-off deploy's begins when the
/// command did (`began`), with the command's setup, spent before any of the deploy's own work,
/// as its first phase.
fn start_time_line(clients: &Clients, began: Option<Instant>) {
    match began {
        Some(began) => {
            clients.trace.restart_at(began);
            let setup = "setup".to_owned();
            clients
                .trace
                .add(SpanKind::Phase, setup, began, String::new());
        }
        None => clients.trace.restart(),
    }
}

/// The report a deploy begins with, once the stack is read and the builds are done: what a
/// full deploy would be needed for, and the builds' and diff's times.
fn starting(
    seen: &Inspected,
    opts: &DeployOptions,
    builds: Vec<crate::build::decide::Built>,
    build_ms: f64,
    synthesized: Option<String>,
) -> DeployReport {
    DeployReport {
        ok: false,
        outcome: DeployOutcome::NeedsFull,
        stack: seen.project.config.stack.clone(),
        needs_full: rollout::needs_full(seen, opts.force),
        refused: None,
        artifacts: Vec::new(),
        functions: Vec::new(),
        not_served: seen.plan.skipped.clone(),
        full: None,
        builds,
        synthesized,
        timings_ms: Timings {
            build: build_ms,
            diff: seen.ms,
            ..Timings::default()
        },
        timeline: None,
        recorded: None,
        assumed: None,
    }
}

/// Records the deploy in the stack's history, with the manifest versions it wrote beside its
/// artifacts and what it learned while it ran (`ahead`, with the hot patches); how.
async fn record_deploy(
    seen: &Inspected,
    clients: &Clients,
    report: &DeployReport,
    versions: &ManifestVersions,
    ahead: crate::ops::history::Ahead,
    ui: &dyn Ui,
) -> Option<crate::report::Recorded> {
    let mut entry = crate::report::record::of_deploy(seen, report);
    for a in entry.iter_mut().flat_map(|e| e.artifacts.iter_mut()) {
        if let (Some(after), Some(v)) = (a.after.as_mut(), versions.get(&a.artifact)) {
            after.manifest_version = Some(v.clone());
        }
    }
    let bucket = record_bucket(seen);
    crate::ops::history::record(clients, &seen.project, bucket.as_deref(), entry, ahead, ui).await
}

/// What the quick path leaves for the deploy's record: the manifest versions it wrote, and
/// the hot patches it made with the record as read while the patch ran.
#[derive(Default)]
struct Quick {
    versions: ManifestVersions,
    hotpatch: Option<(hotpatch::Record, Option<hotpatch::Read>)>,
    /// A plan from the copies that was refused, and why: nothing was decided or rolled out.
    replan: Option<String>,
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
        synthesized: report.synthesized.is_some(),
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
    local: &Local,
    ui: &dyn Ui,
    report: &mut DeployReport,
) -> Quick {
    let t = Instant::now();
    let patch_phase = clients.trace.phase("patch");
    ui.event(Event::Step("patching"));
    let quotas = Quotas::new(&opts.pace);
    let names = function_names(seen);
    let running = crate::plan::kept::running(opts.kept.as_ref(), &clients.lambda, &quotas, names);
    let cache = bases::Cache::new(&seen.project.state_dir(), bases::CACHE_LIMIT);
    let how = How {
        patcher: &opts.patcher,
        deltas: opts.deltas,
        mode: opts.mode,
        local,
        guard: seen.assumed.as_ref(),
    };
    let patches = seen
        .groups
        .iter()
        .map(|g| patch_group(g, how, clients, &cache));
    // The hot-patch record is read while the patch runs: after the updates only its write
    // is left (conditional on this read, so another machine's entries are kept).
    let record_at = record_bucket(seen);
    let record_read = async {
        let b = record_at.as_deref()?;
        hotpatch::read_ahead(&clients.s3, b, &report.stack).await
    };
    let (mut running, patched, record_ahead, unconfirmed) = tokio::join!(
        running,
        futures::future::join_all(patches),
        record_read,
        confirm_unpatched(seen, clients)
    );
    if seen.assumed.is_some() {
        let refused = patched.iter().find_map(|p| p.as_ref().err());
        if let Some(why) = refused.map(|e| format!("{e:#}")).or(unconfirmed) {
            return Quick {
                replan: Some(why),
                ..Quick::default()
            };
        }
        report.assumed = Some(crate::report::Assumed {
            confirmed: true,
            refused: None,
        });
    }
    current::confirm(
        &clients.lambda,
        &quotas,
        &mut running,
        &targets(seen, &patched),
    )
    .await;

    let (mut jobs, manifests) = decide::decide(seen, &running, patched, report);
    let moves = publish_layers(seen, clients, ui, report).await;
    add_layer_moves(&mut jobs, moves, &running, report);
    report.timings_ms.patch = ms(t);
    drop(patch_phase);
    save_manifests(seen, &manifests, ui);
    if let Some(k) = &opts.kept {
        k.with(|k| k.patched(&manifests));
    }
    let t = Instant::now();
    let rollout_phase = clients.trace.phase("rollout");
    // Recorded as hot-patched whatever the outcome: a function whose update fails may still
    // have changed, so listing it until the next full deploy is the safe side.
    let hot = hot_patches(&jobs, &report.artifacts);
    let rollout = Rollout {
        jobs,
        manifests: &manifests,
        quotas: &quotas,
    };
    let (outcomes, versions) = roll_out(clients, opts, ui, rollout, report).await;
    let rollout_ms = ms(t);
    drop(rollout_phase);
    report.timings_ms.update = outcomes.iter().map(|o| o.update_ms).fold(0.0, f64::max);
    report.timings_ms.wait =
        ((rollout_ms - report.timings_ms.update).max(0.0) * 100.0).round() / 100.0;
    settle(report, outcomes, !manifests.is_empty());
    Quick {
        versions,
        hotpatch: Some((hot, record_ahead)),
        replan: None,
    }
}

/// In a plan from the copies, the artifacts that are not patched (whose patch's ETag check
/// does not confirm them), asked by HEAD while the patches run: what the first is not as its
/// local manifest says, if one is not. Nothing for a plan from reads.
async fn confirm_unpatched(seen: &Inspected, clients: &Clients) -> Option<String> {
    seen.assumed.as_ref()?;
    let heads = seen
        .groups
        .iter()
        .filter(|g| g.diff.is_empty())
        .map(|g| async move {
            match remote::head(&clients.s3, &g.group.artifact).await {
                Ok(h) if h.etag == g.head.etag => None,
                Ok(h) => Some(format!(
                    "{} is at ETag {}, its local manifest says {}",
                    g.group.artifact, h.etag, g.head.etag
                )),
                Err(e) => Some(format!("{}: {e:#}", g.group.artifact)),
            }
        });
    futures::future::join_all(heads)
        .await
        .into_iter()
        .flatten()
        .next()
}

/// The rollout's outcomes into the report: each function's status, then the deploy's outcome
/// (`patched`: some artifact was patched).
fn settle(report: &mut DeployReport, outcomes: Vec<update::Outcome>, patched: bool) {
    report
        .functions
        .extend(outcomes.into_iter().map(|o| FunctionReport {
            logical_id: o.logical_id.clone(),
            construct_path: None,
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
    report.outcome = rollout::deploy_outcome(
        &report
            .functions
            .iter()
            .map(|f| f.status)
            .collect::<Vec<_>>(),
        patch_failed,
        patched,
    );
    report.ok = report.outcome != DeployOutcome::Failed;
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

/// The local manifest cache of what was patched. The manifests describe the patched
/// artifacts whatever happens to the functions: which function runs what is Lambda's to say,
/// and the next deploy asks it.
fn save_manifests(seen: &Inspected, manifests: &[Manifest], ui: &dyn Ui) {
    let state_dir = seen.project.state_dir();
    for m in manifests {
        if let Err(e) = manifest::save_local(
            &manifest::local_path(&state_dir, &manifest::artifact_of(m)),
            m,
        ) {
            ui.event(Event::Warning(&format!(
                "could not save the local manifest cache: {e}"
            )));
        }
    }
}

/// Updates the functions while the remote manifests are written. What a rollout is given
/// besides the deploy's own: its jobs, the manifests to write beside the artifacts, and the
/// deploy's shared Lambda quotas.
struct Rollout<'a> {
    jobs: Vec<Job>,
    manifests: &'a [Manifest],
    quotas: &'a Quotas,
}

async fn roll_out(
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
    if !jobs.is_empty() {
        ui.event(Event::Step(&format!("updating {} function(s)", jobs.len())));
    }
    let on_state = |name: &str, state: &str| ui.event(Event::Function { name, state });
    // The patcher rewrote the manifests beside the artifacts it patched (one write next to S3,
    // the changed entries only); the rest go from here, whole.
    let kept = kept_manifests(report);
    let mut versions = ManifestVersions::new();
    let mut to_write = Vec::new();
    for m in manifests {
        let artifact = manifest::artifact_of(m).to_string();
        match kept.get(&artifact) {
            Some(version) => {
                if let Some(v) = version {
                    versions.insert(artifact, v.clone());
                }
            }
            None => to_write.push(m),
        }
    }
    let remote_writes =
        futures::future::join_all(to_write.iter().map(|m| remote::put_remote(&clients.s3, m)));
    let (outcomes, writes) = tokio::join!(
        update::roll_out(&clients.lambda, jobs, &opts.pace, quotas, &on_state),
        remote_writes,
    );
    for (m, written) in to_write.iter().zip(writes) {
        match written {
            Ok(Some(v)) => {
                versions.insert(manifest::artifact_of(m).to_string(), v);
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

/// The manifests the patcher wrote beside the artifacts it patched, by `s3://bucket/key` of
/// the artifact, with their versions.
fn kept_manifests(report: &DeployReport) -> std::collections::BTreeMap<String, Option<String>> {
    report
        .artifacts
        .iter()
        .filter_map(|a| {
            let kept = a.patch.as_ref()?.manifest.as_ref().filter(|m| m.written)?;
            Some((a.artifact.clone(), kept.version_id.clone()))
        })
        .collect()
}
