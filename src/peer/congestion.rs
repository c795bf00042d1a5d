//! Congestion control for one viewer: webrtc-rs 0.21's own transport-wide CC (TWCC) and GCC, wired so the rest
//! of the peer can read the estimate and cap it.
//!
//! [`configure`] registers, through rtc's `configure_congestion_control`, the `transport-cc` feedback and the
//! transport-wide sequence number header extension on every video codec, and puts four interceptors in the
//! chain: the `CongestionControlInterceptor` (runs the estimator on every TWCC feedback, ~10 per second from
//! browsers), the TWCC sender (numbers outgoing packets), the pacer and the TWCC receiver. The estimator is
//! rtc-interceptor's [`Gcc`] (delay-based: Kalman-filtered inter-group delay, adaptive-threshold overuse
//! detection, AIMD; loss-based: back off above 10 % loss, grow below 2 %), wrapped in [`Steered`], which adds
//! what the chain lacks:
//! - it publishes the estimate and GCC's loss average into [`PathEstimate`] (the chain keeps the estimator
//!   boxed, with no handle or event to read it by);
//! - it applies the viewer's manual cap (the `quality` command);
//! - it decreases the estimate when the path holds a standing queue GCC's slope detector cannot see
//!   ([`QueueWatch`], `queue.rs`);
//! - it tells the pacer to pace at [`PACER_HEADROOM`] × the estimate: the pacer follows the estimate, with
//!   room for a keyframe to leave faster than the average rate (libwebrtc paces at 2.5 × its target).
//!
//! Nothing here decides tiers: `adapt.rs` reads [`PathEstimate`] and does.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rtc::interceptor::{
    BandwidthEstimator, EstimatorStats, Gcc, PacerBuilder, PacketReport, Registry, Slot,
};
use rtc::peer_connection::configuration::interceptor_registry::{
    CongestionFeedback, configure_congestion_control,
};
use rtc::peer_connection::configuration::media_engine::MediaEngine;

use super::config::{CongestionSettings, PACING_BURST_PACKETS, PACING_QUEUE_PACKETS, RTP_MTU};
use super::error::PeerError;
use super::queue::QueueWatch;

/// The pacer sends at this multiple of the estimate. 1 would queue every keyframe behind the average rate
/// (a 1080p IDR is ~1.4 Mbit: a second at 1.4 Mbit/s); libwebrtc's pacing factor is 2.5. The encoder, not the
/// pacer, is what keeps the average under the estimate.
pub(crate) const PACER_HEADROOM: f64 = 2.5;
/// Lowest estimate GCC may report, bit/s: under it no tier is useful (the floor tier's band starts at 100).
pub(crate) const MIN_ESTIMATE_BPS: f64 = 80_000.0;
/// GCC's ceiling, as a multiple of the top tier's bitrate. webrtc-rs's GCC keeps raising its estimate while
/// the sender sends less than it allows (it does not bound increases by the received rate), so an unbounded
/// estimate would grow far past anything the ladder can use; a little above the top keeps room to probe.
pub(crate) const MAX_ESTIMATE_FACTOR: f64 = 1.5;

/// The estimate and loss as the estimator last saw them, shared lock-free with the media and stats tasks.
#[derive(Debug)]
pub(crate) struct PathEstimate {
    /// GCC's estimate, bit/s (`f64` bits).
    estimate_bps: AtomicU64,
    /// The viewer's manual cap, bit/s (`f64` bits; infinity = none).
    cap_bps: AtomicU64,
    /// GCC's loss average, 0..=1 (`f64` bits; NaN until reported).
    loss: AtomicU64,
    /// TWCC feedback reports seen (0: the receiver never sent any, the estimate is still the start value).
    feedbacks: AtomicU64,
    /// When the last feedback came, in ms since `epoch`.
    last_feedback_ms: AtomicU64,
    epoch: Instant,
}

