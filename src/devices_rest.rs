//! The fleet's HTTP surface on the hub: the devices' WebSocket endpoint ([`CONNECT_PATH`], device tokens only),
//! the device list and its administration (`/api/v1/devices`), and the events stream (`GET /api/v1/events`,
//! server-sent events). Handlers parse, call [`crate::fleet::hub::Hub`] and map the result.
//!
//! | route | role | answers |
//! |---|---|---|
//! | `GET /api/v1/devices/connect` | device token | WebSocket; 401 no/unknown token, 403 a role token or no `[auth] devices` |
//! | `GET /api/v1/devices` | view | `{"devices":[DeviceInfo]}` |
//! | `GET /api/v1/devices/{id}` | view | `DeviceInfo`; 404 |
//! | `POST /api/v1/devices/{id}/approve` | admin | `DeviceInfo` (optional body `{"name":"…"}`); 400 bad id or name |
//! | `DELETE /api/v1/devices/{id}` | admin | 204; 404 |
//! | `GET /api/v1/events?device=<id>` | view | `text/event-stream`: `event: <type>` + `data: <DeviceEvent>` |

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::{SinkExt, Stream, StreamExt};
use serde::{Deserialize, Serialize};
use sightline_monitor::Owner;
use sightline_signaling::fleet::{CONNECT_PATH, MAX_MESSAGE_BYTES};
use tokio::sync::broadcast::error::RecvError;

use crate::auth::{Admin, Auth, HasTokens, Viewer, bearer};
use crate::control::echo;
use crate::error::AppError;
use crate::fleet::hub::{DeviceEvent, DeviceInfo, LinkIn, LinkOut};
use crate::ratelimit::Class;
use crate::rest::{Remote, charge};
use crate::session::SessionManager;

/// How often an idle events stream sends a keep-alive comment.
pub const SSE_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// What a viewer, controller or admin token gets on the device endpoint.
pub const ROLE_TOKEN_ON_DEVICE_ENDPOINT: &str =
    "controller tokens cannot register a device: use a device token ([auth] devices)";
/// What the device endpoint answers when no device token is configured.
pub const NO_DEVICE_TOKENS: &str = "this hub accepts no devices: set [auth] devices";

/// The fleet routes.
pub fn routes() -> Router<SessionManager> {
    Router::new()
        .route(CONNECT_PATH, get(connect))
        .route("/api/v1/devices", get(list))
        .route("/api/v1/devices/{id}", get(one).delete(remove))
        .route("/api/v1/devices/{id}/approve", post(approve))
        .route("/api/v1/events", get(events))
}

/// `GET /api/v1/devices/connect`: a device's link. The token is checked before upgrading.
async fn connect(
    State(manager): State<SessionManager>,
    remote: Remote,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if let Some(ip) = remote.0.map(|a| a.ip())
        && let Some(left) = manager
            .limits()
            .banned(ip, tokio::time::Instant::now().into_std())
    {
        return AppError::RateLimited(left).into_response();
    }
    let tokens = manager.tokens();
    if !tokens.accepts_devices() {
        return AppError::Forbidden(NO_DEVICE_TOKENS.into()).into_response();
    }
    match bearer(&headers) {
        Some(t) if tokens.is_device_token(t) => {}
        Some(t) if tokens.role_of(t).is_some() => {
            return AppError::Forbidden(ROLE_TOKEN_ON_DEVICE_ENDPOINT.into()).into_response();
        }
        _ => return AppError::Unauthorized.into_response(),
    }
    let upgrade = match upgrade {
        Ok(u) => u,
        Err(rejection) => return rejection.into_response(),
    };
    upgrade
        .max_frame_size(MAX_MESSAGE_BYTES)
        .max_message_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| async move {
            let task = manager.clone().spawn(
                "device-link",
                Owner::Gateway,
                serve_socket(manager, socket, remote),
            );
            let _ = task.await;
        })
}

