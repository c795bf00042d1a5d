//! The synthetic test screen: the default when no display exists, and the picture every latency and input test
//! reads back.
//!
//! # What it shows
//! A desktop-like scene — flat background, windows full of small text, a taskbar — so encoders see realistic
//! content, plus per frame:
//! - the capture wall-clock as the top barcode and the input echo as the two bottom barcodes ([`crate::barcode`]);
//! - an info panel: frame counter, time (HH:MM:SS.mmm UTC), pointer, last key and the typed text line;
//! - motion: a bouncing window, a moving gradient bar and a scrolling text window, so every frame differs
//!   (`capture(false)` always returns a frame);
//! - the pointer as a crosshair and the last clicks as markers.
//!
//! # Determinism and cost
//! The picture for frame `n` with a given input state and timestamp is a pure function of them. Drawing a 1080p
//! frame from scratch costs milliseconds, so a [`SyntheticSource`] keeps a small pool of frame buffers: a buffer
//! whose `Arc` came back to a single owner is reused, only the regions its last drawing dirtied are restored from
//! the static background, and everything that changes is copied from pre-rendered strips. Changed pixels per frame
//! stay around 1 MB at 1080p.
//!
//! # Input echo
//! [`SyntheticDesktop::inject`] updates an [`InputEcho`] shared with every source of the desktop. The typed buffer
//! keeps the last [`TYPED_MAX`] characters: `Text` events append their text; `Key` down events of keys that
//! produce a character on a US layout append it (Shift honoured); `Backspace` removes the last character;
//! `Enter` appends `'\n'`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use crate::barcode::{self, Echo};
use crate::font::{CELL_H, CELL_W, Canvas};
use crate::{
    AgentMark, Desktop, Frame, FrameSource, InputEvent, MediaError, MouseButton, ScreenInfo,
    SourceKind,
};

/// Characters kept in the typed buffer.
pub const TYPED_MAX: usize = 64;
/// Click markers kept on screen.
pub const CLICKS_SHOWN: usize = 8;
/// Frame buffers a source keeps for reuse. Consumers holding more frames than this (a slow JPEG client, a
/// screenshot) make the source allocate a fresh buffer; the pool then forgets its oldest one, so memory stays
/// bounded by what consumers hold plus this many.
pub const POOL_SIZE: usize = 6;
/// Smallest synthetic screen (the barcodes need 64 cells and three bar rows).
pub const MIN_SIZE: (u32, u32) = (64, 64);
/// Largest synthetic screen (openh264's limit).
pub const MAX_SIZE: (u32, u32) = (3840, 2160);

const DESKTOP: [u8; 4] = [0x7b, 0x5a, 0x2d, 255];
const WINDOW_BODY: [u8; 4] = [250, 250, 250, 255];
const WINDOW_TITLE: [u8; 4] = [0x50, 0x40, 0x30, 255];
const TERMINAL_BODY: [u8; 4] = [0x20, 0x20, 0x20, 255];
const TEXT_DARK: [u8; 4] = [0x30, 0x30, 0x30, 255];
const TEXT_LIGHT: [u8; 4] = [0xd0, 0xf0, 0xd0, 255];
const PANEL: [u8; 4] = [0x10, 0x10, 0x10, 255];
const WHITE: [u8; 4] = [255, 255, 255, 255];
const POINTER: [u8; 4] = [0, 0, 255, 255];
/// Orange (BGRA) for everything an AI agent did.
const AGENT: [u8; 4] = [0, 140, 255, 255];

/// The input state echoed into the picture.
#[derive(Clone, Debug, Default)]
pub struct InputEcho {
    pointer: (u32, u32),
    button_presses: u16,
    wheel_dy: f64,
    typed: VecDeque<char>,
    key_presses: u16,
    shift_left: bool,
    shift_right: bool,
    last_key: String,
    clicks: VecDeque<(u32, u32, MouseButton)>,
    agent: Option<AgentOverlay>,
}

/// What an AI agent did last, drawn as an agent cursor with a label and markers of its recent clicks. It is not
/// part of the echo barcodes: those show the input itself, whoever sent it.
#[derive(Clone, Debug, Default)]
struct AgentOverlay {
    at: (u32, u32),
    label: String,
    clicks: VecDeque<(u32, u32)>,
}

