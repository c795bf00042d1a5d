//! Benchmark (figures printed, nothing timed is asserted): MCP `screenshot` round trips through Streamable HTTP
//! with the official Python SDK, on a 1920x1080 X screen with desktop-like content (xterms full of text, xlogo),
//! without a capture pipeline (the screen's warm still grabber grabs each call) and with one running (a viewer
//! watches the screen, calls reuse its latest frame). Cases: JPEG quality 80 at full size, PNG at full size, and
//! the default (a JPEG scaled to what vision models use).
//!
//! First, side by side in the same run: sightline against the seeds' stack, a Python MCP server with mss and
//! Pillow (tests/e2e/mss_peer.py), full-size JPEG q80 with the same client, no viewer. The peer runs in both
//! behaviours: mss opened per call (the seed's idiom, which the issue's 31.4 ms figure came from) and one warm mss
//! for the process. The issue's targets: a median of at most 10 ms and at most 0.35x the peer's.
//!
//! The figures that count come from a release build:
//!
//! ```sh
//! cargo test --release -p sightline --test mcp_bench -- --nocapture
//! ```
//!
//! `SIGHTLINE_MCP_BENCH_ITERATIONS` sets the calls per case (default 300 in release, 30 in debug builds). Next to
//! each round trip, the server's own time for the same calls is read from the audit trail (`mcp_tool_call`
//! operations), which splits the figure into gateway work and client + transport.
#![cfg(target_os = "linux")]

mod common;

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::clients::WsClient;
use common::xvfb::Xvfb;
use common::{ADMIN_TOKEN, CONTROL_TOKEN, GatewayProcess, VIEW_TOKEN, last_json, run_python};
use serde_json::{Value, json};

