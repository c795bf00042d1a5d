//! Encoding a [`View`] as a still: JPEG with a kept compressor, PNG with the fast setting.

use bytes::Bytes;

use super::png::png_from_view;
use super::types::{StillEncoding, View};
use crate::MediaError;
use crate::convert::scaled_size;
use crate::jpeg::JpegEncoder;
use crate::jpeg_stripes::{BgrxView, StripedJpeg};

/// Encodes views as JPEG or PNG. Keeps its turbojpeg compressors (created on first use) and their buffers between
/// stills, so a warm still costs no set-up. Owned by one blocking job at a time.
#[derive(Debug, Default)]
pub struct StillEncoder {
    /// Full-size JPEG: striped over the cores ([`crate::jpeg_stripes`]), straight from the view.
    striped: Option<StripedJpeg>,
    /// Downscaled JPEG (planar conversion and scaling first).
    jpeg: Option<JpegEncoder>,
}

/// An encoded picture: its bytes, MIME type and size.
#[derive(Clone, Debug)]
pub struct Encoded {
    /// The file bytes.
    pub data: Bytes,
    /// `image/jpeg` or `image/png`.
    pub mime: &'static str,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl StillEncoder {
    /// An encoder with nothing allocated yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Encodes `view` as `encoding` says. A full-size JPEG is compressed straight from the view (turbojpeg reads
    /// BGRX rows `stride` bytes apart), in stripes on every core ([`StripedJpeg`]); a downscaled one is converted
    /// from one copy of the view; a PNG is converted to RGB (and area-averaged when downscaled) row by row from
    /// the view.
    pub fn encode(
        &mut self,
        view: View<'_>,
        encoding: StillEncoding,
    ) -> Result<Encoded, MediaError> {
        match encoding {
            StillEncoding::Jpeg { quality, max_width } => {
                crate::jpeg::validate_quality(quality)?;
                check_max_width(max_width)?;
                let (width, height) = scaled_size(view.width, view.height, max_width);
                let data = if width >= view.width {
                    let enc = match &mut self.striped {
                        Some(e) => e,
                        None => self.striped.insert(StripedJpeg::new()?),
                    };
                    let bgrx = BgrxView {
                        pixels: view.pixels,
                        width: view.width,
                        height: view.height,
                        stride: view.stride,
                    };
                    Bytes::copy_from_slice(enc.encode(bgrx, quality)?)
                } else {
                    let enc = match &mut self.jpeg {
                        Some(e) => e,
                        None => self.jpeg.insert(JpegEncoder::new()?),
                    };
                    enc.encode_view(view, quality, max_width)?.0
                };
                Ok(Encoded {
                    data,
                    mime: "image/jpeg",
                    width,
                    height,
                })
            }
            StillEncoding::Png { max_width } => {
                check_max_width(max_width)?;
                let (data, width, height) = png_from_view(view, max_width)?;
                Ok(Encoded {
                    data,
                    mime: "image/png",
                    width,
                    height,
                })
            }
        }
    }
}

fn check_max_width(max_width: Option<u32>) -> Result<(), MediaError> {
    match max_width {
        Some(w) => MediaError::check_range("max_width", w, &sightline_limits::MAX_WIDTH).map(drop),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::still::Rect;

    /// A `w × h` BGRA picture whose pixel (x, y) is (b = x, g = y, r = 200).
    fn picture(w: u32, h: u32) -> Vec<u8> {
        let mut v = Vec::new();
        for y in 0..h {
            for x in 0..w {
                v.extend_from_slice(&[x as u8, y as u8, 200, 255]);
            }
        }
        v
    }

    #[test]
    fn a_region_view_encodes_to_the_regions_size_and_pixels() {
        let data = picture(200, 100);
        let frame = crate::Frame {
            width: 200,
            height: 100,
            stride: 800,
            data: data.into(),
            captured_at: std::time::SystemTime::now(),
            seq: 1,
        };
        let region = Rect {
            x: 50,
            y: 20,
            width: 64,
            height: 40,
        };
        let view = View::of_frame(&frame, region).unwrap();
        let mut enc = StillEncoder::new();
        let png = enc
            .encode(view, StillEncoding::Png { max_width: None })
            .unwrap();
        assert_eq!((png.width, png.height, png.mime), (64, 40, "image/png"));
        let img = image::load_from_memory(&png.data).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (64, 40));
        // RGB of region pixel (3, 5) = screen pixel (53, 25): r = 200, g = 25, b = 53.
        assert_eq!(img.get_pixel(3, 5).0, [200, 25, 53]);
        for max_width in [None, Some(32)] {
            let jpeg = enc
                .encode(
                    view,
                    StillEncoding::Jpeg {
                        quality: 90,
                        max_width,
                    },
                )
                .unwrap();
            let img = image::load_from_memory(&jpeg.data).unwrap().to_rgb8();
            assert_eq!(img.dimensions(), (jpeg.width, jpeg.height));
            let want = if max_width.is_some() {
                (32, 20)
            } else {
                (64, 40)
            };
            assert_eq!((jpeg.width, jpeg.height), want);
            let p = img.get_pixel(jpeg.width / 2, jpeg.height / 2).0;
            assert!(p[0].abs_diff(200) <= 8, "{p:?}");
            assert!(p[1].abs_diff(40) <= 8, "{p:?}");
            assert!(p[2].abs_diff(82) <= 8, "{p:?}");
        }
        let half = enc
            .encode(
                view,
                StillEncoding::Png {
                    max_width: Some(32),
                },
            )
            .unwrap();
        assert_eq!((half.width, half.height), (32, 20));
    }

    #[test]
    fn bad_values_are_refused() {
        let data = picture(16, 16);
        let view = View::new(&data, 16, 16, 64).unwrap();
        let mut enc = StillEncoder::new();
        let q0 = StillEncoding::Jpeg {
            quality: 0,
            max_width: None,
        };
        assert!(enc.encode(view, q0).is_err());
        let tiny = StillEncoding::Png { max_width: Some(1) };
        assert!(enc.encode(view, tiny).is_err());
        assert!(View::new(&data, 16, 17, 64).is_err());
        assert!(View::new(&data, 17, 16, 64).is_err());
    }
}
