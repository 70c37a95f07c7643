//! `bootstrap`: install the zipedit patcher in an account and region, once: an artifact
//! bucket (made when missing), the patcher's code in it (content-addressed, uploaded once), and
//! the patcher stack from `cfn/zipedit.yaml` (created, updated, or left as it is).

pub mod package;

mod bucket;

use anyhow::{Context, bail};
use aws_sdk_s3::primitives::ByteStream;
use serde::Serialize;

use crate::artifact::manifest::sha256_hex;
use crate::aws::Clients;
use crate::error::Error;
use crate::ops::{Event, Ui};
use crate::stack::changeset;
use bucket::{Presence, answered, ensure_bucket, status_text};
use package::{CodeSource, Package};

/// The patcher stack's default name; later commands look for the bucket there.
pub const STACK: &str = crate::project::config::BOOTSTRAP_STACK;

/// The patcher's template, built in so bootstrap works from any folder.
const TEMPLATE: &str = include_str!("../../../../cfn/zipedit.yaml");

/// What to install, and where.
#[derive(Debug, Clone)]
pub struct Options {
    /// The patcher's code.
    pub code: CodeSource,
    /// The artifact bucket; `None`: quickdeploy-artifacts-ACCOUNT-REGION.
    pub bucket: Option<String>,
    /// The patcher's instruction set (`arm64`, `x86_64`); must match the code.
    pub arch: String,
    /// The patcher's function name.
    pub function_name: String,
    /// The patcher stack's name.
    pub stack: String,
}

/// What bootstrap did to the patcher stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The stack was made.
    Created,
    /// The stack was changed.
    Updated,
    /// Same template, same parameters: nothing to change.
    Unchanged,
}

/// What `bootstrap` did, as `--json` prints it (docs/json.md).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Always true (a failure is an error).
    pub ok: bool,
    /// What happened to the stack.
    pub outcome: Outcome,
    /// The patcher stack.
    pub stack: String,
    /// The patcher's function name.
    pub patcher: String,
    /// The artifact bucket.
    pub bucket: String,
    /// The bucket was made now.
    pub bucket_created: bool,
    /// `s3://bucket/key` of the code.
    pub code: String,
    /// The code's CodeSha256 (base64).
    pub code_sha256: String,
    /// The code was uploaded now (false: the same code was there).
    pub code_uploaded: bool,
    /// The local package or binary the code came from.
    pub source: String,
    /// The stack's status after a change.
    pub status: Option<String>,
}

/// Installs the patcher: the bucket, the code, the stack. Progress (the stack's events) goes
/// to `ui` as lines. A failure is `BootstrapFailed` (exit 1).
pub async fn bootstrap(
    clients: &Clients,
    opts: &Options,
    package: Package,
    ui: &dyn Ui,
) -> Result<Report, Error> {
    install(clients, opts, package, ui)
        .await
        .map_err(|e| Error::failed("BootstrapFailed", e))
}

async fn install(
    clients: &Clients,
    opts: &Options,
    package: Package,
    ui: &dyn Ui,
) -> anyhow::Result<Report> {
    ui.event(Event::Step("checking the artifact bucket"));
    let (bucket, bucket_created) = artifact_bucket(clients, opts).await?;
    let code_sha256 = zipedit::code_sha256(&package.zip);
    ui.event(Event::Step("uploading the patcher's code"));
    let code = upload_code(&clients.s3, &bucket, package.zip).await?;
    let params = parameters(opts, &bucket, &code);
    let mut report = Report {
        ok: true,
        outcome: Outcome::Unchanged,
        stack: opts.stack.clone(),
        patcher: opts.function_name.clone(),
        code: format!("s3://{bucket}/{}", code.key),
        bucket,
        bucket_created,
        code_sha256,
        code_uploaded: code.uploaded,
        source: package.source.display().to_string(),
        status: None,
    };
    ui.event(Event::Step("comparing the patcher stack"));
    let Some(created) = change_set(clients, opts, &params).await? else {
        return Ok(report);
    };
    ui.event(Event::Step("updating the patcher stack"));
    let on_event = |line: &str| ui.event(Event::Line(line));
    let done = changeset::execute(&clients.cfn, &opts.stack, &created, &on_event).await?;
    report.status = Some(done.status.clone());
    if done.rolled_back || !done.failed.is_empty() {
        bail!(
            "the patcher stack {} ended {}: {}",
            opts.stack,
            done.status,
            done.failed.join("; ")
        );
    }
    report.outcome = if created.create {
        Outcome::Created
    } else {
        Outcome::Updated
    };
    Ok(report)
}

