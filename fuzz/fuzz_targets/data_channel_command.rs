//! Text on the `control` data channel: parsed as a command the way the viewer's loop does
//! (`transport::ws::viewer`: `parse_command`, then the optional `screen` field), checked against every role,
//! and carried out as backend input events on screens of every size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use sightline::control::{Intent, policy};
use sightline_signaling::{Role, ServerMessage, parse_command};

fuzz_target!(|data: &[u8]| {
    // The peer drops binary and non-UTF-8 messages before the loop sees them.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (id, command) = match parse_command(text) {
        Ok(parsed) => parsed,
        Err(e) => return sightline_fuzz::reply_error(e),
    };
    let _screen = serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v.get("screen").and_then(Value::as_str).map(str::to_owned));
    let action = policy::command_action(&command);
    assert!(!policy::allows(Role::View, action), "{command:?}");
    assert!(policy::allows(Role::Control, action));
    let _ = command.kind();
    if let Some(intent) = Intent::from_command(&command) {
        sightline_fuzz::act(&intent);
    }
    if let Some(id) = id {
        let _ = ServerMessage::Ack { id }.to_json();
    }
});
