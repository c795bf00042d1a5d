//! The viewer on a phone (`tests/e2e/viewer_phone.mjs`): portrait 390×844 and landscape 844×390 with touch and
//! mobile emulation, WebRTC from the synthetic screen. Checks the layout (no horizontal scroll, every control
//! reachable and finger-sized, the picture inside the stage), that a tap is a click where it was tapped, and
//! that the on-screen keyboard types, with its special-key bar (Ctrl latch, Esc).
//! Screenshots: `target/tmp/screenshots/viewer-phone-{portrait,landscape,keyboard}.png`.
//!
//! Run: `cargo test -p sightline --test browser_phone -- --nocapture`

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

#[test]
fn phone_layouts_fit_and_touch_input_lands() {
    let gw = GatewayProcess::start(&synthetic_config("synthetic_size = \"1280x720\"\n"));
    let shots = shots_dir();
    let out = run_node(
        "viewer_phone.mjs",
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
        Duration::from_secs(60),
    );
    let r = last_json(&out);
    eprintln!("viewer_phone: {r:#}");

    for name in ["portrait", "landscape"] {
        let o = &r[name];
        let l = &o["layout"];
        let (vw, vh) = (f(&l["innerWidth"]), f(&l["innerHeight"]));
        assert!(
            f(&l["scrollWidth"]) <= vw,
            "{name}: horizontal scroll ({} > {vw})",
            l["scrollWidth"]
        );
        assert!(
            f(&l["scrollHeight"]) <= vh,
            "{name}: vertical scroll ({} > {vh})",
            l["scrollHeight"]
        );

        let controls = l["controls"].as_array().expect("controls");
        let ids: Vec<&str> = controls.iter().filter_map(|c| c["id"].as_str()).collect();
        for want in ["btn-stats", "btn-fullscreen", "btn-keyboard"] {
            assert!(
                ids.contains(&want),
                "{name}: control {want} missing from {ids:?}"
            );
        }
        for c in controls {
            assert!(
                f(&c["left"]) >= 0.0 && f(&c["right"]) <= vw,
                "{name}: control off screen: {c}"
            );
            assert!(
                f(&c["top"]) >= 0.0 && f(&c["bottom"]) <= vh,
                "{name}: control off screen: {c}"
            );
            assert!(
                f(&c["height"]) >= 36.0 && f(&c["width"]) >= 36.0,
                "{name}: control too small for a finger: {c}"
            );
        }

        let (stage, pic) = (&l["stage"], &l["picture"]);
        let eps = 0.5;
        assert!(
            f(&pic["left"]) >= f(&stage["left"]) - eps,
            "{name}: picture {pic} outside stage {stage}"
        );
        assert!(
            f(&pic["top"]) >= f(&stage["top"]) - eps,
            "{name}: picture {pic} outside stage {stage}"
        );
        assert!(
            f(&pic["left"]) + f(&pic["width"]) <= f(&stage["right"]) + eps,
            "{name}: picture {pic} wider than stage"
        );
        assert!(
            f(&pic["top"]) + f(&pic["height"]) <= f(&stage["bottom"]) + eps,
            "{name}: picture {pic} taller than stage"
        );
        // "Fits" also means it uses the room it has: one side fills the stage.
        let fills = (f(&pic["width"]) - f(&stage["width"])).abs() < 1.0
            || (f(&pic["height"]) - f(&stage["height"])).abs() < 1.0;
        assert!(
            fills,
            "{name}: picture {pic} does not fill stage {stage} on either side"
        );

        let tap = &o["tap"];
        assert_eq!(
            tap["pressesAfter"].as_u64(),
            tap["pressesBefore"].as_u64().map(|n| n + 1),
            "{name}: tap {tap}"
        );
        let tolerance = f(&tap["screenPxPerCssPx"]).ceil() as i64;
        for axis in ["x", "y"] {
            let got = tap["pointer"][axis].as_i64().expect("pointer");
            let want = tap["target"][axis].as_i64().expect("target");
            assert!(
                (got - want).abs() <= tolerance,
                "{name}: tap {axis} landed at {got}, target {want}"
            );
        }

        assert_eq!(
            o["oskFocused"], true,
            "{name}: the keyboard button must focus the text input"
        );
        assert_eq!(
            o["typed"]["hash"], o["typed"]["expectedHash"],
            "{name}: on-screen keyboard text {}",
            o["typed"]
        );
        let kb = &o["keybar"];
        assert_eq!(
            o["keybarVisible"], true,
            "{name}: the key bar comes with the keyboard"
        );
        assert_eq!(kb["ctrlLatched"], true, "{name}: key bar {kb}");
        assert_eq!(
            kb["ctrlReleasedAfterUse"], true,
            "{name}: Ctrl must unlatch after one key: {kb}"
        );
        assert_eq!(
            kb["keyPressesDelta"], 3,
            "{name}: Ctrl, C and Esc are three key presses: {kb}"
        );
        assert_eq!(
            kb["oskStillFocused"], true,
            "{name}: tapping the bar closed the keyboard: {kb}"
        );
        assert_eq!(
            o["keybarHiddenAgain"], true,
            "{name}: the keyboard button closes the bar again"
        );
        assert_eq!(
            o["pageErrors"].as_array().map(Vec::len),
            Some(0),
            "{name}: page errors {}",
            o["pageErrors"]
        );
    }
    gw.stop();
}