const CASES: [(&str, &str); 3] = [
    (
        "jpeg q80 1920x1080",
        r#"{"format":"jpeg","quality":80,"max_width":1920}"#,
    ),
    ("png 1920x1080", r#"{"format":"png","max_width":1920}"#),
    ("default (jpeg q80, scaled)", r#"{}"#),
];

/// X clients that stay up for the benchmark; killed on drop.
struct Desktop(Vec<Child>);

impl Drop for Desktop {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Fills screen 0 with content that compresses like a desktop: three xterms of directory listings and a logo.
fn desktop(xvfb: &Xvfb) -> Desktop {
    xvfb.run(0, "xsetroot", &["-solid", "#2e3440"]);
    let mut clients = Vec::new();
    for geometry in ["100x45+0+0", "100x45+960+0", "200x25+0+620"] {
        common::xvfb::require_tool("xterm");
        let child = Command::new("xterm")
            .args(["-geometry", geometry, "-fa", "Monospace", "-fs", "9", "-e"])
            .args(["sh", "-c", "ls -lR /usr/share | head -n 400; sleep 86400"])
            .env("DISPLAY", xvfb.screen(0))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("xterm starts");
        clients.push(child);
    }
    common::xvfb::require_tool("xlogo");
    clients.push(
        Command::new("xlogo")
            .args(["-geometry", "300x300+1500+700"])
            .env("DISPLAY", xvfb.screen(0))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("xlogo starts"),
    );
    // Let them draw their text before anything is measured.
    std::thread::sleep(Duration::from_secs(3));
    Desktop(clients)
}

/// The issue's targets for a full-size 1080p JPEG q80 screenshot without a viewer.
const TARGET_MEDIAN_MS: f64 = 10.0;
/// See [`TARGET_MEDIAN_MS`]: sightline's median over the peer's.
const TARGET_RATIO: f64 = 0.35;
/// How long a peer may take to listen (Python imports on a busy machine).
const PEER_START: Duration = Duration::from_secs(60);

/// The Python + mss + Pillow MCP server (tests/e2e/mss_peer.py) on screen 0; killed on drop.
struct Peer {
    child: Child,
    url: String,
}

impl Peer {
    /// Starts the peer with `behaviour` (`per-call` or `warm`) and waits until it listens.
    fn start(xvfb: &Xvfb, behaviour: &str) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(common::python())
            .arg(common::root().join("tests/e2e/mss_peer.py"))
            .args(["--port", &port.to_string(), "--mss", behaviour])
            .env("DISPLAY", xvfb.screen(0))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the peer starts");
        let mut peer = Self {
            child,
            url: format!("http://127.0.0.1:{port}/mcp"),
        };
        let deadline = std::time::Instant::now() + PEER_START;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = peer.child.try_wait() {
                panic!("the mss peer ({behaviour}) exited: {status}");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the mss peer ({behaviour}) did not listen within {PEER_START:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        peer
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One full-size JPEG q80 run of `n` calls against `url` with the auto (2026-07-28) client; the client's figures.
fn jpeg_run(url: &str, token: &str, arguments: &str, n: u32) -> Value {
    let case = format!("jpeg q80 1920x1080={arguments}");
    let n = n.to_string();
    let out = last_json(&run_python(
        "mcp_bench.py",
        &[
            "--url",
            url,
            "--token",
            token,
            "--mode",
            "auto",
            "--iterations",
            &n,
            "--warmup",
            "10",
            "--case",
            &case,
        ],
        Duration::from_secs(1800),
    ));
    let r = out["results"][0].clone();
    assert_eq!(r["image"], json!([1920, 1080]), "a full-size picture: {r}");
    r
}

/// sightline and the two peers, measured in the same run in interleaved rounds (so a busy moment of the machine
/// hits all three alike); prints the medians over all rounds and the ratios.
fn versus_peer(xvfb: &Xvfb, gw: &GatewayProcess) {
    const ROUNDS: u32 = 3;
    let n = iterations().div_ceil(ROUNDS);
    let seed = Peer::start(xvfb, "per-call");
    let warm = Peer::start(xvfb, "warm");
    let sightline_url = format!("{}/mcp", gw.base);
    let rows: [(&str, &str, &str, &str); 3] = [
        (
            "sightline (warm still grabber)",
            &sightline_url,
            CONTROL_TOKEN,
            r#"{"format":"jpeg","quality":80,"max_width":1920}"#,
        ),
        (
            "peer: per-call mss (as the seed)",
            &seed.url,
            "",
            r#"{"quality":80}"#,
        ),
        ("peer: warm mss", &warm.url, "", r#"{"quality":80}"#),
    ];
    let mut medians = vec![Vec::new(); rows.len()];
    let mut sizes = vec![0.0; rows.len()];
    for _ in 0..ROUNDS {
        for (i, (_, url, token, args)) in rows.iter().enumerate() {
            let r = jpeg_run(url, token, args, n);
            medians[i].push(r["median_ms"].as_f64().unwrap());
            sizes[i] = r["bytes"].as_f64().unwrap() / 1024.0;
        }
    }
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "\nsightline vs Python MCP server + mss 10.2 + Pillow 13 (same Xvfb screen, same client, auto protocol, \
         full-size JPEG q80, no viewer; {ROUNDS} interleaved rounds of {n} calls)"
    );
    println!(
        "{:<34} {:>16} {:>24} {:>7}",
        "server", "median ms", "round medians ms", "KB"
    );
    for (i, (name, ..)) in rows.iter().enumerate() {
        let rounds: Vec<String> = medians[i].iter().map(|m| format!("{m:.2}")).collect();
        println!(
            "{name:<34} {:>16.2} {:>24} {:>7.0}",
            median(&medians[i]),
            rounds.join(" "),
            sizes[i]
        );
    }
    let ours = median(&medians[0]);
    for (i, what) in [(1, "per-call mss peer (the seed)"), (2, "warm mss peer")] {
        println!(
            "ratio sightline / {what}: {:.3} (target <= {TARGET_RATIO})",
            ours / median(&medians[i])
        );
    }
    println!("sightline median {ours:.2} ms (target <= {TARGET_MEDIAN_MS} ms)");
}

fn iterations() -> u32 {
    std::env::var("SIGHTLINE_MCP_BENCH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) { 30 } else { 300 })
}

/// One case: the client's figures and the server's (median, p95) for the same calls.
struct Figures {
    client: Value,
    server: (f64, f64),
}

/// Runs every case with a fresh client in `mode`. Each case runs on its own so its calls are still in the
/// monitor's list of recent operations when the server's times are read.
fn bench(gw: &GatewayProcess, mode: &str) -> (String, Vec<Figures>) {
    let url = format!("{}/mcp", gw.base);
    let n = iterations().to_string();
    let mut protocol = String::new();
    let figures = CASES
        .iter()
        .map(|(name, args)| {
            let case = format!("{name}={args}");
            let out = last_json(&run_python(
                "mcp_bench.py",
                &[
                    "--url",
                    &url,
                    "--token",
                    CONTROL_TOKEN,
                    "--mode",
                    mode,
                    "--iterations",
                    &n,
                    "--warmup",
                    "10",
                    "--case",
                    &case,
                ],
                Duration::from_secs(1800),
            ));
            protocol = out["protocol"].as_str().unwrap_or_default().to_owned();
            Figures {
                client: out["results"][0].clone(),
                server: server_time(gw, args, iterations() as usize),
            }
        })
        .collect();
    (protocol, figures)
}

/// The gateway's own time for the last `n` screenshot calls with these arguments, from the audit trail:
/// (median, p95) in ms.
fn server_time(gw: &GatewayProcess, args: &str, n: usize) -> (f64, f64) {
    let (status, _, body) = common::http(
        "GET",
        &format!("{}/api/v0/mcp/monitor/webrtc/operations", gw.base),
        Some(ADMIN_TOKEN),
        None,
        b"",
        &[],
    );
    assert_eq!(status, 200);
    let ops: Value = serde_json::from_slice(&body).unwrap();
    let wanted: Value = serde_json::from_str(args).unwrap();
    let mut ms: Vec<f64> = ops["recent"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == "mcp_tool_call" && o["detail"]["tool"] == "screenshot")
        .filter(|o| o["detail"]["arguments"] == wanted)
        .take(n)
        .filter_map(|o| o["duration_ms"].as_f64())
        .collect();
    assert_eq!(ms.len(), n, "every measured call is in the audit trail");
    ms.sort_by(f64::total_cmp);
    let rank = ((0.95 * ms.len() as f64).ceil() as usize).clamp(1, ms.len());
    (ms[ms.len() / 2], ms[rank - 1])
}

fn print_table(title: &str, (protocol, figures): &(String, Vec<Figures>)) {
    println!("\n{title} (protocol {protocol})");
    println!(
        "{:<28} {:>11} {:>11} {:>12} {:>12} {:>9} {:>10}",
        "case", "median ms", "p95 ms", "server med", "server p95", "KB", "image"
    );
    for f in figures {
        let r = &f.client;
        println!(
            "{:<28} {:>11.2} {:>11.2} {:>12.2} {:>12.2} {:>9.0} {:>10}",
            r["case"].as_str().unwrap(),
            r["median_ms"].as_f64().unwrap(),
            r["p95_ms"].as_f64().unwrap(),
            f.server.0,
            f.server.1,
            r["bytes"].as_f64().unwrap() / 1024.0,
            format!("{}x{}", r["image"][0], r["image"][1]),
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn screenshot_round_trips_against_the_mss_peer_and_with_and_without_a_running_pipeline() {
    let xvfb = Arc::new(Xvfb::start());
    let _desktop = desktop(&xvfb);
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[auth]\nviewers = [\"{VIEW_TOKEN}\"]\ncontrollers = [\"{CONTROL_TOKEN}\"]\n\
         admins = [\"{ADMIN_TOKEN}\"]\n[capture]\nsource = \"x11\"\ndisplay = \"{}\"\n\
         # Back-to-back screenshots measure latency, not what the rate limits are about.\n[limits]\nrate_scale = 100.0\n",
        xvfb.display()
    );
    let gw = Arc::new(GatewayProcess::start(&config));
    let n = iterations() as usize;
    println!(
        "MCP screenshot round trips: Python SDK (mcp 2.x) over Streamable HTTP, screen 0 of Xvfb 1920x1080, {n} calls \
         per case after 10 warm-up calls, {} build",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );

    {
        let g = Arc::clone(&gw);
        let x = Arc::clone(&xvfb);
        tokio::task::spawn_blocking(move || versus_peer(&x, &g))
            .await
            .unwrap();
    }

    for mode in ["auto", "legacy"] {
        let g = Arc::clone(&gw);
        let m = mode.to_owned();
        let idle = tokio::task::spawn_blocking(move || bench(&g, &m))
            .await
            .unwrap();
        print_table(&format!("no pipeline running, {mode} client"), &idle);
    }

    // A viewer watches screen 0: the capture pipeline runs and screenshots reuse its latest frame.
    let (mut viewer, _) = WsClient::authed(&gw.ws_url(), VIEW_TOKEN).await;
    viewer
        .send(json!({"type": "watch", "screen": "0", "transport": "jpeg", "fps": 10}))
        .await;
    viewer.expect_type("frame").await;
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let drain = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = &mut stopped => return,
                _ = viewer.next_timeout(Duration::from_millis(200)) => {}
            }
        }
    });
    for mode in ["auto", "legacy"] {
        let g = Arc::clone(&gw);
        let m = mode.to_owned();
        let running = tokio::task::spawn_blocking(move || bench(&g, &m))
            .await
            .unwrap();
        print_table(&format!("pipeline running, {mode} client"), &running);
        for f in &running.1 {
            assert_eq!(f.client["n"], n, "every call succeeded: {}", f.client);
        }
    }
    let _ = stop.send(());
    drain.await.unwrap();
}
