// The viewer page over HTTPS: headless Chromium trusts exactly the gateway's certificate (by the SHA-256 of its
// public key, `--ignore-certificate-errors-spki-list`, so any other certificate still fails), loads the page,
// signals over wss:// and plays the H.264 stream over WebRTC.
//
// Prints one JSON line (tests/tls.rs asserts on it): the page's protocol, every WebSocket URL the page opened,
// the negotiated codec, decoded frames per second over ~2 s, page errors and insecure requests.
//
// Usage: node tls_viewer.mjs --base https://127.0.0.1:PORT --token TOKEN --spki BASE64

import { BASE_ARGS, LOOPBACK_ARGS, args, launch, run, sleep, viewerState, waitFor } from './chromium.mjs';

const a = args(['base', 'token', 'spki']);

run(async (out, cleanup) => {
  const browser = await launch({
    args: [...BASE_ARGS, ...LOOPBACK_ARGS, `--ignore-certificate-errors-spki-list=${a.spki}`],
  });
  cleanup(() => browser.close());
  const page = await browser.context.newPage();
  const errors = [];
  const sockets = [];
  const insecure = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('websocket', (ws) => sockets.push(ws.url()));
  page.on('request', (r) => {
    const u = r.url();
    if (u.startsWith('http:') || u.startsWith('ws:')) insecure.push(u);
  });

  await page.goto(`${a.base}/#token=${encodeURIComponent(a.token)}&e2e=1`);
  out.protocol = await page.evaluate(() => location.protocol);
  await waitFor('a live WebRTC picture over HTTPS', async () => {
    const s = await viewerState(page);
    return s && s.watching === 'webrtc' && s.connected && s.picture;
  }, { timeoutMs: 20000 });

  const inbound = async () => {
    const stats = await page.evaluate(() => window.sightline.rtcStats());
    const rtp = stats.find((s) => s.type === 'inbound-rtp' && s.kind === 'video');
    const codec = rtp && stats.find((s) => s.id === rtp.codecId);
    return { rtp, codec };
  };
  await waitFor('inbound video stats with a codec', async () => (await inbound()).codec, { timeoutMs: 5000 });
  const first = await inbound();
  await sleep(2000);
  const second = await inbound();
  out.codec = first.codec.mimeType;
  out.fps = ((second.rtp.framesDecoded - first.rtp.framesDecoded) * 1000) / (second.rtp.timestamp - first.rtp.timestamp);
  out.frameSize = `${second.rtp.frameWidth}x${second.rtp.frameHeight}`;
  out.webSockets = sockets;
  out.insecureRequests = insecure;
  out.pageErrors = errors;
  return out;
});
