//! Everything the commands print: the reports for people (lines built from the typed reports
//! of `crate::report`, tested as golden text), the reports as JSON, and the [`Terminal`] that
//! shows an operation's progress. Lines go to stdout through [`print_line`], which ends
//! quietly on a closed pipe; progress and questions go to stderr.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::time::Duration;

use serde::Serialize;
use zipedit::event::PatchAnswer;

use crate::ops::{Event, Ui};
use crate::report::{
    ArtifactReport, DeployOutcome, DeployReport, FullOutcome, FullReport, FunctionReport,
    FunctionStatus, StatusAction, StatusReport, Uploaded,
};

/// Prints one line on stdout. A closed pipe (`quickdeploy status | head -1`) ends the output
/// quietly instead of panicking as `println!` would; other write errors are ignored too, as
/// there is nowhere left to report them.
pub fn print_line(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}

/// Prints lines on stdout.
pub fn print_lines(lines: &[String]) {
    for l in lines {
        print_line(l);
    }
}

/// Prints a report as one pretty JSON document.
pub fn print_json(report: &impl Serialize) {
    match serde_json::to_string_pretty(report) {
        Ok(doc) => print_line(&doc),
        Err(e) => {
            print_line(&serde_json::json!({ "ok": false, "error": e.to_string() }).to_string())
        }
    }
}

/// A deploy report for people: artifacts, functions, errors several artifacts share, then
/// the fallback or the verdict with phase times.
pub fn deploy_lines(r: &DeployReport) -> Vec<String> {
    let mut out = Vec::new();
    let names: Vec<&str> = r.artifacts.iter().map(|a| a.artifact.as_str()).collect();
    let folder = common_folder(&names);
    out.push(if folder.is_empty() {
        format!("stack {}", r.stack)
    } else {
        format!("stack {}, artifacts in {folder}", r.stack)
    });
    for a in &r.artifacts {
        artifact_lines(r, a, &a.artifact[folder.len()..], &mut out);
    }
    for f in &r.functions {
        out.push(format!(
            "  {:<8} {} ({}): {}",
            f.status.as_str(),
            f.logical_id,
            f.name,
            function_detail(r, f)
        ));
    }
    shared_error_lines(r, &folder, &mut out);
    for s in &r.not_served {
        out.push(format!("  not served: {}: {}", s.logical_id, s.reason));
    }
    if let Some(full) = &r.full {
        out.push("fell back to a full deploy, because:".into());
        out.extend(r.needs_full.iter().map(|why| format!("  - {why}")));
        out.extend(full_lines(full));
        return out;
    }
    if !r.needs_full.is_empty() {
        out.push(
            "a full deploy is needed (run `quickdeploy full`, or deploy without --no-fallback):"
                .into(),
        );
        out.extend(r.needs_full.iter().map(|why| format!("  - {why}")));
    }
    if let Some(why) = &r.refused {
        out.push(format!("not falling back: {why}"));
    }
    let t = &r.timings_ms;
    // A build (a compiled or bundled function) is most of such a deploy: said apart.
    let build = if t.build >= 1.0 {
        format!("build {:.0} ms, ", t.build)
    } else {
        String::new()
    };
    out.push(format!(
        "{}. {build}diff {:.0} ms, patch {:.0} ms, update {:.0} ms, wait {:.0} ms; total {:.0} ms",
        verdict(r),
        t.diff,
        t.patch,
        t.update,
        t.wait,
        t.total
    ));
    out
}

/// True when `error` is the error of more than one artifact: said once, at the end.
fn shared(r: &DeployReport, error: &str) -> bool {
    r.artifacts
        .iter()
        .filter(|a| a.error.as_deref() == Some(error))
        .count()
        > 1
}

fn artifact_lines(r: &DeployReport, a: &ArtifactReport, name: &str, out: &mut Vec<String>) {
    if a.unchanged() {
        out.push(format!("  {name}  unchanged"));
        return;
    }
    out.push(format!(
        "  {name}  {}: {} ({} hashed, manifest from {})",
        a.change.describe(),
        counts(a.added, a.modified, a.deleted),
        plural(a.hashed, "file"),
        a.manifest.as_str()
    ));
    out.extend(a.paths.iter().take(10).map(|p| format!("      {p}")));
    if a.paths.len() > 10 {
        out.push(format!("      ... and {} more", a.paths.len() - 10));
    }
    if let Some(p) = &a.patch {
        out.push(format!("    {}", describe_patch(p)));
    }
    out.extend(sent_line(a));
    out.extend(a.warnings.iter().map(|w| format!("    warning: {w}")));
    layer_lines(a, out);
    match &a.error {
        Some(e) if shared(r, e) => out.push("    patch FAILED (why: below)".into()),
        Some(e) => out.push(format!("    patch FAILED: {e}")),
        None => {}
    }
}

/// The layers made from an artifact: the version a deploy published (or why not), else the
/// stack's; and their users.
fn layer_lines(a: &ArtifactReport, out: &mut Vec<String>) {
    for l in &a.layers {
        let deployed = l
            .deployed
            .as_deref()
            .unwrap_or("no version named by its stack");
        let what = match (&l.published, &l.error) {
            (Some(v), _) => format!("published {v} (the stack's: {deployed})"),
            (None, Some(e)) => format!("publishing FAILED: {e}"),
            (None, None) => deployed.to_owned(),
        };
        let users = if l.users.is_empty() {
            "no function uses it".to_owned()
        } else {
            format!("used by {}", l.users.join(", "))
        };
        out.push(format!("    layer {}: {what}; {users}", l.logical_id));
    }
}

