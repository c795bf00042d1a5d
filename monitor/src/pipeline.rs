//! Pipeline statistics: capture, convert and encode timings, frame rates and totals of each running media
//! pipeline, updated from media's threads on the hot path.
//!
//! [`crate::Monitor::pipeline`] returns a [`PipelineStatsHandle`] (cheap clone). Totals are atomics; timings go
//! into fixed-size rings ([`PIPELINE_WINDOW`] samples, no allocation) behind a short `parking_lot` lock that only
//! the pipeline's own thread and an occasional snapshot take. Dropping the last handle unregisters the pipeline.
//! Asking for a key that is already registered returns a handle to the same statistics.
//!
//! A pipeline needs nothing else from the registry: it holds a copy of the monitor's clock and a `Weak` of the
//! [`PipelineTable`] (owned by the registry) to unregister itself, so this file does not import `registry.rs`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::metrics::histogram::AtomicHistogram;

/// Samples kept per timing ring: about 4 s at 30 fps, enough for a stable median without stale history.
pub const PIPELINE_WINDOW: usize = 128;

/// Frame rates are measured over this much recent time.
pub const FPS_WINDOW: Duration = Duration::from_secs(2);

/// Distinct drop reasons counted per pipeline; further reasons are folded into `"other"`. Reasons are
/// `&'static str` constants in media, so a handful exist.
pub(crate) const MAX_DROP_REASONS: usize = 16;

/// Bucket bounds (seconds) of `sightline_pipeline_encode_seconds` and `..._capture_seconds`: a 30 fps budget
/// is 33 ms. Measured at 720p / 1080p (README.md, "Performance"; `cargo bench -p sightline-media --bench
/// pipeline`): H.264 P frames 2.1 / 6.0 ms and IDRs 7.0 / 14.2 ms in camera usage (the default), P frames
/// 14.0 / 43.3 ms in screen usage; X11 captures take 0.5 / 1.2 ms (`--bench x11`).
pub(crate) const FRAME_BUCKETS: &[f64] = &[
    0.001, 0.002, 0.004, 0.008, 0.012, 0.016, 0.025, 0.033, 0.05, 0.1, 0.25,
];

/// Identity of a pipeline: one per (screen, kind, profile).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PipelineKey {
    pub screen: String,
    /// `"h264"`, `"jpeg"` or `"capture"`.
    pub kind: String,
    /// Profile name (`"720p"`, `"q80w960"`, …; empty for capture).
    pub profile: String,
}

impl fmt::Display for PipelineKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.screen, self.kind, self.profile)
    }
}

/// Median, mean and max of a timing over the recent window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TimingStats {
    pub samples: u64,
    pub median_ms: f64,
    pub mean_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
}

/// One pipeline's statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineSnapshot {
    pub screen: String,
    pub kind: String,
    pub profile: String,
    pub started_ms: u64,
    pub uptime_ms: f64,
    pub subscribers: u64,
    /// Captures per second over the last [`FPS_WINDOW`] (unchanged-screen skips excluded).
    pub capture_fps: f64,
    /// Encoded frames per second over the last [`FPS_WINDOW`].
    pub encode_fps: f64,
    /// Mean encoded frame size over the recent window, bytes.
    pub mean_frame_bytes: f64,
    /// Encoded output rate over the last [`FPS_WINDOW`], kbit/s.
    pub bitrate_kbps: f64,
    pub capture: TimingStats,
    pub convert: TimingStats,
    pub encode: TimingStats,
    pub captures_total: u64,
    pub unchanged_total: u64,
    pub frames_total: u64,
    pub keyframes_total: u64,
    pub bytes_total: u64,
    pub keyframe_requests_total: u64,
    pub restarts_total: u64,
    pub dropped_total: u64,
    pub drops: BTreeMap<String, u64>,
}

/// Fixed ring of (time, value) samples.
struct Ring {
    at: [Option<Instant>; PIPELINE_WINDOW],
    value: [f64; PIPELINE_WINDOW],
    extra: [u64; PIPELINE_WINDOW],
    next: usize,
}

