//! Helpers shared by the media crate's X11 tests: a private Xvfb, a painter for known pixels, and an X client that
//! records the input events it receives.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

pub mod paint;
pub mod recorder;
pub mod xvfb;

/// How many pixels within 16 px of (x, y) differ (in colour) between two frames: where a cursor is, or is not.
pub fn differing_pixels(
    a: &sightline_media::Frame,
    b: &sightline_media::Frame,
    x: u32,
    y: u32,
) -> usize {
    let mut n = 0;
    for py in y.saturating_sub(16)..y + 16 {
        for px in x.saturating_sub(16)..x + 16 {
            if a.pixel(px, py).map(|p| p[..3].to_vec()) != b.pixel(px, py).map(|p| p[..3].to_vec())
            {
                n += 1;
            }
        }
    }
    n
}
