//! Wheel steps: fractional deltas in, whole clicks out. Shared by the X11 backend (buttons 4–7) and the xcap
//! backend (enigo scroll), which includes this file by path.

/// Most wheel clicks one event may produce: [`sightline_limits::MAX_WHEEL_STEPS`], the bound the edges check. A
/// viewer's wheel sends a few steps per event; a bogus `dy = 1e9` reaching a backend must not queue a billion
/// button events, so the excess is dropped.
pub(crate) const MAX_WHEEL_STEPS_PER_EVENT: i32 = sightline_limits::MAX_WHEEL_STEPS as i32;

/// Turns fractional wheel deltas into whole clicks, keeping the remainder for the next event. A change of direction
/// drops the remainder, so half a step down followed by half a step up produces nothing rather than a click.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct WheelAccumulator {
    x: f64,
    y: f64,
}

impl WheelAccumulator {
    /// Adds a delta in steps; returns the whole clicks to send now (positive: right / down), each axis capped at
    /// [`MAX_WHEEL_STEPS_PER_EVENT`].
    pub(crate) fn add(&mut self, dx: f64, dy: f64) -> (i32, i32) {
        (Self::axis(&mut self.x, dx), Self::axis(&mut self.y, dy))
    }

    fn axis(acc: &mut f64, delta: f64) -> i32 {
        if delta == 0.0 || !delta.is_finite() {
            return 0;
        }
        if *acc != 0.0 && acc.signum() != delta.signum() {
            *acc = 0.0;
        }
        *acc += delta;
        let whole = acc.trunc();
        *acc -= whole;
        let cap = f64::from(MAX_WHEEL_STEPS_PER_EVENT);
        if whole.abs() > cap {
            *acc = 0.0;
        }
        whole.clamp(-cap, cap) as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheel_accumulates_fractions_and_resets_on_reversal() {
        let mut w = WheelAccumulator::default();
        assert_eq!(w.add(0.0, 0.4), (0, 0));
        assert_eq!(w.add(0.0, 0.4), (0, 0));
        assert_eq!(w.add(0.0, 0.4), (0, 1)); // 1.2 → one click, 0.2 kept
        assert_eq!(w.add(0.0, 0.9), (0, 1));
        assert_eq!(w.add(0.0, -0.5), (0, 0)); // reversal drops the 0.1 left over
        assert_eq!(w.add(0.0, -0.5), (0, -1));
        assert_eq!(w.add(2.5, 0.0), (2, 0));
        assert_eq!(w.add(-3.0, 0.0), (-3, 0));
    }

    #[test]
    fn wheel_caps_absurd_deltas() {
        let mut w = WheelAccumulator::default();
        assert_eq!(
            w.add(1e12, -1e12),
            (MAX_WHEEL_STEPS_PER_EVENT, -MAX_WHEEL_STEPS_PER_EVENT)
        );
        assert_eq!(
            w.add(0.5, -0.5),
            (0, 0),
            "the excess is dropped, not carried over"
        );
        assert_eq!(w.add(f64::NAN, f64::INFINITY), (0, 0));
    }
}
