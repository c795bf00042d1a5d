//! The viewer page in a WebKit engine (issue 13): Debian's WebKitGTK (MiniBrowser, `webkit2gtk-driver`) on a
//! private Xvfb, driven through `WebKitWebDriver` with the W3C WebDriver protocol (`tests/e2e/webkit.mjs`),
//! against a gateway on the synthetic screen.
//!
//! WebKitGTK 2.50 as Debian builds it has no WebRTC (`RTCPeerConnection` is missing even with
//! `--enable-webrtc=true`; evidence in docs/VIEWER.md). The test follows what the engine offers:
//! - with WebRTC (and H.264 among its receive codecs): the page plays the H.264 stream (watching `webrtc`, a
//!   picture of the screen's size, frames advancing) and a click lands on the clicked screen pixel;
//! - without: the page falls back to JPEG over the WebSocket by itself, says why, draws advancing frames, and a
//!   click lands on the clicked screen pixel.
//!
//! Either way the `<video>` is inline, muted and autoplaying (what iOS Safari needs) and the page raises no
//! uncaught error or unhandled rejection. A missing `WebKitWebDriver` or MiniBrowser fails the test with the
//! command that installs them; nothing is skipped.
//!
//! Run: `cargo test -p sightline --test webkit -- --nocapture`

mod common;

use std::fs::File;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::xvfb::Xvfb;
use common::{CONTROL_TOKEN, GatewayProcess, last_json, run_node, synthetic_config};
use serde_json::Value;

/// The synthetic screen's size in this test.
const SCREEN: (u64, u64) = (1280, 720);
/// How long the driver may take to listen (it usually needs ~50 ms).
const DRIVER_READY: Duration = Duration::from_secs(15);
/// Ports tried before giving up (a port found free may be taken before the driver binds it).
const PORT_ATTEMPTS: usize = 5;

