// Benchmark of the viewer page over WebRTC in headless Chromium on loopback (issue 3). Prints figures; the
// Rust runner (tests/browser_latency.rs) only checks that they exist.
//
// 1. First frame: time from creating the page's WebSocket to the first video frame presented
//    (requestVideoFrameCallback presentationTime), over --runs fresh pages:
//    - cold: no other viewer, so the gateway starts its capture/encode pipeline for this viewer;
//    - warm: another viewer keeps the pipeline running, so the new viewer joins it (and gets an IDR).
//    With a per-step breakdown (welcome, offer, answer, ICE connected) from the page's own marks.
// 2. Glass-to-glass latency over --frames presented frames: each frame's expected display time (wall clock)
//    minus the capture time in the synthetic screen's top barcode; also presentation, receive and callback
//    times against the same capture time, and the decoder's getStats figures.
//
// Usage: node latency.mjs --base URL --token TOKEN [--label 1080p] [--runs 10] [--frames 300]

import { loadavg } from 'node:os';
import { args, launch, run, sleep, waitFor } from './chromium.mjs';

const a = args(['base', 'token']);
const RUNS = Number(a.runs || 10);
const FRAMES = Number(a.frames || 300);
/** Time the latency page plays before measuring. */
const SETTLE_MS = 3000;
const url = `${a.base}/#token=${encodeURIComponent(a.token)}&e2e=1`;

function summary(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((x, y) => x - y);
  if (v.length === 0) return null;
  const rank = (p) => v[Math.min(v.length - 1, Math.max(0, Math.ceil((p / 100) * v.length) - 1))];
  const r1 = (x) => Math.round(x * 10) / 10;
  return { n: v.length, median: r1(rank(50)), p95: r1(rank(95)), min: r1(v[0]), max: r1(v[v.length - 1]), mean: r1(v.reduce((s, x) => s + x, 0) / v.length) };
}

async function openViewer(context) {
  const page = await context.newPage();
  await page.goto(url);
  await waitFor('the first frame', () => page.evaluate(() => window.sightline.firstFrameMs() !== null), { timeoutMs: 15000, everyMs: 10 });
  const marks = await page.evaluate(() => window.sightline.marks());
  const from = marks.socketCreated;
  return {
    page,
    firstFrameMs: marks.firstFrame - from,
    steps: {
      welcome: marks.welcome - from,
      offer: marks.offer - from,
      answer: marks.answer - from,
      connected: marks.iceConnected !== undefined ? marks.iceConnected - from : marks.connected - from,
      firstFrame: marks.firstFrame - from,
    },
  };
}

async function firstFrames(context, n) {
  const runs = [];
  for (let i = 0; i < n; i++) {
    const v = await openViewer(context);
    runs.push(v);
    await v.page.close();
    await sleep(400); // let the gateway notice the viewer left (and, cold, stop the pipeline)
  }
  const step = (k) => summary(runs.map((r) => r.steps[k]));
  return {
    firstFrameMs: summary(runs.map((r) => r.firstFrameMs)),
    // Every run with its steps (ms from socket creation), so an outlier can be explained.
    all: runs.map((r) => Object.fromEntries(Object.entries(r.steps).map(([k, v]) => [k, Math.round(v)]))),
    steps: { welcome: step('welcome'), offer: step('offer'), answer: step('answer'), connected: step('connected') },
  };
}

run(async (out, cleanup) => {
  const browser = await launch();
  cleanup(() => browser.close());
  out.label = a.label || '';
  out.runs = RUNS;
  // The machine may be shared: its load says how much the figures can be trusted.
  out.loadAverageAtStart = loadavg().map((x) => Math.round(x * 100) / 100);

  // Warm-up: the first page of a fresh browser pays for process start-up; not counted.
  const warmup = await openViewer(browser.context);
  await warmup.page.close();
  await sleep(1500);

  out.cold = await firstFrames(browser.context, RUNS);
  const keeper = await openViewer(browser.context);
  await sleep(1000);
  out.warm = await firstFrames(browser.context, RUNS);

  // Latency on a fresh page, alone, after the receiver's jitter estimate has settled (the viewers opened and
  // closed above disturb it, and Chromium's estimator decays slowly).
  await keeper.page.close();
  const { page } = await openViewer(browser.context);
  await sleep(SETTLE_MS);
  await page.evaluate(() => {
    window.sightline.measureLatency(true);
    window.sightline.clearLatency();
  });
  const statsAt = async () => {
    const s = await page.evaluate(() => window.sightline.rtcStats());
    return s.find((x) => x.type === 'inbound-rtp' && x.kind === 'video');
  };
  const s0 = await statsAt();
  // Did the barcode read in each callback belong to the frame the callback describes? Under load the video
  // element can already show a newer frame when the callback runs, which would understate latency. The gateway
  // derives RTP timestamps from capture times (90 kHz), so a sample is kept only when the RTP delta to the
  // previous sample matches the barcode delta; figures are computed over the kept samples.
  const consistentOf = (samples) =>
    samples.filter((s, i) => {
      if (i === 0) return false;
      const p = samples[i - 1];
      const rtpMs = ((s.rtpTimestamp - p.rtpTimestamp + 2 ** 32) % 2 ** 32) / 90;
      return Math.abs(rtpMs - (s.captureMs - p.captureMs)) <= 2;
    });
  let samples = [];
  const consistent = await waitFor(`${FRAMES} consistent latency samples`, async () => {
    samples = await page.evaluate(() => window.sightline.latencySamples());
    const c = consistentOf(samples);
    return c.length >= FRAMES ? c : false;
  }, { timeoutMs: (FRAMES / 30) * 1000 * 2 + 10000, everyMs: 250 });
  const s1 = await statsAt();
  const frameSize = `${s1.frameWidth}x${s1.frameHeight}`;
  const dFrames = s1.framesDecoded - s0.framesDecoded;
  out.latency = {
    frames: consistent.length,
    settleMs: SETTLE_MS,
    frameSize,
    glassToGlassMs: summary(consistent.map((s) => s.displayMs)),
    presentedMs: summary(consistent.map((s) => s.presentedMs)),
    receivedMs: summary(consistent.map((s) => s.receivedMs)),
    // The callback's `now` is the start of the rendering step that runs it, which in Chromium's low-latency
    // path can precede the frame's own arrival: kept for completeness, not a latency.
    callbackMs: summary(consistent.map((s) => s.callbackMs)),
    processingMs: summary(consistent.map((s) => s.processingMs)),
  };
  out.latency.inconsistentSamples = samples.length - 1 - consistent.length;
  out.decoder = {
    fps: (dFrames * 1000) / (s1.timestamp - s0.timestamp),
    decodeMsPerFrame: ((s1.totalDecodeTime - s0.totalDecodeTime) * 1000) / dFrames,
    jitterBufferMs:
      ((s1.jitterBufferDelay - s0.jitterBufferDelay) * 1000) / (s1.jitterBufferEmittedCount - s0.jitterBufferEmittedCount),
    framesDropped: s1.framesDropped - s0.framesDropped,
    packetsLost: s1.packetsLost - s0.packetsLost,
    decoder: s1.decoderImplementation,
  };
  out.loadAverageAtEnd = loadavg().map((x) => Math.round(x * 100) / 100);
  return out;
});
