//! X11 capture speed on a private two-screen Xvfb (screen 0: 1920x1080, screen 1: 1280x720).
//!
//! - criterion: one changed frame (`capture(force = true)`: MIT-SHM grab, copy into the frame, cursor drawn in as
//!   `[capture] cursor = "video"` does: the worst case) per size, and one tick of an unchanged screen
//!   (`capture(false)` → `None`).
//! - a summary with medians over individually timed calls:
//!   - capture of a changed frame, and one tick of an unchanged screen;
//!   - the whole path capture → I420 → H.264 (camera and screen usage) for a changed frame, while a window moves
//!     on the screen between frames (P frames with real motion);
//!   - the CPU share of an unchanged 1080p screen at 30 fps, once polled by a bare loop and once with the real
//!     engine running (pacer, capture thread, H.264 pipeline and one subscriber) for 10 s each: this process
//!     (getrusage) and the X server (/proc/<pid>/stat).
//!
//! Run: `cargo bench -p sightline-media --bench x11` (add `-- --quick` for a short criterion pass).

#[cfg(target_os = "linux")]
#[allow(dead_code)]
#[path = "../tests/common/xvfb.rs"]
mod xvfb;

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("the X11 benchmark runs on Linux only");
}

#[cfg(target_os = "linux")]
fn main() {
    linux::main();
}

#[cfg(target_os = "linux")]
mod linux {
    use std::hint::black_box;
    use std::time::{Duration, Instant};

    use std::sync::Arc;

    use criterion::Criterion;
    use sightline_media::convert::{I420Buffer, bgra_to_i420};
    use sightline_media::engine::{Engine, EngineConfig, VideoProfile};
    use sightline_media::h264::{H264Encoder, H264Settings, Usage};
    use sightline_media::x11::X11Desktop;
    use sightline_media::{Desktop, FrameSource, InputEvent};
    use sightline_monitor::{Monitor, MonitorConfig};
    use x11rb::connection::Connection;
    use x11rb::protocol::xproto::{
        ConfigureWindowAux, ConnectionExt as _, CreateWindowAux, WindowClass,
    };
    use x11rb::wrapper::ConnectionExt as _;

    use super::xvfb::Xvfb;

    /// Individually timed calls per summary figure.
    const SAMPLES: usize = 300;
    /// The pacer rate the idle-cost figure is measured at.
    const FPS: u32 = 30;
    /// How long the idle screen is polled.
    const IDLE_SECONDS: u32 = 10;

    pub fn main() {
        let xvfb = Xvfb::start();
        let painter = paint(&xvfb.display());
        let desktop = X11Desktop::open(Some(&xvfb.display()))
            .expect("display opens")
            .with_cursor_mode(sightline_media::CursorMode::Video);
        // The pointer sits on each screen in turn below; start on screen 0 so its cursor is drawn there.
        desktop
            .inject("0", &InputEvent::PointerMove { x: 700, y: 400 })
            .expect("pointer moves");
        let mut s1080 = desktop.open("0").expect("screen 0");
        let mut s720 = desktop.open("1").expect("screen 1");

        let mut c = Criterion::default().configure_from_args();
        {
            let mut g = c.benchmark_group("x11_shm_capture");
            g.bench_function("changed_frame_1920x1080", |b| {
                b.iter(|| black_box(grab(&mut s1080)))
            });
            g.bench_function("changed_frame_1280x720", |b| {
                b.iter(|| black_box(grab(&mut s720)))
            });
            drain(&mut s1080);
            g.bench_function("unchanged_tick_1920x1080", |b| {
                b.iter(|| assert!(black_box(s1080.capture(false).expect("capture")).is_none()))
            });
            g.finish();
        }
        c.final_summary();

        println!("\n== sightline X11 capture summary (medians of {SAMPLES} timed calls) ==");
        for (name, source) in [("1920x1080", &mut s1080), ("1280x720", &mut s720)] {
            let times = timed(|| {
                grab(source);
            });
            println!(
                "changed frame {name}: median {:.3} ms, p90 {:.3} ms (MIT-SHM grab + copy + cursor)",
                ms(median(&times)),
                ms(percentile(&times, 0.9))
            );
        }
        drain(&mut s1080);
        let times = timed(|| assert!(s1080.capture(false).expect("capture").is_none()));
        println!(
            "unchanged tick 1920x1080: median {:.1} µs, p90 {:.1} µs",
            median(&times).as_secs_f64() * 1e6,
            percentile(&times, 0.9).as_secs_f64() * 1e6
        );

        for (name, source, screen) in [("1920x1080", &mut s1080, 0), ("1280x720", &mut s720, 1)] {
            for usage in [Usage::Camera, Usage::Screen] {
                let (times, bytes) = whole_path(source, &painter, screen, usage);
                println!(
                    "whole path {name} {}: median {:.2} ms, p90 {:.2} ms per changed frame (capture + I420 + H.264 P \
                     frame, median {:.1} KB; target ≤ 8 ms at 1080p)",
                    usage.as_str(),
                    ms(median(&times)),
                    ms(percentile(&times, 0.9)),
                    bytes as f64 / 1024.0
                );
            }
        }

        let (client, server, frames) = idle_cpu_share(&mut s1080, xvfb.pid());
        println!(
            "unchanged 1920x1080 at {FPS} fps for {IDLE_SECONDS} s, bare capture loop: {frames} frames, CPU \
             {client:.3} % of one core in sightline + {server:.3} % in the X server (target ≤ 1 %)"
        );
        drop((s1080, s720));
        let (client, server, units) = engine_idle_cpu_share(desktop, xvfb.pid());
        println!(
            "unchanged 1920x1080 at {FPS} fps for {IDLE_SECONDS} s, engine with one H.264 viewer: {units} access units \
             after the first IDR, CPU {client:.3} % of one core in sightline + {server:.3} % in the X server \
             (target ≤ 1 %)"
        );
    }

