//! Configuration: one TOML file (`--config PATH`), every key optional with a documented default
//! (`sightline.example.toml` is the commented reference), common keys overridable on the command line.
//!
//! [`Config::validate`] checks everything at start-up and names the bad key and why, so a typo never surfaces as a
//! strange failure later.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sightline_limits as limits;
use sightline_media::engine::{EngineConfig, JpegProfile, VideoProfile};
use sightline_media::{CursorMode, SourceSelection};

mod clipboard;
pub use clipboard::{ClipboardConfig, MAX_CLIPBOARD_BYTES};
mod congestion;
pub use congestion::{
    CongestionConfig, MAX_TIERS, MIN_TIER_SCALE, Prefer, TierConfig, default_tiers,
};
mod error;
mod hub;
mod resources;
mod sfu;
mod tls;
mod turn;
mod webrtc;
pub use error::ConfigError;
use error::invalid;
pub use hub::{DevicesConfig, HubConfig, check_hub_url, parse_allowed};
pub use resources::LimitsConfig;
pub use sfu::{JanusInstanceConfig, SfuConfig, SfuPolicy, WhipTargetConfig, check_url};
use sightline_monitor::MonitorConfig as MonitorSettings;
pub use tls::{TlsConfig, TlsSource};
pub use turn::TurnConfig;
pub use webrtc::{WebrtcConfig, udp_addrs_for};

/// The whole configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[server]`.
    pub server: ServerConfig,
    /// `[auth]`.
    pub auth: AuthConfig,
    /// `[capture]`.
    pub capture: CaptureConfig,
    /// `[video]`.
    pub video: VideoConfig,
    /// `[preview]`.
    pub preview: PreviewConfig,
    /// `[webrtc]`.
    pub webrtc: WebrtcConfig,
    /// `[congestion]`.
    pub congestion: CongestionConfig,
    /// `[monitor]`.
    pub monitor: MonitorConfig,
    /// `[mcp]`.
    pub mcp: McpConfig,
    /// `[tls]`.
    pub tls: TlsConfig,
    /// `[turn]`.
    pub turn: TurnConfig,
    /// `[limits]`.
    pub limits: LimitsConfig,
    /// `[sfu]`.
    pub sfu: SfuConfig,
    /// `[clipboard]`.
    pub clipboard: ClipboardConfig,
    /// `[[whip]]`.
    pub whip: Vec<WhipTargetConfig>,
    /// `[hub]`: device mode, dialling out to a hub.
    pub hub: HubConfig,
    /// `[devices]`: the devices this hub accepts.
    pub devices: DevicesConfig,
    /// The file this configuration was read from (where the hub persists `[devices] allowed`).
    #[serde(skip)]
    pub path: Option<std::path::PathBuf>,
}

/// `[server]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port of the HTTP server (viewer page, `/ws`, WHEP, REST, MCP).
    pub listen: String,
    /// Most concurrent viewer sessions (`/ws`, WHEP, MJPEG); further ones get `503`.
    pub max_sessions: usize,
    /// Browser origins (`https://host:port`) allowed to open `/ws` besides the gateway's own: a browser's `Origin`
    /// must be same-origin (its host and port equal the `Host` header) or listed here, else `403`. Requests without
    /// `Origin` (non-browser clients) are allowed.
    pub allowed_origins: Vec<String>,
    /// Host names (with or without port) `/ws` answers to, against DNS rebinding; empty = any.
    pub allowed_hosts: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            max_sessions: 256,
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
        }
    }
}

/// `[auth]`: token lists per role.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Tokens that may watch.
    pub viewers: Vec<String>,
    /// Tokens that may watch and control.
    pub controllers: Vec<String>,
    /// Tokens that may do everything.
    pub admins: Vec<String>,
    /// Device tokens: they may only register a device with this hub and serve its screens, never watch or control.
    pub devices: Vec<String>,
}

/// `[capture]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CaptureConfig {
    /// `auto`, `x11`, `xcap` or `synthetic`.
    pub source: SourceSelection,
    /// X11 display; empty = `$DISPLAY`.
    pub display: String,
    /// Capture and encode rate, frames per second.
    pub fps: u32,
    /// Size of the synthetic screen, `WIDTHxHEIGHT`.
    pub synthetic_size: String,
    /// `overlay`: the cursor goes to viewers as an image and positions, drawn by the page (pointer motion costs
    /// no encoded frames); `video`: painted into the frames (WHIP and SFU-only recipients see it).
    pub cursor: CursorMode,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        Self {
            source: SourceSelection::Auto,
            display: String::new(),
            fps: 30,
            synthetic_size: "1280x720".into(),
            cursor: CursorMode::Overlay,
        }
    }
}

