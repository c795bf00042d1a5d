//! Touch, keys, cursor overlay and clipboard in the viewer on a phone (`tests/e2e/viewer_touch.mjs`): 390×844
//! with touch and mobile emulation, WebRTC from the synthetic screen. Pinch to 4× then a tap lands on the aimed
//! remote pixel; double tap zooms out and in around the tapped point; trackpad mode moves the pointer relatively
//! (from the last `cursor` message) and taps click at the pointer; Shift latch + "a" types "A"; a locked Ctrl
//! stays down across two keys; a locked Shift types capitals; an IME composition is typed once; the cursor
//! overlay (messages injected through the e2e hook) covers the right pixel at 4×; a remote clipboard message is
//! written to the browser clipboard; a paste sends a `clipboard` command instead of typing.
//! Screenshots: `target/tmp/screenshots/viewer-touch-{zoomed,keys}.png`.
//!
//! Run: `cargo test -p sightline --test browser_touch -- --nocapture`

mod common;

use std::time::Duration;

use common::{CONTROL_TOKEN, GatewayProcess, last_json, run_node, synthetic_config};
use serde_json::Value;

fn shots_dir() -> String {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).expect("create the screenshot directory");
    dir.display().to_string()
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn i(v: &Value) -> i64 {
    v.as_i64().unwrap_or(i64::MIN / 2)
}

/// Whether two {x, y} pixels are within `tol` of each other on both axes.
fn near(a: &Value, b: &Value, tol: i64) -> bool {
    (i(&a["x"]) - i(&b["x"])).abs() <= tol && (i(&a["y"]) - i(&b["y"])).abs() <= tol
}

