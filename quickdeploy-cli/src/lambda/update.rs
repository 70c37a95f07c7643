//! Pointing functions at a patched artifact: UpdateFunctionCode on each, in parallel with a
//! bound, then waiting until each reports LastUpdateStatus Successful; then, where a function
//! has aliases, publishing a version (with the update itself where it can) and moving them. A function whose layer got a new
//! version first moves to it (UpdateFunctionConfiguration with its `Layers`, only that
//! layer's ARN replaced) and settles, so one published version holds both.
//!
//! Right after an update Lambda says InProgress, and a second update then gets
//! ResourceConflictException: on a conflict we wait for the function to settle and retry.
//! Throttling (TooManyRequestsException) is the SDK's to retry, with backoff (configured once
//! in `aws`); a throttle that outlasts its attempts fails the function. Polls come every
//! 50 ms for the first 2 s, since a zip function outside a VPC usually settles in about a
//! second, then less often up to once a second ([`super::pace::poll_delay`]). A function with aliases and no layer swap first publishes its version with the
//! code update itself (`Publish: true`): one write fewer on Lambda's 15/s quota.
//!
//! Lambda's control plane has two account-wide quotas: 15 requests/s for most calls
//! (UpdateFunctionCode, UpdateFunctionConfiguration, PublishVersion, UpdateAlias,
//! GetFunctionConfiguration) and 100/s for GetFunction. Every rollout call waits for a token
//! of its quota ([`Pace::writes_per_second`], [`Pace::reads_per_second`]), shared by all
//! functions, and reads go through GetFunction, so a deploy of 200 functions is paced at the
//! rate Lambda allows rather than throttled, and its polls do not eat the updates' quota.

use std::time::{Duration, Instant};

use anyhow::anyhow;
use aws_sdk_lambda::types::LastUpdateStatus;
use futures::StreamExt as _;
use serde::Serialize;

use super::pace::{Pace, Quotas};
use crate::aws::AwsError;
use crate::lambda::layer::{self, Swap};
use crate::project::template::S3Object;

/// One function's update to do.
#[derive(Debug, Clone)]
pub struct Job {
    /// The function.
    pub target: Target,
    /// The artifact version to point it at; `None` when its code stays and only its layers
    /// move.
    pub artifact: Option<S3Object>,
    /// The CodeSha256 it must end up with (when only its layers move: the one it runs).
    pub code_sha256: String,
    /// Layers to move to a new version before its code changes.
    pub layers: Vec<Swap>,
    /// Update only if the function is still at this RevisionId (read before the update): a
    /// concurrent deploy is then refused by Lambda rather than overwritten.
    pub revision_id: Option<String>,
}

/// What happened to one function.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Logical id.
    pub logical_id: String,
    /// Function name.
    pub name: String,
    /// It ended live on the job's code (else `reason` says why not).
    #[serde(skip)]
    pub updated: bool,
    /// Why it failed, in Lambda's words where it gave them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Its CodeSha256 at the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_sha256: Option<String>,
    /// The version published, when it has aliases.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The aliases moved to that version.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Its `Layers` at the end, read back, when the job moved any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<String>,
    /// Conflicts retried.
    pub retries: u32,
    /// Milliseconds in UpdateFunctionCode calls (with retries).
    pub update_ms: f64,
    /// Milliseconds waiting for Successful (and publishing).
    pub wait_ms: f64,
}

/// What every step of one function's rollout is given.
struct Ctx<'a> {
    lambda: &'a aws_sdk_lambda::Client,
    pace: &'a Pace,
    progress: &'a (dyn Fn(&str, &str) + Sync),
    quotas: &'a Quotas,
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e5).round() / 100.0
}

/// Updates every job, at most `pace.concurrency` at once; `progress` hears each state change.
pub async fn roll_out(
    lambda: &aws_sdk_lambda::Client,
    jobs: Vec<Job>,
    pace: &Pace,
    quotas: &Quotas,
    progress: &(dyn Fn(&str, &str) + Sync),
) -> Vec<Outcome> {
    let ctx = Ctx {
        lambda,
        pace,
        progress,
        quotas,
    };
    futures::stream::iter(jobs)
        .map(|job| update_one(&ctx, job))
        .buffer_unordered(pace.concurrency.max(1))
        .collect()
        .await
}

