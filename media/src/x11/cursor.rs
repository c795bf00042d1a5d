//! The mouse cursor of an X11 capture: its shape from XFixes, converted once per shape, and where it lands in a
//! frame.
//!
//! X servers keep the cursor out of what GetImage returns (a hardware cursor is never in the framebuffer and a
//! software cursor is lifted before the read), so a capture shows no pointer unless we draw it
//! ([`crate::CursorMode::Video`]) or report it beside the frames ([`crate::CursorMode::Overlay`]). The shape comes
//! from XFixes GetCursorImage (ARGB, premultiplied alpha), fetched again only when XFixes reports a new cursor and
//! converted here into a straight-alpha [`CursorShape`]; the position comes from QueryPointer on every tick. The
//! blend itself is [`crate::cursor::blend`], shared with [`crate::cursor::composite`] on every platform.

use crate::CursorShape;

/// The largest cursor kept, per side. XFixes cursors are 16–64 px in practice (256 with extreme scaling); anything
/// larger is clipped to its top-left 256×256 pixels (hot spot clamped into them), which bounds what a shape costs
/// to convert, keep and send to viewers (at most 256 KiB of RGBA).
pub(crate) const MAX_CURSOR_SIDE: u32 = 256;

/// Where a cursor was drawn into a frame: its top-left corner in frame pixels and its shape. Two ticks with the
/// same placement draw identical pixels, so a frame is only due when the placement changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Placement {
    pub x: i32,
    pub y: i32,
    pub serial: u32,
}

/// Where `shape` lands in a `frame_width × frame_height` frame when the pointer is at (`px`, `py`) in frame
/// coordinates; `None` when no pixel of it would be visible.
pub(crate) fn placement(
    shape: &CursorShape,
    px: i32,
    py: i32,
    frame_width: u32,
    frame_height: u32,
) -> Option<Placement> {
    let x = px - shape.hot_x as i32;
    let y = py - shape.hot_y as i32;
    let visible = x < frame_width as i32
        && y < frame_height as i32
        && x + shape.width as i32 > 0
        && y + shape.height as i32 > 0
        && shape.width > 0
        && shape.height > 0;
    visible.then_some(Placement {
        x,
        y,
        serial: shape.serial,
    })
}

/// Converts an XFixes cursor image (`width * height` pixels of `0xAARRGGBB`, premultiplied alpha) into a
/// straight-alpha RGBA [`CursorShape`], clipped to [`MAX_CURSOR_SIDE`]. `None` when the pixel count does not match
/// the size (a reply that is not trusted is no cursor).
pub(crate) fn shape_from_xfixes(
    width: u16,
    height: u16,
    xhot: u16,
    yhot: u16,
    serial: u32,
    pixels: &[u32],
) -> Option<CursorShape> {
    let (full_w, full_h) = (usize::from(width), usize::from(height));
    if pixels.len() != full_w * full_h {
        return None;
    }
    let w = u32::from(width).min(MAX_CURSOR_SIDE);
    let h = u32::from(height).min(MAX_CURSOR_SIDE);
    let mut rgba = Vec::with_capacity(w as usize * h as usize * 4);
    for row in pixels.chunks_exact(full_w.max(1)).take(h as usize) {
        for &argb in &row[..w as usize] {
            rgba.extend_from_slice(&unpremultiply(argb));
        }
    }
    Some(CursorShape {
        serial,
        width: w,
        height: h,
        hot_x: u32::from(xhot).min(w.saturating_sub(1)),
        hot_y: u32::from(yhot).min(h.saturating_sub(1)),
        rgba,
    })
}

