//! H.264 encoding with openh264: constrained baseline, packet-sized slices encoded on several threads, no periodic
//! or scene-change IDR, keyframes on request, and a target bitrate that can change live.
//!
//! [`H264Encoder`] wraps one openh264 encoder configured for real-time streaming: bitrate rate control, slices of at
//! most [`MAX_SLICE_BYTES`] encoded by up to [`MAX_ENCODER_THREADS`] threads (a single slice cannot be split across
//! threads), `Complexity::Low`, and the level picked from the size.
//! `Profile::Baseline` makes openh264 write `profile_idc 66` with constraint_set0+1 (`42 c0 xx`): constrained
//! baseline, which decoders negotiated with `profile-level-id=42e01f;packetization-mode=1` accept.
//!
//! # Rate control
//! openh264 obeys its target only with frame skipping on ([`H264Settings::frame_skip`]): on content whose
//! smallest encoding (QP 51) exceeds the target it then drops pictures instead of overshooting. Without skipping
//! the target is ignored: 720p full-motion content stays at about 5.5 Mbit/s whatever the target (measured, see
//! `media/tests/h264_rate_control.rs`). A skipped picture comes back as `Ok(None)`: openh264's skip mode produces
//! *empty* frames, which must never reach a WebRTC track. An IDR is never skipped (openh264 skips only P frames).
//! [`H264Encoder::set_target_bitrate`] changes the target on the running encoder, without an IDR.
//!
//! Each [`AccessUnit`] is one encoded picture in Annex-B (start codes), as WebRTC samples are written. A forced
//! IDR starts with SPS and PPS (NAL types 7, 8, 5), so a late joiner can decode from it alone.

use std::time::{Instant, SystemTime};

use bytes::Bytes;
use openh264::encoder::{
    BitRate, Complexity, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, Level,
    Profile, RateControlMode, SpsPpsStrategy, UsageType, VuiConfig,
};
use openh264::formats::YUVSlices;
use openh264::{OpenH264API, Timestamp};
use openh264_sys2::{
    ENCODER_OPTION, ENCODER_OPTION_BITRATE, ENCODER_OPTION_MAX_BITRATE, LAYER_NUM, SBitrateInfo,
    SPATIAL_LAYER_0, SPATIAL_LAYER_ALL,
};
use serde::{Deserialize, Serialize};

use crate::MediaError;
use crate::convert::I420Buffer;

/// Lowest bitrate the encoder accepts: below this openh264's rate control produces unusable pictures at any size
/// we stream. What a client may ask for is the narrower [`sightline_limits::BITRATE_KBPS`], checked by the engine.
pub const MIN_BITRATE_KBPS: u32 = 50;
/// Highest bitrate the encoder accepts: level 5.1's limit for baseline (240 Mbit/s) is far above anything useful;
/// 100 Mbit/s already exceeds what software encoding at 30 fps produces. Clients are held to
/// [`sightline_limits::BITRATE_KBPS`].
pub const MAX_BITRATE_KBPS: u32 = 100_000;
/// Highest accepted frame rate: the top of [`sightline_limits::CAPTURE_FPS`].
pub const MAX_FPS: u32 = *sightline_limits::CAPTURE_FPS.end();

/// Largest slice (NAL unit) in bytes. openh264 splits pictures into slices of at most this size, which it can
/// encode on several threads, and each slice then fits one RTP packet (payload ≤ 1200 − 12 − header extensions):
/// a lost packet costs one slice, not the picture. Measured at 1080p on the synthetic desktop, camera usage, 2
/// threads vs one slice on one thread: P frames 5.4–5.8 ms vs 6.8–8.0 ms, IDRs 15.7–16.3 ms vs 20.5–24.4 ms, IDRs
/// 3 % larger. Larger slices (2400–8000 bytes) measured the same speed.
pub const MAX_SLICE_BYTES: u32 = 1100;

