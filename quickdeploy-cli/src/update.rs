//! Pointing functions at a patched artifact: UpdateFunctionCode on each, in parallel with a
//! bound, then waiting until each reports LastUpdateStatus Successful; then, where a function
//! has aliases, publishing a version and moving them.
//!
//! Right after an update Lambda says InProgress, and a second update then gets
//! ResourceConflictException: on a conflict we wait for the function to settle and retry. On
//! throttling (TooManyRequestsException) we back off and retry. Polling starts at 100 ms, since
//! a zip function outside a VPC usually settles in about a second, and backs off to 2 s.

use std::time::{Duration, Instant};

use aws_sdk_lambda::error::ProvideErrorMetadata as _;
use aws_sdk_lambda::types::LastUpdateStatus;
use futures::StreamExt as _;
use serde::Serialize;

use crate::plan::Target;
use crate::template::S3Object;

/// How a rollout is paced.
#[derive(Debug, Clone)]
pub struct Pace {
    /// At most this many functions updated at once.
    pub concurrency: usize,
    /// Give up waiting on one function after this long.
    pub timeout: Duration,
    /// First poll interval; doubles up to `max_poll`.
    pub first_poll: Duration,
    /// Longest poll interval.
    pub max_poll: Duration,
    /// How often a conflict or throttle is retried.
    pub retries: u32,
}

impl Default for Pace {
    fn default() -> Self {
        Self {
            concurrency: 10,
            timeout: Duration::from_secs(600),
            first_poll: Duration::from_millis(100),
            max_poll: Duration::from_secs(2),
            retries: 8,
        }
    }
}

/// One function's update to do.
#[derive(Debug, Clone)]
pub struct Job {
    /// The function.
    pub target: Target,
    /// The artifact version to point it at.
    pub artifact: S3Object,
    /// The CodeSha256 it must end up with.
    pub code_sha256: String,
}

/// What happened to one function.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Logical id.
    pub logical_id: String,
    /// Function name.
    pub name: String,
    /// `updated` or `failed`.
    pub status: &'static str,
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
    /// Conflicts and throttles retried.
    pub retries: u32,
    /// Milliseconds in UpdateFunctionCode calls (with retries).
    pub update_ms: f64,
    /// Milliseconds waiting for Successful (and publishing).
    pub wait_ms: f64,
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e5).round() / 100.0
}

/// Updates every job, at most `pace.concurrency` at once; `progress` hears each state change.
pub async fn roll_out(
    lambda: &aws_sdk_lambda::Client,
    jobs: Vec<Job>,
    pace: &Pace,
    progress: &(dyn Fn(&str, &str) + Sync),
) -> Vec<Outcome> {
    futures::stream::iter(jobs)
        .map(|job| update_one(lambda, job, pace, progress))
        .buffer_unordered(pace.concurrency.max(1))
        .collect()
        .await
}

// Long: one function's update, wait and alias moves read as one sequence; issue 11 splits it
// with the pure rollout decisions.
async fn update_one(
    lambda: &aws_sdk_lambda::Client,
    job: Job,
    pace: &Pace,
    progress: &(dyn Fn(&str, &str) + Sync),
) -> Outcome {
    let mut out = Outcome {
        logical_id: job.target.logical_id.clone(),
        name: job.target.name.clone(),
        status: "failed",
        reason: None,
        code_sha256: None,
        version: None,
        aliases: Vec::new(),
        retries: 0,
        update_ms: 0.0,
        wait_ms: 0.0,
    };
    let name = job.target.name.as_str();
    let started = Instant::now();
    let mut backoff = pace.first_poll;
    let first_status = loop {
        let mut call = lambda
            .update_function_code()
            .function_name(name)
            .s3_bucket(&job.artifact.bucket)
            .s3_key(&job.artifact.key);
        if let Some(v) = &job.artifact.version {
            call = call.s3_object_version(v);
        }
        match call.send().await {
            Ok(r) => {
                out.code_sha256 = r.code_sha256().map(str::to_owned);
                break r.last_update_status().cloned();
            }
            Err(e) => {
                let code = e.code().unwrap_or_default().to_owned();
                let retryable = matches!(
                    code.as_str(),
                    "ResourceConflictException" | "TooManyRequestsException"
                );
                if !retryable || out.retries >= pace.retries {
                    out.update_ms = ms(started.elapsed());
                    out.reason = Some(format!(
                        "UpdateFunctionCode failed: {}",
                        crate::aws::describe(&e)
                    ));
                    return out;
                }
                out.retries += 1;
                progress(name, &format!("{code}, retrying"));
                if code == "ResourceConflictException" {
                    // Another update is running: wait for it to settle, then try again.
                    let _ = wait_settled(lambda, name, pace, progress).await;
                } else {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(pace.max_poll);
                }
            }
        }
    };
    out.update_ms = ms(started.elapsed());

    let waiting = Instant::now();
    let settled = match first_status {
        Some(LastUpdateStatus::Successful) => Ok(out.code_sha256.clone()),
        _ => wait_settled(lambda, name, pace, progress).await,
    };
    match settled {
        Ok(sha) => {
            if sha.is_some() {
                out.code_sha256 = sha;
            }
            if out.code_sha256.as_deref() != Some(job.code_sha256.as_str()) {
                out.wait_ms = ms(waiting.elapsed());
                out.reason = Some(format!(
                    "it reports CodeSha256 {}, not the patched artifact's {}: someone else updated it meanwhile",
                    out.code_sha256.as_deref().unwrap_or("(none)"),
                    job.code_sha256
                ));
                return out;
            }
        }
        Err(reason) => {
            out.wait_ms = ms(waiting.elapsed());
            out.reason = Some(reason);
            return out;
        }
    }
    if !job.target.aliases.is_empty() {
        match publish(lambda, &job, progress).await {
            Ok(version) => {
                out.version = Some(version);
                out.aliases = job.target.aliases.clone();
            }
            Err(reason) => {
                out.wait_ms = ms(waiting.elapsed());
                out.reason = Some(reason);
                return out;
            }
        }
    }
    out.wait_ms = ms(waiting.elapsed());
    out.status = "updated";
    progress(name, "live");
    out
}

