//! sightline: watch and drive a computer's screens from a browser, a phone or an MCP client.

pub mod assets;
pub mod auth;
pub mod config;
pub mod error;
pub mod peer;
pub mod session;
pub mod telemetry;
