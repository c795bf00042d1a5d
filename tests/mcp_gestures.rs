//! Held input over MCP against a real X server (a private Xvfb with a recording client): `long_press` keeps the
//! button down for its duration at the point, then releases it; `press_keys` with `hold_ms` keeps the keys down
//! (a key pressed meanwhile is shifted by a held Shift) and releases them after; and a call ended early — the
//! client cancels it (`notifications/cancelled`) or an administrator kicks its session — still releases what it
//! held at once. Raw HTTP: the cancellation must name the request's id.
#![cfg(target_os = "linux")]

mod common;

use std::time::{Duration, Instant};

use common::recorder::{Recorded, Recorder};
use common::xvfb::Xvfb;
use common::{ADMIN_TOKEN, CONTROL_TOKEN, GatewayProcess, VIEW_TOKEN, header, http};
use serde_json::{Value, json};

const XK_SHIFT_L: u32 = 0xffe1;
const XK_B: u32 = 0x42;
const XK_C_LOWER: u32 = 0x63;

fn x11_config(display: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[auth]\nviewers = [\"{VIEW_TOKEN}\"]\ncontrollers = [\"{CONTROL_TOKEN}\"]\n\
         admins = [\"{ADMIN_TOKEN}\"]\n[capture]\nsource = \"x11\"\ndisplay = \"{display}\"\n"
    )
}

/// POSTs a JSON-RPC message to `/mcp`, in `session` (2025-06-18) or session-less (2026-07-28 headers).
fn post(
    base: &str,
    session: Option<&str>,
    body: &Value,
    extra: &[(&str, &str)],
) -> (u16, Vec<(String, String)>, Value) {
    let mut headers = vec![("accept", "application/json, text/event-stream")];
    headers.extend_from_slice(extra);
    match session {
        Some(s) => {
            headers.push(("mcp-session-id", s));
            headers.push(("mcp-protocol-version", "2025-06-18"));
        }
        None if body["method"] != "initialize" => {
            headers.push(("mcp-protocol-version", "2026-07-28"));
        }
        None => {}
    }
    let (status, h, body) = http(
        "POST",
        &format!("{base}/mcp"),
        Some(CONTROL_TOKEN),
        Some("application/json"),
        body.to_string().as_bytes(),
        &headers,
    );
    let reply = common::mcp_reply(&body).unwrap_or(Value::Null);
    (status, h, reply)
}

fn initialize(base: &str) -> String {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "gestures-test", "version": "1"}}});
    let (status, headers, reply) = post(base, None, &body, &[]);
    assert_eq!(status, 200, "{reply}");
    let session = header(&headers, "mcp-session-id")
        .expect("a session id")
        .to_owned();
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(post(base, Some(&session), &note, &[]).0, 202);
    session
}

/// A session-less tools/call; the result object.
fn call(base: &str, tool: &str, args: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
        "name": tool, "arguments": args, "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "gestures-test", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": {}}}});
    let (status, _, reply) = post(
        base,
        None,
        &body,
        &[("mcp-method", "tools/call"), ("mcp-name", tool)],
    );
    assert_eq!(status, 200, "{reply}");
    reply["result"].clone()
}

