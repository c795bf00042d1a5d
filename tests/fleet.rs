//! The fleet (issue 15) with real processes: a hub sightline and devices (`sightline device`) each in its own
//! network namespace that can reach the hub but cannot be reached (tests/common/fleet.rs verifies that with real
//! TCP connections before each device starts). Devices run the synthetic screen, whose input echo rows let every
//! check read back what reached which device — from the hub's video (Chromium), from screenshots (MCP).
//!
//! - The hub lists the devices (`GET /api/v1/devices`) and their screens (`GET /api/v1/screens`, `<id>/0`).
//! - Chromium on the hub's viewer page watches each remote screen as H.264 and a click reaches the right device.
//! - The official Python MCP SDK on the hub: `list_devices`, a screenshot of a remote screen, typing into it.
//! - Tokens: device tokens cannot watch or command, controller tokens cannot register; an unknown device waits
//!   for an admin's approval, which is written to the hub's TOML file with the rest of the file intact.
//! - A killed device goes offline within the heartbeat window with an event, its viewers are told; restarted, it
//!   comes back under the same ids.
//! - The JPEG fallback over `/ws` for a remote screen.
//!
//! Run: `cargo test -p sightline --test fleet -- --nocapture` (as root: network namespaces).
#![cfg(target_os = "linux")]

mod common;

use std::time::{Duration, Instant};

use common::clients::{WsClient, WsEvent};
use common::fleet::{
    DEVICE_TOKEN, DeviceSpec, EventStream, Fleet, HEARTBEAT_MS, ONLINE_TIMEOUT, hub_config,
};
use common::fleet_ws::{jpeg_where, next_jpeg, offline_notice, ws_until};
use common::{
    ADMIN_TOKEN, CONTROL_TOKEN, GatewayProcess, VIEW_TOKEN, http, last_json, mcp_tool_call,
    run_node, run_python,
};
use serde_json::{Value, json};
use sightline_media::barcode::{self, Echo};
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// The two devices: different sizes, so a picture says whose it is.
/// The hub's monitor API.
const MONITOR: &str = "/api/v0/mcp/monitor/webrtc";

fn two_specs() -> Vec<DeviceSpec> {
    vec![
        DeviceSpec::new("kiosk-a", 1280, 720),
        DeviceSpec::new("kiosk-b", 960, 540),
    ]
}

/// The synthetic input echo (and the size) of a PNG or JPEG picture.
fn echo_of(image: &[u8]) -> (u32, u32, Echo) {
    let img = image::load_from_memory(image)
        .expect("the picture decodes")
        .to_rgba8();
    let (w, h) = img.dimensions();
    let mut bgra = img.into_raw();
    for px in bgra.chunks_exact_mut(4) {
        px.swap(0, 2);
    }
    let bar = barcode::bar_height(w);
    let row =
        |top| barcode::decode_row(&bgra, w, h, w as usize * 4, top).expect("a barcode row fits");
    (w, h, Echo::from_rows(row(h - 2 * bar), row(h - bar)))
}

/// A screenshot of `screen` through the hub's MCP endpoint (PNG at full size): its size and echo.
fn mcp_echo(fleet: &Fleet, screen: &str, width: u32) -> (u32, u32, Echo) {
    let r = mcp_tool_call(
        &fleet.hub,
        CONTROL_TOKEN,
        "fleet-test",
        "screenshot",
        json!({"screen": screen, "format": "png", "max_width": width}),
    );
    assert_ne!(r["isError"], true, "screenshot of {screen}: {r}");
    let image = r["content"]
        .as_array()
        .and_then(|c| c.iter().find(|i| i["type"] == "image"))
        .unwrap_or_else(|| panic!("no image in the screenshot of {screen}: {r}"));
    assert_eq!(image["mimeType"], "image/png");
    let bytes = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        image["data"].as_str().expect("base64 data"),
    )
    .expect("base64");
    echo_of(&bytes)
}

/// Panics unless every key of `want` has that value in `v`.
fn assert_has(v: &Value, want: Value) {
    for (k, w) in want.as_object().expect("an object") {
        assert_eq!(&v[k], w, "{k} in {v}");
    }
}