impl Ring {
    fn new() -> Self {
        Self {
            at: [None; PIPELINE_WINDOW],
            value: [0.0; PIPELINE_WINDOW],
            extra: [0; PIPELINE_WINDOW],
            next: 0,
        }
    }

    fn push(&mut self, at: Instant, value: f64, extra: u64) {
        self.at[self.next] = Some(at);
        self.value[self.next] = value;
        self.extra[self.next] = extra;
        self.next = (self.next + 1) % PIPELINE_WINDOW;
    }

    fn timing(&self) -> TimingStats {
        let mut v = [0.0f64; PIPELINE_WINDOW];
        let mut n = 0;
        for (at, val) in self.at.iter().zip(self.value.iter()) {
            if at.is_some() {
                v[n] = *val;
                n += 1;
            }
        }
        if n == 0 {
            return TimingStats::default();
        }
        let v = &mut v[..n];
        v.sort_by(f64::total_cmp);
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        let p95_rank = ((0.95 * n as f64).ceil() as usize).clamp(1, n);
        TimingStats {
            samples: n as u64,
            median_ms: median,
            mean_ms: v.iter().sum::<f64>() / n as f64,
            p95_ms: v[p95_rank - 1],
            max_ms: v[n - 1],
        }
    }

    fn mean_extra(&self) -> f64 {
        let (sum, n) = self
            .at
            .iter()
            .zip(self.extra.iter())
            .filter(|(a, _)| a.is_some())
            .fold((0u64, 0u64), |(s, n), (_, e)| (s + e, n + 1));
        if n == 0 { 0.0 } else { sum as f64 / n as f64 }
    }

    /// Events per second over the last `window` before `now`, and the sum of `extra` per second.
    ///
    /// If the ring holds fewer samples than happened in the window (a fast pipeline), the rate is measured over
    /// the time the ring covers instead. A pipeline younger than the window is measured over its age.
    fn rate(&self, now: Instant, window: Duration, age: Duration) -> (f64, f64) {
        let mut count = 0u64;
        let mut extra = 0u64;
        let mut oldest: Option<Instant> = None;
        let mut filled = 0;
        for (at, e) in self.at.iter().zip(self.extra.iter()) {
            let Some(at) = at else { continue };
            filled += 1;
            if now.saturating_duration_since(*at) <= window {
                count += 1;
                extra += e;
                oldest = Some(oldest.map_or(*at, |o: Instant| o.min(*at)));
            }
        }
        let span = if filled == PIPELINE_WINDOW && count == PIPELINE_WINDOW as u64 {
            oldest.map_or(window, |o| now.saturating_duration_since(o))
        } else {
            window.min(age)
        };
        // Below 100 ms the estimate is noise (one frame would read as 100+ fps).
        let secs = span.as_secs_f64().max(0.1);
        (count as f64 / secs, extra as f64 / secs)
    }
}

/// The registry's table of running pipelines. Only the registry keeps a strong reference (a pipeline upgrades its
/// `Weak` for the moment it uses it), so the `Weak` stops upgrading when the monitor is gone.
pub(crate) type PipelineTable = Mutex<BTreeMap<PipelineKey, Weak<PipelineShared>>>;

pub(crate) struct PipelineShared {
    pub(crate) key: PipelineKey,
    started: Instant,
    clock: Clock,
    table: Weak<PipelineTable>,
    captures: AtomicU64,
    unchanged: AtomicU64,
    frames: AtomicU64,
    keyframes: AtomicU64,
    bytes: AtomicU64,
    keyframe_requests: AtomicU64,
    restarts: AtomicU64,
    subscribers: AtomicU64,
    dropped: AtomicU64,
    drops: Mutex<Vec<(&'static str, u64)>>,
    capture: Mutex<Ring>,
    convert: Mutex<Ring>,
    encode: Mutex<Ring>,
    pub(crate) encode_hist: AtomicHistogram,
    pub(crate) capture_hist: AtomicHistogram,
}

impl PipelineShared {
    pub(crate) fn new(key: PipelineKey, clock: Clock, table: Weak<PipelineTable>) -> Self {
        Self {
            key,
            started: Instant::now(),
            clock,
            table,
            captures: AtomicU64::new(0),
            unchanged: AtomicU64::new(0),
            frames: AtomicU64::new(0),
            keyframes: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            keyframe_requests: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
            subscribers: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            drops: Mutex::new(Vec::with_capacity(MAX_DROP_REASONS)),
            capture: Mutex::new(Ring::new()),
            convert: Mutex::new(Ring::new()),
            encode: Mutex::new(Ring::new()),
            encode_hist: AtomicHistogram::new(FRAME_BUCKETS),
            capture_hist: AtomicHistogram::new(FRAME_BUCKETS),
        }
    }

