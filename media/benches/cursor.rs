//! What a pointer that only moves costs, with the cursor painted into the video ([`CursorMode::Video`]) and drawn
//! by the viewer as an overlay ([`CursorMode::Overlay`]), on a private Xvfb (screen 0: 1920x1080).
//!
//! For each mode an [`Engine`] with one H.264 subscription of screen 0 (default profile) waits for its first IDR
//! and one quiet second, then the pointer moves in a circle (radius 300 px around the screen's centre) at 60 moves
//! per second through the desktop's XTEST injection, for `--seconds` seconds (default 10), and nothing else
//! changes on the screen. Access units and bytes received are counted per 1-s window; the table shows their
//! medians, and in overlay mode the cursor updates per second a `subscribe_cursor` subscriber saw. The target for
//! overlay is zero frames.
//!
//! Run: `cargo bench -p sightline-media --bench cursor -- --seconds 10`.

#[cfg(target_os = "linux")]
#[allow(dead_code)]
#[path = "../tests/common/xvfb.rs"]
mod xvfb;

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("the cursor benchmark runs on Linux only");
}

#[cfg(target_os = "linux")]
fn main() {
    linux::main();
}

#[cfg(target_os = "linux")]
mod linux {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    use sightline_media::engine::{Engine, EngineConfig, VideoProfile};
    use sightline_media::x11::X11Desktop;
    use sightline_media::{CursorMode, Desktop, InputEvent};
    use sightline_monitor::{Monitor, MonitorConfig};

    use super::xvfb::Xvfb;

    /// Pointer moves per second.
    const MOVES_PER_SECOND: u32 = 60;
    /// The circle the pointer follows on the 1920x1080 screen.
    const CENTRE: (f64, f64) = (960.0, 540.0);
    const RADIUS: f64 = 300.0;
    /// One lap every two seconds: each move travels about 16 px.
    const LAP: Duration = Duration::from_secs(2);

    /// What one mode cost, per 1-s window.
    struct Windows {
        units: Vec<u64>,
        bytes: Vec<u64>,
        cursor_updates: Vec<u64>,
        moves: u64,
    }

    pub fn main() {
        let seconds = seconds_arg();
        let xvfb = Xvfb::start();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let video = runtime.block_on(run(&xvfb, CursorMode::Video, seconds));
        let overlay = runtime.block_on(run(&xvfb, CursorMode::Overlay, seconds));

        println!(
            "\n== pointer-only motion, 1920x1080, {MOVES_PER_SECOND} moves/s for {seconds} s (medians over 1-s windows) =="
        );
        println!(
            "  {:<8} {:>12} {:>14} {:>16} {:>12}",
            "mode", "frames/s", "kbit/s", "cursor upd/s", "moves"
        );
        for (name, w) in [("video", &video), ("overlay", &overlay)] {
            println!(
                "  {:<8} {:>12.1} {:>14.1} {:>16} {:>12}",
                name,
                median(&w.units),
                median(&w.bytes) * 8.0 / 1000.0,
                if w.cursor_updates.is_empty() {
                    "-".to_owned()
                } else {
                    format!("{:.1}", median(&w.cursor_updates))
                },
                w.moves
            );
        }
        let ratio = |a: f64, b: f64| {
            if b == 0.0 {
                "inf (overlay: 0)".to_owned()
            } else {
                format!("{:.1}x", a / b)
            }
        };
        println!(
            "  video/overlay: frames {}, bytes {}",
            ratio(median(&video.units), median(&overlay.units)),
            ratio(median(&video.bytes), median(&overlay.bytes))
        );
        println!(
            "  totals: video {} units / {} bytes; overlay {} units / {} bytes",
            video.units.iter().sum::<u64>(),
            video.bytes.iter().sum::<u64>(),
            overlay.units.iter().sum::<u64>(),
            overlay.bytes.iter().sum::<u64>()
        );
        println!("  per-second frames, video:   {:?}", video.units);
        println!("  per-second frames, overlay: {:?}", overlay.units);
        println!(
            "  per-second cursor updates, overlay: {:?}",
            overlay.cursor_updates
        );
    }

    /// `--seconds N` from the command line (cargo adds `--bench`; everything else is ignored).
    fn seconds_arg() -> u32 {
        let args: Vec<String> = std::env::args().collect();
        args.iter()
            .position(|a| a == "--seconds")
            .and_then(|i| args.get(i + 1))
            .map(|v| v.parse().expect("--seconds takes a whole number"))
            .or_else(|| {
                args.iter()
                    .find_map(|a| a.strip_prefix("--seconds="))
                    .map(|v| v.parse().expect("--seconds takes a whole number"))
            })
            .unwrap_or(10)
            .max(1)
    }

