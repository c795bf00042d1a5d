//! Messages of the `/ws` socket and the `control` data channel (JSON text, each with a `type`).
//!
//! Parsing is done by hand over a [`serde_json::Value`] rather than by a derived `Deserialize`, so that every
//! refusal names the field and the reason (`"x must be a number from 0 to 1"`) and carries the message's `id`.
//! Unknown fields are ignored, so clients may add their own.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Role;

/// Largest text message accepted, in bytes. An SDP answer from Chromium is ~5 KB; 256 KiB leaves room for big
/// offers with many candidates while keeping a hostile client from making the gateway parse megabytes.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// Largest `text` command, in characters: a paste of a page of text, not a file upload.
pub const MAX_TEXT_CHARS: usize = 4096;
/// Largest wheel movement per message, in steps (notches).
pub const MAX_WHEEL_STEPS: f64 = 100.0;
/// Bitrate bounds of the `quality` command, in kbit/s.
pub const BITRATE_RANGE_KBPS: (u32, u32) = (100, 50_000);
/// JPEG quality bounds.
pub const QUALITY_RANGE: (u32, u32) = (1, 100);
/// JPEG stream frame-rate bounds.
pub const FPS_RANGE: (u32, u32) = (1, 60);
/// `max_width` bounds.
pub const MAX_WIDTH_RANGE: (u32, u32) = (16, 8192);
/// Quality of an HQ frame when the request names none.
pub const DEFAULT_HQ_QUALITY: u8 = 90;

/// Stable error codes of the `error` message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The text is not JSON.
    BadJson,
    /// JSON, but not an object with a string `type`.
    BadMessage,
    /// The `type` is not known.
    UnknownType,
    /// A field is missing, of the wrong type or out of range.
    BadValue,
    /// No valid token (the socket closes with 4401).
    Unauthorized,
    /// The role does not allow this.
    Forbidden,
    /// No screen has this id (or it vanished).
    UnknownScreen,
    /// The message needs an active watch.
    NotWatching,
    /// The message does not fit the connection's state (an answer without an offer, …).
    InvalidState,
    /// The message is larger than [`MAX_MESSAGE_BYTES`].
    TooLarge,
    /// A queue is full; retry later.
    Busy,
    /// The gateway could not do it (capture, encoder or input failure); the message says what failed.
    Failed,
}

impl ErrorCode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadJson => "bad_json",
            Self::BadMessage => "bad_message",
            Self::UnknownType => "unknown_type",
            Self::BadValue => "bad_value",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::UnknownScreen => "unknown_screen",
            Self::NotWatching => "not_watching",
            Self::InvalidState => "invalid_state",
            Self::TooLarge => "too_large",
            Self::Busy => "busy",
            Self::Failed => "failed",
        }
    }
}

/// A refused message: what goes back to the client as `{"type":"error",…}`.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ProtocolError {
    /// Stable code.
    pub code: ErrorCode,
    /// Human-readable reason, safe to show (never internal details).
    pub message: String,
    /// The `id` of the refused message, when it had one.
    pub id: Option<Value>,
}

impl ProtocolError {
    /// An error without an id.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            id: None,
        }
    }

    /// Attaches the refused message's id.
    pub fn with_id(mut self, id: Option<Value>) -> Self {
        self.id = id;
        self
    }

    /// The `error` message to send back.
    pub fn to_message(&self) -> ServerMessage {
        ServerMessage::Error {
            code: self.code,
            message: self.message.clone(),
            id: self.id.clone(),
        }
    }
}

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

/// What a pointer command does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PointerAction {
    /// Move only.
    Move,
    /// Press the button.
    Down,
    /// Release the button.
    Up,
    /// Press and release.
    Click,
    /// Two clicks.
    Dblclick,
}

/// What a key command does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyAction {
    /// Press.
    Down,
    /// Release.
    Up,
    /// Press and release.
    Press,
}

/// A mouse button on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Button {
    /// Left.
    Left,
    /// Middle.
    Middle,
    /// Right.
    Right,
}

