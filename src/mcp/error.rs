//! Why a tool call failed, as the agent reads it.
//!
//! Every failure of a tool that was found and called becomes a *tool error* (`isError: true` with this text), not
//! a JSON-RPC error: MCP clients show tool errors to the model, which can then correct its call, while protocol
//! errors are usually rendered opaquely. The text names the argument and the allowed range, never internals.

use sightline_media::MediaError;
use sightline_signaling::Role;

use crate::control::{Error, ErrorKind};

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
    /// No screen has this id (the message names it).
    #[error("{0}; list_screens shows the screens")]
    NotFound(String),
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

impl From<Error> for ToolError {
    /// The MCP edge of the gateway's error vocabulary.
    fn from(e: Error) -> Self {
        match e.kind {
            ErrorKind::NotFound => Self::NotFound(e.message),
            ErrorKind::Invalid => Self::Invalid(e.message),
            ErrorKind::Busy => Self::Busy,
            // Tools check roles before calling; this is the manager's own guard speaking.
            ErrorKind::Forbidden | ErrorKind::Unavailable | ErrorKind::Internal => {
                Self::Failed(e.message)
            }
        }
    }
}

impl From<MediaError> for ToolError {
    fn from(e: MediaError) -> Self {
        Error::from(e).into()
    }
}
