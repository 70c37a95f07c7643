//! `full` for a CDK app: the CDK's own deploy of a fresh synth. The CDK publishes its assets
//! and prepares the change set (`cdk deploy --method=prepare-change-set`); quickdeploy then
//! shows it and executes it with the same consent rules as any change set (removals need
//! `--allow-removals`, nothing runs without a terminal or `--yes`/`--ci`). After it, every
//! function that a quick deploy left on quickdeploy's copy is put back on the asset its
//! template names, and each function is read back: it must run that asset, configured as
//! synthesized.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use base64::Engine as _;

use crate::artifact::hotpatch;
use crate::aws::Clients;
use crate::aws::clock::ms;
use crate::lambda::pace::{Pace, Quotas};
use crate::lambda::update::{self, Job, Target};
use crate::ops::cdk::deploy::{Approval, cdk_deploy};
use crate::ops::{Event, Ui};
use crate::project::Project;
use crate::project::cdk::{assembly, find_stack};
use crate::report::{FullOutcome, FullReport, Uploaded};
use crate::stack::changeset;
use crate::stack::deployed as stack;

use super::options::FullOptions;
use super::run::{consented, execute};
use super::verify::verify;

/// The CDK app's full deploy.
pub async fn full(
    project: &Project,
    clients: &Clients,
    opts: &FullOptions,
    ui: &dyn Ui,
) -> anyhow::Result<FullReport> {
    let started = Instant::now();
    let mut timings = BTreeMap::new();
    let stack_name = project.config.stack.clone();
    let t = Instant::now();
    if !opts.synthesized {
        crate::ops::cdk::synth_once(project, ui)?;
    }
    timings.insert("synth", ms(t));
    let t = Instant::now();
    let builds = match opts.built {
        true => Vec::new(),
        false => crate::ops::build(project, ui)?,
    };
    timings.insert("build", ms(t));
    let out = crate::project::cdk::assembly_dir(&project.root, &project.config);
    let stacks = assembly::stacks(&out)?;
    let artifact = find_stack(&stacks, &stack_name)?.clone();
    let mut report = FullReport::starting(stack_name.clone(), Vec::new(), builds, timings);
    if opts.dry_run || !(opts.consent.yes || opts.consent.terminal) {
        // Even preparing a change set publishes assets and, for a new stack, makes one: not
        // without consent.
        if !opts.dry_run {
            report.ok = false;
            report.outcome = FullOutcome::Refused;
            report.error = Some(format!(
                "the CDK's deploy of {stack_name} needs consent: run on a terminal, or pass --yes (or --ci)"
            ));
        }
        return Ok(report);
    }
    let existed = stack::describe(&clients.cfn, &stack_name).await?.is_some();
    let name = changeset::new_name();
    let t = Instant::now();
    cdk_deploy(
        project,
        &out,
        &artifact.display_name,
        &name,
        Approval::Given,
        ui,
    )?;
    let created = changeset::prepared(&clients.cfn, &stack_name, &name, existed).await?;
    report.timings_ms.insert("changeset", ms(t));
    let bucket = crate::stack::deployed::artifact_bucket(&clients.cfn, &project.config).await;
    let hot = match &bucket {
        Some(b) => hotpatch::load(&clients.s3, b, &stack_name)
            .await
            .unwrap_or_default(),
        None => hotpatch::Record::default(),
    };
    if let Some(created) = created {
        report.changes = created.changes.clone();
        ui.event(Event::ChangeSet {
            stack: &stack_name,
            create: created.create,
            changes: &created.changes,
        });
        if !consented(clients, opts.consent, &created, &mut report, ui).await? {
            return Ok(report);
        }
        execute(clients, &created, &mut report, ui).await?;
        if !report.ok {
            return Ok(report);
        }
    }
    let model = project.model()?;
    ui.event(Event::Step("reading every function back"));
    let t = Instant::now();
    let (assets, physical) = assets_of(clients, &model.template, &stack_name).await?;
    report.artifacts = assets;
    report.reconciled =
        put_back(clients, &report.artifacts, &physical, &hot, &stack_name, ui).await?;
    report.timings_ms.insert("reconcile", ms(t));
    verify(clients, &model.template, &mut report).await?;
    if report.ok
        && !hot.is_empty()
        && let Some(b) = &bucket
    {
        hotpatch::clear(&clients.s3, b, &stack_name).await?;
    }
    report
        .timings_ms
        .insert("total", ms(started) - report.answer_ms());
    let entry = crate::report::record::of_full(&report, &BTreeMap::new());
    crate::ops::history::record(
        clients,
        project,
        bucket.as_deref(),
        entry,
        Default::default(),
        ui,
    )
    .await;
    Ok(report)
}

