// Shared helpers of the browser tests: headless Chromium through playwright-core, arguments, results.
//
// Loopback WebRTC (docs/VIEWER.md, /work/shared/docs/ENVIRONMENT.md): Chromium gathers 127.0.0.1 candidates only
// with `--allow-loopback-in-peer-connection` plus fake media flags AND after one getUserMedia call in the page;
// the viewer makes that call when its fragment has `e2e=1`. `launch({ loopback: false })` leaves the flags out,
// which is how the fallback test makes ICE fail.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.SIGHTLINE_CHROMIUM || '/usr/bin/chromium';

export const BASE_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-features=Translate,MediaRouter',
  // Timers and rendering of a page must not slow down because headless has no visible window.
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
];

export const LOOPBACK_ARGS = [
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  '--allow-loopback-in-peer-connection',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
];

/**
 * Launches Chromium with a fresh profile. Returns {context, close}. `contextOptions` go to
 * launchPersistentContext (viewport, isMobile, hasTouch, deviceScaleFactor…); `executablePath` and `args` replace
 * the defaults (the network tests start Chromium through a namespace wrapper with their own flags).
 */
export async function launch({ loopback = true, contextOptions = {}, executablePath = CHROMIUM, args } = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'sightline-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args: args || (loopback ? [...BASE_ARGS, ...LOOPBACK_ARGS] : BASE_ARGS),
      viewport: { width: 1280, height: 800 },
      ...contextOptions,
    });
  } catch (e) {
    rmSync(profile, { recursive: true, force: true });
    throw new Error(`cannot start Chromium at ${executablePath} (scripts/install-deps.sh --test installs it): ${e.message}`);
  }
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** `--name value` pairs of process.argv as an object; `required` names must be present. */
export function args(required = []) {
  const out = {};
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i++) {
    if (!a[i].startsWith('--')) throw new Error(`unexpected argument ${a[i]}`);
    out[a[i].slice(2)] = a[i + 1];
    i += 1;
  }
  for (const r of required) if (out[r] === undefined) throw new Error(`missing --${r}`);
  return out;
}

/** Polls `fn` (async, returns a truthy value when done) every `everyMs` until `timeoutMs`; throws `what` on timeout. */
export async function waitFor(what, fn, { timeoutMs = 10000, everyMs = 50 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      const detail = last instanceof Error ? `: ${last.message}` : last !== undefined ? ` (last: ${JSON.stringify(last)})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The page's diagnostics state (window.sightline.state). */
export function viewerState(page) {
  return page.evaluate(() => window.sightline && window.sightline.state);
}

/** Reads the synthetic screen's barcodes from what the page shows (video or JPEG canvas). */
export function barcodes(page) {
  return page.evaluate(() => window.sightline.readBarcodes());
}

/** Client coordinates of the centre of screen pixel (px, py), via the page's content rectangle. */
export async function clientPointOf(page, px, py, screenW, screenH) {
  const r = await page.evaluate(() => window.sightline.contentRect());
  if (!r) throw new Error('the page shows no picture yet');
  return { x: r.left + ((px + 0.5) * r.width) / screenW, y: r.top + ((py + 0.5) * r.height) / screenH, rect: r };
}

/** Waits until the echo rows satisfy `pred(echo)`; returns the echo. */
export function waitForEcho(page, what, pred, timeoutMs = 5000) {
  return waitFor(
    what,
    async () => {
      const b = await barcodes(page);
      return b && b.echoA && b.echoB && pred(b) ? b : false;
    },
    { timeoutMs, everyMs: 100 },
  );
}

/**
 * Touch points through CDP (`Input.dispatchTouchEvent`): `touches(type, [{x, y}, …])` for a page with touch
 * emulation. Playwright has taps only; pinches and multi-finger gestures need this.
 */
export async function touchDriver(page) {
  const cdp = await page.context().newCDPSession(page);
  const touches = (type, points) =>
    cdp.send('Input.dispatchTouchEvent', {
      type,
      touchPoints: points.map((p, i) => ({ x: p.x, y: p.y, id: i, radiusX: 2, radiusY: 2, force: 1 })),
    });
  return { cdp, touches };
}

/** Pinches two fingers apart around the picture's centre (60 → 240 px apart: the page's zoom goes to ~4×). */
export async function pinchOut(page, touches) {
  const r = await page.evaluate(() => window.sightline.contentRect());
  const c = { x: r.left + r.width / 2, y: r.top + r.height / 2 };
  await touches('touchStart', [{ x: c.x - 30, y: c.y }, { x: c.x + 30, y: c.y }]);
  for (let i = 1; i <= 10; i++) {
    const d = 30 + 9 * i;
    await touches('touchMove', [{ x: c.x - d, y: c.y }, { x: c.x + d, y: c.y }]);
    await sleep(16);
  }
  await touches('touchEnd', []);
}

/** Runs `main`, prints its result as one JSON line; on failure prints {error, partial} and exits 1. */
export async function run(main) {
  const partial = {};
  const cleanups = [];
  try {
    const result = await main(partial, (fn) => cleanups.push(fn));
    console.log(JSON.stringify(result));
    process.exitCode = 0;
  } catch (e) {
    console.log(JSON.stringify({ error: String(e && e.stack ? e.stack : e), partial }));
    process.exitCode = 1;
  } finally {
    for (const fn of cleanups.reverse()) await fn().catch(() => {});
  }
}
