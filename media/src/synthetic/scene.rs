//! The static scene of the synthetic screen: its colours, where everything goes ([`Layout`]), and the
//! pre-rendered pictures a frame is assembled from (the background with its windows and taskbar, the gradient row,
//! the scrolling text strip, the bouncing window).
//!
//! Everything here is computed once per source; drawing a frame only copies from it.

use crate::barcode;
use crate::font::{CELL_H, CELL_W, Canvas};

pub(super) const DESKTOP: [u8; 4] = [0x7b, 0x5a, 0x2d, 255];
pub(super) const WINDOW_BODY: [u8; 4] = [250, 250, 250, 255];
pub(super) const WINDOW_TITLE: [u8; 4] = [0x50, 0x40, 0x30, 255];
pub(super) const TERMINAL_BODY: [u8; 4] = [0x20, 0x20, 0x20, 255];
pub(super) const TEXT_DARK: [u8; 4] = [0x30, 0x30, 0x30, 255];
pub(super) const TEXT_LIGHT: [u8; 4] = [0xd0, 0xf0, 0xd0, 255];
pub(super) const PANEL: [u8; 4] = [0x10, 0x10, 0x10, 255];
pub(super) const WHITE: [u8; 4] = [255, 255, 255, 255];
pub(super) const POINTER: [u8; 4] = [0, 0, 255, 255];
/// Orange (BGRA) for everything an AI agent did.
pub(super) const AGENT: [u8; 4] = [0, 140, 255, 255];

/// A rectangle in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Rect {
    pub(super) x: u32,
    pub(super) y: u32,
    pub(super) w: u32,
    pub(super) h: u32,
}

/// Where everything goes on a screen of a given size (computed once).
#[derive(Clone, Copy, Debug)]
pub(super) struct Layout {
    pub(super) scale: u32,
    pub(super) panel: Rect,
    pub(super) gradient: Rect,
    /// Area the bouncing window moves in.
    pub(super) arena: Rect,
    pub(super) bouncer: Rect,
    pub(super) scroller: Rect,
    taskbar: Rect,
}

impl Layout {
    pub(super) fn new(w: u32, h: u32) -> Self {
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

pub(super) fn render_background(w: u32, h: u32, l: &Layout) -> Vec<u8> {
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

pub(super) fn render_gradient_row(w: u32) -> Vec<u8> {
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
pub(super) fn render_scroll_strip(r: Rect) -> (Vec<u8>, u32) {
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

pub(super) fn render_sprite(r: Rect, scale: u32) -> Vec<u8> {
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
