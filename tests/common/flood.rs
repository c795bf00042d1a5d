//! Load and abuse clients for the memory test and the flood bench: connections from a chosen loopback source
//! address, `/ws` viewers and watchers, MJPEG readers, a `/healthz` prober, the gateway's RSS and open fds, and
//! the rounds of many profiles that `tests/memory_return.rs` and `tests/abuse_bench.rs` both run.
//!
//! Every client connects from an address of `127.0.0.0/8` picked by the caller ([`source`]): the gateway's
//! per-IP limits and bans then fall on the attacker's address only, and the unrelated viewer keeps its own.
//! Self-contained (no `super::` items), so a scratch driver can include it with `#[path]`.

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

/// How long a client waits for the gateway's answer (welcome, offer, first frame, HTTP headers) before it calls
/// the attempt failed. Generous: the gateway may be saturated by a flood on purpose.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// A `/ws` connection over a plain TCP stream.
pub type Ws = WebSocketStream<TcpStream>;

/// `127.0.0.<n>`: one loopback address per role (viewer, each flood), so per-IP limits and bans stay apart.
pub fn source(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))
}

/// The resident memory of process `pid`, in KiB (`VmRSS` of `/proc/PID/status`).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc status")
}

/// The open file descriptors of process `pid` (entries of `/proc/PID/fd`).
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read /proc fd")
        .count()
}

/// A TCP connection to `addr` from `src`.
pub async fn tcp_from(src: IpAddr, addr: &str) -> std::io::Result<TcpStream> {
    let addr: SocketAddr = addr
        .parse()
        .map_err(|e| std::io::Error::other(format!("{addr}: {e}")))?;
    let sock = TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(src, 0))?;
    sock.connect(addr).await
}

/// Opens `/ws` from `src` without authenticating.
pub async fn ws_from(src: IpAddr, addr: &str) -> Result<Ws, String> {
    let tcp = tcp_from(src, addr).await.map_err(|e| e.to_string())?;
    let (ws, _) = tokio::time::timeout(
        ANSWER_TIMEOUT,
        tokio_tungstenite::client_async(format!("ws://{addr}/ws"), tcp),
    )
    .await
    .map_err(|_| "no upgrade".to_owned())?
    .map_err(|e| e.to_string())?;
    Ok(ws)
}

/// Opens `/ws` from `src` and authenticates with `token` (waits for `welcome`).
pub async fn ws_authed(src: IpAddr, addr: &str, token: &str) -> Result<Ws, String> {
    let mut ws = ws_from(src, addr).await?;
    send_json(&mut ws, json!({"type":"auth","token":token})).await?;
    wait_json(&mut ws, "welcome").await?;
    Ok(ws)
}

/// Sends one JSON message.
pub async fn send_json(ws: &mut Ws, v: Value) -> Result<(), String> {
    ws.send(Message::Text(v.to_string().into()))
        .await
        .map_err(|e| e.to_string())
}

/// Waits for a JSON message of `ty`, skipping others; an `error` message or a close is a failure.
pub async fn wait_json(ws: &mut Ws, ty: &str) -> Result<Value, String> {
    let deadline = tokio::time::Instant::now() + ANSWER_TIMEOUT;
    loop {
        let m = tokio::time::timeout_at(deadline, ws.next())
            .await
            .map_err(|_| format!("no {ty} within {ANSWER_TIMEOUT:?}"))?;
        match m {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).map_err(|e| e.to_string())?;
                if v["type"] == ty {
                    return Ok(v);
                }
                if v["type"] == "error" {
                    return Err(format!("error while waiting for {ty}: {v}"));
                }
            }
            Some(Ok(Message::Close(f))) => {
                return Err(format!("closed while waiting for {ty}: {f:?}"));
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.to_string()),
            None => return Err(format!("closed while waiting for {ty}")),
        }
    }
}

/// Waits for the first binary message (a JPEG).
pub async fn wait_binary(ws: &mut Ws) -> Result<usize, String> {
    let deadline = tokio::time::Instant::now() + ANSWER_TIMEOUT;
    loop {
        let m = tokio::time::timeout_at(deadline, ws.next())
            .await
            .map_err(|_| format!("no JPEG within {ANSWER_TIMEOUT:?}"))?;
        match m {
            Some(Ok(Message::Binary(b))) => return Ok(b.len()),
            Some(Ok(Message::Text(t))) if t.contains("\"error\"") => return Err(t.to_string()),
            Some(Ok(Message::Close(f))) => return Err(format!("closed: {f:?}")),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.to_string()),
            None => return Err("closed".into()),
        }
    }
}

