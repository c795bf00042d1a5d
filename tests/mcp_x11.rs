//! MCP tools against a real X server (a private two-screen Xvfb per test), driven by official clients: the Python
//! SDK (`Client` in auto mode over the session-less 2026-07-28 revision, and `ClientSession` over a 2025-11-25
//! session) and the MCP Inspector CLI (TypeScript SDK).
//!
//! - Screenshots decode to the right size and pixels (known colours painted by an X client), regions and scales
//!   map back to screen pixels as their text says.
//! - Input tools have their effect on the X server: a recording client sees the clicks, drags, wheel steps and
//!   keys at the right pixels of the right screen, `xdotool` sees the pointer; a view token injects nothing; a
//!   viewer watching the screen sees the agent's actions; the audit trail has every call.
//! - `wait_for_change` returns when its region changes and times out when it does not.
#![cfg(target_os = "linux")]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::clients::{WsClient, WsEvent};
use common::paint::Painter;
use common::recorder::{Recorded, Recorder};
use common::xvfb::Xvfb;
use common::{ADMIN_TOKEN, CONTROL_TOKEN, GatewayProcess, VIEW_TOKEN, last_json, run_python};
use serde_json::{Value, json};

const PYTHON_TIMEOUT: Duration = Duration::from_secs(180);
const XK_SHIFT_L: u32 = 0xffe1;
const XK_CONTROL_L: u32 = 0xffe3;
const XK_T: u32 = 0x54;

fn x11_config(display: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[auth]\nviewers = [\"{VIEW_TOKEN}\"]\ncontrollers = [\"{CONTROL_TOKEN}\"]\n\
         admins = [\"{ADMIN_TOKEN}\"]\n[capture]\nsource = \"x11\"\ndisplay = \"{display}\"\n"
    )
}

fn mcp_url(gw: &GatewayProcess) -> String {
    format!("{}/mcp", gw.base)
}

/// Runs a scenario of `tests/e2e/mcp_client.py` over HTTP and returns its JSON result.
fn client(gw: &GatewayProcess, scenario: &str, mode: &str, token: &str, extra: &[&str]) -> Value {
    let url = mcp_url(gw);
    let out = gw.dir().to_string_lossy().into_owned();
    let mut args = vec![
        scenario, "--mode", mode, "--url", &url, "--token", token, "--out", &out,
    ];
    args.extend_from_slice(extra);
    last_json(&run_python("mcp_client.py", &args, PYTHON_TIMEOUT))
}

/// Runs the MCP Inspector CLI and returns its JSON output.
fn inspector(gw: &GatewayProcess, token: &str, args: &[&str]) -> Value {
    common::ensure_test_deps();
    let out = common::run_tool(
        Command::new("bash")
            .arg(common::root().join("tests/e2e/mcp_inspector.sh"))
            .arg(mcp_url(gw))
            .arg(token)
            .args(args),
        Duration::from_secs(60),
    );
    serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("inspector output is not JSON ({e}):\n{out}"))
}

fn rgb(img: &image::RgbImage, x: u32, y: u32) -> [u8; 3] {
    img.get_pixel(x, y).0
}

fn close_to(actual: [u8; 3], expected: [u8; 3], tolerance: u8) -> bool {
    actual
        .iter()
        .zip(expected)
        .all(|(a, e)| a.abs_diff(e) <= tolerance)
}

fn decode(shot: &Value) -> image::RgbImage {
    let file = shot["images"][0]["file"]
        .as_str()
        .unwrap_or_else(|| panic!("no image in {shot}"));
    image::open(Path::new(file))
        .unwrap_or_else(|e| panic!("{file} does not decode: {e}"))
        .to_rgb8()
}

