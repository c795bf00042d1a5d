//! The REST API: `/api/v1` (screens, snapshots, MJPEG, status, sessions, performance), the monitor's
//! `/api/v0/mcp/monitor/webrtc/…` paths, `/metrics` and the `/monitor` dashboard page. Described in
//! `docs/openapi.yaml`.
//!
//! Handlers only parse, call the gateway or the monitor, and map the result; the health score is a pure function
//! in [`crate::health`].

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sightline_media::ScreenInfo;
use sightline_media::engine::JpegProfile;
use sightline_monitor::{
    ConnectionAttrs, ConnectionDetail, ConnectionId, ConnectionKind, ConnectionSummary, Lifecycle,
    OperationsSnapshot, PipelineSnapshot, ProcessSnapshot, Summary, TasksSnapshot,
};

use crate::auth::{Admin, Auth, Viewer};
use crate::error::AppError;
use crate::gateway::Gateway;
use crate::health::{Health, assess};
use crate::image::ImageFormat;
use crate::session::{SessionInfo, SessionKind, WatchInfo};

/// Prefix of the monitor endpoints (the paths existing WebRTC-monitor clients call).
pub const MONITOR_PREFIX: &str = "/api/v0/mcp/monitor/webrtc";

/// The REST routes.
pub fn routes() -> Router<Gateway> {
    Router::new()
        .route("/api/v1/screens", get(screens))
        .route("/api/v1/screens/{id}/snapshot", get(snapshot))
        .route("/api/v1/screens/{id}/mjpeg", get(mjpeg))
        .route("/api/v1/status", get(status))
        .route("/api/v1/sessions", get(sessions))
        .route("/api/v1/sessions/{id}", get(session).delete(kick))
        .route("/api/v1/performance", get(performance))
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
}

/// Runs `f` on the blocking pool as a task the monitor tracks (owned by the gateway: it ends with the request).
async fn blocking<T: Send + 'static>(
    gw: &Gateway,
    name: &'static str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AppError> {
    gw.monitor()
        .spawn_blocking(name, sightline_monitor::Owner::Gateway, f)
        .await
        .map_err(|e| AppError::Internal(e.to_string()))
}

/// `GET /api/v1/screens` response.
#[derive(Debug, Serialize, Deserialize)]
pub struct ScreensResponse {
    /// The screens.
    pub screens: Vec<ScreenInfo>,
}

async fn screens(
    State(gw): State<Gateway>,
    _auth: Auth<Viewer>,
) -> Result<Json<ScreensResponse>, AppError> {
    let g = gw.clone();
    let screens = blocking(&gw, "rest-screens", move || g.screens()).await??;
    Ok(Json(ScreensResponse { screens }))
}

/// Query of `GET /api/v1/screens/{id}/snapshot`. Values arrive as text so a bad one gets a message naming it.
#[derive(Debug, Deserialize)]
pub struct SnapshotQuery {
    format: Option<String>,
    quality: Option<String>,
    max_width: Option<String>,
}

fn parse_range(name: &str, value: Option<&str>, lo: u32, hi: u32) -> Result<Option<u32>, AppError> {
    match value {
        None | Some("") => Ok(None),
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (lo..=hi).contains(&n) => Ok(Some(n)),
            _ => Err(AppError::BadRequest(format!(
                "{name} must be an integer from {lo} to {hi}"
            ))),
        },
    }
}

async fn snapshot(
    State(gw): State<Gateway>,
    _auth: Auth<Viewer>,
    Path(id): Path<String>,
    Query(q): Query<SnapshotQuery>,
) -> Result<Response, AppError> {
    let format = match q.format.as_deref() {
        None | Some("" | "jpeg" | "jpg") => ImageFormat::Jpeg,
        Some("png") => ImageFormat::Png,
        Some(other) => {
            return Err(AppError::BadRequest(format!(
                "format must be jpeg or png, not {other:?}"
            )));
        }
    };
    let quality = parse_range("quality", q.quality.as_deref(), 1, 100)?.unwrap_or(90) as u8;
    let max_width = parse_range("max_width", q.max_width.as_deref(), 16, 8192)?;
    let screen = gw.screen(&id)?;
    let op = gw.monitor().operation("snapshot", None);
    let result = async {
        let frame = gw.engine().snapshot(&screen.id).await?;
        let (w, h) = (frame.width, frame.height);
        let bytes = blocking(&gw, "rest-snapshot-encode", move || {
            crate::image::encode(&frame, format, quality, max_width)
        })
        .await??;
        Ok::<_, AppError>((bytes, w, h))
    }
    .await;
    let (bytes, w, h) = op.finish_with(result)?;
    let mut r = bytes.into_response();
    let headers = r.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.mime()),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!("{w}x{h}")) {
        headers.insert("x-screen-size", v);
    }
    Ok(r)
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

