//! The clipboard tools: `get_clipboard` and `set_clipboard`, on the same [`ClipboardHub`] as viewers (the same
//! `[clipboard]` roles and size limit).
//!
//! [`ClipboardHub`]: crate::session::clipboard::ClipboardHub

use base64::Engine as _;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use sightline_media::{ClipboardData, ClipboardKind, Selection};
use sightline_signaling::ClipboardPayload;

use super::error::ToolError;
use super::output::Output;
use crate::session::clipboard::ClipboardContent;
use crate::session::{Actor, SessionManager};

/// Which selection a clipboard tool uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SelectionArg {
    /// The clipboard of Ctrl+C / Ctrl+V.
    #[default]
    Clipboard,
    /// X11's PRIMARY selection: the last text selected (pasted with a middle click).
    Primary,
}

impl From<SelectionArg> for Selection {
    fn from(s: SelectionArg) -> Self {
        match s {
            SelectionArg::Clipboard => Selection::Clipboard,
            SelectionArg::Primary => Selection::Primary,
        }
    }
}

/// Arguments of `get_clipboard`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetClipboardArgs {
    /// `clipboard` (default) or `primary`.
    pub selection: Option<SelectionArg>,
    /// Read an image (PNG) instead of text. Default false.
    pub image: Option<bool>,
}

/// Arguments of `set_clipboard`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetClipboardArgs {
    /// The text to put on the clipboard. Give either `text` or `png_base64`.
    pub text: Option<String>,
    /// A PNG image, base64-encoded, to put on the clipboard instead of text.
    pub png_base64: Option<String>,
    /// `clipboard` (default) or `primary`.
    pub selection: Option<SelectionArg>,
}

/// `get_clipboard`: the remote clipboard's text (or image) now.
pub async fn get_clipboard(
    gw: &SessionManager,
    actor: &Actor,
    args: GetClipboardArgs,
) -> Result<Output, ToolError> {
    let selection: Selection = args.selection.unwrap_or_default().into();
    let kind = if args.image.unwrap_or(false) {
        ClipboardKind::Image
    } else {
        ClipboardKind::Text
    };
    let content = gw
        .clipboard()
        .get(actor.role, actor.connection, selection, kind)
        .await?;
    let name = selection.as_str();
    Ok(match content {
        ClipboardContent::Empty => Output::json_text(
            format!("The {name} holds no {}.", kind_name(kind)),
            json!({ "selection": name, "empty": true, "bytes": 0 }),
        ),
        ClipboardContent::TooLarge { bytes, .. } => {
            return Err(ToolError::invalid(format!(
                "the {name} holds {bytes} bytes, over the limit of {} bytes ([clipboard] max_bytes)",
                gw.clipboard().config().max_bytes
            )));
        }
        ClipboardContent::Data(data) => match &*data {
            ClipboardData::Text(t) => Output::json_text(
                t.clone(),
                json!({ "selection": name, "mime": "text/plain", "text": t, "bytes": t.len() }),
            ),
            ClipboardData::Png(p) => Output {
                text: format!("The {name} holds a PNG image of {} bytes.", p.len()),
                image: Some((
                    base64::engine::general_purpose::STANDARD.encode(p),
                    "image/png",
                )),
                structured: Some(
                    json!({ "selection": name, "mime": "image/png", "bytes": p.len() }),
                ),
            },
        },
    })
}

/// `set_clipboard`: puts text (or a PNG image) on the remote clipboard, ready to paste.
pub async fn set_clipboard(
    gw: &SessionManager,
    actor: &Actor,
    args: SetClipboardArgs,
) -> Result<Output, ToolError> {
    let selection: Selection = args.selection.unwrap_or_default().into();
    let payload = match (args.text, args.png_base64) {
        (Some(t), None) => ClipboardPayload::Text(t),
        (None, Some(b64)) => {
            let png = base64::engine::general_purpose::STANDARD
                .decode(b64.trim().as_bytes())
                .map_err(|e| ToolError::invalid(format!("png_base64 is not base64: {e}")))?;
            if !png.starts_with(b"\x89PNG\r\n\x1a\n") {
                return Err(ToolError::invalid("png_base64 is not a PNG image"));
            }
            ClipboardPayload::Png(png)
        }
        _ => return Err(ToolError::invalid("give exactly one of text or png_base64")),
    };
    let (what, bytes) = match &payload {
        ClipboardPayload::Text(t) => ("text", t.len()),
        ClipboardPayload::Png(p) => ("a PNG image", p.len()),
    };
    gw.clipboard()
        .set(actor.role, actor.connection, selection, payload)
        .await?;
    let name = selection.as_str();
    Ok(Output::json_text(
        format!(
            "The {name} now holds {what} ({bytes} bytes); paste it with press_keys [\"ControlLeft\",\"KeyV\"]."
        ),
        json!({ "selection": name, "bytes": bytes }),
    ))
}

fn kind_name(kind: ClipboardKind) -> &'static str {
    match kind {
        ClipboardKind::Text => "text",
        ClipboardKind::Image => "image",
    }
}
