//! Lambda's control-plane quotas, kept by the client: every write (UpdateFunctionCode,
//! UpdateFunctionConfiguration, PublishVersion, UpdateAlias) and every GetFunction of one
//! command draws from one shared token bucket per quota, so a deploy of many functions
//! stays under 15 writes and 100 reads a second instead of being throttled.

use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// How a rollout is paced.
#[derive(Debug, Clone)]
pub struct Pace {
    /// At most this many functions updated at once.
    pub concurrency: usize,
    /// Give up waiting on one function after this long.
    pub timeout: Duration,
    /// The poll interval while a function is expected to settle (the first
    /// [`Pace::fast_for`] after its update); then it grows up to `max_poll`
    /// ([`poll_delay`]).
    pub first_poll: Duration,
    /// How long after an update polls come every `first_poll`.
    pub fast_for: Duration,
    /// Longest poll interval.
    pub max_poll: Duration,
    /// How often a conflict (ResourceConflictException) is retried.
    pub retries: u32,
    /// Updates (and other control-plane calls) per second, all functions together: Lambda's
    /// default quota is 15.
    pub writes_per_second: u32,
    /// GetFunction reads per second, all functions together: Lambda's quota is 100.
    pub reads_per_second: u32,
}

impl Default for Pace {
    fn default() -> Self {
        Self {
            concurrency: 10,
            timeout: Duration::from_secs(600),
            // A zip function outside a VPC settles in about a second: polled every 50 ms for
            // the first 2 s, it is found live at most 50 ms (and a round trip) late. Polls
            // go to GetFunction, whose quota (100/s, account-wide, apart from the 15/s of
            // the writes) the reads bucket keeps: one function polls 20 times a second,
            // five or more share the 100 and are paced, never throttled.
            first_poll: Duration::from_millis(50),
            fast_for: Duration::from_secs(2),
            // What takes longer (a VPC or container function: minutes) is polled ever less
            // often, up to once a second.
            max_poll: Duration::from_secs(1),
            retries: 8,
            writes_per_second: 15,
            reads_per_second: 100,
        }
    }
}

/// How long to wait before the next poll of a function updated `since` ago: `first_poll`
/// while it is expected to settle (`fast_for`), then twice as long every `fast_for` more,
/// up to `max_poll`.
pub fn poll_delay(pace: &Pace, since: Duration) -> Duration {
    if since < pace.fast_for || pace.fast_for.is_zero() {
        return pace.first_poll.min(pace.max_poll);
    }
    let doublings = (since.as_nanos() / pace.fast_for.as_nanos()).min(16) as u32;
    pace.first_poll
        .saturating_mul(1 << doublings)
        .min(pace.max_poll)
}

/// A token bucket per control-plane quota, shared by every Lambda call of one command (the
/// reads of what functions run, and every function's rollout).
pub struct Quotas {
    writes: DefaultDirectRateLimiter,
    reads: DefaultDirectRateLimiter,
}

impl Quotas {
    /// The buckets at `pace`'s rates.
    pub fn new(pace: &Pace) -> Self {
        let per_second = |n: u32| {
            let n = std::num::NonZeroU32::new(n.max(1)).unwrap_or(std::num::NonZeroU32::MIN);
            RateLimiter::direct(Quota::per_second(n))
        };
        Self {
            writes: per_second(pace.writes_per_second),
            reads: per_second(pace.reads_per_second),
        }
    }

    /// Waits for a token of the 15/s quota.
    pub async fn write(&self) {
        self.writes.until_ready().await;
    }

    /// Waits for a token of GetFunction's quota.
    pub async fn read(&self) {
        self.reads.until_ready().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_are_fast_while_a_function_settles_then_ever_slower() {
        let pace = Pace::default();
        let ms = Duration::from_millis;
        let at = |t: u64| poll_delay(&pace, ms(t));
        assert_eq!(at(0), ms(50));
        assert_eq!(
            at(1_999),
            ms(50),
            "a zip function settles in about a second"
        );
        assert_eq!(at(2_000), ms(100));
        assert_eq!(at(4_000), ms(200));
        assert_eq!(at(8_000), ms(800));
        assert_eq!(at(60_000), ms(1_000), "minutes: once a second");
        assert_eq!(poll_delay(&pace, Duration::MAX), ms(1_000));
        // One function polled for its first 2 s: 40 GetFunction, 20/s, a fifth of the quota.
        let polls = pace.fast_for.as_millis() / pace.first_poll.as_millis();
        assert_eq!(polls, 40);
        assert!(pace.reads_per_second <= 100, "GetFunction's quota");
        let odd = Pace {
            fast_for: Duration::ZERO,
            first_poll: ms(5_000),
            ..Pace::default()
        };
        assert_eq!(poll_delay(&odd, ms(10)), ms(1_000), "never above max_poll");
    }
}
