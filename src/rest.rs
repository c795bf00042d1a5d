//! The REST API: `/api/v1` (screens, snapshots, MJPEG, status, sessions, performance), the monitor's
//! `/api/v0/mcp/monitor/webrtc/…` paths, `/metrics` and the `/monitor` dashboard page. Described in
//! `docs/openapi.yaml`.
//!
//! Handlers only parse, call the session manager and map the result; the health score is a pure function in
//! [`crate::health`]. Roles come from the policy table through the `Auth` markers: the operator API needs
//! [`Action::Operate`](crate::control::Action::Operate), screens and pictures [`Action::Watch`](crate::control::Action::Watch).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sightline_limits as limits;
use sightline_media::{Rect, ScreenInfo, StillEncoding, StillRequest};
use sightline_monitor::{
    Connection, ConnectionDetail, ConnectionId, ConnectionSummary, Lifecycle, OperationsSnapshot,
    Owner, PipelineSnapshot, ProcessSnapshot, Summary, TasksSnapshot,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::auth::{Admin, Auth, Viewer};
use crate::control::echo;
use crate::error::AppError;
use crate::health::{Health, assess};
use crate::image::ImageFormat;
use crate::ratelimit::Class;
use crate::session::{
    JpegRequest, Session, SessionInfo, SessionKind, SessionManager, WatchMedia, WatchRequest,
    WatchTicket,
};
use crate::transport::pacer::Pacer;

mod publish;
mod windows;

/// Prefix of the monitor endpoints (the paths existing WebRTC-monitor clients call).
pub const MONITOR_PREFIX: &str = "/api/v0/mcp/monitor/webrtc";

/// The REST routes.
pub fn routes() -> Router<SessionManager> {
    Router::new()
        .route("/api/v1/screens", get(screens))
        .route("/api/v1/screens/{id}/snapshot", get(snapshot))
        .route("/api/v1/screens/{id}/mjpeg", get(mjpeg))
        .route("/api/v1/status", get(status))
        .route("/api/v1/sessions", get(sessions))
        .route("/api/v1/sessions/{id}", get(session).delete(kick))
        .route("/api/v1/performance", get(performance))
        .route("/api/v1/sfu", get(sfu))
        .route(&format!("{MONITOR_PREFIX}/summary"), get(monitor_summary))
        .route(
            &format!("{MONITOR_PREFIX}/connections"),
            get(monitor_connections),
        )
        .route(
            &format!("{MONITOR_PREFIX}/connections/{{id}}"),
            get(monitor_connection),
        )
        .route(
            &format!("{MONITOR_PREFIX}/operations"),
            get(monitor_operations),
        )
        .route(&format!("{MONITOR_PREFIX}/tasks"), get(monitor_tasks))
        .route("/metrics", get(metrics))
        .route(
            "/monitor",
            get(|| async { crate::assets::serve("monitor.html") }),
        )
        .route("/api/openapi.yaml", get(|| async { openapi() }))
        .merge(publish::routes())
        .merge(windows::routes())
}

/// `GET /api/v1/screens` response.
#[derive(Debug, Serialize, Deserialize)]
pub struct ScreensResponse {
    /// The screens: local ones, then every device screen known to this hub (with `device`, `device_name` and
    /// `online`).
    pub screens: Vec<crate::session::ScreenEntry>,
}

async fn screens(
    State(manager): State<SessionManager>,
    _auth: Auth<Viewer>,
) -> Result<Json<ScreensResponse>, AppError> {
    let screens = manager.screen_entries().await?;
    Ok(Json(ScreensResponse { screens }))
}

/// The client's address, when the server recorded it (always, behind the gateway's own listener; not in router
/// tests that call the app directly).
#[derive(Debug, Clone, Copy)]
pub struct Remote(pub Option<SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Remote {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
        ))
    }
}

/// Charges one request of `class` to the caller's token (its shared budget, `crate::ratelimit`): over budget is
/// `429` with `Retry-After`, and a strike against the address.
pub(crate) fn charge(
    manager: &SessionManager,
    headers: &HeaderMap,
    remote: Remote,
    class: Class,
) -> Result<(), AppError> {
    // The extractor already found a valid token in these headers.
    let token = crate::auth::bearer(headers).unwrap_or_default();
    manager
        .charge(token, class, remote.0.map(|a| a.ip()))
        .map_err(AppError::RateLimited)
}

