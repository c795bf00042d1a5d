// Benchmark probe of issue 15 (tests/fleet_bench.rs): glass-to-glass latency of the same device screen watched
// DIRECTLY (the device's own viewer page, `[hub] local_server = true`) and THROUGH THE HUB (the hub's viewer page,
// screen `<device id>/<screen>`), side by side in the same run: two headless Chromium browsers (one per page, so
// neither page's frame callbacks wait for the other's), both playing all the time, measured over the same
// windows for --rounds rounds. Per frame, from the capture time in the synthetic screen's top barcode
// (web/js/latency.js; same host, same clock) to: the frame's last packet received (`receivedMs`), the decoded frame
// presented (`presentedMs`, the headline: what the relay can add is all before it), and Chromium's expected display
// time (`glassToGlassMs`, which also holds the headless compositor's vsync wait: 0–17 ms, fixed per browser by
// where 30 fps frames fall in its 60 Hz cycle, so two browsers differ by up to a frame whatever they watch).
//
// Usage: node fleet_latency.mjs --direct http://127.0.0.1:P1 --hub http://127.0.0.1:P2 --token T
//          --hub-screen <id>/0 [--rounds 4] [--seconds 5]
// Prints one JSON line: {direct: {...}, hub: {...}, rounds: [...], loadAverage…}.

import { loadavg } from 'node:os';
import { args, launch, run, sleep, viewerState, waitFor } from './chromium.mjs';

const a = args(['direct', 'hub', 'token', 'hub-screen']);
const ROUNDS = Number(a.rounds || 4);
const SECONDS = Number(a.seconds || 5);
const SETTLE_MS = 3000;

function summary(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((x, y) => x - y);
  if (v.length === 0) return { n: 0 };
  const rank = (p) => v[Math.min(v.length - 1, Math.max(0, Math.ceil((p / 100) * v.length) - 1))];
  const r1 = (x) => Math.round(x * 10) / 10;
  return { n: v.length, p50: r1(rank(50)), p95: r1(rank(95)), min: r1(v[0]), max: r1(v[v.length - 1]) };
}

async function open(name, base, screen, cleanup) {
  const browser = await launch();
  cleanup(() => browser.close());
  const page = await browser.context.newPage();
  const frag = screen ? `&screen=${encodeURIComponent(screen)}` : '';
  await page.goto(`${base}/#token=${encodeURIComponent(a.token)}&e2e=1${frag}`);
  await waitFor(`${name}: a live WebRTC picture`, async () => {
    const s = await viewerState(page);
    return s && s.watching === 'webrtc' && s.connected && s.picture;
  }, { timeoutMs: 30000 });
  await page.evaluate(() => window.sightline.measureLatency(true));
  return { name, page };
}

async function inbound(page) {
  const stats = await page.evaluate(() => window.sightline.rtcStats());
  const rtp = stats && stats.find((s) => s.type === 'inbound-rtp' && s.kind === 'video');
  const codec = rtp && stats.find((s) => s.id === rtp.codecId);
  return { rtp, codec: codec ? codec.mimeType : null };
}

/** Frames whose RTP timestamp advanced like their barcode (the callback read the frame it describes). */
function consistent(samples) {
  return samples.filter((s, i) => {
    if (i === 0 || s.rtpTimestamp === undefined) return false;
    const p = samples[i - 1];
    const rtpMs = ((s.rtpTimestamp - p.rtpTimestamp + 2 ** 32) % 2 ** 32) / 90;
    return Math.abs(rtpMs - (s.captureMs - p.captureMs)) <= 2;
  });
}

run(async (out, cleanup) => {
  out.loadAverageAtStart = loadavg().map((x) => Math.round(x * 100) / 100);
  const pages = [await open('direct', a.direct, null, cleanup), await open('hub', a.hub, a['hub-screen'], cleanup)];
  await sleep(SETTLE_MS);
  const all = { direct: [], hub: [] };
  const presented = { direct: [], hub: [] };
  const received = { direct: [], hub: [] };
  const consistentAll = { direct: [], hub: [] };
  const stats0 = {};
  for (const p of pages) stats0[p.name] = await inbound(p.page);
  out.rounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    // Alternate which page is cleared and read first: neither is always a few ms ahead.
    const order = r % 2 === 0 ? pages : [...pages].reverse();
    for (const p of order) await p.page.evaluate(() => window.sightline.clearLatency());
    await sleep(SECONDS * 1000);
    const round = {};
    for (const p of order) {
      const samples = await p.page.evaluate(() => window.sightline.latencySamples());
      all[p.name].push(...samples.map((s) => s.displayMs));
      presented[p.name].push(...samples.map((s) => s.presentedMs));
      received[p.name].push(...samples.map((s) => s.receivedMs));
      consistentAll[p.name].push(...consistent(samples).map((s) => s.presentedMs));
      round[p.name] = summary(samples.map((s) => s.presentedMs));
    }
    out.rounds.push(round);
  }
  for (const p of pages) {
    const s1 = await inbound(p.page);
    const s0 = stats0[p.name];
    const frames = s1.rtp.framesDecoded - s0.rtp.framesDecoded;
    out[p.name] = {
      glassToGlassMs: summary(all[p.name]),
      presentedMs: summary(presented[p.name]),
      receivedMs: summary(received[p.name]),
      consistentMs: summary(consistentAll[p.name]),
      codec: s1.codec,
      frameSize: `${s1.rtp.frameWidth}x${s1.rtp.frameHeight}`,
      fps: (frames * 1000) / (s1.rtp.timestamp - s0.rtp.timestamp),
      jitterBufferMs:
        ((s1.rtp.jitterBufferDelay - s0.rtp.jitterBufferDelay) * 1000) /
        (s1.rtp.jitterBufferEmittedCount - s0.rtp.jitterBufferEmittedCount),
      framesDropped: s1.rtp.framesDropped - s0.rtp.framesDropped,
    };
  }
  out.loadAverageAtEnd = loadavg().map((x) => Math.round(x * 100) / 100);
  return out;
});