/// The hub's entry for remote screen `id` in `GET /api/v1/screens`.
fn listed_screen(fleet: &Fleet, id: &str) -> Option<Value> {
    let v = fleet.get("/api/v1/screens");
    v["screens"]
        .as_array()
        .unwrap_or_else(|| panic!("GET /api/v1/screens has no `screens` array: {v}"))
        .iter()
        .find(|s| s["id"] == id)
        .cloned()
}

#[test]
fn devices_dial_out_and_the_hub_lists_them_and_their_screens() {
    let mut fleet = Fleet::start("", "", &two_specs());
    let ids = fleet.wait_all_online();
    assert_ne!(ids[0], ids[1], "each device generated its own id");
    for (i, id) in ids.iter().enumerate() {
        let spec = &fleet.devices[i].spec;
        let (w, h) = spec.size;
        // The heartbeat's round trip shows up within a few periods.
        let deadline = Instant::now() + Duration::from_secs(5);
        let d = loop {
            let d = fleet.device_info(id).expect("listed");
            if d["rtt_ms"].as_f64().is_some() || Instant::now() > deadline {
                break d;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        eprintln!("GET /api/v1/devices entry: {d}");
        assert_has(
            &d,
            json!({"name": spec.name, "online": true, "state": "allowed"}),
        );
        assert!(
            d["version"].as_str().is_some_and(|v| !v.is_empty()),
            "a version: {d}"
        );
        assert!(d["last_seen"].as_str().is_some(), "last_seen: {d}");
        assert!(
            d["rtt_ms"].as_f64().is_some_and(|r| r >= 0.0),
            "an RTT after a few heartbeats: {d}"
        );
        let ns_ip = fleet.devices[i]
            .ns
            .as_ref()
            .expect("a namespace")
            .ip
            .to_string();
        assert!(
            d["remote"].as_str().is_some_and(|r| r.starts_with(&ns_ip)),
            "connected from its namespace's address {ns_ip}: {d}"
        );
        assert_eq!(d["screens"].as_array().map(Vec::len), Some(1), "{d}");
        assert_has(
            &d["screens"][0],
            json!({"id": "0", "width": w, "height": h}),
        );

        let sid = format!("{id}/0");
        let s = listed_screen(&fleet, &sid).unwrap_or_else(|| {
            panic!(
                "GET /api/v1/screens lacks {sid}: {}",
                fleet.get("/api/v1/screens")
            )
        });
        eprintln!("GET /api/v1/screens entry: {s}");
        assert_has(&s, json!({"width": w, "height": h, "source": "remote"}));
        assert!(
            s["name"].as_str().is_some_and(|n| n.contains(&spec.name))
                || s["device_name"] == spec.name.as_str(),
            "the screen carries the device's name: {s}"
        );
        assert_eq!(s["online"], true, "the device's online state: {s}");

        // The id file: generated once, private.
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&fleet.devices[i].id_file)
                .expect("id file")
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o600, "the id file is written 0600");
    }
    assert!(
        listed_screen(&fleet, "0").is_some(),
        "the hub's own screen is still listed"
    );
    // Open enrollment (an empty allowed list at start-up): both are now in the hub's file.
    let toml =
        std::fs::read_to_string(fleet.hub.dir().join("sightline.toml")).expect("the hub's config");
    for (i, id) in ids.iter().enumerate() {
        let entry = format!("{id} {}", fleet.devices[i].spec.name);
        assert!(
            toml.contains(&entry),
            "{entry:?} persisted to [devices] allowed:\n{toml}"
        );
    }
    assert!(
        toml.starts_with("# The test hub"),
        "the file's comment survives:\n{toml}"
    );
}