#[test]
fn screenshots_show_the_screen_as_viewers_see_it() {
    let xvfb = Xvfb::start();
    xvfb.run(0, "xsetroot", &["-solid", "#336699"]);
    xvfb.run(1, "xsetroot", &["-solid", "#224466"]);
    let painter = Painter::connect(&xvfb.display());
    painter.fill(0, 100, 200, 150, 75, 0xff0000);
    painter.fill(0, 960, 0, 960, 540, 0x00ff00);
    painter.fill(1, 0, 0, 640, 360, 0x0000ff);
    let gw = GatewayProcess::start(&x11_config(&xvfb.display()));
    let (root0, root1) = ([0x33, 0x66, 0x99], [0x22, 0x44, 0x66]);
    let (red, green, blue) = ([255, 0, 0], [0, 255, 0], [0, 0, 255]);

    let tools = client(&gw, "tools", "auto", VIEW_TOKEN, &[]);
    assert_eq!(
        tools["protocol"], "2026-07-28",
        "auto mode takes the session-less revision"
    );
    assert_eq!(
        tools["tools"],
        json!([
            "click",
            "click_element",
            "drag",
            "focus_window",
            "get_clipboard",
            "list_devices",
            "list_screens",
            "list_sessions",
            "list_windows",
            "long_press",
            "monitor_summary",
            "move_pointer",
            "press_keys",
            "screenshot",
            "scroll",
            "set_clipboard",
            "set_text",
            "type_text",
            "ui_tree",
            "wait_for_change",
            "wait_until_stable"
        ])
    );

    let r = client(&gw, "shots", "auto", VIEW_TOKEN, &[]);
    let screens = &r["screens"]["structured"]["screens"];
    assert_eq!(screens[0]["width"], 1920, "{screens}");
    assert_eq!(screens[0]["primary"], true);
    assert_eq!(screens[1]["height"], 720);
    assert_eq!(screens[0]["source"], "x11");
    let shots = &r["shots"];

    // Full size, lossless: exact pixels.
    let full = decode(&shots["s0_png_full"]);
    assert_eq!(full.dimensions(), (1920, 1080));
    assert_eq!(rgb(&full, 120, 220), red);
    assert_eq!(rgb(&full, 1440, 270), green);
    assert_eq!(rgb(&full, 50, 1000), root0);
    let s1 = decode(&shots["s1_png"]);
    assert_eq!(
        s1.dimensions(),
        (1280, 720),
        "a screen this small is not scaled"
    );
    assert_eq!((rgb(&s1, 10, 10), rgb(&s1, 1000, 600)), (blue, root1));

    // The default: a JPEG scaled to what vision models use as-is, saying how to map back.
    let shot = &shots["s0_jpeg_default"];
    let jpeg = decode(shot);
    let (w, h) = jpeg.dimensions();
    assert!(
        w <= 1568 && u64::from(w) * u64::from(h) <= 1_150_000,
        "{w}x{h}"
    );
    assert!(
        (f64::from(w) / f64::from(h) - 16.0 / 9.0).abs() < 0.01,
        "{w}x{h}"
    );
    let s = &shot["structured"];
    assert_eq!(
        (s["image_width"].clone(), s["image_height"].clone()),
        (json!(w), json!(h))
    );
    assert_eq!(
        (s["screen_width"].clone(), s["screen_height"].clone()),
        (json!(1920), json!(1080))
    );
    assert_eq!(s["format"], "image/jpeg");
    let scale = s["scale_x"].as_f64().unwrap();
    assert!((scale - 1920.0 / f64::from(w)).abs() < 1e-9);
    let text = shot["texts"][0].as_str().unwrap();
    assert!(
        text.contains(&format!("This {w}x{h} JPEG (quality 80)")),
        "{text}"
    );
    assert!(
        text.contains(&format!("x = 0 + image_x * {scale:.4}")),
        "{text}"
    );
    // Green at screen (1440, 270) is at image (1440 / scale, 270 / scale).
    let (gx, gy) = ((1440.0 / scale) as u32, (270.0 / scale) as u32);
    assert!(
        close_to(rgb(&jpeg, gx, gy), green, 24),
        "{:?}",
        rgb(&jpeg, gx, gy)
    );
    assert!(
        close_to(rgb(&jpeg, 20, h - 20), root0, 24),
        "{:?}",
        rgb(&jpeg, 20, h - 20)
    );

    // A region at full detail: image (0, 0) is screen (100, 200).
    let region = decode(&shots["s0_png_region"]);
    assert_eq!(region.dimensions(), (300, 150));
    assert_eq!(rgb(&region, 0, 0), red);
    assert_eq!(rgb(&region, 149, 74), red);
    assert_eq!(rgb(&region, 150, 75), root0);
    let text = shots["s0_png_region"]["texts"][0].as_str().unwrap();
    assert!(
        text.contains("x = 100 + image_x * 1.0000, y = 200 + image_y * 1.0000"),
        "{text}"
    );

    // Half size: image (720, 135) is screen (1440, 270).
    let half = decode(&shots["s0_png_half"]);
    assert_eq!(half.dimensions(), (960, 540));
    assert_eq!(rgb(&half, 720, 135), green);
    assert_eq!(shots["s0_png_half"]["structured"]["scale_x"], 2.0);

    // Mistakes are tool errors that say what is wrong.
    assert_eq!(shots["bad_region"]["is_error"], true);
    let text = shots["bad_region"]["texts"][0].as_str().unwrap();
    assert!(
        text.contains("does not fit screen 1 (1280x720 px)"),
        "{text}"
    );
    assert_eq!(shots["bad_screen"]["is_error"], true);
    assert!(
        shots["bad_screen"]["texts"][0]
            .as_str()
            .unwrap()
            .contains("unknown screen \"7\"")
    );

    // The MCP Inspector (TypeScript SDK, 2025-11-25 session) sees the same tools and pictures.
    let listed = inspector(&gw, VIEW_TOKEN, &["--method", "tools/list"]);
    assert_eq!(
        listed["tools"].as_array().map(Vec::len),
        Some(21),
        "{listed}"
    );
    let shot = inspector(
        &gw,
        VIEW_TOKEN,
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "screenshot",
            "--tool-arg",
            "screen=\"1\"",
            "format=\"png\"",
        ],
    );
    assert_eq!(shot["content"][0]["type"], "image", "{shot}");
    assert_eq!(shot["content"][0]["mimeType"], "image/png");
    use base64::Engine as _;
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot["content"][0]["data"].as_str().unwrap())
        .expect("base64");
    let img = image::load_from_memory(&png).expect("PNG").to_rgb8();
    assert_eq!(img.dimensions(), (1280, 720));
    assert_eq!(rgb(&img, 10, 10), blue);
}

