//! An independent WebRTC stack (aiortc + FFmpeg) watches the synthetic screen through `/ws` and through WHEP, and
//! decodes the H.264 frames: right size, a steady stream, a picture that changes (its barcode advances), and data
//! channel commands acknowledged.

mod common;

use std::time::Duration;

use common::clients::{AiortcPeer, WsClient};
use common::{CONTROL_TOKEN, GatewayProcess, VIEW_TOKEN, synthetic_config};
use serde_json::{Value, json};

fn decoded(events: &[Value]) -> Vec<&Value> {
    events.iter().filter(|e| e["type"] == "frame").collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aiortc_watches_through_ws_and_commands_are_acknowledged() {
    let gw = GatewayProcess::start(&synthetic_config(
        "synthetic_size = \"1280x720\"\nfps = 30\n",
    ));
    let (mut ws, welcome) = WsClient::authed(&gw.ws_url(), CONTROL_TOKEN).await;
    assert_eq!(welcome["role"], "control");
    assert_eq!(welcome["screens"][0]["width"], 1280);
    let mut peer = AiortcPeer::start().await;
    common::clients::watch_webrtc(&mut ws, &mut peer, "0").await;

    let events = peer.collect(Duration::from_secs(3)).await;
    let frames = decoded(&events);
    assert!(
        frames.len() >= 45,
        "at least 15 fps decoded over 3 s, got {}",
        frames.len()
    );
    assert!(
        frames
            .iter()
            .all(|f| f["width"] == 1280 && f["height"] == 720),
        "decoded at 1280x720"
    );
    assert_eq!(
        frames[0]["key"], true,
        "the first decoded frame is a keyframe"
    );
    let stamps: Vec<u64> = frames
        .iter()
        .filter_map(|f| f["barcode_ms"].as_u64())
        .collect();
    assert!(
        stamps.len() >= frames.len() * 9 / 10,
        "barcodes readable in decoded frames"
    );
    assert!(
        stamps.windows(2).all(|w| w[1] >= w[0]),
        "capture times advance"
    );
    assert!(
        stamps.last().unwrap() - stamps[0] >= 2000,
        "the picture changes over the 3 s"
    );

    // Commands on the data channel are acknowledged on the data channel.
    peer.cmd(json!({"cmd":"send","text":json!({"type":"pointer","action":"click","x":0.25,"y":0.5,"id":"c1"}).to_string()})).await;
    let reply = peer.expect("dc_message", Duration::from_secs(5)).await;
    let reply: Value = serde_json::from_str(reply["text"].as_str().unwrap()).unwrap();
    assert_eq!(reply, json!({"type":"ack","id":"c1"}));
    peer.cmd(json!({"cmd":"send","text":"{\"type\":\"pointer\",\"action\":\"move\",\"x\":7,\"y\":0,\"id\":2}"})).await;
    let reply = peer.expect("dc_message", Duration::from_secs(5)).await;
    let reply: Value = serde_json::from_str(reply["text"].as_str().unwrap()).unwrap();
    assert_eq!(reply["type"], "error");
    assert_eq!(reply["code"], "bad_value");
    assert_eq!(reply["id"], 2);

    // A PLI from the receiver produces a keyframe.
    peer.cmd(json!({"cmd":"pli"})).await;
    let events = peer.collect(Duration::from_secs(2)).await;
    assert!(
        decoded(&events).iter().any(|f| f["key"] == true),
        "an IDR follows the PLI"
    );

    ws.send(json!({"type":"stop"})).await;
    ws.send(json!({"type":"ping","id":1})).await;
    ws.expect_type("pong").await;
    peer.close().await;
    ws.close().await;
    assert!(gw.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aiortc_watches_through_whep() {
    let gw = GatewayProcess::start(&synthetic_config("synthetic_size = \"640x360\"\n"));
    let mut peer = AiortcPeer::start().await;
    peer.cmd(json!({"cmd":"create_offer","datachannel":false}))
        .await;
    let offer = peer.expect("offer", Duration::from_secs(20)).await;
    let sdp = offer["sdp"].as_str().unwrap().to_owned();
    let base = gw.base.clone();
    let (status, headers, body) = tokio::task::spawn_blocking(move || {
        common::http(
            "POST",
            &format!("{base}/whep/0"),
            Some(VIEW_TOKEN),
            Some("application/sdp"),
            sdp.as_bytes(),
            &[],
        )
    })
    .await
    .unwrap();
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        common::header(&headers, "content-type"),
        Some("application/sdp")
    );
    let location = common::header(&headers, "location")
        .expect("Location header")
        .to_owned();
    assert!(location.starts_with("/whep/0/"), "{location}");
    // Browser players on other origins may read the answer and its Location.
    assert_eq!(
        common::header(&headers, "access-control-allow-origin"),
        Some("*")
    );
    assert!(
        common::header(&headers, "access-control-expose-headers")
            .is_some_and(|h| h.contains("Location"))
    );
    let answer = String::from_utf8(body).unwrap();
    assert!(
        answer.contains("a=candidate:"),
        "the WHEP answer carries its candidates"
    );
    peer.cmd(json!({"cmd":"answer","sdp":answer})).await;
    let events = peer.collect(Duration::from_secs(4)).await;
    let frames = decoded(&events);
    assert!(
        frames.len() >= 20,
        "frames decoded over WHEP: {}",
        frames.len()
    );
    assert!(
        frames
            .iter()
            .all(|f| f["width"] == 640 && f["height"] == 360)
    );

    // The WHEP session is listed, then DELETE ends it.
    let base = gw.base.clone();
    let loc = location.clone();
    let (status, _, _) = tokio::task::spawn_blocking(move || {
        common::http(
            "DELETE",
            &format!("{base}{loc}"),
            Some(VIEW_TOKEN),
            None,
            b"",
            &[],
        )
    })
    .await
    .unwrap();
    assert_eq!(status, 200);
    let (status, _, body) = common::http_async(
        "GET",
        &format!("{}/api/v1/sessions", gw.base),
        Some(common::ADMIN_TOKEN),
        &[],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["sessions"],
        json!([]),
        "DELETE ended the WHEP session"
    );
    let base = gw.base.clone();
    let (status, _, _) = tokio::task::spawn_blocking(move || {
        common::http(
            "DELETE",
            &format!("{base}{location}"),
            Some(VIEW_TOKEN),
            None,
            b"",
            &[],
        )
    })
    .await
    .unwrap();
    assert_eq!(status, 404, "the resource is gone");
    peer.close().await;

    // Bad offers and bad tokens are refused.
    let base = gw.base.clone();
    let (s1, s2, s3, s4) = tokio::task::spawn_blocking(move || {
        let url = format!("{base}/whep/0");
        (
            common::http("POST", &url, None, Some("application/sdp"), b"v=0", &[]).0,
            common::http(
                "POST",
                &url,
                Some("nope-nope-nope"),
                Some("application/sdp"),
                b"v=0",
                &[],
            )
            .0,
            common::http(
                "POST",
                &url,
                Some(VIEW_TOKEN),
                Some("application/sdp"),
                b"not sdp",
                &[],
            )
            .0,
            common::http(
                "POST",
                &format!("{base}/whep/9"),
                Some(VIEW_TOKEN),
                Some("application/sdp"),
                b"v=0",
                &[],
            )
            .0,
        )
    })
    .await
    .unwrap();
    assert_eq!((s1, s2, s3, s4), (401, 401, 400, 404));

    // A CORS preflight, as a browser player on another origin sends before its POST.
    let (status, headers, _) = common::http_async(
        "OPTIONS",
        &format!("{}/whep/0", gw.base),
        None,
        &[
            ("Origin", "https://player.example"),
            ("Access-Control-Request-Method", "POST"),
            (
                "Access-Control-Request-Headers",
                "authorization, content-type",
            ),
        ],
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        common::header(&headers, "access-control-allow-origin"),
        Some("*")
    );
    let methods = common::header(&headers, "access-control-allow-methods").unwrap_or_default();
    assert!(
        methods.contains("POST") && methods.contains("DELETE"),
        "{methods}"
    );
    let allowed = common::header(&headers, "access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(allowed.contains("authorization") && allowed.contains("content-type"));
    assert!(gw.stop().success());
}
