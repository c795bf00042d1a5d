//! `list_windows`, `focus_window`, and a window as a screenshot's region. REST (`crate::rest`'s windows routes)
//! uses [`lookup`] and [`window_region`] too, so both edges find, refuse and clip windows the same way.

use rmcp::schemars::{self, JsonSchema};
use serde::Deserialize;
use serde_json::json;
use sightline_media::{WindowId, WindowInfo, WindowList, WindowSource};

use super::error::ToolError;
use super::geometry::Region;
use super::output::Output;
use crate::control::{Action, Error, policy};
use crate::session::{Actor, Overlay, SessionManager};

/// Arguments of `focus_window`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FocusWindowArgs {
    /// Window id from list_windows.
    pub window: WindowId,
}

/// Window `id` as the desktop lists it now; `None` when it has no such top-level window.
pub async fn lookup(gw: &SessionManager, id: WindowId) -> Result<Option<WindowInfo>, Error> {
    Ok(gw.windows().await?.windows.into_iter().find(|w| w.id == id))
}

/// What an agent reads when a window id names no window.
pub fn unknown_window(id: WindowId) -> String {
    format!("no window {id} (it may have closed); list_windows shows the current windows")
}

fn source_name(source: WindowSource) -> &'static str {
    match source {
        WindowSource::Ewmh => "the window manager's client list (ewmh)",
        WindowSource::XTree => "the X window tree, no window manager runs (x_tree)",
        WindowSource::Xcap => "the operating system (xcap)",
        WindowSource::None => "nothing: this screen backend has no windows",
    }
}

/// One line per window for the model: the same facts as the structured content.
fn describe(w: &WindowInfo) -> String {
    let mut line = format!("- window {} {:?}", w.id, w.title);
    match (&w.app, w.pid) {
        (Some(app), Some(pid)) => line.push_str(&format!(" ({app}, pid {pid})")),
        (Some(app), None) => line.push_str(&format!(" ({app})")),
        (None, Some(pid)) => line.push_str(&format!(" (pid {pid})")),
        (None, None) => {}
    }
    match &w.screen {
        Some(s) => line.push_str(&format!(" on screen {s} at x={} y={}", w.x, w.y)),
        None => line.push_str(&format!(" on no screen (desktop x={} y={})", w.x, w.y)),
    }
    line.push_str(&format!(", {}x{}", w.width, w.height));
    if w.focused {
        line.push_str(", focused");
    }
    if w.minimized {
        line.push_str(", minimized");
    }
    line
}

fn list_text(list: &WindowList) -> String {
    let mut text = format!(
        "{} windows from {}, bottom of the stack first (x/y/width/height: the client area in pixels of its \
         screen):",
        list.windows.len(),
        source_name(list.source)
    );
    for w in &list.windows {
        text.push('\n');
        text.push_str(&describe(w));
    }
    text
}

/// `list_windows`.
pub async fn list_windows(gw: &SessionManager) -> Result<Output, ToolError> {
    let list = gw.windows().await?;
    let value = serde_json::to_value(&list)
        .map_err(|e| ToolError::Failed(format!("the window list could not be serialised: {e}")))?;
    Ok(Output::json_text(list_text(&list), value))
}

/// `focus_window`: focuses and raises the window, then shows the action to the people watching its screen.
pub async fn focus_window(
    gw: &SessionManager,
    actor: &Actor,
    args: FocusWindowArgs,
) -> Result<Output, ToolError> {
    if !policy::allows(actor.role, Action::Input) {
        return Err(ToolError::Forbidden {
            tool: "focus_window".into(),
            role: actor.role,
            needed: Action::Input.required_role(),
        });
    }
    let id = args.window;
    if lookup(gw, id).await?.is_none() {
        return Err(ToolError::Invalid(unknown_window(id)));
    }
    let w = gw.focus_window(id).await?;
    let detail = format!("focused window {id} {:?}", w.title);
    // An overlay without a position, through the input path like every agent action; the focus itself is done.
    let overlay = Overlay {
        action: "focus_window".into(),
        detail: detail.clone(),
    };
    if let Err(e) = gw.act(actor, w.screen.as_deref(), &[], Some(overlay)).await {
        tracing::debug!(window = id, error = %e, "focus_window could not be shown to viewers");
    }
    let text = format!("{detail}. It is now:\n{}", describe(&w));
    let value = json!({ "window": w });
    Ok(Output::json_text(text, value))
}

