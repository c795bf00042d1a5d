//! Held input: `long_press` (a button held at a point) and `press_keys` with `hold_ms` (keys held down).
//!
//! A hold is three steps through [`SessionManager::act`]: press, sleep, release (the engine injects a batch
//! back to back, so the wait cannot be part of one batch). Whatever ends the call early — the client cancels it,
//! its session closes, an administrator kicks it — drops the tool's future in the middle of the wait; a [`Held`]
//! guard then releases what it pressed from a task of its own, so no button or key stays down.

use std::time::Duration;

use rmcp::schemars::{self, JsonSchema};
use serde::Deserialize;
use serde_json::json;
use sightline_limits::MAX_KEYS;
use sightline_monitor::Owner;
use sightline_signaling::messages::{Button, KeyAction, PointerAction};
use tokio::time::Instant;

use super::error::ToolError;
use super::tools::{MAX_HOLD_MS, Output, PressKeysArgs};
use crate::control::{At, Intent};
use crate::session::{Actor, Overlay, SessionManager};

/// How long `long_press` holds the button when no `duration_ms` is given: longer than the 500–700 ms after which
/// toolkits and touch-style widgets treat a press as a long press.
pub const DEFAULT_LONG_PRESS_MS: u64 = 800;
/// The longest DOM `KeyboardEvent.code` name accepted (the longest real one, `MediaTrackPrevious`, has 18).
const MAX_KEY_CODE_LEN: usize = 32;

/// Arguments of `long_press`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LongPressArgs {
    /// Horizontal position in screen pixels.
    pub x: u32,
    /// Vertical position in screen pixels.
    pub y: u32,
    /// How long the button stays down, in ms (default 800, at most 10000).
    #[schemars(range(max = MAX_HOLD_MS))]
    pub duration_ms: Option<u64>,
    /// Which button (default left).
    pub button: Option<Button>,
    /// Screen id from list_screens. Default: the primary screen.
    pub screen: Option<String>,
}

/// Input that is down: releasing it is owed. [`Held::release`] does it in order; dropped while still owed (the
/// call was cancelled), it spawns the release on the gateway's runtime instead.
struct Held {
    gw: SessionManager,
    actor: Actor,
    screen: String,
    /// What undoes the press, in order (keys in reverse order of pressing).
    release: Vec<Intent>,
}

impl Held {
    fn new(gw: &SessionManager, actor: &Actor, screen: &str) -> Self {
        Self {
            gw: gw.clone(),
            actor: actor.clone(),
            screen: screen.to_owned(),
            release: Vec::new(),
        }
    }

    /// Releases everything now; shown to viewers with `overlay`. Cancelled half-way, the guard still owes it.
    async fn release(&mut self, overlay: Option<Overlay>) -> Result<(), ToolError> {
        if self.release.is_empty() {
            return Ok(());
        }
        self.gw
            .act(&self.actor, Some(&self.screen), &self.release, overlay)
            .await?;
        self.release.clear();
        Ok(())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.release.is_empty() {
            return;
        }
        let release = std::mem::take(&mut self.release);
        // Without a runtime the gateway is gone; the X11 backend releases held input when it closes.
        if tokio::runtime::Handle::try_current().is_err() {
            tracing::warn!(screen = %self.screen, "held input could not be released: no runtime");
            return;
        }
        let (gw, actor, screen) = (self.gw.clone(), self.actor.clone(), self.screen.clone());
        // Owned by the gateway, not the agent's connection: the release must run even when that connection is
        // what just closed.
        self.gw
            .spawn("mcp-release-held-input", Owner::Gateway, async move {
                match gw.act(&actor, Some(&screen), &release, None).await {
                    Ok(_) => tracing::debug!(%screen, "released input held by a cancelled call"),
                    Err(e) => {
                        tracing::warn!(%screen, error = %e, "could not release input held by a cancelled call");
                    }
                }
            });
    }
}

fn hold_length(value: Option<u64>, default: u64, name: &str) -> Result<Duration, ToolError> {
    let ms = value.unwrap_or(default);
    if ms > MAX_HOLD_MS {
        return Err(ToolError::invalid(format!(
            "{name} {ms} is too long (at most {MAX_HOLD_MS} ms)"
        )));
    }
    Ok(Duration::from_millis(ms))
}

fn button_name(b: Button) -> &'static str {
    match b {
        Button::Left => "left",
        Button::Middle => "middle",
        Button::Right => "right",
    }
}

fn overlay(action: &str, detail: String) -> Option<Overlay> {
    Some(Overlay {
        action: action.to_owned(),
        detail,
    })
}