/// A command: the same JSON on the data channel `control` and on the WebSocket. Roles control and admin only.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// `{"type":"pointer","action":…,"x":0..1,"y":0..1,"button":…}`: x, y normalised to the watched screen.
    /// `x`/`y` are required for `move`; for the other actions they are optional (absent = where the pointer is).
    Pointer {
        /// What to do.
        action: PointerAction,
        /// Normalised position, when given.
        position: Option<(f64, f64)>,
        /// Which button (`left` when absent).
        button: Button,
    },
    /// `{"type":"wheel","dx":…,"dy":…}` in wheel steps (notches); positive `dy` scrolls down.
    Wheel {
        /// Horizontal steps.
        dx: f64,
        /// Vertical steps.
        dy: f64,
    },
    /// `{"type":"key","action":"down|up|press","code":"KeyA"}` with DOM `KeyboardEvent.code` names.
    Key {
        /// What to do.
        action: KeyAction,
        /// DOM code.
        code: String,
    },
    /// `{"type":"text","text":"…"}`: any Unicode.
    Text {
        /// The text.
        text: String,
    },
    /// `{"type":"keyframe"}`: ask for an IDR now.
    Keyframe,
    /// `{"type":"quality","bitrate_kbps":N}`: change the video bitrate.
    Quality {
        /// New bitrate in kbit/s.
        bitrate_kbps: u32,
    },
}

impl Command {
    /// The role a command needs. Every command needs `control`; kept as a function so a future read-only command
    /// (there is none today) has one place to change.
    pub fn required_role(&self) -> Role {
        Role::Control
    }

