//! `ui_tree`, `click_element` and `set_text`: the accessibility tree (AT-SPI2 on Linux, [`crate::a11y`]).
//!
//! The tree is read over the accessibility bus; pressing and typing prefer the element's own accessibility
//! interfaces (no pointer, no focus change) and fall back to the pointer and keyboard through
//! [`SessionManager::act`], like `click` and `type_text`. Either way the people watching see what the agent did.

use rmcp::schemars::{self, JsonSchema};
use serde::Deserialize;
use sightline_media::WindowId;

use super::error::ToolError;
use super::output::Output;
use crate::session::{Actor, SessionManager};

/// Arguments of `ui_tree`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UiTreeArgs {
    /// Window id from list_windows. Default: the focused window.
    pub window: Option<WindowId>,
    /// Deepest level below the window to read (default and most: 40).
    #[schemars(range(min = 1, max = 40))]
    pub max_depth: Option<usize>,
    /// Most elements to read (default and most: 2000).
    #[schemars(range(min = 1, max = 2000))]
    pub max_nodes: Option<usize>,
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

#[cfg(target_os = "linux")]
pub use linux::{click_element, set_text, ui_tree};

#[cfg(not(target_os = "linux"))]
const UNSUPPORTED: &str =
    "the accessibility tree is read through AT-SPI2, which this gateway has only on Linux";

/// `ui_tree`.
#[cfg(not(target_os = "linux"))]
pub async fn ui_tree(gw: &SessionManager, args: UiTreeArgs) -> Result<Output, ToolError> {
    let _ = (gw, args);
    Err(ToolError::Failed(UNSUPPORTED.into()))
}

/// `click_element`.
#[cfg(not(target_os = "linux"))]
pub async fn click_element(
    gw: &SessionManager,
    actor: &Actor,
    args: ClickElementArgs,
) -> Result<Output, ToolError> {
    let _ = (gw, actor, args);
    Err(ToolError::Failed(UNSUPPORTED.into()))
}

/// `set_text`.
#[cfg(not(target_os = "linux"))]
pub async fn set_text(
    gw: &SessionManager,
    actor: &Actor,
    args: SetTextArgs,
) -> Result<Output, ToolError> {
    let _ = (gw, actor, args);
    Err(ToolError::Failed(UNSUPPORTED.into()))
}

#[cfg(target_os = "linux")]
mod linux {
    use std::fmt::Write as _;

    use serde_json::json;
    use sightline_limits::MAX_TEXT_CHARS;
    use sightline_media::{ScreenInfo, WindowInfo};
    use sightline_signaling::messages::{Button, KeyAction, PointerAction};

    use super::*;
    use crate::a11y::act::Element;
    use crate::a11y::walk::{Limits, Node, Placement};
    use crate::a11y::{self, A11y, A11yError, Bounds, MAX_DEPTH, MAX_NODES};
    use crate::control::{At, Intent};
    use crate::session::Overlay;

    impl From<A11yError> for ToolError {
        fn from(e: A11yError) -> Self {
            match e {
                A11yError::Invalid(m) => ToolError::Invalid(m),
                other => ToolError::Failed(other.to_string()),
            }
        }
    }

    /// States worth a model's attention in the text form (the JSON has all).
    const SHOWN_STATES: [&str; 9] = [
        "focused",
        "checked",
        "pressed",
        "selected",
        "expanded",
        "collapsed",
        "editable",
        "indeterminate",
        "modal",
    ];

    fn limit(value: Option<usize>, max: usize, name: &str) -> Result<usize, ToolError> {
        match value {
            None => Ok(max),
            Some(v) if (1..=max).contains(&v) => Ok(v),
            Some(v) => Err(ToolError::invalid(format!(
                "{name} {v} is out of range (1..={max})"
            ))),
        }
    }

