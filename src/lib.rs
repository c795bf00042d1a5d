//! sightline: watch and drive a computer's screens from a browser, a phone or an MCP client.
//!
//! # Parts
//! - [`config`] and [`cli`]: one validated TOML configuration, a thin command line.
//! - [`server`]: start-up (monitor → screen backend → media engine → HTTP) and graceful shutdown.
//! - [`gateway`]: the shared state and the one control path every edge uses; [`session`]: the session table.
//! - [`http`]: `app(state) -> Router`; [`auth`]: tokens, roles and the bearer extractors; [`error`]: the HTTP edge
//!   of errors; [`assets`]: the embedded `web/` pages.
//! - [`transport`]: the `/ws` socket (WebRTC and JPEG watches, commands) and WHEP; [`peer`]: the WebRTC peer.
//! - [`rest`]: `/api/v1` and the monitor endpoints; [`mcp`]: tools for AI agents.
//!
//! Media (capture, encode, fan-out) lives in `sightline-media`, the wire messages in `sightline-signaling`, the
//! lifecycle registry and metrics in `sightline-monitor`.

pub mod assets;
pub mod auth;
pub mod cli;
pub mod config;
pub mod error;
pub mod gateway;
pub mod health;
pub mod http;
pub mod image;
pub mod mcp;
pub mod peer;
pub mod rest;
pub mod server;
pub mod session;
pub mod telemetry;
pub mod transport;