/// H.264 encoder usage profile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VideoUsage {
    /// openh264 `CameraVideoRealTime`: measured 3× faster here, with better PSNR on desktop content.
    #[default]
    Camera,
    /// openh264 `ScreenContentRealTime`.
    Screen,
}

/// `[video]`: the H.264 stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VideoConfig {
    /// Target (ceiling) bitrate in kbit/s.
    pub bitrate_kbps: u32,
    /// Largest encoded width; wider screens are downscaled. 0 = never downscale.
    pub max_width: u32,
    /// `camera` or `screen`.
    pub usage: VideoUsage,
}

impl Default for VideoConfig {
    fn default() -> Self {
        Self {
            bitrate_kbps: 4000,
            max_width: 1920,
            usage: VideoUsage::Camera,
        }
    }
}

/// `[preview]`: the JPEG fallback stream defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PreviewConfig {
    /// Frames per second.
    pub fps: u32,
    /// JPEG quality 1–100.
    pub quality: u8,
    /// Largest width.
    pub max_width: u32,
}

impl Default for PreviewConfig {
    fn default() -> Self {
        Self {
            fps: 10,
            quality: 50,
            max_width: 960,
        }
    }
}

/// One ICE server (the peer's own type: one list serves the peer, `welcome` and WHEP).
pub use crate::peer::IceServer;

/// `[monitor]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitorConfig {
    /// Directory for JSON logs of closed connections and failed or slow operations; empty = none.
    pub log_dir: String,
    /// Most bytes kept in `log_dir` (oldest files removed first).
    pub log_max_mb: u64,
    /// Oldest log file kept, in days.
    pub log_max_age_days: u64,
    /// How long an owner's tasks may outlive it before they are reported as leaked, in ms.
    pub leak_grace_ms: u64,
    /// Operations slower than this are logged to `log_dir`, in ms.
    pub slow_operation_ms: u64,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            log_dir: String::new(),
            log_max_mb: 64,
            log_max_age_days: 7,
            leak_grace_ms: 5000,
            slow_operation_ms: 1000,
        }
    }
}

/// `[mcp]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct McpConfig {
    /// Browser origins allowed to call `/mcp` (requests without `Origin` are always allowed).
    pub allowed_origins: Vec<String>,
    /// Host names (with or without port) `/mcp` answers to, against DNS rebinding.
    pub allowed_hosts: Vec<String>,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
}

impl Default for McpConfig {
    fn default() -> Self {
        Self {
            allowed_origins: Vec::new(),
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            max_body_bytes: 1024 * 1024,
        }
    }
}

/// Command-line values that override the file.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--source`.
    pub source: Option<SourceSelection>,
    /// `--display`.
    pub display: Option<String>,
    /// `--fps`.
    pub fps: Option<u32>,
    /// `--bitrate-kbps`.
    pub bitrate_kbps: Option<u32>,
    /// `--log-dir`.
    pub log_dir: Option<String>,
}