/// What happened to one function, in a few words.
fn function_detail(r: &DeployReport, f: &FunctionReport) -> String {
    match (&f.rollout, f.status) {
        (Some(o), FunctionStatus::Updated) => {
            let mut d = format!(
                "update {:.0} ms, live after {:.0} ms more",
                o.update_ms, o.wait_ms
            );
            if o.retries > 0 {
                let s = if o.retries == 1 { "y" } else { "ies" };
                d.push_str(&format!(", {} retr{s}", o.retries));
            }
            if !o.layers.is_empty() {
                d.push_str(&format!(", layers {}", o.layers.join(", ")));
            }
            if let Some(v) = &o.version {
                d.push_str(&format!(", version {v} -> {}", o.aliases.join(", ")));
            }
            d
        }
        _ => {
            let artifact_error = f
                .reason
                .as_deref()
                .and_then(|why| why.strip_prefix(crate::ops::deploy::NOT_PATCHED));
            match artifact_error {
                Some(e) if f.not_patched && shared(r, e) => {
                    "its artifact was not patched (why: below)".to_owned()
                }
                _ => f.reason.clone().unwrap_or_default(),
            }
        }
    }
}

/// Each error several artifacts share, once, with the artifacts it stopped.
fn shared_error_lines(r: &DeployReport, folder: &str, out: &mut Vec<String>) {
    let mut said: Vec<&str> = Vec::new();
    for a in &r.artifacts {
        let Some(e) = a.error.as_deref() else {
            continue;
        };
        if !shared(r, e) || said.contains(&e) {
            continue;
        }
        said.push(e);
        let which: Vec<&str> = r
            .artifacts
            .iter()
            .filter(|x| x.error.as_deref() == Some(e))
            .map(|x| &x.artifact[folder.len()..])
            .collect();
        out.push(format!("patch FAILED for {}: {e}", which.join(", ")));
    }
}

/// The last line's first words.
fn verdict(r: &DeployReport) -> String {
    match r.outcome {
        DeployOutcome::Deployed => format!("deployed: {} function(s) updated", r.updated()),
        DeployOutcome::NothingToDeploy => {
            "nothing to deploy: every function runs its artifact".into()
        }
        DeployOutcome::NeedsFull => "not deployed: needs a full deploy".into(),
        DeployOutcome::Full | DeployOutcome::Failed => {
            let failed = r.count(FunctionStatus::Failed);
            let live = r.functions.len() - failed;
            format!("FAILED: {live} function(s) live, {failed} failed")
        }
    }
}

/// What went over the wire for an artifact's patch, and how the larger files went.
fn sent_line(a: &ArtifactReport) -> Option<String> {
    let total = a.request_bytes? + a.staged_bytes.unwrap_or(0);
    let size: u64 = a.files.iter().map(|f| f.size).sum();
    let mut how: Vec<String> = a
        .files
        .iter()
        .filter(|f| f.sent != crate::encode::Sent::Whole)
        .take(3)
        .map(|f| {
            let base = match f.base {
                Some(crate::bases::Origin::Cache) => ", base from the local cache",
                Some(crate::bases::Origin::Artifact) => ", base read from the artifact",
                None => "",
            };
            let kind = match f.sent {
                crate::encode::Sent::Delta => "delta",
                _ => "zstd",
            };
            format!(
                "{} as {kind} {} of {}{base}",
                f.path,
                human_bytes(f.bytes),
                human_bytes(f.size)
            )
        })
        .collect();
    let encoded = a
        .files
        .iter()
        .filter(|f| f.sent != crate::encode::Sent::Whole)
        .count();
    if encoded > how.len() {
        how.push(format!("{} more encoded", encoded - how.len()));
    }
    let base = a
        .base_bytes
        .map(|b| format!("; {} read back for previous content", human_bytes(b)))
        .unwrap_or_default();
    let how = if how.is_empty() {
        String::new()
    } else {
        format!(": {}", how.join(", "))
    };
    Some(format!(
        "    sent {} for {} of changed files{how}{base}",
        human_bytes(total),
        human_bytes(size)
    ))
}

/// One line about a patch, for people.
pub fn describe_patch(a: &PatchAnswer) -> String {
    let how = match a.mode {
        zipedit::Strategy::Append => "patched by append",
        zipedit::Strategy::Rewrite => "patched by rewrite",
        zipedit::Strategy::Unchanged => "nothing to write",
    };
    format!(
        "{how} in {:.0} ms: {} through the patcher, {} copied by S3; CodeSha256 {}",
        a.timings_ms.total,
        human_bytes(a.read_bytes + a.written_bytes),
        human_bytes(a.copied_bytes),
        short_sha(&a.code_sha256)
    )
}

/// A full deploy's end, for people: what it reconciled and its verdict with its time (the
/// packages and the change set were shown as they happened).
pub fn full_lines(report: &FullReport) -> Vec<String> {
    let mut out = Vec::new();
    if !report.reconciled.is_empty() {
        out.push(format!(
            "  reconciled hot-patched function(s): {}",
            report.reconciled.join(", ")
        ));
    }
    let live = report
        .verified
        .iter()
        .filter(|c| c.differences.is_empty())
        .count();
    if live > 0 {
        out.push(format!(
            "  verified: {live} of {} function(s) run their package and template settings",
            report.verified.len()
        ));
    }
    let verdict = match report.outcome {
        FullOutcome::NothingToDeploy => "nothing to deploy: the stack is up to date".to_owned(),
        FullOutcome::Cancelled => "cancelled: nothing was executed".to_owned(),
        FullOutcome::DryRun => {
            "dry run: the change set was shown and deleted, nothing executed".to_owned()
        }
        FullOutcome::Refused => format!(
            "REFUSED, nothing was executed: {}",
            report.error.as_deref().unwrap_or("no consent")
        ),
        FullOutcome::Failed => format!(
            "FAILED: {}",
            report
                .error
                .as_deref()
                .unwrap_or("the stack did not deploy")
        ),
        FullOutcome::Deployed => format!(
            "stack {} is {}",
            report.stack,
            report.status.as_deref().unwrap_or("?")
        ),
    };
    let total = report.timings_ms.get("total").copied().unwrap_or_default();
    out.push(match report.timings_ms.get("answer") {
        Some(answer) => format!("{verdict} ({total:.0} ms, and {answer:.0} ms answering)"),
        None => format!("{verdict} ({total:.0} ms)"),
    });
    out
}