/// The part of a `screen_width × screen_height` screen a `width × height` window at (`x`, `y`) covers; `None` when
/// nothing of it is on the screen.
pub fn clip(
    x: i32,
    y: i32,
    width: u32,
    height: u32,
    screen_width: u32,
    screen_height: u32,
) -> Option<Region> {
    let x0 = i64::from(x).max(0);
    let y0 = i64::from(y).max(0);
    let x1 = (i64::from(x) + i64::from(width)).min(i64::from(screen_width));
    let y1 = (i64::from(y) + i64::from(height)).min(i64::from(screen_height));
    (x1 > x0 && y1 > y0).then(|| Region {
        x: x0 as u32,
        y: y0 as u32,
        width: (x1 - x0) as u32,
        height: (y1 - y0) as u32,
    })
}

/// The screen and the part of it window `id` covers (its client area clipped to the screen), for `screenshot`'s
/// `window` argument. The picture is the screen's pixels there: windows stacked above it show (focus it first).
pub async fn window_region(
    gw: &SessionManager,
    id: WindowId,
) -> Result<(String, Region), ToolError> {
    let w = lookup(gw, id)
        .await?
        .ok_or_else(|| ToolError::Invalid(unknown_window(id)))?;
    if w.minimized {
        return Err(ToolError::Invalid(format!(
            "window {id} is minimized: nothing of it is on the screen (focus_window restores it)"
        )));
    }
    let Some(screen) = w.screen else {
        return Err(ToolError::Invalid(format!(
            "window {id} is off every screen (at desktop x={} y={}, {}x{})",
            w.x, w.y, w.width, w.height
        )));
    };
    let s = gw.find_screen(Some(screen)).await?;
    let region = clip(w.x, w.y, w.width, w.height, s.width, s.height).ok_or_else(|| {
        ToolError::Invalid(format!(
            "window {id} is off screen {} (at x={} y={}, {}x{}; the screen is {}x{})",
            s.id, w.x, w.y, w.width, w.height, s.width, s.height
        ))
    })?;
    Ok((s.id, region))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window() -> WindowInfo {
        WindowInfo {
            id: 4_194_318,
            title: "WinA".into(),
            app: Some("XTerm".into()),
            pid: Some(42),
            screen: Some("0".into()),
            x: 51,
            y: 80,
            width: 484,
            height: 316,
            focused: true,
            minimized: false,
        }
    }

    #[test]
    fn a_window_is_clipped_to_its_screen() {
        let full = Region {
            x: 51,
            y: 80,
            width: 484,
            height: 316,
        };
        assert_eq!(clip(51, 80, 484, 316, 1920, 1080), Some(full));
        let cut = Region {
            x: 0,
            y: 1000,
            width: 80,
            height: 80,
        };
        assert_eq!(clip(-20, 1000, 100, 200, 1920, 1080), Some(cut));
        assert_eq!(clip(1920, 0, 100, 100, 1920, 1080), None);
        assert_eq!(clip(-100, 0, 100, 100, 1920, 1080), None);
        assert_eq!(clip(0, 0, 0, 100, 1920, 1080), None);
    }

    #[test]
    fn the_text_says_what_the_structure_says() {
        let list = WindowList {
            source: WindowSource::Ewmh,
            windows: vec![window()],
        };
        let text = list_text(&list);
        assert!(
            text.starts_with("1 windows from the window manager"),
            "{text}"
        );
        assert!(
            text.contains(
                "- window 4194318 \"WinA\" (XTerm, pid 42) on screen 0 at x=51 y=80, 484x316, focused"
            ),
            "{text}"
        );
        let value = serde_json::to_value(&list).unwrap();
        assert_eq!(value["source"], "ewmh");
        assert_eq!(value["windows"][0]["id"], 4_194_318);
    }
}
