//! The session manager: the single owner of every session and viewer, and the one handle every entry point holds.
//!
//! `/ws`, WHEP, REST (snapshots, MJPEG, the operator API) and MCP call [`SessionManager`] and nothing behind it:
//! it admits sessions into its [`table`] (counted against `[server] max_sessions`, kickable, listed), opens
//! watches in one place ([`SessionManager::open_watch`]: screen → monitor connection → media subscription → peer →
//! watch info), with every client choice of quality and size snapped to a fixed set of shared profiles
//! ([`profiles`]), charges requests to their token's rate limits ([`SessionManager::charge`]), carries out input
//! ([`SessionManager::act`]) under the policy table, and reaches the media engine and the monitor on the entry
//! points' behalf. Entry points never see the engine or the monitor's write side.
//!
//! The table is plain data behind a mutex that is never held across an `.await` or any I/O. A [`Session`] removes
//! itself from the table when it drops, so no exit path (error, panic, kick, socket dropped) leaves a stale row.

mod agent;
pub mod clipboard;
pub mod cursor;
mod device_api;
mod frames;
pub mod profiles;
mod remote;
mod screens;
pub mod table;
mod watch;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;
use sightline_media::engine::Engine;
use sightline_media::{AgentMark, ScreenInfo, SourceKind};
use sightline_monitor::{
    Connection, ConnectionAttrs, ConnectionDetail, ConnectionId, ConnectionKind, ConnectionSummary,
    Monitor, Operation, OperationsSnapshot, Owner, PipelineSnapshot, ProcessSnapshot, Summary,
    TasksSnapshot,
};
use sightline_signaling::Role;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::auth::{HasTokens, Tokens};
use crate::config::Config;
use crate::control::{Action, Error, Intent, policy};
use crate::peer::Peer;
use screens::ScreenCache;
pub use screens::ScreenEntry;
use table::Table;
pub use table::{AtCapacity, SessionInfo, SessionKind, WatchInfo, WatchKind};
pub use watch::{JpegRequest, PeerWatch, SfuWatch, Watch, WatchMedia, WatchRequest, WatchTicket};

/// Agent activity events buffered per viewer. A viewer that falls further behind misses the oldest (they are
/// cosmetic overlays, never worth blocking an agent for).
const AGENT_EVENTS_CAPACITY: usize = 64;

/// How long shutdown waits for sessions to end before stopping the engine under them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How long a kick waits for the session's owner to end it, so the caller sees it gone: long enough for a socket
/// whose client stopped reading to give up its close frame and its close ([`crate::transport::ws::CLOSE_TIMEOUT`]
/// each).
const KICK_WAIT: Duration = Duration::from_secs(3);

/// Who is acting: recorded with every injected event.
#[derive(Clone, Debug)]
pub struct Actor {
    /// Session id.
    pub session: String,
    /// The monitor connection the operation belongs to.
    pub connection: Option<ConnectionId>,
    /// The actor's role.
    pub role: Role,
    /// Whether this is an AI agent (MCP): its actions are shown to viewers.
    pub agent: bool,
}

/// What an agent did, for viewers' overlays (sent as `{"type":"agent",…}`).
#[derive(Clone, Debug, Serialize)]
pub struct AgentActivity {
    /// Screen id.
    pub screen: String,
    /// The tool name.
    pub action: String,
    /// Normalised position, when the action has one.
    pub x: Option<f64>,
    /// Normalised position, when the action has one.
    pub y: Option<f64>,
    /// A short description.
    pub detail: Option<String>,
}

/// How an agent's action is shown to the people watching: the tool and a short description.
#[derive(Clone, Debug)]
pub struct Overlay {
    /// The tool name (`click`, `type_text`, …).
    pub action: String,
    /// What it did, in a few words.
    pub detail: String,
}

