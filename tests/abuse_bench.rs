//! Flood and abuse bench (issue 11; prints figures, not a timed test): an unrelated JPEG viewer's frame rate and
//! `/healthz` latency before, during and after each flood, and the gateway's RSS and open fds before and after
//! three identical rounds of it; then memory per viewer.
//!
//! The floods, each from its own loopback address (so limits and bans fall on the attacker, never on the viewer,
//! who connects from `127.0.0.2`, nor on the prober, `127.0.0.3`):
//! - `big-frames`: unauthenticated `/ws` sockets each sending a frame header that declares 15 MiB, then the
//!   payload (the gateway should close at the header, 1009);
//! - `slowloris`: half-sent requests (a header byte every 3 s), idle connections and 400 KB headers, spread over
//!   four addresses (the gateway should time them out, 408, and refuse big heads, 431);
//! - `profiles`: 32 WebRTC watches with distinct widths and 48 MJPEG streams with distinct qualities, one view
//!   token (the gateway should snap them onto a few shared encoders and rate-limit the watches);
//! - `messages`: one authenticated control socket sending pings and pointer moves as fast as it can (the gateway
//!   should answer `rate_limited` and ban the address);
//! - `mcp-sessions`: MCP `initialize` in a loop with one view token (the gateway should cap the token's sessions).
//!
//! Targets: the viewer keeps ≥ 90 % of its frame rate under every flood; RSS after three rounds within 30 MB of
//! its value before; ≤ 2 MB per viewer. Run: `scripts/bench-abuse.sh` (release build). Knobs (environment):
//! `SIGHTLINE_BENCH_FLOODS` (comma list of the names above; default all), `SIGHTLINE_BENCH_SIZE` (synthetic
//! screen, default 1280x720), `SIGHTLINE_BENCH_VIEWERS` (JPEG viewers of the per-viewer figure, default 50),
//! `SIGHTLINE_BENCH_WEBRTC_VIEWERS` (aiortc viewers of the same figure, default 6; 0 skips it).

mod common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use common::flood::{self, HealthProbe, HealthStats, Profile, Viewer};
use common::{ADMIN_TOKEN, CONTROL_TOKEN, GatewayProcess, VIEW_TOKEN};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

/// The attacker's tokens: a view token for watches and MCP, a control token for input.
const ATTACK_VIEW: &str = "attacker-view-0001";
const ATTACK_CONTROL: &str = "attacker-control-0001";
/// Tokens of the per-viewer memory figure (watches per token are rate-limited; spread them).
const CROWD: [&str; 8] = [
    "crowd-01", "crowd-02", "crowd-03", "crowd-04", "crowd-05", "crowd-06", "crowd-07", "crowd-08",
];

/// Each measurement window of the viewer's frame rate.
const WINDOW: Duration = Duration::from_secs(5);
/// Flood running before its "during" window starts.
const RAMP: Duration = Duration::from_secs(2);
/// Quiet after a flood stopped, before the next round or the "after" window.
const SETTLE: Duration = Duration::from_secs(3);
/// Rounds of each flood.
const ROUNDS: usize = 3;
/// The viewer's request: the preview defaults.
const VIEWER_FPS: u32 = 10;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn config(size: &str) -> String {
    let crowd: Vec<String> = CROWD.iter().map(|t| format!("\"{t}\"")).collect();
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[auth]\nviewers = [\"{VIEW_TOKEN}\", \"{ATTACK_VIEW}\", {}]\n\
         controllers = [\"{CONTROL_TOKEN}\", \"{ATTACK_CONTROL}\"]\nadmins = [\"{ADMIN_TOKEN}\"]\n\
         [capture]\nsource = \"synthetic\"\nsynthetic_size = \"{size}\"\n",
        crowd.join(", ")
    )
}

/// What one flood did, in its own words (one line per round).
type Outcome = Vec<String>;

