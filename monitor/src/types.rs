//! Identifiers and small value types shared by the registry and the snapshots.
//!
//! Wire forms are chosen once here and used everywhere (REST, MCP, log files, Prometheus labels):
//! a [`ConnectionId`] is the string `"c42"`, an [`Owner`] is `"gateway"`, `"c42"` or `"pipeline:<name>"`,
//! enums are lower snake_case (`"webrtc"`, `"connecting"`).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Identity of one registered connection, unique for the life of the process. Wire form: `"c42"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(u64);

impl ConnectionId {
    pub(crate) fn new(n: u64) -> Self {
        Self(n)
    }

    /// The numeric part (`42` for `"c42"`).
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// A string that is not a connection id (`"c42"`, or the bare number `"42"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseIdError(String);

impl fmt::Display for ParseIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::error::Error for ParseIdError {}

impl FromStr for ConnectionId {
    type Err = ParseIdError;

    /// Accepts the canonical `"c42"` and, for hand-typed REST paths, the bare `"42"`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s.strip_prefix('c').unwrap_or(s);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseIdError(format!(
                "invalid connection id {s:?}: expected c<number>, e.g. c42"
            )));
        }
        digits
            .parse()
            .map(Self)
            .map_err(|_| ParseIdError(format!("invalid connection id {s:?}: number too large")))
    }
}

impl Serialize for ConnectionId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ConnectionId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Who a task belongs to. When the owner closes ([`crate::Monitor::close_owner`], or closing a connection), every
/// task it spawned before closing must end within the leak grace period, or it is reported as leaked.
///
/// Wire form: `"gateway"`, `"c42"`, `"pipeline:<name>"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Owner {
    /// The gateway itself: lives as long as the process.
    Gateway,
    /// A registered connection (see [`crate::Connection::owner`]).
    Connection(ConnectionId),
    /// A media pipeline, named by its owner (media uses the [`crate::PipelineKey`] display form).
    Pipeline(String),
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::Gateway => f.write_str("gateway"),
            Owner::Connection(id) => write!(f, "{id}"),
            Owner::Pipeline(name) => write!(f, "pipeline:{name}"),
        }
    }
}

impl FromStr for Owner {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "gateway" {
            Ok(Owner::Gateway)
        } else if let Some(name) = s.strip_prefix("pipeline:") {
            Ok(Owner::Pipeline(name.to_owned()))
        } else if s.starts_with('c') {
            s.parse().map(Owner::Connection)
        } else {
            Err(ParseIdError(format!(
                "invalid owner {s:?}: expected gateway, c<number> or pipeline:<name>"
            )))
        }
    }
}

impl Serialize for Owner {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Owner {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What sort of client a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionKind {
    /// A `/ws` signaling socket.
    Signaling,
    /// A WebRTC peer connection (browser viewer).
    #[serde(rename = "webrtc")]
    WebRtc,
    /// A JPEG-over-WebSocket viewer.
    Jpeg,
    /// A WHEP session (WebRTC playback for players such as OBS, ffmpeg, GStreamer).
    Whep,
    /// An MCP session.
    Mcp,
    /// An MJPEG HTTP stream.
    Mjpeg,
    /// A viewer brokered to an SFU (Janus): its media flows from the SFU, sightline relays the signaling.
    Sfu,
    /// A stream the gateway publishes: RTP to an SFU mountpoint, or a WHIP egress.
    Publish,
    /// A device dialled in to this gateway, its hub (the fleet link: heartbeats, calls, relayed media).
    Device,
    /// One stream a device relays to its hub (a child of the device's connection).
    Upstream,
}

impl ConnectionKind {
    /// Every kind, in a fixed order (Prometheus output lists each one, zero or not).
    pub const ALL: [ConnectionKind; 10] = [
        ConnectionKind::Signaling,
        ConnectionKind::WebRtc,
        ConnectionKind::Jpeg,
        ConnectionKind::Whep,
        ConnectionKind::Mcp,
        ConnectionKind::Mjpeg,
        ConnectionKind::Sfu,
        ConnectionKind::Publish,
        ConnectionKind::Device,
        ConnectionKind::Upstream,
    ];