    /// The desktop's windows; none where the backend lists none (a failure to list is logged, not fatal: the
    /// tree can still be found by AT-SPI's own focus).
    async fn windows(gw: &SessionManager) -> Vec<WindowInfo> {
        match gw.windows().await {
            Ok(list) => list.windows,
            Err(e) => {
                tracing::debug!(error = %e, "no window list for the accessibility tree");
                Vec::new()
            }
        }
    }

    /// The screen of `placement`, or the only screen when it names none (desktop and screen coordinates are then
    /// the same).
    async fn screen_of(
        gw: &SessionManager,
        placement: &Placement,
    ) -> Result<Option<ScreenInfo>, ToolError> {
        if let Some(id) = &placement.screen {
            return Ok(Some(gw.find_screen(Some(id.clone())).await?));
        }
        let screens = gw.screens()?;
        Ok(match screens.as_slice() {
            [only] if placement.dx == 0 && placement.dy == 0 => Some(only.clone()),
            _ => None,
        })
    }

    /// `ui_tree`.
    pub async fn ui_tree(gw: &SessionManager, args: UiTreeArgs) -> Result<Output, ToolError> {
        let limits = Limits {
            depth: limit(args.max_depth, MAX_DEPTH, "max_depth")?,
            nodes: limit(args.max_nodes, MAX_NODES, "max_nodes")?,
        };
        let started = tokio::time::Instant::now();
        let windows = windows(gw).await;
        let (tree, frame, w) =
            a11y::window_tree(A11y::shared(), &windows, args.window, limits).await?;
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        let screen = screen_of(gw, &tree.placement).await?;
        let screen_id = screen.as_ref().map(|s| s.id.clone());
        let mut text = format!(
            "Accessibility tree of window {} {:?} ({} elements{}), bounds as (x,y wxh) in pixels of screen {}. \
             Act on an element with click_element or set_text and its id.\n",
            w.as_ref()
                .map_or_else(|| "(no X window matched)".to_owned(), |w| w.id.to_string()),
            frame.title,
            tree.count,
            tree.truncated
                .as_deref()
                .map_or_else(String::new, |t| format!("; cut: {t}")),
            screen_id
                .as_deref()
                .unwrap_or("(unknown: desktop coordinates)"),
        );
        render(&tree.root, 0, &mut text);
        let structured = json!({
            "window": w.as_ref().map(|w| json!({"id": w.id, "title": w.title, "pid": w.pid})),
            "title": frame.title,
            "pid": frame.pid,
            "screen": screen_id,
            "count": tree.count,
            "truncated": tree.truncated,
            "elapsed_ms": (elapsed_ms * 10.0).round() / 10.0,
            "tree": tree.root,
        });
        Ok(Output::json_text(text, structured))
    }

    /// One line per element, children indented.
    fn render(n: &Node, depth: usize, out: &mut String) {
        let _ = write!(out, "{:indent$}- {}", "", n.role, indent = depth * 2);
        if !n.name.is_empty() {
            let _ = write!(out, " {:?}", n.name);
        }
        let mut states: Vec<&str> = n
            .states
            .iter()
            .copied()
            .filter(|s| SHOWN_STATES.contains(s))
            .collect();
        if !n.states.contains(&"sensitive") && !n.states.contains(&"enabled") {
            states.push("disabled");
        }
        if !states.is_empty() {
            let _ = write!(out, " [{}]", states.join(","));
        }
        if let Some(b) = n.bounds {
            let _ = write!(out, " ({},{} {}x{})", b.x, b.y, b.width, b.height);
        }
        if !n.actions.is_empty() {
            let _ = write!(out, " actions={}", n.actions.join("|"));
        }
        if !n.description.is_empty() {
            let _ = write!(out, " desc={:?}", n.description);
        }
        let _ = writeln!(out, " id={}", n.id);
        for c in &n.children {
            render(c, depth + 1, out);
        }
    }

