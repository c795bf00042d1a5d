//! PNG of a [`View`]: RGB (screens are opaque) with the `image` crate's fast setting, converted (and, when
//! downscaled, area-averaged) row by row from the view, so no BGRA copy of the picture is made.

use bytes::Bytes;
use image::ImageEncoder;

use super::types::View;
use crate::MediaError;
use crate::convert::scaled_size;

/// PNG of `view`, downscaled (area average, aspect kept) to at most `max_width` pixels wide. Returns the bytes
/// and the picture's size.
pub fn png_from_view(
    view: View<'_>,
    max_width: Option<u32>,
) -> Result<(Bytes, u32, u32), MediaError> {
    let (rgb, w, h) = match max_width {
        Some(mw) if mw < view.width => downscale_rgb(view, mw),
        _ => {
            let mut rgb = Vec::with_capacity(view.width as usize * view.height as usize * 3);
            for y in 0..view.height {
                for px in view.row(y).as_chunks::<4>().0 {
                    rgb.extend_from_slice(&[px[2], px[1], px[0]]);
                }
            }
            (rgb, view.width, view.height)
        }
    };
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new_with_quality(
        &mut out,
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::Sub,
    )
    .write_image(&rgb, w, h, image::ExtendedColorType::Rgb8)
    .map_err(|e| MediaError::Encoder(format!("PNG: {e}")))?;
    Ok((Bytes::from(out), w, h))
}

/// An area-average downscale of `view` to `width` pixels wide (aspect kept, [`scaled_size`]'s rule) as packed
/// RGB, with its size. For stills, not the video path.
pub fn downscale_rgb(view: View<'_>, width: u32) -> (Vec<u8>, u32, u32) {
    let (dw, dh) = scaled_size(view.width, view.height, Some(width));
    let (sw, sh) = (view.width as usize, view.height as usize);
    let (dwu, dhu) = (dw as usize, dh as usize);
    let mut out = vec![0u8; dwu * dhu * 3];
    for oy in 0..dhu {
        let y0 = oy * sh / dhu;
        let y1 = ((oy + 1) * sh / dhu).max(y0 + 1).min(sh);
        for ox in 0..dwu {
            let x0 = ox * sw / dwu;
            let x1 = ((ox + 1) * sw / dwu).max(x0 + 1).min(sw);
            let mut acc = [0u32; 3];
            for y in y0..y1 {
                let row = view.row(y as u32);
                for px in row[x0 * 4..x1 * 4].as_chunks::<4>().0 {
                    acc[0] += u32::from(px[2]);
                    acc[1] += u32::from(px[1]);
                    acc[2] += u32::from(px[0]);
                }
            }
            let n = ((y1 - y0) * (x1 - x0)) as u32;
            let o = (oy * dwu + ox) * 3;
            for (i, a) in acc.iter().enumerate() {
                out[o + i] = ((a + n / 2) / n) as u8;
            }
        }
    }
    (out, dw, dh)
}
