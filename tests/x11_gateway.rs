//! The gateway on a real two-screen X server (Xvfb 1920×1080 + 1280×720): `sightline screens` and
//! `sightline snapshot` see both screens and their pixels, and commands sent by viewers — over the WebSocket and
//! over the WebRTC data channel — become real X input on the right screen, checked with `xdotool` and with an X
//! client that records the events it receives. A view-only token injects nothing.
#![cfg(target_os = "linux")]

mod common;

use std::process::Command;
use std::time::Duration;

use common::clients::{AiortcPeer, WsClient, WsEvent};
use common::paint::Painter;
use common::recorder::{Recorded, Recorder};
use common::xvfb::Xvfb;
use common::{CONTROL_TOKEN, GatewayProcess, VIEW_TOKEN};
use serde_json::json;

fn x11_config(xvfb: &Xvfb) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[auth]\nviewers = [\"{VIEW_TOKEN}\"]\ncontrollers = [\"{CONTROL_TOKEN}\"]\n\
         [capture]\nsource = \"x11\"\ndisplay = \"{}\"\n",
        xvfb.display()
    )
}

fn sightline(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sightline"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run sightline")
}

/// Ctrl+Shift+T as `key` commands: (code, action).
const CTRL_SHIFT_T: [(&str, &str); 5] = [
    ("ControlLeft", "down"),
    ("ShiftLeft", "down"),
    ("KeyT", "press"),
    ("ShiftLeft", "up"),
    ("ControlLeft", "up"),
];

/// The recorder saw the six key events of [`CTRL_SHIFT_T`], with Shift and Control held while T was pressed.
fn assert_ctrl_shift_t(recorder: &Recorder) {
    let ev = recorder.wait_until(|e| {
        e.iter()
            .filter(|e| matches!(e, Recorded::Key { .. }))
            .count()
            >= 6
    });
    let t_state = ev
        .iter()
        .find_map(|e| match e {
            Recorded::Key {
                down: true,
                keysym,
                state,
                ..
            } if *keysym == 'T' as u32 || *keysym == 't' as u32 => Some(*state),
            _ => None,
        })
        .expect("T pressed");
    assert_eq!(
        t_state & 0b101,
        0b101,
        "Shift and Control held while T was pressed (state {t_state:#x})"
    );
}

/// (x, y, screen) from `xdotool getmouselocation`.
fn pointer(xvfb: &Xvfb) -> (i32, i32, usize) {
    let out = xvfb.run(0, "xdotool", &["getmouselocation"]);
    let field = |name: &str| -> i32 {
        out.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{name}:")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {out:?}"))
    };
    (field("x"), field("y"), field("screen") as usize)
}

