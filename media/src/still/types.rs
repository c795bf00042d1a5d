//! The still types: what is asked for ([`StillRequest`]), what comes back ([`Still`]), and the borrowed pixels in
//! between ([`View`], [`Grab`]) with the grabber trait ([`StillSource`]). A leaf: the encoders and backends
//! depend on it, it depends on none of them.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::{CursorState, Frame, MediaError};

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

impl Rect {
    /// The whole of a `width × height` screen.
    pub fn full(width: u32, height: u32) -> Self {
        Self {
            x: 0,
            y: 0,
            width,
            height,
        }
    }

    /// `self` (or the whole screen when `None`) if it lies inside a `width × height` screen.
    pub fn checked(region: Option<Self>, width: u32, height: u32) -> Result<Self, MediaError> {
        let r = region.unwrap_or(Self::full(width, height));
        let fits = r.width >= 1
            && r.height >= 1
            && u64::from(r.x) + u64::from(r.width) <= u64::from(width)
            && u64::from(r.y) + u64::from(r.height) <= u64::from(height);
        if fits {
            Ok(r)
        } else {
            Err(MediaError::invalid(
                "region",
                format!(
                    "x={} y={} width={} height={} does not fit the {width}x{height} screen",
                    r.x, r.y, r.width, r.height
                ),
            ))
        }
    }
}

/// Pixels borrowed from where they were captured: `height` rows of `width` BGRA pixels (alpha ignored), each
/// `stride` bytes after the previous one; `pixels` starts at the first pixel of the first row.
#[derive(Clone, Copy)]
pub struct View<'a> {
    /// The pixels, at least `stride * (height - 1) + width * 4` bytes.
    pub pixels: &'a [u8],
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes from one row to the next (at least `width * 4`).
    pub stride: usize,
}

impl std::fmt::Debug for View<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("View")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("stride", &self.stride)
            .finish_non_exhaustive()
    }
}

impl<'a> View<'a> {
    /// The part `region` (inside the frame: see [`Rect::checked`]) of `frame`, without copying.
    pub fn of_frame(frame: &'a Frame, region: Rect) -> Result<Self, MediaError> {
        let region = Rect::checked(Some(region), frame.width, frame.height)?;
        let start = region.y as usize * frame.stride + region.x as usize * 4;
        Self::new(
            frame.data.get(start..).unwrap_or_default(),
            region.width,
            region.height,
            frame.stride,
        )
    }

    /// A view of `pixels`, checked to hold `height` rows of `width` pixels `stride` bytes apart.
    pub fn new(
        pixels: &'a [u8],
        width: u32,
        height: u32,
        stride: usize,
    ) -> Result<Self, MediaError> {
        let row = width as usize * 4;
        let needed = stride * (height as usize).saturating_sub(1) + row;
        if width == 0 || height == 0 || stride < row || pixels.len() < needed {
            return Err(MediaError::invalid(
                "picture",
                format!(
                    "{width}x{height} with stride {stride} does not fit {} bytes",
                    pixels.len()
                ),
            ));
        }
        Ok(Self {
            pixels: &pixels[..needed],
            width,
            height,
            stride,
        })
    }

    /// The BGRA bytes of row `y` (without padding). `y < height`.
    pub fn row(&self, y: u32) -> &'a [u8] {
        let start = y as usize * self.stride;
        &self.pixels[start..start + self.width as usize * 4]
    }

    /// Whether the rows follow each other without padding (one slice of `width * height * 4` bytes).
    pub fn is_packed(&self) -> bool {
        self.stride == self.width as usize * 4
    }

    /// A [`Frame`] holding a copy of the view (one copy; encoders that only take frames).
    pub fn to_frame(&self, seq: u64, captured_at: SystemTime) -> Frame {
        let data: std::sync::Arc<[u8]> = if self.is_packed() {
            std::sync::Arc::from(self.pixels)
        } else {
            let mut v = Vec::with_capacity(self.width as usize * 4 * self.height as usize);
            for y in 0..self.height {
                v.extend_from_slice(self.row(y));
            }
            v.into()
        };
        Frame {
            width: self.width,
            height: self.height,
            stride: self.width as usize * 4,
            data,
            captured_at,
            seq,
        }
    }
}

/// One grab of a [`StillSource`]: the region's pixels and what the screen was like.
#[derive(Debug)]
pub struct Grab<'a> {
    /// The region's pixels, pointer drawn in when asked for (and the backend reports it).
    pub view: View<'a>,
    /// The region grabbed, in pixels of the screen.
    pub region: Rect,
    /// The screen's width when grabbed.
    pub screen_width: u32,
    /// The screen's height when grabbed.
    pub screen_height: u32,
    /// The source's own count of grabs, starting at 1.
    pub seq: u64,
    /// When the pixels were read.
    pub captured_at: SystemTime,
}

/// A warm grabber of one screen for stills, kept by the engine between calls and dropped after [`STILL_IDLE`].
/// Owned by one blocking job at a time.
pub trait StillSource: Send {
    /// Grabs `region` of the screen (`None` = all of it; refused with [`MediaError::Invalid`] when it does not lie
    /// inside the screen), with the pointer drawn in when `include_cursor` is set.
    fn grab(&mut self, region: Option<Rect>, include_cursor: bool) -> Result<Grab<'_>, MediaError>;

    /// Whether the source is no longer usable (its display connection broke): the engine drops it and opens a
    /// fresh one next time.
    fn is_broken(&self) -> bool {
        false
    }
}

/// `view` (the part `region` of a screen) with the pointer `cursor` drawn in: a copy of the region in `buf`, or
/// `view` itself when the pointer is hidden, shapeless or elsewhere.
pub fn compose<'a>(
    view: View<'a>,
    region: Rect,
    cursor: &CursorState,
    buf: &'a mut Vec<u8>,
) -> Result<View<'a>, MediaError> {
    let Some(shape) = cursor.shape.as_deref().filter(|_| cursor.visible) else {
        return Ok(view);
    };
    let x = i64::from(cursor.x) - i64::from(shape.hot_x) - i64::from(region.x);
    let y = i64::from(cursor.y) - i64::from(shape.hot_y) - i64::from(region.y);
    let (w, h) = (i64::from(view.width), i64::from(view.height));
    if x >= w || y >= h || x + i64::from(shape.width) <= 0 || y + i64::from(shape.height) <= 0 {
        return Ok(view);
    }
    buf.clear();
    for row in 0..view.height {
        buf.extend_from_slice(view.row(row));
    }
    let stride = view.width as usize * 4;
    crate::cursor::blend(shape, buf, stride, view.width, view.height, x, y);
    View::new(buf, view.width, view.height, stride)
}

/// Milliseconds since the Unix epoch of `t`.
pub(crate) fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
