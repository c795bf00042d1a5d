//! Helpers of `tests/peer_aiortc.rs`: an H.264 clip made by FFmpeg and played as a [`VideoFeed`], the
//! `tests/e2e/aiortc_peer.py` process driven over stdin/stdout, and monitor checks (no task left, lifecycle).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use serde_json::{Value, json};
use sightline::peer::{CandidateInit, PeerEvent, VideoFeed};
use sightline_media::h264::AccessUnit;
use sightline_monitor::{
    Connection, ConnectionAttrs, ConnectionKind, Monitor, MonitorConfig, StateMachine,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// Generous bound for anything that should take well under a second; a hang fails instead of blocking CI.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(10);

fn repo() -> PathBuf {
    crate::common::root()
}

/// Installs the test tools once per test binary (idempotent script; fails loudly, never skips).
pub fn ensure_deps() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let status = std::process::Command::new(repo().join("scripts/install-deps.sh"))
            .arg("--test")
            .status()
            .expect("scripts/install-deps.sh could not be started");
        assert!(status.success(), "scripts/install-deps.sh --test failed");
        let ffmpeg = std::process::Command::new("ffmpeg")
            .arg("-version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ffmpeg,
            "ffmpeg is required by this test and was not found on PATH"
        );
        let python = repo().join(".venv-e2e/bin/python");
        assert!(
            python.exists(),
            "{} missing: scripts/install-deps.sh --test should have created it",
            python.display()
        );
    });
}

// ---------------------------------------------------------------------------------------------------------
// H.264 test clip

/// An Annex-B clip split into access units.
pub struct Clip {
    pub units: Vec<(Bytes, bool)>,
    pub width: u32,
    pub height: u32,
}

/// Encodes `frames` frames of FFmpeg's test pattern with libx264 (constrained baseline, one IDR at the start,
/// SPS/PPS repeated before it) and splits the stream into access units. Cached per size in the target dir.
pub fn clip(width: u32, height: u32, frames: u32, noisy: bool) -> Arc<Clip> {
    type Cache = parking_lot::Mutex<Vec<((u32, u32, u32, bool), Arc<Clip>)>>;
    static CLIPS: OnceLock<Cache> = OnceLock::new();
    let key = (width, height, frames, noisy);
    let clips = CLIPS.get_or_init(Default::default);
    if let Some((_, c)) = clips.lock().iter().find(|(k, _)| *k == key) {
        return c.clone();
    }
    ensure_deps();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!(
        "peer_clip_{width}x{height}_{frames}{}.h264",
        if noisy { "_noisy" } else { "" }
    ));
    if !path.exists() {
        // Static noise at a fixed QP makes keyframes as large as a busy desktop's at 1080p (~150–200 KB,
        // see the IDR sizes of `cargo bench -p sightline-media --bench pipeline`) while P-frames stay small: the case pacing is for.
        let (filter, quality) = if noisy {
            ("noise=alls=12", ["-qp", "33"])
        } else {
            ("null", ["-crf", "23"])
        };
        let out = std::process::Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
            ])
            .arg(format!("testsrc=size={width}x{height}:rate=30"))
            .args(["-vf", filter])
            .args(quality)
            .arg("-frames:v")
            .arg(frames.to_string())
            .args([
                "-c:v",
                "libx264",
                "-profile:v",
                "baseline",
                "-pix_fmt",
                "yuv420p",
                "-tune",
                "zerolatency",
                "-x264-params",
            ])
            .arg(format!(
                "keyint={frames}:min-keyint={frames}:scenecut=0:repeat-headers=1"
            ))
            .args(["-bsf:v", "h264_mp4toannexb", "-f", "h264"])
            .arg(&path)
            .output()
            .expect("ffmpeg could not be started");
        assert!(
            out.status.success(),
            "ffmpeg failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let data = std::fs::read(&path).expect("clip written by ffmpeg");
    let units = split_access_units(&data);
    assert_eq!(units.len(), frames as usize, "one access unit per frame");
    assert!(units[0].1, "the clip starts with an IDR");
    let c = Arc::new(Clip {
        units,
        width,
        height,
    });
    clips.lock().push((key, c.clone()));
    c
}

/// NAL units of an Annex-B stream as (start offset including start code, type).
pub fn split_access_units(data: &[u8]) -> Vec<(Bytes, bool)> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            let start = if i > 0 && data[i - 1] == 0 { i - 1 } else { i };
            starts.push((start, i + 3));
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut units: Vec<(Vec<u8>, bool, bool)> = Vec::new(); // (bytes, has_vcl, keyframe)
    for (n, &(start, payload)) in starts.iter().enumerate() {
        let end = starts.get(n + 1).map_or(data.len(), |s| s.0);
        let nal = &data[start..end];
        let nal_type = data[payload] & 0x1f;
        let vcl = nal_type == 1 || nal_type == 5;
        // first_mb_in_slice == 0 ⇔ its ue(v) code is the single bit '1'.
        let first_slice = vcl && data.get(payload + 1).is_some_and(|b| b & 0x80 != 0);
        let new_unit = match units.last() {
            None => true,
            Some((_, has_vcl, _)) => *has_vcl && (!vcl || first_slice),
        };
        if new_unit {
            units.push((Vec::new(), false, false));
        }
        let unit = units.last_mut().expect("pushed above");
        unit.0.extend_from_slice(nal);
        unit.1 |= vcl;
        unit.2 |= nal_type == 5;
    }
    units
        .into_iter()
        .map(|(b, _, key)| (Bytes::from(b), key))
        .collect()
}

