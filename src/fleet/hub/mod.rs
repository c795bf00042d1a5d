//! The hub's side of the fleet: devices dial in to [`signaling::fleet::CONNECT_PATH`] with a device token, and
//! the hub serves their screens beside its own.
//!
//! - [`Hub`] (this file): the cheap handle the session manager holds — the device list, remote screens, calls
//!   (input, MCP tools, snapshots), approve and remove, the events stream.
//! - `registry`: the device table and the registration decision (allowed, open enrollment, pending).
//! - `persist`: `[devices] allowed` kept in the configuration file.
//! - `link`: one task per device connection (hello, heartbeats, media, close codes).
//! - `upstream`: each device screen as the media engine's [`Upstream`], and the link's shared state.
//! - `calls`: calls waiting for their answer, bounded and timed out.
//! - `events`: the bounded broadcast of [`DeviceEvent`]s.
//!
//! [`signaling::fleet::CONNECT_PATH`]: sightline_signaling::fleet::CONNECT_PATH

mod calls;
pub mod events;
mod link;
mod persist;
mod registry;
mod upstream;
mod wire;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use futures_util::{Sink, Stream};
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::{Map, Value, json};
use sightline_media::engine::{Engine, Upstream};
use sightline_media::{InputEvent, ScreenInfo, SourceKind};
use sightline_monitor::{Monitor, Owner, rfc3339};
use sightline_signaling::Role;
use sightline_signaling::fleet::{HubMsg, RemoteScreen, SnapshotValue};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::control::{Error, echo};
pub use calls::{INPUT_TIMEOUT, MAX_PENDING_CALLS, MAX_TOOL_WAIT, SNAPSHOT_TIMEOUT, TOOL_TIMEOUT};
pub use events::{DeviceEvent, EVENTS_CAPACITY};
use persist::{Change, Persist};
use registry::Registry;
pub use registry::{DeviceInfo, MAX_REMOVED};
pub use upstream::{HUB_OUTBOX, MAX_STREAMS};
use upstream::{LinkShared, ScreenUpstream};
use wire::End;
pub use wire::{LinkIn, LinkOut, WRITE_TIMEOUT};

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

/// Where the hub registers device screens: the media engine (tests use a fake).
pub(crate) trait RemoteScreens: Send + Sync + 'static {
    /// Registers (or replaces) a remote screen.
    fn add(&self, info: ScreenInfo, upstream: Arc<dyn Upstream>);
    /// Forgets a remote screen: its viewers' streams end.
    fn remove(&self, id: &str);
}

impl RemoteScreens for Engine {
    fn add(&self, info: ScreenInfo, upstream: Arc<dyn Upstream>) {
        self.add_remote(info, upstream);
    }
    fn remove(&self, id: &str) {
        self.remove_remote(id);
    }
}

/// The `source` of a device screen on the hub.
const REMOTE_SOURCE: SourceKind = SourceKind::Remote;

/// The hub: cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    registry: Mutex<Registry>,
    screens: Arc<dyn RemoteScreens>,
    monitor: Monitor,
    events: events::Events,
    persist: Persist,
    shutdown: CancellationToken,
    /// `[devices] heartbeat_ms`.
    heartbeat: Duration,
    next_link: AtomicU64,
}

impl Inner {
    fn next_link(&self) -> u64 {
        self.next_link.fetch_add(1, Ordering::Relaxed) + 1
    }
}

impl Hub {
    /// The hub of a gateway (every gateway is one; without `[auth] devices` tokens no device can connect).
    pub fn new(
        config: &Config,
        engine: Engine,
        monitor: Monitor,
        shutdown: CancellationToken,
    ) -> Self {
        Self::with_screens(config, Arc::new(engine), monitor, shutdown)
    }

