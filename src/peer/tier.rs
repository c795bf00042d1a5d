//! The tier selector: which rung of a screen's quality ladder one viewer should watch, from what its path can
//! carry. Pure: every decision takes `now` and a [`PathSample`], so it is tested on virtual time.
//!
//! A ladder is a list of tiers, best first; tier `t` is one shared encoder whose bitrate may move inside the
//! band `[DOWN_FRACTION × top(t), top(t)]` (it follows a lone viewer's estimate there, see `adapt.rs`). The
//! selector compares the bitrate available to the video — the estimate times the encoder's share of it — with
//! those bands:
//! - **down, fast:** when what is available stays under the current band for [`DOWN_AFTER`], go straight to the
//!   best tier whose band it reaches (one decision even when several tiers must be skipped); when the receiver
//!   keeps reporting more than [`LOSS_DOWN`] of packets lost for [`LOSS_DOWN_AFTER`], one tier down (loss that
//!   the estimator did not turn into a lower estimate is still loss the viewer sees as freezes);
//! - **up, slow:** only when what is available would give the better tier at least [`UP_FRACTION`] of its top,
//!   with little loss, for a whole hold period ([`UP_HOLD`]), to the best such tier. The hold doubles (up to
//!   [`MAX_UP_HOLD`]) each time a step up is followed by a step down within [`UP_FAILED_WITHIN`] — a failed probe
//!   — and returns to [`UP_HOLD`] after [`UP_SETTLED_AFTER`] without trouble. `DOWN_FRACTION < UP_FRACTION` is the
//!   hysteresis: a viewer that just moved up is not at once under the band it moved into.
//! - **motion:** when the tier's encoder keeps dropping pictures to hold its bitrate ([`PathSample::starved`]:
//!   the screen changes too much for that size at that rate) for [`STARVED_AFTER`], one tier down: a smaller
//!   picture at full motion (libwebrtc's "balanced" degradation). That tier is not taken again for
//!   [`STARVE_MEMORY`] unless the screen goes quiet.
//! - **fallback:** on the floor tier, when even its band is out of reach (or loss stays above [`LOSS_FALLBACK`])
//!   for [`FALLBACK_AFTER`], the viewer is better served by the JPEG fallback than by a frozen video.

use std::time::{Duration, Instant};

/// A tier is left downwards when what is available falls under this fraction of its top bitrate: its encoder
/// may follow a lone viewer down to there, not lower.
pub(crate) const DOWN_FRACTION: f64 = 0.5;
/// A better tier is only taken when what is available gives it at least this fraction of its top bitrate.
pub(crate) const UP_FRACTION: f64 = 0.8;
/// How long what is available must stay under the band before stepping down. GCC reports about ten times a
/// second and reacts to overuse at once, so a few reports suffice; the issue asks for "within about a second".
pub(crate) const DOWN_AFTER: Duration = Duration::from_millis(300);
/// Loss (fraction of packets, as the receiver reports it) that is too much to stay on a tier.
pub(crate) const LOSS_DOWN: f64 = 0.15;
/// How long [`LOSS_DOWN`] must persist before stepping down (receiver reports come about once a second).
pub(crate) const LOSS_DOWN_AFTER: Duration = Duration::from_millis(1500);
/// Most loss tolerated while waiting to step up.
pub(crate) const LOSS_UP_MAX: f64 = 0.05;
/// First hold before stepping up.
pub(crate) const UP_HOLD: Duration = Duration::from_secs(3);
/// Longest hold, after repeated failed steps up.
pub(crate) const MAX_UP_HOLD: Duration = Duration::from_secs(48);
/// A step down this soon after a step up means the step up failed (the path could not carry the better tier).
pub(crate) const UP_FAILED_WITHIN: Duration = Duration::from_secs(8);
/// After this long on a tier without trouble the hold returns to [`UP_HOLD`].
pub(crate) const UP_SETTLED_AFTER: Duration = Duration::from_secs(30);
/// After any switch, no further step down for this long: the new tier's first keyframe is in flight, and the
/// estimate still reflects the old tier's traffic.
pub(crate) const SWITCH_DWELL: Duration = Duration::from_millis(1000);
/// How long the tier's encoder must be starved (dropping pictures to hold its bitrate, see [`PathSample`])
/// before the viewer moves one tier down, to a smaller picture it can send at full motion.
pub(crate) const STARVED_AFTER: Duration = Duration::from_secs(2);
/// A tier left because it starved is not taken again for this long, unless the screen has gone quiet.
pub(crate) const STARVE_MEMORY: Duration = Duration::from_secs(60);
/// On the floor tier, the viewer is moved to the JPEG fallback when what is available stays under this fraction
/// of the floor's top bitrate ...
pub(crate) const FALLBACK_FRACTION: f64 = 0.5;
/// ... or loss stays above this ...
pub(crate) const LOSS_FALLBACK: f64 = 0.3;
/// ... for this long.
pub(crate) const FALLBACK_AFTER: Duration = Duration::from_secs(6);