/// The handle to the session manager. Cheap to clone.
#[derive(Clone)]
pub struct SessionManager {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    tokens: Tokens,
    engine: Engine,
    monitor: Monitor,
    table: Mutex<Table>,
    shutdown: CancellationToken,
    started: Instant,
    agent_events: broadcast::Sender<AgentActivity>,
    screens: Mutex<ScreenCache>,
    limits: crate::ratelimit::Limits,
    diagnostics: crate::diagnostics::Diagnostics,
    /// The SFU router, when `[sfu]` routes viewers to Janus.
    sfu: Option<crate::sfu::Sfu>,
    /// The WHIP egress publications.
    whip: crate::whip::WhipPublications,
    /// The desktop's clipboard under `[clipboard]`.
    clipboard: clipboard::ClipboardHub,
    /// Cursor shapes encoded for viewers.
    cursor_shapes: Arc<cursor::ShapeCache>,
    /// The devices dialled in to this gateway (the fleet's hub side).
    hub: crate::fleet::hub::Hub,
}

impl std::fmt::Debug for SessionManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionManager").finish_non_exhaustive()
    }
}

impl HasTokens for SessionManager {
    fn tokens(&self) -> &Tokens {
        &self.inner.tokens
    }
}

impl SessionManager {
    /// Builds the manager from its parts.
    pub fn new(
        config: Config,
        tokens: Tokens,
        engine: Engine,
        monitor: Monitor,
        shutdown: CancellationToken,
    ) -> Self {
        let (agent_events, _) = broadcast::channel(AGENT_EVENTS_CAPACITY);
        Self {
            inner: Arc::new(Inner {
                table: Mutex::new(Table::new(config.server.max_sessions)),
                limits: crate::ratelimit::Limits::new(config.limits.clone()),
                diagnostics: crate::diagnostics::Diagnostics::new(monitor.clone()),
                whip: crate::whip::WhipPublications::new(
                    config.clone(),
                    engine.clone(),
                    monitor.clone(),
                    shutdown.child_token(),
                ),
                sfu: crate::sfu::Sfu::start(
                    &config.sfu,
                    engine.clone(),
                    &monitor,
                    shutdown.clone(),
                ),
                clipboard: clipboard::ClipboardHub::start(
                    config.clipboard.clone(),
                    engine.desktop().clipboard(),
                    &monitor,
                    shutdown.child_token(),
                ),
                cursor_shapes: Arc::default(),
                hub: crate::fleet::hub::Hub::new(
                    &config,
                    engine.clone(),
                    monitor.clone(),
                    shutdown.child_token(),
                ),
                config,
                tokens,
                engine,
                monitor,
                shutdown,
                started: Instant::now(),
                agent_events,
                screens: Mutex::new(ScreenCache::default()),
            }),
        }
    }

    /// The validated configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The SFU router, when `[sfu]` routes viewers to Janus.
    pub fn sfu(&self) -> Option<&crate::sfu::Sfu> {
        self.inner.sfu.as_ref()
    }

    /// The fleet's hub: the devices dialled in, their screens, calls to them and their events.
    pub fn hub(&self) -> &crate::fleet::hub::Hub {
        &self.inner.hub
    }

    /// The shared rate limits, strikes and bans.
    pub fn limits(&self) -> &crate::ratelimit::Limits {
        &self.inner.limits
    }

    /// The WHIP egress publications (`[[whip]]` and the REST API).
    pub fn whip(&self) -> &crate::whip::WhipPublications {
        &self.inner.whip
    }

    /// The gateway-wide abuse counters.
    pub fn diagnostics(&self) -> &crate::diagnostics::Diagnostics {
        &self.inner.diagnostics
    }

