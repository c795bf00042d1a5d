//! The cursor on a real X server (a private two-screen Xvfb per test): in overlay mode (the default) a pointer that
//! only moves costs no frame, neither from the source nor from the engine, while cursor subscribers see every new
//! position; a shape change reaches [`FrameSource::cursor`] with a new serial; in video mode a move still costs a
//! frame; a screenshot with the cursor composites it at the pointer; and with an engine (or a sink) moves are
//! published as they happen (XInput2), coalesced, not once per capture tick.
#![cfg(target_os = "linux")]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::paint::Painter;
use common::xvfb::{SCREENS, Xvfb};
use sightline_media::cursor::composite;
use sightline_media::engine::{Engine, EngineConfig, VideoProfile};
use sightline_media::x11::X11Desktop;
use sightline_media::{CursorMode, CursorState, Desktop, Frame, FrameSource, InputEvent};
use sightline_monitor::{Monitor, MonitorConfig};
use tokio::time::timeout;

const BACKGROUND: u32 = 0x203040;

/// Paints both screens a uniform background, so the only thing that could differ near the pointer is a cursor.
fn paint_background(painter: &Painter) {
    for (screen, (w, h)) in SCREENS.iter().enumerate() {
        painter.fill(screen, 0, 0, *w as u16, *h as u16, BACKGROUND);
    }
}

fn open(xvfb: &Xvfb, mode: CursorMode) -> X11Desktop {
    let desktop = X11Desktop::open(Some(&xvfb.display()))
        .expect("display opens")
        .with_cursor_mode(mode);
    assert_eq!(desktop.cursor_mode(), mode);
    desktop
}

fn move_to(desktop: &X11Desktop, screen: &str, x: u32, y: u32) {
    desktop
        .inject(screen, &InputEvent::PointerMove { x, y })
        .expect("pointer moves");
}

fn frame(source: &mut Box<dyn FrameSource>) -> Option<Frame> {
    source.capture(false).expect("capture works")
}

