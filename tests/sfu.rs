//! Publishing to a real SFU (issue 12): Debian's Janus, configured and started by the test in the gateway's
//! network namespace (tests/common/janus.rs), serves sightline's viewer page to headless Chromium in a viewer
//! namespace (tests/e2e/sfu_viewer.mjs). With `[sfu] policy = "always"`:
//! - the UNCHANGED viewer page plays H.264 that came through Janus: the `offer` says `path: "sfu"` and Janus's
//!   own API counts the viewer on the gateway's mountpoint;
//! - a click on the page reaches the synthetic screen's input echo (read back from the picture);
//! - a late joiner (a second browser context 3 s later) gets its first frame within a second of its media path
//!   being up (Janus's join PLI → the gateway's IDR);
//! - killing Janus (SIGKILL) mid-stream moves the viewer back to local serving (a new `offer` with
//!   `path: "local"`) and the picture resumes within a few seconds.
//!
//! A harness self-test proves the rig without the gateway: ffmpeg feeds RTP H.264 to a mountpoint the test creates,
//! Chromium watches it through Janus's API, Janus counts it, and kill/restart work. A failure of the gateway
//! tests is then the gateway's, not the rig's.
//!
//! Needs root (network namespaces); run:
//! `cargo test -p sightline --test sfu -- --nocapture --test-threads=1`
//! (`SIGHTLINE_TEST_LOG=sightline=debug` shows the gateway's side).
#![cfg(target_os = "linux")]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::janus::{INSTANCE, Janus, SfuRig, udp_rcvbuf_errors, udp_socket_drops};
use common::netns::Topology;
use common::netview::now_ms;
use common::{CONTROL_TOKEN, ensure_test_deps, root};
use serde_json::{Value, json};

/// Each test runs a gateway, Janus and Chromium on a two-core machine: never two at once.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The synthetic screen.
const WIDTH: u32 = 1280;
const HEIGHT: u32 = 720;
/// The late-joiner bound: first frame within a second of the media path being up.
const LATE_FIRST_FRAME_MS: f64 = 1000.0;
/// How long after the late joiner the first viewer opened.
const LATE_AFTER: Duration = Duration::from_secs(3);
/// "Within a few seconds": from the kill to a picture captured after the new `local` offer.
const FAILOVER_MS: f64 = 10_000.0;
/// A playing viewer decodes at least this frame rate (the screen changes every frame at 30 fps).
const MIN_FPS: f64 = 15.0;

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// `tests/e2e/sfu_viewer.mjs`, driven command by command.
struct Browser {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Arc<Mutex<Vec<Value>>>,
    stderr: Arc<Mutex<String>>,
}