    /// The wire name (`"webrtc"`, `"jpeg"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionKind::Signaling => "signaling",
            ConnectionKind::WebRtc => "webrtc",
            ConnectionKind::Jpeg => "jpeg",
            ConnectionKind::Whep => "whep",
            ConnectionKind::Mcp => "mcp",
            ConnectionKind::Mjpeg => "mjpeg",
            ConnectionKind::Sfu => "sfu",
            ConnectionKind::Publish => "publish",
            ConnectionKind::Device => "device",
            ConnectionKind::Upstream => "upstream",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// Whether connections of this kind send video to a viewer (WebRTC, WHEP, JPEG, MJPEG): those keep a
    /// network history ([`crate::SERIES_LEN`]).
    pub fn carries_video(self) -> bool {
        matches!(
            self,
            ConnectionKind::WebRtc
                | ConnectionKind::Whep
                | ConnectionKind::Jpeg
                | ConnectionKind::Mjpeg
        )
    }

    /// Whether connections of this kind are RTP viewers (WebRTC, WHEP): those have an estimate, a tier, loss
    /// and NACKs, and get the per-viewer Prometheus series.
    pub fn is_rtp_viewer(self) -> bool {
        matches!(self, ConnectionKind::WebRtc | ConnectionKind::Whep)
    }
}

impl fmt::Display for ConnectionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The monitor's own coarse state of a connection: `new → connecting → connected → closed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    New,
    Connecting,
    Connected,
    Closed,
}

impl Lifecycle {
    pub const ALL: [Lifecycle; 4] = [
        Lifecycle::New,
        Lifecycle::Connecting,
        Lifecycle::Connected,
        Lifecycle::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::New => "new",
            Lifecycle::Connecting => "connecting",
            Lifecycle::Connected => "connected",
            Lifecycle::Closed => "closed",
        }
    }
}

impl fmt::Display for Lifecycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Lifecycle {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Lifecycle::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| {
                ParseIdError(format!(
                    "invalid lifecycle state {s:?}: expected new, connecting, connected or closed"
                ))
            })
    }
}

/// Which state machine a state change belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateMachine {
    /// WebRTC signaling state (`stable`, `have-local-offer`, …).
    Signaling,
    /// ICE connection state (`checking`, `connected`, …).
    Ice,
    /// Peer connection state (`connecting`, `connected`, `failed`, …).
    Peer,
    /// The monitor's [`Lifecycle`].
    Lifecycle,
}

impl StateMachine {
    pub fn as_str(self) -> &'static str {
        match self {
            StateMachine::Signaling => "signaling",
            StateMachine::Ice => "ice",
            StateMachine::Peer => "peer",
            StateMachine::Lifecycle => "lifecycle",
        }
    }
}

impl fmt::Display for StateMachine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Descriptive attributes given when a connection is opened.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConnectionAttrs {
    /// Session id in the session manager, when the connection belongs to one.
    pub session: Option<String>,
    /// Screen being watched.
    pub screen: Option<String>,
    /// `viewer`, `controller`, `agent`, … as the session manager names it.
    pub role: Option<String>,
    /// Remote address (`ip:port`) or client description.
    pub remote: Option<String>,
    /// The connection this one was created by (a WebRTC peer's signaling socket).
    pub parent: Option<ConnectionId>,
}

