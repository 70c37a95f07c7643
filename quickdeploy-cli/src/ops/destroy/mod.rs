//! `destroy`: remove what `bootstrap` installed: the patcher stack and, only when named, the
//! versioned artifact bucket with every version in it.
//!
//! In three steps, so consent sits between reading and changing: [`plan`] reads what would go
//! (nothing changes), [`consent`] says whether it may go or what to ask, [`destroy`] removes it.
mod bucket;

pub mod decide;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aws_sdk_cloudformation::error::ProvideErrorMetadata as _;
use serde::Serialize;

use crate::aws::Clients;
use crate::error::Error;
use crate::ops::{Event, Ui};
use bucket::empty_bucket;
use decide::{BucketPlan, Plan};

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
