//! Machine-readable barcodes drawn into the synthetic screen, so latency and input can be read back from any
//! decoded picture — by Rust tests, Python tests and the viewer page alike. **This layout is a contract; keep it
//! exactly.**
//!
//! # Layout
//! - A barcode is one row of 64 square-ish cells spanning the full frame width `W`. Cell `i` covers
//!   `x ∈ [floor(i·W/64), floor((i+1)·W/64))`. The row height is `H_bar = max(8, floor(W/64))` pixels.
//! - A white cell (255,255,255) is bit 1, a black cell (0,0,0) is bit 0. Bits are MSB first: cell 0 carries bit 63
//!   of the 64-bit word.
//! - Decoding samples luma at the centre of each cell (mean of a 3×3 patch, `Y = (77R + 150G + 29B) / 256`) and
//!   thresholds it at 128, so it survives scaling and lossy video.
//!
//! # Rows
//! - **Top** (rows `[0, H_bar)`): `t48 << 16 | check`, where `t48` is the capture wall-clock in milliseconds since
//!   the Unix epoch (low 48 bits) and
//!   `check = (t & 0xFFFF) ^ ((t >> 16) & 0xFFFF) ^ ((t >> 32) & 0xFFFF) ^ 0xA5A5`.
//! - **Echo row A** (rows `[H − 2·H_bar, H − H_bar)`): pointer x (16) | pointer y (16) | button presses, all
//!   buttons, mod 2¹⁶ (16) | wheel steps total dy, rounded, two's complement (16).
//! - **Echo row B** (rows `[H − H_bar, H)`): characters in the typed buffer (16) | FNV-1a 32-bit hash of the typed
//!   buffer's UTF-8 bytes (32) | key presses (`Key` down events) mod 2¹⁶ (16).
//!
//! The typed buffer holds the last 64 characters typed; see [`crate::synthetic`] for how events edit it. On a
//! fresh screen every field is zero and the hash is FNV-1a of "" (`0x811c9dc5`).

use serde::{Deserialize, Serialize};

use crate::Frame;

/// Cells per barcode row.
pub const CELLS: u32 = 64;
/// XOR mask of the timestamp check.
pub const CHECK_MASK: u64 = 0xA5A5;
/// FNV-1a 32-bit offset basis (the hash of the empty string).
pub const FNV_OFFSET: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

/// The barcode row height for a frame `width` pixels wide.
pub fn bar_height(width: u32) -> u32 {
    (width / CELLS).max(8)
}

/// FNV-1a 32-bit hash.
pub fn fnv1a32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(FNV_OFFSET, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(FNV_PRIME)
    })
}

/// The 16-bit check of a timestamp.
pub fn timestamp_check(t: u64) -> u64 {
    (t & 0xFFFF) ^ ((t >> 16) & 0xFFFF) ^ ((t >> 32) & 0xFFFF) ^ CHECK_MASK
}

/// The top row's 64-bit word for capture time `t_ms`.
pub fn timestamp_word(t_ms: u64) -> u64 {
    let t = t_ms & 0xFFFF_FFFF_FFFF;
    (t << 16) | timestamp_check(t)
}

/// The input echo carried by the two bottom rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Echo {
    /// Pointer x in pixels.
    pub pointer_x: u16,
    /// Pointer y in pixels.
    pub pointer_y: u16,
    /// Button presses (all buttons) mod 2¹⁶.
    pub button_presses: u16,
    /// Total vertical wheel steps, rounded.
    pub wheel_dy: i16,
    /// Characters in the typed buffer.
    pub typed_len: u16,
    /// FNV-1a 32-bit hash of the typed buffer's UTF-8 bytes.
    pub typed_hash: u32,
    /// `Key` down events mod 2¹⁶.
    pub key_presses: u16,
}

impl Echo {
    /// Echo row A's word.
    pub fn row_a(&self) -> u64 {
        (u64::from(self.pointer_x) << 48)
            | (u64::from(self.pointer_y) << 32)
            | (u64::from(self.button_presses) << 16)
            | u64::from(self.wheel_dy as u16)
    }

    /// Echo row B's word.
    pub fn row_b(&self) -> u64 {
        (u64::from(self.typed_len) << 48)
            | (u64::from(self.typed_hash) << 16)
            | u64::from(self.key_presses)
    }

    /// Rebuilds the echo from the two words.
    pub fn from_rows(a: u64, b: u64) -> Self {
        Self {
            pointer_x: (a >> 48) as u16,
            pointer_y: (a >> 32) as u16,
            button_presses: (a >> 16) as u16,
            wheel_dy: a as u16 as i16,
            typed_len: (b >> 48) as u16,
            typed_hash: (b >> 16) as u32,
            key_presses: b as u16,
        }
    }
}

