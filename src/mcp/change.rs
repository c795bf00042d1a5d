//! Change detection for `wait_for_change` and `wait_until_stable`: whether a part of the screen differs between
//! two captured frames, and the two waiting rules as plain structs that take `now`.
//!
//! Frames come from the capture pipeline's frame subscription, which only yields a frame when the backend saw the
//! screen change (X11 DAMAGE, or a pixel comparison in the other backends). A frame is a change *for a region*
//! only if the region's pixels differ, so a clock ticking elsewhere does not end a wait on a dialog.

use std::time::Duration;

use sightline_media::Frame;
use tokio::time::Instant;

use super::geometry::Region;

/// Whether `region` differs between two frames. A different frame size (the screen was resized) counts as a
/// change; so does a region that no longer fits.
pub fn region_differs(a: &Frame, b: &Frame, region: Option<Region>) -> bool {
    if a.seq == b.seq && std::ptr::eq(a.data.as_ptr(), b.data.as_ptr()) {
        return false;
    }
    if (a.width, a.height) != (b.width, b.height) {
        return true;
    }
    let r = region.unwrap_or(Region::full(a.width, a.height));
    if r.check("", a.width, a.height).is_err() {
        return true;
    }
    let bytes = r.width as usize * 4;
    let row = |f: &Frame, y: u32| -> std::ops::Range<usize> {
        let start = y as usize * f.stride + r.x as usize * 4;
        start..start + bytes
    };
    (r.y..r.y + r.height).any(|y| a.data[row(a, y)] != b.data[row(b, y)])
}

/// What a waiting rule says at a moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Done: the condition holds.
    Done,
    /// Give up: the deadline passed first.
    TimedOut,
    /// Keep waiting for a frame, at most until this instant.
    WaitUntil(Instant),
}

/// `wait_for_change`: done at the first change, timed out at the deadline.
#[derive(Clone, Copy, Debug)]
pub struct ChangeWait {
    deadline: Instant,
    changed: bool,
}

impl ChangeWait {
    /// Starts waiting at `now` for at most `timeout`.
    pub fn new(now: Instant, timeout: Duration) -> Self {
        Self {
            deadline: now + timeout,
            changed: false,
        }
    }

    /// A frame arrived; `changed` says whether the watched region differs from the baseline.
    pub fn on_frame(&mut self, changed: bool) {
        self.changed |= changed;
    }

    /// The verdict at `now`. A change seen before the deadline wins even if the verdict is asked late.
    pub fn poll(&self, now: Instant) -> Verdict {
        if self.changed {
            Verdict::Done
        } else if now >= self.deadline {
            Verdict::TimedOut
        } else {
            Verdict::WaitUntil(self.deadline)
        }
    }
}

/// `wait_until_stable`: done once the region went `quiet` without a change, timed out at the deadline.
#[derive(Clone, Copy, Debug)]
pub struct StableWait {
    quiet: Duration,
    deadline: Instant,
    last_change: Instant,
    changes: u32,
}

impl StableWait {
    /// Starts at `now`: the region has to stay unchanged for `quiet`, within `timeout`.
    pub fn new(now: Instant, quiet: Duration, timeout: Duration) -> Self {
        Self {
            quiet,
            deadline: now + timeout,
            last_change: now,
            changes: 0,
        }
    }

    /// A frame arrived at `now`; `changed` says whether the region differs from the previous frame.
    pub fn on_frame(&mut self, now: Instant, changed: bool) {
        if changed {
            self.last_change = now;
            self.changes += 1;
        }
    }

    /// Changes seen so far.
    pub fn changes(&self) -> u32 {
        self.changes
    }

    /// The verdict at `now`. Stability is checked first: a region quiet for long enough at the deadline counts.
    pub fn poll(&self, now: Instant) -> Verdict {
        let stable_at = self.last_change + self.quiet;
        if now >= stable_at {
            Verdict::Done
        } else if now >= self.deadline {
            Verdict::TimedOut
        } else {
            Verdict::WaitUntil(stable_at.min(self.deadline))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn frame(seq: u64, paint: Option<(u32, u32)>) -> Frame {
        let (w, h) = (40u32, 20u32);
        let mut data = vec![9u8; (w * h * 4) as usize];
        if let Some((x, y)) = paint {
            data[((y * w + x) * 4) as usize] = 200;
        }
        Frame {
            width: w,
            height: h,
            stride: w as usize * 4,
            data: Arc::from(data),
            captured_at: std::time::SystemTime::UNIX_EPOCH,
            seq,
        }
    }

    #[test]
    fn only_changes_inside_the_region_count() {
        let a = frame(1, None);
        let b = frame(2, Some((30, 15)));
        let left = Region {
            x: 0,
            y: 0,
            width: 20,
            height: 20,
        };
        let corner = Region {
            x: 30,
            y: 15,
            width: 1,
            height: 1,
        };
        assert!(region_differs(&a, &b, None));
        assert!(!region_differs(&a, &b, Some(left)));
        assert!(region_differs(&a, &b, Some(corner)));
        assert!(!region_differs(&a, &frame(3, None), None), "same pixels");
        assert!(!region_differs(&a, &a, None));
    }

    #[test]
    fn a_resized_screen_is_a_change() {
        let a = frame(1, None);
        let mut b = frame(2, None);
        b.width = 20;
        b.stride = 80;
        assert!(region_differs(&a, &b, None));
    }

    #[test]
    fn change_wait_ends_at_the_first_change_or_the_deadline() {
        let t0 = Instant::now();
        let mut w = ChangeWait::new(t0, Duration::from_millis(500));
        assert_eq!(
            w.poll(t0),
            Verdict::WaitUntil(t0 + Duration::from_millis(500))
        );
        w.on_frame(false);
        assert_eq!(
            w.poll(t0 + Duration::from_millis(499)),
            Verdict::WaitUntil(t0 + Duration::from_millis(500))
        );
        assert_eq!(w.poll(t0 + Duration::from_millis(500)), Verdict::TimedOut);
        w.on_frame(true);
        assert_eq!(w.poll(t0 + Duration::from_secs(9)), Verdict::Done);
    }

    #[test]
    fn stable_wait_needs_a_quiet_period_after_the_last_change() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut w = StableWait::new(t0, ms(300), ms(1000));
        assert_eq!(w.poll(t0 + ms(100)), Verdict::WaitUntil(t0 + ms(300)));
        w.on_frame(t0 + ms(200), true);
        w.on_frame(t0 + ms(250), false);
        assert_eq!(w.poll(t0 + ms(300)), Verdict::WaitUntil(t0 + ms(500)));
        assert_eq!(w.poll(t0 + ms(500)), Verdict::Done);
        assert_eq!(w.changes(), 1);
        // A region that keeps changing times out at the deadline.
        let mut busy = StableWait::new(t0, ms(300), ms(1000));
        for i in 1..=10 {
            busy.on_frame(t0 + ms(i * 90), true);
        }
        assert_eq!(busy.poll(t0 + ms(950)), Verdict::WaitUntil(t0 + ms(1000)));
        assert_eq!(busy.poll(t0 + ms(1000)), Verdict::TimedOut);
        // An unchanged screen is stable after `quiet`, even before any frame arrives.
        let idle = StableWait::new(t0, ms(300), ms(1000));
        assert_eq!(idle.poll(t0 + ms(300)), Verdict::Done);
    }
}
