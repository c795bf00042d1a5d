//! sightline: watch and drive a computer's screens from a browser, a phone or an MCP client.
//!
//! # Layers (imports point down only)
//! 1. [`control`]: the rules every entry point shares, pure: the error vocabulary, the role policy, input intents.
//!    [`config`] and [`auth`] (tokens and roles) sit beside it, [`origin`] (the `Host`/`Origin` allow-lists), and
//!    [`ratelimit`] and [`diagnostics`] (the abuse budget and its counters).
//! 2. [`peer`]: the WebRTC peer (webrtc-rs) that carries one viewer's H.264 stream and data channel.
//! 3. [`session`]: the session manager, the single owner of sessions and viewers and the only way to the media
//!    engine and the monitor.
//! 4. Entry points, each only parsing, calling the manager and mapping the result: [`transport`] (the `/ws`
//!    socket, WHEP, and the JPEG pacing `/ws` and MJPEG share), [`rest`] and [`diagnostics_rest`] (the abuse
//!    report), [`mcp`]; [`error`] is the HTTP edge of errors, [`cors`] the one CORS policy writer, [`image`] and
//!    [`health`] pure helpers, [`assets`] the embedded `web/` pages.
//! 5. [`http`]: `app(manager) -> Router`; [`edge`]: the accept loop, connection limits and TLS in front of it;
//!    [`server`]: start-up and shutdown; [`cli`]: the command line.
//!
//! Media (capture, encode, fan-out) lives in `sightline-media`, the wire messages in `sightline-signaling`, the
//! lifecycle registry and metrics in `sightline-monitor`, the bounds on client-chosen values in `sightline-limits`.
//! `docs/ARCHITECTURE.md` draws the data and control flow.

#[cfg(target_os = "linux")]
pub mod a11y;
pub mod assets;
pub mod auth;
pub mod cli;
pub mod config;
pub mod control;
pub mod cors;
pub mod devices_rest;
pub mod diagnostics;
pub mod diagnostics_rest;
pub mod edge;
pub mod error;
pub mod fleet;
pub mod health;
pub mod http;
pub mod httpc;
pub mod image;
pub mod mcp;
pub mod origin;
pub mod peer;
pub mod ratelimit;
pub mod rest;
pub mod server;
pub mod session;
pub mod sfu;
pub mod telemetry;
pub mod transport;
pub mod turn;
pub mod whip;
