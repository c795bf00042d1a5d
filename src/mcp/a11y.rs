//! `ui_tree`, `click_element` and `set_text`: the accessibility tree (AT-SPI2 on Linux, [`crate::a11y`]).

use rmcp::schemars::{self, JsonSchema};
use serde::Deserialize;
use sightline_media::WindowId;

use super::error::ToolError;
use super::tools::Output;
use crate::session::{Actor, SessionManager};

/// Arguments of `ui_tree`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UiTreeArgs {
    /// Window id from list_windows. Default: the focused window.
    pub window: Option<WindowId>,
}

/// Arguments of `click_element`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClickElementArgs {
    /// Element id from ui_tree.
    pub element: String,
}

/// Arguments of `set_text`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetTextArgs {
    /// Element id from ui_tree (an editable text field).
    pub element: String,
    /// The text the field should contain afterwards.
    pub text: String,
}

/// `ui_tree`.
pub async fn ui_tree(gw: &SessionManager, args: UiTreeArgs) -> Result<Output, ToolError> {
    let _ = (gw, args);
    Err(ToolError::Failed("ui_tree is being built".into()))
}

/// `click_element`.
pub async fn click_element(
    gw: &SessionManager,
    actor: &Actor,
    args: ClickElementArgs,
) -> Result<Output, ToolError> {
    let _ = (gw, actor, args);
    Err(ToolError::Failed("click_element is being built".into()))
}

/// `set_text`.
pub async fn set_text(
    gw: &SessionManager,
    actor: &Actor,
    args: SetTextArgs,
) -> Result<Output, ToolError> {
    let _ = (gw, actor, args);
    Err(ToolError::Failed("set_text is being built".into()))
}