/// Most encoder threads per pipeline (fewer on machines with fewer cores). openh264 uses them only when a picture
/// has several slices; idle threads wait without spinning.
pub const MAX_ENCODER_THREADS: usize = 4;

/// Encoder threads for this machine: its cores, at most [`MAX_ENCODER_THREADS`].
fn encoder_threads() -> u16 {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_ENCODER_THREADS) as u16
}

/// openh264's content mode. Camera mode encodes desktop content several times faster than screen mode at similar
/// quality (`cargo bench -p sightline-media --bench pipeline`; README.md has the figures), so it is the default; `[video] usage = "screen"` selects the other.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Usage {
    /// `CameraVideoRealTime`.
    #[default]
    Camera,
    /// `ScreenContentRealTime`.
    Screen,
}

impl Usage {
    /// The lower-case name used in config and pipeline keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Camera => "camera",
            Self::Screen => "screen",
        }
    }
}

/// How an [`H264Encoder`] is configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct H264Settings {
    /// Picture width in pixels (even).
    pub width: u32,
    /// Picture height in pixels (even).
    pub height: u32,
    /// Target frame rate: the rate controller's budget per frame is `bitrate / fps`.
    pub fps: u32,
    /// Target bitrate in kbit/s; a ceiling, static screens cost much less.
    pub bitrate_kbps: u32,
    /// Content mode.
    pub usage: Usage,
    /// Let openh264 skip pictures to hold `bitrate_kbps`. Off, the target is only a wish: hard content (full
    /// motion, noise) comes out at its QP-51 floor, far above it. On, a congested viewer gets fewer pictures
    /// instead of a queue that grows until packets drop.
    pub frame_skip: bool,
}

impl H264Settings {
    /// Checks the values a caller may get wrong.
    pub fn validate(&self) -> Result<(), MediaError> {
        if self.width < 16
            || self.height < 16
            || !self.width.is_multiple_of(2)
            || !self.height.is_multiple_of(2)
        {
            return Err(MediaError::invalid(
                "video size",
                format!(
                    "{}x{} (needs even dimensions, at least 16x16)",
                    self.width, self.height
                ),
            ));
        }
        if self.width.max(self.height) > 3840 || self.width.min(self.height) > 2160 {
            return Err(MediaError::invalid(
                "video size",
                format!(
                    "{}x{} exceeds openh264's 3840x2160",
                    self.width, self.height
                ),
            ));
        }
        if self.fps == 0 || self.fps > MAX_FPS {
            return Err(MediaError::invalid(
                "fps",
                format!("{} (1..={MAX_FPS})", self.fps),
            ));
        }
        if !(MIN_BITRATE_KBPS..=MAX_BITRATE_KBPS).contains(&self.bitrate_kbps) {
            return Err(MediaError::invalid(
                "bitrate_kbps",
                format!(
                    "{} ({MIN_BITRATE_KBPS}..={MAX_BITRATE_KBPS})",
                    self.bitrate_kbps
                ),
            ));
        }
        Ok(())
    }

    /// The H.264 level for this size: 3.1 up to 1280×720 (3600 macroblocks), 4.0 up to 1920×1088 (8192), 5.1
    /// beyond. Returned as `level_idc` (31, 40, 51), the byte that follows the profile in `profile-level-id`.
    pub fn level_idc(&self) -> u8 {
        let mbs = self.width.div_ceil(16) * self.height.div_ceil(16);
        match mbs {
            0..=3600 => 31,
            3601..=8192 => 40,
            _ => 51,
        }
    }

    fn level(&self) -> Level {
        match self.level_idc() {
            31 => Level::Level_3_1,
            40 => Level::Level_4_0,
            _ => Level::Level_5_1,
        }
    }
}

