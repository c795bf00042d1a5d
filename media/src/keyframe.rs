//! The keyframe gate: many keyframe requests (viewer joins, PLI/FIR, lagging subscribers) become few IDRs.
//!
//! An IDR at 1080p is about 175 KB — fifty times a P frame — so a burst of requests must not become a burst of
//! IDRs. The gate keeps one `pending` flag: requests set it, and the encoder asks [`KeyframeGate::should_force`]
//! before each picture. At most one IDR is forced per [`KeyframeGate::min_interval`]; a request arriving inside
//! that window stays pending until the window has passed (it is never lost: a late joiner still gets its IDR).
//! Pure: every decision takes `now`.

use std::time::{Duration, Instant};

/// Default minimum spacing of forced IDRs: long enough to absorb a PLI storm or fifty viewers joining at once,
/// short enough that a new viewer waits at most this long for its first picture.
pub const DEFAULT_MIN_INTERVAL: Duration = Duration::from_millis(300);

/// Coalesces keyframe requests into rate-limited forced IDRs.
#[derive(Clone, Debug)]
pub struct KeyframeGate {
    min_interval: Duration,
    pending: bool,
    last_idr: Option<Instant>,
    requests: u64,
    coalesced: u64,
    forced: u64,
}

impl Default for KeyframeGate {
    fn default() -> Self {
        Self::new(DEFAULT_MIN_INTERVAL)
    }
}

impl KeyframeGate {
    /// A gate forcing at most one IDR per `min_interval`.
    pub fn new(min_interval: Duration) -> Self {
        Self {
            min_interval,
            pending: false,
            last_idr: None,
            requests: 0,
            coalesced: 0,
            forced: 0,
        }
    }

    /// The minimum spacing of forced IDRs.
    pub fn min_interval(&self) -> Duration {
        self.min_interval
    }

    /// Records a request. Returns `false` when it merged into one already pending (coalesced).
    pub fn request(&mut self, _now: Instant) -> bool {
        self.requests += 1;
        if self.pending {
            self.coalesced += 1;
            return false;
        }
        self.pending = true;
        true
    }

    /// Whether a request is waiting.
    pub fn is_pending(&self) -> bool {
        self.pending
    }

    /// Whether the picture encoded at `now` must be an IDR. Returning `true` consumes the pending request and
    /// starts a new window.
    pub fn should_force(&mut self, now: Instant) -> bool {
        if !self.pending || !self.window_open(now) {
            return false;
        }
        self.pending = false;
        self.last_idr = Some(now);
        self.forced += 1;
        true
    }

    /// When a pending request may next be served (`None` when nothing is pending): lets an encoder with an
    /// unchanged screen sleep until then and re-encode its last picture as the IDR.
    pub fn due_at(&self, now: Instant) -> Option<Instant> {
        if !self.pending {
            return None;
        }
        Some(match self.last_idr {
            Some(last) => (last + self.min_interval).max(now),
            None => now,
        })
    }

    /// Notes an IDR the encoder produced on its own (first picture, restart, resize): it satisfies every pending
    /// request and starts a window.
    pub fn on_idr(&mut self, now: Instant) {
        self.pending = false;
        self.last_idr = Some(now);
    }

    /// Notes an IDR produced by a far end that rate-limits IDRs itself (a relayed stream, whose device runs its
    /// own gate): it satisfies every pending request and reopens the window, so the next request passes at once.
    /// A relay thus forwards at most one request per IDR it receives, plus one per `min_interval` while an answer
    /// is missing.
    pub fn on_relayed_idr(&mut self) {
        self.pending = false;
        self.last_idr = None;
    }

    /// Requests received so far.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// Requests merged into an already pending one.
    pub fn coalesced(&self) -> u64 {
        self.coalesced
    }

    /// IDRs forced by the gate.
    pub fn forced(&self) -> u64 {
        self.forced
    }

    fn window_open(&self, now: Instant) -> bool {
        self.last_idr
            .is_none_or(|last| now.saturating_duration_since(last) >= self.min_interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn nothing_forced_without_a_request() {
        let mut g = KeyframeGate::default();
        let t0 = Instant::now();
        assert!(!g.should_force(t0));
        assert_eq!(g.due_at(t0), None);
    }

    #[test]
    fn a_burst_of_requests_becomes_one_idr() {
        let mut g = KeyframeGate::new(300 * MS);
        let t0 = Instant::now();
        assert!(g.request(t0));
        for i in 1..50 {
            assert!(!g.request(t0 + i * MS));
        }
        assert!(g.should_force(t0 + 50 * MS));
        assert!(!g.should_force(t0 + 60 * MS));
        assert_eq!((g.requests(), g.coalesced(), g.forced()), (50, 49, 1));
    }

    #[test]
    fn request_inside_the_window_waits_for_it_to_pass() {
        let mut g = KeyframeGate::new(300 * MS);
        let t0 = Instant::now();
        g.request(t0);
        assert!(g.should_force(t0));
        // A late joiner asks 100 ms after the IDR: kept pending, served when the window ends.
        assert!(g.request(t0 + 100 * MS));
        assert!(!g.should_force(t0 + 150 * MS));
        assert_eq!(g.due_at(t0 + 150 * MS), Some(t0 + 300 * MS));
        assert!(g.is_pending());
        assert!(g.should_force(t0 + 300 * MS));
        assert!(!g.is_pending());
        assert_eq!(g.forced(), 2);
    }

    #[test]
    fn a_relayed_idr_answers_pending_requests_and_reopens_the_window() {
        let mut g = KeyframeGate::new(1000 * MS);
        let t0 = Instant::now();
        assert!(g.request(t0));
        assert!(g.should_force(t0));
        // Joiners before the answer are coalesced into the outstanding request.
        g.request(t0 + 10 * MS);
        assert!(!g.should_force(t0 + 20 * MS));
        g.on_relayed_idr();
        assert!(!g.is_pending());
        // The next request after the answer is forwarded at once.
        g.request(t0 + 30 * MS);
        assert!(g.should_force(t0 + 30 * MS));
        assert_eq!(g.forced(), 2);
    }

    #[test]
    fn an_idr_for_other_reasons_satisfies_pending_requests() {
        let mut g = KeyframeGate::new(300 * MS);
        let t0 = Instant::now();
        g.request(t0);
        g.on_idr(t0 + 10 * MS);
        assert!(!g.is_pending());
        assert!(!g.should_force(t0 + 20 * MS));
        // And it opens a window for the next request.
        g.request(t0 + 20 * MS);
        assert!(!g.should_force(t0 + 200 * MS));
        assert!(g.should_force(t0 + 310 * MS));
    }
}
