//! Keyboard translation without I/O: DOM `KeyboardEvent.code` → keysym, character ↔ keysym, and a snapshot of
//! the server's core keyboard mapping that answers "which keycode (and which shift level) produces this keysym"
//! and "which keycodes are free to borrow".
//!
//! Keys are sent by *meaning*, not by scan code: `"KeyA"` becomes the keysym `a` and then whatever keycode the
//! server's current layout gives `a`. That keeps viewer shortcuts working on a non-US server layout at the cost of
//! reproducing the viewer's physical layout, which is what people driving a remote screen expect.

use super::keysyms::{CHAR_TO_KEYSYM, KEYSYM_TO_CHAR};

/// The X `NoSymbol` keysym: an empty slot of the keyboard mapping.
pub const NO_SYMBOL: u32 = 0;

/// The keysym `Shift_L`, held for level-1 (shifted) characters.
pub const XK_SHIFT_L: u32 = 0xffe1;
/// The keysym `ISO_Level3_Shift` (AltGr), held for level-2 characters.
pub const XK_ISO_LEVEL3_SHIFT: u32 = 0xfe03;
/// `Return`: typed for `'\n'` in text.
pub const XK_RETURN: u32 = 0xff0d;
/// `Tab`: typed for `'\t'` in text.
pub const XK_TAB: u32 = 0xff09;

/// Unicode keysyms are `UNICODE_KEYSYM_BASE + code point` (X11 keysym encoding, appendix A of the protocol).
const UNICODE_KEYSYM_BASE: u32 = 0x0100_0000;

