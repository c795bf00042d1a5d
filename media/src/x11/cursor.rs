//! The mouse cursor, drawn into captured frames.
//!
//! X servers keep the cursor out of what GetImage returns (a hardware cursor is never in the framebuffer and a
//! software cursor is lifted before the read), so a capture shows no pointer unless we draw it. The shape comes
//! from XFixes GetCursorImage (ARGB, premultiplied alpha), fetched again only when XFixes reports a new cursor;
//! the position comes from QueryPointer on every tick.

/// A cursor shape as XFixes reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CursorImage {
    pub width: u32,
    pub height: u32,
    /// Hot spot: the pixel of the image that sits at the pointer position.
    pub xhot: u32,
    pub yhot: u32,
    /// Changes whenever the displayed cursor changes.
    pub serial: u32,
    /// `width * height` pixels, `0xAARRGGBB` with premultiplied alpha.
    pub pixels: Vec<u32>,
}

/// Where a cursor was drawn into a frame: its top-left corner in frame pixels and its shape. Two ticks with the
/// same placement draw identical pixels, so a frame is only due when the placement changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Placement {
    pub x: i32,
    pub y: i32,
    pub serial: u32,
}

impl CursorImage {
    /// Where this cursor lands in a `frame_width × frame_height` frame when the pointer is at (`px`, `py`) in
    /// frame coordinates; `None` when no pixel of it would be visible.
    pub(crate) fn placement(
        &self,
        px: i32,
        py: i32,
        frame_width: u32,
        frame_height: u32,
    ) -> Option<Placement> {
        let x = px - self.xhot as i32;
        let y = py - self.yhot as i32;
        let visible = x < frame_width as i32
            && y < frame_height as i32
            && x + self.width as i32 > 0
            && y + self.height as i32 > 0
            && self.width > 0
            && self.height > 0;
        visible.then_some(Placement {
            x,
            y,
            serial: self.serial,
        })
    }

    /// Blends the cursor over a BGRA frame with its top-left corner at (`x`, `y`), clipped to the frame.
    pub(crate) fn draw(
        &self,
        frame: &mut [u8],
        stride: usize,
        frame_width: u32,
        frame_height: u32,
        x: i32,
        y: i32,
    ) {
        let col0 = (-x).max(0) as u32;
        let row0 = (-y).max(0) as u32;
        let col1 = self.width.min((frame_width as i32 - x).max(0) as u32);
        let row1 = self.height.min((frame_height as i32 - y).max(0) as u32);
        for row in row0..row1 {
            let src = &self.pixels[(row * self.width) as usize..][..self.width as usize];
            let dst_row = (y + row as i32) as usize * stride;
            for col in col0..col1 {
                let argb = src[col as usize];
                let alpha = argb >> 24;
                if alpha == 0 {
                    continue;
                }
                let i = dst_row + (x + col as i32) as usize * 4;
                let Some(px) = frame.get_mut(i..i + 3) else {
                    continue;
                };
                let [b, g, r] = [argb & 0xff, (argb >> 8) & 0xff, (argb >> 16) & 0xff];
                if alpha == 0xff {
                    px.copy_from_slice(&[b as u8, g as u8, r as u8]);
                } else {
                    // Premultiplied "over": dst = src + dst * (1 - alpha), rounded.
                    let keep = 255 - alpha;
                    for (d, s) in px.iter_mut().zip([b, g, r]) {
                        *d = (s + (u32::from(*d) * keep + 127) / 255).min(255) as u8;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrow() -> CursorImage {
        // 2x2: opaque red, half-transparent white (premultiplied 0x80808080), transparent, opaque blue.
        CursorImage {
            width: 2,
            height: 2,
            xhot: 1,
            yhot: 1,
            serial: 7,
            pixels: vec![0xffff0000, 0x80808080, 0x00000000, 0xff0000ff],
        }
    }

    #[test]
    fn placement_accounts_for_the_hot_spot_and_visibility() {
        let c = arrow();
        assert_eq!(
            c.placement(5, 5, 10, 10),
            Some(Placement {
                x: 4,
                y: 4,
                serial: 7
            })
        );
        assert_eq!(
            c.placement(0, 0, 10, 10),
            Some(Placement {
                x: -1,
                y: -1,
                serial: 7
            })
        );
        assert_eq!(c.placement(-1, 5, 10, 10), None);
        assert_eq!(c.placement(11, 5, 10, 10), None);
        assert_eq!(c.placement(5, 11, 10, 10), None);
    }

    #[test]
    fn drawing_blends_premultiplied_pixels_and_clips() {
        let (w, h) = (3u32, 3u32);
        let mut frame = vec![0u8; (w * h * 4) as usize];
        arrow().draw(&mut frame, (w * 4) as usize, w, h, 1, 1);
        let px = |x: usize, y: usize| &frame[(y * 3 + x) * 4..][..4];
        assert_eq!(px(1, 1), [0, 0, 0xff, 0]); // red, BGRA order, alpha byte untouched
        assert_eq!(px(2, 1), [0x80, 0x80, 0x80, 0]); // half white over black
        assert_eq!(px(1, 2), [0, 0, 0, 0]); // transparent
        assert_eq!(px(2, 2), [0xff, 0, 0, 0]); // blue
        assert_eq!(px(0, 0), [0, 0, 0, 0]);

        let mut white = vec![0xffu8; (w * h * 4) as usize];
        arrow().draw(&mut white, (w * 4) as usize, w, h, 1, 1);
        assert_eq!(&white[(3 + 2) * 4..][..3], [0xff, 0xff, 0xff]); // half white over white stays white

        // Hanging off every edge draws only the overlapping pixel and never panics.
        let mut small = vec![0u8; 4];
        arrow().draw(&mut small, 4, 1, 1, -1, -1);
        assert_eq!(small, [0xff, 0, 0, 0]);
        arrow().draw(&mut small, 4, 1, 1, 5, 5);
        arrow().draw(&mut small, 4, 1, 1, -5, -5);
        assert_eq!(small, [0xff, 0, 0, 0]);
    }
}
