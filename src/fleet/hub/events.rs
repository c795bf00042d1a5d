//! The hub's events ([`DeviceEvent`]) on one bounded broadcast, and the RFC 3339 times they (and the device
//! list) carry.
//!
//! The broadcast holds [`EVENTS_CAPACITY`] events; a subscriber that falls further behind loses the oldest and is
//! told so (`RecvError::Lagged`, which SSE turns into `event: lagged`). Publishing never blocks and never fails:
//! without subscribers an event is simply not kept.

use std::time::SystemTime;

use serde::Serialize;
use serde_json::{Map, Value, json};
use sightline_monitor::rfc3339;
use tokio::sync::broadcast;

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

/// Events buffered per subscriber; past this a slow subscriber lags (it skips the oldest and is told).
pub const EVENTS_CAPACITY: usize = 256;

/// `device_online`: a device connected and was accepted.
pub const ONLINE: &str = "device_online";
/// `device_offline {reason}`: its link ended.
pub const OFFLINE: &str = "device_offline";
/// `screens_changed {screens}`: it announced a new screen list.
pub const SCREENS_CHANGED: &str = "screens_changed";
/// `device_registered {how}`: it was added to `[devices] allowed` (`open` enrollment or `approved`).
pub const REGISTERED: &str = "device_registered";
/// `device_pending {reason}`: an unknown device was refused and waits for an admin.
pub const PENDING: &str = "device_pending";
/// `device_removed`: an admin removed it.
pub const REMOVED: &str = "device_removed";

/// The sending side of the events stream.
#[derive(Clone, Debug)]
pub(super) struct Events {
    tx: broadcast::Sender<DeviceEvent>,
}

impl Events {
    pub(super) fn new() -> Self {
        Self {
            tx: broadcast::channel(EVENTS_CAPACITY).0,
        }
    }

    pub(super) fn subscribe(&self) -> broadcast::Receiver<DeviceEvent> {
        self.tx.subscribe()
    }

    /// Publishes an event of `kind` about a device; `detail` is an object (or `null` for none).
    pub(super) fn publish(&self, kind: &'static str, device: &str, name: &str, detail: Value) {
        let detail = match detail {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        let event = DeviceEvent {
            kind,
            device: device.to_owned(),
            name: name.to_owned(),
            at: rfc3339(SystemTime::now()),
            detail,
        };
        tracing::debug!(kind, device, "device event");
        // No subscriber is not an error: nobody watches the events right now.
        let _ = self.tx.send(event);
    }

    pub(super) fn offline(&self, device: &str, name: &str, reason: &str) {
        self.publish(OFFLINE, device, name, json!({ "reason": reason }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn events_carry_their_detail() {
        let events = Events::new();
        let mut rx = events.subscribe();
        events.offline("0123456789abcdef", "kiosk", "heartbeat timeout");
        let e = rx.recv().await.unwrap();
        assert_eq!(e.kind, OFFLINE);
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["type"], "device_offline");
        assert_eq!(v["reason"], "heartbeat timeout");
        assert_eq!(v["device"], "0123456789abcdef");
    }
}
