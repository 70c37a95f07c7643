//! `rollback`: points functions back at an earlier artifact version from the deploy history.
//!
//! Phases: read (the history, the stack, each function's CodeSha256 and RevisionId, each
//! artifact's current ETag, and that each version to go back to still exists), decide (pure:
//! [`crate::history::pick`], the full-deploy rule, [`crate::consent::rollback`]), restore,
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
use futures::StreamExt as _;

use crate::aws::Clients;
use crate::config::Project;
use crate::consent::{self, Consent, Decision};
use crate::history::{self, Code, Goal, History, Pick, PickError};
use crate::inspect::ms;
use crate::manifest::{FORMAT, Manifest};
use crate::ops::history as recorded;
use crate::ops::{Event, Ui};
use crate::plan::Target;
use crate::report::{
    FunctionReport, FunctionStatus, RollbackOutcome, RollbackReport, RolledArtifact,
};
use crate::template::S3Object;
use crate::update::{self, Job, Pace};
use crate::{hotpatch, remote, stack};

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

/// One function to move: its goal, and what it is now.
#[derive(Debug)]
struct Move {
    goal: Goal,
    target: Target,
    /// Its CodeSha256 now, and whether its last update failed.
    now: Option<(String, bool)>,
    /// The RevisionId read, which the update must still match.
    revision: Option<String>,
}

/// One artifact the moves use.
#[derive(Debug)]
struct ArtifactPlan {
    at: S3Object,
    report: RolledArtifact,
    /// Restore `to` as the current version, conditional on this ETag.
    restore: Option<String>,
    /// The restored copy's ETag.
    copied_etag: Option<String>,
}

