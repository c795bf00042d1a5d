// The JPEG fallback (docs/PROTOCOL.md, "Watching over JPEG"): `frame` headers each followed by one binary JPEG,
// decoded off the main thread with createImageBitmap and drawn on a canvas.
//
// Latest wins: while one image decodes, only the newest arrival waits; older ones are dropped (counted), so a
// slow device shows fewer frames, never older ones. A "sharp still" (request_hq_frame) is drawn at the screen's
// full resolution and pauses the stream until the next interaction resumes it.
//
// Events: `frame` {width, height, hq, seq, latencyMs} after each drawn image, `hqpending` / `hqdone`.

/** Quality asked for a sharp still (the protocol's default too). */
export const HQ_QUALITY = 90;

export class JpegWatch extends EventTarget {
  constructor({ send, screen, canvas }) {
    super();
    this.send = send;
    this.screen = screen;
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d', { alpha: false });
    this.header = null; // the `frame` header whose binary comes next
    this.decoding = false;
    this.queued = null; // the newest undecoded {header, data}: one slot, latest wins
    this.lastSeq = -1;
    this.showingHq = false;
    this.hqSeq = 0;
    this.hqWaiting = null;
    this.closed = false;
    this.dropped = 0;
    this.drawn = 0;
    this.bytes = 0;
    this.lastLatencyMs = undefined;
    this.width = 0;
    this.height = 0;
    this.firstFrameAt = null;
  }

  start() {
    this.send({ type: 'watch', screen: this.screen, transport: 'jpeg' });
  }

  /** Handles a JSON message meant for the stream; true when it was one. */
  handle(msg) {
    if (this.closed) return false;
    if (msg.type === 'frame' && msg.screen === this.screen) {
      this.header = msg;
      return true;
    }
    return false;
  }

  /** The binary that follows a `frame` header. */
  handleBinary(data) {
    if (this.closed || !this.header) return;
    const header = this.header;
    this.header = null;
    this.bytes += data.byteLength;
    if (header.hq) {
      if (this.hqWaiting !== null && header.id !== this.hqWaiting) return;
      this.hqWaiting = null;
    }
    if (this.decoding) {
      // An HQ still is never displaced by a regular frame; otherwise the newer frame replaces the waiting one.
      if (this.queued && this.queued.header.hq && !header.hq) {
        this.dropped += 1;
        return;
      }
      if (this.queued) this.dropped += 1;
      this.queued = { header, data };
      return;
    }
    this.decode(header, data);
  }

  async decode(header, data) {
    this.decoding = true;
    try {
      const bitmap = await createImageBitmap(new Blob([data], { type: 'image/jpeg' }));
      if (!this.closed) this.draw(header, bitmap);
      bitmap.close();
    } catch (e) {
      console.warn('sightline: a JPEG frame could not be decoded', e);
    }
    this.decoding = false;
    const next = this.queued;
    this.queued = null;
    if (next && !this.closed) this.decode(next.header, next.data);
  }

  draw(header, bitmap) {
    if (header.hq) {
      this.showingHq = true;
      this.dispatchEvent(new Event('hqdone'));
    } else {
      // Stale (an older sequence after a newer one) or hidden behind a sharp still: count, do not draw.
      if (this.showingHq || header.seq <= this.lastSeq) {
        this.lastSeq = Math.max(this.lastSeq, header.seq);
        this.dropped += 1;
        return;
      }
      this.lastSeq = header.seq;
    }
    if (this.canvas.width !== bitmap.width || this.canvas.height !== bitmap.height) {
      this.canvas.width = bitmap.width;
      this.canvas.height = bitmap.height;
    }
    this.ctx.drawImage(bitmap, 0, 0);
    this.drawn += 1;
    this.width = bitmap.width;
    this.height = bitmap.height;
    if (this.firstFrameAt === null) this.firstFrameAt = performance.now();
    this.lastLatencyMs = typeof header.captured_at_ms === 'number' ? Date.now() - header.captured_at_ms : undefined;
    this.dispatchEvent(
      new CustomEvent('frame', {
        detail: { width: bitmap.width, height: bitmap.height, hq: !!header.hq, seq: header.seq, latencyMs: this.lastLatencyMs },
      }),
    );
  }

  /** Asks for a full-resolution still; it stays on screen (stream paused) until `interaction()`. */
  requestHq() {
    const id = `hq${++this.hqSeq}`;
    this.hqWaiting = id;
    this.send({ type: 'request_hq_frame', id, quality: HQ_QUALITY });
    this.send({ type: 'pause' });
    this.dispatchEvent(new Event('hqpending'));
    return id;
  }

  /** The user did something: leave the sharp still and resume the live stream. */
  interaction() {
    if (!this.showingHq && this.hqWaiting === null) return;
    this.showingHq = false;
    this.hqWaiting = null;
    this.send({ type: 'resume' });
  }

  /** An error reply to a request_hq_frame: resume the stream. */
  hqFailed(id) {
    if (this.hqWaiting !== id) return false;
    this.hqWaiting = null;
    this.send({ type: 'resume' });
    this.dispatchEvent(new Event('hqdone'));
    return true;
  }

  close() {
    this.closed = true;
    this.queued = null;
  }
}