#[test]
fn waits_end_when_their_region_changes_and_time_out_when_it_does_not() {
    let xvfb = Xvfb::start();
    xvfb.run(0, "xsetroot", &["-solid", "#336699"]);
    common::xvfb::require_tool("xlogo");
    let gw = GatewayProcess::start(&x11_config(&xvfb.display()));
    let r = client(
        &gw,
        "wait",
        "legacy",
        VIEW_TOKEN,
        &["--display", &xvfb.display()],
    );
    assert_eq!(r["protocol"], "2025-11-25");

    let idle = &r["idle"]["structured"];
    assert_eq!(idle["changed"], false, "{idle}");
    assert!(idle["elapsed_ms"].as_u64().unwrap() >= 800, "{idle}");
    assert!(
        r["idle"]["texts"][0]
            .as_str()
            .unwrap()
            .contains("no change on screen 1 within 800 ms")
    );

    let outside = &r["outside_region"]["structured"];
    assert_eq!(
        outside["changed"], false,
        "a window outside the region is not a change: {outside}"
    );

    let inside = &r["inside_region"]["structured"];
    assert_eq!(inside["changed"], true, "{inside}");
    assert!(
        inside["elapsed_ms"].as_u64().unwrap() < 20_000,
        "returned on the change, not at the timeout: {inside}"
    );

    assert_eq!(r["stable"]["structured"]["stable"], true, "{}", r["stable"]);
    assert_eq!(r["bad_timeout"]["is_error"], true);
    assert!(
        r["bad_timeout"]["texts"][0]
            .as_str()
            .unwrap()
            .contains("at most 60000 ms")
    );
}

fn position(events: &[Recorded], wanted: &Recorded) -> Option<usize> {
    events.iter().position(|e| e == wanted)
}

fn button(down: bool, button: u8, screen: usize, x: i16, y: i16) -> Recorded {
    Recorded::Button {
        down,
        button,
        screen,
        x,
        y,
    }
}

