//! Top-level windows as agents see them: what [`crate::Desktop::windows`] lists and
//! [`crate::Desktop::focus_window`] acts on.

use serde::{Deserialize, Serialize};

/// A window's id: the X window id on X11 (the client window, not the window manager's frame), the platform's id
/// with xcap. Stable for the window's life.
pub type WindowId = u64;

/// Where a window list came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowSource {
    /// An EWMH window manager's `_NET_CLIENT_LIST` (X11).
    Ewmh,
    /// The X window tree: no window manager runs (X11).
    XTree,
    /// xcap's window list (macOS, Windows).
    Xcap,
    /// A backend without windows (the synthetic screen): the list is empty.
    None,
}

/// One top-level window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowInfo {
    /// The window's id.
    pub id: WindowId,
    /// Its title (`_NET_WM_NAME`, else `WM_NAME`); empty when it has none.
    pub title: String,
    /// Its application: the class of `WM_CLASS` on X11 (`XTerm`), the application name with xcap.
    pub app: Option<String>,
    /// The process id, when the window states it (`_NET_WM_PID`).
    pub pid: Option<u32>,
    /// The screen its centre is on (a [`crate::ScreenInfo::id`]); `None` when it is on no screen.
    pub screen: Option<String>,
    /// Left edge of the client area, in pixels of `screen` (of the whole desktop when `screen` is `None`); may be
    /// negative or past the screen's edge for a window partly off it.
    pub x: i32,
    /// Top edge of the client area, in the same coordinates as `x`.
    pub y: i32,
    /// Width of the client area (without the window manager's decorations).
    pub width: u32,
    /// Height of the client area.
    pub height: u32,
    /// Whether it has the input focus (`_NET_ACTIVE_WINDOW`, else the X input focus).
    pub focused: bool,
    /// Whether it is minimized (`_NET_WM_STATE_HIDDEN` or ICCCM iconic).
    pub minimized: bool,
}

/// The windows of a desktop, topmost last, and where the list came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowList {
    /// Where it came from.
    pub source: WindowSource,
    /// The windows in stacking order, bottom first.
    pub windows: Vec<WindowInfo>,
}
