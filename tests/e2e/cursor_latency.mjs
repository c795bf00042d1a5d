// Benchmark: cursor motion-to-photon on the viewer page (issue 13), in headless Chromium watching a real gateway on
// Xvfb over WebRTC. The pointer is moved by XTest (tests/e2e/xtest_mover.py: XTestFakeMotionEvent then XSync, so
// it answers once the server has moved it; as input devices and sightline's own input move it) between two points
// of a plain background, alternately; the page reports the first animation frame that shows the pointer at its
// new place:
// - overlay (`[capture] cursor = "overlay"`): the frame whose rAF sees the page's cursor overlay placed there
//   (window.sightline.cursor(): the hot spot in client px);
// - video (`[capture] cursor = "video"`): the frame whose requestVideoFrameCallback presents a video frame with
//   cursor pixels there (a 16×16 box right-below the hot spot differs from the background).
// Both are the frame-begin time of the frame that shows it, on the same wall clock as the move (performance
// timeOrigin + now in the page and in node). Motion-to-photon = that time − when the mover answered.
//
// Usage: node cursor_latency.mjs --base URL --token TOKEN --mode overlay|video --display :N
//          [--width 1920 --height 1080] [--moves 40]

import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { args, clientPointOf, launch, run, sleep, viewerState, waitFor } from './chromium.mjs';

const a = args(['base', 'token', 'mode', 'display']);
const W = Number(a.width || 1920);
const H = Number(a.height || 1080);
const MOVES = Number(a.moves || 40);
const MODE = a.mode;
/** `webrtc` (default) or `jpeg`: the overlay's messages then travel on the WebSocket instead of the data channel. */
const TRANSPORT = a.transport || 'webrtc';
if (MODE !== 'overlay' && MODE !== 'video') throw new Error(`--mode must be overlay or video, not ${MODE}`);
/** The two points the pointer alternates between (screen px), far apart on the plain background. */
const POINTS = [
  [Math.round(W * 0.25), Math.round(H * 0.25)],
  [Math.round(W * 0.75), Math.round(H * 0.75)],
];
/** How long a move may take to show before it counts as lost. */
const SHOW_TIMEOUT_MS = 2000;
/** Between moves: lets the previous one settle (and the encoder idle) so moves do not queue. */
const GAP_MS = 250;

const now = () => performance.timeOrigin + performance.now();

function summary(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((x, y) => x - y);
  if (v.length === 0) return null;
  const rank = (p) => v[Math.min(v.length - 1, Math.max(0, Math.ceil((p / 100) * v.length) - 1))];
  const r1 = (x) => Math.round(x * 10) / 10;
  return { n: v.length, median: r1(rank(50)), p95: r1(rank(95)), min: r1(v[0]), max: r1(v[v.length - 1]) };
}

