//! Tools on a device's screen: a call whose `screen` argument names a device screen (`<device>/<screen>`) is
//! carried out by the device itself, through its own tools, after this gateway charged the caller's budget and
//! checked its role like any local call ([`super::handler`]). Only the `screen` argument is rewritten (to the
//! device's own id); the device's result comes back unchanged, screenshots included. Also `list_devices`.

use rmcp::model::{CallToolResult, JsonObject, ResultType};
use serde_json::{Value, json};
use sightline_signaling::Role;

use super::error::ToolError;
use super::output::Output;
use crate::fleet::is_remote_screen;
use crate::session::SessionManager;

/// The device screen a call targets: its `screen` argument, when that names a device's screen.
pub fn target(arguments: Option<&JsonObject>) -> Option<String> {
    let screen = arguments?.get("screen")?.as_str()?;
    is_remote_screen(screen).then(|| screen.to_owned())
}

/// Runs tool `name` on the device of `screen` with the caller's `role` (already checked here). A device that
/// is offline or does not answer gives a tool error saying so.
pub async fn forward(
    gw: &SessionManager,
    screen: &str,
    name: &str,
    arguments: JsonObject,
    role: Role,
) -> Result<CallToolResult, ToolError> {
    let mut value = gw.hub().call_tool(screen, name, arguments, role).await?;
    if let Some((_, local)) = crate::fleet::split_remote_screen(screen) {
        name_screen(&mut value, local, screen);
    }
    let mut result = serde_json::from_value::<CallToolResult>(value).map_err(|e| {
        ToolError::from(crate::control::Error::internal(format!(
            "the device's answer to {name} is not a tool result: {e}"
        )))
    })?;
    // The device answers in whatever protocol era its in-process server speaks; the caller's era decides here,
    // like for a local result: complete unless the server strips the field for an older peer.
    if result.result_type.is_none() {
        result.result_type = Some(ResultType::COMPLETE);
    }
    Ok(result)
}

/// The device names its screen by its own id (`0`); the caller knows it as `<device>/0` and must not be sent to
/// this gateway's screen `0` by the answer. Rewrites `"screen": "<local>"` fields anywhere in the result and the
/// words `screen <local>` in its texts.
fn name_screen(value: &mut Value, local: &str, remote: &str) {
    match value {
        Value::Object(o) => {
            for (k, v) in o.iter_mut() {
                match v {
                    Value::String(s) if k == "screen" && s == local => *s = remote.to_owned(),
                    Value::String(s) if k == "text" => *s = name_screen_in(s, local, remote),
                    _ => name_screen(v, local, remote),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|v| name_screen(v, local, remote)),
        _ => {}
    }
}

/// `screen <local>` / `Screen <local>` as whole words, renamed.
fn name_screen_in(text: &str, local: &str, remote: &str) -> String {
    let mut out = String::with_capacity(text.len() + remote.len());
    let mut rest = text;
    while let Some(i) = rest.find("creen ") {
        let (before, after) = rest.split_at(i + "creen ".len());
        // `s`/`S` right before, and no letter or digit before that (char-wise: texts may be any UTF-8).
        let mut back = rest[..i].chars().rev();
        let is_screen = matches!(back.next(), Some('s' | 'S'))
            && !back.next().is_some_and(char::is_alphanumeric);
        let ends = after
            .strip_prefix(local)
            .is_some_and(|t| !t.starts_with(|c: char| c.is_alphanumeric() || c == '/'));
        out.push_str(before);
        if is_screen && ends {
            out.push_str(remote);
            rest = &after[local.len()..];
        } else {
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// `list_devices`: every device this gateway knows (connected, allowed, or waiting for an admin's approval), with
/// its screens as the ids other tools take (`<device>/<screen>`).
pub fn list_devices(gw: &SessionManager) -> Result<Output, ToolError> {
    let devices: Vec<Value> = gw
        .hub()
        .devices()
        .into_iter()
        .map(|d| {
            let screens: Vec<Value> = d
                .screens
                .iter()
                .map(|s| {
                    json!({
                        "id": format!("{}/{}", d.id, s.id),
                        "name": s.name,
                        "width": s.width,
                        "height": s.height,
                        "primary": s.primary,
                    })
                })
                .collect();
            let mut v = serde_json::to_value(&d).unwrap_or(Value::Null);
            if let Some(o) = v.as_object_mut() {
                o.insert("screens".into(), Value::Array(screens));
            }
            v
        })
        .collect();
    Ok(Output::json(json!({ "devices": devices })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_device_screens_are_forwarded() {
        let args = |v: Value| v.as_object().cloned();
        assert_eq!(
            target(args(json!({"screen": "0123456789abcdef/0", "x": 1})).as_ref()).as_deref(),
            Some("0123456789abcdef/0")
        );
        assert_eq!(target(args(json!({"screen": "0"})).as_ref()), None);
        assert_eq!(target(args(json!({"screen": 5})).as_ref()), None);
        assert_eq!(target(args(json!({})).as_ref()), None);
        assert_eq!(target(None), None);
    }

    #[test]
    fn the_devices_screen_is_named_as_the_caller_knows_it() {
        let mut v = json!({"content": [{"type": "text", "text": "Screen 0 is 800x600; clicked at (1, 2) on screen 0. screen 01 and myscreen 0 stay, écreen 0 ßcreen 0"}],
                           "structuredContent": {"screen": "0", "other": "0", "nested": [{"screen": "0"}]}});
        name_screen(&mut v, "0", "ab12cd34/0");
        assert_eq!(
            v["content"][0]["text"],
            "Screen ab12cd34/0 is 800x600; clicked at (1, 2) on screen ab12cd34/0. screen 01 and myscreen 0 stay, écreen 0 ßcreen 0"
        );
        assert_eq!(v["structuredContent"]["screen"], "ab12cd34/0");
        assert_eq!(v["structuredContent"]["other"], "0");
        assert_eq!(v["structuredContent"]["nested"][0]["screen"], "ab12cd34/0");
    }
}
