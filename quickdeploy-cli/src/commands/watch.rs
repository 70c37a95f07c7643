//! `quickdeploy watch`: save a file, and it is live.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow};
use notify::{RecursiveMode, Watcher as _};

use crate::commands::deploy::{self, Report};
use crate::config::{FILE_NAME, Project};
use crate::error::{Error, Exit};
use crate::output::Output;
use crate::template::Template;
use crate::watch::{Filter, drain, next_batch};

/// Watch the packages, the template and quickdeploy.toml; deploy each change as it is saved.
///
/// A burst of file events (an editor's save) becomes one deploy after --debounce-ms of quiet.
/// Changes made while a deploy runs are collected into one follow-up deploy. Code-only changes
/// go the quick way; dependency or template changes go the full way (asking first on a
/// terminal unless --yes), or with --no-fallback are reported and left for later. A failed
/// deploy is reported and watching goes on: the next change retries what is not live.
/// Ctrl-C lets a running deploy finish; a second Ctrl-C stops at once.
#[derive(Debug, clap::Args)]
#[group(id = "watch_args")]
#[command(after_help = "Examples:
  quickdeploy watch
  quickdeploy watch --json --no-fallback     # one JSON line per deploy; never the full way
  quickdeploy watch --yes                    # template changes go the full way unasked

It deploys what is pending when it starts, then each save. After a failure, Enter retries.
Without a terminal, a template or dependency change needs --yes to go the full way.
Ignored: version control, editor swap and backup files, caches, .quickdeploy/, what .gitignore
ignores (but a package folder git ignores as a whole, such as a build output, is watched).

