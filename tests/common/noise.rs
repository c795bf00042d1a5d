//! High-motion content on a real X screen: an X client that repaints the whole screen below a clock barcode with
//! fresh noise every frame, as the network tests and the benchmark need (issue 10: the worst case for an encoder,
//! and the content on which sightline froze under a bandwidth cap).
//!
//! # What a frame is
//! - **Barcode band** (rows `[0, BAND_ROWS · bar_height(W))`): the top barcode of the synthetic screen
//!   (`sightline_media::barcode`, the layout the viewer page's `barcode.js` reads), carrying the wall-clock time in
//!   ms at which this frame was painted. The band is taller than one barcode row so that the row the page samples
//!   (the centre of the first `bar_height` rows) stays clear of the noise's blur after downscaling to a low tier.
//! - **Noise** (the rest of the screen): square cells of random colours, copied from one of a few
//!   pre-rendered pixmaps at a random offset every frame, so every pixel changes and no motion vector predicts it.
//!   The X server does the copy (a blit), so the client costs almost nothing per frame.
//!
//! The painter is a thread of the test process (no binary to build or locate); `examples/x11_noise.rs` runs the
//! same code by hand. It connects through the display's socket file, which works from any network namespace.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sightline_media::barcode::{CELLS, bar_height, timestamp_word};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    ConnectionExt as _, CreateGCAux, CreateWindowAux, Gcontext, ImageFormat, Pixmap, Rectangle,
    Window, WindowClass,
};
use x11rb::rust_connection::RustConnection;

/// The barcode band is this many barcode rows tall: the page samples the middle of the first row, which then has
/// a full row of clean black or white below it even when a low tier scales the picture to a quarter.
pub const BAND_ROWS: u32 = 3;
/// Pre-rendered noise pixmaps cycled through; with random offsets, consecutive frames never repeat.
const PIXMAPS: usize = 4;
/// Extra noise around the screen size in each pixmap, so a random offset of up to this many pixels still covers
/// the screen.
const MARGIN: u32 = 64;
/// Rows per `PutImage` request when uploading a pixmap: stays far below the core protocol's 256 KiB request limit
/// at 1920 px wide (64 rows × 2048 px × 4 bytes = 512 KiB would not).
const UPLOAD_ROWS: u32 = 24;

/// What to paint.
#[derive(Clone, Copy, Debug)]
pub struct NoiseSpec {
    /// X screen number.
    pub screen: usize,
    /// Frames painted per second.
    pub fps: u32,
    /// Side of a noise cell in pixels (1 = per-pixel noise). The default, 32, was calibrated on the issue's
    /// account of its content: without congestion control the gateway sends 4–9 Mbit/s at 1280×720 on it (the
    /// issue measured 5.5); 16 px cells make ~13 Mbit/s and 8 px cells ~20 Mbit/s, far past any tier's band.
    pub cell_px: u32,
}

impl Default for NoiseSpec {
    fn default() -> Self {
        Self {
            screen: 0,
            // Twice the capture rate: a capture then shows a frame at most ~17 ms old, as the browser sender's
            // canvas does in the benchmark.
            fps: 60,
            cell_px: 32,
        }
    }
}

/// A running painter; stops (and its window disappears) when dropped.
pub struct NoisePainter {
    stop: Arc<AtomicBool>,
    frames: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
    /// Screen size in pixels.
    pub width: u32,
    pub height: u32,
}

