//! `destroy`: remove what `bootstrap` installed: the patcher stack and, only when named, the
//! versioned artifact bucket with every version in it.
//!
//! In three steps, so consent sits between reading and changing: [`plan`] reads what would go
//! (nothing changes), [`consent`] says whether it may go or what to ask, [`destroy`] removes it.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use aws_sdk_cloudformation::error::ProvideErrorMetadata as _;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use serde::Serialize;

use crate::aws::Clients;
use crate::error::Error;
use crate::ops::{Event, Ui};

/// S3 DeleteObjects takes at most this many keys per call.
const DELETE_BATCH: usize = 1000;

/// What to remove.
#[derive(Debug, Clone)]
pub struct Options {
    /// The patcher stack's name.
    pub stack: String,
    /// Also empty and delete this bucket (never a default).
    pub delete_bucket: Option<String>,
}

/// What `destroy` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Something was removed.
    Destroyed,
    /// Neither the stack nor a named bucket was there.
    #[default]
    Nothing,
}

/// What `destroy` did, as `--json` prints it (docs/json.md).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Always true (a failure is an error).
    pub ok: bool,
    /// `destroyed`, or `nothing`.
    pub outcome: Outcome,
    /// The patcher stack.
    pub stack: String,
    /// The stack was deleted.
    pub stack_deleted: bool,
    /// The stack's last status (`DELETE_COMPLETE`), when it existed.
    pub stack_status: Option<String>,
    /// The bucket named to go.
    pub bucket: Option<String>,
    /// It was deleted.
    pub bucket_deleted: bool,
    /// Object versions deleted from it.
    pub versions_deleted: u64,
    /// Delete markers deleted from it.
    pub delete_markers_deleted: u64,
    /// Unfinished multipart uploads aborted in it.
    pub uploads_aborted: u64,
}

/// What is there to remove, read before anything changes.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The stack's name.
    pub stack: String,
    /// The stack's id (its ARN), when it exists: after deletion only the id describes it.
    pub stack_id: Option<String>,
    /// `logical id (type) physical id` of each of the stack's resources.
    pub resources: Vec<String>,
    /// The named bucket, when there is one (it exists: [`plan`] checked).
    pub bucket: Option<BucketPlan>,
}

/// A bucket to empty and delete.
#[derive(Debug, Clone)]
pub struct BucketPlan {
    /// Its name.
    pub name: String,
    /// Its object versions.
    pub versions: u64,
    /// Its delete markers.
    pub markers: u64,
}

impl Plan {
    /// Nothing to remove: no stack, no bucket named.
    pub fn is_empty(&self) -> bool {
        self.stack_id.is_none() && self.bucket.is_none()
    }

    /// What goes, in one line: `stack X and bucket B (n object versions, m delete markers)`.
    pub fn what(&self) -> String {
        let mut parts = Vec::new();
        if self.stack_id.is_some() {
            parts.push(format!("stack {}", self.stack));
        }
        if let Some(b) = &self.bucket {
            parts.push(format!(
                "bucket {} ({} object versions, {} delete markers)",
                b.name, b.versions, b.markers
            ));
        }
        parts.join(" and ")
    }
}

/// A question to ask before removing anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// What goes, one line each (resources indented under their stack).
    pub details: Vec<String>,
    /// The prompt: `remove it? [y/N]`, or asking for the bucket's name.
    pub prompt: String,
    /// The answer that consents: `y`, or the bucket's whole name.
    pub expected: String,
}

impl Question {
    /// Whether `answer` (as typed, a line) consents. A bucket goes only when its whole name
    /// is typed; a stack alone with `y`, `Y` or `yes`.
    pub fn accepts(&self, answer: &str) -> bool {
        let answer = answer.trim();
        answer == self.expected || (self.expected == "y" && matches!(answer, "Y" | "yes"))
    }
}

