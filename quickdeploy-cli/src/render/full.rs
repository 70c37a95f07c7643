//! The lines of `full`: the artifacts uploaded or unchanged, the change set, the functions
//! verified.

use super::{human_bytes, short_sha};
use crate::report::{FullOutcome, FullReport, Uploaded};

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
    changes: &[crate::stack::change::Planned],
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::deploy::status_lines;
    use crate::render::fixtures::artifact;
    use crate::report::*;

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
        let built = crate::build::decide::Built {
            ids: vec!["Deps".into()],
            method: "python3.12".into(),
            architecture: "arm64".into(),
            dependencies: crate::build::method::DependencySource::Cached,
            cache_key: Some("k".into()),
            copied: 0,
            removed: 0,
            ms: 1.0,
            skipped: false,
            ran_because: None,
        };
        let not_run = crate::build::decide::Built {
            ids: vec!["Fn".into()],
            method: "rust-cargolambda".into(),
            architecture: "x86_64".into(),
            dependencies: crate::build::method::DependencySource::None,
            skipped: true,
            ..built.clone()
        };
        let status = StatusReport {
            builds: vec![built, not_run],
            ok: true,
            outcome: StatusOutcome::QuickDeploy,
            stack: "app".into(),
            stack_status: Some("UPDATE_COMPLETE".into()),
            needs_full: Vec::new(),
            artifacts: vec![artifact("shared", 1, None)],
            functions: vec![FunctionState {
                logical_id: "Hello".into(),
                construct_path: None,
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
  built Deps by python3.12 for arm64 (dependencies from the cache)
  built Fn by rust-cargolambda for x86_64, not run again: nothing it is built from changed
  Hello                    app-Hello                                deploy would patch its artifact and update it"
        );
    }
}
