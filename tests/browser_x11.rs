//! The viewer page against a gateway capturing a real Xvfb (`tests/e2e/viewer_x11.mjs`), on a phone viewport with
//! touch emulation in headless Chromium: the cursor overlay follows the X pointer to the right pixel and a shape
//! change on the X server reaches it as a new image; moving only the pointer decodes no new video frames; a tap
//! after a pinch to ~4× lands on the aimed X pixel (`xdotool getmouselocation`); the X clipboard set by `xclip`
//! reaches the page and the browser clipboard, and a paste in the page sets the X clipboard.
//!
//! Run: `cargo test -p sightline --test browser_x11 -- --nocapture`
#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use common::xvfb::{Xvfb, require_tool};
use common::{CONTROL_TOKEN, GatewayProcess, last_json, run_node};
use serde_json::Value;

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

#[test]
fn overlay_zoomed_taps_and_clipboard_on_a_real_x_server() {
    require_tool("xclip");
    require_tool("xterm");
    let xvfb = Xvfb::start();
    xvfb.run(0, "xsetroot", &["-solid", "#336699"]);
    let gw = GatewayProcess::start(&format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[auth]\ncontrollers = [\"{CONTROL_TOKEN}\"]\n[capture]\nsource = \"x11\"\n\
         display = \"{}\"\n",
        xvfb.display()
    ));
    let out = run_node(
        "viewer_x11.mjs",
        &[
            "--base",
            &gw.base,
            "--token",
            CONTROL_TOKEN,
            "--display",
            &xvfb.display(),
        ],
        Duration::from_secs(90),
    );
    let r = last_json(&out);
    eprintln!("viewer_x11: {r:#}");
    assert!(r.get("error").is_none(), "{r:#}");

    let follow = &r["follow"];
    assert!(
        (f(&follow["left"]) - f(&follow["expected"]["left"])).abs() < 1.5,
        "{follow}"
    );
    assert!(
        (f(&follow["top"]) - f(&follow["expected"]["top"])).abs() < 1.5,
        "{follow}"
    );

    let only = &r["pointerOnly"];
    assert!(
        only["overlayDraws"].as_u64().unwrap_or(0) >= 10,
        "the overlay should follow 30 moves: {only}"
    );
    // A keyframe may come at any time (a tier switch, a PLI); a pointer move would be a delta frame.
    let delta = only["framesDecoded"].as_u64().unwrap_or(u64::MAX)
        - only["keyframesDecoded"].as_u64().unwrap_or(0);
    assert_eq!(
        delta, 0,
        "moving only the pointer decoded new frames: {only}"
    );

    assert_eq!(r["shape"]["srcChanged"], true, "{}", r["shape"]);

    // The tap lands within one CSS pixel's worth of screen pixels of the aim (at 4× that is under one pixel).
    let pinch = &r["pinch"];
    assert!(f(&pinch["zoom"]["scale"]) >= 3.0, "{pinch}");
    let tol = f(&pinch["screenPxPerCssPx"]).ceil().max(1.0);
    for axis in ["x", "y"] {
        let d = (f(&pinch["landed"][axis]) - f(&pinch["aim"][axis])).abs();
        assert!(d <= tol, "{axis} off by {d} (tolerance {tol}): {pinch}");
    }

    assert_eq!(r["clipboardIn"]["text"], "copied on X ✓");
    assert_eq!(r["clipboardIn"]["local"], "copied on X ✓");
    assert_eq!(r["clipboardOut"], "pasted in the page ✓");
    assert_eq!(r["pageErrors"], serde_json::json!([]));
}