    pub(crate) fn snapshot(&self, now: Instant) -> PipelineSnapshot {
        let age = now.saturating_duration_since(self.started);
        let (capture_fps, _) = self.capture.lock().rate(now, FPS_WINDOW, age);
        let (encode_fps, mean_bytes, bytes_per_sec, encode) = {
            let e = self.encode.lock();
            let (fps, bps) = e.rate(now, FPS_WINDOW, age);
            (fps, e.mean_extra(), bps, e.timing())
        };
        PipelineSnapshot {
            screen: self.key.screen.clone(),
            kind: self.key.kind.clone(),
            profile: self.key.profile.clone(),
            started_ms: self.clock.epoch_ms(self.started),
            uptime_ms: crate::clock::ms(age),
            subscribers: self.subscribers.load(Relaxed),
            capture_fps,
            encode_fps,
            mean_frame_bytes: mean_bytes,
            bitrate_kbps: bytes_per_sec * 8.0 / 1000.0,
            capture: self.capture.lock().timing(),
            convert: self.convert.lock().timing(),
            encode,
            captures_total: self.captures.load(Relaxed),
            unchanged_total: self.unchanged.load(Relaxed),
            frames_total: self.frames.load(Relaxed),
            keyframes_total: self.keyframes.load(Relaxed),
            bytes_total: self.bytes.load(Relaxed),
            keyframe_requests_total: self.keyframe_requests.load(Relaxed),
            restarts_total: self.restarts.load(Relaxed),
            dropped_total: self.dropped.load(Relaxed),
            drops: self
                .drops
                .lock()
                .iter()
                .map(|(r, n)| ((*r).to_owned(), *n))
                .collect(),
        }
    }

    pub(crate) fn drops(&self) -> Vec<(&'static str, u64)> {
        self.drops.lock().clone()
    }
}

impl Drop for PipelineShared {
    fn drop(&mut self) {
        if let Some(table) = self.table.upgrade() {
            let mut map = table.lock();
            // Only remove our own entry: the key may already be registered again by a new pipeline.
            if map.get(&self.key).is_some_and(|w| w.strong_count() == 0) {
                map.remove(&self.key);
            }
        }
    }
}

/// Statistics handle of one pipeline, fed by media's threads. Cheap to clone; every method is a few atomics
/// or a short uncontended lock, with no allocation.
#[derive(Clone)]
pub struct PipelineStatsHandle {
    pub(crate) shared: Arc<PipelineShared>,
}

impl fmt::Debug for PipelineStatsHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineStatsHandle")
            .field("key", &self.shared.key)
            .finish()
    }
}

impl PipelineStatsHandle {
    pub fn key(&self) -> &PipelineKey {
        &self.shared.key
    }

    /// One capture that produced a frame, taking `ms`.
    pub fn record_capture(&self, ms: f64) {
        let s = &self.shared;
        s.captures.fetch_add(1, Relaxed);
        s.capture.lock().push(Instant::now(), ms, 0);
        s.capture_hist.observe(ms / 1000.0);
    }

    /// One BGRA → I420 conversion (with scaling), taking `ms`.
    pub fn record_convert(&self, ms: f64) {
        self.shared.convert.lock().push(Instant::now(), ms, 0);
    }

    /// One encoded frame of `bytes`, taking `ms`.
    pub fn record_encode(&self, ms: f64, bytes: usize, keyframe: bool) {
        let s = &self.shared;
        s.frames.fetch_add(1, Relaxed);
        s.bytes.fetch_add(bytes as u64, Relaxed);
        if keyframe {
            s.keyframes.fetch_add(1, Relaxed);
        }
        s.encode.lock().push(Instant::now(), ms, bytes as u64);
        s.encode_hist.observe(ms / 1000.0);
    }