    /// Takes one request of `class` from the shared budget of `token` (the bearer token itself: it never leaves
    /// the limits' map). Over budget: counts the hit, strikes `ip` when known (counting the ban it may cause) and
    /// returns how long until the request would pass. REST and MCP charge here; `/ws` sockets also keep their
    /// own per-connection [`crate::ratelimit::Limiter`].
    pub fn charge(
        &self,
        token: &str,
        class: crate::ratelimit::Class,
        ip: Option<std::net::IpAddr>,
    ) -> Result<(), Duration> {
        let now = Instant::now();
        let Err(wait) = self.inner.limits.check_token(token, class, now) else {
            return Ok(());
        };
        self.inner.diagnostics.rate_limited(class);
        if let Some(ip) = ip
            && let Some(ban) = self.inner.limits.strike(ip, now)
        {
            self.inner.diagnostics.banned();
            tracing::info!(%ip, ban_s = ban.as_secs(), class = class.as_str(), "address banned after repeated rate-limit hits");
        }
        Err(wait)
    }

    /// Cancelled when the gateway shuts down.
    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.inner.shutdown
    }

    /// When the gateway started.
    pub fn started(&self) -> Instant {
        self.inner.started
    }

    /// The screen backend (`x11`, `xcap`, `synthetic`).
    pub fn source(&self) -> SourceKind {
        self.inner.engine.desktop().kind()
    }

    // ---- screens ----

    /// The screens (cached for a moment). Blocks briefly on a refresh: call from blocking contexts, or use
    /// [`Self::list_screens`].
    /// Device screens of online devices follow the local ones.
    pub fn screens(&self) -> Result<Vec<ScreenInfo>, Error> {
        let mut screens = self.cached_local_screens()?;
        screens.extend(self.online_remote_screens());
        Ok(screens)
    }

    fn cached_local_screens(&self) -> Result<Vec<ScreenInfo>, Error> {
        let mut cache = self.inner.screens.lock();
        cache
            .get(Instant::now(), || self.inner.engine.screens())
            .map_err(Error::from)
    }

    /// One screen, re-reading the backend once if the id is unknown (a monitor may have been added). May cost a
    /// display round trip every [`screens::SCREEN_CACHE_TTL`]; async callers that are not on a hot path use
    /// [`Self::find_screen`].
    pub fn screen(&self, id: &str) -> Result<ScreenInfo, Error> {
        if crate::fleet::is_remote_screen(id) {
            return self.inner.hub.screen(id);
        }
        if let Some(s) = self.screens()?.into_iter().find(|s| s.id == id) {
            return Ok(s);
        }
        self.inner.screens.lock().invalidate(Instant::now());
        self.screens()?
            .into_iter()
            .find(|s| s.id == id)
            .ok_or_else(|| Error::from(sightline_media::MediaError::UnknownScreen(id.to_owned())))
    }

    /// The named screen, or the primary one (the target of keyboard input when nothing is watched).
    pub fn screen_or_primary(&self, id: Option<&str>) -> Result<ScreenInfo, Error> {
        if let Some(id) = id {
            return self.screen(id);
        }
        let screens = self.screens()?;
        screens
            .iter()
            .find(|s| s.primary)
            .or_else(|| screens.first())
            .cloned()
            .ok_or_else(|| Error::unavailable("no screen is available"))
    }

    /// [`Self::screens`] on the blocking pool.
    pub async fn list_screens(&self) -> Result<Vec<ScreenInfo>, Error> {
        let m = self.clone();
        self.blocking("screen-lookup", move || m.screens()).await?
    }

    /// [`Self::screen_or_primary`] on the blocking pool.
    pub async fn find_screen(&self, id: Option<String>) -> Result<ScreenInfo, Error> {
        let m = self.clone();
        self.blocking("screen-lookup", move || m.screen_or_primary(id.as_deref()))
            .await?
    }

    // ---- sessions ----

    /// Admits a session. `connection` is the session's own monitor connection, when it has one (the signaling
    /// socket, the MCP session); its watches become children of it.
    pub fn open_session(
        &self,
        kind: SessionKind,
        role: Role,
        remote: Option<String>,
        connection: Option<ConnectionId>,
    ) -> Result<Session, Error> {
        let admitted = self
            .inner
            .table
            .lock()
            .open(kind, role, remote.clone(), connection, now_ms())
            .map_err(|e| {
                self.inner.diagnostics.refused("max_sessions");
                Error::unavailable(e.to_string())
            })?;
        Ok(Session {
            manager: self.clone(),
            id: admitted.id,
            kick: admitted.kick,
            role,
            remote,
            connection,
        })
    }

    /// Whether a new WebSocket or WHEP session would be refused (`[server] max_sessions` reached). Transports check
    /// this before accepting a client so a full gateway answers 503 rather than upgrading first.
    pub fn at_capacity(&self) -> bool {
        self.inner.table.lock().at_capacity()
    }

    /// The refusal of a full gateway (counted as a `max_sessions` refusal).
    pub fn capacity_error(&self) -> Error {
        self.inner.diagnostics.refused("max_sessions");
        Error::unavailable(AtCapacity(self.inner.config.server.max_sessions).to_string())
    }

    /// Ends a session and waits briefly until its owner has removed it. Returns whether it existed.
    pub async fn kick(&self, id: &str) -> bool {
        if !self.inner.table.lock().kick(id) {
            return false;
        }
        let deadline = tokio::time::Instant::now() + KICK_WAIT;
        while self.inner.table.lock().contains(id) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// The session holding the WHEP resource `resource` of `screen`, and its peer.
    pub fn whep_session(
        &self,
        resource: &str,
        screen: &str,
    ) -> Option<(String, Option<Arc<Peer>>)> {
        self.inner.table.lock().by_resource(resource, screen)
    }

    /// Every session, oldest first, with live counters of what it watches.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        let rows = self.inner.table.lock().rows();
        // Counters come from the monitor, read after the table lock is released.
        rows.into_iter().map(|r| self.with_stats(r)).collect()
    }

    /// One session, with its live counters.
    pub fn session(&self, id: &str) -> Option<SessionInfo> {
        let row = self
            .inner
            .table
            .lock()
            .rows()
            .into_iter()
            .find(|s| s.id == id)?;
        Some(self.with_stats(row))
    }

    fn with_stats(&self, mut row: SessionInfo) -> SessionInfo {
        let conn = row
            .watch
            .as_ref()
            .and_then(|w| w.connection)
            .or(row.connection);
        row.stats = conn
            .and_then(|c| self.inner.monitor.connection(c))
            .map(|d| d.summary.counters);
        row
    }

    /// Number of sessions.
    pub fn session_count(&self) -> usize {
        self.inner.table.lock().len()
    }

    /// Watching sessions by transport (`webrtc`, `jpeg`, `whep`, `mjpeg`).
    pub fn viewers_by_transport(&self) -> BTreeMap<String, usize> {
        self.inner.table.lock().viewers_by_transport()
    }

    /// Shuts the gateway's sessions and media down: every session is cancelled, given [`SHUTDOWN_GRACE`] to end,
    /// then the engine stops (joining its threads) and the monitor flushes its log files.
    pub async fn shut_down(&self) {
        self.end_all_sessions();
        let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        while !self.inner.table.lock().is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Published streams end first, each where it goes: WHIP resources are deleted, Janus mountpoints destroyed.
        self.inner.whip.stop_all().await;
        if let Some(sfu) = &self.inner.sfu {
            sfu.shut_down().await;
        }
        let engine = self.inner.engine.clone();
        let _ = tokio::task::spawn_blocking(move || engine.shutdown()).await;
        let monitor = self.inner.monitor.clone();
        let _ =
            tokio::task::spawn_blocking(move || monitor.flush_logs(Duration::from_secs(2))).await;
    }

    /// Cancels every session (shutdown).
    pub fn end_all_sessions(&self) {
        self.inner.table.lock().kick_all();
    }

    // ---- connections, operations and tasks ----

    /// Opens a monitor connection for an entry point's own socket or session (the signaling socket, an MCP
    /// session). Watches get theirs from [`Self::open_watch`].
    pub fn open_connection(&self, kind: ConnectionKind, attrs: ConnectionAttrs) -> Connection {
        self.inner.monitor.open_connection(kind, attrs)
    }

    /// Starts recording an operation (`snapshot`, `mcp_tool_call`, …).
    pub fn operation(&self, kind: &'static str, conn: Option<ConnectionId>) -> Operation {
        self.inner.monitor.operation(kind, conn)
    }

    /// Spawns a task the monitor tracks.
    pub fn spawn<F>(
        &self,
        name: impl Into<String>,
        owner: Owner,
        fut: F,
    ) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.inner.monitor.spawn(name, owner, fut)
    }

    /// Runs `f` on the blocking pool as a task the monitor tracks (owned by the gateway: it ends with the request).
    pub async fn blocking<T: Send + 'static>(
        &self,
        name: &'static str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Error> {
        self.inner
            .monitor
            .spawn_blocking(name, Owner::Gateway, f)
            .await
            .map_err(|e| Error::internal(format!("{name} failed: {e}")))
    }

    /// The read-only views of the monitor (REST, `/metrics`, MCP `monitor_summary`).
    pub fn monitor_view(&self) -> MonitorView<'_> {
        MonitorView(&self.inner.monitor)
    }

    // ---- input ----

    /// Carries out input on a screen (the named one, else the primary): the policy decides whether the actor may,
    /// every intent's events are injected in order through the engine's input thread as one queue entry (all or
    /// nothing when the queue is full), and the whole is recorded as one `input_injection` operation. An agent's `overlay` is shown to the people watching.
    pub async fn act(
        &self,
        actor: &Actor,
        screen: Option<&str>,
        intents: &[Intent],
        overlay: Option<Overlay>,
    ) -> Result<ScreenInfo, Error> {
        if !policy::allows(actor.role, Action::Input) {
            return Err(Error::forbidden(actor.role, Action::Input.describe()));
        }
        let screen = self.screen_or_primary(screen)?;
        let mut events = Vec::new();
        for intent in intents {
            events.extend(intent.events(&screen)?);
        }
        let op = self.operation("input_injection", actor.connection);
        tracing::trace!(
            what = intents.first().map_or("", Intent::kind),
            screen = %screen.id,
            agent = actor.agent,
            "inject"
        );
        // One queue entry for the whole action: a full queue refuses all of it, never half a click. A device's
        // screen: the device injects them, the same way.
        let injected = if crate::fleet::is_remote_screen(&screen.id) {
            self.inner.hub.inject(&screen.id, events).await
        } else {
            self.inner
                .engine
                .inject_all(&screen.id, events)
                .await
                .map_err(Error::from)
        };
        if let Err(e) = injected {
            op.fail(e.to_string());
            return Err(e);
        }
        op.ok();
        if actor.agent
            && let Some(o) = overlay
        {
            self.show_agent(&screen, intents.last().and_then(Intent::at), o);
        }
        Ok(screen)
    }

    fn show_agent(&self, screen: &ScreenInfo, at: Option<crate::control::At>, o: Overlay) {
        // The synthetic screen paints an agent cursor; real displays are left as they are.
        let mark = AgentMark {
            at: at.map(|a| a.pixel(screen)),
            click: o.action.contains("click"),
            action: o.action.clone(),
        };
        self.inner.engine.desktop().show_agent(&screen.id, &mark);
        let position = at.map(|a| a.normalised(screen));
        // No receiver is fine: nobody is watching.
        let _ = self.inner.agent_events.send(AgentActivity {
            screen: screen.id.clone(),
            action: o.action,
            x: position.map(|p| p.0),
            y: position.map(|p| p.1),
            detail: Some(o.detail),
        });
    }

    /// The desktop's clipboard under `[clipboard]`'s policy.
    pub fn clipboard(&self) -> &clipboard::ClipboardHub {
        &self.inner.clipboard
    }

    /// The pointer messages of `screen` for one viewer; `None` when `[capture] cursor = "video"` (the frames
    /// carry the cursor) or the backend reports no cursor.
    pub fn cursor_feed(&self, screen: &ScreenInfo) -> Option<cursor::CursorFeed> {
        if self.inner.config.capture.cursor != sightline_media::CursorMode::Overlay {
            return None;
        }
        match self.inner.engine.subscribe_cursor(&screen.id) {
            Ok(sub) => Some(cursor::CursorFeed::new(
                sub,
                screen.clone(),
                Arc::clone(&self.inner.cursor_shapes),
            )),
            Err(e) => {
                tracing::debug!(screen = %screen.id, error = %e, "no cursor feed");
                None
            }
        }
    }

    /// Receives what agents do, for viewers' overlays.
    pub fn agent_events(&self) -> broadcast::Receiver<AgentActivity> {
        self.inner.agent_events.subscribe()
    }
}

