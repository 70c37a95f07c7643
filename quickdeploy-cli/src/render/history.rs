//! The lines of `history` (a timeline of entries) and `rollback` (what went back where).

use super::{common_folder, counts, plural, short_sha};
use crate::report::{FunctionReport, FunctionStatus};

/// `#5 rollback 2026-01-01T00:00:00Z by user/me, git 1a2b3c4d5e6f`: a function's last
/// change, for `status`.
pub fn last_change(last: &crate::history::entry::LastChange) -> String {
    let failed = match last.change {
        crate::history::entry::Change::Updated => "",
        crate::history::entry::Change::Failed => " (FAILED)",
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
fn entry_lines(e: &crate::history::entry::Entry, folder: &str) -> Vec<String> {
    use crate::history::entry::{Change, Outcome};
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
    let code = |c: &Option<crate::history::entry::Code>| match c {
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
    format!(
        "  {word:<11} {} ({}): {detail}",
        super::function_label(&f.logical_id, f.construct_path.as_deref()),
        f.name
    )
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
    use crate::render::fixtures::function;
    use crate::report::*;

    fn history_entry() -> crate::history::entry::Entry {
        use crate::history::entry::*;
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
        let mut rollback = crate::history::entry::Entry::new(
            crate::history::entry::Kind::Rollback,
            crate::history::entry::Outcome::Deployed,
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
        let last = crate::history::entry::History {
            format: crate::history::entry::FORMAT,
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
        use crate::history::entry::Code;
        let code = |v: &str| Code {
            version_id: Some(v.into()),
            code_sha256: format!("sha-{v}-0123456789"),
            manifest_version: None,
        };
        let mut hello = function("Hello", FunctionStatus::Updated, "");
        hello.rollout = Some(crate::lambda::update::Outcome {
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
