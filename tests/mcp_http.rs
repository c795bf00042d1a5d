//! The `/mcp` endpoint at the HTTP level, on a gateway process serving the synthetic screen: every request is
//! checked (Host, Origin, bearer token, body size, JSON-RPC shape) before any tool runs; a 2025-06-18 session is
//! registered in the session table and the monitor, its tool calls are audited, and it ends on `DELETE`, on an
//! admin's kick and is bounded in number (with places kept for admins). Per-token quotas, a second `DELETE` and
//! rate limits: `abuse_sessions.rs`.
//!
//! Raw HTTP on purpose: official clients cannot send malformed requests. The official clients are exercised in
//! `mcp_x11.rs` and `mcp_stdio.rs`.

mod common;

use common::{ADMIN_TOKEN, CONTROL_TOKEN, GatewayProcess, VIEW_TOKEN, header, http};
use serde_json::{Value, json};

const ACCEPT: (&str, &str) = ("accept", "application/json, text/event-stream");

fn gateway() -> GatewayProcess {
    GatewayProcess::start(&common::synthetic_config(
        "[mcp]\nallowed_origins = [\"https://app.example\"]\nmax_body_bytes = 4096\n",
    ))
}

/// POSTs a JSON-RPC body to `/mcp`: (status, headers, body).
fn post(
    gw: &GatewayProcess,
    token: Option<&str>,
    session: Option<&str>,
    body: &str,
    extra: &[(&str, &str)],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut headers = vec![ACCEPT];
    if let Some(s) = session {
        headers.push(("mcp-session-id", s));
        headers.push(("mcp-protocol-version", "2025-06-18"));
    }
    headers.extend_from_slice(extra);
    http(
        "POST",
        &format!("{}/mcp", gw.base),
        token,
        Some("application/json"),
        body.as_bytes(),
        &headers,
    )
}

/// The JSON-RPC message with an `id` in a response body, SSE (`data: …` lines) or plain JSON.
fn reply(body: &[u8]) -> Value {
    let text = String::from_utf8_lossy(body);
    if let Ok(v) = serde_json::from_str::<Value>(&text) {
        return v;
    }
    text.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .find(|v| v.get("id").is_some())
        .unwrap_or_else(|| panic!("no JSON-RPC reply in {text}"))
}

fn initialize(gw: &GatewayProcess, token: &str) -> String {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw-test", "version": "1"}}});
    let (status, headers, body) = post(gw, Some(token), None, &body.to_string(), &[]);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let r = reply(&body);
    assert_eq!(r["result"]["protocolVersion"], "2025-06-18", "{r}");
    assert_eq!(r["result"]["serverInfo"]["name"], "sightline");
    let session = header(&headers, "mcp-session-id")
        .expect("a session id")
        .to_owned();
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string();
    let (status, _, _) = post(gw, Some(token), Some(&session), &note, &[]);
    assert_eq!(status, 202);
    session
}

fn call(
    gw: &GatewayProcess,
    token: &str,
    session: &str,
    id: u64,
    tool: &str,
    args: Value,
) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                      "params": {"name": tool, "arguments": args}});
    let (status, _, body) = post(gw, Some(token), Some(session), &body.to_string(), &[]);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    reply(&body)
}

fn admin_get(gw: &GatewayProcess, path: &str) -> Value {
    let (status, _, body) = http(
        "GET",
        &format!("{}{path}", gw.base),
        Some(ADMIN_TOKEN),
        None,
        b"",
        &[],
    );
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).expect("JSON")
}