impl Config {
    /// Reads and validates a file, then applies overrides. `None` = all defaults.
    pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                Self::parse(&text).map_err(|message| ConfigError::Parse {
                    path: path.to_owned(),
                    message,
                })?
            }
            None => Self::default(),
        };
        config.path = path.map(std::path::Path::to_owned);
        config.apply(overrides);
        config.validate()?;
        config.turn.load_secret_file()?;
        Ok(config)
    }

    /// Parses TOML text (no validation). The error names the key and line.
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim().replace('\n', " "))
    }

    /// Applies command-line overrides.
    pub fn apply(&mut self, o: &Overrides) {
        if let Some(v) = &o.listen {
            self.server.listen.clone_from(v);
        }
        if let Some(v) = o.source {
            self.capture.source = v;
        }
        if let Some(v) = &o.display {
            self.capture.display.clone_from(v);
        }
        if let Some(v) = o.fps {
            self.capture.fps = v;
        }
        if let Some(v) = o.bitrate_kbps {
            self.video.bitrate_kbps = v;
        }
        if let Some(v) = &o.log_dir {
            self.monitor.log_dir.clone_from(v);
        }
    }

    /// Checks every value; the error names the first bad key and why.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        if self.server.max_sessions == 0 {
            return Err(invalid("server.max_sessions", "must be at least 1"));
        }
        for (key, list) in [
            ("auth.viewers", &self.auth.viewers),
            ("auth.controllers", &self.auth.controllers),
            ("auth.admins", &self.auth.admins),
            ("auth.devices", &self.auth.devices),
        ] {
            for t in list {
                if t.len() < 8 {
                    return Err(invalid(key, "tokens must be at least 8 characters"));
                }
                if t.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(invalid(
                        key,
                        "tokens must not contain spaces or control characters",
                    ));
                }
            }
        }
        let all: Vec<&String> = self
            .auth
            .viewers
            .iter()
            .chain(&self.auth.controllers)
            .chain(&self.auth.admins)
            .chain(&self.auth.devices)
            .collect();
        for (i, t) in all.iter().enumerate() {
            if all[..i].contains(t) {
                return Err(invalid(
                    "auth",
                    "the same token appears twice (roles would be ambiguous)",
                ));
            }
        }
        let range = |r: &std::ops::RangeInclusive<u32>| {
            format!("must be from {} to {}", r.start(), r.end())
        };
        if !limits::CAPTURE_FPS.contains(&self.capture.fps) {
            return Err(invalid("capture.fps", range(&limits::CAPTURE_FPS)));
        }
        self.synthetic_size()?;
        if !limits::BITRATE_KBPS.contains(&self.video.bitrate_kbps) {
            return Err(invalid("video.bitrate_kbps", range(&limits::BITRATE_KBPS)));
        }
        if self.video.max_width != 0 && !limits::MAX_WIDTH.contains(&self.video.max_width) {
            return Err(invalid(
                "video.max_width",
                format!(
                    "must be 0 (no limit) or from {} to {}",
                    limits::MAX_WIDTH.start(),
                    limits::MAX_WIDTH.end()
                ),
            ));
        }
        if !limits::JPEG_FPS.contains(&self.preview.fps) {
            return Err(invalid("preview.fps", range(&limits::JPEG_FPS)));
        }
        if !limits::JPEG_QUALITY.contains(&u32::from(self.preview.quality)) {
            return Err(invalid("preview.quality", range(&limits::JPEG_QUALITY)));
        }
        if !limits::MAX_WIDTH.contains(&self.preview.max_width) {
            return Err(invalid("preview.max_width", range(&limits::MAX_WIDTH)));
        }
        self.webrtc.validate()?;
        self.congestion.validate()?;
        self.tls.validate()?;
        self.turn.validate()?;
        self.limits.validate()?;
        self.sfu.validate()?;
        self.clipboard.validate()?;
        sfu::validate_whip(&self.whip)?;
        self.hub.validate()?;
        self.devices.validate()?;
        // Upper bounds keep the byte and second counts derived from them (`monitor_settings`) from overflowing.
        if !(1..=1_048_576).contains(&self.monitor.log_max_mb) {
            return Err(invalid(
                "monitor.log_max_mb",
                "must be from 1 to 1048576 (1 TiB)",
            ));
        }
        if !(1..=36_500).contains(&self.monitor.log_max_age_days) {
            return Err(invalid(
                "monitor.log_max_age_days",
                "must be from 1 to 36500",
            ));
        }
        if !(100..=600_000).contains(&self.monitor.leak_grace_ms) {
            return Err(invalid(
                "monitor.leak_grace_ms",
                "must be from 100 to 600000",
            ));
        }
        for o in &self.server.allowed_origins {
            if crate::origin::AllowedOrigin::parse(o).is_none() {
                return Err(invalid(
                    "server.allowed_origins",
                    format!("{o:?} must look like \"https://host[:port]\" (scheme, host, no path)"),
                ));
            }
        }
        if let Some(h) = self
            .server
            .allowed_hosts
            .iter()
            .find(|h| h.trim().is_empty())
        {
            return Err(invalid(
                "server.allowed_hosts",
                format!("{h:?} is not a host name"),
            ));
        }
        for o in &self.mcp.allowed_origins {
            if !(o.starts_with("http://") || o.starts_with("https://")) || o.ends_with('/') {
                return Err(invalid(
                    "mcp.allowed_origins",
                    format!("{o:?} must look like \"https://host[:port]\" (scheme, host, no path)"),
                ));
            }
        }
        if self.mcp.allowed_hosts.is_empty() {
            return Err(invalid("mcp.allowed_hosts", "needs at least one host name"));
        }
        if !(1024..=64 * 1024 * 1024).contains(&self.mcp.max_body_bytes) {
            return Err(invalid(
                "mcp.max_body_bytes",
                "must be from 1024 to 67108864",
            ));
        }
        Ok(())
    }

    /// `server.listen` as a socket address.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server.listen.parse().map_err(|_| {
            invalid(
                "server.listen",
                format!("{:?} is not an IP:port address", self.server.listen),
            )
        })
    }

    /// `capture.synthetic_size` as (width, height).
    pub fn synthetic_size(&self) -> Result<(u32, u32), ConfigError> {
        let bad = || {
            invalid(
                "capture.synthetic_size",
                format!(
                    "{:?} must be WIDTHxHEIGHT with even sides from 64x64 to 7680x4320",
                    self.capture.synthetic_size
                ),
            )
        };
        let (w, h) = self
            .capture
            .synthetic_size
            .split_once('x')
            .ok_or_else(bad)?;
        let (w, h): (u32, u32) = (
            w.trim().parse().map_err(|_| bad())?,
            h.trim().parse().map_err(|_| bad())?,
        );
        if !(64..=7680).contains(&w) || !(64..=4320).contains(&h) || w % 2 != 0 || h % 2 != 0 {
            return Err(bad());
        }
        Ok((w, h))
    }

    /// The X11 display to use: the configured one, else `None` (= `$DISPLAY`).
    pub fn display(&self) -> Option<String> {
        (!self.capture.display.is_empty()).then(|| self.capture.display.clone())
    }

    /// `monitor.log_dir` as a path, when set.
    pub fn log_dir(&self) -> Option<PathBuf> {
        (!self.monitor.log_dir.is_empty()).then(|| PathBuf::from(&self.monitor.log_dir))
    }

    /// `monitor.leak_grace_ms` as a duration.
    pub fn leak_grace(&self) -> Duration {
        Duration::from_millis(self.monitor.leak_grace_ms)
    }

    /// Whether any token is configured.
    pub fn has_tokens(&self) -> bool {
        !(self.auth.viewers.is_empty()
            && self.auth.controllers.is_empty()
            && self.auth.admins.is_empty())
    }
}

