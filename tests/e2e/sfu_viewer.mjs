// Headless Chromium inside a viewer network namespace for issue 12's SFU tests (tests/sfu.rs), driven line by
// line: commands arrive on stdin as JSON, results leave on stdout as JSON lines (`{event:…}`); stderr is free-form.
// One Chromium (launched through the namespace wrapper), one browser context per viewer: real viewers each have
// their own browser, and Janus's long polls would otherwise share Chromium's six connections per host.
//
// Two kinds of viewer:
// - `open` (the test): sightline's UNCHANGED viewer page at `${base}/#token=…&e2e=1`. The script reads
//   the page's WebSocket frames itself, so it sees every `offer` with its `path`/`sfu`/`reason` fields, and reads
//   the picture back through the page's test hooks (barcodes, echo rows, marks, getStats).
// - `janus` (the rig's self-test): no gateway at all. Node does Janus's HTTP signalling (JANUS-FACTS §3: create,
//   attach, watch, long poll for the offer, start with the answer) and a blank page in the viewer namespace holds
//   the RTCPeerConnection: proof that Janus in the gateway namespace serves Chromium in a viewer namespace.
//
// Commands (stdin, one JSON object per line):
//   {"cmd":"open","name":N}                 opens the viewer page; emits {event:"playing",name,firstFrameMs,
//                                           steps,offers,codec,fmtp,frameSize} once it shows a WebRTC picture
//   {"cmd":"sample","name":N,"ms":M}        emits {event:"sample",name,fps,framesDecoded,offers,state,barcodeMs}
//                                           (decoded frame rate over M ms)
//   {"cmd":"click","name":N,"x":X,"y":Y}    clicks screen pixel (X,Y) on the page; emits {event:"clicked",name,
//                                           pressesBefore,pressesAfter,pointer}
//   {"cmd":"await_path","name":N,"path":P,"timeoutMs":T}
//                                           waits for an `offer` with path P received after the command (or
//                                           already received since the last await), then for a picture captured
//                                           after that offer; emits {event:"path",name,offer,offerAt,resumedAt,
//                                           resumeMs,barcodeMs}
//   {"cmd":"janus","name":N,"url":U,"mountpoint":ID,"pin":P}
//                                           watches Janus directly; emits {event:"janus_playing",name,firstFrameMs,
//                                           codec,fmtp,framesDecoded}
//   "stop" (or end of stdin)                closes everything; emits {event:"result"}
// Startup: {event:"started"}. Errors: {event:"error",error} and exit code 1.
//
// Usage: node sfu_viewer.mjs --chromium /tmp/…/chromium-<ns> [--base http://10.77.1.1:8080 --token T]
//        [--width 1280 --height 720]

import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';
import { waitFor as pollUntil, sleep } from './chromium.mjs';
import { BASE_ARGS, emit } from './network_lib.mjs';

const ARGS = BASE_ARGS;
/** A viewer page gets a picture in about a second; a namespace-launched browser on a busy machine needs more. */
const PICTURE_TIMEOUT_MS = 30000;
/** Janus answers its long poll within 30 s by itself; the offer of a `watch` comes within milliseconds. */
const JANUS_OFFER_TIMEOUT_MS = 10000;
/** Offers kept per viewer (a test sees a handful). */
const MAX_OFFERS = 32;

function parseArgs() {
  const out = {};
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i += 2) {
    if (!a[i].startsWith('--')) throw new Error(`unexpected argument ${a[i]}`);
    out[a[i].slice(2)] = a[i + 1];
  }
  if (!out.chromium) throw new Error('missing --chromium');
  return out;
}

const a = parseArgs();

/** chromium.mjs's poll with this script's positional timeouts. */
const waitFor = (what, fn, timeoutMs, everyMs = 50) => pollUntil(what, fn, { timeoutMs, everyMs });

/** Inbound video RTP stats and the codec's mime type and fmtp, from a getStats() array. */
function inbound(stats) {
  const rtp = (stats || []).find((x) => x.type === 'inbound-rtp' && x.kind === 'video');
  if (!rtp) return null;
  const codec = stats.find((x) => x.id === rtp.codecId);
  return { ...rtp, mimeType: codec ? codec.mimeType : null, fmtp: codec ? codec.sdpFmtpLine || '' : '' };
}

