//! Input events as the backends receive them: already mapped to the pixels of one screen.
//!
//! The wire protocol (normalised coordinates, DOM key codes) is translated into these by the session manager; MCP
//! tools build them directly from screen pixels. Both paths end in [`crate::Desktop::inject`].

use serde::{Deserialize, Serialize};

/// A mouse button.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MouseButton {
    /// Primary button (X11 button 1).
    Left,
    /// Middle button (X11 button 2).
    Middle,
    /// Secondary button (X11 button 3).
    Right,
}

/// One input event for one screen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InputEvent {
    /// Moves the pointer to (x, y) in pixels of the screen, origin top-left. Callers clamp to the screen.
    PointerMove {
        /// Horizontal pixel, `0..width`.
        x: u32,
        /// Vertical pixel, `0..height`.
        y: u32,
    },
    /// Presses or releases a button at the current pointer position.
    Button {
        /// Which button.
        button: MouseButton,
        /// `true` for press, `false` for release.
        down: bool,
    },
    /// Scrolls by whole or fractional wheel steps (one step = one notch of a wheel). Positive `dy` scrolls down
    /// (like DOM `deltaY`), positive `dx` scrolls right. Backends accumulate fractions.
    Wheel {
        /// Horizontal steps.
        dx: f64,
        /// Vertical steps.
        dy: f64,
    },
    /// Presses or releases a key named by its DOM `KeyboardEvent.code` (`"KeyA"`, `"ShiftLeft"`, `"Enter"`).
    Key {
        /// The DOM code.
        code: String,
        /// `true` for press, `false` for release.
        down: bool,
    },
    /// Types Unicode text, including characters absent from the keymap.
    Text {
        /// The text.
        text: String,
    },
}