    /// A capture that found the screen unchanged (nothing converted or encoded).
    pub fn record_skip_unchanged(&self) {
        self.shared.unchanged.fetch_add(1, Relaxed);
    }

    pub fn set_subscribers(&self, n: usize) {
        self.shared.subscribers.store(n as u64, Relaxed);
    }

    /// One frame dropped (not captured, encoded or delivered), by reason.
    pub fn record_drop(&self, reason: &'static str) {
        let s = &self.shared;
        s.dropped.fetch_add(1, Relaxed);
        let mut drops = s.drops.lock();
        if let Some(e) = drops.iter_mut().find(|(r, _)| *r == reason) {
            e.1 += 1;
        } else if drops.len() < MAX_DROP_REASONS - 1 {
            drops.push((reason, 1));
        } else if let Some(e) = drops.iter_mut().find(|(r, _)| *r == "other") {
            e.1 += 1;
        } else {
            drops.push(("other", 1));
        }
    }

    /// A keyframe was requested (viewer join, PLI/FIR, lag), before coalescing.
    pub fn record_keyframe_request(&self) {
        self.shared.keyframe_requests.fetch_add(1, Relaxed);
    }

    /// The encoder (or capture source) was restarted.
    pub fn record_restart(&self) {
        self.shared.restarts.fetch_add(1, Relaxed);
    }

    /// This pipeline's statistics now; `None` once the monitor is gone.
    pub fn snapshot(&self) -> Option<PipelineSnapshot> {
        let _registered = self.shared.table.upgrade()?;
        Some(self.shared.snapshot(Instant::now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_timing_median_mean_p95() {
        let mut r = Ring::new();
        let t = Instant::now();
        for i in 1..=10 {
            r.push(t, f64::from(i), 0);
        }
        let s = r.timing();
        assert_eq!(s.samples, 10);
        assert_eq!(s.median_ms, 5.5);
        assert_eq!(s.mean_ms, 5.5);
        assert_eq!(s.p95_ms, 10.0);
        // Wrap around: only the newest PIPELINE_WINDOW samples remain.
        for _ in 0..PIPELINE_WINDOW {
            r.push(t, 2.0, 0);
        }
        let s = r.timing();
        assert_eq!(
            (s.samples, s.median_ms, s.max_ms),
            (PIPELINE_WINDOW as u64, 2.0, 2.0)
        );
    }

    #[test]
    fn ring_rate_on_virtual_time() {
        let mut r = Ring::new();
        let t0 = Instant::now();
        // 30 fps for 3 s, 1000 bytes each.
        for i in 0..90 {
            r.push(t0 + Duration::from_millis(i * 1000 / 30), 1.0, 1000);
        }
        let now = t0 + Duration::from_millis(3000);
        let (fps, bps) = r.rate(now, FPS_WINDOW, Duration::from_secs(3));
        assert!((fps - 30.0).abs() < 1.0, "{fps}");
        assert!((bps - 30_000.0).abs() < 1000.0, "{bps}");
        // Stopped one second ago: the rate decays.
        let (fps, _) = r.rate(
            now + Duration::from_secs(1),
            FPS_WINDOW,
            Duration::from_secs(4),
        );
        assert!((fps - 15.0).abs() < 1.0, "{fps}");
        // Long stopped: zero.
        let (fps, _) = r.rate(
            now + Duration::from_secs(10),
            FPS_WINDOW,
            Duration::from_secs(13),
        );
        assert_eq!(fps, 0.0);

        // 200 fps overflows the ring within the window: measured over what the ring covers.
        let mut r = Ring::new();
        for i in 0..400u64 {
            r.push(t0 + Duration::from_micros(i * 5000), 1.0, 0);
        }
        let (fps, _) = r.rate(
            t0 + Duration::from_micros(400 * 5000),
            FPS_WINDOW,
            Duration::from_secs(2),
        );
        assert!((fps - 200.0).abs() < 5.0, "{fps}");
    }
}
