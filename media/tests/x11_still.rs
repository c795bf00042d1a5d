//! Stills on a real X server (a private two-screen Xvfb): a still of a region has the region's size and exact
//! pixels on both screens; the warm grabber stays open between stills and is released (connection and shared
//! memory) after its idle period and at shutdown; `include_cursor` draws the pointer in; a running capture's
//! latest frame is used instead of a grab; a region outside the screen is refused.
//!
//! One test function: the checks of shared memory count this process's segments, which parallel tests in the
//! same binary would disturb.
#![cfg(target_os = "linux")]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::paint::Painter;
use common::xvfb::Xvfb;
use sightline_media::engine::{Engine, EngineConfig};
use sightline_media::x11::X11Desktop;
use sightline_media::{Desktop, InputEvent, MediaError, Rect, Still, StillEncoding, StillRequest};
use sightline_monitor::{Monitor, MonitorConfig};

const BACKGROUND: u32 = 0x203040;
const RED: u32 = 0xff0000;
const GREEN: u32 = 0x00ff00;
/// The idle period of this test's engine: short, so the release is seen without waiting 30 s.
const TEST_IDLE: Duration = Duration::from_millis(400);

fn rgb(c: u32) -> [u8; 3] {
    [(c >> 16) as u8, (c >> 8) as u8, c as u8]
}

fn png(region: Option<Rect>) -> StillRequest {
    StillRequest {
        region,
        include_cursor: false,
        encoding: StillEncoding::Png { max_width: None },
    }
}

fn decode(still: &Still) -> image::RgbImage {
    let img = image::load_from_memory(&still.data)
        .expect("the still decodes")
        .to_rgb8();
    assert_eq!(img.dimensions(), (still.width, still.height));
    img
}

/// Shared-memory segments created by this process that are still attached somewhere (`/proc/sysvipc/shm`:
/// columns key, shmid, perms, size, cpid, lpid, nattch, …).
fn our_shm_segments() -> usize {
    let me = std::process::id().to_string();
    std::fs::read_to_string("/proc/sysvipc/shm")
        .expect("SysV IPC is visible")
        .lines()
        .skip(1)
        .filter(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.get(4) == Some(&me.as_str()) && cols.get(6).is_some_and(|n| *n != "0")
        })
        .count()
}

