//! Screens as live MCP resources, driven by the official Python SDK (`tests/e2e/mcp_client.py resources`) against a
//! gateway on a private Xvfb, with a view token (watching is all resources need):
//! - `resources/list` has `screen://0` and `screen://1` (JPEG); `resources/read` returns the latest frame as a
//!   JPEG of the size its JSON metadata states (a default screenshot's scale) and the screen's pixels; an unknown
//!   screen or another scheme is "resource not found";
//! - a subscription (2026-07-28 `Client.listen(resource_subscriptions=…)`, and legacy `resources/subscribe` in a
//!   2025-11-25 session) gets nothing while the screen is static (X11 DAMAGE: no frames), an update soon after the
//!   screen changes, and during a burst of changes at most one update per `NOTIFY_GAP` with a trailing one after
//!   the last change; after `resources/unsubscribe` nothing more arrives;
//! - a read is charged like a screenshot: reads spend the token's screenshot budget, and then the `screenshot`
//!   tool is refused too (synthetic screen, raw session-less requests).
#![cfg(target_os = "linux")]

mod common;

use std::path::Path;
use std::time::Duration;

use common::xvfb::Xvfb;
use common::{ADMIN_TOKEN, CONTROL_TOKEN, GatewayProcess, VIEW_TOKEN, last_json, run_python};
use serde_json::Value;
use sightline::mcp::resources::NOTIFY_GAP;

const PYTHON_TIMEOUT: Duration = Duration::from_secs(180);

fn x11_config(display: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[auth]\nviewers = [\"{VIEW_TOKEN}\"]\ncontrollers = [\"{CONTROL_TOKEN}\"]\n\
         admins = [\"{ADMIN_TOKEN}\"]\n[capture]\nsource = \"x11\"\ndisplay = \"{display}\"\n"
    )
}

fn resources(gw: &GatewayProcess, xvfb: &Xvfb, mode: &str) -> Value {
    let url = format!("{}/mcp", gw.base);
    let out = gw.dir().to_string_lossy().into_owned();
    let display = xvfb.display();
    let args = [
        "resources",
        "--mode",
        mode,
        "--url",
        &url,
        "--token",
        VIEW_TOKEN,
        "--out",
        &out,
        "--display",
        &display,
    ];
    last_json(&run_python("mcp_client.py", &args, PYTHON_TIMEOUT))
}

/// A read's JPEG (decoded) and its JSON metadata.
fn read_parts(read: &Value) -> (image::RgbImage, Value) {
    let contents = read["contents"].as_array().expect("contents");
    assert_eq!(contents.len(), 2, "{read}");
    assert_eq!(contents[0]["mime"], "image/jpeg", "{read}");
    assert_eq!(contents[1]["mime"], "application/json", "{read}");
    assert_eq!(read["ttl_ms"], 0, "never cached: {read}");
    let file = contents[0]["file"].as_str().expect("a saved JPEG");
    let img = image::open(Path::new(file))
        .unwrap_or_else(|e| panic!("{file} does not decode: {e}"))
        .to_rgb8();
    let meta: Value =
        serde_json::from_str(contents[1]["text"].as_str().expect("JSON text")).expect("JSON");
    (img, meta)
}

fn seconds(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|t| t.as_f64().expect("a time"))
        .collect()
}

/// The updates of one run: none while static, one soon after a change, a burst paced by `NOTIFY_GAP` with a
/// trailing update after the last change.
fn check_updates(mode: &str, u: &Value) {
    eprintln!("{mode}: {u}");
    assert_eq!(
        u["static"].as_array().map(Vec::len),
        Some(0),
        "{mode}: no update while the screen is static: {u}"
    );
    let first = u["first_after_s"]
        .as_f64()
        .unwrap_or_else(|| panic!("{mode}: an update after the change: {u}"));
    assert!(first < 3.0, "{mode}: the first update came {first} s late");
    let paints = seconds(&u["burst_paints"]);
    let updates = seconds(&u["burst_updates"]);
    let gap = NOTIFY_GAP.as_secs_f64();
    let span = paints.last().unwrap() - paints.first().unwrap();
    assert!(!updates.is_empty(), "{mode}: updates during the burst: {u}");
    // Lead + one per gap + the trailing one; arrival jitter may let two land a little closer than the gap.
    let most = (span / gap).ceil() as usize + 2;
    assert!(
        updates.len() <= most,
        "{mode}: {} updates for a {span:.2} s burst (at most {most}): {u}",
        updates.len()
    );
    for w in updates.windows(2) {
        assert!(w[1] - w[0] > gap * 0.6, "{mode}: updates too close: {u}");
    }
    assert!(
        updates.last().unwrap() > paints.last().unwrap(),
        "{mode}: a trailing update after the last change: {u}"
    );
}

