// The benchmark's Chromium→Chromium baseline (scripts/bench-network.sh): a sender page (c2c_sender.html) in the
// gateway's namespace paints high-motion noise plus the clock barcode on a canvas and sends captureStream() over
// RTCPeerConnection to a receiver page (c2c_receiver.html) in a viewer namespace, across the same shaped link as
// sightline's viewers. Offer and answer go through this script (no signalling server); pages are served by
// request interception from tests/e2e and web/js. Emits the same receiver samples as network_viewer.mjs (see
// network_lib.mjs), plus the sender's outbound figures, until "stop" arrives on stdin.
//
// Usage: node network_c2c.mjs --sender-chromium W1 --receiver-chromium W2 --width 1280 --height 720
//        [--paint-fps 60] [--capture-fps 30] [--cell 32] [--max-kbps 4000] [--codec h264] [--interval 1000]
//        [--content-hint motion|detail|text]   (default: none, libwebrtc's own choice for a canvas track)

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { args, emit, inboundVideo, launchIn, receiverSample, run, sleep, stopRequested } from './network_lib.mjs';

const a = args(['sender-chromium', 'receiver-chromium', 'width', 'height']);
const HERE = dirname(fileURLToPath(import.meta.url));
/** A name that never resolves: every request to it is answered by `serve` below. */
const ORIGIN = 'http://c2c.sightline.invalid';
const INTERVAL_MS = Number(a.interval || 1000);
const opts = {
  width: Number(a.width),
  height: Number(a.height),
  paintFps: Number(a['paint-fps'] || 60),
  captureFps: Number(a['capture-fps'] || 30),
  cell: Number(a.cell || 32),
  maxKbps: Number(a['max-kbps'] || 4000),
  codec: a.codec || 'h264',
  contentHint: a['content-hint'] || '',
};

const FILES = {
  '/sender.html': [join(HERE, 'c2c_sender.html'), 'text/html'],
  '/receiver.html': [join(HERE, 'c2c_receiver.html'), 'text/html'],
  '/js/barcode.js': [join(HERE, '../../web/js/barcode.js'), 'text/javascript'],
};

async function serve(context) {
  await context.route(`${ORIGIN}/**`, (route) => {
    const f = FILES[new URL(route.request().url()).pathname];
    if (!f) return route.fulfill({ status: 404, body: 'not found' });
    return route.fulfill({ status: 200, contentType: f[1], body: readFileSync(f[0]) });
  });
}

function outboundVideo(stats) {
  if (!stats) return null;
  const o = stats.find((x) => x.type === 'outbound-rtp' && x.kind === 'video');
  if (!o) return null;
  const codec = stats.find((x) => x.id === o.codecId);
  const pair = stats.find((x) => x.type === 'candidate-pair' && x.nominated && x.state === 'succeeded');
  return {
    bytesSent: o.bytesSent,
    framesEncoded: o.framesEncoded,
    keyFramesEncoded: o.keyFramesEncoded,
    frameWidth: o.frameWidth,
    frameHeight: o.frameHeight,
    targetBitrate: o.targetBitrate,
    qualityLimitationReason: o.qualityLimitationReason,
    encoderImplementation: o.encoderImplementation,
    codec: codec ? codec.mimeType : null,
    availableOutgoingBitrate: pair ? pair.availableOutgoingBitrate : null,
  };
}

run(async (cleanup) => {
  const sender = await launchIn(a['sender-chromium'], { viewport: { width: opts.width, height: opts.height } });
  cleanup(() => sender.close());
  const receiver = await launchIn(a['receiver-chromium']);
  cleanup(() => receiver.close());
  await serve(sender.context);
  await serve(receiver.context);
  const sp = await sender.context.newPage();
  const rp = await receiver.context.newPage();
  await sp.goto(`${ORIGIN}/sender.html`);
  await rp.goto(`${ORIGIN}/receiver.html`);
  await sp.waitForFunction(() => !!window.c2c);
  await rp.waitForFunction(() => !!window.c2c);
  const offer = await sp.evaluate((o) => window.c2c.start(o), opts);
  const answer = await rp.evaluate(([sdp, w, h]) => window.c2c.answer(sdp, w, h), [offer.sdp, opts.width, opts.height]);
  await sp.evaluate((sdp) => window.c2c.accept(sdp), answer);
  emit({ event: 'started', viewers: [{ name: 'c2c' }], codecPreference: offer.codecPreference });
  let stopped = false;
  const stop = stopRequested().then(() => {
    stopped = true;
  });
  let next = Date.now();
  while (!stopped) {
    const [stats, latency, state] = await rp.evaluate(async () => [await window.c2c.stats(), window.c2c.takeLatency(), window.c2c.state()]);
    const [sstats, painted] = await sp.evaluate(async () => [await window.c2c.stats(), window.c2c.painted()]);
    emit(receiverSample('c2c', inboundVideo(stats), latency, { ice: state.ice, sender: { painted, ...outboundVideo(sstats) } }));
    next += INTERVAL_MS;
    await Promise.race([sleep(Math.max(0, next - Date.now())), stop]);
  }
  return { viewers: 1 };
});
