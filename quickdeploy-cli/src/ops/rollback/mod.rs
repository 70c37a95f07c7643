//! `rollback`: points functions back at an earlier artifact version from the deploy history.
//!
//! Phases: read (the history, the stack, each function's CodeSha256 and RevisionId, each
//! artifact's current ETag, and that each version to go back to still exists), decide (pure:
//! [`crate::history::pick::pick`], the full-deploy rule, [`crate::stack::consent::rollback`]), restore,
//! update, record.
//!
//! - Restore: when every function of the stack that runs an artifact goes back to the same
//!   version, that version becomes the artifact's current version again (a server-side copy,
//!   conditional on the ETag read: a deploy made meanwhile is never overwritten), and its
//!   manifest is written beside it, so the next `deploy` diffs against what runs. When only
//!   some of them go back, the artifact is left as it is (the others run it).
//! - Update: UpdateFunctionCode with S3ObjectVersion (the restored copy when there is one: it
//!   is the current version, which no lifecycle rule expires; else the earlier version
//!   itself), guarded by the RevisionId read, so a function someone updated meanwhile is
//!   not overwritten (Lambda answers PreconditionFailedException); then waiting until it is
//!   live, checking its CodeSha256, and publishing a version for its aliases.
//!
//! A version the bucket's lifecycle rule expired is found before anything is changed, and
//! named in the error.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use anyhow::{Context, anyhow};
use aws_sdk_lambda::types::LastUpdateStatus;

use crate::artifact::{hotpatch, remote};
use crate::aws::Clients;
use crate::aws::clock::ms;
use crate::history::entry::Code;
use crate::history::pick::{self, Goal, Pick};
use crate::lambda::pace::{Pace, Quotas};
use crate::lambda::update::Target;
use crate::lambda::update::{self, Job};
use crate::ops::history as recorded;
use crate::ops::{Event, Ui};
use crate::project::Project;
use crate::project::template::S3Object;
use crate::report::{FunctionReport, FunctionStatus, RollbackOutcome, RollbackReport};
use crate::stack::consent::Consent;
use crate::stack::consent::{self, Decision};
use crate::stack::deployed as stack;

mod decide;
mod manifests;

use decide::{
    ArtifactPlan, Move, expired, function_report, jobs_of, parse_artifact, plan_artifact, question,
    resolve,
};
use manifests::restore_manifests;

/// How to roll back.
#[derive(Debug, Clone)]
pub struct RollbackOptions {
    /// Which earlier state.
    pub pick: Pick,
    /// Only these functions (logical ids or names; all when empty).
    pub functions: Vec<String>,
    /// Roll back even across a full deploy.
    pub force: bool,
    /// What the user consented to.
    pub consent: Consent,
    /// How the functions are updated.
    pub pace: Pace,
}

/// Rolls back `project`'s stack as `opts` says.
pub async fn rollback(
    project: &Project,
    clients: &Clients,
    opts: &RollbackOptions,
    ui: &dyn Ui,
) -> anyhow::Result<RollbackReport> {
    let mut report = run(project, clients, opts, ui).await?;
    if let Ok(m) = project.model() {
        report.name_constructs(&m.template);
    }
    Ok(report)
}

