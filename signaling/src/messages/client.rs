//! Client → server messages of the `/ws` socket: [`ClientMessage`] and the [`Watch`] request.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::command::Command;

/// Quality of an HQ frame when the request names none.
pub const DEFAULT_HQ_QUALITY: u8 = 90;

/// How a watch is delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// H.264 over a WebRTC peer connection.
    Webrtc,
    /// JPEG frames over this WebSocket.
    Jpeg,
}

impl Transport {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webrtc => "webrtc",
            Self::Jpeg => "jpeg",
        }
    }
}

/// `{"type":"watch",…}`.
#[derive(Clone, Debug, PartialEq)]
pub struct Watch {
    /// Screen id.
    pub screen: String,
    /// Transport; `webrtc` when absent.
    pub transport: Transport,
    /// JPEG only: frames per second (defaults from `[preview]`).
    pub fps: Option<u32>,
    /// JPEG only: quality 1–100.
    pub quality: Option<u8>,
    /// Maximum width of the picture (JPEG; for WebRTC, the encoder's maximum width).
    pub max_width: Option<u32>,
    /// The message's `id`, carried by the `error` a failed watch gets.
    pub id: Option<Value>,
}

/// A parsed client message.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientMessage {
    /// `{"type":"auth","token":"…"}`.
    Auth {
        /// The token.
        token: String,
    },
    /// `{"type":"watch",…}`.
    Watch(Watch),
    /// `{"type":"answer","sdp":"…"}`.
    Answer {
        /// The SDP answer.
        sdp: String,
    },
    /// `{"type":"candidate","candidate":"…","sdpMid":"…","sdpMLineIndex":0}`; empty `candidate` = end of candidates.
    Candidate {
        /// The `candidate:` attribute line (possibly empty).
        candidate: String,
        /// Media id.
        sdp_mid: Option<String>,
        /// Media line index.
        sdp_mline_index: Option<u16>,
    },
    /// `{"type":"ping","id":N}`.
    Ping {
        /// Echoed in the pong.
        id: Value,
    },
    /// `{"type":"stop"}`: end the current watch.
    Stop,
    /// `{"type":"pause"}`: pause the JPEG stream.
    Pause,
    /// `{"type":"resume"}`: resume the JPEG stream.
    Resume,
    /// `{"type":"request_hq_frame","id":"…","quality":Q}`.
    RequestHqFrame {
        /// Echoed in the frame.
        id: Option<Value>,
        /// Screen to capture; the watched screen when absent.
        screen: Option<String>,
        /// JPEG quality of the HQ frame.
        quality: u8,
    },
    /// One of the [`Command`]s.
    Command {
        /// When present, the reply is `ack` (or an `error`) with this id.
        id: Option<Value>,
        /// Screen the command is for; the watched screen when absent.
        screen: Option<String>,
        /// The command.
        command: Command,
    },
}
