//! JPEG encoding with libjpeg-turbo (SIMD), for the WebSocket fallback, MJPEG, snapshots and MCP screenshots.
//!
//! One [`JpegEncoder`] keeps its turbojpeg compressor and conversion buffers across frames. Full-size frames go
//! to turbojpeg as BGRX (its own SIMD colour conversion); downscaled ones go through [`crate::convert`] in full
//! range (JFIF) — the box/bilinear filter runs on the 1.5-byte-per-pixel planes — and are compressed from those
//! planes, so no BGRA copy is ever scaled.

use std::time::SystemTime;

use bytes::Bytes;
use turbojpeg::{Compressor, Image, OutputBuf, PixelFormat, Subsamp, YuvPlanesImage};

use crate::convert::{I420Buffer, YuvRange, bgra_to_i420_range, scaled_size};
use crate::still::View;
use crate::{Frame, MediaError};

/// One encoded JPEG picture, shared (`Arc<JpegFrame>`) by every subscriber of a JPEG pipeline.
#[derive(Clone)]
pub struct JpegFrame {
    /// The JPEG file bytes (baseline, 4:2:0).
    pub data: Bytes,
    /// Picture width in pixels.
    pub width: u32,
    /// Picture height in pixels.
    pub height: u32,
    /// Quality 1..=100 it was encoded with.
    pub quality: u8,
    /// The source [`Frame::seq`]: equal sequence numbers mean the same picture.
    pub seq: u64,
    /// Capture wall-clock time of the source frame.
    pub captured_at: SystemTime,
}

impl std::fmt::Debug for JpegFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JpegFrame")
            .field("bytes", &self.data.len())
            .field("width", &self.width)
            .field("height", &self.height)
            .field("quality", &self.quality)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

/// A reusable JPEG encoder. Owned by one thread (or one blocking job) at a time.
pub struct JpegEncoder {
    compressor: Compressor,
    quality: Option<u8>,
    planes: I420Buffer,
    out: OutputBuf<'static>,
}

// SAFETY: `out` is always an *owned* turbojpeg buffer (`OutputBuf::new_owned`, never a borrowed one), a heap
// allocation freed with `tj3Free` and tied to no thread; the raw pointer inside it is what keeps `OutputBuf` from
// being `Send`. The compressor is `Send` itself, the planes are plain vectors. The encoder moves between blocking
// jobs (a warm still encoder) but is used by one thread at a time (`&mut self`).
unsafe impl Send for JpegEncoder {}

impl std::fmt::Debug for JpegEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JpegEncoder")
            .field("quality", &self.quality)
            .finish_non_exhaustive()
    }
}

/// Checks a JPEG quality value against [`sightline_limits::JPEG_QUALITY`].
pub fn validate_quality(quality: u8) -> Result<(), MediaError> {
    MediaError::check_range(
        "jpeg quality",
        u32::from(quality),
        &sightline_limits::JPEG_QUALITY,
    )
    .map(drop)
}

impl JpegEncoder {
    /// Creates the compressor.
    pub fn new() -> Result<Self, MediaError> {
        let mut compressor = Compressor::new().map_err(jpeg_err)?;
        compressor.set_subsamp(Subsamp::Sub2x2).map_err(jpeg_err)?;
        Ok(Self {
            compressor,
            quality: None,
            planes: I420Buffer::new(),
            out: OutputBuf::new_owned(),
        })
    }

    /// Encodes `frame` at `quality` (1..=100), downscaled to at most `max_width` pixels wide (aspect kept).
    pub fn encode(
        &mut self,
        frame: &Frame,
        quality: u8,
        max_width: Option<u32>,
    ) -> Result<JpegFrame, MediaError> {
        self.set_quality(quality)?;
        let (width, height) = scaled_size(frame.width, frame.height, max_width);
        if width >= frame.width {
            let view = View::new(&frame.data, frame.width, frame.height, frame.stride)
                .map_err(|_| MediaError::invalid("frame", "stride does not fit the pixel data"))?;
            self.compress_view(view)?;
            return Ok(self.finish(frame, quality, frame.width, frame.height));
        }
        self.compress_scaled(frame, max_width)?;
        Ok(self.finish(frame, quality, width, height))
    }

    /// Encodes a borrowed picture (a region of a frame, a grab in shared memory) at `quality`, downscaled to at
    /// most `max_width` pixels wide. At full size turbojpeg reads the view's BGRX rows in place (its pitch is the
    /// view's stride, so a region is never copied); downscaled, the view is copied once into a frame for the
    /// planar conversion. Returns the JPEG bytes and the picture's size.
    pub fn encode_view(
        &mut self,
        view: View<'_>,
        quality: u8,
        max_width: Option<u32>,
    ) -> Result<(Bytes, u32, u32), MediaError> {
        self.set_quality(quality)?;
        let (width, height) = scaled_size(view.width, view.height, max_width);
        if width >= view.width {
            self.compress_view(view)?;
            return Ok((Bytes::copy_from_slice(&self.out), view.width, view.height));
        }
        let frame = view.to_frame(0, SystemTime::UNIX_EPOCH);
        self.compress_scaled(&frame, max_width)?;
        Ok((Bytes::copy_from_slice(&self.out), width, height))
    }

