//! Shared helpers of the black-box tests: the project's own dependency installer, a gateway process on a free
//! port, and runners for the Python and Node clients under `tests/e2e/`.
//!
//! Every helper fails loudly with the reason (a missing tool names the script that installs it): a test never
//! skips silently.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

#[path = "../../media/tests/common/xvfb.rs"]
pub mod xvfb;

#[cfg(target_os = "linux")]
#[path = "../../media/tests/common/recorder.rs"]
pub mod recorder;

#[cfg(target_os = "linux")]
#[path = "../../media/tests/common/paint.rs"]
pub mod paint;

pub mod clients;

#[cfg(target_os = "linux")]
pub mod netns;

#[cfg(target_os = "linux")]
pub mod noise;

#[cfg(target_os = "linux")]
pub mod netrig;

#[cfg(target_os = "linux")]
pub mod janus;

pub mod netview;

pub mod flood;

pub mod light_viewers;

#[cfg(target_os = "linux")]
pub mod fleet;

pub mod fleet_ws;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `scripts/install-deps.sh --test` once per test binary (idempotent: ~1 s when everything is there).
pub fn ensure_test_deps() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let status = Command::new("bash")
            .arg(root().join("scripts/install-deps.sh"))
            .arg("--test")
            .status()
            .expect("run scripts/install-deps.sh");
        assert!(status.success(), "scripts/install-deps.sh --test failed");
    });
}

/// The Python of the test venv (aiortc, PyAV, mcp).
pub fn python() -> PathBuf {
    ensure_test_deps();
    root().join(".venv-e2e/bin/python")
}

/// A gateway process started from the built binary with a given configuration.
pub struct GatewayProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// The admin token printed at start-up when the config had none; otherwise the config's first admin token.
    pub token: String,
    dir: tempdir::TempDir,
    stderr: std::sync::Arc<Mutex<String>>,
}

/// Tokens used by test configurations.
pub const VIEW_TOKEN: &str = "view-token-0001";
/// A control token.
pub const CONTROL_TOKEN: &str = "control-token-0001";
/// An admin token.
pub const ADMIN_TOKEN: &str = "admin-token-0001";

/// A configuration with the three test tokens, listening on a free port, on the synthetic screen.
pub fn synthetic_config(extra: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[auth]\nviewers = [\"{VIEW_TOKEN}\"]\ncontrollers = [\"{CONTROL_TOKEN}\"]\nadmins = [\"{ADMIN_TOKEN}\"]\n[capture]\nsource = \"synthetic\"\n{extra}"
    )
}

impl GatewayProcess {
    /// Starts `sightline serve` with `config` (TOML text) and waits until it prints its URL.
    pub fn start(config: &str) -> Self {
        Self::start_with(config, &[], &[])
    }

    /// Like [`GatewayProcess::start`], with extra arguments and environment.
    pub fn start_with(config: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::launch(None, Some(config), args, env, &[])
    }

    /// Like [`GatewayProcess::start`], inside network namespace `ns` (`ip netns exec` execs the gateway, so the
    /// pid is still the gateway's). The printed address is the namespace's view (`127.0.0.1` for a wildcard
    /// listen address): reach the gateway through the namespace's own addresses.
    pub fn start_in_netns(ns: &str, config: &str) -> Self {
        Self::launch(Some(ns), Some(config), &[], &[], &[])
    }

    /// `sightline <args> serve` with no configuration file at all, without the variables `env_remove`.
    pub fn start_without_config(args: &[&str], env_remove: &[&str]) -> Self {
        Self::launch(None, None, args, &[], env_remove)
    }

