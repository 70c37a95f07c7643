//! `watch`'s loop: file events become batches (an adaptive debounce,
//! `package::watch::Debounce`), each batch one deploy (`ops::deploy`); saves made during a
//! deploy become one follow-up; after a failure, Enter retries. What the rounds learn of the
//! remote side is kept for the next ones (`plan::kept`; [`decide`] says when it is dropped).
//! What it shows goes through [`WatchUi`]; it prints nothing itself.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use notify::{RecursiveMode, Watcher as _};

use crate::aws::Clients;
use crate::ops::Ui;
use crate::ops::deploy::{DeployOptions, deploy};
use crate::package::watch::{Debounce, Filter, drain, next_batch};
use crate::plan::kept::Memory;
use crate::project::Project;
use crate::project::config::FILE_NAME;
use crate::report::targets::TargetsReport;
use crate::report::{DeployOutcome, DeployReport};

pub mod decide;

/// How to watch.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// How each round deploys.
    pub deploy: DeployOptions,
    /// Quiet time that ends a burst of file events (a lone save waits a fifth of it:
    /// [`Debounce::adaptive`]).
    pub debounce: Duration,
    /// Deploy each round to these targets instead of the project's stack.
    pub targets: Option<crate::ops::deploy::targets::Targets>,
}

/// What `watch` shows, besides each deploy's own events.
pub trait WatchUi: Ui {
    /// Watching started: how many folders, for which stack.
    fn started(&self, folders: usize, stack: &str);
    /// A round starts: its number and how many paths changed.
    fn round_started(&self, round: u64, changes: usize);
    /// A round ended. `paths` changed; `retry` when Enter now retries it.
    fn round_ended(
        &self,
        round: u64,
        paths: &BTreeSet<PathBuf>,
        result: Result<&DeployReport, String>,
        retry: bool,
    );
    /// Ctrl-C during a deploy: `now` when a second one stops at once.
    fn stopping(&self, now: bool);
    /// A round to several targets ended (`--target`, `--all-targets`). By default, each
    /// target's report is told as a round of its own.
    fn targets_round_ended(
        &self,
        round: u64,
        paths: &BTreeSet<PathBuf>,
        result: Result<&TargetsReport<DeployReport>, String>,
        retry: bool,
    ) {
        match result {
            Ok(all) => {
                for t in &all.targets {
                    match (&t.report, &t.error) {
                        (Some(r), _) => self.round_ended(round, paths, Ok(r), retry),
                        (None, Some(e)) => {
                            self.round_ended(round, paths, Err(e.message.clone()), retry)
                        }
                        (None, None) => {}
                    }
                }
            }
            Err(e) => self.round_ended(round, paths, Err(e), retry),
        }
    }
}

/// What one round deployed: to the project's stack, or to several targets.
enum Deployed {
    One(Box<DeployReport>),
    Targets(TargetsReport<DeployReport>),
}

impl Deployed {
    /// Whether Enter should retry it.
    fn failed(&self) -> bool {
        match self {
            Deployed::One(r) => r.outcome == DeployOutcome::Failed,
            Deployed::Targets(t) => !t.ok,
        }
    }
}

/// Tells the UI how a round ended.
fn ended(
    ui: &dyn WatchUi,
    round: u64,
    paths: &BTreeSet<PathBuf>,
    result: &anyhow::Result<Deployed>,
    retry: bool,
) {
    match result {
        Ok(Deployed::One(r)) => ui.round_ended(round, paths, Ok(r), retry),
        Ok(Deployed::Targets(t)) => ui.targets_round_ended(round, paths, Ok(t), retry),
        Err(e) => ui.round_ended(round, paths, Err(format!("{e:#}")), retry),
    }
}

/// One round's deploy: to the project's stack (with what earlier rounds learned, `memory`),
/// or to every target with one local side.
async fn deploy_round(
    load: &dyn Fn() -> anyhow::Result<Project>,
    project: Project,
    clients: &Clients,
    opts: &WatchOptions,
    memory: &Memory,
    ui: &dyn WatchUi,
) -> anyhow::Result<Deployed> {
    if let Some(t) = &opts.targets {
        return Ok(Deployed::Targets(t.deploy(&project, ui).await?));
    }
    let deploy_opts = DeployOptions {
        kept: Some(memory.clone()),
        ..opts.deploy.clone()
    };
    let used = memory.with(|k| !k.is_empty());
    let mut result = deploy(project, clients, &deploy_opts, ui).await;
    if kept_after(used, &result, memory) == decide::Kept::Retry {
        ui.event(crate::ops::Event::Line(
            "the round failed on what watch had kept of the stack, artifacts and functions: reading them afresh and deploying again",
        ));
        result = deploy(load()?, clients, &deploy_opts, ui).await;
        kept_after(false, &result, memory);
    }
    Ok(Deployed::One(Box::new(result?)))
}