/// What the selector learns about the path at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PathSample {
    /// Bitrate the video may use now, kbit/s (the estimate times the encoder's share, capped by the viewer).
    pub(crate) available_kbps: f64,
    /// Latest reported loss fraction (0..=1), when the receiver has reported any.
    pub(crate) loss: Option<f64>,
    /// The current tier's encoder spends its whole bitrate yet sends fewer pictures than motion needs: the
    /// screen changes too much for this size at this rate (libwebrtc's "balanced" degradation: a smaller
    /// picture at full motion beats a sharp slideshow).
    pub(crate) starved: bool,
    /// The screen costs far less than the bitrate allows (little is changing): a tier left for starving may be
    /// tried again.
    pub(crate) quiet: bool,
}

/// What the selector decided.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Decision {
    Stay,
    /// Move to this tier (index into the ladder).
    Switch {
        to: usize,
        why: String,
    },
    /// Even the floor tier cannot be held: move the viewer to the JPEG fallback (decided once).
    Fallback {
        why: String,
    },
}

/// See the module docs.
#[derive(Debug, Clone)]
pub(crate) struct TierSelector {
    /// Top bitrate of each tier, kbit/s, best first.
    tops: Vec<f64>,
    current: usize,
    below_since: Option<Instant>,
    lossy_since: Option<Instant>,
    above_since: Option<Instant>,
    starved_since: Option<Instant>,
    /// Since when the encoder has been starved (picture-rate, not bandwidth).
    slideshow_since: Option<Instant>,
    /// When each tier was last left because it starved.
    starved_at: Vec<Option<Instant>>,
    last_switch: Option<(Instant, bool)>,
    /// `last_switch` before the latest switch (restored when a step up is vetoed).
    previous_switch: Option<(Instant, bool)>,
    up_hold: Duration,
    fell_back: bool,
    switches: u64,
}

impl TierSelector {
    /// A selector over tiers with these top bitrates (best first), starting on the best tier that `start_kbps`
    /// reaches. An empty ladder is treated as one tier.
    pub(crate) fn new(tops_kbps: &[f64], start_kbps: f64) -> Self {
        let tops = if tops_kbps.is_empty() {
            vec![f64::INFINITY]
        } else {
            tops_kbps.to_vec()
        };
        let mut s = Self {
            tops,
            current: 0,
            below_since: None,
            lossy_since: None,
            above_since: None,
            starved_since: None,
            slideshow_since: None,
            starved_at: Vec::new(),
            last_switch: None,
            previous_switch: None,
            up_hold: UP_HOLD,
            fell_back: false,
            switches: 0,
        };
        s.current = s.best_within_band(start_kbps, 0);
        s.starved_at = vec![None; s.tops.len()];
        s
    }

    /// Places the viewer on `tier` (clamped to the ladder) without counting a switch.
    pub(crate) fn start_at(&mut self, tier: usize) {
        self.current = tier.min(self.last());
    }

    /// Takes back the step up just decided, back to `back_to`: the adapter predicts the viewer would starve
    /// there. The next try waits a whole hold again (and the path may have grown by then).
    pub(crate) fn veto_up(&mut self, back_to: usize) {
        self.current = back_to.min(self.last());
        self.last_switch = self.previous_switch;
        self.switches = self.switches.saturating_sub(1);
        self.above_since = None;
    }

    /// Lets a fallback be decided again (the last one could not be delivered).
    pub(crate) fn rearm_fallback(&mut self) {
        self.fell_back = false;
        self.starved_since = None;
    }

    /// The tier the viewer should be on.
    pub(crate) fn current(&self) -> usize {
        self.current
    }

    /// Switches decided so far.
    pub(crate) fn switches(&self) -> u64 {
        self.switches
    }

    /// The current hold before a step up.
    #[cfg(test)]
    pub(crate) fn up_hold(&self) -> Duration {
        self.up_hold
    }

    fn last(&self) -> usize {
        self.tops.len() - 1
    }

    /// Whether `available` reaches tier `t`'s band.
    fn reaches(&self, t: usize, available: f64) -> bool {
        available >= DOWN_FRACTION * self.tops[t]
    }

