//! A captured picture.

use std::sync::Arc;
use std::time::SystemTime;

/// One captured screen picture in BGRA byte order (the alpha byte is ignored; X11 calls this BGRX).
///
/// Frames are shared (`Arc<Frame>`) between the H.264 encoder, the JPEG encoders and screenshot callers, so the
/// pixels are never copied after capture.
#[derive(Clone)]
pub struct Frame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes per row (at least `width * 4`).
    pub stride: usize,
    /// `stride * height` bytes, BGRA.
    pub data: Arc<[u8]>,
    /// Wall-clock time of the capture: drawn into the synthetic screen's barcode, reported as `captured_at_ms`.
    pub captured_at: SystemTime,
    /// Per-screen counter of captured (changed) frames, starting at 1.
    pub seq: u64,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("stride", &self.stride)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl Frame {
    /// Milliseconds since the Unix epoch of [`Frame::captured_at`].
    pub fn captured_at_ms(&self) -> u64 {
        self.captured_at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }

    /// The BGRA bytes of row `y` (without stride padding).
    ///
    /// # Panics
    /// If `y >= height` (a caller bug, never driven by network input).
    pub fn row(&self, y: u32) -> &[u8] {
        let start = y as usize * self.stride;
        &self.data[start..start + self.width as usize * 4]
    }

    /// The pixel at (x, y) as `[b, g, r, a]`, or `None` outside the frame.
    pub fn pixel(&self, x: u32, y: u32) -> Option<[u8; 4]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = y as usize * self.stride + x as usize * 4;
        Some([
            self.data[i],
            self.data[i + 1],
            self.data[i + 2],
            self.data[i + 3],
        ])
    }
}
