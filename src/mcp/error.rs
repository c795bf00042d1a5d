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
    /// The token's budget of tool calls (or screenshots) is spent; nothing was done.
    #[error("rate limited; retry in {} ms", .0.as_millis().max(1))]
    RateLimited(std::time::Duration),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What the agent reads for each kind: the enum variant and its text.
    fn tool_error(kind: ErrorKind) -> ToolError {
        ToolError::from(Error::new(kind, "unknown screen \"9\""))
    }

    #[test]
    fn each_error_kind_maps_to_its_tool_error() {
        // Exhaustive: a new kind must be given its tool error here.
        for kind in [
            ErrorKind::NotFound,
            ErrorKind::Invalid,
            ErrorKind::Busy,
            ErrorKind::Forbidden,
            ErrorKind::Unavailable,
            ErrorKind::Internal,
        ] {
            let expected = match kind {
                ErrorKind::NotFound => ToolError::NotFound("unknown screen \"9\"".into()),
                ErrorKind::Invalid => ToolError::Invalid("unknown screen \"9\"".into()),
                ErrorKind::Busy => ToolError::Busy,
                ErrorKind::Forbidden | ErrorKind::Unavailable | ErrorKind::Internal => {
                    ToolError::Failed("unknown screen \"9\"".into())
                }
            };
            assert_eq!(tool_error(kind), expected, "{kind:?}");
        }
    }

    #[test]
    fn tool_error_texts_tell_the_agent_what_to_do() {
        assert_eq!(
            tool_error(ErrorKind::NotFound).to_string(),
            "unknown screen \"9\"; list_screens shows the screens"
        );
        assert_eq!(
            tool_error(ErrorKind::Busy).to_string(),
            "the input queue is full; retry shortly"
        );
        assert_eq!(
            tool_error(ErrorKind::Invalid).to_string(),
            "unknown screen \"9\""
        );
        assert_eq!(
            tool_error(ErrorKind::Internal).to_string(),
            "unknown screen \"9\""
        );
    }

    #[test]
    fn a_rate_limit_says_when_to_retry() {
        let e = ToolError::RateLimited(std::time::Duration::from_micros(250_400));
        assert_eq!(e.to_string(), "rate limited; retry in 250 ms");
        let e = ToolError::RateLimited(std::time::Duration::from_micros(10));
        assert_eq!(e.to_string(), "rate limited; retry in 1 ms");
    }

    #[test]
    fn media_errors_reach_the_agent_through_the_same_mapping() {
        assert_eq!(
            ToolError::from(MediaError::Busy("input queue is full".into())),
            ToolError::Busy
        );
        assert_eq!(
            ToolError::from(MediaError::UnknownScreen("9".into())).to_string(),
            "unknown screen \"9\"; list_screens shows the screens"
        );
        assert!(matches!(
            ToolError::from(MediaError::Input("no such key".into())),
            ToolError::Failed(_)
        ));
        assert!(matches!(
            ToolError::from(MediaError::invalid("quality", "0")),
            ToolError::Invalid(_)
        ));
    }
}
