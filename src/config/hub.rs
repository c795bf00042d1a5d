//! `[hub]` (this sightline is a **device** that dials out to a hub) and `[devices]` (this sightline is a **hub**:
//! which devices it accepts). The protocol between them is `sightline_signaling::fleet` (docs/PROTOCOL.md).

use serde::{Deserialize, Serialize};
use sightline_signaling::fleet::{check_device_id, check_name};

use super::error::{ConfigError, invalid};

/// Accepted heartbeat periods, ms.
pub const HEARTBEAT_MS: std::ops::RangeInclusive<u64> = 200..=60_000;
/// Most entries in `[devices] allowed`.
pub const MAX_ALLOWED_DEVICES: usize = 4096;

/// `[hub]`: device mode (`sightline device`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HubConfig {
    /// The hub's base URL, `ws://host:port` or `wss://host[:port]` (a path prefix is kept; the device appends
    /// `/api/v1/devices/connect`). `http`/`https` are accepted as synonyms. Empty: not a device.
    pub url: String,
    /// The device token (one of the hub's `[auth] devices`). Also `SIGHTLINE_DEVICE_TOKEN`.
    pub token: String,
    /// The name the hub shows; empty = the host name.
    pub name: String,
    /// Where the device's stable id is kept (generated on first start). Empty = `$XDG_STATE_HOME/sightline/
    /// device-id` (else `~/.local/state/sightline/device-id`).
    pub id_file: String,
    /// A PEM file of CA certificates to trust for `wss://` besides the system's (a private hub).
    pub ca_file: String,
    /// Heartbeat period, ms (the hub's `welcome` may ask for another).
    pub heartbeat_ms: u64,
    /// First reconnect delay, ms; doubled after each failure up to `reconnect_max_ms`, with jitter.
    pub reconnect_min_ms: u64,
    /// Longest reconnect delay, ms.
    pub reconnect_max_ms: u64,
    /// Also run the local HTTP server (`[server] listen`): off by default, so a device listens on nothing.
    pub local_server: bool,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            token: String::new(),
            name: String::new(),
            id_file: String::new(),
            ca_file: String::new(),
            heartbeat_ms: 5_000,
            reconnect_min_ms: 500,
            reconnect_max_ms: 30_000,
            local_server: false,
        }
    }
}

impl HubConfig {
    /// Checks the keys (the URL only when set: `sightline device` requires it).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.url.is_empty() {
            check_hub_url(&self.url).map_err(|why| invalid("hub.url", why))?;
        }
        if !self.token.is_empty() && self.token.len() < 8 {
            return Err(invalid("hub.token", "tokens must be at least 8 characters"));
        }
        if !self.name.is_empty() {
            check_name(&self.name).map_err(|why| invalid("hub.name", why))?;
        }
        if !HEARTBEAT_MS.contains(&self.heartbeat_ms) {
            return Err(invalid(
                "hub.heartbeat_ms",
                format!(
                    "must be from {} to {}",
                    HEARTBEAT_MS.start(),
                    HEARTBEAT_MS.end()
                ),
            ));
        }
        if !(50..=600_000).contains(&self.reconnect_min_ms) {
            return Err(invalid("hub.reconnect_min_ms", "must be from 50 to 600000"));
        }
        if !(self.reconnect_min_ms..=600_000).contains(&self.reconnect_max_ms) {
            return Err(invalid(
                "hub.reconnect_max_ms",
                "must be from hub.reconnect_min_ms to 600000",
            ));
        }
        Ok(())
    }
}

/// Checks a hub URL: `ws`, `wss`, `http` or `https`, a host, no query or fragment.
pub fn check_hub_url(url: &str) -> Result<(), String> {
    let rest = ["ws://", "wss://", "http://", "https://"]
        .iter()
        .find_map(|s| url.strip_prefix(s))
        .ok_or_else(|| format!("{url:?} must start with ws://, wss://, http:// or https://"))?;
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() || url.contains(['?', '#', ' ']) {
        return Err(format!(
            "{url:?} must name a host and have no query, fragment or spaces"
        ));
    }
    Ok(())
}

/// `[devices]`: the hub's side.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DevicesConfig {
    /// Accepted devices, `"<hex id> <name>"` each. Empty at start-up: every device with a device token is accepted
    /// and added here (the file is rewritten, keeping the rest of it). Otherwise an unknown device is refused and
    /// listed as pending until an admin approves it (`POST /api/v1/devices/{id}/approve`).
    pub allowed: Vec<String>,
    /// How often the hub pings each device, ms; a device silent for three periods is offline.
    pub heartbeat_ms: u64,
    /// Most devices connected at once.
    pub max_devices: usize,
    /// Most pending (refused, unknown) devices remembered for approval; the oldest is forgotten first.
    pub max_pending: usize,
}

impl Default for DevicesConfig {
    fn default() -> Self {
        Self {
            allowed: Vec::new(),
            heartbeat_ms: 5_000,
            max_devices: 256,
            max_pending: 64,
        }
    }
}

impl DevicesConfig {
    /// Checks the keys.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.allowed.len() > MAX_ALLOWED_DEVICES {
            return Err(invalid(
                "devices.allowed",
                format!("at most {MAX_ALLOWED_DEVICES} entries"),
            ));
        }
        for entry in &self.allowed {
            parse_allowed(entry).map_err(|why| invalid("devices.allowed", why))?;
        }
        if !HEARTBEAT_MS.contains(&self.heartbeat_ms) {
            return Err(invalid(
                "devices.heartbeat_ms",
                format!(
                    "must be from {} to {}",
                    HEARTBEAT_MS.start(),
                    HEARTBEAT_MS.end()
                ),
            ));
        }
        if !(1..=10_000).contains(&self.max_devices) {
            return Err(invalid("devices.max_devices", "must be from 1 to 10000"));
        }
        if !(1..=10_000).contains(&self.max_pending) {
            return Err(invalid("devices.max_pending", "must be from 1 to 10000"));
        }
        Ok(())
    }
}

/// Splits an allowed-list entry `"<hex id> <name>"` (the name may be absent or contain spaces).
pub fn parse_allowed(entry: &str) -> Result<(String, String), String> {
    let (id, name) = entry.split_once(' ').unwrap_or((entry, ""));
    check_device_id(id).map_err(|why| format!("{entry:?}: {why}"))?;
    let name = name.trim();
    if !name.is_empty() {
        check_name(name).map_err(|why| format!("{entry:?}: {why}"))?;
    }
    Ok((id.to_owned(), name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_entries_and_urls() {
        assert_eq!(
            parse_allowed("0123456789abcdef kiosk in hall").unwrap(),
            ("0123456789abcdef".into(), "kiosk in hall".into())
        );
        assert_eq!(parse_allowed("0123456789abcdef").unwrap().1, String::new());
        assert!(parse_allowed("XYZ kiosk").is_err());
        assert!(check_hub_url("wss://hub.example.com").is_ok());
        assert!(check_hub_url("ws://10.0.0.1:8080/prefix").is_ok());
        assert!(check_hub_url("ftp://x").is_err());
        assert!(check_hub_url("ws://").is_err());
        assert!(check_hub_url("ws://h/?a").is_err());
    }
}
