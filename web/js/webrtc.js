// One WebRTC watch: the server offers (H.264 video + data channel "control"; video only when an SFU sends the
// picture, then commands go over the WebSocket), the page answers.
//
// The watch owns its RTCPeerConnection and a watchdog. It reports, as CustomEvents:
//   `track` (the MediaStream to show), `connected`, `state` {ice, connection}, `control` (a reply on the data
//   channel), `moved` {path, sfu, reason} (a new offer replaced the connection), `failed` {reason, fallback}.
//   `fallback: true` means WebRTC never connected and the viewer should switch to JPEG; `false` means an
//   established connection broke and a new WebRTC watch is worth trying.
// Lowest playout delay: the receiver gets `jitterBufferTarget = 0` and Chromium's `playoutDelayHint = 0`,
// which lets frames go to the screen as soon as they are decoded instead of through a smoothing buffer.

/** Why WebRTC cannot work in this browser at all, or null when it might. */
export function webrtcUnsupportedReason() {
  if (typeof RTCPeerConnection !== 'function') return 'this browser has no WebRTC (RTCPeerConnection is missing)';
  if (typeof RTCRtpReceiver !== 'undefined' && typeof RTCRtpReceiver.getCapabilities === 'function') {
    const caps = RTCRtpReceiver.getCapabilities('video');
    const h264 = caps && caps.codecs.some((c) => c.mimeType.toLowerCase() === 'video/h264');
    if (!h264) return 'this browser cannot receive H.264 over WebRTC';
  }
  return null;
}

export class WebRtcWatch extends EventTarget {
  /**
   * `send(msg)` writes to the signaling socket; `timeoutMs` is welcome.fallback_timeout_ms: how long to wait for a
   * connection before giving up on WebRTC.
   */
  constructor({ send, screen, iceServers, timeoutMs }) {
    super();
    this.send = send;
    this.screen = screen;
    this.iceServers = iceServers || [];
    this.timeoutMs = timeoutMs;
    this.pc = null;
    this.dc = null;
    this.receiver = null;
    this.remoteCandidates = []; // held until the offer is applied; bounded by the server's candidate count
    this.everConnected = false;
    this.closed = false;
    this.watchdog = null;
    this.startedAt = 0;
    this.marks = {};
    this.path = { path: 'local', sfu: null };
  }

  start() {
    this.startedAt = performance.now();
    this.send({ type: 'watch', screen: this.screen, transport: 'webrtc' });
    this.watchdog = setTimeout(() => {
      if (!this.everConnected && !this.closed) {
        this.fail(`no WebRTC connection within ${(this.timeoutMs / 1000).toFixed(1)} s`, true);
      }
    }, this.timeoutMs);
  }

  /** Handles a signaling message meant for the watch; returns true when it was one. */
  handle(msg) {
    if (this.closed) return false;
    if (msg.type === 'offer') {
      // Who sends the picture: the gateway (`local`) or an SFU it publishes to (`sfu`, named by `msg.sfu`).
      this.path = { path: msg.path || 'local', sfu: msg.sfu || null };
      if (this.pc) {
        // A second offer replaces the connection: the gateway moved this watch to another path (an SFU stopped
        // answering, say). The old connection goes; the new one is answered like the first.
        this.replacePeer();
        this.dispatchEvent(new CustomEvent('moved', { detail: { ...this.path, reason: msg.reason || null } }));
      }
      const failed = (e) => this.fail(`the offer could not be answered: ${e.message || e}`, !this.everConnected);
      this.onOffer(msg.sdp).catch(failed);
      return true;
    }
    if (msg.type === 'candidate') {
      if (this.pc && this.pc.remoteDescription) this.addCandidate(msg);
      else if (this.remoteCandidates.length < 64) this.remoteCandidates.push(msg);
      return true;
    }
    return false;
  }