fn mcp_sessions(gw: &GatewayProcess) -> Vec<Value> {
    admin_get(gw, "/api/v1/sessions")["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .filter(|s| s["kind"] == "mcp")
        .cloned()
        .collect()
}

#[test]
fn requests_are_checked_before_any_tool_runs() {
    let gw = gateway();
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string();

    // Tokens.
    let (status, headers, _) = post(&gw, None, None, &list, &[]);
    assert_eq!(status, 401);
    assert_eq!(header(&headers, "www-authenticate"), Some("Bearer"));
    let (status, _, _) = post(&gw, Some("not-a-token-at-all"), None, &list, &[]);
    assert_eq!(status, 401);

    // Origins: a foreign one is refused even with a valid token; an allowed one gets CORS headers and preflights.
    let (status, _, _) = post(
        &gw,
        Some(ADMIN_TOKEN),
        None,
        &list,
        &[("origin", "https://evil.example")],
    );
    assert_eq!(status, 403);
    let (status, _, _) = post(
        &gw,
        Some(ADMIN_TOKEN),
        None,
        &list,
        &[("origin", "https://app.example:8443")],
    );
    assert_eq!(status, 403, "another port is another origin");
    let session = initialize(&gw, ADMIN_TOKEN);
    let (status, headers, body) = post(
        &gw,
        Some(ADMIN_TOKEN),
        Some(&session),
        &list,
        &[("origin", "https://app.example")],
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(
        reply(&body)["result"]["tools"].as_array().map(Vec::len),
        Some(21)
    );
    let (status, headers, _) = http(
        "OPTIONS",
        &format!("{}/mcp", gw.base),
        None,
        None,
        b"",
        &[
            ("origin", "https://app.example"),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "authorization, content-type, mcp-session-id",
            ),
        ],
    );
    assert_eq!(status, 204);
    assert_eq!(
        header(&headers, "access-control-allow-headers"),
        Some("authorization, content-type, mcp-session-id")
    );
    let (status, _, _) = http(
        "OPTIONS",
        &format!("{}/mcp", gw.base),
        None,
        None,
        b"",
        &[
            ("origin", "https://evil.example"),
            ("access-control-request-method", "POST"),
        ],
    );
    assert_eq!(status, 403);

    // Host names (DNS rebinding).
    let (status, _, _) = post(
        &gw,
        Some(ADMIN_TOKEN),
        None,
        &list,
        &[("host", "evil.example")],
    );
    assert_eq!(status, 403);

    // Bodies: too large (declared or not), not JSON, not JSON-RPC.
    let big = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{{\"pad\":\"{}\"}}}}",
        "x".repeat(5000)
    );
    let (status, _, body) = post(&gw, Some(ADMIN_TOKEN), None, &big, &[]);
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&body));
    let (status, _, body) = post(
        &gw,
        Some(ADMIN_TOKEN),
        None,
        "{\"jsonrpc\": \"2.0\", \"id\": 1,",
        &[],
    );
    assert_eq!(status, 400);
    let err: Value = serde_json::from_slice(&body).expect("a JSON-RPC error body");
    assert_eq!(err["error"]["code"], -32700, "{err}");
    assert_eq!(err["id"], Value::Null);
    let (status, _, body) = post(
        &gw,
        Some(ADMIN_TOKEN),
        None,
        "{\"id\": 9, \"method\": \"tools/list\"}",
        &[],
    );
    assert_eq!(status, 400);
    let err: Value = serde_json::from_slice(&body).expect("a JSON-RPC error body");
    assert_eq!(
        (err["error"]["code"].clone(), err["id"].clone()),
        (json!(-32600), json!(9)),
        "{err}"
    );

    // An unknown tool is a JSON-RPC error naming it; an unknown screen is a tool error.
    let r = call(&gw, ADMIN_TOKEN, &session, 5, "format_disk", json!({}));
    assert_eq!(r["error"]["code"], -32602, "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown tool \"format_disk\""),
        "{r}"
    );
    let r = call(
        &gw,
        ADMIN_TOKEN,
        &session,
        6,
        "click",
        json!({"screen": "9", "x": 1, "y": 1}),
    );
    assert_eq!(r["result"]["isError"], true, "{r}");
    assert!(
        r["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("unknown screen \"9\""),
        "{r}"
    );
    // So is a mistyped argument, naming the field.
    let r = call(
        &gw,
        ADMIN_TOKEN,
        &session,
        7,
        "click",
        json!({"x": 1, "y": 1, "buton": "left"}),
    );
    assert_eq!(r["result"]["isError"], true, "{r}");
    assert!(
        r["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("buton"),
        "{r}"
    );
}