/// Query of `GET /api/v1/screens/{id}/snapshot`. Values arrive as text so a bad one gets a message naming it.
#[derive(Debug, Deserialize)]
pub struct SnapshotQuery {
    format: Option<String>,
    quality: Option<String>,
    max_width: Option<String>,
    /// A window id from `GET /api/v1/windows`: the picture shows that window's client area (clipped to the
    /// screen), which must be on the screen of the path.
    window: Option<String>,
}

/// A query value within one of the shared [`limits`] ranges; empty or absent = `None`.
fn parse_range(
    name: &str,
    value: Option<&str>,
    range: &std::ops::RangeInclusive<u32>,
) -> Result<Option<u32>, AppError> {
    match value {
        None | Some("") => Ok(None),
        Some(v) => match v.parse::<u32>() {
            Ok(n) if range.contains(&n) => Ok(Some(n)),
            _ => Err(AppError::BadRequest(format!(
                "{name} must be an integer from {} to {}",
                range.start(),
                range.end()
            ))),
        },
    }
}

/// Quality of a snapshot whose query names none: sharp text, still a fraction of PNG's size.
const DEFAULT_SNAPSHOT_QUALITY: u8 = 90;

async fn snapshot(
    State(manager): State<SessionManager>,
    _auth: Auth<Viewer>,
    remote: Remote,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<SnapshotQuery>,
) -> Result<Response, AppError> {
    charge(&manager, &headers, remote, Class::Screenshot)?;
    let format = match q.format.as_deref() {
        None | Some("" | "jpeg" | "jpg") => ImageFormat::Jpeg,
        Some("png") => ImageFormat::Png,
        Some(other) => {
            return Err(AppError::BadRequest(format!(
                "format must be jpeg or png, not {}",
                echo(other)
            )));
        }
    };
    let quality = parse_range("quality", q.quality.as_deref(), &limits::JPEG_QUALITY)?
        .map_or(DEFAULT_SNAPSHOT_QUALITY, |q| q as u8);
    let max_width = parse_range("max_width", q.max_width.as_deref(), &limits::MAX_WIDTH)?;
    let window = match q.window.as_deref() {
        None | Some("") => None,
        Some(w) => Some(w.parse::<sightline_media::WindowId>().map_err(|_| {
            AppError::BadRequest(format!("window must be a window id, not {}", echo(w)))
        })?),
    };
    let screen = manager.find_screen(Some(id)).await?;
    let region = match window {
        Some(w) => Some(window_region(&manager, w, &screen.id).await?),
        None => None,
    };
    let encoding = match format {
        ImageFormat::Jpeg => StillEncoding::Jpeg { quality, max_width },
        ImageFormat::Png => StillEncoding::Png { max_width },
    };
    let request = StillRequest {
        region,
        include_cursor: false,
        encoding,
    };
    let op = manager.operation("snapshot", None);
    let still = op.finish_with(manager.still(&screen.id, request).await)?;
    let (w, h) = (still.screen_width, still.screen_height);
    let region = still.region;
    let mut r = still.data.into_response();
    let headers = r.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(still.mime));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!("{w}x{h}")) {
        headers.insert("x-screen-size", v);
    }
    let shown = format!(
        "{},{},{},{}",
        region.x, region.y, region.width, region.height
    );
    if let Ok(v) = HeaderValue::from_str(&shown) {
        headers.insert("x-region", v);
    }
    Ok(r)
}