/// One encoded picture, shared (`Arc<AccessUnit>`) by every subscriber of a pipeline. This is what the WebRTC
/// peer writes as a sample.
#[derive(Clone)]
pub struct AccessUnit {
    /// Annex-B NAL units with start codes; never empty.
    pub data: Bytes,
    /// An IDR picture (preceded by SPS and PPS): a decoder can start here.
    pub keyframe: bool,
    /// Capture wall-clock time of the source frame.
    pub captured_at: SystemTime,
    /// Per-pipeline counter of emitted access units, starting at 1; a gap means the subscriber missed units.
    pub seq: u64,
    /// Picture width in pixels.
    pub width: u32,
    /// Picture height in pixels.
    pub height: u32,
    /// Time spent in the encoder for this picture, in milliseconds.
    pub encode_ms: f64,
}

impl std::fmt::Debug for AccessUnit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessUnit")
            .field("bytes", &self.data.len())
            .field("keyframe", &self.keyframe)
            .field("seq", &self.seq)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("encode_ms", &self.encode_ms)
            .finish_non_exhaustive()
    }
}

impl AccessUnit {
    /// The NAL unit types in this access unit, in order (1 = non-IDR slice, 5 = IDR slice, 7 = SPS, 8 = PPS).
    pub fn nal_types(&self) -> Vec<u8> {
        nal_units(&self.data).map(|nal| nal[0] & 0x1F).collect()
    }
}

/// Iterates over the NAL units (without start codes) of an Annex-B byte stream.
pub fn nal_units(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = data;
    std::iter::from_fn(move || {
        let start = find_start_code(rest)?;
        let body = &rest[start..];
        let end = find_start_code(body).map_or(body.len(), |next| {
            // `next` points after the next start code; step back over it (3 or 4 bytes).
            let mut e = next - 3;
            if e > 0 && body[e - 1] == 0 {
                e -= 1;
            }
            e
        });
        rest = &body[end..];
        (end > 0).then(|| &body[..end])
    })
}

/// Index just past the first `00 00 01` start code.
fn find_start_code(data: &[u8]) -> Option<usize> {
    data.windows(3).position(|w| w == [0, 0, 1]).map(|i| i + 3)
}

/// An openh264 encoder for one pipeline. Owned by one encode thread.
pub struct H264Encoder {
    settings: H264Settings,
    encoder: Encoder,
    /// The next encode must be an IDR (new encoder, size change): openh264 starts with one anyway, this keeps
    /// the `keyframe` flag and the gate's bookkeeping honest.
    force_next: bool,
    /// Access units emitted so far (the last `seq`).
    seq: u64,
    /// Wall-clock of the first frame: openh264 timestamps are milliseconds since then, kept monotonic.
    epoch: Option<SystemTime>,
    last_ts_ms: u64,
    /// Reused Annex-B assembly buffer.
    scratch: Vec<u8>,
}

