//! Everything the commands print: the reports for people (lines built from the typed reports
//! of `crate::report`, tested as golden text), the reports as JSON, and the [`terminal::Terminal`] that
//! shows an operation's progress. Lines go to stdout through [`print_line`], which ends
//! quietly on a closed pipe; progress and questions go to stderr.
//!
//! May use: `report`, `ops` (its `Ui`, `Event` and the reports of `bootstrap`, `destroy` and
//! `patch-zip`) and the folders below. Must not: do any of the work (it only formats), or be
//! used by anything but `commands`.

pub mod deploy;
#[cfg(test)]
mod fixtures;
pub mod full;
pub mod history;
pub mod setup;
pub mod targets;
pub mod terminal;
pub mod timeline;

use std::io::Write as _;

use serde::Serialize;

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

/// How a function is named on a line: its logical id, or for a CDK app's function its
/// construct path (the name in the app's code) with its logical id.
pub fn function_label(logical_id: &str, construct_path: Option<&str>) -> String {
    match construct_path {
        Some(p) => format!("{p} [{logical_id}]"),
        None => logical_id.to_owned(),
    }
}
/// The first 12 characters of a CodeSha256, enough to tell versions apart on screen.
pub fn short_sha(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
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
