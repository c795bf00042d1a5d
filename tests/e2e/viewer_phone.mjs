// The viewer on a phone: portrait 390×844 and landscape 844×390, touch and mobile emulation, in headless
// Chromium against a real gateway on the synthetic screen (WebRTC over loopback, e2e hook).
//
// For each orientation: no horizontal scroll, every toolbar control inside the viewport and at least 36 px
// tall, the picture fits inside the stage, a tap lands as a click where it was tapped (echo row A), and the
// on-screen keyboard button types text (echo row B) with a special-key bar (Ctrl latch, Esc) beside it.
// Screenshots go to --shots for people to look at.
//
// Usage: node viewer_phone.mjs --base URL --token TOKEN --width W --height H --shots DIR

import { args, barcodes, clientPointOf, launch, run, sleep, viewerState, waitFor, waitForEcho } from './chromium.mjs';

const a = args(['base', 'token', 'width', 'height', 'shots']);
const W = Number(a.width);
const H = Number(a.height);

const ORIENTATIONS = [
  { name: 'portrait', viewport: { width: 390, height: 844 } },
  { name: 'landscape', viewport: { width: 844, height: 390 } },
];

run(async (out, cleanup) => {
  for (const o of ORIENTATIONS) {
    const browser = await launch({
      contextOptions: { viewport: o.viewport, isMobile: true, hasTouch: true, deviceScaleFactor: 3 },
    });
    cleanup(() => browser.close());
    const page = await browser.context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${a.base}/#token=${encodeURIComponent(a.token)}&e2e=1`);
    await waitFor(`a live picture (${o.name})`, async () => {
      const s = await viewerState(page);
      return s && s.connected && s.picture && s.watching === 'webrtc';
    }, { timeoutMs: 15000 });
    await sleep(300); // let the layout settle after the first frame
    const r = { viewport: o.viewport };

    r.layout = await page.evaluate(() => {
      const vw = window.innerWidth;
      const vh = window.innerHeight;
      const box = (el) => {
        const b = el.getBoundingClientRect();
        return { left: b.left, top: b.top, right: b.right, bottom: b.bottom, width: b.width, height: b.height };
      };
      const controls = [...document.querySelectorAll('.tools .tool')]
        .filter((b) => !b.hidden && getComputedStyle(b).display !== 'none')
        .map((b) => ({ id: b.id, ...box(b) }));
      return {
        innerWidth: vw,
        innerHeight: vh,
        scrollWidth: document.documentElement.scrollWidth,
        scrollHeight: document.documentElement.scrollHeight,
        bar: box(document.getElementById('bar')),
        stage: box(document.getElementById('stage')),
        picture: window.sightline.contentRect(),
        controls,
      };
    });

    // A tap where the picture shows screen pixel `target`.
    const before = await waitForEcho(page, 'readable echo rows', () => true);
    const target = { x: Math.round(W * 0.55), y: Math.round(H * 0.5) };
    const p = await clientPointOf(page, target.x, target.y, W, H);
    await page.touchscreen.tap(p.x, p.y);
    const tapped = await waitForEcho(page, `the tap in the echo row (${o.name})`, (b) => b.echoA.presses === before.echoA.presses + 1);
    r.tap = {
      target,
      pointer: { x: tapped.echoA.pointerX, y: tapped.echoA.pointerY },
      pressesBefore: before.echoA.presses,
      pressesAfter: tapped.echoA.presses,
      // One CSS pixel covers this many screen pixels: the precision a finger can ask for.
      screenPxPerCssPx: W / p.rect.width,
    };

    // The on-screen keyboard: its button focuses the hidden input; typed characters go out as text.
    r.keyboardButtonVisible = await page.isVisible('#btn-keyboard');
    if (r.keyboardButtonVisible) {
      const word = `${o.name.slice(0, 4)} ok`;
      for (let i = 0; i < tapped.echoB.chars; i++) await page.keyboard.press('Backspace'); // goes to the stage
      await page.tap('#btn-keyboard');
      r.oskFocused = await page.evaluate(() => document.activeElement && document.activeElement.id === 'osk');
      await page.keyboard.type(word, { delay: 20 });
      const hash = await page.evaluate((t) => window.sightline.fnv1a32(t), word);
      const typed = await waitForEcho(page, `the on-screen keyboard text (${o.name})`, (b) => b.echoB.hash === hash).catch(async (e) => {
        r.typedError = e.message;
        return barcodes(page);
      });
      r.typed = { word, expectedHash: hash, hash: typed.echoB.hash, chars: typed.echoB.chars };

      // The special-key bar: Ctrl latches, the next letter becomes Ctrl+letter (key presses, not text), Esc is
      // a key press, and tapping the bar keeps the phone's keyboard open (focus stays in the hidden input).
      r.keybarVisible = await page.isVisible('#keybar');
      const k0 = typed.echoB.keyPresses;
      await page.tap('#keybar [data-mod="ControlLeft"]');
      const latched = (await page.getAttribute('#keybar [data-mod="ControlLeft"]', 'aria-pressed')) === 'true';
      await page.keyboard.type('c');
      await page.tap('#keybar [data-key="Escape"]');
      const keys = await waitForEcho(page, `the key bar's keys (${o.name})`, (b) => b.echoB.keyPresses >= k0 + 3).catch(async (e) => {
        r.keybarError = e.message;
        return barcodes(page);
      });
      r.keybar = {
        ctrlLatched: latched,
        ctrlReleasedAfterUse: (await page.getAttribute('#keybar [data-mod="ControlLeft"]', 'aria-pressed')) === 'false',
        keyPressesDelta: keys.echoB.keyPresses - k0,
        oskStillFocused: await page.evaluate(() => document.activeElement && document.activeElement.id === 'osk'),
      };
      await sleep(150);
      if (o.name === 'portrait') await page.screenshot({ path: `${a.shots}/viewer-phone-keyboard.png` });
      await page.tap('#btn-keyboard'); // closes the keyboard and the bar again
      r.keybarHiddenAgain = await page.isHidden('#keybar');
    }
    await sleep(200);
    await page.screenshot({ path: `${a.shots}/viewer-phone-${o.name}.png` });
    r.pageErrors = errors;
    out[o.name] = r;
    await browser.close();
  }
  return out;
});
