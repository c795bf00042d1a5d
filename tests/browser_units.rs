//! Unit tests of the viewer's pure JavaScript modules (barcode reader, geometry, gestures, wheel, backoff,
//! statistics, options), run by Node from `tests/e2e/web_units.mjs` — no browser, no gateway.
//!
//! Run: `cargo test -p sightline --test browser_units -- --nocapture`

mod common;

use std::time::Duration;

use common::{last_json, run_node};

#[test]
fn viewer_modules_pass_their_unit_tests() {
    let out = run_node("web_units.mjs", &[], Duration::from_secs(30));
    let r = last_json(&out);
    assert_eq!(
        r["failed"].as_array().map(Vec::len),
        Some(0),
        "failed: {:#}",
        r["failed"]
    );
    let passed = r["passed"].as_u64().expect("passed count");
    assert!(passed >= 20, "only {passed} unit tests ran");
}