impl std::fmt::Debug for H264Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H264Encoder")
            .field("settings", &self.settings)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl H264Encoder {
    /// Creates an encoder; fails on invalid settings or when openh264 refuses them.
    pub fn new(settings: H264Settings) -> Result<Self, MediaError> {
        settings.validate()?;
        Ok(Self {
            settings,
            encoder: create(&settings)?,
            force_next: true,
            seq: 0,
            epoch: None,
            last_ts_ms: 0,
            scratch: Vec::with_capacity(256 * 1024),
        })
    }

    /// The current settings.
    pub fn settings(&self) -> &H264Settings {
        &self.settings
    }

    /// Changes the target bitrate (kbit/s) of the running encoder: no IDR, no new encoder, the stream goes on and
    /// the rate controller aims at the new value from the next picture. Fails with [`MediaError::Invalid`] outside
    /// [`MIN_BITRATE_KBPS`]..=[`MAX_BITRATE_KBPS`], and with [`MediaError::Encoder`] when openh264 refuses the
    /// value; the old target then stays in force.
    pub fn set_target_bitrate(&mut self, kbps: u32) -> Result<(), MediaError> {
        H264Settings {
            bitrate_kbps: kbps,
            ..self.settings
        }
        .validate()?;
        let old = self.settings.bitrate_kbps;
        if kbps == old {
            return Ok(());
        }
        // openh264 refuses a target above the layer's maximum, which the crate set equal to the target: going up,
        // the maximum moves first; going down, the target does.
        let target = (ENCODER_OPTION_BITRATE, SPATIAL_LAYER_ALL, "target");
        let max = (ENCODER_OPTION_MAX_BITRATE, SPATIAL_LAYER_0, "maximum");
        let steps = if kbps > old {
            [max, target]
        } else {
            [target, max]
        };
        for (i, (option, layer, what)) in steps.into_iter().enumerate() {
            let status = self.set_bitrate_option(option, layer, kbps);
            if status != 0 {
                if i == 1 {
                    // Put the first step back: the old target and maximum are a pair openh264 accepted.
                    let (option, layer, _) = steps[0];
                    self.set_bitrate_option(option, layer, old);
                }
                return Err(MediaError::Encoder(format!(
                    "openh264 refused the {what} bitrate {kbps} kbit/s (status {status}); {old} kbit/s stays"
                )));
            }
        }
        self.settings.bitrate_kbps = kbps;
        Ok(())
    }

    /// Sets one of openh264's bitrate options; returns its status (0 = accepted).
    fn set_bitrate_option(&mut self, option: ENCODER_OPTION, layer: LAYER_NUM, kbps: u32) -> i32 {
        let mut info = SBitrateInfo {
            iLayer: layer,
            // At most MAX_BITRATE_KBPS * 1000 (validated by the caller): fits an i32.
            iBitrate: (kbps * 1000) as i32,
        };
        // SAFETY: the encoder is initialised (created in `new`). These two options read one `SBitrateInfo` through
        // the pointer during the call and keep nothing, and they change only the rate controller's targets. The
        // crate re-applies its configured bitrate only when the picture size changes, and `encode` re-creates the
        // encoder with the current target before a new size reaches it.
        unsafe {
            self.encoder
                .raw_api()
                .set_option(option, (&raw mut info).cast())
        }
    }

    fn reconfigure(&mut self, settings: H264Settings) -> Result<(), MediaError> {
        settings.validate()?;
        self.encoder = create(&settings)?;
        self.settings = settings;
        self.force_next = true;
        Ok(())
    }

    /// Encodes one picture. `force_idr` makes it an IDR with SPS and PPS. Returns `Ok(None)` when openh264
    /// produced nothing (a skipped frame): an empty access unit is never returned.
    ///
    /// A picture whose size differs from the settings re-creates the encoder at the new size (the screen was
    /// resized); that picture is an IDR.
    pub fn encode(
        &mut self,
        picture: &I420Buffer,
        force_idr: bool,
        captured_at: SystemTime,
    ) -> Result<Option<AccessUnit>, MediaError> {
        let (w, h) = (picture.width(), picture.height());
        if (w, h) != (self.settings.width, self.settings.height) {
            self.reconfigure(H264Settings {
                width: w,
                height: h,
                ..self.settings
            })?;
        }
        let force = force_idr || self.force_next;
        if force {
            self.encoder.force_intra_frame();
        }
        let ts = self.timestamp(captured_at);
        let (wu, hu) = (w as usize, h as usize);
        let src = YUVSlices::new(
            (picture.y(), picture.u(), picture.v()),
            (wu, hu),
            (wu, wu / 2, wu / 2),
        );

        let started = Instant::now();
        let bitstream = self
            .encoder
            .encode_at(&src, Timestamp::from_millis(ts))
            .map_err(|e| MediaError::Encoder(format!("openh264 encode: {e}")))?;
        let frame_type = bitstream.frame_type();
        self.scratch.clear();
        bitstream.write_vec(&mut self.scratch);
        let encode_ms = started.elapsed().as_secs_f64() * 1000.0;

        if matches!(frame_type, FrameType::Skip | FrameType::Invalid) || self.scratch.is_empty() {
            return Ok(None);
        }
        let keyframe = frame_type == FrameType::IDR;
        if keyframe {
            self.force_next = false;
        }
        self.seq += 1;
        Ok(Some(AccessUnit {
            data: Bytes::copy_from_slice(&self.scratch),
            keyframe,
            captured_at,
            seq: self.seq,
            width: w,
            height: h,
            encode_ms,
        }))
    }

    /// Milliseconds since the first frame, never going backwards (wall clocks can step).
    fn timestamp(&mut self, captured_at: SystemTime) -> u64 {
        let epoch = *self.epoch.get_or_insert(captured_at);
        let ms = captured_at
            .duration_since(epoch)
            .map_or(0, |d| d.as_millis() as u64);
        self.last_ts_ms = ms.max(self.last_ts_ms);
        self.last_ts_ms
    }
}

