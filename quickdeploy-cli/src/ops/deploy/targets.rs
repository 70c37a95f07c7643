//! `deploy` to several targets: one local side (builds, scans, hashes, encodings, done once
//! and shared through [`crate::plan::local::Local`]), then each target's remote side (its
//! artifacts and manifests, its patch through its own patcher and bucket, its
//! UpdateFunctionCode calls paced by its own Lambda quotas, its history) in parallel. A
//! target that fails does not stop or undo the others: each is reported and recorded as it
//! went. Targets marked `confirm = true` are asked about before anything is deployed.

use std::collections::HashMap;
use std::time::Instant;

use crate::aws::clock::ms;
use crate::ops::Ui;
use crate::ops::fanout::{TargetRun, each};
use crate::plan::local::Local;
use crate::plan::targets::{PARALLEL, confirm};
use crate::project::Project;
use crate::report::DeployReport;
use crate::report::targets::{LocalWork, TargetsReport};
use crate::stack::consent::Decision;

use super::{DeployOptions, deploy};

/// A target that may not be deployed to (`confirm = true` and no consent): nothing was
/// deployed to any target (exit 3).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TargetRefused(pub String);

/// A deploy to several targets, as `watch` repeats it each round: the targets, each one's
/// options, the ones to ask about, and how the command was run.
#[derive(Debug, Clone)]
pub struct Targets {
    /// Per target: its clients and its project as resolved at the start.
    pub runs: Vec<TargetRun>,
    /// Each target's deploy options, by name.
    pub opts: HashMap<String, DeployOptions>,
    /// The targets marked `confirm = true`.
    pub confirm: Vec<String>,
    /// How the command was run.
    pub gate: Gate,
}

impl Targets {
    /// `dev, eu, prod`: for the line that says what is watched.
    pub fn label(&self) -> String {
        let names: Vec<&str> = self.runs.iter().map(|r| r.target.name.as_str()).collect();
        format!("targets {}", names.join(", "))
    }

    /// Deploys `project` (read afresh: its files may have changed) to every target, each
    /// with the config its table in `project` says now.
    pub async fn deploy(
        &self,
        project: &Project,
        ui: &dyn Ui,
    ) -> anyhow::Result<TargetsReport<DeployReport>> {
        let mut runs = self.runs.clone();
        for r in &mut runs {
            let t = project.config.targets.get(&r.target.name).ok_or_else(|| {
                crate::project::config::BadConfig(format!(
                    "target {} is no longer in quickdeploy.toml: restart watch",
                    r.target.name
                ))
            })?;
            r.project = Project {
                config: project.config.for_target(t),
                root: project.root.clone(),
            };
        }
        deploy_targets(
            project,
            &runs,
            self.opts.clone(),
            &self.confirm,
            self.gate,
            ui,
        )
        .await
    }
}

/// How the command was run, for `confirm = true` targets.
#[derive(Debug, Clone, Copy)]
pub struct Gate {
    /// `--ci`: a pipeline's run answers for every target.
    pub ci: bool,
    /// A person can answer a question.
    pub terminal: bool,
}

/// Deploys the change to every target: asks about the `confirm` ones first (`confirm`
/// lists them by name), builds once, then runs each target's deploy with `opts` (by target
/// name) sharing one local side.
pub async fn deploy_targets(
    project: &Project,
    runs: &[TargetRun],
    opts: HashMap<String, DeployOptions>,
    confirmed: &[String],
    gate: Gate,
    ui: &dyn Ui,
) -> anyhow::Result<TargetsReport<DeployReport>> {
    let started = Instant::now();
    for r in runs {
        let name = &r.target.name;
        let marked = confirmed.contains(name);
        match confirm(name, marked, gate.ci, gate.terminal) {
            Decision::Execute => {}
            Decision::Ask => {
                let question = format!(
                    "deploy to target {name} ({}, stack {})?",
                    r.target.region, r.project.config.stack
                );
                let details = [format!(
                    "target {name} has `confirm = true` in quickdeploy.toml"
                )];
                if !ui.confirm(&question, &details)? {
                    return Err(TargetRefused(format!(
                        "not deployed: the answer for target {name} was no, so no target was deployed"
                    ))
                    .into());
                }
            }
            Decision::Refuse(why) => {
                return Err(TargetRefused(format!("{why}; no target was deployed")).into());
            }
        }
    }
    // The local side, once: a CDK app's synth when its own code changed, then the builds; a
    // failure stops every target before anything is sent.
    crate::ops::cdk::prepare(project, ui)?;
    let mut builds = Vec::new();
    let mut stacks: Vec<&str> = Vec::new();
    // Targets of one stack build the same; a CDK app's targets may be its several stacks,
    // each with builds of its own.
    for r in runs {
        if !stacks.contains(&r.project.config.stack.as_str()) {
            stacks.push(&r.project.config.stack);
            builds.extend(crate::ops::build(&r.project, ui)?);
        }
    }
    let local = Local::new();
    let opts: HashMap<String, DeployOptions> = opts
        .into_iter()
        .map(|(n, mut o)| {
            o.shared = Some(local.clone());
            (n, o)
        })
        .collect();
    let opts = &opts;
    let mut report = each(runs, PARALLEL, "DeployFailed", ui, |r, ui| async move {
        let o = opts
            .get(&r.target.name)
            .ok_or_else(|| anyhow::anyhow!("no deploy options for target {}", r.target.name))?;
        let done = deploy(r.project.clone(), &r.target.clients, o, &ui).await?;
        let exit = done.exit();
        Ok((done, exit))
    })
    .await;
    report.builds = builds;
    let c = local.counts();
    report.local = Some(LocalWork {
        scans: c.scans,
        hashed: c.hashed,
        encoded: c.encoded,
        reused: c.reused,
    });
    report.total_ms = ms(started);
    Ok(report)
}
