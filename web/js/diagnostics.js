// `window.sightline`: read-only diagnostics for people debugging a viewer from the console and for the browser
// tests, plus (only with `e2e=1` in the fragment) the test hooks `inject` and `commands`. Moved out of viewer.js;
// `v` is the Viewer.

import { fnv1a32, readScreen, rgbaSampler } from './barcode.js';
import { JpegWatch } from './jpeg.js';
import { WebRtcWatch } from './webrtc.js';

/** Reads the synthetic screen's barcodes from the picture on screen (full frame). */
export function readBarcodes(v) {
  const screen = v.screenSize();
  if (!screen || !v.picture) return null;
  const m = v.activeMedia();
  const w = m === v.el.video ? m.videoWidth : m.width;
  const h = m === v.el.video ? m.videoHeight : m.height;
  const c = document.createElement('canvas');
  c.width = w;
  c.height = h;
  const ctx = c.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(m, 0, 0);
  const data = ctx.getImageData(0, 0, w, h).data;
  return { width: w, height: h, ...readScreen(rgbaSampler(data, w, h, screen.width, screen.height), screen.width, screen.height) };
}

/** The read-only `window.sightline` object (docs/VIEWER.md, "Diagnostics"); with `e2e=1` also the test hooks. */
export function diagnostics(v) {
  return {
    get state() {
      const w = v.watch;
      return {
        phase: v.phase,
        status: v.el.statusText.textContent,
        role: v.role,
        session: v.welcome ? v.welcome.session : null,
        screen: v.screen,
        mode: v.mode,
        watching: w instanceof WebRtcWatch ? 'webrtc' : w instanceof JpegWatch ? 'jpeg' : null,
        connected: w instanceof WebRtcWatch ? w.everConnected : w instanceof JpegWatch ? v.picture : false,
        picture: v.picture,
        fallbackReason: v.fallbackReason,
        dataChannelOpen: w instanceof WebRtcWatch && !!w.dc && w.dc.readyState === 'open',
      };
    },
    marks: () => ({ ...v.marks, ...(v.watch instanceof WebRtcWatch ? v.watch.marks : {}) }),
    firstFrameMs: () => v.firstFrameMs(),
    framesPresented: () => v.frames.frames,
    jpegFramesDrawn: () => (v.watch instanceof JpegWatch ? v.watch.drawn : 0),
    latencySamples: () => v.frames.record.values(),
    clearLatency: () => v.frames.record.clear(),
    measureLatency: (on) => (v.frames.decodeBarcode = !!on),
    rtcStats: async () => (v.watch instanceof WebRtcWatch ? v.watch.stats() : null),
    network: () => (v.network ? { ...v.network.msg, ageMs: performance.now() - v.network.at } : null),
    contentRect: () => v.contentRect(),
    receiverSettings: () => {
      const r = v.watch instanceof WebRtcWatch ? v.watch.receiver : null;
      return r ? { jitterBufferTarget: r.jitterBufferTarget, playoutDelayHint: r.playoutDelayHint } : null;
    },
    readBarcodes: () => readBarcodes(v),
    fnv1a32,
    /** The cursor overlay's last draw: {visible, left, top (client px of the hot spot), serial, at (epoch ms)}. */
    cursor: () => (v.cursor.lastDraw ? { ...v.cursor.lastDraw, cssCursor: v.el.stage.style.cursor || null } : null),
    /** The last `clipboard` message handled: {kind, text?, data?, mime, bytes, written, at}. */
    clipboard: () => (v.clipboard.lastReceived ? { ...v.clipboard.lastReceived } : null),
    /** The zoom view {scale, tx, ty} (stage px). */
    zoom: () => ({ ...v.stageView.view }),
    /** The touch mode and the trackpad's pointer (normalised) */
    touch: () => ({ mode: v.input.mode, pointer: v.input.pad ? { ...v.input.pad } : null }),
    /** The key bar's modifiers: {code: 'latched' | 'locked'}. */
    modifiers: () => Object.fromEntries(['ShiftLeft', 'ControlLeft', 'AltLeft', 'MetaLeft'].map((c) => [c, v.input.mods.stateOf(c)])),
    ...(v.options.e2e
      ? {
          /** Test hook: handles `msg` as if the gateway had sent it. */
          inject: (msg) => v.onMessage(msg),
          /** Test hook: the commands this page sent (the last 500), with `at` (performance.now()). */
          commands: () => v.e2eCommands.map((c) => ({ ...c })),
        }
      : {}),
  };
}
