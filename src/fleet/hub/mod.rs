//! The hub's side of the fleet. (Scaffold: the API the session manager, REST and MCP use; issue 15.)

use std::net::SocketAddr;

use serde::Serialize;
use serde_json::{Map, Value};
use sightline_media::engine::Engine;
use sightline_media::{InputEvent, ScreenInfo};
use sightline_monitor::Monitor;
use sightline_signaling::Role;
use sightline_signaling::fleet::RemoteScreen;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::control::Error;

/// One device as the hub knows it: connected, known from the allowed list, or pending approval.
#[derive(Clone, Debug, Serialize)]
pub struct DeviceInfo {
    /// The device's stable id (lowercase hex).
    pub id: String,
    /// Its name.
    pub name: String,
    /// Whether it is connected now.
    pub online: bool,
    /// `allowed` (in the allowed list), or `pending` (refused, waiting for an admin's approval).
    pub state: &'static str,
    /// When it was last heard from (RFC 3339, UTC); `None` if never since the hub started.
    pub last_seen: Option<String>,
    /// Its screens (the last announced while offline).
    pub screens: Vec<RemoteScreen>,
    /// Its sightline version (empty if never connected since the hub started).
    pub version: String,
    /// The link's round-trip time, ms (online only).
    pub rtt_ms: Option<f64>,
    /// Where it connected from (online only).
    pub remote: Option<String>,
}

/// A device screen in the hub's screen list.
#[derive(Clone, Debug, Serialize)]
pub struct RemoteScreenInfo {
    /// The screen, with the hub's id `<device>/<screen>`; `source` is `remote`.
    #[serde(flatten)]
    pub screen: ScreenInfo,
    /// The device id.
    pub device: String,
    /// The device name.
    pub device_name: String,
    /// Whether the device is connected.
    pub online: bool,
}

/// Something that happened to a device, for `GET /api/v1/events` (the `type` is the SSE event name).
#[derive(Clone, Debug, Serialize)]
pub struct DeviceEvent {
    /// `device_online`, `device_offline`, `screens_changed`, `device_registered`, `device_pending` or
    /// `device_removed`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The device id.
    pub device: String,
    /// Its name.
    pub name: String,
    /// When, RFC 3339 UTC.
    pub at: String,
    /// Event details (`reason`, `screens`, `how`).
    #[serde(flatten)]
    pub detail: Map<String, Value>,
}

/// The hub: cheap to clone.
#[derive(Clone)]
pub struct Hub {}

impl Hub {
    /// The hub of a gateway (every gateway is one; without `[auth] devices` tokens no device can connect).
    pub fn new(
        config: &Config,
        engine: Engine,
        monitor: Monitor,
        shutdown: CancellationToken,
    ) -> Self {
        let _ = (config, engine, monitor, shutdown);
        Self {}
    }

    /// Every device: online, allowed or pending.
    pub fn devices(&self) -> Vec<DeviceInfo> {
        Vec::new()
    }

    /// One device.
    pub fn device(&self, id: &str) -> Option<DeviceInfo> {
        let _ = id;
        None
    }

    /// Every known device screen, online or not.
    pub fn screens(&self) -> Vec<RemoteScreenInfo> {
        Vec::new()
    }

    /// A remote screen of an online device; otherwise `not_found`, or `unavailable` naming the offline device.
    pub fn screen(&self, id: &str) -> Result<ScreenInfo, Error> {
        Err(Error::not_found(format!("no screen {id:?}")))
    }

    /// Injects input into a remote screen (the caller checked the role).
    pub async fn inject(&self, screen: &str, events: Vec<InputEvent>) -> Result<(), Error> {
        let _ = (screen, events);
        Err(Error::unavailable("not built"))
    }

    /// Runs an MCP tool on the device of `screen` (the caller checked the role); `arguments.screen` is rewritten to
    /// the device's own id. Returns the tool's `CallToolResult` JSON.
    pub async fn call_tool(
        &self,
        screen: &str,
        tool: &str,
        arguments: Map<String, Value>,
        role: Role,
    ) -> Result<Value, Error> {
        let _ = (screen, tool, arguments, role);
        Err(Error::unavailable("not built"))
    }

    /// One picture of a remote screen: (mime, bytes, width, height).
    pub async fn snapshot(
        &self,
        screen: &str,
        format: &str,
        quality: Option<u8>,
        max_width: Option<u32>,
    ) -> Result<(String, Vec<u8>, u32, u32), Error> {
        let _ = (screen, format, quality, max_width);
        Err(Error::unavailable("not built"))
    }

    /// Why a remote screen's streams ended, for its viewers (`device "kiosk" (0123…) went offline`); `None` for a
    /// local screen or an online device.
    pub fn gone_reason(&self, screen: &str) -> Option<String> {
        let _ = screen;
        None
    }

    /// Approves a pending (or unknown but named) device: added to the allowed list and persisted.
    pub fn approve(&self, id: &str) -> Result<DeviceInfo, Error> {
        Err(Error::not_found(format!("no device {id:?}")))
    }

    /// Removes a device from the allowed list (persisted) and disconnects it.
    pub fn remove(&self, id: &str) -> Result<(), Error> {
        Err(Error::not_found(format!("no device {id:?}")))
    }

    /// The events stream.
    pub fn subscribe_events(&self) -> broadcast::Receiver<DeviceEvent> {
        broadcast::channel(1).1
    }

    /// The remote address type the link task records.
    pub fn _remote(_: Option<SocketAddr>) {}
}
