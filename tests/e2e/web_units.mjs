// Unit tests of the viewer's pure modules (web/js/*.js), run by Node without a browser or a gateway.
//
// The page's modules are plain ES modules with `.js` names; Node needs a package.json with "type": "module" to
// load them as such, so they are copied into a scratch directory that has one. Prints one JSON line:
// {"passed": N, "failed": [{"name", "error"}]}; exits 1 when anything failed.
//
// Run: node tests/e2e/web_units.mjs   (or: cargo test -p sightline --test browser_units)

import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'sightline-web-units-'));
cpSync(join(here, '../../web/js'), scratch, { recursive: true });
writeFileSync(join(scratch, 'package.json'), '{"type":"module"}');
const load = (name) => import(pathToFileURL(join(scratch, name)).href);

const barcode = await load('barcode.js');
const geometry = await load('geometry.js');
const gestures = await load('gestures.js');
const backoff = await load('backoff.js');
const stats = await load('stats.js');
const options = await load('options.js');
const fmt = await load('format.js');
const netplot = await load('netplot.js');
const zoom = await load('zoom.js');
const pinch = await load('pinch.js');
const trackpad = await load('trackpad.js');
const keys = await load('keys.js');
const cursor = await load('cursor.js');
const clip = await load('clipboard.js');
const touch = await load('touch.js');

/** A scripted stand-in for the browser's WebSocket, installed before signaling.js is loaded. */
class FakeSocket {
  static OPEN = 1;
  static instances = [];
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    FakeSocket.instances.push(this);
  }
  send(text) {
    this.sent.push(JSON.parse(text));
  }
  close() {
    this.readyState = 3;
  }
  // Test side:
  serverOpen() {
    this.readyState = 1;
    this.onopen();
  }
  serverSend(msg) {
    this.onmessage({ data: typeof msg === 'string' ? msg : JSON.stringify(msg) });
  }
  serverClose(code, reason = '') {
    this.readyState = 3;
    this.onclose({ code, reason });
  }
}
globalThis.WebSocket = FakeSocket;
const signaling = await load('signaling.js');

const tests = [];
const test = (name, fn) => tests.push({ name, fn });

// --- barcode ---------------------------------------------------------------------------------------------------

/** An independent encoder of docs/PROTOCOL.md's barcodes (BigInt, no code shared with the decoder). */
function drawScreen(width, height, { t, echoA, echoB }) {
  const px = new Uint8ClampedArray(width * height * 4).fill(128); // mid grey: unreadable outside the rows
  const h = Math.max(8, Math.floor(width / 64));
  const row = (y0, word) => {
    for (let i = 0; i < 64; i++) {
      const bit = (word >> BigInt(63 - i)) & 1n;
      const x0 = Math.floor((i * width) / 64);
      const x1 = Math.floor(((i + 1) * width) / 64);
      for (let y = y0; y < y0 + h; y++) {
        for (let x = x0; x < x1; x++) {
          const o = (y * width + x) * 4;
          px[o] = px[o + 1] = px[o + 2] = bit ? 255 : 0;
          px[o + 3] = 255;
        }
      }
    }
  };
  const T = BigInt(t) & 0xffffffffffffn;
  const check = (T & 0xffffn) ^ ((T >> 16n) & 0xffffn) ^ ((T >> 32n) & 0xffffn) ^ 0xa5a5n;
  row(0, (T << 16n) | check);
  const u16 = (v) => BigInt(v & 0xffff);
  row(height - 2 * h, (u16(echoA.x) << 48n) | (u16(echoA.y) << 32n) | (u16(echoA.presses) << 16n) | u16(echoA.wheel));
  row(height - h, (u16(echoB.chars) << 48n) | (BigInt(echoB.hash >>> 0) << 16n) | u16(echoB.keys));
  return px;
}

/** Nearest-neighbour downscale, as a crude stand-in for a scaled JPEG. */
function scale(px, w, h, nw, nh) {
  const out = new Uint8ClampedArray(nw * nh * 4);
  for (let y = 0; y < nh; y++) {
    for (let x = 0; x < nw; x++) {
      const sx = Math.floor((x * w) / nw);
      const sy = Math.floor((y * h) / nh);
      out.set(px.subarray((sy * w + sx) * 4, (sy * w + sx) * 4 + 4), (y * nw + x) * 4);
    }
  }
  return out;
}

const sample = { t: 1763750000123, echoA: { x: 400, y: 301, presses: 3, wheel: -5 }, echoB: { chars: 5, hash: 0x4f9f2cab, keys: 7 } };

test('barcode: reads time and echo rows at full size', () => {
  for (const [w, h] of [[1280, 720], [1920, 1080], [640, 360], [333, 200]]) {
    const px = drawScreen(w, h, sample);
    const r = barcode.readScreen(barcode.rgbaSampler(px, w, h, w, h), w, h);
    assert.equal(r.time, sample.t, `${w}x${h}`);
    assert.deepEqual(r.echoA, { pointerX: 400, pointerY: 301, presses: 3, wheelDy: -5 }, `${w}x${h}`);
    assert.deepEqual(r.echoB, { chars: 5, hash: 0x4f9f2cab, keyPresses: 7 }, `${w}x${h}`);
  }
});

test('barcode: reads a downscaled picture through the screen-to-image mapping', () => {
  const px = drawScreen(1280, 720, sample);
  const small = scale(px, 1280, 720, 960, 540);
  const r = barcode.readScreen(barcode.rgbaSampler(small, 960, 540, 1280, 720), 1280, 720);
  assert.equal(r.time, sample.t);
  assert.equal(r.echoA.pointerX, 400);
  assert.equal(r.echoB.hash, 0x4f9f2cab);
});

test('barcode: a one-pixel strip of the top row is enough (the latency probe reads that)', () => {
  const px = drawScreen(1920, 1080, sample);
  const y = Math.floor(barcode.rowHeight(1920) / 2);
  const strip = px.slice(y * 1920 * 4, (y + 1) * 1920 * 4);
  const bits = barcode.readBits(barcode.rgbaSampler(strip, 1920, 1, 1920, 1), 1920, 0);
  assert.equal(barcode.decodeTime(bits), sample.t);
});

test('barcode: a wrong check or a grey cell is refused', () => {
  const px = drawScreen(1280, 720, sample);
  const s = barcode.rgbaSampler(px, 1280, 720, 1280, 720);
  const bits = barcode.readBits(s, 1280, barcode.rowCentres(1280, 720).top);
  bits[63] ^= 1;
  assert.equal(barcode.decodeTime(bits), null);
  const grey = new Uint8ClampedArray(1280 * 720 * 4).fill(128);
  assert.equal(barcode.readBits(barcode.rgbaSampler(grey, 1280, 720, 1280, 720), 1280, 10), null);
  assert.equal(barcode.decodeTime(null), null);
});

