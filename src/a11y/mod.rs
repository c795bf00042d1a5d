//! The accessibility tree of the desktop's applications through AT-SPI2 (Linux): what MCP's `ui_tree`,
//! `click_element` and `set_text` read and act on.
//!
//! # Parts
//! - [`bus`]: the connection to the accessibility bus (`AT_SPI_BUS_ADDRESS`, else `org.a11y.Bus.GetAddress` on the
//!   D-Bus session bus), opened on first use, kept, and dropped when it breaks so the next call reconnects. A
//!   gateway on a desktop without an accessibility bus works as before; only these calls fail, with
//!   [`A11yError::NoBus`] saying what to start.
//! - [`walk`]: the top-level windows of every application, matched to the X windows of
//!   [`sightline_media::WindowList`] by pid, title and size; the tree of one window walked level by level with
//!   every call of a level in flight at once (one D-Bus round trip per level instead of per node), pruned to what
//!   is showing and bounded by [`MAX_DEPTH`] and [`MAX_NODES`].
//! - [`act`]: one element by its id: its actions, its editable text, and where it is on which screen.
//! - [`types`]: what they share: [`Bounds`], [`A11yError`], the limits and element ids ([`parse_id`]).
//!
//! # Element ids
//! `<unique bus name><object path>`, e.g. `:1.7/org/a11y/atspi/accessible/42`: the application's bridge keeps an
//! object's path for the object's life, and the unique bus name changes when the application restarts, so an id
//! never names another element. An id whose object is gone gives [`A11yError::Gone`].
//!
//! # Coordinates
//! AT-SPI reports extents in desktop coordinates (the X screen's root window). Bounds here are in pixels of the
//! screen the window is on, the same space as `list_windows` and `screenshot`: the offset comes from one element's
//! extents relative to its window (the client area) against the X window's position on its screen.

pub mod act;
pub mod bus;
pub mod types;
pub mod walk;

use sightline_media::{WindowId, WindowInfo};

pub use bus::A11y;
pub(crate) use types::clip;
pub use types::{
    A11yError, Bounds, CALL_TIMEOUT, CONNECT_TIMEOUT, MAX_ACTIONS, MAX_APPS, MAX_DEPTH,
    MAX_FRAMES_PER_APP, MAX_ID_LEN, MAX_NODES, MAX_TEXT_CHARS, WALK_TIMEOUT, parse_id,
};

/// The tree of window `window` (an X window id from `windows`), else of the focused window: the top-level with
/// AT-SPI's `active` state (a window manager runs), else the one matching the focused X window.
pub async fn window_tree(
    a11y: &A11y,
    windows: &[WindowInfo],
    window: Option<WindowId>,
    limits: walk::Limits,
) -> Result<(walk::Tree, walk::Frame, Option<WindowInfo>), A11yError> {
    let work = async {
        let conn = a11y.connection().await?;
        let frames = walk::frames(a11y, &conn).await?;
        let (frame, w) = match window {
            Some(id) => {
                let w = windows.iter().find(|w| w.id == id).ok_or_else(|| {
                    A11yError::NotFound(format!("no window {id}; list_windows shows the windows"))
                })?;
                let f = walk::frame_of(w, &frames).ok_or_else(|| no_tree(w))?;
                (f.clone(), Some(w.clone()))
            }
            None => {
                let active = frames
                    .iter()
                    .find(|f| f.states.contains(atspi::State::Active));
                match active {
                    Some(f) => (f.clone(), walk::window_of(f, windows).cloned()),
                    None => {
                        let w = windows.iter().find(|w| w.focused).ok_or_else(|| {
                            A11yError::NotFound(
                                "no window has the focus; give a window id from list_windows"
                                    .into(),
                            )
                        })?;
                        let f = walk::frame_of(w, &frames).ok_or_else(|| no_tree(w))?;
                        (f.clone(), Some(w.clone()))
                    }
                }
            }
        };
        let tree = walk::walk(a11y, &conn, &frame.obj, w.as_ref(), limits).await?;
        Ok((tree, frame, w))
    };
    tokio::time::timeout(WALK_TIMEOUT, work)
        .await
        .map_err(|_| A11yError::Timeout(WALK_TIMEOUT))?
}

/// The error for a window without an accessible.
fn no_tree(w: &WindowInfo) -> A11yError {
    A11yError::NotFound(format!(
        "window {} ({:?}) has no accessibility tree on the bus: its application exposes none (GTK: NO_AT_BRIDGE is \
         set; Qt: set QT_LINUX_ACCESSIBILITY_ALWAYS_ON=1; Chromium/Electron: --force-renderer-accessibility) or \
         it started on another accessibility bus",
        w.id, w.title
    ))
}
