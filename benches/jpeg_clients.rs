//! JPEG fan-out benchmark (prints figures; not a timed test): N concurrent `/ws` JPEG clients of one screen, each
//! asking for the same preview, against the release gateway on a 1920×1080 synthetic screen.
//!
//! Prints, as medians over one-second windows: frames per second delivered to each client, the gateway's CPU
//! (percent of one core, from /proc), JPEG encodes per second (from `/api/v1/performance`), and bytes per frame —
//! so "20 clients at 10 fps cost no more than one encode per frame" can be read off directly.
//!
//! Run: `cargo bench --bench jpeg_clients` (options: `-- --clients 20 --fps 10 --seconds 15`).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const TOKEN: &str = "bench-admin-token";

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc stat");
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

fn jpeg_encodes(base: &str) -> (u64, f64) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent
        .get(format!("{base}/api/v1/performance"))
        .header("authorization", format!("Bearer {TOKEN}"))
        .call()
        .expect("performance");
    let v: Value = serde_json::from_slice(&r.body_mut().read_to_vec().unwrap()).unwrap();
    v["pipelines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "jpeg")
        .fold((0, 0.0), |(n, ms), p| {
            (
                n + p["frames_total"].as_u64().unwrap_or(0),
                ms + p["encode"]["median_ms"].as_f64().unwrap_or(0.0),
            )
        })
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` probes with --list
    }
    let clients = arg("--clients", 20) as usize;
    let fps = arg("--fps", 10);
    let seconds = arg("--seconds", 15);
    let dir = std::env::temp_dir().join(format!("sightline-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("bench.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nmax_sessions = 1024\n[auth]\nadmins = [\"{TOKEN}\"]\n[capture]\nsource = \"synthetic\"\nsynthetic_size = \"1920x1080\"\nfps = 30\n"
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sightline"))
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the gateway");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .split("open ")
        .nth(1)
        .unwrap()
        .split("/#")
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    let ws_url = format!("{}/ws", base.replace("http://", "ws://"));
    let pid = child.id();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let frames: Arc<Vec<AtomicU64>> = Arc::new((0..clients).map(|_| AtomicU64::new(0)).collect());
    let bytes = Arc::new(AtomicU64::new(0));
    rt.block_on(async {
        for i in 0..clients {
            let (frames, bytes, url) = (frames.clone(), bytes.clone(), ws_url.clone());
            tokio::spawn(async move {
                let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.expect("connect");
                ws.send(Message::Text(json!({"type":"auth","token":TOKEN}).to_string().into())).await.unwrap();
                ws.send(Message::Text(
                    json!({"type":"watch","screen":"0","transport":"jpeg","fps":fps,"quality":50,"max_width":960})
                        .to_string()
                        .into(),
                ))
                .await
                .unwrap();
                while let Some(Ok(m)) = ws.next().await {
                    if let Message::Binary(b) = m {
                        frames[i].fetch_add(1, Ordering::Relaxed);
                        bytes.fetch_add(b.len() as u64, Ordering::Relaxed);
                    }
                }
            });
        }
        tokio::time::sleep(Duration::from_secs(3)).await; // warm-up
        let tick_hz = 100.0; // USER_HZ on Linux
        let (mut per_client_fps, mut cpu, mut encodes_per_s, mut bytes_per_frame) = (vec![], vec![], vec![], vec![]);
        let mut last_frames: Vec<u64> = frames.iter().map(|f| f.load(Ordering::Relaxed)).collect();
        let (mut last_bytes, mut last_cpu) = (bytes.load(Ordering::Relaxed), cpu_ticks(pid));
        let mut last_enc = tokio::task::spawn_blocking({
            let b = base.clone();
            move || jpeg_encodes(&b)
        })
        .await
        .unwrap();
        let mut encode_ms = vec![];
        let mut t = Instant::now();
        for _ in 0..seconds {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let dt = t.elapsed().as_secs_f64();
            t = Instant::now();
            let now_frames: Vec<u64> = frames.iter().map(|f| f.load(Ordering::Relaxed)).collect();
            let delivered: u64 = now_frames.iter().zip(&last_frames).map(|(a, b)| a - b).sum();
            for (a, b) in now_frames.iter().zip(&last_frames) {
                per_client_fps.push((a - b) as f64 / dt);
            }
            let now_bytes = bytes.load(Ordering::Relaxed);
            if delivered > 0 {
                bytes_per_frame.push((now_bytes - last_bytes) as f64 / delivered as f64);
            }
            let now_cpu = cpu_ticks(pid);
            cpu.push((now_cpu - last_cpu) as f64 / tick_hz / dt * 100.0);
            let enc = tokio::task::spawn_blocking({
                let b = base.clone();
                move || jpeg_encodes(&b)
            })
            .await
            .unwrap();
            encodes_per_s.push((enc.0 - last_enc.0) as f64 / dt);
            encode_ms.push(enc.1);
            (last_frames, last_bytes, last_cpu, last_enc) = (now_frames, now_bytes, now_cpu, enc);
        }
        let fps_med = median(&mut per_client_fps);
        let enc_med = median(&mut encodes_per_s);
        println!("JPEG fan-out: {clients} clients × {fps} fps, 960-wide q50 preview of a 1920×1080 synthetic screen, {seconds} s");
        println!("| figure | median |");
        println!("|---|---|");
        println!("| frames/s delivered per client | {fps_med:.1} |");
        println!("| frames/s delivered in total | {:.0} |", fps_med * clients as f64);
        println!("| JPEG encodes/s (shared encoder) | {enc_med:.1} |");
        println!("| encodes per delivered frame | {:.3} |", enc_med / (fps_med * clients as f64).max(1e-9));
        println!("| gateway CPU, % of one core | {:.1} |", median(&mut cpu));
        println!("| bytes per frame | {:.0} |", median(&mut bytes_per_frame));
        println!("| JPEG encode ms (pipeline median) | {:.2} |", median(&mut encode_ms));
    });
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
