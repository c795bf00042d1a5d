//! The frame pacer: a fixed grid of ticks at the configured rate, decided from `now` alone.
//!
//! A capture thread asks [`Pacer::poll`] whether a tick is due and sleeps until [`Pacer::deadline`] otherwise.
//! After an overrun (a capture or a stall longer than one interval) the pacer never bursts to catch up: it
//! reports the tick as late, counts the ticks it skipped and puts the next deadline back on the grid. Bursting
//! would only queue stale pictures behind the encoder and raise latency for everyone.

use std::time::{Duration, Instant};

/// A tick later than this fraction of an interval counts as late (scheduling jitter below it is normal).
const LATE_FRACTION: u32 = 4;

/// One due tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tick {
    /// How long after its scheduled time the tick was taken.
    pub lateness: Duration,
    /// More than a quarter of an interval behind schedule.
    pub late: bool,
    /// Whole ticks dropped before this one because the caller overran.
    pub skipped: u64,
}

/// Fixed-interval tick source. Pure: every decision takes `now`.
#[derive(Clone, Debug)]
pub struct Pacer {
    interval: Duration,
    /// The scheduled time of the next tick; `None` before the first tick (which is due at once).
    next: Option<Instant>,
    ticks: u64,
    late_ticks: u64,
    skipped_ticks: u64,
}

impl Pacer {
    /// A pacer at `fps` ticks per second (clamped to at least 1).
    pub fn new(fps: u32) -> Self {
        Self {
            interval: interval_for(fps),
            next: None,
            ticks: 0,
            late_ticks: 0,
            skipped_ticks: 0,
        }
    }

    /// The tick interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Changes the rate; the next tick keeps its deadline unless the new interval brings it closer.
    pub fn set_fps(&mut self, fps: u32, now: Instant) {
        let interval = interval_for(fps);
        if let Some(next) = self.next {
            self.next = Some(next.min(now + interval));
        }
        self.interval = interval;
    }

    /// When the next tick is due (`now` itself before the first tick).
    pub fn deadline(&self, now: Instant) -> Instant {
        self.next.unwrap_or(now)
    }

    /// Takes the tick due at `now`, if any. Ticks missed during an overrun are skipped, not replayed.
    pub fn poll(&mut self, now: Instant) -> Option<Tick> {
        let Some(scheduled) = self.next else {
            self.next = Some(now + self.interval);
            self.ticks += 1;
            return Some(Tick {
                lateness: Duration::ZERO,
                late: false,
                skipped: 0,
            });
        };
        if now < scheduled {
            return None;
        }
        let lateness = now - scheduled;
        let skipped = (lateness.as_nanos() / self.interval.as_nanos()) as u64;
        // Stay on the grid: the next tick is the first grid point after `now`.
        self.next = Some(scheduled + self.interval * (skipped as u32 + 1));
        let late = lateness > self.interval / LATE_FRACTION;
        self.ticks += 1;
        self.late_ticks += u64::from(late);
        self.skipped_ticks += skipped;
        Some(Tick {
            lateness,
            late,
            skipped,
        })
    }

    /// Ticks taken so far.
    pub fn ticks(&self) -> u64 {
        self.ticks
    }

    /// Ticks taken late so far.
    pub fn late_ticks(&self) -> u64 {
        self.late_ticks
    }

    /// Ticks skipped after overruns so far.
    pub fn skipped_ticks(&self) -> u64 {
        self.skipped_ticks
    }
}

fn interval_for(fps: u32) -> Duration {
    Duration::from_secs(1) / fps.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn first_tick_is_immediate_then_on_the_grid() {
        let t0 = Instant::now();
        let mut p = Pacer::new(50); // 20 ms
        assert_eq!(p.interval(), 20 * MS);
        assert!(p.poll(t0).is_some());
        assert!(p.poll(t0 + 5 * MS).is_none());
        assert_eq!(p.deadline(t0), t0 + 20 * MS);
        let tick = p.poll(t0 + 21 * MS).unwrap();
        assert_eq!(tick.lateness, MS);
        assert!(!tick.late);
        assert_eq!(tick.skipped, 0);
        // The grid does not drift with the 1 ms of lateness.
        assert_eq!(p.deadline(t0), t0 + 40 * MS);
        assert!(p.poll(t0 + 39 * MS).is_none());
        assert!(p.poll(t0 + 40 * MS).is_some());
        assert_eq!(p.ticks(), 3);
    }

    #[test]
    fn overrun_skips_ticks_instead_of_bursting() {
        let t0 = Instant::now();
        let mut p = Pacer::new(50);
        p.poll(t0);
        // A 75 ms stall: ticks due at 20, 40 and 60 ms collapse into one late tick.
        let tick = p.poll(t0 + 75 * MS).unwrap();
        assert!(tick.late);
        assert_eq!(tick.skipped, 2);
        assert_eq!(tick.lateness, 55 * MS);
        // No catch-up burst: the next tick is the next grid point after now.
        assert!(p.poll(t0 + 76 * MS).is_none());
        assert_eq!(p.deadline(t0), t0 + 80 * MS);
        assert!(!p.poll(t0 + 80 * MS).unwrap().late);
        assert_eq!((p.late_ticks(), p.skipped_ticks()), (1, 2));
    }

    #[test]
    fn slightly_late_tick_is_not_reported_late() {
        let t0 = Instant::now();
        let mut p = Pacer::new(50);
        p.poll(t0);
        assert!(!p.poll(t0 + 24 * MS).unwrap().late);
        assert!(p.poll(t0 + 46 * MS).unwrap().late);
    }

    #[test]
    fn rate_change_can_only_pull_the_next_tick_closer() {
        let t0 = Instant::now();
        let mut p = Pacer::new(1);
        p.poll(t0);
        p.set_fps(10, t0 + 10 * MS);
        assert_eq!(p.deadline(t0), t0 + 110 * MS);
        p.set_fps(0, t0 + 20 * MS); // clamped to 1 fps; keeps the closer deadline
        assert_eq!(p.deadline(t0), t0 + 110 * MS);
        assert_eq!(p.interval(), Duration::from_secs(1));
    }
}