#[test]
fn chromium_on_the_hub_watches_each_remote_screen_as_h264_and_clicks_reach_the_right_device() {
    let mut fleet = Fleet::start("", "", &two_specs());
    let ids = fleet.wait_all_online();
    let targets = [(400, 300), (600, 200)];
    let screens: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let (w, h) = fleet.devices[i].spec.size;
            json!({"screen": format!("{id}/0"), "width": w, "height": h,
                   "target": {"x": targets[i].0, "y": targets[i].1}})
        })
        .collect();
    let out = run_node(
        "fleet_viewer.mjs",
        &[
            "--base",
            &fleet.hub.base,
            "--token",
            CONTROL_TOKEN,
            "--screens",
            &Value::Array(screens).to_string(),
        ],
        Duration::from_secs(150),
    );
    let r = last_json(&out);
    eprintln!("fleet_viewer: {r:#}");
    if r["screens"]
        .as_array()
        .is_some_and(|a| a.iter().any(|s| !s["error"].is_null()))
    {
        // What the hub did with the page's input and its streams: failed injections, connection counters.
        eprintln!(
            "hub operations: {}",
            fleet.get(&format!("{MONITOR}/operations"))
        );
        eprintln!(
            "hub connections: {}",
            fleet.get(&format!("{MONITOR}/connections"))
        );
    }
    for (i, id) in ids.iter().enumerate() {
        let s = &r["screens"][i];
        let (w, h) = fleet.devices[i].spec.size;
        assert!(s["error"].is_null(), "{id}/0: {}", s["error"]);
        let (sid, size) = (format!("{id}/0"), format!("{w}x{h}"));
        assert_has(
            s,
            json!({"selected": sid, "frameSize": size, "codec": "video/H264"}),
        );
        let fps = s["fps"].as_f64().unwrap_or(0.0);
        assert!(
            fps >= 15.0,
            "{id}/0 decoded {fps:.1} fps over ~3 s (the device captures 30)"
        );
        assert!(
            s["barcodeAdvanceMs"].as_f64().unwrap_or(0.0) >= 500.0,
            "the picture is live: {s}"
        );
        assert_eq!(
            s["before"]["presses"], 0,
            "device {i} saw no click before its own (the other device's click went elsewhere): {s}"
        );
        assert_eq!(s["after"]["presses"], 1, "{s}");
        for (axis, want) in [("x", targets[i].0), ("y", targets[i].1)] {
            let got = s["after"][axis].as_i64().unwrap_or(-1);
            assert!(
                (got - want).abs() <= 1,
                "{id}/0 pointer {axis} {got}, clicked {want}: {s}"
            );
        }
        assert_eq!(s["errors"], json!([]), "page errors: {s}");
    }
    // The devices' own pictures (screenshots through the hub) agree: one press each, where it was clicked.
    for (i, id) in ids.iter().enumerate() {
        let (w, h) = fleet.devices[i].spec.size;
        let (pw, ph, echo) = mcp_echo(&fleet, &format!("{id}/0"), w);
        assert_eq!((pw, ph), (w, h));
        assert_eq!(echo.button_presses, 1, "device {i}: {echo:?}");
        assert_eq!(
            (echo.pointer_x, echo.pointer_y),
            (targets[i].0 as u16, targets[i].1 as u16)
        );
    }
}