/// One distinct thing a client can ask to watch: each may start its own encoder unless the gateway snaps it
/// onto a shared one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// A WebRTC watch over `/ws` with this `max_width` (the H.264 encoder starts with the offer; the offer is
    /// never answered).
    Webrtc { max_width: u32 },
    /// A JPEG watch over `/ws` (read until closed).
    Jpeg { quality: u8, max_width: u32 },
    /// `GET /api/v1/screens/0/mjpeg` (read until closed).
    Mjpeg { quality: u8, max_width: u32 },
}

/// Widths a client may ask for: the tier widths of a 1920-wide screen and a spread between them.
pub const WIDTHS: [u32; 8] = [320, 480, 640, 800, 960, 1280, 1600, 1920];
/// JPEG qualities a client may ask for.
pub const QUALITIES: [u8; 6] = [30, 45, 55, 70, 85, 95];

/// The profile set of one round: every width as WebRTC, every (quality, width) as JPEG over `/ws`, and every
/// quality at two widths as MJPEG: as many distinct encoders as the gateway's snapping allows.
pub fn all_profiles() -> Vec<Profile> {
    let mut v: Vec<Profile> = WIDTHS
        .iter()
        .map(|&w| Profile::Webrtc { max_width: w })
        .collect();
    for &quality in &QUALITIES {
        for &max_width in &WIDTHS {
            v.push(Profile::Jpeg { quality, max_width });
        }
    }
    for &quality in &QUALITIES {
        for max_width in [700, 1100] {
            v.push(Profile::Mjpeg { quality, max_width });
        }
    }
    v
}

/// Connections held open by a round; [`Held::close`] ends them all and waits.
pub struct Held {
    close: tokio::sync::watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// Profiles that could not be opened, with the reason (refusals are expected under limits).
    pub refused: Vec<(Profile, String)>,
    /// Bytes received so far over all held connections.
    pub bytes: Arc<AtomicU64>,
}

impl Held {
    /// How many connections are held.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Closes every held connection (WebSocket close frame or TCP close) and waits for their tasks.
    pub async fn close(self) {
        let _ = self.close.send(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
    }
}

/// A client identity: the source address it connects from and the token it uses. Per-IP connection limits and
/// per-token rate limits apply to each identity separately.
pub type Identity<'a> = (IpAddr, &'a str);

