//! Server → client messages of the `/ws` socket: [`ServerMessage`] and the descriptions `welcome` carries.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::role::Role;

use super::error::ErrorCode;

/// A screen as announced in `welcome`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScreenDescription {
    /// Screen id.
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Whether it is the primary screen.
    #[serde(default)]
    pub primary: bool,
}

/// An ICE server as the browser's `RTCIceServer` wants it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServerInfo {
    /// `stun:` / `turn:` / `turns:` URLs.
    pub urls: Vec<String>,
    /// TURN user name.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub username: Option<String>,
    /// TURN credential.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub credential: Option<String>,
}

/// Messages from the gateway.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// Reply to a valid `auth`.
    Welcome {
        /// Session id (also the key of `DELETE /api/v1/sessions/{id}`).
        session: String,
        /// The token's role.
        role: Role,
        /// Screens that can be watched.
        screens: Vec<ScreenDescription>,
        /// ICE servers for the client's peer connection.
        ice_servers: Vec<IceServerInfo>,
        /// How long the viewer page waits for WebRTC before falling back to JPEG, in ms.
        fallback_timeout_ms: u64,
        /// Gateway version.
        version: String,
    },
    /// The server's SDP offer. A new offer during a watch replaces its peer connection (the viewer moved to
    /// another path: an SFU stopped answering, say); the page answers it like the first.
    Offer {
        /// SDP.
        sdp: String,
        /// Who sends the picture: `local` (the gateway itself) or `sfu` (an SFU the gateway publishes to).
        #[serde(skip_serializing_if = "Option::is_none", default)]
        path: Option<String>,
        /// The SFU instance's name when `path` is `sfu`.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        sfu: Option<String>,
        /// Why the path changed, for people (only on an offer that replaces another).
        #[serde(skip_serializing_if = "Option::is_none", default)]
        reason: Option<String>,
    },
    /// A trickled server candidate; empty `candidate` = end of candidates.
    Candidate {
        /// The `candidate:` line (or empty).
        candidate: String,
        /// Media id.
        #[serde(rename = "sdpMid")]
        sdp_mid: Option<String>,
        /// Media line index.
        #[serde(rename = "sdpMLineIndex")]
        sdp_mline_index: Option<u16>,
    },
    /// Reply to `ping`.
    Pong {
        /// The ping's id.
        id: Value,
    },
    /// Reply to a command with an id.
    Ack {
        /// The command's id.
        id: Value,
    },
    /// A refused message.
    Error {
        /// Stable code.
        code: ErrorCode,
        /// Human-readable reason.
        message: String,
        /// The refused message's id, when it had one.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        id: Option<Value>,
        /// `rate_limited` only: in how many milliseconds a message of the same class would pass.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        retry_after_ms: Option<u64>,
    },
    /// Header of a JPEG frame; the next binary message holds the image.
    Frame {
        /// Screen id.
        screen: String,
        /// Frame sequence number (per screen).
        seq: u64,
        /// Image width.
        width: u32,
        /// Image height.
        height: u32,
        /// Capture wall-clock time, ms since the Unix epoch.
        captured_at_ms: u64,
        /// Whether this answers `request_hq_frame`.
        hq: bool,
        /// The request's id (HQ frames only).
        #[serde(skip_serializing_if = "Option::is_none", default)]
        id: Option<Value>,
    },
    /// The screens changed after `welcome` (a device of this hub came, went or changed its screens): the whole
    /// list, as in `welcome`.
    Screens {
        /// Screens that can be watched now.
        screens: Vec<ScreenDescription>,
    },
    /// The watch ended without the client asking (screen vanished, peer failed, kicked).
    Stopped {
        /// Screen id.
        screen: String,
        /// Why.
        reason: String,
    },
    /// Once a second during a WebRTC watch: the viewer's path and quality adaptation (the stats overlay).
    Network {
        /// Screen id.
        screen: String,
        /// Whether congestion control runs for this viewer.
        congestion_control: bool,
        /// Bandwidth estimate, kbit/s (`null` without congestion control or before the first feedback).
        estimate_kbps: Option<f64>,
        /// Bitrate the viewer's encoder aims at, kbit/s.
        target_kbps: Option<f64>,
        /// Bitrate sent over the last second, kbit/s.
        bitrate_kbps: f64,
        /// Quality tier being sent (0 = best).
        tier: u32,
        /// The tier's name (`t1 640w 1200k`).
        tier_name: Option<String>,
        /// Tiers in the screen's ladder.
        tiers: u32,
        /// Tier switches so far.
        switches: u64,
        /// Fraction of packets lost recently, 0..=1 (`null` until reported).
        loss: Option<f64>,
        /// Round-trip time, ms (`null` until measured).
        rtt_ms: Option<f64>,
        /// NACK packets received so far.
        nacks: u64,
        /// PLI packets received so far.
        plis: u64,
    },
    /// The network cannot carry even the lowest video tier: the page should switch to the JPEG fallback (a
    /// `watch` with `transport: "jpeg"`). The WebRTC watch keeps running until the client replaces it.
    Fallback {
        /// Screen id.
        screen: String,
        /// Why, for people.
        reason: String,
    },
    /// The remote cursor's shape, sent when it changes and when a watch (or its data channel) starts. The page
    /// draws it above the video with its hot spot at the pointer: `width`×`height` screen pixels, scaled like the
    /// picture (`screen_width`×`screen_height` is the watched screen's size).
    CursorImage {
        /// The watched screen.
        screen: String,
        /// Changes with every new shape; `cursor` messages name the shape they go with.
        serial: u32,
        /// Image width in screen pixels.
        width: u32,
        /// Image height in screen pixels.
        height: u32,
        /// Hot spot column in the image.
        hot_x: u32,
        /// Hot spot row in the image.
        hot_y: u32,
        /// Width of the screen in pixels.
        screen_width: u32,
        /// Height of the screen in pixels.
        screen_height: u32,
        /// The image as a `data:image/png;base64,…` URL.
        image: String,
    },
    /// The remote pointer's position, sent as it moves (coalesced to one per 4 ms on X11, else one per captured
    /// tick): `x`, `y` normalised like commands (a pixel's centre); `visible` is false while the pointer is on
    /// another screen.
    Cursor {
        /// The watched screen.
        screen: String,
        /// Normalised column.
        x: f64,
        /// Normalised row.
        y: f64,
        /// Whether the pointer is on this screen.
        visible: bool,
        /// The shape in force (the last `cursor_image`'s serial); 0 when there is none.
        serial: u32,
    },
    /// The remote clipboard: sent when it changes (to sessions the `[clipboard]` policy lets read it) and in
    /// answer to `clipboard_get`. Text in `text`; an image as base64 PNG in `data`. Content over the size limit
    /// comes without either, with `too_large` and its size in `bytes`; an empty clipboard has neither and
    /// `bytes: 0`.
    Clipboard {
        /// `clipboard` or `primary`.
        selection: String,
        /// `text/plain` or `image/png`.
        mime: String,
        /// The text, for `text/plain`.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        text: Option<String>,
        /// The image in base64, for `image/png`.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        data: Option<String>,
        /// Size of the content in bytes.
        bytes: u64,
        /// The content is over `[clipboard] max_bytes` and was not sent.
        #[serde(skip_serializing_if = "std::ops::Not::not", default)]
        too_large: bool,
        /// The `id` of the `clipboard_get` answered.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        id: Option<Value>,
    },
    /// An AI agent acted on a screen (drawn by the viewer page as an overlay).
    Agent {
        /// Screen id.
        screen: String,
        /// The tool (`click`, `type_text`, …).
        action: String,
        /// Normalised x of the action, when it has a position.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        x: Option<f64>,
        /// Normalised y of the action, when it has a position.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        y: Option<f64>,
        /// Short description (`typed 12 characters`).
        #[serde(skip_serializing_if = "Option::is_none", default)]
        detail: Option<String>,
    },
}

