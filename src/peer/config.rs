//! Configuration of a peer (ICE servers, bind addresses) and the tuning constants every peer shares.
//!
//! The constants are the numbers the behaviour depends on; each says where it came from. The configuration is
//! validated once ([`PeerConfig::validate`]) so a typo in `sightline.toml` fails at startup, not at the first
//! viewer.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::PeerError;
use crate::turn::{GATEWAY_USER, TurnIssuer};

/// One STUN or TURN server, in the shape browsers use (`RTCIceServer`). The configuration's `[webrtc]` server lists
/// are this type, and so are the entries `welcome` and WHEP's `Link` headers hand out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IceServer {
    /// `stun:host:port`, `turn:host:port?transport=udp|tcp` or `turns:host:port`.
    pub urls: Vec<String>,
    /// TURN user name (required for `turn:`/`turns:` URLs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// TURN password (required for `turn:`/`turns:` URLs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

impl From<&IceServer> for sightline_signaling::IceServerInfo {
    fn from(s: &IceServer) -> Self {
        Self {
            urls: s.urls.clone(),
            username: s.username.clone(),
            credential: s.credential.clone(),
        }
    }
}

/// What a peer needs from the gateway's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerConfig {
    /// STUN/TURN servers with static credentials; empty on a LAN or loopback, where host candidates suffice.
    #[serde(default)]
    pub ice_servers: Vec<IceServer>,
    /// A TURN relay with ephemeral credentials (`[turn]` with `server_side`): each peer gets a fresh credential
    /// when it is built. Never serialized (it holds the shared secret).
    #[serde(skip)]
    pub turn: Option<TurnIssuer>,
    /// Local UDP addresses ICE binds to, one socket each (`ip:port`, port 0 = ephemeral). A wildcard
    /// (`0.0.0.0:0`) is expanded by webrtc-rs to every interface address *except* loopback and link-local, so
    /// same-host viewers also need `127.0.0.1:0` listed explicitly. The gateway derives them from its listen
    /// address unless configured (`Config::ice_udp_addrs`).
    pub udp_addrs: Vec<String>,
    /// Rate outgoing RTP is paced at, bit/s; `0` disables pacing (packets leave as fast as they are written).
    /// See [`PACING_RATE_BPS`] for the default and why.
    #[serde(default = "default_pacing_bps")]
    pub pacing_bps: u64,
    /// Congestion control (TWCC + GCC); when enabled the pacer follows the estimate and `pacing_bps` is unused.
    #[serde(default)]
    pub congestion: CongestionSettings,
}

/// Congestion control settings of a peer (the gateway's `[congestion]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CongestionSettings {
    /// Negotiate transport-wide CC and follow GCC's estimate. Off: a fixed-rate pacer, no estimate, and the
    /// viewer stays on the top tier unless its manual cap moves it.
    pub enabled: bool,
    /// The estimate before the first feedback, kbit/s.
    pub start_kbps: u32,
    /// Move a viewer to a smaller tier when its encoder cannot hold full motion at its bitrate (keep the frame
    /// rate) instead of letting the encoder skip pictures (keep the resolution).
    pub prefer_motion: bool,
    /// The top tier's bitrate, kbit/s: the estimate is bounded a little above it.
    pub max_kbps: u32,
}

impl Default for CongestionSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            start_kbps: DEFAULT_START_KBPS,
            prefer_motion: true,
            max_kbps: 4000,
        }
    }
}

/// Default first estimate, kbit/s: the default top tier's bitrate. Measured with webrtc-rs's GCC
/// (in the loopback and `tbf` runs behind docs/CONGESTION.md): a low start (300 kbit/s, GCC's own default) squeezes a healthy path for tens of
/// seconds; a start above the path collapses to ~0.3 of it within ~3 s, after which probing climbs back. A
/// viewer on a good path should see the top tier at once; one on a weak path pays a second or two of overshoot.
pub const DEFAULT_START_KBPS: u32 = 4000;

fn default_pacing_bps() -> u64 {
    PACING_RATE_BPS as u64
}

impl Default for PeerConfig {
    fn default() -> Self {
        Self {
            ice_servers: Vec::new(),
            turn: None,
            udp_addrs: vec!["127.0.0.1:0".to_owned()],
            pacing_bps: default_pacing_bps(),
            congestion: CongestionSettings::default(),
        }
    }
}

