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
mod role;
pub mod state;

pub use messages::{
    ClientMessage, Command, ErrorCode, IceServerInfo, KeyAction, PointerAction, ProtocolError,
    ScreenDescription, ServerMessage, Transport, Watch, parse_client, parse_command,
};
pub use role::Role;
pub use state::{Action, SocketState};

/// WebSocket close code sent when no valid token arrives in time or the token is wrong.
pub const CLOSE_UNAUTHORIZED: u16 = 4401;
/// WebSocket close code sent when an admin ends the session (`DELETE /api/v1/sessions/{id}`).
pub const CLOSE_KICKED: u16 = 4403;
/// WebSocket close code sent when the gateway shuts down.
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// WebSocket close code sent when the gateway is at its session limit (RFC 6455 "Try Again Later").
pub const CLOSE_TRY_AGAIN_LATER: u16 = 1013;
