//! Nothing leaks: hundreds of viewers come and go — WebRTC and JPEG mixed, some with a real aiortc peer that
//! connects and decodes, a third of them dropped abruptly (socket closed without `stop`) — and afterwards the
//! monitor shows every task back at its baseline, `leaked` at 0, no live peer connection, session or socket, and the
//! gateway's memory has grown by less than a stated bound.

mod common;

use std::time::{Duration, Instant};

use common::clients::{AiortcPeer, WsClient};
use common::{ADMIN_TOKEN, GatewayProcess, VIEW_TOKEN, http, synthetic_config};
use serde_json::{Value, json};

/// Growth of the gateway's resident memory allowed after all cycles. A leak of ~100 KiB per connection (the
/// figure of the old webrtc-rs API) would add 20 MiB over 200 cycles; allocator slack and warm caches stay below
/// this bound.
const MAX_RSS_GROWTH_KIB: u64 = 16 * 1024;

fn live_tasks(s: &Value) -> u64 {
    s["tasks"]["pending"].as_u64().unwrap() + s["tasks"]["running"].as_u64().unwrap()
}

fn sockets(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    std::fs::read_link(e.path())
                        .is_ok_and(|l| l.to_string_lossy().starts_with("socket:"))
                })
                .count()
        })
        .unwrap_or(0)
}

