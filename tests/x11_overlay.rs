//! The remote pointer and the clipboard through a real gateway on a real Xvfb, seen by a `/ws` client:
//! - overlay mode (the default): the pointer's shape (`cursor_image`) and positions (`cursor`) reach the viewer,
//!   a shape change (`xsetroot -cursor_name`) sends a new image, and moving only the pointer sends no frame;
//!   video mode (`[capture] cursor = "video"`): pointer motion costs frames and no pointer messages are sent;
//! - the clipboard both ways: an X client's copy (`xclip -i`) reaches viewers allowed to read it, a `clipboard`
//!   command sets the X clipboard (`xclip -o` reads it back), `clipboard_get` answers, the roles and the size
//!   limit of `[clipboard]` hold; the MCP tools `set_clipboard`/`get_clipboard` with the official Python SDK.
//!
//! Run: `cargo test -p sightline --test x11_overlay -- --nocapture`

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::clients::{WsClient, WsEvent};
use common::xvfb::{Xvfb, require_tool};
use common::{ADMIN_TOKEN, CONTROL_TOKEN, GatewayProcess, VIEW_TOKEN, last_json, run_python};
use serde_json::{Value, json};

fn config(xvfb: &Xvfb, extra: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[auth]\nviewers = [\"{VIEW_TOKEN}\"]\ncontrollers = [\"{CONTROL_TOKEN}\"]\n\
         admins = [\"{ADMIN_TOKEN}\"]\n[capture]\nsource = \"x11\"\ndisplay = \"{}\"\n{extra}",
        xvfb.display()
    )
}

/// Every JSON message (and the number of binary frames) received within `window`.
async fn collect(ws: &mut WsClient, window: Duration) -> (Vec<Value>, usize) {
    let end = Instant::now() + window;
    let (mut json, mut binary) = (Vec::new(), 0);
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (json, binary);
        }
        match ws.next_timeout(left).await {
            Some(WsEvent::Json(v)) => json.push(v),
            Some(WsEvent::Binary(_)) => binary += 1,
            Some(WsEvent::Closed(code, reason)) => panic!("socket closed: {code:?} {reason}"),
            None => return (json, binary),
        }
    }
}

/// The highest capture sequence number of the `frame` messages (0 without any).
fn max_seq(msgs: &[Value]) -> u64 {
    of_type(msgs, "frame")
        .iter()
        .filter_map(|f| f["seq"].as_u64())
        .max()
        .unwrap_or(0)
}

fn of_type<'a>(msgs: &'a [Value], ty: &str) -> Vec<&'a Value> {
    msgs.iter().filter(|m| m["type"] == ty).collect()
}

/// Moves the pointer to each point in turn, 50 ms apart, with xdotool, on a thread of its own.
fn spawn_mover(xvfb: &Xvfb, points: Vec<(u32, u32)>) -> std::thread::JoinHandle<()> {
    let display = xvfb.display();
    std::thread::spawn(move || {
        for (x, y) in points {
            let _ = Command::new("xdotool")
                .args(["mousemove", &x.to_string(), &y.to_string()])
                .env("DISPLAY", &display)
                .status();
            std::thread::sleep(Duration::from_millis(50));
        }
    })
}

fn circle(n: usize) -> Vec<(u32, u32)> {
    (0..n)
        .map(|i| {
            let a = i as f64 / n as f64 * std::f64::consts::TAU;
            (
                (960.0 + 300.0 * a.cos()) as u32,
                (540.0 + 300.0 * a.sin()) as u32,
            )
        })
        .collect()
}

