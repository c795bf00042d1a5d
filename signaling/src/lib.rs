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
//! - A recoverable error never ends the socket. What does end it, and the close code each sends (RFC 6455 codes
//!   for what the RFC names, 44xx for sightline's own), is listed with the `CLOSE_*` constants below.

pub mod fleet;
pub mod messages;
mod role;
pub mod state;

pub use messages::{
    ClientMessage, ClipboardPayload, ClipboardSelection, Command, ErrorCode, IceServerInfo,
    KeyAction, PointerAction, ProtocolError, ScreenDescription, ServerMessage, Transport, Watch,
    parse_client, parse_command,
};
pub use role::Role;
pub use state::{Action, SocketState};

/// WebSocket close code sent when the token is wrong.
pub const CLOSE_UNAUTHORIZED: u16 = 4401;
/// WebSocket close code sent when an admin ends the session (`DELETE /api/v1/sessions/{id}`).
pub const CLOSE_KICKED: u16 = 4403;
/// RFC 6455 "Going Away": the gateway shuts down, or the client was silent past the idle timeout.
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// RFC 6455 "Protocol Error": a frame the protocol forbids (unmasked, reserved bits set, unknown opcode, a
/// fragmented or oversized control frame, a continuation without a start).
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;
/// RFC 6455 "Unsupported Data": binary messages again after the first was refused (clients send JSON text only).
pub const CLOSE_UNSUPPORTED_DATA: u16 = 1003;
/// RFC 6455 "Invalid Payload Data": a text message that is not UTF-8.
pub const CLOSE_INVALID_PAYLOAD: u16 = 1007;
/// RFC 6455 "Policy Violation": no valid token within the authentication deadline, or the address was banned for
/// exceeding its rate limits.
pub const CLOSE_POLICY_VIOLATION: u16 = 1008;
/// RFC 6455 "Message Too Big": a frame or message over the size limit, refused at its header.
pub const CLOSE_MESSAGE_TOO_BIG: u16 = 1009;
/// RFC 6455 "Internal Error": the gateway failed to serve the socket.
pub const CLOSE_INTERNAL_ERROR: u16 = 1011;
/// WebSocket close code sent when the gateway is at its session limit (RFC 6455 "Try Again Later").
pub const CLOSE_TRY_AGAIN_LATER: u16 = 1013;
