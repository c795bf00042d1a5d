//! Screens as live MCP resources: `screen://<id>` for each screen. Reading one gives the screen's latest frame as
//! a JPEG (the running capture's latest frame, else one still) plus a JSON text with the screen and image size,
//! the frame's sequence number and capture time. Subscribing gives `notifications/resources/updated` whenever the
//! screen's pixels change, at most one per [`NOTIFY_GAP`] with a trailing one, so a client re-reads after a burst
//! of changes settles and never while the screen is static.
//!
//! Both protocol eras subscribe:
//! - legacy sessions (2025-06-18, 2025-11-25): `resources/subscribe` / `resources/unsubscribe`; the session's
//!   [`Subscriptions`] keeps one watcher per URI (at most [`MAX_SUBSCRIPTIONS_PER_SESSION`]) that notifies through
//!   the session's peer until unsubscribed, or the session closes or is kicked;
//! - 2026-07-28: `subscriptions/listen` with `resourceSubscriptions`; [`listen`] runs one watcher per accepted URI
//!   for as long as the listen request lives.
//!
//! A watcher ([`watch`]) is a task the monitor tracks, holding the screen's [`FrameSubscription`] (which keeps
//! the capture running: with X11 DAMAGE, a static screen yields no frames at all). Its first frame is the
//! baseline; a later frame counts as a change only if its pixels differ. The pacing rule is [`Debounce`], a plain
//! struct taking `now`. Gateway-wide, at most [`MAX_WATCHERS`] watchers run ([`Hub`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use parking_lot::Mutex;
use rmcp::model::{
    CacheScope, ListResourcesResult, ReadResourceResult, Resource, ResourceContents,
    ResourceUpdatedNotificationParam,
};
use rmcp::service::{Peer, SubscriptionSink};
use rmcp::{ErrorData as McpError, RoleServer};
use serde_json::json;
use sightline_media::engine::FrameSubscription;
use sightline_media::{Frame, ScreenInfo, StillEncoding, StillRequest};
use sightline_monitor::Owner;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::change::region_differs;
use super::geometry::{self, Mapping, Region};
use super::registration::Registration;
use super::tools::DEFAULT_JPEG_QUALITY;
use crate::control::{Error, ErrorKind};
use crate::ratelimit::Class;
use crate::session::SessionManager;

/// The URI scheme of screen resources.
pub const SCHEME: &str = "screen://";
/// The MIME type a screen resource is read as.
pub const MIME: &str = "image/jpeg";
/// The shortest time between two update notifications of one resource: a screen repainting at 30 fps would
/// otherwise send 30 a second, each inviting a re-read (a capture and an encode). A change inside the gap is
/// notified at its end (the trailing notification), so the last state is never missed.
pub const NOTIFY_GAP: Duration = Duration::from_millis(250);
/// Resources one legacy session may be subscribed to at once, and URIs one `subscriptions/listen` may watch:
/// more than the screens of any real desktop, few enough that one client cannot hold many captures.
pub const MAX_SUBSCRIPTIONS_PER_SESSION: usize = 8;
/// Watchers running at once in the whole gateway (every session and listen stream together); the one beyond it
/// is refused with an error saying so. Each holds a frame subscription and, per change, a frame comparison.
pub const MAX_WATCHERS: usize = 256;
/// What listing, subscribing and listening cost in the token's shared budgets (`crate::ratelimit`): a call.
pub const LIST_COSTS: &[Class] = &[Class::McpCall];
/// What a read costs: a call and a screenshot (a capture and an encode), like the `screenshot` tool.
pub const READ_COSTS: &[Class] = &[Class::McpCall, Class::Screenshot];
/// Longest screen id accepted in a URI (ids are `"0"`, `"1"`, …).
const MAX_SCREEN_ID_LEN: usize = 64;

/// Gateway-wide state of resource watchers, shared by every handler.
#[derive(Debug)]
pub struct Hub {
    permits: Arc<Semaphore>,
}

impl Default for Hub {
    fn default() -> Self {
        Self {
            permits: Arc::new(Semaphore::new(MAX_WATCHERS)),
        }
    }
}

impl Hub {
    fn permit(&self) -> Result<OwnedSemaphorePermit, McpError> {
        Arc::clone(&self.permits).try_acquire_owned().map_err(|_| {
            McpError::invalid_request(
                format!(
                    "the gateway already watches {MAX_WATCHERS} resources for its clients; retry later"
                ),
                None,
            )
        })
    }
}

