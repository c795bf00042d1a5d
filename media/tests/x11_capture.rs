//! X11 capture on a real X server (a private two-screen Xvfb per test): screen enumeration, exact pixels and sizes
//! on both screens, RandR monitors, change detection (an unchanged screen yields no frames, and the engine encodes
//! nothing for it), the cursor, and the fallbacks for servers without DAMAGE or MIT-SHM.
#![cfg(target_os = "linux")]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::paint::Painter;
use common::xvfb::{SCREENS, Xvfb};
use sightline_media::engine::{Engine, EngineConfig, VideoProfile};
use sightline_media::x11::X11Desktop;
use sightline_media::{Desktop, Frame, FrameSource, InputEvent, SourceKind};
use sightline_monitor::{Monitor, MonitorConfig};
use tokio::time::timeout;

const BACKGROUND: u32 = 0x203040;
const RED: u32 = 0xff0000;
const GREEN: u32 = 0x00ff00;
const BLUE: u32 = 0x0000ff;
const WHITE: u32 = 0xffffff;

/// `[b, g, r]` of a 0xRRGGBB colour: the first three bytes of a BGRA pixel.
fn bgr(rgb: u32) -> [u8; 3] {
    [rgb as u8, (rgb >> 8) as u8, (rgb >> 16) as u8]
}

fn assert_pixel(frame: &Frame, x: u32, y: u32, rgb: u32) {
    let px = frame
        .pixel(x, y)
        .unwrap_or_else(|| panic!("({x},{y}) outside {}x{}", frame.width, frame.height));
    assert_eq!(
        px[..3],
        bgr(rgb),
        "pixel ({x},{y}) is {px:?}, expected {rgb:06x}"
    );
}

/// Paints both screens: a uniform background and three rectangles with known edges.
fn paint_known_content(painter: &Painter) {
    for (screen, (w, h)) in SCREENS.iter().enumerate() {
        painter.fill(screen, 0, 0, *w as u16, *h as u16, BACKGROUND);
    }
    painter.fill(0, 100, 50, 300, 200, RED);
    painter.fill(0, 1800, 1000, 120, 80, GREEN); // touches the bottom-right corner
    painter.fill(1, 0, 0, 64, 32, BLUE); // touches the top-left corner
    painter.fill(1, 1000, 600, 280, 120, WHITE); // touches the bottom-right corner
}

/// Puts the pointer at a known place so it never covers what a test checks (screen 1, bottom left).
fn park_pointer(desktop: &X11Desktop) {
    desktop
        .inject("1", &InputEvent::PointerMove { x: 5, y: 715 })
        .expect("pointer moves");
}

fn frame(source: &mut Box<dyn FrameSource>, force: bool) -> Option<Frame> {
    source.capture(force).expect("capture works")
}

/// Polls a source until it reports a frame: DAMAGE events travel asynchronously, so a change drawn by another
/// client shows up within a tick or two, not necessarily on the very next call.
fn next_frame(source: &mut Box<dyn FrameSource>) -> Frame {
    // Generous: a busy machine can delay the server; a frame normally comes on the first or second tick.
    next_frame_within(source, Duration::from_secs(5))
}

