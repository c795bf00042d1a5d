//! The adaptation loop of one viewer: every [`ADAPT_INTERVAL`] the media task asks the [`Adapter`] what the
//! path allows ([`PathEstimate`], the receiver's loss) and gets back what to do — switch tier, fall back to
//! JPEG, or ask the tier's encoder for another bitrate. The decisions themselves are the [`TierSelector`]'s; this
//! file is the glue between the selector and the shared state, and the status the stats task reports.
//!
//! **The encoder follows a lone viewer.** The video may use [`ENCODER_SHARE`] of the estimate; the viewer's wish
//! (`set_desired_bitrate`) is that, from the bottom of its tier's band up to the top tier's bitrate (a lone viewer
//! on a smaller tier spends what its path allows on more pictures per second). The engine applies it only while
//! the viewer is the tier's only subscriber (it never lowers a shared encoder for one weak viewer: that viewer
//! moves to a lower tier instead).
//!
//! **Motion.** The adapter also watches what the media task sends over the last second: fewer than
//! [`STARVED_FPS`] pictures while spending at least [`RATE_BOUND`] of the encoder's target means the encoder is
//! skipping pictures to hold its rate (openh264 frame skipping): the selector then trades size for motion. Sending
//! under [`QUIET_FRACTION`] of the target means the screen is cheap right now.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::config::CongestionSettings;
use super::congestion::PathEstimate;
use super::counters::MediaCounters;
pub(crate) use super::events::TierInfo;
use super::interceptor::RtcpCounters;
use super::tier::{DOWN_FRACTION, Decision, PathSample, TierSelector};

/// How often the selector looks at the path. GCC changes its estimate at most ~10 times a second (one TWCC
/// feedback per 100 ms from browsers).
pub(crate) const ADAPT_INTERVAL: Duration = Duration::from_millis(100);
/// Share of the estimate the video encoder may use; the rest covers retransmissions, RTCP, packet overhead
/// (SRTP, RTP extensions, UDP/IP: ~5 % at 1200-byte packets) and openh264's overshoot on keyframes. Measured
/// behind a 1.5 Mbit/s cap with a 400 ms queue: at 0.85 the queue stayed full (p50 latency ~390 ms).
pub(crate) const ENCODER_SHARE: f64 = 0.75;
/// Wishes closer than this to the last one are not sent (the encoder would ignore them anyway).
const WISH_STEP: f64 = 0.03;
/// Fewer pictures per second than this, while the encoder spends its whole rate, is a slideshow: the issue's
/// floor for a constrained path.
pub(crate) const STARVED_FPS: f64 = 24.0;
/// "Spends its whole rate": sent at least this fraction of the encoder's target over the last second.
pub(crate) const RATE_BOUND: f64 = 0.75;
/// Sending under this fraction of the target: the screen is cheap right now.
pub(crate) const QUIET_FRACTION: f64 = 0.25;
/// The window sent pictures and bytes are measured over.
const SEND_WINDOW: Duration = Duration::from_secs(1);

/// What the stats task reports about the adaptation (copied once a second).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct AdaptStatus {
    /// Whether congestion control runs (an estimate exists).
    pub(crate) congestion_control: bool,
    pub(crate) estimate_kbps: Option<f64>,
    /// What the viewer's encoder aims at: the wish, or the tier's top.
    pub(crate) target_kbps: Option<f64>,
    /// The tier being sent (changes at the new tier's keyframe).
    pub(crate) tier: usize,
    pub(crate) tier_name: Option<String>,
    pub(crate) tiers: usize,
    pub(crate) switches: u64,
    pub(crate) loss: Option<f64>,
}

/// What the media task must do after a tick.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Step {
    /// Move to this tier.
    pub(crate) switch: Option<(usize, String)>,
    /// Move the viewer to the JPEG fallback.
    pub(crate) fallback: Option<String>,
    /// Ask the current tier's encoder for this bitrate (kbit/s; `None` = the tier's own).
    pub(crate) wish: Option<Option<u32>>,
}