test('barcode: FNV-1a 32 matches reference vectors and hashes UTF-8', () => {
  assert.equal(barcode.fnv1a32(''), 0x811c9dc5);
  assert.equal(barcode.fnv1a32('a'), 0xe40c292c);
  assert.equal(barcode.fnv1a32('foobar'), 0xbf9cf968);
  // UTF-8 bytes, not UTF-16 code units: "é" is C3 A9.
  let h = 0x811c9dc5;
  for (const b of [0xc3, 0xa9]) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  assert.equal(barcode.fnv1a32('é'), h);
});

test('barcode: geometry follows the spec', () => {
  assert.equal(barcode.rowHeight(1280), 20);
  assert.equal(barcode.rowHeight(300), 8);
  assert.equal(barcode.cellCentre(0, 1280), 10);
  assert.equal(barcode.cellCentre(63, 1920), (1890 + 1920) / 2);
  assert.deepEqual(barcode.rowCentres(1280, 720), { top: 10, echoA: 690, echoB: 710 });
});

// --- geometry --------------------------------------------------------------------------------------------------

test('geometry: letterbox and pillarbox content rectangles', () => {
  // 16:9 in a tall box: bars above and below.
  assert.deepEqual(geometry.contentRect({ left: 0, top: 50, width: 390, height: 700 }, 1280, 720), {
    left: 0, top: 50 + (700 - 219.375) / 2, width: 390, height: 219.375,
  });
  // 16:9 in a wide box: bars left and right.
  const r = geometry.contentRect({ left: 10, top: 0, width: 1000, height: 300 }, 1920, 1080);
  assert.equal(r.height, 300);
  assert.ok(Math.abs(r.width - 533.333) < 0.01);
  assert.ok(Math.abs(r.left - (10 + (1000 - r.width) / 2)) < 1e-9);
  assert.equal(geometry.contentRect({ left: 0, top: 0, width: 100, height: 100 }, 0, 0), null);
});

test('geometry: object-position moves the picture inside the free space', () => {
  const top = geometry.contentRect({ left: 0, top: 52, width: 390, height: 792 }, 1280, 720, { x: 0.5, y: 0 });
  assert.equal(top.top, 52);
  assert.equal(top.left, 0);
  assert.deepEqual(geometry.parseObjectPosition('50% 0%'), { x: 0.5, y: 0 });
  assert.deepEqual(geometry.parseObjectPosition('12.5% 100%'), { x: 0.125, y: 1 });
  assert.deepEqual(geometry.parseObjectPosition('left 10px top'), { x: 0.5, y: 0.5 });
  assert.deepEqual(geometry.parseObjectPosition(undefined), { x: 0.5, y: 0.5 });
});

test('geometry: normalise maps, clamps and tells inside from letterbox', () => {
  const rect = { left: 100, top: 50, width: 200, height: 100 };
  assert.deepEqual(geometry.normalise(200, 100, rect), { x: 0.5, y: 0.5, inside: true });
  assert.deepEqual(geometry.normalise(50, 100, rect), { x: 0, y: 0.5, inside: false });
  assert.deepEqual(geometry.normalise(400, 200, rect), { x: 1, y: 1, inside: false });
  // A click on a pixel's centre maps back to that pixel: floor(x * W).
  const W = 1280;
  const x = geometry.pixelToNormalised(400, W);
  assert.equal(Math.floor(x * W), 400);
});

// --- backoff ---------------------------------------------------------------------------------------------------

test('backoff: doubles with equal jitter up to the cap, and resets', () => {
  const low = new backoff.Backoff({ base: 500, max: 4000, random: () => 0 });
  assert.deepEqual([1, 2, 3, 4, 5].map(() => low.next()), [250, 500, 1000, 2000, 2000]);
  const high = new backoff.Backoff({ base: 500, max: 4000, random: () => 0.999999 });
  assert.deepEqual([1, 2, 3, 4, 5].map(() => high.next()), [500, 1000, 2000, 4000, 4000]);
  high.reset();
  assert.equal(high.next(), 500);
  const many = new backoff.Backoff({ random: () => 0.5 });
  for (let i = 0; i < 100; i++) assert.ok(many.next() <= backoff.BACKOFF_MAX_MS);
});

// --- wheel -----------------------------------------------------------------------------------------------------

test('wheel: pixels, lines and pages become steps; fractions accumulate', () => {
  const w = new gestures.WheelAccumulator();
  w.addDom(0, 100, 0);
  assert.deepEqual(w.take(), { dx: 0, dy: 1 });
  assert.equal(w.take(), null);
  w.addDom(0, 40, 0);
  assert.equal(w.take(), null);
  w.addDom(0, 40, 0);
  assert.equal(w.take(), null);
  w.addDom(0, 40, 0);
  assert.deepEqual(w.take(), { dx: 0, dy: 1 });
  assert.ok(Math.abs(w.y - 0.2) < 1e-9);
  w.addDom(0, 3, 1);
  assert.deepEqual(w.take(), { dx: 0, dy: 3 });
  w.addDom(-1, 0, 2);
  assert.deepEqual(w.take(), { dx: -10, dy: 0 });
});

test('wheel: a reversal drops the opposite remainder; a message carries at most 100 steps', () => {
  const w = new gestures.WheelAccumulator();
  w.addDom(0, 90, 0);
  w.addDom(0, -100, 0);
  assert.deepEqual(w.take(), { dx: 0, dy: -1 });
  w.addSteps(0, 250);
  assert.deepEqual(w.take(), { dx: 0, dy: 100 });
  assert.deepEqual(w.take(), { dx: 0, dy: 100 });
  assert.deepEqual(w.take(), { dx: 0, dy: 50 });
  w.addSteps(NaN, 1);
  assert.equal(w.take(), null);
});

// --- touch gestures --------------------------------------------------------------------------------------------

const T = (x, y, id = 0) => ({ id, x, y });

test('touch: a short tap is a click at the first contact', () => {
  const g = new gestures.TouchGestures();
  assert.deepEqual(g.start([T(100, 200)], 0), []);
  assert.equal(g.deadline(), gestures.LONG_PRESS_MS);
  assert.deepEqual(g.move([T(104, 203)]), []); // within the slop
  assert.deepEqual(g.end([], 120), [{ kind: 'click', x: 100, y: 200 }]);
  assert.equal(g.state, 'idle');
});

test('touch: holding still for 500 ms is a right click, and lifting afterwards does nothing', () => {
  const g = new gestures.TouchGestures();
  g.start([T(50, 60)], 1000);
  assert.deepEqual(g.tick(1499), []);
  assert.deepEqual(g.tick(1500), [{ kind: 'rightclick', x: 50, y: 60 }]);
  assert.deepEqual(g.move([T(90, 60)]), []);
  assert.deepEqual(g.end([], 1700), []);
  assert.equal(g.state, 'idle');
  // Without a tick (a late timer), the lift still tells a long press from a tap.
  g.start([T(1, 2)], 0);
  assert.deepEqual(g.end([], 800), [{ kind: 'rightclick', x: 1, y: 2 }]);
});

