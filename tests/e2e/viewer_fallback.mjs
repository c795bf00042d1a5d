// The JPEG fallback of the viewer page (issue 4), in headless Chromium against a real gateway.
//
// --mode no-rtc       RTCPeerConnection is removed by an init script before the page runs: the page must fall
//                     back at once, draw changing JPEG frames on its canvas, carry a real click and typing over the
//                     WebSocket, and show a full-resolution "sharp still" on request.
// --mode ice-blocked  ICE can never connect: every RTCPeerConnection the page creates is forced to
//                     iceTransportPolicy "relay" and there is no TURN server, so the browser has no candidate at
//                     all (as behind a firewall that drops UDP). The page must fall back within
//                     welcome.fallback_timeout_ms, and a click on the canvas must still reach the screen. (Merely leaving out Chromium's loopback flags is not enough on
//                     Linux: it still reaches 127.0.0.1 from its eth0 socket through a peer-reflexive candidate.)
//
// Usage: node viewer_fallback.mjs --mode MODE --base URL --token TOKEN --width W --height H [--shots DIR]
// Prints one JSON line of observations; tests/browser_fallback.rs asserts on it.

import { args, barcodes, clientPointOf, launch, run, sleep, viewerState, waitFor, waitForEcho } from './chromium.mjs';

const a = args(['mode', 'base', 'token', 'width', 'height']);
const W = Number(a.width);
const H = Number(a.height);

run(async (out, cleanup) => {
  const blocked = a.mode === 'ice-blocked';
  if (!blocked && a.mode !== 'no-rtc') throw new Error(`unknown --mode ${a.mode}`);
  const browser = await launch({ loopback: false });
  cleanup(() => browser.close());
  const page = await browser.context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  if (blocked) {
    await page.addInitScript(() => {
      const Native = window.RTCPeerConnection;
      function RelayOnly(config, ...rest) {
        return new Native({ ...(config || {}), iceTransportPolicy: 'relay' }, ...rest);
      }
      RelayOnly.prototype = Native.prototype;
      RelayOnly.generateCertificate = Native.generateCertificate;
      window.RTCPeerConnection = RelayOnly;
    });
  } else {
    await page.addInitScript(() => {
      for (const name of ['RTCPeerConnection', 'webkitRTCPeerConnection']) {
        Object.defineProperty(window, name, { value: undefined, configurable: true, writable: true });
      }
    });
  }

  await page.goto(`${a.base}/#token=${encodeURIComponent(a.token)}`);

  // Fall back, and say so.
  const state = await waitFor('the JPEG fallback', async () => {
    const s = await viewerState(page);
    return s && s.watching === 'jpeg' && s.picture ? s : false;
  }, { timeoutMs: 20000, everyMs: 25 });
  const marks = await page.evaluate(() => window.sightline.marks());
  out.fallbackReason = state.fallbackReason;
  out.status = state.status;
  // From the WebRTC watch's start to the JPEG watch's start (the page's own marks, same clock).
  out.fallbackAfterMs = marks.jpegStart !== undefined && marks.webrtcStart !== undefined ? marks.jpegStart - marks.webrtcStart : null;
  out.firstJpegAfterWelcomeMs = marks.firstFrame - marks.welcome;
  out.banner = await page.evaluate(() => {
    const b = document.getElementById('banner');
    return { visible: !b.hidden && b.getBoundingClientRect().height > 0, text: b.innerText.trim().replace(/\s+/g, ' ') };
  });
  out.retryButtonVisible = await page.isVisible('#btn-retry-webrtc');
  out.hqButtonVisible = await page.isVisible('#btn-hq');
  if (a.shots) await page.screenshot({ path: `${a.shots}/viewer-fallback-${a.mode}.png` });

  // Changing frames on the canvas.
  const drawn1 = await page.evaluate(() => window.sightline.jpegFramesDrawn());
  const t1 = await waitFor('a readable top barcode on the canvas', async () => (await barcodes(page))?.time);
  await sleep(1500);
  const drawn2 = await page.evaluate(() => window.sightline.jpegFramesDrawn());
  const t2 = await waitFor('a readable top barcode on the canvas', async () => (await barcodes(page))?.time);
  out.framesDrawnIn1500ms = drawn2 - drawn1;
  out.barcodeAdvanceMs = t2 - t1;
  out.canvasSize = await page.evaluate(() => [document.getElementById('canvas').width, document.getElementById('canvas').height]);

  // A real click on the canvas, over the WebSocket (in both modes: control never depends on the transport).
  const before = await waitForEcho(page, 'readable echo rows', () => true);
  const target = { x: Math.round(W * 0.7), y: Math.round(H * 0.25) };
  const p = await clientPointOf(page, target.x, target.y, W, H);
  await page.mouse.click(p.x, p.y);
  const afterClick = await waitForEcho(page, 'the click in the echo row', (b) => b.echoA.presses === before.echoA.presses + 1);
  out.click = { target, pointer: { x: afterClick.echoA.pointerX, y: afterClick.echoA.pointerY }, pressesBefore: before.echoA.presses, pressesAfter: afterClick.echoA.presses };

  if (blocked) {
    // "Try WebRTC again" really tries: with ICE still blocked the page falls back again after the timeout.
    await page.click('#btn-retry-webrtc');
    const retried = await waitFor('WebRTC to be tried again', async () => (await viewerState(page)).watching === 'webrtc', { timeoutMs: 3000, everyMs: 20 });
    const again = await waitFor('the second fallback', async () => {
      const s = await viewerState(page);
      return s.watching === 'jpeg' && s.picture ? s : false;
    }, { timeoutMs: 15000, everyMs: 25 });
    const m2 = await page.evaluate(() => window.sightline.marks());
    out.retry = { triedWebrtc: !!retried, fellBackAgain: again.watching === 'jpeg', afterMs: m2.jpegStart - m2.webrtcStart, reason: again.fallbackReason };
    out.pageErrors = errors;
    return out;
  }

  // Typing over the WebSocket.
  for (let i = 0; i < before.echoB.chars; i++) await page.keyboard.press('Backspace');
  await page.keyboard.type('fallback ok', { delay: 15 });
  const expectedHash = await page.evaluate(() => window.sightline.fnv1a32('fallback ok'));
  const typed = await waitForEcho(page, 'the typed text in the echo row', (b) => b.echoB.hash === expectedHash).catch(async (e) => {
    out.typedError = e.message;
    return barcodes(page);
  });
  out.typed = { expectedHash, hash: typed.echoB.hash, chars: typed.echoB.chars };

  // Sharp still: full resolution, and it carries the latest echo.
  await page.click('#btn-hq');
  await waitFor('the full-resolution still', async () =>
    page.evaluate(([w, h]) => {
      const c = document.getElementById('canvas');
      return c.width === w && c.height === h;
    }, [W, H]), { timeoutMs: 5000 });
  const still = await barcodes(page);
  out.hq = { width: still.width, height: still.height, presses: still.echoA.presses, pointer: { x: still.echoA.pointerX, y: still.echoA.pointerY } };
  // While the still is shown the stream is paused: nothing new is drawn.
  const d1 = await page.evaluate(() => window.sightline.jpegFramesDrawn());
  await sleep(800);
  out.framesDrawnWhileStill = (await page.evaluate(() => window.sightline.jpegFramesDrawn())) - d1;
  out.pageErrors = errors;
  return out;
});
