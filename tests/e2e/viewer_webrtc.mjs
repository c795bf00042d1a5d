// The viewer page over WebRTC against a real gateway on the synthetic screen, in headless Chromium.
//
// Checks (the Rust side asserts on the printed JSON, see tests/browser_webrtc.rs):
// - the negotiated codec (getStats codec mimeType and fmtp),
// - frames keep being decoded (framesDecoded delta over a few seconds),
// - the picture changes (the top barcode's capture time advances),
// - a real mouse click on the video and real keyboard typing reach the synthetic screen (its echo rows, read back
//   from the decoded video): pointer position, button presses, typed-buffer length and FNV-1a hash.
//
// Usage: node viewer_webrtc.mjs --base http://127.0.0.1:PORT --token TOKEN --width 1280 --height 720
//        [--shots DIR]   (writes viewer-desktop.png there)

import { args, barcodes, clientPointOf, launch, run, sleep, viewerState, waitFor, waitForEcho } from './chromium.mjs';

const a = args(['base', 'token', 'width', 'height']);
const W = Number(a.width);
const H = Number(a.height);
// Typed key by key (DOM codes, as a person would): Playwright's type() sends each character's key without
// pressing Shift, so the shifted character is pressed explicitly with Shift held.
const TYPED_KEYS = 'hello sightline 42';
const TYPED = `${TYPED_KEYS}!`;

run(async (out, cleanup) => {
  const browser = await launch();
  cleanup(() => browser.close());
  const page = await browser.context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));

  await page.goto(`${a.base}/#token=${encodeURIComponent(a.token)}&e2e=1`);
  await waitFor('a live WebRTC picture', async () => {
    const s = await viewerState(page);
    return s && s.watching === 'webrtc' && s.connected && s.picture;
  }, { timeoutMs: 15000 });
  out.firstFrameMs = await page.evaluate(() => window.sightline.firstFrameMs());

  // Codec, as negotiated.
  const inbound = async () => {
    const stats = await page.evaluate(() => window.sightline.rtcStats());
    const rtp = stats.find((s) => s.type === 'inbound-rtp' && s.kind === 'video');
    const codec = rtp && stats.find((s) => s.id === rtp.codecId);
    return { rtp, codec };
  };
  await waitFor('inbound video stats with a codec', async () => (await inbound()).codec, { timeoutMs: 5000 });
  const first = await inbound();
  out.codec = first.codec.mimeType;
  out.fmtp = first.codec.sdpFmtpLine || '';

  // Frames keep coming: framesDecoded over ~3 s of the stats' own clock.
  await sleep(3000);
  const second = await inbound();
  out.framesDecoded = second.rtp.framesDecoded;
  out.fps = ((second.rtp.framesDecoded - first.rtp.framesDecoded) * 1000) / (second.rtp.timestamp - first.rtp.timestamp);
  out.frameSize = `${second.rtp.frameWidth}x${second.rtp.frameHeight}`;

  // The picture changes: two barcode readings a second apart.
  const t1 = (await waitFor('a readable top barcode', async () => (await barcodes(page))?.time)) ;
  await sleep(1000);
  const t2 = await waitFor('a readable top barcode', async () => (await barcodes(page))?.time);
  out.barcodeAdvanceMs = t2 - t1;

  // A real click on the video.
  const before = await waitForEcho(page, 'readable echo rows', () => true);
  const target = { x: Math.round(W * 0.3125), y: Math.round(H * 0.4167) };
  const p = await clientPointOf(page, target.x, target.y, W, H);
  await page.mouse.click(p.x, p.y);
  const afterClick = await waitForEcho(page, 'the click in the echo row', (b) => b.echoA.presses === before.echoA.presses + 1);
  out.click = {
    target,
    clientPoint: { x: p.x, y: p.y },
    pointer: { x: afterClick.echoA.pointerX, y: afterClick.echoA.pointerY },
    pressesBefore: before.echoA.presses,
    pressesAfter: afterClick.echoA.presses,
  };

  // Real typing: the click focused the stage, so keys go to the remote.
  out.focused = await page.evaluate(() => document.activeElement && document.activeElement.id);
  // Empty the typed buffer first (a gateway that already saw typing), so its hash is the hash of TYPED alone.
  for (let i = 0; i < before.echoB.chars; i++) await page.keyboard.press('Backspace');
  await page.keyboard.type(TYPED_KEYS, { delay: 15 });
  await page.keyboard.press('Shift+Digit1');
  const expectedHash = await page.evaluate((t) => window.sightline.fnv1a32(t), TYPED);
  let typed;
  try {
    typed = await waitForEcho(page, 'the typed text in the echo row', (b) => b.echoB.hash === expectedHash, 5000);
  } catch (e) {
    typed = await barcodes(page);
    out.typedError = e.message;
  }
  out.typed = {
    text: TYPED,
    expectedHash,
    expectedChars: [...TYPED].length,
    hash: typed.echoB.hash,
    chars: typed.echoB.chars,
    keyPresses: typed.echoB.keyPresses,
  };
  out.dataChannelOpen = (await viewerState(page)).dataChannelOpen;
  out.pageErrors = errors;
  if (a.shots) {
    await page.evaluate(() => document.activeElement && document.activeElement.blur());
    await page.screenshot({ path: `${a.shots}/viewer-desktop.png` });
  }
  return out;
});
