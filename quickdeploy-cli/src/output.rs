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

    /// Prints a deploy report.
    pub fn deploy_report(&self, r: &Report) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(r)
                    .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
            );
            return;
        }
        println!("stack {}", r.stack);
        for a in &r.artifacts {
            println!(
                "  {}  {}: {} added, {} modified, {} deleted ({} file(s) hashed, manifest from {})",
                a.artifact,
                a.change.describe(),
                a.added,
                a.modified,
                a.deleted,
                a.hashed,
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
            if let Some(e) = &a.error {
                println!("    patch FAILED: {e}");
            }
        }
        for f in &r.functions {
            let detail = match (&f.rollout, f.status.as_str()) {
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
                _ => f.reason.clone().unwrap_or_default(),
            };
            println!("  {:<8} {} ({}): {detail}", f.status, f.logical_id, f.name);
        }
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
        let verdict = match r.outcome {
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
        };
        println!(
            "{verdict}. diff {:.0} ms, patch {:.0} ms, update {:.0} ms, wait {:.0} ms; total {:.0} ms",
            t.diff, t.patch, t.update, t.wait, t.total
        );
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