/// The URI of screen `id`.
pub fn uri(id: &str) -> String {
    format!("{SCHEME}{id}")
}

/// The screen id of a `screen://<id>` URI.
pub fn screen_of(uri: &str) -> Result<&str, McpError> {
    uri.strip_prefix(SCHEME)
        .filter(|id| {
            !id.is_empty()
                && id.len() <= MAX_SCREEN_ID_LEN
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .ok_or_else(|| {
            McpError::resource_not_found(
                format!(
                    "{} is not a screen resource (screen://<id>; resources/list shows them)",
                    crate::control::echo(uri)
                ),
                None,
            )
        })
}

/// A gateway error as a JSON-RPC error: an unknown screen is "resource not found".
fn rpc_error(uri: &str, e: Error) -> McpError {
    match e.kind {
        ErrorKind::NotFound => McpError::resource_not_found(
            format!("{}: {}", crate::control::echo(uri), e.message),
            None,
        ),
        ErrorKind::Invalid => McpError::invalid_params(e.message, None),
        _ => McpError::internal_error(e.message, None),
    }
}

/// The screen of a resource URI; an unknown one is "resource not found".
async fn screen(gw: &SessionManager, uri: &str) -> Result<ScreenInfo, McpError> {
    let id = screen_of(uri)?;
    gw.find_screen(Some(id.to_owned()))
        .await
        .map_err(|e| match e.kind {
            ErrorKind::Invalid | ErrorKind::NotFound => McpError::resource_not_found(
                format!("{}: {}", crate::control::echo(uri), e.message),
                None,
            ),
            _ => McpError::internal_error(e.message, None),
        })
}

/// `resources/list`: one resource per local screen (a device's screens are reached through the tools).
pub async fn list(gw: &SessionManager) -> Result<ListResourcesResult, McpError> {
    let screens = gw
        .local_screens()
        .await
        .map_err(|e| McpError::internal_error(e.message, None))?;
    let resources = screens
        .iter()
        .map(|s| {
            let primary = if s.primary { ", primary" } else { "" };
            Resource::new(uri(&s.id), format!("screen {}", s.id))
                .with_title(s.name.clone())
                .with_description(format!(
                    "Screen {} ({}{primary}), {}x{} px: its latest frame as a JPEG (quality {DEFAULT_JPEG_QUALITY}, \
                     scaled like a default screenshot) and a JSON text with the screen and image sizes, the frame's \
                     seq and captured_at_ms. Subscribe to be told when its pixels change.",
                    s.id, s.name, s.width, s.height
                ))
                .with_mime_type(MIME)
        })
        .collect();
    let mut result = ListResourcesResult::with_all_items(resources);
    result.ttl_ms = Some(0);
    result.cache_scope = Some(CacheScope::Private);
    Ok(result)
}

/// `resources/read`: the screen's latest frame as JPEG (blob) and its metadata (JSON text), never cached.
pub async fn read(gw: &SessionManager, uri: &str) -> Result<ReadResourceResult, McpError> {
    let info = screen(gw, uri).await?;
    let max_width = geometry::target_width(info.width, info.height, None)
        .map_err(|e| McpError::internal_error(e.to_string(), None))?;
    let still = gw
        .still(
            &info.id,
            StillRequest {
                region: None,
                include_cursor: false,
                encoding: StillEncoding::Jpeg {
                    quality: DEFAULT_JPEG_QUALITY,
                    max_width,
                },
            },
        )
        .await
        .map_err(|e| rpc_error(uri, e))?;
    let region = Region::full(still.screen_width, still.screen_height);
    let m = Mapping::new(region, still.width, still.height);
    let meta = json!({
        "screen": info.id,
        "screen_width": still.screen_width,
        "screen_height": still.screen_height,
        "image_width": still.width,
        "image_height": still.height,
        "format": still.mime,
        "bytes": still.data.len(),
        "scale_x": m.scale_x,
        "scale_y": m.scale_y,
        "seq": still.seq,
        "captured_at_ms": still.captured_at_ms,
    });
    let blob = base64::engine::general_purpose::STANDARD.encode(&still.data);
    Ok(ReadResourceResult::new(vec![
        ResourceContents::blob(blob, uri).with_mime_type(still.mime),
        ResourceContents::text(meta.to_string(), uri).with_mime_type("application/json"),
    ])
    .with_ttl_ms(0)
    .with_cache_scope(CacheScope::Private))
}

/// When to notify a subscriber: at once for a change after a quiet [`NOTIFY_GAP`], otherwise at the end of the
/// gap (one trailing notification however many changes fell inside it). Plain state taking `now`.
#[derive(Clone, Copy, Debug)]
pub struct Debounce {
    gap: Duration,
    last_sent: Option<Instant>,
    /// The first change not yet notified.
    pending_since: Option<Instant>,
}

impl Debounce {
    /// No change seen yet.
    pub fn new(gap: Duration) -> Self {
        Self {
            gap,
            last_sent: None,
            pending_since: None,
        }
    }

    /// The screen changed at `now`.
    pub fn changed(&mut self, now: Instant) {
        self.pending_since.get_or_insert(now);
    }

    /// When the next notification is due (`None`: nothing to notify).
    pub fn due(&self) -> Option<Instant> {
        let since = self.pending_since?;
        Some(match self.last_sent {
            Some(sent) => since.max(sent + self.gap),
            None => since,
        })
    }

    /// A notification went out at `now`.
    pub fn sent(&mut self, now: Instant) {
        self.last_sent = Some(now);
        self.pending_since = None;
    }
}

/// Where a watcher's notifications go.
#[derive(Clone, Debug)]
pub enum Notifier {
    /// A legacy session's peer (the session's standalone SSE stream).
    Session(Peer<RoleServer>),
    /// A `subscriptions/listen` stream.
    Listen(SubscriptionSink),
}

impl Notifier {
    async fn send(&self, uri: &str) -> Result<(), String> {
        match self {
            Self::Session(peer) => peer
                .notify_resource_updated(ResourceUpdatedNotificationParam::new(uri))
                .await
                .map_err(|e| e.to_string()),
            Self::Listen(sink) => sink
                .notify_resource_updated(uri)
                .await
                .map_err(|e| e.to_string()),
        }
    }
}

/// What ends a watcher besides its own token: the session closing (or the listen request ending) and a kick or
/// shutdown.
#[derive(Clone, Debug)]
pub struct Ends {
    /// The client closed the session, or the session-less request ended.
    pub closed: CancellationToken,
    /// An administrator ended the session, or the gateway is shutting down.
    pub kicked: CancellationToken,
    /// Who owns the watcher tasks in the monitor.
    pub owner: Owner,
}

impl Ends {
    /// The ends of a registered session's watchers, owned by its monitor connection.
    pub fn of(reg: &Registration) -> Self {
        Self {
            closed: reg.closed().clone(),
            kicked: reg.kicked().clone(),
            owner: Owner::Connection(reg.connection_id()),
        }
    }
}

/// [`read`], recorded as an `mcp_resource_read` operation (of the session's connection, when there is a session)
/// and counted in the session's counters.
pub async fn read_recorded(
    gw: &SessionManager,
    uri: &str,
    session: Option<&Registration>,
) -> Result<ReadResourceResult, McpError> {
    let mut op = gw.operation(
        "mcp_resource_read",
        session.map(Registration::connection_id),
    );
    op.detail(json!({ "uri": crate::control::echo(uri) }));
    match read(gw, uri).await {
        Ok(r) => {
            if let Some(reg) = session {
                reg.count_call(result_bytes(&r));
            }
            op.ok();
            Ok(r)
        }
        Err(e) => {
            op.fail(&e.message);
            Err(e)
        }
    }
}

/// The bytes of a read's contents (the JPEG's base64 and the JSON), for the session's counters.
fn result_bytes(r: &ReadResourceResult) -> usize {
    r.contents
        .iter()
        .map(|c| match c {
            ResourceContents::TextResourceContents { text, .. } => text.len(),
            ResourceContents::BlobResourceContents { blob, .. } => blob.len(),
            _ => 0,
        })
        .sum()
}

/// Why a watcher stopped.
#[derive(Debug, PartialEq, Eq)]
enum Stop {
    Ended,
    CaptureEnded,
    ClientGone(String),
}

/// One subscriber's watch of one screen, ready to run.
struct Watcher {
    sub: FrameSubscription,
    uri: String,
    notifier: Notifier,
    stop: CancellationToken,
    ends: Ends,
    /// Its place among the gateway's [`MAX_WATCHERS`], held until it ends.
    _permit: OwnedSemaphorePermit,
}

impl Watcher {
    /// Runs until `stop`, `ends` or the capture ends; notifies per [`Debounce`].
    async fn run(mut self) -> Stop {
        let mut pace = Debounce::new(NOTIFY_GAP);
        let mut last: Option<Arc<Frame>> = None;
        loop {
            let due = pace.due();
            tokio::select! {
                biased;
                () = self.stop.cancelled() => return Stop::Ended,
                () = self.ends.closed.cancelled() => return Stop::Ended,
                () = self.ends.kicked.cancelled() => return Stop::Ended,
                () = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                    if let Err(e) = self.notifier.send(&self.uri).await {
                        return Stop::ClientGone(e);
                    }
                    pace.sent(Instant::now());
                }
                frame = self.sub.changed() => {
                    let Some(frame) = frame else { return Stop::CaptureEnded };
                    // The first frame is the screen as it was when the subscription began: the baseline.
                    if let Some(prev) = &last
                        && region_differs(prev, &frame, None)
                    {
                        pace.changed(Instant::now());
                    }
                    last = Some(frame);
                }
            }
        }
    }

    /// Runs as a task the monitor tracks; `on_end` runs when it stops.
    fn spawn(
        self,
        gw: &SessionManager,
        on_end: impl FnOnce() + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let owner = self.ends.owner.clone();
        gw.spawn("mcp-resource-watch", owner, async move {
            let uri = self.uri.clone();
            match self.run().await {
                Stop::Ended => tracing::debug!(%uri, "resource subscription ended"),
                Stop::CaptureEnded => {
                    tracing::info!(%uri, "resource subscription ended: the screen's capture ended");
                }
                Stop::ClientGone(e) => {
                    tracing::debug!(%uri, error = %e, "resource subscription ended: client gone");
                }
            }
            on_end();
        })
    }
}

/// One legacy session's subscriptions: URI → the watcher's stop token. Dropped with the session's handler, which
/// stops them all.
#[derive(Debug, Default)]
pub struct Subscriptions {
    active: Arc<Mutex<HashMap<String, (u64, CancellationToken)>>>,
    next: Mutex<u64>,
    dropped: CancellationToken,
}

impl Drop for Subscriptions {
    fn drop(&mut self) {
        self.dropped.cancel();
    }
}

impl Subscriptions {
    /// `resources/subscribe`: starts watching `uri` for this session (again subscribing is a no-op).
    pub async fn subscribe(
        &self,
        gw: &SessionManager,
        hub: &Hub,
        uri: &str,
        peer: Peer<RoleServer>,
        ends: Ends,
    ) -> Result<(), McpError> {
        let info = screen(gw, uri).await?;
        if self.active.lock().contains_key(uri) {
            return Ok(());
        }
        let sub = gw
            .subscribe_frames(&info.id)
            .map_err(|e| rpc_error(uri, e))?;
        let permit = hub.permit()?;
        let stop = self.dropped.child_token();
        let id = {
            let mut next = self.next.lock();
            *next += 1;
            *next
        };
        {
            let mut active = self.active.lock();
            if active.contains_key(uri) {
                return Ok(());
            }
            if active.len() >= MAX_SUBSCRIPTIONS_PER_SESSION {
                return Err(McpError::invalid_request(
                    format!(
                        "this session is already subscribed to {MAX_SUBSCRIPTIONS_PER_SESSION} resources; \
                         unsubscribe from one first"
                    ),
                    None,
                ));
            }
            active.insert(uri.to_owned(), (id, stop.clone()));
        }
        let active = Arc::clone(&self.active);
        let key = uri.to_owned();
        let watcher = Watcher {
            sub,
            uri: uri.to_owned(),
            notifier: Notifier::Session(peer),
            stop,
            ends,
            _permit: permit,
        };
        watcher.spawn(gw, move || {
            let mut active = active.lock();
            if active.get(&key).is_some_and(|(i, _)| *i == id) {
                active.remove(&key);
            }
        });
        Ok(())
    }

    /// `resources/unsubscribe`: stops watching `uri` (not subscribed is fine: the watcher may have ended).
    pub fn unsubscribe(&self, uri: &str) -> Result<(), McpError> {
        screen_of(uri)?;
        if let Some((_, stop)) = self.active.lock().remove(uri) {
            stop.cancel();
        }
        Ok(())
    }
}

/// The URIs of `requested` a listen stream accepts: screen URIs for which `exists` holds, without repeats, at
/// most [`MAX_SUBSCRIPTIONS_PER_SESSION`]. The acknowledgement tells the client which were accepted.
pub fn accepted_uris(requested: Option<&[String]>, exists: impl Fn(&str) -> bool) -> Vec<String> {
    let mut uris: Vec<String> = Vec::new();
    for u in requested.unwrap_or_default() {
        if uris.len() == MAX_SUBSCRIPTIONS_PER_SESSION {
            break;
        }
        if !uris.contains(u) && screen_of(u).is_ok_and(&exists) {
            uris.push(u.clone());
        }
    }
    uris
}

/// `subscriptions/listen`: watches every accepted URI until the listen request ends (`request` cancelled), the
/// session ends or is kicked, or every watcher has stopped (with nothing accepted, that is at once: a graceful
/// close). A screen gone since the acknowledgement fails the stream before anything is watched.
pub async fn listen(
    gw: &SessionManager,
    hub: &Hub,
    uris: Vec<String>,
    sink: SubscriptionSink,
    request: &CancellationToken,
    ends: Ends,
) -> Result<(), McpError> {
    let mut subs = Vec::with_capacity(uris.len());
    for u in &uris {
        let info = screen(gw, u).await?;
        let sub = gw.subscribe_frames(&info.id).map_err(|e| rpc_error(u, e))?;
        subs.push((u.clone(), sub, hub.permit()?));
    }
    // Also stops the watchers when this future is dropped (the transport ended the request).
    let stop = request.child_token();
    let _stop_on_return = stop.clone().drop_guard();
    let mut tasks: Vec<_> = subs
        .into_iter()
        .map(|(uri, sub, permit)| {
            let watcher = Watcher {
                sub,
                uri,
                notifier: Notifier::Listen(sink.clone()),
                stop: stop.clone(),
                ends: ends.clone(),
                _permit: permit,
            };
            watcher.spawn(gw, || {})
        })
        .collect();
    // Every watcher stops on the same tokens, so waiting for all of them is waiting for the stream's end (or for
    // every screen's capture to end).
    for t in &mut tasks {
        if let Err(e) = t.await {
            tracing::warn!(error = %e, "a resource watcher failed");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_name_screens() {
        assert_eq!(uri("0"), "screen://0");
        assert_eq!(screen_of("screen://12").unwrap(), "12");
        for bad in [
            "screen://",
            "file:///etc/passwd",
            "screen://0/x",
            "screen://../0",
        ] {
            let e = screen_of(bad).unwrap_err();
            assert_eq!(e.code, rmcp::model::ErrorCode::RESOURCE_NOT_FOUND, "{bad}");
        }
        let long = format!("screen://{}", "9".repeat(10_000));
        assert!(screen_of(&long).unwrap_err().message.len() < 300);
    }

    #[test]
    fn a_listen_accepts_existing_screens_once_and_bounded() {
        let any = |_: &str| true;
        let mut asked: Vec<String> = vec![
            "screen://0".into(),
            "screen://0".into(),
            "x://1".into(),
            "screen://9".into(),
        ];
        assert_eq!(accepted_uris(Some(&asked), |id| id != "9"), ["screen://0"]);
        asked.extend((0..20).map(|i| uri(&i.to_string())));
        assert_eq!(
            accepted_uris(Some(&asked), any).len(),
            MAX_SUBSCRIPTIONS_PER_SESSION
        );
        assert!(accepted_uris(Some(&["x://1".to_owned()]), any).is_empty());
        assert!(accepted_uris(None, any).is_empty());
    }

    #[test]
    fn notifications_lead_then_trail_at_most_once_per_gap() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut d = Debounce::new(NOTIFY_GAP);
        assert_eq!(d.due(), None, "no change, nothing to send");
        // A first change is sent at once.
        d.changed(ms(10));
        assert_eq!(d.due(), Some(ms(10)));
        d.sent(ms(10));
        assert_eq!(d.due(), None);
        // A burst inside the gap becomes one notification at the gap's end.
        for t in [20, 50, 200] {
            d.changed(ms(t));
        }
        assert_eq!(d.due(), Some(ms(10) + NOTIFY_GAP));
        d.sent(ms(260));
        // After a quiet gap, a change goes out at once again.
        d.changed(ms(900));
        assert_eq!(d.due(), Some(ms(900)));
    }
}