/// Rolls back `project`'s stack as `opts` says.
pub async fn rollback(
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
        recorded::load(&clients.s3, &bucket, &stack_name),
        targets(project, clients)
    )?;
    let selected = resolve(&opts.functions, &targets, &history, &stack_name)?;
    let picked = history::pick(&history, opts.pick, &selected)?;
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
        history::of_rollback(&report),
        None,
        ui,
    )
    .await;
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
    let (template, template_dir) = project.template()?;
    let stack_name = &project.config.stack;
    let deployed = stack::describe(&clients.cfn, stack_name)
        .await?
        .ok_or_else(|| {
            anyhow!("stack {stack_name} does not exist: there is nothing to roll back")
        })?;
    let plan = crate::plan::plan(
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

/// The logical ids of the functions asked for by logical id or name.
fn resolve(
    asked: &[String],
    targets: &BTreeMap<String, (Target, String)>,
    history: &History,
    stack: &str,
) -> Result<Vec<String>, PickError> {
    asked
        .iter()
        .map(|name| {
            if targets.contains_key(name) {
                return Ok(name.clone());
            }
            if let Some((id, _)) = targets.iter().find(|(_, (t, _))| &t.name == name) {
                return Ok(id.clone());
            }
            history
                .entries
                .iter()
                .flat_map(|e| &e.functions)
                .find(|f| &f.logical_id == name || f.name.as_ref() == Some(name))
                .map(|f| f.logical_id.clone())
                .ok_or_else(|| PickError::UnknownFunction {
                    name: name.clone(),
                    stack: stack.to_owned(),
                    known: targets.keys().cloned().collect::<Vec<_>>().join(", "),
                })
        })
        .collect()
}

/// `s3://bucket/key` as an object.
fn parse_artifact(artifact: &str) -> Option<S3Object> {
    let (bucket, key) = history::split_artifact(artifact)?;
    Some(S3Object {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        version: None,
    })
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

/// Whether an artifact is restored as its current version: only when every function of the
/// stack that runs it goes back to the same version, and it is not that version already.
fn plan_artifact(
    at: S3Object,
    head: remote::Head,
    goals: &[Goal],
    targets: &BTreeMap<String, (Target, String)>,
    moves: &[Move],
) -> ArtifactPlan {
    let artifact = at.to_string();
    let mine: Vec<&Goal> = goals.iter().filter(|g| g.artifact == artifact).collect();
    let to = mine[0].code.clone();
    let sharers: Vec<&String> = targets
        .iter()
        .filter(|(_, (_, a))| *a == artifact)
        .map(|(id, _)| id)
        .collect();
    let staying: Vec<&str> = sharers
        .iter()
        .filter(|id| !mine.iter().any(|g| &g.logical_id == **id))
        .map(|id| id.as_str())
        .collect();
    let one_version = mine.iter().all(|g| g.code.same(&to));
    // What the functions run now: the version the artifact has, with the CodeSha256 one of
    // them reports.
    let from = moves
        .iter()
        .find(|m| m.goal.artifact == artifact)
        .and_then(|m| m.now.as_ref())
        .map(|(sha, _)| Code {
            version_id: head.version_id.clone(),
            code_sha256: sha.clone(),
            manifest_version: None,
        });
    let current = head.version_id == to.version_id
        || head.uploaded_code_sha256.as_deref() == Some(to.code_sha256.as_str());
    let note = if !one_version {
        Some(
            "not restored as the current version: its functions go back to different versions"
                .to_owned(),
        )
    } else if !staying.is_empty() {
        Some(format!(
            "not restored as the current version: {} still run it (the next deploy brings the functions rolled back here to it again)",
            staying.join(", ")
        ))
    } else {
        None
    };
    let restore = (note.is_none() && !current).then(|| head.etag.clone());
    ArtifactPlan {
        at,
        report: RolledArtifact {
            artifact,
            functions: mine.iter().map(|g| g.logical_id.clone()).collect(),
            from,
            to,
            restored_version: None,
            note,
            error: None,
        },
        restore,
        copied_etag: None,
    }
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

/// The error for a version that is gone.
fn expired(at: &S3Object, version: &str, goal: Option<&Goal>) -> anyhow::Error {
    let how = match goal.and_then(|g| g.commit.as_deref()) {
        Some(commit) => format!(
            "check out commit {} and run `quickdeploy full` to deploy that code again",
            &commit[..commit.len().min(12)]
        ),
        None => "deploy that code again from its source with `quickdeploy full`".to_owned(),
    };
    let entry = goal.map_or(String::new(), |g| {
        format!(" (history entry #{})", g.from_entry)
    });
    anyhow!(
        "version {version} of {at}{entry} no longer exists: the bucket's lifecycle rule expired it (noncurrent versions are deleted after some days). Roll back to a newer entry (`quickdeploy history`), or {how}"
    )
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

/// What the user is asked to agree to.
fn question(todo: &[Move], artifacts: &[ArtifactPlan], report: &RollbackReport) -> Vec<String> {
    let ids = |v: &[u64]| {
        v.iter()
            .map(|i| format!("#{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = vec![match report.back_to {
        Some(id) => format!(
            "roll back stack {} to history entry #{id}, undoing {}:",
            report.stack,
            ids(&report.undone)
        ),
        None => format!(
            "roll back stack {}, undoing {}:",
            report.stack,
            ids(&report.undone)
        ),
    }];
    let short = |s: &str| s.get(..12).unwrap_or(s).to_owned();
    for m in todo {
        out.push(format!(
            "  {:<24} CodeSha256 {} -> {} (version {} of {})",
            m.goal.logical_id,
            short(m.now.as_ref().map_or("?", |(s, _)| s)),
            short(&m.goal.code.code_sha256),
            short(m.goal.code.version_id.as_deref().unwrap_or("?")),
            m.goal.artifact
        ));
    }
    for a in artifacts.iter().filter(|a| a.restore.is_some()) {
        out.push(format!(
            "  {} becomes version {} again (a copy of it is made the current version)",
            a.report.artifact,
            short(a.report.to.version_id.as_deref().unwrap_or("?"))
        ));
    }
    if !report.crossed_full.is_empty() {
        out.push(format!(
            "  --force: this crosses the full deploy {}",
            ids(&report.crossed_full)
        ));
    }
    out
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

/// Writes the manifest of each restored artifact beside it (while the functions are
/// updated): the earlier manifest that describes that code, with the copy's ETag and version.
/// One that cannot be written is a warning (the next deploy then reads the artifact itself).
async fn restore_manifests(clients: &Clients, artifacts: &[ArtifactPlan], ui: &dyn Ui) {
    let restored: Vec<&ArtifactPlan> = artifacts
        .iter()
        .filter(|a| a.copied_etag.is_some())
        .collect();
    if restored.is_empty() {
        return;
    }
    // The manifest version the history recorded, when it still describes that code: one GET.
    let direct = restored.iter().map(|a| async move {
        let version = a.report.to.manifest_version.as_deref()?;
        manifest_version(&clients.s3, &a.at, version, &a.report.to).await
    });
    let direct = futures::future::join_all(direct).await;
    // Else the newest earlier manifest that names that CodeSha256: one listing for them all.
    let missing: Vec<&ArtifactPlan> = restored
        .iter()
        .zip(&direct)
        .filter(|(_, m)| m.is_none())
        .map(|(a, _)| *a)
        .collect();
    let listed = if missing.is_empty() {
        BTreeMap::new()
    } else {
        manifest_versions(&clients.s3, &missing).await
    };
    let work = restored.into_iter().zip(direct).map(|(a, found)| {
        let key = crate::manifest::remote_key(&a.at.key);
        let candidates = listed.get(&(a.at.bucket.clone(), key)).cloned();
        async move {
            let at = &a.at;
            let found = match found {
                Some(m) => Ok(m),
                None => manifest_of(&clients.s3, at, &a.report.to, candidates).await,
            };
            let manifest = match found {
                Ok(m) => Manifest {
                    etag: a.copied_etag.clone().unwrap_or_default(),
                    version_id: a.report.restored_version.clone(),
                    ..m
                },
                Err(e) => {
                    ui.event(Event::Warning(&format!(
                        "{at} is restored, but its manifest is not ({e:#}): the next deploy reads the artifact instead"
                    )));
                    return;
                }
            };
            if let Err(e) = remote::put_remote(&clients.s3, &manifest).await {
                ui.event(Event::Warning(&format!(
                    "{e:#}: the next deploy reads the artifact {at} instead of its manifest"
                )));
            }
        }
    });
    futures::future::join_all(work).await;
}

/// One version of an artifact's manifest, if it describes `code`.
async fn manifest_version(
    s3: &aws_sdk_s3::Client,
    at: &S3Object,
    version: &str,
    code: &Code,
) -> Option<Manifest> {
    let got = s3
        .get_object()
        .bucket(&at.bucket)
        .key(crate::manifest::remote_key(&at.key))
        .version_id(version)
        .send()
        .await
        .ok()?;
    let body = got.body.collect().await.ok()?.into_bytes();
    serde_json::from_slice::<Manifest>(&body)
        .ok()
        .filter(|m| m.format == FORMAT && m.code_sha256 == code.code_sha256)
}

/// Versions listed at once, when looking for earlier manifests.
const LISTED_VERSIONS: i32 = 1000;

/// The versions of the restored artifacts' manifests, newest first, by (bucket, key): one
/// ListObjectVersions per bucket over the manifests' common prefix (a manifest not in its
/// first page is listed alone by [`manifest_of`]).
async fn manifest_versions(
    s3: &aws_sdk_s3::Client,
    restored: &[&ArtifactPlan],
) -> BTreeMap<(String, String), Vec<String>> {
    let mut by_bucket: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for a in restored {
        by_bucket
            .entry(a.at.bucket.as_str())
            .or_default()
            .push(crate::manifest::remote_key(&a.at.key));
    }
    let lists = by_bucket.into_iter().map(|(bucket, keys)| async move {
        let prefix = keys.iter().skip(1).fold(keys[0].clone(), |p, k| {
            p.chars()
                .zip(k.chars())
                .take_while(|(a, b)| a == b)
                .map(|(a, _)| a)
                .collect()
        });
        let listed = s3
            .list_object_versions()
            .bucket(bucket)
            .prefix(prefix)
            .max_keys(LISTED_VERSIONS)
            .send()
            .await
            .ok();
        let mut out: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for v in listed.iter().flat_map(|l| l.versions()) {
            if let (Some(key), Some(id)) = (v.key(), v.version_id())
                && keys.iter().any(|k| k == key)
            {
                out.entry((bucket.to_owned(), key.to_owned()))
                    .or_default()
                    .push(id.to_owned());
            }
        }
        out
    });
    futures::future::join_all(lists)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// How many versions of one manifest are listed when it was not in the common listing.
const MANIFEST_VERSIONS: i32 = 100;

/// The manifest of the artifact's contents at `code`: the newest version of the manifest
/// beside it that names that CodeSha256 (among `candidates`, newest first, else listed
/// here), else read from the artifact version itself.
async fn manifest_of(
    s3: &aws_sdk_s3::Client,
    at: &S3Object,
    code: &Code,
    candidates: Option<Vec<String>>,
) -> anyhow::Result<Manifest> {
    let key = crate::manifest::remote_key(&at.key);
    let versions = match candidates {
        Some(v) => v,
        None => s3
            .list_object_versions()
            .bucket(&at.bucket)
            .prefix(&key)
            .max_keys(MANIFEST_VERSIONS)
            .send()
            .await
            .map_err(crate::aws::err)
            .with_context(|| format!("cannot list the versions of s3://{}/{key}", at.bucket))?
            .versions()
            .iter()
            .filter(|v| v.key() == Some(key.as_str()))
            .filter_map(|v| v.version_id().map(str::to_owned))
            .collect(),
    };
    // Newest first, two at a time: the one wanted is usually among the newest few.
    let mut found = futures::stream::iter(versions)
        .map(|v| async move { manifest_version(s3, at, &v, code).await })
        .buffered(2);
    while let Some(m) = found.next().await {
        if let Some(m) = m {
            return Ok(m);
        }
    }
    drop(found);
    // None of them: read the version itself and hash its entries.
    let mut get = s3.get_object().bucket(&at.bucket).key(&at.key);
    if let Some(v) = &code.version_id {
        get = get.version_id(v);
    }
    let bytes = get
        .send()
        .await
        .map_err(crate::aws::err)
        .with_context(|| format!("cannot read {at} to rebuild its manifest"))?
        .body
        .collect()
        .await
        .with_context(|| format!("cannot read {at} to rebuild its manifest"))?
        .into_bytes();
    Ok(Manifest {
        format: FORMAT,
        bucket: at.bucket.clone(),
        key: at.key.clone(),
        etag: String::new(),
        version_id: code.version_id.clone(),
        code_sha256: zipedit::code_sha256(&bytes),
        size: bytes.len() as u64,
        files: remote::entries(&bytes).with_context(|| format!("{at} is not a readable zip"))?,
    })
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
    let record = crate::ops::deploy::hot_patches(&jobs, &[]);
    let quotas = update::Quotas::new(&opts.pace);
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
            name: m.target.name.clone(),
            status,
            reason: out.reason.clone(),
            rollout: Some(out),
            not_patched: false,
        });
    }
    reports
}

/// The update of each function to move, with its move; a report for each that cannot be.
fn jobs_of(todo: Vec<Move>, artifacts: &[ArtifactPlan]) -> (Vec<(Job, Move)>, Vec<FunctionReport>) {
    let mut reports = Vec::new();
    let mut jobs = Vec::new();
    for m in todo {
        let a = artifacts
            .iter()
            .find(|a| a.report.artifact == m.goal.artifact);
        if let Some(e) = a.and_then(|a| a.report.error.as_deref()) {
            reports.push(function_report(
                &m,
                FunctionStatus::Failed,
                &format!("its artifact could not be restored: {e}"),
            ));
            continue;
        }
        // The restored copy when there is one (the current version: no lifecycle rule
        // expires it); else the earlier version itself.
        let version =
            a.and_then(|a| a.report.restored_version.clone())
                .or(m.goal.code.version_id.clone());
        let at = parse_artifact(&m.goal.artifact).map(|at| S3Object { version, ..at });
        match at {
            Some(artifact) => jobs.push((
                Job {
                    target: m.target.clone(),
                    artifact: Some(artifact),
                    code_sha256: m.goal.code.code_sha256.clone(),
                    layers: Vec::new(),
                    revision_id: m.revision.clone(),
                },
                m,
            )),
            None => reports.push(function_report(
                &m,
                FunctionStatus::Failed,
                "bad artifact URL",
            )),
        }
    }
    (jobs, reports)
}

fn function_report(m: &Move, status: FunctionStatus, reason: &str) -> FunctionReport {
    FunctionReport {
        logical_id: m.target.logical_id.clone(),
        name: m.target.name.clone(),
        status,
        reason: Some(reason.to_owned()),
        rollout: None,
        not_patched: false,
    }
}