async fn settle(gw: &GatewayProcess, baseline_tasks: u64, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let g = summary_async(gw).await;
        let done = live_tasks(&g) <= baseline_tasks && g["connections"]["live"] == 0;
        if done || Instant::now() > deadline {
            return g;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn summary_async(gw: &GatewayProcess) -> Value {
    let base = gw.base.clone();
    tokio::task::spawn_blocking(move || {
        let (s, _, b) = http(
            "GET",
            &format!("{base}/api/v0/mcp/monitor/webrtc/summary"),
            Some(ADMIN_TOKEN),
            None,
            b"",
            &[],
        );
        assert_eq!(s, 200);
        serde_json::from_slice::<Value>(&b).unwrap()
    })
    .await
    .unwrap()
}

/// `n` viewers, one after another: WebRTC and JPEG alternating; every other WebRTC viewer (a quarter of all) with
/// a real aiortc peer that connects, decodes a frame and opens the data channel; every third viewer dropped
/// abruptly (the socket closed while its peer or stream is live). Returns how many (connected, abrupt) aiortc
/// peers there were.
async fn run_cycles(gw: &GatewayProcess, n: usize) -> (usize, usize) {
    let (mut connected, mut connected_abrupt) = (0, 0);
    let mut peer = AiortcPeer::start().await;
    for i in 0..n {
        let abrupt = i % 3 == 0;
        let webrtc = i % 2 == 0;
        let (mut ws, _) = WsClient::authed(&gw.ws_url(), VIEW_TOKEN).await;
        if webrtc {
            if i % 4 == 0 {
                common::clients::watch_webrtc(&mut ws, &mut peer, "0").await;
                peer.expect("frame", Duration::from_secs(10)).await;
                connected += 1;
                if abrupt {
                    connected_abrupt += 1;
                    // The socket goes first, with the peer connection still up on the client's side.
                    drop(ws);
                    peer.reset().await;
                    continue;
                }
                ws.send(json!({"type":"stop"})).await;
                ws.close().await;
                peer.reset().await;
                continue;
            } else {
                ws.send(json!({"type":"watch","screen":"0","transport":"webrtc"}))
                    .await;
                ws.expect_type("offer").await;
            }
        } else {
            ws.send(json!({"type":"watch","screen":"0","transport":"jpeg","fps":30}))
                .await;
            ws.expect_type("frame").await;
        }
        if abrupt {
            drop(ws); // TCP closed without a close frame and without `stop`
        } else {
            ws.send(json!({"type":"stop"})).await;
            ws.close().await;
        }
    }
    peer.close().await;
    (connected, connected_abrupt)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_viewers_come_and_go_without_leaks() {
    let gw = GatewayProcess::start_with(
        &synthetic_config(
            "synthetic_size = \"320x240\"\n[monitor]\nleak_grace_ms = 2000\n[limits]\n# Cycles far faster than a person: not what the rate limits are about.\nrate_scale = 100.0\n",
        ),
        &[],
        &[("MALLOC_ARENA_MAX", "2")],
    );
    // glibc gives new threads their own malloc arenas (up to 8 per core) and keeps freed memory in them; with an
    // encoder and its worker threads per pipeline start, that alone moved RSS by -10 to +20 MiB between runs of the
    // same 200 cycles, as much as the leak this test looks for. Two arenas make the figure steady (+1 to +2.5 MiB
    // in four runs) while a real leak still shows in full.
    // Warm-up cycles (not measured): first pipeline start, first peers, the monitor's bounded histories filling
    // up and the allocator reaching its working size, so what is measured afterwards is growth, not warm-up.
    run_cycles(&gw, 100).await;
    let base = settle(&gw, u64::MAX, Duration::from_secs(10)).await;
    let baseline_tasks = live_tasks(&base);
    let rss_before = gw.rss_kib();
    let sockets_before = sockets(gw.pid());

    let started = Instant::now();
    let (connected, connected_abrupt) = run_cycles(&gw, 200).await;
    assert_eq!((connected, connected_abrupt), (50, 17));
    let elapsed = started.elapsed();

    let after = settle(&gw, baseline_tasks, Duration::from_secs(20)).await;
    // Leak detection runs on a 1 s tick after the 2 s grace: give it the chance to see a straggler.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let after2 = summary_async(&gw).await;
    let rss_after = gw.rss_kib();
    let sockets_after = sockets(gw.pid());
    eprintln!(
        "200 cycles ({connected} with a connected aiortc peer, {connected_abrupt} of them dropped abruptly) in \
         {elapsed:.1?}; tasks {baseline_tasks} → {}; \
         RSS {rss_before} → {rss_after} KiB; sockets {sockets_before} → {sockets_after}; totals {}",
        live_tasks(&after2),
        after2["totals"]
    );
    assert_eq!(after2["leaked"], 0, "no leaked task: {after2}");
    assert_eq!(
        after2["tasks"]["leaked_total"], 0,
        "no task ever leaked: {after2}"
    );
    assert!(
        live_tasks(&after) <= baseline_tasks,
        "tasks back at baseline: {after}"
    );
    assert_eq!(
        after2["connections"]["live"], 0,
        "no connection left open: {after2}"
    );
    assert!(after2["totals"]["connections_opened"].as_u64().unwrap() >= 400);
    assert!(
        sockets_after <= sockets_before + 2,
        "no socket left behind: {sockets_before} → {sockets_after}"
    );
    let (s, _, b) = http(
        "GET",
        &format!("{}/api/v1/sessions", gw.base),
        Some(ADMIN_TOKEN),
        None,
        b"",
        &[],
    );
    assert_eq!(s, 200);
    assert_eq!(
        serde_json::from_slice::<Value>(&b).unwrap()["sessions"],
        json!([])
    );
    let growth = rss_after.saturating_sub(rss_before);
    assert!(
        growth < MAX_RSS_GROWTH_KIB,
        "memory grew by {growth} KiB over 200 cycles"
    );
    assert!(gw.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_watch_stop_cycles_on_one_socket_leave_nothing_behind() {
    let gw = GatewayProcess::start(&synthetic_config(
        "synthetic_size = \"320x240\"\n[monitor]\nleak_grace_ms = 2000\n[limits]\n# Cycles far faster than a person: not what the rate limits are about.\nrate_scale = 100.0\n",
    ));
    let (mut ws, _) = WsClient::authed(&gw.ws_url(), VIEW_TOKEN).await;
    let mut peer = AiortcPeer::start().await;
    let base = settle(&gw, u64::MAX, Duration::from_secs(5)).await;
    let baseline = live_tasks(&base);
    let sockets_before = sockets(gw.pid());
    for i in 0..100 {
        if i % 10 == 0 {
            // A real peer connects and decodes before the watch ends.
            common::clients::watch_webrtc(&mut ws, &mut peer, "0").await;
            peer.expect("frame", Duration::from_secs(10)).await;
        } else {
            ws.send(json!({"type":"watch","screen":"0","transport":"webrtc"}))
                .await;
            ws.expect_type("offer").await;
        }
        if i % 2 == 0 {
            ws.send(json!({"type":"stop"})).await;
        }
        // Odd cycles: the next watch replaces the current one.
        if i % 10 == 0 {
            peer.reset().await;
        }
    }
    peer.close().await;
    ws.send(json!({"type":"stop"})).await;
    ws.send(json!({"type":"ping","id":1})).await;
    ws.expect_type("pong").await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let s = loop {
        let s = summary_async(&gw).await;
        let webrtc_live = s["connections"]["by_kind"]["webrtc"].as_u64().unwrap_or(0);
        if (live_tasks(&s) <= baseline && webrtc_live == 0) || Instant::now() > deadline {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        s["connections"]["by_kind"]["webrtc"].as_u64().unwrap_or(0),
        0,
        "no peer connection left: {s}"
    );
    assert!(
        live_tasks(&s) <= baseline,
        "tasks back at baseline {baseline}: {s}"
    );
    assert_eq!(s["leaked"], 0);
    let sockets_after = sockets(gw.pid());
    assert!(
        sockets_after <= sockets_before + 2,
        "no socket left behind: {sockets_before} → {sockets_after}"
    );
    ws.close().await;
    assert!(gw.stop().success());
}
