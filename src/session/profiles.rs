//! Profile snapping: every quality and size a client asks for maps onto a small fixed set of profiles, so no
//! client can make the engine start an encoder nobody else would share.
//!
//! The engine runs one encoder per (screen, profile) while someone subscribes to it; before snapping, each
//! distinct `max_width` or `quality` a client sent started its own (32 widths were 32 H.264 encoders). Now:
//! - **Video** (`/ws` WebRTC watches, WHEP): the profiles are the screen's congestion-control tiers
//!   ([`Config::tiers`] with no width cap, at most [`MAX_TIERS`]). A viewer asking for `max_width` W gets the tiers
//!   whose width is at most the largest tier width ≤ W (the smallest width when W is below all of them), each tier
//!   exactly the profile every other viewer of that tier shares: its ladder starts lower, it never gets a new one.
//! - **JPEG** (`/ws` JPEG watches, MJPEG, and every rung the `/ws` adaptation moves to): quality snaps down to
//!   [`JPEG_QUALITIES`] (plus `[preview] quality`), width down to the tier widths (plus `[preview] max_width`),
//!   both clamped to the screen. `fps` is pacing only: it is not part of an encoder's key (a shared encoder runs
//!   at its subscribers' highest rate, at most [`sightline_limits::JPEG_FPS`]'s top).
//!
//! So one screen has at most [`max_encoders`] encoders: `tiers` H.264 plus `(tiers + 1) × (qualities + 1)` JPEG,
//! whatever the clients send. One-shot pictures (REST snapshots, MCP screenshots, HQ frames) start no encoder and
//! are not snapped; they are rate-limited instead.

use sightline_media::ScreenInfo;
use sightline_media::engine::{JpegProfile, MIN_MAX_WIDTH};

use crate::config::Config;
use crate::config::MAX_TIERS;
use crate::peer::Tier;

/// The JPEG qualities a stream may run at; a request snaps down to the nearest (or up to the lowest). 30 is the
/// adaptation's floor (below it text turns to blocks), 50 the `[preview]` default, 70 and 85 sharper steps where
/// each costs about 1.5× the bytes of the one below; above 85 JPEG grows fast for little a viewer sees in a live
/// stream (HQ frames, at 90, are one-shot pictures for that).
pub const JPEG_QUALITIES: [u8; 4] = [30, 50, 70, 85];

/// Most encoders one screen can run for streams, whatever clients ask: [`MAX_TIERS`] H.264 tiers, and a JPEG
/// encoder per (width, quality) of the snapped sets (the tier widths and `[preview] max_width`; the
/// [`JPEG_QUALITIES`] and `[preview] quality`).
pub const fn max_encoders() -> usize {
    MAX_TIERS + (MAX_TIERS + 1) * (JPEG_QUALITIES.len() + 1)
}

/// The largest of `set` that is at most `wanted`, or the smallest of `set` when all are larger. `None` for an
/// empty set.
pub fn snap_down<T: Ord + Copy>(set: &[T], wanted: T) -> Option<T> {
    set.iter()
        .copied()
        .filter(|v| *v <= wanted)
        .max()
        .or_else(|| set.iter().copied().min())
}

/// The video ladder of a viewer of `screen` asking for at most `max_width`: the screen's full ladder, or its tiers
/// no wider than the snapped width (never empty while the ladder is not).
pub fn video_tiers(config: &Config, screen: &ScreenInfo, max_width: Option<u32>) -> Vec<Tier> {
    let full = config.tiers(screen, None);
    let Some(wanted) = max_width else {
        return full;
    };
    let widths: Vec<u32> = full.iter().map(|t| t.width).collect();
    let Some(cap) = snap_down(&widths, wanted) else {
        return full;
    };
    full.into_iter().filter(|t| t.width <= cap).collect()
}

/// The widths a JPEG stream of `screen` may be scaled to: the tier widths and `[preview] max_width`, each at most
/// the screen's width, largest first.
pub fn jpeg_widths(config: &Config, screen: &ScreenInfo) -> Vec<u32> {
    let mut widths: Vec<u32> = config
        .tiers(screen, None)
        .iter()
        .map(|t| t.width)
        .chain([config.preview.max_width])
        .map(|w| w.min(screen.width).max(MIN_MAX_WIDTH))
        .collect();
    widths.sort_unstable_by(|a, b| b.cmp(a));
    widths.dedup();
    widths
}

/// The JPEG qualities a stream may run at: [`JPEG_QUALITIES`] and `[preview] quality`, ascending.
pub fn jpeg_qualities(config: &Config) -> Vec<u8> {
    let mut q: Vec<u8> = JPEG_QUALITIES
        .iter()
        .copied()
        .chain([config.preview.quality])
        .collect();
    q.sort_unstable();
    q.dedup();
    q
}

