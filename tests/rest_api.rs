//! The HTTP surface: snapshots and MJPEG (content types, decodable images, refused without a token), the monitor
//! and operator endpoints (refused for missing and non-admin tokens), `/metrics` parsed by Prometheus's own parser,
//! kicking a viewer, and the monitor's JSON log files.

mod common;

use std::io::Read;
use std::time::Duration;

use common::clients::WsClient;
use common::{
    ADMIN_TOKEN, CONTROL_TOKEN, GatewayProcess, VIEW_TOKEN, header, http, synthetic_config,
};
use serde_json::{Value, json};

fn get(
    gw: &GatewayProcess,
    path: &str,
    token: Option<&str>,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    http("GET", &format!("{}{path}", gw.base), token, None, b"", &[])
}

#[test]
fn snapshots_in_jpeg_and_png() {
    let gw = GatewayProcess::start(&synthetic_config("synthetic_size = \"1280x720\"\n"));
    let (status, headers, body) = get(&gw, "/api/v1/screens/0/snapshot", Some(VIEW_TOKEN));
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("image/jpeg"));
    let img = image::load_from_memory_with_format(&body, image::ImageFormat::Jpeg).expect("a JPEG");
    assert_eq!((img.width(), img.height()), (1280, 720));

    let (status, headers, body) = get(
        &gw,
        "/api/v1/screens/0/snapshot?format=png&max_width=640",
        Some(VIEW_TOKEN),
    );
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("image/png"));
    assert_eq!(header(&headers, "x-screen-size"), Some("1280x720"));
    let img = image::load_from_memory_with_format(&body, image::ImageFormat::Png).expect("a PNG");
    assert_eq!((img.width(), img.height()), (640, 360));

    let (status, _, body) = get(
        &gw,
        "/api/v1/screens/0/snapshot?format=jpeg&quality=20&max_width=320",
        Some(VIEW_TOKEN),
    );
    assert_eq!(status, 200);
    let img = image::load_from_memory(&body).unwrap();
    assert_eq!(img.width(), 320);

    for (path, want) in [
        ("/api/v1/screens/0/snapshot", 401),
        ("/api/v1/screens/9/snapshot", 404),
        ("/api/v1/screens/0/snapshot?format=gif", 400),
        ("/api/v1/screens/0/snapshot?quality=0", 400),
        ("/api/v1/screens/0/snapshot?max_width=10", 400),
        ("/api/v1/screens/0/snapshot?max_width=abc", 400),
    ] {
        let token = (want != 401).then_some(VIEW_TOKEN);
        let (status, headers, body) = get(&gw, path, token);
        assert_eq!(status, want, "{path}: {}", String::from_utf8_lossy(&body));
        let err: Value = serde_json::from_slice(&body).expect("JSON error body");
        assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()));
        if want == 401 {
            assert_eq!(header(&headers, "www-authenticate"), Some("Bearer"));
        }
    }
    let (status, _, _) = get(
        &gw,
        "/api/v1/screens/0/snapshot",
        Some("not-a-token-at-all"),
    );
    assert_eq!(status, 401);
    assert!(gw.stop().success());
}

