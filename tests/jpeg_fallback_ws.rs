//! The JPEG-over-WebSocket fallback with a plain WebSocket client: frame pairs decode as JPEG at the announced
//! size, `max_width` is honoured, HQ frames arrive at full resolution while streaming and while paused, pause /
//! resume / stop work, every bad value gets an error and the socket stays usable, and a slow reader neither grows
//! the gateway's memory nor slows other clients.

mod common;

use std::time::{Duration, Instant};

use common::clients::{WsClient, WsEvent};
use common::{CONTROL_TOKEN, GatewayProcess, VIEW_TOKEN, synthetic_config};
use serde_json::{Value, json};

/// Reads the next frame pair: the `frame` header and the JPEG that follows it.
async fn next_frame(ws: &mut WsClient) -> (Value, Vec<u8>) {
    let header = loop {
        match ws.next().await {
            WsEvent::Json(v) if v["type"] == "frame" => break v,
            WsEvent::Json(v) if v["type"] == "error" => panic!("unexpected error {v}"),
            WsEvent::Json(_) => {}
            WsEvent::Binary(_) => panic!("a binary message without a frame header"),
            WsEvent::Closed(c, r) => panic!("closed {c:?} {r}"),
        }
    };
    match ws.next().await {
        WsEvent::Binary(b) => (header, b),
        other => panic!("the frame header must be followed by its JPEG, got {other:?}"),
    }
}

fn decode(jpeg: &[u8]) -> (u32, u32) {
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "JPEG starts with SOI");
    assert_eq!(&jpeg[jpeg.len() - 2..], &[0xFF, 0xD9], "JPEG ends with EOI");
    let img = image::load_from_memory_with_format(jpeg, image::ImageFormat::Jpeg)
        .expect("decodes as JPEG");
    (img.width(), img.height())
}

