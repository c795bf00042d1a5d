//! How a `/ws` JPEG viewer follows its socket: [`JpegAdapter`] picks a rung of a bounded [`ladder`] derived from
//! the profile the viewer asked for, from what the socket shows of its send queue. Pure: every decision takes
//! `now`; the stream ([`super::jpeg`]) does the subscribing.
//!
//! # What the socket shows
//! The stream keeps one frame in flight: it hands a frame to the socket's outbox and takes the next (the newest)
//! only once the socket task has written the previous one. The end of that write is all the gateway can see of
//! the client: the kernel's send buffer hides the link, but once it is full a write waits for the client to drain
//! it. So when the previous write ends, or while it has not ended yet, the stream tells the adapter when the next
//! frame was due ([`JpegAdapter::on_write`], [`JpegAdapter::on_waiting`]). A frame held back more than
//! [`LATE_MARGIN`] past its due time is backpressure; a write that ends in time shows a drained queue.
//!
//! # Decisions
//! - **Down** one rung once backpressure has lasted [`DOWN_AFTER`] (late frames and no frame in time since), then
//!   one more per [`DOWN_SETTLE`] while it lasts; a client that stops reading walks down to the floor.
//! - **Up** one rung after a drained hold: no late frame for [`UP_HOLD`] since the last late frame and the last
//!   change. A step up followed by a step down within [`PROBE_WINDOW`] failed: the hold doubles (up to
//!   [`UP_HOLD_MAX`]), so a link whose capacity sits between two rungs is probed ever more rarely instead of
//!   flapping. A step up that lasts the probe window resets the hold.
//!
//! The ladder never goes above what the viewer asked for (its first rung *is* the request) nor below
//! [`FLOOR_QUALITY`] / [`FLOOR_WIDTH`] (or the request, when it asked for less). The frame rate is the viewer's on
//! every rung: fewer bytes per frame, not fewer frames, is what a JPEG viewer gains from a step down, and a slow
//! socket already gets fewer frames on its own.

use std::fmt;
use std::time::{Duration, Instant};

use sightline_media::engine::JpegProfile;

/// A write ending up to this long after the next frame was due is scheduling noise: the socket task also writes
/// replies and HQ frames, and a runtime tick is a few milliseconds. Later than that the client is not taking
/// frames as fast as they come.
pub const LATE_MARGIN: Duration = Duration::from_millis(50);

/// Backpressure must last this long before the first step down: long enough to ride out one slow write (a Wi-Fi
/// retransmission burst, a busy tab), short enough that the picture falls less than a second behind before the
/// frames get smaller.
pub const DOWN_AFTER: Duration = Duration::from_millis(500);

/// After a change, backpressure must go on this long before another step down: frames of the previous size still
/// sit in the kernel's send buffer and must drain before the new size can show its effect, so stepping faster
/// would overshoot to the floor on a link that one rung would have fitted.
pub const DOWN_SETTLE: Duration = Duration::from_secs(1);

/// A first step up waits for this long without a late frame: several seconds of evidence that the socket drains
/// at the current size, since the next rung up costs up to about twice the bytes.
pub const UP_HOLD: Duration = Duration::from_secs(4);

/// The hold after repeated failed step ups stops doubling here: a link that could not take the next rung is still
/// probed once a minute, so a recovered link climbs back without the viewer reconnecting.
pub const UP_HOLD_MAX: Duration = Duration::from_secs(64);

/// A step down this soon after a step up means the step up failed (the larger frames did not fit); later, the
/// link changed, and the step up counts as a success.
pub const PROBE_WINDOW: Duration = Duration::from_secs(5);

/// No rung goes below this JPEG quality (unless the viewer asked for less): under ~30 text turns to blocks.
pub const FLOOR_QUALITY: u8 = 30;

/// No rung goes below this width (unless the viewer or the screen is narrower): a phone-sized picture where a
/// window's title bar is still readable.
pub const FLOOR_WIDTH: u32 = 320;

/// Each rung below the top as (quality, width) in percent of the request: q70/w960 → q55/w960 → q45/w720 →
/// q35/w480 → q30/w320. JPEG size follows pixels × a quality factor, so the first rung (quality only) costs about
/// 0.8× the bytes of the top and each later one about half of the one above it.
const RUNGS: [(u32, u32); 4] = [(80, 100), (65, 75), (50, 50), (43, 33)];

/// Rungs' qualities are rounded to a multiple of this, so viewers on nearby requests land on the same rung and
/// share its encoder (the engine runs one per (screen, quality, max_width)).
const QUALITY_GRAIN: u32 = 5;

