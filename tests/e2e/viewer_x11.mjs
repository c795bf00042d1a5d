// The viewer page on a phone (390×844, touch emulation) against a real gateway capturing a real Xvfb: the pointer
// overlay and the clipboard as the X server sees them.
// 1. The overlay follows the X pointer (moved by xdotool) to the right client pixel; moving only the pointer
//    decodes no new delta frames (inbound-rtp framesDecoded − keyFramesDecoded: a keyframe the congestion
//    controller's tier switch or a PLI asks for may come at any time) while the overlay moves.
// 2. A cursor shape change on the X server (an xterm's I-beam under the pointer) reaches the page as a new
//    overlay image (serial and src change).
// 3. Pinch-zoomed to ~4×, a tap lands on the aimed X pixel (`xdotool getmouselocation`).
// 4. Setting the X clipboard from an X client (xclip) reaches the page and the browser clipboard; a paste in the
//    page sets the X clipboard (read back with xclip).
//
// Usage: node viewer_x11.mjs --base URL --token TOKEN --display :N [--width 1920 --height 1080]

import { execFileSync, spawn } from 'node:child_process';
import { args, clientPointOf, launch, pinchOut, run, sleep, touchDriver, viewerState, waitFor } from './chromium.mjs';

const a = args(['base', 'token', 'display']);
const W = Number(a.width || 1920);
const H = Number(a.height || 1080);
const env = { ...process.env, DISPLAY: a.display };
const x = (cmd, argv, input) => execFileSync(cmd, argv, { env, input, stdio: ['pipe', 'pipe', 'ignore'] }).toString();

function mouseLocation() {
  const m = /x:(\d+) y:(\d+)/.exec(x('xdotool', ['getmouselocation']));
  return { x: Number(m[1]), y: Number(m[2]) };
}

run(async (out, cleanup) => {
  const browser = await launch({
    contextOptions: { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 3 },
  });
  cleanup(() => browser.close());
  await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(a.base).origin });
  const page = await browser.context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${a.base}/#token=${encodeURIComponent(a.token)}&e2e=1`);
  await waitFor('a live WebRTC picture', async () => {
    const s = await viewerState(page);
    return s && s.picture && s.watching === 'webrtc';
  }, { timeoutMs: 20000 });
  const cursor = () => page.evaluate(() => window.sightline.cursor());
  const decoded = () =>
    page.evaluate(async () => {
      const all = (await window.sightline.rtcStats()) || [];
      const v = all.find((r) => r.type === 'inbound-rtp' && r.kind === 'video');
      return v ? { frames: v.framesDecoded, keyframes: v.keyFramesDecoded } : null;
    });

  // --- 1. the overlay follows the X pointer; pointer-only motion decodes nothing new ---------------------------
  x('xdotool', ['mousemove', '500', '400']);
  const target = await clientPointOf(page, 500, 400, W, H);
  out.follow = await waitFor('the overlay at the X pointer', async () => {
    const c = await cursor();
    return c && c.visible && Math.abs(c.left - target.x) < 1.5 && Math.abs(c.top - target.y) < 1.5 ? c : false;
  }, { timeoutMs: 5000 });
  out.follow.expected = { left: target.x, top: target.y };
  await sleep(1500); // the picture settles
  const framesBefore = await decoded();
  let draws = 0;
  let last = null;
  for (let i = 0; i < 30; i++) {
    x('xdotool', ['mousemove', String(300 + 20 * i), String(300 + 10 * i)]);
    await sleep(50);
    const c = await cursor();
    if (c && c.at !== last) draws++;
    last = c && c.at;
  }
  await sleep(500);
  const framesAfter = await decoded();
  out.pointerOnly = {
    framesDecoded: framesAfter.frames - framesBefore.frames,
    keyframesDecoded: framesAfter.keyframes - framesBefore.keyframes,
    overlayDraws: draws,
  };

  // --- 2. a new shape: an xterm's I-beam under the pointer -------------------------------------------------
  const before = await cursor();
  const srcBefore = await page.evaluate(() => document.getElementById('cursor-img').src);
  const xterm = spawn('xterm', ['-geometry', '40x12+1200+600'], { env, stdio: 'ignore' });
  cleanup(async () => xterm.kill());
  let i = 0;
  out.shape = await waitFor('a new cursor shape over the xterm', async () => {
    x('xdotool', ['mousemove', String(1350 + (i++ % 2)), '700']);
    const c = await cursor();
    const src = await page.evaluate(() => document.getElementById('cursor-img').src);
    return c && c.serial !== before.serial && src !== srcBefore ? { before: before.serial, after: c.serial, srcChanged: true } : false;
  }, { timeoutMs: 8000, everyMs: 150 });
  xterm.kill();

  // --- 3. pinch to ~4×, then a tap lands on the aimed X pixel ------------------------------------------------
  const { touches } = await touchDriver(page);
  await pinchOut(page, touches);
  await sleep(200);
  const r1 = await page.evaluate(() => window.sightline.contentRect());
  // Aim at the remote pixel under client point (150, 300), then tap its centre.
  const aim = { x: Math.floor(((150 - r1.left) / r1.width) * W), y: Math.floor(((300 - r1.top) / r1.height) * H) };
  const p = await clientPointOf(page, aim.x, aim.y, W, H);
  await page.touchscreen.tap(p.x, p.y);
  const landed = await waitFor('the tap at the aimed X pixel', async () => {
    const m = mouseLocation();
    return m.x !== 1350 && m.x !== 1351 ? m : false;
  }, { timeoutMs: 3000 });
  out.pinch = { zoom: await page.evaluate(() => window.sightline.zoom()), aim, landed, screenPxPerCssPx: W / r1.width };

  // --- 4. the clipboard both ways ----------------------------------------------------------------------------
  // xclip forks and serves the selection: its stdout must not be a pipe we wait on.
  execFileSync('xclip', ['-selection', 'clipboard', '-i'], { env, input: 'copied on X ✓', stdio: ['pipe', 'ignore', 'ignore'] });
  out.clipboardIn = await waitFor('the X clipboard in the page', async () => {
    const c = await page.evaluate(() => window.sightline.clipboard());
    return c && c.text === 'copied on X ✓' ? c : false;
  }, { timeoutMs: 5000 });
  out.clipboardIn.local = await page.evaluate(() => navigator.clipboard.readText().catch((e) => `unreadable: ${e.message}`));
  await page.evaluate(() => {
    const stage = document.getElementById('stage');
    stage.focus();
    const dt = new DataTransfer();
    dt.setData('text/plain', 'pasted in the page ✓');
    stage.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
  });
  out.clipboardOut = await waitFor('the paste on the X clipboard', async () => {
    const t = x('xclip', ['-o', '-selection', 'clipboard']);
    return t === 'pasted in the page ✓' ? t : false;
  }, { timeoutMs: 5000 });
  out.pageErrors = errors;
  return out;
});
