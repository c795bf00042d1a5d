//! Real networks (issue 10): Chromium watches a high-motion X11 screen (noise repainted every frame under a clock
//! barcode) through sightline's viewer page from inside its own network namespace, and the media path is shaped
//! with `tc` caps and nftables loss (tests/common/netns.rs). The tests assert behaviour, never machine speed:
//! - under a 1.5 Mbit/s cap the delivered bitrate settles below the cap and frames keep arriving; after the cap
//!   is lifted the viewer climbs back to the top tier;
//! - of two viewers of one screen, the uncapped one keeps the top tier and gets no extra IDRs from the capped
//!   one's troubles, and the number of H.264 encoders equals the number of distinct tiers in use.
//!
//! Two harness self-tests prove the rig itself (a cap really limits a UDP flow between namespaces, the loss rule
//! really drops; Chromium in a viewer namespace plays the gateway's stream over the veth, its media crossing
//! the shaped class, and the barcode reads back), so a failure of the behaviour tests is sightline's, not the
//! rig's. The figures (latency, freezes, side by side with libwebrtc) are the benchmark's:
//! `scripts/bench-network.sh`.
//!
//! Needs root (network namespaces); run: `cargo test --test network_adapt -- --nocapture --test-threads=1`.
#![cfg(target_os = "linux")]

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::netns::Topology;
use common::netrig::NetRig;
use common::netview::{LiveNode, now_ms};
use common::noise::NoiseSpec;
use common::{last_json, root, run_tool};
use serde_json::Value;

/// Each test runs a gateway, Chromium and an X painter on a two-core machine: never two at once.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The cap.
const CAP_KBPS: u32 = 1500;
/// Congestion control on (the default, said explicitly: the tests are about it).
const CONGESTION_ON: &str = "[congestion]\nenabled = true\n";
/// X screen 1 of the test display: 1280×720.
const SCREEN: usize = 1;
/// How long the controller may take to settle under a new cap before the window that is judged (the issue
/// wants ~1 s to go down; the slack is for a loaded machine).
const SETTLE: Duration = Duration::from_secs(10);
/// The judged window.
const WINDOW: Duration = Duration::from_secs(10);
/// How long after the cap is lifted the viewer may take to reach the top tier again (the target is
/// 10 s; the slack is for a loaded machine running a debug gateway).
const RECOVER_TIMEOUT: Duration = Duration::from_secs(30);
/// "Frames keep arriving": at least this decoded frame rate in the capped window, and never a longer freeze.
const MIN_CAPPED_FPS: f64 = 10.0;
const MAX_CAPPED_FREEZE_MS: f64 = 2000.0;
/// IDRs the uncapped viewer may receive while its neighbour is capped, beyond its own rate before the cap: the
/// capped viewer's first PLIs can reach the shared top-tier encoder before it moves off it (rate-limited, so a
/// couple at most).
const EXTRA_IDR_ALLOWANCE: f64 = 2.0;

fn noise() -> NoiseSpec {
    // 30 fps painting is enough to keep every captured frame different, and cheaper than the benchmark's 60.
    NoiseSpec {
        screen: SCREEN,
        fps: 30,
        cell_px: NoiseSpec::default().cell_px,
    }
}

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// Polls `f` once a second until it returns `Some`; panics with `what` and the last state after `timeout`.
fn poll<T>(what: &str, timeout: Duration, f: impl FnMut() -> Result<T, String>) -> T {
    common::poll_every(what, timeout, Duration::from_secs(1), f)
}

/// Viewer `name`'s session id (the monitor's key for its connection).
fn session_of(node: &LiveNode, name: &str) -> String {
    node.wait_for(
        &format!("{name}'s first sample"),
        Duration::from_secs(30),
        |lines| {
            lines
                .iter()
                .any(|l| l["viewer"] == name && l["session"].is_string())
        },
    );
    node.last(name).expect("a sample")["session"]
        .as_str()
        .expect("a session id")
        .to_owned()
}

