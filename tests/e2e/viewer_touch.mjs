// The viewer's touch, keyboard, cursor and clipboard features on a phone (390×844, touch and mobile emulation) in
// headless Chromium against a real gateway on the synthetic screen (WebRTC over loopback, e2e hook).
//
// Pinch (two CDP touch points) to 4×, then a tap lands on the intended remote pixel (echo row A); double tap
// zooms out and in; trackpad mode moves the pointer relatively from the last `cursor` message and taps click at
// the pointer; Shift latch + "a" from the on-screen keyboard types "A"; a double-tapped (locked) Ctrl stays down
// across two keys (the commands sent, and the echo's key count); a locked Shift types "BC"; an IME composition
// is typed once; the cursor overlay (messages injected through the e2e hook) sits on the right pixel at 4×; a
// remote clipboard message reaches the browser clipboard; a paste sets the remote clipboard (a `clipboard`
// command, not typing) and Ctrl+V is not sent by the keydown itself.
//
// Usage: node viewer_touch.mjs --base URL --token TOKEN --width W --height H --shots DIR

import {
  args, barcodes, clientPointOf, launch, pinchOut, run, sleep, touchDriver, viewerState, waitFor, waitForEcho,
} from './chromium.mjs';

const a = args(['base', 'token', 'width', 'height', 'shots']);
const W = Number(a.width);
const H = Number(a.height);

