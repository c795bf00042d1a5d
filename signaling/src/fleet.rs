//! The wire contract between a **device** (a sightline that dials out) and its **hub** (the sightline people and
//! agents use): one WebSocket per device, opened by the device on [`CONNECT_PATH`] with a device token.
//!
//! - **Text messages** are JSON objects with a `type`: [`DeviceMsg`] from device to hub, [`HubMsg`] from hub to
//!   device. The first message on a connection is the device's [`Hello`]; the hub answers [`HubMsg::Welcome`] or
//!   [`HubMsg::Refused`] (then closes with [`CLOSE_REFUSED`]).
//! - **Binary messages** carry media from device to hub: a fixed [`MediaHeader`] of [`MEDIA_HEADER_LEN`] bytes, then
//!   one H.264 access unit (Annex-B) or one JPEG file, for a stream the hub opened with [`HubMsg::OpenVideo`] or
//!   [`HubMsg::OpenJpeg`].
//! - **Calls** ([`HubMsg::Input`], [`HubMsg::Tool`], [`HubMsg::Snapshot`]) carry an `id` and are answered by one
//!   [`DeviceMsg::Result`] with the same id, in any order.
//!
//! Nothing here does I/O; every limit a peer could abuse is a named constant. Full reference: `docs/PROTOCOL.md`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Role;

/// The protocol version this build speaks (sent in [`Hello::protocol`] and [`HubMsg::Welcome`]).
pub const PROTOCOL_VERSION: u32 = 1;
/// The hub's WebSocket endpoint for devices.
pub const CONNECT_PATH: &str = "/api/v1/devices/connect";
/// Largest message either way, text or binary, in bytes: a tool result can carry a base64 PNG of a 4K screen.
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024 * 1024;
/// Most screens a device may announce.
pub const MAX_DEVICE_SCREENS: usize = 16;
/// Longest device name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Device ids are lowercase hex, this many digits at least and at most.
pub const DEVICE_ID_DIGITS: std::ops::RangeInclusive<usize> = 8..=64;
/// The digits of an id a device generates for itself (64 random bits).
pub const GENERATED_ID_DIGITS: usize = 16;
/// Longest screen id on a device.
pub const MAX_SCREEN_ID_CHARS: usize = 32;
/// How long the hub waits for [`Hello`] after the WebSocket opened, in ms.
pub const HELLO_TIMEOUT_MS: u64 = 5_000;
/// Heartbeats missed before either side declares the link dead: silence for this many heartbeat periods.
pub const MISSED_HEARTBEATS: u32 = 3;

/// Close code: the hub refused the device (unknown and not approved, removed, a bad hello); the reason says which.
pub const CLOSE_REFUSED: u16 = 4403;
/// Close code: a newer connection of the same device replaced this one.
pub const CLOSE_REPLACED: u16 = 4409;
/// Close code: the peer broke the protocol (a malformed message, an unknown stream); the reason says how.
pub const CLOSE_PROTOCOL: u16 = 4400;
/// Close code: the link was silent for [`MISSED_HEARTBEATS`] heartbeats.
pub const CLOSE_TIMEOUT: u16 = 4408;

/// Messages from device to hub.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum DeviceMsg {
    /// The first message: who the device is and what it has.
    Hello(Hello),
    /// The device's screens changed (a monitor plugged in or out): the whole new list.
    Screens {
        /// Every screen, as in [`Hello::screens`].
        screens: Vec<RemoteScreen>,
    },
    /// A heartbeat; answered by [`HubMsg::Pong`] with the same `t`.
    Ping {
        /// Sender's clock, ms; echoed.
        t: u64,
    },
    /// The answer to [`HubMsg::Ping`].
    Pong {
        /// The `t` of the ping.
        t: u64,
    },
    /// A stream the hub opened has ended on the device (its screen vanished, its encoder failed).
    StreamEnded {
        /// The stream.
        stream: u32,
        /// Why, for people.
        reason: String,
    },
    /// The answer to a call.
    Result(CallResult),
}

/// The device's introduction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`] of the device.
    pub protocol: u32,
    /// The device's stable id: lowercase hex, generated once and kept ([`check_device_id`]).
    pub id: String,
    /// A name for people ([`check_name`]).
    pub name: String,
    /// The device's sightline version.
    pub version: String,
    /// Its screens.
    pub screens: Vec<RemoteScreen>,
}

