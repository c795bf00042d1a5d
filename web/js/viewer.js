// The viewer page: connects to the gateway, watches a screen over WebRTC (JPEG when WebRTC cannot work), sends
// input, and shows status, statistics and agent activity.
//
// Parts: Signaling (socket + reconnect) → one watch at a time (WebRtcWatch or JpegWatch) → the stage (video or
// canvas) with InputController, AgentOverlay and FrameTimer on top. This file is the glue and the UI: it decides
// which watch runs, what the user is told, and exposes a read-only `window.sightline` for diagnostics and tests.

import { fnv1a32, readScreen, rgbaSampler } from './barcode.js';
import { bitrate as formatBitrate } from './format.js';
import { contentRect, parseObjectPosition } from './geometry.js';
import { InputController } from './input.js';
import { JpegWatch } from './jpeg.js';
import { FrameTimer } from './latency.js';
import { fragmentWithoutToken, parseFragment, storeToken, storedToken } from './options.js';
import { AgentOverlay } from './overlay.js';
import { Signaling } from './signaling.js';
import { networkRows, rawRtcStats, rtcRates } from './stats.js';
import { WebRtcWatch, webrtcUnsupportedReason } from './webrtc.js';

/** Default when the welcome message has no fallback_timeout_ms (the protocol's default). */
const DEFAULT_FALLBACK_MS = 5000;
/** An established WebRTC connection that breaks is retried this many times before falling back to JPEG. */
const WEBRTC_RETRIES = 2;
/** Statistics refresh period. */
const STATS_PERIOD_MS = 1000;

const $ = (id) => document.getElementById(id);

class Viewer {
  constructor() {
    this.options = parseFragment(location.hash);
    this.el = {
      app: $('app'),
      select: $('screen-select'),
      status: $('status'),
      statusText: $('status-text'),
      role: $('role-badge'),
      stage: $('stage'),
      video: $('video'),
      canvas: $('canvas'),
      agents: $('agent-layer'),
      banner: $('banner'),
      bannerText: $('banner-text'),
      stats: $('stats'),
      statsList: $('stats-list'),
      notice: $('notice'),
      noticeTitle: $('notice-title'),
      noticeText: $('notice-text'),
      noticeActions: $('notice-actions'),
      tokenForm: $('token-form'),
      tokenOverlay: $('token-overlay'),
      tokenInput: $('token-input'),
      tokenError: $('token-error'),
      hint: $('capture-hint'),
      toast: $('toast'),
      osk: $('osk'),
      btnHq: $('btn-hq'),
      btnRetry: $('btn-retry-webrtc'),
      btnBannerRetry: $('banner-retry'),
      btnBannerClose: $('banner-close'),
      btnKeyboard: $('btn-keyboard'),
      keybar: $('keybar'),
      btnStats: $('btn-stats'),
      btnFullscreen: $('btn-fullscreen'),
    };
    this.token = null;
    this.signaling = null;
    this.welcome = null;
    this.role = null;
    this.screen = null;
    this.mode = this.options.transport === 'jpeg' ? 'jpeg' : 'webrtc';
    this.forcedJpeg = this.options.transport === 'jpeg';
    this.fallbackReason = null;
    this.watch = null; // WebRtcWatch | JpegWatch
    this.watchSeq = 0; // bumped by every watch change; a change that waited on a barrier checks it is still the latest
    this.watchedOnSocket = false; // whether this socket already carried a watch (then changes need a barrier)
    this.draining = false; // between two watches: messages of the old one are dropped
    this.watchStartedAt = 0;
    this.webrtcFailures = 0;
    this.picture = false; // something is on screen
    this.phase = 'connecting';
    this.marks = {};
    this.statsTimer = null;
    this.prevRaw = null;
    this.rates = null;
    this.network = null; // the gateway's latest `network` message and when it came: {msg, at}
    this.e2eDone = false;
    this.hintSeen = false;
    this.countdown = null;
    this.toastTimer = null;
    this.frames = new FrameTimer({ video: this.el.video, screenSize: () => this.screenSize() });
    this.frames.addEventListener('firstframe', (e) => this.onFirstFrame(e.detail));
    this.overlay = new AgentOverlay({ layer: this.el.agents, rect: () => this.contentRect() });
    this.input = new InputController({
      stage: this.el.stage,
      rect: () => this.contentRect(),
      send: (cmd) => this.sendCommand(cmd),
      enabled: () => this.canControl() && this.watch !== null,
      osk: this.el.osk,
      onStickyChange: (mods) => {
        for (const b of this.el.keybar.querySelectorAll('[data-mod]')) b.setAttribute('aria-pressed', String(mods.has(b.dataset.mod)));
      },
    });
  }