/// A registered session; dropping it removes the session from the table.
#[derive(Debug)]
pub struct Session {
    manager: SessionManager,
    id: String,
    kick: CancellationToken,
    role: Role,
    remote: Option<String>,
    connection: Option<ConnectionId>,
}

impl Session {
    /// The session id (`s7`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Its role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Cancelled when an admin ends the session or the gateway shuts down.
    pub fn kicked(&self) -> &CancellationToken {
        &self.kick
    }

    /// The actor of this session's input.
    pub fn actor(&self, agent: bool) -> Actor {
        Actor {
            session: self.id.clone(),
            connection: self.connection,
            role: self.role,
            agent,
        }
    }

    fn set_watch(&self, watch: Option<WatchInfo>) {
        self.manager.inner.table.lock().set_watch(&self.id, watch);
    }

    /// Makes the session a WHEP resource: its secret URL id and its peer.
    pub fn set_whep(&self, resource: String, peer: Arc<Peer>) {
        let mut table = self.manager.inner.table.lock();
        table.set_resource(&self.id, resource);
        table.set_peer(&self.id, peer);
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.manager.inner.table.lock().remove(&self.id);
    }
}

/// Read-only views of the monitor's registry.
#[derive(Clone, Copy)]
pub struct MonitorView<'a>(&'a Monitor);

