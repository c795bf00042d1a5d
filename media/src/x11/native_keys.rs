//! DOM `KeyboardEvent.code` → the native key codes enigo takes as `Key::Other` on macOS (virtual key codes,
//! `kVK_*` of Carbon's `Events.h`: physical positions) and on Windows (virtual-key codes, `VK_*` of `WinUser.h`).
//!
//! Used by the xcap backend, which includes this file by path; it lives beside the X11 keymap so one test run on
//! Linux checks all three tables against the same list of DOM codes. Codes a platform has no key for return
//! `None` (for example PrintScreen on a Mac).

/// The macOS virtual key code (`kVK_*`) of a DOM code.
#[cfg(any(all(test, target_os = "linux"), target_os = "macos"))]
pub(crate) fn mac_keycode(code: &str) -> Option<u16> {
    Some(match code {
        "KeyA" => 0x00,
        "KeyS" => 0x01,
        "KeyD" => 0x02,
        "KeyF" => 0x03,
        "KeyH" => 0x04,
        "KeyG" => 0x05,
        "KeyZ" => 0x06,
        "KeyX" => 0x07,
        "KeyC" => 0x08,
        "KeyV" => 0x09,
        "IntlBackslash" => 0x0a, // kVK_ISO_Section
        "KeyB" => 0x0b,
        "KeyQ" => 0x0c,
        "KeyW" => 0x0d,
        "KeyE" => 0x0e,
        "KeyR" => 0x0f,
        "KeyY" => 0x10,
        "KeyT" => 0x11,
        "Digit1" => 0x12,
        "Digit2" => 0x13,
        "Digit3" => 0x14,
        "Digit4" => 0x15,
        "Digit6" => 0x16,
        "Digit5" => 0x17,
        "Equal" => 0x18,
        "Digit9" => 0x19,
        "Digit7" => 0x1a,
        "Minus" => 0x1b,
        "Digit8" => 0x1c,
        "Digit0" => 0x1d,
        "BracketRight" => 0x1e,
        "KeyO" => 0x1f,
        "KeyU" => 0x20,
        "BracketLeft" => 0x21,
        "KeyI" => 0x22,
        "KeyP" => 0x23,
        "Enter" => 0x24,
        "KeyL" => 0x25,
        "KeyJ" => 0x26,
        "Quote" => 0x27,
        "KeyK" => 0x28,
        "Semicolon" => 0x29,
        "Backslash" => 0x2a,
        "Comma" => 0x2b,
        "Slash" => 0x2c,
        "KeyN" => 0x2d,
        "KeyM" => 0x2e,
        "Period" => 0x2f,
        "Tab" => 0x30,
        "Space" => 0x31,
        "Backquote" => 0x32,
        "Backspace" => 0x33, // kVK_Delete
        "Escape" => 0x35,
        "MetaRight" | "OSRight" => 0x36, // kVK_RightCommand
        "MetaLeft" | "OSLeft" => 0x37,   // kVK_Command
        "ShiftLeft" => 0x38,
        "CapsLock" => 0x39,
        "AltLeft" => 0x3a, // kVK_Option
        "ControlLeft" => 0x3b,
        "ShiftRight" => 0x3c,
        "AltRight" => 0x3d,
        "ControlRight" => 0x3e,
        "F17" => 0x40,
        "NumpadDecimal" => 0x41,
        "NumpadMultiply" | "NumpadStar" => 0x43,
        "NumpadAdd" => 0x45,
        "NumLock" | "NumpadClear" => 0x47, // kVK_ANSI_KeypadClear sits where NumLock is
        "AudioVolumeUp" | "VolumeUp" => 0x48,
        "AudioVolumeDown" | "VolumeDown" => 0x49,
        "AudioVolumeMute" | "VolumeMute" => 0x4a,
        "NumpadDivide" => 0x4b,
        "NumpadEnter" => 0x4c,
        "NumpadSubtract" => 0x4e,
        "F18" => 0x4f,
        "F19" => 0x50,
        "NumpadEqual" => 0x51,
        "Numpad0" => 0x52,
        "Numpad1" => 0x53,
        "Numpad2" => 0x54,
        "Numpad3" => 0x55,
        "Numpad4" => 0x56,
        "Numpad5" => 0x57,
        "Numpad6" => 0x58,
        "Numpad7" => 0x59,
        "F20" => 0x5a,
        "Numpad8" => 0x5b,
        "Numpad9" => 0x5c,
        "IntlYen" => 0x5d,
        "IntlRo" => 0x5e,      // kVK_JIS_Underscore
        "NumpadComma" => 0x5f, // kVK_JIS_KeypadComma
        "F5" => 0x60,
        "F6" => 0x61,
        "F7" => 0x62,
        "F3" => 0x63,
        "F8" => 0x64,
        "F9" => 0x65,
        "Lang2" => 0x66, // kVK_JIS_Eisu
        "F11" => 0x67,
        "Lang1" | "KanaMode" => 0x68, // kVK_JIS_Kana
        "F13" => 0x69,
        "F16" => 0x6a,
        "F14" => 0x6b,
        "F10" => 0x6d,
        "ContextMenu" => 0x6e,
        "F12" => 0x6f,
        "F15" => 0x71,
        "Insert" | "Help" => 0x72, // kVK_Help sits where Insert is
        "Home" => 0x73,
        "PageUp" => 0x74,
        "Delete" => 0x75, // kVK_ForwardDelete
        "F4" => 0x76,
        "End" => 0x77,
        "F2" => 0x78,
        "PageDown" => 0x79,
        "F1" => 0x7a,
        "ArrowLeft" => 0x7b,
        "ArrowRight" => 0x7c,
        "ArrowDown" => 0x7d,
        "ArrowUp" => 0x7e,
        _ => return None,
    })
}

