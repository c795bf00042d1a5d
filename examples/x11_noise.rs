//! Paints the network tests' high-motion content on an X display by hand: fresh noise over the whole screen
//! below a clock barcode (the painted time, readable by the viewer page's latency meter), every frame, until
//! interrupted. The tests run the same code as a thread (`tests/common/noise.rs`).
//!
//! ```sh
//! Xvfb :91 -screen 0 1280x720x24 -nolisten tcp -noreset &
//! cargo run --release --example x11_noise -- --display :91 --fps 60 --cell 32
//! sightline --source x11 --display :91 serve     # then watch it, e.g. behind a tc cap
//! ```

#[cfg(target_os = "linux")]
#[path = "../tests/common/noise.rs"]
mod noise;

#[cfg(target_os = "linux")]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let number = |name: &str, default: u32| {
        value(name).map_or(default, |v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} takes a number, not {v:?}"))
        })
    };
    let display = value("--display")
        .or_else(|| std::env::var("DISPLAY").ok())
        .expect("--display or $DISPLAY");
    let defaults = noise::NoiseSpec::default();
    let spec = noise::NoiseSpec {
        screen: number("--screen", 0) as usize,
        fps: number("--fps", defaults.fps),
        cell_px: number("--cell", defaults.cell_px),
    };
    let painter = noise::NoisePainter::start(&display, spec);
    eprintln!(
        "painting {}x{} of {display} screen {} at {} fps ({} px cells); Ctrl-C stops",
        painter.width, painter.height, spec.screen, spec.fps, spec.cell_px
    );
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("x11_noise needs Linux (X11 through x11rb)");
    std::process::exit(2);
}
