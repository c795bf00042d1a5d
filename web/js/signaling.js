// The /ws socket of docs/PROTOCOL.md: authentication, JSON messages, JPEG binaries, and reconnection.
//
// One Signaling object lives as long as the page. It authenticates with `{"type":"auth"}` on every (re)connect,
// reconnects with exponential backoff + jitter when the gateway goes away, and stops for good on the two closes
// that retrying cannot fix: 4401 (bad token) and 4403 (an administrator ended the session). A heartbeat ping
// notices a silently dead connection (a laptop waking up, a NAT dropping state) that TCP would take minutes to.
//
// Events (CustomEvent, payload in `detail`): `connecting` {attempt}, `welcome` (the welcome message),
// `message` (any other JSON message), `binary` (ArrayBuffer), `closed` {code, reason, fatal, retryInMs}.

import { Backoff } from './backoff.js';

export const CLOSE_UNAUTHORIZED = 4401;
export const CLOSE_KICKED = 4403;
export const CLOSE_GOING_AWAY = 1001;

/** Heartbeat period: a ping every this long while connected. */
export const HEARTBEAT_MS = 10000;
/** A connection that has sent nothing (not even a pong) for this long is considered dead and replaced. */
export const HEARTBEAT_TIMEOUT_MS = 20000;

export class Signaling extends EventTarget {
  constructor({ url, token, backoff = new Backoff() }) {
    super();
    this.url = url;
    this.token = token;
    this.backoff = backoff;
    this.ws = null;
    this.stopped = true;
    this.retryTimer = null;
    this.heartbeat = null;
    this.pingSeq = 0;
    this.pending = new Map(); // ping id → sent at (performance.now()); bounded: one ping per heartbeat
    this.barriers = new Map(); // ping id → resolve; one per watch change at most
    this.lastHeard = 0;
    this.rttMs = undefined;
    this.authenticated = false;
    this.attempt = 0;
    /** performance.now() when the current socket was created, and when it opened. */
    this.createdAt = 0;
    this.openedAt = 0;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  /** Closes for good (no reconnect). */
  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.teardown(1000, 'viewer closed');
  }

  /** Skips the remaining backoff delay and reconnects now. */
  retryNow() {
    if (this.ws) return;
    clearTimeout(this.retryTimer);
    this.stopped = false;
    this.connect();
  }

  get open() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /** Sends one JSON message; false when the socket is not open (the caller decides whether that matters). */
  send(msg) {
    if (!this.open) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  connect() {
    this.attempt += 1;
    this.authenticated = false;
    this.dispatchEvent(new CustomEvent('connecting', { detail: { attempt: this.attempt } }));
    this.createdAt = performance.now();
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (e) {
      this.scheduleRetry(0, String(e));
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onopen = () => {
      if (ws !== this.ws) return;
      this.openedAt = performance.now();
      ws.send(JSON.stringify({ type: 'auth', token: this.token }));
    };
    ws.onmessage = (ev) => {
      if (ws !== this.ws) return;
      this.lastHeard = performance.now();
      if (typeof ev.data !== 'string') {
        this.dispatchEvent(new CustomEvent('binary', { detail: ev.data }));
        return;
      }
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        console.warn('sightline: ignoring a non-JSON text message');
        return;
      }
      if (!msg || typeof msg.type !== 'string') return;
      if (msg.type === 'welcome') {
        this.authenticated = true;
        this.attempt = 0;
        this.backoff.reset();
        this.startHeartbeat();
        this.dispatchEvent(new CustomEvent('welcome', { detail: msg }));
        return;
      }
      if (msg.type === 'pong' && this.barriers.has(msg.id)) {
        this.barriers.get(msg.id)(true);
        this.barriers.delete(msg.id);
        return;
      }
      if (msg.type === 'pong' && this.pending.has(msg.id)) {
        this.rttMs = performance.now() - this.pending.get(msg.id);
        this.pending.delete(msg.id);
        return;
      }
      this.dispatchEvent(new CustomEvent('message', { detail: msg }));
    };
    ws.onclose = (ev) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.stopHeartbeat();
      this.releaseBarriers();
      this.onClosed(ev.code, ev.reason);
    };
    // onerror is always followed by onclose, which carries the decision.
    ws.onerror = () => {};
  }

  onClosed(code, reason) {
    let fatal = null;
    if (code === CLOSE_UNAUTHORIZED) fatal = 'unauthorized';
    else if (code === CLOSE_KICKED) fatal = 'kicked';
    if (fatal || this.stopped) {
      this.stopped = true;
      this.dispatchEvent(new CustomEvent('closed', { detail: { code, reason, fatal, retryInMs: null } }));
      return;
    }
    this.scheduleRetry(code, reason);
  }

  scheduleRetry(code, reason) {
    const delay = this.backoff.next();
    this.dispatchEvent(
      new CustomEvent('closed', { detail: { code, reason, fatal: null, retryInMs: delay, attempt: this.attempt } }),
    );
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (!this.stopped && !this.ws) this.connect();
    }, delay);
  }

  /**
   * Resolves to true once the gateway has sent everything it was going to send before this call — the pong of a
   * ping comes after all of it, as the gateway answers in order — or to false if the socket closes first. The
   * viewer uses it between two watches so that late messages of the old watch (an offer, candidates, a
   * `stopped`) are never taken for the new one's.
   */
  barrier() {
    const id = `b${++this.pingSeq}`;
    return new Promise((resolve) => {
      this.barriers.set(id, resolve);
      if (!this.send({ type: 'ping', id })) {
        this.barriers.delete(id);
        resolve(false);
      }
    });
  }

  releaseBarriers() {
    for (const resolve of this.barriers.values()) resolve(false);
    this.barriers.clear();
  }

  teardown(code, reason) {
    this.releaseBarriers();
    this.stopHeartbeat();
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close(code, reason);
      } catch {
        // Already closing.
      }
    }
  }

  startHeartbeat() {
    this.stopHeartbeat();
    this.lastHeard = performance.now();
    this.heartbeat = setInterval(() => this.ping(), HEARTBEAT_MS);
  }

  stopHeartbeat() {
    clearInterval(this.heartbeat);
    this.heartbeat = null;
    this.pending.clear();
  }

  /** Sends a ping (also measures the WebSocket round trip, shown for the JPEG transport). */
  ping() {
    if (!this.open) return;
    if (performance.now() - this.lastHeard > HEARTBEAT_TIMEOUT_MS) {
      // Nothing heard (not even a pong) for too long: the socket is dead even if TCP has not noticed. Replace it.
      this.teardown(4000, 'heartbeat timeout');
      this.scheduleRetry(4000, 'no answer from the gateway');
      return;
    }
    // Keep only the most recent few outstanding pings so the map stays bounded.
    if (this.pending.size > 4) this.pending.delete(this.pending.keys().next().value);
    const id = `p${++this.pingSeq}`;
    this.pending.set(id, performance.now());
    this.send({ type: 'ping', id });
  }
}