  // --- start-up ----------------------------------------------------------------------------------------------

  boot() {
    if (this.options.token) {
      storeToken(this.options.token);
      // Keep the other options in the address bar, but not the secret.
      history.replaceState(null, '', location.pathname + location.search + fragmentWithoutToken(location.hash));
    }
    this.token = this.options.token || storedToken();
    this.bindUi();
    this.input.attach();
    if (this.options.stats) this.toggleStats(true);
    if (this.options.e2e || this.options.debug) this.frames.decodeBarcode = true;
    this.frames.start();
    if (this.token) this.connect();
    else this.showTokenForm(null);
  }

  bindUi() {
    const el = this.el;
    el.select.addEventListener('change', () => this.switchScreen(el.select.value));
    el.btnHq.addEventListener('click', () => this.requestHq());
    el.btnRetry.addEventListener('click', () => this.retryWebrtc());
    el.btnBannerRetry.addEventListener('click', () => this.retryWebrtc());
    el.btnBannerClose.addEventListener('click', () => (el.banner.hidden = true));
    el.btnKeyboard.addEventListener('click', () => this.toggleKeyboard());
    // Key-bar buttons must not take the focus from the hidden input (that would close the phone's keyboard):
    // cancel the focus change on press and act on release.
    for (const type of ['pointerdown', 'mousedown']) el.keybar.addEventListener(type, (e) => e.preventDefault());
    el.keybar.addEventListener('click', (e) => {
      const b = e.target.closest('button');
      if (b) this.input.specialKey({ key: b.dataset.key, mod: b.dataset.mod });
    });
    el.btnStats.addEventListener('click', () => this.toggleStats());
    el.btnFullscreen.addEventListener('click', () => this.toggleFullscreen());
    document.addEventListener('fullscreenchange', () => {
      el.app.classList.toggle('is-fullscreen', !!document.fullscreenElement);
      el.btnFullscreen.setAttribute('aria-pressed', String(!!document.fullscreenElement));
    });
    el.tokenForm.addEventListener('submit', (e) => {
      e.preventDefault();
      const t = el.tokenInput.value.trim();
      if (!t) return;
      this.token = t;
      storeToken(t);
      el.tokenOverlay.hidden = true;
      this.connect();
    });
    el.stage.addEventListener('focus', () => {
      el.app.classList.add('captured');
      el.hint.hidden = true;
    });
    el.stage.addEventListener('blur', () => el.app.classList.remove('captured'));
    const touch = matchMedia('(pointer: coarse)').matches || navigator.maxTouchPoints > 0;
    el.app.classList.toggle('touch', touch);
    // Android Chrome resizes the page for its keyboard (interactive-widget=resizes-content in the viewport
    // meta); iOS Safari overlays it. There, the visual viewport says how much of the page the keyboard hides.
    if (window.visualViewport) {
      const overlap = () => {
        const vv = window.visualViewport;
        const hidden = Math.max(0, window.innerHeight - (vv.height + vv.offsetTop));
        el.app.style.setProperty('--keyboard-overlap', `${Math.round(hidden)}px`);
      };
      window.visualViewport.addEventListener('resize', overlap);
      window.visualViewport.addEventListener('scroll', overlap);
    }
    el.video.addEventListener('resize', () => this.layoutChanged());
    window.addEventListener('resize', () => this.layoutChanged());
  }

