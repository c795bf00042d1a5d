//! `[limits]`: how much of the gateway one client, one address and everyone together may take. Every value has a
//! default that a single phone or agent never reaches; the overload policy of each is written beside it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::{ConfigError, invalid};

/// `[limits]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Most open TCP connections (HTTP, WebSocket, MCP, MJPEG) in all. Past it new connections are closed at once,
    /// before anything is read.
    pub max_connections: usize,
    /// Most open TCP connections from one IP address. Past it that address's new connections are closed at once.
    pub max_connections_per_ip: usize,
    /// Longest a client may take to send a request's headers, in ms; then `408` and the connection is closed.
    /// Also how long an idle keep-alive connection is kept.
    pub header_timeout_ms: u64,
    /// Largest request head (request line and headers), in bytes; larger gets `431`.
    pub max_header_bytes: usize,
    /// Most `/ws` sockets that have not authenticated yet; past it upgrades get `503`.
    pub max_unauthenticated: usize,
    /// How long a `/ws` socket may stay without a valid token, in ms; then it is closed with 1008.
    pub auth_timeout_ms: u64,
    /// The gateway pings every long-lived connection this often, in ms.
    pub heartbeat_ms: u64,
    /// A long-lived connection from which nothing (message, pong) arrives for this long is closed (1001), in ms.
    pub idle_timeout_ms: u64,
    /// Most MCP sessions one token may hold at once; its next `initialize` gets `429`.
    pub mcp_sessions_per_token: usize,
    /// Rate-limit hits from one IP address within [`Self::ban_window_ms`] that ban it.
    pub ban_after: u32,
    /// The window in which rate-limit hits count towards a ban, in ms.
    pub ban_window_ms: u64,
    /// First ban of an address, in ms; each further ban within an hour doubles it, up to [`Self::max_ban_ms`].
    pub ban_ms: u64,
    /// Longest ban, in ms.
    pub max_ban_ms: u64,
    /// Scales every rate limit and burst (`src/ratelimit.rs` lists them per message class): raise it for load
    /// tests or a trusted automation driving the gateway from one address; `1.0` suits people and agents.
    pub rate_scale: f64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            max_connections_per_ip: 64,
            header_timeout_ms: 10_000,
            max_header_bytes: 16 * 1024,
            max_unauthenticated: 64,
            auth_timeout_ms: 5_000,
            heartbeat_ms: 15_000,
            idle_timeout_ms: 45_000,
            mcp_sessions_per_token: 8,
            ban_after: 20,
            ban_window_ms: 10_000,
            ban_ms: 30_000,
            max_ban_ms: 15 * 60_000,
            rate_scale: 1.0,
        }
    }
}

impl LimitsConfig {
    /// Checks every value; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (key, v) in [
            ("limits.max_connections", self.max_connections),
            ("limits.max_connections_per_ip", self.max_connections_per_ip),
            ("limits.max_unauthenticated", self.max_unauthenticated),
            ("limits.mcp_sessions_per_token", self.mcp_sessions_per_token),
            ("limits.ban_after", self.ban_after as usize),
        ] {
            if v == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        if self.max_connections_per_ip > self.max_connections {
            return Err(invalid(
                "limits.max_connections_per_ip",
                "must not exceed limits.max_connections",
            ));
        }
        if !(1024..=1024 * 1024).contains(&self.max_header_bytes) {
            return Err(invalid(
                "limits.max_header_bytes",
                "must be between 1024 and 1048576",
            ));
        }
        for (key, v) in [
            ("limits.header_timeout_ms", self.header_timeout_ms),
            ("limits.auth_timeout_ms", self.auth_timeout_ms),
            ("limits.heartbeat_ms", self.heartbeat_ms),
            ("limits.idle_timeout_ms", self.idle_timeout_ms),
            ("limits.ban_window_ms", self.ban_window_ms),
            ("limits.ban_ms", self.ban_ms),
            ("limits.max_ban_ms", self.max_ban_ms),
        ] {
            if !(100..=24 * 3_600_000).contains(&v) {
                return Err(invalid(key, "must be between 100 ms and 24 h"));
            }
        }
        if self.idle_timeout_ms <= self.heartbeat_ms {
            return Err(invalid(
                "limits.idle_timeout_ms",
                "must be longer than limits.heartbeat_ms",
            ));
        }
        if !(0.01..=1000.0).contains(&self.rate_scale) {
            return Err(invalid(
                "limits.rate_scale",
                "must be between 0.01 and 1000",
            ));
        }
        if self.max_ban_ms < self.ban_ms {
            return Err(invalid(
                "limits.max_ban_ms",
                "must be at least limits.ban_ms",
            ));
        }
        Ok(())
    }

    /// [`Self::header_timeout_ms`].
    pub fn header_timeout(&self) -> Duration {
        Duration::from_millis(self.header_timeout_ms)
    }

    /// [`Self::auth_timeout_ms`].
    pub fn auth_timeout(&self) -> Duration {
        Duration::from_millis(self.auth_timeout_ms)
    }

    /// [`Self::heartbeat_ms`].
    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.heartbeat_ms)
    }

    /// [`Self::idle_timeout_ms`].
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }
}