/// Consent: given with `yes` (or when there is nothing to remove: `Ok(None)`); else, on a
/// terminal, the question to ask; without one, refused (exit 3), nothing changed.
pub fn consent(plan: &Plan, yes: bool, terminal: bool) -> Result<Option<Question>, Error> {
    if yes || plan.is_empty() {
        return Ok(None);
    }
    if !terminal {
        return Err(refused(anyhow!(
            "destroy removes {}, and without a terminal quickdeploy does not remove what it was \
             not asked to: re-run with --yes",
            plan.what()
        )));
    }
    let mut details = Vec::new();
    if plan.stack_id.is_some() {
        details.push(format!("stack {}:", plan.stack));
        details.extend(plan.resources.iter().map(|r| format!("  {r}")));
    }
    let (prompt, expected) = match &plan.bucket {
        Some(b) => {
            details.push(format!(
                "bucket {}: {} object versions and {} delete markers, all deleted for good",
                b.name, b.versions, b.markers
            ));
            (
                format!("type the bucket's name ({}) to remove all of this:", b.name),
                b.name.clone(),
            )
        }
        None => ("remove it? [y/N]".to_owned(), "y".to_owned()),
    };
    Ok(Some(Question {
        details,
        prompt,
        expected,
    }))
}

/// Not done for want of consent (exit 3, `Refused`).
pub fn refused(error: anyhow::Error) -> Error {
    Error::Refused {
        kind: "Refused",
        error,
    }
}

/// Reads what would be removed; changes nothing. A named bucket that does not exist is bad
/// input (exit 2, `BucketNotFound`): the user meant something else.
pub async fn plan(clients: &Clients, opts: &Options) -> Result<Plan, Error> {
    let failed = |e: anyhow::Error| Error::failed("DestroyFailed", e);
    let stack_id = stack_id(&clients.cfn, &opts.stack).await.map_err(failed)?;
    let resources = match stack_id {
        Some(_) => resources(&clients.cfn, &opts.stack).await.map_err(failed)?,
        None => Vec::new(),
    };
    let bucket = match &opts.delete_bucket {
        None => None,
        Some(b) => {
            check_bucket(&clients.s3, b).await?;
            let (versions, markers) = count_versions(&clients.s3, b).await.map_err(failed)?;
            Some(BucketPlan {
                name: b.clone(),
                versions,
                markers,
            })
        }
    };
    Ok(Plan {
        stack: opts.stack.clone(),
        stack_id,
        resources,
        bucket,
    })
}

/// The stack's id, `None` when it does not exist (or is deleted).
async fn stack_id(
    cfn: &aws_sdk_cloudformation::Client,
    stack: &str,
) -> anyhow::Result<Option<String>> {
    match cfn.describe_stacks().stack_name(stack).send().await {
        Ok(d) => Ok(d
            .stacks()
            .first()
            .filter(|s| {
                s.stack_status()
                    .is_some_and(|st| st.as_str() != "DELETE_COMPLETE")
            })
            .and_then(|s| s.stack_id().map(str::to_owned))),
        Err(e)
            if e.code() == Some("ValidationError")
                && e.message().is_some_and(|m| m.contains("does not exist")) =>
        {
            Ok(None)
        }
        Err(e) => Err(crate::aws::err(e).context(format!(
            "cannot read stack {stack} (cloudformation:DescribeStacks)"
        ))),
    }
}

/// `logical id (type) physical id` of each of the stack's resources.
async fn resources(
    cfn: &aws_sdk_cloudformation::Client,
    stack: &str,
) -> anyhow::Result<Vec<String>> {
    let r = cfn
        .describe_stack_resources()
        .stack_name(stack)
        .send()
        .await
        .map_err(crate::aws::err)
        .with_context(|| {
            format!(
                "cannot list the resources of stack {stack} (cloudformation:DescribeStackResources)"
            )
        })?;
    Ok(r.stack_resources()
        .iter()
        .map(|x| {
            format!(
                "{} ({}) {}",
                x.logical_resource_id().unwrap_or("?"),
                x.resource_type().unwrap_or("?"),
                x.physical_resource_id().unwrap_or("")
            )
        })
        .collect())
}

