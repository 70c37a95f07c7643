//! The terminals the operations talk through: [`Terminal`] shows progress, warnings and
//! questions on stderr; [`WatchTerminal`] adds the lines of each `watch` round.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::time::Duration;

use super::deploy::deploy_lines;
use super::full::{changeset_lines, uploaded_lines};
use super::print_lines;
use crate::ops::{Event, Ui};
use crate::report::targets::TargetsReport;
use crate::report::{DeployOutcome, DeployReport};

/// Shows an operation's progress on a terminal: a one-line spinner on stderr (only when stderr
/// is a terminal and the output is not JSON), warnings and lines kept above it, questions
/// asked on stderr and answered on stdin. With JSON, only warnings reach stderr.
pub struct Terminal {
    json: bool,
    bar: Option<indicatif::ProgressBar>,
}

impl Terminal {
    /// A terminal UI; `spinner` off when the caller draws its own status line (`watch`).
    pub fn new(json: bool, spinner: bool) -> Self {
        let bar = (spinner && !json && std::io::stderr().is_terminal()).then(|| {
            let b = indicatif::ProgressBar::new_spinner();
            // The elapsed time shows that a slow call is slow, not hung.
            if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}")
            {
                b.set_style(style);
            }
            b.enable_steady_tick(Duration::from_millis(80));
            b
        });
        Self { json, bar }
    }

    /// Clears the spinner (before the report is printed).
    pub fn done(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }

    fn above(&self, f: impl FnOnce()) {
        match &self.bar {
            Some(b) => b.suspend(f),
            None => f(),
        }
    }
}

impl Ui for Terminal {
    fn event(&self, event: Event<'_>) {
        match event {
            Event::Step(msg) => {
                if let Some(b) = &self.bar {
                    b.set_message(msg.to_owned());
                }
            }
            Event::Function { name, state } => {
                if let Some(b) = &self.bar {
                    b.set_message(format!("{name}: {state}"));
                }
            }
            Event::Warning(msg) => self.above(|| eprintln!("warning: {msg}")),
            // Shown with --json too, on stderr: a CI log should say what it waits for.
            Event::Waiting {
                call,
                endpoint,
                attempt,
                waited_s,
            } => self.above(|| eprintln!("{}", waiting_line(call, endpoint, attempt, waited_s))),
            Event::Line(_) | Event::Packaged(_) | Event::ChangeSet { .. } if self.json => {}
            Event::Line(line) => self.above(|| eprintln!("{line}")),
            Event::Packaged(uploaded) => self.above(|| print_lines(&uploaded_lines(uploaded))),
            Event::ChangeSet {
                stack,
                create,
                changes,
            } => self.above(|| print_lines(&changeset_lines(stack, create, changes))),
        }
    }

    fn confirm(&self, question: &str, details: &[String]) -> anyhow::Result<bool> {
        let mut line = String::new();
        let mut ask = || -> std::io::Result<()> {
            for d in details {
                eprintln!("{d}");
            }
            eprint!("{question}");
            std::io::stderr().flush()?;
            std::io::stdin().lock().read_line(&mut line)?;
            Ok(())
        };
        match &self.bar {
            Some(b) => b.suspend(ask)?,
            None => ask()?,
        }
        Ok(matches!(line.trim(), "y" | "Y" | "yes"))
    }

    fn bars(&self) -> bool {
        !self.json && std::io::stderr().is_terminal()
    }
}

/// The line for a call that has waited long for its answer.
pub fn waiting_line(call: &str, endpoint: &str, attempt: u32, waited_s: u64) -> String {
    format!("still waiting for {call} at {endpoint}: {waited_s} s, attempt {attempt}")
}

/// `watch`'s output: one status line on a terminal (what it does, the last result and its
/// time), each round's report below it; with JSON, one line per round
/// (`{round, at, ok, paths, report | error}`, docs/json.md).
pub struct WatchTerminal {
    json: bool,
    ui: Terminal,
    status: indicatif::ProgressBar,
}

impl WatchTerminal {
    /// The output for `watch`.
    pub fn new(json: bool) -> Self {
        let status = if !json && std::io::stderr().is_terminal() {
            let b = indicatif::ProgressBar::new_spinner();
            b.enable_steady_tick(Duration::from_millis(120));
            b.set_message("waiting for changes");
            b
        } else {
            indicatif::ProgressBar::hidden()
        };
        Self {
            json,
            // The status line is watch's spinner: deploy's own would fight it.
            ui: Terminal::new(json, false),
            status,
        }
    }
}

impl Ui for WatchTerminal {
    fn event(&self, event: Event<'_>) {
        self.status.suspend(|| self.ui.event(event));
    }

    fn confirm(&self, question: &str, details: &[String]) -> anyhow::Result<bool> {
        self.status.suspend(|| self.ui.confirm(question, details))
    }
}

impl crate::ops::watch::WatchUi for WatchTerminal {
    fn started(&self, folders: usize, stack: &str) {
        if !self.json {
            eprintln!("watching {folders} folder(s) of stack {stack}; Ctrl-C to stop");
        }
    }

