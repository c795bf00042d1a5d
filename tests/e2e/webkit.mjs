// The viewer page in a WebKit engine (issue 13): Debian's WebKitGTK (MiniBrowser) driven through WebKitWebDriver
// with the W3C WebDriver HTTP protocol, against a real gateway. tests/webkit.rs starts Xvfb, the driver and the
// gateway and asserts on what this script prints.
//
// WebKitGTK as Debian builds it may or may not have WebRTC (docs/VIEWER.md: 2.50 has none: RTCPeerConnection is
// missing even with `--enable-webrtc=true`). The script records what the engine offers, then follows the page:
// - WebRTC present: the page must play H.264 (watching 'webrtc', a picture, the video's size) and a click must
//   reach the synthetic screen's echo;
// - WebRTC absent: the page must fall back to JPEG over the WebSocket by itself (watching 'jpeg', a picture,
//   frames advancing) and a click must reach the echo.
// In both cases: the `<video>` carries what iOS Safari needs (playsinline, muted, autoplay), and the page raises
// no uncaught error and no unhandled rejection.
//
// Usage: node webkit.mjs --driver URL --browser PATH --base URL --token TOKEN --width W --height H
// Prints one JSON line of observations.

import { args, run, sleep, waitFor } from './chromium.mjs';

const a = args(['driver', 'browser', 'base', 'token', 'width', 'height']);
const W = Number(a.width);
const H = Number(a.height);
/** Each WebDriver command's own bound (the driver answers in milliseconds; page loads take longer). */
const COMMAND_TIMEOUT_MS = 20000;
const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';

/** A minimal W3C WebDriver client over fetch: one session. */
class WebDriver {
  constructor(url) {
    this.url = url.replace(/\/$/, '');
    this.session = null;
  }

  async cmd(method, path, body) {
    const url = `${this.url}${path.replace('{s}', this.session || '')}`;
    const res = await fetch(url, {
      method,
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(COMMAND_TIMEOUT_MS),
    });
    const text = await res.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      throw new Error(`WebDriver ${method} ${path}: HTTP ${res.status}, not JSON: ${text.slice(0, 300)}`);
    }
    if (!res.ok || (json.value && json.value.error)) {
      const v = json.value || {};
      throw new Error(`WebDriver ${method} ${path}: ${v.error || res.status}: ${v.message || text.slice(0, 300)}`);
    }
    return json.value;
  }

  async start(capabilities) {
    const v = await this.cmd('POST', '/session', { capabilities: { alwaysMatch: capabilities } });
    this.session = v.sessionId;
    return v.capabilities;
  }

  /** Runs `fn` (a function, serialised) in the page with `args`; returns its (JSON) result. */
  exec(fn, ...args) {
    return this.cmd('POST', '/session/{s}/execute/sync', { script: `return (${fn}).apply(null, arguments);`, args });
  }

  /** Like exec, for an async function. */
  execAsync(fn, ...args) {
    const script = `const done = arguments[arguments.length - 1];
      Promise.resolve((${fn}).apply(null, Array.prototype.slice.call(arguments, 0, -1)))
        .then((v) => done({ ok: v }), (e) => done({ err: String(e && e.message || e) }));`;
    return this.cmd('POST', '/session/{s}/execute/async', { script, args }).then((r) => {
      if (r && r.err !== undefined) throw new Error(r.err);
      return r ? r.ok : r;
    });
  }

  /** A left click at viewport coordinates (CSS pixels) through the Actions API: a real input event. */
  async click(x, y) {
    await this.cmd('POST', '/session/{s}/actions', {
      actions: [
        {
          type: 'pointer',
          id: 'mouse',
          parameters: { pointerType: 'mouse' },
          actions: [
            { type: 'pointerMove', duration: 0, origin: 'viewport', x: Math.round(x), y: Math.round(y) },
            { type: 'pointerDown', button: 0 },
            { type: 'pause', duration: 30 },
            { type: 'pointerUp', button: 0 },
          ],
        },
      ],
    });
    await this.cmd('DELETE', '/session/{s}/actions');
  }

  async quit() {
    if (this.session) await this.cmd('DELETE', '/session/{s}').catch(() => {});
    this.session = null;
  }
}

/** What the engine offers a viewer page (run in the page, on the gateway's origin: a secure context). */
async function probeEngine() {
  const out = {
    userAgent: navigator.userAgent,
    secureContext: window.isSecureContext,
    rtcPeerConnection: typeof RTCPeerConnection,
    rtcRtpReceiver: typeof RTCRtpReceiver,
    getUserMedia: !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia),
    mediaSource: typeof MediaSource,
    videoDecoder: typeof VideoDecoder,
    webSocket: typeof WebSocket,
    clipboardWriteText: !!(navigator.clipboard && navigator.clipboard.writeText),
    clipboardRead: !!(navigator.clipboard && navigator.clipboard.read),
    visualViewport: !!window.visualViewport,
    requestVideoFrameCallback: typeof HTMLVideoElement.prototype.requestVideoFrameCallback,
    canPlayMp4H264: document.createElement('video').canPlayType('video/mp4; codecs="avc1.42E01F"'),
    h264ReceiveCodecs: null,
    webCodecsH264: null,
  };
  if (typeof RTCRtpReceiver !== 'undefined' && RTCRtpReceiver.getCapabilities) {
    const caps = RTCRtpReceiver.getCapabilities('video');
    out.h264ReceiveCodecs = caps ? caps.codecs.filter((c) => /h264/i.test(c.mimeType)).map((c) => c.sdpFmtpLine || c.mimeType) : [];
  }
  if (typeof VideoDecoder !== 'undefined') {
    try {
      const r = await VideoDecoder.isConfigSupported({ codec: 'avc1.42e01f', codedWidth: 1280, codedHeight: 720 });
      out.webCodecsH264 = !!r.supported;
    } catch (e) {
      out.webCodecsH264 = `error: ${e.message}`;
    }
  }
  return out;
}