/// See the module docs.
pub(crate) struct Adapter {
    selector: TierSelector,
    tiers: Vec<TierInfo>,
    path: Arc<PathEstimate>,
    rtcp: Arc<RtcpCounters>,
    congestion_control: bool,
    /// Trade size for motion ([`STARVED_FPS`]); otherwise the encoder skips pictures and keeps the size.
    prefer_motion: bool,
    wish: Option<u32>,
    status: Arc<Mutex<AdaptStatus>>,
    media: Arc<MediaCounters>,
    /// (when, frames sent, bytes sent) over the last [`SEND_WINDOW`], oldest first.
    sent: VecDeque<(Instant, u64, u64)>,
}

impl Adapter {
    /// An adapter over `tiers` (best first; empty = a feed that cannot switch), currently sending `tier`.
    pub(crate) fn new(
        tiers: Vec<TierInfo>,
        tier: usize,
        path: Arc<PathEstimate>,
        rtcp: Arc<RtcpCounters>,
        media: Arc<MediaCounters>,
        settings: &CongestionSettings,
    ) -> Self {
        let congestion_control = settings.enabled;
        let tops: Vec<f64> = tiers.iter().map(|t| f64::from(t.top_kbps)).collect();
        let mut selector = TierSelector::new(&tops, f64::INFINITY);
        // Start where the feed starts (chosen from the same start estimate by `start_tier`).
        selector.start_at(tier);
        let status = AdaptStatus {
            congestion_control,
            tier,
            tier_name: tiers.get(tier).map(|t| t.name.clone()),
            tiers: tiers.len(),
            ..AdaptStatus::default()
        };
        Self {
            selector,
            tiers,
            path,
            rtcp,
            congestion_control,
            prefer_motion: settings.prefer_motion,
            wish: None,
            status: Arc::new(Mutex::new(status)),
            media,
            sent: VecDeque::new(),
        }
    }

    /// Pictures per second and kbit/s sent over the last [`SEND_WINDOW`] (`None` until a window has passed).
    fn send_rates(&mut self, now: Instant) -> Option<(f64, f64)> {
        let frames = self.media.frames_sent.load(Ordering::Relaxed);
        let bytes = self.media.bytes_sent.load(Ordering::Relaxed);
        self.sent.push_back((now, frames, bytes));
        while self
            .sent
            .get(1)
            .is_some_and(|(at, _, _)| now.saturating_duration_since(*at) >= SEND_WINDOW)
        {
            self.sent.pop_front();
        }
        let &(then, f0, b0) = self.sent.front()?;
        let secs = now.saturating_duration_since(then).as_secs_f64();
        if secs < SEND_WINDOW.as_secs_f64() * 0.9 || f0 == 0 {
            // Not a full window yet, or nothing was sent before it began (still joining).
            return None;
        }
        Some((
            frames.saturating_sub(f0) as f64 / secs,
            bytes.saturating_sub(b0) as f64 * 8.0 / 1000.0 / secs,
        ))
    }

    /// The status shared with the stats task.
    pub(crate) fn status(&self) -> Arc<Mutex<AdaptStatus>> {
        self.status.clone()
    }

    /// The loss to judge by: GCC's average over its feedback window when congestion control runs (per packet,
    /// ~10 reports/s), otherwise the receiver report's fraction lost (~1 report/s).
    fn loss(&self) -> Option<f64> {
        self.path.loss().or_else(|| {
            (self.rtcp.reports.load(Ordering::Relaxed) > 0)
                .then(|| self.rtcp.fraction_lost.load(Ordering::Relaxed) as f64 / 256.0)
        })
    }