// ---------------------------------------------------------------------------------------------------------
// A feed that plays the clip in real time

#[derive(Default)]
pub struct FeedStats {
    /// Keyframe requests received from the peer.
    pub requests: AtomicU64,
    /// IDRs delivered because of a request.
    pub forced_idrs: AtomicU64,
    pub delivered: AtomicU64,
}

/// Plays a clip at 30 fps, stamping each unit with the time it is handed out (= its "capture" time). A
/// keyframe request restarts the clip at its IDR, like an encoder forcing one.
pub struct ClipFeed {
    clip: Arc<Clip>,
    next: usize,
    ticker: tokio::time::Interval,
    keyframe_requested: Arc<AtomicBool>,
    stats: Arc<FeedStats>,
    seq: u64,
}

impl ClipFeed {
    pub fn new(clip: Arc<Clip>) -> (Self, Arc<FeedStats>) {
        let stats = Arc::new(FeedStats::default());
        let mut ticker = tokio::time::interval(Duration::from_micros(33_333));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        (
            Self {
                clip,
                // Start mid-clip, like joining a running encoder: no keyframe until one is requested.
                next: 1,
                ticker,
                keyframe_requested: Arc::new(AtomicBool::new(false)),
                stats: stats.clone(),
                seq: 0,
            },
            stats,
        )
    }
}

impl VideoFeed for ClipFeed {
    async fn recv(&mut self) -> Option<Arc<AccessUnit>> {
        // Cancel-safe: `Interval::tick` is, and nothing below awaits.
        self.ticker.tick().await;
        if self.keyframe_requested.swap(false, Ordering::AcqRel) {
            self.next = 0;
            self.stats.forced_idrs.fetch_add(1, Ordering::Relaxed);
        }
        let (data, keyframe) = self.clip.units[self.next].clone();
        self.next = (self.next + 1) % self.clip.units.len();
        self.seq += 1;
        self.stats.delivered.fetch_add(1, Ordering::Relaxed);
        Some(Arc::new(AccessUnit {
            data,
            keyframe,
            captured_at: SystemTime::now(),
            seq: self.seq,
            width: self.clip.width,
            height: self.clip.height,
            encode_ms: 0.0,
        }))
    }

    fn request_keyframe(&self) {
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        self.keyframe_requested.store(true, Ordering::Release);
    }
}

// ---------------------------------------------------------------------------------------------------------
// The aiortc process

pub struct Aiortc {
    pub child: Child,
    stdin: ChildStdin,
    events: mpsc::Receiver<Value>,
    /// Events read while waiting for another type, kept in order.
    backlog: VecDeque<Value>,
}

impl Aiortc {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Starts the script with extra command-line arguments (see its docs).
    pub async fn start_with(args: &[&str]) -> Self {
        ensure_deps();
        let mut child = Command::new(repo().join(".venv-e2e/bin/python"))
            .arg(repo().join("tests/e2e/aiortc_peer.py"))
            .args(args)
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("aiortc_peer.py could not be started");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, events) = mpsc::channel(4096);
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let value: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("aiortc_peer.py printed non-JSON {line:?}: {e}"));
                if tx.send(value).await.is_err() {
                    break;
                }
            }
        });
        let mut peer = Self {
            child,
            stdin,
            events,
            backlog: VecDeque::new(),
        };
        peer.wait_for("ready").await;
        peer
    }

    pub async fn send(&mut self, cmd: Value) {
        let mut line = cmd.to_string();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .await
            .expect("aiortc stdin");
    }

    /// The next event of type `ty`; other events are kept for later. Fails on an "error" event.
    pub async fn wait_for(&mut self, ty: &str) -> Value {
        let deadline = Instant::now() + STEP_TIMEOUT;
        let mut skipped = VecDeque::new();
        let found = loop {
            let v = match self.backlog.pop_front() {
                Some(v) => v,
                None => tokio::time::timeout_at(deadline.into(), self.events.recv())
                    .await
                    .unwrap_or_else(|_| panic!("no {ty:?} event from aiortc in time"))
                    .expect("aiortc_peer.py exited"),
            };
            if v["type"] == ty {
                break v;
            }
            assert_ne!(v["type"], "error", "aiortc reported an error: {v}");
            skipped.push_back(v);
        };
        skipped.append(&mut self.backlog);
        self.backlog = skipped;
        found
    }

    /// Removes and returns every already-received event of type `ty`.
    pub fn take(&mut self, ty: &str) -> Vec<Value> {
        while let Ok(v) = self.events.try_recv() {
            self.backlog.push_back(v);
        }
        let (taken, kept): (VecDeque<Value>, VecDeque<Value>) =
            self.backlog.drain(..).partition(|v| v["type"] == ty);
        self.backlog = kept;
        taken.into()
    }

    pub async fn close(mut self) {
        self.send(json!({"cmd": "close"})).await;
        let _ = tokio::time::timeout(STEP_TIMEOUT, self.child.wait()).await;
    }
}