  async connect() {
    if (this.options.e2e && !this.e2eDone) {
      // Test hook (docs/VIEWER.md): with Chromium's fake camera, one getUserMedia call makes it gather loopback
      // ICE candidates, which headless tests on 127.0.0.1 need. Never used by real viewers.
      this.e2eDone = true;
      try {
        const s = await navigator.mediaDevices.getUserMedia({ video: true });
        s.getTracks().forEach((t) => t.stop());
      } catch (e) {
        console.warn('sightline: e2e getUserMedia failed', e);
      }
    }
    if (this.signaling) this.signaling.stop();
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const sig = new Signaling({ url: `${scheme}://${location.host}/ws`, token: this.token });
    this.signaling = sig;
    sig.addEventListener('connecting', (e) => this.onConnecting(e.detail));
    sig.addEventListener('welcome', (e) => this.onWelcome(e.detail));
    sig.addEventListener('message', (e) => this.onMessage(e.detail));
    sig.addEventListener('binary', (e) => this.onBinary(e.detail));
    sig.addEventListener('closed', (e) => this.onClosed(e.detail));
    this.marks = { connectStart: performance.now() };
    sig.start();
  }

  // --- signaling events --------------------------------------------------------------------------------------

  onConnecting({ attempt }) {
    clearInterval(this.countdown);
    if (attempt > 1) this.setStatus('warn', 'Reconnecting…');
    else this.setStatus('warn', 'Connecting…');
    if (!this.marks.socketCreated) this.marks.socketCreated = performance.now();
  }

  onWelcome(msg) {
    this.debug('←', msg);
    this.welcome = msg;
    this.role = msg.role;
    this.watchedOnSocket = false;
    this.marks.welcome = performance.now();
    this.hideNotice();
    this.el.tokenOverlay.hidden = true;
    this.el.role.hidden = this.canControl();
    this.el.app.classList.toggle('view-only', !this.canControl());
    this.el.hint.hidden = !this.canControl() || this.el.app.classList.contains('touch') || this.hintSeen;
    this.hintSeen = true;
    const screens = Array.isArray(msg.screens) ? msg.screens : [];
    this.fillScreens(screens);
    if (screens.length === 0) {
      this.setStatus('bad', 'No screens');
      this.showNotice('Nothing to show', 'This gateway has no screens to share right now.', [
        ['Check again', () => this.reconnect()],
      ]);
      return;
    }
    const wanted = this.screen || this.options.screen;
    let pick = screens.find((s) => s.id === wanted);
    if (!pick && wanted && wanted === this.options.screen && !this.screen) {
      this.toast(`Screen “${wanted}” does not exist; showing the main screen.`);
    }
    pick = pick || screens.find((s) => s.primary) || screens[0];
    this.screen = pick.id;
    this.el.select.value = pick.id;
    this.startWatch();
  }

  onMessage(msg) {
    this.debug('←', msg);
    if (this.draining && ['offer', 'candidate', 'frame', 'stopped', 'network', 'fallback'].includes(msg.type)) return;
    if (this.watch && this.watch.handle(msg)) return;
    switch (msg.type) {
      case 'stopped':
        this.onStopped(msg);
        break;
      case 'error':
        this.onError(msg);
        break;
      case 'agent':
        if (!msg.screen || msg.screen === this.screen) this.overlay.show(msg);
        break;
      case 'network':
        this.network = { msg, at: performance.now() };
        break;
      case 'fallback':
        // The gateway saw the path cannot carry even its lowest video tier (docs/PROTOCOL.md).
        if (this.mode === 'webrtc' && (!msg.screen || msg.screen === this.screen)) {
          this.fallBack(msg.reason || 'the network is too slow for video');
        }
        break;
      case 'ack':
      case 'offer':
      case 'candidate':
      case 'frame':
        break; // replies to commands, or leftovers of a watch that was just replaced
      default:
        break; // unknown server messages are ignored (docs/PROTOCOL.md)
    }
  }

  onBinary(data) {
    if (!this.draining && this.watch instanceof JpegWatch) this.watch.handleBinary(data);
  }

