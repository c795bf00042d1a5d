//! The router without a server: requests go through [`app`] with `tower::ServiceExt::oneshot`, over a session
//! manager on a small synthetic screen. Checks roles (401 with `WWW-Authenticate`, 403), the error bodies and
//! statuses, and the session API.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use axum::response::Response;
use serde_json::Value;
use sightline_media::engine::Engine;
use sightline_media::synthetic::SyntheticDesktop;
use sightline_monitor::Monitor;
use sightline_signaling::Role;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::app;
use crate::auth::Tokens;
use crate::config::{AuthConfig, Config};
use crate::session::{SessionKind, SessionManager};

const VIEW: &str = "view-token-1";
const ADMIN: &str = "admin-token-1";

fn manager() -> SessionManager {
    let config = Config {
        auth: AuthConfig {
            viewers: vec![VIEW.into()],
            controllers: vec!["control-token-1".into()],
            admins: vec![ADMIN.into()],
        },
        ..Config::default()
    };
    config.validate().expect("test config is valid");
    let monitor = Monitor::new(config.monitor_settings());
    let desktop = Arc::new(SyntheticDesktop::new(320, 240));
    let engine = Engine::new(desktop, config.engine_settings(), monitor.clone());
    let tokens = Tokens::from_config(&config.auth);
    SessionManager::new(config, tokens, engine, monitor, CancellationToken::new())
}

async fn call(m: &SessionManager, method: Method, uri: &str, token: Option<&str>) -> Response {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    app(m.clone())
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .expect("the router is infallible")
}

async fn get(m: &SessionManager, uri: &str, token: Option<&str>) -> Response {
    call(m, Method::GET, uri, token).await
}

async fn body_bytes(r: Response) -> bytes::Bytes {
    axum::body::to_bytes(r.into_body(), 16 * 1024 * 1024)
        .await
        .expect("body")
}

async fn json(r: Response) -> Value {
    let bytes = body_bytes(r).await;
    serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {:?}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
        )
    })
}

/// Asserts an error response: its status, its `error` code, and that its message mentions `mentions`.
async fn assert_error(r: Response, status: StatusCode, code: &str, mentions: &str) {
    assert_eq!(r.status(), status);
    let body = json(r).await;
    assert_eq!(body["error"], code, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(mentions),
        "{body} should mention {mentions:?}"
    );
}

#[tokio::test]
async fn screens_need_a_valid_token() {
    let m = manager();
    let r = get(&m, "/api/v1/screens", None).await;
    assert_eq!(r.headers().get(header::WWW_AUTHENTICATE).unwrap(), "Bearer");
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized", "token").await;

    let r = get(&m, "/api/v1/screens", Some("wrong-token-1")).await;
    assert_eq!(r.headers().get(header::WWW_AUTHENTICATE).unwrap(), "Bearer");
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized", "token").await;

    let r = get(&m, "/api/v1/screens", Some(VIEW)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get(header::WWW_AUTHENTICATE).is_none());
    let body = json(r).await;
    let screens = body["screens"].as_array().expect("a screens array");
    assert_eq!(screens.len(), 1, "{body}");
    assert_eq!(screens[0]["id"], "0");
    assert_eq!(screens[0]["width"], 320);
    assert_eq!(screens[0]["height"], 240);
    assert_eq!(screens[0]["source"], "synthetic");
}

#[tokio::test]
async fn status_is_for_admins() {
    let m = manager();
    let r = get(&m, "/api/v1/status", Some(VIEW)).await;
    assert!(r.headers().get(header::WWW_AUTHENTICATE).is_none());
    assert_error(r, StatusCode::FORBIDDEN, "forbidden", "admin").await;

    let r = get(&m, "/api/v1/status", Some(ADMIN)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = json(r).await;
    assert_eq!(body["source"], "synthetic", "{body}");
    assert_eq!(body["sessions"], 0, "{body}");
    assert_eq!(body["screens"].as_array().map(Vec::len), Some(1), "{body}");
}

#[tokio::test]
async fn snapshot_errors_map_to_statuses() {
    let m = manager();
    let r = get(&m, "/api/v1/screens/nope/snapshot", Some(VIEW)).await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found", "nope").await;

    let r = get(&m, "/api/v1/screens/0/snapshot?quality=0", Some(VIEW)).await;
    assert_error(r, StatusCode::BAD_REQUEST, "bad_request", "quality").await;
    let r = get(&m, "/api/v1/screens/0/snapshot?quality=abc", Some(VIEW)).await;
    assert_error(r, StatusCode::BAD_REQUEST, "bad_request", "quality").await;
    let r = get(&m, "/api/v1/screens/0/snapshot?format=gif", Some(VIEW)).await;
    assert_error(r, StatusCode::BAD_REQUEST, "bad_request", "format").await;

    // The same screen with valid values is a picture.
    let r = get(&m, "/api/v1/screens/0/snapshot?quality=50", Some(VIEW)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers().get(header::CONTENT_TYPE).unwrap(), "image/jpeg");
    assert_eq!(r.headers().get("x-screen-size").unwrap(), "320x240");
    let jpeg = body_bytes(r).await;
    assert!(jpeg.starts_with(&[0xFF, 0xD8]), "a JPEG starts with SOI");
}

#[tokio::test]
async fn ending_sessions() {
    let m = manager();
    let r = call(&m, Method::DELETE, "/api/v1/sessions/s999", Some(ADMIN)).await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found", "s999").await;

    let r = call(&m, Method::DELETE, "/api/v1/sessions/s999", Some(VIEW)).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // A live session whose owner ends it when kicked: 204, and it is gone from the list.
    let session = m
        .open_session(SessionKind::Mcp, Role::Control, None, None)
        .expect("admitted");
    let id = session.id().to_owned();
    let owner = tokio::spawn(async move {
        session.kicked().cancelled().await;
        drop(session);
    });
    let r = get(&m, "/api/v1/sessions", Some(ADMIN)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = json(r).await;
    assert_eq!(body["sessions"][0]["id"], id.as_str(), "{body}");
    assert_eq!(body["sessions"][0]["kind"], "mcp", "{body}");

    let r = call(
        &m,
        Method::DELETE,
        &format!("/api/v1/sessions/{id}"),
        Some(ADMIN),
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    owner.await.unwrap();
    assert!(m.sessions().is_empty());
    let r = get(&m, &format!("/api/v1/sessions/{id}"), Some(ADMIN)).await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found", &id).await;
}