/// Frames that arrive within `dur` (headers counted; their JPEGs are consumed too).
async fn count_frames(ws: &mut WsClient, dur: Duration) -> usize {
    let deadline = tokio::time::Instant::now() + dur;
    let mut n = 0;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match ws.next_timeout(left).await {
            Some(WsEvent::Json(v)) if v["type"] == "frame" => n += 1,
            Some(WsEvent::Closed(c, r)) => panic!("closed {c:?} {r}"),
            Some(_) => {}
            None => return n,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jpeg_stream_hq_frames_and_controls() {
    let gw = GatewayProcess::start(&synthetic_config("synthetic_size = \"1280x720\"\n"));
    let (mut ws, _) = WsClient::authed(&gw.ws_url(), VIEW_TOKEN).await;

    ws.send(json!({"type":"watch","screen":"0","transport":"jpeg","fps":10,"quality":40,"max_width":640})).await;
    let mut last_seq = 0;
    for _ in 0..5 {
        let (h, jpeg) = next_frame(&mut ws).await;
        assert_eq!(h["hq"], false);
        assert_eq!(h["screen"], "0");
        assert_eq!(
            (h["width"].as_u64().unwrap(), h["height"].as_u64().unwrap()),
            (640, 360),
            "max_width honoured"
        );
        assert_eq!(decode(&jpeg), (640, 360), "the JPEG has the announced size");
        let seq = h["seq"].as_u64().unwrap();
        assert!(seq > last_seq, "sequence numbers grow");
        last_seq = seq;
        let age = now_ms() as i64 - h["captured_at_ms"].as_i64().unwrap();
        assert!(
            (0..5000).contains(&age),
            "captured_at_ms is a recent wall-clock time: {age}"
        );
    }

    // Defaults from [preview] when the watch names none.
    ws.send(json!({"type":"watch","screen":"0","transport":"jpeg"}))
        .await;
    let (h, jpeg) = loop {
        let (h, j) = next_frame(&mut ws).await;
        if h["width"] == 960 {
            break (h, j);
        }
    };
    assert_eq!(decode(&jpeg), (960, 540));
    assert_eq!(h["height"], 540);

    // An HQ frame at full resolution while streaming.
    ws.send(json!({"type":"request_hq_frame","id":"hq1","quality":90}))
        .await;
    let (h, jpeg) = loop {
        let (h, j) = next_frame(&mut ws).await;
        if h["hq"] == true {
            break (h, j);
        }
    };
    assert_eq!(h["id"], "hq1");
    assert_eq!(decode(&jpeg), (1280, 720));

    // Paused: no stream frames, but an HQ frame still arrives.
    ws.send(json!({"type":"pause"})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    while ws.next_timeout(Duration::from_millis(50)).await.is_some() {}
    assert_eq!(
        count_frames(&mut ws, Duration::from_millis(1200)).await,
        0,
        "no frames while paused"
    );
    ws.send(json!({"type":"request_hq_frame","id":7})).await;
    let (h, jpeg) = next_frame(&mut ws).await;
    assert_eq!((h["hq"].clone(), h["id"].clone()), (json!(true), json!(7)));
    assert_eq!(decode(&jpeg), (1280, 720));
    ws.send(json!({"type":"resume"})).await;
    assert!(
        count_frames(&mut ws, Duration::from_millis(1500)).await >= 5,
        "frames again after resume"
    );

    // Stopped: nothing more; an HQ frame still comes, of the primary screen unless the request names one.
    ws.send(json!({"type":"stop"})).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    while ws.next_timeout(Duration::from_millis(50)).await.is_some() {}
    assert_eq!(
        count_frames(&mut ws, Duration::from_millis(800)).await,
        0,
        "no frames after stop"
    );
    ws.send(json!({"type":"request_hq_frame","id":"x"})).await;
    let (h, jpeg) = next_frame(&mut ws).await;
    assert_eq!(
        (h["id"].clone(), h["hq"].clone()),
        (json!("x"), json!(true))
    );
    assert_eq!(h["screen"], "0");
    assert_eq!(decode(&jpeg), (1280, 720));
    ws.send(json!({"type":"request_hq_frame","id":"z","screen":"9"}))
        .await;
    let e = ws.expect_type("error").await;
    assert_eq!(
        (e["code"].clone(), e["id"].clone()),
        (json!("unknown_screen"), json!("z"))
    );
    ws.send(json!({"type":"request_hq_frame","id":"y","screen":"0","quality":50}))
        .await;
    let (h, jpeg) = next_frame(&mut ws).await;
    assert_eq!(h["id"], "y");
    assert_eq!(
        decode(&jpeg),
        (1280, 720),
        "an HQ frame without a running stream"
    );
    ws.close().await;
    assert!(gw.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_values_get_errors_and_the_socket_stays_usable() {
    let gw = GatewayProcess::start(&synthetic_config(""));
    let (mut ws, _) = WsClient::authed(&gw.ws_url(), VIEW_TOKEN).await;
    let bad = [
        (
            json!({"type":"watch","screen":"0","transport":"jpeg","quality":0}),
            "bad_value",
        ),
        (
            json!({"type":"watch","screen":"0","transport":"jpeg","quality":101}),
            "bad_value",
        ),
        (
            json!({"type":"watch","screen":"0","transport":"jpeg","fps":0}),
            "bad_value",
        ),
        (
            json!({"type":"watch","screen":"0","transport":"jpeg","fps":61}),
            "bad_value",
        ),
        (
            json!({"type":"watch","screen":"0","transport":"jpeg","max_width":15}),
            "bad_value",
        ),
        (
            json!({"type":"watch","screen":"0","transport":"jpeg","max_width":8193}),
            "bad_value",
        ),
        (
            json!({"type":"watch","screen":"nope","transport":"jpeg"}),
            "unknown_screen",
        ),
        (
            json!({"type":"request_hq_frame","screen":"0","quality":0}),
            "bad_value",
        ),
        (
            json!({"type":"request_hq_frame","screen":"nope"}),
            "unknown_screen",
        ),
        (json!({"type":"teleport"}), "unknown_type"),
        (json!({"type":"pause"}), "not_watching"),
        (
            json!({"type":"pointer","action":"click","x":0.5,"y":0.5}),
            "forbidden",
        ),
        (json!({"type":"auth","token":VIEW_TOKEN}), "invalid_state"),
    ];
    for (msg, code) in bad {
        ws.send(msg.clone()).await;
        let e = ws.expect_type("error").await;
        assert_eq!(e["code"], code, "{msg} → {e}");
        assert!(!e["message"].as_str().unwrap().is_empty());
    }
    ws.send_text("{not json").await;
    assert_eq!(ws.expect_type("error").await["code"], "bad_json");
    ws.send_binary(vec![1, 2, 3]).await;
    assert_eq!(ws.expect_type("error").await["code"], "bad_message");
    ws.send(json!({"type":"ping","id":"still-here"})).await;
    assert_eq!(ws.expect_type("pong").await["id"], "still-here");
    // After all that, a valid watch works.
    ws.send(json!({"type":"watch","screen":"0","transport":"jpeg","max_width":320}))
        .await;
    let (h, jpeg) = next_frame(&mut ws).await;
    assert_eq!(decode(&jpeg), (320, 180));
    assert_eq!(h["width"], 320);
    ws.close().await;
    assert!(gw.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_work_over_the_jpeg_socket_and_reach_the_screen() {
    let gw = GatewayProcess::start(&synthetic_config(""));
    let (mut ws, _) = WsClient::authed(&gw.ws_url(), CONTROL_TOKEN).await;
    ws.send(json!({"type":"watch","screen":"0","transport":"jpeg"}))
        .await;
    next_frame(&mut ws).await;
    ws.send(json!({"type":"pointer","action":"click","x":0.5,"y":0.5,"id":1}))
        .await;
    assert_eq!(ws.expect_type("ack").await["id"], 1);
    ws.send(json!({"type":"text","text":"hi","id":2})).await;
    assert_eq!(ws.expect_type("ack").await["id"], 2);
    ws.send(json!({"type":"keyframe","id":3})).await;
    assert_eq!(
        ws.expect_type("error").await["code"],
        "not_watching",
        "keyframe needs a WebRTC watch"
    );
    ws.close().await;
    assert!(gw.stop().success());
}

/// A reader that takes one message per second for 30 s: the gateway's memory does not grow, and another client
/// keeps its frame rate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_costs_bounded_memory_and_does_not_slow_others() {
    let gw = GatewayProcess::start(&synthetic_config("synthetic_size = \"1280x720\"\n"));
    // Full-size, high-quality frames (~100 KB each) at 30 fps: 3 MB/s the slow reader never takes.
    let (mut slow, _) = WsClient::authed(&gw.ws_url(), VIEW_TOKEN).await;
    slow.send(json!({"type":"watch","screen":"0","transport":"jpeg","fps":30,"quality":95,"max_width":1280}))
        .await;
    let (mut fast, _) = WsClient::authed(&gw.ws_url(), VIEW_TOKEN).await;
    fast.send(json!({"type":"watch","screen":"0","transport":"jpeg","fps":10,"quality":50,"max_width":640}))
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_start = gw.rss_kib();
    let started = Instant::now();
    let mut fast_frames = 0usize;
    let mut slow_messages = 0usize;
    let mut rss_max = rss_start;
    while started.elapsed() < Duration::from_secs(30) {
        let tick = tokio::time::Instant::now() + Duration::from_secs(1);
        fast_frames += count_frames(&mut fast, Duration::from_millis(950)).await;
        if slow.next_timeout(Duration::from_millis(20)).await.is_some() {
            slow_messages += 1;
        }
        rss_max = rss_max.max(gw.rss_kib());
        tokio::time::sleep_until(tick).await;
    }
    let growth_kib = rss_max.saturating_sub(rss_start);
    eprintln!(
        "slow reader: {slow_messages} messages read; fast client {fast_frames} frames in 30 s; RSS {rss_start} KiB → max {rss_max} KiB (+{growth_kib} KiB)"
    );
    assert!(
        fast_frames >= 240,
        "the fast client keeps ~10 fps: {fast_frames} frames in 30 s"
    );
    // Bound: socket buffers plus a few frames in flight, far below the 90 MB the slow reader was offered.
    assert!(growth_kib < 24 * 1024, "memory grew by {growth_kib} KiB");
    slow.close().await;
    fast.close().await;
    assert!(gw.stop().success());
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}
