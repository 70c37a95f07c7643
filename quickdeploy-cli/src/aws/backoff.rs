//! Waiting a little longer each time: the one doubling delay behind polls and retries.

use std::time::Duration;

/// A delay that starts at `first` and doubles on every [`Backoff::next`] up to `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    /// Starts at `first`, never more than `max` (a `first` above `max` is `max`).
    pub fn new(first: Duration, max: Duration) -> Self {
        Self {
            next: first.min(max),
            max,
        }
    }

    /// The delay to wait now; the one after is twice as long, up to the maximum.
    #[allow(clippy::should_implement_trait)] // endless: an Iterator would never say None
    pub fn next(&mut self) -> Duration {
        let now = self.next;
        self.next = now.saturating_mul(2).min(self.max);
        now
    }

    /// [`Backoff::next`], then sleeps that long.
    pub async fn wait(&mut self) {
        tokio::time::sleep(self.next()).await;
    }
}

/// `delay` spread at random over its upper half (`delay / 2 ..= delay`), so that clients
/// that failed together do not all retry at the same instant.
pub fn jitter(delay: Duration) -> Duration {
    use std::hash::{BuildHasher as _, Hasher as _};
    // RandomState is seeded afresh from the OS for each new hasher's keys: random enough to
    // spread retries, with no crate for it.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let half = delay / 2;
    let spread = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
    let extra = if spread == 0 {
        0
    } else {
        random % (spread + 1)
    };
    half + Duration::from_nanos(extra)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_maximum_and_stays_there() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(100), ms(1000));
        let seen: Vec<Duration> = (0..7).map(|_| b.next()).collect();
        assert_eq!(
            seen,
            [
                ms(100),
                ms(200),
                ms(400),
                ms(800),
                ms(1000),
                ms(1000),
                ms(1000)
            ]
        );
        let mut capped = Backoff::new(ms(5000), ms(2000));
        assert_eq!((capped.next(), capped.next()), (ms(2000), ms(2000)));
        // Doubling never overflows.
        let mut huge = Backoff::new(Duration::from_secs(u64::MAX), Duration::MAX);
        assert_eq!(huge.next(), Duration::from_secs(u64::MAX));
        assert_eq!((huge.next(), huge.next()), (Duration::MAX, Duration::MAX));
    }

    #[test]
    fn jitter_stays_in_the_upper_half() {
        let d = Duration::from_millis(200);
        let all: Vec<Duration> = (0..200).map(|_| jitter(d)).collect();
        assert!(all.iter().all(|j| *j >= d / 2 && *j <= d), "{all:?}");
        assert!(
            all.iter().any(|j| *j != all[0]),
            "random, not one fixed delay"
        );
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
    }
}