/// The part of `screen` window `id` covers, for a snapshot's `window` parameter; the window must be on `screen`.
async fn window_region(
    manager: &SessionManager,
    id: sightline_media::WindowId,
    screen: &str,
) -> Result<Rect, AppError> {
    use crate::mcp::error::ToolError;
    let (on, r) = crate::mcp::windows::window_region(manager, id)
        .await
        .map_err(|e| match e {
            ToolError::NotFound(m) => AppError::NotFound(m),
            ToolError::Invalid(m) => AppError::BadRequest(m),
            ToolError::Busy => AppError::Busy("the display is busy; retry shortly".into()),
            ToolError::RateLimited(d) => AppError::RateLimited(d),
            ToolError::Failed(m) => AppError::Unavailable(m),
            other => AppError::Internal(other.to_string()),
        })?;
    if on != screen {
        return Err(AppError::BadRequest(format!(
            "window {id} is on screen {on}, not {screen}"
        )));
    }
    Ok(Rect {
        x: r.x,
        y: r.y,
        width: r.width,
        height: r.height,
    })
}

/// Query of `GET /api/v1/screens/{id}/mjpeg`.
#[derive(Debug, Deserialize)]
pub struct MjpegQuery {
    fps: Option<String>,
    quality: Option<String>,
    max_width: Option<String>,
}

/// Multipart boundary of the MJPEG stream.
const MJPEG_BOUNDARY: &str = "sightline-frame";

/// Longest an MJPEG part may wait for the client to take it: the same bound as a `/ws` write
/// ([`crate::transport::ws::WRITE_TIMEOUT`]). The response body holds one part; hyper takes the next only when the
/// socket drained the previous ones, so a client that stops reading leaves the part waiting, and past this the
/// stream ends as stalled: its session, subscription (and the encoder, if it was the last subscriber) go at once.
pub const MJPEG_WRITE_TIMEOUT: Duration = crate::transport::ws::WRITE_TIMEOUT;

/// Parts between the stream's task and the response body: one, so the part a client gets is at most one frame
/// old and a client that stops reading holds one frame of memory (plus the socket's buffers).
const MJPEG_QUEUE: usize = 1;

async fn mjpeg(
    State(manager): State<SessionManager>,
    auth: Auth<Viewer>,
    remote: Remote,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<MjpegQuery>,
) -> Result<Response, AppError> {
    charge(&manager, &headers, remote, Class::Expensive)?;
    let jpeg = JpegRequest {
        fps: parse_range("fps", q.fps.as_deref(), &limits::JPEG_FPS)?,
        quality: parse_range("quality", q.quality.as_deref(), &limits::JPEG_QUALITY)?
            .map(|q| q as u8),
        max_width: parse_range("max_width", q.max_width.as_deref(), &limits::MAX_WIDTH)?,
    };
    manager.find_screen(Some(id.clone())).await?;
    // Counted against `[server] max_sessions` like every viewer: a full gateway answers 503.
    let session = manager.open_session(
        SessionKind::Mjpeg,
        auth.role,
        remote.0.map(|a| a.to_string()),
        None,
    )?;
    let watch = manager
        .open_watch(&session, WatchRequest::Mjpeg { screen: id, jpeg })
        .await?;
    let WatchMedia::Jpeg { sub, profile } = watch.media else {
        return Err(AppError::Internal(
            "an MJPEG watch has no JPEG stream".into(),
        ));
    };
    watch.conn.set_lifecycle(Lifecycle::Connected);
    // A task paces the stream and hands each part to the body; it owns the session, the watch row, the
    // subscription and the connection, so they end with it: when the client disconnects (the body is dropped),
    // stops reading for MJPEG_WRITE_TIMEOUT, is kicked, or the screen goes away.
    let (tx, rx) = mpsc::channel(MJPEG_QUEUE);
    let state = MjpegStream {
        kicked: session.kicked().clone(),
        pacer: Pacer::new(sub, profile.fps),
        _ticket: watch.ticket,
        session,
        conn: watch.conn,
    };
    manager.spawn(
        "mjpeg-stream",
        Owner::Connection(state.conn.id()),
        state.run(tx),
    );
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let part = rx.recv().await?;
        Some((Ok::<_, std::io::Error>(part), rx))
    });
    let mut r = Body::from_stream(stream).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&format!(
            "multipart/x-mixed-replace; boundary={MJPEG_BOUNDARY}"
        ))
        .map_err(|e| AppError::Internal(e.to_string()))?,
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

/// The state of one MJPEG response stream, owned by its task.
struct MjpegStream {
    pacer: Pacer,
    session: Session,
    _ticket: WatchTicket,
    conn: Connection,
    kicked: CancellationToken,
}