/// The keysyms a DOM `KeyboardEvent.code` stands for, in order of preference (the first one found on the
/// server's keymap is pressed; if none is, the first one is mapped onto a spare keycode). `None` for codes the
/// UI Events spec does not define or that X has no keysym for.
pub fn keysyms_for_code(code: &str) -> Option<&'static [u32]> {
    // Letters and digits are computed; everything else is a table. Keysym values from <X11/keysymdef.h> and
    // <X11/XF86keysym.h>; code names from https://www.w3.org/TR/uievents-code/ (plus the older Firefox names
    // OSLeft/OSRight and VolumeMute/VolumeDown/VolumeUp).
    static LETTERS: [[u32; 1]; 26] = {
        let mut t = [[0u32; 1]; 26];
        let mut i = 0;
        while i < 26 {
            t[i] = [b'a' as u32 + i as u32];
            i += 1;
        }
        t
    };
    static DIGITS: [[u32; 1]; 10] = {
        let mut t = [[0u32; 1]; 10];
        let mut i = 0;
        while i < 10 {
            t[i] = [b'0' as u32 + i as u32];
            i += 1;
        }
        t
    };
    static FUNCTION: [[u32; 1]; 24] = {
        let mut t = [[0u32; 1]; 24];
        let mut i = 0;
        while i < 24 {
            t[i] = [0xffbe + i as u32];
            i += 1;
        }
        t
    };
    static NUMPAD_DIGITS: [[u32; 1]; 10] = {
        let mut t = [[0u32; 1]; 10];
        let mut i = 0;
        while i < 10 {
            t[i] = [0xffb0 + i as u32];
            i += 1;
        }
        t
    };

    if let Some(letter) = code.strip_prefix("Key") {
        if let [c @ b'A'..=b'Z'] = letter.as_bytes() {
            return Some(&LETTERS[usize::from(c - b'A')]);
        }
        return None;
    }
    if let Some(digit) = code.strip_prefix("Digit") {
        if let [c @ b'0'..=b'9'] = digit.as_bytes() {
            return Some(&DIGITS[usize::from(c - b'0')]);
        }
        return None;
    }
    if let Some(digit) = code.strip_prefix("Numpad")
        && let [c @ b'0'..=b'9'] = digit.as_bytes()
    {
        return Some(&NUMPAD_DIGITS[usize::from(c - b'0')]);
    }
    if let Some(digits) = code.strip_prefix('F')
        && let Ok(n @ 1..=24) = digits.parse::<usize>()
    {
        // "F01" or "F+1" parse too but are not DOM codes.
        return (n.to_string() == digits).then(|| &FUNCTION[n - 1][..]);
    }

    Some(match code {
        // Writing system keys (US names; the keysym is what the key types unshifted on a US layout).
        "Backquote" => &[0x60],
        "Backslash" => &[0x5c],
        "BracketLeft" => &[0x5b],
        "BracketRight" => &[0x5d],
        "Comma" => &[0x2c],
        "Equal" => &[0x3d],
        "IntlBackslash" => &[0x3c], // less: the extra ISO key left of Z
        "IntlRo" => &[0x5c],        // JIS "ro" key types backslash/underscore on the jp layout
        "IntlYen" => &[0xa5],       // yen
        "Minus" => &[0x2d],
        "Period" => &[0x2e],
        "Quote" => &[0x27],
        "Semicolon" => &[0x3b],
        "Slash" => &[0x2f],
        // Functional keys.
        "AltLeft" => &[0xffe9],
        "AltRight" => &[0xffea, XK_ISO_LEVEL3_SHIFT], // Alt_R, else AltGr on layouts that turn it into one
        "Backspace" => &[0xff08],
        "CapsLock" => &[0xffe5],
        "ContextMenu" => &[0xff67],
        "ControlLeft" => &[0xffe3],
        "ControlRight" => &[0xffe4],
        "Enter" => &[XK_RETURN],
        "MetaLeft" | "OSLeft" => &[0xffeb, 0xffe7], // Super_L, else Meta_L
        "MetaRight" | "OSRight" => &[0xffec, 0xffe8], // Super_R, else Meta_R
        "ShiftLeft" => &[XK_SHIFT_L],
        "ShiftRight" => &[0xffe2],
        "Space" => &[0x20],
        "Tab" => &[XK_TAB],
        "Convert" => &[0xff23],    // Henkan_Mode
        "KanaMode" => &[0xff27],   // Hiragana_Katakana
        "Lang1" => &[0xff31],      // Hangul
        "Lang2" => &[0xff34],      // Hangul_Hanja
        "Lang3" => &[0xff26],      // Katakana
        "Lang4" => &[0xff25],      // Hiragana
        "Lang5" => &[0xff2a],      // Zenkaku_Hankaku
        "NonConvert" => &[0xff22], // Muhenkan
        // Control pad and arrows.
        "Delete" => &[0xffff],
        "End" => &[0xff57],
        "Help" => &[0xff6a],
        "Home" => &[0xff50],
        "Insert" => &[0xff63],
        "PageDown" => &[0xff56],
        "PageUp" => &[0xff55],
        "ArrowDown" => &[0xff54],
        "ArrowLeft" => &[0xff51],
        "ArrowRight" => &[0xff53],
        "ArrowUp" => &[0xff52],
        // Numpad (digits above). The keysyms are the NumLock-on level; the keycode search looks at every level.
        "NumLock" => &[0xff7f],
        "NumpadAdd" => &[0xffab],
        "NumpadClear" => &[0xff0b, 0xff9d], // Clear, else KP_Begin (the keypad 5 with NumLock off)
        "NumpadComma" => &[0xffac],         // KP_Separator
        "NumpadDecimal" => &[0xffae],
        "NumpadDivide" => &[0xffaf],
        "NumpadEnter" => &[0xff8d],
        "NumpadEqual" => &[0xffbd],
        "NumpadMultiply" | "NumpadStar" => &[0xffaa],
        "NumpadParenLeft" => &[0x28],
        "NumpadParenRight" => &[0x29],
        "NumpadSubtract" => &[0xffad],
        // Function section.
        "Escape" => &[0xff1b],
        "PrintScreen" => &[0xff61],
        "ScrollLock" => &[0xff14],
        "Pause" => &[0xff13, 0xff6b], // Pause, else Break
        // Media and browser keys (XF86 keysyms).
        "AudioVolumeDown" | "VolumeDown" => &[0x1008_ff11],
        "AudioVolumeMute" | "VolumeMute" => &[0x1008_ff12],
        "AudioVolumeUp" | "VolumeUp" => &[0x1008_ff13],
        "BrowserBack" => &[0x1008_ff26],
        "BrowserFavorites" => &[0x1008_ff30],
        "BrowserForward" => &[0x1008_ff27],
        "BrowserHome" => &[0x1008_ff18],
        "BrowserRefresh" => &[0x1008_ff73, 0x1008_ff29], // XF86Reload, else XF86Refresh
        "BrowserSearch" => &[0x1008_ff1b],
        "BrowserStop" => &[0x1008_ff28],
        "Eject" => &[0x1008_ff2c],
        "LaunchApp1" => &[0x1008_ff33, 0x1008_ff5d], // XF86MyComputer, else XF86Explorer
        "LaunchApp2" => &[0x1008_ff1d],              // XF86Calculator
        "LaunchMail" => &[0x1008_ff19],
        "MediaPlayPause" => &[0x1008_ff14],
        "MediaSelect" => &[0x1008_ff32],
        "MediaStop" => &[0x1008_ff15],
        "MediaTrackNext" => &[0x1008_ff17],
        "MediaTrackPrevious" => &[0x1008_ff16],
        "Power" => &[0x1008_ff2a],
        "Sleep" => &[0x1008_ff2f],
        "WakeUp" => &[0x1008_ff2b],
        // Legacy and editing keys.
        "Again" => &[0xff66], // Redo
        "Copy" => &[0x1008_ff57],
        "Cut" => &[0x1008_ff58],
        "Find" => &[0xff68],
        "Hyper" => &[0xffed],
        "Open" => &[0x1008_ff6b],
        "Paste" => &[0x1008_ff6d],
        "Props" => &[0x1005_ff70], // SunProps
        "Select" => &[0xff60],
        "Super" => &[0xffeb],
        "Suspend" => &[0x1008_ffa7],
        "Undo" => &[0xff65],
        "Abort" => &[0xff69], // Cancel
        _ => return None,
    })
}

