//! Why a tool call failed, as the agent reads it.
//!
//! Every failure of a tool that was found and called becomes a *tool error* (`isError: true` with this text), not
//! a JSON-RPC error: MCP clients show tool errors to the model, which can then correct its call, while protocol
//! errors are usually rendered opaquely. The text names the argument and the allowed range, never internals.

use sightline_media::MediaError;
use sightline_signaling::Role;

use crate::gateway::ControlError;

/// A failed tool call.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ToolError {
    /// The caller's role does not allow this tool. Nothing was done.
    #[error("{tool} needs role {needed}; this token has role {role}. Nothing was done")]
    Forbidden {
        /// The tool.
        tool: String,
        /// The caller's role.
        role: Role,
        /// The role the tool needs.
        needed: Role,
    },
    /// An argument is missing, malformed or out of range.
    #[error("{0}")]
    Invalid(String),
    /// No screen has this id.
    #[error("unknown screen {0:?}; list_screens shows the screens")]
    UnknownScreen(String),
    /// The input queue is full: the display is not keeping up.
    #[error("the input queue is full; retry shortly")]
    Busy,
    /// The call was cancelled by the client or its session was ended.
    #[error("{0}")]
    Cancelled(&'static str),
    /// The gateway could not do it (capture, encoder, input or display failure).
    #[error("{0}")]
    Failed(String),
}

impl ToolError {
    /// An [`ToolError::Invalid`] with a formatted message.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }
}

impl From<MediaError> for ToolError {
    fn from(e: MediaError) -> Self {
        match e {
            MediaError::UnknownScreen(id) => Self::UnknownScreen(id),
            MediaError::Invalid { .. } => Self::Invalid(e.to_string()),
            MediaError::Stopped => Self::Failed("the gateway is shutting down".into()),
            other => Self::Failed(other.to_string()),
        }
    }
}

impl From<ControlError> for ToolError {
    fn from(e: ControlError) -> Self {
        match e {
            // Tools check roles before injecting; this is the gateway's own guard speaking.
            ControlError::Forbidden(role) => Self::Failed(format!("role {role} cannot send input")),
            ControlError::UnknownScreen(id) => Self::UnknownScreen(id),
            ControlError::Invalid(m) => Self::Invalid(m),
            ControlError::Busy => Self::Busy,
            ControlError::Failed(m) => Self::Failed(m),
        }
    }
}
