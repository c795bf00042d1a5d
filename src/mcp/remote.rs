//! Tools on a device's screen: a call whose `screen` argument names a device screen (`<device>/<screen>`) is
//! carried out by the device itself, through its own tools, after this gateway charged the caller's budget and
//! checked its role like any local call ([`super::handler`]). Only the `screen` argument is rewritten (to the
//! device's own id); the device's result comes back unchanged, screenshots included. Also `list_devices`.

use rmcp::model::{CallToolResult, JsonObject};
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
    let value = gw.hub().call_tool(screen, name, arguments, role).await?;
    serde_json::from_value::<CallToolResult>(value).map_err(|e| {
        ToolError::from(crate::control::Error::internal(format!(
            "the device's answer to {name} is not a tool result: {e}"
        )))
    })
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
}