/// Counters of one connection, taken from the real transport statistics by the connection's owner
/// (for WebRTC: `get_stats` every second). Cumulative fields only grow; rates are the latest measurement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counters {
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub packets_sent: u64,
    pub packets_received: u64,
    /// Packets the remote reported lost (RTCP receiver reports).
    pub packets_lost: u64,
    /// Video frames (or JPEG images) sent.
    pub frames_sent: u64,
    pub keyframes_sent: u64,
    /// Messages (signaling, data channel, MCP) sent and received.
    pub messages_sent: u64,
    pub messages_received: u64,
    pub nack_received: u64,
    pub pli_received: u64,
    pub fir_received: u64,
    /// Round-trip time; `None` until measured.
    pub rtt_ms: Option<f64>,
    /// Interarrival jitter reported by the remote; `None` until measured.
    pub jitter_ms: Option<f64>,
    /// Current send bitrate, kbit/s.
    pub bitrate_kbps: f64,
    /// Current frames per second sent.
    pub fps: f64,
    /// Frames not sent to this connection; the reasons are in the connection detail's `drops`.
    pub frames_dropped: u64,
    /// Congestion controller's estimate of the path, kbit/s; `None` without congestion control.
    pub estimate_kbps: Option<f64>,
    /// Bitrate the viewer's encoder aims at now, kbit/s.
    pub target_kbps: Option<f64>,
    /// The viewer's quality tier: index into the ladder (0 = best)…
    pub tier: Option<u32>,
    /// …and its name (`"t1 640w 1200k"`).
    pub tier_name: Option<String>,
    /// Tier changes so far.
    pub tier_switches: u64,
    /// Fraction of packets lost over the last receiver report interval, 0..=1.
    pub loss_fraction: Option<f64>,
    /// Packets and bytes sent again in answer to NACKs.
    pub retransmitted_packets: u64,
    pub retransmitted_bytes: u64,
    /// Protocol violations of this connection's client, by kind (the gateway's fixed names: `bad_message`,
    /// `binary`, `frame_too_large`, …).
    pub violations: BTreeMap<String, u64>,
    /// Messages of this connection refused by a rate limit.
    pub rate_limited: u64,
    /// The ban this connection's client earned, in ms, when a strike on it banned its address (which closed it).
    pub banned_ms: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_id_round_trips_as_string() {
        let id = ConnectionId::new(42);
        assert_eq!(id.to_string(), "c42");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"c42\"");
        assert_eq!(serde_json::from_str::<ConnectionId>("\"c42\"").unwrap(), id);
        assert_eq!("42".parse::<ConnectionId>().unwrap(), id);
        for bad in ["", "c", "x42", "c-1", "c4 2", "c99999999999999999999999"] {
            assert!(bad.parse::<ConnectionId>().is_err(), "{bad:?} accepted");
        }
        assert!(serde_json::from_str::<ConnectionId>("\"nope\"").is_err());
    }

    #[test]
    fn owner_round_trips_as_string() {
        for o in [
            Owner::Gateway,
            Owner::Connection(ConnectionId::new(7)),
            Owner::Pipeline("screen0/h264/720p".into()),
        ] {
            let json = serde_json::to_string(&o).unwrap();
            assert_eq!(serde_json::from_str::<Owner>(&json).unwrap(), o, "{json}");
        }
        assert_eq!(Owner::Connection(ConnectionId::new(7)).to_string(), "c7");
        assert!("somebody".parse::<Owner>().is_err());
    }

    #[test]
    fn enums_use_wire_names() {
        assert_eq!(
            serde_json::to_string(&ConnectionKind::WebRtc).unwrap(),
            "\"webrtc\""
        );
        for k in ConnectionKind::ALL {
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{k}\""));
        }
        assert_eq!(
            serde_json::to_string(&ConnectionKind::Device).unwrap(),
            "\"device\""
        );
        assert_eq!(
            serde_json::to_string(&ConnectionKind::Upstream).unwrap(),
            "\"upstream\""
        );
        for l in Lifecycle::ALL {
            assert_eq!(serde_json::to_string(&l).unwrap(), format!("\"{l}\""));
            assert_eq!(l.as_str().parse::<Lifecycle>().unwrap(), l);
        }
        assert_eq!(
            serde_json::to_string(&StateMachine::Ice).unwrap(),
            "\"ice\""
        );
    }
}
