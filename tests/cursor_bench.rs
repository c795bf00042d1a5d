//! Benchmark, not a test (ignored; run by `scripts/bench-cursor.sh`): cursor motion-to-photon on the viewer page
//! with the pointer as an overlay versus painted into the video (issue 13). A real gateway captures a 1920×1080
//! Xvfb screen (plain background), headless Chromium watches it over WebRTC, and `tests/e2e/cursor_latency.mjs`
//! moves the pointer by XTest (`tests/e2e/xtest_mover.py`) between two points and times the first frame that shows it there: the overlay's
//! placement (`[capture] cursor = "overlay"`) or cursor pixels in a presented video frame (`cursor = "video"`).
//! Both modes run in the same invocation, one after the other, against fresh gateways on the same display.
//!
//! The figures are judged by people, never asserted (the machine may be shared; the load average is printed);
//! the run only checks that each mode measured its moves. The encoded frames and bytes pointer-only motion costs
//! come from `cargo bench -p sightline-media --bench cursor` (the script runs both).
//!
//! Environment: `SIGHTLINE_BENCH_MOVES` (default 40 per mode).
#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use common::xvfb::Xvfb;
use common::{CONTROL_TOKEN, GatewayProcess, last_json, run_node};
use serde_json::Value;

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn measure(xvfb: &Xvfb, mode: &str, moves: u32) -> Value {
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[auth]\ncontrollers = [\"{CONTROL_TOKEN}\"]\n[capture]\nsource = \"x11\"\n\
         display = \"{}\"\nfps = 30\ncursor = \"{mode}\"\n",
        xvfb.display()
    );
    let gw = GatewayProcess::start(&config);
    let out = run_node(
        "cursor_latency.mjs",
        &[
            "--base",
            &gw.base,
            "--token",
            CONTROL_TOKEN,
            "--mode",
            mode,
            "--display",
            &xvfb.display(),
            "--moves",
            &moves.to_string(),
        ],
        Duration::from_secs(60 + u64::from(moves) * 3),
    );
    gw.stop();
    last_json(&out)
}

#[test]
#[ignore = "benchmark: scripts/bench-cursor.sh"]
fn cursor_motion_to_photon_overlay_versus_video() {
    let moves: u32 = std::env::var("SIGHTLINE_BENCH_MOVES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let xvfb = Xvfb::start();
    xvfb.run(0, "xsetroot", &["-solid", "#336699"]);
    let load_before = load_average();
    let video = measure(&xvfb, "video", moves);
    let overlay = measure(&xvfb, "overlay", moves);
    let stat = |r: &Value, s: &str| r["motionToPhotonMs"][s].as_f64().unwrap_or(f64::NAN);
    println!(
        "== cursor motion-to-photon, 1920x1080 Xvfb, WebRTC to headless Chromium, {moves} moves per mode =="
    );
    println!("  mode       median ms    p95 ms    min ms    lost");
    for (name, r) in [("video", &video), ("overlay", &overlay)] {
        println!(
            "  {name:<9} {:>9.1} {:>9.1} {:>9.1} {:>7}",
            stat(r, "median"),
            stat(r, "p95"),
            stat(r, "min"),
            r["lost"]
        );
    }
    println!(
        "  overlay/video median: {:.2}   (from the XTest move's XSync; from before it: video {:.1}, overlay {:.1})",
        stat(&overlay, "median") / stat(&video, "median"),
        video["fromMoveStartMs"]["median"]
            .as_f64()
            .unwrap_or(f64::NAN),
        overlay["fromMoveStartMs"]["median"]
            .as_f64()
            .unwrap_or(f64::NAN),
    );
    println!("  load average {load_before} → {}", load_average());
    for (name, r) in [("video", &video), ("overlay", &overlay)] {
        assert!(
            r["motionToPhotonMs"]["n"].as_u64().unwrap_or(0) >= u64::from(moves) / 2,
            "{name}: too few moves measured: {r}"
        );
    }
}
