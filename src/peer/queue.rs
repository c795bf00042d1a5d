//! Standing-queue detection: the one congestion signal GCC misses.
//!
//! GCC's delay-based half reacts to the *growth* of one-way delay (the slope of inter-group delay). Behind a
//! bottleneck with a deep buffer (home routers, cellular: hundreds of ms) a sender that overshoots fills the
//! buffer within a second; from then on the delay is high but flat, the slope is zero, and only the loss-based
//! half acts — which holds its rate while loss stays under 10 %. Measured behind a 1.5 Mbit/s `tbf` with a
//! 400 ms queue: GCC settled at ~1.4 Mbit/s with 12 % loss and a round trip of 400 ms, so every frame waited
//! 400 ms in the queue and many were incomplete.
//!
//! [`QueueWatch`] reads the same TWCC reports: each packet's one-way delay (receiver arrival − our departure,
//! on two clocks, so only its changes mean anything) against the smallest seen over [`BASE_WINDOW`] is the
//! queueing delay. When even the least-delayed packet of each feedback has waited more than [`QUEUE_LIMIT`] for
//! [`QUEUE_HELD`] without shrinking (a keyframe burst drains; a standing queue does not), the path has a
//! standing queue: the estimate is brought down to [`BACKOFF_FACTOR`] × the rate
//! the receiver actually got (the same rule as GCC's own decrease), at most once per [`BACKOFF_EVERY`], until
//! the queue has drained. Pure: it takes `now` and the reports.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rtc::interceptor::PacketReport;

/// Queueing delay that counts as a standing queue: above what jitter and a keyframe burst at the pacer's rate
/// cause, below what makes a remote screen feel laggy.
pub(crate) const QUEUE_LIMIT: Duration = Duration::from_millis(100);
/// How long the queue must stay above [`QUEUE_LIMIT`] without shrinking (a queue that shrinks is a burst
/// draining, e.g. a keyframe sent at the pacer's 2.5× rate).
pub(crate) const QUEUE_HELD: Duration = Duration::from_millis(300);
/// How long the smallest one-way delay is remembered as the path's base (routes and clocks drift slowly).
pub(crate) const BASE_WINDOW: Duration = Duration::from_secs(10);
/// At most one forced decrease per this: the next feedback must first show what the last one did.
pub(crate) const BACKOFF_EVERY: Duration = Duration::from_millis(500);
/// The decrease: this fraction of the rate the receiver got (GCC's β).
pub(crate) const BACKOFF_FACTOR: f64 = 0.85;
/// Arrivals the delivered rate is measured over (receiver clock).
const RATE_WINDOW: Duration = Duration::from_millis(500);
/// Arrivals remembered for the delivered rate.
const MAX_ARRIVALS: usize = 2048;

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct QueueWatch {
    epoch: Option<Instant>,
    /// (when the feedback came, smallest one-way delay in it, seconds), oldest first.
    base: VecDeque<(Instant, f64)>,
    /// (arrival on the receiver's clock, bytes), oldest first.
    arrivals: VecDeque<(Duration, usize)>,
    /// Since when the queue has been over the limit without draining, and how deep it was then.
    over_since: Option<(Instant, Duration)>,
    last_backoff: Option<Instant>,
}

/// A queue that shrank by this much since it went over the limit is draining (a keyframe burst leaving the
/// bottleneck), not standing.
const DRAINING: Duration = Duration::from_millis(20);

impl QueueWatch {
    /// The queueing delay the last feedback showed (for tests and diagnostics).
    fn queue_of(&self, batch_min: f64) -> Option<Duration> {
        let base = self
            .base
            .iter()
            .map(|&(_, d)| d)
            .fold(f64::INFINITY, f64::min);
        base.is_finite()
            .then(|| Duration::from_secs_f64((batch_min - base).max(0.0)))
    }

    /// The rate the receiver got over the last [`RATE_WINDOW`] of arrivals, bit/s.
    pub(crate) fn delivered_bps(&self) -> Option<f64> {
        let &(last, _) = self.arrivals.back()?;
        let from = last.checked_sub(RATE_WINDOW).unwrap_or_default();
        let mut first = last;
        let mut bytes = 0usize;
        for &(at, size) in self.arrivals.iter().rev() {
            if at < from {
                break;
            }
            first = at;
            bytes += size;
        }
        let span = last.saturating_sub(first).as_secs_f64();
        (span >= 0.05).then(|| bytes as f64 * 8.0 / span)
    }

