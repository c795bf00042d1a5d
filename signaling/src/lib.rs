//! The wire contract of sightline's `/ws` socket and `control` data channel, and the rules that decide what a
//! message may do in each state of a connection. No I/O lives here: the gateway's transport loop reads text,
//! calls [`parse_client`], asks a [`SocketState`] whether and how to act, and serialises [`ServerMessage`]s back.
//!
//! # Parts
//! - [`messages`]: client → server messages ([`ClientMessage`], [`Command`]) with strict validation that names the
//!   bad field, and server → client messages ([`ServerMessage`]). Full reference: `docs/PROTOCOL.md`.
//! - [`state`]: [`SocketState`], the per-socket state machine (authentication deadline, what is being watched,
//!   candidates that arrive before the answer), driven by `now` so its tests need no runtime.
//! - [`Role`]: view < control < admin.
//!
//! # Invariants
//! - Parsing never panics, whatever the input; every refusal is a [`ProtocolError`] with a stable `code`.
//! - A recoverable error never ends the socket: only a failed authentication does (close code 4401).

pub mod messages;
pub mod state;

pub use messages::{
    ClientMessage, Command, ErrorCode, IceServerInfo, KeyAction, PointerAction, ProtocolError,
    ScreenDescription, ServerMessage, Transport, Watch, parse_client, parse_command,
};
pub use state::{Action, SocketState};

use serde::{Deserialize, Serialize};

/// What a token allows. Ordered: `View < Control < Admin`; each role can do everything the lower ones can.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Watch screens.
    View,
    /// Watch and send input and stream commands.
    Control,
    /// Everything, including the monitor and kicking sessions.
    Admin,
}

impl Role {
    /// The wire name (`"view"`, `"control"`, `"admin"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::View => "view",
            Self::Control => "control",
            Self::Admin => "admin",
        }
    }

    /// Whether this role may do what `needed` allows.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// WebSocket close code sent when no valid token arrives in time or the token is wrong.
pub const CLOSE_UNAUTHORIZED: u16 = 4401;
/// WebSocket close code sent when an admin ends the session (`DELETE /api/v1/sessions/{id}`).
pub const CLOSE_KICKED: u16 = 4403;
/// WebSocket close code sent when the gateway shuts down.
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// WebSocket close code sent when the gateway is at its session limit (RFC 6455 "Try Again Later").
pub const CLOSE_TRY_AGAIN_LATER: u16 = 1013;