#[test]
fn a_session_is_registered_audited_and_ended_by_delete_or_kick() {
    let gw = gateway();
    let session = initialize(&gw, CONTROL_TOKEN);

    // Registered from birth, with the role of its token.
    let rows = mcp_sessions(&gw);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["role"], "control");
    let conn = rows[0]["connection"]
        .as_str()
        .expect("a monitor connection")
        .to_owned();
    let detail = admin_get(
        &gw,
        &format!("/api/v0/mcp/monitor/webrtc/connections/{conn}"),
    );
    assert_eq!(detail["kind"], "mcp", "{detail}");
    assert_eq!(detail["lifecycle"], "connected", "{detail}");

    let r = call(
        &gw,
        CONTROL_TOKEN,
        &session,
        2,
        "click",
        json!({"x": 10, "y": 20, "button": "right"}),
    );
    assert_eq!(r["result"]["isError"], false, "{r}");
    assert_eq!(
        r["result"]["content"][0]["text"],
        "clicked right at (10, 20) on screen 0"
    );
    // The role is the current request's: the same session with a view token cannot click.
    let r = call(
        &gw,
        VIEW_TOKEN,
        &session,
        3,
        "type_text",
        json!({"text": "secret words"}),
    );
    assert_eq!(r["result"]["isError"], true, "{r}");
    assert_eq!(
        r["result"]["content"][0]["text"],
        "type_text needs role control; this token has role view. Nothing was done"
    );

    // Both calls are in the audit trail with their arguments and results; the refused one injected nothing.
    let ops = admin_get(&gw, "/api/v0/mcp/monitor/webrtc/operations");
    let audited: Vec<&Value> = ops["recent"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == "mcp_tool_call" && o["connection"] == conn.as_str())
        .collect();
    assert_eq!(audited.len(), 2, "{ops}");
    let refused = audited[0];
    assert_eq!(refused["result"], "error");
    assert_eq!(refused["detail"]["tool"], "type_text");
    assert_eq!(
        refused["detail"]["arguments"],
        json!({"text": "secret words"})
    );
    let click = audited[1];
    assert_eq!(click["result"], "ok");
    assert_eq!(
        click["detail"]["arguments"],
        json!({"x": 10, "y": 20, "button": "right"})
    );
    assert_eq!(
        click["detail"]["result"],
        "clicked right at (10, 20) on screen 0"
    );
    let injections = ops["recent"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == "input_injection" && o["connection"] == conn.as_str())
        .count();
    assert_eq!(injections, 1, "only the click reached the control path");

    // The client's DELETE ends the session and its registration.
    let (status, _, _) = http(
        "DELETE",
        &format!("{}/mcp", gw.base),
        Some(CONTROL_TOKEN),
        None,
        b"",
        &[
            ("mcp-session-id", &session),
            ("mcp-protocol-version", "2025-06-18"),
        ],
    );
    assert_eq!(status, 204);
    wait_until(
        || mcp_sessions(&gw).is_empty(),
        "the deleted session leaves the table",
    );
    let list = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list"}).to_string();
    let (status, _, _) = post(&gw, Some(CONTROL_TOKEN), Some(&session), &list, &[]);
    assert_eq!(status, 404);
    let detail = admin_get(
        &gw,
        &format!("/api/v0/mcp/monitor/webrtc/connections/{conn}"),
    );
    assert_eq!(detail["lifecycle"], "closed", "{detail}");

    // An admin's kick ends another.
    let session = initialize(&gw, VIEW_TOKEN);
    let id = mcp_sessions(&gw)[0]["id"].as_str().unwrap().to_owned();
    let (status, _, _) = http(
        "DELETE",
        &format!("{}/api/v1/sessions/{id}", gw.base),
        Some(ADMIN_TOKEN),
        None,
        b"",
        &[],
    );
    assert_eq!(status, 204);
    wait_until(
        || mcp_sessions(&gw).is_empty(),
        "the kicked session leaves the table",
    );
    wait_until(
        || post(&gw, Some(VIEW_TOKEN), Some(&session), &list, &[]).0 == 404,
        "the kicked session is closed for its client",
    );
}

/// A session-less (2026-07-28) `tools/call`: the protocol data travels in `_meta` and headers.
fn stateless_call(gw: &GatewayProcess, token: &str, tool: &str, args: Value) -> (u16, Vec<u8>) {
    let body = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
        "name": tool, "arguments": args, "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "raw-test", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": {}}}});
    let (status, _, body) = post(
        gw,
        Some(token),
        None,
        &body.to_string(),
        &[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", tool),
        ],
    );
    (status, body)
}

/// Kicks the only MCP session once its tool call is running (seen in the monitor's running operations).
fn kick_when_running(gw: &GatewayProcess) {
    wait_until(
        || {
            admin_get(gw, "/api/v0/mcp/monitor/webrtc/operations")["running"]
                .as_array()
                .is_some_and(|ops| ops.iter().any(|o| o["kind"] == "mcp_tool_call"))
        },
        "the call is running",
    );
    let id = mcp_sessions(gw)[0]["id"].as_str().unwrap().to_owned();
    let (status, _, _) = http(
        "DELETE",
        &format!("{}/api/v1/sessions/{id}", gw.base),
        Some(ADMIN_TOKEN),
        None,
        b"",
        &[],
    );
    assert_eq!(status, 204);
}

