//! The viewer page over WebRTC in headless Chromium against a gateway on the synthetic screen (1280×720 @ 30):
//! H.264 constrained baseline is negotiated, frames keep being decoded (≥ 25 fps), the picture changes, and a
//! real mouse click and real typing on the page reach the screen — read back from the decoded video's echo
//! barcodes. The browser side is `tests/e2e/viewer_webrtc.mjs`; loopback ICE uses the page's `e2e=1` hook.
//!
//! Run: `cargo test -p sightline --test browser_webrtc -- --nocapture` (a screenshot lands in
//! `target/tmp/screenshots/viewer-desktop.png`).

mod common;

use std::time::Duration;

use common::{CONTROL_TOKEN, GatewayProcess, last_json, run_node, synthetic_config};

fn shots_dir() -> String {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).expect("create the screenshot directory");
    dir.display().to_string()
}

#[test]
fn viewer_plays_h264_and_carries_a_real_click_and_typing() {
    let gw = GatewayProcess::start(&synthetic_config(
        "synthetic_size = \"1280x720\"\nfps = 30\n",
    ));
    let shots = shots_dir();
    let out = run_node(
        "viewer_webrtc.mjs",
        &[
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
    eprintln!("viewer_webrtc: {r:#}");

    assert_eq!(r["codec"], "video/H264", "negotiated codec");
    let fmtp = r["fmtp"].as_str().unwrap_or_default().to_ascii_lowercase();
    assert!(
        fmtp.contains("profile-level-id=42e01f"),
        "constrained baseline 42e01f expected, fmtp {fmtp:?}"
    );
    assert!(
        fmtp.contains("packetization-mode=1"),
        "packetization-mode=1 expected, fmtp {fmtp:?}"
    );
    assert_eq!(r["frameSize"], "1280x720");

    let fps = r["fps"].as_f64().expect("fps");
    assert!(
        fps >= 25.0,
        "decoded {fps:.1} fps over ~3 s, expected at least 25"
    );
    let advance = r["barcodeAdvanceMs"].as_f64().expect("barcode advance");
    assert!(
        advance >= 500.0,
        "the picture's capture time advanced only {advance} ms in ~1 s"
    );

    let click = &r["click"];
    assert_eq!(
        click["pressesAfter"].as_u64(),
        click["pressesBefore"].as_u64().map(|n| n + 1),
        "one click = one button press on the screen: {click}"
    );
    for axis in ["x", "y"] {
        let got = click["pointer"][axis].as_i64().expect("pointer");
        let want = click["target"][axis].as_i64().expect("target");
        assert!(
            (got - want).abs() <= 1,
            "pointer {axis} {got}, clicked pixel {want}"
        );
    }

    let typed = &r["typed"];
    assert_eq!(
        typed["hash"], typed["expectedHash"],
        "typed buffer hash: {typed}"
    );
    assert_eq!(
        typed["chars"], typed["expectedChars"],
        "typed buffer length: {typed}"
    );
    assert_eq!(
        r["dataChannelOpen"], true,
        "commands should travel on the data channel"
    );
    assert_eq!(
        r["pageErrors"].as_array().map(Vec::len),
        Some(0),
        "page errors: {}",
        r["pageErrors"]
    );
    gw.stop();
}
