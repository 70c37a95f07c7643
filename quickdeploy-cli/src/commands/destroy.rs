//! `quickdeploy destroy`: remove what `bootstrap` installed: the patcher stack and, only when
//! named, the versioned artifact bucket with every version in it.

use std::collections::HashSet;
use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use aws_sdk_cloudformation::error::ProvideErrorMetadata as _;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use serde::Serialize;

use crate::aws::AwsArgs;
use crate::commands::bootstrap::STACK;
use crate::error::{Error, Exit};

/// S3 DeleteObjects takes at most this many keys per call.
const DELETE_BATCH: usize = 1000;

/// Remove the patcher stack, and with --delete-bucket empty and delete the artifact bucket.
///
/// Deletes the patcher stack (its function, role and log group) and waits until it is gone,
/// showing its events. The artifact bucket is kept unless you name it with --delete-bucket:
/// then every object version and delete marker in it is deleted, unfinished multipart uploads
/// are aborted, and the bucket is deleted. The bucket may hold other apps' artifacts and the
/// versions their functions were deployed from; they go with it.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  quickdeploy destroy                       # lists what will go and asks (on a terminal)
  quickdeploy destroy --yes                 # the patcher stack only; the bucket stays
  quickdeploy destroy --yes --delete-bucket quickdeploy-artifacts-123456789012-eu-west-1

Consent: on a terminal you are shown what will be removed and asked; to remove a bucket you
type its name. Without a terminal, --yes is needed. A bucket is only ever removed when its
name is given to --delete-bucket (there is no default). Refused: exit 3, nothing changed.

Exit codes: 0 removed (or nothing to remove), 1 failed, 2 bad usage or configuration (bucket
not found, no region or credentials), 3 refused for want of consent (nothing was changed).")]
pub struct Args {
    /// The patcher stack's name.
    #[arg(long, default_value = STACK, value_name = "NAME")]
    stack: String,
    /// Also empty (every version, delete marker and unfinished upload) and delete this bucket.
    #[arg(long, value_name = "BUCKET")]
    delete_bucket: Option<String>,
    /// Remove without asking.
    #[arg(long, short = 'y')]
    yes: bool,
    #[command(flatten)]
    out: super::OutputArgs,
    #[command(flatten)]
    aws: AwsArgs,
}

/// What `destroy` did, as `--json` prints it.
#[derive(Debug, Default, Serialize)]
struct Report {
    ok: bool,
    /// `destroyed`, or `nothing` when neither the stack nor a named bucket was there.
    outcome: &'static str,
    stack: String,
    stack_deleted: bool,
    /// The stack's last status (`DELETE_COMPLETE`), when it existed.
    stack_status: Option<String>,
    bucket: Option<String>,
    bucket_deleted: bool,
    versions_deleted: u64,
    delete_markers_deleted: u64,
    uploads_aborted: u64,
}

/// What is there to remove, read before anything changes.
struct Plan {
    /// The stack's id (its ARN): after deletion only the id still describes it.
    stack_id: Option<String>,
    /// `logical id (type) physical id` of each of the stack's resources.
    resources: Vec<String>,
    /// The bucket's object versions and delete markers, and unfinished uploads, when named.
    bucket: Option<(String, u64, u64)>,
}

impl Args {
    /// JSON output: --output decides when given, as in the other commands.
    pub fn json(&self) -> bool {
        self.out.json(false)
    }
}

/// Runs `destroy`.
pub async fn run(args: Args) -> crate::error::Outcome {
    let json = args.json();
    let fail = |code: Exit, kind: &'static str| {
        move |error: anyhow::Error| Error::new(code, kind, error)
    };
    let clients = crate::aws::clients(&args.aws, None)
        .await
        .map_err(fail(Exit::BadInput, "BadAwsConfig"))?;
    let plan = plan(&clients, &args).await.map_err(|(code, e)| Error::new(code, if code == Exit::BadInput {
            "BucketNotFound"
        } else {
            "DestroyFailed"
        }, e))?;
    let mut report = Report {
        ok: true,
        outcome: "nothing",
        stack: args.stack.clone(),
        bucket: args.delete_bucket.clone(),
        ..Report::default()
    };
    if plan.stack_id.is_none() && plan.bucket.is_none() {
        print(&report, json);
        if !json {
            eprintln!("stack {} does not exist: nothing to remove", args.stack);
        }
        return Ok(Exit::Success);
    }
    consent(&args, &plan).map_err(fail(Exit::NeedsFull, "Refused"))?;
    if let Some(id) = &plan.stack_id {
        let status = delete_stack(&clients.cfn, &args.stack, id, json)
            .await
            .map_err(fail(Exit::Failed, "DestroyFailed"))?;
        report.stack_deleted = true;
        report.stack_status = Some(status);
    }
    if let Some((bucket, _, _)) = &plan.bucket {
        let emptied = empty_bucket(&clients.s3, bucket, json)
            .await
            .map_err(fail(Exit::Failed, "DestroyFailed"))?;
        report.versions_deleted = emptied.versions;
        report.delete_markers_deleted = emptied.markers;
        report.uploads_aborted = emptied.uploads;
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
            .map_err(fail(Exit::Failed, "DestroyFailed"))?;
        report.bucket_deleted = true;
    }
    report.outcome = "destroyed";
    print(&report, json);
    Ok(Exit::Success)
}