impl ServerMessage {
    /// Serialises to the JSON text sent on the wire.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server messages contain only serialisable values")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::messages::error::ProtocolError;

    #[test]
    fn server_messages_have_the_documented_shape() {
        let m = ServerMessage::Candidate {
            candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host".into(),
            sdp_mid: Some("0".into()),
            sdp_mline_index: Some(0),
        };
        let v: Value = serde_json::from_str(&m.to_json()).unwrap();
        assert_eq!(v["type"], "candidate");
        assert_eq!(v["sdpMid"], "0");
        assert_eq!(v["sdpMLineIndex"], 0);
        let e = ProtocolError::new(ErrorCode::Forbidden, "no").with_id(Some(json!(3)));
        let v: Value = serde_json::from_str(&e.to_message().to_json()).unwrap();
        assert_eq!(
            v,
            json!({"type":"error","code":"forbidden","message":"no","id":3})
        );
        let v: Value =
            serde_json::from_str(&ServerMessage::Ack { id: json!("x") }.to_json()).unwrap();
        assert_eq!(v, json!({"type":"ack","id":"x"}));
    }

    #[test]
    fn a_rate_limited_error_says_when_to_retry_rounded_up() {
        let e = ProtocolError::rate_limited("light", std::time::Duration::from_micros(249_001))
            .with_id(Some(json!("p")));
        let v: Value = serde_json::from_str(&e.to_message().to_json()).unwrap();
        assert_eq!(
            v,
            json!({"type":"error","code":"rate_limited","id":"p","retry_after_ms":250,
                   "message":"over the budget of light messages; retry in 250 ms"})
        );
        // Other errors carry no retry time.
        let v: Value = serde_json::from_str(
            &ProtocolError::new(ErrorCode::Busy, "full")
                .to_message()
                .to_json(),
        )
        .unwrap();
        assert!(v.get("retry_after_ms").is_none(), "{v}");
    }
}
