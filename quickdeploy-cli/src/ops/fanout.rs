//! One command, several targets (`--target`, `--all-targets`): each target's run in parallel
//! (bounded by [`crate::plan::targets::PARALLEL`]), its events prefixed with its name, its
//! result or error kept as its own report; one failure does not stop the others. `deploy`
//! adds its one local side to this ([`crate::ops::deploy::targets`]); `status`, `history`,
//! `rollback`, `full` and `bootstrap` run as they do without targets, once per target.

use std::future::Future;
use std::time::Instant;

use futures::StreamExt as _;

use crate::aws::clock::ms;
use crate::aws::target::Target;
use crate::error::{Error, Exit};
use crate::ops::{Event, Ui};
use crate::project::Project;
use crate::report::targets::{TargetReport, TargetsReport};

/// One target's part of a command: who it is, its clients, and the project as it sees it
/// (its stack, bucket and patcher).
#[derive(Debug, Clone)]
pub struct TargetRun {
    /// The target, resolved.
    pub target: Target,
    /// The project with the target's config ([`crate::project::config::Config::for_target`]).
    pub project: Project,
}

/// A target's events, each named with it: `[prod] patching`.
pub struct Prefixed<'a> {
    /// Where they go.
    pub ui: &'a dyn Ui,
    /// The target's name.
    pub target: &'a str,
}

impl Ui for Prefixed<'_> {
    fn event(&self, event: Event<'_>) {
        let t = self.target;
        match event {
            Event::Step(s) => self.ui.event(Event::Step(&format!("[{t}] {s}"))),
            Event::Warning(s) => self.ui.event(Event::Warning(&format!("[{t}] {s}"))),
            Event::Line(s) => self.ui.event(Event::Line(&format!("[{t}] {s}"))),
            Event::Function { name, state } => self.ui.event(Event::Function {
                name: &format!("[{t}] {name}"),
                state,
            }),
            Event::ChangeSet {
                stack,
                create,
                changes,
            } => self.ui.event(Event::ChangeSet {
                stack: &format!("{stack} [{t}]"),
                create,
                changes,
            }),
            other => self.ui.event(other),
        }
    }

    fn confirm(&self, question: &str, details: &[String]) -> anyhow::Result<bool> {
        self.ui
            .confirm(&format!("[{}] {question}", self.target), details)
    }

    fn bars(&self) -> bool {
        // Several bars drawn at once on one terminal garble each other.
        false
    }
}

/// What one target's run gives back: its report and the exit it means on its own.
pub type Ran<T> = anyhow::Result<(T, Exit)>;

/// Runs `run` for every target, at most `parallel` at once (1: one after another, for runs
/// that may ask questions); `failed` names a failure of this command (`StatusFailed`).
pub async fn each<'a, T, F, Fut>(
    runs: &'a [TargetRun],
    parallel: usize,
    failed: &'static str,
    ui: &'a dyn Ui,
    run: F,
) -> TargetsReport<T>
where
    F: Fn(&'a TargetRun, Prefixed<'a>) -> Fut,
    Fut: Future<Output = Ran<T>> + 'a,
{
    let started = Instant::now();
    let all = futures::stream::iter(runs.iter().map(|r| {
        let fut = run(
            r,
            Prefixed {
                ui,
                target: &r.target.name,
            },
        );
        async move {
            let t = Instant::now();
            let done = fut.await;
            report_of(r, done, failed, ms(t))
        }
    }))
    .buffered(parallel.max(1))
    .collect::<Vec<_>>()
    .await;
    TargetsReport::of(all, ms(started))
}

/// One target's report, from its result.
pub fn report_of<T>(r: &TargetRun, done: Ran<T>, failed: &'static str, ms: f64) -> TargetReport<T> {
    let (name, region, stack) = (
        r.target.name.as_str(),
        r.target.region.as_str(),
        r.project.config.stack.as_str(),
    );
    match done {
        Ok((report, exit)) => TargetReport::done(name, region, stack, report, exit, ms),
        Err(e) => {
            let e = Error::classify(e, failed);
            TargetReport::error(name, region, stack, e.kind(), e.to_string(), e.exit(), ms)
        }
    }
}
