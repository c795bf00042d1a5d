//! [`Intent`]: what a client wants done to a screen, whichever edge it came from. A viewer's `/ws` or
//! data-channel command ([`Intent::from_command`]) and an MCP input tool both become an intent; the intent says
//! which role it needs ([`Intent::required_role`], from the policy table) and which backend events carry it out on
//! a given screen ([`Intent::events`]). Pure: no I/O, no clock, tested without a runtime.

use sightline_limits as limits;
use sightline_media::{InputEvent, MouseButton, ScreenInfo};
use sightline_signaling::messages::{Button, KeyAction, PointerAction};
use sightline_signaling::{Command, Role};

use super::error::Error;
use super::policy::Action;

/// Pointer moves of a drag after the press: enough for applications that track motion (window moves, sliders,
/// text selection) to follow, few enough to take a few milliseconds.
pub const DRAG_STEPS: u32 = 10;

/// A position on a screen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum At {
    /// Normalised to the screen, 0..=1 each way (viewers: independent of the picture's scale).
    Normalised {
        /// 0 = left edge, 1 = right edge.
        x: f64,
        /// 0 = top edge, 1 = bottom edge.
        y: f64,
    },
    /// A screen pixel (agents: they read pixel sizes from screenshots).
    Pixel {
        /// 0 = left edge.
        x: u32,
        /// 0 = top edge.
        y: u32,
    },
}

impl At {
    /// The screen pixel, clamped to the screen.
    pub fn pixel(self, screen: &ScreenInfo) -> (u32, u32) {
        match self {
            Self::Normalised { x, y } => (to_pixel(x, screen.width), to_pixel(y, screen.height)),
            Self::Pixel { x, y } => (
                x.min(screen.width.saturating_sub(1)),
                y.min(screen.height.saturating_sub(1)),
            ),
        }
    }

    /// The normalised position (for viewers' overlays): a pixel's centre, so `floor(v × size)` is the pixel.
    pub fn normalised(self, screen: &ScreenInfo) -> (f64, f64) {
        match self {
            Self::Normalised { x, y } => (x, y),
            Self::Pixel { x, y } => (normalised(x, screen.width), normalised(y, screen.height)),
        }
    }
}

/// Something to do to a screen's pointer or keyboard.
#[derive(Clone, Debug, PartialEq)]
pub enum Intent {
    /// Move and/or press a button.
    Pointer {
        /// Down, up, click, double click or move.
        action: PointerAction,
        /// Where; `None` = where the pointer is.
        at: Option<At>,
        /// Which button (ignored for moves).
        button: Button,
    },
    /// Press at `from`, move in [`DRAG_STEPS`] steps, release at `to`.
    Drag {
        /// Where the button goes down.
        from: At,
        /// Where it is released.
        to: At,
        /// Which button.
        button: Button,
    },
    /// Turn the wheel, optionally after moving there.
    Wheel {
        /// Where; `None` = where the pointer is.
        at: Option<At>,
        /// Horizontal steps, positive = right.
        dx: f64,
        /// Vertical steps, positive = down.
        dy: f64,
    },
    /// A key by DOM `KeyboardEvent.code`.
    Key {
        /// Down, up, or press (down then up).
        action: KeyAction,
        /// `KeyA`, `Enter`, `ShiftLeft`, …
        code: String,
    },
    /// Type text as-is into the focused window.
    Text {
        /// Any Unicode.
        text: String,
    },
}

impl Intent {
    /// The intent of a wire command; `keyframe` and `quality` are about a viewer's own stream and the clipboard
    /// commands about the desktop's clipboard, not input.
    pub fn from_command(command: &Command) -> Option<Self> {
        Some(match command {
            Command::Pointer {
                action,
                position,
                button,
            } => Self::Pointer {
                action: *action,
                at: position.map(|(x, y)| At::Normalised { x, y }),
                button: *button,
            },
            Command::Wheel { dx, dy } => Self::Wheel {
                at: None,
                dx: *dx,
                dy: *dy,
            },
            Command::Key { action, code } => Self::Key {
                action: *action,
                code: code.clone(),
            },
            Command::Text { text } => Self::Text { text: text.clone() },
            Command::Keyframe
            | Command::Quality { .. }
            | Command::ClipboardSet { .. }
            | Command::ClipboardGet { .. } => return None,
        })
    }

    /// The policy action: every intent is input.
    pub const fn action(&self) -> Action {
        Action::Input
    }

    /// The lowest role that may carry it out.
    pub const fn required_role(&self) -> Role {
        self.action().required_role()
    }