impl Browser {
    /// Starts Chromium inside viewer namespace `ns`; `base` is the gateway's URL on that link (empty: Janus only).
    fn start(topo: &Topology, ns: &str, base: &str, token: &str) -> Self {
        ensure_test_deps();
        let wrapper = topo.chromium_in(ns);
        let mut cmd = Command::new("node");
        cmd.current_dir(root().join("tests/e2e"))
            .arg(root().join("tests/e2e/sfu_viewer.mjs"))
            .args(["--chromium", wrapper.to_str().expect("a UTF-8 path")])
            .args([
                "--width",
                &WIDTH.to_string(),
                "--height",
                &HEIGHT.to_string(),
            ]);
        if !base.is_empty() {
            cmd.args(["--base", base, "--token", token]);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start node sfu_viewer.mjs");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let out = child.stdout.take().expect("piped stdout");
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                match serde_json::from_str::<Value>(&line) {
                    Ok(v) => sink.lock().unwrap().push(v),
                    Err(_) => eprintln!("sfu_viewer: {line}"),
                }
            }
        });
        let err = child.stderr.take().expect("piped stderr");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
                if s.len() > 1 << 17 {
                    let cut = s.len() - (1 << 16);
                    let cut = (cut..s.len()).find(|&i| s.is_char_boundary(i)).unwrap_or(0);
                    s.drain(..cut);
                }
            }
        });
        let stdin = child.stdin.take();
        let b = Self {
            child,
            stdin,
            lines,
            stderr,
        };
        b.wait("started", None, Duration::from_secs(60));
        b
    }

    /// Sends one command.
    fn send(&mut self, cmd: Value) {
        let stdin = self.stdin.as_mut().expect("the script's stdin");
        writeln!(stdin, "{cmd}").expect("write to sfu_viewer.mjs");
    }

    /// Waits for the next line with `event` (and `name`); panics with the script's output on error or timeout.
    fn wait(&self, event: &str, name: Option<&str>, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let mut lines = self.lines.lock().unwrap();
                if let Some(i) = lines
                    .iter()
                    .position(|l| l["event"] == event && name.is_none_or(|n| l["name"] == n))
                {
                    return lines.remove(i);
                }
                if let Some(e) = lines.iter().find(|l| l["event"] == "error") {
                    panic!(
                        "sfu_viewer.mjs failed: {}\n--- stderr\n{}",
                        e["error"].as_str().unwrap_or_default(),
                        self.stderr.lock().unwrap()
                    );
                }
            }
            assert!(
                Instant::now() < deadline,
                "sfu_viewer.mjs: no `{event}` within {timeout:?}\n--- stderr\n{}",
                self.stderr.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `cmd` and waits for its `event`.
    fn call(&mut self, cmd: Value, event: &str, timeout: Duration) -> Value {
        let name = cmd["name"].as_str().map(str::to_owned);
        self.send(cmd);
        self.wait(event, name.as_deref(), timeout)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"stop\n");
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An ffmpeg H.264 RTP sender inside the gateway namespace (the self-test's stand-in for the gateway): libx264
/// constrained baseline, an IDR every second, RTCP Sender Reports to the mountpoint's RTCP port (so Janus latches
/// its RTCP path, JANUS-FACTS §2).
struct Ffmpeg(Child);

impl Ffmpeg {
    fn start(topo: &Topology, rtp_port: u16, rtcp_port: u16) -> Self {
        let child = topo
            .command(&topo.gateway_ns, "ffmpeg")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-re",
                "-f",
                "lavfi",
                "-i",
            ])
            .arg(format!("testsrc2=size={WIDTH}x{HEIGHT}:rate=30"))
            .args([
                "-an",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-profile:v",
                "baseline",
                "-pix_fmt",
                "yuv420p",
                "-tune",
                "zerolatency",
                "-g",
                "30",
                "-f",
                "rtp",
            ])
            .arg(format!("rtp://127.0.0.1:{rtp_port}?rtcpport={rtcp_port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start ffmpeg (scripts/install-deps.sh --test installs it)");
        Self(child)
    }
}

impl Drop for Ffmpeg {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `f` every 200 ms until it returns `Ok`; panics with `what` and the last state after `timeout`.
fn poll<T>(what: &str, timeout: Duration, f: impl FnMut() -> Result<T, String>) -> T {
    common::poll_every(what, timeout, Duration::from_millis(200), f)
}

#[test]
fn harness_janus_serves_rtp_to_chromium_in_a_viewer_namespace_and_dies_on_kill() {
    let _one = one_at_a_time();
    let topo = Topology::new(1);
    let mut janus = Janus::start(&topo);
    let mp = janus.create_mountpoint(4242);
    assert!(
        janus.list().iter().any(|m| m["id"] == mp.id),
        "the private mountpoint is listed with the admin key: {:?}",
        janus.list()
    );
    let _ffmpeg = Ffmpeg::start(&topo, mp.rtp_port, mp.rtcp_port);
    poll(
        "RTP reaching the mountpoint",
        Duration::from_secs(15),
        || {
            let info = janus.info(mp.id, Some(&mp.secret));
            match info["media"][0]["age_ms"].as_u64() {
                Some(age) if age < 1000 => Ok(()),
                _ => Err(info.to_string()),
            }
        },
    );

    let mut browser = Browser::start(&topo, &topo.viewer(0).ns, "", "");
    let r = browser.call(
        json!({"cmd": "janus", "name": "direct", "url": janus.api_url(), "mountpoint": mp.id}),
        "janus_playing",
        Duration::from_secs(60),
    );
    println!("Chromium through Janus: {r}");
    assert_eq!(r["codec"], "video/H264", "{r}");
    assert_eq!(r["frameSize"], format!("{WIDTH}x{HEIGHT}"), "{r}");
    let fps = r["fps"].as_f64().unwrap_or(0.0);
    assert!(fps >= MIN_FPS, "decoded {fps:.1} fps through Janus: {r}");

    assert_eq!(
        janus.viewers(mp.id, Some(&mp.secret)),
        Some(1),
        "Janus counts the viewer: {}",
        janus.info(mp.id, Some(&mp.secret))
    );
    let without_secret = janus.info(mp.id, None);
    println!("info without the secret: {without_secret}");

    janus.destroy_mountpoint(&mp);
    assert!(!janus.list().iter().any(|m| m["id"] == mp.id));
    drop(browser);

    // SIGKILL: the process is gone and the API with it; a restart answers again, with no mountpoints.
    let pid = janus.pid().expect("a pid");
    assert!(janus.cpu_ticks() > 0, "Janus used some CPU");
    janus.kill();
    assert!(!janus.is_running());
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "Janus {pid} is gone after kill"
    );
    let url = format!("{}/info", janus.api_url());
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(2)))
        .build()
        .into();
    assert!(agent.get(&url).call().is_err(), "the API died with Janus");
    janus.restart();
    assert!(janus.is_running());
    assert!(
        janus.list().is_empty(),
        "a restarted Janus has no mountpoints"
    );
}