const viewers = new Map();
let browser;

/** Opens sightline's viewer page in a fresh context and waits for a WebRTC picture. */
async function open(name) {
  if (!a.base || !a.token) throw new Error('open needs --base and --token');
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const v = { name, context, page, offers: [], awaitedUpTo: 0, errors: [] };
  viewers.set(name, v);
  page.on('pageerror', (e) => v.errors.push(e.message));
  page.on('websocket', (ws) =>
    ws.on('framereceived', (f) => {
      if (typeof f.payload !== 'string') return;
      try {
        const m = JSON.parse(f.payload);
        if (m.type === 'offer' && v.offers.length < MAX_OFFERS) {
          v.offers.push({
            at: Date.now(),
            path: m.path ?? null,
            sfu: m.sfu ?? null,
            reason: m.reason ?? null,
            // Whether the offer negotiates the playout-delay extension (the broker then asks for no delay).
            playoutDelay: typeof m.sdp === 'string' && m.sdp.includes('rtp-hdrext/playout-delay'),
          });
        }
      } catch {
        // not JSON: not ours to read
      }
    }),
  );
  await page.goto(`${a.base}/#token=${encodeURIComponent(a.token)}&e2e=1`);
  await waitFor(
    `${name}: a live WebRTC picture`,
    async () => {
      const s = await page.evaluate(() => window.sightline && window.sightline.state);
      return s && s.watching === 'webrtc' && s.connected && s.picture;
    },
    PICTURE_TIMEOUT_MS,
  );
  const marks = await page.evaluate(() => window.sightline.marks());
  const from = marks.socketCreated;
  const rel = (m) => (typeof m === 'number' ? Math.round(m - from) : null);
  const rtp = await waitFor(
    `${name}: inbound video stats with a codec`,
    async () => {
      const r = inbound(await page.evaluate(() => window.sightline.rtcStats()));
      return r && r.mimeType ? r : null;
    },
    10000,
  );
  emit({
    event: 'playing',
    name,
    firstFrameMs: rel(marks.firstFrame),
    steps: {
      welcome: rel(marks.welcome),
      offer: rel(marks.offer),
      answer: rel(marks.answer),
      connected: rel(marks.iceConnected ?? marks.connected),
      firstFrame: rel(marks.firstFrame),
    },
    connectedToFirstFrameMs:
      typeof marks.firstFrame === 'number' && typeof (marks.iceConnected ?? marks.connected) === 'number'
        ? Math.round(marks.firstFrame - (marks.iceConnected ?? marks.connected))
        : null,
    offers: v.offers,
    codec: rtp.mimeType,
    fmtp: rtp.fmtp,
    keyFramesDecoded: rtp.keyFramesDecoded ?? null,
    frameSize: `${rtp.frameWidth}x${rtp.frameHeight}`,
  });
}

function viewer(name) {
  const v = viewers.get(name);
  if (!v) throw new Error(`no viewer named ${name}`);
  return v;
}

async function barcodeMs(page) {
  const b = await page.evaluate(() => window.sightline.readBarcodes()).catch(() => null);
  return b && typeof b.time === 'number' ? b.time : null;
}

async function sample(name, ms) {
  const v = viewer(name);
  const stats = async () => inbound(await v.page.evaluate(() => window.sightline.rtcStats()));
  const s0 = await stats();
  await sleep(ms);
  const s1 = await stats();
  const fps =
    s0 && s1 && s1.timestamp > s0.timestamp && s1.framesDecoded >= s0.framesDecoded
      ? ((s1.framesDecoded - s0.framesDecoded) * 1000) / (s1.timestamp - s0.timestamp)
      : 0;
  emit({
    event: 'sample',
    name,
    fps,
    framesDecoded: s1 ? s1.framesDecoded : null,
    keyFramesDecoded: s1 ? s1.keyFramesDecoded : null,
    codec: s1 ? s1.mimeType : null,
    offers: v.offers,
    state: await v.page.evaluate(() => window.sightline.state),
    barcodeMs: await barcodeMs(v.page),
    pageErrors: v.errors,
  });
}

