//! What one client can make the gateway do, on a gateway process serving the synthetic screen: no work
//! amplification (distinct qualities and widths share a few encoders), every viewer counted (MJPEG included), a
//! never-reading MJPEG client cut after the write timeout, unknown paths 404, ids cut short in errors, MCP
//! sessions bounded per token with places kept for admins, `DELETE /mcp` ending running calls at once (and a
//! second one answering 404), and per-token rate limits on REST snapshots and MCP tool calls.
//!
//! Each case would fail if the abuse it names came back. Raw HTTP and raw TCP on purpose: a well-behaved client
//! cannot send these requests.

mod common;

use std::time::{Duration, Instant};

use common::clients::WsClient;
use common::{ADMIN_TOKEN, CONTROL_TOKEN, GatewayProcess, VIEW_TOKEN, header, http};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long the gateway lets a streaming response wait for its client (`WRITE_TIMEOUT` in
/// `src/transport/ws/socket.rs`, `MJPEG_WRITE_TIMEOUT` in `src/rest.rs`).
const WRITE_TIMEOUT: Duration = Duration::from_secs(15);

/// Time for a client that stopped reading to fill the socket buffers between it and the gateway before the
/// write timeout starts to run (a few seconds at the stream's rate), plus polling.
const FILL_SLACK: Duration = Duration::from_secs(12);

fn gateway(extra: &str) -> GatewayProcess {
    GatewayProcess::start(&common::synthetic_config(extra))
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

fn sessions_of_kind(gw: &GatewayProcess, kind: &str) -> Vec<Value> {
    admin_get(gw, "/api/v1/sessions")["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .filter(|s| s["kind"] == kind)
        .cloned()
        .collect()
}

/// Running pipelines of screen 0 of `kind` (`h264`, `jpeg`).
fn pipelines(gw: &GatewayProcess, kind: &str) -> Vec<String> {
    admin_get(gw, "/api/v1/status")["pipelines"]
        .as_array()
        .expect("pipelines")
        .iter()
        .filter(|p| p["kind"] == kind && p["screen"] == "0")
        .map(|p| p["profile"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A raw HTTP/1.1 request on a fresh connection with a receive buffer of `rcvbuf` bytes; returns the socket with
/// nothing read.
async fn raw_request(gw: &GatewayProcess, rcvbuf: u32, head: &str) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(rcvbuf).expect("SO_RCVBUF");
    let mut stream = socket
        .connect(gw.addr.parse().expect("address"))
        .await
        .expect("connect");
    stream.write_all(head.as_bytes()).await.expect("send");
    stream
}

fn mjpeg_head(query: &str) -> String {
    format!(
        "GET /api/v1/screens/0/mjpeg?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {VIEW_TOKEN}\r\n\r\n"
    )
}

/// Reads until the end of the response head; returns it.
async fn read_head(stream: &mut tokio::net::TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut byte))
            .await
            .expect("a response head within 10 s")
            .expect("read");
        assert_eq!(n, 1, "the connection closed in the head: {head:?}");
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

fn wait_until(within: Duration, what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn distinct_widths_and_qualities_share_a_few_encoders() {
    let gw = gateway("");
    let url = gw.ws_url();
    // 16 WebRTC watches asking for 16 widths between the full and the half-width tier, 16 JPEG watches asking
    // for 16 (quality, width) pairs between two snapped steps each: before snapping, 32 encoders.
    let mut clients = Vec::new();
    for i in 0..16u32 {
        let (mut c, _) = WsClient::authed(&url, VIEW_TOKEN).await;
        c.send(json!({"type": "watch", "screen": "0", "transport": "webrtc", "max_width": 650 + i * 37}))
            .await;
        c.expect_type("offer").await;
        clients.push(c);
    }
    let mut widths = Vec::new();
    for i in 0..16u32 {
        let (mut c, _) = WsClient::authed(&url, VIEW_TOKEN).await;
        c.send(
            json!({"type": "watch", "screen": "0", "transport": "jpeg", "fps": 5,
                      "quality": 51 + i, "max_width": 641 + i * 19}),
        )
        .await;
        let frame = c.expect_type("frame").await;
        widths.push(frame["width"].as_u64().expect("width"));
        clients.push(c);
    }
    // MJPEG streams with their own distinct choices land on the same encoders too.
    let mut streams = Vec::new();
    for i in 0..4u32 {
        let mut s = raw_request(
            &gw,
            1 << 16,
            &mjpeg_head(&format!(
                "quality={}&max_width={}&fps={}",
                52 + i,
                700 + i,
                1 + i
            )),
        )
        .await;
        assert!(read_head(&mut s).await.starts_with("HTTP/1.1 200"));
        streams.push(s);
    }
    // The first frame is the request's own rung: the snapped width (640 of the 1280-wide screen).
    assert!(widths.iter().all(|w| *w == 640), "{widths:?}");
    let video = pipelines(&gw, "h264");
    let jpeg = pipelines(&gw, "jpeg");
    eprintln!("h264 encoders: {video:?}\njpeg encoders: {jpeg:?}");
    // The default ladder has 4 tiers. The JPEG clients do not read past their first frame, so their streams step
    // down the adaptation ladder, whose rungs are snapped profiles too: a few of them, never one per client.
    assert!(!video.is_empty() && video.len() <= 4, "{video:?}");
    assert!(!jpeg.is_empty() && jpeg.len() <= 4, "{jpeg:?}");
    assert!(jpeg.contains(&"q50-w640".to_owned()), "{jpeg:?}");
    for c in clients {
        c.close().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mjpeg_streams_are_counted_against_max_sessions() {
    let gw = GatewayProcess::start(&common::synthetic_config("").replacen(
        "[server]\n",
        "[server]\nmax_sessions = 2\n",
        1,
    ));
    let (ws, _) = WsClient::authed(&gw.ws_url(), VIEW_TOKEN).await;
    let mut first = raw_request(&gw, 1 << 16, &mjpeg_head("fps=2")).await;
    assert!(read_head(&mut first).await.starts_with("HTTP/1.1 200"));
    // A third viewer of any kind is refused.
    let mut third = raw_request(&gw, 1 << 16, &mjpeg_head("fps=2")).await;
    let head = read_head(&mut third).await;
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    let refused = tokio_tungstenite::connect_async(gw.ws_url()).await;
    assert!(
        refused.is_err(),
        "the /ws upgrade of a full gateway is refused"
    );
    // A viewer leaving frees its place.
    ws.close().await;
    let gw_ref = &gw;
    tokio::task::block_in_place(|| {
        wait_until(Duration::from_secs(5), "the /ws session leaves", || {
            sessions_of_kind(gw_ref, "websocket").is_empty()
        })
    });
    let mut again = raw_request(&gw, 1 << 16, &mjpeg_head("fps=2")).await;
    assert!(read_head(&mut again).await.starts_with("HTTP/1.1 200"));
    drop(first);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_mjpeg_client_that_never_reads_is_cut_after_the_write_timeout() {
    let gw = gateway("");
    // Large frames at a high rate fill the buffers quickly; the client's receive buffer is small.
    let stalled = raw_request(&gw, 4096, &mjpeg_head("fps=30&quality=85&max_width=1280")).await;
    // A slow but reading client of the same stream is not cut.
    let mut reading = raw_request(
        &gw,
        1 << 16,
        &mjpeg_head("fps=30&quality=85&max_width=1280"),
    )
    .await;
    assert!(read_head(&mut reading).await.starts_with("HTTP/1.1 200"));
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0usize;
        loop {
            match tokio::time::timeout(Duration::from_secs(60), reading.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return total,
                Ok(Ok(n)) => total += n,
            }
            // Slow: a few hundred KB a second.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let started = Instant::now();
    let gw_ref = &gw;
    tokio::task::block_in_place(|| {
        wait_until(Duration::from_secs(5), "both MJPEG sessions exist", || {
            sessions_of_kind(gw_ref, "mjpeg").len() == 2
        });
        wait_until(
            WRITE_TIMEOUT + FILL_SLACK,
            "the never-reading client's session ends",
            || sessions_of_kind(gw_ref, "mjpeg").len() == 1,
        );
    });
    let cut_after = started.elapsed();
    eprintln!("the never-reading MJPEG client was cut after {cut_after:?}");
    assert!(
        cut_after >= WRITE_TIMEOUT,
        "not before the write timeout: {cut_after:?}"
    );
    // Its subscription went with it: the reader's stream is the only one left on the encoder.
    let status = tokio::task::block_in_place(|| admin_get(&gw, "/api/v1/status"));
    let jpeg: Vec<&Value> = status["pipelines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "jpeg")
        .collect();
    assert_eq!(jpeg.len(), 1, "{jpeg:?}");
    assert_eq!(jpeg[0]["subscribers"], 1, "{jpeg:?}");
    let rows = tokio::task::block_in_place(|| sessions_of_kind(&gw, "mjpeg"));
    assert_eq!(rows.len(), 1, "the reading client stays: {rows:?}");
    drop(stalled);
    reader.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_paths_are_404_whatever_their_spelling() {
    let gw = gateway("");
    for path in [
        "/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/%2e%2e/",
        "/foo",
        "/js/",
        "/..%2f..%2fetc%2fpasswd",
    ] {
        let mut s = raw_request(
            &gw,
            1 << 16,
            &format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"),
        )
        .await;
        let mut response = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut response))
            .await
            .expect("a response")
            .expect("read");
        let text = String::from_utf8_lossy(&response);
        // Some spellings are refused by the HTTP parser (400) before routing; none is ever a file.
        assert!(
            text.starts_with("HTTP/1.1 404") || text.starts_with("HTTP/1.1 400"),
            "{path}: {text}"
        );
        assert!(
            !text.contains("<html") && !text.contains("root:"),
            "{path}: {text}"
        );
        assert!(
            response.len() < 512,
            "{path}: a small body, {} bytes",
            response.len()
        );
    }
    let (status, _, body) = http("GET", &format!("{}/", gw.base), None, None, b"", &[]);
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("<html"));
}

/// The longest an error quoting a client's id may be: the cut id (64 characters and `…`) and a sentence.
const MAX_ERROR_CHARS: usize = 64 + 60;

#[tokio::test(flavor = "multi_thread")]
async fn long_ids_are_never_echoed_in_full() {
    let gw = gateway("");
    let long = "7".repeat(10_000);
    // REST and WHEP.
    for (method, path, ct) in [
        ("GET", format!("/api/v1/screens/{long}/snapshot"), None),
        ("GET", format!("/api/v1/screens/{long}/mjpeg"), None),
        ("POST", format!("/whep/{long}"), Some("application/sdp")),
    ] {
        let url = format!("{}{path}", gw.base);
        let (status, _, body) = tokio::task::block_in_place(|| {
            http(method, &url, Some(VIEW_TOKEN), ct, b"v=0\r\n", &[])
        });
        assert_eq!(status, 404, "{method} {path:.40}");
        assert!(
            body.len() < MAX_ERROR_CHARS + 60,
            "{method} {path:.40}: {} bytes",
            body.len()
        );
        assert!(
            String::from_utf8_lossy(&body).contains("777…"),
            "{method} {path:.40}"
        );
    }
    // `/ws`.
    let (mut c, _) = WsClient::authed(&gw.ws_url(), VIEW_TOKEN).await;
    c.send(json!({"type": "watch", "id": "w1", "screen": long, "transport": "jpeg"}))
        .await;
    let err = c.expect_type("error").await;
    let message = err["message"].as_str().unwrap_or_default();
    assert!(message.chars().count() <= MAX_ERROR_CHARS, "{message}");
    assert!(err.to_string().len() < 400, "{err}");
    // MCP.
    let r = tokio::task::block_in_place(|| {
        let session = mcp_initialize(&gw, VIEW_TOKEN);
        mcp_call(
            &gw,
            VIEW_TOKEN,
            &session,
            2,
            "screenshot",
            json!({"screen": long}),
        )
    });
    assert_eq!(r["result"]["isError"], true, "{r}");
    let text = r["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(text.chars().count() <= MAX_ERROR_CHARS + 40, "{text}");
    assert!(text.contains("777…"), "{text}");
}

// ---- MCP ----

const ACCEPT: (&str, &str) = ("accept", "application/json, text/event-stream");

fn mcp_post(
    gw: &GatewayProcess,
    token: &str,
    session: Option<&str>,
    body: &str,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut headers = vec![ACCEPT];
    if let Some(s) = session {
        headers.push(("mcp-session-id", s));
        headers.push(("mcp-protocol-version", "2025-06-18"));
    }
    http(
        "POST",
        &format!("{}/mcp", gw.base),
        Some(token),
        Some("application/json"),
        body.as_bytes(),
        &headers,
    )
}

fn mcp_delete(gw: &GatewayProcess, token: &str, session: &str) -> u16 {
    http(
        "DELETE",
        &format!("{}/mcp", gw.base),
        Some(token),
        None,
        b"",
        &[
            ("mcp-session-id", session),
            ("mcp-protocol-version", "2025-06-18"),
        ],
    )
    .0
}

/// The JSON-RPC message with an `id` in a response body, SSE or plain JSON.
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

fn initialize_body() -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "abuse", "version": "1"}}})
    .to_string()
}

fn mcp_initialize(gw: &GatewayProcess, token: &str) -> String {
    let (status, headers, body) = mcp_post(gw, token, None, &initialize_body());
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let session = header(&headers, "mcp-session-id")
        .expect("a session id")
        .to_owned();
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string();
    assert_eq!(mcp_post(gw, token, Some(&session), &note).0, 202);
    session
}

fn mcp_call(
    gw: &GatewayProcess,
    token: &str,
    session: &str,
    id: u64,
    tool: &str,
    args: Value,
) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                      "params": {"name": tool, "arguments": args}});
    let (status, _, body) = mcp_post(gw, token, Some(session), &body.to_string());
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    reply(&body)
}

#[test]
fn a_view_token_holds_its_quota_of_mcp_sessions_and_admins_still_get_in() {
    let gw = gateway("[limits]\nmcp_sessions_per_token = 3\n");
    let held: Vec<String> = (0..3).map(|_| mcp_initialize(&gw, VIEW_TOKEN)).collect();
    let (status, _, body) = mcp_post(&gw, VIEW_TOKEN, None, &initialize_body());
    assert_eq!(status, 429, "{}", String::from_utf8_lossy(&body));
    let err: Value = serde_json::from_slice(&body).expect("a JSON-RPC error body");
    assert_eq!(err["jsonrpc"], "2.0");
    let message = err["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("mcp_sessions_per_token"), "{message}");
    // Other tokens are not affected.
    mcp_initialize(&gw, ADMIN_TOKEN);
    mcp_initialize(&gw, CONTROL_TOKEN);
    // A session of another token cannot be ended with this one; ending one of its own frees a place.
    assert_eq!(mcp_delete(&gw, CONTROL_TOKEN, &held[0]), 404);
    assert_eq!(mcp_delete(&gw, VIEW_TOKEN, &held[0]), 204);
    mcp_initialize(&gw, VIEW_TOKEN);
    assert_eq!(sessions_of_kind(&gw, "mcp").len(), 5);
}

#[test]
fn delete_ends_running_waits_at_once_and_a_second_delete_is_404() {
    let gw = gateway("");
    let session = mcp_initialize(&gw, CONTROL_TOKEN);
    // The synthetic screen changes every frame: this wait would run its whole 20 s.
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
        "name": "wait_until_stable", "arguments": {"quiet_ms": 10000, "timeout_ms": 20000}}})
    .to_string();
    let (ended_after, status) = std::thread::scope(|s| {
        let call = s.spawn(|| {
            let r = mcp_post(&gw, CONTROL_TOKEN, Some(&session), &body);
            (Instant::now(), r.0)
        });
        wait_until(Duration::from_secs(10), "the wait is running", || {
            admin_get(&gw, "/api/v0/mcp/monitor/webrtc/operations")["running"]
                .as_array()
                .is_some_and(|ops| ops.iter().any(|o| o["kind"] == "mcp_tool_call"))
        });
        let deleted = Instant::now();
        assert_eq!(mcp_delete(&gw, CONTROL_TOKEN, &session), 204);
        let (ended, status) = call.join().expect("call thread");
        (ended.saturating_duration_since(deleted), status)
    });
    eprintln!("the running wait ended {ended_after:?} after DELETE");
    assert_eq!(status, 200);
    assert!(ended_after < Duration::from_secs(1), "{ended_after:?}");
    assert_eq!(mcp_delete(&gw, CONTROL_TOKEN, &session), 404);
    wait_until(
        Duration::from_secs(5),
        "the session leaves the table",
        || sessions_of_kind(&gw, "mcp").is_empty(),
    );
}

