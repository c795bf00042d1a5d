//! Benchmark, not a test (ignored; run by `scripts/bench-sfu.sh`): what publishing to Janus saves the gateway
//! (issue 12). A changing 1280×720 synthetic screen at 30 fps is watched by 1, 10 and 30 light receivers, first
//! served by the gateway itself (`direct`: no `[sfu]`), then through Janus (`janus`: `[sfu] policy = "always"`),
//! every receiver on the same stream (`[congestion] enabled = false`: the top tier, as published to Janus), and
//! the CPU of the gateway and of Janus is measured over the same window (`/proc/PID/stat` utime + stime,
//! 100 % = one core, the mean over the window). Then two Chromium viewer pages watch at the same time, one served
//! by the gateway and one through Janus (`policy = "overflow"`, `overflow_after = 1`), and measure glass-to-glass
//! latency with the synthetic screen's barcode (as tests/browser_latency.rs does), with the gateway as shipped
//! (congestion control on), in two rounds that swap which page's browser started first.
//!
//! The receivers (`tests/e2e/light_viewers.py`, one Python process with N aiortc peers, each its own `/ws`
//! session) complete ICE, DTLS and SRTP and count frames (marker bits) without reassembling or decoding them and
//! without sending NACKs or PLIs, so 30 of them fit on two cores and add no feedback work to either sender. They
//! run in a viewer network namespace; the gateway and Janus in the gateway namespace (tests/common/janus.rs):
//! Janus gathers ICE candidates only on the viewer link, so both paths cross the same veth.
//!
//! Printed: a table per mode and viewer count, and the targets:
//! - through Janus the gateway's CPU grows by ≤ 5 % from 1 to 30 viewers;
//! - direct fan-out costs per extra viewer ≤ 1.25× what Janus spends per extra viewer on the same stream;
//! - glass-to-glass through Janus ≤ direct + 5 ms (p50).
//!
//! The figures are judged by people, never asserted: the machine may be shared (the load average is printed).
//! The benchmark only checks that every receiver received frames on the path it was meant to.
//! Results also go to `target/bench-sfu/<time>.json`.
//!
//! Environment (the script's flags set them): `SIGHTLINE_BENCH_SECONDS` (CPU window per step, default 10),
//! `SIGHTLINE_BENCH_VIEWERS` (default `1,10,30`), `SIGHTLINE_BENCH_MODES` (default `direct,janus`),
//! `SIGHTLINE_BENCH_LATENCY_SECONDS` (default 10; 0 skips the latency probe).
#![cfg(target_os = "linux")]

mod common;

use std::time::{Duration, Instant};

use common::janus::{SfuRig, clock_ticks_per_second, cpu_ticks_of, udp_rcvbuf_errors};
use common::light_viewers::{LightViewers, env_or, light_viewers_command, load_average};
use common::netview::{LiveNode, now_ms, percentile};
use common::{VIEW_TOKEN, root};
use serde_json::json;

/// The screen.
const SIZE: (u32, u32) = (1280, 720);
/// CPU is sampled in slices of this length; the median slice is the figure.
const SLICE: Duration = Duration::from_secs(2);
/// After every receiver got its first frame: joins (IDRs, DTLS) settle before measuring.
const SETTLE: Duration = Duration::from_secs(3);
/// Longest the receivers may take to all receive a frame (30 aiortc handshakes on a busy machine).
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// Time for the gateway (and Janus) to notice receivers left before the next step.
const DRAIN: Duration = Duration::from_secs(3);
/// The targets.
const TARGET_GROWTH_PERCENT: f64 = 5.0;
const TARGET_COST_RATIO: f64 = 1.25;
const TARGET_LATENCY_MS: f64 = 5.0;
/// For the CPU steps: congestion control off, so the gateway sends every direct receiver the top tier at a fixed
/// rate, exactly the stream it publishes to Janus ("the same stream" of the target).
const SAME_STREAM: &str = "[congestion]\nenabled = false\n";
/// `[sfu]` tuning: publications linger between steps (the next step reuses the mountpoint).
const SFU_EXTRA: &str = "linger_ms = 60000\n";

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_owned())
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    percentile(&v, 50.0)
}