/// Adapts axum's socket to the hub's link.
async fn serve_socket(manager: SessionManager, socket: WebSocket, remote: Remote) {
    let (sink, stream) = socket.split();
    let stream = stream
        .filter_map(|m| async move {
            match m {
                Ok(Message::Text(t)) => Some(LinkIn::Text(t.as_str().to_owned())),
                Ok(Message::Binary(b)) => Some(LinkIn::Binary(b)),
                // tungstenite answers pings by itself; the link has its own heartbeat.
                Ok(Message::Ping(_) | Message::Pong(_)) => None,
                Ok(Message::Close(_)) => Some(LinkIn::Closed),
                Err(e) => Some(LinkIn::Failed(e.to_string())),
            }
        })
        .boxed();
    let sink = sink.with(|out: LinkOut| async move {
        Ok::<_, axum::Error>(match out {
            LinkOut::Text(t) => Message::Text(t.into()),
            LinkOut::Close(code, reason) => Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            })),
        })
    });
    manager
        .hub()
        .serve_link(stream, Box::pin(sink), remote.0)
        .await;
}

/// `GET /api/v1/devices` response.
#[derive(Debug, Serialize)]
pub struct DevicesResponse {
    /// Every device: online, allowed or pending.
    pub devices: Vec<DeviceInfo>,
}

async fn list(
    State(manager): State<SessionManager>,
    _auth: Auth<Viewer>,
    remote: Remote,
    headers: HeaderMap,
) -> Result<Json<DevicesResponse>, AppError> {
    charge(&manager, &headers, remote, Class::Light)?;
    Ok(Json(DevicesResponse {
        devices: manager.hub().devices(),
    }))
}

async fn one(
    State(manager): State<SessionManager>,
    _auth: Auth<Viewer>,
    remote: Remote,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<DeviceInfo>, AppError> {
    charge(&manager, &headers, remote, Class::Light)?;
    manager
        .hub()
        .device(&id)
        .map(Json)
        .ok_or_else(|| AppError::NotFound(format!("no device {}", echo(&id))))
}

/// Body of `POST /api/v1/devices/{id}/approve` (optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    /// The name to list the device under (for a device never seen, or to rename it).
    #[serde(default)]
    pub name: Option<String>,
}

async fn approve(
    State(manager): State<SessionManager>,
    _auth: Auth<Admin>,
    remote: Remote,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<DeviceInfo>, AppError> {
    charge(&manager, &headers, remote, Class::Light)?;
    let request: ApproveRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ApproveRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            AppError::BadRequest(format!(
                "the body must be {{\"name\": \"…\"}} or empty: {e}"
            ))
        })?
    };
    let hub = manager.hub().clone();
    let info = manager
        .blocking("device-approve", move || {
            hub.approve_named(&id, request.name.as_deref())
        })
        .await??;
    Ok(Json(info))
}

async fn remove(
    State(manager): State<SessionManager>,
    _auth: Auth<Admin>,
    remote: Remote,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    charge(&manager, &headers, remote, Class::Light)?;
    let hub = manager.hub().clone();
    manager
        .blocking("device-remove", move || hub.remove(&id))
        .await??;
    Ok(StatusCode::NO_CONTENT)
}

/// Query of `GET /api/v1/events`.
#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    /// Only this device's events.
    device: Option<String>,
}

