//! The frame source of a synthetic screen: renders frame `n` from the scene, the input echo and the capture
//! time, reusing a small pool of buffers.
//!
//! A buffer whose `Arc` came back to a single owner is reused: only the regions its last drawing dirtied are
//! restored from the static background, and everything that changes is copied from the scene's pre-rendered
//! strips, so a 1080p frame changes about 1 MB instead of being drawn from scratch.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use super::echo::InputEcho;
use super::scene::{
    AGENT, Layout, PANEL, POINTER, Rect, TEXT_LIGHT, WHITE, render_background, render_gradient_row,
    render_scroll_strip, render_sprite,
};
use crate::barcode;
use crate::font::{CELL_H, CELL_W, Canvas};
use crate::{Frame, FrameSource, MediaError, MouseButton, ScreenInfo};

/// Frame buffers a source keeps for reuse. Consumers holding more frames than this (a slow JPEG client, a
/// screenshot) make the source allocate a fresh buffer; the pool then forgets its oldest one, so memory stays
/// bounded by what consumers hold plus this many.
pub const POOL_SIZE: usize = 6;

/// A frame buffer of the pool and what its last drawing changed on top of the background.
struct Slot {
    data: Arc<[u8]>,
    dirty: Vec<Rect>,
}

/// The frame source of a synthetic screen.
pub struct SyntheticSource {
    info: ScreenInfo,
    input: Arc<Mutex<InputEcho>>,
    pub(super) layout: Layout,
    stride: usize,
    background: Vec<u8>,
    /// Two gradient periods side by side; a frame copies a window-wide slice at its offset.
    gradient_row: Vec<u8>,
    /// The scrolling window's content: one period of text plus one window height, so any offset is one copy.
    scroll_strip: Vec<u8>,
    scroll_period: u32,
    /// The bouncing window, pre-rendered.
    sprite: Vec<u8>,
    pool: Vec<Slot>,
    seq: u64,
}

