//! When to dial the hub again: a plain state machine (no clock, no randomness of its own), so its rules are tested
//! without a runtime.
//!
//! - The first retry waits `reconnect_min_ms`; each failure doubles the wait up to `reconnect_max_ms`.
//! - Every wait is jittered by ±[`JITTER`] so a hub restart is not met by all its devices at the same instant.
//! - A link that stayed up longer than [`STABLE_LINK`] resets the wait to the minimum: the hub was fine, the next
//!   drop is news.
//! - A refusal (not approved yet) waits the maximum: an admin may approve the device, but not within seconds.

use std::time::Duration;

/// How far each wait is moved either way, as a fraction of it.
pub const JITTER: f64 = 0.2;
/// A link that lasted longer than this resets the backoff.
pub const STABLE_LINK: Duration = Duration::from_secs(10);

/// The reconnect delays of one device.
#[derive(Clone, Debug)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    /// The un-jittered wait before the next attempt.
    next: Duration,
}

impl Backoff {
    /// Delays from `min_ms` doubling to `max_ms` (`max_ms` below `min_ms` counts as `min_ms`).
    pub fn new(min_ms: u64, max_ms: u64) -> Self {
        let min = Duration::from_millis(min_ms.max(1));
        let max = Duration::from_millis(max_ms).max(min);
        Self {
            min,
            max,
            next: min,
        }
    }

    /// The wait before the next attempt, jittered with `r` (uniform in `0..1`), and the doubling for the one after.
    pub fn next_delay(&mut self, r: f64) -> Duration {
        let delay = jitter(self.next, r);
        self.next = (self.next * 2).min(self.max);
        delay
    }

    /// A link that was up for `lasted` ended: a long one starts the delays over.
    pub fn link_ended(&mut self, lasted: Duration) {
        if lasted > STABLE_LINK {
            self.next = self.min;
        }
    }

    /// The hub refused the device: the next wait is the longest.
    pub fn refused(&mut self) {
        self.next = self.max;
    }

    /// The un-jittered wait before the next attempt.
    pub fn current(&self) -> Duration {
        self.next
    }
}

/// `base` moved by up to ±[`JITTER`] of itself: `r = 0` gives the shortest, `r → 1` the longest. An `r` outside
/// `0..1` (or NaN) is clamped.
pub fn jitter(base: Duration, r: f64) -> Duration {
    let r = if r.is_nan() { 0.5 } else { r.clamp(0.0, 1.0) };
    base.mul_f64(1.0 - JITTER + 2.0 * JITTER * r)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn delays_double_up_to_the_maximum() {
        let mut b = Backoff::new(500, 3_000);
        let seen: Vec<_> = (0..6).map(|_| b.next_delay(0.5)).collect();
        assert_eq!(
            seen,
            [MS(500), MS(1000), MS(2000), MS(3000), MS(3000), MS(3000)]
        );
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        assert_eq!(jitter(MS(1000), 0.0), MS(800));
        assert_eq!(jitter(MS(1000), 0.5), MS(1000));
        assert_eq!(jitter(MS(1000), 1.0), MS(1200));
        assert_eq!(jitter(MS(1000), -3.0), MS(800));
        assert_eq!(jitter(MS(1000), f64::NAN), MS(1000));
        for i in 0..100 {
            let d = jitter(MS(10_000), f64::from(i) / 100.0);
            assert!((MS(8000)..=MS(12_000)).contains(&d), "{d:?}");
        }
    }

    #[test]
    fn a_stable_link_resets_and_a_short_one_does_not() {
        let mut b = Backoff::new(100, 10_000);
        for _ in 0..5 {
            b.next_delay(0.5);
        }
        assert_eq!(b.current(), MS(3200));
        b.link_ended(Duration::from_secs(3));
        assert_eq!(b.current(), MS(3200));
        b.link_ended(Duration::from_secs(11));
        assert_eq!(b.current(), MS(100));
    }

    #[test]
    fn a_refusal_waits_the_longest() {
        let mut b = Backoff::new(100, 30_000);
        b.refused();
        assert_eq!(b.next_delay(0.5), MS(30_000));
        assert_eq!(b.next_delay(0.5), MS(30_000));
        let mut odd = Backoff::new(500, 10);
        assert_eq!(odd.next_delay(0.5), MS(500));
    }
}
