//! AWS-like latency for the rig ([`crate::proxy::S3Proxy::set_latency`],
//! [`crate::rig::Patcher::set_rtt`]): on moto every call answers in a millisecond and every
//! Lambda update is Successful at once, so round trips and the wait for a function to settle
//! never show. With a [`Latency`], each call through the proxy (and each Invoke of the rig's
//! patcher) is delayed by a round trip, and every function updated through the proxy reports
//! `LastUpdateStatus: InProgress` for a set time after the update (in the update's own answer,
//! in GetFunction and GetFunctionConfiguration), then Successful. A second update of a
//! function while it is InProgress is answered 409 ResourceConflictException, as Lambda
//! answers it.
//!
//! Set by the benches (both modes in one run) or from the environment: `QD_RIG_RTT_MS` and
//! `QD_RIG_INPROGRESS_MS` ([`Latency::from_env`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The round trip of every call, and how long an update stays InProgress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latency {
    /// Added to every call before it is forwarded.
    pub rtt: Duration,
    /// How long a function reports InProgress after an update went through.
    pub in_progress: Duration,
}

impl Latency {
    /// Round trips of 30 ms and updates InProgress for 800 ms: what a zip function outside a
    /// VPC, a region away from a developer's desk, looks like.
    pub const AWS_LIKE: Latency = Latency {
        rtt: Duration::from_millis(30),
        in_progress: Duration::from_millis(800),
    };

    /// From `QD_RIG_RTT_MS` and `QD_RIG_INPROGRESS_MS` (either may be missing, 0 then);
    /// `None` when neither is set.
    pub fn from_env() -> Option<Latency> {
        let ms = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let (rtt, in_progress) = (ms("QD_RIG_RTT_MS"), ms("QD_RIG_INPROGRESS_MS"));
        if rtt.is_none() && in_progress.is_none() {
            return None;
        }
        Some(Latency {
            rtt: Duration::from_millis(rtt.unwrap_or(0)),
            in_progress: Duration::from_millis(in_progress.unwrap_or(0)),
        })
    }

    /// A name for tables: `30 ms RTT, 800 ms InProgress`.
    pub fn label(&self) -> String {
        format!(
            "{} ms RTT, {} ms InProgress",
            self.rtt.as_millis(),
            self.in_progress.as_millis()
        )
    }
}

/// The latency in force and, per function, until when it is InProgress.
#[derive(Debug, Default)]
pub struct Settling {
    latency: Mutex<Option<Latency>>,
    until: Mutex<HashMap<String, Instant>>,
}

/// What a Lambda call is, as far as settling goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LambdaOp {
    /// UpdateFunctionCode or UpdateFunctionConfiguration: starts an update.
    Update,
    /// GetFunction or GetFunctionConfiguration of `$LATEST`: reports the update's status.
    Read,
    /// PublishVersion: refused while an update is in progress, as Lambda does.
    Publish,
    /// Anything else.
    Other,
}

impl LambdaOp {
    /// The kind of `METHOD /2015-03-31/functions/NAME/OP?QUERY`. A read of a version or an
    /// alias (`Qualifier=`) is not `$LATEST`'s.
    pub fn of(method: &str, op: &str, query: &str) -> LambdaOp {
        let qualified = query
            .split('&')
            .any(|kv| kv.starts_with("Qualifier=") && kv != "Qualifier=%24LATEST");
        match (method, op) {
            ("PUT", "code" | "configuration") => LambdaOp::Update,
            ("GET", "" | "configuration") if !qualified => LambdaOp::Read,
            ("POST", "versions") => LambdaOp::Publish,
            _ => LambdaOp::Other,
        }
    }
}

/// A function's name as the proxy keys it: the name part of a (possibly URL-encoded) ARN.
pub fn function_key(name: &str) -> String {
    let name = name.replace("%3A", ":").replace("%3a", ":");
    match name.strip_prefix("arn:") {
        Some(rest) => rest.split(':').nth(5).unwrap_or(rest).to_owned(),
        None => name,
    }
}

impl Settling {
    /// Puts `latency` in force from now on (`None`: none, as plain moto).
    pub fn set(&self, latency: Option<Latency>) {
        if let Ok(mut l) = self.latency.lock() {
            *l = latency;
        }
        if latency.is_none()
            && let Ok(mut u) = self.until.lock()
        {
            u.clear();
        }
    }

    /// The latency in force.
    pub fn get(&self) -> Option<Latency> {
        self.latency.lock().ok().and_then(|l| *l)
    }

    /// Waits out the round trip of one call, if a latency is in force.
    pub async fn round_trip(&self) {
        if let Some(l) = self.get()
            && !l.rtt.is_zero()
        {
            tokio::time::sleep(l.rtt).await;
        }
    }

    /// Whether `function` is InProgress now.
    fn busy(&self, function: &str) -> bool {
        self.until
            .lock()
            .ok()
            .and_then(|u| u.get(function).copied())
            .is_some_and(|t| Instant::now() < t)
    }

