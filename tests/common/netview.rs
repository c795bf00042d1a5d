//! A browser script that runs *while* the test acts — shapes links, reads the monitor — instead of to completion:
//! `tests/e2e/network_viewer.mjs` (sightline's viewer page) or `network_c2c.mjs` (the Chromium→Chromium
//! baseline). They print one JSON object per line (`started`, then a `sample` per viewer per second, see
//! `tests/e2e/network_lib.mjs`); this side collects the lines on a thread and stops the script by writing "stop".
//!
//! [`Samples`] turns a viewer's per-second samples into the figures the tests assert and the benchmark prints:
//! received bitrate, decoded frame rate, glass-to-glass latency percentiles and the longest freeze, over any
//! window of wall-clock time (the test's clock and the browser's are the same host's).

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::{ensure_test_deps, root};

/// Longest a script may take to open its pages (two Chromium starts inside namespaces on a busy machine).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest a script may take to close its browsers after "stop".
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Wall-clock now in ms since the Unix epoch (the unit of the samples' `t` and barcode times).
pub fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

/// A running script.
pub struct LiveNode {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Arc<Mutex<Vec<Value>>>,
    stderr: Arc<Mutex<String>>,
    what: String,
}

impl LiveNode {
    /// Starts `node tests/e2e/<script> <args>` and waits for its `started` line.
    ///
    /// # Panics
    /// When the script fails or does not start its pages within a minute (with its output).
    pub fn start(script: &str, args: &[&str]) -> Self {
        ensure_test_deps();
        let mut child = Command::new("node")
            .current_dir(root().join("tests/e2e"))
            .arg(root().join("tests/e2e").join(script))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start node {script}: {e}"));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        {
            let out = child.stdout.take().expect("piped stdout");
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    match serde_json::from_str::<Value>(&line) {
                        Ok(v) => lines.lock().unwrap().push(v),
                        Err(_) => eprintln!("{line}"),
                    }
                }
            });
        }
        {
            let mut err = child.stderr.take().expect("piped stderr");
            let sink = stderr.clone();
            std::thread::spawn(move || {
                let mut s = String::new();
                let mut buf = [0u8; 4096];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    s.push_str(&String::from_utf8_lossy(&buf[..n]));
                    // Bounded: Chromium can be chatty for minutes.
                    if s.len() > 1 << 18 {
                        s.drain(..s.len() - (1 << 17));
                    }
                    *sink.lock().unwrap() = s.clone();
                }
            });
        }
        let stdin = child.stdin.take();
        let node = Self {
            child,
            stdin,
            lines,
            stderr,
            what: script.to_owned(),
        };
        node.wait_for("the pages to open", START_TIMEOUT, |lines| {
            lines.iter().any(|l| l["event"] == "started")
        });
        node
    }

    /// Waits until `done(lines so far)` holds; panics with `what`, the output and stderr on timeout or when the
    /// script fails.
    pub fn wait_for(&self, what: &str, timeout: Duration, done: impl Fn(&[Value]) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let lines = self.lines.lock().unwrap();
                if done(&lines) {
                    return;
                }
                if let Some(e) = lines.iter().find(|l| l["event"] == "error") {
                    panic!(
                        "{} failed: {}\n--- stderr\n{}",
                        self.what,
                        e["error"],
                        self.stderr()
                    );
                }
            }
            assert!(
                Instant::now() < deadline,
                "{}: timed out after {timeout:?} waiting for {what}; last lines:\n{}\n--- stderr\n{}",
                self.what,
                self.tail(5),
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<Value> {
        self.lines.lock().unwrap().clone()
    }

    /// Viewer `name`'s samples so far.
    pub fn samples(&self, name: &str) -> Samples {
        Samples(
            self.lines
                .lock()
                .unwrap()
                .iter()
                .filter(|l| l["event"] == "sample" && l["viewer"] == name)
                .cloned()
                .collect(),
        )
    }

    /// Viewer `name`'s most recent sample.
    pub fn last(&self, name: &str) -> Option<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|l| l["event"] == "sample" && l["viewer"] == name)
            .cloned()
    }

    fn tail(&self, n: usize) -> String {
        let lines = self.lines.lock().unwrap();
        lines[lines.len().saturating_sub(n)..]
            .iter()
            .map(|l| {
                let mut s = l.to_string();
                s.truncate(600);
                s
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// What the script printed on stderr (bounded).
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Asks the script to stop, waits for it, and returns every line it printed.
    pub fn stop(mut self) -> Vec<Value> {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"stop\n");
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // The reader thread may still be draining the last lines.
        std::thread::sleep(Duration::from_millis(100));
        self.lines()
    }
}

impl Drop for LiveNode {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One viewer's per-second samples (cumulative getStats counters plus the latency samples presented in between).
#[derive(Clone, Debug, Default)]
pub struct Samples(pub Vec<Value>);

/// Figures of one viewer over a window of time.
#[derive(Clone, Debug, Default)]
pub struct Figures {
    /// Window length, s.
    pub seconds: f64,
    /// Mean received bitrate (RTP payload and headers as getStats counts them), kbit/s.
    pub kbps: f64,
    /// Decoded frames per second.
    pub fps: f64,
    /// Glass-to-glass latency (barcode time → expected display), ms: median and 95th percentile; NaN without
    /// samples.
    pub p50_ms: f64,
    pub p95_ms: f64,
    /// Distinct pictures presented in the window (frames with a readable, new barcode).
    pub presented: usize,
    /// Longest time without a new picture presented, including the window's edges, ms.
    pub longest_freeze_ms: f64,
    /// Key frames decoded in the window.
    pub keyframes: f64,
    /// Frame width at the end of the window (0 when nothing was decoded yet).
    pub width: f64,
}

impl Samples {
    /// Samples taken in `[from, to]` (wall-clock ms).
    fn within(&self, from: f64, to: f64) -> Vec<&Value> {
        self.0
            .iter()
            .filter(|s| s["t"].as_f64().is_some_and(|t| t >= from && t <= to))
            .collect()
    }

    /// How much counter `key` grew over the samples of `[from, to]`, per second; with the window's length in s
    /// (first to last sample). A sample without the counter (no video yet, or the JPEG fallback) adds nothing; a
    /// counter that went down started again (a new peer connection) and adds its new value.
    pub fn rate(&self, key: &str, from: f64, to: f64) -> (f64, f64) {
        let w = self.within(from, to);
        let (Some(a), Some(b)) = (w.first(), w.last()) else {
            return (0.0, 0.0);
        };
        let dt = (b["t"].as_f64().unwrap_or(0.0) - a["t"].as_f64().unwrap_or(0.0)) / 1000.0;
        let mut grew = 0.0;
        let mut prev: Option<f64> = None;
        for v in w.iter().filter_map(|s| s[key].as_f64()) {
            if let Some(p) = prev {
                grew += if v >= p { v - p } else { v };
            }
            prev = Some(v);
        }
        if dt <= 0.0 {
            (0.0, 0.0)
        } else {
            (grew / dt, dt)
        }
    }

    /// Latency samples presented in `[from, to]`: (presented at, wall ms; glass-to-glass ms).
    pub fn latency(&self, from: f64, to: f64) -> Vec<(f64, f64)> {
        let mut out: Vec<(f64, f64)> = self
            .0
            .iter()
            .filter_map(|s| s["latency"].as_array())
            .flatten()
            .filter_map(|l| {
                let capture = l[0].as_f64()?;
                let display = l[1].as_f64()?;
                let presented = capture + l[2].as_f64().unwrap_or(display);
                (presented >= from && presented <= to).then_some((presented, display))
            })
            .collect();
        out.sort_by(|a, b| a.0.total_cmp(&b.0));
        out
    }

    /// All figures over `[from, to]`.
    pub fn figures(&self, from: f64, to: f64) -> Figures {
        let (bytes_per_s, seconds) = self.rate("bytesReceived", from, to);
        let (fps, _) = self.rate("framesDecoded", from, to);
        let (kf_per_s, _) = self.rate("keyFramesDecoded", from, to);
        let lat = self.latency(from, to);
        let mut ms: Vec<f64> = lat.iter().map(|l| l.1).collect();
        ms.sort_by(f64::total_cmp);
        let mut edges = vec![from];
        edges.extend(lat.iter().map(|l| l.0));
        edges.push(to);
        let longest = edges.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
        let width = self
            .within(from, to)
            .last()
            .and_then(|s| s["frameWidth"].as_f64())
            .unwrap_or(0.0);
        Figures {
            seconds,
            kbps: bytes_per_s * 8.0 / 1000.0,
            fps,
            p50_ms: percentile(&ms, 50.0),
            p95_ms: percentile(&ms, 95.0),
            presented: lat.len(),
            longest_freeze_ms: longest,
            keyframes: kf_per_s * seconds,
            width,
        }
    }
}

/// The `p`-th percentile (nearest rank) of sorted values; NaN when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