async fn mjpeg(
    State(gw): State<Gateway>,
    auth: Auth<Viewer>,
    Path(id): Path<String>,
    Query(q): Query<MjpegQuery>,
) -> Result<Response, AppError> {
    let preview = &gw.config().preview;
    let fps = parse_range("fps", q.fps.as_deref(), 1, 60)?.unwrap_or(preview.fps);
    let quality =
        parse_range("quality", q.quality.as_deref(), 1, 100)?.map_or(preview.quality, |q| q as u8);
    let max_width =
        parse_range("max_width", q.max_width.as_deref(), 16, 8192)?.unwrap_or(preview.max_width);
    let screen = gw.screen(&id)?;
    let session = gw
        .sessions()
        .open(SessionKind::Mjpeg, auth.role, None, None)
        .map_err(|e| AppError::Unavailable(e.to_string()))?;
    let conn = gw.monitor().open_connection(
        ConnectionKind::Mjpeg,
        ConnectionAttrs {
            session: Some(session.id().to_owned()),
            screen: Some(screen.id.clone()),
            role: Some(auth.role.to_string()),
            ..Default::default()
        },
    );
    let sub = gw.engine().subscribe_jpeg(
        &screen.id,
        JpegProfile {
            quality,
            max_width: Some(max_width),
            fps,
        },
    )?;
    session.set_watch(Some(WatchInfo {
        screen: screen.id.clone(),
        transport: "mjpeg".into(),
        connection: Some(conn.id()),
    }));
    conn.set_lifecycle(Lifecycle::Connected);
    // Pull-based: the client's reads drive the stream, so a slow client simply skips frames (the subscription
    // keeps only the latest) and costs one frame of memory. The session, connection and subscription live in the
    // stream's state and end when the client disconnects and the body is dropped.
    let state = MjpegStream {
        kicked: session.kicked().clone(),
        sub,
        session,
        conn,
        interval: Duration::from_secs_f64(1.0 / f64::from(fps)),
        next: tokio::time::Instant::now(),
        last: None,
    };
    let stream = futures_util::stream::unfold(state, |mut st| async move {
        let part = st.next_part().await?;
        Some((Ok::<_, std::io::Error>(part), st))
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

/// The state of one MJPEG response stream.
struct MjpegStream {
    sub: sightline_media::engine::JpegSubscription,
    session: crate::session::SessionGuard,
    conn: sightline_monitor::Connection,
    kicked: tokio_util::sync::CancellationToken,
    interval: Duration,
    next: tokio::time::Instant,
    last: Option<std::sync::Arc<sightline_media::jpeg::JpegFrame>>,
}

impl MjpegStream {
    /// The next multipart part, at most at the requested rate; `None` ends the response.
    async fn next_part(&mut self) -> Option<Bytes> {
        tokio::select! {
            () = tokio::time::sleep_until(self.next) => {}
            () = self.kicked.cancelled() => return None,
        }
        let frame = tokio::select! {
            f = self.sub.changed() => f?,
            // An unchanged screen: repeat the last frame now and then, so clients see a live stream.
            () = tokio::time::sleep(crate::transport::jpeg::KEEPALIVE), if self.last.is_some() => self.last.clone()?,
            () = self.kicked.cancelled() => return None,
        };
        self.last = Some(frame.clone());
        let mut part = Vec::with_capacity(frame.data.len() + 128);
        part.extend_from_slice(
            format!(
                "--{MJPEG_BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                frame.data.len()
            )
            .as_bytes(),
        );
        part.extend_from_slice(&frame.data);
        part.extend_from_slice(b"\r\n");
        self.conn.update_counters(|c| {
            c.frames_sent += 1;
            c.bytes_sent += frame.data.len() as u64;
        });
        self.next = tokio::time::Instant::now() + self.interval;
        Some(Bytes::from(part))
    }
}

impl Drop for MjpegStream {
    fn drop(&mut self) {
        let reason = if self.kicked.is_cancelled() {
            "ended"
        } else {
            "client disconnected"
        };
        self.conn.close(reason);
        tracing::debug!(session = self.session.id(), reason, "MJPEG stream ended");
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
    State(gw): State<Gateway>,
    _auth: Auth<Admin>,
) -> Result<Json<StatusResponse>, AppError> {
    let g = gw.clone();
    let screens = blocking(&gw, "rest-screens", move || g.screens()).await??;
    Ok(Json(StatusResponse {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        uptime_s: gw.started().elapsed().as_secs_f64(),
        source: gw.engine().desktop().kind().to_string(),
        screens,
        pipelines: gw.monitor().pipelines(),
        viewers: gw.sessions().viewers_by_transport(),
        sessions: gw.sessions().len(),
    }))
}

/// `GET /api/v1/sessions` response.
#[derive(Debug, Serialize, Deserialize)]
pub struct SessionsResponse {
    /// The sessions, oldest first.
    pub sessions: Vec<SessionInfo>,
}

async fn sessions(State(gw): State<Gateway>, _auth: Auth<Admin>) -> Json<SessionsResponse> {
    Json(SessionsResponse {
        sessions: gw.sessions().list(),
    })
}

async fn session(
    State(gw): State<Gateway>,
    _auth: Auth<Admin>,
    Path(id): Path<String>,
) -> Result<Json<SessionInfo>, AppError> {
    gw.sessions()
        .get(&id)
        .map(Json)
        .ok_or_else(|| AppError::NotFound(format!("no session {id:?}")))
}

async fn kick(
    State(gw): State<Gateway>,
    _auth: Auth<Admin>,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    if !gw.sessions().kick(&id) {
        return Err(AppError::NotFound(format!("no session {id:?}")));
    }
    // The owner ends asynchronously; wait briefly so the caller sees it gone.
    for _ in 0..100 {
        if gw.sessions().get(&id).is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
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
    State(gw): State<Gateway>,
    _auth: Auth<Admin>,
) -> Result<Json<PerformanceResponse>, AppError> {
    let monitor = gw.monitor().clone();
    let fps = gw.config().capture.fps;
    let (process, pipelines, leaked) = blocking(&gw, "rest-performance", move || {
        (
            monitor.process(),
            monitor.pipelines(),
            monitor.summary().leaked,
        )
    })
    .await?;
    let health = assess(&process, &pipelines, leaked, fps);
    Ok(Json(PerformanceResponse {
        process,
        pipelines,
        health,
    }))
}

async fn monitor_summary(State(gw): State<Gateway>, _auth: Auth<Admin>) -> Json<Summary> {
    Json(gw.monitor().summary())
}

/// `GET …/connections` response.
#[derive(Debug, Serialize, Deserialize)]
pub struct ConnectionsResponse {
    /// Open and recently closed connections.
    pub connections: Vec<ConnectionSummary>,
}

async fn monitor_connections(
    State(gw): State<Gateway>,
    _auth: Auth<Admin>,
) -> Json<ConnectionsResponse> {
    Json(ConnectionsResponse {
        connections: gw.monitor().connections(),
    })
}

async fn monitor_connection(
    State(gw): State<Gateway>,
    _auth: Auth<Admin>,
    Path(id): Path<String>,
) -> Result<Json<ConnectionDetail>, AppError> {
    let cid: ConnectionId = id
        .parse()
        .map_err(|_| AppError::BadRequest(format!("{id:?} is not a connection id")))?;
    gw.monitor()
        .connection(cid)
        .map(Json)
        .ok_or_else(|| AppError::NotFound(format!("no connection {id}")))
}

async fn monitor_operations(
    State(gw): State<Gateway>,
    _auth: Auth<Admin>,
) -> Json<OperationsSnapshot> {
    Json(gw.monitor().operations())
}

async fn monitor_tasks(State(gw): State<Gateway>, _auth: Auth<Admin>) -> Json<TasksSnapshot> {
    Json(gw.monitor().tasks())
}

/// `GET /metrics`: the Prometheus text format 0.0.4, or OpenMetrics 1.0 for a scraper whose `Accept` asks for it
/// (Prometheus itself does), as a scraper expects.
async fn metrics(
    State(gw): State<Gateway>,
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
            gw.monitor().openmetrics_text(),
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )
    } else {
        (
            gw.monitor().prometheus_text(),
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