    /// Where on which screen a pointer click at `b`'s centre lands: the centre of its part on the screen.
    fn click_point(screen: &ScreenInfo, b: Bounds) -> Result<At, ToolError> {
        let (w, h) = (screen.width as i32, screen.height as i32);
        let (x0, y0) = (b.x.max(0), b.y.max(0));
        let (x1, y1) = ((b.x + b.width).min(w), (b.y + b.height).min(h));
        if x0 >= x1 || y0 >= y1 {
            return Err(ToolError::Failed(format!(
                "the element ({},{} {}x{}) is off screen {}",
                b.x, b.y, b.width, b.height, screen.id
            )));
        }
        Ok(At::Pixel {
            x: ((x0 + x1) / 2) as u32,
            y: ((y0 + y1) / 2) as u32,
        })
    }

    /// The element's screen and the point a click on it lands.
    async fn target(
        gw: &SessionManager,
        el: &Element,
        what: &str,
    ) -> Result<(ScreenInfo, At), ToolError> {
        let located = el.locate(&windows(gw).await).await?;
        let (placement, bounds) = located
            .ok_or_else(|| ToolError::Failed(format!("{what} has no place on screen to click")))?;
        let screen = screen_of(gw, &placement).await?.ok_or_else(|| {
            ToolError::Failed(format!(
                "{what} is in a window that list_windows does not show, so its screen is unknown"
            ))
        })?;
        let at = click_point(&screen, bounds)?;
        Ok((screen, at))
    }

    /// Shows an accessibility action (no pointer involved) to the people watching: an input entry with no events
    /// on the element's screen (the primary when it has no place), recorded like any other input.
    async fn show(gw: &SessionManager, actor: &Actor, el: &Element, action: &str, detail: &str) {
        let screen = match el.locate(&windows(gw).await).await {
            Ok(Some((p, _))) => screen_of(gw, &p).await.ok().flatten().map(|s| s.id),
            _ => None,
        };
        let overlay = Overlay {
            action: action.to_owned(),
            detail: detail.to_owned(),
        };
        if let Err(e) = gw.act(actor, screen.as_deref(), &[], Some(overlay)).await {
            tracing::debug!(error = %e, "could not show an accessibility action to viewers");
        }
    }

    fn pixel(at: &At) -> (u32, u32) {
        match at {
            At::Pixel { x, y } => (*x, *y),
            At::Normalised { .. } => (0, 0),
        }
    }

    /// `click_element`.
    pub async fn click_element(
        gw: &SessionManager,
        actor: &Actor,
        args: ClickElementArgs,
    ) -> Result<Output, ToolError> {
        let el = Element::open(A11y::shared(), &args.element).await?;
        let (role, name, states) = el.describe().await?;
        let what = format!("{role} {name:?}");
        if let Some(action) = el.press().await? {
            let detail = format!("pressed {what} ({action})");
            show(gw, actor, &el, "click_element", &detail).await;
            return Ok(Output::json_text(
                format!("pressed {what} through its accessibility action {action:?}"),
                json!({"element": el.id(), "method": "action", "action": action}),
            ));
        }
        if !states.contains(atspi::State::Showing) {
            return Err(ToolError::Failed(format!(
                "{what} has no accessibility action and is not showing, so it cannot be clicked"
            )));
        }
        let (screen, at) = target(gw, &el, &what).await?;
        let (x, y) = pixel(&at);
        let intent = Intent::Pointer {
            action: PointerAction::Click,
            at: Some(at),
            button: Button::Left,
        };
        let detail = format!("clicked {what} at ({x}, {y})");
        let overlay = Overlay {
            action: "click_element".into(),
            detail: detail.clone(),
        };
        gw.act(actor, Some(&screen.id), &[intent], Some(overlay))
            .await?;
        Ok(Output::json_text(
            format!(
                "{what} has no accessibility action: clicked the centre of it at ({x}, {y}) on screen {}",
                screen.id
            ),
            json!({"element": el.id(), "method": "pointer", "screen": screen.id, "x": x, "y": y}),
        ))
    }

