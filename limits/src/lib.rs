//! The bounds sightline enforces on values a client chooses, defined once.
//!
//! The `/ws` message parser (`sightline-signaling`), the REST query parser, the MCP tool schemas and their checks,
//! the configuration, and the media engine all read these constants, so a value that one edge accepts is never
//! refused by another for a different reason. A leaf crate with no dependencies: every other crate may use it.
//!
//! Ranges are inclusive. Counts of things the gateway holds (queues, sessions, connections) are not here: each
//! lives beside the queue it bounds, with its overload policy.

use std::ops::RangeInclusive;

/// Largest `/ws` or data-channel text message, in bytes. An SDP answer from Chromium is ~5 KB; 256 KiB leaves
/// room for big offers with many candidates while keeping a hostile client from making the gateway parse megabytes.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// Longest text typed by one `text` command or MCP `type_text` call, in characters: a paste of a page of text, not
/// a file upload. The input backends refuse longer text too.
pub const MAX_TEXT_CHARS: usize = 4096;

/// Largest wheel movement of one command, in steps (notches), either sign.
pub const MAX_WHEEL_STEPS: f64 = 100.0;

/// Most keys in one key combination (MCP `key`): modifiers plus a key, with room for unusual chords.
pub const MAX_KEYS: usize = 16;

/// H.264 target bitrate a viewer, an operator or the configuration may ask for, in kbit/s. Below 100 kbit/s a
/// screen is unreadable; above 50 Mbit/s openh264's rate control no longer limits anything at 4K.
pub const BITRATE_KBPS: RangeInclusive<u32> = 100..=50_000;

/// JPEG quality (libjpeg scale).
pub const JPEG_QUALITY: RangeInclusive<u32> = 1..=100;

/// Frame rate of one JPEG stream (WebSocket fallback, MJPEG), frames per second. Above 60 JPEG costs a core per
/// viewer for no visible gain; H.264 is the fast path.
pub const JPEG_FPS: RangeInclusive<u32> = 1..=60;

/// Capture and H.264 encode rate, frames per second.
pub const CAPTURE_FPS: RangeInclusive<u32> = 1..=120;

/// Width a client may ask a picture to be scaled down to, in pixels (aspect kept). 8192 covers an 8K screen; 16 is
/// one macroblock.
pub const MAX_WIDTH: RangeInclusive<u32> = 16..=8192;

/// The longest an MCP tool may wait for the screen (`wait_for_change`, `wait_until_stable`), in milliseconds.
pub const MAX_WAIT_MS: u64 = 60_000;

/// Checks `value` against an inclusive range and says why it is refused: `"quality 0 is out of range (1..=100)"`.
pub fn check<T>(name: &str, value: T, range: &RangeInclusive<T>) -> Result<T, String>
where
    T: PartialOrd + std::fmt::Display + Copy,
{
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(format!(
            "{name} {value} is out of range ({}..={})",
            range.start(),
            range.end()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_accepts_both_ends_and_names_the_range() {
        assert_eq!(check("quality", 1, &JPEG_QUALITY), Ok(1));
        assert_eq!(check("quality", 100, &JPEG_QUALITY), Ok(100));
        assert_eq!(
            check("quality", 0, &JPEG_QUALITY).unwrap_err(),
            "quality 0 is out of range (1..=100)"
        );
    }
}