  onClosed({ code, reason, fatal, retryInMs }) {
    this.closeWatch();
    this.welcome = null;
    if (fatal === 'unauthorized') {
      storeToken(null);
      this.setStatus('bad', 'Not signed in');
      this.showTokenForm('The gateway did not accept this token. Check it and try again.');
      return;
    }
    if (fatal === 'kicked') {
      this.setStatus('bad', 'Session ended');
      this.showNotice('Session ended', 'An administrator ended this session.', [['Reconnect', () => this.reconnect()]]);
      return;
    }
    const why = code === 1001 ? 'The gateway is restarting' : 'The gateway is unreachable';
    const retryAt = performance.now() + retryInMs;
    this.showNotice(why, '', [['Retry now', () => this.signaling && this.signaling.retryNow()]]);
    const tick = () => {
      const secs = Math.max(0, Math.ceil((retryAt - performance.now()) / 1000));
      this.setStatus('bad', secs > 0 ? `Offline · retrying in ${secs} s` : 'Reconnecting…');
      this.el.noticeText.textContent =
        secs > 0 ? `Reconnecting in ${secs} s${reason ? ` (${reason})` : ''}. The picture comes back by itself.` : 'Reconnecting…';
    };
    tick();
    clearInterval(this.countdown);
    this.countdown = setInterval(() => {
      tick();
      if (performance.now() >= retryAt) clearInterval(this.countdown);
    }, 250);
  }

  onStopped(msg) {
    if (msg.screen && msg.screen !== this.screen) return;
    const w = this.watch;
    if (w instanceof WebRtcWatch && !w.everConnected) {
      this.fallBack(`WebRTC did not connect (${msg.reason || 'stopped by the gateway'})`);
      return;
    }
    this.closeWatch();
    this.setStatus('bad', 'Stream stopped');
    this.showNotice('The stream stopped', msg.reason ? capitalise(msg.reason) : 'The gateway ended the stream.', [
      ['Watch again', () => this.startWatch()],
    ]);
  }

  onError(msg) {
    const text = msg.message || msg.code;
    const starting = this.watch && !this.picture;
    if (msg.code === 'unknown_screen') {
      this.closeWatch();
      this.setStatus('bad', 'Screen unavailable');
      this.showNotice('Screen unavailable', `Screen “${this.screen}” is not available any more.`, [
        ['Refresh screens', () => this.reconnect(true)],
      ]);
      return;
    }
    if (this.watch instanceof JpegWatch && msg.id && this.watch.hqFailed(msg.id)) {
      this.toast(`No sharp still: ${text}`);
      return;
    }
    if (msg.code === 'rate_limited') {
      // Over the gateway's message budget (docs/SECURITY.md): a refused watch is asked again once it would pass;
      // refused input is dropped (the next move or key is the user's intent anyway).
      if (starting) {
        clearTimeout(this.rateLimitRetry);
        this.rateLimitRetry = setTimeout(() => this.startWatch(), Math.min(msg.retry_after_ms || 1000, 10000));
      } else {
        this.toast(`Slow down: ${text}`);
      }
      return;
    }
    if (starting && (msg.code === 'failed' || msg.code === 'bad_value' || msg.code === 'busy')) {
      if (this.watch instanceof WebRtcWatch) {
        this.fallBack(`the gateway could not start WebRTC (${text})`);
        return;
      }
      this.closeWatch();
      this.setStatus('bad', 'Stream failed');
      this.showNotice('The stream could not start', text, [['Try again', () => this.startWatch()]]);
      return;
    }
    if (msg.code === 'forbidden') {
      this.toast('This session is view-only: input is not sent.');
      return;
    }
    console.warn('sightline: gateway error', msg);
  }

  // --- watches -----------------------------------------------------------------------------------------------

  startWatch() {
    this.hideNotice();
    if (this.mode === 'jpeg') this.startJpeg();
    else this.startWebrtc();
  }

  /**
   * Ends the current watch and, when this socket already carried one, waits until the gateway has flushed what
   * it sent for it (Signaling.barrier). Resolves to false when the change is obsolete: the socket closed or a
   * later change started meanwhile.
   */
  async changeWatch() {
    const seq = ++this.watchSeq;
    this.closeWatch();
    if (!this.watchedOnSocket || !this.signaling) {
      this.watchedOnSocket = true;
      return true;
    }
    this.draining = true;
    const flushed = await this.signaling.barrier();
    if (seq !== this.watchSeq) return false;
    this.draining = false;
    return flushed;
  }