/// `wanted` on the snapped sets of `screen`: quality and width snapped down, the width always explicit (so the
/// same picture is always the same encoder key), `fps` kept.
pub fn snap_jpeg(config: &Config, screen: &ScreenInfo, wanted: JpegProfile) -> JpegProfile {
    let quality = snap_down(&jpeg_qualities(config), wanted.quality).unwrap_or(wanted.quality);
    let width = wanted.max_width.unwrap_or(screen.width);
    let max_width = snap_down(&jpeg_widths(config, screen), width).unwrap_or(width);
    JpegProfile {
        quality,
        max_width: Some(max_width),
        fps: wanted.fps,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use sightline_media::SourceKind;

    use super::*;

    fn screen(width: u32) -> ScreenInfo {
        ScreenInfo {
            id: "0".into(),
            name: "s".into(),
            width,
            height: width * 9 / 16,
            primary: true,
            source: SourceKind::Synthetic,
        }
    }

    #[test]
    fn snapping_goes_down_or_to_the_smallest() {
        assert_eq!(snap_down(&[1280, 640, 320], 800), Some(640));
        assert_eq!(snap_down(&[1280, 640, 320], 640), Some(640));
        assert_eq!(snap_down(&[1280, 640, 320], 8192), Some(1280));
        assert_eq!(snap_down(&[1280, 640, 320], 16), Some(320));
        assert_eq!(snap_down::<u32>(&[], 16), None);
    }

    #[test]
    fn a_width_cap_keeps_the_shared_tiers_below_it() {
        let config = Config::default();
        let s = screen(1280);
        let full = config.tiers(&s, None);
        let widths = |t: &[Tier]| t.iter().map(|t| t.width).collect::<Vec<_>>();
        assert_eq!(widths(&full), vec![1280, 640, 320, 320]);
        assert_eq!(video_tiers(&config, &s, None), full);
        assert_eq!(video_tiers(&config, &s, Some(4000)), full);
        let capped = video_tiers(&config, &s, Some(800));
        assert_eq!(widths(&capped), vec![640, 320, 320]);
        // Exactly the full ladder's tiers (their encoders), not a ladder scaled from 800.
        assert_eq!(capped[..], full[1..]);
        assert_eq!(capped[0].name, "t1 640w 1200k");
        let tiny = video_tiers(&config, &s, Some(16));
        assert_eq!(tiny[..], full[2..]);
    }

    #[test]
    fn any_number_of_distinct_requests_uses_a_bounded_set_of_profiles() {
        let config = Config::default();
        let s = screen(1920);
        let mut video = BTreeSet::new();
        let mut jpeg = BTreeSet::new();
        for w in (16..=8192).step_by(7) {
            for t in video_tiers(&config, &s, Some(w)) {
                video.insert(t.profile.name());
            }
            for q in 1..=100u8 {
                let p = snap_jpeg(
                    &config,
                    &s,
                    JpegProfile {
                        quality: q,
                        max_width: Some(w),
                        fps: 1 + u32::from(q) % 60,
                    },
                );
                jpeg.insert((p.quality, p.max_width));
            }
        }
        assert_eq!(video.len(), config.tiers(&s, None).len(), "{video:?}");
        let bound = jpeg_widths(&config, &s).len() * jpeg_qualities(&config).len();
        assert!(jpeg.len() <= bound, "{} > {bound}: {jpeg:?}", jpeg.len());
        assert!(video.len() + jpeg.len() <= max_encoders());
    }

    #[test]
    fn jpeg_requests_snap_and_the_preview_default_is_its_own_profile() {
        let config = Config::default();
        let s = screen(1280);
        assert_eq!(jpeg_widths(&config, &s), vec![1280, 960, 640, 320]);
        assert_eq!(jpeg_qualities(&config), vec![30, 50, 70, 85]);
        let snap = |quality, max_width| {
            let p = snap_jpeg(
                &config,
                &s,
                JpegProfile {
                    quality,
                    max_width,
                    fps: 7,
                },
            );
            (p.quality, p.max_width, p.fps)
        };
        assert_eq!(snap(50, Some(960)), (50, Some(960), 7));
        assert_eq!(snap(64, Some(959)), (50, Some(640), 7));
        assert_eq!(snap(100, None), (85, Some(1280), 7));
        assert_eq!(snap(1, Some(16)), (30, Some(320), 7));
        // On a narrow screen the widths clamp to it: a request for more is the screen's own size.
        let narrow = screen(320);
        let p = snap_jpeg(
            &config,
            &narrow,
            JpegProfile {
                quality: 70,
                max_width: Some(960),
                fps: 10,
            },
        );
        assert_eq!(p.max_width, Some(320));
        // A configured preview quality outside the fixed set is one more step.
        let mut odd = Config::default();
        odd.preview.quality = 62;
        assert_eq!(jpeg_qualities(&odd), vec![30, 50, 62, 70, 85]);
    }
}
