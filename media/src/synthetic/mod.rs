//! The synthetic test screen: the default when no display exists, and the picture every latency and input test
//! reads back.
//!
//! # What it shows
//! A desktop-like scene — flat background, windows full of small text, a taskbar — so encoders see realistic
//! content, plus per frame:
//! - the capture wall-clock as the top barcode and the input echo as the two bottom barcodes ([`crate::barcode`]);
//! - an info panel: frame counter, time (HH:MM:SS.mmm UTC), pointer, last key and the typed text line;
//! - motion: a bouncing window, a moving gradient bar and a scrolling text window, so every frame differs
//!   (`capture(false)` always returns a frame);
//! - the pointer as a crosshair and the last clicks as markers.
//!
//! # Determinism and cost
//! The picture for frame `n` with a given input state and timestamp is a pure function of them. Drawing a 1080p
//! frame from scratch costs milliseconds, so a [`SyntheticSource`] keeps a small pool of frame buffers: a buffer
//! whose `Arc` came back to a single owner is reused, only the regions its last drawing dirtied are restored from
//! the static background, and everything that changes is copied from pre-rendered strips. Changed pixels per frame
//! stay around 1 MB at 1080p.
//!
//! # Input echo
//! [`SyntheticDesktop::inject`] updates an [`InputEcho`] shared with every source of the desktop. The typed buffer
//! keeps the last [`TYPED_MAX`] characters: `Text` events append their text; `Key` down events of keys that
//! produce a character on a US layout append it (Shift honoured); `Backspace` removes the last character;
//! `Enter` appends `'\n'`.
//!
//! # Parts
//! `echo` (the input state and the US layout), `scene` (colours, layout and the pre-rendered pictures), `source`
//! (the frame source and its buffer pool), `clipboard` (both selections in memory, one per desktop); this file
//! holds the [`Desktop`].

mod clipboard;
mod echo;
mod scene;
mod source;

use std::sync::Arc;

use parking_lot::Mutex;

pub use clipboard::SyntheticClipboard;
pub use echo::{CLICKS_SHOWN, InputEcho, TYPED_MAX, us_char};
pub use source::{POOL_SIZE, SyntheticSource};

use crate::barcode::Echo;
use crate::{
    AgentMark, Clipboard, Desktop, FrameSource, InputEvent, MediaError, ScreenInfo, SourceKind,
};

/// Smallest synthetic screen (the barcodes need 64 cells and three bar rows).
pub const MIN_SIZE: (u32, u32) = (64, 64);
/// Largest synthetic screen (openh264's limit).
pub const MAX_SIZE: (u32, u32) = (3840, 2160);

/// The synthetic desktop: one screen, id `"0"`, name `"synthetic"`, primary.
pub struct SyntheticDesktop {
    info: ScreenInfo,
    input: Arc<Mutex<InputEcho>>,
    clipboard: Arc<SyntheticClipboard>,
}

impl std::fmt::Debug for SyntheticDesktop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyntheticDesktop")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl SyntheticDesktop {
    /// A synthetic screen of `width`×`height`, clamped to [`MIN_SIZE`]..=[`MAX_SIZE`] and rounded down to even.
    pub fn new(width: u32, height: u32) -> Self {
        let w = width.clamp(MIN_SIZE.0, MAX_SIZE.0) & !1;
        let h = height.clamp(MIN_SIZE.1, MAX_SIZE.1) & !1;
        if (w, h) != (width, height) {
            tracing::warn!(
                width,
                height,
                used_width = w,
                used_height = h,
                "synthetic screen size adjusted"
            );
        }
        Self {
            info: ScreenInfo {
                id: "0".into(),
                name: "synthetic".into(),
                width: w,
                height: h,
                source: SourceKind::Synthetic,
                primary: true,
            },
            input: Arc::default(),
            clipboard: Arc::default(),
        }
    }

    /// The current input echo (what the next frame will show).
    pub fn echo(&self) -> Echo {
        self.input.lock().echo()
    }

    /// Opens a source directly (what [`Desktop::open`] returns, without the box).
    pub fn source(&self) -> SyntheticSource {
        SyntheticSource::new(self.info.clone(), Arc::clone(&self.input))
    }

    fn check(&self, screen: &str) -> Result<(), MediaError> {
        if screen == self.info.id {
            Ok(())
        } else {
            Err(MediaError::UnknownScreen(screen.to_owned()))
        }
    }
}

impl Desktop for SyntheticDesktop {
    fn kind(&self) -> SourceKind {
        SourceKind::Synthetic
    }

    fn screens(&self) -> Result<Vec<ScreenInfo>, MediaError> {
        Ok(vec![self.info.clone()])
    }

    fn open(&self, screen: &str) -> Result<Box<dyn FrameSource>, MediaError> {
        self.check(screen)?;
        Ok(Box::new(self.source()))
    }

    fn inject(&self, screen: &str, event: &InputEvent) -> Result<(), MediaError> {
        self.check(screen)?;
        self.input
            .lock()
            .apply(event, self.info.width, self.info.height);
        Ok(())
    }

    fn clipboard(&self) -> Option<Arc<dyn Clipboard>> {
        Some(Arc::clone(&self.clipboard) as Arc<dyn Clipboard>)
    }