#[test]
fn mcp_sdk_on_the_hub_lists_devices_screenshots_and_types_into_a_remote_screen() {
    let mut fleet = Fleet::start("", "", &two_specs());
    let ids = fleet.wait_all_online();
    let (a, b) = (format!("{}/0", ids[0]), format!("{}/0", ids[1]));
    let ((wa, ha), (wb, hb)) = (fleet.devices[0].spec.size, fleet.devices[1].spec.size);
    let text = "typed through the hub";
    let out_dir = fleet.hub.dir().join("mcp");
    std::fs::create_dir_all(&out_dir).expect("out dir");
    let out = run_python(
        "fleet_mcp.py",
        &[
            "--url",
            &format!("{}/mcp", fleet.hub.base),
            "--token",
            CONTROL_TOKEN,
            "--out",
            out_dir.to_str().expect("UTF-8"),
            "--a",
            &a,
            "--wa",
            &wa.to_string(),
            "--b",
            &b,
            "--wb",
            &wb.to_string(),
            "--text",
            text,
        ],
        Duration::from_secs(120),
    );
    let r = last_json(&out);
    eprintln!("fleet_mcp: {r:#}");
    assert!(
        r["tools"]
            .as_array()
            .is_some_and(|t| t.contains(&json!("list_devices"))),
        "{}",
        r["tools"]
    );
    let devices = &r["list_devices"];
    assert_eq!(devices["is_error"], false, "{devices}");
    let listing = format!("{}{}", devices["texts"], devices["structured"]);
    for (i, id) in ids.iter().enumerate() {
        assert!(
            listing.contains(id.as_str()),
            "list_devices names {id}: {devices}"
        );
        assert!(
            listing.contains(&fleet.devices[i].spec.name),
            "list_devices names the device: {devices}"
        );
    }
    let screens = format!(
        "{}{}",
        r["list_screens"]["texts"], r["list_screens"]["structured"]
    );
    assert!(
        screens.contains(&a) && screens.contains(&b),
        "list_screens lists both: {screens}"
    );

    let image = |key: &str| -> (String, Vec<u8>) {
        let shot = &r[key];
        assert_eq!(shot["is_error"], false, "{key}: {shot}");
        let img = &shot["images"][0];
        let bytes = std::fs::read(
            img["file"]
                .as_str()
                .unwrap_or_else(|| panic!("{key}: no image: {shot}")),
        )
        .expect("the saved picture");
        (img["mime"].as_str().unwrap_or_default().to_owned(), bytes)
    };
    let (mime, jpeg) = image("jpeg_a");
    assert_eq!(mime, "image/jpeg");
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "a JPEG file");
    let (w, h, _) = echo_of(&jpeg);
    assert_eq!((w, h), (wa, ha), "the JPEG has device A's size");
    let (_, png) = image("png_b_before");
    assert_eq!(echo_of(&png).0, wb, "device B's picture is B's size");
    let (_, before) = image("png_a_before");
    assert_eq!(echo_of(&before).2.typed_len, 0, "nothing typed on A yet");
    assert_eq!(r["type_text"]["is_error"], false, "{}", r["type_text"]);
    let (_, after) = image("png_a_after");
    let (_, _, echo) = echo_of(&after);
    assert_eq!(
        (echo.typed_len, echo.typed_hash),
        (
            text.chars().count() as u16,
            barcode::fnv1a32(text.as_bytes())
        ),
        "device A's typed buffer holds the text: {echo:?}"
    );
    let (_, b_after) = image("png_b_after");
    let (w, h, echo_b) = echo_of(&b_after);
    assert_eq!((w, h), (wb, hb));
    assert_eq!(echo_b.typed_len, 0, "nothing reached device B: {echo_b:?}");
    assert_eq!(
        r["unknown_device"]["is_error"], true,
        "{}",
        r["unknown_device"]
    );
}

/// A WebSocket upgrade with `Authorization: Bearer token`: the refusal's status and body, `None` if it upgraded.
async fn upgrade_refusal(url: &str, token: Option<&str>) -> Option<(u16, String)> {
    let mut req = url.into_client_request().expect("request");
    if let Some(t) = token {
        req.headers_mut().insert(
            "authorization",
            format!("Bearer {t}").parse().expect("header"),
        );
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok(_) => None,
        Err(WsError::Http(r)) => {
            let body =
                String::from_utf8_lossy(r.body().as_deref().unwrap_or_default()).into_owned();
            Some((r.status().as_u16(), body))
        }
        Err(e) => panic!("{url}: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_tokens_cannot_watch_or_command_and_controller_tokens_cannot_register() {
    let hub = GatewayProcess::start(&hub_config("", ""));
    const DEVICE_MSG: &str = "a device token can only register a device and serve its screens";
    const CONTROLLER_MSG: &str = "controller tokens cannot register a device";
    // /ws: a device token on the upgrade is refused with 403 and the reason.
    let refused = upgrade_refusal(&hub.ws_url(), Some(DEVICE_TOKEN)).await;
    let (status, body) = refused.expect("a device token upgraded /ws");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains(DEVICE_MSG), "the 403 says why: {body:?}");
    // /ws with the token in an auth message: no welcome.
    let mut ws = WsClient::connect(&hub.ws_url()).await;
    ws.send(json!({"type":"auth","token":DEVICE_TOKEN})).await;
    let mut got = Vec::new();
    while let Some(ev) = ws.next_timeout(Duration::from_secs(3)).await {
        let closed = matches!(ev, WsEvent::Closed(..));
        got.push(ev);
        if closed {
            break;
        }
    }
    assert!(
        !got.iter()
            .any(|e| matches!(e, WsEvent::Json(v) if v["type"] == "welcome")),
        "a device token got a welcome: {got:?}"
    );
    assert!(
        got.iter().any(|e| match e {
            WsEvent::Json(v) =>
                v["type"] == "error"
                    && v["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("device token")),
            WsEvent::Closed(Some(c), _) => (4400..4500).contains(c),
            _ => false,
        }),
        "an auth message with a device token is answered with an error or closed: {got:?}"
    );
    // REST and MCP (blocking requests: fine on this multi-threaded runtime).
    let mcp = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                     "params": {"name": "list_screens", "arguments": {}}})
    .to_string();
    for (method, path, body) in [
        ("GET", "/api/v1/screens", ""),
        ("GET", "/api/v1/devices", ""),
        ("GET", "/api/v1/status", ""),
        ("POST", "/mcp", mcp.as_str()),
    ] {
        let (status, _, reply) = http(
            method,
            &format!("{}{path}", hub.base),
            Some(DEVICE_TOKEN),
            Some("application/json"),
            body.as_bytes(),
            &[("accept", "application/json, text/event-stream")],
        );
        let reply = String::from_utf8_lossy(&reply);
        assert_eq!(status, 403, "{method} {path} with a device token: {reply}");
        assert!(reply.contains(DEVICE_MSG), "{method} {path}: {reply}");
    }
    // The device endpoint: controller tokens of every role are refused with 403, no or a wrong token with 401.
    let connect = format!("ws://{}/api/v1/devices/connect", hub.addr);
    for token in [VIEW_TOKEN, CONTROL_TOKEN, ADMIN_TOKEN] {
        let (status, body) = upgrade_refusal(&connect, Some(token))
            .await
            .expect("a controller token registered");
        assert_eq!(status, 403, "{token}: {body}");
        assert!(body.contains(CONTROLLER_MSG), "{token}: {body:?}");
    }
    for token in [None, Some("not-a-real-token")] {
        let (status, body) = upgrade_refusal(&connect, token)
            .await
            .expect("no token, no device");
        assert_eq!(status, 401, "{token:?}: {body}");
    }
    assert!(
        upgrade_refusal(&connect, Some(DEVICE_TOKEN))
            .await
            .is_none(),
        "a device token upgrades"
    );
    assert!(hub.stop().success());
}