    /// `set_text`.
    pub async fn set_text(
        gw: &SessionManager,
        actor: &Actor,
        args: SetTextArgs,
    ) -> Result<Output, ToolError> {
        let chars = args.text.chars().count();
        if chars > MAX_TEXT_CHARS {
            return Err(ToolError::invalid(format!(
                "text has {chars} characters; give at most {MAX_TEXT_CHARS}"
            )));
        }
        let el = Element::open(A11y::shared(), &args.element).await?;
        let (role, name, states) = el.describe().await?;
        let what = format!("{role} {name:?}");
        let method = if el.set_text_contents(&args.text).await? {
            let detail = format!("set the text of {what} ({chars} characters)");
            show(gw, actor, &el, "set_text", &detail).await;
            "editable_text"
        } else {
            if !states.contains(atspi::State::Showing) {
                return Err(ToolError::Failed(format!(
                    "{what} has no editable text interface and is not showing, so it cannot be typed into"
                )));
            }
            let (screen, at) = target(gw, &el, &what).await?;
            let mut intents = Vec::new();
            if !el.grab_focus().await? {
                intents.push(Intent::Pointer {
                    action: PointerAction::Click,
                    at: Some(at),
                    button: Button::Left,
                });
            }
            let key = |action, code: &str| Intent::Key {
                action,
                code: code.into(),
            };
            intents.extend([
                key(KeyAction::Down, "ControlLeft"),
                key(KeyAction::Press, "KeyA"),
                key(KeyAction::Up, "ControlLeft"),
            ]);
            intents.push(if args.text.is_empty() {
                key(KeyAction::Press, "Backspace")
            } else {
                Intent::Text {
                    text: args.text.clone(),
                }
            });
            let overlay = Overlay {
                action: "set_text".into(),
                detail: format!("typed {chars} characters into {what}"),
            };
            gw.act(actor, Some(&screen.id), &intents, Some(overlay))
                .await?;
            "typing"
        };
        let now = el.text().await?;
        let how = match method {
            "editable_text" => "through its editable-text interface",
            _ => "by focusing it, selecting all and typing (it has no editable-text interface)",
        };
        let mut text = format!("set the text of {what} {how}");
        match &now {
            Some(t) if *t == args.text => text.push_str("; it now reads exactly that"),
            Some(t) => {
                let _ = write!(text, "; it now reads {:?}", a11y::clip(t.clone()));
            }
            None => text.push_str("; its text cannot be read back"),
        }
        Ok(Output::json_text(
            text,
            json!({"element": el.id(), "method": method, "text": now}),
        ))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn screen() -> ScreenInfo {
            ScreenInfo {
                id: "0".into(),
                name: "test".into(),
                width: 1920,
                height: 1080,
                source: sightline_media::SourceKind::Synthetic,
                primary: true,
            }
        }

        #[test]
        fn a_click_lands_on_the_visible_part_of_an_element() {
            let b = |x, y, width, height| Bounds {
                x,
                y,
                width,
                height,
            };
            assert_eq!(
                click_point(&screen(), b(100, 160, 168, 34)).unwrap(),
                At::Pixel { x: 184, y: 177 }
            );
            assert_eq!(
                click_point(&screen(), b(-100, 0, 200, 10)).unwrap(),
                At::Pixel { x: 50, y: 5 }
            );
            assert!(click_point(&screen(), b(2000, 0, 10, 10)).is_err());
        }

        #[test]
        fn limits_default_to_the_most_and_refuse_more() {
            assert_eq!(limit(None, MAX_DEPTH, "max_depth").unwrap(), MAX_DEPTH);
            assert_eq!(limit(Some(3), MAX_DEPTH, "max_depth").unwrap(), 3);
            assert!(limit(Some(0), MAX_DEPTH, "max_depth").is_err());
            assert!(limit(Some(MAX_NODES + 1), MAX_NODES, "max_nodes").is_err());
            // The schema's ranges are literals (the consts are Linux-only); they must say the same.
            assert_eq!((MAX_DEPTH, MAX_NODES), (40, 2000));
        }
    }
}
