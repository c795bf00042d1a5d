//! Still images of a frame for files (`sightline screenshot`): PNG (lossless, for exact pixels) or JPEG. The
//! encoding itself is the media crate's ([`sightline_media::still`]), shared with MCP screenshots and REST snapshots.

use bytes::Bytes;
use sightline_media::still::{StillEncoder, View};
use sightline_media::{Frame, MediaError, Rect, StillEncoding};

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

/// Encodes a frame, downscaled to `max_width` when it is wider, with the media crate's still encoder (JPEG
/// straight from the frame's pixels; PNG with the fast setting, see [`sightline_media::still::png_from_view`]).
pub fn encode(
    frame: &Frame,
    format: ImageFormat,
    quality: u8,
    max_width: Option<u32>,
) -> Result<Bytes, MediaError> {
    let view = View::of_frame(frame, Rect::full(frame.width, frame.height))?;
    let encoding = match format {
        ImageFormat::Jpeg => StillEncoding::Jpeg { quality, max_width },
        ImageFormat::Png => StillEncoding::Png { max_width },
    };
    Ok(StillEncoder::new().encode(view, encoding)?.data)
}