    /// A hub registering device screens with `screens`.
    pub(crate) fn with_screens(
        config: &Config,
        screens: Arc<dyn RemoteScreens>,
        monitor: Monitor,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                registry: Mutex::new(Registry::new(&config.devices)),
                screens,
                monitor,
                events: events::Events::new(),
                persist: Persist::new(config.path.clone()),
                shutdown,
                heartbeat: Duration::from_millis(config.devices.heartbeat_ms),
                next_link: AtomicU64::new(0),
            }),
        }
    }

    /// Serves one device connection (after the HTTP edge checked its device token) until it ends. The link's
    /// tasks are owned by its monitor connection.
    pub async fn serve_link<S, K>(&self, stream: S, sink: K, remote: Option<SocketAddr>)
    where
        S: Stream<Item = LinkIn> + Unpin + Send,
        K: Sink<LinkOut> + Unpin + Send,
        K::Error: std::fmt::Display,
    {
        link::run(self.clone(), stream, sink, remote).await;
    }

    /// Every device: online, allowed or pending.
    pub fn devices(&self) -> Vec<DeviceInfo> {
        self.inner.registry.lock().all().map(|d| d.info()).collect()
    }

    /// One device.
    pub fn device(&self, id: &str) -> Option<DeviceInfo> {
        self.inner.registry.lock().get(id).map(|d| d.info())
    }

    /// Every known device screen, online or not.
    pub fn screens(&self) -> Vec<RemoteScreenInfo> {
        let reg = self.inner.registry.lock();
        reg.all()
            .filter(|d| d.standing == registry::Standing::Allowed)
            .flat_map(|d| {
                d.screens.iter().map(|s| RemoteScreenInfo {
                    screen: screen_info(&d.id, &d.name, s),
                    device: d.id.clone(),
                    device_name: d.name.clone(),
                    online: d.link.is_some(),
                })
            })
            .collect()
    }

    /// A remote screen of an online device; otherwise `not_found`, or `unavailable` naming the offline device.
    pub fn screen(&self, id: &str) -> Result<ScreenInfo, Error> {
        let (_, screen) = self.online_screen(id)?;
        Ok(screen)
    }

    /// The link and screen info of a remote screen of an online device.
    fn online_screen(&self, id: &str) -> Result<(Arc<LinkShared>, ScreenInfo), Error> {
        let not_found = || Error::not_found(format!("no screen {}", echo(id)));
        let (device, local) = super::split_remote_screen(id).ok_or_else(not_found)?;
        let reg = self.inner.registry.lock();
        let d = reg
            .get(device)
            .filter(|d| d.standing == registry::Standing::Allowed)
            .ok_or_else(not_found)?;
        let s = d
            .screens
            .iter()
            .find(|s| s.id == local)
            .ok_or_else(not_found)?;
        match &d.link {
            Some(link) => Ok((link.clone(), screen_info(&d.id, &d.name, s))),
            None => Err(Error::unavailable(gone_message(d))),
        }
    }

    /// Injects input into a remote screen (the caller checked the role).
    pub async fn inject(&self, screen: &str, events: Vec<InputEvent>) -> Result<(), Error> {
        let (link, _) = self.online_screen(screen)?;
        let local = local_id(screen);
        let events = events
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::internal(format!("input events do not serialize: {e}")))?;
        link.call("input", INPUT_TIMEOUT, |id| HubMsg::Input {
            id,
            screen: local,
            events,
        })
        .await
        .map(drop)
    }

    /// Runs an MCP tool on the device of `screen` (the caller checked the role); `arguments.screen` is rewritten to
    /// the device's own id. Returns the tool's `CallToolResult` JSON.
    pub async fn call_tool(
        &self,
        screen: &str,
        tool: &str,
        mut arguments: Map<String, Value>,
        role: Role,
    ) -> Result<Value, Error> {
        let (link, _) = self.online_screen(screen)?;
        arguments.insert("screen".into(), Value::String(local_id(screen)));
        let timeout = TOOL_TIMEOUT + calls::tool_wait(&arguments);
        let name = tool.to_owned();
        link.call(&format!("tool {tool}"), timeout, |id| HubMsg::Tool {
            id,
            name,
            arguments,
            role,
        })
        .await
    }

    /// One picture of a remote screen: (mime, bytes, width, height).
    pub async fn snapshot(
        &self,
        screen: &str,
        format: &str,
        quality: Option<u8>,
        max_width: Option<u32>,
    ) -> Result<(String, Vec<u8>, u32, u32), Error> {
        let (link, _) = self.online_screen(screen)?;
        let local = local_id(screen);
        let format = format.to_owned();
        let value = link
            .call("snapshot", SNAPSHOT_TIMEOUT, |id| HubMsg::Snapshot {
                id,
                screen: local,
                format,
                quality,
                max_width,
            })
            .await?;
        let snap: SnapshotValue = serde_json::from_value(value).map_err(|e| {
            Error::internal(format!("{} sent a malformed snapshot: {e}", link.label()))
        })?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(snap.data.as_bytes())
            .map_err(|e| {
                Error::internal(format!(
                    "{} sent a snapshot that is not base64: {e}",
                    link.label()
                ))
            })?;
        Ok((snap.mime, bytes, snap.width, snap.height))
    }

    /// Why a remote screen's streams ended, for its viewers (`device "kiosk" (0123…) went offline`); `None` for a
    /// local screen or an online device.
    pub fn gone_reason(&self, screen: &str) -> Option<String> {
        let (device, _) = super::split_remote_screen(screen)?;
        let reg = self.inner.registry.lock();
        let d = reg.get(device)?;
        d.link.is_none().then(|| gone_message(d))
    }

    /// Approves a pending (or unknown but named) device: added to the allowed list and persisted. Blocking (the
    /// file is rewritten): call it on the blocking pool.
    pub fn approve(&self, id: &str) -> Result<DeviceInfo, Error> {
        self.approve_named(id, None)
    }

    /// [`Hub::approve`], naming the device (`None`: the name it gave, or none for a device never seen).
    pub fn approve_named(&self, id: &str, name: Option<&str>) -> Result<DeviceInfo, Error> {
        let (id, name) = self.inner.registry.lock().approval(id, name)?;
        self.inner
            .persist
            .apply(&Change::Set {
                id: id.clone(),
                name: name.clone(),
            })
            .map_err(|e| Error::internal(format!("[devices] allowed was not saved: {e}")))?;
        let info = self.inner.registry.lock().approve(&id, &name);
        self.inner.events.publish(
            events::REGISTERED,
            &id,
            &info.name,
            json!({ "how": "approved" }),
        );
        tracing::info!(device = %id, name = %info.name, "device approved");
        Ok(info)
    }

    /// Removes a device from the allowed list (persisted) and disconnects it (close 4403). Blocking (the file is
    /// rewritten): call it on the blocking pool.
    pub fn remove(&self, id: &str) -> Result<(), Error> {
        if !self.inner.registry.lock().contains(id) {
            return Err(Error::not_found(format!("no device {}", echo(id))));
        }
        self.inner
            .persist
            .apply(&Change::Remove { id: id.to_owned() })
            .map_err(|e| Error::internal(format!("[devices] allowed was not saved: {e}")))?;
        let Some((link, name)) = self.inner.registry.lock().remove(id) else {
            return Err(Error::not_found(format!("no device {}", echo(id))));
        };
        if let Some(link) = link {
            link.kill(End::Removed);
        }
        self.inner
            .events
            .publish(events::REMOVED, id, &name, Value::Null);
        tracing::info!(device = %id, name, "device removed");
        Ok(())
    }

    /// The events stream.
    pub fn subscribe_events(&self) -> broadcast::Receiver<DeviceEvent> {
        self.inner.events.subscribe()
    }

    /// Cancelled when the gateway shuts down (the events stream ends with it).
    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.inner.shutdown
    }

    /// Registers one device screen with the engine.
    fn add_screen(&self, link: &Arc<LinkShared>, screen: &RemoteScreen) {
        let info = screen_info(&link.device, &link.name, screen);
        let upstream = Arc::new(ScreenUpstream {
            screen: screen.id.clone(),
            link: link.clone(),
        });
        self.inner.screens.add(info, upstream);
    }

    /// Saves an enrolled device to the allowed list, off the link's task; a failure is logged (the device stays
    /// accepted for this run).
    fn persist_enrolled(&self, id: &str, name: &str) {
        let hub = self.clone();
        let change = Change::Set {
            id: id.to_owned(),
            name: name.to_owned(),
        };
        let id = id.to_owned();
        self.inner
            .monitor
            .spawn_blocking("device-enroll", Owner::Gateway, move || {
                if let Err(e) = hub.inner.persist.apply(&change) {
                    tracing::warn!(device = %id, error = %e, "an enrolled device was not saved to [devices] allowed");
                }
            });
    }
}

/// The hub's screen info of a device screen.
fn screen_info(device: &str, device_name: &str, s: &RemoteScreen) -> ScreenInfo {
    ScreenInfo {
        id: format!("{device}/{}", s.id),
        name: format!("{device_name}: {}", s.name),
        width: s.width,
        height: s.height,
        source: REMOTE_SOURCE,
        primary: s.primary,
    }
}

/// The device's own id of a remote screen id.
fn local_id(screen: &str) -> String {
    super::split_remote_screen(screen)
        .map(|(_, s)| s.to_owned())
        .unwrap_or_default()
}

/// `device "kiosk" (0123…) went offline at <time>` (or `is offline` when it never connected).
fn gone_message(d: &registry::Device) -> String {
    match d.offline_at {
        Some(at) => format!("{} went offline at {}", d.label(), rfc3339(at)),
        None => format!("{} is offline", d.label()),
    }
}