/// Keeps, or forgets, what a round learned ([`decide::after_round`]); on keeping, the code
/// each function was updated to (the update's own answer) is known for the next round.
fn kept_after(used: bool, result: &anyhow::Result<DeployReport>, memory: &Memory) -> decide::Kept {
    let next = decide::after_round(used, result.as_ref().map_err(|_| ()));
    memory.with(|k| match (next, result) {
        (decide::Kept::Keep, Ok(r)) => {
            for o in r.functions.iter().filter_map(|f| f.rollout.as_ref()) {
                let sha = o.code_sha256.as_deref().filter(|_| o.updated);
                k.learn_function(&o.name, sha);
            }
        }
        _ => k.forget(),
    });
    next
}

/// How watching ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Ctrl-C between rounds, or after the running deploy finished.
    Quietly,
    /// A second Ctrl-C during a deploy.
    DuringDeploy,
}

/// Watches the packages, template and config of the project `load` reads (afresh for every
/// round: they may change), deploying each batch of saves, until Ctrl-C.
pub async fn watch(
    load: &dyn Fn() -> anyhow::Result<Project>,
    clients: &Clients,
    opts: &WatchOptions,
    ui: &dyn WatchUi,
) -> anyhow::Result<Stopped> {
    let project = load()?;
    let filter = filter(&project)?;
    let watched = to_watch(&filter);
    // Kept alive for the whole watch: dropping it stops the events.
    let (_watcher, mut rx) = start_watcher(filter, &watched)?;
    let stacks = match &opts.targets {
        Some(t) => t.label(),
        None => project.config.stack.clone(),
    };
    ui.started(watched.len(), &stacks);
    // The first round deploys what is pending already (as `cdk watch` and `sam sync --watch`
    // do): changes made while nobody watched are not left behind.
    let mut pending: Option<BTreeSet<PathBuf>> = Some(BTreeSet::new());
    let mut keys = Keys::start();
    let mut failed: Option<BTreeSet<PathBuf>> = None;
    let mut round = 0u64;
    let memory = Memory::new();
    let config_file = project.root.join(FILE_NAME);
    let debounce = Debounce::adaptive(opts.debounce);
    loop {
        let batch = match pending.take() {
            Some(b) => b,
            None => tokio::select! {
                b = next_batch(&mut rx, debounce) => match b {
                    Some(b) => b,
                    None => return Ok(Stopped::Quietly),
                },
                Some(()) = keys.lines.recv(), if failed.is_some() => {
                    keys.armed = false;
                    failed.take().unwrap_or_default()
                }
                _ = tokio::signal::ctrl_c() => return Ok(Stopped::Quietly),
            },
        };
        // The events name every change, unless the OS watcher overflowed (its marker).
        let mut batch = batch;
        let overflowed = batch.remove(Path::new(""));
        round += 1;
        ui.round_started(round, batch.len());
        // Another configuration may name another stack, bucket or patcher.
        if batch.iter().any(|p| same_file(p, &config_file)) {
            memory.with(|k| k.forget());
        }
        memory.with(|k| k.saved((!overflowed).then(|| batch.clone())));
        let project = match load() {
            Ok(p) => p,
            Err(e) => {
                ui.round_ended(round, &batch, Err(format!("{e:#}")), false);
                continue;
            }
        };
        let work = deploy_round(load, project, clients, opts, &memory, ui);
        let (result, mut during) = match finish_round(work, &mut rx, ui).await {
            RoundEnd::Done(result, during) => (result, during),
            RoundEnd::Stop(result) => {
                ended(ui, round, &batch, &result, false);
                return Ok(Stopped::Quietly);
            }
            RoundEnd::Abort => return Ok(Stopped::DuringDeploy),
        };
        let retry = result.as_ref().map_or(true, Deployed::failed) && keys.arm();
        ended(ui, round, &batch, &result, retry);
        failed = retry.then_some(batch);
        if !during.is_empty() {
            // Everything saved during the deploy becomes exactly one follow-up.
            drain(&mut rx, opts.debounce, &mut during).await;
            pending = Some(during);
        }
    }
}