/// The settings each part of the gateway is started with, derived from the one validated configuration.
impl Config {
    /// The monitor's settings.
    pub fn monitor_settings(&self) -> MonitorSettings {
        MonitorSettings {
            log_dir: self.log_dir(),
            leak_grace: self.leak_grace(),
            slow_operation: Duration::from_millis(self.monitor.slow_operation_ms),
            log_max_bytes: self.monitor.log_max_mb * 1024 * 1024,
            log_max_age: Duration::from_secs(self.monitor.log_max_age_days * 24 * 3600),
            ..MonitorSettings::default()
        }
    }

    /// The media engine's settings.
    pub fn engine_settings(&self) -> EngineConfig {
        EngineConfig {
            fps: self.capture.fps,
            video: self.video_profile(None),
            preview: self.preview_profile(),
            // With congestion control the encoders must hold their targets (openh264 ignores them otherwise).
            frame_skip: self.congestion.enabled,
        }
    }

    /// The H.264 profile of a viewer asking for at most `max_width` (the configured `video.max_width` caps it).
    pub fn video_profile(&self, max_width: Option<u32>) -> VideoProfile {
        let configured = (self.video.max_width != 0).then_some(self.video.max_width);
        VideoProfile {
            bitrate_kbps: self.video.bitrate_kbps,
            max_width: match (max_width, configured) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            usage: match self.video.usage {
                VideoUsage::Camera => sightline_media::h264::Usage::Camera,
                VideoUsage::Screen => sightline_media::h264::Usage::Screen,
            },
        }
    }

    /// The JPEG profile of `[preview]`, the default of JPEG viewers and MJPEG streams.
    pub fn preview_profile(&self) -> JpegProfile {
        JpegProfile {
            quality: self.preview.quality,
            max_width: Some(self.preview.max_width),
            fps: self.preview.fps,
        }
    }