run(async (out, cleanup) => {
  const browser = await launch({
    contextOptions: { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 3 },
  });
  cleanup(() => browser.close());
  const origin = new URL(a.base).origin;
  await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin }).catch((e) => {
    out.permissionError = e.message;
  });
  const page = await browser.context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${a.base}/#token=${encodeURIComponent(a.token)}&e2e=1`);
  await waitFor('a live picture', async () => {
    const s = await viewerState(page);
    return s && s.connected && s.picture && s.watching === 'webrtc';
  }, { timeoutMs: 15000 });
  await sleep(300);
  const { cdp, touches } = await touchDriver(page);
  const S = (name, fn) => page.evaluate(fn, name);
  const zoom = () => page.evaluate(() => window.sightline.zoom());
  const rect = () => page.evaluate(() => window.sightline.contentRect());
  const commands = () => page.evaluate(() => window.sightline.commands());
  /** The remote pixel shown at client point (x, y). */
  const pixelAt = async (x, y) => {
    const r = await rect();
    return { x: Math.floor(((x - r.left) / r.width) * W), y: Math.floor(((y - r.top) / r.height) * H) };
  };
  const tol = async () => Math.max(1, Math.ceil(W / (await rect()).width));
  const near = (p, q, t) => Math.abs(p.x - q.x) <= t && Math.abs(p.y - q.y) <= t;

  // --- pinch to 4×, then a tap lands on the remote pixel it was aimed at -------------------------------------
  await pinchOut(page, touches);
  const z1 = await zoom();
  const before = await waitForEcho(page, 'readable echo rows', () => true);
  const aim = await pixelAt(150, 300);
  const p = await clientPointOf(page, aim.x, aim.y, W, H);
  await page.touchscreen.tap(p.x, p.y);
  const tapped = await waitForEcho(page, 'the zoomed tap in the echo row', (b) => b.echoA.presses === before.echoA.presses + 1);
  out.pinch = {
    zoom: z1,
    target: aim,
    pointer: { x: tapped.echoA.pointerX, y: tapped.echoA.pointerY },
    tolerance: await tol(),
    screenPxPerCssPx: W / p.rect.width,
  };
  await page.screenshot({ path: `${a.shots}/viewer-touch-zoomed.png` });

  // --- the cursor overlay at 4× (messages injected through the e2e hook: no gateway sends them yet) ----------
  const png = await page.evaluate(() => {
    const cv = document.createElement('canvas');
    cv.width = 12;
    cv.height = 20;
    const g = cv.getContext('2d');
    g.fillStyle = '#fff';
    g.fillRect(0, 0, 12, 20);
    g.fillStyle = '#f00';
    g.fillRect(2, 3, 1, 1);
    return cv.toDataURL('image/png');
  });
  const cur = { x: aim.x + 3, y: aim.y - 2 };
  out.cursor = await page.evaluate(
    ({ png, cur, W, H }) => {
      const s = window.sightline;
      s.inject({ type: 'cursor_image', screen: '0', serial: 5, width: 12, height: 20, hot_x: 2, hot_y: 3, screen_width: W, screen_height: H, image: png });
      s.inject({ type: 'cursor', screen: '0', x: (cur.x + 0.5) / W, y: (cur.y + 0.5) / H, visible: true, serial: 5 });
      const shown = s.cursor();
      const img = document.getElementById('cursor-img').getBoundingClientRect();
      s.inject({ type: 'cursor', screen: '0', x: 0.5, y: 0.5, visible: false, serial: 5 });
      const hidden = s.cursor();
      return { shown, img: { left: img.left, top: img.top, width: img.width, height: img.height }, hidden, imgHidden: document.getElementById('cursor-img').hidden };
    },
    { png, cur, W, H },
  );
  const cp = await clientPointOf(page, cur.x, cur.y, W, H);
  out.cursor.expected = { left: cp.x, top: cp.y, width: (12 * cp.rect.width) / W };
  // A mouse over the picture: the shape becomes the CSS cursor and the overlay hides; outside, it shows again.
  await page.evaluate(() => window.sightline.inject({ type: 'cursor', screen: '0', x: 0.5, y: 0.5, visible: true, serial: 5 }));
  await page.mouse.move(cp.x + 20, cp.y + 20);
  await sleep(100);
  out.cursor.mouseOver = await page.evaluate(() => window.sightline.cursor());
  await page.mouse.move(20, 20); // the bar
  await sleep(100);
  out.cursor.mouseOut = await page.evaluate(() => window.sightline.cursor());

  // --- double tap: out to 1×, in to 2.5× around the tapped point, out again ----------------------------------
  const dbl = async (x, y) => {
    await page.touchscreen.tap(x, y);
    await sleep(60);
    await page.touchscreen.tap(x, y);
    await sleep(150);
    return zoom();
  };
  const zOut = await dbl(200, 300);
  const r1 = await rect();
  const dp = { x: r1.left + r1.width * 0.4, y: r1.top + r1.height * 0.5 };
  const pixelBefore = await pixelAt(dp.x, dp.y);
  const zIn = await dbl(dp.x, dp.y);
  const pixelAfter = await pixelAt(dp.x, dp.y);
  const zOut2 = await dbl(dp.x, dp.y);
  out.doubleTap = { out: zOut.scale, in: zIn.scale, outAgain: zOut2.scale, pixelBefore, pixelAfter };

  // --- trackpad mode --------------------------------------------------------------------------------------------
  await page.evaluate(() => window.sightline.inject({ type: 'cursor', screen: '0', x: 0.25, y: 0.25, visible: true }));
  await page.tap('#btn-trackpad');
  const mode = await page.evaluate(() => ({
    pressed: document.getElementById('btn-trackpad').getAttribute('aria-pressed'),
    stored: localStorage.getItem('sightline.touchMode'),
    touch: window.sightline.touch(),
  }));
  const r2 = await rect();
  const from = { x: r2.left + r2.width * 0.8, y: r2.top + r2.height * 0.8 };
  await touches('touchStart', [from]);
  const padStart = (await page.evaluate(() => window.sightline.touch())).pointer; // set from the last `cursor`
  for (let i = 1; i <= 12; i++) {
    await touches('touchMove', [{ x: from.x - 5 * i, y: from.y - 2 * i }]);
    await sleep(16);
  }
  await touches('touchEnd', []);
  const pad = (await page.evaluate(() => window.sightline.touch())).pointer;
  const padPx = { x: Math.round(pad.x * W - 0.5), y: Math.round(pad.y * H - 0.5) };
  const moved = await waitForEcho(page, 'the trackpad move in the echo row', (b) => near({ x: b.echoA.pointerX, y: b.echoA.pointerY }, padPx, 1));
  const touched = await pixelAt(from.x - 60, from.y - 24);
  const presses0 = moved.echoA.presses;
  await page.touchscreen.tap(from.x, from.y); // a tap clicks at the pointer, not where the finger is
  const clicked = await waitForEcho(page, 'the trackpad tap', (b) => b.echoA.presses === presses0 + 1);
  out.trackpad = {
    mode,
    injected: { x: Math.round(0.25 * W - 0.5), y: Math.round(0.25 * H - 0.5) },
    start: { x: Math.round(padStart.x * W - 0.5), y: Math.round(padStart.y * H - 0.5) },
    pointer: padPx,
    echo: { x: moved.echoA.pointerX, y: moved.echoA.pointerY },
    touchedEnd: touched,
    click: { x: clicked.echoA.pointerX, y: clicked.echoA.pointerY },
  };
  await page.tap('#btn-trackpad'); // back to direct touch
  out.trackpad.modeAfter = await page.evaluate(() => localStorage.getItem('sightline.touchMode'));

  // --- keys: Shift latch, Ctrl lock, Shift lock, IME -------------------------------------------------------
  const b0 = await barcodes(page);
  await page.evaluate(() => document.getElementById('stage').focus());
  for (let i = 0; i < b0.echoB.chars; i++) await page.keyboard.press('Backspace');
  await waitForEcho(page, 'an empty typed buffer', (b) => b.echoB.chars === 0);
  await page.tap('#btn-keyboard');
  const hash = (t) => page.evaluate((s) => window.sightline.fnv1a32(s), t);
  let typed = '';
  const expectTyped = async (what, add) => {
    typed += add;
    const h = await hash(typed);
    return waitForEcho(page, what, (b) => b.echoB.hash === h && b.echoB.chars === [...typed].length).then(
      (b) => ({ ok: true, keyPresses: b.echoB.keyPresses }),
      async (e) => ({ ok: false, error: e.message, echo: (await barcodes(page)).echoB, expected: typed }),
    );
  };
  await page.tap('#keybar [data-mod="ShiftLeft"]');
  const shiftLatched = await page.evaluate(() => window.sightline.modifiers().ShiftLeft);
  await page.keyboard.type('a');
  const shifted = await expectTyped('Shift latch + a = A', 'A');
  await page.keyboard.type('a');
  const unshifted = await expectTyped('the latch is used up', 'a');
  out.shift = { latched: shiftLatched, shifted, unshifted, after: await page.evaluate(() => window.sightline.modifiers().ShiftLeft) };

  // Ctrl: a double tap locks it; it stays down across two keys and one tap releases it.
  const k0 = (await barcodes(page)).echoB.keyPresses;
  const n0 = (await commands()).length;
  await page.tap('#keybar [data-mod="ControlLeft"]');
  await page.tap('#keybar [data-mod="ControlLeft"]');
  const lockedAttr = await page.evaluate(() => {
    const b = document.querySelector('#keybar [data-mod="ControlLeft"]');
    return { pressed: b.getAttribute('aria-pressed'), locked: b.hasAttribute('data-locked'), state: window.sightline.modifiers().ControlLeft };
  });
  await page.keyboard.type('x');
  await page.tap('#keybar [data-key="Tab"]');
  const stillLocked = await page.evaluate(() => window.sightline.modifiers().ControlLeft);
  const keysEcho = await waitForEcho(page, 'Ctrl down + X + Tab', (b) => b.echoB.keyPresses >= k0 + 3).catch(() => barcodes(page));
  await sleep(300);
  const keyPressesLocked = (await barcodes(page)).echoB.keyPresses - k0;
  await page.tap('#keybar [data-mod="ControlLeft"]');
  await sleep(200);
  const sent = (await commands()).slice(n0).filter((c) => c.type === 'key').map((c) => `${c.action} ${c.code}`);
  out.ctrlLock = {
    attr: lockedAttr,
    stillLocked,
    keyPressesLocked,
    echoKeyPresses: keysEcho.echoB.keyPresses - k0,
    sent,
    after: await page.evaluate(() => {
      const b = document.querySelector('#keybar [data-mod="ControlLeft"]');
      return { pressed: b.getAttribute('aria-pressed'), locked: b.hasAttribute('data-locked'), state: window.sightline.modifiers().ControlLeft };
    }),
  };
  typed += 'x\t'; // the synthetic echo types the letter of Ctrl+X (it ignores Ctrl), and Tab as a tab

  // Shift locked: two letters, both capitals (the echo honours a held Shift).
  await page.tap('#keybar [data-mod="ShiftLeft"]');
  await page.tap('#keybar [data-mod="ShiftLeft"]');
  await page.keyboard.type('bc');
  const shiftLock = await expectTyped('locked Shift types BC', 'BC');
  await page.tap('#keybar [data-mod="ShiftLeft"]');
  out.shiftLock = { typed: shiftLock, after: await page.evaluate(() => window.sightline.modifiers().ShiftLeft) };

  // IME: a composition is not sent while it runs, then once as text.
  const nIme = (await commands()).length;
  await cdp.send('Input.imeSetComposition', { text: 'にほ', selectionStart: 2, selectionEnd: 2 });
  await cdp.send('Input.imeSetComposition', { text: 'にほん', selectionStart: 3, selectionEnd: 3 });
  await sleep(100);
  const during = (await commands()).slice(nIme).length;
  await cdp.send('Input.insertText', { text: '日本' });
  const ime = await expectTyped('the IME text, once', '日本');
  await sleep(200);
  out.ime = { sentDuring: during, typed: ime, texts: (await commands()).slice(nIme).filter((c) => c.type === 'text').map((c) => c.text) };
  await page.screenshot({ path: `${a.shots}/viewer-touch-keys.png` });
  await page.tap('#btn-keyboard');

  // --- clipboard -------------------------------------------------------------------------------------------
  await page.evaluate(() =>
    window.sightline.inject({ type: 'clipboard', selection: 'clipboard', mime: 'text/plain', text: 'from the remote', bytes: 15 }),
  );
  await sleep(300);
  out.clipboardIn = await page.evaluate(async () => {
    const last = window.sightline.clipboard();
    let local = null;
    try {
      local = await navigator.clipboard.readText();
    } catch (e) {
      local = `unreadable: ${e.message}`;
    }
    return { last, local, offerShown: !document.getElementById('clip-offer').hidden };
  });
  // A paste in the page: a `clipboard` command (not `text`), then Ctrl+V once the gateway acknowledged it.
  const nPaste = (await commands()).length;
  await page.evaluate(() => {
    const stage = document.getElementById('stage');
    stage.focus();
    const dt = new DataTransfer();
    dt.setData('text/plain', 'pasted here');
    stage.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
  });
  await sleep(800);
  // The local Ctrl+V: Ctrl goes down, V does not (the browser's paste sends the clipboard instead).
  await page.keyboard.press('Control+KeyV');
  await sleep(800);
  const toast = () => page.evaluate(() => (document.getElementById('toast').hidden ? null : document.getElementById('toast').textContent));
  const describe = (c) =>
    c.type === 'key' ? `${c.action} ${c.code}` : c.type === 'clipboard' ? (c.text !== undefined ? `clipboard ${c.text}` : `clipboard ${c.mime}`) : c.type;
  out.paste = { sent: (await commands()).slice(nPaste).map(describe), toast: await toast() };

  // Over the default [clipboard] max_bytes (128 KiB): the gateway refuses, the page says so and pastes nothing.
  const nBig = (await commands()).length;
  await page.evaluate(() => {
    const dt = new DataTransfer();
    dt.setData('text/plain', 'y'.repeat(140000));
    document.getElementById('stage').dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
  });
  const bigToast = await waitFor('the refusal of a large paste', async () => {
    const t = await toast();
    return t && t.startsWith('Paste refused') ? t : false;
  }).catch((e) => `none: ${e.message}`);
  await sleep(300);
  out.pasteTooLarge = {
    toast: bigToast,
    sent: (await commands()).slice(nBig).map((c) => (c.type === 'clipboard' ? `clipboard ${[...(c.text || '')].length} chars` : describe(c))),
  };

  // An image paste: a `clipboard` command with a PNG.
  const nImg = (await commands()).length;
  await page.evaluate(async () => {
    const cv = document.createElement('canvas');
    cv.width = 8;
    cv.height = 8;
    cv.getContext('2d').fillRect(0, 0, 4, 4);
    const blob = await new Promise((r) => cv.toBlob(r, 'image/png'));
    const dt = new DataTransfer();
    dt.items.add(new File([blob], 'dot.png', { type: 'image/png' }));
    document.getElementById('stage').dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
  });
  await sleep(800);
  out.pasteImage = { sent: (await commands()).slice(nImg).map(describe) };

  // A remote clipboard too large to send: the page says so.
  await page.evaluate(() => window.sightline.inject({ type: 'clipboard', selection: 'clipboard', too_large: true, bytes: 300000 }));
  await sleep(100);
  out.tooLargeIn = { toast: await toast(), last: await page.evaluate(() => window.sightline.clipboard()) };
  out.pageErrors = errors;
  return out;
});