/// Rungs' widths are rounded to a multiple of this (a JPEG MCU is 16 px), for the same encoder sharing.
const WIDTH_GRAIN: u32 = 16;

/// The rungs a viewer asking for `requested` on a screen `screen_width` wide may be moved through, best first.
/// The first is `requested` itself; each next one is smaller in quality or width; none goes above the request or
/// below the floor. Every rung keeps the requested `fps`.
pub fn ladder(requested: JpegProfile, screen_width: u32) -> Vec<JpegProfile> {
    let quality = u32::from(requested.quality);
    let width = requested
        .max_width
        .map_or(screen_width, |w| w.min(screen_width))
        .max(1);
    let mut rungs = vec![requested];
    for (q_pct, w_pct) in RUNGS {
        let q = scaled(quality, q_pct, QUALITY_GRAIN, u32::from(FLOOR_QUALITY));
        let w = scaled(width, w_pct, WIDTH_GRAIN, FLOOR_WIDTH);
        let rung = JpegProfile {
            quality: u8::try_from(q).unwrap_or(requested.quality),
            // The full width keeps the request's own `max_width` (often `None`), so the rung shares the encoder of
            // viewers asking for that quality at that size.
            max_width: if w == width {
                requested.max_width
            } else {
                Some(w)
            },
            fps: requested.fps,
        };
        let last = rungs.last().expect("the ladder starts with the request");
        if (rung.quality, rung.max_width) != (last.quality, last.max_width) {
            rungs.push(rung);
        }
    }
    rungs
}

/// `value × pct %` rounded to a multiple of `grain`, kept within `min(floor, value)..=value`.
fn scaled(value: u32, pct: u32, grain: u32, floor: u32) -> u32 {
    let exact = u64::from(value) * u64::from(pct);
    let step = u64::from(grain) * 100;
    let rounded = (exact + step / 2) / step * u64::from(grain);
    let rounded = u32::try_from(rounded).unwrap_or(value);
    rounded.clamp(floor.min(value), value)
}

/// A rung's name, as the engine names its pipeline: `q45-w720`, `q70-full`.
pub fn rung_name(profile: &JpegProfile) -> String {
    match profile.max_width {
        Some(w) => format!("q{}-w{w}", profile.quality),
        None => format!("q{}-full", profile.quality),
    }
}

/// Which way a change went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// To a smaller rung: the socket could not keep up.
    Down,
    /// To a larger rung: the socket drained.
    Up,
}

/// A step the stream must take: subscribe to `profile`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Down or up.
    pub direction: Direction,
    /// The new rung's index (0 = the request).
    pub step: usize,
    /// Rungs in the ladder.
    pub rungs: usize,
    /// The new rung.
    pub profile: JpegProfile,
    /// How long the socket was behind (down) or drained (up) when the change was decided.
    pub after: Duration,
}

impl fmt::Display for Change {
    /// The monitor timeline's line: `jpeg down to q45-w720 (step 2 of 4): the socket fell 0.6 s behind`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (way, why) = match self.direction {
            Direction::Down => ("down", "the socket fell"),
            Direction::Up => ("up", "the socket drained for"),
        };
        write!(
            f,
            "jpeg {way} to {} (step {} of {}): {why} {:.1} s{}",
            rung_name(&self.profile),
            self.step,
            self.rungs.saturating_sub(1),
            self.after.as_secs_f64(),
            if self.direction == Direction::Down {
                " behind"
            } else {
                ""
            }
        )
    }
}

/// One JPEG viewer's rung, decided from its socket's backpressure.
#[derive(Clone, Debug)]
pub struct JpegAdapter {
    ladder: Vec<JpegProfile>,
    step: usize,
    /// The due time of the first late frame of the current run of late frames; `None` while frames are in time.
    behind_since: Option<Instant>,
    /// When a frame was last late.
    last_late: Option<Instant>,
    /// The last change.
    changed_at: Option<Instant>,
    /// When the last step up happened, while it is within its probe window.
    probing_since: Option<Instant>,
    /// The current wait before a step up: [`UP_HOLD`], doubled by each failed step up.
    hold: Duration,
    switches: u64,
}

impl JpegAdapter {
    /// An adapter for a viewer asking for `requested` on a screen `screen_width` wide, starting at the request.
    pub fn new(requested: JpegProfile, screen_width: u32) -> Self {
        Self {
            ladder: ladder(requested, screen_width),
            step: 0,
            behind_since: None,
            last_late: None,
            changed_at: None,
            probing_since: None,
            hold: UP_HOLD,
            switches: 0,
        }
    }