    /// A short name for logs, the monitor and the audit trail.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Pointer { .. } => "pointer",
            Self::Drag { .. } => "drag",
            Self::Wheel { .. } => "wheel",
            Self::Key { .. } => "key",
            Self::Text { .. } => "text",
        }
    }

    /// The backend events that carry the intent out on `screen`, in order. Values beyond the shared limits are
    /// refused (every edge checks them first with its own wording; this is the last line).
    pub fn events(&self, screen: &ScreenInfo) -> Result<Vec<InputEvent>, Error> {
        let mut out = Vec::new();
        let move_to = |out: &mut Vec<InputEvent>, at: At| {
            let (x, y) = at.pixel(screen);
            out.push(InputEvent::PointerMove { x, y });
        };
        match self {
            Self::Pointer { action, at, button } => {
                if let Some(at) = at {
                    check_at(*at)?;
                    move_to(&mut out, *at);
                }
                let button = mouse_button(*button);
                let edge = |down| InputEvent::Button { button, down };
                let presses = match action {
                    PointerAction::Move => 0,
                    PointerAction::Down => {
                        out.push(edge(true));
                        0
                    }
                    PointerAction::Up => {
                        out.push(edge(false));
                        0
                    }
                    PointerAction::Click => 1,
                    PointerAction::Dblclick => 2,
                };
                for _ in 0..presses {
                    out.push(edge(true));
                    out.push(edge(false));
                }
            }
            Self::Drag { from, to, button } => {
                check_at(*from)?;
                check_at(*to)?;
                let button = mouse_button(*button);
                let (from, to) = (from.pixel(screen), to.pixel(screen));
                out.push(InputEvent::PointerMove {
                    x: from.0,
                    y: from.1,
                });
                out.push(InputEvent::Button { button, down: true });
                out.extend(
                    drag_path(from, to)
                        .into_iter()
                        .map(|(x, y)| InputEvent::PointerMove { x, y }),
                );
                out.push(InputEvent::Button {
                    button,
                    down: false,
                });
            }
            Self::Wheel { at, dx, dy } => {
                for (name, v) in [("dx", *dx), ("dy", *dy)] {
                    if !v.is_finite() || v.abs() > limits::MAX_WHEEL_STEPS {
                        return Err(Error::invalid(format!(
                            "{name} {v} is out of range (-{max}..={max} wheel steps)",
                            max = limits::MAX_WHEEL_STEPS
                        )));
                    }
                }
                if let Some(at) = at {
                    check_at(*at)?;
                    move_to(&mut out, *at);
                }
                out.push(InputEvent::Wheel { dx: *dx, dy: *dy });
            }
            Self::Key { action, code } => {
                let key = |down| InputEvent::Key {
                    code: code.clone(),
                    down,
                };
                match action {
                    KeyAction::Down => out.push(key(true)),
                    KeyAction::Up => out.push(key(false)),
                    KeyAction::Press => {
                        out.push(key(true));
                        out.push(key(false));
                    }
                }
            }
            Self::Text { text } => {
                let chars = text.chars().count();
                if chars > limits::MAX_TEXT_CHARS {
                    return Err(Error::invalid(format!(
                        "text must be at most {} characters",
                        limits::MAX_TEXT_CHARS
                    )));
                }
                out.push(InputEvent::Text { text: text.clone() });
            }
        }
        Ok(out)
    }

    /// Where the intent acts, if it has one place (the end of a drag), for viewers' overlays.
    pub fn at(&self) -> Option<At> {
        match self {
            Self::Pointer { at, .. } | Self::Wheel { at, .. } => *at,
            Self::Drag { to, .. } => Some(*to),
            Self::Key { .. } | Self::Text { .. } => None,
        }
    }
}

fn check_at(at: At) -> Result<(), Error> {
    match at {
        At::Normalised { x, y } if !(0.0..=1.0).contains(&x) || !(0.0..=1.0).contains(&y) => Err(
            Error::invalid(format!("position ({x}, {y}) is outside 0..=1")),
        ),
        _ => Ok(()),
    }
}

/// The backend's button for a wire button.
pub fn mouse_button(b: Button) -> MouseButton {
    match b {
        Button::Left => MouseButton::Left,
        Button::Middle => MouseButton::Middle,
        Button::Right => MouseButton::Right,
    }
}

/// Maps a normalised coordinate to a pixel: `floor(v × size)`, clamped to the last pixel.
pub fn to_pixel(v: f64, size: u32) -> u32 {
    ((v * f64::from(size)).floor().max(0.0) as u32).min(size.saturating_sub(1))
}

/// The normalised coordinate of a pixel's centre, as viewers receive it: `floor(result × size) == pixel`.
pub fn normalised(pixel: u32, size: u32) -> f64 {
    (f64::from(pixel) + 0.5) / f64::from(size.max(1))
}