/** Installs collectors of uncaught errors and unhandled rejections (window.onerror's events). */
function collectErrors() {
  if (window.__sightlineErrors) return;
  window.__sightlineErrors = [];
  window.addEventListener('error', (e) => window.__sightlineErrors.push(`error: ${e.message} at ${e.filename}:${e.lineno}`));
  window.addEventListener('unhandledrejection', (e) => window.__sightlineErrors.push(`unhandled rejection: ${e.reason}`));
}

run(async (out, cleanup) => {
  const wd = new WebDriver(a.driver);
  cleanup(() => wd.quit());
  const caps = await wd.start({
    'webkitgtk:browserOptions': {
      binary: a.browser,
      // WebRTC and media capture on where the build has them, so a build with WebRTC is tested with it; console
      // messages go to the browser's stdout (the test prints them: load-time errors show there).
      args: ['--automation', '--enable-webrtc=true', '--enable-media-stream=true', '--enable-write-console-messages-to-stdout=true'],
    },
  });
  out.browser = { name: caps.browserName, version: caps.browserVersion };
  await wd.cmd('POST', '/session/{s}/window/rect', { width: 1280, height: 800 }).catch((e) => (out.windowRectError = e.message));

  const t0 = Date.now();
  await wd.cmd('POST', '/session/{s}/url', { url: `${a.base}/#token=${encodeURIComponent(a.token)}&e2e=1` });
  await wd.exec(collectErrors);
  out.engine = await wd.execAsync(probeEngine);
  out.webrtcPossible = out.engine.rtcPeerConnection === 'function' && (out.engine.h264ReceiveCodecs || []).length > 0;

  // What iOS Safari needs of the video element and the viewport, as WebKit sees the DOM.
  out.video = await wd.exec(() => {
    const v = document.getElementById('video');
    const meta = document.querySelector('meta[name=viewport]');
    return {
      playsInline: v.playsInline,
      muted: v.muted,
      autoplay: v.autoplay,
      playsinlineAttr: v.hasAttribute('playsinline'),
      viewport: meta && meta.content,
    };
  });

  const state = () => wd.exec(() => window.sightline && window.sightline.state);
  const want = out.webrtcPossible ? 'webrtc' : 'jpeg';
  out.state = await waitFor(`the page to show a picture over ${want}`, async () => {
    const s = await state();
    return s && s.watching === want && s.picture ? s : false;
  }, { timeoutMs: 20000, everyMs: 50 });
  out.pictureAfterMs = Date.now() - t0;

  const barcodes = () => wd.exec(() => window.sightline.readBarcodes());
  const shown = () => wd.exec(() => {
    const v = document.getElementById('video');
    const c = document.getElementById('canvas');
    return {
      video: [v.videoWidth, v.videoHeight],
      canvas: [c.width, c.height],
      presented: window.sightline.framesPresented(),
      jpegDrawn: window.sightline.jpegFramesDrawn(),
    };
  });

  // Frames advancing: the synthetic screen's clock barcode moves and the page draws new frames.
  const s1 = await shown();
  const t1 = await waitFor('a readable clock barcode', async () => (await barcodes())?.time);
  await sleep(1500);
  const s2 = await shown();
  const t2 = await waitFor('a readable clock barcode', async () => (await barcodes())?.time);
  out.shown = s2;
  out.framesIn1500ms = want === 'jpeg' ? s2.jpegDrawn - s1.jpegDrawn : s2.presented - s1.presented;
  out.barcodeAdvanceMs = t2 - t1;
  if (want === 'webrtc') out.rtcStats = await wd.execAsync(() => window.sightline.rtcStats()).catch((e) => `error: ${e.message}`);

  // A real click (WebDriver actions → WebKit input events → the page → the gateway → the synthetic screen).
  const echo = (what, pred) => waitFor(what, async () => {
    const b = await barcodes();
    return b && b.echoA && b.echoB && pred(b) ? b : false;
  }, { timeoutMs: 5000, everyMs: 100 });
  const before = await echo('readable echo rows', () => true);
  const target = { x: Math.round(W * 0.7), y: Math.round(H * 0.25) };
  const rect = await wd.exec(() => window.sightline.contentRect());
  if (!rect) throw new Error('the page has no content rectangle');
  const px = rect.left + ((target.x + 0.5) * rect.width) / W;
  const py = rect.top + ((target.y + 0.5) * rect.height) / H;
  await wd.click(px, py);
  const after = await echo('the click in the echo row', (b) => b.echoA.presses === before.echoA.presses + 1);
  out.click = {
    target,
    at: { x: px, y: py },
    rect,
    pointer: { x: after.echoA.pointerX, y: after.echoA.pointerY },
    pressesBefore: before.echoA.presses,
    pressesAfter: after.echoA.presses,
  };

  out.pageErrors = await wd.exec(() => window.__sightlineErrors);
  return out;
});