    /// An adapter over `ladder` (best first, never empty: the request alone when it is), starting at its top. The
    /// socket builds it from [`ladder`] mapped onto the gateway's snapped profiles, so every rung is an encoder
    /// other viewers can share.
    pub fn from_ladder(mut ladder: Vec<JpegProfile>, requested: JpegProfile) -> Self {
        ladder.dedup_by_key(|p| (p.quality, p.max_width));
        if ladder.is_empty() {
            ladder.push(requested);
        }
        Self {
            ladder,
            ..Self::new(requested, requested.max_width.unwrap_or(u32::MAX))
        }
    }

    /// The rungs, best first.
    pub fn ladder(&self) -> &[JpegProfile] {
        &self.ladder
    }

    /// The current rung's index (0 = the request).
    pub fn step(&self) -> usize {
        self.step
    }

    /// The current rung.
    pub fn profile(&self) -> JpegProfile {
        self.ladder[self.step]
    }

    /// The wait a step up needs now.
    pub fn hold(&self) -> Duration {
        self.hold
    }

    /// Changes so far.
    pub fn switches(&self) -> u64 {
        self.switches
    }

    /// The previous frame's write ended at `now`; the next frame was due at `due` (its pacing allowed it then).
    pub fn on_write(&mut self, now: Instant, due: Instant) -> Option<Change> {
        if now.saturating_duration_since(due) > LATE_MARGIN {
            self.late(now, due)
        } else {
            self.in_time(now)
        }
    }

    /// At `now` the previous frame's write has not ended; the next frame was due at `due`. Lets a client that stops
    /// reading altogether be stepped down although no write ends.
    pub fn on_waiting(&mut self, now: Instant, due: Instant) -> Option<Change> {
        if now.saturating_duration_since(due) > LATE_MARGIN {
            self.late(now, due)
        } else {
            None
        }
    }

    fn late(&mut self, now: Instant, due: Instant) -> Option<Change> {
        let since = *self.behind_since.get_or_insert(due.min(now));
        self.last_late = Some(now);
        let behind = now.saturating_duration_since(since);
        let settled = self
            .changed_at
            .is_none_or(|at| now.saturating_duration_since(at) >= DOWN_SETTLE);
        if behind < DOWN_AFTER || !settled || self.step + 1 >= self.ladder.len() {
            return None;
        }
        if let Some(up) = self.probing_since.take()
            && now.saturating_duration_since(up) < PROBE_WINDOW
        {
            self.hold = (self.hold * 2).min(UP_HOLD_MAX);
        }
        Some(self.change(now, Direction::Down, behind))
    }

    fn in_time(&mut self, now: Instant) -> Option<Change> {
        self.behind_since = None;
        if let Some(up) = self.probing_since
            && now.saturating_duration_since(up) >= PROBE_WINDOW
        {
            self.probing_since = None;
            self.hold = UP_HOLD;
        }
        if self.step == 0 {
            return None;
        }
        let quiet_since = match (self.last_late, self.changed_at) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let drained = quiet_since.map_or(Duration::MAX, |at| now.saturating_duration_since(at));
        if drained < self.hold {
            return None;
        }
        self.probing_since = Some(now);
        Some(self.change(now, Direction::Up, drained))
    }