    fn launch(
        netns: Option<&str>,
        config: Option<&str>,
        args: &[&str],
        env: &[(&str, &str)],
        env_remove: &[&str],
    ) -> Self {
        let dir = tempdir::TempDir::new();
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_sightline")]);
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_sightline")),
        };
        if let Some(config) = config {
            let path = dir.path().join("sightline.toml");
            std::fs::write(&path, config).expect("write config");
            cmd.arg("--config").arg(&path);
        }
        cmd.args(args).arg("serve");
        cmd.env(
            "RUST_LOG",
            std::env::var("SIGHTLINE_TEST_LOG").unwrap_or_else(|_| "warn".into()),
        );
        for (k, v) in env {
            cmd.env(k, v);
        }
        for k in env_remove {
            cmd.env_remove(k);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sightline");
        let stderr = std::sync::Arc::new(Mutex::new(String::new()));
        {
            let mut err = child.stderr.take().expect("stderr");
            let sink = stderr.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let text = String::from_utf8_lossy(&buf[..n]).to_string();
                    eprint!("{text}");
                    let mut s = sink.lock().unwrap();
                    s.push_str(&text);
                    if s.len() > 1 << 20 {
                        let cut = s.len() - (1 << 19);
                        s.drain(..cut);
                    }
                }
            });
        }
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            while let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let line = loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(line) if line.contains("ready: open http") => break line,
                Ok(_) => {}
                Err(_) if Instant::now() > deadline => {
                    let _ = child.kill();
                    panic!(
                        "the gateway did not start within 30 s; stderr:\n{}",
                        stderr.lock().unwrap()
                    );
                }
                Err(_) => {
                    if let Ok(Some(status)) = child.try_wait() {
                        panic!(
                            "the gateway exited with {status}; stderr:\n{}",
                            stderr.lock().unwrap()
                        );
                    }
                }
            }
        };
        let url = line
            .split("open ")
            .nth(1)
            .expect("url in ready line")
            .trim();
        let (base, token) = match url.split_once("/#token=") {
            Some((b, t)) => (b.to_owned(), t.to_owned()),
            None => (url.trim_end_matches('/').to_owned(), String::new()),
        };
        let token = if token.starts_with('<') {
            ADMIN_TOKEN.to_owned()
        } else {
            token
        };
        let addr = base
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .to_owned();
        Self {
            child,
            base,
            addr,
            token,
            dir,
            stderr,
        }
    }

    /// `ws://127.0.0.1:PORT/ws` (`wss://` when the gateway serves TLS).
    pub fn ws_url(&self) -> String {
        let scheme = if self.base.starts_with("https://") {
            "wss"
        } else {
            "ws"
        };
        format!("{scheme}://{}/ws", self.addr)
    }

    /// What the gateway printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The resident memory of the gateway process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read /proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc status")
    }

    /// A scratch directory that lives as long as the gateway.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Sends SIGTERM and waits for a clean exit; returns the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.terminate()
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        unsafe_kill(self.child.id(), 15);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the gateway did not exit within 15 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn unsafe_kill(pid: u32, sig: i32) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

/// Runs a Python script from `tests/e2e/` with the test venv; returns its stdout. Panics with stderr on failure.
pub fn run_python(script: &str, args: &[&str], timeout: Duration) -> String {
    let py = python();
    run_tool(
        Command::new(py)
            .arg(root().join("tests/e2e").join(script))
            .args(args),
        timeout,
    )
}

/// Runs a Node script from `tests/e2e/` (playwright-core, the MCP Inspector); returns its stdout.
pub fn run_node(script: &str, args: &[&str], timeout: Duration) -> String {
    ensure_test_deps();
    run_tool(
        Command::new("node")
            .current_dir(root().join("tests/e2e"))
            .arg(root().join("tests/e2e").join(script))
            .args(args),
        timeout,
    )
}

/// Runs a command with a timeout; returns stdout, panics with stdout and stderr on failure or timeout.
pub fn run_tool(cmd: &mut Command, timeout: Duration) -> String {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Ok(Some(s)) = child.try_wait() {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = out_t.join().unwrap_or_default();
    let stderr = err_t.join().unwrap_or_default();
    match status {
        Some(s) if s.success() => stdout,
        Some(s) => panic!("{cmd:?} failed with {s}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"),
        None => panic!(
            "{cmd:?} timed out after {timeout:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
        ),
    }
}

/// The last line of a tool's output parsed as JSON (the e2e scripts print their result that way).
pub fn last_json(stdout: &str) -> serde_json::Value {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON line in output:\n{stdout}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("bad JSON {line}: {e}"))
}

