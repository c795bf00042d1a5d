//! Input injection through XTEST: the events an X server would get from a real mouse and keyboard.
//!
//! - Pointer moves are absolute, in pixels of the monitor plus its offset inside its X screen. Within the
//!   pointer's current X screen they are XTEST motions; to reach another screen of a multi-screen display
//!   (`:N.1`) the pointer is warped there, because servers ignore the screen an XTEST motion names.
//! - Buttons 1/2/3 are the left/middle/right buttons; the wheel is buttons 4/5 (up/down) and 6/7 (left/right),
//!   one click per step, with fractional steps accumulated per screen ([`WheelAccumulator`]).
//! - Keys are named by DOM code, turned into a keysym ([`keymap::keysyms_for_code`]) and pressed on whatever
//!   keycode the server's layout gives that keysym.
//! - Text is typed character by character on the keycode and shift level that produce it; a character the layout
//!   lacks is typed on a borrowed spare keycode, remapped for the moment and restored afterwards.
//!
//! Every injection ends with a round trip, so when `inject` returns the server has processed the events in order.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use x11rb::connection::Connection;
use x11rb::protocol::xproto::{self, ConnectionExt as _, Window};
use x11rb::protocol::xtest::ConnectionExt as _;
use x11rb::rust_connection::RustConnection;

use super::display::XError;
use super::keymap::{self, KeyStroke, KeyboardMap, NO_SYMBOL, XK_SHIFT_L};
use super::layout::Monitor;
use super::wheel::WheelAccumulator;
use crate::{InputEvent, MediaError, MouseButton};

/// Longest text one event may type (characters): [`sightline_limits::MAX_TEXT_CHARS`], the bound every edge
/// enforces. Typing is a few XTEST requests per character; longer texts would hold the input lock for seconds, so
/// they are refused rather than truncated.
pub(crate) const MAX_TEXT_CHARS: usize = sightline_limits::MAX_TEXT_CHARS;

/// How long a borrowed keycode keeps its temporary meaning after the last key on it was sent. Clients translate a
/// keycode with the keymap they hold when they *handle* the event; restoring the keycode before a client has read
/// its key event would make it see nothing. 50 ms is far above the few milliseconds an X client needs to handle an
/// event, and is paid once per text that needs borrowed keycodes, not per character.
const REMAP_SETTLE: Duration = Duration::from_millis(50);

const BUTTON_WHEEL_UP: u8 = 4;
const BUTTON_WHEEL_DOWN: u8 = 5;
const BUTTON_WHEEL_LEFT: u8 = 6;
const BUTTON_WHEEL_RIGHT: u8 = 7;

/// One batch of typing: temporary keycode bindings, then the strokes that use them (and the regular keymap).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TextChunk {
    /// `(spare keycode, keysym)` to bind before the strokes and restore after them.
    pub bindings: Vec<(u8, u32)>,
    pub strokes: Vec<KeyStroke>,
}

/// Plans how to type `text` on `map`: characters on the layout become strokes with their shift level; the others
/// are bound to `spare` keycodes, as many distinct ones at once as there are spares, in as many chunks as needed.
/// `shift` and `altgr` say whether those modifiers can be pressed (a keycode exists for them).
pub(crate) fn plan_text(
    map: &KeyboardMap,
    text: &str,
    spare: &[u8],
    shift: bool,
    altgr: bool,
) -> Result<Vec<TextChunk>, MediaError> {
    let count = text.chars().count();
    if count > MAX_TEXT_CHARS {
        return Err(MediaError::invalid(
            "text",
            format!("{count} characters; at most {MAX_TEXT_CHARS} per event"),
        ));
    }
    let mut chunks = vec![TextChunk::default()];
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' && chars.peek() == Some(&'\n') {
            continue; // "\r\n" is one Enter
        }
        let keysyms = keymap::keysyms_for_char(c).ok_or_else(|| {
            MediaError::invalid(
                "text",
                format!("control character U+{:04X} cannot be typed", u32::from(c)),
            )
        })?;
        let on_layout = keysyms
            .iter()
            .filter_map(|&k| map.stroke_for_char(k, altgr))
            .find(|s| shift || !s.level.shift);
        let stroke = match on_layout {
            Some(s) => s,
            None => {
                let keysym = keysyms[0];
                let chunk = chunks.last_mut().expect("never empty");
                let keycode = match chunk.bindings.iter().find(|&&(_, k)| k == keysym) {
                    Some(&(keycode, _)) => keycode,
                    None => {
                        if spare.is_empty() {
                            return Err(MediaError::Input(format!(
                                "cannot type {c:?}: it is not on the keyboard layout and no keycode is free to borrow"
                            )));
                        }
                        if chunk.bindings.len() == spare.len() {
                            chunks.push(TextChunk::default());
                        }
                        let chunk = chunks.last_mut().expect("never empty");
                        let keycode = spare[chunk.bindings.len()];
                        chunk.bindings.push((keycode, keysym));
                        keycode
                    }
                };
                KeyStroke {
                    keycode,
                    level: keymap::Level {
                        shift: false,
                        altgr: false,
                    },
                }
            }
        };
        chunks.last_mut().expect("never empty").strokes.push(stroke);
    }
    chunks.retain(|c| !c.strokes.is_empty());
    Ok(chunks)
}

