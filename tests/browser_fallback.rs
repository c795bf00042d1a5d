//! The viewer page's JPEG fallback (issue 4) in headless Chromium against a gateway on the synthetic screen
//! (`tests/e2e/viewer_fallback.mjs`):
//! - without `RTCPeerConnection` the page falls back at once, draws changing JPEG frames, says why, carries a
//!   real click and typing over the WebSocket, and shows a full-resolution "sharp still" (stream paused);
//! - when ICE cannot connect (the page's peer connections are limited to relay candidates and there is no TURN
//!   server), it falls back within the gateway's `fallback_timeout_ms` (2 s here), and "Try WebRTC again" tries
//!   again and falls back again.
//!
//! Run: `cargo test -p sightline --test browser_fallback -- --nocapture`

mod common;

use std::time::Duration;

use common::{CONTROL_TOKEN, GatewayProcess, last_json, run_node, synthetic_config};
use serde_json::Value;

/// The gateway's `fallback_timeout_ms` in these tests.
const FALLBACK_MS: f64 = 2000.0;

fn shots_dir() -> String {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).expect("create the screenshot directory");
    dir.display().to_string()
}

fn run_mode(mode: &str) -> Value {
    let config = synthetic_config(&format!(
        "synthetic_size = \"1280x720\"\n[webrtc]\nfallback_timeout_ms = {FALLBACK_MS}\n"
    ));
    let gw = GatewayProcess::start(&config);
    let shots = shots_dir();
    let out = run_node(
        "viewer_fallback.mjs",
        &[
            "--mode",
            mode,
            "--base",
            &gw.base,
            "--token",
            CONTROL_TOKEN,
            "--width",
            "1280",
            "--height",
            "720",
            "--shots",
            &shots,
        ],
        Duration::from_secs(60),
    );
    let r = last_json(&out);
    eprintln!("viewer_fallback {mode}: {r:#}");
    gw.stop();
    r
}

fn assert_shows_changing_frames(r: &Value) {
    assert_eq!(
        r["banner"]["visible"], true,
        "the fallback must be announced: {}",
        r["banner"]
    );
    assert!(
        r["banner"]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("JPEG"),
        "banner text {}",
        r["banner"]["text"]
    );
    assert!(
        r["status"].as_str().unwrap_or_default().contains("JPEG"),
        "status {}",
        r["status"]
    );
    assert_eq!(
        r["hqButtonVisible"], true,
        "the sharp-still button belongs to the fallback"
    );
    let drawn = r["framesDrawnIn1500ms"].as_u64().expect("frames drawn");
    assert!(drawn >= 5, "only {drawn} JPEG frames drawn in 1.5 s");
    let advance = r["barcodeAdvanceMs"].as_f64().expect("barcode advance");
    assert!(
        advance >= 500.0,
        "the canvas picture advanced only {advance} ms in 1.5 s"
    );
    assert_eq!(
        r["pageErrors"].as_array().map(Vec::len),
        Some(0),
        "page errors: {}",
        r["pageErrors"]
    );
}

/// A click on the fallback canvas reached the synthetic screen's input echo, at the clicked pixel.
fn assert_click_landed(r: &Value) {
    let click = &r["click"];
    assert_eq!(
        click["pressesAfter"].as_u64(),
        click["pressesBefore"].as_u64().map(|n| n + 1),
        "click {click}"
    );
    assert_eq!(
        click["pointer"], click["target"],
        "the click must land on the clicked pixel"
    );
}

#[test]
fn without_rtcpeerconnection_the_page_falls_back_and_stays_usable() {
    let r = run_mode("no-rtc");
    assert!(
        r["fallbackReason"]
            .as_str()
            .unwrap_or_default()
            .contains("RTCPeerConnection"),
        "reason {}",
        r["fallbackReason"]
    );
    assert_shows_changing_frames(&r);
    assert_eq!(
        r["retryButtonVisible"], false,
        "retrying WebRTC makes no sense without WebRTC"
    );

    assert_click_landed(&r);
    assert_eq!(
        r["typed"]["hash"], r["typed"]["expectedHash"],
        "typed {}",
        r["typed"]
    );

    let hq = &r["hq"];
    assert_eq!(
        (hq["width"].as_u64(), hq["height"].as_u64()),
        (Some(1280), Some(720)),
        "sharp still {hq}"
    );
    assert_eq!(
        hq["presses"], r["click"]["pressesAfter"],
        "the still shows the current screen"
    );
    assert_eq!(
        r["framesDrawnWhileStill"], 0,
        "the stream pauses while the still is shown"
    );
}

#[test]
fn when_ice_cannot_connect_the_page_falls_back_within_the_timeout() {
    let r = run_mode("ice-blocked");
    assert!(
        r["fallbackReason"]
            .as_str()
            .unwrap_or_default()
            .contains("no WebRTC connection within 2.0 s"),
        "reason {}",
        r["fallbackReason"]
    );
    assert_shows_changing_frames(&r);
    assert_click_landed(&r);
    assert_eq!(r["retryButtonVisible"], true);
    // The watchdog runs on the page's clock from the WebRTC watch's start; allow for timer slack on a busy
    // machine, but not for a second timeout period.
    let after = r["fallbackAfterMs"].as_f64().expect("fallback time");
    assert!(
        (FALLBACK_MS..FALLBACK_MS + 1500.0).contains(&after),
        "fell back after {after} ms, timeout {FALLBACK_MS} ms"
    );
    let retry = &r["retry"];
    assert_eq!(retry["triedWebrtc"], true, "retry {retry}");
    assert_eq!(retry["fellBackAgain"], true, "retry {retry}");
    let again = retry["afterMs"].as_f64().expect("retry time");
    assert!(
        (FALLBACK_MS..FALLBACK_MS + 1500.0).contains(&again),
        "second fallback after {again} ms"
    );
}