/// The bucket named, or the account's default one; made when missing. True when made.
async fn artifact_bucket(clients: &Clients, opts: &Options) -> anyhow::Result<(String, bool)> {
    let region = clients
        .config
        .region()
        .map(|r| r.to_string())
        .unwrap_or_default();
    let name = match &opts.bucket {
        // A named bucket that does not exist yet is made as the default one would be.
        Some(b) => b.clone(),
        None => {
            let sts = aws_sdk_sts::Client::new(&clients.config);
            let account = sts
                .get_caller_identity()
                .send()
                .await
                .map_err(crate::aws::err)
                .context("cannot tell the account (sts:GetCallerIdentity)")?
                .account()
                .context("GetCallerIdentity named no account")?
                .to_owned();
            format!("quickdeploy-artifacts-{account}-{region}")
        }
    };
    let created = ensure_bucket(&clients.s3, &name, &region).await?;
    Ok((name, created))
}

/// The code's place in the bucket.
#[derive(Debug)]
struct Code {
    key: String,
    /// Its version, when the bucket keeps versions.
    version: Option<String>,
    /// Uploaded now.
    uploaded: bool,
}

/// Uploads the code unless it is there already. Content-addressed: the same code is the same
/// key, so a second run uploads nothing. Only a not-found answer to HeadObject counts as
/// missing; any other stops here, with nothing uploaded.
async fn upload_code(s3: &aws_sdk_s3::Client, bucket: &str, zip: Vec<u8>) -> anyhow::Result<Code> {
    let key = format!(
        "quickdeploy/patcher/zipedit-{}.zip",
        &sha256_hex(&zip)[..16]
    );
    let version = |v: Option<&str>| v.map(str::to_owned).filter(|v| v != "null");
    let head = s3.head_object().bucket(bucket).key(&key).send().await;
    match (answered(&head), head) {
        (_, Ok(h)) => {
            return Ok(Code {
                version: version(h.version_id()),
                key,
                uploaded: false,
            });
        }
        (Presence::Missing, Err(_)) => {}
        (_, Err(e)) => {
            let answer = status_text(&e);
            return Err(crate::aws::err(e).context(format!(
                "cannot tell whether the patcher's code is at s3://{bucket}/{key} \
                 (s3:HeadObject {answer}), so nothing was uploaded. Fix: allow these credentials \
                 s3:GetObject on the bucket's objects and s3:ListBucket on {bucket} (without \
                 it S3 answers 403 for a missing object), or pass --bucket with one they may \
                 use"
            )));
        }
    }
    let put = s3
        .put_object()
        .bucket(bucket)
        .key(&key)
        .body(ByteStream::from(zip))
        .send()
        .await
        .map_err(crate::aws::err)
        .with_context(|| format!("cannot upload the patcher to s3://{bucket}/{key}"))?;
    Ok(Code {
        version: version(put.version_id()),
        key,
        uploaded: true,
    })
}

/// The patcher stack's parameters.
fn parameters(opts: &Options, bucket: &str, code: &Code) -> Vec<(String, String)> {
    vec![
        ("ArtifactBucketNames".to_owned(), bucket.to_owned()),
        ("CodeBucket".to_owned(), bucket.to_owned()),
        ("CodeKey".to_owned(), code.key.clone()),
        (
            "CodeObjectVersion".to_owned(),
            code.version.clone().unwrap_or_default(),
        ),
        ("Architecture".to_owned(), opts.arch.clone()),
        ("FunctionName".to_owned(), opts.function_name.clone()),
    ]
}

