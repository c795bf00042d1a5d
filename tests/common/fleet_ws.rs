//! `/ws` helpers of the fleet tests: waiting for a message, the offline notice of a vanished device, JPEG frames.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::clients::{WsClient, WsEvent};

/// Collects `/ws` messages until one satisfies `pred`; panics with everything received after `within`.
pub async fn ws_until(ws: &mut WsClient, within: Duration, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    let (mut seen, mut binary) = (Vec::new(), 0);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        // An explicit check: a steady stream of messages would keep a zero timeout from ever firing.
        let ev = if left.is_zero() {
            None
        } else {
            ws.next_timeout(left).await
        };
        match ev {
            Some(WsEvent::Json(v)) if pred(&v) => return v,
            Some(WsEvent::Json(v)) => seen.push(v),
            Some(WsEvent::Binary(_)) => binary += 1,
            Some(WsEvent::Closed(c, r)) => panic!("/ws closed ({c:?} {r}); messages: {seen:?}"),
            None => panic!(
                "no such /ws message within {within:?}; {binary} binary messages and: {:?}",
                &seen[seen.len().saturating_sub(8)..]
            ),
        }
    }
}

/// The text of a `/ws` message that tells a viewer its screen's device went offline: an `error` whose `message`
/// says so, or a `stopped` whose `reason` does (the viewer page shows either; docs/PROTOCOL.md).
pub fn offline_notice(v: &Value) -> Option<&str> {
    let text = match v["type"].as_str()? {
        "error" => v["message"].as_str()?,
        "stopped" => v["reason"].as_str()?,
        _ => return None,
    };
    text.contains("offline").then_some(text)
}

/// Reads the next JPEG frame pair of a watch; returns the header and the decoded size.
pub async fn next_jpeg(ws: &mut WsClient) -> (Value, (u32, u32)) {
    let header = ws_until(ws, Duration::from_secs(15), |v| v["type"] == "frame").await;
    match ws.next().await {
        WsEvent::Binary(b) => {
            assert_eq!(&b[..2], &[0xFF, 0xD8], "JPEG SOI");
            let img =
                image::load_from_memory_with_format(&b, image::ImageFormat::Jpeg).expect("a JPEG");
            (header, (img.width(), img.height()))
        }
        other => panic!("the frame header must be followed by its JPEG, got {other:?}"),
    }
}

/// The first JPEG frame pair within 10 s for which `pred(header, size)` holds; panics with the last one after.
pub async fn jpeg_where(
    ws: &mut WsClient,
    what: &str,
    pred: impl Fn(&Value, (u32, u32)) -> bool,
) -> (Value, (u32, u32)) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (h, size) = next_jpeg(ws).await;
        if pred(&h, size) {
            return (h, size);
        }
        assert!(
            Instant::now() < deadline,
            "no {what} within 10 s; the last frame: {h} {size:?}"
        );
    }
}
