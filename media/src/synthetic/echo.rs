//! The input echo: the input state the synthetic screen draws, edited by every injected event.
//!
//! [`InputEcho::apply`] keeps the pointer, button and key counts, the wheel total and the typed buffer (the last
//! [`TYPED_MAX`] characters: `Text` appends, a `Key` down of a key that types a character on a US layout appends
//! it with Shift honoured, `Backspace` removes one, `Enter` appends `'\n'`); [`InputEcho::echo`] turns it into the
//! barcode fields. An AI agent's actions are kept apart ([`InputEcho::mark_agent`]): drawn, but not in the echo.

use std::collections::VecDeque;

use crate::barcode::{self, Echo};
use crate::{AgentMark, InputEvent, MouseButton};

/// Characters kept in the typed buffer.
pub const TYPED_MAX: usize = 64;
/// Click markers kept on screen.
pub const CLICKS_SHOWN: usize = 8;

/// The input state echoed into the picture.
#[derive(Clone, Debug, Default)]
pub struct InputEcho {
    pub(super) pointer: (u32, u32),
    button_presses: u16,
    wheel_dy: f64,
    pub(super) typed: VecDeque<char>,
    key_presses: u16,
    shift_left: bool,
    shift_right: bool,
    pub(super) last_key: String,
    pub(super) clicks: VecDeque<(u32, u32, MouseButton)>,
    pub(super) agent: Option<AgentOverlay>,
}

/// What an AI agent did last, drawn as an agent cursor with a label and markers of its recent clicks. It is not
/// part of the echo barcodes: those show the input itself, whoever sent it.
#[derive(Clone, Debug, Default)]
pub(super) struct AgentOverlay {
    pub(super) at: (u32, u32),
    pub(super) label: String,
    pub(super) clicks: VecDeque<(u32, u32)>,
}

impl InputEcho {
    /// Applies one event on a `width`×`height` screen.
    pub fn apply(&mut self, event: &InputEvent, width: u32, height: u32) {
        match event {
            InputEvent::PointerMove { x, y } => {
                self.pointer = ((*x).min(width - 1), (*y).min(height - 1));
            }
            InputEvent::Button { button, down } => {
                if *down {
                    self.button_presses = self.button_presses.wrapping_add(1);
                    if self.clicks.len() == CLICKS_SHOWN {
                        self.clicks.pop_front();
                    }
                    self.clicks
                        .push_back((self.pointer.0, self.pointer.1, *button));
                }
            }
            InputEvent::Wheel { dy, .. } => {
                if dy.is_finite() {
                    self.wheel_dy += dy;
                }
            }
            InputEvent::Key { code, down } => {
                let shift = matches!(code.as_str(), "ShiftLeft" | "ShiftRight");
                if code == "ShiftLeft" {
                    self.shift_left = *down;
                }
                if code == "ShiftRight" {
                    self.shift_right = *down;
                }
                if !*down {
                    return;
                }
                self.key_presses = self.key_presses.wrapping_add(1);
                self.last_key.clone_from(code);
                if shift {
                    return;
                }
                match code.as_str() {
                    "Backspace" => {
                        self.typed.pop_back();
                    }
                    "Enter" | "NumpadEnter" => self.push('\n'),
                    _ => {
                        if let Some(c) = us_char(code, self.shift_left || self.shift_right) {
                            self.push(c);
                        }
                    }
                }
            }
            InputEvent::Text { text } => text.chars().for_each(|c| self.push(c)),
        }
    }

    /// Records an agent's action (see [`Desktop::show_agent`](crate::Desktop::show_agent)).
    pub fn mark_agent(&mut self, mark: &AgentMark, width: u32, height: u32) {
        let overlay = self.agent.get_or_insert_with(AgentOverlay::default);
        if let Some((x, y)) = mark.at {
            overlay.at = (x.min(width - 1), y.min(height - 1));
            if mark.click {
                if overlay.clicks.len() == CLICKS_SHOWN {
                    overlay.clicks.pop_front();
                }
                overlay.clicks.push_back(overlay.at);
            }
        }
        overlay.label = format!(
            "agent: {}",
            mark.action.chars().take(32).collect::<String>()
        );
    }

    fn push(&mut self, c: char) {
        if self.typed.len() == TYPED_MAX {
            self.typed.pop_front();
        }
        self.typed.push_back(c);
    }

    /// The typed buffer as a string.
    pub fn typed(&self) -> String {
        self.typed.iter().collect()
    }

    /// The barcode fields of this state.
    pub fn echo(&self) -> Echo {
        let typed = self.typed();
        Echo {
            pointer_x: self.pointer.0 as u16,
            pointer_y: self.pointer.1 as u16,
            button_presses: self.button_presses,
            wheel_dy: self
                .wheel_dy
                .round()
                .clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16,
            typed_len: self.typed.len() as u16,
            typed_hash: barcode::fnv1a32(typed.as_bytes()),
            key_presses: self.key_presses,
        }
    }
}

/// The character a key produces on a US layout, if any.
pub fn us_char(code: &str, shift: bool) -> Option<char> {
    if let Some(letter) = code.strip_prefix("Key")
        && letter.len() == 1
    {
        let c = letter.chars().next()?;
        if c.is_ascii_uppercase() {
            return Some(if shift { c } else { c.to_ascii_lowercase() });
        }
    }
    if let Some(d) = code.strip_prefix("Digit")
        && let Ok(i) = d.parse::<usize>()
        && i < 10
    {
        return Some(if shift {
            ")!@#$%^&*(".as_bytes()[i] as char
        } else {
            (b'0' + i as u8) as char
        });
    }
    if let Some(d) = code.strip_prefix("Numpad")
        && let Ok(i) = d.parse::<u8>()
        && i < 10
    {
        return Some((b'0' + i) as char);
    }
    let (plain, shifted) = match code {
        "Minus" => ('-', '_'),
        "Equal" => ('=', '+'),
        "BracketLeft" => ('[', '{'),
        "BracketRight" => (']', '}'),
        "Backslash" => ('\\', '|'),
        "Semicolon" => (';', ':'),
        "Quote" => ('\'', '"'),
        "Backquote" => ('`', '~'),
        "Comma" => (',', '<'),
        "Period" => ('.', '>'),
        "Slash" => ('/', '?'),
        "Space" => (' ', ' '),
        "Tab" => ('\t', '\t'),
        "NumpadAdd" => ('+', '+'),
        "NumpadSubtract" => ('-', '-'),
        "NumpadMultiply" => ('*', '*'),
        "NumpadDivide" => ('/', '/'),
        "NumpadDecimal" => ('.', '.'),
        _ => return None,
    };
    Some(if shift { shifted } else { plain })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_buffer_keeps_the_last_64_characters() {
        let mut echo = InputEcho::default();
        let text: String = (0..100)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        echo.apply(&InputEvent::Text { text: text.clone() }, 100, 100);
        assert_eq!(echo.typed(), text[36..]);
        assert_eq!(echo.echo().typed_len, 64);
    }

    #[test]
    fn us_layout() {
        assert_eq!(us_char("KeyA", false), Some('a'));
        assert_eq!(us_char("KeyA", true), Some('A'));
        assert_eq!(us_char("Digit2", true), Some('@'));
        assert_eq!(us_char("Digit0", false), Some('0'));
        assert_eq!(us_char("Slash", true), Some('?'));
        assert_eq!(us_char("Numpad7", false), Some('7'));
        assert_eq!(us_char("ArrowLeft", false), None);
        assert_eq!(us_char("Keyboard", false), None);
    }
}
