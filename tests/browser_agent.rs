//! The viewer's agent overlay (`tests/e2e/viewer_agent.mjs`): while a view-only viewer watches over WebRTC, an
//! MCP client clicks through the gateway's `/mcp` endpoint; the viewer draws a marker labelled with the action
//! exactly where the agent clicked, the click shows in the synthetic screen's echo row, and the marker fades.
//!
//! Run: `cargo test -p sightline --test browser_agent -- --nocapture`

mod common;

use std::time::Duration;

use common::{CONTROL_TOKEN, GatewayProcess, VIEW_TOKEN, last_json, run_node, synthetic_config};

fn shots_dir() -> String {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).expect("create the screenshot directory");
    dir.display().to_string()
}

#[test]
fn an_agent_click_is_drawn_where_it_happened() {
    let gw = GatewayProcess::start(&synthetic_config("synthetic_size = \"1280x720\"\n"));
    let shots = shots_dir();
    let out = run_node(
        "viewer_agent.mjs",
        &[
            "--base",
            &gw.base,
            "--view",
            VIEW_TOKEN,
            "--control",
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
    eprintln!("viewer_agent: {r:#}");
    let m = &r["marker"];
    assert!(
        m["label"].as_str().unwrap_or_default().contains("click"),
        "marker label {}",
        m["label"]
    );
    for axis in ["offsetX", "offsetY"] {
        let off = m[axis].as_f64().expect("offset");
        // One screen pixel is one CSS pixel here; the gateway reports whole pixels.
        assert!(
            off.abs() <= 1.5,
            "marker {axis} is {off} CSS px from the clicked pixel"
        );
    }
    let e = &r["echo"];
    assert_eq!(
        e["pointer"], e["target"],
        "the agent's click must land where it asked: {e}"
    );
    assert_eq!(
        e["pressesAfter"].as_u64(),
        e["pressesBefore"].as_u64().map(|n| n + 1),
        "echo {e}"
    );
    assert_eq!(r["markersLeft"], 0, "markers must fade away");
    assert_eq!(
        r["pageErrors"].as_array().map(Vec::len),
        Some(0),
        "page errors: {}",
        r["pageErrors"]
    );
    gw.stop();
}