pub fn candidate_cmd(c: Option<CandidateInit>) -> Value {
    match c {
        Some(c) => json!({
            "cmd": "candidate", "candidate": c.candidate, "sdpMid": c.sdp_mid, "sdpMLineIndex": c.sdp_mline_index
        }),
        None => json!({"cmd": "candidate", "candidate": ""}),
    }
}

// ---------------------------------------------------------------------------------------------------------
// Monitor helpers

pub fn monitor() -> Monitor {
    Monitor::new(MonitorConfig::default())
}

pub fn open_conn(monitor: &Monitor) -> Connection {
    monitor.open_connection(ConnectionKind::WebRtc, ConnectionAttrs::default())
}

/// Waits until the monitor lists no live task owned by `conn` (tasks deregister as they return).
pub async fn assert_no_tasks_left(monitor: &Monitor, conn: &Connection) {
    let owner = conn.owner();
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let live: Vec<_> = monitor
            .tasks()
            .live
            .into_iter()
            .filter(|t| t.owner == owner)
            .collect();
        if live.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "tasks still alive after close: {:?}",
            live.iter().map(|t| &t.name).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn lifecycle_history(monitor: &Monitor, conn: &Connection) -> Vec<String> {
    monitor
        .connection(conn.id())
        .expect("connection is known to the monitor")
        .history
        .into_iter()
        .filter(|c| c.machine == StateMachine::Lifecycle)
        .map(|c| c.to)
        .collect()
}

pub async fn next_peer_event(events: &mut mpsc::Receiver<PeerEvent>) -> PeerEvent {
    tokio::time::timeout(STEP_TIMEOUT, events.recv())
        .await
        .expect("no peer event in time")
        .expect("peer event channel closed")
}

pub fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Where the time to the first frame went: the gateway's timeline and aiortc's milestones, in ms after `t0_ms`.
pub async fn print_breakdown(
    monitor: &Monitor,
    conn: &Connection,
    aiortc: &mut Aiortc,
    t0_ms: u64,
) {
    let detail = monitor.connection(conn.id()).unwrap();
    for change in detail
        .history
        .iter()
        .filter(|c| matches!(c.machine, StateMachine::Ice | StateMachine::Peer))
    {
        eprintln!(
            "  +{:>4} ms  gateway: {} {}",
            change.at_ms.saturating_sub(t0_ms),
            change.machine,
            change.to
        );
    }
    let timeline = detail.timeline;
    for e in timeline.iter().filter(|e| {
        e.text.starts_with("connected")
            || e.text.starts_with("first keyframe")
            || e.text.starts_with("video:")
    }) {
        eprintln!(
            "  +{:>4} ms  gateway: {}",
            e.at_ms.saturating_sub(t0_ms),
            e.text
        );
    }
    aiortc.send(json!({"cmd": "stats"})).await;
    let s = aiortc.wait_for("stats").await;
    for (what, key) in [
        ("connected", "connected_t_ms"),
        ("first frame decoded", "first_frame_t_ms"),
    ] {
        eprintln!(
            "  +{:>4} ms  aiortc: {what}",
            s[key].as_u64().unwrap_or(0).saturating_sub(t0_ms)
        );
    }
}

/// Milliseconds from `t0_ms` (epoch ms) to the wall-clock stamp of an aiortc event.
pub fn event_ms(event: &Value, t0_ms: u64) -> f64 {
    event["t_ms"].as_u64().expect("events carry t_ms") as f64 - t0_ms as f64
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A media-engine subscription as a feed (what the session manager does with its own wrapper).
pub struct EngineFeed(pub sightline_media::engine::VideoSubscription);

impl VideoFeed for EngineFeed {
    fn recv(&mut self) -> impl std::future::Future<Output = Option<Arc<AccessUnit>>> + Send {
        self.0.recv()
    }

    fn request_keyframe(&self) {
        self.0.request_keyframe();
    }
}

/// `RcvbufErrors` of the UDP row of /proc/net/snmp (system-wide; 0 where unavailable).
pub fn udp_rcvbuf_errors() -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/net/snmp") else {
        return 0;
    };
    let mut lines = text.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(header), Some(values)) = (lines.next(), lines.next()) else {
        return 0;
    };
    header
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(k, _)| *k == "RcvbufErrors")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}
