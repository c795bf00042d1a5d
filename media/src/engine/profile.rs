//! What subscribers and the operator ask the engine for: [`VideoProfile`], [`JpegProfile`] and [`EngineConfig`],
//! their defaults, names and validation.
//!
//! Every bound comes from [`sightline_limits`], so a value the `/ws` parser, REST or MCP accepted is never refused
//! here for a different reason.

use serde::{Deserialize, Serialize};
use sightline_limits::{BITRATE_KBPS, CAPTURE_FPS, JPEG_FPS, MAX_WIDTH};

use crate::MediaError;
use crate::h264::Usage;

/// Highest accepted JPEG frame rate per subscriber (the top of [`sightline_limits::JPEG_FPS`]).
pub const MAX_JPEG_FPS: u32 = *JPEG_FPS.end();
/// Smallest accepted `max_width` (the bottom of [`sightline_limits::MAX_WIDTH`]).
pub const MIN_MAX_WIDTH: u32 = *MAX_WIDTH.start();

/// What a video subscriber asks for. Subscribers asking for the same profile of a screen share one encoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VideoProfile {
    /// Target bitrate in kbit/s (a ceiling: static screens cost far less).
    pub bitrate_kbps: u32,
    /// Downscale to at most this width (aspect kept); `None` = screen size.
    pub max_width: Option<u32>,
    /// openh264 content mode.
    pub usage: Usage,
}

impl Default for VideoProfile {
    fn default() -> Self {
        Self {
            bitrate_kbps: 4000,
            max_width: None,
            usage: Usage::Camera,
        }
    }
}

impl VideoProfile {
    /// Checks the values a caller may get wrong.
    pub fn validate(&self) -> Result<(), MediaError> {
        validate_bitrate(self.bitrate_kbps)?;
        validate_max_width(self.max_width)
    }

    /// The profile's name in pipeline keys and thread names: `camera-4000k-full`, `screen-2000k-w1280`.
    pub fn name(&self) -> String {
        format!(
            "{}-{}k-{}",
            self.usage.as_str(),
            self.bitrate_kbps,
            width_name(self.max_width)
        )
    }
}

/// What a JPEG subscriber asks for. Subscribers with the same (quality, max_width) on a screen share one encoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct JpegProfile {
    /// JPEG quality 1..=100.
    pub quality: u8,
    /// Downscale to at most this width (aspect kept); `None` = screen size.
    pub max_width: Option<u32>,
    /// Highest rate this subscriber wants; the shared encoder runs at the highest among its subscribers.
    pub fps: u32,
}

impl Default for JpegProfile {
    fn default() -> Self {
        // The preview: 960 wide encodes in about 2 ms (1.6 ms from 1080p, 2.5 ms from 720p at q50: README.md
        // "Performance", `cargo bench -p sightline-media --bench pipeline`), 10 fps is smooth enough for a fallback.
        Self {
            quality: 70,
            max_width: Some(960),
            fps: 10,
        }
    }
}

impl JpegProfile {
    /// Checks the values a caller may get wrong.
    pub fn validate(&self) -> Result<(), MediaError> {
        crate::jpeg::validate_quality(self.quality)?;
        MediaError::check_range("jpeg fps", self.fps, &JPEG_FPS)?;
        validate_max_width(self.max_width)
    }

    /// The name of the pipeline shared by this profile's (quality, max_width): `q70-w960`, `q90-full`.
    pub(super) fn name(&self) -> String {
        format!("q{}-{}", self.quality, width_name(self.max_width))
    }
}

/// Engine settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineConfig {
    /// Capture and encode rate (frames per second), 1..=120.
    pub fps: u32,
    /// Default video profile for viewers that do not ask for one.
    pub video: VideoProfile,
    /// Default JPEG preview profile.
    pub preview: JpegProfile,
    /// Let every H.264 encoder skip pictures to hold its target bitrate ([`H264Settings::frame_skip`]). On (the
    /// default) with congestion control: the target then really bounds the stream. Off, hard content overshoots any
    /// target (the gateway without congestion control, where a fixed pacer absorbs it). Configurations written
    /// before this field existed deserialize with it on.
    ///
    /// [`H264Settings::frame_skip`]: crate::h264::H264Settings::frame_skip
    #[serde(default = "frame_skip_default")]
    pub frame_skip: bool,
}

/// [`EngineConfig::frame_skip`]'s default, for serde.
fn frame_skip_default() -> bool {
    true
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            fps: 30,
            video: VideoProfile::default(),
            preview: JpegProfile::default(),
            frame_skip: frame_skip_default(),
        }
    }
}

