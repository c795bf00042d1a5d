//! Parsing client text into [`ClientMessage`]s and [`Command`]s, by hand over a [`serde_json::Value`], so every
//! refusal names the field and the reason and carries the message's `id`. Bounds come from `sightline-limits`.

use std::ops::RangeInclusive;

use serde_json::{Map, Value};
use sightline_limits::{
    BITRATE_KBPS, JPEG_FPS, JPEG_QUALITY, MAX_MESSAGE_BYTES, MAX_TEXT_CHARS, MAX_WHEEL_STEPS,
    MAX_WIDTH,
};

use super::client::{ClientMessage, DEFAULT_HQ_QUALITY, Transport, Watch};
use base64::Engine as _;

use super::command::{
    Button, ClipboardPayload, ClipboardSelection, Command, KeyAction, PointerAction,
};
use super::error::{ErrorCode, ProtocolError};

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
            fps: f.opt_uint("fps", &JPEG_FPS)?,
            quality: f.opt_uint("quality", &JPEG_QUALITY)?.map(|q| q as u8),
            max_width: f.opt_uint("max_width", &MAX_WIDTH)?,
            id: id.clone(),
        }),
        "answer" => ClientMessage::Answer {
            sdp: f.string("sdp", MAX_MESSAGE_BYTES)?,
        },
        "candidate" => ClientMessage::Candidate {
            candidate: f.opt_string("candidate", 4096)?.unwrap_or_default(),
            sdp_mid: f.opt_string("sdpMid", 64)?,
            sdp_mline_index: f.opt_uint("sdpMLineIndex", &(0..=255))?.map(|i| i as u16),
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
                .opt_uint("quality", &JPEG_QUALITY)?
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
        "clipboard" => {
            let selection = f.selection()?;
            let payload = match f.opt_string("mime", 64)?.as_deref() {
                None | Some("text/plain") => {
                    ClipboardPayload::Text(f.string("text", MAX_MESSAGE_BYTES)?)
                }
                Some("image/png") => {
                    let data = f.string("data", MAX_MESSAGE_BYTES)?;
                    let png = base64::engine::general_purpose::STANDARD
                        .decode(data.as_bytes())
                        .map_err(|e| f.bad(format!("data must be base64: {e}")))?;
                    if !png.starts_with(b"\x89PNG\r\n\x1a\n") {
                        return Err(f.bad("data must be a PNG image"));
                    }
                    ClipboardPayload::Png(png)
                }
                Some(other) => {
                    return Err(f.bad(format!(
                        "mime must be \"text/plain\" or \"image/png\", not {:?}",
                        truncate(other, 64)
                    )));
                }
            };
            Command::ClipboardSet { selection, payload }
        }
        "clipboard_get" => Command::ClipboardGet {
            selection: f.selection()?,
            image: match f.opt_string("mime", 64)?.as_deref() {
                None | Some("text/plain") => false,
                Some("image/png") => true,
                Some(other) => {
                    return Err(f.bad(format!(
                        "mime must be \"text/plain\" or \"image/png\", not {:?}",
                        truncate(other, 64)
                    )));
                }
            },
        },
        "keyframe" => Command::Keyframe,
        "quality" => Command::Quality {
            bitrate_kbps: f
                .opt_uint("bitrate_kbps", &BITRATE_KBPS)?
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

    fn selection(&self) -> Result<ClipboardSelection, ProtocolError> {
        match self.opt_string("selection", 16)?.as_deref() {
            None | Some("clipboard") => Ok(ClipboardSelection::Clipboard),
            Some("primary") => Ok(ClipboardSelection::Primary),
            Some(other) => Err(self.bad(format!(
                "selection must be \"clipboard\" or \"primary\", not {other:?}"
            ))),
        }
    }

    fn opt_uint(
        &self,
        name: &str,
        range: &RangeInclusive<u32>,
    ) -> Result<Option<u32>, ProtocolError> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        let (lo, hi) = (*range.start(), *range.end());
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
    use serde_json::json;

    use super::*;

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

    #[test]
    fn clipboard_commands_carry_text_or_a_png_and_name_bad_fields() {
        let (id, c) = parse_command(r#"{"type":"clipboard","text":"héllo","id":1}"#).unwrap();
        assert_eq!(id, Some(json!(1)));
        assert_eq!(
            c,
            Command::ClipboardSet {
                selection: ClipboardSelection::Clipboard,
                payload: ClipboardPayload::Text("héllo".into()),
            }
        );
        // A 1×1 PNG's signature and header, base64.
        let (_, c) = parse_command(
            r#"{"type":"clipboard","mime":"image/png","selection":"primary","data":"iVBORw0KGgoAAAANSUhEUg=="}"#,
        )
        .unwrap();
        assert!(matches!(
            c,
            Command::ClipboardSet {
                selection: ClipboardSelection::Primary,
                payload: ClipboardPayload::Png(ref p),
            } if p.starts_with(b"\x89PNG")
        ));
        let (_, c) = parse_command(r#"{"type":"clipboard_get","mime":"image/png"}"#).unwrap();
        assert_eq!(
            c,
            Command::ClipboardGet {
                selection: ClipboardSelection::Clipboard,
                image: true,
            }
        );
        for (text, field) in [
            (r#"{"type":"clipboard"}"#, "text is required"),
            (r#"{"type":"clipboard","text":5}"#, "text must be a string"),
            (
                r#"{"type":"clipboard","mime":"image/png","data":"%%%"}"#,
                "data must be base64",
            ),
            (
                r#"{"type":"clipboard","mime":"image/png","data":"aGVsbG8="}"#,
                "data must be a PNG",
            ),
            (
                r#"{"type":"clipboard","mime":"text/html","text":"x"}"#,
                "mime must be",
            ),
            (
                r#"{"type":"clipboard_get","selection":"secondary"}"#,
                "selection must be",
            ),
        ] {
            let e = parse_command(text).expect_err(text);
            assert_eq!(e.code, ErrorCode::BadValue, "{text}");
            assert!(e.message.contains(field), "{text}: {}", e.message);
        }
    }
}
