// Shared parts of the network tests' browser scripts (network_viewer.mjs, network_c2c.mjs; driven by
// tests/common/netview.rs): Chromium launched inside a network namespace, the line protocol to the Rust side, and
// the per-second receiver sample both scripts emit in the same shape so the Rust side measures them alike.
//
// Line protocol: every stdout line is one JSON object with an `event`:
//   {event:"started", ...}          the pages are open (not necessarily playing: a capped link may never play)
//   {event:"sample", viewer, t, ...} once per --interval ms per viewer (see `receiverSample`)
//   {event:"result", ...}           after "stop" arrived on stdin; the last line
//   {event:"error", error}          on failure (exit code 1)
// Nothing else is printed on stdout.

import { createInterface } from 'node:readline';
import { launch } from './chromium.mjs';

/** Chromium's flags for every namespace-launched test browser. */
export const BASE_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-features=Translate,MediaRouter,WebRtcHideLocalIpsWithMdns',
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
  // The viewer page's test hook makes one getUserMedia call; the fake device answers it.
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
];

/**
 * Launches Chromium through `wrapper` (a script that runs it inside a network namespace, see
 * tests/common/netns.rs). `secureOrigins` are plain-http origins the page should treat as secure (the gateway is
 * reached on a veth address, not 127.0.0.1).
 */
export async function launchIn(wrapper, { secureOrigins = [], viewport = { width: 1280, height: 800 } } = {}) {
  const args = [...BASE_ARGS];
  if (secureOrigins.length) args.push(`--unsafely-treat-insecure-origin-as-secure=${secureOrigins.join(',')}`);
  return launch({ executablePath: wrapper, args, contextOptions: { viewport } });
}

export function emit(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

/** Resolves when a line "stop" arrives on stdin or stdin closes (the Rust side went away). */
export function stopRequested() {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin });
    rl.on('line', (line) => {
      if (line.trim() === 'stop') resolve('stop');
    });
    rl.on('close', () => resolve('eof'));
  });
}

/** `--name value` pairs as an object; `required` names must be present. */
export function args(required = []) {
  const out = {};
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i += 2) {
    if (!a[i].startsWith('--')) throw new Error(`unexpected argument ${a[i]}`);
    out[a[i].slice(2)] = a[i + 1];
  }
  for (const r of required) if (out[r] === undefined) throw new Error(`missing --${r}`);
  return out;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The inbound video RTP stats (and its codec's mime type) from a getStats() array, or null. */
export function inboundVideo(stats) {
  if (!stats) return null;
  const rtp = stats.find((x) => x.type === 'inbound-rtp' && x.kind === 'video');
  if (!rtp) return null;
  const codec = stats.find((x) => x.id === rtp.codecId);
  return { ...rtp, mimeType: codec ? codec.mimeType : null };
}

/**
 * One receiver sample: cumulative getStats counters (the Rust side differentiates them), the glass-to-glass
 * samples presented since the previous sample as [captureMs, displayMs, presentedMs, receivedMs] (barcode time
 * and the three latencies, see web/js/latency.js), and whatever the caller adds.
 */
export function receiverSample(viewer, rtp, latency, extra = {}) {
  const n = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  return {
    event: 'sample',
    viewer,
    t: Date.now(),
    framesDecoded: n(rtp && rtp.framesDecoded),
    framesReceived: n(rtp && rtp.framesReceived),
    keyFramesDecoded: n(rtp && rtp.keyFramesDecoded),
    bytesReceived: n(rtp && rtp.bytesReceived),
    packetsReceived: n(rtp && rtp.packetsReceived),
    packetsLost: n(rtp && rtp.packetsLost),
    nackCount: n(rtp && rtp.nackCount),
    pliCount: n(rtp && rtp.pliCount),
    firCount: n(rtp && rtp.firCount),
    freezeCount: n(rtp && rtp.freezeCount),
    jitterBufferDelay: n(rtp && rtp.jitterBufferDelay),
    jitterBufferEmittedCount: n(rtp && rtp.jitterBufferEmittedCount),
    totalFreezesDuration: n(rtp && rtp.totalFreezesDuration),
    frameWidth: n(rtp && rtp.frameWidth),
    frameHeight: n(rtp && rtp.frameHeight),
    codec: rtp ? rtp.mimeType : null,
    latency: latency.map((s) => [s.captureMs, round1(s.displayMs), round1(s.presentedMs), round1(s.receivedMs)]),
    ...extra,
  };
}

function round1(x) {
  return typeof x === 'number' && Number.isFinite(x) ? Math.round(x * 10) / 10 : null;
}

/** Keeps only the latency samples newer than the last one returned (the pages keep a bounded ring). */
export function newSamples() {
  let last = -Infinity;
  return (samples) => {
    const fresh = (samples || []).filter((s) => s.captureMs > last);
    if (fresh.length) last = fresh[fresh.length - 1].captureMs;
    return fresh;
  };
}

/** Runs `main(cleanup)`; prints {event:"error"} and exits 1 on failure; always runs the cleanups. */
export async function run(main) {
  const cleanups = [];
  try {
    const result = await main((fn) => cleanups.push(fn));
    emit({ event: 'result', ...result });
    process.exitCode = 0;
  } catch (e) {
    emit({ event: 'error', error: String(e && e.stack ? e.stack : e) });
    process.exitCode = 1;
  } finally {
    for (const fn of cleanups.reverse()) await fn().catch(() => {});
    // playwright keeps handles (the stdin reader, pipes) open: leave once cleaned up.
    setTimeout(() => process.exit(process.exitCode), 100).unref();
    process.stdin.destroy();
  }
}