impl InputEcho {
    /// Applies one event on a `width`×`height` screen.
    pub fn apply(&mut self, event: &InputEvent, width: u32, height: u32) {
        match event {
            InputEvent::PointerMove { x, y } => {
                self.pointer = ((*x).min(width - 1), (*y).min(height - 1));
            }
            InputEvent::Button { button, down } => {
                if *down {
                    self.button_presses = self.button_presses.wrapping_add(1);
                    if self.clicks.len() == CLICKS_SHOWN {
                        self.clicks.pop_front();
                    }
                    self.clicks
                        .push_back((self.pointer.0, self.pointer.1, *button));
                }
            }
            InputEvent::Wheel { dy, .. } => {
                if dy.is_finite() {
                    self.wheel_dy += dy;
                }
            }
            InputEvent::Key { code, down } => {
                let shift = matches!(code.as_str(), "ShiftLeft" | "ShiftRight");
                if code == "ShiftLeft" {
                    self.shift_left = *down;
                }
                if code == "ShiftRight" {
                    self.shift_right = *down;
                }
                if !*down {
                    return;
                }
                self.key_presses = self.key_presses.wrapping_add(1);
                self.last_key.clone_from(code);
                if shift {
                    return;
                }
                match code.as_str() {
                    "Backspace" => {
                        self.typed.pop_back();
                    }
                    "Enter" | "NumpadEnter" => self.push('\n'),
                    _ => {
                        if let Some(c) = us_char(code, self.shift_left || self.shift_right) {
                            self.push(c);
                        }
                    }
                }
            }
            InputEvent::Text { text } => text.chars().for_each(|c| self.push(c)),
        }
    }

    /// Records an agent's action (see [`Desktop::show_agent`]).
    pub fn mark_agent(&mut self, mark: &AgentMark, width: u32, height: u32) {
        let overlay = self.agent.get_or_insert_with(AgentOverlay::default);
        if let Some((x, y)) = mark.at {
            overlay.at = (x.min(width - 1), y.min(height - 1));
            if mark.click {
                if overlay.clicks.len() == CLICKS_SHOWN {
                    overlay.clicks.pop_front();
                }
                overlay.clicks.push_back(overlay.at);
            }
        }
        overlay.label = format!(
            "agent: {}",
            mark.action.chars().take(32).collect::<String>()
        );
    }

    fn push(&mut self, c: char) {
        if self.typed.len() == TYPED_MAX {
            self.typed.pop_front();
        }
        self.typed.push_back(c);
    }

    /// The typed buffer as a string.
    pub fn typed(&self) -> String {
        self.typed.iter().collect()
    }

    /// The barcode fields of this state.
    pub fn echo(&self) -> Echo {
        let typed = self.typed();
        Echo {
            pointer_x: self.pointer.0 as u16,
            pointer_y: self.pointer.1 as u16,
            button_presses: self.button_presses,
            wheel_dy: self
                .wheel_dy
                .round()
                .clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16,
            typed_len: self.typed.len() as u16,
            typed_hash: barcode::fnv1a32(typed.as_bytes()),
            key_presses: self.key_presses,
        }
    }
}

/// The character a key produces on a US layout, if any.
pub fn us_char(code: &str, shift: bool) -> Option<char> {
    if let Some(letter) = code.strip_prefix("Key")
        && letter.len() == 1
    {
        let c = letter.chars().next()?;
        if c.is_ascii_uppercase() {
            return Some(if shift { c } else { c.to_ascii_lowercase() });
        }
    }
    if let Some(d) = code.strip_prefix("Digit")
        && let Ok(i) = d.parse::<usize>()
        && i < 10
    {
        return Some(if shift {
            ")!@#$%^&*(".as_bytes()[i] as char
        } else {
            (b'0' + i as u8) as char
        });
    }
    if let Some(d) = code.strip_prefix("Numpad")
        && let Ok(i) = d.parse::<u8>()
        && i < 10
    {
        return Some((b'0' + i) as char);
    }
    let (plain, shifted) = match code {
        "Minus" => ('-', '_'),
        "Equal" => ('=', '+'),
        "BracketLeft" => ('[', '{'),
        "BracketRight" => (']', '}'),
        "Backslash" => ('\\', '|'),
        "Semicolon" => (';', ':'),
        "Quote" => ('\'', '"'),
        "Backquote" => ('`', '~'),
        "Comma" => (',', '<'),
        "Period" => ('.', '>'),
        "Slash" => ('/', '?'),
        "Space" => (' ', ' '),
        "Tab" => ('\t', '\t'),
        "NumpadAdd" => ('+', '+'),
        "NumpadSubtract" => ('-', '-'),
        "NumpadMultiply" => ('*', '*'),
        "NumpadDivide" => ('/', '/'),
        "NumpadDecimal" => ('.', '.'),
        _ => return None,
    };
    Some(if shift { shifted } else { plain })
}