/// Opens every profile, `parallel` at a time, profile `i` as identity `i % ids.len()`; each connection keeps
/// reading (so the gateway's encoders run and its writers never stall) until [`Held::close`].
pub async fn open_profiles(
    addr: &str,
    ids: &[Identity<'_>],
    profiles: &[Profile],
    parallel: usize,
) -> Held {
    let (close, rx) = tokio::sync::watch::channel(false);
    let bytes = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    let mut refused = Vec::new();
    let numbered: Vec<(usize, Profile)> = profiles.iter().copied().enumerate().collect();
    for chunk in numbered.chunks(parallel.max(1)) {
        let opened = futures_util::future::join_all(chunk.iter().map(|&(i, p)| async move {
            let (src, token) = ids[i % ids.len()];
            (p, open_one(src, addr, token, p).await)
        }))
        .await;
        for (p, r) in opened {
            match r {
                Ok(conn) => tasks.push(tokio::spawn(drain(conn, rx.clone(), bytes.clone()))),
                Err(e) => refused.push((p, e)),
            }
        }
    }
    Held {
        close,
        tasks,
        refused,
        bytes,
    }
}

/// An open connection of one profile.
pub enum Conn {
    /// A `/ws` watch.
    Ws(Box<Ws>),
    /// An MJPEG response being read.
    Http(TcpStream),
}

/// Opens one profile and waits until its encoder runs (offer sent, or the first JPEG received).
pub async fn open_one(src: IpAddr, addr: &str, token: &str, p: Profile) -> Result<Conn, String> {
    match p {
        Profile::Webrtc { max_width } => {
            let mut ws = ws_authed(src, addr, token).await?;
            send_json(
                &mut ws,
                json!({"type":"watch","screen":"0","transport":"webrtc","max_width":max_width}),
            )
            .await?;
            wait_json(&mut ws, "offer").await?;
            Ok(Conn::Ws(Box::new(ws)))
        }
        Profile::Jpeg { quality, max_width } => {
            let mut ws = ws_authed(src, addr, token).await?;
            send_json(
                &mut ws,
                json!({"type":"watch","screen":"0","transport":"jpeg","fps":10,"quality":quality,"max_width":max_width}),
            )
            .await?;
            wait_binary(&mut ws).await?;
            Ok(Conn::Ws(Box::new(ws)))
        }
        Profile::Mjpeg { quality, max_width } => {
            let path =
                format!("/api/v1/screens/0/mjpeg?fps=10&quality={quality}&max_width={max_width}");
            let mut tcp = tcp_from(src, addr).await.map_err(|e| e.to_string())?;
            let req = format!(
                "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n"
            );
            tcp.write_all(req.as_bytes())
                .await
                .map_err(|e| e.to_string())?;
            let head = read_head(&mut tcp).await?;
            if !head.starts_with("HTTP/1.1 200") {
                return Err(head.lines().next().unwrap_or_default().to_owned());
            }
            Ok(Conn::Http(tcp))
        }
    }
}

/// Reads an HTTP response head (up to the blank line); returns it as text.
pub async fn read_head(tcp: &mut TcpStream) -> Result<String, String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    let deadline = tokio::time::Instant::now() + ANSWER_TIMEOUT;
    while !head.ends_with(b"\r\n\r\n") {
        match tokio::time::timeout_at(deadline, tcp.read(&mut byte)).await {
            Err(_) => return Err("no response head".into()),
            Ok(Ok(0)) => return Err(format!("closed after {} bytes", head.len())),
            Ok(Ok(_)) => head.push(byte[0]),
            Ok(Err(e)) => return Err(e.to_string()),
        }
        if head.len() > 64 * 1024 {
            return Err("response head over 64 KiB".into());
        }
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

async fn drain(conn: Conn, mut close: tokio::sync::watch::Receiver<bool>, bytes: Arc<AtomicU64>) {
    match conn {
        Conn::Ws(mut ws) => loop {
            tokio::select! {
                _ = close.changed() => { let _ = WebSocketStream::close(&mut *ws, None).await; return; }
                m = ws.next() => match m {
                    Some(Ok(m)) => { bytes.fetch_add(m.len() as u64, Ordering::Relaxed); }
                    _ => return,
                },
            }
        },
        Conn::Http(mut tcp) => {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                tokio::select! {
                    _ = close.changed() => return,
                    r = tcp.read(&mut buf) => match r {
                        Ok(0) | Err(_) => return,
                        Ok(n) => { bytes.fetch_add(n as u64, Ordering::Relaxed); }
                    },
                }
            }
        }
    }
}

/// One HTTP/1.1 request from `src` on a fresh connection (`Connection: close`): (status, body).
pub async fn http_from(
    src: IpAddr,
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(u16, Vec<(String, String)>, Vec<u8>), String> {
    let mut tcp = tcp_from(src, addr).await.map_err(|e| e.to_string())?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    tcp.write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    tcp.write_all(body).await.map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    tokio::time::timeout(ANSWER_TIMEOUT, tcp.read_to_end(&mut raw))
        .await
        .map_err(|_| format!("{method} {path}: no complete response"))?
        .map_err(|e| e.to_string())?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("{method} {path}: no response head in {} bytes", raw.len()))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line in {head:?}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok((status, headers, raw[split + 4..].to_vec()))
}

/// `GET` an admin JSON endpoint from `src`.
pub async fn admin_json(src: IpAddr, addr: &str, token: &str, path: &str) -> Result<Value, String> {
    let auth = format!("Bearer {token}");
    let (status, headers, body) =
        http_from(src, addr, "GET", path, &[("Authorization", &auth)], b"").await?;
    if status != 200 {
        return Err(format!("GET {path}: {status}"));
    }
    let body = if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        dechunk(&body)
    } else {
        body
    };
    serde_json::from_slice(&body).map_err(|e| format!("GET {path}: {e}"))
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if n == 0 || b.len() < eol + 2 + n {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[(eol + 4 + n).min(b.len())..];
    }
    out
}

