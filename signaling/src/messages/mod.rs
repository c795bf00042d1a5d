//! Messages of the `/ws` socket and the `control` data channel (JSON text, each with a `type`).
//!
//! Parsing is done by hand over a [`serde_json::Value`] rather than by a derived `Deserialize`, so that every
//! refusal names the field and the reason (`"x must be a number from 0 to 1"`) and carries the message's `id`.
//! Unknown fields are ignored, so clients may add their own.
//!
//! # Files
//! - `client.rs`: client → server messages ([`ClientMessage`], [`Watch`]).
//! - `command.rs`: the [`Command`]s of the `control` data channel and the WebSocket, with their enums.
//! - `server.rs`: server → client messages ([`ServerMessage`]).
//! - `error.rs`: [`ErrorCode`] and [`ProtocolError`].
//! - `parse.rs`: [`parse_client`] and [`parse_command`]. The bounds they enforce come from `sightline-limits`.

mod client;
mod command;
mod error;
mod parse;
mod server;

pub use client::{ClientMessage, DEFAULT_HQ_QUALITY, Transport, Watch};
pub use command::{
    Button, ClipboardPayload, ClipboardSelection, Command, KeyAction, PointerAction,
};
pub use error::{ErrorCode, ProtocolError};
pub use parse::{parse_client, parse_command};
pub use server::{IceServerInfo, ScreenDescription, ServerMessage};