  async startWebrtc() {
    const unsupported = webrtcUnsupportedReason();
    if (unsupported) {
      this.fallBack(unsupported);
      return;
    }
    this.mode = 'webrtc';
    this.setStatus('warn', 'Connecting WebRTC…');
    if (!(await this.changeWatch())) return;
    const timeoutMs = Number(this.welcome && this.welcome.fallback_timeout_ms) || DEFAULT_FALLBACK_MS;
    const w = new WebRtcWatch({
      send: (m) => this.send(m),
      screen: this.screen,
      iceServers: (this.welcome && this.welcome.ice_servers) || [],
      timeoutMs,
    });
    this.watch = w;
    w.addEventListener('track', (e) => {
      if (this.watch !== w) return;
      this.el.video.srcObject = e.detail;
      this.el.video.play().catch(() => {
        // Autoplay of a muted video is always allowed; a refusal here means the element was replaced.
      });
    });
    w.addEventListener('connected', () => {
      if (this.watch !== w) return;
      this.marks.iceConnected = performance.now();
      this.webrtcFailures = 0;
      this.setStatus('ok', liveStatus(w));
    });
    w.addEventListener('state', (e) => {
      if (this.watch !== w || !w.everConnected) return;
      if (e.detail.connection === 'disconnected') this.setStatus('warn', 'Connection unstable…');
      else if (e.detail.connection === 'connected') this.setStatus('ok', liveStatus(w));
    });
    w.addEventListener('failed', (e) => {
      if (this.watch !== w) return;
      const { reason, fallback } = e.detail;
      this.watch = null;
      if (fallback || ++this.webrtcFailures > WEBRTC_RETRIES) this.fallBack(reason);
      else {
        this.setStatus('warn', 'Reconnecting WebRTC…');
        this.startWebrtc();
      }
    });
    w.addEventListener('moved', (e) => {
      if (this.watch !== w) return;
      const { path, sfu, reason } = e.detail;
      const to = path === 'sfu' ? `SFU ${sfu || ''}`.trim() : 'the gateway';
      this.toast(`Reconnecting the picture through ${to}${reason ? `: ${reason}` : ''}`);
    });
    w.addEventListener('control', (e) => {
      if (e.detail && e.detail.type === 'error') this.onError(e.detail);
    });
    this.showMedia('video');
    this.frames.reset();
    this.marks.watchStart = this.marks.webrtcStart = performance.now();
    this.setStatus('warn', 'Connecting WebRTC…');
    this.updateTools();
    w.start();
  }

  fallBack(reason) {
    this.fallbackReason = reason;
    this.mode = 'jpeg';
    this.startJpeg();
  }

  async startJpeg() {
    this.mode = 'jpeg';
    if (!(await this.changeWatch())) return;
    const j = new JpegWatch({ send: (m) => this.send(m), screen: this.screen, canvas: this.el.canvas });
    this.watch = j;
    j.addEventListener('frame', (e) => {
      if (this.watch !== j) return;
      if (!this.picture) {
        this.picture = true;
        this.marks.firstFrame = performance.now();
        this.setStatus('ok', this.fallbackReason ? 'Live · JPEG fallback' : 'Live · JPEG');
        this.layoutChanged();
      }
      if (e.detail.hq) this.el.btnHq.classList.remove('busy');
    });
    j.addEventListener('hqpending', () => this.el.btnHq.classList.add('busy'));
    j.addEventListener('hqdone', () => this.el.btnHq.classList.remove('busy'));
    this.showMedia('canvas');
    this.marks.watchStart = this.marks.jpegStart = performance.now();
    this.setStatus('warn', 'Connecting…');
    if (this.forcedJpeg && !this.fallbackReason) {
      this.showBanner('JPEG mode, as requested in the address (transport=jpeg).');
    } else if (this.fallbackReason) {
      this.showBanner(`Using the JPEG fallback: ${this.fallbackReason}.`);
    }
    this.updateTools();
    j.start();
  }

  retryWebrtc() {
    this.el.banner.hidden = true;
    this.fallbackReason = null;
    this.forcedJpeg = false;
    this.webrtcFailures = 0;
    this.mode = 'webrtc';
    if (this.welcome) this.startWebrtc();
  }