/// The asset each function of the deployed stack runs, with its CodeSha256 (the object read
/// and hashed: the CDK records none), as the artifacts the report and its check name; and
/// each resource's physical id as the stack has it now.
async fn assets_of(
    clients: &Clients,
    local: &crate::project::template::Template,
    stack_name: &str,
) -> anyhow::Result<(Vec<Uploaded>, HashMap<String, String>)> {
    let Some(deployed) = stack::describe(&clients.cfn, stack_name).await? else {
        return Ok((Vec::new(), HashMap::new()));
    };
    let mut by_object: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for f in deployed.template.functions() {
        if local.doc["Resources"][&f.logical_id].is_null() {
            continue;
        }
        if let Ok(at) = f.code.resolve_s3(&deployed.parameters) {
            by_object
                .entry((at.bucket, at.key))
                .or_default()
                .push(f.logical_id);
        }
    }
    let reads = by_object
        .into_iter()
        .map(|((bucket, key), functions)| async move {
            let got = clients
                .s3
                .get_object()
                .bucket(&bucket)
                .key(&key)
                .send()
                .await
                .map_err(crate::aws::err)
                .map_err(|e| {
                    anyhow::anyhow!(
                        "cannot read the CDK asset s3://{bucket}/{key} (GetObject): {e}"
                    )
                })?;
            let bytes = got.body.collect().await?.into_bytes();
            let sha = sha2::Sha256::digest(&bytes);
            anyhow::Ok(Uploaded {
                artifact: format!("s3://{bucket}/{key}"),
                functions,
                layers: Vec::new(),
                code_sha256: base64::engine::general_purpose::STANDARD.encode(sha),
                size: bytes.len() as u64,
                uploaded: false,
            })
        });
    Ok((
        futures::future::try_join_all(reads).await?,
        deployed.physical,
    ))
}

use sha2::Digest as _;

/// Each hot-patched function (in the record) that does not run its template's asset is put
/// back on it: the CDK's deploy leaves a function alone when its asset did not change, so it
/// would go on running quickdeploy's copy. Returns the functions put back. A function is
/// named as the stack names it now (`physical`), not as the record does: the deploy may have
/// replaced it (a new name, or a nested stack made anew), and one gone from the stack is left.
async fn put_back(
    clients: &Clients,
    assets: &[Uploaded],
    physical: &HashMap<String, String>,
    hot: &hotpatch::Record,
    stack_name: &str,
    ui: &dyn Ui,
) -> anyhow::Result<Vec<String>> {
    let mut jobs = Vec::new();
    for id in hot.keys() {
        let Some(a) = assets.iter().find(|a| a.functions.contains(id)) else {
            continue;
        };
        let Some(name) = physical.get(id) else {
            continue;
        };
        let observed = super::verify::observe(&clients.lambda, name).await?;
        if observed.code_sha256.as_deref() == Some(a.code_sha256.as_str()) {
            continue;
        }
        let (bucket, key) = a
            .artifact
            .trim_start_matches("s3://")
            .split_once('/')
            .unwrap_or_default();
        jobs.push(Job {
            target: Target {
                logical_id: id.clone(),
                name: name.clone(),
                aliases: Vec::new(),
            },
            artifact: Some(crate::project::template::S3Object {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                version: None,
            }),
            code_sha256: a.code_sha256.clone(),
            layers: Vec::new(),
            revision_id: None,
        });
    }
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    ui.event(Event::Line(&format!(
        "putting {} hot-patched function(s) of {stack_name} back on the CDK's assets",
        jobs.len()
    )));
    let pace = Pace::default();
    let quotas = Quotas::new(&pace);
    let progress = |name: &str, state: &str| ui.event(Event::Function { name, state });
    let outcomes = update::roll_out(&clients.lambda, jobs, &pace, &quotas, &progress).await;
    if let Some(bad) = outcomes.iter().find(|o| !o.updated) {
        anyhow::bail!(
            "cannot put {} back on its CDK asset: {}",
            bad.logical_id,
            bad.reason.as_deref().unwrap_or("it did not update")
        );
    }
    Ok(outcomes.into_iter().map(|o| o.logical_id).collect())
}