/// The packages of a full deploy, as they are uploaded.
pub fn uploaded_lines(uploaded: &[Uploaded]) -> Vec<String> {
    uploaded
        .iter()
        .map(|a| {
            format!(
                "  {} {} ({}; CodeSha256 {}) for {}",
                if a.uploaded { "uploaded " } else { "unchanged" },
                a.artifact,
                human_bytes(a.size),
                short_sha(&a.code_sha256),
                a.functions
                    .iter()
                    .cloned()
                    .chain(a.layers.iter().map(|l| format!("layer {l}")))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect()
}

/// A change set, before it is executed.
pub fn changeset_lines(
    stack: &str,
    create: bool,
    changes: &[crate::changeset::Planned],
) -> Vec<String> {
    let kind = if create { "new stack" } else { "update" };
    let mut out = vec![format!("change set for stack {stack} ({kind}):")];
    out.extend(changes.iter().map(|c| {
        format!(
            "  {:<8} {:<28} {:<32} {}",
            c.action,
            c.logical_id,
            c.resource_type,
            match (c.replacement.as_deref(), c.retained) {
                (_, true) => "kept (Retain): nothing is deleted".to_owned(),
                (Some(r), false) => format!("replacement: {r}"),
                (None, false) => String::new(),
            }
        )
    }));
    out
}

/// The status for people: the stack, each artifact and function, what deploy would do.
pub fn status_lines(status: &StatusReport) -> Vec<String> {
    let mut out = Vec::new();
    let names: Vec<&str> = status
        .artifacts
        .iter()
        .map(|a| a.artifact.as_str())
        .collect();
    let folder = common_folder(&names);
    out.push(format!(
        "stack {} ({}){}",
        status.stack,
        status.stack_status.as_deref().unwrap_or("does not exist"),
        if folder.is_empty() {
            String::new()
        } else {
            format!(", artifacts in {folder}")
        }
    ));
    for a in &status.artifacts {
        out.push(format!(
            "  {}  {}",
            &a.artifact[folder.len()..],
            a.change.describe()
        ));
        out.extend(a.paths.iter().map(|p| format!("      {p}")));
        layer_lines(a, &mut out);
    }
    for f in &status.functions {
        let what = match f.action {
            StatusAction::None => "up to date",
            StatusAction::Quick => "deploy would patch its artifact and update it",
            StatusAction::Update => "deploy would update it (it does not run the current artifact)",
            StatusAction::Full => "needs a full deploy",
        };
        let why = f
            .reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        out.push(format!("  {:<24} {:<40} {what}{why}", f.logical_id, f.name));
        if let Some(last) = status.last_change.get(&f.logical_id) {
            out.push(format!("  {:<24} last change: {}", "", last_change(last)));
        }
    }
    for s in &status.not_served {
        out.push(format!("  not served: {}: {}", s.logical_id, s.reason));
    }
    if !status.hot_patched.is_empty() {
        out.push(
            "hot-patched since the last full deploy (the next `quickdeploy full` reconciles them):"
                .into(),
        );
        for (id, e) in &status.hot_patched {
            out.push(format!(
                "  {id:<24} {} CodeSha256 {}",
                e.name,
                short_sha(&e.code_sha256)
            ));
        }
    }
    if let Some(why) = &status.protected {
        out.push(format!(
            "protected: {why}: deploy goes the full way unless --force"
        ));
    }
    if !status.needs_full.is_empty() {
        out.push("a full deploy is needed (`quickdeploy full`):".into());
        out.extend(status.needs_full.iter().map(|why| format!("  - {why}")));
    }
    out
}

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
    if json {
        let at = crate::clock::now_rfc3339();
        let doc = match result {
            Ok(r) => serde_json::json!({
                "round": round, "at": at, "ok": r.ok, "paths": paths, "report": r
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
        Ok(r) => out.extend(deploy_lines(r)),
        Err(e) => out.push(format!(
            "FAILED: {e} (watching on; the next change, or Enter, retries)"
        )),
    }
    out
}

/// The time of day in UTC, `12:00:01`.
fn clock() -> String {
    let when = crate::clock::now_secs() % 86_400;
    format!("{:02}:{:02}:{:02}", when / 3600, when / 60 % 60, when % 60)
}

/// `bootstrap`'s report for people.
pub fn bootstrap_lines(r: &crate::ops::bootstrap::Report) -> Vec<String> {
    let created = " (created: versioned, encrypted, public access blocked)";
    let what = match r.outcome {
        crate::ops::bootstrap::Outcome::Unchanged => "nothing to change",
        crate::ops::bootstrap::Outcome::Created | crate::ops::bootstrap::Outcome::Updated => {
            r.status.as_deref().unwrap_or("?")
        }
    };
    vec![
        format!("  package  {}", r.source),
        format!(
            "  bucket   {}{}",
            r.bucket,
            if r.bucket_created { created } else { "" }
        ),
        format!(
            "  code     {} (CodeSha256 {}){}",
            r.code,
            r.code_sha256.get(..12).unwrap_or(&r.code_sha256),
            if r.code_uploaded {
                " uploaded"
            } else {
                " already there"
            }
        ),
        format!("patcher {} in stack {}: {what}", r.patcher, r.stack),
    ]
}

/// `destroy`'s report for people.
pub fn destroy_lines(r: &crate::ops::destroy::Report) -> Vec<String> {
    let mut out = Vec::new();
    if r.stack_deleted {
        let status = r.stack_status.as_deref().unwrap_or("deleted");
        out.push(format!("stack {}: {status}", r.stack));
    }
    match &r.bucket {
        Some(bucket) if r.bucket_deleted => out.push(format!(
            "bucket {bucket}: deleted ({} versions, {} delete markers, {} unfinished uploads removed)",
            r.versions_deleted, r.delete_markers_deleted, r.uploads_aborted
        )),
        None if r.stack_deleted => out.push(
            "the artifact bucket was kept (remove it with --delete-bucket NAME)".to_owned(),
        ),
        _ => {}
    }
    out
}

/// `patch-zip`'s report for people.
pub fn patch_zip_lines(out: &crate::ops::patch_zip::Report) -> Vec<String> {
    let r = &out.report;
    let pct = if r.size == 0 {
        0.0
    } else {
        100.0 * r.dead_bytes as f64 / r.size as f64
    };
    let strategy = serde_json::to_value(r.strategy).ok();
    let t = &out.timings_ms;
    vec![
        format!(
            "patched {} -> {} ({})",
            out.input.display(),
            out.output.display(),
            strategy
                .as_ref()
                .and_then(|v| v.as_str())
                .unwrap_or_default()
        ),
        format!(
            "  entries: {} added, {} modified, {} deleted, {} unchanged ({} in all)",
            r.added, r.modified, r.deleted, r.unchanged, r.entries
        ),
        format!(
            "  size:    {} bytes; kept prefix {}, written {}, dead {} ({pct:.1}%)",
            r.size, r.kept_prefix, r.written, r.dead_bytes
        ),
        format!("  CodeSha256: {}", r.code_sha256),
        format!(
            "  time:    read changes {:.1} ms, patch {:.1} ms, write {:.1} ms, total {:.1} ms",
            t.read_changes, t.patch, t.write, t.total
        ),
    ]
}

/// The folder all `names` share (`s3://bucket/prefix/`), so lines show only what differs;
/// empty when there is one name or none.
pub fn common_folder(names: &[&str]) -> String {
    let [first, rest @ ..] = names else {
        return String::new();
    };
    let mut len = first.rfind('/').map_or(0, |i| i + 1);
    for n in rest {
        while !n.starts_with(&first[..len]) {
            len = first[..len.saturating_sub(1)]
                .rfind('/')
                .map_or(0, |i| i + 1);
        }
    }
    // A bare scheme says nothing: show whole names then.
    if first[..len].trim_end_matches('/').ends_with(':') {
        return String::new();
    }
    first[..len].to_owned()
}

/// `1 added, 2 modified`: only the counts that are not zero.
fn counts(added: usize, modified: usize, deleted: usize) -> String {
    let parts: Vec<String> = [
        (added, "added"),
        (modified, "modified"),
        (deleted, "deleted"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    parts.join(", ")
}

/// `1 file`, `3 files`.
fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// `1.5 MiB`, `12.0 KiB`, `800 B`.
pub fn human_bytes(n: u64) -> String {
    const KIB: f64 = 1024.0;
    let f = n as f64;
    if f >= KIB * KIB {
        format!("{:.1} MiB", f / KIB / KIB)
    } else if f >= KIB {
        format!("{:.1} KiB", f / KIB)
    } else {
        format!("{n} B")
    }
}

/// The first 12 characters of a CodeSha256, enough to tell versions apart on screen.
pub fn short_sha(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// `#5 rollback 2026-01-01T00:00:00Z by user/me, git 1a2b3c4d5e6f`: a function's last
/// change, for `status`.
fn last_change(last: &crate::history::LastChange) -> String {
    let failed = match last.change {
        crate::history::Change::Updated => "",
        crate::history::Change::Failed => " (FAILED)",
    };
    let commit = last
        .commit
        .as_deref()
        .map(|c| format!(", git {}", short_sha(c)))
        .unwrap_or_default();
    format!(
        "#{} {}{failed} {} by {}{commit}",
        last.id,
        last.kind.as_str(),
        last.at,
        last.who.rsplit(':').next().unwrap_or(&last.who)
    )
}

/// The deploy history for people: one block per entry, newest first.
pub fn history_lines(r: &crate::report::HistoryReport) -> Vec<String> {
    if r.entries.is_empty() {
        return vec![format!(
            "no deploys recorded for stack {} ({} entries kept in {})",
            r.stack, r.kept, r.location
        )];
    }
    let names: Vec<&str> = r
        .entries
        .iter()
        .flat_map(|e| &e.artifacts)
        .map(|a| a.artifact.as_str())
        .collect();
    let folder = common_folder(&names);
    let mut out = vec![format!(
        "history of stack {}, newest first ({} of {} kept in {}){}",
        r.stack,
        r.entries.len(),
        r.kept,
        r.location,
        if folder.is_empty() {
            String::new()
        } else {
            format!("; artifacts in {folder}")
        }
    )];
    for e in &r.entries {
        out.extend(entry_lines(e, &folder));
    }
    out
}

/// One history entry: a heading line, then its files, artifacts, functions and time.
fn entry_lines(e: &crate::history::Entry, folder: &str) -> Vec<String> {
    use crate::history::{Change, Outcome};
    let git = e
        .git
        .as_ref()
        .map(|g| {
            format!(
                ", git {}{}",
                short_sha(&g.commit),
                if g.dirty { " (dirty)" } else { "" }
            )
        })
        .unwrap_or_default();
    let outcome = match e.outcome {
        Outcome::Deployed => "deployed",
        Outcome::Failed => "FAILED",
    };
    let mut out = vec![format!(
        "#{:<4} {}  {:<8} {outcome} by {}{git}",
        e.id,
        e.at,
        e.kind.as_str(),
        e.who
    )];
    let ids = |v: &[u64]| v.iter().map(|i| format!("#{i}")).collect::<Vec<_>>();
    match (e.back_to, e.undid.is_empty()) {
        (Some(to), _) => out.push(format!(
            "      back to #{to}, undoing {}",
            ids(&e.undid).join(", ")
        )),
        (None, false) => out.push(format!("      undoing {}", ids(&e.undid).join(", "))),
        (None, true) => {}
    }
    if e.files.total() > 0 {
        let mut paths = e.files.paths.join(", ");
        if e.files.more > 0 {
            paths.push_str(&format!(" and {} more", e.files.more));
        }
        out.push(format!(
            "      {}: {}: {paths}",
            plural(e.files.total(), "file"),
            counts(e.files.added, e.files.modified, e.files.deleted)
        ));
    }
    let code = |c: &Option<crate::history::Code>| match c {
        Some(c) => (
            short_sha(c.version_id.as_deref().unwrap_or("-")).to_owned(),
            short_sha(&c.code_sha256).to_owned(),
        ),
        None => ("?".to_owned(), "?".to_owned()),
    };
    for a in &e.artifacts {
        let ((v0, s0), (v1, s1)) = (code(&a.before), code(&a.after));
        let name = a.artifact.get(folder.len()..).unwrap_or(&a.artifact);
        out.push(format!(
            "      {name}: version {v0} -> {v1} (CodeSha256 {s0} -> {s1})"
        ));
    }
    for l in &e.layers {
        out.push(format!(
            "      layer {}: published {} (the stack's: {}), moving {}",
            l.logical_id,
            l.published,
            l.deployed.as_deref().unwrap_or("none named"),
            l.users.join(", ")
        ));
    }
    let updated: Vec<String> = e
        .functions
        .iter()
        .filter(|f| f.change == Change::Updated)
        .map(|f| match &f.version {
            Some(v) => format!("{} (version {v} -> {})", f.logical_id, f.aliases.join(", ")),
            None => f.logical_id.clone(),
        })
        .collect();
    if !updated.is_empty() {
        out.push(format!("      updated {}", updated.join(", ")));
    }
    for f in e.functions.iter().filter(|f| f.change == Change::Failed) {
        out.push(format!(
            "      FAILED {}: {}",
            f.logical_id,
            f.reason.as_deref().unwrap_or("no reason recorded")
        ));
    }
    if let Some(total) = e.timings_ms.get("total") {
        out.push(format!("      took {total:.0} ms"));
    }
    out
}

/// One function of a rollback, for people.
fn rolled_function_line(f: &FunctionReport) -> String {
    let word = match f.status {
        FunctionStatus::Updated => "rolled back",
        FunctionStatus::Skipped => "skipped",
        FunctionStatus::Failed => "FAILED",
    };
    let detail = match (&f.rollout, f.status) {
        (Some(o), FunctionStatus::Updated) => {
            let mut d = format!(
                "CodeSha256 {}, update {:.0} ms, live after {:.0} ms more",
                short_sha(o.code_sha256.as_deref().unwrap_or("?")),
                o.update_ms,
                o.wait_ms
            );
            if let Some(v) = &o.version {
                d.push_str(&format!(", version {v} -> {}", o.aliases.join(", ")));
            }
            d
        }
        _ => f.reason.clone().unwrap_or_default(),
    };
    format!("  {word:<11} {} ({}): {detail}", f.logical_id, f.name)
}

/// A rollback for people: each artifact, each function, the verdict with its times.
pub fn rollback_lines(r: &crate::report::RollbackReport) -> Vec<String> {
    use crate::report::RollbackOutcome;
    let ids = |v: &[u64]| {
        v.iter()
            .map(|i| format!("#{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = vec![match r.back_to {
        Some(to) => format!(
            "stack {}: back to history entry #{to} (undoing {})",
            r.stack,
            ids(&r.undone)
        ),
        None => format!("stack {}: undoing {}", r.stack, ids(&r.undone)),
    }];
    let names: Vec<&str> = r.artifacts.iter().map(|a| a.artifact.as_str()).collect();
    let folder = common_folder(&names);
    for a in &r.artifacts {
        let name = &a.artifact[folder.len()..];
        let to = short_sha(a.to.version_id.as_deref().unwrap_or("-"));
        let from = a
            .from
            .as_ref()
            .and_then(|c| c.version_id.as_deref())
            .map_or("?", short_sha);
        out.push(match (&a.error, &a.restored_version, &a.note) {
            (Some(e), _, _) => format!("  {name}  restore FAILED: {e}"),
            (None, Some(copy), _) => format!(
                "  {name}  version {from} -> {to}: restored as the current version (copy {})",
                short_sha(copy)
            ),
            (None, None, Some(note)) => format!("  {name}  version {to}: {note}"),
            (None, None, None) => format!("  {name}  version {to}: already the current version"),
        });
    }
    out.extend(r.functions.iter().map(rolled_function_line));
    let t = |k: &str| r.timings_ms.get(k).copied().unwrap_or_default();
    let times = format!(
        "read {:.0} ms, restore {:.0} ms, update {:.0} ms; total {:.0} ms",
        t("read"),
        t("restore"),
        t("update"),
        t("total")
    );
    let recorded = r
        .recorded
        .map(|id| format!(" (history entry #{id})"))
        .unwrap_or_default();
    out.push(match r.outcome {
        RollbackOutcome::RolledBack => format!(
            "rolled back: {} function(s). {times}{recorded}",
            r.rolled_back()
        ),
        RollbackOutcome::NothingToRollBack => {
            "nothing to roll back: every function already runs that code".to_owned()
        }
        RollbackOutcome::Cancelled => "cancelled: nothing was changed".to_owned(),
        RollbackOutcome::Refused => format!(
            "REFUSED, nothing was changed: {}",
            r.refused.as_deref().unwrap_or("no consent")
        ),
        RollbackOutcome::Failed => {
            let failed = r.count_failed();
            format!(
                "FAILED: {} function(s) rolled back, {failed} failed. {times}{recorded}",
                r.rolled_back()
            )
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packaged_artifacts_name_their_functions_and_layers() {
        let art = |name: &str, functions: &[&str], layers: &[&str], uploaded: bool| Uploaded {
            artifact: format!("s3://b/quickdeploy/app/{name}.zip"),
            functions: functions.iter().map(|f| f.to_string()).collect(),
            layers: layers.iter().map(|l| l.to_string()).collect(),
            code_sha256: "0123456789abcdefXYZ=".into(),
            size: 2048,
            uploaded,
        };
        let lines = uploaded_lines(&[
            art("src", &["Api", "Worker"], &[], true),
            art("layers-deps", &[], &["Deps"], false),
        ]);
        assert_eq!(
            lines,
            [
                "  uploaded  s3://b/quickdeploy/app/src.zip (2.0 KiB; CodeSha256 0123456789ab) for Api, Worker",
                "  unchanged s3://b/quickdeploy/app/layers-deps.zip (2.0 KiB; CodeSha256 0123456789ab) for layer Deps",
            ]
        );
        let json = serde_json::to_value(art("src", &["Api"], &[], true)).expect("json");
        assert!(
            json.get("layers").is_none(),
            "a function's artifact reads as before"
        );
        let json = serde_json::to_value(art("deps", &[], &["Deps"], true)).expect("json");
        assert_eq!(json["layers"], serde_json::json!(["Deps"]));
    }

    #[test]
    fn names_are_shown_below_their_common_folder() {
        let a = "s3://b/quickdeploy/app/src-shared.zip";
        let b = "s3://b/quickdeploy/app/src-report.zip";
        assert_eq!(common_folder(&[a, b]), "s3://b/quickdeploy/app/");
        assert_eq!(common_folder(&[a]), "s3://b/quickdeploy/app/");
        assert_eq!(
            common_folder(&[a, "s3://b/quickdeploy/other/x.zip"]),
            "s3://b/quickdeploy/"
        );
        assert_eq!(common_folder(&[a, "s3://c/x.zip"]), "");
        assert_eq!(common_folder(&[]), "");
        assert_eq!(counts(0, 1, 0), "1 modified");
        assert_eq!(counts(2, 0, 1), "2 added, 1 deleted");
        assert_eq!(plural(1, "file"), "1 file");
    }

    use crate::classify::Change;
    use crate::report::*;

    fn artifact(name: &str, modified: usize, error: Option<&str>) -> ArtifactReport {
        ArtifactReport {
            artifact: format!("s3://b/quickdeploy/app/{name}.zip"),
            package: name.into(),
            change: if modified > 0 {
                Change::CodeOnly
            } else {
                Change::None
            },
            added: 0,
            modified,
            deleted: 0,
            paths: (0..modified).map(|i| format!("f{i}.py")).collect(),
            hashed: modified,
            manifest: crate::remote::Source::Remote,
            patch: None,
            request_bytes: None,
            files: Vec::new(),
            staged_bytes: None,
            base_bytes: None,
            warnings: Vec::new(),
            error: error.map(str::to_owned),
            code_sha256: None,
            layers: Vec::new(),
        }
    }

    #[test]
    fn what_went_over_the_wire_is_one_line_naming_deltas_and_their_base() {
        let mut a = artifact("rust", 1, None);
        assert_eq!(sent_line(&a), None, "nothing sent to a patcher");
        a.request_bytes = Some(74_000);
        a.staged_bytes = Some(1_000);
        a.base_bytes = Some(4_300_000);
        a.files = vec![SentFile {
            path: "bootstrap".into(),
            sent: crate::encode::Sent::Delta,
            size: 13_014_032,
            bytes: 72_864,
            base: Some(crate::bases::Origin::Artifact),
        }];
        a.warnings = vec!["previous content not read".into()];
        assert_eq!(
            sent_line(&a).as_deref(),
            Some(
                "    sent 73.2 KiB for 12.4 MiB of changed files: bootstrap as delta 71.2 KiB of 12.4 MiB, base read from the artifact; 4.1 MiB read back for previous content"
            )
        );
        let mut out = Vec::new();
        artifact_lines(&deploy_report(), &a, "rust", &mut out);
        assert!(
            out.contains(&"    warning: previous content not read".to_owned()),
            "{out:?}"
        );
    }

    fn function(id: &str, status: FunctionStatus, reason: &str) -> FunctionReport {
        FunctionReport {
            logical_id: id.into(),
            name: format!("app-{id}"),
            status,
            reason: (!reason.is_empty()).then(|| reason.to_owned()),
            rollout: None,
            not_patched: false,
        }
    }

    fn deploy_report() -> DeployReport {
        DeployReport {
            ok: true,
            outcome: DeployOutcome::Deployed,
            stack: "app".into(),
            needs_full: Vec::new(),
            refused: None,
            artifacts: vec![artifact("shared", 1, None), artifact("report", 0, None)],
            functions: vec![
                function("Hello", FunctionStatus::Updated, ""),
                function(
                    "Report",
                    FunctionStatus::Skipped,
                    "already runs this artifact",
                ),
            ],
            not_served: Vec::new(),
            full: None,
            builds: Vec::new(),
            timings_ms: Timings {
                build: 0.0,
                diff: 10.0,
                patch: 20.0,
                update: 30.0,
                wait: 40.0,
                total: 100.4,
            },
        }
    }

    #[test]
    fn a_deploy_reads_as_artifacts_functions_and_a_verdict() {
        let lines = deploy_lines(&deploy_report());
        assert_eq!(
            lines.join("\n"),
            "stack app, artifacts in s3://b/quickdeploy/app/
  shared.zip  code-only change: 1 modified (1 file hashed, manifest from remote)
      f0.py
  report.zip  unchanged
  updated  Hello (app-Hello): 
  skipped  Report (app-Report): already runs this artifact
deployed: 1 function(s) updated. diff 10 ms, patch 20 ms, update 30 ms, wait 40 ms; total 100 ms"
        );
    }

    #[test]
    fn a_layer_deploy_names_the_version_published_and_its_users() {
        let mut r = deploy_report();
        let v = |n: u32| format!("arn:aws:lambda:us-east-1:1:layer:Deps:{n}");
        r.artifacts = vec![artifact("deps", 1, None)];
        r.artifacts[0].layers = vec![LayerReport {
            logical_id: "Deps".into(),
            deployed: Some(v(1)),
            published: Some(v(2)),
            error: None,
            users: vec!["Hello".into()],
        }];
        let text = deploy_lines(&r).join("\n");
        assert!(
            text.contains(&format!(
                "    layer Deps: published {} (the stack's: {}); used by Hello",
                v(2),
                v(1)
            )),
            "{text}"
        );
        r.artifacts[0].layers[0].published = None;
        r.artifacts[0].layers[0].error = Some("AccessDenied".into());
        r.artifacts[0].layers[0].users.clear();
        let text = deploy_lines(&r).join("\n");
        assert!(
            text.contains("    layer Deps: publishing FAILED: AccessDenied; no function uses it"),
            "{text}"
        );
    }

    #[test]
    fn an_error_two_artifacts_share_is_said_once() {
        let e = "AccessDenied: no";
        let mut r = deploy_report();
        r.ok = false;
        r.outcome = DeployOutcome::Failed;
        r.artifacts = vec![artifact("a", 1, Some(e)), artifact("b", 1, Some(e))];
        let reason = format!("{}{e}", crate::ops::deploy::NOT_PATCHED);
        r.functions = vec![function("A", FunctionStatus::Failed, &reason)];
        r.functions[0].not_patched = true;
        let text = deploy_lines(&r).join("\n");
        assert_eq!(text.matches(e).count(), 1, "{text}");
        assert!(
            text.contains("patch FAILED for a.zip, b.zip: AccessDenied: no"),
            "{text}"
        );
        assert!(
            text.contains("its artifact was not patched (why: below)"),
            "{text}"
        );
        assert!(text.ends_with("FAILED: 0 function(s) live, 1 failed. diff 10 ms, patch 20 ms, update 30 ms, wait 40 ms; total 100 ms"), "{text}");
    }

    #[test]
    fn json_keeps_its_stable_strings() {
        let v = serde_json::to_value(deploy_report()).expect("json");
        assert_eq!(v["outcome"], "deployed");
        assert_eq!(v["functions"][0]["status"], "updated");
        assert_eq!(v["functions"][1]["status"], "skipped");
        assert!(v["functions"][0].get("not_patched").is_none());
        assert_eq!(v["artifacts"][0]["manifest"], "remote");
        let line = &round_lines(true, 3, &["a.py".into()], Ok(&deploy_report()))[0];
        let doc: serde_json::Value = serde_json::from_str(line).expect("one JSON line");
        assert_eq!(
            (doc["round"].as_u64(), doc["ok"].as_bool()),
            (Some(3), Some(true))
        );
        assert_eq!(doc["report"]["outcome"], "deployed");
        let line = &round_lines(true, 4, &[], Err("template: bad"))[0];
        assert!(line.contains("\"error\":\"template: bad\""), "{line}");
    }

    #[test]
    fn a_full_deploy_and_a_status_read_plainly() {
        let mut timings = std::collections::BTreeMap::new();
        timings.insert("total", 1500.0);
        timings.insert("answer", 2000.0);
        let full = FullReport {
            ok: false,
            outcome: FullOutcome::Refused,
            stack: "app".into(),
            artifacts: Vec::new(),
            changes: Vec::new(),
            status: None,
            error: Some("it removes Table: --allow-removals".into()),
            reconciled: vec!["Hello".into()],
            verified: Vec::new(),
            builds: Vec::new(),
            timings_ms: timings,
        };
        assert_eq!(
            full_lines(&full).join("\n"),
            "  reconciled hot-patched function(s): Hello
REFUSED, nothing was executed: it removes Table: --allow-removals (1500 ms, and 2000 ms answering)"
        );
        assert_eq!(full.exit(), crate::error::Exit::NeedsFull);
        let status = StatusReport {
            ok: true,
            outcome: StatusOutcome::QuickDeploy,
            stack: "app".into(),
            stack_status: Some("UPDATE_COMPLETE".into()),
            needs_full: Vec::new(),
            artifacts: vec![artifact("shared", 1, None)],
            functions: vec![FunctionState {
                logical_id: "Hello".into(),
                name: "app-Hello".into(),
                artifact: "s3://b/quickdeploy/app/shared.zip".into(),
                live: Some(true),
                action: StatusAction::Quick,
                reason: None,
            }],
            not_served: Vec::new(),
            new_functions: Vec::new(),
            hot_patched: Default::default(),
            protected: None,
            last_change: Default::default(),
        };
        assert_eq!(
            status_lines(&status).join("\n"),
            "stack app (UPDATE_COMPLETE), artifacts in s3://b/quickdeploy/app/
  shared.zip  code-only change
      f0.py
  Hello                    app-Hello                                deploy would patch its artifact and update it"
        );
    }

    fn history_entry() -> crate::history::Entry {
        use crate::history::*;
        let mut e = Entry::new(Kind::Quick, Outcome::Failed);
        e.id = 12;
        e.at = "2026-01-01T12:00:00Z".into();
        e.who = "arn:aws:iam::123456789012:user/ana".into();
        e.git = Some(Git {
            commit: "1a2b3c4d5e6f7a8b9c0d".into(),
            dirty: true,
        });
        e.files = Files {
            added: 1,
            modified: 1,
            deleted: 0,
            paths: vec!["src/shared/a.py".into()],
            more: 1,
        };
        e.artifacts.push(ArtifactChange {
            artifact: "s3://b/quickdeploy/app/shared.zip".into(),
            before: Some(Code {
                version_id: Some("v1".into()),
                code_sha256: "AAAAAAAAAAAAAAAA".into(),
                manifest_version: None,
            }),
            after: Some(Code {
                version_id: Some("v2".into()),
                code_sha256: "BBBBBBBBBBBBBBBB".into(),
                manifest_version: None,
            }),
        });
        for (id, change) in [("Hello", Change::Updated), ("Greet", Change::Failed)] {
            e.functions.push(FunctionChange {
                logical_id: id.into(),
                name: Some(format!("app-{id}")),
                artifact: "s3://b/quickdeploy/app/shared.zip".into(),
                change,
                code_sha256: Some("BBBBBBBBBBBBBBBB".into()),
                version: (change == Change::Updated).then(|| "7".into()),
                aliases: vec!["live".into()],
                reason: (change == Change::Failed).then(|| "the update failed: boom".into()),
            });
        }
        e.timings_ms.insert("total".into(), 850.4);
        e
    }

    #[test]
    fn a_history_reads_as_a_timeline() {
        let mut rollback = crate::history::Entry::new(
            crate::history::Kind::Rollback,
            crate::history::Outcome::Deployed,
        );
        rollback.id = 13;
        rollback.at = "2026-01-01T12:05:00Z".into();
        rollback.who = "unknown".into();
        rollback.back_to = Some(11);
        rollback.undid = vec![12];
        let report = crate::report::HistoryReport {
            ok: true,
            stack: "app".into(),
            location: "s3://b/.quickdeploy/history/app.json".into(),
            kept: 13,
            entries: vec![rollback, history_entry()],
        };
        assert_eq!(
            history_lines(&report).join("\n"),
            "history of stack app, newest first (2 of 13 kept in s3://b/.quickdeploy/history/app.json); artifacts in s3://b/quickdeploy/app/
#13   2026-01-01T12:05:00Z  rollback deployed by unknown
      back to #11, undoing #12
#12   2026-01-01T12:00:00Z  quick    FAILED by arn:aws:iam::123456789012:user/ana, git 1a2b3c4d5e6f (dirty)
      2 files: 1 added, 1 modified: src/shared/a.py and 1 more
      shared.zip: version v1 -> v2 (CodeSha256 AAAAAAAAAAAA -> BBBBBBBBBBBB)
      updated Hello (version 7 -> live)
      FAILED Greet: the update failed: boom
      took 850 ms"
        );
        let empty = crate::report::HistoryReport {
            entries: Vec::new(),
            kept: 0,
            ..report
        };
        assert_eq!(
            history_lines(&empty),
            [
                "no deploys recorded for stack app (0 entries kept in s3://b/.quickdeploy/history/app.json)"
            ]
        );
        // status: one line under a function, with its last change.
        let last = crate::history::History {
            format: crate::history::FORMAT,
            stack: "app".into(),
            entries: vec![history_entry()],
        }
        .last_changes();
        assert_eq!(
            last_change(&last["Hello"]),
            "#12 quick 2026-01-01T12:00:00Z by user/ana, git 1a2b3c4d5e6f"
        );
        assert_eq!(
            last_change(&last["Greet"]),
            "#12 quick (FAILED) 2026-01-01T12:00:00Z by user/ana, git 1a2b3c4d5e6f"
        );
    }

    #[test]
    fn a_rollback_reads_as_artifacts_functions_and_a_verdict() {
        use crate::history::Code;
        let code = |v: &str| Code {
            version_id: Some(v.into()),
            code_sha256: format!("sha-{v}-0123456789"),
            manifest_version: None,
        };
        let mut hello = function("Hello", FunctionStatus::Updated, "");
        hello.rollout = Some(crate::update::Outcome {
            logical_id: "Hello".into(),
            name: "app-Hello".into(),
            updated: true,
            reason: None,
            code_sha256: Some("sha-v1-0123456789".into()),
            version: None,
            aliases: Vec::new(),
            layers: Vec::new(),
            retries: 0,
            update_ms: 30.0,
            wait_ms: 5.0,
        });
        let mut timings = std::collections::BTreeMap::new();
        for (k, v) in [
            ("read", 40.0),
            ("restore", 20.0),
            ("update", 50.0),
            ("total", 130.2),
        ] {
            timings.insert(k, v);
        }
        let artifact = |name: &str, from: &str, to: &str| RolledArtifact {
            artifact: format!("s3://b/quickdeploy/app/{name}.zip"),
            functions: Vec::new(),
            from: Some(code(from)),
            to: code(to),
            restored_version: None,
            note: None,
            error: None,
        };
        let mut shared = artifact("shared", "v3", "v1");
        shared.note = Some("not restored as the current version: Greet still run it".into());
        let mut report = artifact("report", "r2", "r1");
        report.restored_version = Some("r9".into());
        let mut r = RollbackReport {
            ok: false,
            outcome: RollbackOutcome::Failed,
            stack: "app".into(),
            back_to: Some(2),
            undone: vec![4, 3],
            crossed_full: Vec::new(),
            refused: None,
            artifacts: vec![shared, report],
            functions: vec![
                hello,
                function(
                    "Report",
                    FunctionStatus::Failed,
                    "RevisionId conflict: app-Report was changed",
                ),
            ],
            recorded: Some(5),
            timings_ms: timings,
        };
        assert_eq!(
            rollback_lines(&r).join("\n"),
            "stack app: back to history entry #2 (undoing #4, #3)
  shared.zip  version v1: not restored as the current version: Greet still run it
  report.zip  version r2 -> r1: restored as the current version (copy r9)
  rolled back Hello (app-Hello): CodeSha256 sha-v1-01234, update 30 ms, live after 5 ms more
  FAILED      Report (app-Report): RevisionId conflict: app-Report was changed
FAILED: 1 function(s) rolled back, 1 failed. read 40 ms, restore 20 ms, update 50 ms; total 130 ms (history entry #5)"
        );
        assert_eq!(r.exit(), crate::error::Exit::Failed);
        r.outcome = RollbackOutcome::Refused;
        r.refused = Some("this rollback crosses the full deploy #3".into());
        assert_eq!(
            rollback_lines(&r).last().map(String::as_str),
            Some("REFUSED, nothing was changed: this rollback crosses the full deploy #3")
        );
        assert_eq!(r.exit(), crate::error::Exit::NeedsFull);
        let v = serde_json::to_value(&r).expect("json");
        assert_eq!(v["outcome"], "refused");
        assert_eq!(v["functions"][0]["status"], "updated");
        assert_eq!(v["artifacts"][1]["restored_version"], "r9");
    }
}