async fn events(
    State(manager): State<SessionManager>,
    _auth: Auth<Viewer>,
    remote: Remote,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    charge(&manager, &headers, remote, Class::Expensive)?;
    let hub = manager.hub();
    let rx = hub.subscribe_events();
    let shutdown = hub.shutdown_token().clone();
    let device = q.device.filter(|d| !d.is_empty());
    let stream = futures_util::stream::unfold(
        (rx, shutdown, device),
        |(mut rx, shutdown, device)| async move {
            loop {
                let next = tokio::select! {
                    () = shutdown.cancelled() => return None,
                    next = rx.recv() => next,
                };
                let event = match next {
                    Ok(e) if device.as_ref().is_none_or(|d| *d == e.device) => sse_event(&e),
                    Ok(_) => continue,
                    Err(RecvError::Lagged(missed)) => Event::default()
                        .event("lagged")
                        .data(format!("{{\"missed\":{missed}}}")),
                    Err(RecvError::Closed) => return None,
                };
                return Some((Ok(event), (rx, shutdown, device)));
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(SSE_KEEP_ALIVE)))
}

/// `event: <type>` + `data: <DeviceEvent JSON>`.
fn sse_event(e: &DeviceEvent) -> Event {
    let data = serde_json::to_string(e).unwrap_or_else(|_| "{}".into());
    Event::default().event(e.kind).data(data)
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode, header};
    use futures_util::{SinkExt, StreamExt};
    use http_body_util::BodyExt;
    use serde_json::Value;
    use sightline_media::engine::Engine;
    use sightline_media::synthetic::SyntheticDesktop;
    use sightline_monitor::Monitor;
    use sightline_signaling::fleet::{
        DeviceMsg, Hello, HubMsg, PROTOCOL_VERSION, RemoteScreen, parse_hub,
    };
    use tokio_tungstenite::tungstenite;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_util::sync::CancellationToken;
    use tower::ServiceExt;

    use super::*;
    use crate::auth::{DEVICE_TOKEN_FORBIDDEN, Tokens};
    use crate::config::{AuthConfig, Config};

    const VIEW: &str = "view-token-1";
    const ADMIN: &str = "admin-token-1";
    const DEVICE: &str = "device-token-1";
    const ID: &str = "0123456789abcdef";

    fn manager(devices: bool) -> SessionManager {
        let mut config = Config {
            auth: AuthConfig {
                viewers: vec![VIEW.into()],
                admins: vec![ADMIN.into()],
                devices: if devices {
                    vec![DEVICE.into()]
                } else {
                    Vec::new()
                },
                ..AuthConfig::default()
            },
            ..Config::default()
        };
        config.devices.allowed = vec![format!("fedcba9876543210 lab")];
        config.validate().expect("test config is valid");
        let monitor = Monitor::new(config.monitor_settings());
        let desktop = Arc::new(SyntheticDesktop::new(64, 48));
        let engine = Engine::new(desktop, config.engine_settings(), monitor.clone());
        let tokens = Tokens::from_config(&config.auth);
        SessionManager::new(config, tokens, engine, monitor, CancellationToken::new())
    }

    async fn call(
        m: &SessionManager,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: &str,
    ) -> Response {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        crate::http::app(m.clone())
            .oneshot(req.body(Body::from(body.to_owned())).unwrap())
            .await
            .unwrap()
    }

    async fn message(r: Response) -> String {
        let bytes = r.into_body().collect().await.unwrap().to_bytes();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        v["message"].as_str().unwrap_or_default().to_owned()
    }

    #[tokio::test]
    async fn the_device_endpoint_wants_a_device_token() {
        let m = manager(false);
        let r = call(&m, Method::GET, CONNECT_PATH, Some(VIEW), "").await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(message(r).await, NO_DEVICE_TOKENS);
        let m = manager(true);
        let r = call(&m, Method::GET, CONNECT_PATH, None, "").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let r = call(&m, Method::GET, CONNECT_PATH, Some("wrong-token"), "").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        for role in [VIEW, ADMIN] {
            let r = call(&m, Method::GET, CONNECT_PATH, Some(role), "").await;
            assert_eq!(r.status(), StatusCode::FORBIDDEN);
            assert_eq!(message(r).await, ROLE_TOKEN_ON_DEVICE_ENDPOINT);
        }
        // A device token passes; without an upgrade request there is nothing to upgrade.
        let r = call(&m, Method::GET, CONNECT_PATH, Some(DEVICE), "").await;
        assert!(r.status().is_client_error());
        assert_ne!(r.status(), StatusCode::UNAUTHORIZED);
        assert_ne!(r.status(), StatusCode::FORBIDDEN);
        // MCP too.
        let req = Request::builder()
            .method(Method::POST)
            .uri("/mcp")
            .header(header::HOST, "localhost")
            .header(header::AUTHORIZATION, format!("Bearer {DEVICE}"))
            .body(Body::from("{}"))
            .unwrap();
        let r = crate::http::app(m.clone()).oneshot(req).await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(message(r).await, DEVICE_TOKEN_FORBIDDEN);
        // Anywhere else a device token is forbidden, not unknown.
        for uri in ["/api/v1/screens", "/api/v1/devices", "/api/v1/status"] {
            let r = call(&m, Method::GET, uri, Some(DEVICE), "").await;
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{uri}");
            assert_eq!(message(r).await, DEVICE_TOKEN_FORBIDDEN);
        }
    }

    #[tokio::test]
    async fn devices_are_listed_approved_and_removed() {
        let m = manager(true);
        let r = call(&m, Method::GET, "/api/v1/devices", Some(VIEW), "").await;
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value =
            serde_json::from_slice(&r.into_body().collect().await.unwrap().to_bytes()).unwrap();
        assert_eq!(body["devices"][0]["id"], "fedcba9876543210");
        assert_eq!(body["devices"][0]["state"], "allowed");
        let approve = format!("/api/v1/devices/{ID}/approve");
        let r = call(&m, Method::POST, &approve, Some(VIEW), "").await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = call(&m, Method::POST, &approve, Some(ADMIN), "{\"nom\":1}").await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let r = call(
            &m,
            Method::POST,
            "/api/v1/devices/XYZ/approve",
            Some(ADMIN),
            "",
        )
        .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let r = call(
            &m,
            Method::POST,
            &approve,
            Some(ADMIN),
            "{\"name\":\"kiosk\"}",
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
        let one = format!("/api/v1/devices/{ID}");
        let r = call(&m, Method::GET, &one, Some(VIEW), "").await;
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value =
            serde_json::from_slice(&r.into_body().collect().await.unwrap().to_bytes()).unwrap();
        assert_eq!(
            (body["name"].as_str(), body["online"].as_bool()),
            (Some("kiosk"), Some(false))
        );
        let r = call(&m, Method::DELETE, &one, Some(VIEW), "").await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = call(&m, Method::DELETE, &one, Some(ADMIN), "").await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let r = call(&m, Method::DELETE, &one, Some(ADMIN), "").await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let r = call(&m, Method::GET, &one, Some(VIEW), "").await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn events_stream_as_sse() {
        let m = manager(true);
        let r = call(
            &m,
            Method::GET,
            &format!("/api/v1/events?device={ID}"),
            Some(VIEW),
            "",
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.headers().get(header::CONTENT_TYPE).unwrap(),
            "text/event-stream"
        );
        let mut body = r.into_body();
        let hub = m.hub().clone();
        // Another device's event is filtered out; this one's arrives.
        hub.approve_named("00000000aaaaaaaa", None).unwrap();
        hub.approve_named(ID, Some("kiosk")).unwrap();
        let frame = tokio::time::timeout(std::time::Duration::from_secs(5), body.frame())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let text = String::from_utf8(frame.into_data().unwrap().to_vec()).unwrap();
        assert!(
            text.starts_with("event: device_registered\ndata: {"),
            "{text}"
        );
        assert!(
            text.contains(ID) && text.contains("\"how\":\"approved\""),
            "{text}"
        );
        assert!(text.ends_with("\n\n"), "{text}");
        // The stream ends with the gateway.
        m.shutdown_token().cancel();
        let end = tokio::time::timeout(std::time::Duration::from_secs(5), body.frame())
            .await
            .unwrap();
        assert!(end.is_none(), "the stream ends at shutdown");
    }

    #[tokio::test]
    async fn a_device_links_over_a_real_websocket() {
        let m = manager(true);
        let hub = m.hub().clone();
        hub.approve_named(ID, Some("kiosk")).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = crate::http::app(m.clone());
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
        });
        let mut req = format!("ws://{addr}{CONNECT_PATH}")
            .into_client_request()
            .unwrap();
        req.headers_mut()
            .insert("authorization", format!("Bearer {DEVICE}").parse().unwrap());
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
        let hello = DeviceMsg::Hello(Hello {
            protocol: PROTOCOL_VERSION,
            id: ID.into(),
            name: "whatever".into(),
            version: "0.1.0".into(),
            screens: vec![RemoteScreen {
                id: "0".into(),
                name: "Main".into(),
                width: 640,
                height: 480,
                primary: true,
            }],
        });
        ws.send(tungstenite::Message::Text(
            serde_json::to_string(&hello).unwrap().into(),
        ))
        .await
        .unwrap();
        let welcome = loop {
            match ws.next().await.unwrap().unwrap() {
                tungstenite::Message::Text(t) => match parse_hub(&t).unwrap() {
                    HubMsg::Ping { .. } => continue,
                    other => break other,
                },
                other => panic!("{other:?}"),
            }
        };
        assert!(matches!(welcome, HubMsg::Welcome { .. }), "{welcome:?}");
        let info = hub.device(ID).unwrap();
        assert!(info.online);
        assert!(info.remote.unwrap().starts_with("127.0.0.1:"));
        assert_eq!(m.hub().screens()[0].screen.name, "kiosk: Main");
        // A removal closes the socket with 4403.
        let hub2 = hub.clone();
        tokio::task::spawn_blocking(move || hub2.remove(ID))
            .await
            .unwrap()
            .unwrap();
        let code = loop {
            match ws.next().await {
                Some(Ok(tungstenite::Message::Close(Some(f)))) => break u16::from(f.code),
                Some(Ok(_)) => continue,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(code, sightline_signaling::fleet::CLOSE_REFUSED);
    }
}