/// `long_press`: moves to (x, y), presses the button, holds it `duration_ms`, releases it where the pointer is.
pub async fn long_press(
    gw: &SessionManager,
    actor: &Actor,
    args: LongPressArgs,
) -> Result<Output, ToolError> {
    let hold = hold_length(args.duration_ms, DEFAULT_LONG_PRESS_MS, "duration_ms")?;
    let (s, p) = super::tools::screen_point(gw, args.screen, args.x, args.y).await?;
    let button = args.button.unwrap_or_default();
    let name = button_name(button);
    let press = Intent::Pointer {
        action: PointerAction::Down,
        at: Some(At::Pixel { x: p.x, y: p.y }),
        button,
    };
    let mut held = Held::new(gw, actor, &s.id);
    // Owed before the press is sent: a call cancelled while the press is being injected still releases.
    held.release.push(Intent::Pointer {
        action: PointerAction::Up,
        at: None,
        button,
    });
    let detail = format!(
        "holding {name} at ({}, {}) for {} ms",
        p.x,
        p.y,
        hold.as_millis()
    );
    if let Err(e) = gw
        .act(actor, Some(&s.id), &[press], overlay("long_press", detail))
        .await
    {
        held.release(None).await?;
        return Err(e.into());
    }
    let pressed = Instant::now();
    tokio::time::sleep(hold).await;
    let done = format!("long-pressed {name} at ({}, {})", p.x, p.y);
    held.release(overlay("long_press", done.clone())).await?;
    let held_ms = pressed.elapsed().as_millis() as u64;
    Ok(Output::json_text(
        format!("{done} for {held_ms} ms on screen {}", s.id),
        json!({"screen": s.id, "x": p.x, "y": p.y, "button": name, "held_ms": held_ms}),
    ))
}

fn check_key_code(code: &str) -> Result<(), ToolError> {
    if code.is_empty()
        || code.len() > MAX_KEY_CODE_LEN
        || !code.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Err(ToolError::invalid(format!(
            "{code:?} is not a DOM KeyboardEvent.code name (like \"KeyA\", \"Enter\", \"ShiftLeft\")"
        )));
    }
    Ok(())
}

/// `press_keys` with `hold_ms`: the keys pressed in order, held, then released in reverse. A key that cannot be
/// pressed releases the ones already down before the error is returned.
pub async fn hold_keys(
    gw: &SessionManager,
    actor: &Actor,
    args: PressKeysArgs,
) -> Result<Output, ToolError> {
    let hold = hold_length(args.hold_ms, 0, "hold_ms")?;
    if args.keys.is_empty() || args.keys.len() > MAX_KEYS {
        return Err(ToolError::invalid(format!(
            "keys has {} entries; give 1 to {MAX_KEYS}",
            args.keys.len()
        )));
    }
    for code in &args.keys {
        check_key_code(code)?;
    }
    let s = gw.find_screen(args.screen).await?;
    let chord = args.keys.join("+");
    let mut held = Held::new(gw, actor, &s.id);
    for (i, code) in args.keys.iter().enumerate() {
        // Owed before the press is sent, like the button of a long press.
        held.release.insert(
            0,
            Intent::Key {
                action: KeyAction::Up,
                code: code.clone(),
            },
        );
        let down = Intent::Key {
            action: KeyAction::Down,
            code: code.clone(),
        };
        let shown = if i + 1 == args.keys.len() {
            overlay(
                "press_keys",
                format!("holding {chord} for {} ms", hold.as_millis()),
            )
        } else {
            None
        };
        if let Err(e) = gw.act(actor, Some(&s.id), &[down], shown).await {
            // The key that failed was not pressed (an unknown code cannot be released either).
            held.release.remove(0);
            held.release(None).await?;
            return Err(match ToolError::from(e) {
                ToolError::Invalid(m) | ToolError::Failed(m) => ToolError::Failed(format!(
                    "key {code:?} could not be pressed ({m}); nothing stays pressed"
                )),
                other => other,
            });
        }
    }
    let pressed = Instant::now();
    tokio::time::sleep(hold).await;
    held.release(overlay("press_keys", format!("released {chord}")))
        .await?;
    let held_ms = pressed.elapsed().as_millis() as u64;
    Ok(Output::json_text(
        format!("held {chord} for {held_ms} ms on screen {}", s.id),
        json!({"screen": s.id, "keys": args.keys, "held_ms": held_ms}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_are_bounded_and_keys_checked() {
        assert_eq!(
            hold_length(None, DEFAULT_LONG_PRESS_MS, "d").unwrap(),
            Duration::from_millis(800)
        );
        assert!(hold_length(Some(MAX_HOLD_MS), 0, "d").is_ok());
        let e = hold_length(Some(MAX_HOLD_MS + 1), 0, "hold_ms").unwrap_err();
        assert!(e.to_string().contains("hold_ms"), "{e}");
        assert!(check_key_code("ShiftLeft").is_ok());
        assert!(check_key_code("Shift Left").is_err());
        assert!(check_key_code(&"K".repeat(MAX_KEY_CODE_LEN + 1)).is_err());
    }

    #[test]
    fn long_press_arguments_name_their_limits() {
        let schema = serde_json::to_value(schemars::schema_for!(LongPressArgs)).unwrap();
        assert_eq!(schema["properties"]["duration_ms"]["maximum"], MAX_HOLD_MS);
        assert!(serde_json::from_value::<LongPressArgs>(json!({"x": 1, "y": 2, "ms": 3})).is_err());
    }
}