    fn show_agent(&self, screen: &str, mark: &AgentMark) {
        if self.check(screen).is_ok() {
            self.input
                .lock()
                .mark_agent(mark, self.info.width, self.info.height);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use super::scene::AGENT;
    use super::*;
    use crate::{MouseButton, barcode};

    fn at(ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(ms)
    }

    #[test]
    fn one_primary_screen_and_unknown_ids_are_refused() {
        let d = SyntheticDesktop::new(640, 480);
        let screens = d.screens().unwrap();
        assert_eq!(screens.len(), 1);
        let s = &screens[0];
        assert_eq!(
            (s.id.as_str(), s.name.as_str(), s.width, s.height),
            ("0", "synthetic", 640, 480)
        );
        assert!(s.primary);
        assert_eq!(s.source, SourceKind::Synthetic);
        assert!(matches!(d.open("1"), Err(MediaError::UnknownScreen(_))));
        assert!(
            d.inject("1", &InputEvent::Text { text: "x".into() })
                .is_err()
        );
        assert_eq!(SyntheticDesktop::new(10, 7).screens().unwrap()[0].width, 64);
    }

    #[test]
    fn input_echo_follows_the_spec() {
        let (w, h) = (1920, 1080);
        let d = SyntheticDesktop::new(w, h);
        let fresh = d.echo();
        assert_eq!(
            fresh,
            Echo {
                typed_hash: barcode::FNV_OFFSET,
                ..Echo::default()
            }
        );
        let events = [
            InputEvent::PointerMove { x: 5000, y: 300 },
            InputEvent::Button {
                button: MouseButton::Left,
                down: true,
            },
            InputEvent::Button {
                button: MouseButton::Left,
                down: false,
            },
            InputEvent::Button {
                button: MouseButton::Right,
                down: true,
            },
            InputEvent::Wheel { dx: 0.0, dy: 2.6 },
            InputEvent::Wheel { dx: 1.0, dy: -5.0 },
            InputEvent::Key {
                code: "ShiftLeft".into(),
                down: true,
            },
            InputEvent::Key {
                code: "KeyH".into(),
                down: true,
            },
            InputEvent::Key {
                code: "KeyH".into(),
                down: false,
            },
            InputEvent::Key {
                code: "ShiftLeft".into(),
                down: false,
            },
            InputEvent::Key {
                code: "KeyI".into(),
                down: true,
            },
            InputEvent::Key {
                code: "KeyX".into(),
                down: true,
            },
            InputEvent::Key {
                code: "Backspace".into(),
                down: true,
            },
            InputEvent::Key {
                code: "ShiftRight".into(),
                down: true,
            },
            InputEvent::Key {
                code: "Digit1".into(),
                down: true,
            },
            InputEvent::Key {
                code: "ShiftRight".into(),
                down: false,
            },
            InputEvent::Key {
                code: "Enter".into(),
                down: true,
            },
            InputEvent::Key {
                code: "F5".into(),
                down: true,
            },
            InputEvent::Text {
                text: "é€".into()
            },
        ];
        for e in &events {
            d.inject("0", e).unwrap();
        }
        let typed = "Hi!\né€";
        let e = d.echo();
        assert_eq!((e.pointer_x, e.pointer_y), (1919, 300));
        assert_eq!(e.button_presses, 2);
        assert_eq!(e.wheel_dy, -2);
        assert_eq!(e.typed_len, typed.chars().count() as u16);
        assert_eq!(e.typed_hash, barcode::fnv1a32(typed.as_bytes()));
        // Key downs: ShiftLeft, H, I, X, Backspace, ShiftRight, 1, Enter, F5.
        assert_eq!(e.key_presses, 9);
        // And the picture carries it.
        let frame = d.source().render(at(5));
        assert_eq!(barcode::decode_echo(&frame), Some(e));
    }

    #[test]
    fn an_agent_is_drawn_as_an_orange_cursor_with_click_markers() {
        let desktop = SyntheticDesktop::new(640, 360);
        let mut source = desktop.source();
        let before = source.render(at(1_000));
        assert_ne!(before.pixel(300, 200).unwrap()[..3], AGENT[..3]);
        desktop.show_agent(
            "0",
            &AgentMark {
                at: Some((300, 200)),
                action: "click".into(),
                click: true,
            },
        );
        desktop.show_agent(
            "9",
            &AgentMark {
                at: Some((1, 1)),
                action: "x".into(),
                click: true,
            },
        );
        let frame = source.render(at(1_033));
        // The arrow's hot spot and a point on the click marker's outline are orange.
        assert_eq!(frame.pixel(300, 200).unwrap()[..3], AGENT[..3]);
        let r = 6 * source.layout.scale;
        assert_eq!(frame.pixel(300 - r, 200).unwrap()[..3], AGENT[..3]);
        // The echo barcodes still describe the input, untouched by the overlay.
        assert_eq!(barcode::decode_echo(&frame), Some(desktop.echo()));
    }

    #[test]
    fn tiny_screens_render_without_panicking() {
        for (w, h) in [(64, 64), (66, 70), (100, 64), (3840, 2160)] {
            let d = SyntheticDesktop::new(w, h);
            d.inject("0", &InputEvent::PointerMove { x: w, y: h })
                .unwrap();
            d.inject(
                "0",
                &InputEvent::Button {
                    button: MouseButton::Middle,
                    down: true,
                },
            )
            .unwrap();
            let f = d.source().render(at(77));
            assert_eq!(barcode::decode_timestamp(&f), Some(77), "{w}x{h}");
        }
    }

    #[test]
    fn a_desktop_has_one_clipboard() {
        let desktop = SyntheticDesktop::new(64, 64);
        let a = desktop
            .clipboard()
            .expect("synthetic desktops have a clipboard");
        let b = desktop
            .clipboard()
            .expect("synthetic desktops have a clipboard");
        a.set(
            crate::Selection::Clipboard,
            crate::ClipboardData::Text("x".into()),
        )
        .unwrap();
        assert_eq!(
            b.get(crate::Selection::Clipboard, crate::ClipboardKind::Text, 10)
                .unwrap(),
            Some(crate::ClipboardData::Text("x".into()))
        );
        assert_eq!(b.changes().borrow().clipboard, 1);
    }
}
