//! MCP over Streamable HTTP at `/mcp`: rmcp's `StreamableHttpService` behind one guard that runs, in order,
//!
//! 1. **Host** must be one of `[mcp] allowed_hosts` (DNS-rebinding protection) → `403`.
//! 2. **Origin**, when present, must be one of `[mcp] allowed_origins` → `403`. Requests without `Origin`
//!    (every non-browser client) pass. Allowed origins get CORS headers and preflight answers, so a browser client
//!    can actually call.
//! 3. **Bearer token** (`Authorization: Bearer …`) of any role → `401` with `WWW-Authenticate: Bearer`. The role
//!    travels with the request ([`Principal`]); each tool checks it (view: read-only tools; control: input).
//! 4. **Session**: a request naming a session (`Mcp-Session-Id`) that is not live → `404`, and so is a `DELETE` of
//!    a session another token opened (a second `DELETE` of a session is `404`; other requests may use any token,
//!    each with its own role; an admin ends anyone's session with `DELETE /api/v1/sessions/{id}`).
//! 5. **Body**: at most `[mcp] max_body_bytes` → `413`; JSON → else `400` with a JSON-RPC parse error (-32700); a
//!    JSON-RPC message → else `400` with an invalid-request error (-32600).
//! 6. **Quota** of an `initialize`: a token already holding `[limits] mcp_sessions_per_token` sessions → `429`;
//!    past [`MAX_SESSIONS`] in all, or past the places not reserved for admins ([`ADMIN_RESERVED`]) → `503`; both
//!    with a JSON-RPC error body saying why ([`super::sessions`]).
//!
//! rmcp then serves both lifecycles on the same endpoint: the `initialize` handshake with `Mcp-Session-Id`
//! sessions (2025-03-26 … 2025-11-25) and the session-less 2026-07-28 revision (`server/discover`, per-request
//! `_meta`), answered as plain JSON when a single response suffices. rmcp repeats the Host, Origin and body-size
//! checks with the same lists, as a second line.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use rmcp::model::{ClientJsonRpcMessage, ClientRequest};
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::{Value, json};
use sightline_signaling::Role;

use super::handler::SightlineMcp;
use super::registration::Principal;
pub use super::sessions::{ADMIN_RESERVED, MAX_SESSIONS, SESSION_IDLE};
use super::sessions::{Refusal, TokenKey, TrackedSessions};
use crate::auth::HasTokens;
use crate::cors;
use crate::error::AppError;
use crate::session::SessionManager;

/// What the guard needs.
struct Guard {
    gw: SessionManager,
    hosts: Vec<AllowedHost>,
    origins: Vec<AllowedOrigin>,
    max_body: usize,
    sessions: Arc<TrackedSessions>,
}

/// The `/mcp` service, to nest in the gateway's router: `.nest_service("/mcp", mcp::service(gw))`.
pub fn service(gw: SessionManager) -> Router {
    let cfg = gw.config().mcp.clone();
    let hosts: Vec<AllowedHost> = cfg
        .allowed_hosts
        .iter()
        .map(|h| AllowedHost::parse(h))
        .collect();
    let origins: Vec<AllowedOrigin> = cfg
        .allowed_origins
        .iter()
        .filter_map(|o| {
            let parsed = AllowedOrigin::parse(o);
            if parsed.is_none() {
                tracing::warn!(origin = %o, "ignoring an [mcp] allowed_origins entry that is not scheme://host[:port]");
            }
            parsed
        })
        .collect();
    let sessions = Arc::new(TrackedSessions::new(
        gw.config().limits.mcp_sessions_per_token,
    ));
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(cfg.allowed_hosts.clone())
        .with_allowed_origins(origins.iter().map(AllowedOrigin::to_rmcp))
        .enforce_origin_validation()
        .with_max_request_body_bytes(cfg.max_body_bytes)
        // Session-less (2026-07-28) requests with a single response are answered as plain JSON, not an SSE
        // stream: one write, no event framing.
        .with_json_response(true)
        .with_cancellation_token(gw.shutdown_token().child_token());
    let handler = SightlineMcp::http_factory(gw.clone(), Arc::clone(&sessions));
    let mcp = StreamableHttpService::new(move || Ok(handler()), Arc::clone(&sessions), config);
    let guard = Arc::new(Guard {
        gw,
        hosts,
        origins,
        max_body: cfg.max_body_bytes,
        sessions,
    });
    Router::new()
        .fallback_service(mcp)
        .layer(middleware::from_fn_with_state(guard, guard_layer))
}