#[test]
fn mjpeg_stream_serves_decodable_parts() {
    let gw = GatewayProcess::start(&synthetic_config("synthetic_size = \"1280x720\"\n"));
    let (status, _, _) = get(&gw, "/api/v1/screens/0/mjpeg", None);
    assert_eq!(status, 401);
    let (status, _, _) = get(&gw, "/api/v1/screens/0/mjpeg?fps=0", Some(VIEW_TOKEN));
    assert_eq!(status, 400);

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    let resp = agent
        .get(format!(
            "{}/api/v1/screens/0/mjpeg?fps=5&quality=60&max_width=480",
            gw.base
        ))
        .header("authorization", format!("Bearer {VIEW_TOKEN}"))
        .call()
        .expect("mjpeg request");
    let ct = resp
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(ct.starts_with("multipart/x-mixed-replace"), "{ct}");
    let boundary = ct.split("boundary=").nth(1).expect("boundary").to_owned();
    let mut reader = resp.into_body().into_reader();
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    let mut parts = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    while parts.len() < 4 {
        let n = reader.read(&mut chunk).expect("read mjpeg");
        assert!(n > 0, "the stream ended early");
        buf.extend_from_slice(&chunk[..n]);
        // Parse complete parts: "--boundary\r\nheaders\r\n\r\n<len bytes>\r\n".
        loop {
            let marker = format!("--{boundary}\r\n");
            let Some(start) = find(&buf, marker.as_bytes()) else {
                break;
            };
            let Some(head_end) = find(&buf[start..], b"\r\n\r\n") else {
                break;
            };
            let head =
                String::from_utf8_lossy(&buf[start + marker.len()..start + head_end]).to_string();
            assert!(
                head.to_ascii_lowercase()
                    .contains("content-type: image/jpeg"),
                "{head}"
            );
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .expect("content-length");
            let body_start = start + head_end + 4;
            if buf.len() < body_start + len {
                break;
            }
            parts.push(buf[body_start..body_start + len].to_vec());
            buf.drain(..body_start + len);
        }
    }
    let elapsed = started.elapsed();
    for p in &parts {
        let img = image::load_from_memory_with_format(p, image::ImageFormat::Jpeg)
            .expect("each part is a JPEG");
        // 480 snaps down to the profiles' 320 (the quarter-width tier of a 1280-wide screen).
        assert_eq!((img.width(), img.height()), (320, 180));
    }
    assert!(
        elapsed >= Duration::from_millis(500),
        "fps=5 is honoured: 4 parts took {elapsed:?}"
    );
    drop(reader);
    assert!(gw.stop().success());
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn operator_endpoints_refuse_missing_and_non_admin_tokens() {
    let gw = GatewayProcess::start(&synthetic_config(""));
    let paths = [
        "/api/v1/status",
        "/api/v1/sessions",
        "/api/v1/performance",
        "/api/v0/mcp/monitor/webrtc/summary",
        "/api/v0/mcp/monitor/webrtc/connections",
        "/api/v0/mcp/monitor/webrtc/connections/c1",
        "/api/v0/mcp/monitor/webrtc/operations",
        "/api/v0/mcp/monitor/webrtc/tasks",
        "/metrics",
    ];
    for path in paths {
        assert_eq!(get(&gw, path, None).0, 401, "{path} without a token");
        assert_eq!(
            get(&gw, path, Some("wrong-token-123")).0,
            401,
            "{path} with a wrong token"
        );
        assert_eq!(
            get(&gw, path, Some(VIEW_TOKEN)).0,
            403,
            "{path} with a view token"
        );
        assert_eq!(
            get(&gw, path, Some(CONTROL_TOKEN)).0,
            403,
            "{path} with a control token"
        );
        let s = get(&gw, path, Some(ADMIN_TOKEN)).0;
        assert!(
            s == 200 || (s == 404 && path.ends_with("/c1")),
            "{path} with an admin token: {s}"
        );
    }
    let del = |token| {
        http(
            "DELETE",
            &format!("{}/api/v1/sessions/s1", gw.base),
            token,
            None,
            b"",
            &[],
        )
        .0
    };
    assert_eq!(
        (del(None), del(Some(VIEW_TOKEN)), del(Some(ADMIN_TOKEN))),
        (401, 403, 404)
    );
    // Unauthenticated: the health probe, the pages and the API description.
    assert_eq!(get(&gw, "/healthz", None).0, 200);
    assert_eq!(get(&gw, "/", None).0, 200);
    assert_eq!(get(&gw, "/monitor", None).0, 200);
    let (s, _, body) = get(&gw, "/api/openapi.yaml", None);
    assert_eq!(s, 200);
    assert!(String::from_utf8_lossy(&body).contains("/api/v0/mcp/monitor/webrtc/summary"));
    assert!(gw.stop().success());
}

#[test]
fn metrics_parse_with_the_prometheus_parser() {
    let gw = GatewayProcess::start(&synthetic_config(""));
    // Some activity first, so connection, operation and pipeline metrics have samples.
    let _ = get(&gw, "/api/v1/screens/0/snapshot", Some(VIEW_TOKEN));
    // The Prometheus text format 0.0.4 by default; OpenMetrics for a scraper that asks for it. Both parse with
    // the official client's parsers and describe the same families.
    let (status, headers, body) = get(&gw, "/metrics", Some(ADMIN_TOKEN));
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let file = gw.dir().join("metrics.txt");
    std::fs::write(&file, &body).unwrap();
    let out = common::run_python(
        "parse_metrics.py",
        &[file.to_str().unwrap(), "prometheus"],
        Duration::from_secs(60),
    );
    let parsed = common::last_json(&out);

    let accept = [(
        "Accept",
        "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
    )];
    let (status, headers, body) = http(
        "GET",
        &format!("{}/metrics", gw.base),
        Some(ADMIN_TOKEN),
        None,
        b"",
        &accept,
    );
    assert_eq!(status, 200);
    assert!(
        header(&headers, "content-type")
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let om_file = gw.dir().join("metrics.om.txt");
    std::fs::write(&om_file, &body).unwrap();
    let out = common::run_python(
        "parse_metrics.py",
        &[om_file.to_str().unwrap(), "openmetrics"],
        Duration::from_secs(60),
    );
    let om = common::last_json(&out);
    assert_eq!(
        om["types"], parsed["types"],
        "both formats describe the same families"
    );
    assert!(parsed["families"].as_u64().unwrap() >= 10, "{parsed}");
    assert_eq!(
        parsed["missing_help"],
        json!([]),
        "every metric has help text"
    );
    let names: Vec<&str> = parsed["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    for want in [
        "sightline_connections",
        "sightline_operations",
        "sightline_tasks",
    ] {
        assert!(
            names.iter().any(|n| n.starts_with(want)),
            "{want} in {names:?}"
        );
    }
    assert!(gw.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_listed_and_kicking_disconnects_the_viewer() {
    let gw = GatewayProcess::start(&synthetic_config(""));
    let (mut ws, welcome) = WsClient::authed(&gw.ws_url(), VIEW_TOKEN).await;
    let id = welcome["session"].as_str().unwrap().to_owned();
    ws.send(json!({"type":"watch","screen":"0","transport":"jpeg"}))
        .await;
    ws.expect_type("frame").await;
    let base = gw.base.clone();
    let list = tokio::task::spawn_blocking(move || {
        let (s, _, b) = http(
            "GET",
            &format!("{base}/api/v1/sessions"),
            Some(ADMIN_TOKEN),
            None,
            b"",
            &[],
        );
        assert_eq!(s, 200);
        serde_json::from_slice::<Value>(&b).unwrap()
    })
    .await
    .unwrap();
    let me = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id.as_str())
        .expect("listed")
        .clone();
    assert_eq!(me["kind"], "websocket");
    assert_eq!(me["role"], "view");
    assert_eq!(me["watch"]["transport"], "jpeg");
    assert_eq!(me["watch"]["screen"], "0");
    assert!(me["stats"]["frames_sent"].as_u64().unwrap() >= 1, "{me}");

    let base = gw.base.clone();
    let kid = id.clone();
    let status = tokio::task::spawn_blocking(move || {
        http(
            "DELETE",
            &format!("{base}/api/v1/sessions/{kid}"),
            Some(ADMIN_TOKEN),
            None,
            b"",
            &[],
        )
        .0
    })
    .await
    .unwrap();
    assert_eq!(status, 204);
    assert_eq!(
        ws.expect_close(Duration::from_secs(5)).await,
        Some(4403),
        "kicked viewers close with 4403"
    );
    let base = gw.base.clone();
    let status = tokio::task::spawn_blocking(move || {
        http(
            "GET",
            &format!("{base}/api/v1/sessions/{id}"),
            Some(ADMIN_TOKEN),
            None,
            b"",
            &[],
        )
        .0
    })
    .await
    .unwrap();
    assert_eq!(status, 404, "the session is gone");
    assert!(gw.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_connections_and_failed_operations_are_logged_as_json() {
    let dir = common::tempdir::TempDir::new();
    let log_dir = dir.path().join("logs");
    let gw = GatewayProcess::start(&synthetic_config(&format!(
        "[monitor]\nlog_dir = {:?}\n",
        log_dir.to_str().unwrap()
    )));
    let (mut ws, _) = WsClient::authed(&gw.ws_url(), VIEW_TOKEN).await;
    ws.send(json!({"type":"watch","screen":"0","transport":"jpeg"}))
        .await;
    ws.expect_type("frame").await;
    ws.send(json!({"type":"stop"})).await;
    ws.close().await;
    // A failed operation: a WHEP offer that is not SDP fails set_remote_description.
    let base = gw.base.clone();
    tokio::task::spawn_blocking(move || {
        http(
            "POST",
            &format!("{base}/whep/0"),
            Some(VIEW_TOKEN),
            Some("application/sdp"),
            b"v=0\r\n",
            &[],
        )
    })
    .await
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let (conns, ops) = loop {
        let list = |sub: &str| -> Vec<std::path::PathBuf> {
            std::fs::read_dir(log_dir.join(sub))
                .map(|d| {
                    d.flatten()
                        .map(|e| e.path())
                        .filter(|p| p.extension().is_some_and(|e| e == "json"))
                        .collect()
                })
                .unwrap_or_default()
        };
        let (c, o) = (list("connections"), list("operations"));
        if (c.len() >= 2 && !o.is_empty()) || std::time::Instant::now() > deadline {
            break (c, o);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        conns.len() >= 2,
        "the signaling socket and the JPEG stream each left a file: {conns:?}"
    );
    assert!(!ops.is_empty(), "the failed operation left a file");
    for f in conns.iter().chain(&ops) {
        let v: Value = serde_json::from_slice(&std::fs::read(f).unwrap())
            .unwrap_or_else(|e| panic!("{f:?}: {e}"));
        assert!(v.is_object(), "{f:?}");
    }
    let kinds: Vec<String> = conns
        .iter()
        .map(|f| serde_json::from_slice::<Value>(&std::fs::read(f).unwrap()).unwrap())
        .map(|v| v["kind"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        kinds.iter().any(|k| k == "jpeg") && kinds.iter().any(|k| k == "signaling"),
        "{kinds:?}"
    );
    assert!(gw.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_performance_describe_the_running_gateway() {
    let gw = GatewayProcess::start(&synthetic_config("synthetic_size = \"640x360\"\n"));
    let (mut ws, _) = WsClient::authed(&gw.ws_url(), VIEW_TOKEN).await;
    ws.send(json!({"type":"watch","screen":"0","transport":"jpeg"}))
        .await;
    for _ in 0..3 {
        ws.expect_type("frame").await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let base = gw.base.clone();
    let (status, perf) = tokio::task::spawn_blocking(move || {
        let g = |p: &str| {
            let (s, _, b) = http(
                "GET",
                &format!("{base}{p}"),
                Some(ADMIN_TOKEN),
                None,
                b"",
                &[],
            );
            assert_eq!(s, 200, "{p}");
            serde_json::from_slice::<Value>(&b).unwrap()
        };
        (g("/api/v1/status"), g("/api/v1/performance"))
    })
    .await
    .unwrap();
    assert_eq!(status["source"], "synthetic");
    assert_eq!(status["screens"][0]["width"], 640);
    assert_eq!(status["viewers"]["jpeg"], 1);
    assert!(status["uptime_s"].as_f64().unwrap() > 0.0);
    let kinds: Vec<&str> = status["pipelines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"jpeg"), "{kinds:?}");
    assert!(perf["process"]["rss_bytes"].as_u64().unwrap() > 1_000_000);
    assert!(perf["process"]["cpu_percent"].is_number());
    let score = perf["health"]["score"].as_u64().unwrap();
    assert!(score <= 100);
    assert!(
        ["healthy", "degraded", "unhealthy"].contains(&perf["health"]["status"].as_str().unwrap())
    );
    let jpeg = perf["pipelines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "jpeg")
        .expect("jpeg pipeline");
    assert!(jpeg["encode"]["samples"].as_u64().unwrap() > 0, "{jpeg}");
    assert!(jpeg["encode"]["median_ms"].as_f64().unwrap() > 0.0);
    ws.close().await;
    assert!(gw.stop().success());
}