    /// Times capture → I420 → H.264 for changed frames: before each timed frame a window moves by a few pixels
    /// (not timed), so the encoder sees motion on a desktop-like screen. Returns the sorted times and the median
    /// access-unit size.
    fn whole_path(
        source: &mut Box<dyn FrameSource>,
        painter: &x11rb::rust_connection::RustConnection,
        screen: usize,
        usage: Usage,
    ) -> (Vec<Duration>, usize) {
        let info = source.screen().clone();
        let mut encoder = H264Encoder::new(H264Settings {
            width: info.width,
            height: info.height,
            fps: FPS,
            bitrate_kbps: 4000,
            usage,
            // Time every picture's encoding: a skipped one would take no time.
            frame_skip: false,
        })
        .expect("encoder");
        let mut picture = I420Buffer::new();
        let window = moving_window(painter, screen);
        let mut step = 0i32;
        let mut one = |encoder: &mut H264Encoder, picture: &mut I420Buffer| -> (Duration, usize) {
            step += 1;
            painter
                .configure_window(
                    window,
                    &ConfigureWindowAux::new()
                        .x((step * 6) % 900)
                        .y(200 + (step * 2) % 300),
                )
                .expect("request");
            painter.sync().expect("display alive");
            let t = Instant::now();
            let frame = source
                .capture(true)
                .expect("capture")
                .expect("forced capture yields a frame");
            bgra_to_i420(&frame, None, picture).expect("convert");
            let unit = encoder
                .encode(picture, step == 1, frame.captured_at)
                .expect("encode");
            (t.elapsed(), unit.map_or(0, |u| u.data.len()))
        };
        for _ in 0..20 {
            one(&mut encoder, &mut picture); // warm-up (the first is the IDR)
        }
        let (mut times, mut sizes): (Vec<Duration>, Vec<usize>) = (0..SAMPLES)
            .map(|_| one(&mut encoder, &mut picture))
            .unzip();
        times.sort();
        sizes.sort();
        painter.destroy_window(window).expect("request");
        painter.sync().expect("display alive");
        (times, sizes[sizes.len() / 2])
    }

    /// A 400x300 window with stripes of text-like detail, mapped on `screen`.
    fn moving_window(conn: &x11rb::rust_connection::RustConnection, screen: usize) -> u32 {
        let root = conn.setup().roots[screen].root;
        let window = conn.generate_id().expect("ids");
        let aux = CreateWindowAux::new()
            .background_pixel(0xe8_e8e8)
            .override_redirect(1);
        conn.create_window(
            0,
            window,
            root,
            10,
            200,
            400,
            300,
            0,
            WindowClass::INPUT_OUTPUT,
            0,
            &aux,
        )
        .expect("request");
        conn.map_window(window).expect("request");
        for i in 0..30u32 {
            let child = conn.generate_id().expect("ids");
            let aux =
                CreateWindowAux::new().background_pixel(0x20_2020 + (i * 0x07_0b05) % 0x60_6060);
            conn.create_window(
                0,
                child,
                window,
                (8 + (i * 37) % 300) as i16,
                (6 + i * 9) as i16,
                (40 + (i * 53) % 300) as u16,
                5,
                0,
                WindowClass::INPUT_OUTPUT,
                0,
                &aux,
            )
            .expect("request");
            conn.map_window(child).expect("request");
        }
        conn.sync().expect("display alive");
        window
    }