/// Runs one round of flood `name` until `stop` flips; returns what happened.
async fn flood_round(name: &str, addr: String, stop: watch::Receiver<bool>) -> String {
    match name {
        "big-frames" => big_frames(addr, stop).await,
        "slowloris" => slowloris(addr, stop).await,
        "profiles" => profiles(addr, stop).await,
        "messages" => messages(addr, stop).await,
        "mcp-sessions" => mcp_sessions(addr, stop).await,
        other => panic!("unknown flood {other}"),
    }
}

/// Per-flood figures.
struct FloodReport {
    name: String,
    fps: [f64; 3],
    fps_during_min: f64,
    health: [HealthStats; 3],
    /// Before the first round, after the third.
    rss_mb: (f64, f64),
    /// The most while a round's flood ran.
    rss_during_mb: f64,
    fds: (usize, usize),
    fds_during: usize,
    outcome: Outcome,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with scripts/bench-abuse.sh"]
async fn bench_abuse() {
    let size = env_or("SIGHTLINE_BENCH_SIZE", "1280x720");
    let floods = env_or(
        "SIGHTLINE_BENCH_FLOODS",
        "big-frames,slowloris,profiles,messages,mcp-sessions",
    );
    let gw = GatewayProcess::start(&config(&size));
    let (addr, pid) = (gw.addr.clone(), gw.pid());
    let probe = HealthProbe::start(flood::source(3), &addr, Duration::from_millis(100));
    let viewer = Viewer::start(flood::source(2), &addr, VIEW_TOKEN, VIEWER_FPS, 50, 960)
        .await
        .expect("the viewer starts");
    tokio::time::sleep(Duration::from_secs(3)).await;
    println!(
        "\nabuse bench: synthetic {size}, viewer JPEG {VIEWER_FPS} fps q50 w960 from 127.0.0.2, /healthz every 100 ms from 127.0.0.3"
    );

    let mut reports = Vec::new();
    for name in floods.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let t_before = Instant::now();
        let fps_before = viewer.fps_over(WINDOW).await;
        let h_before = probe.window(t_before);
        let (rss0, fds0) = (flood::rss_kib(pid), flood::open_fds(pid));
        let mut during = Vec::new();
        let mut h_during = Vec::new();
        let mut outcome = Vec::new();
        let (mut rss_during, mut fds_during) = (0, 0);
        for round in 0..ROUNDS {
            let (tx, rx) = watch::channel(false);
            let peaks = tokio::spawn(peak_usage(pid, rx.clone()));
            let task = tokio::spawn({
                let (name, addr) = (name.to_owned(), addr.clone());
                async move { flood_round(&name, addr, rx).await }
            });
            tokio::time::sleep(if name == "slowloris" { RAMP * 4 } else { RAMP }).await;
            let t = Instant::now();
            during.push(viewer.fps_over(WINDOW).await);
            h_during.push(probe.window(t));
            let _ = tx.send(true);
            if let Ok((rss, fds)) = peaks.await {
                rss_during = rss_during.max(rss);
                fds_during = fds_during.max(fds);
            }
            let line = tokio::time::timeout(Duration::from_secs(60), task)
                .await
                .map(|r| r.unwrap_or_else(|e| format!("flood task failed: {e}")))
                .unwrap_or_else(|_| "flood did not stop within 60 s".into());
            outcome.push(format!("round {}: {line}", round + 1));
            tokio::time::sleep(SETTLE).await;
        }
        let (rss1, fds1) = (flood::rss_kib(pid), flood::open_fds(pid));
        let t_after = Instant::now();
        let fps_after = viewer.fps_over(WINDOW).await;
        let h_after = probe.window(t_after);
        let mean = during.iter().sum::<f64>() / during.len() as f64;
        let r = FloodReport {
            name: name.to_owned(),
            fps: [fps_before, mean, fps_after],
            fps_during_min: during.iter().copied().fold(f64::INFINITY, f64::min),
            health: [h_before, merge(&h_during), h_after],
            rss_mb: (rss0 as f64 / 1024.0, rss1 as f64 / 1024.0),
            rss_during_mb: rss_during as f64 / 1024.0,
            fds: (fds0, fds1),
            fds_during,
            outcome,
        };
        print_flood(&r);
        assert!(viewer.alive(), "the viewer's socket ended during {name}");
        reports.push(r);
    }
    let per_viewer = memory_per_viewer(&gw).await;
    print_summary(&reports, &per_viewer);
    probe.stop();
    let _ = viewer.stop().await;
}

