//! Held input: `long_press` (a button held at a point) and `press_keys` with `hold_ms` (keys held down).

use rmcp::schemars::{self, JsonSchema};
use serde::Deserialize;

use super::error::ToolError;
use super::tools::{Button, Output, PressKeysArgs};
use crate::session::{Actor, SessionManager};

/// Arguments of `long_press`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LongPressArgs {
    /// Horizontal position in screen pixels.
    pub x: u32,
    /// Vertical position in screen pixels.
    pub y: u32,
    /// How long the button stays down, in ms.
    pub duration_ms: Option<u64>,
    /// Which button (default left).
    pub button: Option<Button>,
    /// Screen id from list_screens. Default: the primary screen.
    pub screen: Option<String>,
}

/// `long_press`.
pub async fn long_press(
    gw: &SessionManager,
    actor: &Actor,
    args: LongPressArgs,
) -> Result<Output, ToolError> {
    let _ = (gw, actor, args);
    Err(ToolError::Failed("long_press is being built".into()))
}

/// `press_keys` with `hold_ms`: the keys pressed in order, held, then released in reverse.
pub async fn hold_keys(
    gw: &SessionManager,
    actor: &Actor,
    args: PressKeysArgs,
) -> Result<Output, ToolError> {
    let _ = (gw, actor, args);
    Err(ToolError::Failed("key hold is being built".into()))
}