/// Waits until `pred` matches a recorded event; when it was first seen.
fn seen(rec: &Recorder, what: &str, pred: impl Fn(&Recorded) -> bool) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if rec.events().iter().any(&pred) {
            return Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "never saw {what}: {:?}",
            rec.events()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn button(down: bool) -> impl Fn(&Recorded) -> bool {
    move |e| matches!(e, Recorded::Button { down: d, button: 1, .. } if *d == down)
}

fn key(down: bool, sym: u32) -> impl Fn(&Recorded) -> bool {
    move |e| matches!(e, Recorded::Key { down: d, keysym, .. } if *d == down && *keysym == sym)
}

#[test]
fn long_press_and_key_hold_hold_then_release() {
    let xvfb = Xvfb::start();
    let rec = Recorder::start(&xvfb.display());
    let gw = GatewayProcess::start(&x11_config(&xvfb.display()));
    let base = gw.base.clone();

    // long_press: down at the point, held for its duration, then up.
    let caller = {
        let base = base.clone();
        std::thread::spawn(move || {
            call(
                &base,
                "long_press",
                json!({"x": 300, "y": 200, "duration_ms": 1500}),
            )
        })
    };
    let down = seen(&rec, "the press", button(true));
    assert!(
        rec.events().iter().any(|e| matches!(
            e,
            Recorded::Button {
                down: true,
                button: 1,
                screen: 0,
                x: 300,
                y: 200
            }
        )),
        "{:?}",
        rec.events()
    );
    let up = seen(&rec, "the release", button(false));
    let held = up - down;
    assert!(
        held >= Duration::from_millis(1300) && held < Duration::from_secs(4),
        "held {held:?}"
    );
    let result = caller.join().expect("call");
    assert_eq!(result["isError"], false, "{result}");
    assert!(
        result["structuredContent"]["held_ms"].as_u64().unwrap() >= 1500,
        "{result}"
    );

    // press_keys with hold_ms: Shift stays down, so a key pressed meanwhile is shifted; released afterwards.
    rec.clear();
    let caller = {
        let base = base.clone();
        std::thread::spawn(move || {
            call(
                &base,
                "press_keys",
                json!({"keys": ["ShiftLeft"], "hold_ms": 1500}),
            )
        })
    };
    let down = seen(&rec, "Shift down", key(true, XK_SHIFT_L));
    let r = call(&base, "press_keys", json!({"keys": ["KeyB"]}));
    assert_eq!(r["isError"], false, "{r}");
    seen(&rec, "a shifted B while Shift is held", key(true, XK_B));
    let up = seen(&rec, "Shift up", key(false, XK_SHIFT_L));
    assert!(up - down >= Duration::from_millis(1300), "{:?}", up - down);
    let result = caller.join().expect("call");
    assert_eq!(result["isError"], false, "{result}");
    call(&base, "press_keys", json!({"keys": ["KeyC"]}));
    seen(&rec, "an unshifted c after the hold", key(true, XK_C_LOWER));

    // Bounds are checked before anything is pressed.
    rec.clear();
    let r = call(
        &base,
        "long_press",
        json!({"x": 10, "y": 10, "duration_ms": 10001}),
    );
    assert_eq!(r["isError"], true, "{r}");
    let r = call(
        &base,
        "press_keys",
        json!({"keys": ["ShiftLeft", "Nope!"], "hold_ms": 100}),
    );
    assert_eq!(r["isError"], true, "{r}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(rec.events().is_empty(), "{:?}", rec.events());
}

#[test]
fn a_hold_ended_early_releases_at_once() {
    let xvfb = Xvfb::start();
    let rec = Recorder::start(&xvfb.display());
    let gw = GatewayProcess::start(&x11_config(&xvfb.display()));
    let base = gw.base.clone();

    // The client cancels a 10 s long press: the button comes up at once, not after 10 s.
    let session = initialize(&base);
    {
        let (base, session) = (base.clone(), session.clone());
        // Not joined: the cancelled request's stream may stay open until the HTTP timeout.
        std::thread::spawn(move || {
            let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                              "params": {"name": "long_press", "arguments": {"x": 50, "y": 60, "duration_ms": 10000}}});
            post(&base, Some(&session), &body, &[])
        });
    }
    seen(&rec, "the press", button(true));
    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                        "params": {"requestId": 7, "reason": "test"}});
    let cancelled = Instant::now();
    assert_eq!(post(&base, Some(&session), &cancel, &[]).0, 202);
    let up = seen(&rec, "the release after the cancel", button(false));
    assert!(
        up - cancelled < Duration::from_secs(3),
        "{:?}",
        up - cancelled
    );

    // An administrator kicks a session holding Shift for 10 s: Shift comes up at once.
    let session = initialize(&base);
    {
        let (base, session) = (base.clone(), session.clone());
        std::thread::spawn(move || {
            let body = json!({"jsonrpc": "2.0", "id": 8, "method": "tools/call",
                              "params": {"name": "press_keys", "arguments": {"keys": ["ShiftLeft"], "hold_ms": 10000}}});
            post(&base, Some(&session), &body, &[])
        });
    }
    seen(&rec, "Shift down", key(true, XK_SHIFT_L));
    let (status, _, body) = http(
        "GET",
        &format!("{base}/api/v1/sessions"),
        Some(ADMIN_TOKEN),
        None,
        b"",
        &[],
    );
    assert_eq!(status, 200);
    let sessions: Value = serde_json::from_slice(&body).expect("JSON");
    let kicked: Vec<String> = sessions["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .filter(|s| s["kind"] == "mcp")
        .filter_map(|s| s["id"].as_str().map(str::to_owned))
        .collect();
    let start = Instant::now();
    for id in &kicked {
        let (status, _, _) = http(
            "DELETE",
            &format!("{base}/api/v1/sessions/{id}"),
            Some(ADMIN_TOKEN),
            None,
            b"",
            &[],
        );
        assert_eq!(status, 204);
    }
    let up = seen(&rec, "Shift up after the kick", key(false, XK_SHIFT_L));
    assert!(up - start < Duration::from_secs(3), "{:?}", up - start);
}