/// The gateway's `[sfu]` tuning for the tests: quick health checks, so a dead Janus is noticed within ~1 s.
const SFU_EXTRA: &str = "health_interval_ms = 500\nhealth_failures = 2\n";

/// A rig with one viewer namespace and the gateway routing every WebRTC viewer to Janus.
fn rig_always() -> SfuRig {
    let mut rig = SfuRig::new(1, (WIDTH, HEIGHT));
    rig.start_gateway("always", SFU_EXTRA);
    poll(
        "the Janus instance up",
        Duration::from_secs(15),
        || match rig.janus_instance() {
            Some(i) if i["up"] == true => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    rig
}

/// The browser driver for viewer namespace 0, opening pages with the control token (clicks are allowed).
fn browser(rig: &SfuRig) -> Browser {
    Browser::start(
        &rig.topo,
        &rig.topo.viewer(0).ns,
        &rig.base_for(0),
        CONTROL_TOKEN,
    )
}

/// Asserts that `playing` (or `sample`) came through Janus: the first offer said `path: "sfu"`, `sfu: INSTANCE`.
fn assert_offered_through_janus(r: &Value) {
    let offers = r["offers"].as_array().cloned().unwrap_or_default();
    let last = offers
        .last()
        .unwrap_or_else(|| panic!("no offer seen: {r}"));
    assert_eq!(last["path"], "sfu", "the offer's path: {r}");
    assert_eq!(last["sfu"], INSTANCE, "the offer's SFU: {r}");
    assert_eq!(
        last["playoutDelay"], true,
        "Janus's offer negotiates the playout-delay extension: {r}"
    );
}

/// Prints the UDP datagrams dropped on full receive buffers in the gateway namespace (Janus's RTP sockets, the
/// gateway's) and the viewer's: a lost keyframe on the gateway → Janus leg cannot be repaired (Janus does not NACK
/// its RTP source), so a slow first picture with drops here points at the RTP leg.
fn print_udp_drops(rig: &SfuRig) {
    println!(
        "UDP receive-buffer drops: gateway namespace {} {:?}, viewer namespace {}",
        udp_rcvbuf_errors(&rig.topo, &rig.topo.gateway_ns),
        udp_socket_drops(&rig.topo, &rig.topo.gateway_ns),
        udp_rcvbuf_errors(&rig.topo, &rig.topo.viewer(0).ns)
    );
}

/// Waits until Janus counts at least `n` viewers on the gateway's mountpoint; returns the proof (see
/// [`SfuRig::janus_viewers`]).
fn wait_janus_viewers(rig: &SfuRig, n: u64) -> String {
    poll(
        &format!("Janus counting {n} viewer(s)"),
        Duration::from_secs(10),
        || match rig.janus_viewers() {
            Ok((v, proof)) if v >= n => Ok(proof),
            Ok((_, proof)) => Err(proof),
            Err(e) => Err(e),
        },
    )
}

#[test]
fn viewer_page_plays_through_janus_input_reaches_the_screen_and_a_late_joiner_is_quick() {
    let _one = one_at_a_time();
    let rig = rig_always();
    let mut b = browser(&rig);

    let first = b.call(
        json!({"cmd": "open", "name": "first"}),
        "playing",
        Duration::from_secs(60),
    );
    println!("first viewer: {first}");
    assert_offered_through_janus(&first);
    assert_eq!(first["codec"], "video/H264", "{first}");
    assert_eq!(first["frameSize"], format!("{WIDTH}x{HEIGHT}"), "{first}");
    let s = b.call(
        json!({"cmd": "sample", "name": "first", "ms": 2000}),
        "sample",
        Duration::from_secs(30),
    );
    let fps = s["fps"].as_f64().unwrap_or(0.0);
    print_udp_drops(&rig);
    assert!(fps >= MIN_FPS, "decoded {fps:.1} fps through Janus: {s}");

    // Janus's own API counts the viewer on the gateway's mountpoint.
    let publication = rig.janus_publication().expect("a janus publication");
    println!(
        "publication: {publication}\nsfu status: {}",
        rig.sfu_status()
    );
    println!("viewer 1: {}", wait_janus_viewers(&rig, 1));
    print_udp_drops(&rig);

    // A real click on the page reaches the synthetic screen (its echo row, read back from the picture).
    let (x, y) = (400, 300);
    let c = b.call(
        json!({"cmd": "click", "name": "first", "x": x, "y": y}),
        "clicked",
        Duration::from_secs(30),
    );
    println!("click: {c}");
    assert_eq!(
        c["pressesAfter"].as_u64(),
        c["pressesBefore"].as_u64().map(|n| n + 1),
        "one click = one button press on the screen: {c}"
    );
    for (axis, want) in [("x", x), ("y", y)] {
        let got = c["pointer"][axis].as_i64().unwrap_or(-1);
        assert!(
            (got - want).abs() <= 1,
            "pointer {axis} {got}, clicked pixel {want}: {c}"
        );
    }

    // A late joiner: a second browser context, 3 s later; Janus's join PLI must become an IDR at once.
    std::thread::sleep(LATE_AFTER);
    let before = rig.janus_publication().unwrap_or_default();
    let late = b.call(
        json!({"cmd": "open", "name": "late"}),
        "playing",
        Duration::from_secs(60),
    );
    println!("late joiner: {late}");
    assert_offered_through_janus(&late);
    let to_first = late["connectedToFirstFrameMs"].as_f64().unwrap_or(f64::NAN);
    println!(
        "late joiner: first frame {} ms after its socket opened, {to_first} ms after its media path was up",
        late["firstFrameMs"]
    );
    let after = rig.janus_publication().unwrap_or_default();
    println!(
        "publication around the late join: PLIs {} → {}, FIRs {} → {}, keyframes {} → {}",
        before["plis"],
        after["plis"],
        before["firs"],
        after["firs"],
        before["keyframes"],
        after["keyframes"]
    );
    assert!(
        to_first <= LATE_FIRST_FRAME_MS,
        "the late joiner waited {to_first} ms for its first frame once connected (≤ {LATE_FIRST_FRAME_MS}): {late}"
    );
    println!("with the late joiner: {}", wait_janus_viewers(&rig, 2));
    let s = b.call(
        json!({"cmd": "sample", "name": "late", "ms": 2000}),
        "sample",
        Duration::from_secs(30),
    );
    let fps = s["fps"].as_f64().unwrap_or(0.0);
    assert!(fps >= MIN_FPS, "the late joiner decodes {fps:.1} fps: {s}");
}

#[test]
fn killing_janus_moves_the_viewer_back_to_local_serving_and_the_picture_resumes() {
    let _one = one_at_a_time();
    let mut rig = rig_always();
    let mut b = browser(&rig);
    let playing = b.call(
        json!({"cmd": "open", "name": "v"}),
        "playing",
        Duration::from_secs(60),
    );
    assert_offered_through_janus(&playing);
    wait_janus_viewers(&rig, 1);

    let killed_at = now_ms();
    rig.janus.kill();
    let moved = b.call(
        json!({"cmd": "await_path", "name": "v", "path": "local", "timeoutMs": 30000}),
        "path",
        Duration::from_secs(60),
    );
    let offer_after = moved["offerAt"].as_f64().unwrap_or(f64::NAN) - killed_at;
    let resumed_after = moved["resumedAt"].as_f64().unwrap_or(f64::NAN) - killed_at;
    println!(
        "Janus killed: `local` offer after {offer_after:.0} ms (reason {}), picture resumed after {resumed_after:.0} ms",
        moved["offer"]["reason"]
    );
    assert!(
        resumed_after <= FAILOVER_MS,
        "the picture resumed {resumed_after:.0} ms after the kill (≤ {FAILOVER_MS}): {moved}"
    );
    assert!(
        moved["offer"]["reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "the move says why: {moved}"
    );
    let s = b.call(
        json!({"cmd": "sample", "name": "v", "ms": 2000}),
        "sample",
        Duration::from_secs(30),
    );
    let fps = s["fps"].as_f64().unwrap_or(0.0);
    assert!(
        fps >= MIN_FPS,
        "served locally, the viewer decodes {fps:.1} fps: {s}"
    );
    let instance = rig.janus_instance().expect("the instance is listed");
    assert_eq!(
        instance["up"], false,
        "the gateway marked Janus down: {instance}"
    );
}