/// The Windows virtual-key code (`VK_*`) of a DOM code.
#[cfg(any(all(test, target_os = "linux"), target_os = "windows"))]
pub(crate) fn windows_vk(code: &str) -> Option<u16> {
    if let Some(letter) = code.strip_prefix("Key")
        && let [c @ b'A'..=b'Z'] = letter.as_bytes()
    {
        return Some(u16::from(*c)); // VK_A..VK_Z are 'A'..'Z'
    }
    if let Some(digit) = code.strip_prefix("Digit")
        && let [c @ b'0'..=b'9'] = digit.as_bytes()
    {
        return Some(u16::from(*c)); // VK_0..VK_9 are '0'..'9'
    }
    if let Some(digit) = code.strip_prefix("Numpad")
        && let [c @ b'0'..=b'9'] = digit.as_bytes()
    {
        return Some(0x60 + u16::from(c - b'0')); // VK_NUMPAD0..9
    }
    if let Some(digits) = code.strip_prefix('F')
        && let Ok(n @ 1..=24) = digits.parse::<u16>()
        && n.to_string() == digits
    {
        return Some(0x70 + n - 1); // VK_F1..VK_F24
    }
    Some(match code {
        "Backspace" => 0x08,
        "Tab" => 0x09,
        "NumpadClear" => 0x0c, // VK_CLEAR
        "Enter" | "NumpadEnter" => 0x0d,
        "Pause" => 0x13,
        "CapsLock" => 0x14,
        "KanaMode" | "Lang1" => 0x15, // VK_KANA / VK_HANGUL
        "Lang2" => 0x19,              // VK_HANJA
        "Escape" => 0x1b,
        "Convert" => 0x1c,
        "NonConvert" => 0x1d,
        "Space" => 0x20,
        "PageUp" => 0x21,
        "PageDown" => 0x22,
        "End" => 0x23,
        "Home" => 0x24,
        "ArrowLeft" => 0x25,
        "ArrowUp" => 0x26,
        "ArrowRight" => 0x27,
        "ArrowDown" => 0x28,
        "Select" => 0x29,
        "PrintScreen" => 0x2c, // VK_SNAPSHOT
        "Insert" => 0x2d,
        "Delete" => 0x2e,
        "Help" => 0x2f,
        "MetaLeft" | "OSLeft" => 0x5b,
        "MetaRight" | "OSRight" => 0x5c,
        "ContextMenu" => 0x5d, // VK_APPS
        "Sleep" => 0x5f,
        "NumpadMultiply" | "NumpadStar" => 0x6a,
        "NumpadAdd" => 0x6b,
        "NumpadComma" => 0x6c, // VK_SEPARATOR
        "NumpadSubtract" => 0x6d,
        "NumpadDecimal" => 0x6e,
        "NumpadDivide" => 0x6f,
        "NumLock" => 0x90,
        "ScrollLock" => 0x91,
        "NumpadEqual" => 0x92, // VK_OEM_NEC_EQUAL
        "ShiftLeft" => 0xa0,
        "ShiftRight" => 0xa1,
        "ControlLeft" => 0xa2,
        "ControlRight" => 0xa3,
        "AltLeft" => 0xa4,  // VK_LMENU
        "AltRight" => 0xa5, // VK_RMENU
        "BrowserBack" => 0xa6,
        "BrowserForward" => 0xa7,
        "BrowserRefresh" => 0xa8,
        "BrowserStop" => 0xa9,
        "BrowserSearch" => 0xaa,
        "BrowserFavorites" => 0xab,
        "BrowserHome" => 0xac,
        "AudioVolumeMute" | "VolumeMute" => 0xad,
        "AudioVolumeDown" | "VolumeDown" => 0xae,
        "AudioVolumeUp" | "VolumeUp" => 0xaf,
        "MediaTrackNext" => 0xb0,
        "MediaTrackPrevious" => 0xb1,
        "MediaStop" => 0xb2,
        "MediaPlayPause" => 0xb3,
        "LaunchMail" => 0xb4,
        "MediaSelect" => 0xb5,
        "LaunchApp1" => 0xb6,
        "LaunchApp2" => 0xb7,
        "Semicolon" => 0xba, // VK_OEM_1
        "Equal" => 0xbb,     // VK_OEM_PLUS
        "Comma" => 0xbc,
        "Minus" => 0xbd,
        "Period" => 0xbe,
        "Slash" => 0xbf,         // VK_OEM_2
        "Backquote" => 0xc0,     // VK_OEM_3
        "IntlRo" => 0xc1, // VK_ABNT_C1 (the key right of the slash on Brazilian and JIS boards)
        "BracketLeft" => 0xdb, // VK_OEM_4
        "Backslash" => 0xdc, // VK_OEM_5
        "BracketRight" => 0xdd, // VK_OEM_6
        "Quote" => 0xde,  // VK_OEM_7
        "IntlBackslash" => 0xe2, // VK_OEM_102
        _ => return None,
    })
}

