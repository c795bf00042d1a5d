//! The embedded `web/` files (see `build.rs`), served at `/` with their content types.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The embedded file at `path` (relative to `web/`).
pub fn get(path: &str) -> Option<&'static [u8]> {
    ASSETS
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, bytes)| *bytes)
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "webmanifest" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "yaml" | "yml" => "text/yaml; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Serves one embedded file, or [`not_found`]. `path` must name a file exactly: `""` and directories are not
/// files.
pub fn serve(path: &str) -> Response {
    match get(path) {
        Some(bytes) => {
            let mut r = bytes.into_response();
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(content_type(path)),
            );
            // The pages are tiny and change with the binary: always revalidate, never serve a stale viewer.
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            h.insert(
                "x-content-type-options",
                HeaderValue::from_static("nosniff"),
            );
            r
        }
        None => not_found(),
    }
}

/// The `404` of a path that is not a route or an embedded file: a short fixed text, never the path.
pub fn not_found() -> Response {
    let mut r = (StatusCode::NOT_FOUND, "not found\n").into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// `GET /` → the viewer page.
pub async fn index() -> Response {
    serve("index.html")
}

/// `GET /{*path}` → an embedded file.
pub async fn file(Path(path): Path<String>) -> Response {
    serve(&path)
}
