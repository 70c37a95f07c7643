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
    /// First poll interval; doubles up to `max_poll`.
    pub first_poll: Duration,
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
            first_poll: Duration::from_millis(100),
            // A zip function settles in about a second: polls 2 s apart found it live up to
            // 0.7 s late (seen with --timings in latency mode). Reads are paced at
            // GetFunction's quota (`reads_per_second`), so polling often cannot throttle.
            max_poll: Duration::from_millis(250),
            retries: 8,
            writes_per_second: 15,
            reads_per_second: 100,
        }
    }
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