/// The keysyms that type `c`, best first: the legacy keysym where X has one (keymaps use those, e.g.
/// `EuroSign`), then the Unicode keysym. Control characters other than newline and tab have none.
pub fn keysyms_for_char(c: char) -> Option<[u32; 2]> {
    let cp = u32::from(c);
    let legacy = match cp {
        0x0a | 0x0d => XK_RETURN,
        0x09 => XK_TAB,
        0x00..=0x1f | 0x7f..=0x9f => return None,
        // Printable ASCII and Latin-1 keysyms equal their code points.
        0x20..=0x7e | 0xa0..=0xff => cp,
        _ => match CHAR_TO_KEYSYM.binary_search_by_key(&cp, |&(c, _)| c) {
            Ok(i) => CHAR_TO_KEYSYM[i].1,
            Err(_) => UNICODE_KEYSYM_BASE + cp,
        },
    };
    Some([legacy, UNICODE_KEYSYM_BASE + cp])
}

/// The character a keysym types, if it types one (used to check what a client received).
pub fn keysym_to_char(keysym: u32) -> Option<char> {
    let cp = match keysym {
        XK_RETURN => 0x0a,
        XK_TAB => 0x09,
        0x20..=0x7e | 0xa0..=0xff => keysym,
        // 0x0100_0100 and up: the Unicode keysym range (below 0x100 the legacy Latin-1 keysyms are used).
        0x0100_0100..=0x0110_ffff => keysym - UNICODE_KEYSYM_BASE,
        _ => match KEYSYM_TO_CHAR.binary_search_by_key(&keysym, |&(k, _)| k) {
            Ok(i) => KEYSYM_TO_CHAR[i].1,
            Err(_) => return None,
        },
    };
    char::from_u32(cp)
}

/// The modifiers to hold while pressing a keycode to reach a given column of the core mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Level {
    /// Hold Shift.
    pub shift: bool,
    /// Hold AltGr (ISO_Level3_Shift).
    pub altgr: bool,
}

