//! The H.264 encoder's bitrate target: what a video pipeline's encoder aims at, decided from its profile and its
//! subscribers' wishes, and when a change is worth telling openh264.
//!
//! Pure: the encode thread reads the wishes (one atomic per subscriber, set through
//! [`VideoControl::set_desired_bitrate`](super::VideoControl::set_desired_bitrate)) before each picture and asks
//! [`encoder_target`] and [`worth_retargeting`]. The rules:
//! - a pipeline with exactly one subscriber follows that subscriber's wish, within the shared
//!   [`BITRATE_KBPS`](sightline_limits::BITRATE_KBPS) limits: a viewer on a congested path gets an encoder that
//!   fits its path, and a lone viewer on a smaller tier may spend more than the tier's own bitrate on it (more
//!   pictures per second of a smaller picture: the subscriber bounds its wish itself);
//! - with no wish, or several subscribers (they share the encoder, and one viewer's path must not starve the
//!   others), the target is the profile's bitrate;
//! - a change smaller than [`MIN_RETARGET_PERCENT`] is ignored, except a return to the profile's bitrate.

use sightline_limits::BITRATE_KBPS;

/// Smallest change of the target, in percent of the current one, worth a live change. A congestion controller
/// moves its estimate by a few percent several times a second (GCC: +8 %/s in steps every 200 ms); each step
/// would re-plan openh264's rate control for a difference no viewer sees.
pub const MIN_RETARGET_PERCENT: u32 = 3;

/// The bitrate (kbit/s) a pipeline's encoder aims at: the sole subscriber's wish brought into `BITRATE_KBPS`,
/// else `profile_kbps`. `wishes` has one entry per subscriber, `None` for a
/// subscriber without a wish.
pub fn encoder_target(profile_kbps: u32, wishes: impl IntoIterator<Item = Option<u32>>) -> u32 {
    let mut wishes = wishes.into_iter();
    match (wishes.next(), wishes.next()) {
        (Some(Some(wish)), None) => wish.clamp(*BITRATE_KBPS.start(), *BITRATE_KBPS.end()),
        _ => profile_kbps,
    }
}

/// Whether the encoder, aiming at `current`, should move to `next`: a change of at least
/// [`MIN_RETARGET_PERCENT`], or any change back to `profile_kbps` (a viewer gone or a wish withdrawn restores the
/// profile exactly).
pub fn worth_retargeting(current: u32, next: u32, profile_kbps: u32) -> bool {
    if next == current {
        return false;
    }
    next == profile_kbps
        || u64::from(current.abs_diff(next)) * 100
            >= u64::from(current) * u64::from(MIN_RETARGET_PERCENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLOOR: u32 = *BITRATE_KBPS.start();

    #[test]
    fn a_sole_subscriber_with_a_wish_steers_the_encoder_within_the_band() {
        assert_eq!(encoder_target(4000, [Some(1500)]), 1500);
        assert_eq!(encoder_target(4000, [Some(4000)]), 4000);
        assert_eq!(
            encoder_target(1200, [Some(3000)]),
            3000,
            "a lone viewer may spend more on a smaller tier"
        );
        assert_eq!(
            encoder_target(4000, [Some(u32::MAX)]),
            *BITRATE_KBPS.end(),
            "never above the shared limit"
        );
        assert_eq!(
            encoder_target(4000, [Some(10)]),
            FLOOR,
            "never below the floor"
        );
        assert_eq!(encoder_target(4000, [Some(0)]), FLOOR);
        assert_eq!(encoder_target(FLOOR, [Some(50)]), FLOOR);
    }

    #[test]
    fn the_profile_rules_without_a_wish_or_with_several_subscribers() {
        assert_eq!(encoder_target(4000, []), 4000, "no subscriber");
        assert_eq!(encoder_target(4000, [None]), 4000, "no wish");
        assert_eq!(encoder_target(4000, [Some(800), Some(900)]), 4000);
        assert_eq!(encoder_target(4000, [Some(800), None]), 4000);
        assert_eq!(encoder_target(4000, [None, Some(800)]), 4000);
        assert_eq!(
            encoder_target(4000, [Some(800), Some(800), Some(800)]),
            4000
        );
        // Works on a slice of the subscribers as well.
        let wishes: &[Option<u32>] = &[Some(1200)];
        assert_eq!(encoder_target(2000, wishes.iter().copied()), 1200);
    }

    #[test]
    fn small_changes_are_ignored_but_a_return_to_the_profile_is_not() {
        assert!(!worth_retargeting(1000, 1000, 4000));
        assert!(!worth_retargeting(1000, 1029, 4000));
        assert!(!worth_retargeting(1000, 971, 4000));
        assert!(worth_retargeting(1000, 1030, 4000));
        assert!(worth_retargeting(1000, 970, 4000));
        assert!(
            worth_retargeting(3950, 4000, 4000),
            "back to the profile, however close"
        );
        assert!(worth_retargeting(4000, 800, 4000));
        // A run of small steps is applied once they add up.
        let (mut current, mut applied) = (1000u32, 0);
        for step in 1..=10 {
            let next = 1000 + step * 10;
            if worth_retargeting(current, next, 4000) {
                current = next;
                applied += 1;
            }
        }
        assert_eq!((current, applied), (1070, 2));
    }
}