impl EngineConfig {
    /// Checks every value.
    pub fn validate(&self) -> Result<(), MediaError> {
        MediaError::check_range("fps", self.fps, &CAPTURE_FPS)?;
        self.video.validate()?;
        self.preview.validate()
    }

    /// This configuration with its capture rate brought into [`sightline_limits::CAPTURE_FPS`].
    pub(super) fn clamped(mut self) -> Self {
        self.fps = self.fps.clamp(*CAPTURE_FPS.start(), *CAPTURE_FPS.end());
        self
    }
}

/// Checks an H.264 bitrate a caller asked for (a profile, or a change at run time).
pub(super) fn validate_bitrate(kbps: u32) -> Result<(), MediaError> {
    MediaError::check_range("bitrate_kbps", kbps, &BITRATE_KBPS).map(drop)
}

/// Checks a downscale width; `None` (screen size) is always fine.
pub(super) fn validate_max_width(max_width: Option<u32>) -> Result<(), MediaError> {
    match max_width {
        Some(w) => MediaError::check_range("max_width", w, &MAX_WIDTH).map(drop),
        None => Ok(()),
    }
}

fn width_name(max_width: Option<u32>) -> String {
    max_width.map_or_else(|| "full".to_owned(), |w| format!("w{w}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_names_and_defaults() {
        assert_eq!(VideoProfile::default().name(), "camera-4000k-full");
        let p = VideoProfile {
            bitrate_kbps: 2000,
            max_width: Some(1280),
            usage: Usage::Screen,
        };
        assert_eq!(p.name(), "screen-2000k-w1280");
        assert_eq!(JpegProfile::default().name(), "q70-w960");
        assert!(EngineConfig::default().validate().is_ok());
        assert_eq!(JpegProfile::default().max_width, Some(960));
        assert!(EngineConfig::default().frame_skip);
    }

    #[test]
    fn configs_without_frame_skip_still_deserialize_with_it_on() {
        let mut json = serde_json::to_value(EngineConfig::default()).unwrap();
        json.as_object_mut().unwrap().remove("frame_skip");
        let cfg: EngineConfig = serde_json::from_value(json).unwrap();
        assert_eq!(cfg, EngineConfig::default());
        let off: EngineConfig = serde_json::from_value(
            serde_json::to_value(EngineConfig {
                frame_skip: false,
                ..EngineConfig::default()
            })
            .unwrap(),
        )
        .unwrap();
        assert!(!off.frame_skip);
    }

    #[test]
    fn bounds_are_the_shared_limits() {
        let video = |bitrate_kbps, max_width| VideoProfile {
            bitrate_kbps,
            max_width,
            usage: Usage::Camera,
        };
        assert!(
            video(*BITRATE_KBPS.start(), Some(MIN_MAX_WIDTH))
                .validate()
                .is_ok()
        );
        assert!(
            video(*BITRATE_KBPS.end(), Some(*MAX_WIDTH.end()))
                .validate()
                .is_ok()
        );
        assert!(video(*BITRATE_KBPS.start() - 1, None).validate().is_err());
        assert!(video(*BITRATE_KBPS.end() + 1, None).validate().is_err());
        assert!(video(4000, Some(MIN_MAX_WIDTH - 1)).validate().is_err());
        assert!(video(4000, Some(*MAX_WIDTH.end() + 1)).validate().is_err());
        let jpeg = |quality, fps| JpegProfile {
            quality,
            max_width: None,
            fps,
        };
        assert!(jpeg(1, 1).validate().is_ok());
        assert!(jpeg(100, MAX_JPEG_FPS).validate().is_ok());
        assert!(jpeg(0, 10).validate().is_err());
        assert!(jpeg(101, 10).validate().is_err());
        assert!(jpeg(70, 0).validate().is_err());
        assert!(jpeg(70, MAX_JPEG_FPS + 1).validate().is_err());
        let config = |fps| EngineConfig {
            fps,
            ..EngineConfig::default()
        };
        assert!(config(*CAPTURE_FPS.end()).validate().is_ok());
        assert!(config(*CAPTURE_FPS.end() + 1).validate().is_err());
        assert_eq!(config(0).clamped().fps, 1);
        assert_eq!(config(1000).clamped().fps, *CAPTURE_FPS.end());
        let err = video(1, None).validate().unwrap_err();
        assert!(
            matches!(
                err,
                MediaError::Invalid {
                    what: "bitrate_kbps",
                    ..
                }
            ),
            "{err}"
        );
    }
}
