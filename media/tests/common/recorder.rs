//! An X client that records the input it receives: one full-screen window per X screen selecting key, button and
//! motion events, holding the keyboard focus. Key presses are translated back to keysyms through the keymap the
//! client holds at that moment (refreshed on every MappingNotify, as real clients do), so a test can check the
//! characters an application would have seen.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use sightline_media::x11::keymap::{KeyboardMap, keysym_to_char};
use x11rb::connection::Connection;
use x11rb::protocol::Event;
use x11rb::protocol::xproto::{
    ConnectionExt as _, CreateWindowAux, EventMask, InputFocus, KeyButMask, WindowClass,
};
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

/// One input event as the client saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// KeyPress / KeyRelease with the keysym the client's keymap gives it (Shift level applied).
    Key {
        down: bool,
        keycode: u8,
        keysym: u32,
        state: u16,
    },
    /// ButtonPress / ButtonRelease on the window of X screen `screen`, at window (= screen) coordinates.
    Button {
        down: bool,
        button: u8,
        screen: usize,
        x: i16,
        y: i16,
    },
    /// MotionNotify on the window of X screen `screen`.
    Motion { screen: usize, x: i16, y: i16 },
}

/// The recording client; stops on drop.
pub struct Recorder {
    events: Arc<Mutex<Vec<Recorded>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Recorder {
    /// Connects to `display`, covers every screen with a listening window and focuses the one on screen 0.
    pub fn start(display: &str) -> Self {
        let (conn, _) = x11rb::connect(Some(display)).expect("the test display accepts clients");
        let mask = EventMask::KEY_PRESS
            | EventMask::KEY_RELEASE
            | EventMask::BUTTON_PRESS
            | EventMask::BUTTON_RELEASE
            | EventMask::POINTER_MOTION;
        let mut windows = Vec::new();
        for screen in conn.setup().roots.clone() {
            let window = conn.generate_id().expect("ids available");
            let aux = CreateWindowAux::new()
                .event_mask(mask)
                .override_redirect(1)
                .background_pixel(0);
            conn.create_window(
                0,
                window,
                screen.root,
                0,
                0,
                screen.width_in_pixels,
                screen.height_in_pixels,
                0,
                WindowClass::INPUT_OUTPUT,
                0,
                &aux,
            )
            .expect("request sent");
            conn.map_window(window).expect("request sent");
            windows.push(window);
        }
        conn.set_input_focus(InputFocus::PARENT, windows[0], x11rb::CURRENT_TIME)
            .expect("request sent");
        conn.sync().expect("display alive");
        let keymap = load_keymap(&conn);

        let events = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (events, stop) = (events.clone(), stop.clone());
            std::thread::spawn(move || record(conn, windows, keymap, &events, &stop))
        };
        Self {
            events,
            stop,
            thread: Some(thread),
        }
    }

    /// Everything recorded so far.
    pub fn events(&self) -> Vec<Recorded> {
        self.events.lock().clone()
    }

    /// Forgets everything recorded so far.
    pub fn clear(&self) {
        self.events.lock().clear();
    }

    /// Waits (up to 10 s) until `done` holds for the recorded events and returns them; returns what was recorded
    /// when time runs out, so the caller's assertion shows it.
    pub fn wait_until(&self, done: impl Fn(&[Recorded]) -> bool) -> Vec<Recorded> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let events = self.events();
            if done(&events) || Instant::now() > deadline {
                return events;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The characters typed so far: every key press whose keysym stands for a character.
    pub fn text(&self) -> String {
        self.events()
            .iter()
            .filter_map(|e| match e {
                Recorded::Key {
                    down: true, keysym, ..
                } => keysym_to_char(*keysym),
                _ => None,
            })
            .collect()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn load_keymap(conn: &RustConnection) -> KeyboardMap {
    let (min, max) = (conn.setup().min_keycode, conn.setup().max_keycode);
    let reply = conn
        .get_keyboard_mapping(min, max - min + 1)
        .expect("request sent")
        .reply()
        .expect("display alive");
    KeyboardMap::new(min, reply.keysyms_per_keycode, reply.keysyms, Vec::new())
}

fn record(
    conn: RustConnection,
    windows: Vec<u32>,
    mut keymap: KeyboardMap,
    events: &Mutex<Vec<Recorded>>,
    stop: &AtomicBool,
) {
    let screen_of = |w: u32| windows.iter().position(|&x| x == w).unwrap_or(usize::MAX);
    while !stop.load(Ordering::Relaxed) {
        let event = match conn.poll_for_event() {
            Ok(Some(e)) => e,
            Ok(None) => {
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            Err(_) => return, // display gone: the test is ending
        };
        let recorded = match event {
            Event::MappingNotify(_) => {
                keymap = load_keymap(&conn);
                None
            }
            Event::KeyPress(e) | Event::KeyRelease(e) => {
                let shift = u16::from(e.state) & u16::from(KeyButMask::SHIFT) != 0;
                Some(Recorded::Key {
                    down: e.response_type & 0x7f == x11rb::protocol::xproto::KEY_PRESS_EVENT,
                    keycode: e.detail,
                    keysym: keymap.lookup(e.detail, shift),
                    state: u16::from(e.state),
                })
            }
            Event::ButtonPress(e) | Event::ButtonRelease(e) => Some(Recorded::Button {
                down: e.response_type & 0x7f == x11rb::protocol::xproto::BUTTON_PRESS_EVENT,
                button: e.detail,
                screen: screen_of(e.event),
                x: e.event_x,
                y: e.event_y,
            }),
            Event::MotionNotify(e) => Some(Recorded::Motion {
                screen: screen_of(e.event),
                x: e.event_x,
                y: e.event_y,
            }),
            _ => None,
        };
        if let Some(r) = recorded {
            events.lock().push(r);
        }
    }
}