    /// The best tier at or below `from` whose band `available` reaches (the floor when none).
    fn best_within_band(&self, available: f64, from: usize) -> usize {
        (from..self.tops.len())
            .find(|&t| self.reaches(t, available))
            .unwrap_or(self.last())
    }

    /// Feeds one sample; returns what to do now.
    pub(crate) fn update(&mut self, now: Instant, s: PathSample) -> Decision {
        let available = s.available_kbps.max(0.0);
        let loss = s.loss.unwrap_or(0.0);
        let since = |slot: &mut Option<Instant>, cond: bool| {
            if cond {
                *slot.get_or_insert(now)
            } else {
                *slot = None;
                now
            }
        };
        let held = |start: Instant| now.saturating_duration_since(start);
        let reached = self.reaches(self.current, available);
        let below = since(&mut self.below_since, !reached);
        let lossy = since(&mut self.lossy_since, loss > LOSS_DOWN);
        let slideshow = since(&mut self.slideshow_since, s.starved);
        let dwelling = self
            .last_switch
            .is_some_and(|(at, _)| held(at) < SWITCH_DWELL);

        // Trouble on the floor tier: fall back once.
        let floor = self.current == self.last();
        let floor_top = self.tops[self.current];
        let starving = floor && (available < FALLBACK_FRACTION * floor_top || loss > LOSS_FALLBACK);
        let starved = since(&mut self.starved_since, starving);
        if starving && !self.fell_back && held(starved) >= FALLBACK_AFTER {
            self.fell_back = true;
            return Decision::Fallback {
                why: format!(
                    "the network carries about {:.0} kbit/s with {:.0} % loss, too little for the lowest video tier ({:.0} kbit/s)",
                    available.min(1e9),
                    loss * 100.0,
                    self.tops[self.current]
                ),
            };
        }

        if !dwelling {
            if self.below_since.is_some() && held(below) >= DOWN_AFTER {
                let to = self.best_within_band(available, self.current);
                if to != self.current {
                    return self.switch(
                        now,
                        to,
                        format!("{available:.0} kbit/s available, under this tier's band"),
                    );
                }
            }
            if self.slideshow_since.is_some()
                && held(slideshow) >= STARVED_AFTER
                && self.current < self.last()
            {
                self.starved_at[self.current] = Some(now);
                let to = self.current + 1;
                return self.switch(
                    now,
                    to,
                    "the encoder drops pictures to hold its bitrate: a smaller picture keeps the motion"
                        .to_owned(),
                );
            }
            if self.lossy_since.is_some()
                && held(lossy) >= LOSS_DOWN_AFTER
                && self.current < self.last()
            {
                let to = self.current + 1;
                return self.switch(now, to, format!("{:.0} % of packets lost", loss * 100.0));
            }
        }

        // Settled: a later failed step up starts from the base hold again.
        if let Some((at, _)) = self.last_switch
            && held(at) >= UP_SETTLED_AFTER
        {
            self.up_hold = UP_HOLD;
        }

        let starved_recently =
            |t: usize| self.starved_at[t].is_some_and(|at| held(at) < STARVE_MEMORY) && !s.quiet;
        let better = (0..self.current).find(|&t| {
            available >= UP_FRACTION * self.tops[t] && loss <= LOSS_UP_MAX && !starved_recently(t)
        });
        let above = since(&mut self.above_since, better.is_some());
        if let Some(to) = better
            && held(above) >= self.up_hold
        {
            return self.switch(
                now,
                to,
                format!(
                    "{available:.0} kbit/s available for {:.1} s",
                    self.up_hold.as_secs_f64()
                ),
            );
        }
        Decision::Stay
    }