fn print(report: &Report, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).unwrap_or_default()
        );
        return;
    }
    if report.stack_deleted {
        println!(
            "stack {}: {}",
            report.stack,
            report.stack_status.as_deref().unwrap_or("deleted")
        );
    }
    if let Some(bucket) = &report.bucket {
        if report.bucket_deleted {
            println!(
                "bucket {bucket}: deleted ({} versions, {} delete markers, {} unfinished uploads removed)",
                report.versions_deleted, report.delete_markers_deleted, report.uploads_aborted
            );
        }
    } else if report.stack_deleted {
        println!("the artifact bucket was kept (remove it with --delete-bucket NAME)");
    }
}

/// Reads what would be removed. A named bucket that does not exist is a usage error: the
/// user meant something else, and nothing has been changed yet: exit 2 for it, 1 otherwise.
async fn plan(clients: &crate::aws::Clients, args: &Args) -> Result<Plan, (Exit, anyhow::Error)> {
    let failed = |e: anyhow::Error| (Exit::Failed, e);
    let cfn = &clients.cfn;
    let stack_id = match cfn.describe_stacks().stack_name(&args.stack).send().await {
        Ok(d) => d
            .stacks()
            .first()
            .filter(|s| {
                s.stack_status()
                    .is_some_and(|st| st.as_str() != "DELETE_COMPLETE")
            })
            .and_then(|s| s.stack_id().map(str::to_owned)),
        Err(e)
            if e.code() == Some("ValidationError")
                && e.message().is_some_and(|m| m.contains("does not exist")) =>
        {
            None
        }
        Err(e) => {
            return Err(failed(crate::aws::err(e).context(format!(
                "cannot read stack {} (cloudformation:DescribeStacks)",
                args.stack
            ))));
        }
    };
    let mut resources = Vec::new();
    if stack_id.is_some() {
        let r = cfn
            .describe_stack_resources()
            .stack_name(&args.stack)
            .send()
            .await
            .map_err(crate::aws::err)
            .with_context(|| {
                format!(
                    "cannot list the resources of stack {} (cloudformation:DescribeStackResources)",
                    args.stack
                )
            })
            .map_err(failed)?;
        for x in r.stack_resources() {
            resources.push(format!(
                "{} ({}) {}",
                x.logical_resource_id().unwrap_or("?"),
                x.resource_type().unwrap_or("?"),
                x.physical_resource_id().unwrap_or("")
            ));
        }
    }
    let bucket = match &args.delete_bucket {
        None => None,
        Some(b) => {
            if let Err(e) = clients.s3.head_bucket().bucket(b).send().await {
                let not_found = e.raw_response().is_some_and(|r| r.status().as_u16() == 404);
                let why = crate::aws::err(e);
                if not_found {
                    return Err((
                        Exit::BadInput,
                        why.context(format!(
                            "bucket {b} not found (s3:HeadBucket): check the name given to --delete-bucket; nothing was changed"
                        )),
                    ));
                }
                return Err(failed(why.context(format!(
                    "cannot reach bucket {b} (s3:HeadBucket): check the name and your s3:ListBucket right"
                ))));
            }
            let (versions, markers) = count_versions(&clients.s3, b).await.map_err(failed)?;
            Some((b.clone(), versions, markers))
        }
    };
    Ok(Plan {
        stack_id,
        resources,
        bucket,
    })
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

/// Consent: --yes; or, on a terminal, the answer to a prompt that lists what goes (the
/// bucket's name typed in full when a bucket goes). Without either: refused, nothing changed.
fn consent(args: &Args, plan: &Plan) -> anyhow::Result<()> {
    if args.yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "destroy removes {}, and without a terminal quickdeploy does not remove what it was \
             not asked to: re-run with --yes",
            what(plan, &args.stack)
        );
    }
    eprintln!("this removes:");
    if plan.stack_id.is_some() {
        eprintln!("  stack {}:", args.stack);
        for r in &plan.resources {
            eprintln!("    {r}");
        }
    }
    if let Some((bucket, versions, markers)) = &plan.bucket {
        eprintln!(
            "  bucket {bucket}: {versions} object versions and {markers} delete markers, all deleted for good"
        );
    }
    let expected = match &plan.bucket {
        Some((bucket, _, _)) => {
            eprint!("type the bucket's name ({bucket}) to remove all of this: ");
            bucket.clone()
        }
        None => {
            eprint!("remove it? [y/N] ");
            "y".to_owned()
        }
    };
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the answer")?;
    let answer = line.trim();
    let yes = answer == expected || (plan.bucket.is_none() && matches!(answer, "Y" | "yes"));
    if !yes {
        bail!("not confirmed: nothing was removed");
    }
    Ok(())
}

