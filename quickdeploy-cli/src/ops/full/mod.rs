//! The full path: build, package deterministically, upload what changed, and deploy the stack
//! through a CloudFormation change set, with consent; then reconcile the hot-patch record.

mod packages;
mod verify;

use std::collections::BTreeMap;
use std::time::Instant;

use crate::artifact::hotpatch;
use crate::aws::Clients;
use crate::aws::clock::ms;
use crate::ops::{Event, Ui};
use crate::project::Project;
use crate::report::{FullOutcome, FullReport};
use crate::stack::change::Planned;
use crate::stack::changeset;
use crate::stack::consent::{self, Consent, Decision};
use crate::stack::deployed as stack;
use packages::{packages_of, upload_packages};
use verify::{reconcile, verify};

/// How to run a full deploy.
#[derive(Debug, Clone, Default)]
pub struct FullOptions {
    /// Template parameters, KEY and VALUE.
    pub params: Vec<(String, String)>,
    /// What the user consented to.
    pub consent: Consent,
    /// Make and show the change set, then delete it.
    pub dry_run: bool,
    /// The builds ran already (a `deploy` falling back): do not run them again.
    pub built: bool,
}

/// The full deploy: `full`, and `deploy` when it falls back, call it.
/// Phases: build, package and upload, change set, consent, execute, reconcile.
pub async fn full(
    project: &Project,
    clients: &Clients,
    opts: &FullOptions,
    ui: &dyn Ui,
) -> anyhow::Result<FullReport> {
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
    let mut report = FullReport {
        ok: true,
        outcome: FullOutcome::NothingToDeploy,
        stack: stack_name.clone(),
        artifacts: uploaded,
        changes: Vec::new(),
        status: None,
        error: None,
        reconciled: Vec::new(),
        verified: Vec::new(),
        builds,
        timings_ms: timings,
    };
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
    crate::ops::history::record(clients, project, Some(&bucket), entry, None, ui).await;
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

/// Whether the change set may be executed: by the rules of [`consent::decide`], asking on a
/// terminal. A change set that will not be executed is deleted, and the report says why.
async fn consented(
    clients: &Clients,
    consent: Consent,
    created: &changeset::Created,
    report: &mut FullReport,
    ui: &dyn Ui,
) -> anyhow::Result<bool> {
    let go_ahead = match consent::decide(consent, &report.stack, created.create, &created.changes) {
        Decision::Execute => true,
        Decision::Ask => {
            let t = Instant::now();
            let yes = ask(&created.changes, ui)?;
            // The time spent answering is the user's, not the deploy's: reported apart.
            report.timings_ms.insert("answer", ms(t));
            if !yes {
                report.outcome = FullOutcome::Cancelled;
            }
            yes
        }
        Decision::Refuse(why) => {
            report.ok = false;
            report.outcome = FullOutcome::Refused;
            report.error = Some(why);
            false
        }
    };
    if !go_ahead {
        changeset::discard(&clients.cfn, &report.stack, created).await?;
    }
    Ok(go_ahead)
}

/// Executes the change set, streaming the stack's events, and records how it ended.
async fn execute(
    clients: &Clients,
    created: &changeset::Created,
    report: &mut FullReport,
    ui: &dyn Ui,
) -> anyhow::Result<()> {
    let t = Instant::now();
    let on_event = |line: &str| ui.event(Event::Line(line));
    let done = changeset::execute(&clients.cfn, &report.stack, created, &on_event).await?;
    report.timings_ms.insert("execute", ms(t));
    report.status = Some(done.status.clone());
    if done.failed.is_empty() && !done.rolled_back {
        report.outcome = FullOutcome::Deployed;
    } else {
        report.ok = false;
        report.outcome = FullOutcome::Failed;
        report.error = Some(format!(
            "stack {} ended {}; failed: {}",
            report.stack,
            done.status,
            if done.failed.is_empty() {
                "no resource event says why".to_owned()
            } else {
                done.failed.join("; ")
            }
        ));
    }
    Ok(())
}

/// Asks the user; what would be removed or replaced is listed apart first.
fn ask(changes: &[Planned], ui: &dyn Ui) -> anyhow::Result<bool> {
    let removed = crate::stack::change::removals(changes);
    let mut details = Vec::new();
    if !removed.is_empty() {
        details
            .push("this change set REMOVES or REPLACES (data and physical ids are lost):".into());
    }
    details.extend(removed.into_iter().map(|c| {
        let what = if c.action == "Remove" {
            "Remove"
        } else {
            "Replace"
        };
        format!("  {what:<8} {:<28} {}", c.logical_id, c.resource_type)
    }));
    ui.confirm("execute this change set? [y/N] ", &details)
}