/// One screen of a device, as the device names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteScreen {
    /// The device's own screen id (`"0"`), without `/` ([`check_screen_id`]).
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Whether it is the device's primary screen.
    pub primary: bool,
}

/// The answer to a call: `ok` on success, `error` otherwise (exactly one of them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallResult {
    /// The call's id.
    pub id: u64,
    /// The value, on success: `null` for input, the MCP `CallToolResult` for a tool, a [`SnapshotValue`] for a
    /// snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<Value>,
    /// The failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<CallError>,
}

/// Why a call failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallError {
    /// The gateway's error kind: `not_found`, `invalid`, `busy`, `forbidden`, `unavailable` or `internal`.
    pub kind: String,
    /// What happened, safe to show.
    pub message: String,
}

/// A snapshot's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotValue {
    /// `image/jpeg` or `image/png`.
    pub mime: String,
    /// Picture width in pixels.
    pub width: u32,
    /// Picture height in pixels.
    pub height: u32,
    /// The image file, base64 (standard alphabet, padded).
    pub data: String,
}

/// Messages from hub to device.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum HubMsg {
    /// The device is accepted.
    Welcome {
        /// The hub's [`PROTOCOL_VERSION`].
        protocol: u32,
        /// The hub's sightline version.
        version: String,
        /// How often the hub pings, ms; the device pings at the same period.
        heartbeat_ms: u64,
    },
    /// The device is refused; the hub closes with [`CLOSE_REFUSED`] next.
    Refused {
        /// Why, for the device's operator.
        reason: String,
    },
    /// A heartbeat; answered by [`DeviceMsg::Pong`].
    Ping {
        /// Sender's clock (the hub sends µs since the link opened); echoed as is.
        t: u64,
    },
    /// The answer to [`DeviceMsg::Ping`].
    Pong {
        /// The `t` of the ping.
        t: u64,
    },
    /// Start sending `screen`'s H.264 at this profile as binary messages tagged `stream`, beginning with an IDR.
    OpenVideo {
        /// The hub's id for the stream (unique on the connection while open).
        stream: u32,
        /// The device's screen id.
        screen: String,
        /// Encoder bitrate, kbit/s.
        bitrate_kbps: u32,
        /// Downscale to at most this width.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_width: Option<u32>,
        /// The encoder's content setting: `camera` or `screen`.
        usage: String,
    },
    /// Start sending `screen`'s JPEG frames (only changed pictures, at most `fps` per second) tagged `stream`.
    OpenJpeg {
        /// The hub's id for the stream.
        stream: u32,
        /// The device's screen id.
        screen: String,
        /// JPEG quality.
        quality: u8,
        /// Downscale to at most this width.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_width: Option<u32>,
        /// Most frames per second.
        fps: u32,
    },
    /// Stop a stream (nobody on the hub watches it any more).
    Close {
        /// The stream.
        stream: u32,
    },
    /// Send an IDR on a video stream soon (coalesced by the device's keyframe gate).
    Keyframe {
        /// The stream.
        stream: u32,
    },
    /// The bitrate the hub's only viewer of a video stream wishes for, kbit/s (`None` withdraws the wish).
    Bitrate {
        /// The stream.
        stream: u32,
        /// The wish.
        #[serde(default)]
        kbps: Option<u32>,
    },
    /// Inject input events into a screen (already allowed by the hub's policy for the caller's role).
    Input {
        /// The call's id.
        id: u64,
        /// The device's screen id.
        screen: String,
        /// The events, as the media crate's `InputEvent` JSON, in pixels of the screen.
        events: Vec<Value>,
    },
    /// Run an MCP tool on the device (the hub checked the caller's role; the arguments name the device's own
    /// screen id).
    Tool {
        /// The call's id.
        id: u64,
        /// The tool's name.
        name: String,
        /// Its arguments.
        #[serde(default)]
        arguments: Map<String, Value>,
        /// The caller's role on the hub.
        role: Role,
    },
    /// One picture of a screen.
    Snapshot {
        /// The call's id.
        id: u64,
        /// The device's screen id.
        screen: String,
        /// `jpeg` or `png`.
        format: String,
        /// JPEG quality.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        quality: Option<u8>,
        /// Downscale to at most this width.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_width: Option<u32>,
    },
}

/// What a binary message carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaKind {
    /// One H.264 access unit, Annex-B.
    H264,
    /// One JPEG file.
    Jpeg,
}

/// Length of [`MediaHeader`] on the wire.
pub const MEDIA_HEADER_LEN: usize = 31;