test('touch: a moving finger drags with the button held', () => {
  const g = new gestures.TouchGestures();
  g.start([T(10, 10)], 0);
  assert.deepEqual(g.move([T(30, 10)]), [
    { kind: 'down', x: 10, y: 10 },
    { kind: 'move', x: 30, y: 10 },
  ]);
  assert.deepEqual(g.move([T(40, 15)]), [{ kind: 'move', x: 40, y: 15 }]);
  assert.deepEqual(g.tick(10000), []);
  assert.deepEqual(g.end([], 900), [{ kind: 'up', x: 40, y: 15 }]);
});

test('touch: two fingers scroll from their centroid; up-swipe scrolls down', () => {
  const g = new gestures.TouchGestures();
  g.start([T(100, 300, 0)], 0);
  assert.deepEqual(g.start([T(100, 300, 0), T(200, 300, 1)], 30), [{ kind: 'move', x: 150, y: 300 }]);
  assert.deepEqual(g.move([T(100, 250, 0), T(200, 250, 1)]), [{ kind: 'scroll', dx: 0, dy: 50 }]);
  assert.deepEqual(g.end([T(200, 250, 1)], 400), []);
  assert.equal(g.state, 'done');
  assert.deepEqual(g.move([T(260, 250, 1)]), []); // the remaining finger does not start a drag
  assert.deepEqual(g.end([], 500), []);
  assert.equal(g.state, 'idle');
});

test('touch: a second finger during a drag releases the button first; cancel releases too', () => {
  const g = new gestures.TouchGestures();
  g.start([T(0, 0)], 0);
  g.move([T(50, 0)]);
  assert.deepEqual(g.start([T(50, 0, 0), T(50, 100, 1)], 100), [
    { kind: 'up', x: 50, y: 0 },
    { kind: 'move', x: 50, y: 50 },
  ]);
  const h = new gestures.TouchGestures();
  h.start([T(0, 0)], 0);
  h.move([T(50, 0)]);
  assert.deepEqual(h.cancel(), [{ kind: 'up', x: 50, y: 0 }]);
  assert.deepEqual(h.cancel(), []);
});

// --- stats -----------------------------------------------------------------------------------------------------

test('stats: percentile (nearest rank), median and ring', () => {
  assert.ok(Number.isNaN(stats.median([])));
  assert.equal(stats.median([5, 1, 3]), 3);
  const v = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(stats.percentile(v, 95), 95);
  assert.equal(stats.percentile(v, 100), 100);
  const r = new stats.Ring(3);
  [1, 2, 3, 4, 5].forEach((x) => r.push(x));
  assert.deepEqual(r.values(), [3, 4, 5]);
  assert.equal(r.length, 3);
  r.clear();
  assert.deepEqual(r.values(), []);
});

