//! Benchmark, not a test (ignored; run by `scripts/bench-fleet.sh`): what the hub relay of issue 15 costs.
//!
//! 1. **Glass-to-glass added by the hub.** A device (`sightline device`, synthetic 1280×720 at 30 fps, with
//!    `[hub] local_server = true` so it also serves its own viewer page) and a hub, both on loopback. Two headless
//!    Chromium browsers watch the same screen at the same time — one on the device's page (direct), one on the
//!    hub's page (`<device id>/0`, relayed) — over the same windows, for several rounds
//!    (`tests/e2e/fleet_latency.mjs`). Latency per frame from the capture time in the synthetic screen's top
//!    barcode to the frame received, to the decoded frame presented (the headline), and to Chromium's expected
//!    display time (which adds each headless browser's own vsync phase, up to a frame apart). Printed: p50/p95 of
//!    each path and the added p50 (target ≤ 5 ms).
//! 2. **Hub CPU.** A second hub and device (congestion control off on the hub, so every viewer gets the same
//!    top-tier stream and the hub keeps one upstream): the hub's CPU (`/proc/PID/stat` utime + stime) over a fixed
//!    window with the device connected and nobody watching, then with 1, 2 and 4 light WebRTC viewers of the remote
//!    screen (`tests/e2e/light_viewers.py`: aiortc peers that count packets and decode nothing). Printed: hub ms
//!    of CPU per second per relayed stream (1 viewer − idle) and per extra viewer, with the device's CPU beside
//!    it (it encodes once, whatever the number of hub viewers).
//!
//! Figures are printed, never asserted (the machine may be shared: the load average is printed); the benchmark
//! only checks that every measurement happened (samples, frames at each viewer).
//!
//! Environment (the script's flags set them): `SIGHTLINE_BENCH_SECONDS` (CPU window per step, default 10),
//! `SIGHTLINE_BENCH_VIEWERS` (default `1,2,4`), `SIGHTLINE_BENCH_LATENCY_ROUNDS` (default 6; 0 skips the latency
//! probe), `SIGHTLINE_BENCH_LATENCY_SECONDS` (per round, default 5).
#![cfg(target_os = "linux")]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::fleet::{DeviceProcess, DeviceSpec, ONLINE_TIMEOUT, hub_config, port_of};
use common::janus::{clock_ticks_per_second, cpu_ticks_of};
use common::light_viewers::{LightViewers, env_or, light_viewers_command, load_average};
use common::{ADMIN_TOKEN, GatewayProcess, VIEW_TOKEN, http, last_json, run_node};
use serde_json::Value;

/// The device's screen.
const SIZE: (u32, u32) = (1280, 720);
/// CPU is sampled in slices of this length; the figure is the mean over the window.
const SLICE: Duration = Duration::from_secs(2);
/// After every viewer got its first frame: joins (IDRs, DTLS) settle before measuring.
const SETTLE: Duration = Duration::from_secs(3);
/// Longest the light viewers may take to all receive a frame.
const READY_TIMEOUT: Duration = Duration::from_secs(90);
/// Time for the hub to notice viewers left (and close the upstream) before the next step.
const DRAIN: Duration = Duration::from_secs(3);
/// The target for the added latency, ms (p50).
const TARGET_ADDED_MS: f64 = 5.0;

fn verdict(ok: bool) -> &'static str {
    if ok { "(met)" } else { "(NOT met)" }
}

