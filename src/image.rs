//! Still images of a frame for files and HTTP: PNG (lossless, for exact pixels) or JPEG.

use bytes::Bytes;
use sightline_media::{Frame, MediaError};

/// A still image format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFormat {
    /// PNG, lossless.
    Png,
    /// JPEG.
    Jpeg,
}

impl ImageFormat {
    /// The format of a file name's extension.
    pub fn from_path(path: &std::path::Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "png" => Some(Self::Png),
            "jpg" | "jpeg" => Some(Self::Jpeg),
            _ => None,
        }
    }

    /// The MIME type.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
        }
    }
}

/// Encodes a frame, downscaled to `max_width` when it is wider.
pub fn encode(
    frame: &Frame,
    format: ImageFormat,
    quality: u8,
    max_width: Option<u32>,
) -> Result<Bytes, MediaError> {
    match format {
        ImageFormat::Jpeg => {
            let mut enc = sightline_media::jpeg::JpegEncoder::new()?;
            Ok(enc.encode(frame, quality, max_width)?.data)
        }
        ImageFormat::Png => {
            let scaled;
            let frame = match max_width {
                Some(w) if w < frame.width => {
                    scaled = downscale(frame, w);
                    &scaled
                }
                _ => frame,
            };
            png(frame)
        }
    }
}

/// PNG of a frame (RGB, no alpha: screens are opaque).
pub fn png(frame: &Frame) -> Result<Bytes, MediaError> {
    use image::ImageEncoder;
    let (w, h) = (frame.width as usize, frame.height as usize);
    let mut rgb = Vec::with_capacity(w * h * 3);
    for y in 0..frame.height {
        for px in frame.row(y).chunks_exact(4) {
            rgb.extend_from_slice(&[px[2], px[1], px[0]]);
        }
    }
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new_with_quality(
        &mut out,
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::Sub,
    )
    .write_image(
        &rgb,
        frame.width,
        frame.height,
        image::ExtendedColorType::Rgb8,
    )
    .map_err(|e| MediaError::Encoder(format!("PNG: {e}")))?;
    Ok(Bytes::from(out))
}

/// An area-average downscale of a BGRA frame to `width` (aspect kept). For occasional stills, not the hot path.
pub fn downscale(frame: &Frame, width: u32) -> Frame {
    let (dw, dh) = sightline_media::convert::scaled_size(frame.width, frame.height, Some(width));
    let (sw, sh) = (frame.width as usize, frame.height as usize);
    let (dwu, dhu) = (dw as usize, dh as usize);
    let mut out = vec![0u8; dwu * dhu * 4];
    for oy in 0..dhu {
        let y0 = oy * sh / dhu;
        let y1 = ((oy + 1) * sh / dhu).max(y0 + 1).min(sh);
        for ox in 0..dwu {
            let x0 = ox * sw / dwu;
            let x1 = ((ox + 1) * sw / dwu).max(x0 + 1).min(sw);
            let mut acc = [0u32; 4];
            for y in y0..y1 {
                let row = &frame.data[y * frame.stride..];
                for x in x0..x1 {
                    for (a, v) in acc.iter_mut().zip(&row[x * 4..x * 4 + 4]) {
                        *a += u32::from(*v);
                    }
                }
            }
            let n = ((y1 - y0) * (x1 - x0)) as u32;
            let o = (oy * dwu + ox) * 4;
            for (i, a) in acc.iter().enumerate() {
                out[o + i] = ((a + n / 2) / n) as u8;
            }
        }
    }
    Frame {
        width: dw,
        height: dh,
        stride: dwu * 4,
        data: out.into(),
        captured_at: frame.captured_at,
        seq: frame.seq,
    }
}