    /// Runs the real engine with one H.264 subscriber on an unchanged 1080p screen for [`IDLE_SECONDS`]; returns the
    /// CPU share of this process and of the X server, and the access units received after the first IDR.
    fn engine_idle_cpu_share(desktop: X11Desktop, server_pid: u32) -> (f64, f64, u32) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let monitor = Monitor::new(MonitorConfig::default());
        let engine = Engine::new(
            Arc::new(desktop),
            EngineConfig {
                fps: FPS,
                ..EngineConfig::default()
            },
            monitor,
        );
        let mut sub = engine
            .subscribe_video("0", VideoProfile::default())
            .expect("subscribe");
        let result = runtime.block_on(async {
            let first = sub.recv().await.expect("an IDR");
            assert!(first.keyframe);
            // Let the encoder settle (a late damage event may still be owed).
            let settle = tokio::time::sleep(Duration::from_secs(1));
            tokio::pin!(settle);
            loop {
                tokio::select! {
                    _ = sub.recv() => {}
                    () = &mut settle => break,
                }
            }
            let (self0, server0, start) = (self_cpu(), server_cpu(server_pid), Instant::now());
            let mut units = 0;
            let end = tokio::time::sleep(Duration::from_secs(u64::from(IDLE_SECONDS)));
            tokio::pin!(end);
            loop {
                tokio::select! {
                    u = sub.recv() => { if u.is_some() { units += 1 } }
                    () = &mut end => break,
                }
            }
            let wall = start.elapsed().as_secs_f64();
            let client = (self_cpu() - self0).as_secs_f64() / wall * 100.0;
            let server = (server_cpu(server_pid) - server0).as_secs_f64() / wall * 100.0;
            (client, server, units)
        });
        drop(sub);
        engine.shutdown();
        result
    }

    fn grab(source: &mut Box<dyn FrameSource>) -> sightline_media::Frame {
        source
            .capture(true)
            .expect("capture")
            .expect("forced capture yields a frame")
    }

    /// Lets the source settle: after forced captures and the pointer move, the next tick may owe a frame.
    fn drain(source: &mut Box<dyn FrameSource>) {
        for _ in 0..100 {
            if source.capture(false).expect("capture").is_none() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("the screen keeps changing; the idle figures would be meaningless");
    }

    fn timed(mut f: impl FnMut()) -> Vec<Duration> {
        for _ in 0..20 {
            f(); // warm-up
        }
        let mut times: Vec<Duration> = (0..SAMPLES)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect();
        times.sort();
        times
    }

    fn median(sorted: &[Duration]) -> Duration {
        sorted[sorted.len() / 2]
    }

    fn percentile(sorted: &[Duration], p: f64) -> Duration {
        sorted[((sorted.len() - 1) as f64 * p) as usize]
    }

    fn ms(d: Duration) -> f64 {
        d.as_secs_f64() * 1e3
    }

    /// Polls an unchanged screen at [`FPS`] for [`IDLE_SECONDS`]; returns the CPU share (% of one core) of this
    /// process and of the X server, and how many frames came out (0 when nothing changed).
    fn idle_cpu_share(source: &mut Box<dyn FrameSource>, server_pid: u32) -> (f64, f64, u32) {
        drain(source);
        let period = Duration::from_secs(1) / FPS;
        let (self0, server0, start) = (self_cpu(), server_cpu(server_pid), Instant::now());
        let mut frames = 0;
        let mut next = start;
        for _ in 0..FPS * IDLE_SECONDS {
            if source.capture(false).expect("capture").is_some() {
                frames += 1;
            }
            next += period;
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
        let wall = start.elapsed().as_secs_f64();
        let client = (self_cpu() - self0).as_secs_f64() / wall * 100.0;
        let server = (server_cpu(server_pid) - server0).as_secs_f64() / wall * 100.0;
        (client, server, frames)
    }

    /// User + system CPU time of this process.
    fn self_cpu() -> Duration {
        // SAFETY: getrusage writes into the zeroed struct we pass and reads nothing else.
        let usage = unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            libc::getrusage(libc::RUSAGE_SELF, &mut usage);
            usage
        };
        let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
        tv(usage.ru_utime) + tv(usage.ru_stime)
    }

    /// User + system CPU time of another process, from /proc (clock-tick resolution, 10 ms here).
    fn server_cpu(pid: u32) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the X server runs");
        // Fields after the parenthesised command name; utime and stime are fields 14 and 15 of the line.
        let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 =
            fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
        // SAFETY: sysconf only reads a configuration value.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Duration::from_micros(ticks * 1_000_000 / hz)
    }

    /// Paints something other than a flat screen on both screens; the windows live as long as the connection.
    fn paint(display: &str) -> x11rb::rust_connection::RustConnection {
        let (conn, _) = x11rb::connect(Some(display)).expect("display accepts clients");
        for screen in conn.setup().roots.clone() {
            for i in 0..40u32 {
                let window = conn.generate_id().expect("ids");
                let aux = CreateWindowAux::new()
                    .background_pixel(0x10_2030 + i * 0x05_0709)
                    .override_redirect(1);
                let (x, y) = ((i * 97 % 1200) as i16, (i * 53 % 650) as i16);
                conn.create_window(
                    0,
                    window,
                    screen.root,
                    x,
                    y,
                    200,
                    90,
                    0,
                    WindowClass::INPUT_OUTPUT,
                    0,
                    &aux,
                )
                .expect("request");
                conn.map_window(window).expect("request");
            }
        }
        conn.sync().expect("display alive");
        conn
    }
}
