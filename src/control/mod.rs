//! The control layer: rules every entry point shares, as plain data and pure functions. Nothing here does I/O,
//! reads a clock or knows a transport; everything above it (the session manager, `/ws`, WHEP, REST, MCP) uses it.
//!
//! - [`error`]: the one error vocabulary ([`Error`] of an [`ErrorKind`]) and the mapping of media errors.
//! - [`policy`]: which role may do what ([`Action`]).
//! - [`intent`]: input as one type ([`Intent`]) with its role and its backend events.

pub mod error;
pub mod intent;
pub mod policy;

pub use error::{Error, ErrorKind, echo};
pub use intent::{At, Intent};
pub use policy::Action;