  closeWatch() {
    if (this.watch) this.watch.close();
    this.watch = null;
    this.picture = false;
    this.prevRaw = null;
    this.rates = null;
    this.network = null;
    if (this.el.video.srcObject) this.el.video.srcObject = null;
    this.input.releaseAll();
    this.updateTools();
  }

  switchScreen(id) {
    if (id === this.screen) return;
    this.screen = id;
    this.startWatch(); // a new watch replaces the current one on the gateway
  }

  reconnect(forgetScreen = false) {
    this.hideNotice();
    if (forgetScreen) this.screen = null;
    this.connect();
  }

  /** The keyboard button: the phone's keyboard plus the special-key bar, on and off together. */
  toggleKeyboard(force) {
    const open = force ?? this.el.keybar.hidden;
    this.el.keybar.hidden = !open;
    this.el.btnKeyboard.setAttribute('aria-pressed', String(open));
    if (open) this.input.openKeyboard();
    else this.input.closeKeyboard();
  }

  requestHq() {
    if (this.watch instanceof JpegWatch) this.watch.requestHq();
  }

  // --- first frame, stats ------------------------------------------------------------------------------------

  onFirstFrame(f) {
    if (!(this.watch instanceof WebRtcWatch)) return;
    this.picture = true;
    this.marks.firstFrame = f.presentedAt;
    if (this.watch.everConnected) this.setStatus('ok', liveStatus(this.watch));
    this.layoutChanged();
  }

  toggleStats(force) {
    const show = force ?? this.el.stats.hidden;
    this.el.stats.hidden = !show;
    this.el.btnStats.setAttribute('aria-pressed', String(show));
    this.frames.decodeBarcode = show || this.options.e2e || this.options.debug;
    clearInterval(this.statsTimer);
    if (show) {
      this.refreshStats();
      this.statsTimer = setInterval(() => this.refreshStats(), STATS_PERIOD_MS);
    }
  }

  async refreshStats() {
    await this.sampleStats();
    this.renderStats();
  }

  async sampleStats() {
    const w = this.watch;
    if (w instanceof WebRtcWatch) {
      const list = await w.stats().catch(() => null);
      const raw = list && rawRtcStats(list);
      if (raw && this.watch === w) {
        this.rates = { transport: 'webrtc', ...rtcRates(this.prevRaw, raw) };
        this.prevRaw = raw;
      }
    } else if (w instanceof JpegWatch) {
      const now = performance.now();
      const prev = this.prevRaw;
      const cur = { at: now, drawn: w.drawn, bytes: w.bytes };
      const dt = prev ? (now - prev.at) / 1000 : 0;
      this.rates = {
        transport: 'jpeg',
        fps: dt > 0 ? (cur.drawn - prev.drawn) / dt : undefined,
        bitrateKbps: dt > 0 ? ((cur.bytes - prev.bytes) * 8) / 1000 / dt : undefined,
        rttMs: this.signaling && this.signaling.rttMs,
        width: w.width,
        height: w.height,
        latencyMs: w.lastLatencyMs,
        framesDropped: w.dropped,
        codec: 'JPEG',
      };
      this.prevRaw = cur;
      if (this.signaling) this.signaling.ping();
    }
  }

