//! The HTTP surface: `pub fn app(state) -> Router`. Handlers only parse, call the session manager and map the result.

use axum::Router;
use axum::http::{Method, Uri};
use axum::response::Response;
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
        .merge(crate::diagnostics_rest::routes())
        .merge(crate::devices_rest::routes())
        .fallback(static_file)
        .with_state(gw)
}

/// `GET /healthz`: no authentication; 200 while the server runs.
async fn healthz() -> &'static str {
    "ok"
}

/// Any other path: an embedded file named exactly by the path (`/js/viewer.js`), else `404`. Nothing is ever
/// read from disk and no path is normalised or decoded, so `/../../etc/passwd`, `/%2e%2e/` and `/foo` are all
/// simply not in the list. Only `GET` and `HEAD` read files.
async fn static_file(method: Method, uri: Uri) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return crate::assets::not_found();
    }
    crate::assets::serve(uri.path().trim_start_matches('/'))
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