/// The header of a binary message (big-endian): kind `u8` (1 = H.264, 2 = JPEG), flags `u8` (bit 0: keyframe),
/// JPEG quality `u8` (0 for H.264), stream `u32`, seq `u64`, capture time `u64` (µs since the Unix epoch, the
/// device's clock), width `u32`, height `u32`; the payload follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MediaHeader {
    /// What the payload is.
    pub kind: MediaKind,
    /// An IDR (H.264) — a decoder can start here.
    pub keyframe: bool,
    /// JPEG quality (0 for H.264).
    pub quality: u8,
    /// The stream the hub opened.
    pub stream: u32,
    /// The device's sequence number of the picture in its stream.
    pub seq: u64,
    /// When the picture was captured, µs since the Unix epoch on the device's clock.
    pub captured_us: u64,
    /// Picture width.
    pub width: u32,
    /// Picture height.
    pub height: u32,
}

impl MediaHeader {
    /// The message: header, then `payload`.
    pub fn encode(&self, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(MEDIA_HEADER_LEN + payload.len());
        out.push(match self.kind {
            MediaKind::H264 => 1,
            MediaKind::Jpeg => 2,
        });
        out.push(u8::from(self.keyframe));
        out.push(self.quality);
        out.extend_from_slice(&self.stream.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.captured_us.to_be_bytes());
        out.extend_from_slice(&self.width.to_be_bytes());
        out.extend_from_slice(&self.height.to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// Splits a binary message into its header and payload. The payload is never empty.
    pub fn decode(message: &[u8]) -> Result<(Self, &[u8]), String> {
        if message.len() <= MEDIA_HEADER_LEN {
            return Err(format!(
                "a media message of {} bytes is shorter than its {MEDIA_HEADER_LEN}-byte header plus a payload",
                message.len()
            ));
        }
        let (head, payload) = message.split_at(MEDIA_HEADER_LEN);
        let kind = match head[0] {
            1 => MediaKind::H264,
            2 => MediaKind::Jpeg,
            other => return Err(format!("unknown media kind {other}")),
        };
        if head[1] > 1 {
            return Err(format!("unknown media flags {:#04x}", head[1]));
        }
        let u32_at =
            |i: usize| u32::from_be_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
        let u64_at = |i: usize| (u64::from(u32_at(i)) << 32) | u64::from(u32_at(i + 4));
        Ok((
            Self {
                kind,
                keyframe: head[1] == 1,
                quality: head[2],
                stream: u32_at(3),
                seq: u64_at(7),
                captured_us: u64_at(15),
                width: u32_at(23),
                height: u32_at(27),
            },
            payload,
        ))
    }
}

/// Checks a device id: [`DEVICE_ID_DIGITS`] lowercase hex digits.
pub fn check_device_id(id: &str) -> Result<(), String> {
    if !DEVICE_ID_DIGITS.contains(&id.len())
        || !id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(format!(
            "a device id is {} to {} lowercase hex digits",
            DEVICE_ID_DIGITS.start(),
            DEVICE_ID_DIGITS.end()
        ));
    }
    Ok(())
}

/// Checks a device name: 1 to [`MAX_NAME_CHARS`] characters, no control characters, no spaces at either end.
pub fn check_name(name: &str) -> Result<(), String> {
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return Err(format!("a device name is 1 to {MAX_NAME_CHARS} characters"));
    }
    if name.chars().any(char::is_control) || name.trim() != name {
        return Err("a device name has no control characters and no spaces at its ends".into());
    }
    Ok(())
}

/// Checks a device's screen id: 1 to [`MAX_SCREEN_ID_CHARS`] visible ASCII characters, without `/`.
pub fn check_screen_id(id: &str) -> Result<(), String> {
    if id.is_empty()
        || id.len() > MAX_SCREEN_ID_CHARS
        || !id.bytes().all(|b| b.is_ascii_graphic() && b != b'/')
    {
        return Err(format!(
            "a screen id is 1 to {MAX_SCREEN_ID_CHARS} visible ASCII characters without '/'"
        ));
    }
    Ok(())
}

/// Checks a hello: version, id, name and screens. The error is the reason the hub sends back.
pub fn check_hello(hello: &Hello) -> Result<(), String> {
    if hello.protocol != PROTOCOL_VERSION {
        return Err(format!(
            "protocol {} is not supported (this hub speaks {PROTOCOL_VERSION})",
            hello.protocol
        ));
    }
    check_device_id(&hello.id)?;
    check_name(&hello.name)?;
    if hello.version.is_empty() || hello.version.len() > 64 {
        return Err("a version is 1 to 64 characters".into());
    }
    check_screens(&hello.screens)
}