fn what(plan: &Plan, stack: &str) -> String {
    let mut parts = Vec::new();
    if plan.stack_id.is_some() {
        parts.push(format!("stack {stack}"));
    }
    if let Some((bucket, versions, markers)) = &plan.bucket {
        parts.push(format!(
            "bucket {bucket} ({versions} object versions, {markers} delete markers)"
        ));
    }
    parts.join(" and ")
}

/// Deletes the stack and waits for DELETE_COMPLETE, showing its new events. Polls by the
/// stack's id: once deleted, its name no longer describes it.
async fn delete_stack(
    cfn: &aws_sdk_cloudformation::Client,
    stack: &str,
    id: &str,
    json: bool,
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
    let mut interval = Duration::from_millis(250);
    let show = |line: &str| {
        if !json {
            eprintln!("{:>6.1} s  {line}", started.elapsed().as_secs_f64());
        }
    };
    let mut failed = Vec::new();
    loop {
        for (line, is_failure) in crate::changeset::new_events(cfn, id, &mut seen).await {
            show(&line);
            if is_failure {
                failed.push(line);
            }
        }
        let status = match cfn.describe_stacks().stack_name(id).send().await {
            Ok(d) => d
                .stacks()
                .first()
                .and_then(|s| s.stack_status().map(|x| x.as_str().to_owned()))
                .unwrap_or_else(|| "DELETE_COMPLETE".to_owned()),
            // Some endpoints forget a deleted stack even by id: gone is what was asked for.
            Err(e) if e.message().is_some_and(|m| m.contains("does not exist")) => {
                "DELETE_COMPLETE".to_owned()
            }
            Err(e) => {
                return Err(crate::aws::err(e)).with_context(|| {
                    format!("cannot read stack {stack} while it is deleted (DescribeStacks)")
                });
            }
        };
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
        tokio::time::sleep(interval).await;
        interval = (interval * 2).min(Duration::from_secs(5));
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
/// version and delete marker, 1000 per DeleteObjects call. Lists from the start after each
/// batch, as the deleted keys are gone from the listing.
async fn empty_bucket(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    json: bool,
) -> anyhow::Result<Emptied> {
    let mut done = Emptied {
        uploads: abort_uploads(s3, bucket).await?,
        ..Emptied::default()
    };
    delete_versions(s3, bucket, json, &mut done).await?;
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
async fn delete_versions(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    json: bool,
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
        let mut markers = 0u64;
        for v in page.versions() {
            if let Some(key) = v.key() {
                ids.push(identifier(key, v.version_id())?);
            }
        }
        for m in page.delete_markers() {
            if let Some(key) = m.key() {
                ids.push(identifier(key, m.version_id())?);
                markers += 1;
            }
        }
        if ids.is_empty() {
            return Ok(());
        }
        let count = ids.len() as u64;
        for batch in ids.chunks(DELETE_BATCH) {
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
            // A partial failure would list the same versions again: stop with its reasons.
            if !out.errors().is_empty() {
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
                );
            }
        }
        done.markers += markers;
        done.versions += count - markers;
        if !json {
            eprintln!(
                "  bucket {bucket}: {} versions and {} delete markers deleted",
                done.versions, done.markers
            );
        }
    }
}

fn identifier(key: &str, version: Option<&str>) -> anyhow::Result<ObjectIdentifier> {
    ObjectIdentifier::builder()
        .key(key)
        .set_version_id(version.map(str::to_owned))
        .build()
        .map_err(|e| anyhow!(e))
}