async fn guard_layer(State(g): State<Arc<Guard>>, mut req: Request, next: Next) -> Response {
    match host_of(req.uri(), req.headers()) {
        Some((host, port)) if g.hosts.iter().any(|h| h.matches(&host, port)) => {}
        _ => return forbidden("this Host is not in [mcp] allowed_hosts"),
    }
    let origin = match req.headers().get(header::ORIGIN) {
        None => None,
        Some(value) => match value.to_str().ok().and_then(Origin::parse) {
            Some(o) if g.origins.iter().any(|a| a.matches(&o)) => Some(value.clone()),
            _ => return forbidden("this Origin is not in [mcp] allowed_origins"),
        },
    };
    if req.method() == Method::OPTIONS
        && let Some(origin) = &origin
    {
        return preflight(origin, req.headers());
    }
    let Some(role) = g.gw.tokens().role_of_headers(req.headers()) else {
        return with_cors(AppError::Unauthorized.into_response(), origin.as_ref());
    };
    let token = TokenKey::new(crate::auth::bearer(req.headers()).unwrap_or_default());
    if let Some(id) = req
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        && !g.sessions.held(
            &id.to_owned().into(),
            (req.method() == Method::DELETE).then_some(&token),
        )
    {
        let body = jsonrpc_error(
            Value::Null,
            -32001,
            "no such MCP session (it has ended; only the token that opened a session can end it)",
        );
        return with_cors(
            (StatusCode::NOT_FOUND, body).into_response(),
            origin.as_ref(),
        );
    }
    req.extensions_mut().insert(Principal {
        role,
        token: token.clone(),
    });
    if req.method() == Method::POST && is_json(req.headers()) {
        req = match checked_body(req, g.max_body).await {
            Ok((mut req, initialize)) => {
                if initialize {
                    match g.sessions.reserve(token, role == Role::Admin) {
                        Ok(ticket) => {
                            req.extensions_mut().insert(ticket);
                        }
                        Err(refusal) => {
                            return with_cors(refused(&g.gw, refusal), origin.as_ref());
                        }
                    }
                }
                req
            }
            Err(response) => return with_cors(response, origin.as_ref()),
        };
    }
    let delete = req.method() == Method::DELETE;
    let mut response = next.run(req).await;
    // rmcp acknowledges a session DELETE with 202; clients (the official Python SDK among them) expect the
    // plain success of a DELETE, 200 or 204, and log anything else as a failed termination.
    if delete && response.status() == StatusCode::ACCEPTED {
        *response.status_mut() = StatusCode::NO_CONTENT;
        response.headers_mut().remove(header::CONTENT_LENGTH);
        *response.body_mut() = Body::empty();
    }
    with_cors(response, origin.as_ref())
}

/// The answer to an `initialize` that gets no session: `429` over the token's quota, `503` when the gateway is
/// full; counted in the gateway's diagnostics.
fn refused(gw: &SessionManager, refusal: Refusal) -> Response {
    let status = match refusal {
        Refusal::Quota(_) => {
            gw.diagnostics().refused("mcp_quota");
            StatusCode::TOO_MANY_REQUESTS
        }
        Refusal::Full(_) => {
            gw.diagnostics().refused("max_sessions");
            StatusCode::SERVICE_UNAVAILABLE
        }
    };
    (
        status,
        jsonrpc_error(Value::Null, -32000, &refusal.to_string()),
    )
        .into_response()
}

fn forbidden(message: &str) -> Response {
    AppError::Forbidden(message.to_owned()).into_response()
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|e| e.trim().eq_ignore_ascii_case("application/json"))
        })
}

/// Reads the body (bounded) and checks it is one JSON-RPC message; returns the request with the body restored and
/// whether the message is `initialize`.
async fn checked_body(req: Request, max: usize) -> Result<(Request, bool), Response> {
    let too_large = || {
        let body = jsonrpc_error(
            Value::Null,
            -32600,
            &format!("request body exceeds {max} bytes ([mcp] max_body_bytes)"),
        );
        (StatusCode::PAYLOAD_TOO_LARGE, body).into_response()
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let (parts, body) = req.into_parts();
    let mut stream = body.into_data_stream();
    let mut buf = Vec::with_capacity(declared.map_or(0, |n| n as usize));
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            tracing::debug!(error = %e, "MCP request body could not be read");
            StatusCode::BAD_REQUEST.into_response()
        })?;
        if buf.len() + chunk.len() > max {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    let initialize = match check_jsonrpc(&buf) {
        Ok(initialize) => initialize,
        Err(body) => return Err((StatusCode::BAD_REQUEST, body).into_response()),
    };
    Ok((
        Request::from_parts(parts, Body::from(Bytes::from(buf))),
        initialize,
    ))
}

