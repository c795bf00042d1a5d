//! X11 input through XTEST on a real X server (a private two-screen Xvfb per test), checked two ways: where the
//! server says the pointer is (`xdotool getmouselocation`), and what an X client receives (a recording client
//! with a window on each screen that translates key codes back through its current keymap).
#![cfg(target_os = "linux")]

mod common;

use common::recorder::{Recorded, Recorder};
use common::xvfb::Xvfb;
use sightline_media::x11::X11Desktop;
use sightline_media::x11::keymap::keysym_to_char;
use sightline_media::{Desktop, InputEvent, MediaError, MouseButton};

const XK_SHIFT_L: u32 = 0xffe1;
const XK_CONTROL_L: u32 = 0xffe3;
const XK_F13: u32 = 0xffca;
const SHIFT_MASK: u16 = 1;
const CONTROL_MASK: u16 = 4;

fn mouse_location(xvfb: &Xvfb) -> String {
    xvfb.run(0, "xdotool", &["getmouselocation"])
}

fn inject(desktop: &X11Desktop, screen: &str, event: InputEvent) {
    desktop
        .inject(screen, &event)
        .unwrap_or_else(|e| panic!("{event:?} on screen {screen}: {e}"));
}

fn key(desktop: &X11Desktop, code: &str, down: bool) {
    inject(
        desktop,
        "0",
        InputEvent::Key {
            code: code.into(),
            down,
        },
    );
}

fn key_presses(events: &[Recorded]) -> Vec<(u32, u16)> {
    events
        .iter()
        .filter_map(|e| match e {
            Recorded::Key {
                down: true,
                keysym,
                state,
                ..
            } => Some((*keysym, *state)),
            _ => None,
        })
        .collect()
}

#[test]
fn pointer_moves_land_on_the_right_pixel_of_each_screen() {
    let xvfb = Xvfb::start();
    let recorder = Recorder::start(&xvfb.display());
    let desktop = X11Desktop::open(Some(&xvfb.display())).expect("display opens");

    inject(&desktop, "0", InputEvent::PointerMove { x: 100, y: 200 });
    assert!(
        mouse_location(&xvfb).starts_with("x:100 y:200 screen:0 "),
        "{}",
        mouse_location(&xvfb)
    );
    inject(&desktop, "1", InputEvent::PointerMove { x: 1000, y: 700 });
    assert!(
        mouse_location(&xvfb).starts_with("x:1000 y:700 screen:1 "),
        "{}",
        mouse_location(&xvfb)
    );
    inject(&desktop, "0", InputEvent::PointerMove { x: 1919, y: 1079 });
    assert!(
        mouse_location(&xvfb).starts_with("x:1919 y:1079 screen:0 "),
        "{}",
        mouse_location(&xvfb)
    );
    // Coordinates past the edge are clamped to the screen, never sent elsewhere.
    inject(&desktop, "1", InputEvent::PointerMove { x: 5000, y: 5000 });
    assert!(
        mouse_location(&xvfb).starts_with("x:1279 y:719 screen:1 "),
        "{}",
        mouse_location(&xvfb)
    );

    let events = recorder.wait_until(|e| {
        e.contains(&Recorded::Motion {
            screen: 1,
            x: 1279,
            y: 719,
        })
    });
    for expected in [
        Recorded::Motion {
            screen: 0,
            x: 100,
            y: 200,
        },
        Recorded::Motion {
            screen: 1,
            x: 1000,
            y: 700,
        },
        Recorded::Motion {
            screen: 0,
            x: 1919,
            y: 1079,
        },
        Recorded::Motion {
            screen: 1,
            x: 1279,
            y: 719,
        },
    ] {
        assert!(events.contains(&expected), "{expected:?} not in {events:?}");
    }

    assert!(matches!(
        desktop.inject("9", &InputEvent::PointerMove { x: 1, y: 1 }),
        Err(MediaError::UnknownScreen(_))
    ));
}

#[test]
fn buttons_and_wheel_steps_reach_the_window_under_the_pointer() {
    let xvfb = Xvfb::start();
    let recorder = Recorder::start(&xvfb.display());
    let desktop = X11Desktop::open(Some(&xvfb.display())).expect("display opens");
    inject(&desktop, "1", InputEvent::PointerMove { x: 300, y: 400 });
    recorder.wait_until(|e| !e.is_empty());
    recorder.clear();

    for button in [MouseButton::Left, MouseButton::Middle, MouseButton::Right] {
        inject(&desktop, "1", InputEvent::Button { button, down: true });
        inject(
            &desktop,
            "1",
            InputEvent::Button {
                button,
                down: false,
            },
        );
    }
    inject(&desktop, "1", InputEvent::Wheel { dx: 0.0, dy: 1.0 }); // down: 5
    inject(&desktop, "1", InputEvent::Wheel { dx: 0.0, dy: -2.0 }); // up: 4, 4
    inject(&desktop, "1", InputEvent::Wheel { dx: 0.5, dy: 0.0 }); // half a step: nothing yet
    inject(&desktop, "1", InputEvent::Wheel { dx: 0.5, dy: 0.0 }); // right: 7
    inject(&desktop, "1", InputEvent::Wheel { dx: -1.0, dy: 0.0 }); // left: 6

    let expected = [1, 2, 3, 5, 4, 4, 7, 6];
    let events = recorder.wait_until(|e| {
        e.iter()
            .filter(|r| matches!(r, Recorded::Button { .. }))
            .count()
            >= 16
    });
    let buttons: Vec<(bool, u8)> = events
        .iter()
        .filter_map(|e| match e {
            Recorded::Button {
                down,
                button,
                screen: 1,
                x: 300,
                y: 400,
            } => Some((*down, *button)),
            Recorded::Button { .. } => panic!("button event elsewhere: {e:?}"),
            _ => None,
        })
        .collect();
    let wanted: Vec<(bool, u8)> = expected
        .iter()
        .flat_map(|&b| [(true, b), (false, b)])
        .collect();
    assert_eq!(buttons, wanted);

    assert!(matches!(
        desktop.inject(
            "1",
            &InputEvent::Wheel {
                dx: f64::NAN,
                dy: 0.0
            }
        ),
        Err(MediaError::Invalid { .. })
    ));
}