#[test]
fn phone_zoom_trackpad_keys_cursor_and_clipboard() {
    let gw = GatewayProcess::start(&synthetic_config("synthetic_size = \"1280x720\"\n"));
    let shots = shots_dir();
    let out = run_node(
        "viewer_touch.mjs",
        &[
            "--base",
            &gw.base,
            "--token",
            CONTROL_TOKEN,
            "--width",
            "1280",
            "--height",
            "720",
            "--shots",
            &shots,
        ],
        Duration::from_secs(90),
    );
    let r = last_json(&out);
    eprintln!("viewer_touch: {r:#}");
    assert!(r.get("error").is_none(), "the script failed: {r:#}");

    // Pinch to 4×, then a tap hits the remote pixel it was aimed at.
    let pinch = &r["pinch"];
    assert!(
        f(&pinch["zoom"]["scale"]) >= 3.0,
        "pinch must zoom to at least 3×: {pinch}"
    );
    assert!(
        near(&pinch["pointer"], &pinch["target"], i(&pinch["tolerance"])),
        "zoomed tap landed off target: {pinch}"
    );

    // The cursor overlay: the hot spot on the pointer's pixel centre, scaled like the picture; hidden on request.
    let c = &r["cursor"];
    assert_eq!(c["shown"]["visible"], true, "cursor overlay {c}");
    assert_eq!(c["shown"]["serial"], 5, "cursor overlay {c}");
    for (got, want) in [("left", "left"), ("top", "top")] {
        assert!(
            (f(&c["shown"][got]) - f(&c["expected"][want])).abs() < 0.5,
            "overlay hot spot {got}: {c}"
        );
    }
    assert!(
        (f(&c["img"]["width"]) - f(&c["expected"]["width"])).abs() < 1.0,
        "overlay size {c}"
    );
    assert_eq!(c["hidden"]["visible"], false, "visible:false hides: {c}");
    assert_eq!(c["imgHidden"], true, "visible:false hides: {c}");
    assert_eq!(c["mouseOver"]["visible"], false, "mouse over: {c}");
    assert!(
        c["mouseOver"]["cssCursor"]
            .as_str()
            .is_some_and(|v| v.starts_with("url(\"data:image/png;base64,")),
        "mouse over: the shape as the CSS cursor: {c}"
    );
    assert_eq!(c["mouseOut"]["visible"], true, "mouse outside: {c}");
    assert_eq!(
        c["mouseOut"]["cssCursor"],
        Value::Null,
        "mouse outside: {c}"
    );

    // Double tap: zoomed → 1×; 1× → 2.5× keeping the tapped pixel under the finger horizontally (upright, the
    // 2.5× picture is still shorter than the stage, so it keeps its place at the top: y is not zoomed around);
    // → 1× again.
    let d = &r["doubleTap"];
    assert_eq!(f(&d["out"]), 1.0, "double tap zooms out: {d}");
    assert!((f(&d["in"]) - 2.5).abs() < 1e-6, "double tap zooms in: {d}");
    assert!(
        (i(&d["pixelBefore"]["x"]) - i(&d["pixelAfter"]["x"])).abs() <= 2,
        "the tapped point moved: {d}"
    );
    assert_eq!(f(&d["outAgain"]), 1.0, "double tap zooms out: {d}");

    // Trackpad: relative motion from the last `cursor` message; the echo follows the page's pointer, not the
    // finger; a tap clicks there.
    let t = &r["trackpad"];
    assert_eq!(t["mode"]["pressed"], "true", "trackpad button {t}");
    assert_eq!(t["mode"]["stored"], "trackpad", "trackpad remembered {t}");
    assert!(near(&t["echo"], &t["pointer"], 1), "trackpad echo {t}");
    assert!(
        i(&t["pointer"]["x"]) < i(&t["start"]["x"]) && i(&t["pointer"]["y"]) < i(&t["start"]["y"]),
        "the swipe went up-left from the start: {t}"
    );
    assert!(
        !near(&t["pointer"], &t["touchedEnd"], 50),
        "trackpad moved to the finger instead of relatively: {t}"
    );
    assert!(near(&t["click"], &t["pointer"], 1), "trackpad tap: {t}");
    assert_eq!(t["modeAfter"], "direct", "direct touch remembered: {t}");

    // Shift latch.
    let s = &r["shift"];
    assert_eq!(s["latched"], "latched", "shift {s}");
    assert_eq!(s["shifted"]["ok"], true, "Shift + a = A: {s}");
    assert_eq!(s["unshifted"]["ok"], true, "the latch is used up: {s}");
    assert_eq!(s["after"], "off", "shift {s}");

    // Locked Ctrl: down once, two keys, up once on the third tap.
    let k = &r["ctrlLock"];
    assert_eq!(k["attr"]["pressed"], "true", "ctrl lock {k}");
    assert_eq!(k["attr"]["locked"], true, "ctrl lock {k}");
    assert_eq!(k["stillLocked"], "locked", "ctrl lock {k}");
    let sent: Vec<&str> = k["sent"]
        .as_array()
        .expect("sent")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        sent,
        [
            "down ControlLeft",
            "press KeyX",
            "press Tab",
            "up ControlLeft"
        ],
        "ctrl lock {k}"
    );
    assert_eq!(
        i(&k["keyPressesLocked"]),
        3,
        "the echo counts Ctrl once, X and Tab: {k}"
    );
    assert_eq!(k["after"]["state"], "off", "ctrl lock {k}");
    assert_eq!(k["after"]["locked"], false, "ctrl lock {k}");

    let sl = &r["shiftLock"];
    assert_eq!(sl["typed"]["ok"], true, "locked Shift types BC: {sl}");
    assert_eq!(sl["after"], "off", "shift unlocked {sl}");

    let ime = &r["ime"];
    assert_eq!(
        i(&ime["sentDuring"]),
        0,
        "nothing sent while composing: {ime}"
    );
    assert_eq!(ime["typed"]["ok"], true, "IME text typed once: {ime}");
    assert_eq!(ime["texts"], serde_json::json!(["日本"]), "IME: {ime}");

    // Remote → local clipboard.
    let ci = &r["clipboardIn"];
    assert_eq!(ci["last"]["text"], "from the remote", "clipboard {ci}");
    assert!(
        ci["local"] == "from the remote" || ci["offerShown"] == true,
        "written to the browser clipboard or offered as a button: {ci}"
    );

    // Local paste → `clipboard` command, never typed, no V from the keydown.
    let p = &r["paste"];
    let sent: Vec<&str> = p["sent"]
        .as_array()
        .expect("sent")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        sent.contains(&"clipboard pasted here"),
        "paste sets the remote clipboard: {p}"
    );
    assert!(!sent.contains(&"text"), "paste must not type: {p}");
    let first_clip = sent
        .iter()
        .position(|c| c.starts_with("clipboard"))
        .unwrap_or(0);
    assert!(
        !sent[..first_clip].iter().any(|c| c.ends_with("KeyV")),
        "V was sent before the clipboard: {p}"
    );
    // Over max_bytes: refused by the gateway, shown, nothing pasted.
    let big = &r["pasteTooLarge"];
    assert!(
        big["toast"]
            .as_str()
            .is_some_and(|t| t.starts_with("Paste refused")),
        "large paste: {big}"
    );
    let big_sent: Vec<&str> = big["sent"]
        .as_array()
        .expect("sent")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        !big_sent.iter().any(|c| c.ends_with("KeyV")),
        "a refused clipboard must not be pasted: {big}"
    );
    let img = &r["pasteImage"];
    assert!(
        img["sent"]
            .as_array()
            .is_some_and(|s| s.iter().any(|c| c == "clipboard image/png")),
        "image paste: {img}"
    );
    let tl = &r["tooLargeIn"];
    assert_eq!(tl["last"]["kind"], "too_large", "too large: {tl}");
    assert!(
        tl["toast"].as_str().is_some_and(|t| t.contains("300000")),
        "too large: {tl}"
    );
    assert_eq!(
        r["pageErrors"].as_array().map(Vec::len),
        Some(0),
        "page errors {}",
        r["pageErrors"]
    );
    gw.stop();
}
