// Reader of the synthetic test screen's barcodes (docs/PROTOCOL.md, "The synthetic screen's barcodes").
//
// Each barcode is a row of 64 square cells across the full frame width, white = 1, most significant bit first.
// The top row carries the capture time (48 bits) and a 16-bit check; the two bottom rows echo the input the
// screen received. Everything here is pure: callers hand in a `sample(x, y)` function returning luma (0–255) at
// SCREEN pixel coordinates, so the same code reads a video frame, a JPEG canvas or a test's synthetic pixels,
// whatever their scale.

export const CELLS = 64;

/** Height in screen pixels of one barcode row for a screen `width` pixels wide. */
export function rowHeight(width) {
  return Math.max(8, Math.floor(width / CELLS));
}

/** Centre x (screen pixels) of cell `i` for a screen `width` pixels wide. */
export function cellCentre(i, width) {
  const start = Math.floor((i * width) / CELLS);
  const end = Math.floor(((i + 1) * width) / CELLS);
  return (start + end) / 2;
}

/** Centre y (screen pixels) of each barcode row of a `width`×`height` screen. */
export function rowCentres(width, height) {
  const h = rowHeight(width);
  return { top: h / 2, echoA: height - 1.5 * h, echoB: height - 0.5 * h };
}

/**
 * Reads the 64 bits of the row centred on `y` as an array of 0/1, or null when some cell is too close to the
 * threshold to trust (a blurred or half-updated frame). `sample(x, y)` returns luma at screen coordinates.
 */
export function readBits(sample, width, y) {
  const bits = new Array(CELLS);
  for (let i = 0; i < CELLS; i++) {
    const luma = sample(cellCentre(i, width), y);
    // Cells are flat black or white; anything in the middle band means the frame is not a clean barcode.
    if (luma > 96 && luma < 160) return null;
    bits[i] = luma >= 128 ? 1 : 0;
  }
  return bits;
}

/** The unsigned value of `bits[from .. from+count)` (count ≤ 48 keeps it exact in a double). */
export function field(bits, from, count) {
  let v = 0;
  for (let i = from; i < from + count; i++) v = v * 2 + bits[i];
  return v;
}

/** The 16-bit check of a 48-bit capture time. */
export function timeCheck(t) {
  const a = t % 0x10000;
  const b = Math.floor(t / 0x10000) % 0x10000;
  const c = Math.floor(t / 0x100000000) % 0x10000;
  return (a ^ b ^ c ^ 0xa5a5) & 0xffff;
}

/** Decodes the top row's bits: the capture time in ms since the epoch (low 48 bits), or null if the check fails. */
export function decodeTime(bits) {
  if (!bits) return null;
  const t = field(bits, 0, 48);
  return field(bits, 48, 16) === timeCheck(t) ? t : null;
}

/** Decodes echo row A: pointer position (screen pixels), button presses and total wheel dy steps. */
export function decodeEchoA(bits) {
  if (!bits) return null;
  const dy = field(bits, 48, 16);
  return {
    pointerX: field(bits, 0, 16),
    pointerY: field(bits, 16, 16),
    presses: field(bits, 32, 16),
    wheelDy: dy >= 0x8000 ? dy - 0x10000 : dy,
  };
}

/** Decodes echo row B: typed buffer length, its FNV-1a 32-bit hash, and key presses. */
export function decodeEchoB(bits) {
  if (!bits) return null;
  return { chars: field(bits, 0, 16), hash: field(bits, 16, 32), keyPresses: field(bits, 48, 16) };
}

/** Reads all three rows of a `width`×`height` screen. Each part is null when its row is unreadable. */
export function readScreen(sample, width, height) {
  const y = rowCentres(width, height);
  return {
    time: decodeTime(readBits(sample, width, y.top)),
    echoA: decodeEchoA(readBits(sample, width, y.echoA)),
    echoB: decodeEchoB(readBits(sample, width, y.echoB)),
  };
}

/** FNV-1a 32-bit hash of a string's UTF-8 bytes (the echo row's typed-buffer hash). */
export function fnv1a32(text) {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * A `sample(x, y)` over RGBA pixels (`ImageData.data` layout) of an image `imgW`×`imgH` that shows a screen
 * `screenW`×`screenH` scaled to fit exactly. Averages a small box to shrug off compression noise at the centre.
 */
export function rgbaSampler(data, imgW, imgH, screenW, screenH) {
  const sx = imgW / screenW;
  const sy = imgH / screenH;
  return (x, y) => {
    const cx = Math.min(imgW - 1, Math.max(0, Math.floor(x * sx)));
    const cy = Math.min(imgH - 1, Math.max(0, Math.floor(y * sy)));
    let sum = 0;
    let n = 0;
    for (let dy = -1; dy <= 1; dy++) {
      const py = cy + dy;
      if (py < 0 || py >= imgH) continue;
      for (let dx = -1; dx <= 1; dx++) {
        const px = cx + dx;
        if (px < 0 || px >= imgW) continue;
        const o = (py * imgW + px) * 4;
        // BT.601 luma; the barcode is pure black/white so the weights hardly matter.
        sum += 0.299 * data[o] + 0.587 * data[o + 1] + 0.114 * data[o + 2];
        n++;
      }
    }
    return sum / n;
  };
}