    /// The 409 Lambda gives an update or a publish of a function still InProgress, if due:
    /// `(error type, message)`.
    pub fn refusal(&self, function: &str, op: LambdaOp) -> Option<(&'static str, String)> {
        let in_force = self.get().is_some_and(|l| !l.in_progress.is_zero());
        (in_force && matches!(op, LambdaOp::Update | LambdaOp::Publish) && self.busy(function))
            .then(|| {
                (
                    "ResourceConflictException",
                    format!(
                        "The operation cannot be performed at this time. An update is in progress for resource: {function}"
                    ),
                )
            })
    }

    /// An update of `function` is on its way to moto: it is InProgress from now, before moto
    /// answers (moto applies the new code before its answer is back, and a read meanwhile
    /// must not see it Successful: Lambda's update is InProgress from the moment it is taken).
    pub fn begin(&self, function: &str, op: LambdaOp) {
        let Some(l) = self.get().filter(|l| !l.in_progress.is_zero()) else {
            return;
        };
        if op == LambdaOp::Update
            && let Ok(mut u) = self.until.lock()
        {
            u.insert(function.to_owned(), Instant::now() + l.in_progress);
        }
    }

    /// The answer (`body`, JSON) with LastUpdateStatus InProgress while `function` settles; an
    /// update that went through (`ok`) starts its time, one that did not ends what
    /// [`Settling::begin`] started. `None`: leave the answer as it is.
    pub fn answer(&self, function: &str, op: LambdaOp, ok: bool, body: &[u8]) -> Option<Vec<u8>> {
        let l = self.get().filter(|l| !l.in_progress.is_zero())?;
        if !ok {
            if op == LambdaOp::Update
                && let Ok(mut u) = self.until.lock()
            {
                u.remove(function);
            }
            return None;
        }
        match op {
            LambdaOp::Update => {
                if let Ok(mut u) = self.until.lock() {
                    u.insert(function.to_owned(), Instant::now() + l.in_progress);
                }
            }
            LambdaOp::Read if self.busy(function) => {}
            _ => return None,
        }
        let mut doc: serde_json::Value = serde_json::from_slice(body).ok()?;
        let config = if doc.get("Configuration").is_some() {
            &mut doc["Configuration"]
        } else {
            &mut doc
        };
        config.as_object()?;
        config["LastUpdateStatus"] = "InProgress".into();
        config["LastUpdateStatusReason"] = "The function is being updated.".into();
        config["LastUpdateStatusReasonCode"] = "Updating".into();
        serde_json::to_vec(&doc).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ops_are_read_as_lambda_means_them() {
        assert_eq!(
            function_key("arn%3Aaws%3Alambda%3Aus-east-1%3A123%3Afunction%3Afn-a"),
            "fn-a"
        );
        assert_eq!(
            function_key("arn:aws:lambda:us-east-1:1:function:fn:live"),
            "fn"
        );
        assert_eq!(function_key("fn-b"), "fn-b");
        assert_eq!(LambdaOp::of("PUT", "code", ""), LambdaOp::Update);
        assert_eq!(LambdaOp::of("GET", "", ""), LambdaOp::Read);
        assert_eq!(LambdaOp::of("GET", "", "Qualifier=3"), LambdaOp::Other);
        assert_eq!(LambdaOp::of("POST", "versions", ""), LambdaOp::Publish);
        assert_eq!(LambdaOp::of("POST", "invocations", ""), LambdaOp::Other);
    }

    #[test]
    fn an_update_is_in_progress_for_its_time_then_not() {
        let s = Settling::default();
        let body = br#"{"FunctionName":"f","LastUpdateStatus":"Successful"}"#;
        // No latency in force: answers as they are.
        assert!(s.answer("f", LambdaOp::Update, true, body).is_none());
        s.set(Some(Latency {
            rtt: Duration::ZERO,
            in_progress: Duration::from_millis(200),
        }));
        let said = s
            .answer("f", LambdaOp::Update, true, body)
            .expect("rewritten");
        assert!(String::from_utf8_lossy(&said).contains("InProgress"));
        let read = br#"{"Configuration":{"LastUpdateStatus":"Successful"}}"#;
        assert!(s.answer("f", LambdaOp::Read, true, read).is_some());
        assert!(s.answer("g", LambdaOp::Read, true, read).is_none());
        assert!(s.refusal("f", LambdaOp::Update).is_some());
        assert!(s.refusal("f", LambdaOp::Publish).is_some());
        std::thread::sleep(Duration::from_millis(250));
        assert!(s.answer("f", LambdaOp::Read, true, read).is_none());
        assert!(s.refusal("f", LambdaOp::Update).is_none());
        // InProgress from the moment the update is sent, before moto's answer; an update
        // moto refused never started.
        s.begin("f", LambdaOp::Update);
        assert!(s.answer("f", LambdaOp::Read, true, read).is_some());
        assert!(s.answer("f", LambdaOp::Update, false, b"{}").is_none());
        assert!(s.answer("f", LambdaOp::Read, true, read).is_none());
        s.begin("f", LambdaOp::Read);
        assert!(
            s.answer("f", LambdaOp::Read, true, read).is_none(),
            "a read starts nothing"
        );
    }
}
