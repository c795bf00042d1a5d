// Per-frame timing of the video element: the first presented frame, and glass-to-glass latency read from the
// synthetic screen's top barcode (capture wall-clock time) in every presented frame.
//
// requestVideoFrameCallback fires once per frame the compositor presents; in it the top barcode row is drawn
// into a one-pixel-tall canvas and decoded. Latency = the frame's expected display time, on the wall clock,
// minus the capture time in the barcode (the gateway and the browser share a clock on the same host; across
// hosts the clock skew adds in). Frames of a real desktop carry no barcode: then no samples, shown as "—".
//
// Events: `firstframe` {presentedAt, callbackAt, width, height} once per reset().

import { decodeTime, readBits, rgbaSampler, rowHeight } from './barcode.js';
import { Ring, median, percentile } from './stats.js';

/** Latency samples kept for the overlay's median (about 4 s at 30 fps). */
export const OVERLAY_WINDOW = 120;
/** Samples kept for measurements (tests and benchmarks read them); bounded, the oldest are dropped. */
export const RECORD_CAPACITY = 4096;

export class FrameTimer extends EventTarget {
  /** `screenSize()` returns {width, height} of the watched screen (barcode geometry is in screen pixels). */
  constructor({ video, screenSize }) {
    super();
    this.video = video;
    this.screenSize = screenSize;
    this.canvas = document.createElement('canvas');
    this.canvas.height = 1;
    this.ctx = this.canvas.getContext('2d', { willReadFrequently: true });
    this.handle = null;
    this.running = false;
    this.decodeBarcode = false;
    this.firstFrame = null; // {presentedAt, ...metadata} of the first frame after reset()
    this.frames = 0;
    this.window = new Ring(OVERLAY_WINDOW);
    this.record = new Ring(RECORD_CAPACITY);
    this.lastCaptureMs = null;
    this.barcodeSeen = false;
  }

  start() {
    if (this.running || typeof this.video.requestVideoFrameCallback !== 'function') return;
    this.running = true;
    this.handle = this.video.requestVideoFrameCallback((now, meta) => this.onFrame(now, meta));
  }

  stop() {
    this.running = false;
    if (this.handle !== null && typeof this.video.cancelVideoFrameCallback === 'function') {
      this.video.cancelVideoFrameCallback(this.handle);
    }
    this.handle = null;
  }

  /** Forget the first frame and the samples (a new watch starts). */
  reset() {
    this.firstFrame = null;
    this.frames = 0;
    this.window.clear();
    this.lastCaptureMs = null;
  }

  get supported() {
    return typeof this.video.requestVideoFrameCallback === 'function';
  }

  onFrame(now, meta) {
    if (!this.running) return;
    this.handle = this.video.requestVideoFrameCallback((n, m) => this.onFrame(n, m));
    this.frames += 1;
    if (this.firstFrame === null) {
      this.firstFrame = { presentedAt: meta.presentationTime, callbackAt: now, width: meta.width, height: meta.height };
      this.dispatchEvent(new CustomEvent('firstframe', { detail: this.firstFrame }));
    }
    if (this.decodeBarcode) this.measure(now, meta);
  }

  measure(now, meta) {
    const screen = this.screenSize();
    const vw = this.video.videoWidth;
    const vh = this.video.videoHeight;
    if (!screen || !vw || !vh) return;
    if (this.canvas.width !== vw) this.canvas.width = vw;
    const y = Math.floor((rowHeight(screen.width) / 2) * (vh / screen.height));
    this.ctx.drawImage(this.video, 0, y, vw, 1, 0, 0, vw, 1);
    const data = this.ctx.getImageData(0, 0, vw, 1).data;
    const t = decodeTime(readBits(rgbaSampler(data, vw, 1, screen.width, 1), screen.width, 0));
    if (t === null) return;
    this.barcodeSeen = true;
    if (t === this.lastCaptureMs) return; // the same picture presented again is not a new sample
    this.lastCaptureMs = t;
    // performance.now() timestamps → wall clock, re-anchored on every frame so drift cannot accumulate.
    const wallOffset = Date.now() - performance.now();
    const sample = {
      captureMs: t,
      displayMs: wallOffset + meta.expectedDisplayTime - t,
      presentedMs: wallOffset + meta.presentationTime - t,
      receivedMs: meta.receiveTime !== undefined ? wallOffset + meta.receiveTime - t : undefined,
      callbackMs: wallOffset + now - t,
      processingMs: meta.processingDuration !== undefined ? meta.processingDuration * 1000 : undefined,
      // Lets a reader check that the picture read back is the frame the metadata describes (see latency.mjs).
      rtpTimestamp: meta.rtpTimestamp,
    };
    this.window.push(sample.displayMs);
    this.record.push(sample);
  }

  /** Median and p95 of the recent latency window (ms), or null without samples. */
  summary() {
    const v = this.window.values();
    if (v.length === 0) return null;
    return { median: median(v), p95: percentile(v, 95), samples: v.length };
  }
}
