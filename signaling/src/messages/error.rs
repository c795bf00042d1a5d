//! Refusals: the stable [`ErrorCode`]s and the [`ProtocolError`] that goes back to the client as an `error`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::server::ServerMessage;

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
    /// The message is larger than [`MAX_MESSAGE_BYTES`](sightline_limits::MAX_MESSAGE_BYTES).
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
