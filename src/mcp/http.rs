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
use crate::origin::{AllowedHost, AllowedOrigin, Origin, host_of};
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
        .with_allowed_origins(origins.iter().map(to_rmcp))
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
    let role = match g.gw.tokens().check_headers(req.headers()) {
        Ok(role) => role,
        Err(refusal) => return with_cors(refusal.into_response(), origin.as_ref()),
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

/// An allowed origin in rmcp's syntax, with an explicit port (rmcp reads a port-less entry as "any port").
fn to_rmcp(entry: &AllowedOrigin) -> String {
    let o = entry.origin();
    let host = if o.host().contains(':') {
        format!("[{}]", o.host())
    } else {
        o.host().to_owned()
    };
    match (entry.any_port(), o.port()) {
        (false, Some(p)) => format!("{}://{host}:{p}", o.scheme()),
        _ => format!("{}://{host}:*", o.scheme()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_origins_are_given_to_rmcp_with_an_explicit_port() {
        let claude = AllowedOrigin::parse("https://claude.ai").unwrap();
        let dev = AllowedOrigin::parse("http://localhost:*").unwrap();
        let v6 = AllowedOrigin::parse("http://[::1]:6274").unwrap();
        assert_eq!(to_rmcp(&claude), "https://claude.ai:443");
        assert_eq!(to_rmcp(&dev), "http://localhost:*");
        assert_eq!(to_rmcp(&v6), "http://[::1]:6274");
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