    /// Reads one feedback's reports; returns the estimate to fall back to (bit/s) when a standing queue calls
    /// for a decrease now.
    pub(crate) fn on_reports(&mut self, now: Instant, reports: &[PacketReport]) -> Option<f64> {
        let epoch = *self
            .epoch
            .get_or_insert_with(|| reports.iter().map(|r| r.departure).min().unwrap_or(now));
        let mut batch_min = f64::INFINITY;
        for r in reports {
            let Some(arrival) = r.arrival else { continue };
            let sent = r.departure.saturating_duration_since(epoch).as_secs_f64();
            batch_min = batch_min.min(arrival.as_secs_f64() - sent);
            if self.arrivals.len() == MAX_ARRIVALS {
                self.arrivals.pop_front();
            }
            self.arrivals.push_back((arrival, r.size));
        }
        if !batch_min.is_finite() {
            return None;
        }
        while self
            .base
            .front()
            .is_some_and(|&(at, _)| now.saturating_duration_since(at) > BASE_WINDOW)
        {
            self.base.pop_front();
        }
        self.base.push_back((now, batch_min));
        let queue = self.queue_of(batch_min)?;
        if queue <= QUEUE_LIMIT {
            self.over_since = None;
            return None;
        }
        let (since, depth) = *self.over_since.get_or_insert((now, queue));
        if queue + DRAINING < depth {
            // Shrinking: a burst draining on its own. Judge from here.
            self.over_since = Some((now, queue));
            return None;
        }
        let due = self
            .last_backoff
            .is_none_or(|at| now.saturating_duration_since(at) >= BACKOFF_EVERY);
        if now.saturating_duration_since(since) < QUEUE_HELD || !due {
            return None;
        }
        let delivered = self.delivered_bps()?;
        self.last_backoff = Some(now);
        Some(delivered * BACKOFF_FACTOR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::interceptor::PacketReport;

    /// A feedback of `n` 1200-byte packets sent 1 ms apart from `sent`, each arriving `owd` later (on a
    /// receiver clock that reads 5 s when we read `t0`).
    fn batch(t0: Instant, sent_ms: u64, n: u64, owd_ms: u64, spacing_us: u64) -> Vec<PacketReport> {
        (0..n)
            .map(|i| {
                let departure =
                    t0 + Duration::from_millis(sent_ms) + Duration::from_micros(i * 1000);
                let arrival = Duration::from_secs(5)
                    + Duration::from_millis(sent_ms + owd_ms)
                    + Duration::from_micros(i * spacing_us);
                PacketReport {
                    ssrc: 1,
                    id: i,
                    rtp_sequence_number: i as u16,
                    is_twcc: true,
                    twcc_sequence_number: i as u16,
                    size: 1200,
                    arrived: true,
                    departure,
                    arrival: Some(arrival),
                    ecn: Default::default(),
                }
            })
            .collect()
    }

    #[test]
    fn a_flat_delay_is_no_queue() {
        let t0 = Instant::now();
        let mut q = QueueWatch::default();
        for k in 0..50u64 {
            let now = t0 + Duration::from_millis(k * 100 + 30);
            assert_eq!(q.on_reports(now, &batch(t0, k * 100, 10, 20, 1000)), None);
        }
    }

    #[test]
    fn a_standing_queue_brings_the_estimate_to_what_was_delivered() {
        let t0 = Instant::now();
        let mut q = QueueWatch::default();
        // A clean second: 20 ms one-way.
        for k in 0..10u64 {
            q.on_reports(
                t0 + Duration::from_millis(k * 100 + 30),
                &batch(t0, k * 100, 10, 20, 1000),
            );
        }
        // The bottleneck fills: 400 ms of queue, packets leaving it 6.4 ms apart.
        let mut backoffs = Vec::new();
        for k in 10..40u64 {
            let now = t0 + Duration::from_millis(k * 100 + 430);
            if let Some(to) = q.on_reports(now, &batch(t0, k * 100, 10, 420, 6400)) {
                backoffs.push((k, to));
            }
        }
        assert!(!backoffs.is_empty());
        let (first, to) = backoffs[0];
        assert!(first >= 13, "held {QUEUE_HELD:?} first: {first}");
        // Ten 1200-byte packets per 100 ms is ~960 kbit/s delivered; back off to 85 % of it (the window's edges
        // make the measured rate a little higher).
        let expected = 960_000.0 * BACKOFF_FACTOR;
        assert!((to - expected).abs() < 0.2 * expected, "{to}");
        // At most one decrease per BACKOFF_EVERY (every 5th feedback here).
        for w in backoffs.windows(2) {
            assert!(w[1].0 - w[0].0 >= 5, "{backoffs:?}");
        }
        // The queue drains: no more decreases.
        for k in 40..60u64 {
            let now = t0 + Duration::from_millis(k * 100 + 30);
            assert_eq!(q.on_reports(now, &batch(t0, k * 100, 10, 25, 1000)), None);
        }
    }

    #[test]
    fn a_draining_burst_is_not_a_standing_queue() {
        let t0 = Instant::now();
        let mut q = QueueWatch::default();
        for k in 0..10u64 {
            q.on_reports(
                t0 + Duration::from_millis(k * 100 + 30),
                &batch(t0, k * 100, 10, 20, 1000),
            );
        }
        // A keyframe: 300 ms of queue that drains by 30 ms per feedback.
        for (i, k) in (10..20u64).enumerate() {
            let owd = 320 - 30 * i as u64;
            let now = t0 + Duration::from_millis(k * 100 + owd + 10);
            assert_eq!(
                q.on_reports(now, &batch(t0, k * 100, 10, owd, 6400)),
                None,
                "feedback {k}"
            );
        }
    }

    #[test]
    fn reports_without_arrivals_change_nothing() {
        let t0 = Instant::now();
        let mut q = QueueWatch::default();
        let mut lost = batch(t0, 0, 5, 20, 1000);
        for r in &mut lost {
            r.arrived = false;
            r.arrival = None;
        }
        assert_eq!(q.on_reports(t0, &lost), None);
        assert_eq!(q.on_reports(t0, &[]), None);
    }
}