/// The gateway's running encoder pipelines (`/api/v1/performance`, kinds other than capture).
pub async fn encoders(src: IpAddr, addr: &str, admin: &str) -> Result<usize, String> {
    let v = admin_json(src, addr, admin, "/api/v1/performance").await?;
    Ok(v["pipelines"]
        .as_array()
        .map(|a| a.iter().filter(|p| p["kind"] != "capture").count())
        .unwrap_or(0))
}

/// Waits until the monitor shows no encoder pipeline and at most `keep` live connections (the caller's own), or
/// `within` passes; returns how long it took, or the state it gave up on.
pub async fn wait_idle(
    src: IpAddr,
    addr: &str,
    admin: &str,
    keep: u64,
    keep_encoders: usize,
    within: Duration,
) -> Result<Duration, String> {
    let start = Instant::now();
    loop {
        let summary = admin_json(src, addr, admin, "/api/v0/mcp/monitor/webrtc/summary").await?;
        let live = summary["connections"]["live"].as_u64().unwrap_or(u64::MAX);
        let enc = encoders(src, addr, admin).await?;
        if live <= keep && enc <= keep_encoders {
            return Ok(start.elapsed());
        }
        if start.elapsed() > within {
            return Err(format!(
                "still {live} live connections and {enc} encoders after {within:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// An unrelated JPEG viewer on `/ws` counting the frames it receives.
pub struct Viewer {
    frames: Arc<AtomicU64>,
    task: JoinHandle<String>,
}

impl Viewer {
    /// Connects from `src` with `token` and watches screen 0 over JPEG at `fps`, `quality`, `max_width`.
    pub async fn start(
        src: IpAddr,
        addr: &str,
        token: &str,
        fps: u32,
        quality: u8,
        max_width: u32,
    ) -> Result<Self, String> {
        let mut ws = ws_authed(src, addr, token).await?;
        send_json(
            &mut ws,
            json!({"type":"watch","screen":"0","transport":"jpeg","fps":fps,"quality":quality,"max_width":max_width}),
        )
        .await?;
        wait_binary(&mut ws).await?;
        let frames = Arc::new(AtomicU64::new(0));
        let count = frames.clone();
        let task = tokio::spawn(async move {
            loop {
                match ws.next().await {
                    Some(Ok(Message::Binary(_))) => {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(Ok(Message::Close(f))) => return format!("closed by the gateway: {f:?}"),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return format!("error: {e}"),
                    None => return "closed".into(),
                }
            }
        });
        Ok(Self { frames, task })
    }

    /// Frames received so far.
    pub fn frames(&self) -> u64 {
        self.frames.load(Ordering::Relaxed)
    }

    /// Whether the viewer's socket is still open.
    pub fn alive(&self) -> bool {
        !self.task.is_finished()
    }

    /// Frames per second over the next `window`.
    pub async fn fps_over(&self, window: Duration) -> f64 {
        let (n0, t0) = (self.frames(), Instant::now());
        tokio::time::sleep(window).await;
        (self.frames() - n0) as f64 / t0.elapsed().as_secs_f64()
    }

    /// Stops the viewer; returns why its socket ended if it ended on its own.
    pub async fn stop(self) -> Option<String> {
        if self.task.is_finished() {
            return self.task.await.ok();
        }
        self.task.abort();
        None
    }
}

/// `GET /healthz` every `period` from `src` on a fresh connection each time, recording latencies (a failed or
/// refused probe counts as failed, not as a latency).
pub struct HealthProbe {
    samples: Arc<std::sync::Mutex<Vec<Probe>>>,
    task: JoinHandle<()>,
}

impl HealthProbe {
    /// Starts probing.
    pub fn start(src: IpAddr, addr: &str, period: Duration) -> Self {
        let samples = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (out, addr) = (samples.clone(), addr.to_owned());
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let t = Instant::now();
                let r = match http_from(src, &addr, "GET", "/healthz", &[], b"").await {
                    Ok((200, _, _)) => Ok(t.elapsed()),
                    Ok((s, _, _)) => Err(format!("status {s}")),
                    Err(e) => Err(e),
                };
                out.lock().expect("probe samples").push((t, r));
            }
        });
        Self { samples, task }
    }

    /// Latency percentiles (p50, p99, ms) and failures of the probes started since `since`.
    pub fn window(&self, since: Instant) -> HealthStats {
        let s = self.samples.lock().expect("probe samples");
        let mut ok: Vec<f64> = Vec::new();
        let mut failed = 0;
        for (t, r) in s.iter().filter(|(t, _)| *t >= since) {
            let _ = t;
            match r {
                Ok(d) => ok.push(d.as_secs_f64() * 1000.0),
                Err(_) => failed += 1,
            }
        }
        ok.sort_by(f64::total_cmp);
        let pct = |p: f64| {
            if ok.is_empty() {
                f64::NAN
            } else {
                ok[((ok.len() - 1) as f64 * p).round() as usize]
            }
        };
        HealthStats {
            p50_ms: pct(0.5),
            p99_ms: pct(0.99),
            ok: ok.len(),
            failed,
        }
    }

    /// Stops probing.
    pub fn stop(self) {
        self.task.abort();
    }
}

/// One probe: when it started, and its latency or why it failed.
type Probe = (Instant, Result<Duration, String>);

/// `/healthz` latency over a window.
#[derive(Debug, Clone, Copy)]
pub struct HealthStats {
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Probes answered 200.
    pub ok: usize,
    /// Probes refused or failed.
    pub failed: usize,
}

/// How [`profile_rounds`] paces its rounds.
#[derive(Debug, Clone, Copy)]
pub struct Rounds {
    /// How many rounds.
    pub count: usize,
    /// How long each round keeps its profiles open.
    pub hold: Duration,
    /// Quiet time after a round went idle before RSS is read.
    pub settle: Duration,
}

/// RSS (KiB) of the gateway after each round of `profiles` opened by `ids`, each closed and settled (no
/// encoder left, then `rounds.settle` of quiet), plus the encoders each round ran. `admin` reads the monitor.
pub async fn profile_rounds(
    pid: u32,
    addr: &str,
    ids: &[Identity<'_>],
    admin: (IpAddr, &str),
    profiles: &[Profile],
    rounds: Rounds,
) -> RoundsReport {
    let mut report = RoundsReport {
        baseline_kib: rss_kib(pid),
        ..RoundsReport::default()
    };
    for round in 0..rounds.count {
        let held = open_profiles(addr, ids, profiles, 16).await;
        tokio::time::sleep(rounds.hold).await;
        let enc = encoders(admin.0, addr, admin.1).await.unwrap_or(0);
        report.peak_kib.push(rss_kib(pid));
        report.encoders.push(enc);
        report.opened.push(held.len());
        if round == 0 {
            report.refused = held
                .refused
                .iter()
                .map(|(p, e)| format!("{p:?}: {e}"))
                .collect();
        }
        held.close().await;
        if let Err(e) = wait_idle(admin.0, addr, admin.1, 0, 0, Duration::from_secs(30)).await {
            report.not_idle.push(format!("round {}: {e}", round + 1));
        }
        tokio::time::sleep(rounds.settle).await;
        report.after_kib.push(rss_kib(pid));
    }
    report
}

/// What [`profile_rounds`] measured.
#[derive(Debug, Clone, Default)]
pub struct RoundsReport {
    /// RSS before the first round, KiB.
    pub baseline_kib: u64,
    /// RSS while each round's profiles were open, KiB.
    pub peak_kib: Vec<u64>,
    /// RSS after each round closed and settled, KiB.
    pub after_kib: Vec<u64>,
    /// Encoder pipelines running during each round.
    pub encoders: Vec<usize>,
    /// Connections held open in each round.
    pub opened: Vec<usize>,
    /// Profiles of the first round that the gateway refused, with the reason.
    pub refused: Vec<String>,
    /// Rounds after which the gateway did not go idle in time.
    pub not_idle: Vec<String>,
}

impl std::fmt::Display for RoundsReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mb = |k: u64| k as f64 / 1024.0;
        writeln!(f, "baseline RSS {:.1} MB", mb(self.baseline_kib))?;
        for (i, ((peak, after), (enc, opened))) in self
            .peak_kib
            .iter()
            .zip(&self.after_kib)
            .zip(self.encoders.iter().zip(&self.opened))
            .enumerate()
        {
            writeln!(
                f,
                "round {}: {opened} connections, {enc} encoders, RSS open {:.1} MB, closed {:.1} MB",
                i + 1,
                mb(*peak),
                mb(*after)
            )?;
        }
        Ok(())
    }
}