/** The XTest mover: `move(x, y)` resolves once the X server has moved the pointer. */
function startMover() {
  const child = spawn('python3', [new URL('./xtest_mover.py', import.meta.url).pathname], {
    env: { ...process.env, DISPLAY: a.display },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const waiting = [];
  lines.on('line', () => waiting.shift()?.());
  const move = (x, y) =>
    new Promise((resolve, reject) => {
      if (child.exitCode !== null) return reject(new Error('the XTest mover exited'));
      waiting.push(resolve);
      child.stdin.write(`${x} ${y}\n`);
    });
  return { move, stop: () => child.kill() };
}

/** Installs the page's detector: `window.__probe.arm(target)` starts looking, `.found` is the time it showed. */
async function installProbe(page) {
  await page.evaluate((mode) => {
    const probe = { target: null, found: null };
    window.__probe = probe;
    probe.arm = (t) => {
      probe.target = t;
      probe.found = null;
    };
    if (mode === 'overlay') {
      const loop = (ts) => {
        const t = probe.target;
        if (t && probe.found === null) {
          const c = window.sightline.cursor();
          if (c && c.visible && Math.abs(c.left - t.cx) < 1.5 && Math.abs(c.top - t.cy) < 1.5) {
            probe.found = performance.timeOrigin + ts;
          }
        }
        requestAnimationFrame(loop);
      };
      requestAnimationFrame(loop);
      return;
    }
    const video = document.querySelector('video');
    const canvas = document.createElement('canvas');
    canvas.width = 16;
    canvas.height = 16;
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    const onFrame = (ts) => {
      const t = probe.target;
      if (t && probe.found === null && video.videoWidth > 0) {
        const kx = video.videoWidth / t.screenWidth;
        const ky = video.videoHeight / t.screenHeight;
        ctx.drawImage(video, (t.px + 1) * kx, (t.py + 1) * ky, 16 * kx, 16 * ky, 0, 0, 16, 16);
        const d = ctx.getImageData(0, 0, 16, 16).data;
        let differing = 0;
        for (let i = 0; i < d.length; i += 4) {
          if (Math.abs(d[i] - t.bg[0]) + Math.abs(d[i + 1] - t.bg[1]) + Math.abs(d[i + 2] - t.bg[2]) > 120) differing++;
        }
        if (differing >= 6) probe.found = performance.timeOrigin + ts;
      }
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }, MODE);
}

/** The background colour the video shows at screen pixel (px, py) now (the pointer is elsewhere). */
async function backgroundAt(page, px, py) {
  return page.evaluate(({ px, py, sw, sh }) => {
    const video = document.querySelector('video');
    const c = document.createElement('canvas');
    c.width = 1;
    c.height = 1;
    const ctx = c.getContext('2d', { willReadFrequently: true });
    ctx.drawImage(video, (px * video.videoWidth) / sw, (py * video.videoHeight) / sh, 1, 1, 0, 0, 1, 1);
    return Array.from(ctx.getImageData(0, 0, 1, 1).data.slice(0, 3));
  }, { px, py, sw: W, sh: H });
}

run(async (out, cleanup) => {
  const browser = await launch({ contextOptions: { viewport: { width: 1280, height: 800 } } });
  cleanup(() => browser.close());
  const mover = startMover();
  cleanup(async () => mover.stop());
  const move = mover.move;
  const page = await browser.context.newPage();
  const transport = TRANSPORT === 'jpeg' ? '&transport=jpeg' : '';
  await page.goto(`${a.base}/#token=${encodeURIComponent(a.token)}&e2e=1${transport}`);
  await waitFor(`a live ${TRANSPORT} picture`, async () => {
    const s = await viewerState(page);
    return s && s.picture && s.watching === TRANSPORT;
  }, { timeoutMs: 20000 });
  // Start away from both points; in overlay mode wait for the page to know the pointer.
  await move(Math.round(W / 2), Math.round(H / 2));
  await sleep(1000);
  if (MODE === 'overlay') {
    await waitFor('the cursor overlay', () => page.evaluate(() => {
      const c = window.sightline.cursor();
      return c && c.visible;
    }), { timeoutMs: 5000 });
  }
  const bg = await backgroundAt(page, POINTS[0][0] + 40, POINTS[0][1] + 40);
  await installProbe(page);

  const fromReturn = [];
  const fromStart = [];
  let lost = 0;
  for (let i = 0; i < MOVES; i++) {
    const [px, py] = POINTS[i % 2];
    const c = await clientPointOf(page, px, py, W, H);
    await page.evaluate((t) => window.__probe.arm(t), {
      cx: c.x, cy: c.y, px, py, screenWidth: W, screenHeight: H, bg,
    });
    const started = now();
    await move(px, py);
    const returned = now();
    let found = null;
    const deadline = returned + SHOW_TIMEOUT_MS;
    while (found === null && now() < deadline) {
      await sleep(5);
      found = await page.evaluate(() => window.__probe.found);
    }
    if (found === null) {
      lost++;
    } else {
      fromReturn.push(found - returned);
      fromStart.push(found - started);
    }
    await sleep(GAP_MS);
  }
  const state = await viewerState(page);
  out.mode = MODE;
  out.moves = MOVES;
  out.lost = lost;
  out.background = bg;
  out.motionToPhotonMs = summary(fromReturn);
  out.fromMoveStartMs = summary(fromStart);
  out.watching = state && state.watching;
  return out;
});
