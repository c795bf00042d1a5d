//! Benchmark (figures printed, nothing timed is asserted): MCP `screenshot` round trips through Streamable HTTP
//! with the official Python SDK, on a 1920x1080 X screen with desktop-like content (xterms full of text, xlogo),
//! without a capture pipeline (every call captures once) and with one running (a viewer watches the screen, calls
//! reuse its latest frame). Cases: JPEG quality 80 at full size, PNG at full size, and the default (a JPEG
//! scaled to what vision models use).
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
async fn screenshot_round_trips_with_and_without_a_running_pipeline() {
    let xvfb = Xvfb::start();
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