/// Glass-to-glass figures of one mode: (p50 ms, p95 ms, decoded fps, samples).
type Latency = (f64, f64, f64, usize);

/// One measured step: a mode and a receiver count.
#[derive(Debug, Clone)]
struct Step {
    mode: String,
    viewers: usize,
    /// CPU %, one core = 100: per slice.
    gateway: Vec<f64>,
    janus: Vec<f64>,
    /// Frames per second each receiver counted over the window.
    fps: Vec<f64>,
    /// The receivers' own process, CPU %.
    receivers_cpu: f64,
    /// Time until every receiver had a frame, s.
    ready_s: f64,
    paths: Vec<String>,
    load: String,
    /// UDP datagrams dropped on full receive buffers during the window: in the gateway namespace (Janus's RTP
    /// sockets, the gateway's) and in the receivers' namespace.
    drops_gateway_ns: u64,
    drops_viewer_ns: u64,
}

fn measure(rig: &SfuRig, mode: &str, n: usize, window: Duration) -> Step {
    let mut cmd =
        light_viewers_command(|program| rig.topo.command(&rig.topo.viewer(0).ns, program));
    cmd.args([
        &n.to_string(),
        &rig.ws_for(0),
        VIEW_TOKEN,
        "--interval",
        "1",
    ]);
    let mut lv = LightViewers::start(cmd);
    let ready_s = lv.wait_ready(n, READY_TIMEOUT);
    std::thread::sleep(SETTLE);
    let tck = clock_ticks_per_second() as f64;
    let gw_pid = rig.gateway().pid();
    let janus_ticks = || rig.janus.pid().map_or(0, cpu_ticks_of);
    let drops = || {
        (
            udp_rcvbuf_errors(&rig.topo, &rig.topo.gateway_ns),
            udp_rcvbuf_errors(&rig.topo, &rig.topo.viewer(0).ns),
        )
    };
    let drops0 = drops();
    let start_ms = now_ms();
    let (mut gateway, mut janus) = (Vec::new(), Vec::new());
    let slices = (window.as_secs_f64() / SLICE.as_secs_f64()).ceil().max(1.0) as usize;
    for _ in 0..slices {
        let (g0, j0, t0) = (cpu_ticks_of(gw_pid), janus_ticks(), Instant::now());
        std::thread::sleep(SLICE);
        let dt = t0.elapsed().as_secs_f64();
        gateway.push((cpu_ticks_of(gw_pid) - g0) as f64 / tck / dt * 100.0);
        janus.push((janus_ticks().saturating_sub(j0)) as f64 / tck / dt * 100.0);
    }
    let end_ms = now_ms();
    let drops1 = drops();
    // The receivers report once a second: take the window between their reports.
    std::thread::sleep(Duration::from_millis(1200));
    let (a, b) = (lv.counts_at(start_ms), lv.counts_at(end_ms + 1000.0));
    let dt = (b["t"].as_f64().unwrap_or(0.0) - a["t"].as_f64().unwrap_or(0.0)) / 1000.0;
    let fps = lv.fps_between(start_ms, end_ms + 1000.0);
    let receivers_cpu =
        (b["cpu_s"].as_f64().unwrap_or(0.0) - a["cpu_s"].as_f64().unwrap_or(0.0)) / dt * 100.0;
    let paths = b["viewers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| v["path"].as_str().unwrap_or("none").to_owned())
        .collect();
    lv.stop();
    std::thread::sleep(DRAIN);
    Step {
        mode: mode.to_owned(),
        viewers: n,
        gateway,
        janus,
        fps,
        receivers_cpu,
        ready_s,
        paths,
        load: load_average(),
        drops_gateway_ns: drops1.0 - drops0.0,
        drops_viewer_ns: drops1.1 - drops0.1,
    }
}

/// Glass-to-glass latency of two Chromium viewer pages in viewer namespace 0 watching the same screen at the same
/// time, one served by the gateway and one through Janus (`[sfu] policy = "overflow"`, `overflow_after = 1`: the
/// first viewer stays on the gateway, the second goes to Janus). Measured side by side, both see the same capture
/// phase and the same machine load, which otherwise move a single page's p50 by up to a frame interval between
/// runs. Two rounds swap which page's browser started first; each figure is the mean of the two rounds. Returns
/// (direct, through Janus), each (p50, p95, fps, samples).
fn latency_pair(rig: &SfuRig, seconds: u64) -> (Latency, Latency) {
    let page = |name: &str| {
        let spec = json!([{
            "name": name,
            "chromium": rig.topo.chromium_in(&rig.topo.viewer(0).ns),
            "base": rig.base_for(0),
            "screen": "0",
        }]);
        let node = LiveNode::start(
            "network_viewer.mjs",
            &["--token", VIEW_TOKEN, "--viewers", &spec.to_string()],
        );
        node.wait_for(
            "the probe's first frames",
            Duration::from_secs(60),
            |lines| {
                lines.iter().any(|l| {
                    l["event"] == "sample" && l["framesDecoded"].as_f64().is_some_and(|f| f > 0.0)
                })
            },
        );
        node
    };
    let on_paths = || -> Vec<Option<String>> {
        rig.sessions()["sessions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.get("watch"))
            .map(|w| w["sfu"].as_str().map(str::to_owned))
            .collect()
    };
    let figures = |node: &LiveNode, name: &str, from: f64, to: f64| {
        let samples = node.samples(name);
        let f = samples.figures(from, to);
        let (delay_s, _) = samples.rate("jitterBufferDelay", from, to);
        let (emitted, _) = samples.rate("jitterBufferEmittedCount", from, to);
        println!(
            "{name:>6}: glass-to-glass p50 {:.1} ms p95 {:.1} ms; capture → frame received by the browser p50 \
             {:.1} ms, then {:.1} ms in its jitter buffer (mean); the rest is decode and render",
            f.p50_ms,
            f.p95_ms,
            received_p50(&samples, from, to),
            delay_s / emitted * 1000.0
        );
        (f.p50_ms, f.p95_ms, f.fps, f.presented)
    };
    let window = || {
        std::thread::sleep(SETTLE);
        let from = now_ms();
        std::thread::sleep(Duration::from_secs(seconds));
        (from, now_ms())
    };
    // Round 1: the direct page's browser started first.
    let direct = page("direct");
    let janus = page("janus");
    let paths = on_paths();
    assert!(
        paths.contains(&None) && paths.contains(&Some("janus-1".to_owned())),
        "one probe on the gateway and one through Janus: {paths:?}"
    );
    let (from, to) = window();
    println!("round 1 (the direct page's browser started first):");
    let d1 = figures(&direct, "direct", from, to);
    let j1 = figures(&janus, "janus", from, to);
    // Round 2: the Janus page's browser is the older one; a new direct page replaces the first (the gateway serves
    // it: no local viewer is left).
    drop(direct.stop());
    let deadline = Instant::now() + Duration::from_secs(15);
    while on_paths().contains(&None) {
        assert!(
            Instant::now() < deadline,
            "the first direct page never left: {:?}",
            on_paths()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let direct = page("direct");
    assert!(
        on_paths().contains(&None),
        "the new page is served by the gateway: {:?}",
        on_paths()
    );
    let (from, to) = window();
    println!("round 2 (the Janus page's browser started first):");
    let d2 = figures(&direct, "direct", from, to);
    let j2 = figures(&janus, "janus", from, to);
    drop(janus.stop());
    drop(direct.stop());
    let mean = |a: Latency, b: Latency| {
        (
            (a.0 + b.0) / 2.0,
            (a.1 + b.1) / 2.0,
            (a.2 + b.2) / 2.0,
            a.3 + b.3,
        )
    };
    (mean(d1, d2), mean(j1, j2))
}

/// Median time from capture to the browser receiving the frame (`receivedMs` of the latency samples) in
/// `[from, to]`: where a difference between the paths arises, before the browser or inside it.
fn received_p50(samples: &common::netview::Samples, from: f64, to: f64) -> f64 {
    let ms: Vec<f64> = samples
        .0
        .iter()
        .filter(|s| s["t"].as_f64().is_some_and(|t| t >= from && t <= to))
        .filter_map(|s| s["latency"].as_array())
        .flatten()
        .filter_map(|l| l[3].as_f64())
        .collect();
    median(&ms)
}

/// Starts the gateway with `policy`; with an SFU, waits until the gateway sees Janus up.
fn start_gateway(rig: &mut SfuRig, policy: &str) {
    rig.start_gateway(policy, SFU_EXTRA);
    if policy == "always" {
        wait_janus_up(rig);
    }
}

/// Waits until the gateway sees Janus up.
fn wait_janus_up(rig: &SfuRig) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while rig.janus_instance().is_none_or(|i| i["up"] != true) {
        assert!(
            Instant::now() < deadline,
            "Janus never up: {}",
            rig.sfu_status()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn cpu(step: Option<&Step>, janus: bool) -> f64 {
    step.map_or(f64::NAN, |s| {
        mean(if janus { &s.janus } else { &s.gateway })
    })
}

/// The mean of equal-length slices: CPU time over the whole window (resolution one clock tick per window, where
/// one slice's median moves in steps of half a point).
fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

#[test]
#[ignore = "a benchmark: scripts/bench-sfu.sh runs it"]
fn bench_sfu() {
    let window = Duration::from_secs(env_or("SIGHTLINE_BENCH_SECONDS", 10));
    let counts: Vec<usize> = env_list("SIGHTLINE_BENCH_VIEWERS", "1,10,30")
        .iter()
        .map(|v| v.parse().expect("SIGHTLINE_BENCH_VIEWERS: numbers"))
        .collect();
    let modes = env_list("SIGHTLINE_BENCH_MODES", "direct,janus");
    let latency_s: u64 = env_or("SIGHTLINE_BENCH_LATENCY_SECONDS", 10);
    println!(
        "bench-sfu: {}x{} synthetic screen at 30 fps, receivers {counts:?}, modes {modes:?}, {}s CPU windows, \
         load average {} ({})",
        SIZE.0,
        SIZE.1,
        window.as_secs(),
        load_average(),
        if cfg!(debug_assertions) {
            "DEBUG build: the gateway's figures are unoptimised"
        } else {
            "release build"
        }
    );
    let mut rig = SfuRig::new(1, SIZE);
    let mut steps: Vec<Step> = Vec::new();
    let mut latencies: Vec<(String, Latency)> = Vec::new();
    for mode in &modes {
        let (policy, want_path) = match mode.as_str() {
            "direct" => ("off", "local"),
            "janus" => ("always", "sfu"),
            other => panic!("unknown mode {other} (direct, janus)"),
        };
        // CPU: every receiver gets the same stream on both paths (the top tier, no per-viewer adaptation).
        rig.extra_config = SAME_STREAM.to_owned();
        start_gateway(&mut rig, policy);
        for &n in &counts {
            let step = measure(&rig, mode, n, window);
            println!(
                "{mode:>6} {n:>3} receivers: gateway {:6.1} % | Janus {:6.1} % | fps per receiver median {:.1} \
                 min {:.1} | receivers' process {:5.1} % | all receiving after {:.1} s | UDP drops: gateway \
                 namespace {}, receivers' {} | load {}",
                mean(&step.gateway),
                mean(&step.janus),
                median(&step.fps),
                step.fps.iter().copied().fold(f64::INFINITY, f64::min),
                step.receivers_cpu,
                step.ready_s,
                step.drops_gateway_ns,
                step.drops_viewer_ns,
                step.load
            );
            assert!(
                step.paths.iter().all(|p| p == want_path),
                "{mode}: every receiver should be on path {want_path}: {:?}",
                step.paths
            );
            assert!(
                step.fps.iter().all(|&f| f > 0.0),
                "{mode} {n}: a receiver got no frames in the window: {:?}",
                step.fps
            );
            steps.push(step);
        }
        rig.stop_gateway();
    }
    if latency_s > 0 {
        // Latency: the gateway as shipped (congestion control on), both paths at once.
        rig.extra_config.clear();
        rig.start_gateway("overflow", &format!("{SFU_EXTRA}overflow_after = 1\n"));
        wait_janus_up(&rig);
        let (direct, janus) = latency_pair(&rig, latency_s);
        for (mode, l) in [("direct", direct), ("janus", janus)] {
            println!(
                "{mode:>6} glass-to-glass (Chromium viewer pages side by side): p50 {:.1} ms, p95 {:.1} ms, {:.1} \
                 fps, {} samples",
                l.0, l.1, l.2, l.3
            );
            latencies.push((mode.to_owned(), l));
        }
        rig.stop_gateway();
    }
    summarize(&steps, &latencies, &counts);
}

fn summarize(steps: &[Step], latencies: &[(String, Latency)], counts: &[usize]) {
    let find = |mode: &str, n: usize| steps.iter().find(|s| s.mode == mode && s.viewers == n);
    let (lo, hi) = (
        *counts.iter().min().expect("viewer counts"),
        *counts.iter().max().expect("viewer counts"),
    );
    let extra = (hi - lo) as f64;
    println!("\nSUMMARY (CPU: % of one core, the mean over each step's window)");
    println!("| mode | receivers | gateway CPU % | Janus CPU % | fps/receiver (median) |");
    println!("|---|--:|--:|--:|--:|");
    for s in steps {
        println!(
            "| {} | {} | {:.1} | {:.1} | {:.1} |",
            s.mode,
            s.viewers,
            median(&s.gateway),
            median(&s.janus),
            median(&s.fps)
        );
    }
    let gw_j = (cpu(find("janus", lo), false), cpu(find("janus", hi), false));
    let growth = (gw_j.1 - gw_j.0) / gw_j.0 * 100.0;
    println!(
        "through Janus, gateway CPU {lo} → {hi} receivers: {:.1} % → {:.1} % = {growth:+.1} % (target ≤ \
         {TARGET_GROWTH_PERCENT} %) {}",
        gw_j.0,
        gw_j.1,
        verdict(growth <= TARGET_GROWTH_PERCENT)
    );
    let direct_per = (cpu(find("direct", hi), false) - cpu(find("direct", lo), false)) / extra;
    let janus_per = (cpu(find("janus", hi), true) - cpu(find("janus", lo), true)) / extra;
    let ratio = direct_per / janus_per;
    println!(
        "per extra receiver: direct (gateway) {direct_per:.3} % vs Janus {janus_per:.3} % = {ratio:.2}× (target ≤ \
         {TARGET_COST_RATIO}×) {}",
        verdict(ratio <= TARGET_COST_RATIO)
    );
    let p50 = |mode: &str| {
        latencies
            .iter()
            .find(|(m, _)| m == mode)
            .map_or(f64::NAN, |(_, l)| l.0)
    };
    let added = p50("janus") - p50("direct");
    println!(
        "glass-to-glass p50: direct {:.1} ms, through Janus {:.1} ms: {added:+.1} ms (target ≤ +{TARGET_LATENCY_MS} \
         ms) {}",
        p50("direct"),
        p50("janus"),
        verdict(added <= TARGET_LATENCY_MS)
    );
    let dir = root().join("target/bench-sfu");
    std::fs::create_dir_all(&dir).expect("create target/bench-sfu");
    let path = dir.join(format!("{}.json", (now_ms() / 1000.0) as u64));
    let doc = json!({
        "size": format!("{}x{}", SIZE.0, SIZE.1),
        "release": !cfg!(debug_assertions),
        "steps": steps.iter().map(|s| json!({
            "mode": s.mode, "receivers": s.viewers, "gateway_cpu": s.gateway, "janus_cpu": s.janus,
            "fps": s.fps, "receivers_cpu": s.receivers_cpu, "ready_s": s.ready_s, "load": s.load,
            "udp_drops_gateway_ns": s.drops_gateway_ns, "udp_drops_receivers_ns": s.drops_viewer_ns,
        })).collect::<Vec<_>>(),
        "latency": latencies.iter().map(|(m, l)| json!({"mode": m, "p50_ms": l.0, "p95_ms": l.1, "fps": l.2,
                                                          "samples": l.3})).collect::<Vec<_>>(),
        "gateway_growth_percent": growth,
        "per_receiver": {"direct": direct_per, "janus": janus_per, "ratio": ratio},
        "latency_added_ms": added,
    });
    std::fs::write(&path, serde_json::to_string_pretty(&doc).expect("JSON"))
        .expect("write results");
    println!("results: {}", path.display());
}

fn verdict(ok: bool) -> &'static str {
    if ok { "MET" } else { "NOT MET" }
}
