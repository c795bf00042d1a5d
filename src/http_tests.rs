//! The router without a server: requests go through [`app`] with `tower::ServiceExt::oneshot`, over a session
//! manager on a small synthetic screen. Checks roles (401 with `WWW-Authenticate`, 403), the error bodies and
//! statuses, the session API, static files (404 for anything that is not an embedded file), ids cut short in
//! errors, MJPEG streams counted as viewers and the snapshot rate limit.

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
    manager_with(|_| {})
}

fn manager_with(tune: impl FnOnce(&mut Config)) -> SessionManager {
    let mut config = Config {
        auth: AuthConfig {
            viewers: vec![VIEW.into()],
            controllers: vec!["control-token-1".into()],
            admins: vec![ADMIN.into()],
            devices: Vec::new(),
        },
        ..Config::default()
    };
    tune(&mut config);
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

#[tokio::test]
async fn only_embedded_files_are_served_and_everything_else_is_404() {
    let m = manager();
    let r = get(&m, "/", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(body_bytes(r).await.starts_with(b"<!"), "the viewer page");
    let r = get(&m, "/js/viewer.js", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers().get(header::CONTENT_TYPE).unwrap(),
        "text/javascript; charset=utf-8"
    );
    for path in [
        "/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/%2e%2e/",
        "/foo",
        "/js/",
        "/js/../index.html",
        "/index.html/",
        "/.git/config",
    ] {
        let r = get(&m, path, None).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        let body = body_bytes(r).await;
        assert_eq!(&body[..], b"not found\n", "{path}");
    }
    let r = call(&m, Method::POST, "/index.html", None).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn long_ids_are_cut_in_error_messages() {
    let m = manager();
    let long = "x".repeat(10_000);
    for (method, uri, token) in [
        (
            Method::GET,
            format!("/api/v1/screens/{long}/snapshot"),
            VIEW,
        ),
        (Method::GET, format!("/api/v1/screens/{long}/mjpeg"), VIEW),
        (Method::GET, format!("/api/v1/sessions/{long}"), ADMIN),
        (Method::DELETE, format!("/api/v1/sessions/{long}"), ADMIN),
        (
            Method::GET,
            format!("{}/connections/{long}", crate::rest::MONITOR_PREFIX),
            ADMIN,
        ),
        (
            Method::GET,
            format!("/api/v1/screens/0/snapshot?format={long}"),
            VIEW,
        ),
    ] {
        let r = call(&m, method, &uri, Some(token)).await;
        assert!(r.status().is_client_error(), "{uri:.60}: {}", r.status());
        let body = json(r).await;
        let message = body["message"].as_str().unwrap_or_default();
        assert!(
            message.chars().count() <= crate::control::error::MAX_ECHO_CHARS + 40,
            "{uri:.60}: {message}"
        );
        assert!(message.contains("xxx…\""), "{uri:.60}: {message}");
    }
}

#[tokio::test]
async fn mjpeg_streams_count_against_max_sessions() {
    let m = manager_with(|c| c.server.max_sessions = 1);
    let first = get(&m, "/api/v1/screens/0/mjpeg", Some(VIEW)).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(m.sessions().len(), 1);
    assert_eq!(m.sessions()[0].kind, SessionKind::Mjpeg);
    let r = get(&m, "/api/v1/screens/0/mjpeg", Some(VIEW)).await;
    assert_error(
        r,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "session limit",
    )
    .await;
    assert_eq!(
        m.diagnostics().snapshot().refused.get("max_sessions"),
        Some(&1)
    );
    // The client goes away (the body is dropped): its place is free again.
    drop(first);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while !m.sessions().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the MJPEG session ended"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let r = get(&m, "/api/v1/screens/0/mjpeg", Some(VIEW)).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn snapshots_are_rate_limited_per_token() {
    let m = manager();
    let burst = crate::ratelimit::Class::Screenshot.token_rate().burst as usize;
    let uri = "/api/v1/screens/0/snapshot?max_width=16";
    // All at once, so the bucket cannot refill between them (a request is charged before any work).
    let responses =
        futures_util::future::join_all((0..burst * 2).map(|_| get(&m, uri, Some(VIEW)))).await;
    let ok = responses
        .iter()
        .filter(|r| r.status() == StatusCode::OK)
        .count();
    assert!(ok >= burst, "the burst passes: {ok} < {burst}");
    let r = responses
        .into_iter()
        .find(|r| r.status() == StatusCode::TOO_MANY_REQUESTS)
        .expect("the token's screenshot budget ran out");
    let retry: u64 = r
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited", "retry in").await;
    // Another token's budget is its own.
    let r = get(&m, uri, Some(ADMIN)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        m.diagnostics()
            .snapshot()
            .rate_limited
            .get("screenshot")
            .is_some_and(|n| *n >= 1)
    );
}