  async onOffer(sdp) {
    this.marks.offer = performance.now();
    const pc = new RTCPeerConnection({ iceServers: this.iceServers, bundlePolicy: 'max-bundle' });
    this.pc = pc;
    pc.ontrack = (ev) => {
      this.receiver = ev.receiver;
      lowLatency(ev.receiver);
      const stream = ev.streams && ev.streams[0] ? ev.streams[0] : new MediaStream([ev.track]);
      this.dispatchEvent(new CustomEvent('track', { detail: stream }));
    };
    pc.ondatachannel = (ev) => {
      if (ev.channel.label !== 'control') return;
      this.dc = ev.channel;
      this.dc.onmessage = (m) => {
        if (typeof m.data !== 'string') return;
        try {
          this.dispatchEvent(new CustomEvent('control', { detail: JSON.parse(m.data) }));
        } catch {
          console.warn('sightline: ignoring a non-JSON data channel message');
        }
      };
    };
    pc.onicecandidate = (ev) => {
      if (this.closed) return;
      const c = ev.candidate;
      this.send(
        c && c.candidate
          ? { type: 'candidate', candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex }
          : { type: 'candidate', candidate: '', sdpMid: '0', sdpMLineIndex: 0 },
      );
    };
    const onState = () => {
      if (this.closed) return;
      const connection = pc.connectionState;
      const ice = pc.iceConnectionState;
      this.dispatchEvent(new CustomEvent('state', { detail: { ice, connection } }));
      if (connection === 'connected' && !this.everConnected) {
        this.everConnected = true;
        this.marks.connected = performance.now();
        clearTimeout(this.watchdog);
        this.dispatchEvent(new Event('connected'));
      } else if (connection === 'failed') {
        this.fail(this.everConnected ? 'the WebRTC connection was lost' : 'the WebRTC connection failed', !this.everConnected);
      }
    };
    pc.onconnectionstatechange = onState;
    pc.oniceconnectionstatechange = onState;

    await pc.setRemoteDescription({ type: 'offer', sdp });
    if (this.closed || this.pc !== pc) return; // closed, or replaced by a newer offer
    for (const c of this.remoteCandidates.splice(0)) this.addCandidate(c);
    const answer = await pc.createAnswer();
    if (this.closed || this.pc !== pc) return; // closed, or replaced by a newer offer
    await pc.setLocalDescription(answer);
    if (this.closed || this.pc !== pc) return; // closed, or replaced by a newer offer
    this.send({ type: 'answer', sdp: pc.localDescription.sdp });
    this.marks.answer = performance.now();
  }

  /** Drops the current peer connection (its handlers first, so its end reports nothing) before a new offer. */
  replacePeer() {
    const old = this.pc;
    this.pc = null;
    this.dc = null;
    this.remoteCandidates = [];
    old.ontrack = old.ondatachannel = old.onicecandidate = null;
    old.onconnectionstatechange = old.oniceconnectionstatechange = null;
    old.close();
  }

  addCandidate(msg) {
    const init = { candidate: msg.candidate || '', sdpMid: msg.sdpMid ?? '0', sdpMLineIndex: msg.sdpMLineIndex ?? 0 };
    this.pc.addIceCandidate(init).catch((e) => {
      // One bad candidate must not end the watch; ICE works with the others or the watchdog decides.
      console.debug('sightline: remote candidate refused', e);
    });
  }

  /** Sends a command on the data channel; false when it is not open (then the caller uses the WebSocket). */
  sendCommand(cmd) {
    if (!this.dc || this.dc.readyState !== 'open') return false;
    try {
      this.dc.send(JSON.stringify(cmd));
      return true;
    } catch {
      return false;
    }
  }

  /** The getStats() report as an array, or null before the peer connection exists. */
  async stats() {
    if (!this.pc || this.closed) return null;
    const report = await this.pc.getStats();
    return Array.from(report.values());
  }

  fail(reason, fallback) {
    if (this.closed) return;
    this.close();
    this.dispatchEvent(new CustomEvent('failed', { detail: { reason, fallback } }));
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.watchdog);
    if (this.pc) {
      this.pc.ontrack = this.pc.ondatachannel = this.pc.onicecandidate = null;
      this.pc.onconnectionstatechange = this.pc.oniceconnectionstatechange = null;
      this.pc.close();
    }
  }
}

/** Asks the receiver for the smallest playout delay the browser supports. */
export function lowLatency(receiver) {
  try {
    if ('jitterBufferTarget' in receiver) receiver.jitterBufferTarget = 0;
  } catch {
    // Older browsers throw on unknown values; the default buffer still works.
  }
  try {
    // Chromium's non-standard hint (seconds); 0 selects its low-latency rendering path.
    if ('playoutDelayHint' in receiver) receiver.playoutDelayHint = 0;
  } catch {
    // Not supported.
  }
}