/// The pointer positions of a drag after `from`: [`DRAG_STEPS`] evenly spaced moves ending exactly on `to`, with
/// repeated positions (short drags) left out.
pub fn drag_path(from: (u32, u32), to: (u32, u32)) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::with_capacity(DRAG_STEPS as usize);
    let lerp = |a: u32, b: u32, i: u32| {
        let v = f64::from(a) + (f64::from(b) - f64::from(a)) * f64::from(i) / f64::from(DRAG_STEPS);
        v.round() as u32
    };
    for i in 1..=DRAG_STEPS {
        let p = (lerp(from.0, to.0, i), lerp(from.1, to.1, i));
        if out.last() != Some(&p) && (p != from || i == DRAG_STEPS) {
            out.push(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_media::SourceKind;

    fn screen() -> ScreenInfo {
        ScreenInfo {
            id: "0".into(),
            name: "s".into(),
            width: 1920,
            height: 1080,
            source: SourceKind::Synthetic,
            primary: true,
        }
    }

    #[test]
    fn normalised_coordinates_map_to_pixels() {
        assert_eq!(to_pixel(0.0, 1920), 0);
        assert_eq!(to_pixel(1.0, 1920), 1919);
        assert_eq!(to_pixel((100.0 + 0.5) / 1920.0, 1920), 100);
        assert_eq!(to_pixel(0.5, 1080), 540);
        for px in [0, 1, 959, 1919] {
            assert_eq!(to_pixel(normalised(px, 1920), 1920), px);
        }
    }

    #[test]
    fn click_moves_then_presses_and_releases() {
        let c = Command::Pointer {
            action: PointerAction::Click,
            position: Some((0.5, 0.5)),
            button: Button::Right,
        };
        let ev = Intent::from_command(&c).unwrap().events(&screen()).unwrap();
        assert_eq!(
            ev,
            vec![
                InputEvent::PointerMove { x: 960, y: 540 },
                InputEvent::Button {
                    button: MouseButton::Right,
                    down: true
                },
                InputEvent::Button {
                    button: MouseButton::Right,
                    down: false
                },
            ]
        );
        let dbl = Intent::Pointer {
            action: PointerAction::Dblclick,
            at: None,
            button: Button::Left,
        };
        assert_eq!(dbl.events(&screen()).unwrap().len(), 4);
    }

    #[test]
    fn an_agent_click_in_pixels_is_the_same_events() {
        let agent = Intent::Pointer {
            action: PointerAction::Click,
            at: Some(At::Pixel { x: 960, y: 540 }),
            button: Button::Right,
        };
        let viewer = Intent::Pointer {
            action: PointerAction::Click,
            at: Some(At::Normalised { x: 0.5, y: 0.5 }),
            button: Button::Right,
        };
        assert_eq!(agent.events(&screen()), viewer.events(&screen()));
    }

    #[test]
    fn key_press_is_down_then_up_and_stream_commands_are_not_input() {
        let c = Command::Key {
            action: KeyAction::Press,
            code: "KeyA".into(),
        };
        let intent = Intent::from_command(&c).unwrap();
        assert_eq!(intent.events(&screen()).unwrap().len(), 2);
        assert_eq!(intent.required_role(), Role::Control);
        assert!(Intent::from_command(&Command::Keyframe).is_none());
    }

    #[test]
    fn a_drag_presses_moves_in_steps_and_releases_at_the_end() {
        let d = Intent::Drag {
            from: At::Pixel { x: 0, y: 0 },
            to: At::Pixel { x: 100, y: 50 },
            button: Button::Left,
        };
        let ev = d.events(&screen()).unwrap();
        assert_eq!(ev.len(), 2 + DRAG_STEPS as usize + 1);
        assert_eq!(ev[ev.len() - 2], InputEvent::PointerMove { x: 100, y: 50 });
        let path = drag_path((100, 100), (300, 150));
        assert_eq!(path.len(), DRAG_STEPS as usize);
        assert_eq!(path[0], (120, 105));
        assert_eq!(*path.last().unwrap(), (300, 150));
        // A short drag has no repeated positions, and a drag onto itself still ends with one move.
        assert_eq!(
            drag_path((100, 100), (102, 100)),
            vec![(101, 100), (102, 100)]
        );
        assert_eq!(drag_path((5, 5), (5, 5)), vec![(5, 5)]);
    }

    #[test]
    fn limits_are_enforced_last() {
        let wheel = Intent::Wheel {
            at: None,
            dx: 0.0,
            dy: limits::MAX_WHEEL_STEPS + 1.0,
        };
        assert!(wheel.events(&screen()).is_err());
        let text = Intent::Text {
            text: "x".repeat(limits::MAX_TEXT_CHARS + 1),
        };
        assert!(text.events(&screen()).is_err());
        let outside = Intent::Pointer {
            action: PointerAction::Move,
            at: Some(At::Normalised { x: 1.5, y: 0.0 }),
            button: Button::Left,
        };
        assert!(outside.events(&screen()).is_err());
    }
}