    fn round_started(&self, round: u64, changes: usize) {
        self.status
            .set_message(format!("deploying {changes} change(s) (round {round})"));
        // No ticking while the deploy runs: a fallback may ask on this terminal, and a
        // redrawn status line would hide the question.
        self.status.disable_steady_tick();
    }

    fn round_ended(
        &self,
        round: u64,
        paths: &std::collections::BTreeSet<std::path::PathBuf>,
        result: Result<&DeployReport, String>,
        retry: bool,
    ) {
        if !self.status.is_hidden() {
            self.status.enable_steady_tick(Duration::from_millis(120));
        }
        self.status
            .set_message(last_result(result.as_ref().ok().copied()));
        let paths: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        let lines = round_lines(
            self.json,
            round,
            &paths,
            result.as_deref().map_err(String::as_str),
        );
        self.status.suspend(|| {
            print_lines(&lines);
            if retry && !self.json {
                eprintln!("press Enter to retry, or save a file");
            }
        });
    }

    fn targets_round_ended(
        &self,
        round: u64,
        paths: &std::collections::BTreeSet<std::path::PathBuf>,
        result: Result<&TargetsReport<DeployReport>, String>,
        retry: bool,
    ) {
        if !self.status.is_hidden() {
            self.status.enable_steady_tick(Duration::from_millis(120));
        }
        let last = match &result {
            Ok(r) if r.ok => format!(
                "deployed to {} target(s) in {:.0} ms",
                r.targets.len(),
                r.total_ms
            ),
            Ok(r) => format!("FAILED ({})", r.failed.join(", ")),
            Err(_) => "FAILED".to_owned(),
        };
        self.status.set_message(format!(
            "last: {last} at {} UTC; waiting for changes",
            clock()
        ));
        let paths: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        let lines = targets_round_lines(
            self.json,
            round,
            &paths,
            result.as_ref().map_err(String::as_str).copied(),
        );
        self.status.suspend(|| {
            print_lines(&lines);
            if retry && !self.json {
                eprintln!("press Enter to retry, or save a file");
            }
        });
    }

    fn stopping(&self, now: bool) {
        self.status.suspend(|| {
            if now {
                eprintln!("stopped during a deploy: run `quickdeploy status` to see what is live");
            } else {
                eprintln!("finishing the running deploy; Ctrl-C again to stop at once");
            }
        });
    }
}

/// `last: deployed 2 function(s) in 150 ms at 12:00:01 UTC; waiting for changes`.
fn last_result(report: Option<&DeployReport>) -> String {
    let what = match report {
        Some(r) => {
            let verdict = match r.outcome {
                DeployOutcome::Deployed => format!("deployed {} function(s)", r.updated()),
                DeployOutcome::NothingToDeploy => "nothing to deploy".to_owned(),
                DeployOutcome::Full => "full deploy".to_owned(),
                DeployOutcome::NeedsFull => "needs a full deploy".to_owned(),
                DeployOutcome::Failed => "FAILED".to_owned(),
            };
            format!("{verdict} in {:.0} ms", r.timings_ms.total)
        }
        None => "FAILED".to_owned(),
    };
    format!("last: {what} at {} UTC; waiting for changes", clock())
}

/// One round of `watch`: a JSON line, or a header and the deploy's report.
pub fn round_lines(
    json: bool,
    round: u64,
    paths: &[String],
    result: Result<&DeployReport, &str>,
) -> Vec<String> {
    round_of(json, round, paths, result.map(|r| (r, r.ok)), deploy_lines)
}

/// One round of `watch` on several targets: a JSON line (`report` is the targets document),
/// or a header and each target's lines with the total.
pub fn targets_round_lines(
    json: bool,
    round: u64,
    paths: &[String],
    result: Result<&TargetsReport<DeployReport>, &str>,
) -> Vec<String> {
    round_of(json, round, paths, result.map(|r| (r, r.ok)), |r| {
        crate::render::targets::targets_lines(r, deploy_lines)
    })
}

/// A round's JSON line (`report` as it serializes), or its header and `lines` of the report.
fn round_of<T: serde::Serialize>(
    json: bool,
    round: u64,
    paths: &[String],
    result: Result<(&T, bool), &str>,
    lines: impl Fn(&T) -> Vec<String>,
) -> Vec<String> {
    if json {
        let at = crate::aws::clock::now_rfc3339();
        let doc = match result {
            Ok((r, ok)) => serde_json::json!({
                "round": round, "at": at, "ok": ok, "paths": paths, "report": r
            }),
            Err(e) => serde_json::json!({
                "round": round, "at": at, "ok": false, "paths": paths, "error": e
            }),
        };
        return vec![doc.to_string()];
    }
    let what = match paths {
        [one] => one.clone(),
        _ => format!("{} files", paths.len()),
    };
    let mut out = vec![format!("\n[{} UTC] #{round}: {what} changed", clock())];
    match result {
        Ok((r, _)) => out.extend(lines(r)),
        Err(e) => out.push(format!(
            "FAILED: {e} (watching on; the next change, or Enter, retries)"
        )),
    }
    out
}

/// The time of day in UTC, `12:00:01`.
fn clock() -> String {
    let when = crate::aws::clock::now_secs() % 86_400;
    format!("{:02}:{:02}:{:02}", when / 3600, when / 60 % 60, when % 60)
}
