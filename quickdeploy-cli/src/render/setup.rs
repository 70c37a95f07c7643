//! The lines of the commands that set up and take down: `bootstrap`, `destroy`, and the local
//! `patch-zip`.

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