test('stats: getStats reduction finds codec and selected pair; rates come from deltas', () => {
  const report = (at, frames, bytes, decode, jbDelay, jbCount) => [
    { id: 'T1', type: 'transport', selectedCandidatePairId: 'CP1' },
    { id: 'CP1', type: 'candidate-pair', currentRoundTripTime: 0.002, nominated: true, state: 'succeeded' },
    { id: 'CP2', type: 'candidate-pair', currentRoundTripTime: 0.5 },
    { id: 'C1', type: 'codec', mimeType: 'video/H264', sdpFmtpLine: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f' },
    {
      id: 'IV', type: 'inbound-rtp', kind: 'video', codecId: 'C1', timestamp: at, framesDecoded: frames, bytesReceived: bytes,
      totalDecodeTime: decode, jitterBufferDelay: jbDelay, jitterBufferEmittedCount: jbCount, frameWidth: 1280, frameHeight: 720,
    },
  ];
  assert.equal(stats.rawRtcStats([{ id: 'x', type: 'codec' }]), null);
  const a = stats.rawRtcStats(report(1000, 30, 100000, 0.1, 0.3, 30));
  const b = stats.rawRtcStats(report(2000, 60, 350000, 0.16, 0.45, 60));
  assert.equal(b.codec, 'video/H264');
  assert.equal(b.rttMs, 2);
  const r = stats.rtcRates(a, b);
  assert.equal(r.fps, 30);
  assert.equal(r.bitrateKbps, 2000);
  assert.ok(Math.abs(r.decodeMs - 2) < 1e-9);
  assert.ok(Math.abs(r.jitterBufferMs - 5) < 1e-9);
  const first = stats.rtcRates(null, a);
  assert.equal(first.bitrateKbps, undefined);
  assert.ok(Math.abs(first.decodeMs - 0.1 * 1000 / 30) < 1e-9);
});

// --- options ---------------------------------------------------------------------------------------------------

test('options: fragment parsing and token removal', () => {
  const o = options.parseFragment('#token=abc%2Fdef&screen=1&transport=JPEG&stats=1&e2e=true');
  assert.deepEqual(o, { token: 'abc/def', screen: '1', transport: 'jpeg', stats: true, debug: false, e2e: true });
  assert.deepEqual(options.parseFragment(''), { token: null, screen: null, transport: null, stats: false, debug: false, e2e: false });
  assert.equal(options.parseFragment('#transport=carrier-pigeon').transport, null);
  assert.equal(options.fragmentWithoutToken('#token=abc&screen=1'), '#screen=1');
  assert.equal(options.fragmentWithoutToken('#token=abc'), '');
});

// --- format ----------------------------------------------------------------------------------------------------

test('format: durations, sizes, rates and missing values', () => {
  assert.equal(fmt.duration(850), '850 ms');
  assert.equal(fmt.duration(4200), '4.2 s');
  assert.equal(fmt.duration(200000), '3 min 20 s');
  assert.equal(fmt.duration(2 * 3600e3 + 5 * 60e3), '2 h 5 min');
  assert.equal(fmt.duration(3 * 86400e3 + 4 * 3600e3), '3 d 4 h');
  assert.equal(fmt.bytes(512), '512 B');
  assert.equal(fmt.bytes(1536), '1.50 KiB');
  assert.equal(fmt.bytes(23.4 * 1024 * 1024), '23.4 MiB');
  assert.equal(fmt.bitrate(850), '850 kbit/s');
  assert.equal(fmt.bitrate(2400), '2.40 Mbit/s');
  assert.equal(fmt.ms(2.44), '2.4 ms');
  assert.equal(fmt.ms(37.4), '37 ms');
  assert.equal(fmt.count(1234567), '1,234,567');
  assert.equal(fmt.ago(1000, 4200), '3.2 s ago');
  for (const f of [fmt.duration, fmt.bytes, fmt.bitrate, fmt.ms, fmt.count, fmt.rate, fmt.percent, fmt.clock]) {
    assert.equal(f(undefined), fmt.DASH);
    assert.equal(f(null), fmt.DASH);
    assert.equal(f(NaN), fmt.DASH);
  }
});

// --- network (issue 10) -----------------------------------------------------------------------------------------

test('stats: the network message becomes overlay rows; none when absent or stale', () => {
  const msg = {
    type: 'network', estimate_kbps: 1234.5, target_kbps: 1100, bitrate_kbps: 1050.2, tier: 1, tier_name: 't1 640w 1200k',
    tiers: 4, loss: 0.02, rtt_ms: 45.1, nacks: 12, plis: 1, switches: 2, congestion_control: true,
  };
  const rows = Object.fromEntries(stats.networkRows(msg, 800));
  assert.equal(rows.Estimate, '1.23 Mbit/s');
  assert.equal(rows.Target, '1.10 Mbit/s');
  assert.equal(rows.Tier, 't1 640w 1200k · 2 of 4 · 2 switches');
  assert.equal(rows.Loss, '2.0 %');
  assert.equal(rows['RTT (gateway)'], '45 ms');
  assert.equal(rows['NACK / PLI'], '12 / 1');
  assert.deepEqual(stats.networkRows(null, 0), [], 'JPEG or an older gateway: no message');
  assert.deepEqual(stats.networkRows(msg, stats.NETWORK_STALE_MS + 1), [], 'stale');
  assert.deepEqual(stats.networkRows(msg, Infinity), []);
  const off = Object.fromEntries(
    stats.networkRows({ type: 'network', estimate_kbps: null, target_kbps: null, loss: null, rtt_ms: null, tier: 0, tiers: 1, switches: 1, congestion_control: false }, 0),
  );
  assert.equal(off.Estimate, 'off');
  assert.equal(off.Target, fmt.DASH);
  assert.equal(off.Loss, fmt.DASH);
  assert.equal(off.Tier, '1 of 1 · 1 switch');
});

test('netplot: a struggling viewer is bad for loss, RTT or a path too thin; a lower tier only warns', () => {
  const good = { bitrate_kbps: 900, estimate_kbps: 2500, target_kbps: 1000, tier: 0, loss_fraction: 0, rtt_ms: 20 };
  assert.deepEqual(netplot.viewerHealth(good), { level: 'ok', reasons: [] });
  assert.equal(netplot.viewerHealth({ ...good, loss_fraction: 0.07 }).level, 'bad');
  assert.equal(netplot.viewerHealth({ ...good, loss_fraction: 0.07 }).reasons[0], 'loss 7 %');
  assert.equal(netplot.viewerHealth({ ...good, loss_fraction: 0.03 }).level, 'warn');
  assert.equal(netplot.viewerHealth({ ...good, rtt_ms: 450 }).level, 'bad');
  assert.equal(netplot.viewerHealth({ ...good, rtt_ms: 250 }).level, 'warn');
  const thin = netplot.viewerHealth({ ...good, estimate_kbps: 600, bitrate_kbps: 1500 });
  assert.equal(thin.level, 'bad');
  assert.match(thin.reasons[0], /1\.50 Mbit\/s.*600 kbit\/s/);
  assert.equal(netplot.viewerHealth({ ...good, estimate_kbps: 600, bitrate_kbps: 700, target_kbps: 700 }).level, 'ok', 'within the margin');
  const low = netplot.viewerHealth({ ...good, tier: 2, tier_name: 't2 320w 450k' });
  assert.deepEqual(low, { level: 'warn', reasons: ['below top tier (t2 320w 450k)'] });
  // No congestion control, no receiver report yet: nothing to hold against it.
  assert.equal(netplot.viewerHealth({ bitrate_kbps: 4000, estimate_kbps: null, loss_fraction: null, rtt_ms: null, tier: null }).level, 'ok');
  assert.equal(netplot.viewerHealth(undefined).level, 'ok');
  // The viewer page's message names loss `loss`.
  assert.equal(netplot.viewerHealth({ loss: 0.06 }).level, 'bad');
});

test('netplot: axis tops are 1, 2 or 5 × 10^n', () => {
  assert.equal(netplot.niceMax(0, 100), 100);
  assert.equal(netplot.niceMax(101, 100), 200);
  assert.equal(netplot.niceMax(1234, 100), 2000);
  assert.equal(netplot.niceMax(4999, 100), 5000);
  assert.equal(netplot.niceMax(5001, 100), 10000);
  assert.equal(netplot.niceMax(0.07, 0.1), 0.1);
  assert.equal(netplot.niceMax(0.12, 0.1), 0.2);
});

test('netplot: the chart model maps time and values, breaks lines at gaps and marks tier switches', () => {
  const now = 1_000_000;
  const at = (s) => now - s * 1000;
  const sample = (secsAgo, o) => ({ at_ms: at(secsAgo), bitrate_kbps: 500, estimate_kbps: 1000, target_kbps: 800, rtt_ms: 50, loss_fraction: 0, fps: 30, tier: 0, tier_switches: 0, ...o });
  const series = [
    sample(400, {}), // older than the window: ignored
    sample(300, {}),
    sample(299, { estimate_kbps: null }),
    sample(298, {}),
    sample(200, { tier: 1, tier_switches: 1, loss_fraction: 0.2 }), // 98 s gap
    sample(199, { tier: 1, tier_switches: 1 }),
    sample(0, { tier: 0, tier_switches: 2 }),
  ];
  const m = netplot.chartModel(series, { nowMs: now, windowMs: 300_000, width: 300, height: 100 });
  assert.equal(m.empty, false);
  const [rate, rtt, loss] = m.bands;
  assert.deepEqual([rate.name, rtt.name, loss.name], ['rate', 'rtt', 'loss']);
  assert.equal(rate.top, 0);
  assert.equal(rate.bottom, 50);
  assert.ok(rtt.top > rate.bottom && loss.top > rtt.bottom && loss.bottom <= 100 + 1e-9);
  assert.equal(rate.max, 1000);
  const line = (band, name) => band.lines.find((l) => l.name === name).d;
  // Estimate 1000 of max 1000 → y = 0; a null and a gap each start a new segment.
  assert.equal(line(rate, 'estimate_kbps'), 'M0 0 M2 0 M100 0 L101 0 M300 0');
  assert.equal(line(rate, 'bitrate_kbps').split('M').length - 1, 3, 'three segments: two gaps');
  assert.ok(line(rate, 'bitrate_kbps').startsWith('M0 25 L1 25 L2 25'), line(rate, 'bitrate_kbps'));
  // Loss 20 % exceeds the 5 % alarm: the band grows to 20 % and the alarm line sits at a quarter height.
  assert.equal(loss.max, 0.2);
  assert.ok(Math.abs(loss.threshold - (loss.bottom - 0.25 * (loss.bottom - loss.top))) < 1e-9);
  assert.equal(rtt.threshold, null);
  assert.deepEqual(m.switches, [{ x: 100, down: true }, { x: 300, down: false }]);
  // A detail fetched after the summary: the newest sample, not "now", is the right edge.
  const late = netplot.chartModel([sample(-5, {})], { nowMs: now, windowMs: 300_000, width: 300, height: 100 });
  assert.equal(line(late.bands[0], 'estimate_kbps'), 'M300 0');
  assert.equal(netplot.chartModel([], { nowMs: now }).empty, true);
  // Without a window: the series' own span in whole minutes, 1 to 5.
  assert.equal(netplot.plotWindow([sample(0, {})]), 60_000);
  assert.equal(netplot.plotWindow([sample(90, {}), sample(0, {})]), 120_000);
  assert.equal(netplot.plotWindow(series), 300_000);
  assert.equal(netplot.chartModel([sample(1, {}), sample(0, {})], { nowMs: now, width: 600 }).bands[0].lines[1].d, 'M590 0 L600 0');
  assert.equal(netplot.chartModel(undefined, { nowMs: now }).bands[0].lines[0].d, '');
});

// --- signaling -------------------------------------------------------------------------------------------------

function newSignaling(random = () => 0) {
  FakeSocket.instances = [];
  const sig = new signaling.Signaling({ url: 'ws://gw/ws', token: 'tok', backoff: new backoff.Backoff({ random }) });
  const events = [];
  for (const type of ['connecting', 'welcome', 'message', 'binary', 'closed']) {
    sig.addEventListener(type, (e) => events.push({ type, detail: e.detail }));
  }
  return { sig, events };
}

test('signaling: authenticates on open, reports welcome and messages, ignores junk', () => {
  const { sig, events } = newSignaling();
  sig.start();
  const ws = FakeSocket.instances[0];
  ws.serverOpen();
  assert.deepEqual(ws.sent, [{ type: 'auth', token: 'tok' }]);
  ws.serverSend({ type: 'welcome', session: 's1', role: 'control', screens: [] });
  ws.serverSend('not json');
  ws.serverSend({ notype: true });
  ws.serverSend({ type: 'offer', sdp: 'x' });
  ws.onmessage({ data: new ArrayBuffer(3) });
  assert.deepEqual(events.map((e) => e.type), ['connecting', 'welcome', 'message', 'binary']);
  assert.equal(events[2].detail.type, 'offer');
  sig.stop();
});

test('signaling: a barrier resolves after the pong of its own ping, in order, and fails on close', async () => {
  const { sig } = newSignaling();
  sig.start();
  const ws = FakeSocket.instances[0];
  ws.serverOpen();
  ws.serverSend({ type: 'welcome', session: 's1', role: 'control', screens: [] });
  let done = null;
  const b = sig.barrier().then((v) => (done = v));
  const ping = ws.sent[ws.sent.length - 1];
  assert.equal(ping.type, 'ping');
  ws.serverSend({ type: 'pong', id: 'someone-else' });
  await Promise.resolve();
  assert.equal(done, null);
  ws.serverSend({ type: 'pong', id: ping.id });
  await b;
  assert.equal(done, true);
  const pending = sig.barrier();
  ws.serverClose(1006);
  assert.equal(await pending, false);
  sig.stop();
});

test('signaling: closes retry with backoff; 4401 and 4403 are final', async () => {
  const { sig, events } = newSignaling(() => 0);
  sig.start();
  FakeSocket.instances[0].serverClose(1006);
  const closed = events.filter((e) => e.type === 'closed');
  assert.equal(closed.length, 1);
  assert.equal(closed[0].detail.fatal, null);
  assert.equal(closed[0].detail.retryInMs, 250);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(FakeSocket.instances.length, 2, 'reconnected after the backoff delay');
  FakeSocket.instances[1].serverClose(1006);
  assert.equal(events.filter((e) => e.type === 'closed')[1].detail.retryInMs, 500, 'the delay grows');
  sig.retryNow();
  assert.equal(FakeSocket.instances.length, 3, 'retryNow skips the wait');
  FakeSocket.instances[2].serverClose(4401, 'invalid token');
  const last = events.filter((e) => e.type === 'closed').pop();
  assert.equal(last.detail.fatal, 'unauthorized');
  assert.equal(last.detail.retryInMs, null);
  await new Promise((r) => setTimeout(r, 600));
  assert.equal(FakeSocket.instances.length, 3, 'no retry after 4401');

  const k = newSignaling();
  k.sig.start();
  FakeSocket.instances[0].serverClose(4403);
  assert.equal(k.events.find((e) => e.type === 'closed').detail.fatal, 'kicked');
  k.sig.stop();
  sig.stop();
});

/** A scripted stand-in for RTCPeerConnection: records what the watch does with it. */
class FakePeerConnection {
  static made = [];
  constructor(config) {
    this.config = config;
    this.closed = false;
    this.remoteDescription = null;
    this.localDescription = null;
    this.connectionState = 'new';
    this.iceConnectionState = 'new';
    FakePeerConnection.made.push(this);
  }
  async setRemoteDescription(d) {
    this.remoteDescription = d;
  }
  async createAnswer() {
    return { type: 'answer', sdp: `answer to ${this.remoteDescription.sdp}` };
  }
  async setLocalDescription(d) {
    this.localDescription = d;
  }
  addIceCandidate() {
    return Promise.resolve();
  }
  close() {
    this.closed = true;
  }
}

test('webrtc: a second offer replaces the peer connection, says why, and is answered (an SFU was lost)', async () => {
  globalThis.RTCPeerConnection = FakePeerConnection;
  try {
    const { WebRtcWatch } = await load('webrtc.js');
    const sent = [];
    const w = new WebRtcWatch({ send: (m) => sent.push(m), screen: '0', iceServers: [], timeoutMs: 1000 });
    const moves = [];
    w.addEventListener('moved', (e) => moves.push(e.detail));
    const settle = () => new Promise((r) => setTimeout(r, 10));
    assert.ok(w.handle({ type: 'offer', sdp: 'janus offer', path: 'sfu', sfu: 'janus-1' }));
    await settle();
    assert.deepEqual(w.path, { path: 'sfu', sfu: 'janus-1' });
    assert.equal(moves.length, 0, 'the first offer is no move');
    w.handle({ type: 'offer', sdp: 'gateway offer', path: 'local', reason: 'SFU janus-1 stopped answering' });
    await settle();
    const [first, second] = FakePeerConnection.made;
    assert.equal(FakePeerConnection.made.length, 2);
    assert.ok(first.closed && !second.closed, 'the old connection is closed, the new one kept');
    assert.equal(first.onconnectionstatechange, null, 'the old connection reports nothing any more');
    assert.deepEqual(moves, [{ path: 'local', sfu: null, reason: 'SFU janus-1 stopped answering' }]);
    assert.deepEqual(
      sent.filter((m) => m.type === 'answer').map((m) => m.sdp),
      ['answer to janus offer', 'answer to gateway offer'],
    );
    w.close();
    assert.ok(second.closed);
  } finally {
    delete globalThis.RTCPeerConnection;
  }
});


// --- zoom, pinch, trackpad, touch router -----------------------------------------------------------------------

/** The screen pixel a stage-local point hits through view `v` (what input.js sends, times the screen size). */
function hitPixel(base, v, x, y, W, H) {
  const n = geometry.normalise(x, y, zoom.zoomedRect(base, v));
  return { x: n.x * W - 0.5, y: n.y * H - 0.5, inside: n.inside };
}

test('zoom: a touch on screen pixel p hits p (within half a pixel) at every zoom and pan', () => {
  const W = 1920;
  const H = 1080;
  const stage = { width: 390, height: 700 };
  const base = geometry.contentRect({ left: 0, top: 0, ...stage }, W, H, { x: 0.5, y: 0 });
  let worst = 0;
  for (const scale of [1, 1.37, 2.5, 3, 4, 5]) {
    for (const [cx, cy] of [[0, 0], [195, 100], [390, 219], [77, 13]]) {
      const v = zoom.clampView(zoom.zoomAt(zoom.IDENTITY, scale, cx, cy), base, stage);
      const r = zoom.zoomedRect(base, v);
      for (const [px, py] of [[0, 0], [W - 1, H - 1], [960, 540], [1234, 77], [5, 1079]]) {
        // Where the picture shows pixel (px, py) — its centre — on the stage, then back through the view.
        const x = r.left + ((px + 0.5) * r.width) / W;
        const y = r.top + ((py + 0.5) * r.height) / H;
        const hit = hitPixel(base, v, x, y, W, H);
        worst = Math.max(worst, Math.abs(hit.x - px), Math.abs(hit.y - py));
        // And any point inside that pixel's square on screen still hits it.
        const k = r.width / W;
        const corner = hitPixel(base, v, x + 0.49 * k, y - 0.49 * k, W, H);
        assert.ok(Math.abs(corner.x - px) <= 0.5 && Math.abs(corner.y - py) <= 0.5, `corner of ${px},${py} at ${scale}×`);
      }
    }
  }
  assert.ok(worst < 1e-6, `round trip error ${worst} px`);
});

test('zoom: pinch keeps the point under the fingers, clamps to 1–5× and never shows a margin when zoomed in', () => {
  const stage = { width: 400, height: 800 };
  const base = { left: 0, top: 0, width: 400, height: 225 };
  const v = zoom.zoomAt(zoom.IDENTITY, 3, 100, 100);
  const before = zoom.invertView(zoom.IDENTITY, 100, 100);
  const after = zoom.invertView(v, 100, 100);
  assert.deepEqual(after, before);
  const p = zoom.pinchView(zoom.IDENTITY, { x: 200, y: 100 }, 100, { x: 220, y: 100 }, 400);
  assert.equal(p.scale, 4);
  assert.equal(zoom.clampView({ scale: 9, tx: 0, ty: 0 }, base, stage).scale, zoom.MAX_ZOOM);
  assert.deepEqual(zoom.clampView({ scale: 0.5, tx: 30, ty: 30 }, base, stage), { scale: 1, tx: 0, ty: 0 });
  // 2× of a 400-wide picture on a 400-wide stage: x is clamped to [-400, 0]; y (450 < 800) keeps its top place.
  const c = zoom.clampView({ scale: 2, tx: 50, ty: -300 }, base, stage);
  assert.deepEqual(c, { scale: 2, tx: 0, ty: 0 });
  const c2 = zoom.clampView({ scale: 2, tx: -900, ty: 0 }, base, stage);
  assert.equal(c2.tx, -400);
  assert.ok(zoom.isZoomed(c) && !zoom.isZoomed(zoom.IDENTITY));
  assert.equal(zoom.cssTransform(zoom.IDENTITY), 'none');
  assert.equal(zoom.cssTransform({ scale: 2, tx: -4, ty: 0 }), 'translate(-4px, 0px) scale(2)');
});

test('zoom: double tap zooms 2.5× at the point and back; the view follows a pointer near the edge', () => {
  const v = zoom.doubleTapView(zoom.IDENTITY, 120, 80);
  assert.equal(v.scale, zoom.DOUBLE_TAP_ZOOM);
  assert.deepEqual(zoom.applyView(v, 120, 80), { x: 120, y: 80 });
  assert.deepEqual(zoom.doubleTapView(v, 10, 10), zoom.IDENTITY);
  const stage = { width: 400, height: 300 };
  const f = zoom.followPoint({ scale: 2, tx: 0, ty: 0 }, 395, 150, stage, 40);
  assert.deepEqual(f, { scale: 2, tx: -35, ty: 0 });
  const same = { scale: 2, tx: 0, ty: 0 };
  assert.equal(zoom.followPoint(same, 200, 150, stage), same);
});

test('pinch: distance first is a pinch, centroid first is a drag, small jitter is neither; double tap', () => {
  const t = new pinch.TwoFingers();
  t.start([T(100, 100, 0), T(200, 100, 1)]);
  assert.equal(t.move([T(98, 101, 0), T(203, 99, 1)]), null);
  const g = t.move([T(80, 100, 0), T(230, 100, 1)]);
  assert.equal(g.kind, 'pinch');
  assert.equal(g.d1, 150);
  t.end([]);
  assert.equal(t.active, false);
  t.start([T(100, 100, 0), T(200, 100, 1)]);
  assert.equal(t.move([T(100, 120, 0), T(200, 120, 1)]).kind, 'drag');
  const d = new pinch.DoubleTap();
  assert.equal(d.tap(10, 10, 0), false);
  assert.equal(d.tap(15, 12, 250), true);
  assert.equal(d.tap(15, 12, 300), false, 'a third tap starts over');
  assert.equal(d.tap(80, 12, 400), false, 'too far');
  assert.equal(d.tap(80, 12, 800), false, 'too late');
});

test('trackpad: motion is relative, accelerated with speed and finer when zoomed', () => {
  assert.equal(trackpad.gain(0.1), 1);
  assert.ok(trackpad.gain(1) > 2 && trackpad.gain(100) === trackpad.MAX_GAIN);
  const p0 = { x: 0.5, y: 0.5 };
  const slow = trackpad.movePointer(p0, 10, 0, 100, 400, 225); // 0.1 px/ms: 1:1 with the picture
  assert.ok(Math.abs(slow.x - (0.5 + 10 / 400)) < 1e-12 && slow.y === 0.5);
  const zoomed = trackpad.movePointer(p0, 10, 0, 100, 1600, 900);
  assert.ok(Math.abs(zoomed.x - 0.5 - (slow.x - 0.5) / 4) < 1e-12, 'at 4× a quarter as far');
  const fast = trackpad.movePointer(p0, 10, 0, 5, 400, 225);
  assert.ok(fast.x - 0.5 > (slow.x - 0.5) * 2, 'fast swipes go further');
  assert.deepEqual(trackpad.movePointer({ x: 0.99, y: 0.01 }, 100, -100, 100, 400, 225), { x: 1, y: 0 });
});

test('trackpad: tap clicks after the double-tap window; tap then drag holds the button; two taps double-click', () => {
  const g = new trackpad.TrackpadGestures();
  assert.deepEqual(g.start([T(50, 50)], 0), []);
  assert.deepEqual(g.end([], 100), []);
  assert.equal(g.deadline(), 100 + trackpad.DRAG_WINDOW_MS);
  assert.deepEqual(g.tick(200), []);
  assert.deepEqual(g.tick(400), [{ kind: 'click' }]);

  g.start([T(50, 50)], 1000);
  g.end([], 1100);
  g.start([T(60, 60)], 1200);
  assert.deepEqual(g.move([T(62, 61)], 1210), [], 'within the slop');
  const m = g.move([T(80, 60)], 1230);
  assert.deepEqual(m, [{ kind: 'down' }, { kind: 'move', dx: 20, dy: 0, dt: 30 }]);
  assert.deepEqual(g.move([T(90, 70)], 1240), [{ kind: 'move', dx: 10, dy: 10, dt: 10 }]);
  assert.deepEqual(g.end([], 1300), [{ kind: 'up' }]);

  g.start([T(50, 50)], 2000);
  g.end([], 2080);
  g.start([T(52, 50)], 2150);
  assert.deepEqual(g.end([], 2220), [{ kind: 'click' }, { kind: 'click' }]);
  assert.equal(g.deadline(), null);
});

test('trackpad: one finger moves, two-finger tap right-clicks, two-finger drag scrolls', () => {
  const g = new trackpad.TrackpadGestures();
  g.start([T(10, 10)], 0);
  assert.deepEqual(g.move([T(30, 10)], 16), [{ kind: 'move', dx: 20, dy: 0, dt: 16 }]);
  assert.deepEqual(g.end([], 400), []);
  assert.equal(g.state, 'idle');

  g.start([T(10, 10, 0)], 1000);
  g.start([T(10, 10, 0), T(60, 10, 1)], 1020);
  assert.deepEqual(g.end([T(60, 10, 1)], 1120), [{ kind: 'rightclick' }]);
  assert.deepEqual(g.end([], 1130), []);

  g.start([T(10, 100, 0), T(60, 100, 1)], 2000);
  assert.deepEqual(g.move([T(10, 95, 0), T(60, 95, 1)], 2016), []);
  assert.deepEqual(g.move([T(10, 60, 0), T(60, 60, 1)], 2032), [{ kind: 'scroll', dx: 0, dy: 40 }]);
  assert.deepEqual(g.end([], 2100), [], 'no right click after a scroll');
});

test('touch router: pinch zooms in both modes; unzoomed two-finger drag scrolls; zoomed direct drag pans', () => {
  const r = new touch.TouchRouter();
  r.start([T(100, 100, 0), T(200, 100, 1)], 0, zoom.IDENTITY);
  const out = r.move([T(50, 100, 0), T(250, 100, 1)], 16);
  assert.equal(out.length, 1);
  assert.equal(out[0].kind, 'view');
  assert.equal(out[0].view.scale, 2);
  r.end([], 100, out[0].view);

  const s = new touch.TouchRouter();
  s.start([T(100, 100, 0), T(200, 100, 1)], 0, zoom.IDENTITY);
  const scroll = s.move([T(100, 50, 0), T(200, 50, 1)], 16);
  assert.deepEqual(scroll, [{ kind: 'scroll', dx: 0, dy: 50 }]);

  const z = new touch.TouchRouter();
  const v = { scale: 2, tx: -100, ty: -100 };
  z.start([T(100, 100, 0), T(200, 100, 1)], 0, v);
  const pan = z.move([T(100, 110, 0), T(200, 110, 1)], 16);
  assert.deepEqual(pan, [{ kind: 'view', view: { scale: 2, tx: -100, ty: -90 } }]);

  const p = new touch.TouchRouter({ mode: 'trackpad' });
  p.start([T(100, 100, 0), T(200, 100, 1)], 0, zoom.IDENTITY);
  assert.equal(p.move([T(60, 100, 0), T(240, 100, 1)], 16)[0].kind, 'view');
  assert.deepEqual(p.end([], 50, zoom.IDENTITY), [], 'a pinch is no right click');
});

test('touch router: in direct mode a double tap zooms (the first tap clicks); trackpad actions are at the pointer', () => {
  const r = new touch.TouchRouter();
  r.start([T(40, 50)], 0, zoom.IDENTITY);
  assert.deepEqual(r.end([], 60, zoom.IDENTITY), [{ kind: 'click', x: 40, y: 50 }]);
  r.start([T(42, 50)], 150, zoom.IDENTITY);
  const out = r.end([], 200, zoom.IDENTITY);
  assert.equal(out[0].kind, 'view');
  assert.equal(out[0].view.scale, zoom.DOUBLE_TAP_ZOOM);
  const p = new touch.TouchRouter({ mode: 'trackpad' });
  p.start([T(40, 50)], 0, zoom.IDENTITY);
  assert.deepEqual(p.move([T(70, 50)], 20), [{ kind: 'rel', dx: 30, dy: 0, dt: 20 }]);
  assert.deepEqual(p.end([], 30, zoom.IDENTITY), []);
  p.start([T(40, 50)], 100, zoom.IDENTITY);
  p.end([], 150, zoom.IDENTITY);
  assert.deepEqual(p.tick(1000), [{ kind: 'click', pointer: true }]);
  assert.deepEqual(p.setMode('direct'), []);
  assert.equal(p.mode, 'direct');
});

// --- keys: latch / lock, composition, paste keys ---------------------------------------------------------------

const K = (action, code) => ({ type: 'key', action, code });

test('keys: one tap latches for the next key, a quick double tap locks across keys, a tap unlocks', () => {
  const m = new keys.ModifierKeys();
  assert.deepEqual(m.tap('ShiftLeft', 0), []);
  assert.equal(m.stateOf('ShiftLeft'), 'latched');
  assert.deepEqual(m.press('KeyA'), [K('down', 'ShiftLeft'), K('press', 'KeyA'), K('up', 'ShiftLeft')]);
  assert.equal(m.stateOf('ShiftLeft'), 'off');
  assert.deepEqual(m.press('KeyB'), [K('press', 'KeyB')]);

  m.tap('ControlLeft', 1000);
  assert.deepEqual(m.tap('ControlLeft', 1200), [K('down', 'ControlLeft')]);
  assert.equal(m.stateOf('ControlLeft'), 'locked');
  assert.deepEqual(m.press('KeyC'), [K('press', 'KeyC')]);
  assert.deepEqual(m.press('KeyV'), [K('press', 'KeyV')]);
  assert.equal(m.stateOf('ControlLeft'), 'locked');
  m.tap('AltLeft', 1300);
  assert.deepEqual(m.press('Tab'), [K('down', 'AltLeft'), K('press', 'Tab'), K('up', 'AltLeft')]);
  assert.deepEqual(m.tap('ControlLeft', 2000), [K('up', 'ControlLeft')]);
  assert.equal(m.active, false);

  m.tap('MetaLeft', 3000);
  assert.deepEqual(m.tap('MetaLeft', 3000 + keys.LOCK_TAP_MS + 1), [], 'a slow second tap unlatches');
  assert.equal(m.stateOf('MetaLeft'), 'off');
  m.tap('ShiftLeft', 4000);
  m.tap('ShiftLeft', 4100);
  m.tap('AltLeft', 4200);
  assert.deepEqual(m.clear(), [K('up', 'ShiftLeft')]);
  assert.equal(m.active, false);
});

test('ime: nothing is sent while composing; the result goes once, also when Safari re-inserts it', () => {
  const s = new keys.ImeState();
  assert.deepEqual(s.beforeInput({ inputType: 'insertText', data: 'a' }), { cancel: true, send: { text: 'a' } });
  s.compositionStart();
  assert.equal(s.keyIsComposing({ keyCode: 229 }), true);
  assert.deepEqual(s.beforeInput({ inputType: 'insertCompositionText', data: 'にほ', isComposing: true }), { cancel: false, send: null });
  assert.deepEqual(s.beforeInput({ inputType: 'insertText', data: 'にほん', isComposing: true }), { cancel: false, send: null });
  assert.deepEqual(s.compositionEnd('日本'), { text: '日本' });
  // WebKit: the committed text arrives again as an insert after compositionend.
  assert.deepEqual(s.beforeInput({ inputType: 'insertFromComposition', data: '日本' }), { cancel: true, send: null });
  assert.deepEqual(s.beforeInput({ inputType: 'insertText', data: '日本' }), { cancel: true, send: { text: '日本' } }, 'typed again later is new text');
  assert.equal(s.keyIsComposing({ keyCode: 65, isComposing: false }), false);
  s.compositionStart();
  assert.equal(s.compositionEnd(''), null, 'a cancelled composition sends nothing');
  assert.deepEqual(s.beforeInput({ inputType: 'deleteContentBackward' }), { cancel: true, send: { key: 'Backspace' } });
  assert.deepEqual(s.beforeInput({ inputType: 'insertLineBreak' }), { cancel: true, send: { key: 'Enter' } });
  assert.deepEqual(s.beforeInput({ inputType: 'insertFromPaste' }), { cancel: true, send: { paste: true } });
});

test('keys: the paste shortcut presses Ctrl+V around what is held', () => {
  const V = [K('down', 'KeyV'), K('up', 'KeyV')];
  assert.deepEqual(keys.pasteKeys(new Set()), [K('down', 'ControlLeft'), ...V, K('up', 'ControlLeft')]);
  assert.deepEqual(keys.pasteKeys(new Set(['ControlLeft'])), V, 'Ctrl held (Ctrl+V on the page): only V');
  assert.deepEqual(keys.pasteKeys(new Set(['MetaLeft', 'KeyX'])), [
    K('up', 'MetaLeft'), K('down', 'ControlLeft'), ...V, K('up', 'ControlLeft'), K('down', 'MetaLeft'),
  ], 'Cmd+V on a Mac: Cmd lifted, Ctrl+V, Cmd again');
});

// --- cursor overlay, clipboard ----------------------------------------------------------------------------------

const PNG = 'data:image/png;base64,iVBORw0KGgo=';
const shapeMsg = { type: 'cursor_image', screen: '0', serial: 17, width: 24, height: 24, hot_x: 4, hot_y: 6, screen_width: 1920, screen_height: 1080, image: PNG };

test('cursor: messages are checked; the hot-spot pixel covers the pointer pixel at every zoom', () => {
  const s = cursor.parseCursorImage(shapeMsg);
  assert.equal(s.serial, 17);
  assert.equal(cursor.parseCursorImage({ ...shapeMsg, hot_x: 24 }), null);
  assert.equal(cursor.parseCursorImage({ ...shapeMsg, image: 'javascript:alert(1)' }), null);
  assert.equal(cursor.parseCursorImage({ ...shapeMsg, width: 1000 }), null);
  assert.deepEqual(cursor.parseCursor({ x: 1.5, y: -1, visible: false, serial: 3 }), { screen: null, x: 1, y: 0, visible: false, serial: 3 });
  assert.equal(cursor.parseCursor({ x: 'a', y: 0 }), null);
  for (const scale of [0.2, 1, 2.5, 5]) {
    const rect = { left: 10, top: 20, width: 1920 * scale, height: 1080 * scale };
    const px = 700;
    const py = 300;
    const p = cursor.cursorPlacement(rect, s, { x: (px + 0.5) / 1920, y: (py + 0.5) / 1080 });
    assert.ok(Math.abs(p.width - 24 * scale) < 1e-9 && Math.abs(p.height - 24 * scale) < 1e-9);
    // The image's hot-spot pixel [left + hot·k, left + (hot+1)·k] is the screen pixel's square on the picture.
    assert.ok(Math.abs(p.left + s.hotX * scale - (rect.left + px * scale)) < 1e-9, `x at ${scale}×`);
    assert.ok(Math.abs(p.top + s.hotY * scale - (rect.top + py * scale)) < 1e-9, `y at ${scale}×`);
    assert.ok(Math.abs(p.hotLeft - (rect.left + (px + 0.5) * scale)) < 1e-9);
  }
  assert.equal(cursor.cssCursor(s), `url("${PNG}") 4 6, default`);
  assert.equal(cursor.cssCursor({ ...s, width: 129 }), null);
});

test('clipboard: incoming text, images, too large, empty and the page\'s own paste coming back', () => {
  const m = (o) => ({ type: 'clipboard', selection: 'clipboard', ...o });
  assert.deepEqual(clip.incomingClipboard(m({ mime: 'text/plain', text: 'hi', bytes: 2 }), null), { kind: 'text', text: 'hi' });
  assert.deepEqual(clip.incomingClipboard(m({ mime: 'text/plain', text: 'hi' }), [{ text: 'hi' }, { text: 'later' }]), { kind: 'own' });
  assert.deepEqual(clip.incomingClipboard(m({ mime: 'image/png', data: 'AAAA' }), [{ text: 'hi' }]), { kind: 'image', data: 'AAAA' });
  assert.deepEqual(clip.incomingClipboard(m({ mime: 'image/png', data: 'AAAA' }), [{ data: 'AAAA' }]), { kind: 'own' });
  assert.deepEqual(clip.incomingClipboard(m({ too_large: true, bytes: 200000 }), null), { kind: 'too_large', bytes: 200000 });
  assert.deepEqual(clip.incomingClipboard(m({ mime: 'text/plain', text: '', bytes: 0 }), null), { kind: 'empty' });
  assert.equal(clip.incomingClipboard(m({ selection: 'primary', text: 'x' }), null), null);
  const bytes = new Uint8Array(70000).map((_, i) => (i * 7) & 255);
  assert.deepEqual(clip.base64ToBytes(clip.bytesToBase64(bytes)), bytes);
  assert.equal(clip.utf8Bytes('é€'), 5);
  assert.equal(clip.preview('a\n  b'), 'a b');
  assert.equal(clip.preview('x'.repeat(50), 10), `${'x'.repeat(9)}…`);
});

// --- run -------------------------------------------------------------------------------------------------------

const failed = [];
let passed = 0;
for (const t of tests) {
  try {
    await t.fn();
    passed += 1;
  } catch (e) {
    failed.push({ name: t.name, error: String(e && e.stack ? e.stack : e) });
  }
}
rmSync(scratch, { recursive: true, force: true });
console.log(JSON.stringify({ passed, failed }));
process.exit(failed.length ? 1 : 0);