impl NoisePainter {
    /// Connects to `display` (e.g. `":93"`), uploads the noise and starts painting; returns once the first frame
    /// has been drawn.
    ///
    /// # Panics
    /// If the display or the screen does not exist.
    pub fn start(display: &str, spec: NoiseSpec) -> Self {
        let (conn, _) = x11rb::connect(Some(display)).unwrap_or_else(|e| {
            panic!("noise painter: cannot connect to X display {display}: {e}")
        });
        let screen = conn
            .setup()
            .roots
            .get(spec.screen)
            .unwrap_or_else(|| {
                panic!(
                    "noise painter: display {display} has no screen {}",
                    spec.screen
                )
            })
            .clone();
        let (width, height) = (
            u32::from(screen.width_in_pixels),
            u32::from(screen.height_in_pixels),
        );
        let scene = Scene::new(conn, &screen, spec);
        let stop = Arc::new(AtomicBool::new(false));
        let frames = Arc::new(AtomicU64::new(0));
        let thread = {
            let (stop, frames) = (stop.clone(), frames.clone());
            std::thread::Builder::new()
                .name("x11-noise".into())
                .spawn(move || scene.run(spec.fps, &stop, &frames))
                .expect("spawn the noise painter thread")
        };
        let painter = Self {
            stop,
            frames,
            thread: Some(thread),
            width,
            height,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while painter.frames() == 0 {
            assert!(
                Instant::now() < deadline,
                "noise painter drew nothing within 10 s"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        painter
    }

    /// Frames painted so far.
    pub fn frames(&self) -> u64 {
        self.frames.load(Ordering::Relaxed)
    }
}

impl Drop for NoisePainter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The painter's X resources.
struct Scene {
    conn: RustConnection,
    window: Window,
    pixmaps: Vec<Pixmap>,
    copy_gc: Gcontext,
    white: Gcontext,
    black: Gcontext,
    width: u32,
    height: u32,
    band: u32,
    rng: XorShift,
}

impl Scene {
    fn new(
        conn: RustConnection,
        screen: &x11rb::protocol::xproto::Screen,
        spec: NoiseSpec,
    ) -> Self {
        let (width, height) = (
            u32::from(screen.width_in_pixels),
            u32::from(screen.height_in_pixels),
        );
        let band = (BAND_ROWS * bar_height(width)).min(height);
        let window = conn.generate_id().expect("X ids available");
        let aux = CreateWindowAux::new()
            .background_pixel(screen.black_pixel)
            .override_redirect(1);
        conn.create_window(
            screen.root_depth,
            window,
            screen.root,
            0,
            0,
            width as u16,
            height as u16,
            0,
            WindowClass::INPUT_OUTPUT,
            0,
            &aux,
        )
        .expect("X request sent");
        conn.map_window(window).expect("X request sent");
        let gc = |fg: u32| {
            let id = conn.generate_id().expect("X ids available");
            conn.create_gc(
                id,
                window,
                &CreateGCAux::new().foreground(fg).graphics_exposures(0),
            )
            .expect("X request sent");
            id
        };
        let (copy_gc, white, black) = (gc(0), gc(0x00ff_ffff), gc(0));
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15 ^ u64::from(std::process::id()));
        let (pw, ph) = (width + MARGIN, height + MARGIN);
        let mut pixmaps = Vec::with_capacity(PIXMAPS);
        for _ in 0..PIXMAPS {
            let pixmap = conn.generate_id().expect("X ids available");
            conn.create_pixmap(screen.root_depth, pixmap, window, pw as u16, ph as u16)
                .expect("X request sent");
            upload_noise(
                &conn,
                pixmap,
                copy_gc,
                pw,
                ph,
                spec.cell_px.max(1),
                &mut rng,
            );
            pixmaps.push(pixmap);
        }
        conn.flush().expect("X display alive");
        Self {
            conn,
            window,
            pixmaps,
            copy_gc,
            white,
            black,
            width,
            height,
            band,
            rng,
        }
    }

    fn run(mut self, fps: u32, stop: &AtomicBool, frames: &AtomicU64) {
        let period = Duration::from_secs_f64(1.0 / f64::from(fps.max(1)));
        let mut next = Instant::now();
        let mut n: u64 = 0;
        while !stop.load(Ordering::Relaxed) {
            if self.paint(n).is_err() {
                // The server went away (the test is ending): nothing left to paint on.
                return;
            }
            n += 1;
            frames.store(n, Ordering::Relaxed);
            next += period;
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            } else {
                // Late (a busy machine): paint the next frame now, do not try to catch up with a burst.
                next = now;
            }
        }
        let _ = self.conn.destroy_window(self.window);
        let _ = self.conn.flush();
    }

    /// Noise first, barcode last: the barcode's time is taken when the frame is complete on the client side.
    fn paint(&mut self, n: u64) -> Result<(), x11rb::errors::ConnectionError> {
        let pixmap = self.pixmaps[n as usize % self.pixmaps.len()];
        let dx = (self.rng.next() % u64::from(MARGIN)) as i16;
        let dy = (self.rng.next() % u64::from(MARGIN)) as i16;
        if self.height > self.band {
            self.conn.copy_area(
                pixmap,
                self.window,
                self.copy_gc,
                dx,
                dy,
                0,
                self.band as i16,
                self.width as u16,
                (self.height - self.band) as u16,
            )?;
        }
        let t_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let word = timestamp_word(t_ms);
        let (mut ones, mut zeros) = (Vec::new(), Vec::new());
        for i in 0..CELLS {
            let x0 = u64::from(i) * u64::from(self.width) / u64::from(CELLS);
            let x1 = u64::from(i + 1) * u64::from(self.width) / u64::from(CELLS);
            let r = Rectangle {
                x: x0 as i16,
                y: 0,
                width: (x1 - x0) as u16,
                height: self.band as u16,
            };
            if (word >> (CELLS - 1 - i)) & 1 == 1 {
                ones.push(r);
            } else {
                zeros.push(r);
            }
        }
        self.conn
            .poly_fill_rectangle(self.window, self.white, &ones)?;
        self.conn
            .poly_fill_rectangle(self.window, self.black, &zeros)?;
        self.conn.flush()
    }
}

/// Fills `pixmap` with square cells of random colours, uploaded in strips.
fn upload_noise(
    conn: &RustConnection,
    pixmap: Pixmap,
    gc: Gcontext,
    width: u32,
    height: u32,
    cell: u32,
    rng: &mut XorShift,
) {
    let cols = width.div_ceil(cell) as usize;
    let mut cell_row = vec![0u32; cols];
    let mut strip = Vec::with_capacity((width * UPLOAD_ROWS * 4) as usize);
    let mut y = 0;
    while y < height {
        let rows = UPLOAD_ROWS.min(height - y);
        strip.clear();
        for yy in y..y + rows {
            if yy % cell == 0 {
                for c in &mut cell_row {
                    *c = rng.next() as u32 & 0x00ff_ffff;
                }
            }
            for x in 0..width {
                strip.extend_from_slice(&cell_row[(x / cell) as usize].to_le_bytes());
            }
        }
        conn.put_image(
            ImageFormat::Z_PIXMAP,
            pixmap,
            gc,
            width as u16,
            rows as u16,
            0,
            y as i16,
            0,
            24,
            &strip,
        )
        .expect("X request sent");
        y += rows;
    }
}

/// A tiny fast PRNG (xorshift64): noise needs speed, not quality, and no dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}
