//! The gateway's one error vocabulary: every failure a client can cause or meet is an [`Error`] of one
//! [`ErrorKind`], and each edge translates the kind exactly once: the HTTP status (`crate::error`), the `/ws` and
//! data-channel `error` code ([`Error::to_protocol`]), the MCP tool error (`crate::mcp::error`) and the command
//! line's message (`crate::cli`). Nothing matches an error by its text.
//!
//! The media engine's typed [`MediaError`] is mapped here, once.
//!
//! A value the client chose (a screen id, a session id, a query value) is never echoed back whole: [`echo`] quotes
//! it cut to [`MAX_ECHO_CHARS`], so a 10,000-character id costs the gateway a 64-character error, not a 10 KB one.

use sightline_media::MediaError;
use sightline_signaling::{ErrorCode, ProtocolError, Role};

/// Longest part of a client's value quoted back in an error message, in characters (after escaping). Ids the
/// gateway makes (`s12`, `0`, `:0.1`) are far shorter; anything longer is cut and marked with `…`.
pub const MAX_ECHO_CHARS: usize = 64;

/// A client's value as error messages quote it: in double quotes, control characters escaped, at most
/// [`MAX_ECHO_CHARS`] characters of it, then `…` when it was longer.
pub fn echo(value: &str) -> String {
    let mut out = String::with_capacity(MAX_ECHO_CHARS + 8);
    out.push('"');
    let mut used = 0;
    for c in value.chars() {
        let escaped: String = c.escape_debug().collect();
        let n = escaped.chars().count();
        if used + n > MAX_ECHO_CHARS {
            out.push('…');
            break;
        }
        used += n;
        out.push_str(&escaped);
    }
    out.push('"');
    out
}

/// What kind of failure, as every edge needs to know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// No such screen, session or resource.
    NotFound,
    /// A value given by the caller is malformed or out of range.
    Invalid,
    /// A bounded queue or limit is full right now; retrying shortly may work.
    Busy,
    /// The caller's role does not allow this.
    Forbidden,
    /// The gateway cannot do it now (shutting down, no display, at a limit of its configuration).
    Unavailable,
    /// Something failed inside (capture, encoder, input backend, display). The message says what, without
    /// secrets; HTTP clients get a generic text and the detail goes to the log.
    Internal,
}

/// A failure with its kind and a message that is safe to show to the client.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    /// The kind, which decides the status, code or tool error at each edge.
    pub kind: ErrorKind,
    /// What happened, for the client.
    pub message: String,
}

impl Error {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// [`ErrorKind::NotFound`].
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// [`ErrorKind::Invalid`].
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, message)
    }

    /// [`ErrorKind::Busy`].
    pub fn busy(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Busy, message)
    }

    /// [`ErrorKind::Forbidden`]: `role` may not do `what`.
    pub fn forbidden(role: Role, what: impl std::fmt::Display) -> Self {
        Self::new(ErrorKind::Forbidden, format!("role {role} cannot {what}"))
    }

    /// [`ErrorKind::Unavailable`].
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }

    /// [`ErrorKind::Internal`].
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// The `/ws` and data-channel edge: the `error` message's code for this kind.
    pub fn to_protocol(&self) -> ProtocolError {
        let code = match self.kind {
            // The only things a socket client can name that may not exist are screens.
            ErrorKind::NotFound => ErrorCode::UnknownScreen,
            ErrorKind::Invalid => ErrorCode::BadValue,
            ErrorKind::Busy => ErrorCode::Busy,
            ErrorKind::Forbidden => ErrorCode::Forbidden,
            ErrorKind::Unavailable | ErrorKind::Internal => ErrorCode::Failed,
        };
        ProtocolError::new(code, self.message.clone())
    }
}

impl From<MediaError> for Error {
    fn from(e: MediaError) -> Self {
        let kind = match &e {
            MediaError::Invalid { .. } | MediaError::TooLarge { .. } => ErrorKind::Invalid,
            MediaError::Busy(_) => ErrorKind::Busy,
            MediaError::Unavailable(_) => ErrorKind::Unavailable,
            MediaError::Stopped => {
                return Self::unavailable("the gateway is shutting down");
            }
            // The id is the client's: quoted cut short, never whole.
            MediaError::UnknownScreen(id) => {
                return Self::not_found(format!("unknown screen {}", echo(id)));
            }
            MediaError::Display(_)
            | MediaError::Capture(_)
            | MediaError::Input(_)
            | MediaError::Encoder(_) => ErrorKind::Internal,
        };
        Self::new(kind, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_errors_map_to_one_kind_each() {
        let kind = |e: MediaError| Error::from(e).kind;
        assert_eq!(
            kind(MediaError::UnknownScreen("9".into())),
            ErrorKind::NotFound
        );
        assert_eq!(kind(MediaError::invalid("fps", "0")), ErrorKind::Invalid);
        assert_eq!(
            kind(MediaError::Busy("input queue is full".into())),
            ErrorKind::Busy
        );
        assert_eq!(kind(MediaError::Stopped), ErrorKind::Unavailable);
        assert_eq!(
            kind(MediaError::Unavailable("no display".into())),
            ErrorKind::Unavailable
        );
        assert_eq!(
            kind(MediaError::Input("unknown key".into())),
            ErrorKind::Internal
        );
    }

    #[test]
    fn the_socket_edge_uses_stable_codes() {
        let code = |k| Error::new(k, "m").to_protocol().code;
        assert_eq!(code(ErrorKind::NotFound), ErrorCode::UnknownScreen);
        assert_eq!(code(ErrorKind::Invalid), ErrorCode::BadValue);
        assert_eq!(code(ErrorKind::Busy), ErrorCode::Busy);
        assert_eq!(code(ErrorKind::Forbidden), ErrorCode::Forbidden);
        assert_eq!(code(ErrorKind::Unavailable), ErrorCode::Failed);
        assert_eq!(code(ErrorKind::Internal), ErrorCode::Failed);
        let unknown = Error::from(MediaError::UnknownScreen("7".into())).to_protocol();
        assert_eq!(unknown.message, "unknown screen \"7\"");
    }

    #[test]
    fn echoed_values_are_quoted_escaped_and_cut() {
        assert_eq!(echo("s12"), "\"s12\"");
        assert_eq!(echo("a\"b\n"), "\"a\\\"b\\n\"");
        let exact = "x".repeat(MAX_ECHO_CHARS);
        assert_eq!(echo(&exact), format!("\"{exact}\""));
        let long = "é".repeat(10_000);
        let shown = echo(&long);
        assert_eq!(shown.chars().count(), MAX_ECHO_CHARS + 3, "{shown}");
        assert!(shown.ends_with("…\""), "{shown}");
        // Escapes count towards the limit and are never split.
        let shown = echo(&"\u{1}".repeat(100));
        assert!(shown.chars().count() <= MAX_ECHO_CHARS + 3, "{shown}");
        assert!(shown.ends_with("}…\""), "{shown}");
        let unknown = Error::from(MediaError::UnknownScreen("9".repeat(10_000)));
        assert_eq!(unknown.kind, ErrorKind::NotFound);
        assert!(unknown.message.len() < 100, "{}", unknown.message);
        assert!(unknown.message.starts_with("unknown screen \"999"));
    }
}