  renderStats() {
    const r = this.rates || {};
    const rows = [];
    const fmt = (v, digits, unit) => (typeof v === 'number' && Number.isFinite(v) ? `${v.toFixed(digits)}${unit}` : '—');
    rows.push(['Transport', r.transport === 'jpeg' ? 'JPEG over WebSocket' : r.transport === 'webrtc' ? 'WebRTC' : '—']);
    rows.push(['Codec', r.codec ? `${r.codec.replace('video/', '')}${profileOf(r.fmtp)}` : '—']);
    rows.push(['Resolution', r.width && r.height ? `${r.width}×${r.height}` : '—']);
    rows.push(['Frame rate', fmt(r.fps, 1, ' fps')]);
    rows.push(['Bitrate', typeof r.bitrateKbps === 'number' ? formatBitrate(r.bitrateKbps) : '—']);
    rows.push(['Round trip', fmt(r.rttMs, 1, ' ms')]);
    if (r.transport !== 'jpeg') {
      rows.push(['Decode', fmt(r.decodeMs, 1, ' ms/frame')]);
      rows.push(['Jitter buffer', fmt(r.jitterBufferMs, 1, ' ms')]);
      const lat = this.frames.summary();
      rows.push([
        'Latency',
        lat ? `${lat.median.toFixed(0)} ms · p95 ${lat.p95.toFixed(0)}` : this.frames.supported ? '— (test screen only)' : '— (unsupported)',
      ]);
      rows.push(['Lost / dropped', `${r.packetsLost ?? '—'} pkt · ${r.framesDropped ?? '—'} fr`]);
      const n = this.network;
      rows.push(...networkRows(n && n.msg, n ? performance.now() - n.at : Infinity));
    } else {
      rows.push(['Latency', fmt(r.latencyMs, 0, ' ms')]);
      rows.push(['Dropped', `${r.framesDropped ?? 0} frames`]);
    }
    const ff = this.firstFrameMs();
    rows.push(['First frame', ff === null ? '—' : `${ff.toFixed(0)} ms`]);
    const dl = this.el.statsList;
    dl.replaceChildren();
    for (const [k, v] of rows) {
      const dt = document.createElement('dt');
      dt.textContent = k;
      const dd = document.createElement('dd');
      dd.textContent = v;
      dl.append(dt, dd);
    }
  }

  /** Time from creating the socket to the first picture on screen, in ms, or null. */
  firstFrameMs() {
    if (this.marks.firstFrame === undefined || this.marks.socketCreated === undefined) return null;
    return this.marks.firstFrame - this.marks.socketCreated;
  }

  // --- commands ----------------------------------------------------------------------------------------------

  canControl() {
    return this.role === 'control' || this.role === 'admin';
  }

  sendCommand(cmd) {
    // A sharp still stays until the user acts on the screen; merely moving the mouse over it is not acting.
    const acting = !(cmd.type === 'pointer' && cmd.action === 'move');
    if (acting && this.watch instanceof JpegWatch) this.watch.interaction();
    this.debug('→', cmd);
    if (this.watch instanceof WebRtcWatch && this.watch.sendCommand(cmd)) return;
    this.send(cmd);
  }

  send(msg) {
    if (msg.type !== 'candidate') this.debug('→', msg);
    return this.signaling ? this.signaling.send(msg) : false;
  }

  // --- layout and UI -----------------------------------------------------------------------------------------

  screenSize() {
    const s = this.welcome && this.welcome.screens && this.welcome.screens.find((x) => x.id === this.screen);
    return s ? { width: s.width, height: s.height } : null;
  }

  activeMedia() {
    return this.el.canvas.hidden ? this.el.video : this.el.canvas;
  }

  /** The picture's rectangle in client coordinates, or null when nothing is shown yet. */
  contentRect() {
    const m = this.activeMedia();
    const w = m === this.el.video ? m.videoWidth : m.width;
    const h = m === this.el.video ? m.videoHeight : m.height;
    if (!this.picture || !w || !h) return null;
    return contentRect(m.getBoundingClientRect(), w, h, parseObjectPosition(getComputedStyle(m).objectPosition));
  }

  layoutChanged() {
    this.el.app.classList.toggle('has-picture', this.picture);
  }

  showMedia(kind) {
    this.el.video.hidden = kind !== 'video';
    this.el.canvas.hidden = kind !== 'canvas';
  }

  updateTools() {
    const jpeg = this.mode === 'jpeg' && this.watch instanceof JpegWatch;
    this.el.btnHq.hidden = !jpeg;
    this.el.btnRetry.hidden = !jpeg || !!webrtcUnsupportedReason();
    this.el.btnBannerRetry.hidden = !!webrtcUnsupportedReason();
    this.el.btnKeyboard.hidden = !this.canControl() || !this.el.app.classList.contains('touch');
    if (this.el.btnKeyboard.hidden && !this.el.keybar.hidden) this.toggleKeyboard(false);
  }

  fillScreens(screens) {
    const sel = this.el.select;
    sel.replaceChildren();
    for (const s of screens) {
      const o = document.createElement('option');
      o.value = s.id;
      o.textContent = `${s.name || `Screen ${s.id}`}  ${s.width}×${s.height}`;
      sel.append(o);
    }
    sel.disabled = screens.length < 2;
    // With one screen the picker only names it; narrow layouts drop it to keep the controls reachable.
    sel.parentElement.classList.toggle('single', screens.length < 2);
    sel.parentElement.hidden = screens.length === 0;
  }

