//! The monitor dashboard (`/monitor`, issue 5) in headless Chromium against a gateway on the synthetic screen
//! (`tests/e2e/monitor_page.mjs`): with a viewer watching, the dashboard shows its session, its network card
//! with a plot of its history, its WebRTC connection with a state history, timeline and network plot, the H.264 pipeline and live tasks; "Kick" ends the viewer's
//! session and the viewer says so; a wrong token gets the sign-in form; a phone-sized dashboard has no
//! sideways scroll. Screenshots: `target/tmp/screenshots/monitor-*.png`.
//!
//! Run: `cargo test -p sightline --test browser_monitor -- --nocapture`

mod common;

use std::time::Duration;

use common::{ADMIN_TOKEN, CONTROL_TOKEN, GatewayProcess, last_json, run_node, synthetic_config};

fn shots_dir() -> String {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).expect("create the screenshot directory");
    dir.display().to_string()
}

#[test]
fn dashboard_shows_a_viewer_and_kicks_it() {
    let gw = GatewayProcess::start(&synthetic_config("synthetic_size = \"1280x720\"\n"));
    let shots = shots_dir();
    let out = run_node(
        "monitor_page.mjs",
        &[
            "--base",
            &gw.base,
            "--admin",
            ADMIN_TOKEN,
            "--control",
            CONTROL_TOKEN,
            "--shots",
            &shots,
        ],
        Duration::from_secs(60),
    );
    let r = last_json(&out);
    eprintln!("monitor_page: {r:#}");

    assert_eq!(
        r["tokenHiddenFromUrl"], true,
        "the admin token must leave the address bar"
    );
    let health = r["health"].as_str().unwrap_or_default();
    assert!(
        ["Healthy", "Degraded", "Unhealthy"]
            .iter()
            .any(|h| health.starts_with(h)),
        "health pill {health:?}"
    );
    let cards: Vec<&str> = r["cards"]
        .as_array()
        .expect("cards")
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    for want in [
        "Uptime: ",
        "Connections: ",
        "Sessions: 1",
        "Leaked tasks: 0",
    ] {
        assert!(
            cards.iter().any(|c| c.starts_with(want)),
            "card {want:?} missing from {cards:?}"
        );
    }

    let session = r["sessionRow"]
        .as_array()
        .expect("the viewer's session row");
    let cells: Vec<&str> = session.iter().filter_map(|c| c.as_str()).collect();
    assert_eq!(
        cells.first().copied(),
        r["viewerSession"].as_str(),
        "session row {cells:?}"
    );
    assert!(cells.contains(&"control"), "role in {cells:?}");
    assert!(
        cells.iter().any(|c| c.ends_with("webrtc")),
        "watch in {cells:?}"
    );

    let pipeline: Vec<&str> = r["pipelineRow"]
        .as_array()
        .expect("pipeline")
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    assert_eq!(
        pipeline.get(1).copied(),
        Some("h264"),
        "pipeline row {pipeline:?}"
    );
    assert!(
        r["taskRows"].as_u64().unwrap_or(0) >= 1,
        "no live task shown"
    );

    assert!(
        r["drawerTitle"]
            .as_str()
            .unwrap_or_default()
            .ends_with("webrtc"),
        "drawer {}",
        r["drawerTitle"]
    );
    let history: Vec<&str> = r["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    assert!(
        history
            .iter()
            .any(|h| h.contains("ice") && h.ends_with("connected")),
        "the ICE machine reaching connected must be in the state history: {history:?}"
    );
    assert!(
        r["timelineEvents"].as_u64().unwrap_or(0) >= 1,
        "empty timeline"
    );
    assert_eq!(r["drawerClosed"], true, "Escape closes the detail");

    let card = &r["netCard"];
    let numbers: Vec<&str> = card["numbers"]
        .as_array()
        .expect("the viewer's network card")
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    for want in [
        "Estimate",
        "Sent",
        "RTT",
        "Loss",
        "Tier switches",
        "NACK / PLI",
    ] {
        assert!(numbers.contains(&want), "{want:?} missing from {card}");
    }
    assert!(
        card["lines"]
            .as_array()
            .is_some_and(|l| l.iter().any(|c| c == "net-line net-bitrate")),
        "the sent bitrate is plotted: {card}"
    );
    assert!(
        r["detailNetworkLines"].as_u64().unwrap_or(0) >= 1,
        "the detail has a network plot"
    );

    assert_eq!(
        r["kickArmedText"], "Confirm kick",
        "the first click only arms the button"
    );
    assert_eq!(r["viewerAfterKick"]["status"], "Session ended");
    assert_eq!(r["viewerNotice"], "Session ended");
    assert_eq!(r["sessionGoneFromTable"], true);

    assert_eq!(
        r["phone"]["scrollWidth"], r["phone"]["innerWidth"],
        "sideways scroll on a phone"
    );
    assert!(
        r["badTokenError"]
            .as_str()
            .unwrap_or_default()
            .contains("did not accept"),
        "wrong token message {}",
        r["badTokenError"]
    );
    assert_eq!(
        r["pageErrors"].as_array().map(Vec::len),
        Some(0),
        "page errors: {}",
        r["pageErrors"]
    );
    gw.stop();
}