With --json: one JSON line per round (not one document): {\"round\", \"at\", \"ok\", \"paths\",
\"report\" or \"error\"}; see docs/json.md.

Exit codes: 0 stopped by Ctrl-C, 1 could not start, 2 bad usage or configuration,
130 stopped by a second Ctrl-C during a deploy.")]
pub struct Args {
    #[command(flatten)]
    pub deploy: deploy::Args,
    /// Quiet time that ends a burst of file events, in milliseconds.
    #[arg(long, default_value_t = 100, value_name = "MS")]
    pub debounce_ms: u64,
}

impl Args {
    /// JSON output.
    pub fn json(&self) -> bool {
        self.deploy.common.json(false)
    }
}

/// Runs `watch` until Ctrl-C.
pub async fn run(args: Args) -> crate::error::Outcome {
    let json = args.deploy.common.json(false);
    let fail = |error| Error::new(Exit::Failed, "WatchFailed", error);
    let project = args.deploy.common.project()?;
    let endpoint = if args.deploy.local {
        None
    } else {
        args.deploy.patcher_endpoint.as_deref()
    };
    let clients = args.deploy.common.clients(endpoint).await?;
    // watch draws its own status line; deploy's spinner would fight it.
    let out = Output {
        spinner: false,
        ..Output::new(json)
    };
    let filter = filter(&project).map_err(fail)?;

    let watched = to_watch(&filter);
    // Kept alive for the whole watch: dropping it stops the events.
    let (_watcher, mut rx) = start_watcher(filter, &watched).map_err(fail)?;
    if !json {
        eprintln!(
            "watching {} folder(s) of stack {}; Ctrl-C to stop",
            watched.len(),
            project.config.stack
        );
    }
    let status = status_line(json);

    let window = Duration::from_millis(args.debounce_ms);
    // The first round deploys what is pending already (as `cdk watch` and `sam sync --watch`
    // do): changes made while nobody watched are not left behind.
    let mut pending: Option<BTreeSet<PathBuf>> = Some(BTreeSet::new());
    let mut keys = Keys::start();
    let mut failed: Option<BTreeSet<PathBuf>> = None;
    let mut round = 0u64;
    loop {
        let batch = match pending.take() {
            Some(b) => b,
            None => tokio::select! {
                b = next_batch(&mut rx, window) => match b {
                    Some(b) => b,
                    None => return Ok(Exit::Success),
                },
                Some(()) = keys.lines.recv(), if failed.is_some() => {
                    keys.armed = false;
                    failed.take().unwrap_or_default()
                }
                _ = tokio::signal::ctrl_c() => return Ok(Exit::Success),
            },
        };
        round += 1;
        status.set_message(format!(
            "deploying {} change(s) (round {round})",
            batch.len()
        ));
        // The config and template may have changed: read them afresh for every deploy.
        let project = match args.deploy.common.project() {
            Ok(p) => p,
            Err(f) => {
                announce(&out, round, &batch, Err(&f.to_string()));
                continue;
            }
        };
        // No ticking while the deploy runs: a fallback may ask on this terminal, and a
        // redrawn status line would hide the question.
        status.disable_steady_tick();
        let work = deploy::deploy(&args.deploy, project, &clients, &out);
        let (result, mut during) = match finish_round(work, &mut rx).await {
            RoundEnd::Done(result, during) => (result, during),
            RoundEnd::Stop(result) => {
                report(&out, round, &batch, result);
                return Ok(Exit::Success);
            }
            RoundEnd::Abort => return Err(Error::Interrupted),
        };
        if !status.is_hidden() {
            status.enable_steady_tick(Duration::from_millis(120));
        }
        status.set_message(last_result(&result));
        let retry = result.as_ref().map_or(true, |r| r.outcome == "failed");
        status.suspend(|| report(&out, round, &batch, result));
        if retry && keys.arm() {
            failed = Some(batch);
            if !json {
                status.suspend(|| eprintln!("press Enter to retry, or save a file"));
            }
        } else {
            failed = None;
        }
        if !during.is_empty() {
            // Everything saved during the deploy becomes exactly one follow-up.
            drain(&mut rx, window, &mut during).await;
            pending = Some(during);
        }
    }
}

/// How a round ended.
enum RoundEnd {
    /// The deploy finished; the paths saved meanwhile.
    Done(anyhow::Result<Report>, BTreeSet<PathBuf>),
    /// Ctrl-C, and then the deploy finished: stop watching.
    Stop(anyhow::Result<Report>),
    /// A second Ctrl-C during the deploy: stop at once.
    Abort,
}

/// Runs one deploy to its end, collecting the saves made meanwhile. Ctrl-C lets it finish;
/// a second Ctrl-C abandons it.
async fn finish_round(
    work: impl Future<Output = anyhow::Result<Report>>,
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<PathBuf>,
) -> RoundEnd {
    tokio::pin!(work);
    let mut during = BTreeSet::new();
    loop {
        tokio::select! {
            r = &mut work => return RoundEnd::Done(r, during),
            Some(p) = rx.recv() => { during.insert(p); }
            _ = tokio::signal::ctrl_c() => {
                eprintln!("finishing the running deploy; Ctrl-C again to stop at once");
                return tokio::select! {
                    r = &mut work => RoundEnd::Stop(r),
                    _ = tokio::signal::ctrl_c() => {
                        eprintln!("stopped during a deploy: run `quickdeploy status` to see what is live");
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

/// `last: deployed 2 function(s) in 150 ms at 12:00:01 UTC; waiting for changes`.
fn last_result(result: &anyhow::Result<Report>) -> String {
    let when = crate::hotpatch::now() % 86_400;
    let what = match result {
        Ok(r) => {
            let updated = r.functions.iter().filter(|f| f.status == "updated").count();
            let verdict = match r.outcome {
                "deployed" => format!("deployed {updated} function(s)"),
                "nothing-to-deploy" => "nothing to deploy".to_owned(),
                "full" => "full deploy".to_owned(),
                "needs-full" => "needs a full deploy".to_owned(),
                _ => "Exit::Failed".to_owned(),
            };
            format!("{verdict} in {:.0} ms", r.timings_ms.total)
        }
        Err(_) => "Exit::Failed".to_owned(),
    };
    format!(
        "last: {what} at {:02}:{:02}:{:02} UTC; waiting for changes",
        when / 3600,
        when / 60 % 60,
        when % 60
    )
}

fn report(out: &Output, round: u64, batch: &BTreeSet<PathBuf>, result: anyhow::Result<Report>) {
    match result {
        Ok(r) => announce(out, round, batch, Ok(&r)),
        Err(e) => announce(out, round, batch, Err(&format!("{e:#}"))),
    }
}

fn announce(out: &Output, round: u64, batch: &BTreeSet<PathBuf>, result: Result<&Report, &str>) {
    let paths: Vec<String> = batch.iter().map(|p| p.display().to_string()).collect();
    if out.json {
        let at = crate::output::now_rfc3339();
        let doc = match result {
            Ok(r) => serde_json::json!({
                "round": round, "at": at, "ok": r.ok, "paths": paths, "report": r
            }),
            Err(e) => serde_json::json!({
                "round": round, "at": at, "ok": false, "paths": paths, "error": e
            }),
        };
        println!("{doc}");
        return;
    }
    let when = crate::hotpatch::now() % 86_400;
    println!(
        "\n[{:02}:{:02}:{:02} UTC] #{round}: {} changed",
        when / 3600,
        when / 60 % 60,
        when % 60,
        if paths.len() == 1 {
            paths[0].clone()
        } else {
            format!("{} files", paths.len())
        }
    );
    match result {
        Ok(r) => out.deploy_report(r),
        Err(e) => println!("Exit::Failed: {e} (watching on; the next change, or Enter, retries)"),
    }
}

/// On a terminal, one status line: what watch is doing, and the last result with its time.
fn status_line(json: bool) -> indicatif::ProgressBar {
    if !json && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        let b = indicatif::ProgressBar::new_spinner();
        b.enable_steady_tick(Duration::from_millis(120));
        b.set_message("waiting for changes");
        b
    } else {
        indicatif::ProgressBar::hidden()
    }
}

/// Registers `watched` with the OS watcher; relevant paths (by `filter`) arrive on the
/// receiver. Reads are not changes (our own diff reads every changed file).
fn start_watcher(
    filter: Filter,
    watched: &[(PathBuf, RecursiveMode)],
) -> anyhow::Result<(
    notify::RecommendedWatcher,
    tokio::sync::mpsc::UnboundedReceiver<PathBuf>,
)> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |e: notify::Result<notify::Event>| {
        if let Ok(e) = e
            && !e.kind.is_access()
        {
            for p in e.paths {
                if filter.relevant(&p) {
                    let _ = tx.send(p);
                }
            }
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

/// The filter for a project: its packages, template and config.
fn filter(project: &Project) -> anyhow::Result<Filter> {
    let (roots, files, ignores) = parts(project)?;
    Ok(Filter::new(&project.root, &roots, &files, &ignores))
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

fn parts(project: &Project) -> anyhow::Result<(Vec<PathBuf>, Vec<PathBuf>, Vec<String>)> {
    let template_path = project.path(&project.config.template);
    let text = std::fs::read_to_string(&template_path)
        .with_context(|| format!("cannot read the template {}", template_path.display()))?;
    let template = Template::parse(&text).map_err(|e| anyhow!(e))?;
    let template_dir = template_path.parent().unwrap_or(Path::new("."));
    let packages =
        crate::plan::local_packages(&template, &project.config, &project.root, template_dir);
    let mut roots = BTreeSet::new();
    let mut ignores = Vec::new();
    for spec in packages.keys() {
        roots.insert(spec.folder.clone());
        roots.extend(spec.include.iter().cloned());
        ignores.extend(spec.ignore.iter().cloned());
    }
    ignores.sort();
    ignores.dedup();
    let files = vec![template_path, project.root.join(FILE_NAME)];
    Ok((roots.into_iter().collect(), files, ignores))
}