  setStatus(level, text) {
    this.phase = level;
    this.el.status.dataset.level = level;
    this.el.statusText.textContent = text;
    const name = this.screenSize() && this.el.select.selectedOptions[0];
    document.title = level === 'ok' && name ? `sightline · ${name.textContent.trim()}` : 'sightline';
  }

  showBanner(text) {
    this.el.bannerText.textContent = text;
    this.el.banner.hidden = false;
  }

  showNotice(title, text, actions) {
    const el = this.el;
    el.noticeTitle.textContent = title;
    el.noticeText.textContent = text;
    el.noticeActions.replaceChildren();
    for (const [label, fn] of actions) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'btn btn-primary';
      b.textContent = label;
      b.addEventListener('click', fn);
      el.noticeActions.append(b);
    }
    el.notice.hidden = false;
    el.app.classList.add('has-notice');
  }

  hideNotice() {
    this.el.notice.hidden = true;
    this.el.app.classList.remove('has-notice');
  }

  showTokenForm(error) {
    this.hideNotice();
    if (!error) this.setStatus('warn', 'Sign in');
    this.el.tokenError.textContent = error || '';
    this.el.tokenError.hidden = !error;
    this.el.tokenOverlay.hidden = false;
    this.el.tokenInput.value = '';
    this.el.tokenInput.focus();
  }

  toast(text) {
    const t = this.el.toast;
    t.textContent = text;
    t.hidden = false;
    clearTimeout(this.toastTimer);
    this.toastTimer = setTimeout(() => (t.hidden = true), 4000);
  }

  toggleFullscreen() {
    if (document.fullscreenElement) {
      document.exitFullscreen().catch(() => {});
      return;
    }
    const app = this.el.app;
    if (app.requestFullscreen) {
      app.requestFullscreen({ navigationUI: 'hide' }).catch(() => this.toast('Full screen is not available here.'));
    } else if (this.el.video.webkitEnterFullscreen && !this.el.video.hidden) {
      // iPhone Safari: only a video element can go full screen.
      this.el.video.webkitEnterFullscreen();
    } else {
      this.toast('Full screen is not available here.');
    }
  }

  debug(dir, msg) {
    if (this.options.debug) console.debug('sightline', dir, msg);
  }

  // --- diagnostics (window.sightline) ------------------------------------------------------------------------

  /** Reads the synthetic screen's barcodes from the picture on screen (full frame). */
  readBarcodes() {
    const screen = this.screenSize();
    if (!screen || !this.picture) return null;
    const m = this.activeMedia();
    const w = m === this.el.video ? m.videoWidth : m.width;
    const h = m === this.el.video ? m.videoHeight : m.height;
    const c = document.createElement('canvas');
    c.width = w;
    c.height = h;
    const ctx = c.getContext('2d', { willReadFrequently: true });
    ctx.drawImage(m, 0, 0);
    const data = ctx.getImageData(0, 0, w, h).data;
    return { width: w, height: h, ...readScreen(rgbaSampler(data, w, h, screen.width, screen.height), screen.width, screen.height) };
  }

  diagnostics() {
    const v = this;
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
      readBarcodes: () => v.readBarcodes(),
      fnv1a32,
    };
  }
}

function capitalise(s) {
  return s ? s[0].toUpperCase() + s.slice(1) : s;
}

function profileOf(fmtp) {
  const m = /profile-level-id=([0-9a-f]{6})/i.exec(fmtp || '');
  return m ? ` ${m[1]}` : '';
}

const viewer = new Viewer();
Object.defineProperty(window, 'sightline', { value: viewer.diagnostics(), configurable: false });
viewer.boot();

/** The status line of a connected WebRTC watch: which path sends the picture (docs/SFU.md). */
function liveStatus(w) {
  return w.path && w.path.path === 'sfu' ? `Live · WebRTC via SFU ${w.path.sfu || ''}`.trim() : 'Live · WebRTC';
}