fn keysyms(events: &[Recorded]) -> Vec<(bool, u32)> {
    events
        .iter()
        .filter_map(|e| match e {
            Recorded::Key { down, keysym, .. } => Some((*down, *keysym)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn input_tools_reach_the_x_server_and_the_people_watching() {
    let xvfb = Xvfb::start();
    let recorder = Recorder::start(&xvfb.display());
    let gw = std::sync::Arc::new(GatewayProcess::start(&x11_config(&xvfb.display())));

    // A person watches screen 0 and collects what the agent is shown doing.
    let (mut viewer, _) = WsClient::authed(&gw.ws_url(), VIEW_TOKEN).await;
    viewer
        .send(json!({"type": "watch", "screen": "0", "transport": "jpeg", "fps": 5}))
        .await;
    viewer.expect_type("frame").await;
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let watching = tokio::spawn(async move {
        let mut agent = Vec::new();
        loop {
            tokio::select! {
                _ = &mut stopped => return agent,
                ev = viewer.next_timeout(Duration::from_millis(200)) => {
                    if let Some(WsEvent::Json(v)) = ev && v["type"] == "agent" {
                        agent.push(v);
                    }
                }
            }
        }
    });

    let g = std::sync::Arc::clone(&gw);
    let (input, forbidden) = tokio::task::spawn_blocking(move || {
        let input = client(&g, "input", "legacy", CONTROL_TOKEN, &[]);
        let forbidden = client(&g, "forbidden", "auto", VIEW_TOKEN, &[]);
        (input, forbidden)
    })
    .await
    .expect("clients ran");
    // Agent events are sent as the tools run; give the last one a moment on the socket.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = stop.send(());
    let agent = watching.await.expect("viewer task");

    // What the tools answered.
    let results = input["results"].as_array().unwrap();
    for (i, r) in results.iter().enumerate() {
        let expect_error = i == 7 || i == 8;
        assert_eq!(r["is_error"], expect_error, "step {i}: {r}");
    }
    assert_eq!(
        results[1]["texts"][0],
        "clicked right at (300, 400) on screen 1"
    );
    assert_eq!(
        results[2]["texts"][0],
        "double-clicked left at (640, 360) on screen 0"
    );
    let outside = results[7]["texts"][0].as_str().unwrap();
    assert!(
        outside.contains("(1920, 5) is outside screen 0"),
        "{outside}"
    );
    let bad_key = results[8]["texts"][0].as_str().unwrap();
    assert!(
        bad_key.contains("\"NoSuchKey\"") && bad_key.contains("nothing stays pressed"),
        "{bad_key}"
    );

    // What the X server received.
    let events = recorder.wait_until(|e| {
        e.iter().any(|r| {
            matches!(
                r,
                Recorded::Motion {
                    screen: 1,
                    x: 1000,
                    y: 700
                }
            )
        })
    });
    assert!(
        position(
            &events,
            &Recorded::Motion {
                screen: 0,
                x: 100,
                y: 200
            }
        )
        .is_some(),
        "{events:?}"
    );
    let right_down =
        position(&events, &button(true, 3, 1, 300, 400)).expect("right press on screen 1");
    assert!(events[right_down..].contains(&button(false, 3, 1, 300, 400)));
    let presses_at = |b: u8, x: i16, y: i16| {
        events
            .iter()
            .filter(|e| **e == button(true, b, 0, x, y))
            .count()
    };
    assert_eq!(presses_at(1, 640, 360), 2, "a double click is two clicks");
    let drag_down = position(&events, &button(true, 1, 0, 500, 500)).expect("drag press");
    let drag_up = position(&events, &button(false, 1, 0, 700, 600)).expect("drag release");
    let moves_while_held = events[drag_down..drag_up]
        .iter()
        .filter(|e| matches!(e, Recorded::Motion { screen: 0, .. }))
        .count();
    assert!(
        moves_while_held >= 5,
        "the drag moves in steps: {:?}",
        &events[drag_down..=drag_up]
    );
    assert_eq!(
        presses_at(5, 800, 300),
        3,
        "three wheel steps down at (800, 300)"
    );
    assert_eq!(recorder.text(), "Hello, wörld!T");
    let keys = keysyms(&events);
    let chord = [
        (true, XK_CONTROL_L),
        (true, XK_SHIFT_L),
        (true, XK_T),
        (false, XK_T),
        (false, XK_SHIFT_L),
        (false, XK_CONTROL_L),
    ];
    assert!(
        keys.windows(6).any(|w| w == chord),
        "pressed in order, released in reverse: {keys:x?}"
    );
    let last_shift = keys.iter().rev().find(|(_, k)| *k == XK_SHIFT_L);
    assert_eq!(
        last_shift,
        Some(&(false, XK_SHIFT_L)),
        "the failed chord released Shift"
    );
    let pointer = xvfb.run(0, "xdotool", &["getmouselocation"]);
    assert!(pointer.starts_with("x:1000 y:700 screen:1 "), "{pointer}");

    // A view token injected nothing.
    let refused = forbidden["results"].as_array().unwrap();
    for r in &refused[..3] {
        assert_eq!(r["is_error"], true, "{r}");
        assert!(
            r["texts"][0]
                .as_str()
                .unwrap()
                .contains("needs role control; this token has role view")
        );
    }
    assert_eq!(
        refused[3]["is_error"], false,
        "list_sessions is a read-only tool: a view token may call it"
    );
    assert!(
        refused[3]["structured"]["sessions"]
            .as_array()
            .is_some_and(|s| !s.is_empty()),
        "{}",
        refused[3]
    );
    assert_eq!(
        refused[4]["is_error"], false,
        "a view token may take screenshots"
    );
    assert_eq!(refused[4]["structured"]["image_width"], 64);
    assert!(
        forbidden["unknown_tool_error"]
            .as_str()
            .unwrap()
            .contains("unknown tool \"no_such_tool\"")
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Recorded::Button { button: 2, .. })),
        "{events:?}"
    );
    assert!(!events.iter().any(|e| matches!(
        e,
        Recorded::Motion {
            screen: 0,
            x: 42 | 43,
            y: 42 | 43
        }
    )));

    // The person watching screen 0 saw the agent act there (and not on screen 1).
    let actions: Vec<&str> = agent.iter().filter_map(|a| a["action"].as_str()).collect();
    for wanted in [
        "move_pointer",
        "click",
        "drag",
        "scroll",
        "type_text",
        "press_keys",
    ] {
        assert!(actions.contains(&wanted), "{wanted} missing from {agent:?}");
    }
    let click = agent.iter().find(|a| a["action"] == "click").unwrap();
    assert_eq!(click["screen"], "0");
    assert!(
        (click["x"].as_f64().unwrap() - 640.5 / 1920.0).abs() < 1e-9,
        "{click}"
    );
    assert!(
        (click["y"].as_f64().unwrap() - 360.5 / 1080.0).abs() < 1e-9,
        "{click}"
    );
    assert_eq!(click["detail"], "double-clicked left at (640, 360)");

    // Every call is in the audit trail with its arguments and result.
    let (status, _, body) = common::http(
        "GET",
        &format!("{}/api/v0/mcp/monitor/webrtc/operations", gw.base),
        Some(ADMIN_TOKEN),
        None,
        b"",
        &[],
    );
    assert_eq!(status, 200);
    let ops: Value = serde_json::from_slice(&body).unwrap();
    let audited: Vec<&Value> = ops["recent"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == "mcp_tool_call")
        .collect();
    assert_eq!(audited.len(), 10 + 5, "{audited:?}");
    let typed = audited
        .iter()
        .find(|o| o["detail"]["tool"] == "type_text" && o["result"] == "ok")
        .unwrap();
    assert_eq!(typed["detail"]["arguments"]["text"], "Hello, wörld!");
    assert_eq!(typed["detail"]["result"], "typed 13 characters");
    let refused_ops = audited.iter().filter(|o| o["result"] == "error").count();
    assert_eq!(
        refused_ops,
        2 + 3,
        "two bad inputs and three input calls refused for a view token"
    );
}