/// Whether `body` is one JSON-RPC message (`Ok(is_initialize)`), else the JSON-RPC error to answer with: parse
/// error (-32700) for text that is not JSON, invalid request (-32600) for JSON that is not a client message.
pub fn check_jsonrpc(body: &[u8]) -> Result<bool, axum::Json<Value>> {
    match serde_json::from_slice::<ClientJsonRpcMessage>(body) {
        Ok(ClientJsonRpcMessage::Request(r)) => {
            Ok(matches!(r.request, ClientRequest::InitializeRequest(_)))
        }
        Ok(_) => Ok(false),
        Err(e) => match serde_json::from_slice::<Value>(body) {
            Err(parse) => Err(jsonrpc_error(
                Value::Null,
                -32700,
                &format!("parse error: {parse}"),
            )),
            Ok(v) => {
                let id = match v.get("id") {
                    Some(id @ (Value::Number(_) | Value::String(_))) => id.clone(),
                    _ => Value::Null,
                };
                Err(jsonrpc_error(
                    id,
                    -32600,
                    &format!("invalid request: not a JSON-RPC 2.0 client message ({e})"),
                ))
            }
        },
    }
}

fn jsonrpc_error(id: Value, code: i64, message: &str) -> axum::Json<Value> {
    axum::Json(json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}))
}

/// Headers a browser client of `/mcp` may read.
const EXPOSED: &str = "mcp-session-id, mcp-protocol-version, www-authenticate";

/// Adds CORS headers for an allowed browser origin.
fn with_cors(response: Response, origin: Option<&HeaderValue>) -> Response {
    match origin {
        Some(origin) => cors::allow(response, origin.clone(), EXPOSED),
        None => response,
    }
}

/// Answers a CORS preflight from an allowed origin. The request headers a browser asks for are granted as asked:
/// the origin is trusted, and MCP clients send per-call headers (`Mcp-Param-*`) no fixed list can name.
fn preflight(origin: &HeaderValue, headers: &HeaderMap) -> Response {
    let asked = headers
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("authorization, content-type"));
    cors::preflight(origin.clone(), "GET, POST, DELETE", asked, EXPOSED)
}

/// The request's host and port: the `Host` header, or the URI's authority (HTTP/2).
fn host_of(uri: &axum::http::Uri, headers: &HeaderMap) -> Option<(String, Option<u16>)> {
    let authority = match headers.get(header::HOST) {
        Some(h) => axum::http::uri::Authority::try_from(h.to_str().ok()?).ok()?,
        None => uri.authority()?.clone(),
    };
    Some((normalise_host(authority.host()), authority.port_u16()))
}

fn normalise_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

/// An `[mcp] allowed_hosts` entry: a host, optionally with a port (then only that port matches).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedHost {
    host: String,
    port: Option<u16>,
}

impl AllowedHost {
    /// Parses `localhost`, `example.com:8080`, `::1`, `[::1]:8080`.
    pub fn parse(entry: &str) -> Self {
        let entry = entry.trim();
        // A bare IPv6 address has several colons and no brackets; it cannot carry a port.
        let bare_ipv6 = !entry.starts_with('[') && entry.matches(':').count() > 1;
        match axum::http::uri::Authority::try_from(entry) {
            Ok(a) if !bare_ipv6 => Self {
                host: normalise_host(a.host()),
                port: a.port_u16(),
            },
            _ => Self {
                host: normalise_host(entry),
                port: None,
            },
        }
    }

    /// Whether a request's host and port match.
    pub fn matches(&self, host: &str, port: Option<u16>) -> bool {
        self.host == host && self.port.is_none_or(|p| Some(p) == port)
    }
}

/// A browser origin: scheme, host and port (the scheme's default when absent, RFC 6454).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl Origin {
    /// Parses an `Origin` header value; `None` for `null` and anything that is not `scheme://host[:port]`.
    pub fn parse(value: &str) -> Option<Self> {
        let uri: axum::http::Uri = value.trim().parse().ok()?;
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        if uri.path_and_query().is_some_and(|p| p.as_str() != "/") {
            return None;
        }
        let authority = uri.authority()?;
        let port = authority.port_u16().or(match scheme.as_str() {
            "http" => Some(80),
            "https" => Some(443),
            _ => None,
        });
        Some(Self {
            scheme,
            host: normalise_host(authority.host()),
            port,
        })
    }
}