/// The WebKitGTK browser the driver starts: `SIGHTLINE_MINIBROWSER`, else Debian's
/// `/usr/lib/<triplet>/webkit2gtk-4.1/MiniBrowser`.
fn minibrowser() -> PathBuf {
    if let Some(p) = std::env::var_os("SIGHTLINE_MINIBROWSER") {
        return PathBuf::from(p);
    }
    let found = std::fs::read_dir("/usr/lib").ok().and_then(|dirs| {
        dirs.flatten()
            .map(|d| d.path().join("webkit2gtk-4.1/MiniBrowser"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "WebKitGTK's MiniBrowser is not installed (looked for /usr/lib/*/webkit2gtk-4.1/MiniBrowser); run \
             `scripts/install-deps.sh --test` (it installs webkit2gtk-driver, which pulls libwebkit2gtk-4.1-0)"
        )
    })
}

/// A running `WebKitWebDriver` on a free loopback port, in its own process group: dropping it kills the driver
/// and every browser process it started.
struct WebKitDriver {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl WebKitDriver {
    /// Starts the driver with `DISPLAY=display` and waits until it answers `GET /status`.
    fn start(display: &str) -> Self {
        let installed = std::env::var_os("PATH").is_some_and(|paths| {
            std::env::split_paths(&paths).any(|dir| dir.join("WebKitWebDriver").is_file())
        });
        assert!(
            installed,
            "WebKitWebDriver is not installed; run `scripts/install-deps.sh --test` (it installs webkit2gtk-driver)"
        );
        for attempt in 0..PORT_ATTEMPTS {
            let port = free_port();
            let log = std::env::temp_dir().join(format!(
                "sightline-webkitdriver-{}-{attempt}.log",
                std::process::id()
            ));
            let out = File::create(&log).expect("temp dir is writable");
            let err = out.try_clone().expect("clone the log file");
            let child = Command::new("WebKitWebDriver")
                .arg(format!("--port={port}"))
                .env("DISPLAY", display)
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .process_group(0)
                .spawn()
                .expect("WebKitWebDriver is on PATH (checked above)");
            let mut driver = Self { child, port, log };
            if driver.wait_ready() {
                return driver;
            }
        }
        panic!("WebKitWebDriver did not start on any of {PORT_ATTEMPTS} free ports");
    }

    /// Waits for the driver to listen and report itself ready; false when it exited (port taken).
    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + DRIVER_READY;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_ok() {
                let (status, _, body) = common::http(
                    "GET",
                    &format!("{}/status", self.url()),
                    None,
                    None,
                    &[],
                    &[],
                );
                let ready: Value = serde_json::from_slice(&body).unwrap_or_default();
                if status == 200 && ready["value"]["ready"] == true {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "WebKitWebDriver did not answer within {DRIVER_READY:?}; its log:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    /// `http://127.0.0.1:PORT`.
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for WebKitDriver {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- WebKitWebDriver log\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
        // The whole group: the driver, MiniBrowser and WebKit's web and network processes.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a loopback port")
}

#[test]
fn webkit_shows_the_screen_and_carries_a_click() {
    let started = Instant::now();
    common::ensure_test_deps();
    let browser = minibrowser();
    let gw = GatewayProcess::start(&synthetic_config(&format!(
        "synthetic_size = \"{}x{}\"\n",
        SCREEN.0, SCREEN.1
    )));
    let xvfb = Xvfb::start();
    let driver = WebKitDriver::start(&xvfb.screen(0));
    let out = run_node(
        "webkit.mjs",
        &[
            "--driver",
            &driver.url(),
            "--browser",
            &browser.display().to_string(),
            "--base",
            &gw.base,
            "--token",
            CONTROL_TOKEN,
            "--width",
            &SCREEN.0.to_string(),
            "--height",
            &SCREEN.1.to_string(),
        ],
        Duration::from_secs(60),
    );
    let r = last_json(&out);
    eprintln!("webkit: {r:#}");
    drop(driver);
    drop(xvfb);
    gw.stop();

    assert!(
        r["browser"]["version"]
            .as_str()
            .is_some_and(|v| !v.is_empty()),
        "browser {}",
        r["browser"]
    );
    assert_eq!(
        r["engine"]["secureContext"], true,
        "the page runs on 127.0.0.1"
    );

    let state = &r["state"];
    assert_eq!(state["picture"], true, "state {state}");
    let frames = r["framesIn1500ms"].as_u64().expect("frames counted");
    assert!(frames >= 5, "only {frames} frames shown in 1.5 s");
    let advance = r["barcodeAdvanceMs"].as_f64().expect("barcode advance");
    assert!(
        advance >= 500.0,
        "the picture advanced only {advance} ms in 1.5 s"
    );
    if r["webrtcPossible"] == true {
        eprintln!("webkit: this WebKit has WebRTC with H.264: tested H.264 playback");
        assert_eq!(state["watching"], "webrtc", "state {state}");
        assert_eq!(
            r["shown"]["video"],
            serde_json::json!([SCREEN.0, SCREEN.1]),
            "the video shows the whole screen"
        );
    } else {
        eprintln!(
            "webkit: this WebKit has no WebRTC with H.264 (RTCPeerConnection: {}, H.264 receive codecs: {}): tested \
             the JPEG fallback",
            r["engine"]["rtcPeerConnection"], r["engine"]["h264ReceiveCodecs"]
        );
        assert_eq!(state["watching"], "jpeg", "state {state}");
        let reason = state["fallbackReason"].as_str().unwrap_or_default();
        assert!(
            reason.contains("RTCPeerConnection") || reason.contains("H.264"),
            "the page must say why it fell back: {reason:?}"
        );
        assert!(
            state["status"].as_str().is_some_and(|s| s.contains("JPEG")),
            "status {}",
            state["status"]
        );
        let canvas = &r["shown"]["canvas"];
        assert!(
            canvas[0].as_u64().is_some_and(|w| w > 0) && canvas[1].as_u64().is_some_and(|h| h > 0),
            "canvas {canvas}"
        );
    }

    let click = &r["click"];
    assert_eq!(
        click["pressesAfter"].as_u64(),
        click["pressesBefore"].as_u64().map(|n| n + 1),
        "click {click}"
    );
    assert_eq!(
        click["pointer"], click["target"],
        "the click must land on the clicked pixel: {click}"
    );

    let video = &r["video"];
    for prop in ["playsInline", "muted", "autoplay"] {
        assert_eq!(
            video[prop], true,
            "iOS Safari needs the video {prop}: {video}"
        );
    }
    assert_eq!(
        r["pageErrors"].as_array().map(Vec::len),
        Some(0),
        "page errors in WebKit: {}",
        r["pageErrors"]
    );
    eprintln!("webkit: done in {:?}", started.elapsed());
}