/// [`rollback`], its functions named by logical id only.
async fn run(
    project: &Project,
    clients: &Clients,
    opts: &RollbackOptions,
    ui: &dyn Ui,
) -> anyhow::Result<RollbackReport> {
    let started = Instant::now();
    let stack_name = project.config.stack.clone();
    ui.event(Event::Step("reading the history and the stack"));
    let bucket = recorded::bucket(project, clients).await?;
    let ((history, _), targets) = tokio::try_join!(
        crate::history::store::load(&clients.s3, &bucket, &stack_name),
        targets(project, clients)
    )?;
    // A CDK app's function may be named by its construct path.
    let asked: Vec<String> = opts
        .functions
        .iter()
        .map(|f| project.function_id(f))
        .collect::<Result<_, _>>()?;
    let selected = resolve(&asked, &targets, &history, &stack_name)?;
    let picked = pick::pick(&history, opts.pick, &selected)?;
    let mut report = RollbackReport {
        ok: true,
        outcome: RollbackOutcome::NothingToRollBack,
        stack: stack_name,
        back_to: picked.back_to,
        undone: picked.undone.clone(),
        crossed_full: picked.crossed_full.clone(),
        refused: None,
        artifacts: Vec::new(),
        functions: Vec::new(),
        recorded: None,
        timings_ms: BTreeMap::new(),
    };
    if !opts.force
        && let Some(why) = picked.full_refusal(&report.stack)
    {
        refuse(&mut report, why, started);
        return Ok(report);
    }
    ui.event(Event::Step("reading the functions and artifacts"));
    let (moves, artifacts) = read(clients, &picked.goals, &targets).await?;
    report.timings_ms.insert("read", ms(started));
    let (todo, skipped): (Vec<Move>, Vec<Move>) = moves.into_iter().partition(|m| {
        !m.now
            .as_ref()
            .is_some_and(|(sha, failed)| !failed && *sha == m.goal.code.code_sha256)
    });
    report.functions = skipped
        .iter()
        .map(|m| function_report(m, FunctionStatus::Skipped, "already runs that code"))
        .collect();
    if todo.is_empty() && artifacts.iter().all(|a| a.restore.is_none()) {
        report.artifacts = artifacts.into_iter().map(|a| a.report).collect();
        report.timings_ms.insert("total", ms(started));
        return Ok(report);
    }
    if !consented(opts.consent, &todo, &artifacts, &mut report, ui)? {
        report.artifacts = artifacts.into_iter().map(|a| a.report).collect();
        report
            .timings_ms
            .insert("total", ms(started) - report.answer_ms());
        return Ok(report);
    }

    execute(clients, todo, artifacts, &bucket, opts, ui, &mut report).await;
    report
        .timings_ms
        .insert("total", ms(started) - report.answer_ms());
    report.recorded = recorded::record(
        clients,
        project,
        Some(&bucket),
        crate::report::record::of_rollback(&report),
        Default::default(),
        ui,
    )
    .await
    .map(|r| r.id);
    Ok(report)
}

/// Restores the artifacts, then rolls the functions back while the manifests are written;
/// the report gets what happened and the outcome.
async fn execute(
    clients: &Clients,
    todo: Vec<Move>,
    mut artifacts: Vec<ArtifactPlan>,
    bucket: &str,
    opts: &RollbackOptions,
    ui: &dyn Ui,
    report: &mut RollbackReport,
) {
    let t = Instant::now();
    ui.event(Event::Step("restoring the artifacts"));
    copy_all(clients, &mut artifacts).await;
    report.timings_ms.insert("restore", ms(t));

    // The functions go live while the manifests are written beside their artifacts.
    let t = Instant::now();
    let (outcomes, ()) = tokio::join!(
        update_all(clients, todo, &artifacts, bucket, &report.stack, opts, ui),
        restore_manifests(clients, &artifacts, ui)
    );
    report.timings_ms.insert("update", ms(t));
    report.functions.extend(outcomes);
    report
        .functions
        .sort_by(|a, b| a.logical_id.cmp(&b.logical_id));
    report.artifacts = artifacts.into_iter().map(|a| a.report).collect();
    let failed = report
        .functions
        .iter()
        .any(|f| f.status == FunctionStatus::Failed)
        || report.artifacts.iter().any(|a| a.error.is_some());
    report.ok = !failed;
    report.outcome = if failed {
        RollbackOutcome::Failed
    } else {
        RollbackOutcome::RolledBack
    };
}

fn refuse(report: &mut RollbackReport, why: String, started: Instant) {
    report.ok = false;
    report.outcome = RollbackOutcome::Refused;
    report.refused = Some(why);
    report.timings_ms.insert("total", ms(started));
}

/// The stack's functions the quick path serves, by logical id, with their artifacts.
async fn targets(
    project: &Project,
    clients: &Clients,
) -> anyhow::Result<BTreeMap<String, (Target, String)>> {
    let crate::project::Model {
        template,
        dir: template_dir,
        ..
    } = project.model()?;
    let stack_name = &project.config.stack;
    let deployed = stack::describe(&clients.cfn, stack_name)
        .await?
        .ok_or_else(|| {
            anyhow!("stack {stack_name} does not exist: there is nothing to roll back")
        })?;
    let plan = crate::plan::groups::plan(
        &template,
        &deployed,
        &project.config,
        &project.root,
        &template_dir,
    )?;
    Ok(plan
        .groups
        .iter()
        .flat_map(|g| {
            g.functions
                .iter()
                .map(|t| (t.logical_id.clone(), (t.clone(), g.artifact.to_string())))
        })
        .collect())
}

