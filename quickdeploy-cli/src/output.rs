//! What the commands print: one JSON document on stdout with `--json`, or lines for people;
//! progress on stderr only when it is a terminal.

use std::io::IsTerminal as _;
use std::time::Duration;

use crate::commands::deploy::{Report, describe_patch};

/// Where and how a command reports.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// One JSON document on stdout instead of lines.
    pub json: bool,
    /// Draw a progress spinner on a terminal (off when the caller draws its own status line).
    pub spinner: bool,
}

impl Output {
    /// Output in the given format.
    pub fn new(json: bool) -> Self {
        Self {
            json,
            spinner: true,
        }
    }

    /// Prints a deploy report: artifacts, functions, errors several artifacts share, then
    /// the fallback or the verdict with phase times.
    pub fn deploy_report(&self, r: &Report) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(r)
                    .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
            );
            return;
        }
        let names: Vec<&str> = r.artifacts.iter().map(|a| a.artifact.as_str()).collect();
        let folder = common_folder(&names);
        if folder.is_empty() {
            println!("stack {}", r.stack);
        } else {
            println!("stack {}, artifacts in {folder}", r.stack);
        }
        for a in &r.artifacts {
            print_artifact(r, a, &a.artifact[folder.len()..]);
        }
        for f in &r.functions {
            println!(
                "  {:<8} {} ({}): {}",
                f.status,
                f.logical_id,
                f.name,
                function_detail(r, f)
            );
        }
        print_shared_errors(r, &folder);
        for s in &r.not_served {
            println!("  not served: {}: {}", s.logical_id, s.reason);
        }
        if let Some(full) = &r.full {
            println!("fell back to a full deploy, because:");
            for why in &r.needs_full {
                println!("  - {why}");
            }
            crate::commands::full::print(full, false);
            return;
        }
        if !r.needs_full.is_empty() {
            println!(
                "a full deploy is needed (run `quickdeploy full`, or deploy without --no-fallback):"
            );
            for why in &r.needs_full {
                println!("  - {why}");
            }
        }
        if let Some(why) = &r.refused {
            println!("not falling back: {why}");
        }
        let t = &r.timings_ms;
        println!(
            "{}. diff {:.0} ms, patch {:.0} ms, update {:.0} ms, wait {:.0} ms; total {:.0} ms",
            verdict(r),
            t.diff,
            t.patch,
            t.update,
            t.wait,
            t.total
        );
    }
}

/// True when `error` is the error of more than one artifact: said once, at the end.
fn shared(r: &Report, error: &str) -> bool {
    r.artifacts
        .iter()
        .filter(|a| a.error.as_deref() == Some(error))
        .count()
        > 1
}

fn print_artifact(r: &Report, a: &crate::commands::deploy::ArtifactReport, name: &str) {
    if a.added + a.modified + a.deleted == 0 && a.error.is_none() {
        println!("  {name}  unchanged");
        return;
    }
    println!(
        "  {name}  {}: {} ({} hashed, manifest from {})",
        a.change.describe(),
        counts(a.added, a.modified, a.deleted),
        plural(a.hashed, "file"),
        serde_json::to_value(a.manifest)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    );
    for p in a.paths.iter().take(10) {
        println!("      {p}");
    }
    if a.paths.len() > 10 {
        println!("      ... and {} more", a.paths.len() - 10);
    }
    if let Some(p) = &a.patch {
        println!("    {}", describe_patch(p));
    }
    match &a.error {
        Some(e) if shared(r, e) => println!("    patch FAILED (why: below)"),
        Some(e) => println!("    patch FAILED: {e}"),
        None => {}
    }
}

/// What happened to one function, in a few words.
fn function_detail(r: &Report, f: &crate::commands::deploy::FunctionReport) -> String {
    match (&f.rollout, f.status.as_str()) {
        (Some(o), "updated") => {
            let mut d = format!(
                "update {:.0} ms, live after {:.0} ms more",
                o.update_ms, o.wait_ms
            );
            if o.retries > 0 {
                d.push_str(&format!(
                    ", {} retr{}",
                    o.retries,
                    if o.retries == 1 { "y" } else { "ies" }
                ));
            }
            if let Some(v) = &o.version {
                d.push_str(&format!(", version {v} -> {}", o.aliases.join(", ")));
            }
            d
        }
        _ => match f.reason.as_deref() {
            Some(why) if why.strip_prefix(NOT_PATCHED).is_some_and(|e| shared(r, e)) => {
                "its artifact was not patched (why: below)".to_owned()
            }
            other => other.unwrap_or_default().to_owned(),
        },
    }
}

/// Each error several artifacts share, once, with the artifacts it stopped.
fn print_shared_errors(r: &Report, folder: &str) {
    let mut said: Vec<&str> = Vec::new();
    for a in &r.artifacts {
        if let Some(e) = a
            .error
            .as_deref()
            .filter(|e| shared(r, e) && !said.contains(e))
        {
            said.push(e);
            let which: Vec<&str> = r
                .artifacts
                .iter()
                .filter(|x| x.error.as_deref() == Some(e))
                .map(|x| &x.artifact[folder.len()..])
                .collect();
            println!("patch FAILED for {}: {e}", which.join(", "));
        }
    }
}

/// The last line's first words.
fn verdict(r: &Report) -> String {
    match r.outcome {
        "deployed" => {
            let n = r.functions.iter().filter(|f| f.status == "updated").count();
            format!("deployed: {n} function(s) updated")
        }
        "nothing-to-deploy" => "nothing to deploy: every function runs its artifact".into(),
        "needs-full" => "not deployed: needs a full deploy".into(),
        _ => {
            let live = r.functions.iter().filter(|f| f.status != "failed").count();
            let failed = r.functions.len() - live;
            format!("FAILED: {live} function(s) live, {failed} failed")
        }
    }
}

/// A one-line spinner on stderr, shown only on a terminal and never with `--json`.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    /// Starts the spinner if stderr is a terminal.
    pub fn new(out: &Output) -> Self {
        let bar = (out.spinner && !out.json && std::io::stderr().is_terminal()).then(|| {
            let b = indicatif::ProgressBar::new_spinner();
            // The elapsed time shows that a slow call is slow, not hung.
            if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}")
            {
                b.set_style(style);
            }
            b.enable_steady_tick(Duration::from_millis(80));
            b
        });
        Self { bar }
    }

    /// Shows what is happening now.
    pub fn say(&self, msg: &str) {
        if let Some(b) = &self.bar {
            b.set_message(msg.to_owned());
        }
    }

    /// A warning that must not be lost in the spinner.
    pub fn warn(&self, msg: &str) {
        match &self.bar {
            Some(b) => b.suspend(|| eprintln!("warning: {msg}")),
            None => eprintln!("warning: {msg}"),
        }
    }

    /// Clears the spinner.
    pub fn done(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// What a function's reason starts with when its artifact's patch failed (deploy writes it).
pub const NOT_PATCHED: &str = "its artifact was not patched: ";

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

/// Now, as RFC 3339 in UTC (`2026-12-01T16:30:58Z`), the one timestamp format of `--json`.
pub fn now_rfc3339() -> String {
    aws_smithy_types::DateTime::from(std::time::SystemTime::now())
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