    /// Looks at the path once.
    pub(crate) fn tick(&mut self, now: Instant) -> Step {
        let mut step = Step::default();
        // The encoder's share of the estimate, then the viewer's own cap (a `quality` of 2500 means 2500).
        let available =
            (self.path.estimate_bps() * ENCODER_SHARE).min(self.path.cap_bps()) / 1000.0;
        let loss = self.loss();
        let target = self
            .tiers
            .get(self.selector.current())
            .map_or(f64::INFINITY, |t| {
                f64::from(self.wish.unwrap_or(t.top_kbps))
            });
        // Only a path that cannot give the tier its whole bitrate makes a starved encoder a reason to move: on a
        // good path the tier's own (configured) bitrate is the limit, and the operator chose it.
        let path_bound = self
            .tiers
            .get(self.selector.current())
            .is_some_and(|t| available < f64::from(t.top_kbps));
        let rates = self.send_rates(now);
        let (starved, quiet) = match rates {
            // Without congestion control openh264 does not skip pictures: nothing can starve.
            Some((fps, kbps)) => (
                self.congestion_control
                    && self.prefer_motion
                    && path_bound
                    && fps < STARVED_FPS
                    && kbps >= RATE_BOUND * target,
                kbps < QUIET_FRACTION * target,
            ),
            None => (false, false),
        };
        if self.tiers.len() > 1 {
            match self.selector.update(
                now,
                PathSample {
                    available_kbps: available,
                    // Without congestion control only the manual cap moves a viewer (the behaviour before it).
                    loss: loss.filter(|_| self.congestion_control),
                    starved,
                    quiet,
                },
            ) {
                Decision::Stay => {}
                Decision::Switch { to, why } => {
                    if self.would_starve(to, available, rates) {
                        // Not worth a keyframe of the larger picture only to come back in two seconds.
                        let back_to = self.status.lock().tier;
                        self.selector.veto_up(back_to);
                    } else {
                        step.switch = Some((to, why));
                    }
                }
                Decision::Fallback { why } => step.fallback = Some(why),
            }
        }
        let wish = self.wish_for(self.selector.current(), available);
        if changed(self.wish, wish) {
            self.wish = wish;
            step.wish = Some(wish);
        }
        let mut status = self.status.lock();
        status.estimate_kbps = (self.congestion_control && self.path.has_feedback())
            .then(|| self.path.estimate_bps() / 1000.0);
        status.loss = loss;
        status.switches = self.selector.switches();
        status.target_kbps = self
            .tiers
            .get(status.tier)
            .map(|t| f64::from(self.wish.unwrap_or(t.top_kbps)));
        step
    }

    /// Whether stepping up to `to` would only starve there: with motion preferred, on a path that bounds the
    /// encoder, the picture cost now (bits per pixel per frame at the tier being sent) predicts fewer than
    /// [`STARVED_FPS`] pictures a second at `to`'s size with what is available.
    fn would_starve(&self, to: usize, available: f64, rates: Option<(f64, f64)>) -> bool {
        let from = self.status.lock().tier;
        let (Some(now_tier), Some(to_tier), Some((fps, kbps))) =
            (self.tiers.get(from), self.tiers.get(to), rates)
        else {
            return false;
        };
        // A tier the path gives its whole bitrate is limited by its configured rate, not the path: allowed.
        if !self.prefer_motion
            || to >= from
            || now_tier.width == 0
            || to_tier.width == 0
            || available >= f64::from(to_tier.top_kbps)
        {
            return false;
        }
        // Only a picture that costs about what the encoder may spend says anything about motion.
        let target = f64::from(self.wish.unwrap_or(now_tier.top_kbps));
        if fps <= 0.0 || kbps < RATE_BOUND * target {
            return false;
        }
        let scale = (f64::from(to_tier.width) / f64::from(now_tier.width)).powi(2);
        let kbits_per_frame_there = kbps / fps * scale;
        available / kbits_per_frame_there < STARVED_FPS
    }

    /// The tier the selector chose (the feed may still be switching to it).
    pub(crate) fn selected(&self) -> usize {
        self.selector.current()
    }

    /// The feed could not switch (its subscription failed or the new tier's encoder ended before its first
    /// keyframe): the selector goes back to the tier being sent, and may decide again.
    pub(crate) fn revert(&mut self, tier: usize) {
        self.selector.start_at(tier);
    }

    /// A fallback decision could not be delivered: decide it again later if the path is still that bad.
    pub(crate) fn rearm_fallback(&mut self) {
        self.selector.rearm_fallback();
    }

    /// The feed now sends `tier` (its keyframe arrived).
    pub(crate) fn sending(&mut self, tier: usize) {
        let mut status = self.status.lock();
        status.tier = tier;
        status.tier_name = self.tiers.get(tier).map(|t| t.name.clone());
    }

    /// The wish for `tier` when `available` kbit/s may be used: from the bottom of the tier's band up to the top
    /// tier's bitrate; `None` when that is exactly the tier's own (nothing to steer).
    fn wish_for(&self, tier: usize, available: f64) -> Option<u32> {
        let top = f64::from(self.tiers.get(tier)?.top_kbps);
        let ceiling = self.tiers.first().map_or(top, |t| f64::from(t.top_kbps));
        let wish = if available.is_finite() {
            available.clamp(DOWN_FRACTION * top, ceiling)
        } else {
            ceiling
        };
        ((wish - top).abs() >= 1.0).then_some(wish as u32)
    }
}

