//! The `/ws` authentication and session contract against a real gateway: the 5 s auth deadline (1008), 4401, bearer
//! tokens on the upgrade, every `welcome` field, ids on refused `watch` messages, the session limit (503 before
//! upgrading), and a kick that ends even a client that stopped reading.

mod common;

use std::time::{Duration, Instant};

use common::clients::{WsClient, WsEvent};
use common::{
    ADMIN_TOKEN, CONTROL_TOKEN, GatewayProcess, VIEW_TOKEN, http_async, synthetic_config,
};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Error as WsError;

const ICE: &str = "[[webrtc.ice_servers]]\nurls = [\"stun:stun.example.org:3478\"]\n\
                   [[webrtc.ice_servers]]\nurls = [\"turn:turn.example.org:3478?transport=udp\"]\n\
                   username = \"user\"\ncredential = \"secret\"\n";

async fn admin_get(gw: &GatewayProcess, path: &str) -> (u16, Value) {
    let url = format!("{}{path}", gw.base);
    let (status, _, body) = http_async("GET", &url, Some(ADMIN_TOKEN), &[]).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

async fn session_listed(gw: &GatewayProcess, id: &str) -> bool {
    let (status, v) = admin_get(gw, "/api/v1/sessions").await;
    assert_eq!(status, 200);
    v["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["id"] == id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_deadline_tokens_and_welcome() {
    let gw = GatewayProcess::start(&synthetic_config(&format!(
        "synthetic_size = \"640x360\"\n{ICE}"
    )));

    // Silent: closed with 1008 (policy) once the 5 s are up, not before.
    let start = Instant::now();
    let mut silent = WsClient::connect(&gw.ws_url()).await;
    // Ping is served before authentication.
    silent.send(json!({"type":"ping","id":1})).await;
    assert_eq!(silent.expect_type("pong").await["id"], 1);
    // Anything else is refused, and the socket stays open.
    silent
        .send(json!({"type":"watch","screen":"0","id":"w"}))
        .await;
    let e = silent.expect_type("error").await;
    assert_eq!(e["code"], "unauthorized");
    let code = silent.expect_close(Duration::from_secs(8)).await;
    let waited = start.elapsed();
    assert_eq!(code, Some(1008));
    assert!(
        waited >= Duration::from_millis(4900) && waited < Duration::from_secs(8),
        "closed after {waited:?}"
    );

    // A wrong token: 4401 at once.
    let start = Instant::now();
    let mut wrong = WsClient::connect(&gw.ws_url()).await;
    wrong
        .send(json!({"type":"auth","token":"not-a-real-token"}))
        .await;
    assert_eq!(wrong.expect_close(Duration::from_secs(3)).await, Some(4401));
    assert!(start.elapsed() < Duration::from_secs(3));

    // Every welcome field, with the configured ICE servers as RTCPeerConnection takes them.
    let (mut ws, welcome) = WsClient::authed(&gw.ws_url(), CONTROL_TOKEN).await;
    assert_eq!(welcome["role"], "control");
    let session = welcome["session"].as_str().expect("session id").to_owned();
    assert!(!session.is_empty());
    assert_eq!(
        welcome["screens"],
        json!([{"id":"0","name":welcome["screens"][0]["name"],"width":640,"height":360,"primary":true}])
    );
    assert!(welcome["screens"][0]["name"].as_str().is_some());
    assert_eq!(
        welcome["ice_servers"],
        json!([
            {"urls":["stun:stun.example.org:3478"]},
            {"urls":["turn:turn.example.org:3478?transport=udp"],"username":"user","credential":"secret"}
        ])
    );
    assert_eq!(welcome["fallback_timeout_ms"], 5000);
    assert!(session_listed(&gw, &session).await);

    // A refused watch carries its id, and the socket stays usable.
    ws.send(json!({"type":"watch","screen":"7","transport":"jpeg","id":"w1"}))
        .await;
    let e = ws.expect_type("error").await;
    assert_eq!(
        (e["code"].clone(), e["id"].clone()),
        (json!("unknown_screen"), json!("w1"))
    );
    ws.send(json!({"type":"watch","screen":"0","transport":"jpeg","fps":90,"id":"w2"}))
        .await;
    let e = ws.expect_type("error").await;
    assert_eq!(
        (e["code"].clone(), e["id"].clone()),
        (json!("bad_value"), json!("w2"))
    );
    ws.send(json!({"type":"quality","bitrate_kbps":2000,"id":"q"}))
        .await;
    let e = ws.expect_type("error").await;
    assert_eq!(
        (e["code"].clone(), e["id"].clone()),
        (json!("not_watching"), json!("q"))
    );
    ws.send(json!({"type":"ping","id":"still-open"})).await;
    assert_eq!(ws.expect_type("pong").await["id"], "still-open");
    ws.close().await;

    // Bearer on the upgrade: welcome at once, no auth message needed.
    let mut bearer = WsClient::connect_bearer(&gw.ws_url(), VIEW_TOKEN)
        .await
        .expect("a valid bearer token upgrades");
    let welcome = bearer.expect_type("welcome").await;
    assert_eq!(welcome["role"], "view");
    bearer.send(json!({"type":"auth","token":VIEW_TOKEN})).await;
    assert_eq!(bearer.expect_type("error").await["code"], "invalid_state");
    bearer.close().await;
    // A wrong bearer token is refused before upgrading.
    match WsClient::connect_bearer(&gw.ws_url(), "not-a-real-token").await {
        Err(WsError::Http(r)) => assert_eq!(r.status().as_u16(), 401),
        Err(e) => panic!("expected HTTP 401, got {e}"),
        Ok(_) => panic!("a wrong bearer token upgraded"),
    }
    assert!(gw.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_gateway_answers_503_and_frees_places_when_sessions_end() {
    let config = synthetic_config("synthetic_size = \"640x360\"\n").replacen(
        "[server]\n",
        "[server]\nmax_sessions = 2\n",
        1,
    );
    let gw = GatewayProcess::start(&config);
    let (a, _) = WsClient::authed(&gw.ws_url(), VIEW_TOKEN).await;
    let (b, _) = WsClient::authed(&gw.ws_url(), VIEW_TOKEN).await;
    match WsClient::connect_bearer(&gw.ws_url(), VIEW_TOKEN).await {
        Err(WsError::Http(r)) => assert_eq!(r.status().as_u16(), 503),
        Err(e) => panic!("expected HTTP 503, got {e}"),
        Ok(_) => panic!("a third session was accepted with max_sessions = 2"),
    }
    a.close().await;
    // The place frees once the first session has ended.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut c = loop {
        match WsClient::connect_bearer(&gw.ws_url(), VIEW_TOKEN).await {
            Ok(c) => break c,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("no place after a session ended: {e}"),
        }
    };
    c.expect_type("welcome").await;
    b.close().await;
    c.close().await;
    assert!(gw.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kick_ends_a_client_that_stopped_reading() {
    let gw = GatewayProcess::start(&synthetic_config("synthetic_size = \"1920x1080\"\n"));
    let (mut ws, welcome) = WsClient::authed(&gw.ws_url(), VIEW_TOKEN).await;
    let session = welcome["session"].as_str().unwrap().to_owned();
    // Large, fast-changing frames that this client never reads: the TCP buffers fill and the gateway's writes to
    // it block.
    ws.send(json!({"type":"watch","screen":"0","transport":"jpeg","fps":30,"quality":100,"max_width":1920}))
        .await;
    // Wait until the gateway has stopped getting frames out (the counter stands still).
    let connection = loop {
        let (_, v) = admin_get(&gw, &format!("/api/v1/sessions/{session}")).await;
        if let Some(c) = v["watch"]["connection"].as_str() {
            break c.to_owned();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let sent = || async {
        let (_, v) = admin_get(
            &gw,
            &format!("/api/v0/mcp/monitor/webrtc/connections/{connection}"),
        )
        .await;
        v["counters"]["frames_sent"].as_u64().unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = sent().await;
    loop {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let now = sent().await;
        if now == last && now > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the writes never blocked ({now} frames sent)"
        );
        last = now;
    }

    // Kicked while a write is blocked: the session ends at once, not when TCP gives up.
    let url = format!("{}/api/v1/sessions/{session}", gw.base);
    let (status, _, _) = http_async("DELETE", &url, Some(ADMIN_TOKEN), &[]).await;
    assert_eq!(status, 204);
    let deadline = Instant::now() + Duration::from_secs(3);
    while session_listed(&gw, &session).await {
        assert!(
            Instant::now() < deadline,
            "the kicked session is still listed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, conn) = admin_get(
        &gw,
        &format!("/api/v0/mcp/monitor/webrtc/connections/{connection}"),
    )
    .await;
    assert_eq!(conn["lifecycle"], "closed", "{conn}");
    // Whatever was buffered drains; then the socket is closed.
    loop {
        match ws.next_timeout(Duration::from_secs(10)).await {
            Some(WsEvent::Closed(..)) | None => break,
            Some(_) => {}
        }
    }
    assert!(gw.stop().success());
}
