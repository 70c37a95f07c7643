//! The time, in the forms reports use.

use std::sync::OnceLock;
use std::time::Instant;

static COMMAND_BEGAN: OnceLock<Instant> = OnceLock::new();

/// Marks when the command began: `main` calls it first thing. Later calls keep the first mark.
pub fn mark_command_began() {
    let _ = COMMAND_BEGAN.set(Instant::now());
}

/// When the command began ([`mark_command_began`]), if it was marked: the start of its
/// `setup` phase (configuration, credentials, clients) on `--timings`' time line.
pub fn command_began() -> Option<Instant> {
    COMMAND_BEGAN.get().copied()
}

/// Now, as RFC 3339 in UTC (`2026-12-01T16:30:58Z`), the one timestamp format of `--json`.
pub fn now_rfc3339() -> String {
    aws_smithy_types::DateTime::from(std::time::SystemTime::now())
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Milliseconds since `t`, two decimals.
pub fn ms(t: Instant) -> f64 {
    (t.elapsed().as_secs_f64() * 1e5).round() / 100.0
}