/// The viewer's monitor counters, or a description of what is missing.
fn counters(rig: &NetRig, session: &str) -> Result<Value, String> {
    rig.webrtc_connection(session)
        .map(|c| c["counters"].clone())
        .ok_or_else(|| format!("no open webrtc connection for session {session}"))
}

/// The viewer's tier from the monitor, or why there is none.
fn tier(rig: &NetRig, session: &str) -> Result<u64, String> {
    let c = counters(rig, session)?;
    c["tier"].as_u64().ok_or_else(|| {
        format!("no `tier` in the monitor counters (congestion control missing?): {c}")
    })
}

/// Waits until viewer `name` decodes frames and sits on the top tier.
fn wait_playing_on_top_tier(rig: &NetRig, node: &LiveNode, name: &str, session: &str) {
    poll(
        &format!("{name} playing on the top tier"),
        Duration::from_secs(30),
        || {
            let decoded = node
                .last(name)
                .and_then(|s| s["framesDecoded"].as_f64())
                .unwrap_or(0.0);
            let t = tier(rig, session)?;
            if decoded > 0.0 && t == 0 {
                Ok(())
            } else {
                Err(format!("{decoded} frames decoded, tier {t}"))
            }
        },
    );
}

#[test]
fn harness_cap_limits_a_udp_flow_and_loss_drops_between_namespaces() {
    let _one = one_at_a_time();
    let topo = Topology::new(1);

    let free = udp_flow(&topo, 20_000, 3);
    println!("uncapped: {free:?}");
    assert!(
        free.kbps > 10_000.0,
        "an uncapped veth carries a 20 Mbit/s flow: {free:?}"
    );

    topo.cap(0, CAP_KBPS);
    assert_eq!(topo.current_cap_kbps(0), Some(u64::from(CAP_KBPS)));
    let before = topo.shaped_counters(0);
    let capped = udp_flow(&topo, 6000, 4);
    let after = topo.shaped_counters(0);
    println!("capped at {CAP_KBPS}: {capped:?}, class {before:?} → {after:?}");
    let cap = f64::from(CAP_KBPS);
    assert!(
        capped.kbps <= cap * 1.1 && capped.kbps >= cap * 0.7,
        "a 6 Mbit/s flow through a {CAP_KBPS} kbit/s cap arrives at about the cap: {capped:?}"
    );
    assert!(
        after.bytes - before.bytes >= capped.bytes,
        "the flow crossed the shaped class: {before:?} → {after:?}, {} bytes arrived",
        capped.bytes
    );
    assert!(
        after.dropped > before.dropped,
        "the cap's queue overflowed: {after:?}"
    );

    // Changed at run time, then lifted.
    topo.cap(0, 600);
    let slow = udp_flow(&topo, 3000, 4);
    println!("capped at 600: {slow:?}");
    assert!(
        slow.kbps <= 660.0 && slow.kbps >= 420.0,
        "600 kbit/s cap: {slow:?}"
    );
    topo.uncap(0);
    assert_eq!(topo.current_cap_kbps(0), None);
    let again = udp_flow(&topo, 20_000, 2);
    assert!(again.kbps > 10_000.0, "lifted: {again:?}");

    topo.set_loss(0, 10.0);
    let lossy = udp_flow(&topo, 2000, 4);
    let dropped = topo.loss_drops(0);
    println!("10 % loss: {lossy:?}, {dropped} dropped by the rule");
    let delivered = lossy.packets as f64 / lossy.sent_packets as f64;
    assert!(
        (0.84..=0.96).contains(&delivered),
        "10 % loss delivers about 90 %: {delivered:.3} ({lossy:?})"
    );
    assert_eq!(
        dropped + lossy.packets,
        lossy.sent_packets,
        "every packet not delivered was dropped by the rule"
    );
    topo.set_loss(0, 0.0);
    assert_eq!(topo.loss_drops(0), 0, "the loss rule is gone");
}

/// What a UDP flow from the gateway namespace to viewer 0 delivered.
#[derive(Debug)]
struct Flow {
    sent_packets: u64,
    packets: u64,
    bytes: u64,
    kbps: f64,
}