/// A keycode and the modifiers that make it type a wanted keysym.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyStroke {
    /// The keycode to press.
    pub keycode: u8,
    /// The modifiers to hold around it.
    pub level: Level,
}

/// A snapshot of the server's core keyboard mapping (GetKeyboardMapping for every keycode) plus the keycodes
/// bound to modifiers (GetModifierMapping), which must never be borrowed for remapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyboardMap {
    min_keycode: u8,
    per_keycode: usize,
    /// `per_keycode` keysyms for each keycode from `min_keycode` on.
    keysyms: Vec<u32>,
    modifier_keycodes: Vec<u8>,
}

/// Columns of the core mapping that belong to group 1, with the modifiers they need. With XKB servers the core
/// mapping lists group 1 levels 1–2, group 2 levels 1–2, then group 1 levels 3–4 (xkb/XKBMisc.c), so AltGr
/// levels live in columns 4 and 5. Group 2 is never used: reaching it would mean switching the group.
const GROUP1_COLUMNS: [(usize, Level); 4] = [
    (
        0,
        Level {
            shift: false,
            altgr: false,
        },
    ),
    (
        1,
        Level {
            shift: true,
            altgr: false,
        },
    ),
    (
        4,
        Level {
            shift: false,
            altgr: true,
        },
    ),
    (
        5,
        Level {
            shift: true,
            altgr: true,
        },
    ),
];

impl KeyboardMap {
    /// Builds the map from a GetKeyboardMapping reply covering `min_keycode..` and the modifier keycodes.
    pub fn new(
        min_keycode: u8,
        per_keycode: u8,
        keysyms: Vec<u32>,
        modifier_keycodes: Vec<u8>,
    ) -> Self {
        Self {
            min_keycode,
            per_keycode: usize::from(per_keycode),
            keysyms,
            modifier_keycodes: modifier_keycodes.into_iter().filter(|&k| k != 0).collect(),
        }
    }

    /// Keysyms per keycode in the server's mapping.
    pub fn per_keycode(&self) -> u8 {
        self.per_keycode as u8
    }

    /// The keysyms of one keycode (empty outside the mapping).
    pub fn keysyms(&self, keycode: u8) -> &[u32] {
        if self.per_keycode == 0 || keycode < self.min_keycode {
            return &[];
        }
        let start = usize::from(keycode - self.min_keycode) * self.per_keycode;
        self.keysyms
            .get(start..start + self.per_keycode)
            .unwrap_or(&[])
    }