#[test]
fn text_with_shifted_and_unmapped_characters_arrives_intact() {
    let xvfb = Xvfb::start();
    let recorder = Recorder::start(&xvfb.display());
    let desktop = X11Desktop::open(Some(&xvfb.display())).expect("display opens");
    let before = xvfb.run(0, "xmodmap", &["-pke"]);

    let text = "Hello, World! ~ é € 漢";
    inject(&desktop, "0", InputEvent::Text { text: text.into() });
    let wanted = text.chars().count();
    recorder.wait_until(|e| e.iter().filter(|r| matches!(r, Recorded::Key { down: true, keysym, .. } if keysym_to_char(*keysym).is_some())).count() >= wanted);
    assert_eq!(recorder.text(), text);

    // Shifted characters were typed with Shift held, as a real keyboard would.
    let presses = key_presses(&recorder.events());
    let shifted: String = presses
        .iter()
        .filter(|(_, state)| state & SHIFT_MASK != 0)
        .filter_map(|(k, _)| keysym_to_char(*k))
        .collect();
    assert_eq!(shifted, "HW!~");

    // Borrowed keycodes were given back: the keymap is as it was.
    assert_eq!(xvfb.run(0, "xmodmap", &["-pke"]), before);

    // Text after a newline goes on; control characters are refused before anything is typed.
    recorder.clear();
    inject(
        &desktop,
        "0",
        InputEvent::Text {
            text: "a\nb".into(),
        },
    );
    recorder.wait_until(|e| key_presses(e).len() >= 3);
    assert_eq!(recorder.text(), "a\nb");
    let err = desktop
        .inject(
            "0",
            &InputEvent::Text {
                text: "x\u{7}".into(),
            },
        )
        .expect_err("bell is not typable");
    assert!(matches!(err, MediaError::Invalid { .. }), "{err}");
}

#[test]
fn key_combos_and_keys_missing_from_the_layout() {
    let xvfb = Xvfb::start();
    let recorder = Recorder::start(&xvfb.display());
    let desktop = X11Desktop::open(Some(&xvfb.display())).expect("display opens");
    let before = xvfb.run(0, "xmodmap", &["-pke"]);

    // Ctrl+A, then Shift+1, then Enter.
    key(&desktop, "ControlLeft", true);
    key(&desktop, "KeyA", true);
    key(&desktop, "KeyA", false);
    key(&desktop, "ControlLeft", false);
    key(&desktop, "ShiftLeft", true);
    key(&desktop, "Digit1", true);
    key(&desktop, "Digit1", false);
    key(&desktop, "ShiftLeft", false);
    key(&desktop, "Enter", true);
    key(&desktop, "Enter", false);
    let releases = |e: &[Recorded]| {
        e.iter()
            .filter(|e| matches!(e, Recorded::Key { down: false, .. }))
            .count()
    };
    let events = recorder.wait_until(|e| key_presses(e).len() >= 5 && releases(e) >= 5);
    assert_eq!(
        key_presses(&events),
        [
            (XK_CONTROL_L, 0),
            (u32::from('a'), CONTROL_MASK),
            (XK_SHIFT_L, 0),
            (u32::from('!'), SHIFT_MASK),
            (0xff0d, 0),
        ]
    );
    assert_eq!(releases(&events), 5, "every key was released");

    // F13 is not on Xvfb's layout: it is pressed on a borrowed keycode, given back on release.
    recorder.clear();
    key(&desktop, "F13", true);
    key(&desktop, "F13", false);
    let events = recorder.wait_until(|e| e.len() >= 2);
    assert_eq!(key_presses(&events), [(XK_F13, 0)]);
    assert_eq!(xvfb.run(0, "xmodmap", &["-pke"]), before);

    // An unknown code is an error naming it.
    let err = desktop
        .inject(
            "0",
            &InputEvent::Key {
                code: "NoSuchKey".into(),
                down: true,
            },
        )
        .expect_err("unknown code");
    assert!(
        matches!(&err, MediaError::Input(msg) if msg.contains("NoSuchKey")),
        "{err}"
    );
}

#[test]
fn held_keys_and_buttons_are_released_when_the_desktop_closes() {
    let xvfb = Xvfb::start();
    let recorder = Recorder::start(&xvfb.display());
    let desktop = X11Desktop::open(Some(&xvfb.display())).expect("display opens");
    key(&desktop, "ShiftLeft", true);
    inject(
        &desktop,
        "0",
        InputEvent::Button {
            button: MouseButton::Left,
            down: true,
        },
    );
    drop(desktop);
    let events = recorder.wait_until(|e| e.len() >= 4);
    assert!(
        events.iter().any(|e| matches!(
            e,
            Recorded::Key {
                down: false,
                keysym: XK_SHIFT_L,
                ..
            }
        )),
        "{events:?}"
    );
    assert!(
        events.iter().any(|e| matches!(
            e,
            Recorded::Button {
                down: false,
                button: 1,
                ..
            }
        )),
        "{events:?}"
    );
}