/// Input state kept between events on the desktop's control connection.
#[derive(Default)]
pub(crate) struct InputState {
    /// The server's keyboard mapping; `None` after a MappingNotify until the next key needs it.
    keymap: Option<KeyboardMap>,
    /// Fractional wheel steps per screen id (bounded by the number of monitors: ids are checked first).
    wheels: HashMap<String, WheelAccumulator>,
    /// Keys (DOM code → borrowed keycode) pressed on a spare keycode because the layout lacks their keysym; the
    /// keycode is restored when the key is released.
    borrowed_keys: HashMap<String, u8>,
    /// Keycodes and buttons currently held down by viewers, released when the desktop closes.
    pressed_keys: BTreeSet<u8>,
    pressed_buttons: BTreeSet<u8>,
}

impl InputState {
    /// Forgets the keyboard mapping (someone changed it).
    pub(crate) fn keymap_changed(&mut self) {
        self.keymap = None;
    }

    fn keymap(&mut self, conn: &RustConnection) -> Result<&KeyboardMap, XError> {
        if self.keymap.is_none() {
            let setup = conn.setup();
            let (min, max) = (setup.min_keycode, setup.max_keycode);
            let keys = conn.get_keyboard_mapping(min, max - min + 1)?;
            let mods = conn.get_modifier_mapping()?;
            let (keys, mods) = (keys.reply()?, mods.reply()?);
            self.keymap = Some(KeyboardMap::new(
                min,
                keys.keysyms_per_keycode,
                keys.keysyms,
                mods.keycodes,
            ));
        }
        Ok(self.keymap.as_ref().expect("loaded above"))
    }

    /// Injects one event on `monitor` (whose X screen has root window `root`) and waits until the server has
    /// processed it.
    pub(crate) fn inject(
        &mut self,
        conn: &RustConnection,
        root: Window,
        monitor: &Monitor,
        event: &InputEvent,
    ) -> Result<(), XError> {
        match event {
            InputEvent::PointerMove { x, y } => {
                let x = monitor.x + (*x).min(monitor.info.width.saturating_sub(1)) as i32;
                let y = monitor.y + (*y).min(monitor.info.height.saturating_sub(1)) as i32;
                // X servers ignore the root of an XTEST motion (xserver Xext/xtest.c: "FIXME: Xinerama!") and
                // move within the pointer's current screen, so reaching another X screen takes a warp.
                if conn.query_pointer(root)?.reply()?.same_screen {
                    fake(conn, xproto::MOTION_NOTIFY_EVENT, 0, root, x, y)?;
                } else {
                    let clamp = |v: i32| v.clamp(0, i32::from(i16::MAX)) as i16;
                    conn.warp_pointer(x11rb::NONE, root, 0, 0, 0, 0, clamp(x), clamp(y))?;
                }
            }
            InputEvent::Button { button, down } => {
                let detail = match button {
                    MouseButton::Left => 1,
                    MouseButton::Middle => 2,
                    MouseButton::Right => 3,
                };
                self.button(conn, detail, *down)?;
            }
            InputEvent::Wheel { dx, dy } => {
                if !dx.is_finite() || !dy.is_finite() {
                    return Err(XError::Refused(MediaError::invalid(
                        "wheel delta",
                        "must be a finite number",
                    )));
                }
                let (sx, sy) = self
                    .wheels
                    .entry(monitor.info.id.clone())
                    .or_default()
                    .add(*dx, *dy);
                let clicks = [
                    (sy, BUTTON_WHEEL_DOWN, BUTTON_WHEEL_UP),
                    (sx, BUTTON_WHEEL_RIGHT, BUTTON_WHEEL_LEFT),
                ];
                for (steps, positive, negative) in clicks {
                    let button = if steps > 0 { positive } else { negative };
                    for _ in 0..steps.unsigned_abs() {
                        fake(conn, xproto::BUTTON_PRESS_EVENT, button, x11rb::NONE, 0, 0)?;
                        fake(
                            conn,
                            xproto::BUTTON_RELEASE_EVENT,
                            button,
                            x11rb::NONE,
                            0,
                            0,
                        )?;
                    }
                }
            }
            InputEvent::Key { code, down } => self.key(conn, code, *down)?,
            InputEvent::Text { text } => self.text(conn, text)?,
        }
        sync(conn)
    }