/// Starts a JPEG watch of screen 0; returns the messages received up to and including its first frame.
async fn watch_jpeg(ws: &mut WsClient) -> Vec<Value> {
    ws.send(json!({"type":"watch","screen":"0","transport":"jpeg","fps":30}))
        .await;
    let mut seen = Vec::new();
    loop {
        match ws.next().await {
            WsEvent::Json(v) => {
                let frame = v["type"] == "frame";
                seen.push(v);
                if frame {
                    return seen;
                }
            }
            WsEvent::Binary(_) => {}
            WsEvent::Closed(code, reason) => panic!("socket closed: {code:?} {reason}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pointer_is_an_overlay_and_moving_it_costs_no_frames() {
    let xvfb = Xvfb::start();
    xvfb.run(0, "xsetroot", &["-solid", "#336699"]);
    let gw = GatewayProcess::start(&config(&xvfb, ""));
    let (mut ws, _) = WsClient::authed(&gw.ws_url(), VIEW_TOKEN).await;
    let mut msgs = watch_jpeg(&mut ws).await;
    xvfb.run(0, "xdotool", &["mousemove", "100", "200"]);
    msgs.extend(collect(&mut ws, Duration::from_millis(1500)).await.0);
    let images = of_type(&msgs, "cursor_image");
    let first = images
        .first()
        .unwrap_or_else(|| panic!("no cursor_image: {msgs:?}"));
    assert_eq!(first["screen"], "0");
    assert_eq!(first["screen_width"], 1920);
    assert!(first["width"].as_u64().unwrap() > 0 && first["width"].as_u64().unwrap() <= 256);
    assert!(
        first["image"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,iVBORw0KGgo")
    );
    let last = *of_type(&msgs, "cursor").last().expect("cursor positions");
    let (x, y) = (last["x"].as_f64().unwrap(), last["y"].as_f64().unwrap());
    assert_eq!((x * 1920.0).floor() as u32, 100, "{last}");
    assert_eq!((y * 1080.0).floor() as u32, 200, "{last}");
    assert_eq!(last["visible"], true);
    assert_eq!(last["serial"], first["serial"]);

    // Pointer-only motion: positions flow, frames do not.
    let mover = spawn_mover(&xvfb, circle(40));
    let captured = max_seq(&msgs);
    let (msgs, _) = collect(&mut ws, Duration::from_millis(2500)).await;
    mover.join().unwrap();
    let positions = of_type(&msgs, "cursor").len();
    assert!(positions >= 20, "only {positions} positions for 40 moves");
    // A frame of an already captured picture may come again (the JPEG stream stepping its quality); a new capture
    // may not.
    assert_eq!(
        max_seq(&msgs).max(captured),
        captured,
        "pointer motion captured frames: {msgs:?}"
    );

    // A new shape is a new image: an xterm's I-beam while the pointer is over it (nudged so the server re-picks
    // the cursor once the window is mapped).
    require_tool("xterm");
    let mut xterm = Command::new("xterm")
        .args(["-geometry", "40x12+600+300"])
        .env("DISPLAY", xvfb.display())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("xterm starts");
    let mut changed = None;
    for i in 0..20 {
        xvfb.run(
            0,
            "xdotool",
            &["mousemove", &(700 + i % 2).to_string(), "400"],
        );
        let (msgs, _) = collect(&mut ws, Duration::from_millis(250)).await;
        if let Some(m) = of_type(&msgs, "cursor_image").last() {
            changed = Some((*m).clone());
            break;
        }
    }
    let _ = xterm.kill();
    let _ = xterm.wait();
    let changed = changed.expect("no new shape over the xterm");
    assert_ne!(changed["serial"], first["serial"]);
    assert_ne!(changed["image"], first["image"]);
    ws.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn in_video_mode_the_pointer_is_in_the_frames() {
    let xvfb = Xvfb::start();
    xvfb.run(0, "xsetroot", &["-solid", "#336699"]);
    let gw = GatewayProcess::start(&config(&xvfb, "cursor = \"video\"\n"));
    let (mut ws, _) = WsClient::authed(&gw.ws_url(), VIEW_TOKEN).await;
    let first = watch_jpeg(&mut ws).await;
    assert!(of_type(&first, "cursor_image").is_empty());
    let mover = spawn_mover(&xvfb, circle(20));
    let (msgs, binary) = collect(&mut ws, Duration::from_millis(1500)).await;
    mover.join().unwrap();
    assert!(
        binary >= 5,
        "pointer motion in video mode sent only {binary} frames"
    );
    assert!(of_type(&msgs, "cursor").is_empty() && of_type(&msgs, "cursor_image").is_empty());
    ws.close().await;
}

/// Sets an X selection from an X client (xclip forks and serves it until another owner takes over).
fn xclip_in(xvfb: &Xvfb, selection: &str, text: &str) {
    require_tool("xclip");
    let mut child = Command::new("xclip")
        .args(["-selection", selection, "-i"])
        .env("DISPLAY", xvfb.display())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("xclip starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    child.wait().expect("xclip forks and exits");
    // The forked xclip takes the selection a moment after its parent exits.
    let deadline = Instant::now() + Duration::from_secs(5);
    while xclip_out(xvfb, selection) != text {
        assert!(
            Instant::now() < deadline,
            "xclip never took the {selection} selection"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn xclip_out(xvfb: &Xvfb, selection: &str) -> String {
    let out = Command::new("xclip")
        .args(["-o", "-selection", selection])
        .env("DISPLAY", xvfb.display())
        .output()
        .expect("xclip -o runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits for a `clipboard` message (skipping others) within `within`; `None` when none came.
async fn next_clipboard(ws: &mut WsClient, within: Duration) -> Option<Value> {
    let (msgs, _) = collect(ws, within).await;
    of_type(&msgs, "clipboard").last().map(|v| (*v).clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_clipboard_goes_both_ways_under_the_policy() {
    let xvfb = Xvfb::start();
    let gw = GatewayProcess::start(&config(&xvfb, "[clipboard]\nmax_bytes = 1000\n"));
    let (mut control, _) = WsClient::authed(&gw.ws_url(), CONTROL_TOKEN).await;
    let (mut view, _) = WsClient::authed(&gw.ws_url(), VIEW_TOKEN).await;

    // X → viewers allowed to read.
    xclip_in(&xvfb, "clipboard", "from X ✓");
    let got = next_clipboard(&mut control, Duration::from_secs(3))
        .await
        .expect("the control viewer gets the X clipboard");
    assert_eq!(got["text"], "from X ✓");
    assert_eq!(got["selection"], "clipboard");
    assert_eq!(got["mime"], "text/plain");
    assert_eq!(got["bytes"], "from X ✓".len());
    assert!(
        next_clipboard(&mut view, Duration::from_millis(500))
            .await
            .is_none(),
        "a view-only session must not get the clipboard"
    );

    // Page → X, applied before the ack.
    control
        .send(json!({"type":"clipboard","text":"from the page ✓ 日本","id":1}))
        .await;
    assert_eq!(control.expect_type("ack").await["id"], 1);
    assert_eq!(xclip_out(&xvfb, "clipboard"), "from the page ✓ 日本");

    // On request, PRIMARY too.
    xclip_in(&xvfb, "primary", "selected words");
    control
        .send(json!({"type":"clipboard_get","selection":"primary","id":"p"}))
        .await;
    // (The socket also gets the broadcast of its own paste above: skip to the answer.)
    let got = loop {
        let m = control.expect_type("clipboard").await;
        if m.get("id").is_some() {
            break m;
        }
    };
    assert_eq!(got["id"], "p");
    assert_eq!(got["selection"], "primary");
    assert_eq!(got["text"], "selected words", "{got}");

    // The policy: view may not set; over max_bytes is refused with the size named.
    view.send(json!({"type":"clipboard","text":"nope","id":2}))
        .await;
    let e = view.expect_type("error").await;
    assert_eq!(e["code"], "forbidden", "{e}");
    control
        .send(json!({"type":"clipboard","text":"x".repeat(1500),"id":3}))
        .await;
    let e = control.expect_type("error").await;
    assert_eq!(e["code"], "bad_value", "{e}");
    assert!(e["message"].as_str().unwrap().contains("max_bytes"), "{e}");
    assert_eq!(xclip_out(&xvfb, "clipboard"), "from the page ✓ 日本");

    // An X copy over the limit is announced by its size only.
    xclip_in(&xvfb, "clipboard", &"y".repeat(5000));
    let got = next_clipboard(&mut control, Duration::from_secs(3))
        .await
        .expect("announced");
    assert_eq!(got["too_large"], true, "{got}");
    assert_eq!(got["bytes"], 5000);
    assert!(got.get("text").is_none());
    control.close().await;
    view.close().await;
}

/// Runs a scenario of `tests/e2e/mcp_client.py` (the official Python SDK) and returns its JSON result.
fn mcp(gw: &GatewayProcess, scenario: &str, token: &str, extra: &[&str]) -> Value {
    let url = format!("{}/mcp", gw.base);
    let out = gw.dir().to_string_lossy().into_owned();
    let mut args = vec![scenario, "--url", &url, "--token", token, "--out", &out];
    args.extend_from_slice(extra);
    last_json(&run_python(
        "mcp_client.py",
        &args,
        Duration::from_secs(120),
    ))
}

#[test]
fn mcp_sets_and_gets_the_clipboard() {
    let xvfb = Xvfb::start();
    let gw = GatewayProcess::start(&config(&xvfb, ""));
    let display = xvfb.display();
    let r = mcp(&gw, "clipboard", CONTROL_TOKEN, &["--display", &display]);
    eprintln!("{r:#}");
    assert_eq!(r["set"]["is_error"], false, "{}", r["set"]);
    assert_eq!(r["xclip_after_set"], "agent ✓ wrote this");
    assert_eq!(r["get"]["is_error"], false, "{}", r["get"]);
    assert_eq!(r["get"]["structured"]["text"], "X wrote ✓ this");
    assert_eq!(r["get_primary"]["structured"]["empty"], true);
    assert_eq!(r["bad"]["is_error"], true);
    let r = mcp(&gw, "clipboard", VIEW_TOKEN, &["--display", &display]);
    assert_eq!(r["set"]["is_error"], true, "view may not set: {}", r["set"]);
    assert!(
        r["set"]["texts"][0]
            .as_str()
            .unwrap()
            .contains("role view cannot set the clipboard"),
        "{}",
        r["set"]
    );
}

#[test]
fn mcp_screenshots_include_the_pointer_only_when_asked() {
    let xvfb = Xvfb::start();
    xvfb.run(0, "xsetroot", &["-solid", "#336699"]);
    let gw = GatewayProcess::start(&config(&xvfb, ""));
    let r = mcp(&gw, "cursor", CONTROL_TOKEN, &[]);
    let decode = |shot: &Value| {
        let file = shot["images"][0]["file"].as_str().expect("an image");
        image::open(file).expect("a PNG").to_rgb8()
    };
    let background = image::Rgb([0x33u8, 0x66, 0x99]);
    let plain = decode(&r["plain"]);
    assert!(
        plain.pixels().all(|p| *p == background),
        "the pointer is not in a plain screenshot"
    );
    let with = decode(&r["with_cursor"]);
    let drawn = with.pixels().filter(|p| **p != background).count();
    assert!(
        drawn >= 20,
        "include_cursor draws the pointer ({drawn} pixels differ)"
    );
}
