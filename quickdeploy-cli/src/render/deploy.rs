//! The lines of `deploy` and `status`: per artifact what was sent and patched, per function
//! what happened, and the verdict; `status` says what `deploy` would do now.

use zipedit::event::PatchAnswer;

use super::full::full_lines;
use super::history::last_change;
use super::{common_folder, counts, human_bytes, plural, short_sha};
use crate::build::method::DependencySource;
use crate::report::{
    ArtifactReport, DeployOutcome, DeployReport, FunctionReport, FunctionStatus, StatusAction,
    StatusReport,
};

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
            super::function_label(&f.logical_id, f.construct_path.as_deref()),
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
        out.extend(r.timeline.iter().flat_map(super::timeline::timeline_lines));
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
    out.extend(r.timeline.iter().flat_map(super::timeline::timeline_lines));
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
                .and_then(|why| why.strip_prefix(crate::ops::deploy::decide::NOT_PATCHED));
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
        .filter(|f| f.sent != crate::artifact::encode::Sent::Whole)
        .take(3)
        .map(|f| {
            let base = match f.base {
                Some(crate::artifact::bases::Origin::Cache) => ", base from the local cache",
                Some(crate::artifact::bases::Origin::Artifact) => ", base read from the artifact",
                None => "",
            };
            let kind = match f.sent {
                crate::artifact::encode::Sent::Delta => "delta",
                crate::artifact::encode::Sent::Splice => "splice",
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
        .filter(|f| f.sent != crate::artifact::encode::Sent::Whole)
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
    for b in &status.builds {
        out.push(format!(
            "  built {} by {} for {}{}{}",
            b.ids.join(", "),
            b.method,
            b.architecture,
            match b.dependencies {
                DependencySource::None => "",
                DependencySource::Cached => " (dependencies from the cache)",
                DependencySource::Installed => " (dependencies installed)",
            },
            if b.skipped {
                ", not run again: nothing it is built from changed"
            } else {
                ""
            }
        ));
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
        out.push(format!(
            "  {:<24} {:<40} {what}{why}",
            super::function_label(&f.logical_id, f.construct_path.as_deref()),
            f.name
        ));
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

#[cfg(test)]
mod tests {
    use super::*;

    use crate::render::fixtures::{artifact, deploy_report, function};
    use crate::render::terminal::round_lines;
    use crate::report::*;

    #[test]
    fn what_went_over_the_wire_is_one_line_naming_deltas_and_their_base() {
        let mut a = artifact("rust", 1, None);
        assert_eq!(sent_line(&a), None, "nothing sent to a patcher");
        a.request_bytes = Some(74_000);
        a.staged_bytes = Some(1_000);
        a.base_bytes = Some(4_300_000);
        a.files = vec![SentFile {
            path: "bootstrap".into(),
            sent: crate::artifact::encode::Sent::Delta,
            size: 13_014_032,
            bytes: 72_864,
            base: Some(crate::artifact::bases::Origin::Artifact),
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
    fn a_cdk_function_reads_as_its_construct_path_with_its_logical_id() {
        let mut r = deploy_report();
        r.functions[1].logical_id = "Reports/reportFunction5A0E5255".into();
        r.functions[1].construct_path = Some("QdCdkJobs/Reports/reportFunction".into());
        let lines = deploy_lines(&r);
        assert!(
            lines.contains(
                &"  skipped  QdCdkJobs/Reports/reportFunction [Reports/reportFunction5A0E5255] (app-Report): already runs this artifact".to_owned()
            ),
            "{lines:#?}"
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
        let reason = format!("{}{e}", crate::ops::deploy::decide::NOT_PATCHED);
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
}
