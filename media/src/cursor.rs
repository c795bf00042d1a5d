//! The pointer as viewers draw it: its shape and position, reported by the capture instead of being painted into
//! the frames ([`CursorMode::Overlay`]), or painted into them as before ([`CursorMode::Video`]).
//!
//! In overlay mode a pointer that only moves changes no captured pixel, so it costs no conversion, no encode and
//! no bytes on the wire: the gateway forwards [`CursorState`]s to the viewers, who draw the shape above the video.

use std::sync::Arc;

use crate::Frame;

use serde::{Deserialize, Serialize};

/// Where the cursor goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CursorMode {
    /// Reported beside the frames ([`crate::FrameSource::cursor`]); frames have no cursor.
    #[default]
    Overlay,
    /// Painted into every frame (every pointer move costs an encoded frame).
    Video,
}

/// A cursor image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CursorShape {
    /// Changes whenever the displayed cursor changes (XFixes' cursor serial).
    pub serial: u32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Hot spot: the pixel of the image that sits at the pointer position.
    pub hot_x: u32,
    /// Hot spot row.
    pub hot_y: u32,
    /// `width * height * 4` bytes, RGBA with straight (not premultiplied) alpha, row-major.
    pub rgba: Vec<u8>,
}

/// The pointer of one screen as the last capture tick saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CursorState {
    /// The pointer's pixel in the screen (clamped into it).
    pub x: u32,
    /// Row.
    pub y: u32,
    /// Whether the pointer is on this screen (another monitor, or another X screen, hides it here).
    pub visible: bool,
    /// The current shape; `None` when the backend cannot read it.
    pub shape: Option<Arc<CursorShape>>,
}

/// `frame` with `cursor`'s shape drawn at its position (a copy; `frame` is shared), for screenshots that include
/// the pointer. A hidden or shapeless cursor returns an unchanged copy.
pub fn composite(frame: &Frame, cursor: &CursorState) -> Frame {
    // SCAFFOLD: replaced by the real blend.
    let _ = cursor;
    frame.clone()
}