    async fn run(xvfb: &Xvfb, mode: CursorMode, seconds: u32) -> Windows {
        let desktop = Arc::new(
            X11Desktop::open(Some(&xvfb.display()))
                .expect("display opens")
                .with_cursor_mode(mode),
        );
        desktop
            .inject(
                "0",
                &InputEvent::PointerMove {
                    x: (CENTRE.0 + RADIUS) as u32,
                    y: CENTRE.1 as u32,
                },
            )
            .expect("pointer moves");
        let engine = Engine::new(
            desktop.clone(),
            EngineConfig::default(),
            Monitor::new(MonitorConfig::default()),
        );
        let mut sub = engine
            .subscribe_video("0", VideoProfile::default())
            .expect("subscribes");
        let mut cursor = (mode == CursorMode::Overlay)
            .then(|| engine.subscribe_cursor("0").expect("subscribes"));
        let first = tokio::time::timeout(Duration::from_secs(20), sub.recv())
            .await
            .expect("an IDR within 20 s")
            .expect("the pipeline runs");
        assert!(first.keyframe);
        // A quiet second: whatever the start left behind is encoded before counting.
        let settle = tokio::time::sleep(Duration::from_secs(1));
        tokio::pin!(settle);
        loop {
            tokio::select! {
                _ = sub.recv() => {}
                _ = async { cursor.as_mut()?.changed().await }, if cursor.is_some() => {}
                _ = &mut settle => break,
            }
        }

        let stop = Arc::new(AtomicBool::new(false));
        let mover = {
            let desktop = Arc::clone(&desktop);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || circle(&*desktop, &stop))
        };
        let n = seconds as usize;
        let mut w = Windows {
            units: vec![0; n],
            bytes: vec![0; n],
            cursor_updates: if cursor.is_some() {
                vec![0; n]
            } else {
                Vec::new()
            },
            moves: 0,
        };
        let start = tokio::time::Instant::now();
        let end = tokio::time::sleep(Duration::from_secs(u64::from(seconds)));
        tokio::pin!(end);
        let window = |now: tokio::time::Instant| ((now - start).as_secs() as usize).min(n - 1);
        loop {
            tokio::select! {
                unit = sub.recv() => {
                    let unit = unit.expect("the pipeline runs");
                    let i = window(tokio::time::Instant::now());
                    w.units[i] += 1;
                    w.bytes[i] += unit.data.len() as u64;
                }
                c = async { cursor.as_mut()?.changed().await }, if cursor.is_some() => {
                    if c.is_some() {
                        let i = window(tokio::time::Instant::now());
                        w.cursor_updates[i] += 1;
                    }
                }
                _ = &mut end => break,
            }
        }
        stop.store(true, Ordering::Relaxed);
        w.moves = mover.join().expect("the mover thread");
        drop((sub, cursor));
        engine.shutdown();
        w
    }

    /// Moves the pointer around the circle at [`MOVES_PER_SECOND`] until `stop`; returns how many moves it made.
    fn circle(desktop: &dyn Desktop, stop: &AtomicBool) -> u64 {
        let period = Duration::from_secs(1) / MOVES_PER_SECOND;
        let start = Instant::now();
        let mut moves = 0u64;
        while !stop.load(Ordering::Relaxed) {
            moves += 1;
            let due = start + period * moves as u32;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let angle = std::f64::consts::TAU * (due - start).as_secs_f64() / LAP.as_secs_f64();
            let x = CENTRE.0 + RADIUS * angle.cos();
            let y = CENTRE.1 + RADIUS * angle.sin();
            desktop
                .inject(
                    "0",
                    &InputEvent::PointerMove {
                        x: x.round() as u32,
                        y: y.round() as u32,
                    },
                )
                .expect("pointer moves");
        }
        moves
    }

    fn median(values: &[u64]) -> f64 {
        if values.is_empty() {
            return 0.0;
        }
        let mut v = values.to_vec();
        v.sort_unstable();
        let mid = v.len() / 2;
        if v.len().is_multiple_of(2) {
            (v[mid - 1] + v[mid]) as f64 / 2.0
        } else {
            v[mid] as f64
        }
    }
}