impl PeerConfig {
    /// Checks what webrtc-rs would otherwise reject late (at the first viewer) or silently ignore.
    pub fn validate(&self) -> Result<(), PeerError> {
        if self.udp_addrs.is_empty() {
            return Err(PeerError::InvalidConfig(
                "udp_addrs is empty: ICE needs at least one local address".to_owned(),
            ));
        }
        for addr in &self.udp_addrs {
            // Plain socket addresses only: a host name here would be resolved per viewer, at connect time.
            addr.parse::<SocketAddr>().map_err(|_| {
                PeerError::InvalidConfig(format!(
                    "udp_addrs entry {addr:?} is not an ip:port socket address"
                ))
            })?;
        }
        if self.pacing_bps != 0 && self.pacing_bps < MIN_PACING_BPS {
            return Err(PeerError::InvalidConfig(format!(
                "pacing_bps {} is below {MIN_PACING_BPS} (0 disables pacing)",
                self.pacing_bps
            )));
        }
        if let Some(turn) = &self.turn {
            if turn.urls().is_empty() {
                return Err(PeerError::InvalidConfig(
                    "the TURN relay has no urls".to_owned(),
                ));
            }
            for url in turn.urls() {
                if !(url.starts_with("turn:") || url.starts_with("turns:")) {
                    return Err(PeerError::InvalidConfig(format!(
                        "TURN relay URL {url:?} must start with turn: or turns:"
                    )));
                }
            }
        }
        for server in &self.ice_servers {
            if server.urls.is_empty() {
                return Err(PeerError::InvalidConfig(
                    "an ice_servers entry has no urls".to_owned(),
                ));
            }
            for url in &server.urls {
                let scheme = url.split(':').next().unwrap_or_default();
                match scheme {
                    "stun" | "stuns" => {}
                    "turn" | "turns" => {
                        if server.username.as_deref().unwrap_or_default().is_empty()
                            || server.credential.as_deref().unwrap_or_default().is_empty()
                        {
                            return Err(PeerError::InvalidConfig(format!(
                                "TURN server {url:?} needs a username and a credential"
                            )));
                        }
                    }
                    _ => {
                        return Err(PeerError::InvalidConfig(format!(
                            "ICE server URL {url:?} must start with stun:, stuns:, turn: or turns:"
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// The servers in webrtc-rs's shape, for a peer built at wall-clock time `now`: the static ones, then the TURN
    /// relay with a credential valid from `now` for the relay's lifetime.
    pub(crate) fn rtc_ice_servers(
        &self,
        now: std::time::SystemTime,
    ) -> Vec<webrtc::peer_connection::RTCIceServer> {
        self.ice_servers
            .iter()
            .cloned()
            .chain(self.turn.iter().map(|t| t.ice_server(GATEWAY_USER, now)))
            .map(|s| webrtc::peer_connection::RTCIceServer {
                urls: s.urls,
                username: s.username.unwrap_or_default(),
                credential: s.credential.unwrap_or_default(),
            })
            .collect()
    }
}

/// The H.264 format every peer sends: constrained baseline, single NAL / FU-A / STAP-A packetization. Level 3.1
/// is what browsers offer; `level-asymmetry-allowed=1` lets us send a higher level (1080p is level 4.0) to a
/// receiver that declared 3.1, which every browser and FFmpeg accept.
pub const H264_FMTP: &str =
    "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f";
/// Same stream described as plain baseline, for receivers that only list `42001f` (a constrained baseline
/// stream is a valid baseline stream).
pub const H264_FMTP_BASELINE: &str =
    "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f";
/// Payload types we offer (any dynamic numbers work; these match webrtc-rs's defaults for the same formats).
pub const H264_PAYLOAD_TYPE: u8 = 125;
pub const H264_RTX_PAYLOAD_TYPE: u8 = 105;
pub const H264_BASELINE_PAYLOAD_TYPE: u8 = 102;
pub const H264_BASELINE_RTX_PAYLOAD_TYPE: u8 = 103;

/// Largest RTP packet we build (header + payload), before SRTP. webrtc-rs's own sample track uses the same
/// value: it leaves room for header extensions, the SRTP tag and tunnel overheads under a 1500-byte path MTU.
pub const RTP_MTU: usize = 1200;
/// Size of the fixed RTP header our packets carry (no CSRCs).
pub const RTP_HEADER_LEN: usize = 12;

/// Time between ICE connectivity checks. webrtc-rs defaults to 200 ms and processes triggered checks only on
/// that tick. Measured between two webrtc-rs peers on loopback, with the default on the *controlled* side (the
/// answerer, also the DTLS client) connect times were bimodal, ~5 ms or ~205 ms: ICE was connected on our side
/// at once and DTLS waited for the other side's first tick (the 200 ms check timer). With 20 ms on
/// both sides: 24–51 ms, every time. We are the controlled side in the WHEP (answer) flow. Browsers and aiortc check on their own
/// schedule: against them ICE connects within ~1 ms of the answer either way and DTLS dominates. 20 ms is the
/// RFC 8445 pacing interval Ta; it costs a few extra STUN packets during setup only (consent checks use
/// [`ICE_KEEPALIVE_INTERVAL`]).
pub const ICE_CHECK_INTERVAL: Duration = Duration::from_millis(20);
/// Binding requests per candidate pair before it is given up. 7 × 200 ms was webrtc-rs's 1.4 s budget; with
/// the faster interval we keep a similar budget (70 × 20 ms) so a slow peer is not abandoned sooner.
pub const ICE_MAX_BINDING_REQUESTS: u16 = 70;
/// How long the controlling agent waits, after ICE starts, before it may nominate a pair whose remote candidate
/// is of each type (host, server-reflexive, peer-reflexive, relay), in the hope that a better pair shows up.
/// webrtc-rs defaults to 0 / 500 ms / 1000 ms / 2000 ms. A peer-reflexive remote candidate is usually just the
/// browser's host candidate whose connectivity check overtook its trickled `candidate` message: with the 1 s
/// default, about one viewer in thirty (measured with Chromium on loopback) waited ~1.6 s to connect instead of
/// ~110 ms. It is as good as a host pair, so it waits no longer; server-reflexive and relay pairs still wait a
/// little so a direct path found moments later is preferred.
pub const ICE_ACCEPTANCE_MIN_WAIT: [Duration; 4] = [
    Duration::ZERO,
    Duration::from_millis(100),
    Duration::ZERO,
    Duration::from_millis(500),
];
/// No traffic for this long → ICE `disconnected` (webrtc-rs default, same as browsers).
pub const ICE_DISCONNECTED_TIMEOUT: Duration = Duration::from_secs(5);
/// Disconnected for this long → ICE `failed`, and the peer is torn down. webrtc-rs defaults to 25 s; a viewer
/// that vanished should release its encoder subscription sooner, and a real network blip recovers well within.
pub const ICE_FAILED_TIMEOUT: Duration = Duration::from_secs(10);
/// Consent/keep-alive interval while connected (webrtc-rs default).
pub const ICE_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(2);
/// How long the answer flow (WHEP) waits for candidate gathering before answering with what it has. Host
/// candidates take ~1 ms; only STUN/TURN servers can make this matter.
pub const GATHER_TIMEOUT: Duration = Duration::from_secs(3);

/// Events queued for the session manager ([`super::PeerEvent`]). Overflow policy: lifecycle events and control
/// messages are awaited (the data channel then backs up into SCTP flow control, so nothing is lost and the
/// client is slowed down); `KeyframeRequested` is informational and dropped when full (counted).
pub const PEER_EVENT_CAPACITY: usize = 64;
/// webrtc-rs callbacks → this peer's driver task. Overflow policy: awaited; the driver drains it continuously,
/// so a full queue only briefly delays webrtc-rs's own driver.
pub const HANDLER_EVENT_CAPACITY: usize = 64;
/// Bytes the control data channel may have queued but unsent before `send_control` waits for the client.
pub const DATA_CHANNEL_SEND_BUFFER_LIMIT: usize = 1 << 20;

/// Longest SDP accepted from a client (a browser offer with data channel is ~3–6 KB).
pub const MAX_SDP_LEN: usize = 64 * 1024;
/// Longest ICE candidate line accepted from a client (real ones are ~100–200 bytes).
pub const MAX_CANDIDATE_LEN: usize = 1024;

/// Interval of the stats task (`get_stats` → monitor counters).
pub const STATS_INTERVAL: Duration = Duration::from_secs(1);
/// How long `close()` waits for this peer's tasks to finish before aborting them.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Default pacing rate of outgoing RTP (rtc-interceptor's `PacerInterceptor`: a leaky bucket released by the
/// driver's timer; RTCP and data channels are not paced). A 1080p IDR is ~150 KB, ~130 packets; sent back to
/// back they can overflow a receiver's 208 KB default UDP buffer (Linux `net.core.rmem_default`) or a slow link's queue.
/// Measured on loopback as aiortc sees it (`pacing_keyframe_bursts_figures`): webrtc-rs's per-packet write path
/// alone spreads an IDR over ~9–13 ms (~100–140 Mbit/s); at 60 Mbit/s it arrives over ~19 ms (+6–10 ms for a
/// keyframe, nothing for P-frames that fit in [`PACING_BURST_PACKETS`]); no receive-buffer drops either way,
/// even with a 64 KB receive buffer. So pacing costs little and only bounds the burst rate for paths slower
/// than the sender; `pacing_bps = 0` turns it off.
pub const PACING_RATE_BPS: f64 = 60_000_000.0;
/// Lowest accepted pacing rate: below it a 1080p keyframe (~1.4 Mbit) would take over a second to leave.
pub const MIN_PACING_BPS: u64 = 1_000_000;
/// Packets the pacer lets out at once before the rate applies: a P-frame (1–10 packets) leaves unpaced, an IDR
/// is spread out.
pub const PACING_BURST_PACKETS: usize = 16;
/// Packets the pacer holds before refusing new ones: two 1080p IDRs' worth. Overflow policy (the interceptor's):
/// refuse the new packet, never evict queued ones; the receiver's PLI then recovers with an IDR.
pub const PACING_QUEUE_PACKETS: usize = 512;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid_and_binds_loopback() {
        let cfg = PeerConfig::default();
        cfg.validate().unwrap();
        assert_eq!(cfg.udp_addrs, vec!["127.0.0.1:0"]);
    }

    #[test]
    fn rejects_bad_addresses_and_servers() {
        let bad_addr = PeerConfig {
            udp_addrs: vec!["localhost:0".into()],
            ..Default::default()
        };
        assert!(bad_addr.validate().is_err());
        let empty = PeerConfig {
            udp_addrs: vec![],
            ..Default::default()
        };
        assert!(empty.validate().is_err());
        let turn_without_credentials = PeerConfig {
            ice_servers: vec![IceServer {
                urls: vec!["turn:turn.example:3478".into()],
                ..Default::default()
            }],
            ..Default::default()
        };
        assert!(turn_without_credentials.validate().is_err());
        let http = PeerConfig {
            ice_servers: vec![IceServer {
                urls: vec!["http://x".into()],
                ..Default::default()
            }],
            ..Default::default()
        };
        assert!(http.validate().is_err());
        let slow_pacing = PeerConfig {
            pacing_bps: 1000,
            ..Default::default()
        };
        assert!(slow_pacing.validate().is_err());
        let ok = PeerConfig {
            ice_servers: vec![
                IceServer {
                    urls: vec!["stun:stun.example:3478".into()],
                    ..Default::default()
                },
                IceServer {
                    urls: vec!["turn:turn.example:3478?transport=udp".into()],
                    username: Some("u".into()),
                    credential: Some("p".into()),
                },
            ],
            udp_addrs: vec!["0.0.0.0:0".into(), "127.0.0.1:0".into()],
            pacing_bps: 0,
            congestion: CongestionSettings::default(),
            turn: Some(TurnIssuer::new(
                vec!["turn:relay.example:3478".into()],
                crate::turn::TurnSecret::new("0123456789abcdef"),
                Duration::from_secs(600),
            )),
        };
        ok.validate().unwrap();
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1000);
        let servers = ok.rtc_ice_servers(now);
        assert_eq!(servers[1].username, "u");
        assert_eq!(servers[2].urls, ["turn:relay.example:3478"]);
        assert_eq!(servers[2].username, format!("1600:{GATEWAY_USER}"));
        assert!(!servers[2].credential.is_empty());
        let stun_relay = PeerConfig {
            turn: Some(TurnIssuer::new(
                vec!["stun:x:1".into()],
                crate::turn::TurnSecret::new("0123456789abcdef"),
                Duration::from_secs(600),
            )),
            ..Default::default()
        };
        assert!(stun_relay.validate().is_err());
    }

    #[test]
    fn ice_servers_deserialize_like_browsers_write_them() {
        let s: IceServer = serde_json::from_str(r#"{"urls":["stun:a:1"]}"#).unwrap();
        assert_eq!(s.urls, vec!["stun:a:1"]);
        assert_eq!(s.username, None);
    }
}
