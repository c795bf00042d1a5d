// Sightline's viewer page in headless Chromium inside network namespaces, for the network tests and benchmark
// (tests/network_adapt.rs, tests/network_bench.rs through tests/common/netview.rs). One browser per viewer, each
// launched through its namespace's wrapper; emits a receiver sample per viewer every --interval ms (see
// network_lib.mjs) until "stop" arrives on stdin. Samples add what only the gateway's page knows: its session id
// (to find the viewer's connection in the monitor), its state, and the last `network` message and any
// `fallback` message the gateway sent on the WebSocket (read from the socket's frames, independent of the page).
//
// Usage: node network_viewer.mjs --token T --viewers '[{"name":"v0","chromium":"/tmp/…/chromium-ns",
//        "base":"http://10.77.1.1:8080","screen":"1"}]' [--interval 1000]

import { args, emit, inboundVideo, launchIn, receiverSample, run, sleep, stopRequested } from './network_lib.mjs';

const a = args(['token', 'viewers']);
const viewers = JSON.parse(a.viewers);
const INTERVAL_MS = Number(a.interval || 1000);
/** The page boots in well under a second; a namespace-launched browser on a busy machine may take longer. */
const PAGE_READY_MS = 20000;

async function openViewer(v, cleanup) {
  const browser = await launchIn(v.chromium, { secureOrigins: [v.base] });
  cleanup(() => browser.close());
  const page = await browser.context.newPage();
  const net = { last: null, count: 0, fallback: null };
  page.on('websocket', (ws) =>
    ws.on('framereceived', (f) => {
      if (typeof f.payload !== 'string') return;
      try {
        const m = JSON.parse(f.payload);
        if (m.type === 'network') {
          net.last = m;
          net.count += 1;
        } else if (m.type === 'fallback') {
          net.fallback = m;
        }
      } catch {
        // not JSON: not ours to read
      }
    }),
  );
  const screen = v.screen !== undefined ? `&screen=${encodeURIComponent(v.screen)}` : '';
  await page.goto(`${v.base}/#token=${encodeURIComponent(a.token)}&e2e=1${screen}`);
  const deadline = Date.now() + PAGE_READY_MS;
  while (!(await page.evaluate(() => !!(window.sightline && window.sightline.state.session)))) {
    if (Date.now() > deadline) throw new Error(`${v.name}: the viewer page did not get a session within ${PAGE_READY_MS} ms`);
    await sleep(50);
  }
  await page.evaluate(() => window.sightline.measureLatency(true));
  return { v, page, net };
}

async function sample(o) {
  const [stats, state, latency] = await o.page.evaluate(async () => {
    const s = window.sightline;
    const lat = s.latencySamples();
    s.clearLatency();
    return [await s.rtcStats(), s.state, lat];
  });
  return receiverSample(o.v.name, inboundVideo(stats), latency, {
    session: state.session,
    watching: state.watching,
    phase: state.phase,
    connected: state.connected,
    network: o.net.last,
    networkMessages: o.net.count,
    fallback: o.net.fallback,
  });
}

run(async (cleanup) => {
  const open = [];
  for (const v of viewers) open.push(await openViewer(v, cleanup));
  emit({ event: 'started', viewers: open.map((o) => ({ name: o.v.name })) });
  let stopped = false;
  const stop = stopRequested().then(() => {
    stopped = true;
  });
  let next = Date.now();
  while (!stopped) {
    for (const o of open) emit(await sample(o));
    next += INTERVAL_MS;
    await Promise.race([sleep(Math.max(0, next - Date.now())), stop]);
  }
  return { viewers: open.length };
});