    fn keycodes(&self) -> impl Iterator<Item = u8> + '_ {
        let count = self
            .keysyms
            .len()
            .checked_div(self.per_keycode)
            .unwrap_or(0);
        (0..count).filter_map(|i| u8::try_from(usize::from(self.min_keycode) + i).ok())
    }

    /// The key to press for a DOM key code's keysym: the lowest keycode whose first column is `keysym`, else the
    /// lowest keycode carrying it in any column (keypad digits sit in the NumLock column). The key is pressed
    /// without added modifiers: the viewer sends its own modifier keys.
    pub fn keycode_for_key(&self, keysym: u32) -> Option<u8> {
        if keysym == NO_SYMBOL {
            return None;
        }
        self.keycodes()
            .find(|&k| self.keysyms(k).first() == Some(&keysym))
            .or_else(|| self.keycodes().find(|&k| self.keysyms(k).contains(&keysym)))
    }

    /// How to type `keysym`: the keycode and modifiers of the lowest group-1 level that carries it. Levels that
    /// need AltGr are only used when `altgr_available` (a keycode for ISO_Level3_Shift is bound to a modifier).
    pub fn stroke_for_char(&self, keysym: u32, altgr_available: bool) -> Option<KeyStroke> {
        if keysym == NO_SYMBOL {
            return None;
        }
        for (column, level) in GROUP1_COLUMNS {
            if level.altgr && !altgr_available {
                continue;
            }
            if let Some(keycode) = self
                .keycodes()
                .find(|&k| self.keysyms(k).get(column) == Some(&keysym))
            {
                return Some(KeyStroke { keycode, level });
            }
        }
        None
    }

    /// The keycode holding AltGr, if AltGr can be used (bound to a modifier, so that it actually shifts level).
    pub fn altgr_keycode(&self) -> Option<u8> {
        self.keycode_for_key(XK_ISO_LEVEL3_SHIFT)
            .filter(|k| self.modifier_keycodes.contains(k))
    }

    /// Keycodes with no keysym at all and no modifier role: safe to borrow for characters the layout lacks.
    /// Highest first, because low keycodes are the ones layouts fill first.
    pub fn spare_keycodes(&self) -> Vec<u8> {
        let mut spare: Vec<u8> = self
            .keycodes()
            .filter(|&k| self.keysyms(k).iter().all(|&s| s == NO_SYMBOL))
            .filter(|k| !self.modifier_keycodes.contains(k))
            .collect();
        spare.reverse();
        spare
    }

    /// The keysym a client sees for `keycode` with Shift held or not (core protocol rules, group 1).
    pub fn lookup(&self, keycode: u8, shift: bool) -> u32 {
        let syms = self.keysyms(keycode);
        let first = syms.first().copied().unwrap_or(NO_SYMBOL);
        let second = syms.get(1).copied().unwrap_or(NO_SYMBOL);
        if !shift {
            return first;
        }
        if second != NO_SYMBOL {
            return second;
        }
        // A lone keysym: its upper-case form if it has one (the core rule), else itself.
        keysym_to_char(first)
            .filter(|c| c.is_lowercase())
            .and_then(|c| {
                let mut upper = c.to_uppercase();
                match (upper.next(), upper.next()) {
                    (Some(u), None) => keysyms_for_char(u).map(|k| k[0]),
                    _ => None,
                }
            })
            .unwrap_or(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us_map() -> KeyboardMap {
        // keycode 8 empty, 9 Escape, 10 "1 !", 38 "a A", 50 Shift_L, 92 ISO_Level3_Shift, 94 "< > | ¦" at
        // levels 1-2 and AltGr 3-4, 90 "KP_Insert KP_0", 100 empty but a modifier, 101 empty.
        let per = 6usize;
        let mut keysyms = vec![NO_SYMBOL; per * (102 - 8)];
        let mut set = |k: usize, syms: &[u32]| {
            keysyms[(k - 8) * per..(k - 8) * per + syms.len()].copy_from_slice(syms);
        };
        set(9, &[0xff1b]);
        set(10, &[0x31, 0x21, 0x31, 0x21]);
        set(38, &[0x61, 0x41, 0x61, 0x41]);
        set(50, &[XK_SHIFT_L]);
        set(65, &[0x20]);
        set(90, &[0xff9e, 0xffb0]);
        set(92, &[XK_ISO_LEVEL3_SHIFT]);
        set(94, &[0x3c, 0x3e, 0x3c, 0x3e, 0x7c, 0xa6]);
        KeyboardMap::new(8, per as u8, keysyms, vec![50, 92, 100, 0])
    }

    #[test]
    fn dom_codes_map_to_keysyms() {
        assert_eq!(keysyms_for_code("KeyA"), Some(&[0x61][..]));
        assert_eq!(keysyms_for_code("KeyZ"), Some(&[0x7a][..]));
        assert_eq!(keysyms_for_code("Digit0"), Some(&[0x30][..]));
        assert_eq!(keysyms_for_code("F1"), Some(&[0xffbe][..]));
        assert_eq!(keysyms_for_code("F24"), Some(&[0xffd5][..]));
        assert_eq!(keysyms_for_code("Numpad7"), Some(&[0xffb7][..]));
        assert_eq!(keysyms_for_code("Enter"), Some(&[XK_RETURN][..]));
        assert_eq!(keysyms_for_code("ShiftLeft"), Some(&[XK_SHIFT_L][..]));
        assert_eq!(keysyms_for_code("MetaLeft"), keysyms_for_code("OSLeft"));
        for bad in [
            "", "Key", "KeyAA", "Keya", "F0", "F25", "F01", "Digit10", "NumpadX", "Shift", "keya",
        ] {
            assert_eq!(keysyms_for_code(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn characters_round_trip_through_keysyms() {
        assert_eq!(keysyms_for_char('a'), Some([0x61, 0x0100_0061]));
        assert_eq!(keysyms_for_char('é'), Some([0xe9, 0x0100_00e9]));
        assert_eq!(keysyms_for_char('€'), Some([0x20ac, 0x0100_20ac])); // EuroSign
        assert_eq!(keysyms_for_char('漢'), Some([0x0100_6f22, 0x0100_6f22]));
        assert_eq!(keysyms_for_char('\n'), Some([XK_RETURN, 0x0100_000a]));
        assert_eq!(keysyms_for_char('\u{7}'), None);
        for c in ['a', '~', 'é', '€', '漢', 'Ω', 'ж', '\n', '\t', '🙂'] {
            let [legacy, unicode] = keysyms_for_char(c).expect("printable");
            assert_eq!(keysym_to_char(legacy), Some(c), "{c:?}");
            // Unicode keysyms are only defined from U+0100 on; below, the Latin-1 keysyms are the names.
            if u32::from(c) >= 0x100 {
                assert_eq!(keysym_to_char(unicode), Some(c), "{c:?}");
            }
        }
        assert_eq!(keysym_to_char(0xffbe), None); // F1 types nothing
    }

    #[test]
    fn legacy_tables_are_sorted_for_binary_search() {
        assert!(CHAR_TO_KEYSYM.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(KEYSYM_TO_CHAR.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn strokes_pick_the_level_and_its_modifiers() {
        let map = us_map();
        let plain = Level {
            shift: false,
            altgr: false,
        };
        let shift = Level {
            shift: true,
            altgr: false,
        };
        assert_eq!(
            map.stroke_for_char(0x61, true),
            Some(KeyStroke {
                keycode: 38,
                level: plain
            })
        );
        assert_eq!(
            map.stroke_for_char(0x41, true),
            Some(KeyStroke {
                keycode: 38,
                level: shift
            })
        );
        assert_eq!(
            map.stroke_for_char(0x21, true),
            Some(KeyStroke {
                keycode: 10,
                level: shift
            })
        );
        assert_eq!(
            map.stroke_for_char(0xa6, true),
            Some(KeyStroke {
                keycode: 94,
                level: Level {
                    shift: true,
                    altgr: true
                }
            })
        );
        assert_eq!(map.stroke_for_char(0xa6, false), None);
        assert_eq!(map.stroke_for_char(0xe9, true), None);
        assert_eq!(map.altgr_keycode(), Some(92));
    }

    #[test]
    fn keys_prefer_the_first_column_then_any() {
        let map = us_map();
        assert_eq!(map.keycode_for_key(0xff1b), Some(9));
        assert_eq!(map.keycode_for_key(0xffb0), Some(90)); // KP_0 in the NumLock column
        assert_eq!(map.keycode_for_key(0xffbe), None);
        assert_eq!(map.keycode_for_key(NO_SYMBOL), None);
    }

    #[test]
    fn spare_keycodes_are_empty_and_not_modifiers() {
        let spare = us_map().spare_keycodes();
        assert!(
            !spare.contains(&100),
            "a modifier keycode is never borrowed"
        );
        assert_eq!(spare.first(), Some(&101));
        assert!(spare.contains(&8));
        assert!(!spare.contains(&9));
    }

    #[test]
    fn lookup_follows_core_shift_rules() {
        let map = us_map();
        assert_eq!(map.lookup(38, false), 0x61);
        assert_eq!(map.lookup(38, true), 0x41);
        assert_eq!(map.lookup(65, true), 0x20);
        assert_eq!(map.lookup(8, false), NO_SYMBOL);
        let lone = KeyboardMap::new(8, 2, vec![0xe9, NO_SYMBOL], vec![]);
        assert_eq!(lone.lookup(8, true), 0xc9); // é → É
    }
}
