//! What a tool produced, as [`super::handler`] turns it into a tool result. Its own module so the tool modules
//! ([`super::tools`], [`super::windows`], [`super::gestures`], …) share it without importing each other.

use serde_json::Value;

/// What a tool produced: human/model-readable text, and for some tools a picture and a JSON object.
#[derive(Debug, Default)]
pub struct Output {
    /// The text content.
    pub text: String,
    /// An image: (base64 data, MIME type).
    pub image: Option<(String, &'static str)>,
    /// The structured content.
    pub structured: Option<Value>,
}

impl Output {
    pub(crate) fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
    }

    pub(crate) fn json(value: Value) -> Self {
        Self {
            text: value.to_string(),
            structured: Some(value),
            image: None,
        }
    }

    /// A text for the model with the same facts as structured content.
    pub(crate) fn json_text(text: impl Into<String>, value: Value) -> Self {
        Self {
            text: text.into(),
            structured: Some(value),
            image: None,
        }
    }
}