#[test]
fn an_unknown_device_waits_for_an_admins_approval_which_is_persisted() {
    let known = "00000000cafef00d";
    let devices_extra = format!(
        "# Devices approved by hand; keep this comment.\nallowed = [\"{known} old kiosk\"]  # the first one\n\
         max_pending = 8\n"
    );
    let extra = "\n# A trailing note that must survive.\n[preview]\nquality = 61\n";
    let mut fleet = Fleet::start(&devices_extra, extra, &[]);
    let mut events = EventStream::open(&format!("{}/api/v1/events", fleet.hub.base), VIEW_TOKEN);
    let original = std::fs::read_to_string(fleet.hub.dir().join("sightline.toml")).expect("config");
    let d = common::fleet::DeviceProcess::start_in_ns(
        DeviceSpec::new("new-kiosk", 800, 600),
        &fleet.hub,
    );
    d.ns.as_ref().expect("a namespace").verify_isolation();
    fleet.devices.push(d);
    let id = fleet.devices[0].wait_id();
    let pending = fleet.wait_device(0, &id, false, Some("pending"), ONLINE_TIMEOUT);
    assert_eq!(pending["name"], "new-kiosk", "{pending}");
    let why = format!("device {id} (new-kiosk) is not in [devices] allowed");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !fleet.devices[0].stderr().contains(&why) {
        assert!(
            Instant::now() < deadline,
            "the device's log does not show the hub's reason {why:?}:\n{}",
            fleet.devices[0].stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    events.expect(
        "device_pending",
        |v| v["device"] == id,
        Duration::from_secs(5),
    );
    assert!(listed_screen(&fleet, &format!("{id}/0")).is_none_or(|s| s["online"] != true));
    // Still refused a while later (it keeps retrying with backoff).
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(fleet.device_info(&id).expect("listed")["online"], false);

    let approve = format!("{}/api/v1/devices/{id}/approve", fleet.hub.base);
    let (status, _, body) = http("POST", &approve, Some(CONTROL_TOKEN), None, b"", &[]);
    assert_eq!(
        status,
        403,
        "approval needs admin: {}",
        String::from_utf8_lossy(&body)
    );
    let (status, _, body) = http("POST", &approve, Some(ADMIN_TOKEN), None, b"", &[]);
    assert_eq!(status, 200, "approve: {}", String::from_utf8_lossy(&body));
    events.expect(
        "device_registered",
        |v| v["device"] == id && v["how"] == "approved",
        Duration::from_secs(5),
    );
    fleet.wait_device(0, &id, true, Some("allowed"), ONLINE_TIMEOUT);
    events.expect(
        "device_online",
        |v| v["device"] == id,
        Duration::from_secs(5),
    );
    assert!(listed_screen(&fleet, &format!("{id}/0")).is_some_and(|s| s["online"] == true));

    let now = std::fs::read_to_string(fleet.hub.dir().join("sightline.toml")).expect("config");
    eprintln!("the hub's file after approval:\n{now}");
    let parsed: toml::Table =
        toml::from_str(&now).unwrap_or_else(|e| panic!("the file still parses: {e}\n{now}"));
    let allowed: Vec<&str> = parsed["devices"]["allowed"]
        .as_array()
        .expect("allowed")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        allowed.contains(&format!("{known} old kiosk").as_str()),
        "{allowed:?}"
    );
    assert!(
        allowed.iter().any(|e| e.starts_with(&id)),
        "{id} added: {allowed:?}"
    );
    for line in original.lines().filter(|l| !l.contains("allowed")) {
        assert!(
            now.contains(line),
            "the line {line:?} survived the write:\n{now}"
        );
    }
    assert_eq!(parsed["devices"]["max_pending"].as_integer(), Some(8));
    assert_eq!(parsed["preview"]["quality"].as_integer(), Some(61));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_device_goes_offline_with_an_event_and_returns_under_the_same_ids() {
    let mut fleet = Fleet::start("", "", &[DeviceSpec::new("kiosk-k", 1280, 720)]);
    let id = fleet.wait_all_online().remove(0);
    let sid = format!("{id}/0");
    let mut events = EventStream::open(
        &format!("{}/api/v1/events?device={id}", fleet.hub.base),
        VIEW_TOKEN,
    );
    let (mut ws, _) = WsClient::authed(&fleet.hub.ws_url(), VIEW_TOKEN).await;
    ws.send(json!({"type":"watch","screen":sid,"transport":"jpeg","max_width":1280}))
        .await;
    next_jpeg(&mut ws).await;

    // Frozen (SIGSTOP): the TCP connection stays open and silent; only the heartbeat can tell.
    fleet.devices[0].signal("STOP");
    expect_offline(&fleet, &mut events, &mut ws, &id, "frozen").await;
    fleet.devices[0].signal("CONT");
    fleet.wait_device(0, &id, true, None, ONLINE_TIMEOUT);
    events.expect(
        "device_online",
        |v| v["device"] == id,
        Duration::from_secs(5),
    );
    ws.send(json!({"type":"watch","screen":sid,"transport":"jpeg","max_width":1280}))
        .await;
    next_jpeg(&mut ws).await;

    // Killed (SIGKILL): the kernel resets the connection.
    fleet.devices[0].kill();
    let msg = expect_offline(&fleet, &mut events, &mut ws, &id, "killed").await;
    let text = offline_notice(&msg).unwrap_or_default();
    assert!(
        text.contains(&id) && text.contains("kiosk-k"),
        "names the device: {msg}"
    );
    let s = listed_screen(&fleet, &sid).expect("an offline device's screen stays listed");
    assert_eq!(s["online"], false, "{s}");
    let off = fleet.device_info(&id).expect("still listed");
    assert_eq!(off["state"], "allowed");
    assert!(off["last_seen"].as_str().is_some(), "{off}");
    // A watch of the vanished screen is refused with the same clear reason, never a silent black screen.
    ws.send(json!({"type":"watch","screen":sid,"transport":"jpeg","id":"again"}))
        .await;
    let again = ws_until(&mut ws, Duration::from_secs(10), |v| v["type"] == "error").await;
    assert!(
        again["message"]
            .as_str()
            .is_some_and(|m| m.contains("offline")),
        "{again}"
    );

    fleet.devices[0].restart();
    assert_eq!(
        fleet.devices[0].wait_id(),
        id,
        "the same id after a restart"
    );
    let back = fleet.wait_device(0, &id, true, None, ONLINE_TIMEOUT);
    events.expect(
        "device_online",
        |v| v["device"] == id,
        Duration::from_secs(5),
    );
    assert_eq!(back["screens"][0]["id"], "0", "{back}");
    let s = listed_screen(&fleet, &sid).expect("the screen is back under its id");
    assert_eq!(s["online"], true, "{s}");
    ws.send(json!({"type":"watch","screen":sid,"transport":"jpeg","max_width":1280}))
        .await;
    let (h, size) = next_jpeg(&mut ws).await;
    assert_eq!((h["screen"].clone(), size), (json!(sid), (1280, 720)));
    ws.close().await;
}

/// Waits for device `id` (the fleet's first), just `how` (frozen, killed), to be offline at the hub within
/// the heartbeat window, with a `device_offline` event and a notice to the viewer on `ws`; returns the notice.
async fn expect_offline(
    fleet: &Fleet,
    events: &mut EventStream,
    ws: &mut WsClient,
    id: &str,
    how: &str,
) -> Value {
    let since = Instant::now();
    fleet.wait_device(0, id, false, None, Duration::from_secs(10));
    let noticed = since.elapsed();
    let window = Duration::from_millis(3 * HEARTBEAT_MS + 1000);
    eprintln!(
        "{how} device offline after {noticed:?} (heartbeat {HEARTBEAT_MS} ms, allowed {window:?})"
    );
    assert!(
        noticed <= window,
        "offline after {noticed:?}, beyond the heartbeat window {window:?}"
    );
    let ev = events.expect(
        "device_offline",
        |v| v["device"] == id,
        Duration::from_secs(5),
    );
    eprintln!("event: {ev}");
    let msg = ws_until(ws, Duration::from_secs(10), |v| offline_notice(v).is_some()).await;
    eprintln!("the viewer was told: {msg}");
    msg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jpeg_fallback_works_for_a_remote_screen() {
    let mut fleet = Fleet::start("", "", &[DeviceSpec::new("kiosk-j", 1280, 720)]);
    let id = fleet.wait_all_online().remove(0);
    let sid = format!("{id}/0");
    let (mut ws, welcome) = WsClient::authed(&fleet.hub.ws_url(), CONTROL_TOKEN).await;
    let listed = welcome["screens"]
        .as_array()
        .is_some_and(|s| s.iter().any(|s| s["id"] == sid));
    assert!(listed, "the welcome lists the remote screen: {welcome}");
    ws.send(json!({"type":"watch","screen":sid,"transport":"jpeg","fps":10,"quality":50,"max_width":1280})).await;
    let mut last_seq = 0;
    for _ in 0..5 {
        let (h, size) = next_jpeg(&mut ws).await;
        assert_eq!(size, (1280, 720), "the device's size: {h}");
        assert_has(&h, json!({"screen": sid, "width": 1280, "height": 720}));
        let seq = h["seq"].as_u64().unwrap_or(0);
        assert!(seq > last_seq, "sequence numbers grow: {h}");
        last_seq = seq;
    }
    ws.send(json!({"type":"watch","screen":sid,"transport":"jpeg","max_width":640}))
        .await;
    let (h, size) = jpeg_where(&mut ws, "a 640 px frame", |_, s| s.0 == 640).await;
    assert_eq!(size, (640, 360), "max_width honoured: {h}");
    // Commands over the JPEG socket reach the device.
    ws.send(json!({"type":"text","text":"jpeg path","id":"t"}))
        .await;
    let ack = ws_until(&mut ws, Duration::from_secs(10), |v| {
        v["type"] == "ack" || v["type"] == "error"
    })
    .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while mcp_echo(&fleet, &sid, 1280).2.typed_hash != barcode::fnv1a32(b"jpeg path") {
        assert!(
            Instant::now() < deadline,
            "the typed text never reached the device"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // A sharp still (what the page asks for when paused), from the device at full size.
    ws.send(json!({"type":"request_hq_frame","id":"hq","quality":90}))
        .await;
    let h = ws_until(&mut ws, Duration::from_secs(10), |v| {
        (v["type"] == "frame" && v["hq"] == true) || v["type"] == "error"
    })
    .await;
    assert_eq!(h["type"], "frame", "an HQ frame of a remote screen: {h}");
    match ws.next().await {
        WsEvent::Binary(b) => assert_eq!(echo_of(&b).0, 1280, "an HQ frame at full size: {h}"),
        other => panic!("the HQ frame's JPEG, got {other:?}"),
    }
    ws.close().await;
}
