//! `tls.redirect_http`: a plain-HTTP listener whose every answer is `308 Permanent Redirect` to the same path and
//! query over HTTPS (308 rather than 301 keeps the method and body, so a `POST` is not silently turned into a
//! `GET`). The host is the one the client asked for (its `Host` header, port dropped), else the gateway's own.

use axum::Router;
use axum::http::header::{CONTENT_TYPE, HOST, LOCATION};
use axum::http::uri::Authority;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// The redirecting app: every path of every method.
pub fn router(https_port: u16, fallback_host: String) -> Router {
    Router::new().fallback(move |headers: HeaderMap, uri: Uri| {
        let fallback_host = fallback_host.clone();
        async move { redirect(&headers, &uri, https_port, &fallback_host) }
    })
}

fn redirect(headers: &HeaderMap, uri: &Uri, https_port: u16, fallback_host: &str) -> Response {
    let host = headers.get(HOST).and_then(|h| h.to_str().ok());
    let path = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let target = location(host, path, https_port, fallback_host);
    match HeaderValue::from_str(&target) {
        Ok(v) => (
            StatusCode::PERMANENT_REDIRECT,
            [
                (LOCATION, v),
                (
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                ),
            ],
            "this gateway speaks HTTPS\n",
        )
            .into_response(),
        Err(_) => (StatusCode::BAD_REQUEST, "bad request\n").into_response(),
    }
}

/// `https://HOST[:PORT]PATH`: `HOST` from a valid `Host` header (its port dropped), else `fallback_host`; the
/// port left out when it is 443.
pub fn location(host: Option<&str>, path: &str, https_port: u16, fallback_host: &str) -> String {
    let host = host
        .and_then(|h| h.parse::<Authority>().ok())
        .filter(|a| !a.host().is_empty() && !a.as_str().contains('@'))
        .map_or_else(|| fallback_host.to_owned(), |a| a.host().to_owned());
    let path = if path.starts_with('/') { path } else { "/" };
    if https_port == 443 {
        format!("https://{host}{path}")
    } else {
        format!("https://{host}:{https_port}{path}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_host_path_and_query_and_swaps_the_port() {
        assert_eq!(
            location(Some("box.lan:8081"), "/monitor?x=1", 8443, "127.0.0.1"),
            "https://box.lan:8443/monitor?x=1"
        );
        assert_eq!(
            location(Some("box.lan"), "/", 443, "127.0.0.1"),
            "https://box.lan/"
        );
        assert_eq!(
            location(Some("[::1]:8081"), "/a", 8443, "127.0.0.1"),
            "https://[::1]:8443/a"
        );
    }

    #[test]
    fn a_missing_or_odd_host_falls_back_to_the_gateway() {
        assert_eq!(
            location(None, "/", 8443, "127.0.0.1"),
            "https://127.0.0.1:8443/"
        );
        for odd in ["", "user@evil.example", "a b", "evil.example/path"] {
            assert_eq!(
                location(Some(odd), "/", 8443, "127.0.0.1"),
                "https://127.0.0.1:8443/",
                "{odd:?}"
            );
        }
    }
}
