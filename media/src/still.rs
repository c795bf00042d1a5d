//! One picture of a screen on demand ([`crate::Engine::still`]): the running capture's latest frame when there is
//! one, otherwise a grab by a warm per-screen grabber that keeps its display connection and shared memory between
//! calls and lets them go after [`STILL_IDLE`]; only the requested region is grabbed, and it is encoded straight
//! from the captured BGRA.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How long a warm still grabber stays open after its last use.
pub const STILL_IDLE: Duration = Duration::from_secs(30);

/// A rectangle in pixels of one screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rect {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width, at least 1.
    pub width: u32,
    /// Height, at least 1.
    pub height: u32,
}

/// How to encode a still.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StillEncoding {
    /// JPEG at `quality` (1–100), scaled down to `max_width` when narrower than the region.
    Jpeg {
        /// Quality 1–100.
        quality: u8,
        /// Largest image width.
        max_width: Option<u32>,
    },
    /// PNG with a fast setting, scaled down to `max_width` when narrower than the region.
    Png {
        /// Largest image width.
        max_width: Option<u32>,
    },
}

/// What [`crate::Engine::still`] is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StillRequest {
    /// The part of the screen; `None` = all of it. Must lie inside the screen.
    pub region: Option<Rect>,
    /// Whether the pointer is drawn in (when the backend reports it beside the frames).
    pub include_cursor: bool,
    /// The output format.
    pub encoding: StillEncoding,
}

/// An encoded still.
#[derive(Clone, Debug)]
pub struct Still {
    /// The encoded image.
    pub data: bytes::Bytes,
    /// Its MIME type (`image/jpeg`, `image/png`).
    pub mime: &'static str,
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// The region of the screen it shows.
    pub region: Rect,
    /// The screen's size when it was captured.
    pub screen_width: u32,
    /// The screen's height when it was captured.
    pub screen_height: u32,
    /// The frame's sequence number (the capture's, or the grabber's own count).
    pub seq: u64,
    /// When it was captured, in ms since the Unix epoch.
    pub captured_at_ms: u64,
}