/// Draws `bits` as a barcode row with its top at `row_top` into a BGRA buffer. Rows outside the frame are clipped.
pub fn encode_row(
    frame_bgra: &mut [u8],
    width: u32,
    height: u32,
    stride: usize,
    row_top: u32,
    bits: u64,
) {
    let bottom = (row_top + bar_height(width)).min(height);
    if row_top >= bottom {
        return;
    }
    // Build one pixel row, then copy it into every row of the bar.
    let first = row_top as usize * stride;
    {
        let row = &mut frame_bgra[first..first + width as usize * 4];
        for i in 0..CELLS {
            let (x0, x1) = cell_span(i, width);
            let v = if (bits >> (CELLS - 1 - i)) & 1 == 1 {
                255
            } else {
                0
            };
            for px in row[x0 as usize * 4..x1 as usize * 4].chunks_exact_mut(4) {
                px.copy_from_slice(&[v, v, v, 255]);
            }
        }
    }
    for y in row_top + 1..bottom {
        let start = y as usize * stride;
        frame_bgra.copy_within(first..first + width as usize * 4, start);
    }
}

/// Reads the barcode row with its top at `row_top` from a BGRA buffer. `None` when the row does not fit.
pub fn decode_row(
    frame_bgra: &[u8],
    width: u32,
    height: u32,
    stride: usize,
    row_top: u32,
) -> Option<u64> {
    let h = bar_height(width);
    if width < CELLS
        || row_top.checked_add(h)? > height
        || frame_bgra.len() < stride * height as usize
    {
        return None;
    }
    let cy = row_top + h / 2;
    let mut word = 0u64;
    for i in 0..CELLS {
        let (x0, x1) = cell_span(i, width);
        let cx = (x0 + x1 - 1) / 2;
        // 3×3 patch when the cell is wide enough, else the centre pixel.
        let r = if x1 - x0 >= 3 && h >= 3 { 1 } else { 0 };
        let (mut sum, mut n) = (0u32, 0u32);
        for y in cy - r..=cy + r {
            for x in cx - r..=cx + r {
                let p = y as usize * stride + x as usize * 4;
                let (b, g, rr) = (frame_bgra[p], frame_bgra[p + 1], frame_bgra[p + 2]);
                sum += (77 * u32::from(rr) + 150 * u32::from(g) + 29 * u32::from(b)) >> 8;
                n += 1;
            }
        }
        word = (word << 1) | u64::from(sum / n >= 128);
    }
    Some(word)
}

/// The capture time (ms since the Unix epoch, low 48 bits) from the top barcode; `None` when the check fails.
pub fn decode_timestamp(frame: &Frame) -> Option<u64> {
    let word = decode_row(&frame.data, frame.width, frame.height, frame.stride, 0)?;
    let t = word >> 16;
    (timestamp_check(t) == word & 0xFFFF).then_some(t)
}

/// The input echo from the two bottom rows; `None` when the frame is too small to hold them. The rows carry no
/// check: decode them only from the synthetic screen.
pub fn decode_echo(frame: &Frame) -> Option<Echo> {
    let h = bar_height(frame.width);
    let top = frame.height.checked_sub(2 * h)?;
    if top < h {
        return None;
    }
    let a = decode_row(&frame.data, frame.width, frame.height, frame.stride, top)?;
    let b = decode_row(
        &frame.data,
        frame.width,
        frame.height,
        frame.stride,
        top + h,
    )?;
    Some(Echo::from_rows(a, b))
}

/// Draws the timestamp row for `t_ms`.
pub fn encode_timestamp(frame_bgra: &mut [u8], width: u32, height: u32, stride: usize, t_ms: u64) {
    encode_row(frame_bgra, width, height, stride, 0, timestamp_word(t_ms));
}

/// Draws both echo rows.
pub fn encode_echo(frame_bgra: &mut [u8], width: u32, height: u32, stride: usize, echo: &Echo) {
    let h = bar_height(width);
    let Some(top) = height.checked_sub(2 * h) else {
        return;
    };
    encode_row(frame_bgra, width, height, stride, top, echo.row_a());
    encode_row(frame_bgra, width, height, stride, top + h, echo.row_b());
}