impl MjpegStream {
    /// Streams until the client leaves, stalls, is kicked or the screen goes away; then closes the connection
    /// with the reason and drops the session.
    async fn run(mut self, tx: mpsc::Sender<Bytes>) {
        let reason = self.run_inner(&tx).await;
        self.conn.close(reason);
        tracing::debug!(session = self.session.id(), reason, "MJPEG stream ended");
    }

    async fn run_inner(&mut self, tx: &mpsc::Sender<Bytes>) -> &'static str {
        loop {
            // Room for a part means the body took the previous one: the client is reading.
            let permit = tokio::select! {
                permit = tokio::time::timeout(MJPEG_WRITE_TIMEOUT, tx.reserve()) => match permit {
                    Ok(Ok(permit)) => permit,
                    Ok(Err(_)) => return "client disconnected",
                    Err(_) => return "stalled: the client stopped reading",
                },
                () = self.kicked.cancelled() => return "ended",
            };
            let frame = tokio::select! {
                paced = self.pacer.next() => match paced {
                    Some(p) => p.frame,
                    None => return "the screen's stream ended",
                },
                () = self.kicked.cancelled() => return "ended",
                () = tx.closed() => return "client disconnected",
            };
            permit.send(self.part(&frame.data));
        }
    }

    /// One multipart part holding `jpeg`, counted.
    fn part(&self, jpeg: &[u8]) -> Bytes {
        let mut part = Vec::with_capacity(jpeg.len() + 128);
        part.extend_from_slice(
            format!(
                "--{MJPEG_BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                jpeg.len()
            )
            .as_bytes(),
        );
        part.extend_from_slice(jpeg);
        part.extend_from_slice(b"\r\n");
        self.conn.update_counters(|c| {
            c.frames_sent += 1;
            c.bytes_sent += jpeg.len() as u64;
        });
        Bytes::from(part)
    }
}

/// `GET /api/v1/status` response.
#[derive(Debug, Serialize, Deserialize)]
pub struct StatusResponse {
    /// Gateway version.
    pub version: String,
    /// Seconds since start.
    pub uptime_s: f64,
    /// The screen backend (`x11`, `xcap`, `synthetic`).
    pub source: String,
    /// The screens.
    pub screens: Vec<ScreenInfo>,
    /// Running pipelines.
    pub pipelines: Vec<PipelineSnapshot>,
    /// Watching sessions by transport.
    pub viewers: BTreeMap<String, usize>,
    /// All sessions (watching or not).
    pub sessions: usize,
}

async fn status(
    State(manager): State<SessionManager>,
    _auth: Auth<Admin>,
) -> Result<Json<StatusResponse>, AppError> {
    let screens = manager.list_screens().await?;
    Ok(Json(StatusResponse {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        uptime_s: manager.started().elapsed().as_secs_f64(),
        source: manager.source().to_string(),
        screens,
        pipelines: manager.monitor_view().pipelines(),
        viewers: manager.viewers_by_transport(),
        sessions: manager.session_count(),
    }))
}

/// `GET /api/v1/sessions` response.
#[derive(Debug, Serialize, Deserialize)]
pub struct SessionsResponse {
    /// The sessions, oldest first.
    pub sessions: Vec<SessionInfo>,
}

async fn sessions(
    State(manager): State<SessionManager>,
    _auth: Auth<Admin>,
) -> Json<SessionsResponse> {
    Json(SessionsResponse {
        sessions: manager.sessions(),
    })
}

async fn session(
    State(manager): State<SessionManager>,
    _auth: Auth<Admin>,
    Path(id): Path<String>,
) -> Result<Json<SessionInfo>, AppError> {
    manager
        .session(&id)
        .map(Json)
        .ok_or_else(|| AppError::NotFound(format!("no session {}", echo(&id))))
}

