// The hub's viewer page on remote screens (issue 15, tests/fleet.rs): for each device screen in turn, headless
// Chromium opens the HUB's page with `#screen=<device id>/<screen>`, checks the WebRTC picture is H.264 and keeps
// decoding at the device's size, reads the device's synthetic input echo from the decoded video, clicks a point
// and waits for the click in the echo (pointer position and one more button press). The echo read BEFORE each
// click says what the earlier clicks (on other devices) did to this device: nothing, if input went to the right one.
//
// Usage: node fleet_viewer.mjs --base http://127.0.0.1:PORT --token TOKEN
//          --screens '[{"screen":"<id>/0","width":1280,"height":720,"target":{"x":400,"y":300}}, …]'
// Prints one JSON line: {screens: [{screen, codec, fmtp, frameSize, fps, watching, before, after, pointer, …}]}.

import { args, barcodes, clientPointOf, launch, run, sleep, viewerState, waitFor, waitForEcho } from './chromium.mjs';

const a = args(['base', 'token', 'screens']);
const screens = JSON.parse(a.screens);

async function inbound(page) {
  const stats = await page.evaluate(() => window.sightline.rtcStats());
  const rtp = stats.find((s) => s.type === 'inbound-rtp' && s.kind === 'video');
  const codec = rtp && stats.find((s) => s.id === rtp.codecId);
  return { rtp, codec };
}

async function watchAndClick(context, s) {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const r = { screen: s.screen, errors };
  try {
    await page.goto(`${a.base}/#token=${encodeURIComponent(a.token)}&e2e=1&screen=${encodeURIComponent(s.screen)}`);
    await waitFor(`a live WebRTC picture of ${s.screen}`, async () => {
      const st = await viewerState(page);
      return st && st.watching === 'webrtc' && st.connected && st.picture;
    }, { timeoutMs: 20000 });
    r.selected = (await viewerState(page)).screen;
    await waitFor('inbound video stats with a codec', async () => (await inbound(page)).codec, { timeoutMs: 5000 });
    const first = await inbound(page);
    r.codec = first.codec.mimeType;
    r.fmtp = first.codec.sdpFmtpLine || '';
    await sleep(3000);
    const second = await inbound(page);
    r.fps = ((second.rtp.framesDecoded - first.rtp.framesDecoded) * 1000) / (second.rtp.timestamp - first.rtp.timestamp);
    r.framesDecoded = second.rtp.framesDecoded;
    r.frameSize = `${second.rtp.frameWidth}x${second.rtp.frameHeight}`;
    const t1 = (await waitFor('a readable top barcode', async () => (await barcodes(page))?.time));
    await sleep(1000);
    const t2 = await waitFor('a readable top barcode', async () => (await barcodes(page))?.time);
    r.barcodeAdvanceMs = t2 - t1;

    const before = await waitForEcho(page, 'readable echo rows', () => true);
    r.before = { presses: before.echoA.presses, x: before.echoA.pointerX, y: before.echoA.pointerY };
    const p = await clientPointOf(page, s.target.x, s.target.y, s.width, s.height);
    await page.mouse.click(p.x, p.y);
    const after = await waitForEcho(page, 'the click in the echo row', (b) => b.echoA.presses === before.echoA.presses + 1, 8000);
    r.after = { presses: after.echoA.presses, x: after.echoA.pointerX, y: after.echoA.pointerY };
    r.target = s.target;
    const st = await viewerState(page);
    r.watching = st.watching;
    r.dataChannelOpen = st.dataChannelOpen;
  } catch (e) {
    r.error = String(e && e.stack ? e.stack : e);
    r.state = await viewerState(page).catch(() => null);
    // What the page sent and showed, for the failure message: the click's commands, any toast or notice.
    const rtpNow = async () => {
      const { rtp } = await inbound(page).catch(() => ({}));
      if (!rtp) return null;
      const keys = ['framesReceived', 'framesDecoded', 'framesDropped', 'keyFramesDecoded', 'pliCount', 'firCount', 'nackCount', 'packetsLost', 'packetsReceived', 'freezeCount', 'totalFreezesDuration', 'frameWidth'];
      return Object.fromEntries(keys.map((k) => [k, rtp[k]]));
    };
    r.rtpAtFailure = await rtpNow();
    await sleep(1000);
    r.rtpOneSecondLater = await rtpNow();
    r.commands = await page.evaluate(() => window.sightline.commands().slice(-12)).catch(() => null);
    r.notices = await page.evaluate(() => [...document.querySelectorAll('[role=status], [role=alert], .toast, .notice')].map((e) => e.textContent.trim()).filter(Boolean)).catch(() => null);
  }
  await page.close();
  return r;
}

run(async (out, cleanup) => {
  const browser = await launch();
  cleanup(() => browser.close());
  out.screens = [];
  for (const s of screens) out.screens.push(await watchAndClick(browser.context, s));
  return out;
});
