//! The command's time line: every attempt of every AWS call (recorded by an interceptor that
//! every client carries, [`Recorder`]) and the phases the ops mark ([`Trace::phase`]), on one
//! clock. `--timings` prints it (`report::timeline` finds the critical path), and an attempt
//! that has waited [`SLOW_AFTER`] for its answer is noted for the ops to show
//! ([`Trace::take_slow`]), so no wait is silent.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// After this long without an answer, an attempt is shown as a slow call.
pub const SLOW_AFTER: Duration = Duration::from_secs(5);

/// What a span is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SpanKind {
    /// One attempt of an AWS call.
    Call,
    /// A phase of the command (build, inspect, patch, ...).
    Phase,
}

/// One span of the time line, in ms since the trace began.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Span {
    /// A call or a phase.
    pub kind: SpanKind,
    /// `Service.Operation` (`Lambda.UpdateFunctionCode`) or the phase's name.
    pub name: String,
    /// When it began.
    pub start_ms: f64,
    /// When it ended.
    pub end_ms: f64,
    /// A call's HTTP status (`200`) or `no response`, and its attempt when not the first.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// A call attempt that has waited long for its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlowCall {
    /// `Service.Operation`.
    pub call: String,
    /// Which attempt (1 for the first).
    pub attempt: u32,
    /// How long it has waited so far, in whole seconds.
    pub waited_s: u64,
}

#[derive(Debug)]
struct Inner {
    began: Instant,
    spans: Vec<Span>,
    slow: Vec<SlowCall>,
}

/// The time line of one command (or of one `watch` round, [`Trace::restart`]); cheap to
/// clone, every clone the same line.
#[derive(Debug, Clone)]
pub struct Trace {
    inner: Arc<Mutex<Inner>>,
    slow_heard: Arc<tokio::sync::Notify>,
}

impl Default for Trace {
    fn default() -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                began: Instant::now(),
                spans: Vec::new(),
                slow: Vec::new(),
            })),
            slow_heard: Arc::new(tokio::sync::Notify::new()),
        }
    }
}

impl Trace {
    fn since(&self, at: Instant) -> f64 {
        self.inner.lock().map_or(0.0, |i| {
            (at.saturating_duration_since(i.began).as_secs_f64() * 1e5).round() / 100.0
        })
    }

    /// Starts the line again from now (a `watch` round), forgetting what was on it.
    pub fn restart(&self) {
        self.restart_at(Instant::now());
    }

    /// Starts the line again from `began` (when the command began, so its setup shows too),
    /// forgetting what was on it.
    pub fn restart_at(&self, began: Instant) {
        if let Ok(mut i) = self.inner.lock() {
            i.began = began;
            i.spans.clear();
            i.slow.clear();
        }
    }

    /// Adds a span that ran from `start` until now.
    pub fn add(&self, kind: SpanKind, name: String, start: Instant, detail: String) {
        let (start_ms, end_ms) = (self.since(start), self.since(Instant::now()));
        if let Ok(mut i) = self.inner.lock() {
            i.spans.push(Span {
                kind,
                name,
                start_ms,
                end_ms,
                detail,
            });
        }
    }

    /// Marks a phase from now until the guard is dropped.
    pub fn phase(&self, name: &'static str) -> Phase {
        Phase {
            trace: self.clone(),
            name,
            start: Instant::now(),
        }
    }

    /// Every span so far, by start.
    pub fn spans(&self) -> Vec<Span> {
        let mut s = self
            .inner
            .lock()
            .map(|i| i.spans.clone())
            .unwrap_or_default();
        // A phase before the calls that began in the same instant: they ran inside it.
        s.sort_by(|a, b| {
            a.start_ms
                .total_cmp(&b.start_ms)
                .then((a.kind == SpanKind::Call).cmp(&(b.kind == SpanKind::Call)))
        });
        s
    }

    /// The slow calls noted since the last take.
    pub fn take_slow(&self) -> Vec<SlowCall> {
        self.inner
            .lock()
            .map(|mut i| std::mem::take(&mut i.slow))
            .unwrap_or_default()
    }

    /// Waits until a slow call is noted.
    pub async fn slow_noted(&self) {
        self.slow_heard.notified().await;
    }

    fn note_slow(&self, slow: SlowCall) {
        if let Ok(mut i) = self.inner.lock() {
            i.slow.push(slow);
        }
        self.slow_heard.notify_one();
    }
}