/** Reads the echo rows (pointer position and button presses the synthetic screen drew). */
async function echo(page) {
  return waitFor(
    'readable echo rows',
    async () => {
      const b = await page.evaluate(() => window.sightline.readBarcodes());
      return b && b.echoA ? b.echoA : null;
    },
    10000,
    100,
  );
}

async function click(name, x, y) {
  const v = viewer(name);
  const W = Number(a.width || 1280);
  const H = Number(a.height || 720);
  const before = await echo(v.page);
  const r = await v.page.evaluate(() => window.sightline.contentRect());
  if (!r) throw new Error(`${name}: the page shows no picture`);
  const p = { x: r.left + ((x + 0.5) * r.width) / W, y: r.top + ((y + 0.5) * r.height) / H };
  await v.page.mouse.click(p.x, p.y);
  let after = before;
  try {
    after = await waitFor(
      `${name}: the click in the echo row`,
      async () => {
        const e = await echo(v.page);
        return e.presses === before.presses + 1 ? e : null;
      },
      10000,
      100,
    );
  } catch {
    after = await echo(v.page);
  }
  emit({
    event: 'clicked',
    name,
    target: { x, y },
    pressesBefore: before.presses,
    pressesAfter: after.presses,
    pointer: { x: after.pointerX, y: after.pointerY },
  });
}

async function awaitPath(name, path, timeoutMs) {
  const v = viewer(name);
  const since = v.awaitedUpTo;
  const offer = await waitFor(
    `${name}: an offer with path "${path}"`,
    async () => v.offers.slice(since).find((o) => o.path === path),
    timeoutMs,
  );
  v.awaitedUpTo = v.offers.indexOf(offer) + 1;
  // The picture resumed once the page shows a frame captured after the offer arrived (same host clock).
  const resumed = await waitFor(
    `${name}: a picture captured after the "${path}" offer`,
    async () => {
      const t = await barcodeMs(v.page);
      return t !== null && t > offer.at ? { t, at: Date.now() } : null;
    },
    timeoutMs,
  );
  emit({
    event: 'path',
    name,
    offer,
    offerAt: offer.at,
    resumedAt: resumed.at,
    resumeMs: resumed.at - offer.at,
    barcodeMs: resumed.t,
    offers: v.offers,
    state: await v.page.evaluate(() => window.sightline.state),
  });
}

/** One Janus HTTP API call (POST with a transaction, or the long poll GET). */
async function janusCall(url, body) {
  const init = body
    ? { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, transaction: `t${Math.random()}` }) }
    : { method: 'GET' };
  const r = await fetch(url, init);
  if (!r.ok) throw new Error(`${init.method} ${url}: HTTP ${r.status}`);
  return r.json();
}

