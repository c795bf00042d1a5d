//! The tools that see structure and hold input: windows, the accessibility tree, long presses. A second router of
//! [`SightlineMcp`], merged with the first in [`super::handler`]; the work is in [`super::windows`],
//! [`super::a11y`] and [`super::gestures`].

use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};

use super::handler::{CallCtx, SightlineMcp, result_of};
use super::{a11y, gestures, windows};

#[tool_router(router = agent_tool_router, vis = "pub(super)")]
impl SightlineMcp {
    #[tool(
        description = "List the desktop's top-level windows, bottom of the stack first: id, title, app (X11 \
                       WM_CLASS class), pid, screen, x/y/width/height of the client area in pixels of that screen, \
                       focused and minimized, and source (ewmh from the window manager, x_tree when none runs). \
                       Use a window id with focus_window, ui_tree, or screenshot's window argument.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_windows(&self) -> CallToolResult {
        result_of(windows::list_windows(self.gw()).await)
    }

    #[tool(
        description = "Give a window the keyboard focus and raise it (un-minimizing it), through the window \
                       manager when one runs. Returns the window as list_windows shows it afterwards.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            open_world_hint = false
        )
    )]
    async fn focus_window(
        &self,
        Extension(call): Extension<CallCtx>,
        Parameters(args): Parameters<windows::FocusWindowArgs>,
    ) -> CallToolResult {
        result_of(windows::focus_window(self.gw(), &call.actor, args).await)
    }

    #[tool(
        description = "The accessibility tree (AT-SPI2) of the focused window or of a given window: each element's \
                       id, role, name, description, states, actions and bounds in screen pixels, pruned to what is \
                       showing (max_depth/max_nodes cut it). Act on an element with click_element or set_text \
                       by its id. Needs the desktop's AT-SPI accessibility bus (Linux).",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn ui_tree(&self, Parameters(args): Parameters<a11y::UiTreeArgs>) -> CallToolResult {
        result_of(a11y::ui_tree(self.gw(), args).await)
    }

    #[tool(
        description = "Press an element from ui_tree by its id: its accessibility action (click, press, activate), \
                       or a pointer click at the centre of its bounds when it has none. Says which was used.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            open_world_hint = false
        )
    )]
    async fn click_element(
        &self,
        Extension(call): Extension<CallCtx>,
        Parameters(args): Parameters<a11y::ClickElementArgs>,
    ) -> CallToolResult {
        result_of(a11y::click_element(self.gw(), &call.actor, args).await)
    }

    #[tool(
        description = "Replace the text of an editable element from ui_tree (an entry, a text area) by its id, \
                       through its accessibility editable-text interface, or by focusing it, selecting all and \
                       typing when it has none. Says which was used.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            open_world_hint = false
        )
    )]
    async fn set_text(
        &self,
        Extension(call): Extension<CallCtx>,
        Parameters(args): Parameters<a11y::SetTextArgs>,
    ) -> CallToolResult {
        result_of(a11y::set_text(self.gw(), &call.actor, args).await)
    }

    #[tool(
        description = "Press and hold a mouse button at (x, y) in screen pixels for duration_ms, then release \
                       (a long press: context menus, touch-style holds).",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            open_world_hint = false
        )
    )]
    async fn long_press(
        &self,
        Extension(call): Extension<CallCtx>,
        Parameters(args): Parameters<gestures::LongPressArgs>,
    ) -> CallToolResult {
        result_of(gestures::long_press(self.gw(), &call.actor, args).await)
    }
}