    fn button(&mut self, conn: &RustConnection, detail: u8, down: bool) -> Result<(), XError> {
        if down {
            fake(conn, xproto::BUTTON_PRESS_EVENT, detail, x11rb::NONE, 0, 0)?;
            self.pressed_buttons.insert(detail);
        } else {
            fake(
                conn,
                xproto::BUTTON_RELEASE_EVENT,
                detail,
                x11rb::NONE,
                0,
                0,
            )?;
            self.pressed_buttons.remove(&detail);
        }
        Ok(())
    }

    fn key(&mut self, conn: &RustConnection, code: &str, down: bool) -> Result<(), XError> {
        let keysyms = keymap::keysyms_for_code(code).ok_or_else(|| {
            XError::Refused(MediaError::Input(format!("unknown key code {code:?}")))
        })?;
        if let Some(&keycode) = self.borrowed_keys.get(code) {
            // Held on a borrowed keycode: repeat presses there; the release gives the keycode back.
            if down {
                return self.press(conn, keycode, true);
            }
            self.press(conn, keycode, false)?;
            self.borrowed_keys.remove(code);
            sync(conn)?;
            std::thread::sleep(REMAP_SETTLE);
            return bind(conn, keycode, NO_SYMBOL);
        }
        let map = self.keymap(conn)?;
        if let Some(keycode) = keysyms.iter().find_map(|&k| map.keycode_for_key(k)) {
            return self.press(conn, keycode, down);
        }
        if !down {
            return Ok(()); // released without ever being pressed: nothing is down
        }
        let keycode = map
            .spare_keycodes()
            .into_iter()
            .find(|k| !self.borrowed_keys.values().any(|b| b == k))
            .ok_or_else(|| {
                XError::Refused(MediaError::Input(format!(
                    "key {code:?} is not on the keyboard layout and no keycode is free to borrow"
                )))
            })?;
        bind(conn, keycode, keysyms[0])?;
        self.borrowed_keys.insert(code.to_owned(), keycode);
        self.press(conn, keycode, true)
    }

    fn press(&mut self, conn: &RustConnection, keycode: u8, down: bool) -> Result<(), XError> {
        if down {
            fake(conn, xproto::KEY_PRESS_EVENT, keycode, x11rb::NONE, 0, 0)?;
            self.pressed_keys.insert(keycode);
        } else {
            fake(conn, xproto::KEY_RELEASE_EVENT, keycode, x11rb::NONE, 0, 0)?;
            self.pressed_keys.remove(&keycode);
        }
        Ok(())
    }

    fn text(&mut self, conn: &RustConnection, text: &str) -> Result<(), XError> {
        let borrowed: Vec<u8> = self.borrowed_keys.values().copied().collect();
        let map = self.keymap(conn)?;
        let shift = map.keycode_for_key(XK_SHIFT_L);
        let altgr = map.altgr_keycode();
        let spare: Vec<u8> = map
            .spare_keycodes()
            .into_iter()
            .filter(|k| !borrowed.contains(k))
            .collect();
        let chunks = plan_text(map, text, &spare, shift.is_some(), altgr.is_some())
            .map_err(XError::Refused)?;
        for chunk in chunks {
            for &(keycode, keysym) in &chunk.bindings {
                bind(conn, keycode, keysym)?;
            }
            for stroke in &chunk.strokes {
                let mods: Vec<u8> = [(stroke.level.shift, shift), (stroke.level.altgr, altgr)]
                    .into_iter()
                    .filter_map(|(wanted, keycode)| keycode.filter(|_| wanted))
                    .collect();
                for &m in &mods {
                    fake(conn, xproto::KEY_PRESS_EVENT, m, x11rb::NONE, 0, 0)?;
                }
                fake(
                    conn,
                    xproto::KEY_PRESS_EVENT,
                    stroke.keycode,
                    x11rb::NONE,
                    0,
                    0,
                )?;
                fake(
                    conn,
                    xproto::KEY_RELEASE_EVENT,
                    stroke.keycode,
                    x11rb::NONE,
                    0,
                    0,
                )?;
                for &m in mods.iter().rev() {
                    fake(conn, xproto::KEY_RELEASE_EVENT, m, x11rb::NONE, 0, 0)?;
                }
            }
            if !chunk.bindings.is_empty() {
                sync(conn)?;
                std::thread::sleep(REMAP_SETTLE);
                for &(keycode, _) in &chunk.bindings {
                    bind(conn, keycode, NO_SYMBOL)?;
                }
            }
        }
        Ok(())
    }

