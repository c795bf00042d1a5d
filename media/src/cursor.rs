//! The pointer as viewers draw it: its shape and position, reported by the capture instead of being painted into
//! the frames ([`CursorMode::Overlay`]), or painted into them as before ([`CursorMode::Video`]).
//!
//! In overlay mode a pointer that only moves changes no captured pixel, so it costs no conversion, no encode and
//! no bytes on the wire: the gateway forwards [`CursorState`]s to the viewers, who draw the shape above the video.

use std::sync::Arc;

use crate::Frame;

use serde::{Deserialize, Serialize};

/// Where a [`crate::FrameSource`] that notices pointer moves as they happen reports them
/// ([`crate::FrameSource::set_cursor_sink`]); called from the source's own threads, so it must not block.
pub type CursorSink = Arc<dyn Fn(CursorState) + Send + Sync>;

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
    let mut out = frame.clone();
    let Some(shape) = cursor.shape.as_deref().filter(|_| cursor.visible) else {
        return out;
    };
    let x = i64::from(cursor.x) - i64::from(shape.hot_x);
    let y = i64::from(cursor.y) - i64::from(shape.hot_y);
    let mut data = out.data.to_vec();
    blend(shape, &mut data, out.stride, out.width, out.height, x, y);
    out.data = Arc::from(data);
    out
}

/// Blends `shape` (straight-alpha RGBA) over a BGRA picture of `width × height` pixels, `stride` bytes per row,
/// with the shape's top-left corner at (`x`, `y`), clipped to the picture. The picture's alpha bytes are left as
/// they are; pixels outside `frame` (a short buffer) are skipped, never a panic.
pub(crate) fn blend(
    shape: &CursorShape,
    frame: &mut [u8],
    stride: usize,
    width: u32,
    height: u32,
    x: i64,
    y: i64,
) {
    let (sw, sh) = (i64::from(shape.width), i64::from(shape.height));
    if shape.rgba.len() < shape.width as usize * shape.height as usize * 4 {
        return; // a malformed shape draws nothing
    }
    let col0 = (-x).clamp(0, sw);
    let row0 = (-y).clamp(0, sh);
    let col1 = (i64::from(width) - x).clamp(0, sw);
    let row1 = (i64::from(height) - y).clamp(0, sh);
    for row in row0..row1 {
        let src_row = (row * sw * 4) as usize;
        let dst_row = (y + row) as usize * stride;
        for col in col0..col1 {
            let s = &shape.rgba[src_row + col as usize * 4..][..4];
            let alpha = u32::from(s[3]);
            if alpha == 0 {
                continue;
            }
            let i = dst_row + (x + col) as usize * 4;
            let Some(px) = frame.get_mut(i..i + 3) else {
                continue;
            };
            // BGRA destination, RGBA source.
            let src = [s[2], s[1], s[0]];
            if alpha == 0xff {
                px.copy_from_slice(&src);
            } else {
                // Straight "over": dst = src * alpha + dst * (1 - alpha), rounded.
                let keep = 255 - alpha;
                for (d, s) in px.iter_mut().zip(src) {
                    *d = ((u32::from(s) * alpha + u32::from(*d) * keep + 127) / 255) as u8;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    /// 2x2, hot spot (1, 1): opaque red, half-transparent white, transparent, opaque blue.
    fn shape() -> Arc<CursorShape> {
        Arc::new(CursorShape {
            serial: 7,
            width: 2,
            height: 2,
            hot_x: 1,
            hot_y: 1,
            rgba: vec![
                0xff, 0, 0, 0xff, //
                0xff, 0xff, 0xff, 0x80, //
                0, 0, 0, 0, //
                0, 0, 0xff, 0xff,
            ],
        })
    }

    fn frame(w: u32, h: u32, fill: u8) -> Frame {
        Frame {
            width: w,
            height: h,
            stride: w as usize * 4,
            data: Arc::from(vec![fill; (w * h * 4) as usize]),
            captured_at: SystemTime::UNIX_EPOCH,
            seq: 1,
        }
    }

    fn at(x: u32, y: u32) -> CursorState {
        CursorState {
            x,
            y,
            visible: true,
            shape: Some(shape()),
        }
    }

    #[test]
    fn composite_blends_at_the_hot_spot_and_leaves_the_input_alone() {
        let black = frame(3, 3, 0);
        let out = composite(&black, &at(2, 2));
        assert!(
            black.data.iter().all(|&b| b == 0),
            "the shared input is untouched"
        );
        let px = |x, y| out.pixel(x, y).expect("inside");
        assert_eq!(px(1, 1), [0, 0, 0xff, 0]); // red, BGRA order, alpha byte untouched
        assert_eq!(px(2, 1), [0x80, 0x80, 0x80, 0]); // half white over black
        assert_eq!(px(1, 2), [0, 0, 0, 0]); // transparent
        assert_eq!(px(2, 2), [0xff, 0, 0, 0]); // blue
        assert_eq!(px(0, 0), [0, 0, 0, 0]);
        assert_eq!(out.seq, black.seq);

        let white = composite(&frame(3, 3, 0xff), &at(2, 2));
        assert_eq!(white.pixel(2, 1), Some([0xff; 4])); // half white over white stays white
    }

    #[test]
    fn composite_clips_at_every_edge() {
        // Top-left: only the shape's bottom-right pixel (blue) lands on (0, 0).
        let out = composite(&frame(1, 1, 0), &at(0, 0));
        assert_eq!(out.pixel(0, 0), Some([0xff, 0, 0, 0]));
        // Bottom-right: only the top-left pixel (red) lands on (1, 1) of a 2x2 frame.
        let out = composite(&frame(2, 2, 0), &at(2, 2));
        assert_eq!(out.pixel(1, 1), Some([0, 0, 0xff, 0]));
        assert_eq!(out.pixel(0, 0), Some([0, 0, 0, 0]));
        // Far outside: nothing drawn, no panic.
        for (x, y) in [(100, 100), (0, 100), (100, 0), (u32::MAX, u32::MAX)] {
            let out = composite(&frame(2, 2, 0), &at(x, y));
            assert!(out.data.iter().all(|&b| b == 0), "({x},{y})");
        }
        // Rows padded past the width: clipping uses the width, the padding stays as it was.
        let mut padded = frame(2, 2, 0);
        padded.stride = 12;
        padded.data = Arc::from(vec![0u8; 24]);
        let out = composite(&padded, &at(2, 2));
        assert_eq!(out.pixel(1, 1), Some([0, 0, 0xff, 0]));
        assert_eq!(out.data[8..12], [0; 4]);
        assert_eq!(out.data[20..24], [0; 4]);
    }

    #[test]
    fn hidden_or_shapeless_cursors_change_nothing() {
        let f = frame(4, 4, 9);
        let hidden = CursorState {
            visible: false,
            ..at(1, 1)
        };
        assert_eq!(composite(&f, &hidden).data, f.data);
        let shapeless = CursorState {
            shape: None,
            ..at(1, 1)
        };
        assert_eq!(composite(&f, &shapeless).data, f.data);
        // A shape whose buffer is shorter than its size draws nothing.
        let broken = CursorState {
            shape: Some(Arc::new(CursorShape {
                rgba: vec![0xff; 4],
                ..(*shape()).clone()
            })),
            ..at(1, 1)
        };
        assert_eq!(composite(&f, &broken).data, f.data);
    }
}