/// An `[mcp] allowed_origins` entry: `https://host` (default port), `https://host:8443`, or `http://host:*` (any
/// port).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedOrigin {
    origin: Origin,
    any_port: bool,
}

impl AllowedOrigin {
    /// Parses an entry; `None` when it is not an origin.
    pub fn parse(entry: &str) -> Option<Self> {
        let entry = entry.trim();
        match entry.strip_suffix(":*") {
            Some(base) => Some(Self {
                origin: Origin::parse(base)?,
                any_port: true,
            }),
            None => Some(Self {
                origin: Origin::parse(entry)?,
                any_port: false,
            }),
        }
    }

    /// Whether a request's origin matches.
    pub fn matches(&self, o: &Origin) -> bool {
        self.origin.scheme == o.scheme
            && self.origin.host == o.host
            && (self.any_port || self.origin.port == o.port)
    }

    /// The entry in rmcp's syntax, with an explicit port (rmcp reads a port-less entry as "any port").
    fn to_rmcp(&self) -> String {
        let host = if self.origin.host.contains(':') {
            format!("[{}]", self.origin.host)
        } else {
            self.origin.host.clone()
        };
        match (self.any_port, self.origin.port) {
            (false, Some(p)) => format!("{}://{host}:{p}", self.origin.scheme),
            _ => format!("{}://{host}:*", self.origin.scheme),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_match_by_name_and_by_port_when_the_entry_has_one() {
        let local = AllowedHost::parse("localhost");
        assert!(local.matches("localhost", Some(8080)));
        assert!(local.matches("localhost", None));
        assert!(!local.matches("evil.example", Some(8080)));
        let pinned = AllowedHost::parse("Example.com:8443");
        assert!(pinned.matches("example.com", Some(8443)));
        assert!(!pinned.matches("example.com", Some(8080)));
        let v6 = AllowedHost::parse("::1");
        assert!(v6.matches("::1", Some(8080)));
        let v6_port = AllowedHost::parse("[::1]:9000");
        assert!(v6_port.matches("::1", Some(9000)) && !v6_port.matches("::1", Some(1)));
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "[::1]:8080".parse().unwrap());
        assert_eq!(
            host_of(&"/".parse().unwrap(), &h),
            Some(("::1".into(), Some(8080)))
        );
    }

    #[test]
    fn origins_match_scheme_host_and_port() {
        let claude = AllowedOrigin::parse("https://claude.ai").unwrap();
        assert!(claude.matches(&Origin::parse("https://claude.ai").unwrap()));
        assert!(claude.matches(&Origin::parse("https://claude.ai:443").unwrap()));
        assert!(!claude.matches(&Origin::parse("https://claude.ai:8443").unwrap()));
        assert!(!claude.matches(&Origin::parse("http://claude.ai").unwrap()));
        assert!(!claude.matches(&Origin::parse("https://evil.claude.ai.example").unwrap()));
        let dev = AllowedOrigin::parse("http://localhost:*").unwrap();
        assert!(dev.matches(&Origin::parse("http://localhost:6274").unwrap()));
        assert!(!dev.matches(&Origin::parse("https://localhost:6274").unwrap()));
        assert_eq!(Origin::parse("null"), None);
        assert_eq!(Origin::parse("https://a.example/path"), None);
        assert_eq!(claude.to_rmcp(), "https://claude.ai:443");
        assert_eq!(dev.to_rmcp(), "http://localhost:*");
    }

    #[test]
    fn bodies_must_be_one_jsonrpc_message() {
        let init = br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
        assert!(check_jsonrpc(init).unwrap());
        let list = br#"{"jsonrpc":"2.0","id":"a","method":"tools/list"}"#;
        assert!(!check_jsonrpc(list).unwrap());
        let note = br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
        assert!(!check_jsonrpc(note).unwrap());

        let parse = check_jsonrpc(b"{not json").unwrap_err().0;
        assert_eq!(parse["error"]["code"], -32700);
        assert_eq!(parse["id"], Value::Null);
        let invalid = check_jsonrpc(br#"{"id":7,"method":"tools/list"}"#)
            .unwrap_err()
            .0;
        assert_eq!(invalid["error"]["code"], -32600);
        assert_eq!(invalid["id"], 7, "the id is echoed when it can be read");
        let batch = check_jsonrpc(br#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#)
            .unwrap_err()
            .0;
        assert_eq!(batch["error"]["code"], -32600);
    }
}