    fn change(&mut self, now: Instant, direction: Direction, after: Duration) -> Change {
        self.step = match direction {
            Direction::Down => self.step + 1,
            Direction::Up => self.step - 1,
        };
        self.changed_at = Some(now);
        self.switches += 1;
        Change {
            direction,
            step: self.step,
            rungs: self.ladder.len(),
            profile: self.profile(),
            after,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);
    const SEC: Duration = Duration::from_secs(1);

    fn profile(quality: u8, max_width: Option<u32>) -> JpegProfile {
        JpegProfile {
            quality,
            max_width,
            fps: 10,
        }
    }

    fn names(ladder: &[JpegProfile]) -> Vec<String> {
        ladder.iter().map(rung_name).collect()
    }

    /// Frames every 100 ms (10 fps), each written `write` after it was handed over, from `from` for `dur`; returns
    /// the changes with their times since `from`. A write longer than the interval delays the next frame's
    /// hand-over, as the stream's one frame in flight does.
    fn run(
        a: &mut JpegAdapter,
        from: Instant,
        dur: Duration,
        write: Duration,
    ) -> Vec<(Duration, Change)> {
        frames(a, from, dur, write, false)
    }

    /// Like [`run`], stopping at the first change; returns its time.
    fn first_change(
        a: &mut JpegAdapter,
        from: Instant,
        dur: Duration,
        write: Duration,
    ) -> (Instant, Change) {
        let (at, c) = frames(a, from, dur, write, true)
            .pop()
            .expect("a change within the run");
        (from + at, c)
    }

    fn frames(
        a: &mut JpegAdapter,
        from: Instant,
        dur: Duration,
        write: Duration,
        stop: bool,
    ) -> Vec<(Duration, Change)> {
        let interval = 100 * MS;
        let mut handed = from;
        let mut changes = Vec::new();
        while handed < from + dur {
            let due = handed + interval;
            let written = handed + write;
            if let Some(c) = a.on_write(written, due) {
                changes.push((written - from, c));
                if stop {
                    break;
                }
            }
            handed = written.max(due);
        }
        changes
    }

    #[test]
    fn the_default_preview_ladder() {
        let l = ladder(profile(70, Some(960)), 1920);
        assert_eq!(
            names(&l),
            ["q70-w960", "q55-w960", "q45-w720", "q35-w480", "q30-w320"]
        );
        assert!(l.iter().all(|p| p.fps == 10), "the fps is the viewer's");
    }

    #[test]
    fn a_full_width_request_keeps_none_until_the_width_shrinks() {
        let l = ladder(profile(90, None), 1280);
        assert_eq!(
            names(&l),
            ["q90-full", "q70-full", "q60-w960", "q45-w640", "q40-w416"]
        );
        // A max_width above the screen counts as the screen's width.
        let l = ladder(profile(90, Some(4000)), 1280);
        assert_eq!(l[1].max_width, Some(4000));
        assert_eq!(l[2].max_width, Some(960));
    }

    #[test]
    fn a_request_at_the_floor_has_one_rung_and_a_small_screen_changes_only_quality() {
        assert_eq!(names(&ladder(profile(30, Some(320)), 1920)), ["q30-w320"]);
        assert_eq!(names(&ladder(profile(10, Some(200)), 1920)), ["q10-w200"]);
        assert_eq!(
            names(&ladder(profile(70, None), 320)),
            ["q70-full", "q55-full", "q45-full", "q35-full", "q30-full"]
        );
    }

    #[test]
    fn rungs_are_bounded_by_the_request_and_the_floor_and_always_smaller() {
        for quality in 1..=100u8 {
            for max_width in [None, Some(16), Some(300), Some(640), Some(1000), Some(8192)] {
                let requested = profile(quality, max_width);
                let l = ladder(requested, 1920);
                assert_eq!(l[0], requested);
                assert!(l.len() <= RUNGS.len() + 1);
                let req_w = max_width.unwrap_or(1920).min(1920);
                for pair in l.windows(2) {
                    let (a, b) = (pair[0], pair[1]);
                    let (wa, wb) = (a.max_width.unwrap_or(1920), b.max_width.unwrap_or(1920));
                    assert!(
                        b.quality <= a.quality && wb.min(1920) <= wa.min(1920),
                        "{l:?}"
                    );
                    assert_ne!((a.quality, a.max_width), (b.quality, b.max_width));
                }
                for r in &l {
                    assert!(r.quality <= quality && r.quality >= FLOOR_QUALITY.min(quality));
                    let w = r.max_width.unwrap_or(1920).min(1920);
                    assert!(w <= req_w && w >= FLOOR_WIDTH.min(req_w), "{l:?}");
                    assert!(r.validate().is_ok(), "{r:?}");
                }
            }
        }
    }

    #[test]
    fn writes_in_time_change_nothing() {
        let t0 = Instant::now();
        let mut a = JpegAdapter::new(profile(70, Some(960)), 1920);
        assert!(run(&mut a, t0, 60 * SEC, 20 * MS).is_empty());
        assert_eq!((a.step(), a.switches()), (0, 0));
    }

    #[test]
    fn persistent_backpressure_steps_down_after_down_after_not_before() {
        let t0 = Instant::now();
        let mut a = JpegAdapter::new(profile(70, Some(960)), 1920);
        // Each write takes 300 ms: every frame is 200 ms late.
        let changes = run(&mut a, t0, 1100 * MS, 300 * MS);
        assert_eq!(changes.len(), 1, "{changes:?}");
        let (at, c) = &changes[0];
        // The first late frame was due at 100 ms; it counts from then.
        assert!(*at >= 100 * MS + DOWN_AFTER && *at <= SEC, "{at:?}");
        assert_eq!(c.direction, Direction::Down);
        assert_eq!((c.step, c.rungs), (1, 5));
        assert_eq!(rung_name(&c.profile), "q55-w960");
        assert_eq!(a.profile(), c.profile);
    }

    #[test]
    fn one_slow_write_is_ridden_out() {
        let t0 = Instant::now();
        let mut a = JpegAdapter::new(profile(70, Some(960)), 1920);
        // A single write 450 ms late, then writes in time again.
        assert_eq!(a.on_write(t0 + 450 * MS, t0), None);
        assert!(run(&mut a, t0 + 450 * MS, 10 * SEC, 10 * MS).is_empty());
        assert_eq!(a.step(), 0);
    }

    #[test]
    fn late_frames_separated_by_frames_in_time_are_not_a_run() {
        let t0 = Instant::now();
        let mut a = JpegAdapter::new(profile(70, Some(960)), 1920);
        for i in 0..50u32 {
            let due = t0 + i * 200 * MS;
            let late = if i % 2 == 0 { 300 * MS } else { MS };
            assert_eq!(a.on_write(due + late, due), None, "frame {i}");
        }
    }

    #[test]
    fn a_client_that_stops_reading_walks_down_to_the_floor_and_stays() {
        let t0 = Instant::now();
        let mut a = JpegAdapter::new(profile(70, Some(960)), 1920);
        let mut changes = Vec::new();
        // The write of the frame handed at t0 never ends; the stream looks every 100 ms.
        let due = t0 + 100 * MS;
        for i in 1..=100u32 {
            if let Some(c) = a.on_waiting(t0 + i * 100 * MS, due) {
                changes.push((i * 100 * MS, c.step));
            }
        }
        assert_eq!(
            changes,
            [
                (600 * MS, 1),
                (1600 * MS, 2),
                (2600 * MS, 3),
                (3600 * MS, 4)
            ],
            "{DOWN_AFTER:?} after the due time, then one per {DOWN_SETTLE:?}"
        );
        assert_eq!(rung_name(&a.profile()), "q30-w320");
    }

    #[test]
    fn waiting_within_the_margin_is_not_backpressure() {
        let t0 = Instant::now();
        let mut a = JpegAdapter::new(profile(70, Some(960)), 1920);
        for _ in 0..100 {
            assert_eq!(a.on_waiting(t0 + LATE_MARGIN, t0), None);
        }
        assert_eq!(
            a.on_waiting(t0 + LATE_MARGIN + MS, t0),
            None,
            "late, but not for long"
        );
        assert_eq!(a.step(), 0);
    }

    #[test]
    fn steps_up_one_rung_per_hold_once_drained() {
        let t0 = Instant::now();
        let mut a = JpegAdapter::new(profile(70, Some(960)), 1920);
        let due = t0 + 100 * MS;
        for i in 1..=40u32 {
            a.on_waiting(t0 + i * 100 * MS, due);
        }
        assert_eq!(a.step(), 4);
        // The stalled write ends at 4 s (late), then writes are in time.
        let t1 = t0 + 4 * SEC;
        assert_eq!(a.on_write(t1, due), None);
        let changes = run(&mut a, t1, 30 * SEC, 10 * MS);
        let ups: Vec<_> = changes.iter().map(|(at, c)| (*at, c.step)).collect();
        // Each rung needs a full hold without a late frame since the last change; the first counts from the late
        // write at t1.
        assert_eq!(ups.len(), 4, "{ups:?}");
        for (n, (at, step)) in ups.iter().enumerate() {
            assert_eq!(*step, 3 - n);
            let n = u32::try_from(n).unwrap() + 1;
            assert!(
                *at >= UP_HOLD * n && *at < UP_HOLD * n + 200 * MS,
                "{ups:?}"
            );
        }
        assert!(changes.iter().all(|(_, c)| c.direction == Direction::Up));
        assert_eq!(a.profile(), profile(70, Some(960)));
        assert_eq!(a.switches(), 8);
        assert_eq!(a.hold(), UP_HOLD, "every step up held");
    }

    /// One step down from `t` (writes 200 ms late for a second), then writes in time until the step up; returns
    /// the step-up time.
    fn down_then_up(a: &mut JpegAdapter, t: Instant) -> Instant {
        let before = a.step();
        let changes = run(a, t, SEC, 300 * MS);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].1.direction, Direction::Down);
        assert_eq!(a.step(), before + 1);
        let (up_at, c) = first_change(a, t + 2 * SEC, UP_HOLD_MAX * 2, 10 * MS);
        assert_eq!(c.direction, Direction::Up);
        assert_eq!(a.step(), before);
        up_at
    }

    #[test]
    fn a_failed_step_up_doubles_the_hold_up_to_the_cap() {
        let t0 = Instant::now();
        let mut a = JpegAdapter::new(profile(70, Some(960)), 1920);
        let mut t = down_then_up(&mut a, t0);
        assert_eq!(a.hold(), UP_HOLD);
        let mut expected = UP_HOLD;
        for _ in 0..6 {
            // The larger frames do not fit: late again right after the step up, down again within ~1 s.
            let changes = run(&mut a, t, 2 * SEC, 300 * MS);
            assert_eq!(changes.len(), 1, "{changes:?}");
            assert_eq!(changes[0].1.direction, Direction::Down);
            assert!(changes[0].0 <= DOWN_SETTLE + 300 * MS, "{changes:?}");
            let down_at = t + changes[0].0;
            expected = (expected * 2).min(UP_HOLD_MAX);
            assert_eq!(a.hold(), expected);
            // The next step up waits the doubled hold.
            let (up_at, c) = first_change(&mut a, t + 2 * SEC, UP_HOLD_MAX * 2, 10 * MS);
            assert_eq!(c.direction, Direction::Up);
            let waited = up_at - down_at;
            assert!(waited >= expected, "{waited:?} < {expected:?}");
            assert!(waited < expected + 2 * SEC, "{waited:?}");
            t = up_at;
        }
        assert_eq!(a.hold(), UP_HOLD_MAX);
    }

    #[test]
    fn a_step_up_that_lasts_the_probe_window_resets_the_hold() {
        let t0 = Instant::now();
        let mut a = JpegAdapter::new(profile(70, Some(960)), 1920);
        let t = down_then_up(&mut a, t0);
        // A failed probe: the hold doubles.
        assert_eq!(run(&mut a, t, 2 * SEC, 300 * MS).len(), 1);
        assert_eq!(a.hold(), UP_HOLD * 2);
        let (up_at, _) = first_change(&mut a, t + 2 * SEC, UP_HOLD_MAX, 10 * MS);
        assert_eq!(a.step(), 0);
        // In time for the whole probe window: this step up held.
        assert!(run(&mut a, up_at, PROBE_WINDOW + 100 * MS, 10 * MS).is_empty());
        assert_eq!(a.hold(), UP_HOLD);
        // A later congestion is a new one: a step down long after a step up is no failed probe.
        let changes = run(&mut a, up_at + PROBE_WINDOW + 100 * MS, SEC, 300 * MS);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(a.hold(), UP_HOLD);
    }

    #[test]
    fn a_one_rung_ladder_never_changes() {
        let t0 = Instant::now();
        let mut a = JpegAdapter::new(profile(30, Some(320)), 1920);
        assert!(run(&mut a, t0, 10 * SEC, 500 * MS).is_empty());
        assert!(run(&mut a, t0 + 20 * SEC, 10 * SEC, MS).is_empty());
        assert_eq!(a.switches(), 0);
    }

    #[test]
    fn a_clock_going_backwards_is_harmless() {
        let t0 = Instant::now() + 10 * SEC;
        let mut a = JpegAdapter::new(profile(70, Some(960)), 1920);
        assert_eq!(a.on_write(t0, t0 + SEC), None);
        assert_eq!(a.on_waiting(t0 - SEC, t0), None);
        assert_eq!(a.on_write(t0 - 2 * SEC, t0), None);
        assert_eq!(a.step(), 0);
    }

    #[test]
    fn the_timeline_line_says_where_and_why() {
        let c = Change {
            direction: Direction::Down,
            step: 2,
            rungs: 5,
            profile: profile(45, Some(720)),
            after: 640 * MS,
        };
        assert_eq!(
            c.to_string(),
            "jpeg down to q45-w720 (step 2 of 4): the socket fell 0.6 s behind"
        );
        let c = Change {
            direction: Direction::Up,
            step: 0,
            rungs: 5,
            profile: profile(70, None),
            after: 4 * SEC,
        };
        assert_eq!(
            c.to_string(),
            "jpeg up to q70-full (step 0 of 4): the socket drained for 4.0 s"
        );
    }
}