    /// The UDP addresses ICE binds: `[webrtc] udp_addrs` when set, else [`udp_addrs_for`] `[server] listen`.
    pub fn ice_udp_addrs(&self) -> Vec<String> {
        // `validate` checked the listen address; the fallback only serves unvalidated configs built in code.
        let listen = self
            .listen_addr()
            .map_or(std::net::Ipv4Addr::LOCALHOST.into(), |a| a.ip());
        self.webrtc.bind_addrs(listen)
    }

    /// The ICE servers a browser gets for session `session` at wall-clock time `now` (`welcome`, WHEP `Link`):
    /// `[webrtc] ice_servers` and `client_ice_servers`, then the `[turn]` relay with a credential for this session
    /// valid for `[turn] ttl_s`. Never the TURN secret.
    pub fn client_ice_servers(&self, session: &str, now: std::time::SystemTime) -> Vec<IceServer> {
        self.webrtc
            .client_servers(self.turn.issuer().as_ref(), session, now)
    }

    /// The WebRTC peer settings: the server-side ICE servers, bind addresses that follow `[server] listen` unless
    /// `[webrtc] udp_addrs` is set, and `[turn]` when `server_side`.
    pub fn peer_settings(&self) -> crate::peer::PeerConfig {
        let ladder = self.ladder();
        crate::peer::PeerConfig {
            ice_servers: self.webrtc.server_servers(),
            udp_addrs: self.ice_udp_addrs(),
            turn: self.turn.issuer().filter(|_| self.turn.server_side),
            congestion: crate::peer::CongestionSettings {
                enabled: self.congestion.enabled,
                start_kbps: self.congestion.start_kbps,
                prefer_motion: self.congestion.prefer == Prefer::Motion,
                max_kbps: ladder
                    .first()
                    .map_or(self.video.bitrate_kbps, |t| t.bitrate_kbps),
            },
            ..crate::peer::PeerConfig::default()
        }
    }

    /// The configured ladder, or the default one.
    pub fn ladder(&self) -> Vec<TierConfig> {
        if self.congestion.tiers.is_empty() {
            default_tiers(self.video.bitrate_kbps)
        } else {
            self.congestion.tiers.clone()
        }
    }

