//! The HTTP surface: `pub fn app(state) -> Router`. Handlers only parse, call the session manager and map the result.

use axum::Router;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::session::SessionManager;

/// Every route of the gateway.
pub fn app(gw: SessionManager) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/", get(crate::assets::index))
        .route("/ws", get(crate::transport::upgrade))
        .merge(crate::transport::whep::routes())
        .nest_service("/mcp", crate::mcp::service(gw.clone()))
        .merge(crate::rest::routes())
        .fallback(get(static_file))
        .with_state(gw)
}

/// `GET /healthz`: no authentication; 200 while the server runs.
async fn healthz() -> &'static str {
    "ok"
}

async fn static_file(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    if path.is_empty() || path.contains("..") {
        return crate::assets::serve("index.html");
    }
    crate::assets::serve(path).into_response()
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