/// Sends `kbps` of UDP for `seconds` from the gateway namespace to viewer 0 and counts what arrives.
fn udp_flow(topo: &Topology, kbps: u32, seconds: u32) -> Flow {
    let script = root().join("tests/e2e/network_udp.mjs");
    let v = topo.viewer(0);
    let mut recv = topo
        .command(&v.ns, "node")
        .arg(&script)
        .args(["recv", "--port", "40000", "--seconds", &seconds.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the UDP receiver");
    let mut err = BufReader::new(recv.stderr.take().expect("piped"));
    let mut line = String::new();
    err.read_line(&mut line).expect("receiver stderr");
    assert!(line.contains("listening"), "receiver: {line}");
    let sent = run_tool(
        topo.command(&topo.gateway_ns, "node").arg(&script).args([
            "send",
            "--to",
            &format!("{}:40000", v.ip),
            "--kbps",
            &kbps.to_string(),
            "--seconds",
            &seconds.to_string(),
        ]),
        Duration::from_secs(u64::from(seconds) + 20),
    );
    let out = recv.wait_with_output().expect("receiver output");
    let got = last_json(&String::from_utf8_lossy(&out.stdout));
    let sent = last_json(&sent);
    Flow {
        sent_packets: sent["packets"].as_u64().unwrap_or(0),
        packets: got["packets"].as_u64().unwrap_or(0),
        bytes: got["bytes"].as_u64().unwrap_or(0),
        kbps: got["kbps"].as_f64().unwrap_or(0.0),
    }
}

#[test]
fn harness_chromium_in_a_viewer_namespace_plays_the_noise_screen_over_the_veth() {
    let _one = one_at_a_time();
    let mut rig = NetRig::new(1, noise());
    // No congestion settings: this proves the rig with the gateway as it is.
    rig.start_gateway("");
    let before = rig.topo.shaped_counters(0);
    let node = rig.open_viewers(&[(0, "v0")]);
    let session = session_of(&node, "v0");
    let start = now_ms();
    node.wait_for("8 s of playing", Duration::from_secs(40), |_| {
        now_ms() - start > 8000.0
    });
    let end = now_ms();
    let s = node.samples("v0");
    let f = s.figures(end - 5000.0, end);
    let last = node.last("v0").expect("samples");
    let after = rig.topo.shaped_counters(0);
    let conn = counters(&rig, &session).expect("the viewer's connection in the monitor");
    println!(
        "v0: {f:?}\nlast sample: {last}\nshaped class {before:?} → {after:?}\nmonitor counters {conn}\npainted {}",
        rig.painted()
    );
    // What the rig must show, whatever the gateway's tiers and rate control make of the content: H.264 over
    // the veth, decoded, with the painter's barcode readable as a latency.
    assert_eq!(last["codec"], "video/H264", "{last}");
    assert!(
        last["frameWidth"].as_u64().unwrap_or(0) >= 320 && f.fps > 0.0,
        "frames are decoded: {f:?}, {last}"
    );
    assert!(
        f.presented >= 10 && f.p50_ms.is_finite() && f.p50_ms > 0.0 && f.p50_ms < 2000.0,
        "the painter's barcode reads back on the viewer page as a latency: {f:?}"
    );
    let received = last["bytesReceived"].as_f64().unwrap_or(0.0);
    assert!(
        (after.bytes - before.bytes) as f64 >= received,
        "the media crossed the shaped class ({} bytes) at least as much as the page received ({received})",
        after.bytes - before.bytes
    );
    assert!(
        conn["bytes_sent"].as_f64().unwrap_or(0.0) > 0.0,
        "the monitor sees the viewer's connection sending: {conn}"
    );

    // A cap on the link limits what the page receives (whatever the sender does).
    rig.topo.cap(0, 600);
    std::thread::sleep(Duration::from_secs(2));
    let from = now_ms();
    std::thread::sleep(Duration::from_secs(4));
    let capped = node.samples("v0").figures(from, now_ms());
    println!("capped at 600 kbit/s: {capped:?}");
    assert!(
        capped.kbps <= 600.0 * 1.1,
        "the page receives no more than the link's 600 kbit/s cap: {capped:?}"
    );
    node.stop();
    rig.stop_gateway();
}

#[test]
fn capped_viewer_settles_below_the_cap_and_returns_to_the_top_tier_when_lifted() {
    let _one = one_at_a_time();
    let mut rig = NetRig::new(1, noise());
    rig.start_gateway(CONGESTION_ON);
    let node = rig.open_viewers(&[(0, "v0")]);
    let session = session_of(&node, "v0");
    wait_playing_on_top_tier(&rig, &node, "v0", &session);
    let (full_width, _) = rig.size();

    rig.topo.cap(0, CAP_KBPS);
    std::thread::sleep(SETTLE);
    let from = now_ms();
    let shaped_before = rig.topo.shaped_counters(0);
    let messages_before = node.last("v0").expect("samples")["networkMessages"]
        .as_f64()
        .unwrap_or(0.0);
    let mut monitor_kbps = Vec::new();
    let mut tiers = Vec::new();
    let window_end = Instant::now() + WINDOW;
    while Instant::now() < window_end {
        let c = counters(&rig, &session).unwrap_or_else(|e| panic!("{e}"));
        monitor_kbps.push(c["bitrate_kbps"].as_f64().unwrap_or(f64::NAN));
        tiers.push(c["tier"].clone());
        std::thread::sleep(Duration::from_secs(1));
    }
    let to = now_ms();
    let shaped_after = rig.topo.shaped_counters(0);
    let f = node.samples("v0").figures(from, to);
    let last = node.last("v0").expect("samples");
    let monitor_mean = monitor_kbps.iter().sum::<f64>() / monitor_kbps.len() as f64;
    println!(
        "capped at {CAP_KBPS} kbit/s: page {f:?}; monitor bitrate {monitor_kbps:?} (mean {monitor_mean:.0}), \
         tiers {tiers:?}; shaped class {shaped_before:?} → {shaped_after:?}; last network message {}; \
         monitor counters {}",
        last["network"],
        counters(&rig, &session).unwrap_or_default()
    );
    let cap = f64::from(CAP_KBPS);
    assert!(
        f.kbps < cap,
        "the page receives less than the cap once settled: {:.0} kbit/s ({f:?})",
        f.kbps
    );
    assert!(
        monitor_mean < cap,
        "the gateway sends less than the cap once settled: {monitor_kbps:?}"
    );
    assert!(
        f.fps >= MIN_CAPPED_FPS && f.longest_freeze_ms <= MAX_CAPPED_FREEZE_MS,
        "frames keep arriving under the cap: {f:?}"
    );
    assert!(
        shaped_after.bytes > shaped_before.bytes,
        "the media crossed the capped class"
    );
    assert!(
        last["networkMessages"].as_f64().unwrap_or(0.0) - messages_before
            >= WINDOW.as_secs_f64() / 2.0,
        "the page gets `network` messages about once a second: {last}"
    );

    rig.topo.uncap(0);
    let lifted = Instant::now();
    poll(
        "the viewer back on the top tier at full size",
        RECOVER_TIMEOUT,
        || {
            let t = tier(&rig, &session)?;
            let last = node.last("v0").ok_or("no sample")?;
            let page_tier = last["network"]["tier"].as_u64();
            let width = last["frameWidth"].as_u64().unwrap_or(0);
            if t == 0 && page_tier == Some(0) && width == u64::from(full_width) {
                Ok(())
            } else {
                Err(format!(
                    "monitor tier {t}, page tier {page_tier:?}, width {width}"
                ))
            }
        },
    );
    println!(
        "back on the top tier {:.1} s after the cap was lifted",
        lifted.elapsed().as_secs_f64()
    );
    node.stop();
    rig.stop_gateway();
}

#[test]
fn uncapped_viewer_keeps_the_top_tier_and_its_idrs_beside_a_capped_one() {
    let _one = one_at_a_time();
    let mut rig = NetRig::new(2, noise());
    rig.start_gateway(CONGESTION_ON);
    let node = rig.open_viewers(&[(0, "capped"), (1, "free")]);
    let capped = session_of(&node, "capped");
    let free = session_of(&node, "free");
    wait_playing_on_top_tier(&rig, &node, "capped", &capped);
    wait_playing_on_top_tier(&rig, &node, "free", &free);

    // The free viewer's own IDR rate, before anything goes wrong.
    let base_from = now_ms();
    let kf_before = counters(&rig, &free).expect("free's counters")["keyframes_sent"]
        .as_f64()
        .unwrap_or(0.0);
    std::thread::sleep(WINDOW);
    let base_to = now_ms();
    let kf_base = counters(&rig, &free).expect("free's counters")["keyframes_sent"]
        .as_f64()
        .unwrap_or(0.0)
        - kf_before;
    let page_base = node.samples("free").figures(base_from, base_to).keyframes;

    rig.topo.cap(0, CAP_KBPS);
    let from = now_ms();
    let kf_at_cap = counters(&rig, &free).expect("free's counters")["keyframes_sent"]
        .as_f64()
        .unwrap_or(0.0);
    let judged = SETTLE + WINDOW;
    let end = Instant::now() + judged;
    let mut polls = Vec::new();
    while Instant::now() < end {
        let f = counters(&rig, &free).unwrap_or_else(|e| panic!("{e}"));
        let c = counters(&rig, &capped).unwrap_or_else(|e| panic!("{e}"));
        let encoders = rig.encoders().len();
        polls.push((f["tier"].clone(), c["tier"].clone(), encoders));
        assert_eq!(
            f["tier"], 0,
            "the uncapped viewer left the top tier because its neighbour was capped; polls so far \
             (free tier, capped tier, encoders): {polls:?}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    let to = now_ms();
    let kf_capped = counters(&rig, &free).expect("free's counters")["keyframes_sent"]
        .as_f64()
        .unwrap_or(0.0)
        - kf_at_cap;
    let page_capped = node.samples("free").figures(from, to).keyframes;
    let scale = judged.as_secs_f64() / WINDOW.as_secs_f64();
    println!(
        "free viewer IDRs: monitor {kf_base} in {WINDOW:?} before, {kf_capped} in {judged:?} beside the capped \
         one; page {page_base} before, {page_capped} beside; polls (free tier, capped tier, encoders): {polls:?}"
    );
    assert!(
        kf_capped <= kf_base * scale + EXTRA_IDR_ALLOWANCE,
        "the uncapped viewer received extra IDRs: {kf_capped} beside the capped viewer vs {kf_base} per \
         {WINDOW:?} before"
    );
    assert!(
        page_capped <= page_base * scale + EXTRA_IDR_ALLOWANCE,
        "the uncapped page decoded extra key frames: {page_capped} vs {page_base} per {WINDOW:?} before"
    );

    // Encoders: one per tier in use, checked when the capped viewer has settled on its own tier.
    let capped_tier = tier(&rig, &capped).unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(
        capped_tier, 0,
        "a viewer capped at {CAP_KBPS} kbit/s cannot stay on the shared top-tier encoder"
    );
    poll(
        "one encoder per distinct tier",
        Duration::from_secs(10),
        || {
            let tiers: std::collections::BTreeSet<u64> = [&capped, &free]
                .iter()
                .map(|s| tier(&rig, s))
                .collect::<Result<_, _>>()?;
            let encoders = rig.encoders();
            if encoders.len() == tiers.len() {
                Ok(())
            } else {
                Err(format!(
                    "tiers in use {tiers:?}, encoders {:?}",
                    encoders
                        .iter()
                        .map(|p| p["profile"].clone())
                        .collect::<Vec<_>>()
                ))
            }
        },
    );
    node.stop();
    rig.stop_gateway();
}