// Long: the read phase's reads side by side (functions, heads, versions), then the plan of
// each artifact from them.
/// Reads what each function runs and each artifact's state; checks that every version to go
/// back to still exists (the error names the one that does not).
async fn read(
    clients: &Clients,
    goals: &[Goal],
    targets: &BTreeMap<String, (Target, String)>,
) -> anyhow::Result<(Vec<Move>, Vec<ArtifactPlan>)> {
    let mut moves = Vec::new();
    for goal in goals {
        let Some((target, _)) = targets.get(&goal.logical_id) else {
            return Err(anyhow!(
                "function {} is in the history but not in the stack or template any more: leave it out (--function), or deploy it with `quickdeploy full`",
                goal.logical_id
            ));
        };
        moves.push(Move {
            goal: goal.clone(),
            target: target.clone(),
            now: None,
            revision: None,
        });
    }
    let reads = moves.iter().map(|m| {
        clients
            .lambda
            .get_function_configuration()
            .function_name(&m.target.name)
            .send()
    });
    let by_artifact: BTreeMap<&str, Vec<&Goal>> = goals.iter().fold(BTreeMap::new(), |mut m, g| {
        m.entry(g.artifact.as_str()).or_default().push(g);
        m
    });
    let heads = by_artifact.iter().map(|(artifact, goals)| async move {
        let at =
            parse_artifact(artifact).ok_or_else(|| anyhow!("{artifact} is not an s3:// URL"))?;
        let versions: BTreeSet<&Code> = goals.iter().map(|g| &g.code).collect();
        let checks = versions
            .iter()
            .map(|code| check_version(&clients.s3, &at, code, goals));
        let (checked, head) = tokio::join!(
            futures::future::try_join_all(checks),
            remote::head(&clients.s3, &at)
        );
        checked?;
        anyhow::Ok((at, head?))
    });
    let (configs, heads) = tokio::join!(
        futures::future::join_all(reads),
        futures::future::try_join_all(heads)
    );
    let heads = heads?;
    for (m, c) in moves.iter_mut().zip(configs) {
        let c = c.map_err(crate::aws::err).with_context(|| {
            format!(
                "cannot read function {} (GetFunctionConfiguration)",
                m.target.name
            )
        })?;
        m.now = Some((
            c.code_sha256().unwrap_or_default().to_owned(),
            c.last_update_status() == Some(&LastUpdateStatus::Failed),
        ));
        m.revision = c.revision_id().map(str::to_owned);
    }
    let artifacts = heads
        .into_iter()
        .map(|(at, head)| plan_artifact(at, head, goals, targets, &moves))
        .collect();
    Ok((moves, artifacts))
}

/// Fails, naming the version, when `code`'s version of `at` no longer exists.
async fn check_version(
    s3: &aws_sdk_s3::Client,
    at: &S3Object,
    code: &Code,
    goals: &[&Goal],
) -> anyhow::Result<()> {
    let Some(version) = &code.version_id else {
        return Ok(());
    };
    let found = s3
        .head_object()
        .bucket(&at.bucket)
        .key(&at.key)
        .version_id(version)
        .send()
        .await;
    match found {
        Ok(_) => Ok(()),
        Err(e)
            if matches!(
                e.raw_response().map(|r| r.status().as_u16()),
                Some(404 | 400)
            ) =>
        {
            let goal = goals.iter().find(|g| g.code == *code);
            Err(expired(at, version, goal.copied()))
        }
        Err(e) => Err(crate::aws::err(e))
            .with_context(|| format!("cannot read version {version} of {at} (HeadObject)")),
    }
}

/// Restores each artifact to restore, in parallel: a copy of the earlier version becomes the
/// current one, if the current one is still the one read.
async fn copy_all(clients: &Clients, artifacts: &mut [ArtifactPlan]) {
    let work = artifacts
        .iter_mut()
        .filter(|a| a.restore.is_some())
        .map(|a| async move {
            match copy(&clients.s3, a).await {
                Ok((version, etag)) => {
                    a.report.restored_version = version;
                    a.copied_etag = Some(etag);
                }
                Err(e) => a.report.error = Some(format!("{e:#}")),
            }
        });
    futures::future::join_all(work).await;
}