    fn set_quality(&mut self, quality: u8) -> Result<(), MediaError> {
        validate_quality(quality)?;
        if self.quality != Some(quality) {
            self.compressor
                .set_quality(i32::from(quality))
                .map_err(jpeg_err)?;
            self.quality = Some(quality);
        }
        Ok(())
    }

    /// Full size: turbojpeg converts BGRX itself, reading rows `stride` bytes apart.
    fn compress_view(&mut self, view: View<'_>) -> Result<(), MediaError> {
        let image = Image {
            pixels: view.pixels,
            width: view.width as usize,
            pitch: view.stride,
            height: view.height as usize,
            format: PixelFormat::BGRX,
        };
        self.compressor
            .set_subsamp(Subsamp::Sub2x2)
            .map_err(jpeg_err)?;
        self.compressor
            .compress(image, &mut self.out)
            .map_err(jpeg_err)
    }

    /// Downscaled: full-range planes (box/bilinear on 1.5 bytes per pixel), compressed from the planes.
    fn compress_scaled(&mut self, frame: &Frame, max_width: Option<u32>) -> Result<(), MediaError> {
        bgra_to_i420_range(frame, max_width, YuvRange::Full, &mut self.planes)?;
        let (w, h) = (self.planes.width() as usize, self.planes.height() as usize);
        let planes = YuvPlanesImage {
            y_plane: self.planes.y(),
            u_plane: self.planes.u(),
            v_plane: self.planes.v(),
            width: w,
            height: h,
            y_stride: w,
            u_stride: w / 2,
            v_stride: w / 2,
            subsamp: Subsamp::Sub2x2,
        };
        self.compressor
            .compress_yuv_planes(&planes, &mut self.out)
            .map_err(jpeg_err)
    }

    fn finish(&self, frame: &Frame, quality: u8, width: u32, height: u32) -> JpegFrame {
        JpegFrame {
            data: Bytes::copy_from_slice(&self.out),
            width,
            height,
            quality,
            seq: frame.seq,
            captured_at: frame.captured_at,
        }
    }
}

fn jpeg_err(e: turbojpeg::Error) -> MediaError {
    MediaError::Encoder(format!("turbojpeg: {e}"))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn gradient(width: u32, height: u32) -> Frame {
        let mut data = vec![0u8; (width * height * 4) as usize];
        for (i, px) in data.chunks_exact_mut(4).enumerate() {
            let (x, y) = (i as u32 % width, i as u32 / width);
            px.copy_from_slice(&[(x * 255 / width) as u8, (y * 255 / height) as u8, 128, 255]);
        }
        Frame {
            width,
            height,
            stride: width as usize * 4,
            data: Arc::from(data),
            captured_at: SystemTime::now(),
            seq: 7,
        }
    }

    fn decode(jpeg: &JpegFrame) -> image::RgbImage {
        image::load_from_memory_with_format(&jpeg.data, image::ImageFormat::Jpeg)
            .unwrap()
            .to_rgb8()
    }

    #[test]
    fn full_size_and_downscaled_jpegs_decode_to_the_right_size_and_colours() {
        let frame = gradient(640, 360);
        let mut enc = JpegEncoder::new().unwrap();
        for (max, size) in [
            (None, (640, 360)),
            (Some(320), (320, 180)),
            (Some(250), (250, 140)),
        ] {
            let jpeg = enc.encode(&frame, 90, max).unwrap();
            assert_eq!((jpeg.width, jpeg.height), size);
            assert_eq!((jpeg.seq, jpeg.quality), (7, 90));
            let img = decode(&jpeg);
            assert_eq!(img.dimensions(), size);
            // Centre pixel: R=128, G≈y, B≈x (BGRA source), within JPEG error.
            let p = img.get_pixel(size.0 / 2, size.1 / 2);
            assert!(p[0].abs_diff(128) <= 6, "red {p:?} at {max:?}");
            assert!(p[1].abs_diff(127) <= 8, "green {p:?} at {max:?}");
            assert!(p[2].abs_diff(127) <= 8, "blue {p:?} at {max:?}");
        }
    }

    #[test]
    fn quality_changes_size_and_bad_quality_is_refused() {
        let frame = gradient(320, 240);
        let mut enc = JpegEncoder::new().unwrap();
        let low = enc.encode(&frame, 10, None).unwrap();
        let high = enc.encode(&frame, 95, None).unwrap();
        assert!(low.data.len() < high.data.len());
        assert!(enc.encode(&frame, 0, None).is_err());
        assert!(enc.encode(&frame, 101, None).is_err());
    }
}