// The tests compare with the X11 table, so they run where that exists.
#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::x11::keymap::keysyms_for_code;

    /// Every DOM code the X11 backend knows, for checking the other tables against it.
    fn letters_digits_and_functions() -> Vec<String> {
        let mut codes: Vec<String> = (b'A'..=b'Z').map(|c| format!("Key{}", c as char)).collect();
        codes.extend((0..10).map(|d| format!("Digit{d}")));
        codes.extend((0..10).map(|d| format!("Numpad{d}")));
        codes.extend((1..=12).map(|n| format!("F{n}")));
        codes
    }

    const COMMON: &[&str] = &[
        "Backquote",
        "Backslash",
        "BracketLeft",
        "BracketRight",
        "Comma",
        "Equal",
        "IntlBackslash",
        "Minus",
        "Period",
        "Quote",
        "Semicolon",
        "Slash",
        "AltLeft",
        "AltRight",
        "Backspace",
        "CapsLock",
        "ContextMenu",
        "ControlLeft",
        "ControlRight",
        "Enter",
        "MetaLeft",
        "MetaRight",
        "ShiftLeft",
        "ShiftRight",
        "Space",
        "Tab",
        "Delete",
        "End",
        "Home",
        "Insert",
        "PageDown",
        "PageUp",
        "ArrowDown",
        "ArrowLeft",
        "ArrowRight",
        "ArrowUp",
        "NumLock",
        "NumpadAdd",
        "NumpadDecimal",
        "NumpadDivide",
        "NumpadEnter",
        "NumpadMultiply",
        "NumpadSubtract",
        "Escape",
        "AudioVolumeDown",
        "AudioVolumeMute",
        "AudioVolumeUp",
    ];

    #[test]
    fn every_common_key_exists_on_every_platform() {
        let mut codes = letters_digits_and_functions();
        codes.extend(COMMON.iter().map(|c| c.to_string()));
        for code in &codes {
            assert!(keysyms_for_code(code).is_some(), "X11 lacks {code}");
            assert!(mac_keycode(code).is_some(), "macOS lacks {code}");
            assert!(windows_vk(code).is_some(), "Windows lacks {code}");
        }
    }

    #[test]
    fn platform_codes_are_distinct_per_key() {
        // Two DOM codes may share a native key only where the tables say so on purpose (aliases, NumLock/Clear).
        let mut codes = letters_digits_and_functions();
        codes.extend(COMMON.iter().map(|c| c.to_string()));
        let mut mac: Vec<u16> = codes.iter().filter_map(|c| mac_keycode(c)).collect();
        let mut win: Vec<u16> = codes
            .iter()
            .filter(|c| c.as_str() != "NumpadEnter")
            .filter_map(|c| windows_vk(c))
            .collect();
        let (m, w) = (mac.len(), win.len());
        mac.sort_unstable();
        mac.dedup();
        win.sort_unstable();
        win.dedup();
        assert_eq!(mac.len(), m, "two common keys share a macOS key code");
        assert_eq!(win.len(), w, "two common keys share a Windows virtual key");
    }

    #[test]
    fn known_values() {
        assert_eq!(mac_keycode("KeyA"), Some(0x00));
        assert_eq!(mac_keycode("ArrowUp"), Some(0x7e));
        assert_eq!(mac_keycode("PrintScreen"), None);
        assert_eq!(windows_vk("KeyA"), Some(0x41));
        assert_eq!(windows_vk("F24"), Some(0x87));
        assert_eq!(windows_vk("F01"), None);
        assert_eq!(windows_vk("Numpad5"), Some(0x65));
        assert_eq!(windows_vk("NoSuchKey"), None);
    }
}