/// The change set to run, or `None` when the deployed stack has the same template and
/// parameters (no change set is made for it) or the change set holds no changes.
async fn change_set(
    clients: &Clients,
    opts: &Options,
    params: &[(String, String)],
) -> anyhow::Result<Option<changeset::Created>> {
    let deployed = crate::stack::deployed::describe(&clients.cfn, &opts.stack).await?;
    let same = deployed.as_ref().is_some_and(|d| {
        crate::project::template::Template::parse(TEMPLATE).is_ok_and(|t| t == d.template)
            && params
                .iter()
                .all(|(k, v)| same_value(d.parameters.get(k).map(String::as_str).unwrap_or(""), v))
            && !d.status.contains("ROLLBACK")
    });
    if same {
        return Ok(None);
    }
    changeset::create(
        &clients.cfn,
        &opts.stack,
        TEMPLATE,
        params,
        false,
        deployed.is_some(),
    )
    .await
}

/// Parameter values compared item by item, so a list parameter echoed back in another
/// spelling (moto answers `['a', 'b']` for `a,b`) still compares equal.
fn same_value(deployed: &str, ours: &str) -> bool {
    let items = |s: &str| -> Vec<String> {
        s.trim_matches(|c| c == '[' || c == ']')
            .split(',')
            .map(|i| i.trim().trim_matches(|c| c == '\'' || c == '"').to_owned())
            .collect()
    };
    deployed == ours || items(deployed) == items(ours)
}

#[cfg(test)]
mod tests {
    use super::bucket::presence;
    use super::package::find_package;
    use super::*;

    #[test]
    fn the_package_is_the_first_found_and_a_miss_names_every_place_and_the_fix() {
        let a = tempfile::tempdir().expect("tmp");
        let b = tempfile::tempdir().expect("tmp");
        let dirs = [a.path().to_path_buf(), b.path().to_path_buf()];
        let err = find_package(&dirs, "arm64").expect_err("nothing installed");
        let text = format!("{err:#}");
        for d in &dirs {
            assert!(
                text.contains(&d.join("zipedit-arm64.zip").display().to_string()),
                "{text}"
            );
        }
        assert!(
            text.contains("make install") && text.contains("--code"),
            "{text}"
        );
        std::fs::write(b.path().join("zipedit-arm64.zip"), b"b").expect("write");
        assert_eq!(
            find_package(&dirs, "arm64").expect("found"),
            dirs[1].join("zipedit-arm64.zip")
        );
        std::fs::write(a.path().join("zipedit-arm64.zip"), b"a").expect("write");
        assert_eq!(
            find_package(&dirs, "arm64").expect("found"),
            dirs[0].join("zipedit-arm64.zip")
        );
        // Another architecture's package is not taken.
        assert!(find_package(&dirs, "x86_64").is_err());
    }

    #[test]
    fn list_parameters_compare_by_items() {
        assert!(same_value("['a', 'b']", "a,b"));
        assert!(same_value("a", "a"));
        assert!(!same_value("['a']", "a,b"));
    }

    #[test]
    fn only_a_not_found_answer_means_missing() {
        assert_eq!(presence(Some(200), None), Presence::Present);
        assert_eq!(presence(Some(404), None), Presence::Missing);
        assert_eq!(presence(Some(404), Some("NotFound")), Presence::Missing);
        assert_eq!(presence(None, Some("NoSuchKey")), Presence::Missing);
        assert_eq!(presence(Some(404), Some("NoSuchBucket")), Presence::Missing);
        // A 403 is no right to read (or to list, which hides a missing object): not known.
        assert_eq!(presence(Some(403), None), Presence::Unknown);
        assert_eq!(presence(Some(403), Some("AccessDenied")), Presence::Unknown);
        assert_eq!(presence(Some(403), Some("Forbidden")), Presence::Unknown);
        assert_eq!(presence(Some(503), Some("SlowDown")), Presence::Unknown);
        assert_eq!(presence(Some(301), None), Presence::Unknown);
        // No answer at all (timeout, refused connection).
        assert_eq!(presence(None, None), Presence::Unknown);
    }
}