#[test]
fn screens_and_snapshot_commands_read_both_x_screens() {
    let xvfb = Xvfb::start();
    let painter = Painter::connect(&xvfb.display());
    painter.fill(0, 100, 200, 300, 150, 0xff0000);
    painter.fill(1, 40, 50, 200, 100, 0x00ff00);
    painter.sync();
    let display = xvfb.display();

    let out = sightline(&["--source", "x11", "--display", &display, "screens"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(
        (lines[0][0], lines[0][2], lines[0][3]),
        ("0", "1920x1080", "x11"),
        "{text}"
    );
    assert_eq!(
        (lines[1][0], lines[1][2], lines[1][3]),
        ("1", "1280x720", "x11"),
        "{text}"
    );

    let dir = common::tempdir::TempDir::new();
    for (screen, size, (px, py), rgb) in [
        ("0", (1920, 1080), (250, 275), [255, 0, 0]),
        ("1", (1280, 720), (140, 100), [0, 255, 0]),
    ] {
        let png = dir.path().join(format!("s{screen}.png"));
        let out = sightline(&[
            "--source",
            "x11",
            "--display",
            &display,
            "snapshot",
            "--screen",
            screen,
            "--output",
            png.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let img = image::open(&png).expect("a PNG").to_rgb8();
        assert_eq!(img.dimensions(), size);
        assert_eq!(
            img.get_pixel(px, py).0,
            rgb,
            "screen {screen} pixel ({px},{py})"
        );
        let jpg = dir.path().join(format!("s{screen}.jpg"));
        let out = sightline(&[
            "--source",
            "x11",
            "--display",
            &display,
            "snapshot",
            "--screen",
            screen,
            "-o",
            jpg.to_str().unwrap(),
        ]);
        assert!(out.status.success());
        let img = image::open(&jpg).expect("a JPEG").to_rgb8();
        assert_eq!(img.dimensions(), size);
        let p = img.get_pixel(px, py).0;
        assert!(
            p.iter()
                .zip(rgb)
                .all(|(a, b)| (i32::from(*a) - b as i32).abs() < 24),
            "{p:?} ≈ {rgb:?}"
        );
    }

    // Errors are one line and a non-zero exit, never a panic.
    for args in [
        vec!["--source", "x11", "--display", ":1999", "screens"],
        vec![
            "--source",
            "x11",
            "--display",
            &display,
            "snapshot",
            "--screen",
            "7",
            "-o",
            "/tmp/x.png",
        ],
        vec![
            "--source",
            "x11",
            "--display",
            &display,
            "snapshot",
            "--screen",
            "0",
            "-o",
            "/tmp/x.gif",
        ],
        vec!["--config", "/nonexistent.toml", "screens"],
        vec!["--fps", "0", "screens"],
        vec!["--source", "wayland", "screens"],
        vec!["--no-such-flag"],
        vec!["teleport"],
        vec!["snapshot", "--quality", "300", "-o", "/tmp/x.jpg"],
    ] {
        let out = sightline(&args);
        assert!(!out.status.success(), "{args:?} must fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("sightline: "), "{args:?}: {err}");
    }

    // --version and --help succeed on stdout.
    let out = sightline(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("sightline {}", env!("CARGO_PKG_VERSION"))
    );
    let out = sightline(&["--help"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("snapshot"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_commands_become_real_x_input_on_the_right_screen() {
    let xvfb = Xvfb::start();
    let recorder = Recorder::start(&xvfb.display());
    let gw = GatewayProcess::start(&x11_config(&xvfb));
    let (mut ws, welcome) = WsClient::authed(&gw.ws_url(), CONTROL_TOKEN).await;
    let screens = welcome["screens"].as_array().unwrap();
    assert_eq!(screens.len(), 2);
    assert_eq!(
        (screens[1]["width"].clone(), screens[1]["height"].clone()),
        (json!(1280), json!(720))
    );

    // The pointer lands on the exact pixel of each screen: (p + 0.5) / size.
    for (screen, w, h, px, py) in [
        ("0", 1920.0, 1080.0, 1234, 567),
        ("1", 1280.0, 720.0, 1000, 700),
        ("0", 1920.0, 1080.0, 0, 0),
    ] {
        let x = (f64::from(px) + 0.5) / w;
        let y = (f64::from(py) + 0.5) / h;
        ws.send(json!({"type":"pointer","action":"move","x":x,"y":y,"screen":screen,"id":"m"}))
            .await;
        assert_eq!(ws.expect_type("ack").await["id"], "m");
        assert_eq!(
            pointer(&xvfb),
            (px, py, screen.parse().unwrap()),
            "screen {screen}"
        );
    }
    ws.send(json!({"type":"pointer","action":"move","x":1.0,"y":1.0,"screen":"1","id":"edge"}))
        .await;
    ws.expect_type("ack").await;
    assert_eq!(
        pointer(&xvfb),
        (1279, 719, 1),
        "x = 1 maps to the last pixel"
    );

    // A click on screen 1 reaches the client there, at that position.
    recorder.clear();
    ws.send(json!({"type":"watch","screen":"1","transport":"jpeg","max_width":320}))
        .await;
    ws.send(json!({"type":"pointer","action":"click","x":(200.5/1280.0),"y":(100.5/720.0),"button":"right","id":1})).await;
    ws.expect_type("ack").await;
    let ev = recorder.wait_until(|e| {
        e.iter()
            .filter(|e| matches!(e, Recorded::Button { .. }))
            .count()
            >= 2
    });
    let buttons: Vec<&Recorded> = ev
        .iter()
        .filter(|e| matches!(e, Recorded::Button { .. }))
        .collect();
    assert_eq!(
        buttons,
        vec![
            &Recorded::Button {
                down: true,
                button: 3,
                screen: 1,
                x: 200,
                y: 100
            },
            &Recorded::Button {
                down: false,
                button: 3,
                screen: 1,
                x: 200,
                y: 100
            },
        ]
    );

    // Scrolling: three steps down are three presses of button 5.
    recorder.clear();
    ws.send(json!({"type":"wheel","dx":0,"dy":3,"id":2})).await;
    ws.expect_type("ack").await;
    let ev = recorder.wait_until(|e| {
        e.iter()
            .filter(|e| matches!(e, Recorded::Button { down: true, .. }))
            .count()
            >= 3
    });
    let presses: Vec<u8> = ev
        .iter()
        .filter_map(|e| match e {
            Recorded::Button {
                down: true, button, ..
            } => Some(*button),
            _ => None,
        })
        .collect();
    assert_eq!(presses, vec![5, 5, 5]);

    // Text with shifted and non-keymap characters, typed into the focused client.
    ws.send(json!({"type":"pointer","action":"click","x":0.5,"y":0.5,"screen":"0","id":"focus"}))
        .await;
    ws.expect_type("ack").await;
    recorder.clear();
    let text = "Hello, World! ~ é € 漢";
    ws.send(json!({"type":"text","text":text,"id":3})).await;
    ws.expect_type("ack").await;
    let typed = {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let t = recorder.text();
            if t == text || std::time::Instant::now() > deadline {
                break t;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    assert_eq!(typed, text);

    // A key combo: Ctrl+Shift+T, modifiers held while T is pressed.
    recorder.clear();
    for (code, action) in CTRL_SHIFT_T {
        ws.send(json!({"type":"key","action":action,"code":code,"id":code}))
            .await;
        ws.expect_type("ack").await;
    }
    assert_ctrl_shift_t(&recorder);

    // Unknown key codes are refused with an error naming them; nothing breaks.
    ws.send(json!({"type":"key","action":"press","code":"NoSuchKey","id":"bad"}))
        .await;
    let e = ws.expect_type("error").await;
    assert_eq!(e["id"], "bad");
    assert!(e["message"].as_str().unwrap().contains("NoSuchKey"), "{e}");

    // A view-only session: forbidden, and nothing reaches the X server.
    let (mut viewer, _) = WsClient::authed(&gw.ws_url(), VIEW_TOKEN).await;
    recorder.clear();
    let before = pointer(&xvfb);
    viewer
        .send(json!({"type":"pointer","action":"click","x":0.1,"y":0.1,"screen":"0","id":9}))
        .await;
    viewer
        .send(json!({"type":"text","text":"nope","id":10}))
        .await;
    for id in [9, 10] {
        let e = viewer.expect_type("error").await;
        assert_eq!(
            (e["code"].clone(), e["id"].clone()),
            (json!("forbidden"), json!(id))
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(pointer(&xvfb), before, "the pointer did not move");
    assert!(
        recorder.events().is_empty(),
        "no input reached the X server: {:?}",
        recorder.events()
    );
    viewer.close().await;
    ws.close().await;
    assert!(gw.stop().success());
}

/// Sends one command on the peer's `control` data channel and returns the reply that comes back on it.
async fn dc(peer: &mut AiortcPeer, command: serde_json::Value) -> serde_json::Value {
    peer.cmd(json!({"cmd":"send","text":command.to_string()}))
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut seen = Vec::new();
    while tokio::time::Instant::now() < deadline {
        for e in peer.collect(Duration::from_millis(50)).await {
            if e["type"] == "dc_message" {
                return serde_json::from_str(e["text"].as_str().expect("text reply"))
                    .expect("JSON reply");
            }
            if e["type"] != "frame" {
                seen.push(e);
            }
        }
    }
    panic!("no reply to {command} on the data channel within 5 s; events: {seen:?}");
}

/// Waits until the peer's data channel is open: something sent on it gets a reply.
async fn dc_ready(peer: &mut AiortcPeer) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        peer.cmd(json!({"cmd":"send","text":"{\"type\":\"hello\"}"}))
            .await;
        let events = peer.collect(Duration::from_millis(200)).await;
        if events.iter().any(|e| e["type"] == "dc_message") {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the data channel did not open: {events:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_channel_commands_drive_the_watched_screen() {
    let xvfb = Xvfb::start();
    let recorder = Recorder::start(&xvfb.display());
    let gw = GatewayProcess::start(&x11_config(&xvfb));
    let (mut ws, _) = WsClient::authed(&gw.ws_url(), CONTROL_TOKEN).await;
    let mut peer = AiortcPeer::start().await;
    common::clients::watch_webrtc(&mut ws, &mut peer, "1").await;
    // A static screen sends one IDR and then nothing, and aiortc's jitter buffer only releases a frame when the
    // next one starts: move a window so the screen changes and frames flow.
    let painter = Painter::connect(&xvfb.display());
    let window = painter.fill(1, 0, 0, 64, 64, 0x3366ff);
    let mut frame = None;
    for i in 0..100 {
        painter.move_to(window, (i * 7) % 600, 20);
        painter.sync();
        let events = peer.collect(Duration::from_millis(100)).await;
        if let Some(f) = events.into_iter().find(|e| e["type"] == "frame") {
            frame = Some(f);
            break;
        }
    }
    let frame = frame.expect("frames decoded once the screen changes");
    assert_eq!(
        (frame["width"].clone(), frame["height"].clone()),
        (json!(1280), json!(720))
    );
    recorder.clear();
    let click =
        json!({"type":"pointer","action":"click","x":(640.5/1280.0),"y":(360.5/720.0),"id":"dc1"});
    peer.cmd(json!({"cmd":"send","text":click.to_string()}))
        .await;
    let reply = peer.expect("dc_message", Duration::from_secs(5)).await;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(reply["text"].as_str().unwrap()).unwrap(),
        json!({"type":"ack","id":"dc1"})
    );
    assert_eq!(pointer(&xvfb), (640, 360, 1));
    let ev = recorder.wait_until(|e| {
        e.iter()
            .any(|e| matches!(e, Recorded::Button { down: false, .. }))
    });
    assert!(
        ev.contains(&Recorded::Button {
            down: true,
            button: 1,
            screen: 1,
            x: 640,
            y: 360
        }),
        "{ev:?}"
    );
    // Exact pixels on the watched screen, and on the other screen when the command names it.
    for (screen, w, h, px, py) in [
        (None, 1280.0, 720.0, 1000, 700),
        (Some("0"), 1920.0, 1080.0, 1234, 567),
        (None, 1280.0, 720.0, 0, 0),
    ] {
        let mut m = json!({"type":"pointer","action":"move","x":(f64::from(px) + 0.5) / w,"y":(f64::from(py) + 0.5) / h,"id":"mv"});
        if let Some(screen) = screen {
            m["screen"] = json!(screen);
        }
        assert_eq!(dc(&mut peer, m).await, json!({"type":"ack","id":"mv"}));
        let on = screen.map_or(1, |s| s.parse().unwrap());
        assert_eq!(pointer(&xvfb), (px, py, on), "{screen:?}");
    }

    // Wheel: two steps up are two presses of button 4, at the pointer on the watched screen.
    dc(
        &mut peer,
        json!({"type":"pointer","action":"move","x":(640.5/1280.0),"y":(360.5/720.0),"id":"c"}),
    )
    .await;
    recorder.clear();
    assert_eq!(
        dc(&mut peer, json!({"type":"wheel","dx":0,"dy":-2,"id":"w"})).await,
        json!({"type":"ack","id":"w"})
    );
    let ev = recorder.wait_until(|e| {
        e.iter()
            .filter(|e| matches!(e, Recorded::Button { down: true, .. }))
            .count()
            >= 2
    });
    let presses: Vec<(u8, usize)> = ev
        .iter()
        .filter_map(|e| match e {
            Recorded::Button {
                down: true,
                button,
                screen,
                ..
            } => Some((*button, *screen)),
            _ => None,
        })
        .collect();
    assert_eq!(presses, vec![(4, 1), (4, 1)]);

    // Text with shifted and non-keymap characters.
    recorder.clear();
    let text = "dc Hello, World! ~ é € 漢";
    assert_eq!(
        dc(&mut peer, json!({"type":"text","text":text,"id":"t"})).await,
        json!({"type":"ack","id":"t"})
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while recorder.text() != text && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(recorder.text(), text);

    // A key combo: Ctrl+Shift+T.
    recorder.clear();
    for (code, action) in CTRL_SHIFT_T {
        assert_eq!(
            dc(
                &mut peer,
                json!({"type":"key","action":action,"code":code,"id":code})
            )
            .await,
            json!({"type":"ack","id":code})
        );
    }
    assert_ctrl_shift_t(&recorder);

    // Bad commands get errors with their ids on the data channel; the channel stays usable.
    let e = dc(
        &mut peer,
        json!({"type":"key","code":"NoSuchKey","id":"bad"}),
    )
    .await;
    assert_eq!(
        (e["type"].clone(), e["id"].clone()),
        (json!("error"), json!("bad"))
    );
    let e = dc(
        &mut peer,
        json!({"type":"pointer","action":"move","x":3,"id":"far"}),
    )
    .await;
    assert_eq!(
        (e["code"].clone(), e["id"].clone()),
        (json!("bad_value"), json!("far"))
    );

    // A view-only viewer's data-channel commands are refused and inject nothing.
    let (mut view_ws, _) = WsClient::authed(&gw.ws_url(), VIEW_TOKEN).await;
    let mut view_peer = AiortcPeer::start().await;
    common::clients::watch_webrtc(&mut view_ws, &mut view_peer, "1").await;
    dc_ready(&mut view_peer).await;
    let before = pointer(&xvfb);
    recorder.clear();
    for m in [
        json!({"type":"pointer","action":"click","x":0.1,"y":0.1,"id":"v1"}),
        json!({"type":"text","text":"nope","id":"v2"}),
    ] {
        let id = m["id"].clone();
        let e = dc(&mut view_peer, m).await;
        assert_eq!(
            (e["code"].clone(), e["id"].clone()),
            (json!("forbidden"), id)
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(pointer(&xvfb), before, "the pointer did not move");
    assert!(recorder.events().is_empty(), "{:?}", recorder.events());
    view_peer.close().await;
    view_ws.close().await;
    peer.close().await;
    if let Some(WsEvent::Closed(..)) = ws.next_timeout(Duration::from_millis(10)).await {
        panic!("the socket must outlive the peer");
    }
    ws.close().await;
    assert!(gw.stop().success());
}
