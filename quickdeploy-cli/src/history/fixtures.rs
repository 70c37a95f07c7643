//! Histories for the tests of this folder: entries changing named functions of one artifact.

use super::entry::{
    ArtifactChange, Change, Code, Entry, FunctionChange, History, KEEP, Kind, Outcome,
};

pub fn code(v: &str) -> Code {
    Code {
        version_id: Some(v.to_owned()),
        code_sha256: format!("sha-{v}"),
        manifest_version: None,
    }
}

/// An entry changing `functions` of artifact `art` from version `from` to `to`.
pub fn entry(kind: Kind, art: &str, from: Option<&str>, to: &str, functions: &[&str]) -> Entry {
    let mut e = Entry::new(kind, Outcome::Deployed);
    e.at = "2026-01-01T00:00:00Z".into();
    e.who = "arn:aws:iam::1:user/me".into();
    e.artifacts.push(ArtifactChange {
        artifact: art.into(),
        before: from.map(code),
        after: Some(code(to)),
    });
    e.functions = functions
        .iter()
        .map(|f| FunctionChange {
            logical_id: (*f).into(),
            name: Some(format!("app-{f}")),
            artifact: art.into(),
            change: Change::Updated,
            code_sha256: Some(format!("sha-{to}")),
            version: None,
            aliases: Vec::new(),
            reason: None,
        })
        .collect();
    e
}

/// #1 full (shared s1, report r1), #2 quick shared s2, #3 quick report r2, #4 quick
/// shared s3.
pub fn history() -> History {
    let mut h = History::new("app");
    let mut full = entry(
        Kind::Full,
        "s3://b/shared.zip",
        None,
        "s1",
        &["Hello", "Greet"],
    );
    let report = entry(Kind::Full, "s3://b/report.zip", None, "r1", &["Report"]);
    full.artifacts.extend(report.artifacts);
    full.functions.extend(report.functions);
    h.append(full, KEEP);
    h.append(
        entry(
            Kind::Quick,
            "s3://b/shared.zip",
            Some("s1"),
            "s2",
            &["Hello", "Greet"],
        ),
        KEEP,
    );
    h.append(
        entry(
            Kind::Quick,
            "s3://b/report.zip",
            Some("r1"),
            "r2",
            &["Report"],
        ),
        KEEP,
    );
    h.append(
        entry(
            Kind::Quick,
            "s3://b/shared.zip",
            Some("s2"),
            "s3",
            &["Hello", "Greet"],
        ),
        KEEP,
    );
    h
}