/// Polls a source until it reports a frame or `patience` runs out (periodic re-checks need seconds).
fn next_frame_within(source: &mut Box<dyn FrameSource>, patience: Duration) -> Frame {
    let deadline = std::time::Instant::now() + patience;
    while std::time::Instant::now() < deadline {
        if let Some(f) = frame(source, false) {
            return f;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no frame within {patience:?}");
}

/// Asserts that a source reports no frame over `ticks` paced calls.
fn assert_unchanged(source: &mut Box<dyn FrameSource>, ticks: usize) {
    for tick in 0..ticks {
        std::thread::sleep(Duration::from_millis(10));
        if let Some(f) = frame(source, false) {
            panic!(
                "tick {tick}: unchanged screen {} produced frame {}",
                source.screen().id,
                f.seq
            );
        }
    }
}

#[test]
fn both_x_screens_are_listed_with_their_sizes() {
    let xvfb = Xvfb::start();
    let desktop = X11Desktop::open(Some(&xvfb.display())).expect("display opens");
    assert_eq!(desktop.kind(), SourceKind::X11);
    let screens = desktop.screens().expect("screens");
    let summary: Vec<_> = screens
        .iter()
        .map(|s| {
            (
                s.id.clone(),
                s.name.clone(),
                s.width,
                s.height,
                s.source,
                s.primary,
            )
        })
        .collect();
    let d = xvfb.display();
    assert_eq!(
        summary,
        [
            (
                "0".into(),
                format!("{d}.0 screen"),
                1920,
                1080,
                SourceKind::X11,
                true
            ),
            (
                "1".into(),
                format!("{d}.1 screen"),
                1280,
                720,
                SourceKind::X11,
                false
            ),
        ]
    );

    // A display string naming screen 1 makes that screen's monitor the primary one.
    let desktop = X11Desktop::open(Some(&xvfb.screen(1))).expect("display opens");
    let primary: Vec<_> = desktop
        .screens()
        .expect("screens")
        .into_iter()
        .map(|s| s.primary)
        .collect();
    assert_eq!(primary, [false, true]);

    assert!(matches!(
        desktop.open("7"),
        Err(sightline_media::MediaError::UnknownScreen(_))
    ));
}

#[test]
fn captured_pixels_match_what_was_painted_on_both_screens() {
    let xvfb = Xvfb::start();
    let painter = Painter::connect(&xvfb.display());
    paint_known_content(&painter);
    let desktop = X11Desktop::open(Some(&xvfb.display())).expect("display opens");
    park_pointer(&desktop);

    let mut s0 = desktop.open("0").expect("screen 0 opens");
    let f = frame(&mut s0, false).expect("the first capture always yields a frame");
    assert_eq!(
        (f.width, f.height, f.stride, f.data.len()),
        (1920, 1080, 1920 * 4, 1920 * 1080 * 4)
    );
    assert_eq!(f.seq, 1);
    let age = std::time::SystemTime::now()
        .duration_since(f.captured_at)
        .expect("captured in the past");
    assert!(
        age < Duration::from_secs(5),
        "captured_at is wall-clock time"
    );
    // The red rectangle covers x 100..400, y 50..250 exactly.
    for (x, y) in [(100, 50), (399, 249), (250, 150)] {
        assert_pixel(&f, x, y, RED);
    }
    for (x, y) in [
        (99, 50),
        (100, 49),
        (400, 249),
        (399, 250),
        (0, 0),
        (1000, 500),
    ] {
        assert_pixel(&f, x, y, BACKGROUND);
    }
    assert_pixel(&f, 1919, 1079, GREEN);
    assert_pixel(&f, 1800, 1000, GREEN);
    assert_pixel(&f, 1799, 1000, BACKGROUND);

    let mut s1 = desktop.open("1").expect("screen 1 opens");
    assert_eq!(s1.screen().width, 1280);
    let f = frame(&mut s1, true).expect("forced capture");
    assert_eq!(
        (f.width, f.height, f.data.len()),
        (1280, 720, 1280 * 720 * 4)
    );
    assert_pixel(&f, 0, 0, BLUE);
    assert_pixel(&f, 63, 31, BLUE);
    assert_pixel(&f, 64, 31, BACKGROUND);
    assert_pixel(&f, 63, 32, BACKGROUND);
    assert_pixel(&f, 1000, 600, WHITE);
    assert_pixel(&f, 1279, 719, WHITE);
    assert_pixel(&f, 999, 600, BACKGROUND);
}

#[test]
fn an_unchanged_screen_produces_no_frames_and_a_change_produces_one() {
    let xvfb = Xvfb::start();
    let painter = Painter::connect(&xvfb.display());
    paint_known_content(&painter);
    let desktop = X11Desktop::open(Some(&xvfb.display())).expect("display opens");
    park_pointer(&desktop);
    let mut s0 = desktop.open("0").expect("screen 0 opens");
    let mut s1 = desktop.open("1").expect("screen 1 opens");
    assert_eq!(frame(&mut s0, false).expect("first frame").seq, 1);
    assert_eq!(frame(&mut s1, false).expect("first frame").seq, 1);
    assert_unchanged(&mut s0, 20);
    assert_unchanged(&mut s1, 20);

    // Forcing still captures (a keyframe for a new viewer), and numbers frames on.
    let forced = frame(&mut s0, true).expect("forced frame");
    assert_eq!(forced.seq, 2);
    assert_unchanged(&mut s0, 5);

    // A change on screen 1 yields a frame there and nothing on screen 0.
    let square = painter.fill(1, 600, 300, 50, 50, RED);
    let f = next_frame(&mut s1);
    assert_eq!(f.seq, 2);
    assert_pixel(&f, 600, 300, RED);
    assert_pixel(&f, 649, 349, RED);
    assert_unchanged(&mut s0, 10);
    assert_unchanged(&mut s1, 10);

    // Removing it is a change again, and the background is back.
    painter.remove(square);
    let f = next_frame(&mut s1);
    assert_pixel(&f, 600, 300, BACKGROUND);
    assert_unchanged(&mut s1, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_encodes_nothing_for_an_unchanged_x_screen() {
    let xvfb = Xvfb::start();
    let painter = Painter::connect(&xvfb.display());
    paint_known_content(&painter);
    let desktop = Arc::new(X11Desktop::open(Some(&xvfb.display())).expect("display opens"));
    park_pointer(&desktop);
    let monitor = Monitor::new(MonitorConfig::default());
    let engine = Engine::new(desktop, EngineConfig::default(), monitor.clone());
    let mut sub = engine
        .subscribe_video("0", VideoProfile::default())
        .expect("subscribes");
    let first = timeout(Duration::from_secs(10), sub.recv())
        .await
        .expect("an IDR for the new viewer")
        .expect("pipeline runs");
    assert!(first.keyframe);
    assert_eq!((first.width, first.height), (1920, 1080));

    // A second of an unchanged screen at 30 fps: captures tick, nothing is converted or encoded.
    let capture = |m: &Monitor| {
        m.pipelines()
            .into_iter()
            .find(|p| p.kind == "capture")
            .expect("a capture pipeline")
    };
    let unchanged_before = capture(&monitor).unchanged_total;
    assert!(
        timeout(Duration::from_millis(1200), sub.recv())
            .await
            .is_err(),
        "an unchanged X screen produced an access unit"
    );
    let unchanged = capture(&monitor).unchanged_total - unchanged_before;
    assert!(
        unchanged >= 15,
        "the pacer kept checking the screen ({unchanged} unchanged ticks)"
    );

    // A change is encoded at once (a P frame: the viewer already has the picture).
    painter.fill(0, 700, 500, 120, 60, GREEN);
    let unit = timeout(Duration::from_secs(5), sub.recv())
        .await
        .expect("the change is encoded")
        .expect("pipeline runs");
    assert!(!unit.keyframe);
    assert!(unit.seq > first.seq);
    drop(sub);
    engine.shutdown();
}

#[test]
fn the_cursor_is_drawn_into_frames_and_its_moves_are_changes() {
    let xvfb = Xvfb::start();
    let painter = Painter::connect(&xvfb.display());
    paint_known_content(&painter);
    // Video mode paints the cursor; the overlay mode (the default) is covered by x11_cursor.rs.
    let desktop = X11Desktop::open(Some(&xvfb.display()))
        .expect("display opens")
        .with_cursor_mode(sightline_media::CursorMode::Video);
    park_pointer(&desktop);
    let mut s0 = desktop.open("0").expect("screen 0 opens");
    let without = frame(&mut s0, false).expect("first frame");
    assert_pixel(&without, 1000, 500, BACKGROUND);

    let mut s1 = desktop.open("1").expect("screen 1 opens");
    let on_screen_1 = frame(&mut s1, false).expect("first frame");

    desktop
        .inject("0", &InputEvent::PointerMove { x: 1000, y: 500 })
        .expect("pointer moves");
    let with = next_frame(&mut s0);
    let changed = common::differing_pixels(&without, &with, 1000, 500);
    assert!(
        changed > 10,
        "the cursor is drawn around the pointer ({changed} pixels differ)"
    );
    assert_unchanged(&mut s0, 10);

    // Moving the pointer within the screen moves the drawn cursor.
    desktop
        .inject("0", &InputEvent::PointerMove { x: 1100, y: 500 })
        .expect("pointer moves");
    let moved = next_frame(&mut s0);
    assert_eq!(
        common::differing_pixels(&without, &moved, 1000, 500),
        0,
        "the old cursor position is clean again"
    );
    assert!(common::differing_pixels(&without, &moved, 1100, 500) > 10);
    assert_unchanged(&mut s0, 10);

    // The cursor left screen 1 when it moved to screen 0: screen 1 is redrawn without it.
    let left = next_frame(&mut s1);
    assert!(
        common::differing_pixels(&on_screen_1, &left, 5, 715) > 10,
        "screen 1 showed the cursor before"
    );
    assert_unchanged(&mut s1, 5);

    // Leaving for the other screen removes the cursor from this one and draws it there.
    park_pointer(&desktop);
    let gone = next_frame(&mut s0);
    assert_eq!(common::differing_pixels(&without, &gone, 1100, 500), 0);
    assert_unchanged(&mut s0, 10);
    let back = next_frame(&mut s1);
    assert_eq!(
        common::differing_pixels(&on_screen_1, &back, 5, 715),
        0,
        "the same cursor at the same place"
    );
}

#[test]
fn randr_monitors_split_a_screen_into_separately_captured_rectangles() {
    let xvfb = Xvfb::start();
    let painter = Painter::connect(&xvfb.display());
    paint_known_content(&painter);
    xvfb.run(
        0,
        "xrandr",
        &["--setmonitor", "LEFT", "960/254x1080/286+0+0", "none"],
    );
    xvfb.run(
        0,
        "xrandr",
        &["--setmonitor", "*RIGHT", "960/254x1080/286+960+0", "none"],
    );
    let desktop = X11Desktop::open(Some(&xvfb.display())).expect("display opens");
    park_pointer(&desktop);

    let screens = desktop.screens().expect("screens");
    let d = xvfb.display();
    let summary: Vec<_> = screens
        .iter()
        .map(|s| (s.id.as_str(), s.name.clone(), s.width, s.primary))
        .collect();
    // Left to right; Xvfb keeps its automatic whole-screen monitor next to the two added ones.
    assert_eq!(
        summary,
        [
            ("0", format!("{d}.0 LEFT"), 960, false),
            ("1", format!("{d}.0 screen"), 1920, false),
            ("2", format!("{d}.0 RIGHT"), 960, true),
            ("3", format!("{d}.1 screen"), 1280, false),
        ]
    );

    let mut right = desktop.open("2").expect("RIGHT opens");
    let f = frame(&mut right, false).expect("first frame");
    assert_eq!((f.width, f.height), (960, 1080));
    // The green rectangle at 1800..1920 of the screen is at 840..960 of the right half.
    assert_pixel(&f, 840, 1000, GREEN);
    assert_pixel(&f, 839, 1000, BACKGROUND);
    assert_pixel(&f, 0, 0, BACKGROUND);

    // Drawing on the left half only is not a change of the right half.
    let mut left = desktop.open("0").expect("LEFT opens");
    frame(&mut left, false).expect("first frame");
    painter.fill(0, 500, 500, 10, 10, WHITE);
    let f = next_frame(&mut left);
    assert_pixel(&f, 505, 505, WHITE);
    assert_unchanged(&mut right, 10);

    // Input on a monitor lands at that monitor's offset.
    desktop
        .inject("2", &InputEvent::PointerMove { x: 10, y: 20 })
        .expect("pointer moves");
    let location = xvfb.run(0, "xdotool", &["getmouselocation"]);
    assert!(location.starts_with("x:970 y:20 screen:0 "), "{location}");
    park_pointer(&desktop);

    // A monitor redefined in place (no event is sent for that) is picked up by the periodic re-check. Xvfb
    // refuses to replace a monitor, so one xrandr run deletes and re-adds it (back-to-back requests).
    xvfb.run(
        0,
        "xrandr",
        &[
            "--delmonitor",
            "RIGHT",
            "--setmonitor",
            "*RIGHT",
            "800/212x600/159+1120+480",
            "none",
        ],
    );
    let f = next_frame_within(&mut right, Duration::from_secs(5));
    assert_eq!((f.width, f.height), (800, 600));
    assert_eq!((right.screen().width, right.screen().height), (800, 600));
    // The green rectangle (1800..1920 x 1000..1080 of the screen) now starts at (680, 520).
    assert_pixel(&f, 680, 520, GREEN);
    assert_pixel(&f, 679, 520, BACKGROUND);
}

#[test]
fn without_damage_and_shared_memory_capture_compares_frames() {
    let xvfb = Xvfb::start_with(&["-extension", "DAMAGE", "-extension", "MIT-SHM"]);
    let extensions = xvfb.run(0, "xdpyinfo", &["-queryExtensions"]);
    assert!(
        !extensions.contains("DAMAGE") && !extensions.contains("MIT-SHM"),
        "{extensions}"
    );
    let painter = Painter::connect(&xvfb.display());
    paint_known_content(&painter);
    let desktop = X11Desktop::open(Some(&xvfb.display())).expect("display opens");
    park_pointer(&desktop);

    let mut s0 = desktop.open("0").expect("screen 0 opens");
    let f = frame(&mut s0, false).expect("first frame");
    assert_eq!((f.width, f.height), (1920, 1080));
    assert_pixel(&f, 100, 50, RED);
    assert_pixel(&f, 1919, 1079, GREEN);
    assert_unchanged(&mut s0, 10);

    let square = painter.fill(0, 10, 10, 5, 5, WHITE);
    let f = next_frame(&mut s0);
    assert_pixel(&f, 12, 12, WHITE);
    assert_unchanged(&mut s0, 5);
    painter.move_to(square, 20, 10);
    let f = next_frame(&mut s0);
    assert_pixel(&f, 12, 12, BACKGROUND);
    assert_pixel(&f, 22, 12, WHITE);

    let mut s1 = desktop.open("1").expect("screen 1 opens");
    let f = frame(&mut s1, false).expect("first frame");
    assert_pixel(&f, 1279, 719, WHITE);
    assert_unchanged(&mut s1, 5);
}

#[test]
fn without_randr_each_x_screen_is_one_monitor() {
    let xvfb = Xvfb::start_with(&["-extension", "RANDR"]);
    let desktop = X11Desktop::open(Some(&xvfb.display())).expect("display opens");
    let screens = desktop.screens().expect("screens");
    let sizes: Vec<_> = screens
        .iter()
        .map(|s| (s.name.clone(), s.width, s.height, s.primary))
        .collect();
    let d = xvfb.display();
    assert_eq!(
        sizes,
        [
            (format!("{d}.0 screen"), 1920, 1080, true),
            (format!("{d}.1 screen"), 1280, 720, false)
        ]
    );
    let mut s1 = desktop.open("1").expect("screen 1 opens");
    let f = frame(&mut s1, false).expect("first frame");
    assert_eq!((f.width, f.height), (1280, 720));
}

#[test]
fn capture_and_input_recover_when_the_display_restarts() {
    let mut xvfb = Xvfb::start();
    let desktop = X11Desktop::open(Some(&xvfb.display())).expect("display opens");
    let mut s1 = desktop.open("1").expect("screen 1 opens");
    assert_eq!(frame(&mut s1, false).expect("first frame").seq, 1);
    assert_unchanged(&mut s1, 3);

    // The server dies and a new one takes its place: the next calls reconnect without an error.
    xvfb.restart();
    let painter = Painter::connect(&xvfb.display());
    paint_known_content(&painter);
    park_pointer(&desktop);
    let f = next_frame(&mut s1);
    assert_eq!(f.seq, 2, "numbering goes on across the reconnect");
    assert_pixel(&f, 0, 0, BLUE);
    assert_eq!(desktop.screens().expect("screens").len(), 2);

    // While no server runs, calls fail with display errors instead of panicking.
    drop(painter);
    drop(xvfb);
    let err = s1.capture(true).expect_err("no display");
    assert!(
        matches!(err, sightline_media::MediaError::Display(_)),
        "{err}"
    );
    let err = s1.capture(true).expect_err("still no display");
    assert!(
        matches!(err, sightline_media::MediaError::Display(_)),
        "{err}"
    );
    assert!(matches!(
        desktop.screens(),
        Err(sightline_media::MediaError::Display(_))
    ));
    let err = desktop
        .inject("0", &InputEvent::PointerMove { x: 1, y: 1 })
        .expect_err("no display");
    assert!(
        matches!(err, sightline_media::MediaError::Input(_)),
        "{err}"
    );
}
