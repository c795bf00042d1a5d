//! What the viewer page tells people when things are not simply working (`tests/e2e/viewer_states.mjs`, which
//! starts, stops and restarts the gateway on one port itself): a wrong token gets the sign-in form and the
//! right one connects from there; a view-only token shows "View only" and sends no input; an unknown screen id
//! falls back to the primary screen with a notice; a gateway that goes away is shown as offline with a retry
//! countdown, and the page is live again by itself once it is back.
//!
//! Run: `cargo test -p sightline --test browser_viewer_states -- --nocapture`

mod common;

use std::time::Duration;

use common::{CONTROL_TOKEN, VIEW_TOKEN, last_json, run_node, synthetic_config, tempdir::TempDir};

/// A port that was free a moment ago: the script restarts the gateway on it, so it cannot be `:0`.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local address").port()
}

#[test]
fn viewer_explains_bad_tokens_view_only_unknown_screens_and_outages() {
    let port = free_port();
    let dir = TempDir::new();
    let config = dir.path().join("sightline.toml");
    let text = synthetic_config("synthetic_size = \"1280x720\"\n").replace(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"127.0.0.1:{port}\""),
    );
    assert!(
        text.contains(&format!(":{port}\"")),
        "the test config has no listen line to pin"
    );
    std::fs::write(&config, text).expect("write config");
    let base = format!("http://127.0.0.1:{port}");
    let out = run_node(
        "viewer_states.mjs",
        &[
            "--bin",
            env!("CARGO_BIN_EXE_sightline"),
            "--config",
            &config.display().to_string(),
            "--base",
            &base,
            "--control",
            CONTROL_TOKEN,
            "--view",
            VIEW_TOKEN,
        ],
        Duration::from_secs(90),
    );
    let r = last_json(&out);
    eprintln!("viewer_states: {r:#}");

    let bad = &r["badToken"];
    assert!(
        bad["error"]
            .as_str()
            .unwrap_or_default()
            .contains("did not accept"),
        "bad token {bad}"
    );
    assert_eq!(
        bad["tokenInUrl"], false,
        "the token must leave the address bar"
    );
    assert_eq!(
        r["afterSignIn"]["watching"], "webrtc",
        "after sign-in {}",
        r["afterSignIn"]
    );

    let v = &r["viewOnly"];
    assert_eq!(v["role"], "view");
    assert_eq!(v["badgeVisible"], true, "view-only badge {v}");
    assert_eq!(v["keyboardButtonVisible"], false);
    assert_eq!(
        v["pressesAfter"], v["pressesBefore"],
        "a view-only click reached the screen: {v}"
    );
    assert_eq!(
        v["keysAfter"], v["keysBefore"],
        "view-only keys reached the screen: {v}"
    );

    let u = &r["unknownScreen"];
    assert_eq!(u["screen"], "0", "unknown screen {u}");
    assert!(
        u["toast"]
            .as_str()
            .unwrap_or_default()
            .contains("does not exist"),
        "unknown screen {u}"
    );

    let o = &r["offline"];
    assert!(
        o["status"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Offline"),
        "offline {o}"
    );
    assert_eq!(
        o["notice"], "The gateway is restarting",
        "a clean shutdown closes with 1001: {o}"
    );
    assert_eq!(
        r["reconnected"]["watching"], "webrtc",
        "reconnected {}",
        r["reconnected"]
    );
    assert_eq!(
        r["pageErrors"].as_array().map(Vec::len),
        Some(0),
        "page errors: {}",
        r["pageErrors"]
    );
}