/// A hub on loopback and a device dialling it; the device's id once it is online.
fn hub_and_device(hub_extra: &str, local_server: bool) -> (GatewayProcess, DeviceProcess, String) {
    let hub = GatewayProcess::start(&hub_config("", hub_extra));
    let mut spec = DeviceSpec::new("bench-device", SIZE.0, SIZE.1);
    spec.local_server = local_server;
    let url = format!("ws://127.0.0.1:{}", port_of(&hub.addr));
    let mut device = DeviceProcess::start_on_host(spec, &url);
    let id = device.wait_id();
    let deadline = Instant::now() + ONLINE_TIMEOUT;
    loop {
        let (status, _, body) = http(
            "GET",
            &format!("{}/api/v1/devices/{id}", hub.base),
            Some(ADMIN_TOKEN),
            None,
            b"",
            &[],
        );
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if status == 200 && v["online"] == true {
            break;
        }
        device.assert_running();
        assert!(
            Instant::now() < deadline,
            "the device never came online at the hub: {status} {}\n{}",
            String::from_utf8_lossy(&body),
            device.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (hub, device, id)
}

/// Capture → decoded frame presented on both paths: (direct p50, hub p50).
fn latency(rounds: u32, seconds: u32) -> (f64, f64) {
    let (hub, mut device, id) = hub_and_device("", true);
    let direct = device.local_base();
    let out = run_node(
        "fleet_latency.mjs",
        &[
            "--direct",
            &direct,
            "--hub",
            &hub.base,
            "--token",
            VIEW_TOKEN,
            "--hub-screen",
            &format!("{id}/0"),
            "--rounds",
            &rounds.to_string(),
            "--seconds",
            &seconds.to_string(),
        ],
        Duration::from_secs(u64::from(rounds * seconds) + 120),
    );
    let r = last_json(&out);
    println!("fleet_latency: {r:#}");
    let m =
        |path: &str, metric: &str, stat: &str| r[path][metric][stat].as_f64().unwrap_or(f64::NAN);
    let p = |path: &str, stat: &str| m(path, "presentedMs", stat);
    for path in ["direct", "hub"] {
        let n = r[path]["presentedMs"]["n"].as_u64().unwrap_or(0);
        assert!(
            n >= u64::from(rounds * seconds) * 5,
            "{path}: only {n} latency samples"
        );
        assert_eq!(r[path]["codec"], "video/H264", "{path}: {}", r[path]);
        assert_eq!(
            r[path]["frameSize"],
            format!("{}x{}", SIZE.0, SIZE.1),
            "{path}: {}",
            r[path]
        );
        let v = p(path, "p50");
        assert!(
            v.is_finite() && v > 0.0 && v < 5000.0,
            "{path}: a broken measurement: p50 {v}"
        );
    }
    for (i, round) in r["rounds"].as_array().into_iter().flatten().enumerate() {
        println!(
            "round {i}: presented p50 direct {} ms, through the hub {} ms",
            round["direct"]["p50"], round["hub"]["p50"]
        );
    }
    for path in ["direct", "hub"] {
        println!(
            "{path:>6}: capture → received p50 {:.1} / p95 {:.1} ms, → presented p50 {:.1} / p95 {:.1} ms over {} \
             frames ({} consistent with RTP time: p50 {}), → expected display p50 {:.1} / p95 {:.1} ms; {:.1} fps \
             decoded, jitter buffer {:.1} ms",
            m(path, "receivedMs", "p50"),
            m(path, "receivedMs", "p95"),
            p(path, "p50"),
            p(path, "p95"),
            r[path]["presentedMs"]["n"],
            r[path]["consistentMs"]["n"],
            r[path]["consistentMs"]["p50"],
            m(path, "glassToGlassMs", "p50"),
            m(path, "glassToGlassMs", "p95"),
            r[path]["fps"].as_f64().unwrap_or(f64::NAN),
            r[path]["jitterBufferMs"].as_f64().unwrap_or(f64::NAN),
        );
    }
    drop(device);
    assert!(hub.stop().success());
    (p("direct", "p50"), p("hub", "p50"))
}

/// CPU of `pids` over `window`, ms of CPU per second each (the mean over slices).
fn cpu_ms_per_s(pids: &[u32], window: Duration) -> Vec<f64> {
    let tck = clock_ticks_per_second() as f64;
    let slices = (window.as_secs_f64() / SLICE.as_secs_f64()).ceil().max(1.0) as usize;
    let mut sums = vec![0.0; pids.len()];
    for _ in 0..slices {
        let (t0, at0) = (
            pids.iter().map(|&p| cpu_ticks_of(p)).collect::<Vec<_>>(),
            Instant::now(),
        );
        std::thread::sleep(SLICE);
        let dt = at0.elapsed().as_secs_f64();
        for (i, &p) in pids.iter().enumerate() {
            sums[i] += cpu_ticks_of(p).saturating_sub(t0[i]) as f64 / tck / dt * 1000.0;
        }
    }
    sums.iter().map(|s| s / slices as f64).collect()
}

fn now_ms() -> f64 {
    common::netview::now_ms()
}

/// Hub CPU: (viewers, hub ms/s, device ms/s) for 0 (idle) and each count.
fn hub_cpu(counts: &[usize], window: Duration) -> Vec<(usize, f64, f64)> {
    let (hub, device, id) = hub_and_device("[congestion]\nenabled = false\n", false);
    let screen = format!("{id}/0");
    let pids = [hub.pid(), device.pid()];
    let mut steps = Vec::new();
    std::thread::sleep(SETTLE);
    let idle = cpu_ms_per_s(&pids, window);
    println!(
        "  0 viewers (device connected, idle): hub {:6.1} ms/s | device {:6.1} ms/s | load {}",
        idle[0],
        idle[1],
        load_average()
    );
    steps.push((0, idle[0], idle[1]));
    for &n in counts {
        let mut cmd = light_viewers_command(|program| Command::new(program));
        cmd.args([&n.to_string(), &hub.ws_url(), VIEW_TOKEN]).args([
            "--screen",
            &screen,
            "--interval",
            "1",
            "--loopback",
        ]);
        let mut lv = LightViewers::start(cmd);
        lv.wait_ready(n, READY_TIMEOUT);
        std::thread::sleep(SETTLE);
        let from = now_ms();
        let cpu = cpu_ms_per_s(&pids, window);
        let to = now_ms();
        std::thread::sleep(Duration::from_millis(1200));
        let fps = lv.fps_between(from, to + 1000.0);
        lv.stop();
        println!(
            "{n:>3} viewers of {screen}: hub {:6.1} ms/s | device {:6.1} ms/s | fps per viewer {:?} | load {}",
            cpu[0],
            cpu[1],
            fps.iter()
                .map(|f| (f * 10.0).round() / 10.0)
                .collect::<Vec<_>>(),
            load_average()
        );
        assert_eq!(fps.len(), n, "a count per viewer");
        assert!(
            fps.iter().all(|&f| f > 0.0),
            "{n} viewers: one received no frames in the window: {fps:?}"
        );
        steps.push((n, cpu[0], cpu[1]));
        std::thread::sleep(DRAIN);
    }
    drop(device);
    assert!(hub.stop().success());
    steps
}

#[test]
#[ignore = "a benchmark: scripts/bench-fleet.sh runs it"]
fn bench_fleet() {
    let window = Duration::from_secs(env_or("SIGHTLINE_BENCH_SECONDS", 10));
    let counts: Vec<usize> = std::env::var("SIGHTLINE_BENCH_VIEWERS")
        .unwrap_or_else(|_| "1,2,4".into())
        .split(',')
        .map(|v| v.trim().parse().expect("SIGHTLINE_BENCH_VIEWERS: numbers"))
        .collect();
    let rounds: u32 = env_or("SIGHTLINE_BENCH_LATENCY_ROUNDS", 6);
    let seconds: u32 = env_or("SIGHTLINE_BENCH_LATENCY_SECONDS", 5);
    println!(
        "bench-fleet: device {}x{} synthetic at 30 fps on loopback, hub viewers {counts:?}, {}s CPU windows, load \
         average {} ({})",
        SIZE.0,
        SIZE.1,
        window.as_secs(),
        load_average(),
        if cfg!(debug_assertions) {
            "DEBUG build: figures unoptimised"
        } else {
            "release build"
        }
    );
    let lat = (rounds > 0).then(|| latency(rounds, seconds));
    let steps = hub_cpu(&counts, window);

    println!("\nSUMMARY");
    if let Some((direct, hub)) = lat {
        let added = hub - direct;
        println!(
            "glass-to-glass (capture → decoded frame presented) p50: direct {direct:.1} ms, through the hub {hub:.1} \
             ms: {added:+.1} ms = {:.2}× (target \
             ≤ +{TARGET_ADDED_MS} ms) {}",
            hub / direct,
            verdict(added <= TARGET_ADDED_MS)
        );
    }
    println!("| hub viewers | hub CPU ms/s | device CPU ms/s |");
    println!("|--:|--:|--:|");
    for (n, h, d) in &steps {
        println!("| {n} | {h:.1} | {d:.1} |");
    }
    let at = |n: usize| steps.iter().find(|s| s.0 == n).map_or(f64::NAN, |s| s.1);
    let (lo, hi) = (
        *counts.iter().min().expect("counts"),
        *counts.iter().max().expect("counts"),
    );
    let per_stream = at(lo) - at(0);
    println!(
        "hub CPU per relayed 720p30 stream (with its first viewer): {per_stream:.1} ms/s ({:.2} % of a core)",
        per_stream / 10.0
    );
    if hi > lo {
        let per_viewer = (at(hi) - at(lo)) / (hi - lo) as f64;
        println!(
            "hub CPU per extra hub viewer ({lo} → {hi}): {per_viewer:.1} ms/s ({:.2} % of a core); {:.2}× the relayed \
             stream's cost",
            per_viewer / 10.0,
            per_viewer / per_stream
        );
    }
    let dev = |n: usize| steps.iter().find(|s| s.0 == n).map_or(f64::NAN, |s| s.2);
    println!(
        "device CPU {lo} → {hi} hub viewers: {:.1} → {:.1} ms/s (one upstream: it should not grow with viewers); load \
         average {}",
        dev(lo),
        dev(hi),
        load_average()
    );
}