async fn kick(
    State(manager): State<SessionManager>,
    _auth: Auth<Admin>,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    // The owner ends asynchronously; the kick waits briefly so the caller sees it gone.
    if !manager.kick(&id).await {
        return Err(AppError::NotFound(format!("no session {}", echo(&id))));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/performance` response.
#[derive(Debug, Serialize, Deserialize)]
pub struct PerformanceResponse {
    /// Process CPU and memory.
    pub process: ProcessSnapshot,
    /// Per-pipeline capture/convert/encode times, fps and bitrate.
    pub pipelines: Vec<PipelineSnapshot>,
    /// Health score with reasons and recommendations.
    pub health: Health,
}

async fn performance(
    State(manager): State<SessionManager>,
    _auth: Auth<Admin>,
) -> Result<Json<PerformanceResponse>, AppError> {
    let monitor = manager.monitor_view().detach();
    let fps = manager.config().capture.fps;
    let (process, pipelines, leaked) = manager
        .blocking("rest-performance", move || {
            let view = monitor.view();
            (view.process(), view.pipelines(), view.summary().leaked)
        })
        .await?;
    let health = assess(&process, &pipelines, leaked, fps);
    Ok(Json(PerformanceResponse {
        process,
        pipelines,
        health,
    }))
}

async fn monitor_summary(
    State(manager): State<SessionManager>,
    _auth: Auth<Admin>,
) -> Json<Summary> {
    Json(manager.monitor_view().summary())
}

/// `GET /api/v1/sfu` response: the `[sfu]` policy, each Janus instance's health and viewers, and every stream
/// published beyond the gateway (Janus mountpoints and WHIP egress) with its counters.
#[derive(Debug, Serialize)]
pub struct SfuResponse {
    /// `off`, `always` or `overflow`.
    pub policy: &'static str,
    /// `overflow`: local WebRTC viewers of a screen before the next go to an SFU.
    pub overflow_after: usize,
    /// Instances and publications.
    #[serde(flatten)]
    pub state: sightline_monitor::SfuSnapshot,
}

async fn sfu(State(manager): State<SessionManager>, _auth: Auth<Admin>) -> Json<SfuResponse> {
    let config = &manager.config().sfu;
    Json(SfuResponse {
        policy: config.policy.as_str(),
        overflow_after: config.overflow_after,
        state: manager.monitor_view().sfu(),
    })
}

/// `GET …/connections` response.
#[derive(Debug, Serialize, Deserialize)]
pub struct ConnectionsResponse {
    /// Open and recently closed connections.
    pub connections: Vec<ConnectionSummary>,
}

async fn monitor_connections(
    State(manager): State<SessionManager>,
    _auth: Auth<Admin>,
) -> Json<ConnectionsResponse> {
    Json(ConnectionsResponse {
        connections: manager.monitor_view().connections(),
    })
}

async fn monitor_connection(
    State(manager): State<SessionManager>,
    _auth: Auth<Admin>,
    Path(id): Path<String>,
) -> Result<Json<ConnectionDetail>, AppError> {
    let cid: ConnectionId = id
        .parse()
        .map_err(|_| AppError::BadRequest(format!("{} is not a connection id", echo(&id))))?;
    manager
        .monitor_view()
        .connection(cid)
        .map(Json)
        .ok_or_else(|| AppError::NotFound(format!("no connection {}", echo(&id))))
}

async fn monitor_operations(
    State(manager): State<SessionManager>,
    _auth: Auth<Admin>,
) -> Json<OperationsSnapshot> {
    Json(manager.monitor_view().operations())
}

async fn monitor_tasks(
    State(manager): State<SessionManager>,
    _auth: Auth<Admin>,
) -> Json<TasksSnapshot> {
    Json(manager.monitor_view().tasks())
}

/// `GET /metrics`: the Prometheus text format 0.0.4, or OpenMetrics 1.0 for a scraper whose `Accept` asks for it
/// (Prometheus itself does), as a scraper expects.
async fn metrics(
    State(manager): State<SessionManager>,
    _auth: Auth<Admin>,
    headers: axum::http::HeaderMap,
) -> Response {
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let (text, content_type) = if openmetrics {
        (
            manager.monitor_view().openmetrics_text(),
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )
    } else {
        (
            manager.monitor_view().prometheus_text(),
            "text/plain; version=0.0.4; charset=utf-8",
        )
    };
    let mut r = text.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn openapi() -> Response {
    let mut r = include_str!("../docs/openapi.yaml").into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/yaml"),
    );
    r
}
