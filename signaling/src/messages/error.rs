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
    /// The message exceeds the connection's or the token's budget for its class and was not carried out;
    /// `retry_after_ms` says when one of its class would pass.
    RateLimited,
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
            Self::RateLimited => "rate_limited",
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
    /// [`ErrorCode::RateLimited`] only: in how many milliseconds a message of the same class would pass.
    pub retry_after_ms: Option<u64>,
}

impl ProtocolError {
    /// An error without an id.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            id: None,
            retry_after_ms: None,
        }
    }

    /// A `rate_limited` refusal of a message of `class` (its name in the message) that would pass in `retry_after`.
    pub fn rate_limited(class: &str, retry_after: std::time::Duration) -> Self {
        // Rounded up, so a client that waits exactly this long is not refused again.
        let ms = u64::try_from(retry_after.as_micros().div_ceil(1000)).unwrap_or(u64::MAX);
        Self {
            code: ErrorCode::RateLimited,
            message: format!("over the budget of {class} messages; retry in {ms} ms"),
            id: None,
            retry_after_ms: Some(ms),
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
            retry_after_ms: self.retry_after_ms,
        }
    }
}