/// The synthetic desktop: one screen, id `"0"`, name `"synthetic"`, primary.
pub struct SyntheticDesktop {
    info: ScreenInfo,
    input: Arc<Mutex<InputEcho>>,
}

impl std::fmt::Debug for SyntheticDesktop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyntheticDesktop")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl SyntheticDesktop {
    /// A synthetic screen of `width`×`height`, clamped to [`MIN_SIZE`]..=[`MAX_SIZE`] and rounded down to even.
    pub fn new(width: u32, height: u32) -> Self {
        let w = width.clamp(MIN_SIZE.0, MAX_SIZE.0) & !1;
        let h = height.clamp(MIN_SIZE.1, MAX_SIZE.1) & !1;
        if (w, h) != (width, height) {
            tracing::warn!(
                width,
                height,
                used_width = w,
                used_height = h,
                "synthetic screen size adjusted"
            );
        }
        Self {
            info: ScreenInfo {
                id: "0".into(),
                name: "synthetic".into(),
                width: w,
                height: h,
                source: SourceKind::Synthetic,
                primary: true,
            },
            input: Arc::default(),
        }
    }

    /// The current input echo (what the next frame will show).
    pub fn echo(&self) -> Echo {
        self.input.lock().echo()
    }

    /// Opens a source directly (what [`Desktop::open`] returns, without the box).
    pub fn source(&self) -> SyntheticSource {
        SyntheticSource::new(self.info.clone(), Arc::clone(&self.input))
    }

    fn check(&self, screen: &str) -> Result<(), MediaError> {
        if screen == self.info.id {
            Ok(())
        } else {
            Err(MediaError::UnknownScreen(screen.to_owned()))
        }
    }
}

impl Desktop for SyntheticDesktop {
    fn kind(&self) -> SourceKind {
        SourceKind::Synthetic
    }

    fn screens(&self) -> Result<Vec<ScreenInfo>, MediaError> {
        Ok(vec![self.info.clone()])
    }

    fn open(&self, screen: &str) -> Result<Box<dyn FrameSource>, MediaError> {
        self.check(screen)?;
        Ok(Box::new(self.source()))
    }

    fn inject(&self, screen: &str, event: &InputEvent) -> Result<(), MediaError> {
        self.check(screen)?;
        self.input
            .lock()
            .apply(event, self.info.width, self.info.height);
        Ok(())
    }

    fn show_agent(&self, screen: &str, mark: &AgentMark) {
        if self.check(screen).is_ok() {
            self.input
                .lock()
                .mark_agent(mark, self.info.width, self.info.height);
        }
    }
}

/// A rectangle in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rect {
    x: u32,
    y: u32,
    w: u32,
    h: u32,
}

/// Where everything goes on a screen of a given size (computed once).
#[derive(Clone, Copy, Debug)]
struct Layout {
    scale: u32,
    panel: Rect,
    gradient: Rect,
    /// Area the bouncing window moves in.
    arena: Rect,
    bouncer: Rect,
    scroller: Rect,
    taskbar: Rect,
}

impl Layout {
    fn new(w: u32, h: u32) -> Self {
        let scale = if w >= 1280 { 2 } else { 1 };
        let bar = barcode::bar_height(w);
        let line = CELL_H * scale;
        let panel = Rect {
            x: 0,
            y: bar,
            w: w.min(CELL_W * scale * 64 + 8),
            h: (3 * line + 8).min(h.saturating_sub(3 * bar)),
        };
        let gradient = Rect {
            x: 0,
            y: panel.y + panel.h,
            w,
            h: (6 * scale).min(h.saturating_sub(3 * bar + panel.h)),
        };
        let taskbar_h = (12 * scale).min(h.saturating_sub(gradient.y + gradient.h + 2 * bar));
        let taskbar = Rect {
            x: 0,
            y: h - 2 * bar - taskbar_h,
            w,
            h: taskbar_h,
        };
        let arena = Rect {
            x: 0,
            y: gradient.y + gradient.h,
            w,
            h: taskbar.y.saturating_sub(gradient.y + gradient.h),
        };
        let bouncer = Rect {
            x: 0,
            y: 0,
            w: (w / 6).max(16).min(arena.w),
            h: (arena.h / 5).max(8).min(arena.h),
        };
        let scroller = Rect {
            x: arena.x + arena.w / 2,
            y: arena.y + arena.h / 8,
            w: arena.w / 2 - arena.w / 16,
            h: arena.h / 2,
        };
        Self {
            scale,
            panel,
            gradient,
            arena,
            bouncer,
            scroller,
            taskbar,
        }
    }
}

