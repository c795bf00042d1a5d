//! `tests/e2e/light_viewers.py` as the benchmarks drive it: N aiortc viewers that count packets and frames and
//! decode nothing, one JSON line a second on stdout (`ready`, `counts`, `error`), stopped by `stop` on stdin.
//! Also the small helpers every benchmark takes its settings and its load figure with.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{python, root};

/// Lines kept from the viewers (one a second: a step lasts a minute or two); the oldest quarter goes past it.
const MAX_LINES: usize = 4096;
/// Stderr kept for a failure message.
const MAX_STDERR: usize = 1 << 16;

/// A benchmark setting from the environment (the bench scripts' flags set them), else `default`.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The 1, 5 and 15 minute load averages, as `/proc/loadavg` prints them.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The script's command: `python3 tests/e2e/light_viewers.py`, for [`LightViewers::start`] to add arguments to.
/// `wrap` runs it another way (inside a network namespace: `ip netns exec NS` + the program).
pub fn light_viewers_command(wrap: impl FnOnce(&str) -> Command) -> Command {
    let mut cmd = wrap(python().to_str().expect("a UTF-8 path"));
    cmd.arg(root().join("tests/e2e/light_viewers.py"));
    cmd
}

/// A running `light_viewers.py`.
pub struct LightViewers {
    child: Child,
    lines: Arc<Mutex<Vec<Value>>>,
    stderr: Arc<Mutex<String>>,
}

impl LightViewers {
    /// Starts `cmd` ([`light_viewers_command`] plus its arguments) and reads its output in the background.
    pub fn start(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start light_viewers.py");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let out = child.stdout.take().expect("piped");
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    let mut l = sink.lock().unwrap();
                    l.push(v);
                    if l.len() > MAX_LINES {
                        l.drain(..MAX_LINES / 4);
                    }
                }
            }
        });
        let err = child.stderr.take().expect("piped");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                if s.len() < MAX_STDERR {
                    s.push_str(&line);
                    s.push('\n');
                }
            }
        });
        Self {
            child,
            lines,
            stderr,
        }
    }

    /// Waits until every viewer receives (the script's `ready`, whose `seconds` is returned); panics on an
    /// `error` line, an early exit or after `timeout`, with the script's stderr.
    pub fn wait_ready(&mut self, n: usize, timeout: Duration) -> f64 {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let lines = self.lines.lock().unwrap();
                if let Some(r) = lines.iter().find(|l| l["event"] == "ready") {
                    return r["seconds"].as_f64().unwrap_or(f64::NAN);
                }
                let errors: Vec<&Value> = lines.iter().filter(|l| l["event"] == "error").collect();
                assert!(
                    errors.is_empty(),
                    "light viewers failed: {errors:?}\n{}",
                    self.stderr.lock().unwrap()
                );
                let last = lines.iter().rev().find(|l| l["event"] == "counts");
                assert!(
                    Instant::now() < deadline,
                    "{n} light viewers not all receiving after {timeout:?}; last counts: {}\n{}",
                    last.map(Value::to_string).unwrap_or_default(),
                    self.stderr.lock().unwrap()
                );
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "light_viewers.py exited with {status}\n{}",
                    self.stderr.lock().unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The latest `counts` line at or before wall-clock `t` ms.
    pub fn counts_at(&self, t: f64) -> Value {
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .rev()
            .find(|l| l["event"] == "counts" && l["t"].as_f64().is_some_and(|x| x <= t))
            .cloned()
            .unwrap_or_else(|| panic!("no viewer counts before {t}"))
    }

    /// Frames per second each viewer counted between the latest reports at or before wall-clock `a` and `b` ms.
    pub fn fps_between(&self, a: f64, b: f64) -> Vec<f64> {
        let (x, y) = (self.counts_at(a), self.counts_at(b));
        let dt = (y["t"].as_f64().unwrap_or(0.0) - x["t"].as_f64().unwrap_or(0.0)) / 1000.0;
        let frames = |c: &Value| -> Vec<f64> {
            c["viewers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|v| v["frames"].as_f64().unwrap_or(0.0))
                .collect()
        };
        frames(&x)
            .iter()
            .zip(frames(&y))
            .map(|(p, q)| (q - p) / dt.max(0.001))
            .collect()
    }

    /// Asks the viewers to stop; kills them after 20 s.
    pub fn stop(mut self) {
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.write_all(b"stop\n");
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LightViewers {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
