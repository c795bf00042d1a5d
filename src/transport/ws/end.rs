//! Why a `/ws` socket ended ([`End`]) and the client's protocol violations ([`Violation`]), each with the close
//! frame it gets: the RFC 6455 code for what the RFC names (1001, 1002, 1003, 1007, 1008, 1009, 1011, 1013),
//! sightline's own 44xx codes for a wrong token and a kick.

use std::time::Duration;

use sightline_signaling as signaling;

/// A protocol violation of the client. Each is counted (gateway-wide and on the connection) and is a strike
/// against the client's address; those the WebSocket layer detects end the socket with their close code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation {
    /// A frame header declared more than the frame limit; refused before any of its payload was read.
    FrameTooLarge,
    /// A fragmented message grew past the message limit.
    MessageTooLarge,
    /// A text message (or a close reason) that is not UTF-8.
    BadUtf8,
    /// A frame the protocol forbids: unmasked, reserved bits set, unknown opcode, a fragmented or oversized
    /// control frame, a continuation without a start, a malformed close frame.
    Protocol,
    /// A binary message (clients send JSON text only).
    Binary,
    /// A text message the gateway cannot parse or that breaks a field's rules (answered with an `error`).
    BadMessage,
    /// A wrong token, or none within the authentication deadline.
    Unauthenticated,
}

impl Violation {
    /// The name counted in the diagnostics (`crate::diagnostics::VIOLATIONS`) and the connection's counters.
    pub fn kind(self) -> &'static str {
        match self {
            Self::FrameTooLarge => "frame_too_large",
            Self::MessageTooLarge => "message_too_large",
            Self::BadUtf8 => "bad_utf8",
            Self::Protocol => "protocol",
            Self::Binary => "binary",
            Self::BadMessage => "bad_message",
            Self::Unauthenticated => "unauthenticated",
        }
    }

    /// The close code when this violation ends the socket.
    pub fn close_code(self) -> u16 {
        match self {
            Self::FrameTooLarge | Self::MessageTooLarge => signaling::CLOSE_MESSAGE_TOO_BIG,
            Self::BadUtf8 => signaling::CLOSE_INVALID_PAYLOAD,
            Self::Protocol | Self::BadMessage => signaling::CLOSE_PROTOCOL_ERROR,
            Self::Binary => signaling::CLOSE_UNSUPPORTED_DATA,
            Self::Unauthenticated => signaling::CLOSE_POLICY_VIOLATION,
        }
    }

    /// The close reason.
    pub fn reason(self) -> &'static str {
        match self {
            Self::FrameTooLarge => "frame too large",
            Self::MessageTooLarge => "message too large",
            Self::BadUtf8 => "text is not UTF-8",
            Self::Protocol => "WebSocket protocol error",
            Self::Binary => "binary messages are not accepted",
            Self::BadMessage => "bad message",
            Self::Unauthenticated => "not authenticated",
        }
    }
}

/// Why a socket ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// The client closed the socket.
    ClientClosed,
    /// A wrong token.
    Unauthorized(&'static str),
    /// No valid token within the authentication deadline (`[limits] auth_timeout_ms`).
    AuthTimeout(Duration),
    /// An admin ended the session.
    Kicked,
    /// The gateway shuts down.
    Shutdown,
    /// The gateway is at its session limit.
    Full,
    /// The client did not read for [`super::socket::WRITE_TIMEOUT`].
    Stalled,
    /// The connection broke.
    Gone,
    /// Nothing (no message, no pong) arrived for this long (`[limits] idle_timeout_ms`).
    Idle(Duration),
    /// The client broke the protocol; when that strike also banned its address, the ban's length.
    Violation(Violation, Option<Duration>),
    /// A rate-limit hit or a bad message banned the client's address for this long.
    Banned(Duration),
    /// The socket failed in a way the gateway cannot attribute to the client.
    Internal,
}

/// Whole seconds, rounded up (a ban of 29.5 s is announced as 30 s).
fn secs(d: Duration) -> u64 {
    d.as_millis().div_ceil(1000).try_into().unwrap_or(u64::MAX)
}

/// `5 s` for whole seconds, else `250 ms`.
fn human(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

impl End {
    /// The close frame to send (code and reason), if any, and the reason for the log.
    pub fn close_frame(&self) -> (Option<u16>, String) {
        match self {
            Self::ClientClosed => (None, "client closed".into()),
            Self::Unauthorized(why) => (Some(signaling::CLOSE_UNAUTHORIZED), (*why).into()),
            Self::AuthTimeout(limit) => (
                Some(signaling::CLOSE_POLICY_VIOLATION),
                format!("no valid token within {}", human(*limit)),
            ),
            Self::Kicked => (
                Some(signaling::CLOSE_KICKED),
                "ended by an administrator".into(),
            ),
            Self::Shutdown => (
                Some(signaling::CLOSE_GOING_AWAY),
                "gateway shutting down".into(),
            ),
            Self::Full => (
                Some(signaling::CLOSE_TRY_AGAIN_LATER),
                "the gateway is at its session limit".into(),
            ),
            Self::Stalled => (None, "the client stopped reading".into()),
            Self::Gone => (None, "connection lost".into()),
            Self::Idle(limit) => (
                Some(signaling::CLOSE_GOING_AWAY),
                format!("idle: nothing received for {} s", secs(*limit)),
            ),
            Self::Violation(v, None) => (Some(v.close_code()), v.reason().into()),
            Self::Violation(v, Some(ban)) => (
                Some(v.close_code()),
                format!("{}; banned for {} s", v.reason(), secs(*ban)),
            ),
            Self::Banned(ban) => (
                Some(signaling::CLOSE_POLICY_VIOLATION),
                format!("banned for {} s", secs(*ban)),
            ),
            Self::Internal => (
                Some(signaling::CLOSE_INTERNAL_ERROR),
                "internal error".into(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_end_has_its_documented_close_code() {
        let code = |e: End| e.close_frame().0;
        assert_eq!(code(End::AuthTimeout(Duration::from_secs(5))), Some(1008));
        assert_eq!(code(End::Banned(Duration::from_secs(30))), Some(1008));
        assert_eq!(code(End::Idle(Duration::from_secs(45))), Some(1001));
        assert_eq!(code(End::Shutdown), Some(1001));
        assert_eq!(code(End::Internal), Some(1011));
        assert_eq!(code(End::Unauthorized("invalid token")), Some(4401));
        for (v, c) in [
            (Violation::FrameTooLarge, 1009),
            (Violation::MessageTooLarge, 1009),
            (Violation::BadUtf8, 1007),
            (Violation::Protocol, 1002),
            (Violation::Binary, 1003),
            (Violation::Unauthenticated, 1008),
        ] {
            assert_eq!(code(End::Violation(v, None)), Some(c), "{v:?}");
        }
        assert_eq!(
            End::Banned(Duration::from_millis(29_500)).close_frame().1,
            "banned for 30 s"
        );
        assert_eq!(
            End::Violation(Violation::FrameTooLarge, Some(Duration::from_secs(60)))
                .close_frame()
                .1,
            "frame too large; banned for 60 s"
        );
        // Every kind is one the diagnostics know (no `other`).
        for v in [
            Violation::FrameTooLarge,
            Violation::MessageTooLarge,
            Violation::BadUtf8,
            Violation::Protocol,
            Violation::Binary,
            Violation::BadMessage,
            Violation::Unauthenticated,
        ] {
            assert!(crate::diagnostics::VIOLATIONS.contains(&v.kind()), "{v:?}");
        }
    }
}