    /// Releases every key and button a viewer left down and gives back borrowed keycodes.
    pub(crate) fn release_all(&mut self, conn: &RustConnection) -> Result<(), XError> {
        for keycode in std::mem::take(&mut self.pressed_keys) {
            fake(conn, xproto::KEY_RELEASE_EVENT, keycode, x11rb::NONE, 0, 0)?;
        }
        for button in std::mem::take(&mut self.pressed_buttons) {
            fake(
                conn,
                xproto::BUTTON_RELEASE_EVENT,
                button,
                x11rb::NONE,
                0,
                0,
            )?;
        }
        for (_, keycode) in self.borrowed_keys.drain() {
            bind(conn, keycode, NO_SYMBOL)?;
        }
        sync(conn)
    }
}

/// Sends one XTEST event (no delay, core device).
fn fake(
    conn: &RustConnection,
    kind: u8,
    detail: u8,
    root: Window,
    x: i32,
    y: i32,
) -> Result<(), XError> {
    let clamp = |v: i32| v.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
    conn.xtest_fake_input(
        kind,
        detail,
        x11rb::CURRENT_TIME,
        root,
        clamp(x),
        clamp(y),
        0,
    )?;
    Ok(())
}

/// Gives `keycode` the single meaning `keysym` at both shift levels (`NO_SYMBOL` restores an empty key).
fn bind(conn: &RustConnection, keycode: u8, keysym: u32) -> Result<(), XError> {
    conn.change_keyboard_mapping(1, keycode, 2, &[keysym, keysym])?;
    Ok(())
}

/// Waits until the server has processed everything sent so far (and surfaces errors it reported).
fn sync(conn: &RustConnection) -> Result<(), XError> {
    conn.get_input_focus()?.reply()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::x11::keymap::Level;

    fn map() -> KeyboardMap {
        // 8 spare, 9 spare, 10 "a A", 11 "1 !", 12 Shift_L, 13 space, 14 Return.
        let syms = vec![
            0,
            0, // 8
            0,
            0, // 9
            0x61,
            0x41, // 10
            0x31,
            0x21, // 11
            XK_SHIFT_L,
            0, // 12
            0x20,
            0, // 13
            keymap::XK_RETURN,
            0, // 14
        ];
        KeyboardMap::new(8, 2, syms, vec![12])
    }

    const PLAIN: Level = Level {
        shift: false,
        altgr: false,
    };
    const SHIFT: Level = Level {
        shift: true,
        altgr: false,
    };

    fn stroke(keycode: u8, level: Level) -> KeyStroke {
        KeyStroke { keycode, level }
    }

    #[test]
    fn text_on_the_layout_needs_no_bindings() {
        let chunks = plan_text(&map(), "aA!\r\n", &[9, 8], true, false).expect("typable");
        assert_eq!(
            chunks,
            [TextChunk {
                bindings: vec![],
                strokes: vec![
                    stroke(10, PLAIN),
                    stroke(10, SHIFT),
                    stroke(11, SHIFT),
                    stroke(14, PLAIN)
                ],
            }]
        );
    }

    #[test]
    fn missing_characters_borrow_spares_in_chunks() {
        let chunks = plan_text(&map(), "é€é漢a", &[9, 8], true, false).expect("typable");
        assert_eq!(
            chunks,
            [
                TextChunk {
                    bindings: vec![(9, 0xe9), (8, 0x20ac)],
                    strokes: vec![stroke(9, PLAIN), stroke(8, PLAIN), stroke(9, PLAIN)],
                },
                TextChunk {
                    bindings: vec![(9, 0x0100_6f22)],
                    strokes: vec![stroke(9, PLAIN), stroke(10, PLAIN)],
                },
            ]
        );
    }

    #[test]
    fn shifted_characters_are_borrowed_when_no_shift_key_exists() {
        let chunks = plan_text(&map(), "A", &[9], false, false).expect("typable");
        assert_eq!(chunks[0].bindings, [(9, 0x41)]);
    }

    #[test]
    fn untypable_text_is_refused_before_anything_is_sent() {
        assert!(matches!(
            plan_text(&map(), "a\u{7}", &[9], true, false),
            Err(MediaError::Invalid { .. })
        ));
        assert!(matches!(
            plan_text(&map(), "é", &[], true, false),
            Err(MediaError::Input(_))
        ));
        let long = "a".repeat(MAX_TEXT_CHARS + 1);
        assert!(matches!(
            plan_text(&map(), &long, &[9], true, false),
            Err(MediaError::Invalid { .. })
        ));
        assert_eq!(
            plan_text(&map(), "", &[9], true, false).expect("empty is fine"),
            []
        );
    }
}