fn changed(old: Option<u32>, new: Option<u32>) -> bool {
    match (old, new) {
        (Some(a), Some(b)) => (f64::from(a) - f64::from(b)).abs() > WISH_STEP * f64::from(a),
        (a, b) => a != b,
    }
}

/// The tier a viewer starts on: the best one the start estimate reaches (the top tier without congestion
/// control).
pub fn start_tier(tops_kbps: &[u32], start_kbps: Option<u32>) -> usize {
    let Some(start) = start_kbps else {
        return 0;
    };
    let tops: Vec<f64> = tops_kbps.iter().map(|&t| f64::from(t)).collect();
    TierSelector::new(&tops, f64::from(start) * ENCODER_SHARE).current()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CC: CongestionSettings = CongestionSettings {
        enabled: true,
        start_kbps: 4000,
        prefer_motion: false,
        max_kbps: 4000,
    };
    const MOTION: CongestionSettings = CongestionSettings {
        prefer_motion: true,
        ..CC
    };

    fn tiers() -> Vec<TierInfo> {
        [4000, 1200, 450, 200]
            .iter()
            .enumerate()
            .map(|(i, &k)| TierInfo {
                name: format!("t{i}"),
                top_kbps: k,
                width: [1280, 640, 320, 320][i],
            })
            .collect()
    }

    #[test]
    fn the_wish_follows_the_estimate_inside_the_band() {
        let path = Arc::new(PathEstimate::new(3_000_000.0));
        let mut a = Adapter::new(
            tiers(),
            0,
            path.clone(),
            Arc::new(RtcpCounters::default()),
            Arc::new(MediaCounters::default()),
            &CC,
        );
        let t0 = Instant::now();
        // 3000 × 0.75 = 2250: inside tier 0's band [2000, 4000].
        assert_eq!(a.tick(t0).wish, Some(Some(2250)));
        assert_eq!(a.tick(t0).wish, None, "unchanged: nothing sent");
        path.set_cap_kbps(Some(10_000));
        path.set_cap_kbps(None);
        // Plenty: the tier's own bitrate.
        let path2 = Arc::new(PathEstimate::new(9_000_000.0));
        let mut b = Adapter::new(
            tiers(),
            0,
            path2,
            Arc::new(RtcpCounters::default()),
            Arc::new(MediaCounters::default()),
            &CC,
        );
        assert_eq!(b.tick(t0).wish, None, "already None");
        assert_eq!(b.status().lock().target_kbps, Some(4000.0));
    }

    #[test]
    fn the_manual_cap_moves_a_viewer_without_congestion_control() {
        let path = Arc::new(PathEstimate::new(f64::INFINITY));
        let mut a = Adapter::new(
            tiers(),
            0,
            path.clone(),
            Arc::new(RtcpCounters::default()),
            Arc::new(MediaCounters::default()),
            &CongestionSettings {
                enabled: false,
                ..CC
            },
        );
        let t0 = Instant::now();
        assert_eq!(a.tick(t0), Step::default());
        path.set_cap_kbps(Some(1000));
        let mut switched = None;
        for i in 1..20 {
            let step = a.tick(t0 + ADAPT_INTERVAL * i);
            if step.switch.is_some() {
                switched = step.switch;
            }
        }
        assert_eq!(switched.map(|(to, _)| to), Some(1));
        assert_eq!(
            a.status().lock().estimate_kbps,
            None,
            "no estimate without CC"
        );
    }

    #[test]
    fn a_slideshow_at_full_rate_moves_down_and_a_lone_viewer_keeps_its_bitrate_on_the_smaller_tier()
    {
        // 3000 kbit/s available: the path cannot give the top tier its 4000.
        let path = Arc::new(PathEstimate::new(4_000_000.0));
        let media = Arc::new(MediaCounters::default());
        let mut a = Adapter::new(
            tiers(),
            0,
            path,
            Arc::new(RtcpCounters::default()),
            media.clone(),
            &MOTION,
        );
        let t0 = Instant::now();
        let mut switched = None;
        // 8 pictures a second of 46.9 KB: 3000 kbit/s, the encoder's whole (wished) rate.
        for i in 0..40u32 {
            if i % 10 < 8 {
                media.frames_sent.fetch_add(1, Ordering::Relaxed);
                media.bytes_sent.fetch_add(46_875, Ordering::Relaxed);
            }
            let step = a.tick(t0 + ADAPT_INTERVAL * i);
            if let Some((to, why)) = step.switch {
                switched = Some((i, to, why));
                break;
            }
        }
        let (at, to, why) = switched.expect("moved down");
        assert_eq!(to, 1);
        assert!(why.contains("smaller picture"), "{why}");
        assert!(
            at >= 29,
            "after a full window plus STARVED_AFTER: tick {at}"
        );
        // On tier 1 alone, the encoder may use the path's bitrate (up to the top tier's), not only 1200.
        assert_eq!(a.wish_for(1, 5100.0), Some(4000));
        assert_eq!(a.wish_for(1, 900.0), Some(900));
        // A quiet screen at a low rate is not starved.
        let media = Arc::new(MediaCounters::default());
        let mut b = Adapter::new(
            tiers(),
            0,
            Arc::new(PathEstimate::new(6_000_000.0)),
            Arc::new(RtcpCounters::default()),
            media.clone(),
            &MOTION,
        );
        for i in 0..60u32 {
            if i % 10 == 0 {
                media.frames_sent.fetch_add(1, Ordering::Relaxed);
                media.bytes_sent.fetch_add(5_000, Ordering::Relaxed);
            }
            assert_eq!(b.tick(t0 + ADAPT_INTERVAL * i).switch, None);
        }
    }

    #[test]
    fn a_step_up_that_would_starve_is_not_taken() {
        // On tier 2 (320 px) at 1000 kbit/s of a 1.2 Mbit/s path, 30 pictures a second of ~33 kbit each: at
        // tier 1 (640 px, 4× the pixels) the same motion would cost ~133 kbit a picture, 7.5 pictures a second.
        let path = Arc::new(PathEstimate::new(1_400_000.0));
        let media = Arc::new(MediaCounters::default());
        let mut a = Adapter::new(
            tiers(),
            2,
            path,
            Arc::new(RtcpCounters::default()),
            media.clone(),
            &MOTION,
        );
        let t0 = Instant::now();
        for i in 0..100u32 {
            for _ in 0..3 {
                media.frames_sent.fetch_add(1, Ordering::Relaxed);
                media.bytes_sent.fetch_add(4_125, Ordering::Relaxed);
            }
            let step = a.tick(t0 + ADAPT_INTERVAL * i);
            assert_eq!(step.switch, None, "tick {i}");
        }
        assert_eq!(a.selected(), 2);
        assert_eq!(a.status().lock().switches, 0);
    }

    #[test]
    fn a_slideshow_on_a_good_path_stays_at_the_configured_bitrate() {
        // The path could carry more than the top tier's 4000: the operator's ceiling is the limit, not the path.
        let media = Arc::new(MediaCounters::default());
        let mut a = Adapter::new(
            tiers(),
            0,
            Arc::new(PathEstimate::new(6_000_000.0)),
            Arc::new(RtcpCounters::default()),
            media.clone(),
            &MOTION,
        );
        let t0 = Instant::now();
        for i in 0..60u32 {
            if i % 10 < 8 {
                media.frames_sent.fetch_add(1, Ordering::Relaxed);
                media.bytes_sent.fetch_add(62_500, Ordering::Relaxed);
            }
            assert_eq!(a.tick(t0 + ADAPT_INTERVAL * i).switch, None);
        }
    }

    #[test]
    fn start_tier_uses_the_encoders_share_of_the_start_estimate() {
        assert_eq!(start_tier(&[4000, 1200, 450, 200], Some(4000)), 0);
        assert_eq!(start_tier(&[4000, 1200, 450, 200], Some(2500)), 1);
        assert_eq!(start_tier(&[4000, 1200, 450, 200], Some(1000)), 1);
        assert_eq!(start_tier(&[4000, 1200, 450, 200], None), 0);
        assert_eq!(start_tier(&[], Some(1000)), 0);
    }
}