impl std::fmt::Debug for SyntheticSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyntheticSource")
            .field("info", &self.info)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl SyntheticSource {
    pub(super) fn new(info: ScreenInfo, input: Arc<Mutex<InputEcho>>) -> Self {
        let (w, h) = (info.width, info.height);
        let layout = Layout::new(w, h);
        let stride = w as usize * 4;
        let background = render_background(w, h, &layout);
        let gradient_row = render_gradient_row(w);
        let (scroll_strip, scroll_period) = render_scroll_strip(layout.scroller);
        let sprite = render_sprite(layout.bouncer, layout.scale);
        Self {
            info,
            input,
            layout,
            stride,
            background,
            gradient_row,
            scroll_strip,
            scroll_period,
            sprite,
            pool: Vec::with_capacity(POOL_SIZE),
            seq: 0,
        }
    }

    /// Renders the next frame (sequence number + 1) as captured at `captured_at`, with the current input echo.
    pub fn render(&mut self, captured_at: SystemTime) -> Frame {
        let echo = self.input.lock().clone();
        self.seq += 1;
        self.render_frame(self.seq, &echo, captured_at)
    }

    /// Renders frame `n` for the given input state and time: a pure function of them.
    pub fn render_frame(&mut self, n: u64, input: &InputEcho, captured_at: SystemTime) -> Frame {
        let mut slot = self.take_slot();
        let data = Arc::get_mut(&mut slot.data).expect("take_slot returns a uniquely owned buffer");
        for r in slot.dirty.drain(..) {
            restore(data, &self.background, self.stride, r);
        }
        let dirty = self.draw(data, n, input, captured_at);
        slot.dirty = dirty;
        let frame = Frame {
            width: self.info.width,
            height: self.info.height,
            stride: self.stride,
            data: Arc::clone(&slot.data),
            captured_at,
            seq: n,
        };
        if self.pool.len() == POOL_SIZE {
            self.pool.remove(0);
        }
        self.pool.push(slot);
        frame
    }

    /// A buffer nobody else holds (reused with its dirty list), or a fresh copy of the background.
    fn take_slot(&mut self) -> Slot {
        if let Some(i) = self
            .pool
            .iter_mut()
            .position(|s| Arc::get_mut(&mut s.data).is_some())
        {
            return self.pool.remove(i);
        }
        Slot {
            data: Arc::from(self.background.as_slice()),
            dirty: Vec::new(),
        }
    }

    /// Draws everything that changes; returns the regions that must be restored before the buffer is reused
    /// (regions fully repainted every frame are not listed).
    fn draw(
        &self,
        data: &mut [u8],
        n: u64,
        input: &InputEcho,
        captured_at: SystemTime,
    ) -> Vec<Rect> {
        let (w, h, stride) = (self.info.width, self.info.height, self.stride);
        let l = &self.layout;
        let mut dirty = Vec::with_capacity(4 + input.clicks.len());
        let t_ms = captured_at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);

        // Motion: gradient bar, scrolling window, bouncing window.
        let offset = (n as usize * 8 * l.scale as usize) % w as usize * 4;
        for y in l.gradient.y..l.gradient.y + l.gradient.h {
            let start = y as usize * stride;
            data[start..start + w as usize * 4]
                .copy_from_slice(&self.gradient_row[offset..offset + w as usize * 4]);
        }
        let s = l.scroller;
        let scroll = ((n * u64::from(l.scale)) % u64::from(self.scroll_period.max(1))) as usize;
        let row_bytes = s.w as usize * 4;
        for y in 0..s.h as usize {
            let src = (scroll + y) * row_bytes;
            let dst = (s.y as usize + y) * stride + s.x as usize * 4;
            data[dst..dst + row_bytes].copy_from_slice(&self.scroll_strip[src..src + row_bytes]);
        }
        let b = l.bouncer;
        let bx = l.arena.x + triangle(n * 7 * u64::from(l.scale), l.arena.w - b.w);
        let by = l.arena.y + triangle(n * 5 * u64::from(l.scale), l.arena.h - b.h);
        let brow = b.w as usize * 4;
        for y in 0..b.h as usize {
            let dst = (by as usize + y) * stride + bx as usize * 4;
            data[dst..dst + brow].copy_from_slice(&self.sprite[y * brow..(y + 1) * brow]);
        }
        dirty.push(Rect {
            x: bx,
            y: by,
            w: b.w,
            h: b.h,
        });

        let mut canvas = Canvas {
            data,
            width: w,
            height: h,
            stride,
        };
        // Pointer crosshair and click markers (drawn over the motion, under the panel and bars).
        let (px, py) = input.pointer;
        let arm = 10 * l.scale;
        let cross = Rect {
            x: px.saturating_sub(arm),
            y: py.saturating_sub(arm),
            w: 2 * arm + 1,
            h: 2 * arm + 1,
        };
        canvas.fill(cross.x, py, cross.w, 1, POINTER);
        canvas.fill(px, cross.y, 1, cross.h, POINTER);
        dirty.push(cross);
        for &(cx, cy, button) in &input.clicks {
            let colour = match button {
                MouseButton::Left => [0, 200, 255, 255],
                MouseButton::Middle => [255, 0, 255, 255],
                MouseButton::Right => [0, 255, 0, 255],
            };
            let r = 3 * l.scale;
            let marker = Rect {
                x: cx.saturating_sub(r),
                y: cy.saturating_sub(r),
                w: 2 * r + 1,
                h: 2 * r + 1,
            };
            canvas.fill(marker.x, marker.y, marker.w, marker.h, colour);
            dirty.push(marker);
        }

        // The agent: an orange arrow cursor with a label, and outlined markers of its clicks.
        if let Some(agent) = &input.agent {
            let size = 14 * l.scale;
            for &(cx, cy) in &agent.clicks {
                let r = 6 * l.scale;
                let marker = Rect {
                    x: cx.saturating_sub(r),
                    y: cy.saturating_sub(r),
                    w: 2 * r + 1,
                    h: 2 * r + 1,
                };
                let t = l.scale.max(1) * 2;
                canvas.fill(marker.x, marker.y, marker.w, t, AGENT);
                canvas.fill(
                    marker.x,
                    marker.y + marker.h.saturating_sub(t),
                    marker.w,
                    t,
                    AGENT,
                );
                canvas.fill(marker.x, marker.y, t, marker.h, AGENT);
                canvas.fill(
                    marker.x + marker.w.saturating_sub(t),
                    marker.y,
                    t,
                    marker.h,
                    AGENT,
                );
                dirty.push(marker);
            }
            let (ax, ay) = agent.at;
            // A right triangle pointing up-left from the hot spot, like an arrow cursor.
            for row in 0..size {
                canvas.fill(ax, ay + row, row / 2 + 1, 1, AGENT);
            }
            let label_w = (agent.label.chars().count() as u32 * CELL_W + 8) * l.scale;
            let label = Rect {
                x: ax + size / 2 + 2,
                y: ay + size / 2,
                w: label_w,
                h: (CELL_H + 4) * l.scale,
            };
            canvas.fill(label.x, label.y, label.w, label.h, AGENT);
            canvas.text(
                label.x + 4 * l.scale,
                label.y + 2 * l.scale,
                &agent.label,
                l.scale,
                PANEL,
            );
            dirty.push(Rect {
                x: ax,
                y: ay,
                w: size,
                h: size,
            });
            dirty.push(label);
        }

        // Info panel, repainted whole every frame.
        let p = l.panel;
        canvas.fill(p.x, p.y, p.w, p.h, PANEL);
        let line = CELL_H * l.scale;
        let e = input.echo();
        let text1 = format!(
            "frame {n:>8}  {}  ptr {:>4},{:<4} clicks {:<5} wheel {:<6}",
            clock(t_ms),
            px,
            py,
            e.button_presses,
            e.wheel_dy
        );
        let text2 = format!("keys {:<5} last key {}", e.key_presses, input.last_key);
        let typed: String = input
            .typed
            .iter()
            .map(|&c| if c == '\n' { '|' } else { c })
            .collect();
        canvas.text(p.x + 4, p.y + 4, &text1, l.scale, WHITE);
        canvas.text(p.x + 4, p.y + 4 + line, &text2, l.scale, WHITE);
        canvas.text(
            p.x + 4,
            p.y + 4 + 2 * line,
            &format!("typed: {typed}"),
            l.scale,
            TEXT_LIGHT,
        );

        // Barcodes last: nothing may cover them.
        barcode::encode_timestamp(&mut *canvas.data, w, h, stride, t_ms);
        barcode::encode_echo(&mut *canvas.data, w, h, stride, &e);
        dirty
    }
}