    fn switch(&mut self, now: Instant, to: usize, why: String) -> Decision {
        let up = to < self.current;
        if !up
            && let Some((at, true)) = self.last_switch
            && now.saturating_duration_since(at) < UP_FAILED_WITHIN
        {
            // The last step up did not hold: wait longer before the next one.
            self.up_hold = (self.up_hold * 2).min(MAX_UP_HOLD);
        }
        self.current = to;
        self.previous_switch = self.last_switch;
        self.last_switch = Some((now, up));
        self.below_since = None;
        self.lossy_since = None;
        self.above_since = None;
        self.starved_since = None;
        self.slideshow_since = None;
        self.switches += 1;
        Decision::Switch { to, why }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LADDER: [f64; 4] = [4000.0, 1200.0, 450.0, 200.0];

    fn sample(available_kbps: f64) -> PathSample {
        PathSample {
            available_kbps,
            loss: Some(0.0),
            starved: false,
            quiet: false,
        }
    }

    /// Feeds `s` every 100 ms from `from` for `dur`; returns the decisions that were not `Stay`, with their time
    /// offset from `t0`.
    fn run(
        sel: &mut TierSelector,
        t0: Instant,
        from: Duration,
        dur: Duration,
        s: PathSample,
    ) -> Vec<(Duration, Decision)> {
        let mut out = Vec::new();
        let mut t = from;
        while t < from + dur {
            let d = sel.update(t0 + t, s);
            if d != Decision::Stay {
                out.push((t, d));
            }
            t += Duration::from_millis(100);
        }
        out
    }

    fn to(d: &Decision) -> Option<usize> {
        match d {
            Decision::Switch { to, .. } => Some(*to),
            _ => None,
        }
    }

    #[test]
    fn starts_on_the_best_tier_the_start_estimate_reaches() {
        assert_eq!(TierSelector::new(&LADDER, 2250.0).current(), 0);
        assert_eq!(TierSelector::new(&LADDER, 1000.0).current(), 1);
        assert_eq!(TierSelector::new(&LADDER, 50.0).current(), 3);
        assert_eq!(TierSelector::new(&[], 10.0).current(), 0);
    }

    #[test]
    fn steps_down_within_a_second_straight_to_the_tier_that_fits() {
        let t0 = Instant::now();
        let mut s = TierSelector::new(&LADDER, 3600.0);
        assert!(
            run(
                &mut s,
                t0,
                Duration::ZERO,
                Duration::from_secs(5),
                sample(3600.0)
            )
            .is_empty()
        );
        // A 1.5 Mbit/s cap: GCC settles around 1.2 Mbit/s, 90 % of it for the video.
        let d = run(
            &mut s,
            t0,
            Duration::from_secs(5),
            Duration::from_secs(3),
            sample(1100.0),
        );
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(to(&d[0].1), Some(1));
        assert!(
            d[0].0 - Duration::from_secs(5) <= Duration::from_secs(1),
            "{d:?}"
        );
        // A collapse skips tiers in one decision.
        let mut s = TierSelector::new(&LADDER, 3600.0);
        let d = run(
            &mut s,
            t0,
            Duration::ZERO,
            Duration::from_secs(2),
            sample(150.0),
        );
        assert_eq!(
            d.iter().filter_map(|(_, d)| to(d)).collect::<Vec<_>>(),
            vec![3]
        );
    }

    #[test]
    fn a_blip_shorter_than_the_down_delay_changes_nothing() {
        let t0 = Instant::now();
        let mut s = TierSelector::new(&LADDER, 3600.0);
        assert!(
            run(
                &mut s,
                t0,
                Duration::ZERO,
                Duration::from_millis(200),
                sample(500.0)
            )
            .is_empty()
        );
        assert!(
            run(
                &mut s,
                t0,
                Duration::from_millis(200),
                Duration::from_secs(5),
                sample(3600.0)
            )
            .is_empty()
        );
        assert_eq!(s.current(), 0);
    }

    #[test]
    fn climbs_back_to_the_top_after_a_stable_hold() {
        let t0 = Instant::now();
        let mut s = TierSelector::new(&LADDER, 300.0);
        assert_eq!(s.current(), 2);
        // The cap is lifted: the estimate is back well above the top tier's need.
        let d = run(
            &mut s,
            t0,
            Duration::ZERO,
            Duration::from_secs(10),
            sample(3600.0),
        );
        assert_eq!(d.len(), 1, "straight to the top: {d:?}");
        assert_eq!(to(&d[0].1), Some(0));
        assert!(
            d[0].0 >= UP_HOLD && d[0].0 <= UP_HOLD + Duration::from_millis(200),
            "{d:?}"
        );
    }

    #[test]
    fn hysteresis_keeps_a_viewer_between_the_thresholds_where_it_is() {
        let t0 = Instant::now();
        // 2500 is under the top tier's step-up threshold (3200) and over its step-down threshold (2000).
        for start in [3600.0, 1000.0] {
            let mut s = TierSelector::new(&LADDER, start);
            let first = s.current();
            let d = run(
                &mut s,
                t0,
                Duration::ZERO,
                Duration::from_secs(60),
                sample(2500.0),
            );
            assert!(d.is_empty(), "from {start}: {d:?}");
            assert_eq!(s.current(), first);
        }
    }

    #[test]
    fn failed_steps_up_double_the_hold_and_stop_the_flapping() {
        let t0 = Instant::now();
        let mut s = TierSelector::new(&LADDER, 1000.0);
        let mut t = Duration::ZERO;
        let mut ups = 0;
        // A path that carries tier 1 but overshoots whenever tier 0 is tried: GCC reports a high estimate while
        // the sender is application-limited, then collapses once tier 0's traffic fills the link.
        for _ in 0..600 {
            let available = if s.current() == 0 { 900.0 } else { 3600.0 };
            if let Decision::Switch { to: 0, .. } = s.update(t0 + t, sample(available)) {
                ups += 1;
            }
            t += Duration::from_millis(100);
        }
        // 60 s: holds of 3, 6, 12, 24 s (+ ~1.3 s on tier 0 each time) allow at most 4 tries, not 15.
        assert!(ups <= 4, "{ups} steps up in 60 s");
        assert!(s.up_hold() > UP_HOLD);
        // Stable for long enough: the hold resets.
        run(
            &mut s,
            t0,
            t,
            UP_SETTLED_AFTER + Duration::from_secs(1),
            sample(2500.0),
        );
        assert_eq!(s.up_hold(), UP_HOLD);
    }

    #[test]
    fn sustained_loss_steps_down_one_tier_and_blocks_stepping_up() {
        let t0 = Instant::now();
        let mut s = TierSelector::new(&LADDER, 3600.0);
        let lossy = PathSample {
            available_kbps: 3600.0,
            loss: Some(0.2),
            ..sample(0.0)
        };
        let d = run(&mut s, t0, Duration::ZERO, Duration::from_secs(2), lossy);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(to(&d[0].1), Some(1));
        // 5 % random loss (what NACK repairs) moves no one.
        let mut s = TierSelector::new(&LADDER, 3600.0);
        let d = run(
            &mut s,
            t0,
            Duration::ZERO,
            Duration::from_secs(20),
            PathSample {
                loss: Some(0.05),
                ..sample(3600.0)
            },
        );
        assert!(d.is_empty(), "{d:?}");
        // Loss above LOSS_UP_MAX keeps a viewer from stepping up.
        let mut s = TierSelector::new(&LADDER, 1000.0);
        let d = run(
            &mut s,
            t0,
            Duration::ZERO,
            Duration::from_secs(20),
            PathSample {
                loss: Some(0.08),
                ..sample(3600.0)
            },
        );
        assert!(d.is_empty(), "{d:?}");
    }

    #[test]
    fn a_starved_encoder_moves_down_one_tier_and_not_back_until_the_screen_quiets() {
        let t0 = Instant::now();
        let mut s = TierSelector::new(&LADDER, 5000.0);
        let busy = PathSample {
            starved: true,
            ..sample(5000.0)
        };
        let d = run(&mut s, t0, Duration::ZERO, Duration::from_secs(3), busy);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(to(&d[0].1), Some(1));
        assert!(d[0].0 >= STARVED_AFTER, "{d:?}");
        // Plenty of bandwidth, full motion on tier 1: no step back up into the slideshow.
        let d = run(
            &mut s,
            t0,
            Duration::from_secs(3),
            Duration::from_secs(30),
            sample(5000.0),
        );
        assert!(d.is_empty(), "{d:?}");
        // The screen quiets: back up after the hold.
        let quiet = PathSample {
            quiet: true,
            ..sample(5000.0)
        };
        let d = run(
            &mut s,
            t0,
            Duration::from_secs(33),
            Duration::from_secs(5),
            quiet,
        );
        assert_eq!(
            d.iter().filter_map(|(_, d)| to(d)).collect::<Vec<_>>(),
            vec![0]
        );
        // Starving on the floor tier is no reason to fall back.
        let mut s = TierSelector::new(&LADDER, 150.0);
        let floor_busy = PathSample {
            starved: true,
            ..sample(150.0)
        };
        assert!(
            run(
                &mut s,
                t0,
                Duration::ZERO,
                Duration::from_secs(20),
                floor_busy
            )
            .is_empty()
        );
    }

    #[test]
    fn falls_back_once_when_even_the_floor_cannot_be_held() {
        let t0 = Instant::now();
        let mut s = TierSelector::new(&LADDER, 3600.0);
        let d = run(
            &mut s,
            t0,
            Duration::ZERO,
            Duration::from_secs(20),
            sample(60.0),
        );
        let fallbacks: Vec<_> = d
            .iter()
            .filter(|(_, d)| matches!(d, Decision::Fallback { .. }))
            .collect();
        assert_eq!(fallbacks.len(), 1, "{d:?}");
        assert!(fallbacks[0].0 >= FALLBACK_AFTER, "{d:?}");
        // A floor that holds (just) does not fall back.
        let mut s = TierSelector::new(&LADDER, 150.0);
        assert!(
            run(
                &mut s,
                t0,
                Duration::ZERO,
                Duration::from_secs(30),
                sample(150.0)
            )
            .is_empty()
        );
    }
}