/** Watches a Janus mountpoint directly (JANUS-FACTS §3); the page only holds the RTCPeerConnection. */
async function watchJanus(name, url, mountpoint) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const v = { name, context, page, offers: [], awaitedUpTo: 0, errors: [], janus: { events: [] } };
  viewers.set(name, v);
  const created = await janusCall(url, { janus: 'create' });
  const sid = created.data.id;
  const attached = await janusCall(`${url}/${sid}`, { janus: 'attach', plugin: 'janus.plugin.streaming' });
  const hid = attached.data.id;
  v.janus.session = `${url}/${sid}`;
  // The long poll keeps the session alive and collects the plugin's events.
  v.janus.polling = (async () => {
    while (!v.closed) {
      const evs = await janusCall(`${url}/${sid}?maxev=10`).catch(() => []);
      for (const e of Array.isArray(evs) ? evs : [evs]) if (e && e.janus !== 'keepalive') v.janus.events.push(e);
      if (v.janus.events.length > 64) v.janus.events.splice(0, v.janus.events.length - 64);
    }
  })();
  const ack = await janusCall(`${url}/${sid}/${hid}`, { janus: 'message', body: { request: 'watch', id: mountpoint } });
  if (ack.janus !== 'ack' && ack.janus !== 'success') throw new Error(`watch: ${JSON.stringify(ack)}`);
  const offerEv = await waitFor('the Janus offer', async () => v.janus.events.find((e) => e.jsep && e.jsep.type === 'offer'), JANUS_OFFER_TIMEOUT_MS);
  const t0 = Date.now();
  const answer = await page.evaluate(async (sdp) => {
    const pc = new RTCPeerConnection({ iceServers: [] });
    window.pc = pc;
    window.frames0 = { first: null };
    pc.ontrack = (ev) => {
      const video = document.createElement('video');
      video.muted = true;
      video.autoplay = true;
      video.playsInline = true;
      video.srcObject = ev.streams && ev.streams[0] ? ev.streams[0] : new MediaStream([ev.track]);
      document.body.appendChild(video);
      const onFrame = (_now, meta) => {
        if (window.frames0.first === null) window.frames0.first = Date.now();
        video.requestVideoFrameCallback(onFrame);
      };
      video.requestVideoFrameCallback(onFrame);
      video.play().catch(() => {});
    };
    await pc.setRemoteDescription({ type: 'offer', sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    // Non-trickle answer: wait for gathering (host candidates on one link: immediate).
    await new Promise((resolve) => {
      if (pc.iceGatheringState === 'complete') return resolve();
      pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && resolve();
      setTimeout(resolve, 3000);
    });
    return pc.localDescription.sdp;
  }, offerEv.jsep.sdp);
  const started = await janusCall(`${url}/${sid}/${hid}`, {
    janus: 'message',
    body: { request: 'start' },
    jsep: { type: 'answer', sdp: answer },
  });
  if (started.janus !== 'ack' && started.janus !== 'success') throw new Error(`start: ${JSON.stringify(started)}`);
  const first = await waitFor('a frame from Janus', () => page.evaluate(() => window.frames0.first), PICTURE_TIMEOUT_MS);
  const stats = async () => inbound(await page.evaluate(async () => [...(await window.pc.getStats()).values()]));
  const s0 = await stats();
  await sleep(2000);
  const s1 = await stats();
  emit({
    event: 'janus_playing',
    name,
    firstFrameMs: first - t0,
    codec: s1 && s1.mimeType,
    fmtp: s1 && s1.fmtp,
    framesDecoded: s1 && s1.framesDecoded,
    fps: s0 && s1 ? ((s1.framesDecoded - s0.framesDecoded) * 1000) / (s1.timestamp - s0.timestamp) : 0,
    frameSize: s1 ? `${s1.frameWidth}x${s1.frameHeight}` : null,
    janusEvents: v.janus.events.map((e) => e.janus + (e.plugindata ? `:${JSON.stringify(e.plugindata.data.result || e.plugindata.data)}` : '')),
  });
}

async function handle(line) {
  if (line.trim() === 'stop') return false;
  const c = JSON.parse(line);
  switch (c.cmd) {
    case 'open':
      await open(c.name);
      break;
    case 'sample':
      await sample(c.name, Number(c.ms || 1000));
      break;
    case 'click':
      await click(c.name, Number(c.x), Number(c.y));
      break;
    case 'await_path':
      await awaitPath(c.name, c.path, Number(c.timeoutMs || 20000));
      break;
    case 'janus':
      await watchJanus(c.name, c.url, Number(c.mountpoint));
      break;
    default:
      throw new Error(`unknown command ${line}`);
  }
  return true;
}

async function main() {
  // The gateway is reached on a veth address, not 127.0.0.1: treat its origin as secure (getUserMedia, crypto).
  const args = a.base ? [...ARGS, `--unsafely-treat-insecure-origin-as-secure=${a.base}`] : ARGS;
  browser = await chromium.launch({ executablePath: a.chromium, headless: true, args });
  emit({ event: 'started' });
  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (!line.trim()) continue;
    if (!(await handle(line))) break;
  }
  rl.close();
}

let code = 0;
try {
  await main();
  emit({ event: 'result' });
} catch (e) {
  emit({ event: 'error', error: String(e && e.stack ? e.stack : e) });
  code = 1;
} finally {
  for (const v of viewers.values()) {
    v.closed = true;
    if (v.janus && v.janus.session) await janusCall(v.janus.session, { janus: 'destroy' }).catch(() => {});
  }
  if (browser) await browser.close().catch(() => {});
  process.stdin.destroy();
  setTimeout(() => process.exit(code), 100).unref();
}