fn create(s: &H264Settings) -> Result<Encoder, MediaError> {
    let usage = match s.usage {
        Usage::Camera => UsageType::CameraVideoRealTime,
        Usage::Screen => UsageType::ScreenContentRealTime,
    };
    let config = EncoderConfig::new()
        .usage_type(usage)
        .bitrate(BitRate::from_bps(s.bitrate_kbps * 1000))
        .max_frame_rate(FrameRate::from_hz(s.fps as f32))
        .rate_control_mode(RateControlMode::Bitrate)
        .skip_frames(s.frame_skip)
        .profile(Profile::Baseline)
        .level(s.level())
        .complexity(Complexity::Low)
        .num_threads(encoder_threads())
        .max_slice_len(MAX_SLICE_BYTES)
        .intra_frame_period(IntraFramePeriod::from_num_frames(0))
        .sps_pps_strategy(SpsPpsStrategy::ConstantId)
        // Scene-change detection would insert unrequested I frames (IDRs are 50x a P frame: only on demand).
        // Background detection and adaptive quantisation cost ~1.3 ms per 1080p camera-mode P frame (7.9 → 6.5
        // ms, same sizes, measured on the synthetic desktop); screen mode turns the latter two off anyway.
        .scene_change_detect(false)
        .background_detection(false)
        .adaptive_quantization(false)
        .vui(VuiConfig::bt601());
    Encoder::with_api_config(OpenH264API::from_source(), config)
        .map_err(|e| MediaError::Encoder(format!("openh264 init: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(width: u32, height: u32) -> H264Settings {
        H264Settings {
            width,
            height,
            fps: 30,
            bitrate_kbps: 2000,
            usage: Usage::Camera,
            frame_skip: true,
        }
    }

    #[test]
    fn level_follows_size() {
        assert_eq!(settings(1280, 720).level_idc(), 31);
        assert_eq!(settings(640, 480).level_idc(), 31);
        assert_eq!(settings(1920, 1080).level_idc(), 40);
        assert_eq!(settings(1366, 768).level_idc(), 40);
        assert_eq!(settings(2560, 1440).level_idc(), 51);
    }

    #[test]
    fn invalid_settings_are_refused() {
        assert!(settings(15, 16).validate().is_err());
        assert!(settings(101, 100).validate().is_err());
        assert!(settings(4096, 2304).validate().is_err());
        assert!(
            H264Settings {
                fps: 0,
                ..settings(64, 64)
            }
            .validate()
            .is_err()
        );
        assert!(
            H264Settings {
                bitrate_kbps: 1,
                ..settings(64, 64)
            }
            .validate()
            .is_err()
        );
        assert!(settings(64, 64).validate().is_ok());
    }

    #[test]
    fn first_picture_is_idr_then_p_and_forced_idr_carries_parameter_sets() {
        let mut enc = H264Encoder::new(settings(320, 240)).unwrap();
        let pic = I420Buffer::black(320, 240);
        let now = SystemTime::now();
        let first = enc
            .encode(&pic, false, now)
            .unwrap()
            .expect("first picture");
        assert!(first.keyframe);
        assert_eq!(&first.nal_types()[..2], &[7, 8]);
        assert!(first.nal_types().contains(&5));
        let p = enc
            .encode(&pic, false, now)
            .unwrap()
            .expect("second picture");
        assert!(!p.keyframe);
        assert!(!p.nal_types().contains(&5));
        let idr = enc
            .encode(&pic, true, now)
            .unwrap()
            .expect("forced picture");
        assert!(idr.keyframe);
        assert_eq!(&idr.nal_types()[..2], &[7, 8]);
        assert_eq!((first.seq, p.seq, idr.seq), (1, 2, 3));
        // SPS: profile_idc 66 (baseline) with constraint_set0 and 1 (constrained baseline), level 3.1 (0x1f).
        let sps = nal_units(&idr.data).next().unwrap();
        assert_eq!(sps[1], 0x42);
        assert_eq!(sps[2] & 0xC0, 0xC0);
        assert_eq!(sps[3], 31);
    }

    #[test]
    fn slices_fit_one_rtp_packet() {
        // Noisy content: an IDR of it is large and must still come out in slices of at most MAX_SLICE_BYTES.
        let (w, h) = (640u32, 360u32);
        let mut seed = 0x2545_f491_u32;
        let bgra: Vec<u8> = (0..w * h * 4)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed as u8
            })
            .collect();
        let frame = crate::Frame {
            width: w,
            height: h,
            stride: w as usize * 4,
            data: bgra.into(),
            captured_at: SystemTime::now(),
            seq: 1,
        };
        let mut pic = I420Buffer::new();
        crate::convert::bgra_to_i420(&frame, None, &mut pic).unwrap();
        let mut enc = H264Encoder::new(H264Settings {
            bitrate_kbps: 20_000,
            ..settings(w, h)
        })
        .unwrap();
        let idr = enc
            .encode(&pic, true, SystemTime::now())
            .unwrap()
            .expect("an IDR");
        let slices: Vec<usize> = nal_units(&idr.data)
            .filter(|n| n[0] & 0x1F == 5)
            .map(<[u8]>::len)
            .collect();
        assert!(slices.len() > 4, "{} bytes in {slices:?}", idr.data.len());
        assert!(
            slices.iter().all(|&n| n <= MAX_SLICE_BYTES as usize),
            "{slices:?}"
        );
    }

    #[test]
    fn live_bitrate_change_keeps_the_stream_and_resize_restarts_with_an_idr() {
        let mut enc = H264Encoder::new(settings(320, 240)).unwrap();
        let now = SystemTime::now();
        let pic = I420Buffer::black(320, 240);
        assert!(enc.encode(&pic, false, now).unwrap().unwrap().keyframe);
        enc.encode(&pic, false, now).unwrap();
        // Down, up, and up past the encoder's initial maximum: each accepted, none restarts the stream.
        for kbps in [500, 1500, 8000] {
            enc.set_target_bitrate(kbps).unwrap();
            assert_eq!(enc.settings().bitrate_kbps, kbps);
            let au = enc.encode(&pic, false, now).unwrap().unwrap();
            assert!(!au.keyframe, "{kbps} kbit/s");
        }
        assert!(enc.set_target_bitrate(1).is_err());
        assert!(enc.set_target_bitrate(MAX_BITRATE_KBPS + 1).is_err());
        assert_eq!(
            enc.settings().bitrate_kbps,
            8000,
            "a refused value changes nothing"
        );
        let bigger = I420Buffer::black(640, 360);
        let au = enc.encode(&bigger, false, now).unwrap().unwrap();
        assert!(au.keyframe);
        assert_eq!((au.width, au.height), (640, 360));
        assert_eq!(
            enc.settings().bitrate_kbps,
            8000,
            "the new encoder keeps the target"
        );
    }

    #[test]
    fn nal_splitting_handles_both_start_code_lengths() {
        let data = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4, 5,
        ];
        let nals: Vec<&[u8]> = nal_units(&data).collect();
        assert_eq!(
            nals,
            vec![&[0x67, 1, 2][..], &[0x68, 3][..], &[0x65, 4, 5][..]]
        );
    }
}