/// Ticks a source (10 ms apart) until `done` accepts its cursor, asserting on every tick that no frame comes.
fn cursor_until(
    source: &mut Box<dyn FrameSource>,
    what: &str,
    done: impl Fn(&CursorState) -> bool,
) -> CursorState {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(f) = frame(source) {
            panic!("{what}: a pointer-only change produced frame {}", f.seq);
        }
        if let Some(c) = source.cursor().filter(|c| done(c)) {
            return c;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not seen within 5 s; last {:?}",
            source.cursor()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn in_overlay_mode_pointer_moves_cost_no_frames_and_are_reported() {
    let xvfb = Xvfb::start();
    let painter = Painter::connect(&xvfb.display());
    paint_background(&painter);
    let desktop = open(&xvfb, CursorMode::Overlay);
    move_to(&desktop, "1", 5, 715);
    let mut s0 = desktop.open("0").expect("screen 0 opens");
    let first = s0.capture(true).expect("capture").expect("a forced frame");
    let hidden = cursor_until(&mut s0, "pointer on the other screen", |c| !c.visible);
    assert!(
        hidden.shape.is_some(),
        "XFixes gives the shape even while the pointer is elsewhere"
    );

    let mut seen = Vec::new();
    for (i, x) in [1000, 1010, 1100, 1500].into_iter().enumerate() {
        let y = 500 + i as u32;
        move_to(&desktop, "0", x, y);
        let c = cursor_until(&mut s0, "a move", |c| c.visible && (c.x, c.y) == (x, y));
        seen.push((c.x, c.y));
        let shape = c.shape.expect("a shape");
        assert!(shape.width > 0 && shape.height > 0 && shape.width <= 256);
        assert_eq!(shape.rgba.len(), (shape.width * shape.height * 4) as usize);
        assert!(
            shape.rgba.chunks(4).any(|p| p[3] == 0xff),
            "the default cursor has opaque pixels"
        );
    }
    assert_eq!(seen, [(1000, 500), (1010, 501), (1100, 502), (1500, 503)]);

    // The frames never showed a cursor: a forced capture at the pointer is the background.
    let now = s0.capture(true).expect("capture").expect("a forced frame");
    assert_eq!(common::differing_pixels(&first, &now, 1500, 503), 0);
    assert_eq!(
        now.seq,
        first.seq + 1,
        "no frame between the two forced ones"
    );

    // Moving to screen 1 hides it on screen 0, clamped at its last position.
    move_to(&desktop, "1", 640, 360);
    let gone = cursor_until(&mut s0, "leaving the screen", |c| !c.visible);
    assert!(gone.x < 1920 && gone.y < 1080);
    let mut s1 = desktop.open("1").expect("screen 1 opens");
    s1.capture(true).expect("capture");
    let c1 = cursor_until(&mut s1, "arriving on screen 1", |c| c.visible);
    assert_eq!((c1.x, c1.y), (640, 360));

    // A real change is still a frame.
    painter.fill(0, 100, 100, 50, 50, 0xff0000);
    let deadline = Instant::now() + Duration::from_secs(5);
    while frame(&mut s0).is_none() {
        assert!(Instant::now() < deadline, "the drawing produced no frame");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_cursor_shape_change_reaches_the_source_with_a_new_serial() {
    let xvfb = Xvfb::start();
    let desktop = open(&xvfb, CursorMode::Overlay);
    move_to(&desktop, "0", 100, 100);
    let mut s0 = desktop.open("0").expect("screen 0 opens");
    s0.capture(true).expect("capture");
    let before = cursor_until(&mut s0, "the first shape", |c| {
        c.visible && c.shape.is_some()
    });
    let old = before.shape.expect("a shape");

    // An xterm shows its I-beam while the pointer is over it. Its window appearing is a frame (drained below).
    let _xterm = XTerm::start(&xvfb);
    move_to(&desktop, "0", 700, 400);
    let deadline = Instant::now() + Duration::from_secs(10);
    let new = loop {
        let _ = frame(&mut s0); // the xterm drawing itself
        if let Some(c) = source_shape(s0.as_ref()).filter(|s| s.serial != old.serial) {
            break c;
        }
        assert!(
            Instant::now() < deadline,
            "no new cursor shape over the xterm"
        );
        // The xterm may map after the move: nudge the pointer so the server re-picks the cursor.
        move_to(
            &desktop,
            "0",
            700,
            400 + (deadline - Instant::now()).as_millis() as u32 % 3,
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_ne!(new.rgba, old.rgba, "the I-beam looks different from the X");
    assert!(new.hot_x < new.width && new.hot_y < new.height);

    // Back over the root window: the old shape again.
    move_to(&desktop, "0", 100, 100);
    let back = cursor_until_any(&mut s0, |c| {
        c.shape.as_ref().is_some_and(|s| s.serial == old.serial)
    });
    assert_eq!((back.x, back.y), (100, 100));

    // A root cursor whose owner already exited (xsetroot) is refused by Xvfb's GetCursorImage (BadAccess): the
    // capture keeps working and keeps reporting the pointer, with the last shape it could read.
    xvfb.run(0, "xsetroot", &["-cursor_name", "watch"]);
    move_to(&desktop, "0", 120, 110);
    let after = cursor_until_any(&mut s0, |c| (c.x, c.y) == (120, 110));
    assert!(after.visible && after.shape.is_some());
}

fn source_shape(source: &dyn FrameSource) -> Option<Arc<sightline_media::CursorShape>> {
    source.cursor().and_then(|c| c.shape)
}

/// Like [`cursor_until`], tolerating frames (other clients are drawing).
fn cursor_until_any(
    source: &mut Box<dyn FrameSource>,
    done: impl Fn(&CursorState) -> bool,
) -> CursorState {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let _ = frame(source);
        if let Some(c) = source.cursor().filter(|c| done(c)) {
            return c;
        }
        assert!(
            Instant::now() < deadline,
            "not seen within 5 s; last {:?}",
            source.cursor()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// An xterm on screen 0 covering (600..900, 300..500), killed on drop.
struct XTerm(std::process::Child);

impl XTerm {
    fn start(xvfb: &Xvfb) -> Self {
        common::xvfb::require_tool("xterm");
        let child = std::process::Command::new("xterm")
            .args(["-geometry", "40x12+600+300"])
            .env("DISPLAY", xvfb.screen(0))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("xterm starts");
        Self(child)
    }
}

impl Drop for XTerm {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn in_video_mode_a_pointer_move_still_produces_a_frame() {
    let xvfb = Xvfb::start();
    let painter = Painter::connect(&xvfb.display());
    paint_background(&painter);
    let desktop = open(&xvfb, CursorMode::Video);
    move_to(&desktop, "0", 700, 400);
    let mut s0 = desktop.open("0").expect("screen 0 opens");
    let before = s0.capture(true).expect("capture").expect("a forced frame");
    for _ in 0..5 {
        // Settle: nothing changes any more.
        std::thread::sleep(Duration::from_millis(20));
        frame(&mut s0);
    }
    move_to(&desktop, "0", 1000, 500);
    let deadline = Instant::now() + Duration::from_secs(5);
    let moved = loop {
        if let Some(f) = frame(&mut s0) {
            break f;
        }
        assert!(
            Instant::now() < deadline,
            "a pointer move produced no frame in video mode"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(
        common::differing_pixels(&before, &moved, 1000, 500) > 10,
        "the cursor is painted"
    );
    assert_eq!(s0.cursor(), None, "video mode reports no overlay cursor");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_wakes_cursor_subscribers_and_encodes_nothing_for_pointer_moves() {
    let xvfb = Xvfb::start();
    let painter = Painter::connect(&xvfb.display());
    paint_background(&painter);
    let desktop = Arc::new(open(&xvfb, CursorMode::Overlay));
    move_to(&desktop, "0", 200, 200);
    let monitor = Monitor::new(MonitorConfig::default());
    let engine = Engine::new(desktop.clone(), EngineConfig::default(), monitor);
    let mut video = engine
        .subscribe_video("0", VideoProfile::default())
        .expect("subscribes");
    let mut frames = engine.subscribe_frames("0").expect("subscribes");
    let mut cursor = engine.subscribe_cursor("0").expect("subscribes");
    assert_eq!(cursor.screen().id, "0");
    let idr = timeout(Duration::from_secs(10), video.recv())
        .await
        .expect("an IDR")
        .expect("pipeline runs");
    assert!(idr.keyframe);
    timeout(Duration::from_secs(5), frames.changed())
        .await
        .expect("the first frame")
        .expect("capture runs");
    let start = timeout(Duration::from_secs(5), cursor.changed())
        .await
        .expect("a first cursor state")
        .expect("capture runs");
    assert!(start.visible);

    for (i, x) in [300, 400, 500, 600, 700].into_iter().enumerate() {
        let y = 300 + i as u32;
        engine
            .inject("0", InputEvent::PointerMove { x, y })
            .await
            .expect("pointer moves");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let c = timeout(left, cursor.changed())
                .await
                .expect("the move reaches the cursor subscriber")
                .expect("capture runs");
            if (c.x, c.y) == (x, y) {
                assert!(c.visible && c.shape.is_some());
                break;
            }
        }
    }
    assert_eq!(cursor.latest().map(|c| (c.x, c.y)), Some((700, 304)));
    // Nothing to wait for: no frame and no access unit came for any of the moves.
    assert!(
        timeout(Duration::from_millis(300), frames.changed())
            .await
            .is_err(),
        "a pointer move produced a frame"
    );
    assert!(
        timeout(Duration::from_millis(300), video.recv())
            .await
            .is_err(),
        "a pointer move produced an access unit"
    );
    // An unmoved pointer wakes nobody.
    assert!(
        timeout(Duration::from_millis(300), cursor.changed())
            .await
            .is_err(),
        "an unmoved pointer woke the cursor subscriber"
    );
    drop((video, frames, cursor));
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_with_the_cursor_composites_it_at_the_pointer() {
    let xvfb = Xvfb::start();
    let painter = Painter::connect(&xvfb.display());
    paint_background(&painter);
    let desktop = Arc::new(open(&xvfb, CursorMode::Overlay));
    move_to(&desktop, "0", 800, 600);
    let engine = Engine::new(
        desktop.clone(),
        EngineConfig::default(),
        Monitor::new(MonitorConfig::default()),
    );

    // No capture running: a one-shot source.
    let (frame, cursor) = engine.snapshot_with_cursor("0").await.expect("snapshot");
    let cursor = cursor.expect("overlay mode reports the cursor");
    assert_eq!((cursor.x, cursor.y, cursor.visible), (800, 600, true));
    let with = composite(&frame, &cursor);
    let drawn = common::differing_pixels(&frame, &with, 800, 600);
    assert!(
        drawn > 10,
        "the cursor is drawn around the pointer ({drawn} pixels)"
    );
    let shape = cursor.shape.as_deref().expect("a shape");
    // Every opaque pixel of the shape is exactly where the hot spot puts it.
    for (i, px) in shape
        .rgba
        .chunks(4)
        .enumerate()
        .filter(|(_, p)| p[3] == 0xff)
    {
        let (sx, sy) = ((i as u32) % shape.width, (i as u32) / shape.width);
        let (fx, fy) = (800 + sx - shape.hot_x, 600 + sy - shape.hot_y);
        assert_eq!(
            with.pixel(fx, fy).map(|p| [p[2], p[1], p[0]]),
            Some([px[0], px[1], px[2]]),
            "shape pixel ({sx},{sy})"
        );
    }

    // A running capture: its latest frame and pointer.
    let mut cursor_sub = engine.subscribe_cursor("0").expect("subscribes");
    engine
        .inject("0", InputEvent::PointerMove { x: 900, y: 650 })
        .await
        .expect("pointer moves");
    loop {
        let c = timeout(Duration::from_secs(5), cursor_sub.changed())
            .await
            .expect("the move is seen")
            .expect("capture runs");
        if (c.x, c.y) == (900, 650) {
            break;
        }
    }
    let (frame, cursor) = engine.snapshot_with_cursor("0").await.expect("snapshot");
    let cursor = cursor.expect("a cursor");
    assert_eq!((cursor.x, cursor.y), (900, 650));
    assert!(common::differing_pixels(&frame, &composite(&frame, &cursor), 900, 650) > 10);
    drop(cursor_sub);
    engine.shutdown();

    // Video mode: the frame already has the cursor, so there is none to composite.
    let video = Engine::new(
        Arc::new(open(&xvfb, CursorMode::Video)),
        EngineConfig::default(),
        Monitor::new(MonitorConfig::default()),
    );
    let (frame, cursor) = video.snapshot_with_cursor("0").await.expect("snapshot");
    assert_eq!(cursor, None);
    let plain = overlay_frame(&xvfb);
    assert!(
        common::differing_pixels(&plain, &frame, 900, 650) > 10,
        "video frames show the cursor"
    );
    video.shutdown();
}

/// A frame of screen 0 without the cursor (overlay mode, one shot).
fn overlay_frame(xvfb: &Xvfb) -> Frame {
    let desktop = open(xvfb, CursorMode::Overlay);
    let mut s0 = desktop.open("0").expect("screen 0 opens");
    s0.capture(true).expect("capture").expect("a forced frame")
}

/// Waits for cursor publications until one is at (`x`, `y`); returns how many arrived and how long it took.
async fn cursor_reaches(
    cursor: &mut sightline_media::engine::CursorSubscription,
    x: u32,
    y: u32,
    within: Duration,
) -> (usize, Duration) {
    let start = Instant::now();
    let mut n = 0;
    loop {
        let left = within.saturating_sub(start.elapsed());
        let c = timeout(left, cursor.changed())
            .await
            .unwrap_or_else(|_| panic!("({x},{y}) not published within {within:?}; {n} others"))
            .expect("capture runs");
        n += 1;
        if (c.x, c.y) == (x, y) {
            return (n, start.elapsed());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pointer_moves_are_published_as_they_happen_not_per_tick() {
    let xvfb = Xvfb::start();
    let desktop = Arc::new(open(&xvfb, CursorMode::Overlay));
    move_to(&desktop, "0", 100, 100);
    // One tick a second: anything faster than that is the pointer thread, not the tick.
    let config = EngineConfig {
        fps: 1,
        ..EngineConfig::default()
    };
    let engine = Engine::new(
        desktop.clone(),
        config,
        Monitor::new(MonitorConfig::default()),
    );
    let mut cursor = engine.subscribe_cursor("0").expect("subscribes");
    cursor_reaches(&mut cursor, 100, 100, Duration::from_secs(5)).await;
    // Let the first tick and the thread's first sample settle.
    tokio::time::sleep(Duration::from_millis(200)).await;
    while timeout(Duration::from_millis(50), cursor.changed())
        .await
        .is_ok()
    {}

    let mut worst = Duration::ZERO;
    for i in 0..10u32 {
        let (x, y) = (300 + 37 * i, 200 + 11 * i);
        // The XTEST move is injected on this thread (a round trip), so the clock starts when it is sent.
        let sent = Instant::now();
        move_to(&desktop, "0", x, y);
        let (_, _) = cursor_reaches(&mut cursor, x, y, Duration::from_millis(500)).await;
        worst = worst.max(sent.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("slowest of 10 moves: XTEST sent -> cursor subscriber woken in {worst:?}");
    // 10 ms is a generous bound for a loaded two-core machine; a per-tick report would take up to 1 s.
    assert!(
        worst < Duration::from_millis(10),
        "the slowest move took {worst:?}"
    );

    // A burst of 100 moves: publications are coalesced, the last one is the final position.
    let start = Instant::now();
    for i in 0..100u32 {
        move_to(&desktop, "0", 500 + i, 600);
    }
    let burst = start.elapsed();
    let (n, _) = cursor_reaches(&mut cursor, 599, 600, Duration::from_secs(2)).await;
    assert!(
        timeout(Duration::from_millis(100), cursor.changed())
            .await
            .is_err(),
        "nothing after the final position"
    );
    assert_eq!(cursor.latest().map(|c| (c.x, c.y)), Some((599, 600)));
    eprintln!("100 moves in {burst:?}: {n} cursor publications seen");
    // At most one publication per 4 ms (plus the leading and trailing ones); the watch may merge more.
    let bound = burst.as_millis() as usize / 4 + 3;
    assert!(
        n <= bound && n < 50,
        "{n} publications for 100 moves in {burst:?}"
    );
    drop(cursor);
    engine.shutdown();
}

#[test]
fn the_pointer_thread_coalesces_a_burst_into_few_sink_calls() {
    let xvfb = Xvfb::start();
    let desktop = open(&xvfb, CursorMode::Overlay);
    move_to(&desktop, "0", 100, 100);
    let mut s0 = desktop.open("0").expect("screen 0 opens");
    let calls = Arc::new(std::sync::Mutex::new(Vec::<(Instant, u32, u32)>::new()));
    let sink_calls = Arc::clone(&calls);
    s0.set_cursor_sink(Arc::new(move |c: CursorState| {
        sink_calls
            .lock()
            .expect("not poisoned")
            .push((Instant::now(), c.x, c.y));
    }));
    // No capture ticks at all: only the pointer thread reports.
    std::thread::sleep(Duration::from_millis(200));
    calls.lock().expect("not poisoned").clear();

    let start = Instant::now();
    for i in 0..100u32 {
        move_to(&desktop, "0", 200 + i, 300);
    }
    let burst = start.elapsed();
    let deadline = Instant::now() + Duration::from_secs(2);
    while calls
        .lock()
        .expect("not poisoned")
        .last()
        .map(|c| (c.1, c.2))
        != Some((299, 300))
    {
        assert!(Instant::now() < deadline, "the final position never came");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(50));
    let calls = calls.lock().expect("not poisoned").clone();
    assert_eq!(calls.last().map(|c| (c.1, c.2)), Some((299, 300)));
    let bound = burst.as_millis() as usize / 4 + 3;
    assert!(
        calls.len() <= bound && calls.len() < 50,
        "{} sink calls for 100 moves in {burst:?}",
        calls.len()
    );
    // Never two within the interval (a little scheduling slack).
    for w in calls.windows(2) {
        let gap = w[1].0.duration_since(w[0].0);
        assert!(gap >= Duration::from_micros(3500), "calls {gap:?} apart");
    }
    assert_eq!(s0.cursor().map(|c| (c.x, c.y)), Some((299, 300)));
    drop(s0); // stops and joins the pointer thread
}

// Without XInput2 the pointer is still reported once per tick. Xvfb cannot run without XInputExtension ("can not
// be disabled"), so that fallback is not exercised here; the per-tick path itself is what every test above that
// calls `capture` directly without a sink relies on.