fn cell_span(i: u32, width: u32) -> (u32, u32) {
    let x0 = (u64::from(i) * u64::from(width) / u64::from(CELLS)) as u32;
    let x1 = (u64::from(i + 1) * u64::from(width) / u64::from(CELLS)) as u32;
    (x0, x1)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::SystemTime;

    use super::*;
    use crate::convert::{I420Buffer, bgra_to_i420};

    fn blank(width: u32, height: u32) -> Vec<u8> {
        // Mid grey: both thresholds are far from it in the wrong direction for half the cells.
        vec![128; (width * height * 4) as usize]
    }

    fn frame(width: u32, height: u32, data: Vec<u8>) -> Frame {
        Frame {
            width,
            height,
            stride: width as usize * 4,
            data: Arc::from(data),
            captured_at: SystemTime::now(),
            seq: 1,
        }
    }

    #[test]
    fn known_values() {
        assert_eq!(fnv1a32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a32(b"foobar"), 0xbf9c_f968);
        assert_eq!(bar_height(1920), 30);
        assert_eq!(bar_height(320), 8);
        let t = 0x0123_4567_89AB;
        assert_eq!(timestamp_check(t), 0x89AB ^ 0x4567 ^ 0x0123 ^ 0xA5A5);
        assert_eq!(timestamp_word(t) >> 16, t);
    }

    #[test]
    fn rows_round_trip_at_many_widths() {
        for (w, h) in [(64, 48), (100, 60), (640, 480), (1366, 768), (1920, 1080)] {
            let mut data = blank(w, h);
            for (k, word) in [0u64, u64::MAX, 0xDEAD_BEEF_0123_4567, 0x8000_0000_0000_0001]
                .into_iter()
                .enumerate()
            {
                let top = k as u32 * bar_height(w);
                encode_row(&mut data, w, h, w as usize * 4, top, word);
                assert_eq!(
                    decode_row(&data, w, h, w as usize * 4, top),
                    Some(word),
                    "{w}x{h} row {k}"
                );
            }
        }
    }

    #[test]
    fn timestamp_and_echo_round_trip_and_bad_check_is_rejected() {
        let (w, h) = (1280, 720);
        let mut data = blank(w, h);
        let t = 1_795_000_000_123;
        let echo = Echo {
            pointer_x: 1279,
            pointer_y: 5,
            button_presses: 3,
            wheel_dy: -7,
            typed_len: 11,
            typed_hash: fnv1a32(b"Hello World"),
            key_presses: 65535,
        };
        encode_timestamp(&mut data, w, h, w as usize * 4, t);
        encode_echo(&mut data, w, h, w as usize * 4, &echo);
        let f = frame(w, h, data.clone());
        assert_eq!(decode_timestamp(&f), Some(t));
        assert_eq!(decode_echo(&f), Some(echo));
        // Flip one timestamp cell: the check fails.
        encode_row(
            &mut data,
            w,
            h,
            w as usize * 4,
            0,
            timestamp_word(t) ^ (1 << 20),
        );
        assert_eq!(decode_timestamp(&frame(w, h, data)), None);
    }

    #[test]
    fn fresh_echo_is_zero_with_the_empty_hash() {
        let e = Echo {
            typed_hash: FNV_OFFSET,
            ..Echo::default()
        };
        assert_eq!(Echo::from_rows(e.row_a(), e.row_b()), e);
    }

    #[test]
    fn survives_downscale_to_half_and_to_an_odd_ratio() {
        let (w, h) = (1920, 1080);
        let mut data = blank(w, h);
        let t = 1_795_000_000_999;
        let echo = Echo {
            pointer_x: 640,
            pointer_y: 360,
            typed_hash: FNV_OFFSET,
            ..Echo::default()
        };
        encode_timestamp(&mut data, w, h, w as usize * 4, t);
        encode_echo(&mut data, w, h, w as usize * 4, &echo);
        let f = frame(w, h, data);
        for max in [960, 1280, 800] {
            let mut yuv = I420Buffer::new();
            bgra_to_i420(&f, Some(max), &mut yuv).unwrap();
            let scaled = i420_to_grey_bgra(&yuv);
            assert_eq!(decode_timestamp(&scaled), Some(t), "timestamp at {max}");
            assert_eq!(decode_echo(&scaled), Some(echo), "echo at {max}");
        }
    }

    /// Expands limited-range luma to a grey BGRA frame (enough for luma-based decoding).
    fn i420_to_grey_bgra(yuv: &I420Buffer) -> Frame {
        let data: Vec<u8> = yuv
            .y()
            .iter()
            .flat_map(|&y| {
                let v = ((i32::from(y) - 16) * 255 / 219).clamp(0, 255) as u8;
                [v, v, v, 255]
            })
            .collect();
        frame(yuv.width(), yuv.height(), data)
    }
}