/// The most RSS (KiB) and open fds of `pid`, sampled every 100 ms until `stop` flips.
async fn peak_usage(pid: u32, mut stop: watch::Receiver<bool>) -> (u64, usize) {
    let (mut rss, mut fds) = (0, 0);
    loop {
        rss = rss.max(flood::rss_kib(pid));
        fds = fds.max(flood::open_fds(pid));
        tokio::select! {
            _ = stop.changed() => return (rss, fds),
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
}

/// The during-windows of all rounds as one: worst p50 and p99, summed counts.
fn merge(h: &[HealthStats]) -> HealthStats {
    HealthStats {
        p50_ms: h.iter().map(|h| h.p50_ms).fold(f64::NAN, f64::max),
        p99_ms: h.iter().map(|h| h.p99_ms).fold(f64::NAN, f64::max),
        ok: h.iter().map(|h| h.ok).sum(),
        failed: h.iter().map(|h| h.failed).sum(),
    }
}

fn print_flood(r: &FloodReport) {
    let [b, d, a] = r.fps;
    println!("\n== flood {} ({ROUNDS} rounds)", r.name);
    println!(
        "viewer fps: before {b:.2}, during {d:.2} (worst round {:.2}), after {a:.2}; during/before {:.0} %",
        r.fps_during_min,
        100.0 * r.fps_during_min / b
    );
    for (label, h) in ["before", "during", "after"].iter().zip(&r.health) {
        println!(
            "/healthz {label}: p50 {:.1} ms, p99 {:.1} ms ({} ok, {} failed)",
            h.p50_ms, h.p99_ms, h.ok, h.failed
        );
    }
    println!(
        "RSS {:.1} MB -> {:.1} MB after {ROUNDS} rounds ({:+.1} MB; at most {:.1} MB during); open fds {} -> {} \
         (at most {} during)",
        r.rss_mb.0,
        r.rss_mb.1,
        r.rss_mb.1 - r.rss_mb.0,
        r.rss_during_mb,
        r.fds.0,
        r.fds.1,
        r.fds_during
    );
    for l in &r.outcome {
        println!("  {l}");
    }
}

/// (label, viewers, MB per viewer).
type PerViewer = Vec<(String, usize, f64)>;

fn print_summary(reports: &[FloodReport], per_viewer: &PerViewer) {
    let mark = |ok: bool| if ok { "ok" } else { "MISS" };
    println!(
        "\n== summary (targets: viewer >= 90 % fps under every flood; RSS after 3 rounds within 30 MB; <= 2 MB per viewer)"
    );
    println!(
        "| flood | viewer fps before / during (worst) / after | ratio | /healthz p50 / p99 ms during | RSS MB before -> during (max) -> after | fds before -> during (max) -> after | target |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in reports {
        let ratio = r.fps_during_min / r.fps[0];
        let rss_ok = r.rss_mb.1 - r.rss_mb.0 <= 30.0;
        println!(
            "| {} | {:.2} / {:.2} ({:.2}) / {:.2} | {:.0} % | {:.1} / {:.1} ({} failed) | {:.1} -> {:.1} -> {:.1} | {} -> {} -> {} | fps {}, RSS {} |",
            r.name,
            r.fps[0],
            r.fps[1],
            r.fps_during_min,
            r.fps[2],
            100.0 * ratio,
            r.health[1].p50_ms,
            r.health[1].p99_ms,
            r.health[1].failed,
            r.rss_mb.0,
            r.rss_during_mb,
            r.rss_mb.1,
            r.fds.0,
            r.fds_during,
            r.fds.1,
            mark(ratio >= 0.9),
            mark(rss_ok)
        );
    }
    for (label, n, mb) in per_viewer {
        println!(
            "memory per viewer, {n} {label}: {mb:.2} MB ({})",
            mark(*mb <= 2.0)
        );
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The floods

/// 16 attackers, each: upgrade `/ws`, send a text frame header declaring 15 MiB, then the payload in 64 KiB
/// chunks until the gateway stops taking it; reconnect.
async fn big_frames(addr: String, stop: watch::Receiver<bool>) -> String {
    const ATTACKERS: usize = 16;
    const DECLARED: u64 = 15 * 1024 * 1024;
    let src = flood::source(11);
    let tasks: Vec<_> = (0..ATTACKERS)
        .map(|_| {
            let (addr, stop) = (addr.clone(), stop.clone());
            tokio::spawn(async move {
                let (mut attempts, mut upgraded, mut accepted, mut closes) = (0u64, 0u64, 0u64, Vec::new());
                while !*stop.borrow() {
                    attempts += 1;
                    let Ok(mut tcp) = flood::tcp_from(src, &addr).await else {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    };
                    let req = format!(
                        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                    );
                    if tcp.write_all(req.as_bytes()).await.is_err() {
                        continue;
                    }
                    match flood::read_head(&mut tcp).await {
                        Ok(h) if h.starts_with("HTTP/1.1 101") => upgraded += 1,
                        _ => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    }
                    let mut header = vec![0x81u8, 0x80 | 127];
                    header.extend_from_slice(&DECLARED.to_be_bytes());
                    header.extend_from_slice(&[1, 2, 3, 4]);
                    let (mut rd, mut wr) = tcp.into_split();
                    let reader = tokio::spawn(async move {
                        let mut b = [0u8; 4];
                        match tokio::time::timeout(Duration::from_secs(30), rd.read_exact(&mut b)).await {
                            Ok(Ok(_)) if b[0] == 0x88 => Some(u16::from_be_bytes([b[2], b[3]])),
                            _ => None,
                        }
                    });
                    let chunk = vec![0u8; 64 * 1024];
                    let mut sent = 0u64;
                    if wr.write_all(&header).await.is_ok() {
                        while sent < DECLARED && !*stop.borrow() {
                            match tokio::time::timeout(Duration::from_secs(2), wr.write_all(&chunk)).await {
                                Ok(Ok(())) => sent += chunk.len() as u64,
                                _ => break,
                            }
                        }
                    }
                    drop(wr);
                    accepted += sent;
                    reader.abort();
                    if let Ok(Some(code)) = reader.await {
                        closes.push(code);
                    }
                }
                (attempts, upgraded, accepted, closes)
            })
        })
        .collect();
    let (mut attempts, mut upgraded, mut accepted, mut closes) = (0, 0, 0, Vec::new());
    for t in tasks {
        if let Ok((a, u, b, c)) = t.await {
            attempts += a;
            upgraded += u;
            accepted += b;
            closes.extend(c);
        }
    }
    closes.sort_unstable();
    closes.dedup();
    format!(
        "{attempts} connections, {upgraded} upgraded; the attacker's socket took {:.1} MiB of payload in all ({:.0} KiB per \
         upgrade, kernel buffers on both sides included); close codes seen {closes:?}",
        accepted as f64 / 1048576.0,
        accepted as f64 / 1024.0 / upgraded.max(1) as f64
    )
}

/// 300 half-sent requests (one header byte every 3 s) and 50 idle connections over four addresses, and 10
/// requests with 400 KB of headers; counts what the gateway closed.
async fn slowloris(addr: String, stop: watch::Receiver<bool>) -> String {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..360usize {
        let (addr, mut stop) = (addr.clone(), stop.clone());
        let src = flood::source(120 + (i % 4) as u8);
        tasks.push(tokio::spawn(async move {
            let Ok(mut tcp) = flood::tcp_from(src, &addr).await else {
                return ("connect failed", Duration::ZERO);
            };
            let t0 = Instant::now();
            let kind = if i < 300 { "half" } else if i < 350 { "idle" } else { "big" };
            let opened = match kind {
                "half" => tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await,
                "big" => {
                    let mut h = String::from("GET /healthz HTTP/1.1\r\n");
                    for n in 0..400 {
                        h.push_str(&format!("X-Pad-{n}: {}\r\n", "a".repeat(1000)));
                    }
                    h.push_str("\r\n");
                    tcp.write_all(h.as_bytes()).await
                }
                _ => Ok(()),
            };
            if opened.is_err() {
                return ("closed while sending", t0.elapsed());
            }
            let mut buf = [0u8; 512];
            let mut tick = tokio::time::interval(Duration::from_secs(3));
            loop {
                tokio::select! {
                    _ = stop.changed() => return ("still held", t0.elapsed()),
                    r = tcp.read(&mut buf) => {
                        let status = String::from_utf8_lossy(&buf[..r.unwrap_or(0)]).into_owned();
                        let kind = if status.contains(" 408") {
                            "answered 408"
                        } else if status.contains(" 431") {
                            "answered 431"
                        } else if status.contains(" 429") || status.contains(" 503") {
                            "refused with 429/503"
                        } else if t0.elapsed() < Duration::from_millis(500) {
                            "refused at once"
                        } else {
                            "closed without answer"
                        };
                        return (kind, t0.elapsed());
                    }
                    _ = tick.tick(), if kind == "half" => {
                        if tcp.write_all(b"X").await.is_err() { return ("closed while sending", t0.elapsed()); }
                    }
                }
            }
        }));
    }
    let mut counts = std::collections::BTreeMap::<&str, (usize, Duration)>::new();
    for t in tasks {
        if let Ok((k, d)) = t.await {
            let e = counts.entry(k).or_default();
            e.0 += 1;
            e.1 = e.1.max(d);
        }
    }
    let parts: Vec<String> = counts
        .iter()
        .map(|(k, (n, d))| format!("{n} {k} (the last after {:.1} s)", d.as_secs_f64()))
        .collect();
    format!(
        "360 connections over {:.0} s: {}",
        start.elapsed().as_secs_f64(),
        parts.join(", ")
    )
}

/// 32 WebRTC watches with distinct widths and 48 MJPEG streams with distinct qualities, one view token.
async fn profiles(addr: String, mut stop: watch::Receiver<bool>) -> String {
    let mut set: Vec<Profile> = (0..32)
        .map(|i| Profile::Webrtc {
            max_width: 320 + 40 * i,
        })
        .collect();
    set.extend((0..48).map(|i| Profile::Mjpeg {
        quality: 40 + i as u8,
        max_width: 960,
    }));
    let ids = [(flood::source(13), ATTACK_VIEW)];
    let held = flood::open_profiles(&addr, &ids, &set, 16).await;
    let encoders = flood::encoders(flood::source(4), &addr, ADMIN_TOKEN)
        .await
        .unwrap_or(0);
    let _ = stop.changed().await;
    let (opened, refused) = (held.len(), held.refused.len());
    let mut reasons: Vec<String> = held
        .refused
        .iter()
        .map(|(_, e)| e.chars().take(80).collect())
        .collect();
    reasons.sort();
    reasons.dedup();
    held.close().await;
    format!(
        "{opened} of {} opened, {refused} refused, {encoders} encoders running; refusals: {reasons:?}",
        set.len()
    )
}

/// One control socket: pings and pointer moves in bursts of 100, as fast as the socket takes them (capped at
/// 20,000 a second so the client does not starve the machine); reconnects every 500 ms once closed.
async fn messages(addr: String, stop: watch::Receiver<bool>) -> String {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let src = flood::source(14);
    let (mut sent, mut pongs, mut limited, mut connects, mut refused) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut closes: Vec<String> = Vec::new();
    while !*stop.borrow() {
        let ws = match flood::ws_authed(src, &addr, ATTACK_CONTROL).await {
            Ok(ws) => ws,
            Err(e) => {
                refused += 1;
                if closes.len() < 3 {
                    closes.push(format!(
                        "reconnect refused: {}",
                        e.chars().take(60).collect::<String>()
                    ));
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        connects += 1;
        let (mut tx, mut rx) = ws.split();
        let reader = tokio::spawn(async move {
            let (mut p, mut l, mut close) = (0u64, 0u64, None);
            while let Some(Ok(m)) = rx.next().await {
                match m {
                    Message::Text(t) if t.contains("\"pong\"") => p += 1,
                    Message::Text(t) if t.contains("rate_limited") => l += 1,
                    Message::Close(f) => {
                        close = f.map(|f| format!("{} {}", u16::from(f.code), f.reason))
                    }
                    _ => {}
                }
            }
            (p, l, close)
        });
        let mut n = 0u64;
        'send: while !*stop.borrow() {
            let t = Instant::now();
            for _ in 0..50 {
                n += 1;
                let ping = json!({"type":"ping","id":n}).to_string();
                let x = (n % 1000) as f64 / 1000.0;
                let mv = json!({"type":"pointer","action":"move","x":x,"y":0.5}).to_string();
                if tx.send(Message::Text(ping.into())).await.is_err()
                    || tx.send(Message::Text(mv.into())).await.is_err()
                {
                    break 'send;
                }
                sent += 2;
            }
            tokio::time::sleep(Duration::from_millis(5).saturating_sub(t.elapsed())).await;
        }
        let _ = tx.close().await;
        if let Ok(Ok((p, l, close))) = tokio::time::timeout(Duration::from_secs(5), reader).await {
            pongs += p;
            limited += l;
            if let Some(c) = close
                && closes.len() < 6
            {
                closes.push(format!("closed {c}"));
            }
        }
    }
    format!(
        "{sent} messages sent on {connects} sockets, {pongs} pongs, {limited} rate_limited, {refused} reconnects refused; {closes:?}"
    )
}

/// Eight workers: MCP `initialize` with one view token in a loop, never ending the sessions.
async fn mcp_sessions(addr: String, stop: watch::Receiver<bool>) -> String {
    let src = flood::source(15);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (addr, stop) = (addr.clone(), stop.clone());
            tokio::spawn(async move {
                let mut statuses = std::collections::BTreeMap::<String, u64>::new();
                let body = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
                    "protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"flood","version":"1"}}})
                .to_string();
                let auth = format!("Bearer {ATTACK_VIEW}");
                while !*stop.borrow() {
                    let s = mcp_post(src, &addr, &auth, &body).await;
                    *statuses.entry(s).or_default() += 1;
                }
                statuses
            })
        })
        .collect();
    let mut all = std::collections::BTreeMap::<String, u64>::new();
    for t in tasks {
        for (k, v) in t.await.unwrap_or_default() {
            *all.entry(k).or_default() += v;
        }
    }
    format!("initialize answers: {all:?}")
}

/// POSTs one MCP message and returns the status (or the failure), reading only the response head.
async fn mcp_post(src: IpAddr, addr: &str, auth: &str, body: &str) -> String {
    let Ok(mut tcp) = flood::tcp_from(src, addr).await else {
        tokio::time::sleep(Duration::from_millis(50)).await;
        return "connect failed".into();
    };
    let req = format!(
        "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if tcp.write_all(req.as_bytes()).await.is_err() {
        return "write failed".into();
    }
    match flood::read_head(&mut tcp).await {
        Ok(h) => {
            let status = h.split_whitespace().nth(1).unwrap_or("?").to_owned();
            if status != "200" {
                // A refused client backs off a little, as a well-behaved one would after 429.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            status
        }
        Err(e) => {
            tokio::time::sleep(Duration::from_millis(50)).await;
            e.chars().take(40).collect()
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Memory per viewer

/// RSS growth per viewer with N JPEG viewers on one profile, and with N aiortc WebRTC viewers.
async fn memory_per_viewer(gw: &GatewayProcess) -> PerViewer {
    let (addr, pid) = (gw.addr.clone(), gw.pid());
    let mut out = Vec::new();
    let n: usize = env_or("SIGHTLINE_BENCH_VIEWERS", "50")
        .parse()
        .expect("SIGHTLINE_BENCH_VIEWERS");
    let ids: Vec<flood::Identity<'_>> = CROWD
        .iter()
        .enumerate()
        .map(|(i, t)| (flood::source(60 + i as u8), *t))
        .collect();
    let set = vec![
        Profile::Jpeg {
            quality: 50,
            max_width: 960
        };
        n
    ];
    let before = steady_rss(pid).await;
    let held = flood::open_profiles(&addr, &ids, &set, 8).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let during = steady_rss(pid).await;
    let opened = held.len();
    println!(
        "\n== memory per viewer\n{opened} JPEG viewers (q50 w960, {} refused): RSS {:.1} -> {:.1} MB",
        held.refused.len(),
        before as f64 / 1024.0,
        during as f64 / 1024.0
    );
    held.close().await;
    out.push((
        "JPEG viewers".to_owned(),
        opened,
        per(during, before, opened),
    ));

    // The first WebRTC viewer starts the screen's H.264 encoder; the figure is what each further viewer adds.
    // Viewers may move between tiers (each tier its own encoder), so the encoders running are printed beside it.
    let n: usize = env_or("SIGHTLINE_BENCH_WEBRTC_VIEWERS", "6")
        .parse()
        .expect("SIGHTLINE_BENCH_WEBRTC_VIEWERS");
    if n > 1 {
        tokio::time::sleep(SETTLE).await;
        let before = steady_rss(pid).await;
        let mut peers = vec![webrtc_viewer(gw).await];
        tokio::time::sleep(Duration::from_secs(8)).await;
        let (one, enc_one) = (steady_rss(pid).await, encoders(&addr).await);
        for _ in 1..n {
            peers.push(webrtc_viewer(gw).await);
        }
        tokio::time::sleep(Duration::from_secs(8)).await;
        let (all, enc_all) = (steady_rss(pid).await, encoders(&addr).await);
        println!(
            "WebRTC viewers (aiortc, connected): RSS {:.1} MB; {:.1} MB with the first (its encoder included, {enc_one} \
             encoders running); {:.1} MB with {n} ({enc_all} encoders running)",
            before as f64 / 1024.0,
            one as f64 / 1024.0,
            all as f64 / 1024.0
        );
        for (ws, peer) in peers {
            peer.close().await;
            ws.close().await;
        }
        out.push((
            "WebRTC viewers after the first".to_owned(),
            n - 1,
            per(all, one, n - 1),
        ));
    }
    out
}

/// The median of five RSS readings 200 ms apart, KiB.
async fn steady_rss(pid: u32) -> u64 {
    let mut v = Vec::new();
    for _ in 0..5 {
        v.push(flood::rss_kib(pid));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    v.sort_unstable();
    v[2]
}

/// Encoder pipelines running (the JPEG viewer's included), from the monitor.
async fn encoders(addr: &str) -> usize {
    flood::encoders(flood::source(4), addr, ADMIN_TOKEN)
        .await
        .unwrap_or(0)
}

/// A connected aiortc viewer of screen 0 (the bench's own token and address: not a flood).
async fn webrtc_viewer(
    gw: &GatewayProcess,
) -> (common::clients::WsClient, common::clients::AiortcPeer) {
    let (mut ws, _) = common::clients::WsClient::authed(&gw.ws_url(), VIEW_TOKEN).await;
    let mut peer = common::clients::AiortcPeer::start().await;
    common::clients::watch_webrtc(&mut ws, &mut peer, "0").await;
    (ws, peer)
}

fn per(during: u64, before: u64, n: usize) -> f64 {
    during.saturating_sub(before) as f64 / 1024.0 / n.max(1) as f64
}