/// One function: update its code, wait until it settles, check it runs the patched code,
/// move its aliases.
async fn update_one(ctx: &Ctx<'_>, job: Job) -> Outcome {
    let mut out = Outcome {
        logical_id: job.target.logical_id.clone(),
        name: job.target.name.clone(),
        updated: false,
        reason: None,
        code_sha256: None,
        version: None,
        aliases: Vec::new(),
        layers: Vec::new(),
        retries: 0,
        update_ms: 0.0,
        wait_ms: 0.0,
    };
    let started = Instant::now();
    let updated = match swap_layers(ctx, &job, &mut out.retries).await {
        Ok(moved) => {
            // Its RevisionId moved with our own configuration update: the code update follows
            // it, not the one read before.
            let revision = if moved { None } else { job.revision_id.clone() };
            update_code(ctx, &job, revision, &mut out.retries).await
        }
        Err(e) => Err(e),
    };
    out.update_ms = ms(started.elapsed());
    let (first_status, published) = match updated {
        Ok(Updated {
            status,
            code_sha256,
            published,
        }) => {
            out.code_sha256 = code_sha256;
            (status, published)
        }
        Err(e) => {
            out.reason = Some(reason(&e));
            return out;
        }
    };
    let waiting = Instant::now();
    let live = settle(ctx, &job, (first_status, published), &mut out).await;
    out.wait_ms = ms(waiting.elapsed());
    match live {
        Ok(version) => {
            if version.is_some() {
                out.aliases = job.target.aliases.clone();
            }
            out.version = version;
            out.updated = true;
            (ctx.progress)(&job.target.name, "live");
        }
        Err(e) => out.reason = Some(reason(&e)),
    }
    out
}

/// Moves the function's swapped layers to their new versions (UpdateFunctionConfiguration
/// with its `Layers` as read, only those ARNs replaced) and waits until it settles; true when
/// it did (a job without layers does nothing). A conflict (another update running, or a
/// RevisionId that moved between our read and our update) reads and tries again, at most
/// `pace.retries` times.
async fn swap_layers(ctx: &Ctx<'_>, job: &Job, retries: &mut u32) -> anyhow::Result<bool> {
    if job.layers.is_empty() {
        return Ok(false);
    }
    let (pace, progress) = (ctx.pace, ctx.progress);
    let name = job.target.name.as_str();
    let mut revision = job.revision_id.clone();
    loop {
        let c = configuration(ctx, name).await?;
        let current: Vec<String> = c
            .layers()
            .iter()
            .filter_map(|l| l.arn())
            .map(str::to_owned)
            .collect();
        let wanted = layer::swapped(&current, &job.layers).map_err(|why| anyhow!(why))?;
        progress(name, "moving to the new layer version");
        ctx.quotas.write().await;
        let sent = ctx
            .lambda
            .update_function_configuration()
            .function_name(name)
            .set_layers(Some(wanted))
            .set_revision_id(
                revision
                    .take()
                    .or_else(|| c.revision_id().map(str::to_owned)),
            )
            .send()
            .await
            .map_err(AwsError::from);
        match sent {
            Ok(_) => break,
            Err(e) if e.code() == Some("ResourceConflictException") && *retries < pace.retries => {
                *retries += 1;
                progress(name, "ResourceConflictException, retrying");
                let _ = wait_settled(ctx, name).await;
            }
            Err(e)
                if e.code() == Some("PreconditionFailedException")
                    && job.revision_id.is_none()
                    && *retries < pace.retries =>
            {
                // Changed between our read and our update: read it again.
                *retries += 1;
            }
            Err(e) => {
                return Err(
                    anyhow::Error::from(e).context("UpdateFunctionConfiguration (Layers) failed")
                );
            }
        }
    }
    wait_settled(ctx, name).await?;
    Ok(true)
}

/// UpdateFunctionCode, conditioned on `revision` when given, retried after the function
/// settles when another update holds it (ResourceConflictException, at most `pace.retries`
/// times, counted in `retries`); its LastUpdateStatus and CodeSha256. Throttles were retried
/// by the SDK already. A job without an artifact changes no code: nothing is sent.
/// What UpdateFunctionCode answered.
struct Updated {
    status: Option<LastUpdateStatus>,
    code_sha256: Option<String>,
    /// The version it published (`Publish: true`), if it did.
    published: Option<String>,
}