#[test]
fn rest_snapshots_are_rate_limited_per_token_with_retry_after() {
    let gw = gateway("");
    // A running capture (an MJPEG viewer), so a snapshot is the latest frame plus a small encode: fast enough
    // for eight clients to outrun the budget's refill.
    let mut viewer = std::net::TcpStream::connect(&gw.addr).expect("connect");
    std::io::Write::write_all(&mut viewer, mjpeg_head("fps=1&max_width=320").as_bytes())
        .expect("send");
    let url = format!("{}/api/v1/screens/0/snapshot?max_width=64", gw.base);
    // Eight clients with one token, each stopping at its first refusal (so the address collects a few strikes,
    // far from a ban).
    let refusals: Vec<(u16, Option<String>, Vec<u8>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    for _ in 0..100 {
                        let (status, headers, body) =
                            http("GET", &url, Some(VIEW_TOKEN), None, b"", &[]);
                        if status != 200 {
                            return Some((
                                status,
                                header(&headers, "retry-after").map(str::to_owned),
                                body,
                            ));
                        }
                    }
                    None
                })
            })
            .collect();
        workers
            .into_iter()
            .filter_map(|w| w.join().unwrap())
            .collect()
    });
    assert!(
        !refusals.is_empty(),
        "800 snapshots at once exceed the token's budget"
    );
    for (status, retry_after, body) in &refusals {
        assert_eq!(*status, 429, "{}", String::from_utf8_lossy(body));
        let secs: u64 = retry_after
            .as_deref()
            .and_then(|v| v.parse().ok())
            .expect("Retry-After in whole seconds");
        assert!((1..=60).contains(&secs), "{secs}");
        let err: Value = serde_json::from_slice(body).expect("JSON");
        assert_eq!(err["error"], "rate_limited");
        assert!(
            err["message"].as_str().unwrap().contains("retry in"),
            "{err}"
        );
    }
    // Another token's budget is untouched.
    let (status, _, _) = http("GET", &url, Some(ADMIN_TOKEN), None, b"", &[]);
    assert_eq!(status, 200);
    drop(viewer);
}

#[test]
fn mcp_tool_calls_are_rate_limited_per_token() {
    let gw = gateway("");
    let session = mcp_initialize(&gw, VIEW_TOKEN);
    let mut limited = None;
    for id in 0..2000 {
        let r = mcp_call(&gw, VIEW_TOKEN, &session, id, "list_sessions", json!({}));
        if r["result"]["isError"] == true {
            limited = Some(r);
            break;
        }
    }
    let r = limited.expect("2000 calls at once exceed the token's budget");
    let text = r["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(text.starts_with("rate limited; retry in "), "{text}");
    // The admin token's calls still run.
    let admin = mcp_initialize(&gw, ADMIN_TOKEN);
    let r = mcp_call(&gw, ADMIN_TOKEN, &admin, 1, "list_screens", json!({}));
    assert_eq!(r["result"]["isError"], false, "{r}");
}