impl MonitorView<'_> {
    /// The SFU instances and published streams (`GET /api/v1/sfu`).
    pub fn sfu(&self) -> sightline_monitor::SfuSnapshot {
        self.0.sfu().snapshot()
    }

    /// Counts of connections, operations, tasks and leaks.
    pub fn summary(&self) -> Summary {
        self.0.summary()
    }

    /// Open and recently closed connections.
    pub fn connections(&self) -> Vec<ConnectionSummary> {
        self.0.connections()
    }

    /// One connection with its timeline.
    pub fn connection(&self, id: ConnectionId) -> Option<ConnectionDetail> {
        self.0.connection(id)
    }

    /// Recent operations.
    pub fn operations(&self) -> OperationsSnapshot {
        self.0.operations()
    }

    /// Live and recently ended tasks.
    pub fn tasks(&self) -> TasksSnapshot {
        self.0.tasks()
    }

    /// Running pipelines' statistics.
    pub fn pipelines(&self) -> Vec<PipelineSnapshot> {
        self.0.pipelines()
    }

    /// Process CPU and memory (reads `/proc`: call from the blocking pool).
    pub fn process(&self) -> ProcessSnapshot {
        self.0.process()
    }

    /// Prometheus text format 0.0.4.
    pub fn prometheus_text(&self) -> String {
        self.0.prometheus_text()
    }

    /// OpenMetrics 1.0.
    pub fn openmetrics_text(&self) -> String {
        self.0.openmetrics_text()
    }

    /// An owned handle for blocking-pool work (REST performance).
    pub fn detach(&self) -> DetachedView {
        DetachedView(self.0.clone())
    }
}

/// A [`MonitorView`] that owns its handle, for moving into blocking work.
#[derive(Clone)]
pub struct DetachedView(Monitor);

impl DetachedView {
    /// The borrowed view.
    pub fn view(&self) -> MonitorView<'_> {
        MonitorView(&self.0)
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
