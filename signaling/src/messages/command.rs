//! Commands: input and stream control, the same JSON on the `control` data channel and on the WebSocket.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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

// Wire names `"left"`, `"middle"`, `"right"`; a pointer command without `button` means `Left`, the `Default`.
// The MCP tools take this type too, so its derived JSON schema is part of their contract: the doc comments below
// are its descriptions (a `oneOf` of string consts), kept word for word as the MCP tools had them.
/// A mouse button.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Button {
    /// The primary button.
    #[default]
    Left,
    /// The middle button (wheel click).
    Middle,
    /// The secondary button (context menu).
    Right,
}

/// Which clipboard of the remote desktop (`"clipboard"` when absent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ClipboardSelection {
    /// The clipboard of Ctrl+C / Ctrl+V.
    #[default]
    Clipboard,
    /// X11's PRIMARY selection: the last text selected, pasted with a middle click.
    Primary,
}

/// Content for the remote clipboard, decoded from a `clipboard` command.
#[derive(Clone, PartialEq, Eq)]
pub enum ClipboardPayload {
    /// UTF-8 text (`"text"`).
    Text(String),
    /// A PNG image (`"mime":"image/png"`, `"data"` in base64).
    Png(Vec<u8>),
}

impl std::fmt::Debug for ClipboardPayload {
    // Clipboards carry passwords: logs get the kind and size only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Text(t) => write!(f, "Text({} bytes)", t.len()),
            Self::Png(p) => write!(f, "Png({} bytes)", p.len()),
        }
    }
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
    /// `{"type":"clipboard","text":"…"}` or `{"type":"clipboard","mime":"image/png","data":"<base64>"}`, with an
    /// optional `"selection":"clipboard|primary"`: sets the remote clipboard (a paste in the page).
    ClipboardSet {
        /// Which selection.
        selection: ClipboardSelection,
        /// The content.
        payload: ClipboardPayload,
    },
    /// `{"type":"clipboard_get","selection":"clipboard|primary","mime":"text/plain|image/png"}`: the gateway
    /// answers with a `clipboard` message holding the remote clipboard now.
    ClipboardGet {
        /// Which selection.
        selection: ClipboardSelection,
        /// `true` for an image (`image/png`), `false` for text (the default).
        image: bool,
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
    /// The wire `type` of this command, for logs and the monitor.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Pointer { .. } => "pointer",
            Self::Wheel { .. } => "wheel",
            Self::Key { .. } => "key",
            Self::Text { .. } => "text",
            Self::ClipboardSet { .. } => "clipboard",
            Self::ClipboardGet { .. } => "clipboard_get",
            Self::Keyframe => "keyframe",
            Self::Quality { .. } => "quality",
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn button_is_a_lowercase_string_defaulting_to_left() {
        assert_eq!(Button::default(), Button::Left);
        for (b, name) in [
            (Button::Left, "left"),
            (Button::Middle, "middle"),
            (Button::Right, "right"),
        ] {
            assert_eq!(serde_json::to_value(b).unwrap(), json!(name));
            assert_eq!(serde_json::from_value::<Button>(json!(name)).unwrap(), b);
        }
        let schema = serde_json::to_value(schemars::schema_for!(Button)).unwrap();
        assert_eq!(schema["description"], "A mouse button.");
        let names: Vec<_> = schema["oneOf"]
            .as_array()
            .expect("a oneOf of string consts")
            .iter()
            .map(|v| {
                assert_eq!(v["type"], "string");
                v["const"].as_str().unwrap()
            })
            .collect();
        assert_eq!(names, ["left", "middle", "right"]);
    }
}