/// A phase being timed ([`Trace::phase`]); ends when dropped.
#[derive(Debug)]
pub struct Phase {
    trace: Trace,
    name: &'static str,
    start: Instant,
}

impl Drop for Phase {
    fn drop(&mut self) {
        self.trace.add(
            SpanKind::Phase,
            self.name.to_owned(),
            self.start,
            String::new(),
        );
    }
}

/// The interceptor on every client: times each attempt onto the [`Trace`], notes an attempt
/// still waiting after [`SLOW_AFTER`] (and every further [`SLOW_AFTER`]), and with `-v`
/// prints one line per attempt.
#[derive(Debug)]
pub struct Recorder {
    /// Where attempts go.
    pub trace: Trace,
    /// Print each attempt on stderr (`-v`).
    pub verbose: bool,
}

/// When the current attempt started, and the watch that notes it slow (ends when dropped).
#[derive(Debug)]
struct Attempt {
    started: Instant,
    watch: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if let Some(w) = self.watch.take() {
            w.abort();
        }
    }
}

// The config bag wants Clone; a clone does not watch (only the stored one does).
impl Clone for Attempt {
    fn clone(&self) -> Self {
        Self {
            started: self.started,
            watch: None,
        }
    }
}

impl aws_smithy_types::config_bag::Storable for Attempt {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

fn call_name(cfg: &aws_smithy_types::config_bag::ConfigBag) -> String {
    cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>()
        .map(|m| format!("{}.{}", m.service(), m.name()))
        .unwrap_or_default()
}

fn attempt_of(cfg: &aws_smithy_types::config_bag::ConfigBag) -> u32 {
    cfg.load::<aws_smithy_runtime_api::client::retries::RequestAttempts>()
        .map_or(1, |a| a.attempts().max(1))
}

impl aws_smithy_runtime_api::client::interceptors::Intercept for Recorder {
    fn name(&self) -> &'static str {
        "quickdeploy-trace"
    }

    fn read_before_attempt(
        &self,
        _context: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let (call, attempt, trace) = (call_name(cfg), attempt_of(cfg), self.trace.clone());
        // Outside a runtime (never in the CLI) there is no watch, only the record.
        let watch = tokio::runtime::Handle::try_current().ok().map(|rt| {
            rt.spawn(async move {
                let mut waited = Duration::ZERO;
                loop {
                    tokio::time::sleep(SLOW_AFTER).await;
                    waited += SLOW_AFTER;
                    trace.note_slow(SlowCall {
                        call: call.clone(),
                        attempt,
                        waited_s: waited.as_secs(),
                    });
                }
            })
        });
        cfg.interceptor_state().store_put(Attempt {
            started: Instant::now(),
            watch,
        });
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let started = match cfg.load::<Attempt>() {
            Some(a) => a.started,
            None => return Ok(()),
        };
        // Ends the slow-call watch of this attempt.
        cfg.interceptor_state().unset::<Attempt>();
        let (call, attempt) = (call_name(cfg), attempt_of(cfg));
        let status = context
            .response()
            .map(|r| r.status().as_u16().to_string())
            .unwrap_or_else(|| "no response".to_owned());
        if self.verbose {
            let ms = started.elapsed().as_secs_f64() * 1e3;
            match attempt {
                1 => eprintln!("aws {call} {status} {ms:.0} ms"),
                n => eprintln!("aws {call} {status} attempt {n} {ms:.0} ms"),
            }
        }
        let detail = match attempt {
            1 => status,
            n => format!("{status}, attempt {n}"),
        };
        self.trace.add(SpanKind::Call, call, started, detail);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_and_calls_share_one_line_and_a_restart_clears_it() {
        let t = Trace::default();
        {
            let _p = t.phase("inspect");
            t.add(
                SpanKind::Call,
                "S3.HeadObject".into(),
                Instant::now(),
                "200".into(),
            );
        }
        let spans = t.spans();
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[0].name, "inspect");
        assert!(spans[0].end_ms >= spans[1].end_ms);
        t.note_slow(SlowCall {
            call: "Lambda.GetFunction".into(),
            attempt: 1,
            waited_s: 5,
        });
        assert_eq!(t.take_slow().len(), 1);
        assert!(t.take_slow().is_empty());
        t.restart();
        assert!(t.spans().is_empty());
    }
}