/// A minimal temporary directory (removed on drop), to avoid a dependency for one feature.
pub mod tempdir {
    use std::path::{Path, PathBuf};

    /// A directory under the system temp dir, removed on drop.
    pub struct TempDir(PathBuf);

    impl TempDir {
        /// Creates a fresh directory.
        pub fn new() -> Self {
            use std::sync::atomic::{AtomicU64, Ordering};
            static N: AtomicU64 = AtomicU64::new(0);
            let p = std::env::temp_dir().join(format!(
                "sightline-test-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&p).expect("create temp dir");
            Self(p)
        }

        /// Its path.
        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// The JSON-RPC reply in an MCP Streamable HTTP answer: the JSON body, or the `data:` line of the SSE event that
/// carries an id.
pub fn mcp_reply(body: &[u8]) -> Option<serde_json::Value> {
    let text = String::from_utf8_lossy(body);
    serde_json::from_str(&text).ok().or_else(|| {
        text.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<serde_json::Value>(d.trim()).ok())
            .find(|v| v.get("id").is_some())
    })
}

/// A session-less (2026-07-28) MCP `tools/call` over HTTP as client `client`: the JSON-RPC `result`
/// (`content`, `structuredContent`, `isError`). Panics unless the answer is 200 with a reply.
pub fn mcp_tool_call(
    gw: &GatewayProcess,
    token: &str,
    client: &str,
    tool: &str,
    args: serde_json::Value,
) -> serde_json::Value {
    let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": tool, "arguments": args, "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": client, "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": {}}}});
    let (status, _, reply) = http(
        "POST",
        &format!("{}/mcp", gw.base),
        Some(token),
        Some("application/json"),
        body.to_string().as_bytes(),
        &[
            ("accept", "application/json, text/event-stream"),
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", tool),
        ],
    );
    let text = String::from_utf8_lossy(&reply);
    assert_eq!(status, 200, "{tool}: {text}");
    let message =
        mcp_reply(&reply).unwrap_or_else(|| panic!("no JSON-RPC reply to {tool}: {text}"));
    message["result"].clone()
}

/// A blocking HTTP request to the gateway: (status, headers, body). `token` adds `Authorization: Bearer`.
pub fn http(
    method: &str,
    url: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
    extra_headers: &[(&str, &str)],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut req = ureq::http::Request::builder().method(method).uri(url);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    for (k, v) in extra_headers {
        req = req.header(*k, *v);
    }
    let req = req.body(body.to_vec()).expect("request");
    let mut resp = agent
        .run(req)
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let body = resp
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_vec()
        .unwrap_or_default();
    (status, headers, body)
}

/// [`http`] from async tests: the blocking request runs on tokio's blocking pool.
pub async fn http_async(
    method: &str,
    url: &str,
    token: Option<&str>,
    extra_headers: &[(&str, &str)],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let (method, url, token) = (method.to_owned(), url.to_owned(), token.map(str::to_owned));
    let headers: Vec<(String, String)> = extra_headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        http(&method, &url, token.as_deref(), None, b"", &headers)
    })
    .await
    .expect("HTTP request task")
}

/// The value of a response header (case-insensitive).
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Calls `f` every `every` until it returns `Ok`; panics with `what` and the last state after `timeout`.
pub fn poll_every<T>(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut f: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match f() {
            Ok(v) => return v,
            Err(state) if Instant::now() > deadline => {
                panic!("timed out after {timeout:?} waiting for {what}; last state: {state}")
            }
            Err(_) => std::thread::sleep(every),
        }
    }
}