/// Polls until LastUpdateStatus leaves InProgress; the CodeSha256 on success, the reason on
/// failure or timeout.
async fn wait_settled(
    lambda: &aws_sdk_lambda::Client,
    name: &str,
    pace: &Pace,
    progress: &(dyn Fn(&str, &str) + Sync),
) -> Result<Option<String>, String> {
    let deadline = Instant::now() + pace.timeout;
    let mut interval = pace.first_poll;
    loop {
        let conf = lambda
            .get_function_configuration()
            .function_name(name)
            .send()
            .await;
        match conf {
            Ok(c) => match c.last_update_status() {
                Some(LastUpdateStatus::Successful) | None => {
                    return Ok(c.code_sha256().map(str::to_owned));
                }
                Some(LastUpdateStatus::Failed) => {
                    return Err(format!(
                        "the update failed: {} ({})",
                        c.last_update_status_reason()
                            .unwrap_or("Lambda gave no reason"),
                        c.last_update_status_reason_code()
                            .map(|r| r.as_str())
                            .unwrap_or("no reason code")
                    ));
                }
                Some(other) => progress(name, other.as_str()),
            },
            Err(e) if e.code() == Some("TooManyRequestsException") => {
                progress(name, "throttled while polling");
            }
            Err(e) => {
                return Err(format!(
                    "GetFunctionConfiguration failed: {}",
                    crate::aws::describe(&e)
                ));
            }
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "still InProgress after {} s: check the function in the Lambda console, then run deploy again",
                pace.timeout.as_secs()
            ));
        }
        tokio::time::sleep(interval).await;
        interval = (interval * 2).min(pace.max_poll);
    }
}

async fn publish(
    lambda: &aws_sdk_lambda::Client,
    job: &Job,
    progress: &(dyn Fn(&str, &str) + Sync),
) -> Result<String, String> {
    let name = job.target.name.as_str();
    progress(name, "publishing a version");
    // CodeSha256 makes Lambda refuse to publish anything but the code we just rolled out.
    let published = lambda
        .publish_version()
        .function_name(name)
        .code_sha256(&job.code_sha256)
        .description("quickdeploy")
        .send()
        .await
        .map_err(|e| format!("PublishVersion failed: {}", crate::aws::describe(&e)))?;
    let version = published
        .version()
        .ok_or("PublishVersion answered no version")?
        .to_owned();
    for alias in &job.target.aliases {
        lambda
            .update_alias()
            .function_name(name)
            .name(alias)
            .function_version(&version)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "published version {version}, but moving alias {alias} failed: {}",
                    crate::aws::describe(&e)
                )
            })?;
    }
    Ok(version)
}

/// What a function runs now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    /// Its CodeSha256.
    pub code_sha256: Option<String>,
    /// Its last update failed: whatever it reports, it is not live.
    pub failed: bool,
}

impl Current {
    /// True when it runs, successfully, the code with this CodeSha256.
    pub fn runs(&self, code_sha256: &str) -> bool {
        !self.failed && self.code_sha256.as_deref() == Some(code_sha256)
    }
}

/// What each function runs now, or the error that kept it from being read.
pub async fn current_code(
    lambda: &aws_sdk_lambda::Client,
    names: Vec<String>,
) -> Vec<(String, Result<Current, String>)> {
    futures::stream::iter(names)
        .map(|name| async move {
            let r = lambda
                .get_function_configuration()
                .function_name(&name)
                .send()
                .await
                .map(|c| Current {
                    code_sha256: c.code_sha256().map(str::to_owned),
                    failed: c.last_update_status() == Some(&LastUpdateStatus::Failed),
                })
                .map_err(|e| crate::aws::describe(&e));
            (name, r)
        })
        .buffer_unordered(16)
        .collect()
        .await
}
