// The viewer page: connects to the gateway, watches a screen over WebRTC (JPEG when WebRTC cannot work), sends
// input, and shows status, statistics and agent activity.
//
// Parts: Signaling (socket + reconnect) → one watch at a time (WebRtcWatch or JpegWatch) → the stage (StageView:
// video or canvas, zoom and pan) with InputController, CursorOverlay, AgentOverlay and FrameTimer on top, and the
// ClipboardBridge. Server messages from the WebSocket and the WebRTC data channel go through one handler
// (onMessage). This file is the glue and the UI: it decides which watch runs, what the user is told, and exposes
// a read-only `window.sightline` for diagnostics and tests (diagnostics.js).

import { ClipboardBridge } from './clipboard.js';
import { CursorOverlay } from './cursor.js';
import { diagnostics } from './diagnostics.js';
import { InputController } from './input.js';
import { JpegWatch } from './jpeg.js';
import { bindKeybar } from './keybar.js';
import { FrameTimer } from './latency.js';
import { fragmentWithoutToken, parseFragment, storeToken, storedToken } from './options.js';
import { AgentOverlay } from './overlay.js';
import { Signaling } from './signaling.js';
import { StageView } from './stage.js';
import { renderStats, sampleStats } from './statspanel.js';
import { WebRtcWatch, webrtcUnsupportedReason } from './webrtc.js';

