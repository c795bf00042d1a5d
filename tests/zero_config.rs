//! With no configuration at all the gateway starts anyway: `auto` falls back to the synthetic screen when no
//! display opens, and it prints a viewer URL carrying a fresh random admin token that works.

mod common;

use common::{GatewayProcess, http};
use serde_json::Value;

#[test]
fn starts_without_a_config_on_the_synthetic_screen_with_a_fresh_admin_token() {
    let gw = GatewayProcess::start_without_config(&["--listen", "127.0.0.1:0"], &["DISPLAY"]);
    // The ready line's URL: http://127.0.0.1:PORT/#token=<token>.
    assert!(gw.base.starts_with("http://127.0.0.1:"), "{}", gw.base);
    assert_eq!(gw.token.len(), 32, "{}", gw.token);
    assert!(
        gw.token.chars().all(|c| c.is_ascii_hexdigit()),
        "{}",
        gw.token
    );

    let get = |path: &str, token: Option<&str>| {
        let (status, _, body) = http("GET", &format!("{}{path}", gw.base), token, None, b"", &[]);
        (
            status,
            serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null),
        )
    };
    let (status, v) = get("/api/v1/status", Some(&gw.token));
    assert_eq!(status, 200, "the printed token is an admin token");
    assert_eq!(v["source"], "synthetic", "{v}");
    assert_eq!(v["screens"][0]["width"], 1280);
    assert_eq!(v["screens"][0]["height"], 720);
    assert_eq!(get("/api/v1/status", None).0, 401);
    assert_eq!(get("/api/v1/status", Some("0123456789abcdef")).0, 401);

    // A second start makes a different token.
    let other = GatewayProcess::start_without_config(&["--listen", "127.0.0.1:0"], &["DISPLAY"]);
    assert_ne!(other.token, gw.token);
    assert!(other.stop().success());
    assert!(gw.stop().success());
}