    /// The wire `type` of this command, for logs and the monitor.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Pointer { .. } => "pointer",
            Self::Wheel { .. } => "wheel",
            Self::Key { .. } => "key",
            Self::Text { .. } => "text",
            Self::Keyframe => "keyframe",
            Self::Quality { .. } => "quality",
        }
    }
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
    /// The server's SDP offer.
    Offer {
        /// SDP.
        sdp: String,
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
    /// The watch ended without the client asking (screen vanished, peer failed, kicked).
    Stopped {
        /// Screen id.
        screen: String,
        /// Why.
        reason: String,
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

/// Parses one client message from text.
pub fn parse_client(text: &str) -> Result<ClientMessage, ProtocolError> {
    let (obj, kind, id) = split(text)?;
    let f = Fields { obj: &obj, id: &id };
    let msg = match kind.as_str() {
        "auth" => ClientMessage::Auth {
            token: f.string("token", 4096)?,
        },
        "watch" => ClientMessage::Watch(Watch {
            screen: f.string("screen", 128)?,
            transport: match f.opt_string("transport", 16)?.as_deref() {
                None | Some("webrtc") => Transport::Webrtc,
                Some("jpeg") => Transport::Jpeg,
                Some(other) => {
                    return Err(f.bad(format!(
                        "transport must be \"webrtc\" or \"jpeg\", not {other:?}"
                    )));
                }
            },
            fps: f.opt_uint("fps", FPS_RANGE)?,
            quality: f.opt_uint("quality", QUALITY_RANGE)?.map(|q| q as u8),
            max_width: f.opt_uint("max_width", MAX_WIDTH_RANGE)?,
            id: id.clone(),
        }),
        "answer" => ClientMessage::Answer {
            sdp: f.string("sdp", MAX_MESSAGE_BYTES)?,
        },
        "candidate" => ClientMessage::Candidate {
            candidate: f.opt_string("candidate", 4096)?.unwrap_or_default(),
            sdp_mid: f.opt_string("sdpMid", 64)?,
            sdp_mline_index: f.opt_uint("sdpMLineIndex", (0, 255))?.map(|i| i as u16),
        },
        "ping" => ClientMessage::Ping {
            id: id.clone().unwrap_or(Value::Null),
        },
        "stop" => ClientMessage::Stop,
        "pause" => ClientMessage::Pause,
        "resume" => ClientMessage::Resume,
        "request_hq_frame" => ClientMessage::RequestHqFrame {
            id: id.clone(),
            screen: f.opt_string("screen", 128)?,
            quality: f
                .opt_uint("quality", QUALITY_RANGE)?
                .map_or(DEFAULT_HQ_QUALITY, |q| q as u8),
        },
        _ => ClientMessage::Command {
            command: parse_command_fields(&kind, &f)?,
            screen: f.opt_string("screen", 128)?,
            id: id.clone(),
        },
    };
    Ok(msg)
}

/// Parses a command (the data channel accepts commands only).
pub fn parse_command(text: &str) -> Result<(Option<Value>, Command), ProtocolError> {
    let (obj, kind, id) = split(text)?;
    let f = Fields { obj: &obj, id: &id };
    let command = parse_command_fields(&kind, &f)?;
    Ok((id, command))
}

fn parse_command_fields(kind: &str, f: &Fields<'_>) -> Result<Command, ProtocolError> {
    Ok(match kind {
        "pointer" => {
            let action = match f.opt_string("action", 16)?.as_deref() {
                None | Some("move") => PointerAction::Move,
                Some("down") => PointerAction::Down,
                Some("up") => PointerAction::Up,
                Some("click") => PointerAction::Click,
                Some("dblclick") => PointerAction::Dblclick,
                Some(other) => {
                    return Err(f.bad(format!(
                        "action must be one of move, down, up, click, dblclick, not {other:?}"
                    )));
                }
            };
            let x = f.opt_f64("x", 0.0, 1.0)?;
            let y = f.opt_f64("y", 0.0, 1.0)?;
            let position = match (x, y) {
                (Some(x), Some(y)) => Some((x, y)),
                (None, None) if action != PointerAction::Move => None,
                (None, None) => return Err(f.bad("x and y are required for action move")),
                _ => return Err(f.bad("x and y must be given together")),
            };
            let button = match f.opt_string("button", 16)?.as_deref() {
                None | Some("left") => Button::Left,
                Some("middle") => Button::Middle,
                Some("right") => Button::Right,
                Some(other) => {
                    return Err(f.bad(format!(
                        "button must be left, middle or right, not {other:?}"
                    )));
                }
            };
            Command::Pointer {
                action,
                position,
                button,
            }
        }
        "wheel" => {
            let dx = f
                .opt_f64("dx", -MAX_WHEEL_STEPS, MAX_WHEEL_STEPS)?
                .unwrap_or(0.0);
            let dy = f
                .opt_f64("dy", -MAX_WHEEL_STEPS, MAX_WHEEL_STEPS)?
                .unwrap_or(0.0);
            Command::Wheel { dx, dy }
        }
        "key" => {
            let action = match f.opt_string("action", 16)?.as_deref() {
                None | Some("press") => KeyAction::Press,
                Some("down") => KeyAction::Down,
                Some("up") => KeyAction::Up,
                Some(other) => {
                    return Err(f.bad(format!("action must be down, up or press, not {other:?}")));
                }
            };
            let code = f.string("code", 64)?;
            if code.is_empty() || !code.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(f.bad(format!(
                    "code must be a KeyboardEvent.code name like \"KeyA\", not {code:?}"
                )));
            }
            Command::Key { action, code }
        }
        "text" => {
            let text = f.string("text", MAX_TEXT_CHARS * 4)?;
            if text.chars().count() > MAX_TEXT_CHARS {
                return Err(f.bad(format!("text must be at most {MAX_TEXT_CHARS} characters")));
            }
            Command::Text { text }
        }
        "keyframe" => Command::Keyframe,
        "quality" => Command::Quality {
            bitrate_kbps: f
                .opt_uint("bitrate_kbps", BITRATE_RANGE_KBPS)?
                .ok_or_else(|| f.bad("bitrate_kbps is required"))?,
        },
        other => {
            return Err(ProtocolError::new(
                ErrorCode::UnknownType,
                format!("unknown message type {:?}", truncate(other, 64)),
            )
            .with_id(f.id.clone()));
        }
    })
}

/// A message split into its object, its `type` and its `id`.
type Envelope = (Map<String, Value>, String, Option<Value>);

/// Splits a text message into its object, its `type` and its `id`.
fn split(text: &str) -> Result<Envelope, ProtocolError> {
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(ProtocolError::new(
            ErrorCode::TooLarge,
            format!("message is larger than {MAX_MESSAGE_BYTES} bytes"),
        ));
    }
    let value: Value = serde_json::from_str(text)
        .map_err(|e| ProtocolError::new(ErrorCode::BadJson, format!("not valid JSON: {e}")))?;
    let Value::Object(obj) = value else {
        return Err(ProtocolError::new(
            ErrorCode::BadMessage,
            "a message must be a JSON object",
        ));
    };
    let id = obj.get("id").filter(|v| !v.is_null()).cloned();
    let kind = match obj.get("type") {
        Some(Value::String(s)) => s.clone(),
        _ => {
            return Err(ProtocolError::new(
                ErrorCode::BadMessage,
                "a message needs a string field \"type\"",
            )
            .with_id(id));
        }
    };
    Ok((obj, kind, id))
}

