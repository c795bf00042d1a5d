//! CORS, written once for the two routes browsers on other origins call: WHEP (any origin: the bearer token is
//! the only credential) and `/mcp` (the configured `[mcp] allowed_origins`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// How long browsers may cache a preflight answer, in seconds.
pub const PREFLIGHT_MAX_AGE: &str = "600";

/// Lets `origin` (or `*`) read `response` and the headers named in `expose`.
pub fn allow(mut response: Response, origin: HeaderValue, expose: &'static str) -> Response {
    let any = origin.as_bytes() == b"*";
    let h = response.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(expose),
    );
    if !any {
        // The answer depends on the origin: caches must not serve it to another.
        h.append(header::VARY, HeaderValue::from_static("origin"));
    }
    response
}

/// The answer to a preflight: `methods` and `headers` allowed, cached for [`PREFLIGHT_MAX_AGE`].
pub fn preflight(
    origin: HeaderValue,
    methods: &'static str,
    headers: HeaderValue,
    expose: &'static str,
) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let h = response.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(methods),
    );
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, headers);
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(PREFLIGHT_MAX_AGE),
    );
    allow(response, origin, expose)
}