    /// The quality tiers of `screen` for a viewer asking for at most `max_width`: the top tier is exactly the
    /// profile [`Config::video_profile`] gives (the encoder every other H.264 consumer shares), the others scale
    /// its width. Tiers that come out with the same width and bitrate as a better one are dropped.
    pub fn tiers(
        &self,
        screen: &sightline_media::ScreenInfo,
        max_width: Option<u32>,
    ) -> Vec<crate::peer::Tier> {
        let top = self.video_profile(max_width);
        let top_width = top
            .max_width
            .unwrap_or(screen.width)
            .min(screen.width)
            .max(1);
        let mut tiers: Vec<crate::peer::Tier> = Vec::new();
        for (i, t) in self.ladder().iter().enumerate() {
            let profile = if i == 0 {
                VideoProfile {
                    bitrate_kbps: t.bitrate_kbps,
                    ..top
                }
            } else {
                let width = ((f64::from(top_width) * t.scale) as u32 / 2 * 2)
                    .max(sightline_media::engine::MIN_MAX_WIDTH);
                VideoProfile {
                    bitrate_kbps: t.bitrate_kbps,
                    max_width: Some(width),
                    ..top
                }
            };
            if tiers.iter().all(|have| have.profile != profile) {
                tiers.push(crate::peer::Tier::new(tiers.len(), profile, screen.width));
            }
        }
        tiers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of(text: &str) -> String {
        let c = Config::parse(text).expect("parses");
        match c.validate() {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("{text}: expected an invalid key, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
        assert_eq!(
            Config::default().listen_addr().unwrap().to_string(),
            "127.0.0.1:8080"
        );
        assert_eq!(Config::default().synthetic_size().unwrap(), (1280, 720));
    }

    #[test]
    fn the_example_file_is_complete_and_valid() {
        let text = include_str!("../sightline.example.toml");
        let c = Config::parse(text).expect("example parses");
        c.validate().expect("example validates");
        // Every key the example sets is the default (examples are commented out), so the example is also the
        // reference of defaults, and a copy of it never ships a guessable token.
        assert_eq!(c, Config::default());
    }

    #[test]
    fn huge_log_limits_are_refused_not_overflowed() {
        // Found by fuzz/config_toml: 2^44 MB overflowed `log_max_mb * 1024 * 1024` in `monitor_settings`.
        assert_eq!(
            key_of("[monitor]\nlog_max_mb = 17592186044416"),
            "monitor.log_max_mb"
        );
        assert_eq!(
            key_of("[monitor]\nlog_max_age_days = 213503982334602"),
            "monitor.log_max_age_days"
        );
    }

    #[test]
    fn validation_names_the_bad_key() {
        assert_eq!(key_of("[server]\nlisten = \"nope\""), "server.listen");
        assert_eq!(key_of("[capture]\nfps = 0"), "capture.fps");
        assert_eq!(
            key_of("[capture]\nsynthetic_size = \"12x\""),
            "capture.synthetic_size"
        );
        assert_eq!(
            key_of("[capture]\nsynthetic_size = \"641x480\""),
            "capture.synthetic_size"
        );
        assert_eq!(key_of("[video]\nbitrate_kbps = 5"), "video.bitrate_kbps");
        assert_eq!(key_of("[video]\nmax_width = 3"), "video.max_width");
        assert_eq!(key_of("[preview]\nquality = 0"), "preview.quality");
        assert_eq!(key_of("[preview]\nfps = 61"), "preview.fps");
        assert_eq!(key_of("[auth]\nviewers = [\"short\"]"), "auth.viewers");
        assert_eq!(
            key_of("[auth]\nviewers = [\"abcdefgh\"]\nadmins = [\"abcdefgh\"]"),
            "auth"
        );
        assert_eq!(
            key_of("[[webrtc.ice_servers]]\nurls = [\"http://x\"]"),
            "webrtc.ice_servers[0].urls"
        );
        assert_eq!(
            key_of("[[webrtc.ice_servers]]\nurls = [\"turn:x:3478\"]"),
            "webrtc.ice_servers[0]"
        );
        assert_eq!(
            key_of("[webrtc]\nudp_addrs = [\"localhost\"]"),
            "webrtc.udp_addrs"
        );
        assert_eq!(
            key_of("[server]\nallowed_origins = [\"example.com/x\"]"),
            "server.allowed_origins"
        );
        assert_eq!(
            key_of("[mcp]\nallowed_origins = [\"example.com\"]"),
            "mcp.allowed_origins"
        );
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_refused_with_their_name() {
        let e = Config::parse("[video]\nbitrate = 5").unwrap_err();
        assert!(e.contains("bitrate"), "{e}");
        let e = Config::parse("[capture]\nsource = \"wayland\"").unwrap_err();
        assert!(e.contains("wayland") || e.contains("source"), "{e}");
        let e = Config::parse("[capture]\nfps = \"fast\"").unwrap_err();
        assert!(e.contains("fps") || e.contains("integer"), "{e}");
    }

    #[test]
    fn overrides_win() {
        let mut c = Config::default();
        c.apply(&Overrides {
            listen: Some("127.0.0.1:9".into()),
            source: Some(SourceSelection::Synthetic),
            fps: Some(15),
            ..Default::default()
        });
        assert_eq!(c.server.listen, "127.0.0.1:9");
        assert_eq!(c.capture.source, SourceSelection::Synthetic);
        assert_eq!(c.capture.fps, 15);
    }

    #[test]
    fn peers_bind_where_http_listens_and_turn_goes_where_configured() {
        let mut c = Config::default();
        assert_eq!(c.peer_settings().udp_addrs, ["127.0.0.1:0"]);
        c.server.listen = "0.0.0.0:8080".into();
        assert_eq!(c.peer_settings().udp_addrs, ["127.0.0.1:0", "0.0.0.0:0"]);
        c.webrtc.udp_addrs = vec!["10.0.0.1:0".into()];
        assert_eq!(c.peer_settings().udp_addrs, ["10.0.0.1:0"]);

        let mut c = Config::parse(
            "[turn]\nurls = [\"turn:relay:3478\"]\nsecret = \"0123456789abcdef0123\"\n",
        )
        .unwrap();
        c.validate().unwrap();
        let now = std::time::SystemTime::now();
        let client = c.client_ice_servers("s1", now);
        assert_eq!(client, [c.turn.issuer().unwrap().ice_server("s1", now)]);
        assert!(c.peer_settings().turn.is_none(), "server_side is off");
        c.turn.server_side = true;
        assert_eq!(c.peer_settings().turn, c.turn.issuer());
    }
}