/// Typed access to a message's fields, producing `bad_value` errors that name the field.
struct Fields<'a> {
    obj: &'a Map<String, Value>,
    id: &'a Option<Value>,
}

impl Fields<'_> {
    fn bad(&self, message: impl Into<String>) -> ProtocolError {
        ProtocolError::new(ErrorCode::BadValue, message).with_id(self.id.clone())
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.obj.get(name).filter(|v| !v.is_null())
    }

    fn string(&self, name: &str, max_len: usize) -> Result<String, ProtocolError> {
        self.opt_string(name, max_len)?
            .ok_or_else(|| self.bad(format!("{name} is required")))
    }

    fn opt_string(&self, name: &str, max_len: usize) -> Result<Option<String>, ProtocolError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) if s.len() <= max_len => Ok(Some(s.clone())),
            Some(Value::String(_)) => {
                Err(self.bad(format!("{name} must be at most {max_len} bytes")))
            }
            Some(_) => Err(self.bad(format!("{name} must be a string"))),
        }
    }

    fn opt_uint(&self, name: &str, (lo, hi): (u32, u32)) -> Result<Option<u32>, ProtocolError> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        let n = v.as_f64().filter(|n| n.fract() == 0.0 && n.is_finite());
        match n {
            Some(n) if n >= f64::from(lo) && n <= f64::from(hi) => Ok(Some(n as u32)),
            _ => Err(self.bad(format!("{name} must be an integer from {lo} to {hi}"))),
        }
    }

    fn opt_f64(&self, name: &str, lo: f64, hi: f64) -> Result<Option<f64>, ProtocolError> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        match v.as_f64() {
            Some(n) if n.is_finite() && n >= lo && n <= hi => Ok(Some(n)),
            _ => Err(self.bad(format!("{name} must be a number from {lo} to {hi}"))),
        }
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(text: &str) -> ProtocolError {
        parse_client(text).expect_err(text)
    }

    #[test]
    fn parses_auth_and_watch() {
        assert_eq!(
            parse_client(r#"{"type":"auth","token":"t"}"#).unwrap(),
            ClientMessage::Auth { token: "t".into() }
        );
        let w = parse_client(r#"{"type":"watch","screen":"0","transport":"jpeg","fps":5,"quality":40,"max_width":640,"id":9}"#)
            .unwrap();
        assert_eq!(
            w,
            ClientMessage::Watch(Watch {
                screen: "0".into(),
                transport: Transport::Jpeg,
                fps: Some(5),
                quality: Some(40),
                max_width: Some(640),
                id: Some(json!(9)),
            })
        );
        let w = parse_client(r#"{"type":"watch","screen":"1"}"#).unwrap();
        assert!(matches!(
            w,
            ClientMessage::Watch(Watch {
                transport: Transport::Webrtc,
                ..
            })
        ));
    }

    #[test]
    fn refuses_bad_json_and_shapes() {
        assert_eq!(err("{").code, ErrorCode::BadJson);
        assert_eq!(err("[1]").code, ErrorCode::BadMessage);
        assert_eq!(err(r#"{"kind":"x"}"#).code, ErrorCode::BadMessage);
        let e = err(r#"{"type":"teleport","id":7}"#);
        assert_eq!(e.code, ErrorCode::UnknownType);
        assert_eq!(e.id, Some(json!(7)));
    }

    #[test]
    fn refuses_out_of_range_values_naming_the_field() {
        for (text, field) in [
            (r#"{"type":"watch","screen":"0","quality":0}"#, "quality"),
            (r#"{"type":"watch","screen":"0","quality":101}"#, "quality"),
            (r#"{"type":"watch","screen":"0","fps":61}"#, "fps"),
            (r#"{"type":"watch","screen":"0","fps":0}"#, "fps"),
            (
                r#"{"type":"watch","screen":"0","max_width":15}"#,
                "max_width",
            ),
            (
                r#"{"type":"watch","screen":"0","max_width":8193}"#,
                "max_width",
            ),
            (
                r#"{"type":"watch","screen":"0","transport":"rtmp"}"#,
                "transport",
            ),
            (r#"{"type":"watch"}"#, "screen"),
            (r#"{"type":"pointer","action":"move","x":1.5,"y":0}"#, "x"),
            (r#"{"type":"pointer","action":"move","x":"a","y":0}"#, "x"),
            (r#"{"type":"pointer","action":"move"}"#, "x and y"),
            (r#"{"type":"pointer","action":"fly","x":0,"y":0}"#, "action"),
            (
                r#"{"type":"pointer","action":"click","button":"fourth"}"#,
                "button",
            ),
            (r#"{"type":"wheel","dy":1000}"#, "dy"),
            (r#"{"type":"key","action":"down","code":""}"#, "code"),
            (r#"{"type":"key","action":"down","code":"a b"}"#, "code"),
            (r#"{"type":"quality","bitrate_kbps":5}"#, "bitrate_kbps"),
            (r#"{"type":"quality"}"#, "bitrate_kbps"),
            (r#"{"type":"request_hq_frame","quality":500}"#, "quality"),
        ] {
            let e = err(text);
            assert_eq!(e.code, ErrorCode::BadValue, "{text}");
            assert!(e.message.contains(field), "{text}: {}", e.message);
        }
    }

    #[test]
    fn parses_commands_with_ids() {
        let m = parse_client(
            r#"{"type":"pointer","action":"click","x":0.5,"y":0.25,"button":"right","id":"a"}"#,
        )
        .unwrap();
        assert_eq!(
            m,
            ClientMessage::Command {
                id: Some(json!("a")),
                screen: None,
                command: Command::Pointer {
                    action: PointerAction::Click,
                    position: Some((0.5, 0.25)),
                    button: Button::Right
                }
            }
        );
        let (id, c) = parse_command(r#"{"type":"text","text":"héllo €"}"#).unwrap();
        assert_eq!(id, None);
        assert_eq!(
            c,
            Command::Text {
                text: "héllo €".into()
            }
        );
        let (_, c) =
            parse_command(r#"{"type":"key","action":"press","code":"ShiftLeft"}"#).unwrap();
        assert_eq!(c.kind(), "key");
        assert!(parse_command(r#"{"type":"watch","screen":"0"}"#).is_err());
    }

    #[test]
    fn text_is_bounded_in_characters() {
        let long = "é".repeat(MAX_TEXT_CHARS + 1);
        let e = err(&json!({"type":"text","text": long}).to_string());
        assert_eq!(e.code, ErrorCode::BadValue);
        let ok = "é".repeat(MAX_TEXT_CHARS);
        assert!(parse_client(&json!({"type":"text","text": ok}).to_string()).is_ok());
    }

    #[test]
    fn oversized_messages_are_refused_before_parsing() {
        let big = format!(
            r#"{{"type":"answer","sdp":"{}"}}"#,
            "a".repeat(MAX_MESSAGE_BYTES)
        );
        assert_eq!(err(&big).code, ErrorCode::TooLarge);
    }

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
    fn never_panics_on_garbage() {
        for text in [
            "",
            "null",
            "\"x\"",
            "{\"type\":5}",
            "{\"type\":\"pointer\",\"x\":1e400}",
            "\u{0}",
        ] {
            let _ = parse_client(text);
        }
    }
}
