//! `list_windows`, `focus_window`, and a window as a screenshot's region.

use rmcp::schemars::{self, JsonSchema};
use serde::Deserialize;
use sightline_media::WindowId;

use super::error::ToolError;
use super::geometry::Region;
use super::tools::Output;
use crate::session::{Actor, SessionManager};

/// Arguments of `focus_window`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FocusWindowArgs {
    /// Window id from list_windows.
    pub window: WindowId,
}

/// `list_windows`.
pub async fn list_windows(gw: &SessionManager) -> Result<Output, ToolError> {
    let _ = gw;
    Err(ToolError::Failed("list_windows is being built".into()))
}

/// `focus_window`.
pub async fn focus_window(
    gw: &SessionManager,
    actor: &Actor,
    args: FocusWindowArgs,
) -> Result<Output, ToolError> {
    let _ = (gw, actor, args);
    Err(ToolError::Failed("focus_window is being built".into()))
}

/// The screen and the part of it window `id` covers (its client area clipped to the screen), for `screenshot`'s
/// `window` argument.
pub async fn window_region(
    gw: &SessionManager,
    id: WindowId,
) -> Result<(String, Region), ToolError> {
    let _ = (gw, id);
    Err(ToolError::Failed(
        "window screenshots are being built".into(),
    ))
}