/// One premultiplied `0xAARRGGBB` pixel as straight-alpha `[r, g, b, a]` (rounded; a fully transparent pixel is
/// all zero, and colour channels a broken image puts above its alpha saturate at 255).
pub(crate) fn unpremultiply(argb: u32) -> [u8; 4] {
    let a = argb >> 24;
    if a == 0 {
        return [0; 4];
    }
    let straight = |c: u32| ((c * 255 + a / 2) / a).min(255) as u8;
    [
        straight((argb >> 16) & 0xff),
        straight((argb >> 8) & 0xff),
        straight(argb & 0xff),
        a as u8,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrow() -> CursorShape {
        // 2x2: opaque red, half-transparent white (premultiplied 0x80808080), transparent, opaque blue.
        shape_from_xfixes(
            2,
            2,
            1,
            1,
            7,
            &[0xffff0000, 0x80808080, 0x00000000, 0xff0000ff],
        )
        .expect("size matches")
    }

    #[test]
    fn premultiplied_pixels_become_straight_alpha() {
        assert_eq!(unpremultiply(0xffff0000), [0xff, 0, 0, 0xff]);
        assert_eq!(unpremultiply(0x80808080), [0xff, 0xff, 0xff, 0x80]);
        assert_eq!(unpremultiply(0x40200000), [0x80, 0, 0, 0x40]);
        assert_eq!(unpremultiply(0x00ffffff), [0, 0, 0, 0]); // transparent: colour dropped
        assert_eq!(unpremultiply(0x10ffffff), [0xff, 0xff, 0xff, 0x10]); // invalid: saturates
        let a = arrow();
        assert_eq!(
            (a.width, a.height, a.hot_x, a.hot_y, a.serial),
            (2, 2, 1, 1, 7)
        );
        assert_eq!(
            a.rgba,
            [
                0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0xff, 0xff
            ]
        );
    }

    #[test]
    fn untrusted_or_huge_images_are_refused_or_clipped() {
        assert_eq!(shape_from_xfixes(2, 2, 0, 0, 1, &[0; 3]), None);
        assert_eq!(shape_from_xfixes(1, 1, 0, 0, 1, &[]), None);
        let empty = shape_from_xfixes(0, 0, 5, 5, 1, &[]).expect("an empty cursor");
        assert_eq!(
            (empty.width, empty.height, empty.hot_x, empty.rgba.len()),
            (0, 0, 0, 0)
        );

        let (w, h) = (300u16, 260u16);
        let mut pixels = vec![0u32; usize::from(w) * usize::from(h)];
        pixels[1] = 0xff00ff00; // (1, 0): opaque green, kept
        pixels[usize::from(w) - 1] = 0xffffffff; // (299, 0): outside the clip
        let big = shape_from_xfixes(w, h, 290, 10, 2, &pixels).expect("size matches");
        assert_eq!((big.width, big.height), (MAX_CURSOR_SIDE, MAX_CURSOR_SIDE));
        assert_eq!(big.rgba.len(), 256 * 256 * 4);
        assert_eq!((big.hot_x, big.hot_y), (255, 10));
        assert_eq!(big.rgba[4..8], [0, 0xff, 0, 0xff]);
        assert!(
            big.rgba[8..].iter().all(|&b| b == 0),
            "the clipped-off pixel is not wrapped in"
        );
    }

    #[test]
    fn placement_accounts_for_the_hot_spot_and_visibility() {
        let c = arrow();
        let at = |x, y| Placement { x, y, serial: 7 };
        assert_eq!(placement(&c, 5, 5, 10, 10), Some(at(4, 4)));
        assert_eq!(placement(&c, 0, 0, 10, 10), Some(at(-1, -1)));
        assert_eq!(placement(&c, -1, 5, 10, 10), None);
        assert_eq!(placement(&c, 11, 5, 10, 10), None);
        assert_eq!(placement(&c, 5, 11, 10, 10), None);
    }

    #[test]
    fn drawing_a_converted_shape_matches_the_premultiplied_blend() {
        let (w, h) = (3u32, 3u32);
        let mut frame = vec![0u8; (w * h * 4) as usize];
        crate::cursor::blend(&arrow(), &mut frame, (w * 4) as usize, w, h, 1, 1);
        let px = |x: usize, y: usize| &frame[(y * 3 + x) * 4..][..4];
        assert_eq!(px(1, 1), [0, 0, 0xff, 0]); // red, BGRA order, alpha byte untouched
        assert_eq!(px(2, 1), [0x80, 0x80, 0x80, 0]); // half white over black
        assert_eq!(px(1, 2), [0, 0, 0, 0]); // transparent
        assert_eq!(px(2, 2), [0xff, 0, 0, 0]); // blue
        assert_eq!(px(0, 0), [0, 0, 0, 0]);

        // Hanging off every edge draws only the overlapping pixel and never panics.
        let mut small = vec![0u8; 4];
        crate::cursor::blend(&arrow(), &mut small, 4, 1, 1, -1, -1);
        assert_eq!(small, [0xff, 0, 0, 0]);
        crate::cursor::blend(&arrow(), &mut small, 4, 1, 1, 5, 5);
        crate::cursor::blend(&arrow(), &mut small, 4, 1, 1, -5, -5);
        assert_eq!(small, [0xff, 0, 0, 0]);
    }
}