/// The copy: the new version and its ETag.
async fn copy(
    s3: &aws_sdk_s3::Client,
    a: &ArtifactPlan,
) -> anyhow::Result<(Option<String>, String)> {
    let (Some(etag), Some(version)) = (&a.restore, a.report.to.version_id.clone()) else {
        return Err(anyhow!("nothing to restore"));
    };
    let at = &a.at;
    let copied = s3
        .copy_object()
        .bucket(&at.bucket)
        .key(&at.key)
        .copy_source(format!(
            "{}/{}?versionId={}",
            at.bucket,
            zipedit::s3::encode_key(&at.key),
            zipedit::s3::encode_key(&version)
        ))
        .if_match(etag)
        .send()
        .await;
    match copied {
        Ok(c) => Ok((
            c.version_id().map(str::to_owned),
            c.copy_object_result()
                .and_then(|r| r.e_tag())
                .unwrap_or_default()
                .to_owned(),
        )),
        Err(e) => {
            let status = e.raw_response().map(|r| r.status().as_u16());
            let code = aws_sdk_s3::error::ProvideErrorMetadata::code(&e).map(str::to_owned);
            Err(match (status, code.as_deref()) {
                (Some(412 | 409), _) => anyhow!(
                    "{at} changed after rollback read it (someone deployed meanwhile): it was not restored and its functions were not rolled back; see `quickdeploy status`, then run rollback again"
                ),
                (_, Some("NoSuchVersion")) | (Some(404), _) => expired(at, &version, None),
                _ => crate::aws::err(e).context(format!(
                    "cannot restore version {version} of {at} (CopyObject)"
                )),
            })
        }
    }
}

/// Updates every function to move (at most `pace.concurrency` at once), while the rolled-back
/// functions are added to the hot-patch record.
async fn update_all(
    clients: &Clients,
    todo: Vec<Move>,
    artifacts: &[ArtifactPlan],
    bucket: &str,
    stack: &str,
    opts: &RollbackOptions,
    ui: &dyn Ui,
) -> Vec<FunctionReport> {
    let (jobs, mut reports) = jobs_of(todo, artifacts);
    if !jobs.is_empty() {
        ui.event(Event::Step(&format!(
            "rolling back {} function(s)",
            jobs.len()
        )));
    }
    let progress = |name: &str, state: &str| ui.event(Event::Function { name, state });
    let (jobs, moves): (Vec<Job>, Vec<Move>) = jobs.into_iter().unzip();
    let record = crate::ops::deploy::decide::hot_patches(&jobs, &[]);
    let quotas = Quotas::new(&opts.pace);
    let (outcomes, recorded) = tokio::join!(
        update::roll_out(&clients.lambda, jobs, &opts.pace, &quotas, &progress),
        hotpatch::add(&clients.s3, bucket, stack, record)
    );
    if let Err(e) = recorded {
        ui.event(Event::Warning(&format!(
            "{e:#}: status will not list these rolled-back functions as hot-patched"
        )));
    }
    for out in outcomes {
        let Some(m) = moves.iter().find(|m| m.target.logical_id == out.logical_id) else {
            continue;
        };
        let status = if out.updated {
            FunctionStatus::Updated
        } else {
            FunctionStatus::Failed
        };
        reports.push(FunctionReport {
            logical_id: m.target.logical_id.clone(),
            construct_path: None,
            name: m.target.name.clone(),
            status,
            reason: out.reason.clone(),
            rollout: Some(out),
            not_patched: false,
        });
    }
    reports
}

/// Asks, or refuses, as [`consent::rollback`] decides; true to go ahead.
fn consented(
    consent: Consent,
    todo: &[Move],
    artifacts: &[ArtifactPlan],
    report: &mut RollbackReport,
    ui: &dyn Ui,
) -> anyhow::Result<bool> {
    match consent::rollback(consent) {
        Decision::Execute => Ok(true),
        Decision::Refuse(why) => {
            report.ok = false;
            report.outcome = RollbackOutcome::Refused;
            report.refused = Some(why);
            Ok(false)
        }
        Decision::Ask => {
            let t = Instant::now();
            let yes = ui.confirm("roll back? [y/N] ", &question(todo, artifacts, report))?;
            report.timings_ms.insert("answer", ms(t));
            if !yes {
                report.outcome = RollbackOutcome::Cancelled;
            }
            Ok(yes)
        }
    }
}