/// The named bucket must exist: not found is bad input (exit 2), anything else a failure.
async fn check_bucket(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<(), Error> {
    let Err(e) = s3.head_bucket().bucket(bucket).send().await else {
        return Ok(());
    };
    let not_found = e.raw_response().is_some_and(|r| r.status().as_u16() == 404);
    let why = crate::aws::err(e);
    if not_found {
        return Err(Error::bad_input(
            "BucketNotFound",
            why.context(format!(
                "bucket {bucket} not found (s3:HeadBucket): check the name given to \
                 --delete-bucket; nothing was changed"
            )),
        ));
    }
    Err(Error::failed(
        "DestroyFailed",
        why.context(format!(
            "cannot reach bucket {bucket} (s3:HeadBucket): check the name and your \
             s3:ListBucket right"
        )),
    ))
}

/// Counts a bucket's object versions and delete markers, for the listing before consent.
async fn count_versions(s3: &aws_sdk_s3::Client, bucket: &str) -> anyhow::Result<(u64, u64)> {
    let (mut versions, mut markers) = (0u64, 0u64);
    let mut key_marker: Option<String> = None;
    let mut version_marker: Option<String> = None;
    loop {
        let page = s3
            .list_object_versions()
            .bucket(bucket)
            .set_key_marker(key_marker.take())
            .set_version_id_marker(version_marker.take())
            .send()
            .await
            .map_err(crate::aws::err)
            .with_context(|| {
                format!("cannot list the versions in {bucket} (s3:ListBucketVersions)")
            })?;
        versions += page.versions().len() as u64;
        markers += page.delete_markers().len() as u64;
        if page.is_truncated() != Some(true) {
            return Ok((versions, markers));
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        version_marker = page.next_version_id_marker().map(str::to_owned);
        if key_marker.is_none() {
            return Ok((versions, markers));
        }
    }
}

/// Removes what `plan` found: the stack (waiting for DELETE_COMPLETE), then the bucket's
/// uploads, versions and delete markers, then the bucket. Consent is the caller's to have
/// had ([`consent`]). Progress goes to `ui` as lines; a failure is `DestroyFailed` (exit 1).
pub async fn destroy(clients: &Clients, plan: &Plan, ui: &dyn Ui) -> Result<Report, Error> {
    let failed = |e: anyhow::Error| Error::failed("DestroyFailed", e);
    let mut report = Report {
        ok: true,
        outcome: Outcome::Nothing,
        stack: plan.stack.clone(),
        bucket: plan.bucket.as_ref().map(|b| b.name.clone()),
        ..Report::default()
    };
    if plan.is_empty() {
        return Ok(report);
    }
    if let Some(id) = &plan.stack_id {
        ui.event(Event::Step("deleting the patcher stack"));
        let status = delete_stack(&clients.cfn, &plan.stack, id, ui)
            .await
            .map_err(failed)?;
        report.stack_deleted = true;
        report.stack_status = Some(status);
    }
    if let Some(b) = &plan.bucket {
        ui.event(Event::Step("emptying the bucket"));
        let emptied = empty_bucket(&clients.s3, &b.name, ui)
            .await
            .map_err(failed)?;
        report.versions_deleted = emptied.versions;
        report.delete_markers_deleted = emptied.markers;
        report.uploads_aborted = emptied.uploads;
        let bucket = &b.name;
        clients
            .s3
            .delete_bucket()
            .bucket(bucket)
            .send()
            .await
            .map_err(crate::aws::err)
            .with_context(|| {
                format!(
                    "cannot delete bucket {bucket} (s3:DeleteBucket); if something wrote to it \
                     meanwhile, run destroy again"
                )
            })
            .map_err(failed)?;
        report.bucket_deleted = true;
    }
    report.outcome = Outcome::Destroyed;
    Ok(report)
}

/// Deletes the stack and waits for DELETE_COMPLETE, telling `ui` its new events (with the
/// time since the start). Polls by the stack's id: once deleted, its name no longer
/// describes it.
async fn delete_stack(
    cfn: &aws_sdk_cloudformation::Client,
    stack: &str,
    id: &str,
    ui: &dyn Ui,
) -> anyhow::Result<String> {
    let mut seen: HashSet<String> = cfn
        .describe_stack_events()
        .stack_name(id)
        .send()
        .await
        .map(|e| {
            e.stack_events()
                .iter()
                .filter_map(|e| e.event_id().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    cfn.delete_stack()
        .stack_name(id)
        .send()
        .await
        .map_err(crate::aws::err)
        .with_context(|| {
            format!(
                "cannot delete stack {stack} (cloudformation:DeleteStack); if termination \
                 protection is on, turn it off first"
            )
        })?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(3600);
    let mut backoff =
        crate::aws::backoff::Backoff::new(Duration::from_millis(250), Duration::from_secs(5));
    let show = |line: &str| {
        let line = format!("{:>6.1} s  {line}", started.elapsed().as_secs_f64());
        ui.event(Event::Line(&line));
    };
    let mut failed = Vec::new();
    loop {
        for (line, is_failure) in crate::stack::changeset::new_events(cfn, id, &mut seen).await {
            show(&line);
            if is_failure {
                failed.push(line);
            }
        }
        let status = deletion_status(cfn, stack, id).await?;
        if status == "DELETE_COMPLETE" {
            show(&format!("stack {stack} DELETE_COMPLETE"));
            return Ok(status);
        }
        if status == "DELETE_FAILED" {
            bail!(
                "stack {stack} ended DELETE_FAILED: {}; fix what held it, then run destroy again",
                if failed.is_empty() {
                    "see its events in the CloudFormation console".to_owned()
                } else {
                    failed.join("; ")
                }
            );
        }
        if Instant::now() > deadline {
            bail!("stack {stack} is still {status} after an hour");
        }
        backoff.wait().await;
    }
}

/// The status of a stack being deleted, read by its id.
async fn deletion_status(
    cfn: &aws_sdk_cloudformation::Client,
    stack: &str,
    id: &str,
) -> anyhow::Result<String> {
    match cfn.describe_stacks().stack_name(id).send().await {
        Ok(d) => Ok(d
            .stacks()
            .first()
            .and_then(|s| s.stack_status().map(|x| x.as_str().to_owned()))
            .unwrap_or_else(|| "DELETE_COMPLETE".to_owned())),
        // Some endpoints forget a deleted stack even by id: gone is what was asked for.
        Err(e) if e.message().is_some_and(|m| m.contains("does not exist")) => {
            Ok("DELETE_COMPLETE".to_owned())
        }
        Err(e) => Err(crate::aws::err(e)).with_context(|| {
            format!("cannot read stack {stack} while it is deleted (DescribeStacks)")
        }),
    }
}

/// What emptying a bucket removed.
#[derive(Debug, Default)]
struct Emptied {
    versions: u64,
    markers: u64,
    uploads: u64,
}

/// Aborts unfinished multipart uploads (billed until aborted), then deletes every object
/// version and delete marker, 1000 per DeleteObjects call.
async fn empty_bucket(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    ui: &dyn Ui,
) -> anyhow::Result<Emptied> {
    let mut done = Emptied {
        uploads: abort_uploads(s3, bucket).await?,
        ..Emptied::default()
    };
    delete_versions(s3, bucket, ui, &mut done).await?;
    Ok(done)
}

/// Aborts every unfinished multipart upload in `bucket`; how many.
async fn abort_uploads(s3: &aws_sdk_s3::Client, bucket: &str) -> anyhow::Result<u64> {
    let mut aborted = 0;
    loop {
        let page = s3
            .list_multipart_uploads()
            .bucket(bucket)
            .send()
            .await
            .map_err(crate::aws::err)
            .with_context(|| {
                format!(
                    "cannot list unfinished uploads in {bucket} (s3:ListBucketMultipartUploads)"
                )
            })?;
        let uploads = page.uploads();
        if uploads.is_empty() {
            break;
        }
        for u in uploads {
            let (Some(key), Some(id)) = (u.key(), u.upload_id()) else {
                continue;
            };
            s3.abort_multipart_upload()
                .bucket(bucket)
                .key(key)
                .upload_id(id)
                .send()
                .await
                .map_err(crate::aws::err)
                .with_context(|| {
                    format!(
                        "cannot abort the upload of s3://{bucket}/{key} (s3:AbortMultipartUpload)"
                    )
                })?;
            aborted += 1;
        }
        if page.is_truncated() != Some(true) {
            break;
        }
    }
    Ok(aborted)
}

/// Deletes every object version and delete marker in `bucket`, counting them into `done`.
/// Lists from the start after each batch, as the deleted keys are gone from the listing.
async fn delete_versions(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    ui: &dyn Ui,
    done: &mut Emptied,
) -> anyhow::Result<()> {
    loop {
        let page = s3
            .list_object_versions()
            .bucket(bucket)
            .max_keys(DELETE_BATCH as i32)
            .send()
            .await
            .map_err(crate::aws::err)
            .with_context(|| {
                format!("cannot list the versions in {bucket} (s3:ListBucketVersions)")
            })?;
        let mut ids = Vec::new();
        for v in page.versions() {
            if let Some(key) = v.key() {
                ids.push(identifier(key, v.version_id())?);
            }
        }
        let versions = ids.len() as u64;
        for m in page.delete_markers() {
            if let Some(key) = m.key() {
                ids.push(identifier(key, m.version_id())?);
            }
        }
        if ids.is_empty() {
            return Ok(());
        }
        for batch in ids.chunks(DELETE_BATCH) {
            delete_batch(s3, bucket, batch).await?;
        }
        done.versions += versions;
        done.markers += ids.len() as u64 - versions;
        ui.event(Event::Line(&format!(
            "  bucket {bucket}: {} versions and {} delete markers deleted",
            done.versions, done.markers
        )));
    }
}

/// One DeleteObjects call. A partial failure stops with its reasons: the same versions would
/// be listed again.
async fn delete_batch(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    batch: &[ObjectIdentifier],
) -> anyhow::Result<()> {
    let out = s3
        .delete_objects()
        .bucket(bucket)
        .delete(
            Delete::builder()
                .set_objects(Some(batch.to_vec()))
                .quiet(true)
                .build()
                .map_err(|e| anyhow!(e))?,
        )
        .send()
        .await
        .map_err(crate::aws::err)
        .with_context(|| {
            format!("cannot delete object versions in {bucket} (s3:DeleteObjectVersion)")
        })?;
    if out.errors().is_empty() {
        return Ok(());
    }
    let reasons: Vec<String> = out
        .errors()
        .iter()
        .take(5)
        .map(|e| {
            format!(
                "{}: {} {}",
                e.key().unwrap_or("?"),
                e.code().unwrap_or("?"),
                e.message().unwrap_or("")
            )
        })
        .collect();
    bail!(
        "{} of {} deletions in {bucket} failed (s3:DeleteObjectVersion): {}",
        out.errors().len(),
        batch.len(),
        reasons.join("; ")
    )
}

fn identifier(key: &str, version: Option<&str>) -> anyhow::Result<ObjectIdentifier> {
    ObjectIdentifier::builder()
        .key(key)
        .set_version_id(version.map(str::to_owned))
        .build()
        .map_err(|e| anyhow!(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(stack: bool, bucket: bool) -> Plan {
        Plan {
            stack: "st".into(),
            stack_id: stack.then(|| "arn:st".into()),
            resources: vec!["Function (AWS::Lambda::Function) f".into()],
            bucket: bucket.then(|| BucketPlan {
                name: "bkt".into(),
                versions: 3,
                markers: 1,
            }),
        }
    }

    #[test]
    fn consent_asks_on_a_terminal_refuses_without_one_and_yes_skips_it() {
        assert!(matches!(consent(&plan(true, true), true, false), Ok(None)));
        assert!(matches!(
            consent(&plan(false, false), false, false),
            Ok(None)
        ));
        let e = consent(&plan(true, true), false, false).expect_err("refused");
        assert_eq!(e.exit().code(), 3);
        assert_eq!(e.kind(), "Refused");
        let text = e.to_string();
        assert!(
            text.contains("--yes")
                && text.contains("stack st and bucket bkt (3 object versions, 1 delete markers)"),
            "{text}"
        );

        let q = consent(&plan(true, false), false, true)
            .expect("ok")
            .expect("asks");
        assert_eq!(q.prompt, "remove it? [y/N]");
        assert_eq!(
            q.details,
            ["stack st:", "  Function (AWS::Lambda::Function) f"]
        );
        for yes in ["y", "Y", "yes", " y\n"] {
            assert!(q.accepts(yes), "{yes:?}");
        }
        for no in ["", "n", "no", "bkt"] {
            assert!(!q.accepts(no), "{no:?}");
        }
    }

    #[test]
    fn a_bucket_goes_only_when_its_whole_name_is_typed() {
        let q = consent(&plan(true, true), false, true)
            .expect("ok")
            .expect("asks");
        assert!(
            q.prompt.contains("type the bucket's name (bkt)"),
            "{}",
            q.prompt
        );
        assert!(
            q.details
                .last()
                .is_some_and(|d| d.contains("3 object versions and 1 delete markers"))
        );
        assert!(q.accepts("bkt\n"));
        for no in ["y", "Y", "yes", "bk", ""] {
            assert!(!q.accepts(no), "{no:?}");
        }
    }
}
