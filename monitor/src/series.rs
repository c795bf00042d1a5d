//! A connection's network history: a bounded ring of [`Sample`]s taken from its counters at most once per
//! [`SERIES_PERIOD`], which the dashboard plots (estimate, sent bitrate, RTT, loss, tier switches).
//!
//! Owners update counters at their own pace: a WebRTC stats loop once a second, a JPEG viewer on every frame.
//! [`Series::record`] is a pure decision on the `now` it is given (tests pass virtual instants): time is cut into
//! `SERIES_PERIOD` slots and a slot keeps the first update that falls in it, so a per-frame caller costs one
//! sample a second and a once-a-second caller whose ticks wobble keeps every tick (see [`SERIES_SLACK`]).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::snapshot::Sample;
use crate::types::Counters;

/// Samples kept per connection: at one a second, the last 5 minutes — what the dashboard's plots span. About
/// 80 bytes each, so 24 KiB per video connection at most (closed ones kept for REST included).
pub const SERIES_LEN: usize = 300;

/// At most one sample per period: the WebRTC stats loop's own period, so every one of its updates is kept.
pub const SERIES_PERIOD: Duration = Duration::from_secs(1);

/// How much earlier than the first sample's phase an update may come and still open the next slot. The slots
/// start this long before the first sample, so a once-a-second caller keeps every tick that comes up to
/// `SERIES_SLACK` early or `SERIES_PERIOD - SERIES_SLACK` late. A tokio interval is never early, only late,
/// but the first tick may be later than the following ones by a few milliseconds. The cost: the second sample of
/// a per-frame caller comes `SERIES_PERIOD - SERIES_SLACK` after the first, every later one a period apart.
pub const SERIES_SLACK: Duration = Duration::from_millis(100);

/// The bounded history of one connection.
#[derive(Debug, Default)]
pub(crate) struct Series {
    samples: VecDeque<Sample>,
    /// Where slot 0 starts: [`SERIES_SLACK`] before the first sample.
    origin: Option<Instant>,
    /// The slot of the newest sample.
    last_slot: u64,
}

impl Series {
    /// Records `counters` as of `now` (`at_ms` is `now` in epoch milliseconds) unless the current slot already
    /// has a sample. Returns whether a sample was taken.
    pub(crate) fn record(&mut self, now: Instant, at_ms: u64, counters: &Counters) -> bool {
        let origin = *self
            .origin
            .get_or_insert_with(|| now.checked_sub(SERIES_SLACK).unwrap_or(now));
        let slot = slot_of(origin, now);
        if !self.samples.is_empty() && slot <= self.last_slot {
            return false;
        }
        self.last_slot = slot;
        while self.samples.len() >= SERIES_LEN {
            self.samples.pop_front();
        }
        self.samples.push_back(Sample {
            at_ms,
            bitrate_kbps: counters.bitrate_kbps,
            estimate_kbps: counters.estimate_kbps,
            target_kbps: counters.target_kbps,
            rtt_ms: counters.rtt_ms,
            loss_fraction: counters.loss_fraction,
            fps: counters.fps,
            tier: counters.tier,
            tier_switches: counters.tier_switches,
        });
        true
    }

    /// The samples, oldest first.
    pub(crate) fn to_vec(&self) -> Vec<Sample> {
        self.samples.iter().cloned().collect()
    }
}

/// Which `SERIES_PERIOD` slot after `origin` the instant `now` falls in (instants before the origin — a caller
/// passing an older `now` — count as slot 0).
fn slot_of(origin: Instant, now: Instant) -> u64 {
    let since = now.saturating_duration_since(origin);
    (since.as_nanos() / SERIES_PERIOD.as_nanos()) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(kbps: f64) -> Counters {
        Counters {
            bitrate_kbps: kbps,
            estimate_kbps: Some(kbps * 1.2),
            tier: Some(1),
            tier_switches: 2,
            loss_fraction: Some(0.05),
            ..Counters::default()
        }
    }

    #[test]
    fn a_per_frame_caller_gets_one_sample_a_second() {
        let t0 = Instant::now();
        let mut s = Series::default();
        // 30 updates a second for 10 s.
        let taken = (0..300)
            .filter(|i| {
                let now = t0 + Duration::from_millis(i * 1000 / 30);
                s.record(now, i * 1000 / 30, &counters(100.0))
            })
            .count();
        let v = s.to_vec();
        let at: Vec<_> = v.iter().map(|x| x.at_ms).collect();
        // 0, 900, 1900, …, 9900: never two in one second.
        assert_eq!(taken, 11, "{at:?}");
        assert_eq!(at[1], 900, "{at:?}");
        assert!(at.windows(2).skip(1).all(|w| w[1] - w[0] == 1000), "{at:?}");
        assert_eq!(v[0].estimate_kbps, Some(120.0));
        assert_eq!((v[0].tier, v[0].tier_switches), (Some(1), 2));
        assert_eq!(v[0].loss_fraction, Some(0.05));
    }

    #[test]
    fn a_once_a_second_caller_keeps_every_tick_despite_jitter() {
        let t0 = Instant::now();
        let mut s = Series::default();
        // Ticks 50 to 900 ms late (some earlier than the first one's phase): a strict "1 s since the last one" rule
        // would drop about half.
        for i in 0..20u64 {
            let late = [100, 900, 150, 50, 600][i as usize % 5];
            let now = t0 + Duration::from_millis(i * 1000 + late);
            assert!(s.record(now, i, &counters(i as f64)), "tick {i} dropped");
        }
        // A second update in the same slot is not a sample.
        assert!(!s.record(t0 + Duration::from_millis(19_950), 99, &counters(0.0)));
        assert_eq!(s.to_vec().len(), 20);
    }

    #[test]
    fn history_is_bounded_and_keeps_the_newest() {
        let t0 = Instant::now();
        let mut s = Series::default();
        for i in 0..(SERIES_LEN as u64 + 50) {
            assert!(s.record(t0 + Duration::from_secs(i), i, &counters(i as f64)));
        }
        let v = s.to_vec();
        assert_eq!(v.len(), SERIES_LEN);
        assert_eq!(v.first().map(|x| x.at_ms), Some(50));
        assert_eq!(v.last().map(|x| x.at_ms), Some(SERIES_LEN as u64 + 49));
    }

    #[test]
    fn an_older_instant_is_not_a_new_sample() {
        let t0 = Instant::now() + Duration::from_secs(10);
        let mut s = Series::default();
        assert!(s.record(t0, 0, &counters(1.0)));
        assert!(!s.record(t0 - Duration::from_secs(5), 1, &counters(1.0)));
        assert!(s.record(t0 + Duration::from_secs(1), 2, &counters(1.0)));
        assert_eq!(s.to_vec().len(), 2);
    }
}