/// A frame buffer of the pool and what its last drawing changed on top of the background.
struct Slot {
    data: Arc<[u8]>,
    dirty: Vec<Rect>,
}

/// The frame source of a synthetic screen.
pub struct SyntheticSource {
    info: ScreenInfo,
    input: Arc<Mutex<InputEcho>>,
    layout: Layout,
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
    fn new(info: ScreenInfo, input: Arc<Mutex<InputEcho>>) -> Self {
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

/// Deterministic filler words for the windows.
const WORDS: &[&str] = &[
    "fn",
    "let",
    "mut",
    "capture",
    "frame",
    "encode",
    "pacer",
    "tick",
    "latency",
    "viewer",
    "screen",
    "pixel",
    "stream",
    "keyframe",
    "idr",
    "subscriber",
    "queue",
    "bounded",
    "drop",
    "the",
    "a",
    "of",
    "to",
    "and",
    "monitor",
    "signal",
    "offer",
    "answer",
    "track",
    "sample",
    "bitrate",
    "=",
    "{",
    "}",
    "();",
    "//",
    "0x1f",
    "42e01f",
    "1920",
    "1080",
    "ms",
    "ok",
    "Err",
    "Some",
    "None",
    "match",
    "impl",
    "pub",
    "struct",
    "async",
];

/// A deterministic line of filler text about `chars` characters long.
fn filler_line(seed: u64, chars: usize) -> String {
    let mut s = String::with_capacity(chars + 12);
    let mut x = seed
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    let indent = (seed % 4) as usize * 2;
    s.extend(std::iter::repeat_n(' ', indent));
    while s.len() < chars {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        s.push_str(WORDS[(x >> 33) as usize % WORDS.len()]);
        s.push(' ');
    }
    s.truncate(chars);
    s
}

fn render_background(w: u32, h: u32, l: &Layout) -> Vec<u8> {
    let mut data = vec![0u8; w as usize * h as usize * 4];
    let mut c = Canvas {
        data: &mut data,
        width: w,
        height: h,
        stride: w as usize * 4,
    };
    c.fill(0, 0, w, h, DESKTOP);
    // Two static windows on the left half, text at scale 1 (small glyphs, like a real desktop).
    let a = l.arena;
    let windows = [
        (
            a.x + a.w / 32,
            a.y + a.h / 10,
            a.w * 7 / 16,
            a.h * 3 / 8,
            11u64,
        ),
        (
            a.x + a.w / 12,
            a.y + a.h / 2,
            a.w * 3 / 8,
            a.h * 3 / 8,
            97u64,
        ),
    ];
    for (x, y, ww, wh, seed) in windows {
        draw_window(
            &mut c,
            Rect { x, y, w: ww, h: wh },
            l.scale,
            seed,
            WINDOW_BODY,
            TEXT_DARK,
        );
    }
    // Frame of the scrolling window (its body is repainted every frame).
    let s = l.scroller;
    let title = 8 * l.scale;
    c.fill(s.x, s.y.saturating_sub(title), s.w, title, WINDOW_TITLE);
    c.text(s.x + 4, s.y.saturating_sub(title), "terminal", 1, WHITE);
    // Taskbar with a few labels.
    let t = l.taskbar;
    c.fill(t.x, t.y, t.w, t.h, [0x30, 0x30, 0x30, 255]);
    let mut x = 8;
    for label in [
        "menu",
        "files",
        "terminal",
        "browser",
        "sightline synthetic screen",
    ] {
        x += c.text(x, t.y + t.h.saturating_sub(8) / 2, label, 1, WHITE) + 16;
    }
    data
}

fn draw_window(c: &mut Canvas<'_>, r: Rect, scale: u32, seed: u64, body: [u8; 4], text: [u8; 4]) {
    let title = 8 * scale;
    c.fill(r.x, r.y, r.w, title, WINDOW_TITLE);
    c.text(
        r.x + 4,
        r.y + (title - 7) / 2,
        &format!("window {seed}"),
        1,
        WHITE,
    );
    c.fill(r.x, r.y + title, r.w, r.h.saturating_sub(title), body);
    let cols = (r.w.saturating_sub(8) / CELL_W) as usize;
    let mut y = r.y + title + 4;
    let mut k = seed;
    while y + CELL_H <= r.y + r.h {
        c.text(r.x + 4, y, &filler_line(k, cols), 1, text);
        y += CELL_H + 2;
        k += 1;
    }
}

fn render_gradient_row(w: u32) -> Vec<u8> {
    // Two periods (2·w pixels): any w-wide slice starting in the first period is one copy.
    let period = w as usize;
    let mut row = Vec::with_capacity(period * 8);
    for i in 0..2 * period {
        let t = (i % period) as f64 / period as f64 * std::f64::consts::TAU;
        let r = (127.5 + 127.5 * t.sin()) as u8;
        let g = (127.5 + 127.5 * (t + 2.094).sin()) as u8;
        let b = (127.5 + 127.5 * (t + 4.189).sin()) as u8;
        row.extend_from_slice(&[b, g, r, 255]);
    }
    row
}

/// The scrolling window's content: `period` rows of text lines repeated once more for `r.h` rows.
fn render_scroll_strip(r: Rect) -> (Vec<u8>, u32) {
    let line = CELL_H + 2;
    let lines = 48u32;
    let period = lines * line;
    let height = period + r.h;
    let mut data = vec![0u8; r.w as usize * height as usize * 4];
    let mut c = Canvas {
        data: &mut data,
        width: r.w,
        height,
        stride: r.w as usize * 4,
    };
    c.fill(0, 0, r.w, height, TERMINAL_BODY);
    let cols = (r.w.saturating_sub(8) / CELL_W) as usize;
    let mut y = 0;
    let mut k = 0u64;
    while y < height {
        c.text(
            4,
            y + 1,
            &format!("$ {}", filler_line(1000 + k % u64::from(lines), cols)),
            1,
            TEXT_LIGHT,
        );
        y += line;
        k += 1;
    }
    (data, period)
}

fn render_sprite(r: Rect, scale: u32) -> Vec<u8> {
    let mut data = vec![0u8; r.w as usize * r.h as usize * 4];
    let mut c = Canvas {
        data: &mut data,
        width: r.w,
        height: r.h,
        stride: r.w as usize * 4,
    };
    draw_window(
        &mut c,
        Rect {
            x: 0,
            y: 0,
            w: r.w,
            h: r.h,
        },
        scale,
        4242,
        [0xc0, 0xe8, 0xff, 255],
        TEXT_DARK,
    );
    data
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(ms)
    }

    #[test]
    fn one_primary_screen_and_unknown_ids_are_refused() {
        let d = SyntheticDesktop::new(640, 480);
        let screens = d.screens().unwrap();
        assert_eq!(screens.len(), 1);
        let s = &screens[0];
        assert_eq!(
            (s.id.as_str(), s.name.as_str(), s.width, s.height),
            ("0", "synthetic", 640, 480)
        );
        assert!(s.primary);
        assert_eq!(s.source, SourceKind::Synthetic);
        assert!(matches!(d.open("1"), Err(MediaError::UnknownScreen(_))));
        assert!(
            d.inject("1", &InputEvent::Text { text: "x".into() })
                .is_err()
        );
        assert_eq!(SyntheticDesktop::new(10, 7).screens().unwrap()[0].width, 64);
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

    #[test]
    fn input_echo_follows_the_spec() {
        let (w, h) = (1920, 1080);
        let d = SyntheticDesktop::new(w, h);
        let fresh = d.echo();
        assert_eq!(
            fresh,
            Echo {
                typed_hash: barcode::FNV_OFFSET,
                ..Echo::default()
            }
        );
        let events = [
            InputEvent::PointerMove { x: 5000, y: 300 },
            InputEvent::Button {
                button: MouseButton::Left,
                down: true,
            },
            InputEvent::Button {
                button: MouseButton::Left,
                down: false,
            },
            InputEvent::Button {
                button: MouseButton::Right,
                down: true,
            },
            InputEvent::Wheel { dx: 0.0, dy: 2.6 },
            InputEvent::Wheel { dx: 1.0, dy: -5.0 },
            InputEvent::Key {
                code: "ShiftLeft".into(),
                down: true,
            },
            InputEvent::Key {
                code: "KeyH".into(),
                down: true,
            },
            InputEvent::Key {
                code: "KeyH".into(),
                down: false,
            },
            InputEvent::Key {
                code: "ShiftLeft".into(),
                down: false,
            },
            InputEvent::Key {
                code: "KeyI".into(),
                down: true,
            },
            InputEvent::Key {
                code: "KeyX".into(),
                down: true,
            },
            InputEvent::Key {
                code: "Backspace".into(),
                down: true,
            },
            InputEvent::Key {
                code: "ShiftRight".into(),
                down: true,
            },
            InputEvent::Key {
                code: "Digit1".into(),
                down: true,
            },
            InputEvent::Key {
                code: "ShiftRight".into(),
                down: false,
            },
            InputEvent::Key {
                code: "Enter".into(),
                down: true,
            },
            InputEvent::Key {
                code: "F5".into(),
                down: true,
            },
            InputEvent::Text {
                text: "é€".into()
            },
        ];
        for e in &events {
            d.inject("0", e).unwrap();
        }
        let typed = "Hi!\né€";
        let e = d.echo();
        assert_eq!((e.pointer_x, e.pointer_y), (1919, 300));
        assert_eq!(e.button_presses, 2);
        assert_eq!(e.wheel_dy, -2);
        assert_eq!(e.typed_len, typed.chars().count() as u16);
        assert_eq!(e.typed_hash, barcode::fnv1a32(typed.as_bytes()));
        // Key downs: ShiftLeft, H, I, X, Backspace, ShiftRight, 1, Enter, F5.
        assert_eq!(e.key_presses, 9);
        // And the picture carries it.
        let frame = d.source().render(at(5));
        assert_eq!(barcode::decode_echo(&frame), Some(e));
    }

    #[test]
    fn typed_buffer_keeps_the_last_64_characters() {
        let mut echo = InputEcho::default();
        let text: String = (0..100)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        echo.apply(&InputEvent::Text { text: text.clone() }, 100, 100);
        assert_eq!(echo.typed(), text[36..]);
        assert_eq!(echo.echo().typed_len, 64);
    }

    #[test]
    fn us_layout() {
        assert_eq!(us_char("KeyA", false), Some('a'));
        assert_eq!(us_char("KeyA", true), Some('A'));
        assert_eq!(us_char("Digit2", true), Some('@'));
        assert_eq!(us_char("Digit0", false), Some('0'));
        assert_eq!(us_char("Slash", true), Some('?'));
        assert_eq!(us_char("Numpad7", false), Some('7'));
        assert_eq!(us_char("ArrowLeft", false), None);
        assert_eq!(us_char("Keyboard", false), None);
    }

    #[test]
    fn an_agent_is_drawn_as_an_orange_cursor_with_click_markers() {
        let desktop = SyntheticDesktop::new(640, 360);
        let mut source = desktop.source();
        let before = source.render(at(1_000));
        assert_ne!(before.pixel(300, 200).unwrap()[..3], AGENT[..3]);
        desktop.show_agent(
            "0",
            &AgentMark {
                at: Some((300, 200)),
                action: "click".into(),
                click: true,
            },
        );
        desktop.show_agent(
            "9",
            &AgentMark {
                at: Some((1, 1)),
                action: "x".into(),
                click: true,
            },
        );
        let frame = source.render(at(1_033));
        // The arrow's hot spot and a point on the click marker's outline are orange.
        assert_eq!(frame.pixel(300, 200).unwrap()[..3], AGENT[..3]);
        let r = 6 * source.layout.scale;
        assert_eq!(frame.pixel(300 - r, 200).unwrap()[..3], AGENT[..3]);
        // The echo barcodes still describe the input, untouched by the overlay.
        assert_eq!(barcode::decode_echo(&frame), Some(desktop.echo()));
    }

    #[test]
    fn tiny_screens_render_without_panicking() {
        for (w, h) in [(64, 64), (66, 70), (100, 64), (3840, 2160)] {
            let d = SyntheticDesktop::new(w, h);
            d.inject("0", &InputEvent::PointerMove { x: w, y: h })
                .unwrap();
            d.inject(
                "0",
                &InputEvent::Button {
                    button: MouseButton::Middle,
                    down: true,
                },
            )
            .unwrap();
            let f = d.source().render(at(77));
            assert_eq!(barcode::decode_timestamp(&f), Some(77), "{w}x{h}");
        }
    }
}
