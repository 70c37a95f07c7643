//! A command run on several targets, for people: each target's lines under its name (the
//! command's own lines, indented), then the total.

use crate::report::targets::{TargetReport, TargetsReport};

/// Prints a command's report per target: as one JSON document, or [`targets_lines`].
pub fn print_targets<T: serde::Serialize>(
    json: bool,
    r: &TargetsReport<T>,
    lines: impl Fn(&T) -> Vec<String>,
) {
    match json {
        true => super::print_json(r),
        false => super::print_lines(&targets_lines(r, lines)),
    }
}

/// Each target's lines (`lines` renders one target's report as the command does without
/// targets), then one total line naming the targets that failed.
pub fn targets_lines<T>(r: &TargetsReport<T>, lines: impl Fn(&T) -> Vec<String>) -> Vec<String> {
    let mut out = Vec::new();
    for t in &r.targets {
        out.push(heading(t));
        if let Some(report) = &t.report {
            out.extend(lines(report).into_iter().map(|l| format!("  {l}")));
        }
        if let Some(e) = &t.error {
            out.push(format!("  error: {}", e.message));
        }
    }
    let n = r.targets.len();
    let ok = n - r.failed.len();
    let mut total = if r.failed.is_empty() {
        format!("{n} target(s), all ok")
    } else {
        format!(
            "{n} target(s): {ok} ok, {} failed ({})",
            r.failed.len(),
            r.failed.join(", ")
        )
    };
    if let Some(l) = &r.local {
        total.push_str(&format!(
            "; local side once: {} scan(s), {} file(s) hashed, {} encoded, {} reused",
            l.scans, l.hashed, l.encoded, l.reused
        ));
    }
    total.push_str(&format!(" in {:.1} s", r.total_ms / 1000.0));
    out.push(total);
    out
}

fn heading<T>(t: &TargetReport<T>) -> String {
    let state = if t.ok {
        "ok".to_owned()
    } else {
        format!("failed (exit {})", t.exit)
    };
    format!(
        "target {} ({}, stack {}): {state}, {:.1} s",
        t.target,
        t.region,
        t.stack,
        t.ms / 1000.0
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Exit;
    use crate::report::targets::LocalWork;

    #[test]
    fn golden_lines_per_target_and_the_total() {
        let mut r = TargetsReport::of(
            vec![
                TargetReport::done(
                    "dev",
                    "us-east-1",
                    "app",
                    "live".to_owned(),
                    Exit::Success,
                    1234.0,
                ),
                TargetReport::error(
                    "prod",
                    "eu-west-1",
                    "app",
                    "DeployFailed",
                    "patch failed: AccessDenied".into(),
                    Exit::Failed,
                    800.0,
                ),
            ],
            1500.0,
        );
        r.local = Some(LocalWork {
            scans: 2,
            hashed: 1,
            encoded: 1,
            reused: 3,
        });
        let lines = targets_lines(&r, |s: &String| vec![format!("updated {s}")]);
        assert_eq!(
            lines,
            [
                "target dev (us-east-1, stack app): ok, 1.2 s",
                "  updated live",
                "target prod (eu-west-1, stack app): failed (exit 1), 0.8 s",
                "  error: patch failed: AccessDenied",
                "2 target(s): 1 ok, 1 failed (prod); local side once: 2 scan(s), 1 file(s) hashed, 1 encoded, 3 reused in 1.5 s",
            ]
        );
    }
}
