//! Benchmark, not a timed test: first-frame time and glass-to-glass latency of the viewer page over WebRTC in
//! headless Chromium on loopback, at 1280×720 and 1920×1080, 30 fps (`tests/e2e/latency.mjs`). It prints the
//! figures and only checks that they were measured; the targets (first frame ≤ 400 ms median, latency median
//! ≤ 25 ms and p95 ≤ 40 ms at 1080p) are judged by people reading them, never asserted.
//!
//! Latency is given at three points of each presented frame, all against the capture time the synthetic screen
//! draws into the frame's top barcode (`requestVideoFrameCallback` metadata): *received* (the frame's last packet
//! arrived), *presented* (handed to the compositor) and *expected display* (Chromium's estimate of when it is on
//! the glass). Received and presented are measured, so they are the ones checked for sanity. Expected display is
//! an estimate that follows the headless compositor's vsync phase: usually after presentation, but seen up to a
//! frame before it when the compositor runs late (median -0.2 ms, min -1.1 ms under load 3 on this machine), so it
//! is printed and only checked to be a number. The load average is printed too: the machine may be shared, and
//! figures taken under load say so.
//!
//! Run: `cargo test -p sightline --release --test browser_latency -- --nocapture --test-threads=1`
//! (a release gateway gives the figures that matter; debug builds measure the unoptimised gateway).

mod common;

use std::sync::Mutex;
use std::time::Duration;

use common::{GatewayProcess, VIEW_TOKEN, last_json, run_node, synthetic_config};
use serde_json::Value;

/// The two runs share two cores with the gateway: never measure them at the same time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// First-frame runs per kind (cold and warm). Debug builds (the test suite) measure a few, to keep the measuring
/// code working; the figures come from release runs.
const RUNS: &str = if cfg!(debug_assertions) { "3" } else { "10" };
/// Presented frames measured for latency.
const FRAMES: &str = if cfg!(debug_assertions) { "60" } else { "300" };

fn measure(size: &str) -> Value {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let gw = GatewayProcess::start(&synthetic_config(&format!(
        "synthetic_size = \"{size}\"\nfps = 30\n"
    )));
    let out = run_node(
        "latency.mjs",
        &[
            "--base", &gw.base, "--token", VIEW_TOKEN, "--label", size, "--runs", RUNS, "--frames",
            FRAMES,
        ],
        Duration::from_secs(120),
    );
    gw.stop();
    let r = last_json(&out);
    println!("latency {size}: {r:#}");
    let ff = |kind: &str, stat: &str| r[kind]["firstFrameMs"][stat].as_f64().unwrap_or(f64::NAN);
    let stat = |what: &str, stat: &str| latency(&r, what, stat);
    println!(
        "SUMMARY {size}: first frame cold median {:.0} ms p95 {:.0} ms | warm median {:.0} ms p95 {:.0} ms | \
         capture→expected display median {:.1} ms p95 {:.1} ms, capture→presented median {:.1} ms p95 {:.1} ms, \
         capture→received median {:.1} ms p95 {:.1} ms, over {} frames | decode {:.1} ms/frame, jitter buffer \
         {:.1} ms | load average {} → {}",
        ff("cold", "median"),
        ff("cold", "p95"),
        ff("warm", "median"),
        ff("warm", "p95"),
        stat("glassToGlassMs", "median"),
        stat("glassToGlassMs", "p95"),
        stat("presentedMs", "median"),
        stat("presentedMs", "p95"),
        stat("receivedMs", "median"),
        stat("receivedMs", "p95"),
        r["latency"]["frames"],
        r["decoder"]["decodeMsPerFrame"]
            .as_f64()
            .unwrap_or(f64::NAN),
        r["decoder"]["jitterBufferMs"].as_f64().unwrap_or(f64::NAN),
        r["loadAverageAtStart"],
        r["loadAverageAtEnd"],
    );
    r
}

/// One latency figure of the page's report (`what`: receivedMs, presentedMs, glassToGlassMs); NaN when absent.
fn latency(r: &Value, what: &str, stat: &str) -> f64 {
    r["latency"][what][stat].as_f64().unwrap_or(f64::NAN)
}

fn assert_measured(r: &Value, size: &str) {
    let want: Vec<u64> = size.split('x').map(|n| n.parse().expect("size")).collect();
    assert_eq!(
        r["latency"]["frameSize"],
        format!("{}x{}", want[0], want[1]),
        "decoded size"
    );
    for kind in ["cold", "warm"] {
        let n = r[kind]["firstFrameMs"]["n"].as_u64().unwrap_or(0);
        let runs: u64 = RUNS.parse().expect("a number");
        assert!(n >= runs, "{kind}: {n} of {runs} first-frame runs measured");
        let median = r[kind]["firstFrameMs"]["median"]
            .as_f64()
            .unwrap_or(f64::NAN);
        assert!(
            median.is_finite() && median > 0.0,
            "{kind}: first frame median {median}"
        );
    }
    let frames = r["latency"]["glassToGlassMs"]["n"].as_u64().unwrap_or(0);
    let want: u64 = FRAMES.parse().expect("a number");
    assert!(frames >= want, "{frames} of {want} latency samples");
    for what in ["receivedMs", "presentedMs"] {
        for stat in ["median", "p95"] {
            let v = latency(r, what, stat);
            // Same host, same clock: a negative or absurd latency means the measurement itself is broken.
            assert!(v.is_finite() && v > 0.0 && v < 5000.0, "{what} {stat} {v}");
        }
    }
    let display = latency(r, "glassToGlassMs", "median");
    assert!(display.is_finite(), "expected display median {display}");
}

#[test]
fn latency_and_first_frame_1280x720() {
    let r = measure("1280x720");
    assert_measured(&r, "1280x720");
}

#[test]
fn latency_and_first_frame_1920x1080() {
    let r = measure("1920x1080");
    assert_measured(&r, "1920x1080");
}
