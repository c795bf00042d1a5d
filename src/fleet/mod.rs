//! The fleet: sightlines that run as **devices** dial out to one sightline that runs as their **hub**; people and
//! agents use the hub alone to see and drive every screen of every device (`sightline_signaling::fleet` is the
//! protocol, docs/PROTOCOL.md its reference).
//!
//! - [`hub`]: the hub's side — the device registry (allowed list, pending devices, persistence to the TOML file),
//!   one link task per connected device, the relay of each device screen's streams into the media engine
//!   ([`sightline_media::engine::Upstream`]), calls (input, MCP tools, snapshots) forwarded to devices, and the
//!   events stream. Below the session manager, which holds the [`hub::Hub`].
//! - [`device`]: the device's side — the outbound connection with backoff, heartbeats, streams served from the
//!   local engine, and calls carried out through the local session manager and MCP tools. An entry point, like
//!   `transport`.

pub mod device;
pub mod hub;

/// Whether a screen id names a device's screen (`<device>/<screen>`): local screen ids never contain `/`.
pub fn is_remote_screen(id: &str) -> bool {
    id.contains('/')
}

/// Splits a remote screen id into (device id, the device's screen id).
pub fn split_remote_screen(id: &str) -> Option<(&str, &str)> {
    id.split_once('/')
}

/// How logs and errors name a device: `device "kiosk" (0123…)`.
pub fn device_label(name: &str, id: &str) -> String {
    format!("device \"{name}\" ({id})")
}