async fn wait_until(what: &str, patience: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + patience;
    while !done() {
        assert!(Instant::now() < deadline, "{what} within {patience:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stills_grab_only_the_region_keep_the_grabber_warm_and_release_it_when_idle() {
    let xvfb = Xvfb::start();
    let painter = Painter::connect(&xvfb.display());
    painter.fill(0, 0, 0, 1920, 1080, BACKGROUND);
    painter.fill(1, 0, 0, 1280, 720, BACKGROUND);
    painter.fill(0, 100, 50, 300, 200, RED);
    painter.fill(1, 1000, 600, 280, 120, GREEN);
    let desktop = Arc::new(X11Desktop::open(Some(&xvfb.display())).expect("display opens"));
    // The pointer parks on screen 1's top-left corner, away from everything checked until the cursor part.
    desktop
        .inject("1", &InputEvent::PointerMove { x: 2, y: 2 })
        .unwrap();
    let monitor = Monitor::new(MonitorConfig::default());
    let engine = Engine::new(
        Arc::clone(&desktop) as Arc<dyn Desktop>,
        EngineConfig::default(),
        monitor,
    );
    engine.set_still_idle(TEST_IDLE);
    assert!(engine.warm_stills().is_empty());
    assert_eq!(
        our_shm_segments(),
        0,
        "no shared memory before the first still"
    );

    // A region across the red rectangle's corner: exact pixels, the region's size.
    let region = Rect {
        x: 350,
        y: 200,
        width: 100,
        height: 80,
    };
    let still = engine.still("0", png(Some(region))).await.expect("a still");
    assert_eq!(
        (still.width, still.height, still.mime),
        (100, 80, "image/png")
    );
    assert_eq!(still.region, region);
    assert_eq!((still.screen_width, still.screen_height), (1920, 1080));
    let img = decode(&still);
    assert_eq!(img.get_pixel(0, 0).0, rgb(RED)); // screen (350, 200)
    assert_eq!(img.get_pixel(49, 49).0, rgb(RED)); // screen (399, 249): the rectangle's last pixel
    assert_eq!(img.get_pixel(50, 49).0, rgb(BACKGROUND));
    assert_eq!(img.get_pixel(49, 50).0, rgb(BACKGROUND));
    assert_eq!(img.get_pixel(99, 79).0, rgb(BACKGROUND));
    assert_eq!(engine.warm_stills(), vec!["0".to_owned()]);
    assert_eq!(our_shm_segments(), 1, "one segment for the warm grabber");

    // The same grabber serves the next stills, of any region or the whole screen, as JPEG.
    let full = engine
        .still(
            "0",
            StillRequest {
                region: None,
                include_cursor: false,
                encoding: StillEncoding::Jpeg {
                    quality: 80,
                    max_width: None,
                },
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (full.width, full.height, full.mime),
        (1920, 1080, "image/jpeg")
    );
    assert!(full.seq > still.seq, "the grabber counts its grabs");
    let img = decode(&full);
    let p = img.get_pixel(250, 150).0;
    assert!(
        p[0] > 230 && p[1] < 30 && p[2] < 30,
        "red in the JPEG: {p:?}"
    );
    assert_eq!(our_shm_segments(), 1, "still one segment");
    let scaled = engine
        .still(
            "0",
            StillRequest {
                region: Some(Rect {
                    x: 0,
                    y: 0,
                    width: 800,
                    height: 600,
                }),
                include_cursor: false,
                encoding: StillEncoding::Jpeg {
                    quality: 80,
                    max_width: Some(400),
                },
            },
        )
        .await
        .unwrap();
    assert_eq!((scaled.width, scaled.height), (400, 300));
    decode(&scaled);

    // Screen 1 gets its own grabber; its bottom-right corner is green.
    let corner = Rect {
        x: 1180,
        y: 620,
        width: 100,
        height: 100,
    };
    let s1 = engine.still("1", png(Some(corner))).await.unwrap();
    assert_eq!((s1.screen_width, s1.screen_height), (1280, 720));
    let img = decode(&s1);
    assert_eq!(img.get_pixel(0, 0).0, rgb(GREEN));
    assert_eq!(img.get_pixel(99, 99).0, rgb(GREEN));
    assert_eq!(engine.warm_stills(), vec!["0".to_owned(), "1".to_owned()]);
    assert_eq!(our_shm_segments(), 2);

    // A region outside the screen is refused, naming the screen's size.
    let outside = Rect {
        x: 1200,
        y: 0,
        width: 100,
        height: 10,
    };
    let err = engine.still("1", png(Some(outside))).await.unwrap_err();
    assert!(matches!(err, MediaError::Invalid { .. }), "{err}");
    assert!(err.to_string().contains("1280x720"), "{err}");

    // Idle: both grabbers go, with their connections and shared memory.
    wait_until(
        "the idle grabbers are released",
        Duration::from_secs(5),
        || engine.warm_stills().is_empty(),
    )
    .await;
    wait_until(
        "their shared memory is gone",
        Duration::from_secs(5),
        || our_shm_segments() == 0,
    )
    .await;

    // The pointer drawn in: over a uniform background the region differs from the same region without it.
    desktop
        .inject("0", &InputEvent::PointerMove { x: 1000, y: 700 })
        .unwrap();
    let around = Some(Rect {
        x: 960,
        y: 660,
        width: 80,
        height: 80,
    });
    let bare = decode(&engine.still("0", png(around)).await.unwrap());
    assert!(
        bare.pixels().all(|p| p.0 == rgb(BACKGROUND)),
        "no pointer without include_cursor"
    );
    let with = engine
        .still(
            "0",
            StillRequest {
                include_cursor: true,
                ..png(around)
            },
        )
        .await
        .unwrap();
    let with = decode(&with);
    let drawn = with.pixels().filter(|p| p.0 != rgb(BACKGROUND)).count();
    assert!(
        drawn >= 20,
        "the pointer is drawn in ({drawn} pixels differ)"
    );
    assert_eq!(
        with.get_pixel(0, 0).0,
        rgb(BACKGROUND),
        "far from the pointer nothing changes"
    );

    // A running capture: its latest frame is the still (no grab), and the warm grabber of that screen goes.
    let sub = engine.subscribe_frames("0").expect("capture starts");
    let mut sub = sub;
    tokio::time::timeout(Duration::from_secs(10), sub.changed())
        .await
        .expect("a first frame")
        .expect("capture runs");
    let from_capture = engine.still("0", png(Some(region))).await.unwrap();
    assert_eq!(
        decode(&from_capture).get_pixel(0, 0).0,
        rgb(RED),
        "the capture's frame has the same pixels"
    );
    assert!(
        engine.warm_stills().is_empty(),
        "no grabber while the capture runs"
    );
    drop(sub);

    // Shutdown releases everything; later stills fail.
    engine.still("1", png(None)).await.unwrap();
    assert_eq!(engine.warm_stills(), vec!["1".to_owned()]);
    engine.shutdown();
    assert!(engine.warm_stills().is_empty());
    let err = engine.still("1", png(None)).await.unwrap_err();
    assert!(matches!(err, MediaError::Stopped), "{err}");
    wait_until(
        "shared memory gone after shutdown",
        Duration::from_secs(5),
        || our_shm_segments() == 0,
    )
    .await;
}