/// True when `a` and `b` name one file (the watcher reports absolute paths).
fn same_file(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

/// How a round ended.
enum RoundEnd {
    /// The deploy finished; the paths saved meanwhile.
    Done(anyhow::Result<Deployed>, BTreeSet<PathBuf>),
    /// Ctrl-C, and then the deploy finished: stop watching.
    Stop(anyhow::Result<Deployed>),
    /// A second Ctrl-C during the deploy: stop at once.
    Abort,
}

/// Runs one deploy to its end, collecting the saves made meanwhile. Ctrl-C lets it finish;
/// a second Ctrl-C abandons it.
async fn finish_round(
    work: impl Future<Output = anyhow::Result<Deployed>>,
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<PathBuf>,
    ui: &dyn WatchUi,
) -> RoundEnd {
    tokio::pin!(work);
    let mut during = BTreeSet::new();
    loop {
        tokio::select! {
            r = &mut work => return RoundEnd::Done(r, during),
            Some(p) = rx.recv() => { during.insert(p); }
            _ = tokio::signal::ctrl_c() => {
                ui.stopping(false);
                return tokio::select! {
                    r = &mut work => RoundEnd::Stop(r),
                    _ = tokio::signal::ctrl_c() => {
                        ui.stopping(true);
                        RoundEnd::Abort
                    }
                };
            }
        }
    }
}

/// Enter on stdin, read one line at a time and only when asked (after a failed round), so
/// the reader never holds stdin while a deploy's prompt waits for an answer.
struct Keys {
    want: Option<std::sync::mpsc::Sender<()>>,
    lines: tokio::sync::mpsc::UnboundedReceiver<()>,
    armed: bool,
}

impl Keys {
    fn start() -> Self {
        let (want, asked) = std::sync::mpsc::channel::<()>();
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            while asked.recv().is_ok() {
                let mut line = String::new();
                match std::io::stdin().read_line(&mut line) {
                    Ok(n) if n > 0 => {
                        if tx.send(()).is_err() {
                            return;
                        }
                    }
                    // End of input (no stdin, or closed): no retries by key.
                    _ => return,
                }
            }
        });
        Self {
            want: Some(want),
            lines,
            armed: false,
        }
    }

    /// Asks for the next line, once per wait; false when stdin is gone.
    fn arm(&mut self) -> bool {
        if self.armed {
            return true;
        }
        self.armed = match &self.want {
            Some(w) => w.send(()).is_ok(),
            None => false,
        };
        self.armed
    }
}

/// Registers `watched` with the OS watcher; relevant paths (by `filter`) arrive on the
/// receiver, and the empty path when events were lost. Reads are not changes (our own diff
/// reads every changed file).
fn start_watcher(
    filter: Filter,
    watched: &[(PathBuf, RecursiveMode)],
) -> anyhow::Result<(
    notify::RecommendedWatcher,
    tokio::sync::mpsc::UnboundedReceiver<PathBuf>,
)> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |e: notify::Result<notify::Event>| {
        match e {
            // Events were lost (an overflow): the empty path asks for a round that scans
            // every package whole.
            Err(_) => {
                let _ = tx.send(PathBuf::new());
            }
            Ok(e) if e.need_rescan() => {
                let _ = tx.send(PathBuf::new());
            }
            Ok(e) if !e.kind.is_access() => {
                for p in e.paths {
                    if filter.relevant(&p) {
                        let _ = tx.send(p);
                    }
                }
            }
            Ok(_) => {}
        }
    })
    .context("cannot watch files")?;
    for (path, mode) in watched {
        watcher
            .watch(path, *mode)
            .with_context(|| format!("cannot watch {}", path.display()))?;
    }
    Ok((watcher, rx))
}

/// The filter for a project: its packages and local layer folders, template and config. A
/// package quickdeploy builds is watched at its source folder, never at its build folder
/// (each round's build writes there: watching it would start rounds by itself).
fn filter(project: &Project) -> anyhow::Result<Filter> {
    let crate::project::Model {
        template,
        dir: template_dir,
        ..
    } = project.model()?;
    let config = &project.config;
    let mut packages =
        crate::plan::groups::local_packages(&template, config, &project.root, &template_dir);
    packages.extend(crate::plan::groups::local_layer_packages(
        &template,
        config,
        &project.root,
        &template_dir,
    ));
    let state = project.state_dir();
    packages.retain(|spec, _| !spec.folder.starts_with(&state));
    let builds = crate::build::decide::plan(&template, config, &project.root, &template_dir);
    for b in &builds.items {
        if !matches!(b.method, crate::build::method::Method::Command(_)) {
            packages.insert(b.source_spec(), b.ids.clone());
        }
    }
    let files = [
        project.path(&project.config.template),
        project.root.join(FILE_NAME),
    ];
    // Each package with its own filter, the one scan uses: what is packaged is what is watched.
    Ok(Filter::for_packages(&project.root, packages.keys(), &files))
}

/// What to register with the OS watcher: package roots recursively, and the folders of the
/// template and config (not recursively: the filter picks the two files out).
fn to_watch(filter: &Filter) -> Vec<(PathBuf, RecursiveMode)> {
    let mut out: Vec<(PathBuf, RecursiveMode)> = filter
        .watch_roots()
        .into_iter()
        .filter(|r| r.exists())
        .map(|r| (r, RecursiveMode::Recursive))
        .collect();
    for f in filter.watch_files() {
        let dir = f
            .parent()
            .map(Path::to_owned)
            .unwrap_or_else(|| PathBuf::from("."));
        if !out.iter().any(|(d, _)| *d == dir) {
            out.push((dir, RecursiveMode::NonRecursive));
        }
    }
    out
}