#[test]
fn screens_are_resources_read_as_jpeg_and_subscribed_to() {
    let xvfb = Xvfb::start();
    xvfb.run(0, "xsetroot", &["-solid", "#336699"]);
    xvfb.run(1, "xsetroot", &["-solid", "#cc8800"]);
    let gw = GatewayProcess::start(&x11_config(&xvfb.display()));

    let r = resources(&gw, &xvfb, "auto");
    assert_eq!(r["protocol"], "2026-07-28", "{r}");
    let listed = r["resources"].as_array().expect("resources");
    let uris: Vec<&str> = listed.iter().filter_map(|x| x["uri"].as_str()).collect();
    assert_eq!(uris, ["screen://0", "screen://1"], "{r}");
    assert!(listed.iter().all(|x| x["mimeType"] == "image/jpeg"), "{r}");
    assert!(
        listed[0]["description"]
            .as_str()
            .unwrap()
            .contains("1920x1080"),
        "{r}"
    );

    // Screen 0 is larger than a default screenshot: scaled, and the metadata says how.
    let (img, meta) = read_parts(&r["read0"]);
    assert_eq!(meta["screen"], "0");
    assert_eq!(
        (
            meta["screen_width"].as_u64(),
            meta["screen_height"].as_u64()
        ),
        (Some(1920), Some(1080))
    );
    assert_eq!(
        (u64::from(img.width()), u64::from(img.height())),
        (
            meta["image_width"].as_u64().unwrap(),
            meta["image_height"].as_u64().unwrap()
        ),
        "{meta}"
    );
    assert!(img.width() < 1920 && img.width() >= 1000, "{meta}");
    assert!(meta["captured_at_ms"].as_u64().unwrap() > 1_600_000_000_000);
    // Screen 1 fits: every pixel, the root's colour.
    let (img, meta) = read_parts(&r["read1"]);
    assert_eq!((img.width(), img.height()), (1280, 720), "{meta}");
    let px = img.get_pixel(640, 360).0;
    let close = px
        .iter()
        .zip([0xcc, 0x88, 0x00])
        .all(|(a, e): (&u8, u8)| a.abs_diff(e) <= 8);
    assert!(close, "screen 1's colour, got {px:?}");
    for key in ["read_unknown", "read_bad"] {
        let e = r[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} fails: {r}"));
        assert!(e.contains("screen"), "{key}: {e}");
    }

    // Only well-formed screen URIs are honoured.
    assert_eq!(r["honored"], serde_json::json!(["screen://0"]), "{r}");
    check_updates("listen", &r["updates"]);
    // An unknown screen is not honoured, and a stream with nothing to watch is closed at once, gracefully.
    let unknown = &r["listen_unknown"];
    assert_eq!(unknown["honored"], Value::Null, "{r}");
    assert_eq!(unknown["events"], 0, "{r}");
    assert_eq!(unknown["closed"], true, "{r}");

    let r = resources(&gw, &xvfb, "legacy");
    assert_eq!(r["protocol"], "2025-11-25", "{r}");
    assert_eq!(r["capabilities"]["resources"]["subscribe"], true, "{r}");
    let (img, meta) = read_parts(&r["read0"]);
    assert_eq!(
        u64::from(img.width()),
        meta["image_width"].as_u64().unwrap()
    );
    let e = r["subscribe_unknown"]
        .as_str()
        .unwrap_or_else(|| panic!("subscribing to an unknown screen fails: {r}"));
    assert!(e.contains("screen://9"), "{e}");
    check_updates("subscribe", &r["updates"]);
    assert_eq!(
        r["after_unsubscribe"].as_array().map(Vec::len),
        Some(0),
        "nothing after unsubscribing: {r}"
    );
}

/// A session-less (2026-07-28) request with its `_meta` and headers; the JSON-RPC reply.
fn stateless(gw: &GatewayProcess, method: &str, name: &str, mut params: Value) -> Value {
    params["_meta"] = serde_json::json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "resources-test", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {}});
    let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let (status, _, body) = common::http(
        "POST",
        &format!("{}/mcp", gw.base),
        Some(VIEW_TOKEN),
        Some("application/json"),
        body.to_string().as_bytes(),
        &[
            ("accept", "application/json, text/event-stream"),
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", method),
            ("mcp-name", name),
        ],
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).expect("a JSON reply")
}

#[test]
fn a_read_costs_a_screenshot() {
    let gw = GatewayProcess::start(&common::synthetic_config(""));
    let read = |gw: &GatewayProcess| {
        stateless(
            gw,
            "resources/read",
            "screen://0",
            serde_json::json!({"uri": "screen://0"}),
        )
    };
    let first = read(&gw);
    assert_eq!(
        first["result"]["contents"][0]["mimeType"], "image/jpeg",
        "{first}"
    );
    // The token's screenshot budget (a burst, then a few a second) runs out within a few hundred reads.
    let refused = (0..600)
        .map(|_| read(&gw))
        .find(|r| r.get("error").is_some())
        .expect("reads run out of the screenshot budget");
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("rate limited"), "{refused}");
    // The same budget as the screenshot tool's: it is spent for screenshots too.
    let shot = stateless(
        &gw,
        "tools/call",
        "screenshot",
        serde_json::json!({"name": "screenshot", "arguments": {"max_width": 64}}),
    );
    assert_eq!(shot["result"]["isError"], true, "{shot}");
    let text = shot["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(text.contains("rate limited"), "{shot}");
}