/** Default when the welcome message has no fallback_timeout_ms (the protocol's default). */
const DEFAULT_FALLBACK_MS = 5000;
/** An established WebRTC connection that breaks is retried this many times before falling back to JPEG. */
const WEBRTC_RETRIES = 2;
/** Statistics refresh period. */
const STATS_PERIOD_MS = 1000;
/** Where the touch mode (direct or trackpad) is remembered. */
const TOUCH_MODE_KEY = 'sightline.touchMode';
/** Commands kept for the e2e hook (`e2e=1`). */
const E2E_COMMANDS = 500;

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
      zoomLayer: $('zoom-layer'),
      cursorLayer: $('cursor-layer'),
      cursorImg: $('cursor-img'),
      clipOffer: $('clip-offer'),
      btnTrackpad: $('btn-trackpad'),
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
    this.e2eCommands = [];
    this.stageView = new StageView({
      stage: this.el.stage,
      layer: this.el.zoomLayer,
      video: this.el.video,
      canvas: this.el.canvas,
      hasPicture: () => this.picture,
      onChange: () => this.cursor.draw(),
    });
    this.cursor = new CursorOverlay({
      img: this.el.cursorImg,
      layer: this.el.cursorLayer,
      stage: this.el.stage,
      rect: () => this.contentRect(),
      screen: () => this.screen,
      mouseMode: () => this.stageView.mouseOver && this.canControl(),
    });
    this.input = new InputController({
      stage: this.el.stage,
      rect: () => this.contentRect(),
      send: (cmd) => this.sendCommand(cmd),
      enabled: () => this.canControl() && this.watch !== null,
      osk: this.el.osk,
      view: () => this.stageView.view,
      setView: (v) => this.stageView.setView(v),
      onPaste: (d) => (d.text ? this.clipboard.pasteText(d.text) : this.clipboard.pasteImage(d.blob)),
      cursorPos: () => this.cursor.pos,
      onPadMove: (pos) => {
        this.cursor.moveLocal(pos);
        this.stageView.follow(pos);
      },
    });
    this.clipboard = new ClipboardBridge({
      send: (cmd) => this.sendCommand(cmd),
      held: () => this.input.held(),
      toast: (t) => this.toast(t),
      offer: this.el.clipOffer,
      typeInstead: (text) => this.input.typeText(text),
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
    this.stageView.attach();
    this.setTouchMode(readTouchMode());
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
    this.input.onStickyChange = bindKeybar(el.keybar, this.input);
    el.btnTrackpad.addEventListener('click', () => this.setTouchMode(this.input.mode === 'trackpad' ? 'direct' : 'trackpad', true));
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
    // Without requestVideoFrameCallback (older Safari, Firefox) FrameTimer reports no first frame: the video's
    // own events say the picture is there.
    for (const type of ['loadeddata', 'playing']) {
      el.video.addEventListener(type, () => {
        if (!this.frames.supported && !this.picture) this.onFirstFrame({ presentedAt: performance.now() });
      });
    }
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

  /** Every server message, from the WebSocket or the WebRTC data channel. */
  onMessage(msg) {
    this.debug('←', msg);
    if (this.draining && ['offer', 'candidate', 'frame', 'stopped', 'network', 'fallback', 'cursor', 'cursor_image'].includes(msg.type)) return;
    if (this.watch && this.watch.handle(msg)) return;
    if (this.cursor.handle(msg)) return;
    switch (msg.type) {
      case 'clipboard':
        this.clipboard.handleMessage(msg); // the gateway sends it only to roles `[clipboard] read_role` allows
        break;
      case 'stopped':
        this.onStopped(msg);
        break;
      case 'screens':
        this.onScreens(msg);
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
        this.clipboard.handleAck(msg);
        break;
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
    if (this.clipboard.handleError(msg)) return;
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
      if (this.watch === w && e.detail && typeof e.detail.type === 'string') this.onMessage(e.detail);
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
    this.cursor.reset();
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
    await sampleStats(this);
  }

  renderStats() {
    renderStats(this);
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
    if (this.options.e2e) {
      this.e2eCommands.push({ ...cmd, at: performance.now() });
      if (this.e2eCommands.length > E2E_COMMANDS) this.e2eCommands.shift();
    }
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
    return this.stageView.activeMedia();
  }

  /** The picture's rectangle in client coordinates (zoomed and panned), or null when nothing is shown yet. */
  contentRect() {
    return this.stageView.contentRect();
  }

  layoutChanged() {
    this.el.app.classList.toggle('has-picture', this.picture);
    this.stageView.relayout();
    this.cursor.draw();
  }

  /** Direct touch or trackpad (remembered in localStorage when the user picks it). */
  setTouchMode(mode, remember = false) {
    this.input.setMode(mode);
    this.el.btnTrackpad.setAttribute('aria-pressed', String(this.input.mode === 'trackpad'));
    this.el.app.classList.toggle('trackpad', this.input.mode === 'trackpad');
    if (remember) {
      try {
        localStorage.setItem(TOUCH_MODE_KEY, this.input.mode);
      } catch {
        // Storage refused (private mode): the choice lasts for this page.
      }
      this.toast(this.input.mode === 'trackpad' ? 'Trackpad mode: drag to move the pointer, tap to click.' : 'Direct touch: tap where you want to click.');
    }
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
    this.el.btnTrackpad.hidden = this.el.btnKeyboard.hidden;
    if (this.el.btnKeyboard.hidden && !this.el.keybar.hidden) this.toggleKeyboard(false);
  }

  /** The screen list changed (a device of this hub came or went): refill the picker, keeping the choice. */
  onScreens(msg) {
    const screens = Array.isArray(msg.screens) ? msg.screens : [];
    if (this.welcome) this.welcome.screens = screens;
    this.fillScreens(screens);
    if (screens.some((s) => s.id === this.screen)) {
      this.el.select.value = this.screen;
    } else if (this.screen) {
      // Keep showing what is watched (its own `stopped` message says why it ends), even if no longer listed.
      const o = document.createElement('option');
      o.value = this.screen;
      o.textContent = `${this.screen} (gone)`;
      this.el.select.append(o);
      this.el.select.value = this.screen;
    }
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

  diagnostics() {
    return diagnostics(this);
  }
}

function readTouchMode() {
  try {
    return localStorage.getItem(TOUCH_MODE_KEY) === 'trackpad' ? 'trackpad' : 'direct';
  } catch {
    return 'direct';
  }
}

function capitalise(s) {
  return s ? s[0].toUpperCase() + s.slice(1) : s;
}

const viewer = new Viewer();
Object.defineProperty(window, 'sightline', { value: viewer.diagnostics(), configurable: false });
viewer.boot();

/** The status line of a connected WebRTC watch: which path sends the picture (docs/SFU.md). */
function liveStatus(w) {
  return w.path && w.path.path === 'sfu' ? `Live · WebRTC via SFU ${w.path.sfu || ''}`.trim() : 'Live · WebRTC';
}
