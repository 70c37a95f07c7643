//! The full path: build, package deterministically, upload what changed, and deploy the stack
//! through a CloudFormation change set, with consent; then reconcile the hot-patch record.

mod cdk;
mod options;
mod packages;
mod run;
mod verify;

pub use options::FullOptions;

use std::collections::BTreeMap;
use std::time::Instant;

use crate::artifact::hotpatch;
use crate::aws::Clients;
use crate::aws::clock::ms;
use crate::ops::{Event, Ui};
use crate::project::Project;
use crate::report::{FullOutcome, FullReport};
use crate::stack::changeset;
use crate::stack::deployed as stack;
use packages::{packages_of, upload_packages};
use run::{consented, execute};
use verify::{reconcile, verify};

/// The full deploy: `full`, and `deploy` when it falls back, call it.
/// Phases: build, package and upload, change set, consent, execute, reconcile.
pub async fn full(
    project: &Project,
    clients: &Clients,
    opts: &FullOptions,
    ui: &dyn Ui,
) -> anyhow::Result<FullReport> {
    if crate::project::Kind::of(&project.root, &project.config) == crate::project::Kind::Cdk {
        return cdk::full(project, clients, opts, ui).await;
    }
    let started = Instant::now();
    let mut timings = BTreeMap::new();
    let stack_name = project.config.stack.clone();
    let bucket = artifact_bucket(project, clients).await?;
    let crate::project::Model {
        template,
        dir: template_dir,
        ..
    } = project.model()?;
    crate::plan::groups::check_config_functions(&template, &project.config)?;

    let t = Instant::now();
    let builds = match opts.built {
        true => Vec::new(),
        false => crate::ops::build(project, ui)?,
    };
    timings.insert("build", ms(t));

    let t = Instant::now();
    let packages = packages_of(project, &template, &template_dir);
    let (locations, uploaded) = upload_packages(project, clients, &packages, &bucket, ui).await?;
    timings.insert("package", ms(t));
    // Before the change set and its events, in the order things happen.
    ui.event(Event::Packaged(&uploaded));

    let t = Instant::now();
    let body = serde_json::to_string_pretty(&template.with_code_locations(&locations))?;
    let created = make_change_set(project, clients, &body, opts, template.is_sam()).await?;
    timings.insert("changeset", ms(t));
    let hot = hotpatch::load(&clients.s3, &bucket, &stack_name)
        .await
        .unwrap_or_default();
    let mut report = FullReport::starting(stack_name.clone(), uploaded, builds, timings);
    let Some(created) = created else {
        if !opts.dry_run {
            verify(clients, &template, &mut report).await?;
        }
        if !opts.dry_run && report.ok {
            report.reconciled = reconcile(clients, &bucket, &stack_name, hot).await?;
        }
        report.timings_ms.insert("total", ms(started));
        return Ok(report);
    };
    report.changes = created.changes.clone();
    ui.event(Event::ChangeSet {
        stack: &stack_name,
        create: created.create,
        changes: &created.changes,
    });
    if opts.dry_run {
        changeset::discard(&clients.cfn, &stack_name, &created).await?;
        report.outcome = FullOutcome::DryRun;
    } else if consented(clients, opts.consent, &created, &mut report, ui).await? {
        crate::stack::cache::forget(&project.state_dir(), &stack_name);
        execute(clients, &created, &mut report, ui).await?;
        if report.ok {
            ui.event(Event::Step("reading every function back"));
            verify(clients, &template, &mut report).await?;
        }
        if report.ok {
            report.reconciled = reconcile(clients, &bucket, &stack_name, hot).await?;
        }
    }
    report
        .timings_ms
        .insert("total", ms(started) - report.answer_ms());
    let entry = crate::report::record::of_full(&report, &locations);
    crate::ops::history::record(
        clients,
        project,
        Some(&bucket),
        entry,
        Default::default(),
        ui,
    )
    .await;
    Ok(report)
}

/// Creates the change set of the packaged template `body`; `None` when it changes nothing.
/// The body is kept in `.quickdeploy/packaged/` for reading: what CloudFormation was given
/// (the user's template is left alone).
async fn make_change_set(
    project: &Project,
    clients: &Clients,
    body: &str,
    opts: &FullOptions,
    sam: bool,
) -> anyhow::Result<Option<changeset::Created>> {
    let stack_name = &project.config.stack;
    let packaged = project
        .state_dir()
        .join("packaged")
        .join(format!("{stack_name}.json"));
    if let Some(dir) = packaged.parent() {
        let _ = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&packaged, body));
    }
    let exists = stack::describe(&clients.cfn, stack_name).await?.is_some();
    changeset::create(&clients.cfn, stack_name, body, &opts.params, sam, exists).await
}

/// The artifact bucket: quickdeploy.toml's, else the one the bootstrap stack made.
async fn artifact_bucket(project: &Project, clients: &Clients) -> anyhow::Result<String> {
    if let Some(b) = &project.config.artifact_bucket {
        return Ok(b.clone());
    }
    stack::parameter(&clients.cfn, crate::ops::bootstrap::STACK, "CodeBucket")
        .await
        .ok_or_else(|| {
            crate::project::config::BadConfig(
                "no artifact bucket: set `artifact_bucket` in quickdeploy.toml, or run `quickdeploy bootstrap`, which makes one".into(),
            )
            .into()
        })
}