#[test]
fn a_kick_stops_a_call_in_progress() {
    let gw = gateway();
    // The synthetic screen changes every frame, so this wait would run its full 20 s.
    let never_stable = json!({"quiet_ms": 10000, "timeout_ms": 20000});

    // Session-less: the call ends at once with a tool error saying why.
    let started = std::time::Instant::now();
    let (status, body) = std::thread::scope(|s| {
        let call = s.spawn(|| {
            stateless_call(
                &gw,
                CONTROL_TOKEN,
                "wait_until_stable",
                never_stable.clone(),
            )
        });
        kick_when_running(&gw);
        call.join().expect("call thread")
    });
    assert!(
        started.elapsed().as_secs() < 10,
        "the kick stopped the wait"
    );
    assert_eq!(status, 200);
    let r = reply(&body);
    assert_eq!(r["result"]["isError"], true, "{r}");
    assert_eq!(
        r["result"]["content"][0]["text"],
        "the session was ended by an administrator"
    );

    // In a session: the session ends with the call, so its stream closes without a reply.
    let session = initialize(&gw, CONTROL_TOKEN);
    let started = std::time::Instant::now();
    let (status, body) = std::thread::scope(|s| {
        let call = s.spawn(|| {
            let body = json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
                              "params": {"name": "wait_until_stable", "arguments": never_stable}});
            let (status, _, body) = post(
                &gw,
                Some(CONTROL_TOKEN),
                Some(&session),
                &body.to_string(),
                &[],
            );
            (status, body)
        });
        kick_when_running(&gw);
        call.join().expect("call thread")
    });
    assert!(
        started.elapsed().as_secs() < 10,
        "the kick stopped the wait"
    );
    assert_eq!(status, 200);
    // The call is cancelled and the session's streams close; whether the call's tool error still makes it onto
    // the stream before it closes is a race. Either way no real result arrives.
    let text = String::from_utf8_lossy(&body);
    if text.contains("\"result\"") {
        let r = reply(&body);
        assert_eq!(r["result"]["isError"], true, "{text}");
        assert_eq!(
            r["result"]["content"][0]["text"], "the session was ended by an administrator",
            "{text}"
        );
    }
    wait_until(
        || mcp_sessions(&gw).is_empty(),
        "the kicked session is gone",
    );
}

#[test]
fn sessions_are_bounded_with_places_kept_for_admins() {
    // A quota as large as the cap, so the global bound is what this test meets.
    let gw = GatewayProcess::start(&common::synthetic_config(
        "[limits]\nmcp_sessions_per_token = 64\n",
    ));
    let shared = 64 - 16;
    let sessions: Vec<String> = (0..shared).map(|_| initialize(&gw, VIEW_TOKEN)).collect();
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "one-too-many", "version": "1"}}});
    for token in [VIEW_TOKEN, CONTROL_TOKEN] {
        let (status, _, reply_body) = post(&gw, Some(token), None, &body.to_string(), &[]);
        assert_eq!(status, 503, "{}", String::from_utf8_lossy(&reply_body));
        let err: Value = serde_json::from_slice(&reply_body).unwrap();
        assert!(
            err["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&format!("maximum of {shared}")),
            "{err}"
        );
    }
    // The rest is the admins'.
    for _ in 0..16 {
        initialize(&gw, ADMIN_TOKEN);
    }
    let (status, _, reply_body) = post(&gw, Some(ADMIN_TOKEN), None, &body.to_string(), &[]);
    assert_eq!(status, 503, "{}", String::from_utf8_lossy(&reply_body));
    let err: Value = serde_json::from_slice(&reply_body).unwrap();
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("maximum of 64"),
        "{err}"
    );
    let (status, _, _) = http(
        "DELETE",
        &format!("{}/mcp", gw.base),
        Some(VIEW_TOKEN),
        None,
        b"",
        &[
            ("mcp-session-id", &sessions[0]),
            ("mcp-protocol-version", "2025-06-18"),
        ],
    );
    assert_eq!(status, 204);
    initialize(&gw, VIEW_TOKEN);
    assert_eq!(mcp_sessions(&gw).len(), 64);
}

fn wait_until(done: impl Fn() -> bool, what: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