/// Whether the code update publishes the version itself (`Publish: true`): when the
/// function has aliases to move and no configuration change (a layer swap) comes first, one
/// write instead of UpdateFunctionCode then PublishVersion, each on Lambda's 15/s quota.
fn publishes_with_code(job: &Job) -> bool {
    !job.target.aliases.is_empty() && job.layers.is_empty()
}

async fn update_code(
    ctx: &Ctx<'_>,
    job: &Job,
    revision: Option<String>,
    retries: &mut u32,
) -> anyhow::Result<Updated> {
    let Some(artifact) = &job.artifact else {
        return Ok(Updated {
            status: None,
            code_sha256: None,
            published: None,
        });
    };
    let publish = publishes_with_code(job);
    let (pace, progress) = (ctx.pace, ctx.progress);
    let name = job.target.name.as_str();
    loop {
        ctx.quotas.write().await;
        let mut call = ctx
            .lambda
            .update_function_code()
            .function_name(name)
            .s3_bucket(&artifact.bucket)
            .s3_key(&artifact.key)
            .publish(publish);
        if let Some(v) = &artifact.version {
            call = call.s3_object_version(v);
        }
        match call
            .set_revision_id(revision.clone())
            .send()
            .await
            .map_err(AwsError::from)
        {
            Ok(r) => {
                return Ok(Updated {
                    status: r.last_update_status().cloned(),
                    code_sha256: r.code_sha256().map(str::to_owned),
                    published: r
                        .version()
                        .filter(|v| publish && *v != "$LATEST")
                        .map(str::to_owned),
                });
            }
            Err(e) if e.code() == Some("ResourceConflictException") && *retries < pace.retries => {
                *retries += 1;
                progress(name, "ResourceConflictException, retrying");
                // Another update is running: wait for it to settle, then try again.
                let _ = wait_settled(ctx, name).await;
            }
            Err(e) if e.code() == Some("PreconditionFailedException") => {
                return Err(anyhow::Error::from(e).context(format!(
                    "RevisionId conflict: {name} was changed after it was read (someone deployed it meanwhile), so it was not updated and their update stands; see `quickdeploy status`"
                )));
            }
            Err(e) => return Err(anyhow::Error::from(e).context("UpdateFunctionCode failed")),
        }
    }
}

/// After the update: waits until it settles (unless it already has), checks the function
/// reports the patched artifact's CodeSha256 (kept in `out`) and, when its layers moved, runs
/// their new versions (kept in `out` too), then publishes a version and moves the aliases
/// when it has any; that version.
async fn settle(
    ctx: &Ctx<'_>,
    job: &Job,
    (first_status, published): (Option<LastUpdateStatus>, Option<String>),
    out: &mut Outcome,
) -> anyhow::Result<Option<String>> {
    if first_status != Some(LastUpdateStatus::Successful) || !job.layers.is_empty() {
        let settled = wait_settled(ctx, &job.target.name).await?;
        if settled.code_sha256.is_some() {
            out.code_sha256 = settled.code_sha256;
        }
        if !job.layers.is_empty() {
            out.layers = settled.layers;
        }
    }
    let code_sha256 = &out.code_sha256;
    if let Some(missing) = job
        .layers
        .iter()
        .find(|s| !out.layers.contains(&s.version_arn))
    {
        return Err(anyhow!(
            "its Layers are [{}], without {}: someone else updated it meanwhile",
            out.layers.join(", "),
            missing.version_arn
        ));
    }
    if code_sha256.as_deref() != Some(job.code_sha256.as_str()) {
        return Err(anyhow!(
            "it reports CodeSha256 {}, not the artifact's {}: someone else updated it meanwhile",
            code_sha256.as_deref().unwrap_or("(none)"),
            job.code_sha256
        ));
    }
    if job.target.aliases.is_empty() {
        return Ok(None);
    }
    let version = match published {
        Some(v) => v,
        None => publish(ctx, job).await?,
    };
    move_aliases(ctx, job, &version).await?;
    Ok(Some(version))
}

/// A failure as `Outcome::reason` says it: the message with its context, one line.
fn reason(e: &anyhow::Error) -> String {
    format!("{e:#}")
}

