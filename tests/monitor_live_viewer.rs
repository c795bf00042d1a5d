//! The monitor against a real viewer (aiortc over `/ws`): while it watches, every REST endpoint's response matches
//! `docs/openapi.yaml` field by field (strictly: no undocumented field either), its connection's state history
//! shows new → connecting → connected and then closed, and its counters come from real stats and grow.

mod common;

use std::time::Duration;

use common::clients::{AiortcPeer, WsClient};
use common::{ADMIN_TOKEN, CONTROL_TOKEN, GatewayProcess, http, synthetic_config};
use serde_json::{Value, json};

async fn get(gw: &GatewayProcess, path: &str) -> Value {
    let url = format!("{}{path}", gw.base);
    tokio::task::spawn_blocking(move || {
        let (s, _, b) = http("GET", &url, Some(ADMIN_TOKEN), None, b"", &[]);
        assert_eq!(s, 200, "{url}: {}", String::from_utf8_lossy(&b));
        serde_json::from_slice::<Value>(&b).unwrap()
    })
    .await
    .unwrap()
}

fn lifecycle_path(detail: &Value) -> Vec<String> {
    detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["machine"] == "lifecycle")
        .map(|h| h["to"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_views_of_a_live_webrtc_viewer() {
    let gw = GatewayProcess::start(&synthetic_config("synthetic_size = \"640x360\"\n"));
    let (mut ws, welcome) = WsClient::authed(&gw.ws_url(), CONTROL_TOKEN).await;
    let session = welcome["session"].as_str().unwrap().to_owned();
    let mut peer = AiortcPeer::start().await;
    common::clients::watch_webrtc(&mut ws, &mut peer, "0").await;
    peer.expect("frame", Duration::from_secs(10)).await;
    // A command, so input_injection shows in operations.
    ws.send(json!({"type":"pointer","action":"click","x":0.5,"y":0.5,"id":1}))
        .await;
    ws.expect_type("ack").await;
    tokio::time::sleep(Duration::from_millis(2500)).await; // at least two stats ticks

    let conns = get(&gw, "/api/v0/mcp/monitor/webrtc/connections").await;
    let rtc = conns["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "webrtc" && c["closed_ms"].is_null())
        .expect("the live WebRTC connection is listed")
        .clone();
    assert_eq!(rtc["session"], session.as_str());
    assert_eq!(rtc["screen"], "0");
    assert_eq!(rtc["lifecycle"], "connected");
    let id = rtc["id"].as_str().unwrap().to_owned();
    let detail = get(&gw, &format!("/api/v0/mcp/monitor/webrtc/connections/{id}")).await;
    assert_eq!(
        lifecycle_path(&detail),
        ["new", "connecting", "connected"]
            .map(String::from)
            .to_vec()
    );
    let machines: Vec<&str> = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["machine"].as_str().unwrap())
        .collect();
    for m in ["signaling", "ice", "peer"] {
        assert!(
            machines.contains(&m),
            "{m} state changes recorded: {machines:?}"
        );
    }
    assert_eq!(detail["states"]["peer"], "connected");
    assert!(
        detail["data_channels"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["label"] == "control" && d["state"] == "open"),
        "{}",
        detail["data_channels"]
    );
    assert!(!detail["tracks"].as_array().unwrap().is_empty());
    assert!(!detail["timeline"].as_array().unwrap().is_empty());
    let kinds: Vec<&str> = detail["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    for k in [
        "create_offer",
        "set_local_description",
        "set_remote_description",
    ] {
        assert!(
            kinds.contains(&k),
            "{k} recorded for the connection: {kinds:?}"
        );
    }
    let c1 = detail["counters"].clone();
    assert!(
        c1["bytes_sent"].as_u64().unwrap() > 0 && c1["packets_sent"].as_u64().unwrap() > 0,
        "{c1}"
    );
    assert!(
        c1["frames_sent"].as_u64().unwrap() > 0 && c1["keyframes_sent"].as_u64().unwrap() >= 1,
        "{c1}"
    );
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let detail2 = get(&gw, &format!("/api/v0/mcp/monitor/webrtc/connections/{id}")).await;
    let c2 = &detail2["counters"];
    for k in ["bytes_sent", "packets_sent", "frames_sent"] {
        assert!(
            c2[k].as_u64().unwrap() > c1[k].as_u64().unwrap(),
            "{k} grows: {c1} → {c2}"
        );
    }
    assert!(
        c2["fps"].as_f64().unwrap() > 5.0,
        "current fps from real stats: {c2}"
    );
    assert!(
        c2["bitrate_kbps"].as_f64().unwrap() > 0.0,
        "current bitrate: {c2}"
    );

    // Every endpoint's response matches the OpenAPI description, strictly.
    let mut samples = Vec::new();
    for (template, path) in [
        ("/api/v1/screens", "/api/v1/screens".to_owned()),
        ("/api/v1/status", "/api/v1/status".to_owned()),
        ("/api/v1/sessions", "/api/v1/sessions".to_owned()),
        (
            "/api/v1/sessions/{id}",
            format!("/api/v1/sessions/{session}"),
        ),
        ("/api/v1/performance", "/api/v1/performance".to_owned()),
        (
            "/api/v0/mcp/monitor/webrtc/summary",
            "/api/v0/mcp/monitor/webrtc/summary".to_owned(),
        ),
        (
            "/api/v0/mcp/monitor/webrtc/connections",
            "/api/v0/mcp/monitor/webrtc/connections".to_owned(),
        ),
        (
            "/api/v0/mcp/monitor/webrtc/connections/{id}",
            format!("/api/v0/mcp/monitor/webrtc/connections/{id}"),
        ),
        (
            "/api/v0/mcp/monitor/webrtc/operations",
            "/api/v0/mcp/monitor/webrtc/operations".to_owned(),
        ),
        (
            "/api/v0/mcp/monitor/webrtc/tasks",
            "/api/v0/mcp/monitor/webrtc/tasks".to_owned(),
        ),
    ] {
        samples.push(json!({"path": template, "method": "get", "status": 200, "body": get(&gw, &path).await}));
    }
    let ops = get(&gw, "/api/v0/mcp/monitor/webrtc/operations").await;
    assert!(
        ops["by_kind"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kind"] == "input_injection" && k["ok"].as_u64() >= Some(1))
    );
    let summary = get(&gw, "/api/v0/mcp/monitor/webrtc/summary").await;
    assert_eq!(summary["leaked"], 0);
    assert!(summary["connections"]["by_kind"]["webrtc"].as_u64() >= Some(1));

    // Then the viewer leaves: the connection ends in `closed`.
    ws.send(json!({"type":"stop"})).await;
    ws.send(json!({"type":"ping","id":0})).await;
    ws.expect_type("pong").await;
    let mut closed = Value::Null;
    for _ in 0..50 {
        closed = get(&gw, &format!("/api/v0/mcp/monitor/webrtc/connections/{id}")).await;
        if closed["lifecycle"] == "closed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        lifecycle_path(&closed),
        ["new", "connecting", "connected", "closed"]
            .map(String::from)
            .to_vec()
    );
    assert!(closed["closed_ms"].is_u64());
    assert!(closed["close_reason"].is_string());
    samples.push(json!({"path": "/api/v0/mcp/monitor/webrtc/connections/{id}", "method": "get", "status": 200, "body": closed}));

    let file = gw.dir().join("samples.json");
    std::fs::write(&file, serde_json::to_vec(&samples).unwrap()).unwrap();
    let spec = common::root().join("docs/openapi.yaml");
    let out = common::run_python(
        "check_openapi.py",
        &[spec.to_str().unwrap(), file.to_str().unwrap()],
        Duration::from_secs(60),
    );
    let result = common::last_json(&out);
    assert_eq!(result["errors"], json!([]), "{result}");
    assert_eq!(result["checked"], samples.len());

    peer.close().await;
    ws.close().await;
    assert!(gw.stop().success());
}