impl FrameSource for SyntheticSource {
    fn screen(&self) -> &ScreenInfo {
        &self.info
    }

    /// Always returns a frame: the synthetic screen changes every frame.
    fn capture(&mut self, _force: bool) -> Result<Option<Frame>, MediaError> {
        Ok(Some(self.render(SystemTime::now())))
    }
}

/// `HH:MM:SS.mmm` (UTC) of a Unix time in milliseconds.
fn clock(t_ms: u64) -> String {
    let day_ms = t_ms % 86_400_000;
    format!(
        "{:02}:{:02}:{:02}.{:03} UTC",
        day_ms / 3_600_000,
        day_ms / 60_000 % 60,
        day_ms / 1000 % 60,
        day_ms % 1000
    )
}

/// A triangle wave over 0..=max.
fn triangle(v: u64, max: u32) -> u32 {
    if max == 0 {
        return 0;
    }
    let period = 2 * u64::from(max);
    let p = v % period;
    (if p <= u64::from(max) { p } else { period - p }) as u32
}

fn restore(data: &mut [u8], background: &[u8], stride: usize, r: Rect) {
    let width = (stride / 4) as u32;
    let height = (data.len() / stride) as u32;
    let x1 = (r.x + r.w).min(width);
    let y1 = (r.y + r.h).min(height);
    if r.x >= x1 || r.y >= y1 {
        return;
    }
    for y in r.y..y1 {
        let a = y as usize * stride + r.x as usize * 4;
        let b = y as usize * stride + x1 as usize * 4;
        data[a..b].copy_from_slice(&background[a..b]);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::synthetic::SyntheticDesktop;
    use crate::{Desktop, InputEvent};

    fn at(ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(ms)
    }

    #[test]
    fn every_frame_changes_and_carries_its_timestamp() {
        let d = SyntheticDesktop::new(1280, 720);
        let mut src = d.source();
        let a = src.render(at(1_795_000_000_000));
        let b = src.render(at(1_795_000_000_033));
        assert_ne!(a.data[..], b.data[..]);
        assert_eq!(barcode::decode_timestamp(&a), Some(1_795_000_000_000));
        assert_eq!(barcode::decode_timestamp(&b), Some(1_795_000_000_033));
        assert_eq!((a.seq, b.seq), (1, 2));
        let mut boxed = d.open("0").unwrap();
        assert!(boxed.capture(false).unwrap().is_some());
    }

    #[test]
    fn rendering_is_a_pure_function_whatever_buffers_are_reused() {
        let d = SyntheticDesktop::new(800, 600);
        let mut input = InputEcho::default();
        input.apply(&InputEvent::PointerMove { x: 100, y: 200 }, 800, 600);
        input.apply(
            &InputEvent::Button {
                button: MouseButton::Left,
                down: true,
            },
            800,
            600,
        );
        // Source A keeps every frame alive (fresh buffers); source B drops them (reused, dirty restore).
        let mut a = d.source();
        let mut b = d.source();
        let mut kept = Vec::new();
        for n in 1..=20u64 {
            let state = if n % 3 == 0 {
                &input
            } else {
                &InputEcho::default()
            };
            let fa = a.render_frame(n, state, at(1000 * n));
            let fb = b.render_frame(n, state, at(1000 * n));
            assert_eq!(fa.data[..], fb.data[..], "frame {n}");
            kept.push(fa);
        }
        // And a brand-new source draws frame 20 identically.
        let mut c = d.source();
        let fc = c.render_frame(20, &InputEcho::default(), at(20_000));
        assert_eq!(fc.data[..], kept[19].data[..]);
    }
}