/// What a settled function runs.
struct Settled {
    /// Its CodeSha256.
    code_sha256: Option<String>,
    /// Its layer version ARNs, in order.
    layers: Vec<String>,
}

/// The function's configuration, read with GetFunction (its own 100/s quota, so polling does
/// not slow the updates).
async fn configuration(
    ctx: &Ctx<'_>,
    name: &str,
) -> anyhow::Result<aws_sdk_lambda::types::FunctionConfiguration> {
    ctx.quotas.read().await;
    get_configuration(ctx.lambda, name).await
}

/// GetFunction's `Configuration`.
pub async fn get_configuration(
    lambda: &aws_sdk_lambda::Client,
    name: &str,
) -> anyhow::Result<aws_sdk_lambda::types::FunctionConfiguration> {
    lambda
        .get_function()
        .function_name(name)
        .send()
        .await
        .map_err(|e| anyhow::Error::from(AwsError::from(e)))
        .map_err(|e| e.context("GetFunction failed"))?
        .configuration
        .ok_or_else(|| anyhow!("GetFunction answered no Configuration for {name}"))
}

/// Polls until LastUpdateStatus leaves InProgress; what it runs on success, why not on
/// failure or timeout (an [`AwsError`] in the chain when a call failed).
async fn wait_settled(ctx: &Ctx<'_>, name: &str) -> anyhow::Result<Settled> {
    let (pace, progress) = (ctx.pace, ctx.progress);
    let deadline = Instant::now() + pace.timeout;
    let updated = Instant::now();
    loop {
        let c = configuration(ctx, name).await?;
        match c.last_update_status() {
            Some(LastUpdateStatus::Successful) | None => {
                return Ok(Settled {
                    code_sha256: c.code_sha256().map(str::to_owned),
                    layers: c
                        .layers()
                        .iter()
                        .filter_map(|l| l.arn())
                        .map(str::to_owned)
                        .collect(),
                });
            }
            Some(LastUpdateStatus::Failed) => {
                return Err(anyhow!(
                    "the update failed: {} ({})",
                    c.last_update_status_reason()
                        .unwrap_or("Lambda gave no reason"),
                    c.last_update_status_reason_code()
                        .map(|r| r.as_str())
                        .unwrap_or("no reason code")
                ));
            }
            Some(other) => progress(name, other.as_str()),
        }
        if Instant::now() >= deadline {
            return Err(anyhow!(
                "still InProgress after {} s: check the function in the Lambda console, then run deploy again",
                pace.timeout.as_secs()
            ));
        }
        tokio::time::sleep(super::pace::poll_delay(pace, updated.elapsed())).await;
    }
}

async fn publish(ctx: &Ctx<'_>, job: &Job) -> anyhow::Result<String> {
    let name = job.target.name.as_str();
    (ctx.progress)(name, "publishing a version");
    // CodeSha256 makes Lambda refuse to publish anything but the code we just rolled out.
    ctx.quotas.write().await;
    let published = ctx
        .lambda
        .publish_version()
        .function_name(name)
        .code_sha256(&job.code_sha256)
        .description("quickdeploy")
        .send()
        .await
        .map_err(|e| anyhow::Error::from(AwsError::from(e)).context("PublishVersion failed"))?;
    Ok(published
        .version()
        .ok_or_else(|| anyhow!("PublishVersion answered no version"))?
        .to_owned())
}

/// Moves the function's aliases to `version`, once it is live.
async fn move_aliases(ctx: &Ctx<'_>, job: &Job, version: &str) -> anyhow::Result<()> {
    let name = job.target.name.as_str();
    for alias in &job.target.aliases {
        ctx.quotas.write().await;
        ctx.lambda
            .update_alias()
            .function_name(name)
            .name(alias)
            .function_version(version)
            .send()
            .await
            .map_err(|e| {
                anyhow::Error::from(AwsError::from(e)).context(format!(
                    "published version {version}, but moving alias {alias} failed"
                ))
            })?;
    }
    Ok(())
}

/// A deployed function the quick path can update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// Its logical id in the template.
    pub logical_id: String,
    /// Its physical name.
    pub name: String,
    /// Aliases to move to a newly published version.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}
