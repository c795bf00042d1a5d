//! The words of one device link: what the reader gets from the socket ([`LinkIn`]), what the writer puts on it
//! ([`LinkOut`]), and why a link ended ([`End`]), with its farewell message and close frame.

use std::time::Duration;

use bytes::Bytes;
use sightline_signaling::fleet::{CLOSE_PROTOCOL, CLOSE_REFUSED, CLOSE_REPLACED, CLOSE_TIMEOUT};

/// Longest one write to a device may take; past it the link ends as stalled.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest the final `refused`/close frames may take.
pub(super) const CLOSE_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// What the reader gets from the socket.
#[derive(Debug)]
pub enum LinkIn {
    /// A text message.
    Text(String),
    /// A binary message (media).
    Binary(Bytes),
    /// The device closed the socket.
    Closed,
    /// The socket failed (a message over the size limit, a broken connection).
    Failed(String),
}

/// What the writer puts on the socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkOut {
    /// A text message.
    Text(String),
    /// A close frame with its code and reason.
    Close(u16, String),
}

/// Why a link ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum End {
    /// The device closed the socket.
    DeviceClosed,
    /// The socket failed.
    Failed(String),
    /// The device was refused (a bad hello, unknown, over the limit).
    Refused(String),
    /// The device broke the protocol.
    Protocol(String),
    /// No hello in time, or the device went silent.
    Timeout(String),
    /// A newer connection of the device.
    Replaced,
    /// An admin removed the device.
    Removed,
    /// The gateway shuts down.
    Shutdown,
    /// A write to the device did not complete in time.
    Stalled,
}

impl End {
    /// The reason, for logs, the monitor and `device_offline`.
    pub(crate) fn reason(&self) -> String {
        match self {
            Self::DeviceClosed => "the device closed the connection".into(),
            Self::Failed(e) => format!("connection failed: {e}"),
            Self::Refused(r) => format!("refused: {r}"),
            Self::Protocol(p) => format!("protocol violation: {p}"),
            Self::Timeout(t) => t.clone(),
            Self::Replaced => "replaced by a newer connection of the same device".into(),
            Self::Removed => "removed by an administrator".into(),
            Self::Shutdown => "the hub is shutting down".into(),
            Self::Stalled => format!(
                "the device did not take a message for {} s",
                WRITE_TIMEOUT.as_secs()
            ),
        }
    }

    /// The `refused` message and the close frame to send, if any.
    pub(super) fn farewell(&self) -> (Option<String>, Option<(u16, String)>) {
        match self {
            Self::Refused(r) => (Some(r.clone()), Some((CLOSE_REFUSED, cut(r)))),
            Self::Removed => (Some(self.reason()), Some((CLOSE_REFUSED, self.reason()))),
            Self::Protocol(p) => (None, Some((CLOSE_PROTOCOL, cut(p)))),
            Self::Timeout(t) => (None, Some((CLOSE_TIMEOUT, cut(t)))),
            Self::Replaced => (None, Some((CLOSE_REPLACED, self.reason()))),
            Self::Shutdown => (
                None,
                Some((sightline_signaling::CLOSE_GOING_AWAY, self.reason())),
            ),
            Self::DeviceClosed | Self::Failed(_) | Self::Stalled => (None, None),
        }
    }
}

/// A close reason fits in 123 bytes (RFC 6455); cut on a character boundary.
fn cut(text: &str) -> String {
    let mut end = text.len().min(123);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}