/// A loss figure older than this is no longer current: nothing was sent (a still screen), so nothing was lost.
pub(crate) const LOSS_STALE: Duration = Duration::from_secs(1);

impl PathEstimate {
    pub(crate) fn new(start_bps: f64) -> Self {
        Self {
            estimate_bps: AtomicU64::new(start_bps.to_bits()),
            cap_bps: AtomicU64::new(f64::INFINITY.to_bits()),
            loss: AtomicU64::new(f64::NAN.to_bits()),
            feedbacks: AtomicU64::new(0),
            last_feedback_ms: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    /// The estimate, bit/s, before the cap.
    pub(crate) fn estimate_bps(&self) -> f64 {
        f64::from_bits(self.estimate_bps.load(Ordering::Relaxed))
    }

    /// The estimate after the viewer's cap, bit/s.
    pub(crate) fn capped_bps(&self) -> f64 {
        self.estimate_bps().min(self.cap_bps())
    }

    /// The manual cap, bit/s (infinity = none).
    pub(crate) fn cap_bps(&self) -> f64 {
        f64::from_bits(self.cap_bps.load(Ordering::Relaxed))
    }

    /// Sets or clears the manual cap. Reaches the pacer with the next feedback; the tier selector reads it at
    /// its next tick.
    pub(crate) fn set_cap_kbps(&self, kbps: Option<u32>) {
        let bps = kbps.map_or(f64::INFINITY, |k| f64::from(k) * 1000.0);
        self.cap_bps.store(bps.to_bits(), Ordering::Relaxed);
    }

    /// GCC's average loss, when it has seen feedback within [`LOSS_STALE`].
    pub(crate) fn loss(&self) -> Option<f64> {
        let last = Duration::from_millis(self.last_feedback_ms.load(Ordering::Relaxed));
        if self.epoch.elapsed().saturating_sub(last) > LOSS_STALE {
            return None;
        }
        Some(f64::from_bits(self.loss.load(Ordering::Relaxed))).filter(|l| l.is_finite())
    }

    /// Whether any congestion feedback has arrived.
    pub(crate) fn has_feedback(&self) -> bool {
        self.feedbacks.load(Ordering::Relaxed) > 0
    }

    fn publish(&self, estimate_bps: f64, stats: &EstimatorStats) {
        self.estimate_bps
            .store(estimate_bps.to_bits(), Ordering::Relaxed);
        // `None` after GCC was restarted (probe, back-off): unknown until its next loss average.
        let loss = stats.packet_loss.unwrap_or(f64::NAN);
        self.loss.store(loss.to_bits(), Ordering::Relaxed);
        self.last_feedback_ms
            .store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
        self.feedbacks.fetch_add(1, Ordering::Relaxed);
    }
}

/// A path is "clean" while GCC has not backed off and loss stays under this: only then is a probe worth it.
pub(crate) const PROBE_LOSS_MAX: f64 = 0.02;
/// A GCC estimate this much under the previous one is a back-off (GCC only decreases on overuse or loss).
const BACKOFF_RATIO: f64 = 0.99;
/// How long the path must stay clean before the first probe.
pub(crate) const PROBE_AFTER: Duration = Duration::from_millis(2500);
/// Longest wait between probes, after repeated failed ones: a capped path pays a short overshoot this often
/// (the standing-queue watch ends it within ~0.5 s), and a path whose cap is lifted is found within this long.
pub(crate) const MAX_PROBE_AFTER: Duration = Duration::from_secs(8);
/// Shortest wait, after consecutive successful probes (each success halves the wait): a path that keeps
/// carrying more is climbed quickly, as libwebrtc's exponential start-up probing does.
pub(crate) const MIN_PROBE_AFTER: Duration = Duration::from_secs(1);
/// A probe raises the estimate by this factor. libwebrtc probes at 2× and 3×, but with short padding bursts;
/// here the encoder itself fills the new rate for as long as GCC takes to notice (a few hundred ms), so a
/// probe that overshoots a full link must overshoot by little: measured behind a 1.5 Mbit/s cap, ×1.5 probes
/// froze the picture for seconds at a time.
pub(crate) const PROBE_FACTOR: f64 = 1.25;
/// A back-off this soon after a probe means the probe failed.
pub(crate) const PROBE_FAILED_WITHIN: Duration = Duration::from_millis(1500);

/// Probing: webrtc-rs's GCC grows at most ~8 % per second (additively near its last back-off), so after a
/// congested spell a viewer would need ~15 s to climb from 1.3 to 4 Mbit/s; libwebrtc gets there fast by
/// sending probe clusters. Here a probe raises the estimate itself ([`PROBE_FACTOR`], by restarting GCC at the
/// higher rate) once the path has been clean for a while: the encoder and pacer then really use the higher rate,
/// and if the path cannot carry it GCC backs off within a few feedbacks. A failed probe doubles the wait before
/// the next one; a successful one resets it. Pure, on the times it is given.
#[derive(Debug, Clone)]
pub(crate) struct Prober {
    max_bps: f64,
    last_estimate: Option<f64>,
    clean_since: Option<Instant>,
    wait: Duration,
    /// When the last probe was made, and to what rate.
    last_probe: Option<(Instant, f64)>,
    probes: u64,
}

/// A probe is only made while the sender uses at least this share of the estimate (a probe the traffic does not
/// fill proves nothing), and only counts as held if the receiver then got this share of the probed rate.
pub(crate) const PROBE_USE: f64 = 0.6;

impl Prober {
    pub(crate) fn new(max_bps: f64) -> Self {
        Self {
            max_bps,
            last_estimate: None,
            clean_since: None,
            wait: PROBE_AFTER,
            last_probe: None,
            probes: 0,
        }
    }

    /// Probes so far.
    #[cfg(test)]
    pub(crate) fn probes(&self) -> u64 {
        self.probes
    }

    /// Looks at GCC's new estimate and the rate the receiver got lately (`delivered`, bit/s); returns the rate
    /// to restart GCC at when a probe is due.
    pub(crate) fn on_estimate(
        &mut self,
        now: Instant,
        estimate: f64,
        loss: Option<f64>,
        delivered: Option<f64>,
    ) -> Option<f64> {
        let backed_off = self
            .last_estimate
            .is_some_and(|last| estimate < last * BACKOFF_RATIO);
        self.last_estimate = Some(estimate);
        let probe_age = self
            .last_probe
            .map(|(at, _)| now.saturating_duration_since(at));
        if backed_off || loss.unwrap_or(0.0) > PROBE_LOSS_MAX {
            if probe_age.is_some_and(|age| age < PROBE_FAILED_WITHIN) {
                self.wait = (self.wait * 2).min(MAX_PROBE_AFTER);
            }
            self.last_probe = None;
            self.clean_since = Some(now);
            return None;
        }
        if let Some((_, rate)) = self.last_probe
            && probe_age.is_some_and(|age| age >= PROBE_FAILED_WITHIN)
        {
            if delivered.is_some_and(|d| d >= PROBE_USE * rate) {
                // The last probe held under real traffic: the next one sooner.
                self.wait = (self.wait / 2).max(MIN_PROBE_AFTER);
            }
            self.last_probe = None;
        }
        let clean_since = *self.clean_since.get_or_insert(now);
        let used = delivered.is_some_and(|d| d >= PROBE_USE * estimate);
        if now.saturating_duration_since(clean_since) < self.wait
            || estimate >= self.max_bps
            || !used
        {
            return None;
        }
        let to = (estimate * PROBE_FACTOR).min(self.max_bps);
        self.clean_since = Some(now);
        self.last_probe = Some((now, to));
        self.probes += 1;
        self.last_estimate = Some(to);
        Some(to)
    }
}

/// GCC with the estimate published, the viewer's cap applied, probing and the pacer's headroom (see the module
/// docs).
pub(crate) struct Steered {
    inner: Gcc,
    min_bps: f64,
    max_bps: f64,
    prober: Prober,
    queue: QueueWatch,
    shared: Arc<PathEstimate>,
}

impl BandwidthEstimator for Steered {
    fn on_reports(&mut self, now: Instant, reports: &[PacketReport]) {
        self.inner.on_reports(now, reports);
        if reports.is_empty() {
            return;
        }
        if let Some(to) = self.queue.on_reports(now, reports)
            && to < self.inner.target_bitrate()
        {
            // A standing queue GCC's slope detector cannot see: decrease as GCC would on overuse.
            self.inner = Gcc::new(to.max(self.min_bps), self.min_bps, self.max_bps);
        }
        let stats = self.inner.stats();
        let delivered = self.queue.delivered_bps();
        if let Some(to) = self.prober.on_estimate(
            now,
            self.inner.target_bitrate(),
            stats.packet_loss,
            delivered,
        ) {
            self.inner = Gcc::new(to, self.min_bps, self.max_bps);
        }
        self.shared.publish(self.inner.target_bitrate(), &stats);
    }

    /// What the pacer paces at (this is all the chain does with it).
    fn target_bitrate(&self) -> f64 {
        self.inner.target_bitrate().min(self.shared.cap_bps()) * PACER_HEADROOM
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.inner.handle_timeout(now);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.inner.poll_timeout()
    }

    fn stats(&self) -> EstimatorStats {
        self.inner.stats()
    }
}

/// Adds TWCC + GCC (through [`Steered`]) and an estimate-following pacer to `registry`, registering the
/// feedback and header extension on the codecs already in `me`. Returns the shared estimate.
pub(crate) fn configure(
    registry: Registry,
    me: &mut MediaEngine,
    settings: &CongestionSettings,
) -> Result<(Registry, Arc<PathEstimate>), PeerError> {
    let start = f64::from(settings.start_kbps) * 1000.0;
    let max = (f64::from(settings.max_kbps) * 1000.0 * MAX_ESTIMATE_FACTOR).max(start);
    let shared = Arc::new(PathEstimate::new(start));
    let estimator = Steered {
        inner: Gcc::new(start, MIN_ESTIMATE_BPS, max),
        min_bps: MIN_ESTIMATE_BPS,
        max_bps: max,
        prober: Prober::new(max),
        queue: QueueWatch::default(),
        shared: shared.clone(),
    };
    let registry = configure_congestion_control(registry, estimator, CongestionFeedback::Twcc, me)
        .map_err(PeerError::Setup)?
        // Same slot: replaces the default pacer (1 Mbit/s start, 4096-packet queue) with ours.
        .with(
            Slot::Pacer,
            PacerBuilder::new()
                .with_target_bitrate(start * PACER_HEADROOM)
                .with_burst_bits((PACING_BURST_PACKETS * RTP_MTU * 8) as f64)
                .with_queue_limit(PACING_QUEUE_PACKETS)
                .build(),
        );
    Ok((registry, shared))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_bounds_what_the_pacer_and_the_selector_see() {
        let shared = Arc::new(PathEstimate::new(2_000_000.0));
        let s = Steered {
            inner: Gcc::new(2_000_000.0, MIN_ESTIMATE_BPS, 6_000_000.0),
            min_bps: MIN_ESTIMATE_BPS,
            max_bps: 6_000_000.0,
            prober: Prober::new(6_000_000.0),
            queue: QueueWatch::default(),
            shared: shared.clone(),
        };
        assert_eq!(s.target_bitrate(), 2_000_000.0 * PACER_HEADROOM);
        assert_eq!(shared.capped_bps(), 2_000_000.0);
        assert!(!shared.has_feedback());
        assert_eq!(shared.loss(), None);
        shared.set_cap_kbps(Some(500));
        assert_eq!(shared.capped_bps(), 500_000.0);
        assert_eq!(s.target_bitrate(), 500_000.0 * PACER_HEADROOM);
        shared.set_cap_kbps(None);
        assert_eq!(shared.capped_bps(), 2_000_000.0);
    }

    #[test]
    fn probes_a_clean_path_and_backs_off_after_failed_probes() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut p = Prober::new(6e6);
        // Clean and growing slowly: the first probe after PROBE_AFTER.
        assert_eq!(p.on_estimate(at(0), 1.3e6, Some(0.0), Some(1.3e6)), None);
        assert_eq!(
            p.on_estimate(at(1000), 1.35e6, Some(0.0), Some(1.35e6)),
            None
        );
        assert_eq!(
            p.on_estimate(at(2000), 1.38e6, Some(0.0), Some(1.38e6)),
            None
        );
        assert_eq!(
            p.on_estimate(at(2500), 1.4e6, Some(0.0), Some(1.4e6)),
            Some(1.4e6 * PROBE_FACTOR)
        );
        // It held: the next ones come sooner, up to the ceiling.
        let mut t = 2500;
        let mut rate: f64 = 1.4e6 * PROBE_FACTOR;
        let mut probes = vec![];
        while t < 30_000 {
            t += 100;
            rate = (rate * 1.008).min(6e6);
            if let Some(to) = p.on_estimate(at(t), rate, Some(0.0), Some(rate)) {
                probes.push(t);
                rate = to;
            }
        }
        assert_eq!(rate, 6e6, "climbed to the ceiling");
        // Each probe that held brings the next one sooner, down to MIN_PROBE_AFTER apart.
        assert!(probes.len() >= 3, "{probes:?}");
        for w in probes.windows(2) {
            assert!(w[1] - w[0] >= 1000, "{probes:?}");
        }
        assert!(probes[1] - probes[0] < 2500, "{probes:?}");
        // Back-offs right after probes double the wait.
        let mut p = Prober::new(6e6);
        p.on_estimate(at(0), 1e6, None, Some(1e6));
        assert!(p.on_estimate(at(2500), 1e6, None, Some(1e6)).is_some());
        assert_eq!(
            p.on_estimate(at(3000), 0.9e6, None, Some(0.9e6)),
            None,
            "failed probe"
        );
        assert_eq!(
            p.on_estimate(at(7900), 0.9e6, None, Some(0.9e6)),
            None,
            "waits 5 s now"
        );
        assert!(p.on_estimate(at(8000), 0.9e6, None, Some(0.9e6)).is_some());
        // Loss blocks probing.
        let mut p = Prober::new(6e6);
        for i in 0..100 {
            assert_eq!(p.on_estimate(at(i * 100), 1e6, Some(0.05), Some(1e6)), None);
        }
        assert_eq!(p.probes(), 0);
        // A sender that does not use its estimate (a still screen) proves nothing by a probe: none is made.
        let mut p = Prober::new(6e6);
        for i in 0..100 {
            assert_eq!(
                p.on_estimate(at(i * 100), 1e6, Some(0.0), Some(0.2e6)),
                None
            );
        }
        assert_eq!(p.probes(), 0);
    }

    #[test]
    fn registers_transport_cc_and_the_four_interceptors() {
        let mut me = MediaEngine::default();
        let settings = CongestionSettings::default();
        let (registry, shared) = configure(Registry::new(), &mut me, &settings).unwrap();
        assert_eq!(
            shared.estimate_bps(),
            f64::from(settings.start_kbps) * 1000.0
        );
        let slots = format!("{:?}", registry.slots());
        for slot in ["CongestionControl", "TwccSender", "Pacer", "TwccReceiver"] {
            assert!(slots.contains(slot), "{slot} missing from {slots}");
        }
    }
}