/// Checks a screen list: at most [`MAX_DEVICE_SCREENS`], valid distinct ids, non-zero sizes, names of at most
/// [`MAX_NAME_CHARS`] characters.
pub fn check_screens(screens: &[RemoteScreen]) -> Result<(), String> {
    if screens.len() > MAX_DEVICE_SCREENS {
        return Err(format!(
            "{} screens is over the limit of {MAX_DEVICE_SCREENS}",
            screens.len()
        ));
    }
    for (i, s) in screens.iter().enumerate() {
        check_screen_id(&s.id)?;
        if screens[..i].iter().any(|o| o.id == s.id) {
            return Err(format!("screen id {:?} is announced twice", s.id));
        }
        if s.width == 0 || s.height == 0 || s.width > 16_384 || s.height > 16_384 {
            return Err(format!("screen {:?} has an impossible size", s.id));
        }
        if s.name.chars().count() > MAX_NAME_CHARS || s.name.chars().any(char::is_control) {
            return Err(format!("screen {:?} has a bad name", s.id));
        }
    }
    Ok(())
}

/// Parses a device's text message. The error says what was wrong, in one line.
pub fn parse_device(text: &str) -> Result<DeviceMsg, String> {
    serde_json::from_str(text).map_err(|e| format!("bad message from the device: {e}"))
}

/// Parses a hub's text message. The error says what was wrong, in one line.
pub fn parse_hub(text: &str) -> Result<HubMsg, String> {
    serde_json::from_str(text).map_err(|e| format!("bad message from the hub: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_header_round_trips_and_refuses_garbage() {
        let h = MediaHeader {
            kind: MediaKind::H264,
            keyframe: true,
            quality: 0,
            stream: 7,
            seq: u64::MAX - 3,
            captured_us: 1_700_000_000_000_000,
            width: 1280,
            height: 720,
        };
        let msg = h.encode(b"\0\0\0\x01\x67");
        let (back, payload) = MediaHeader::decode(&msg).unwrap();
        assert_eq!(back, h);
        assert_eq!(payload, b"\0\0\0\x01\x67");
        assert!(MediaHeader::decode(&msg[..MEDIA_HEADER_LEN]).is_err());
        let mut bad = msg.clone();
        bad[0] = 9;
        assert!(MediaHeader::decode(&bad).is_err());
        bad = msg;
        bad[1] = 2;
        assert!(MediaHeader::decode(&bad).is_err());
    }

    #[test]
    fn hello_is_checked() {
        let mut hello = Hello {
            protocol: PROTOCOL_VERSION,
            id: "0123456789abcdef".into(),
            name: "kiosk 1".into(),
            version: "0.1.0".into(),
            screens: vec![RemoteScreen {
                id: "0".into(),
                name: "synthetic".into(),
                width: 1280,
                height: 720,
                primary: true,
            }],
        };
        check_hello(&hello).unwrap();
        let text = serde_json::to_string(&DeviceMsg::Hello(hello.clone())).unwrap();
        assert!(text.starts_with(r#"{"type":"hello""#), "{text}");
        assert_eq!(
            parse_device(&text).unwrap(),
            DeviceMsg::Hello(hello.clone())
        );
        hello.id = "ABCDEF0123".into();
        assert!(check_hello(&hello).is_err());
        hello.id = "0123456789abcdef".into();
        hello.name = " padded".into();
        assert!(check_hello(&hello).is_err());
        hello.name = "ok".into();
        hello.screens[0].id = "a/b".into();
        assert!(check_hello(&hello).is_err());
        hello.screens[0].id = "0".into();
        hello.screens.push(hello.screens[0].clone());
        assert!(check_hello(&hello).unwrap_err().contains("twice"));
        assert!(parse_device(r#"{"type":"hello"}"#).is_err());
        assert!(parse_hub(r#"{"type":"open_video","stream":1}"#).is_err());
    }

    #[test]
    fn hub_messages_have_stable_names() {
        let m = HubMsg::Tool {
            id: 3,
            name: "screenshot".into(),
            arguments: Map::new(),
            role: Role::Control,
        };
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(
            text,
            r#"{"type":"tool","id":3,"name":"screenshot","arguments":{},"role":"control"}"#
        );
        assert_eq!(parse_hub(&text).unwrap(), m);
    }
}
