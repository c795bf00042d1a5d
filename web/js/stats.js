// Numbers for the stats overlay: a bounded ring with median/p95, the WebRTC getStats() reduction, and the rows
// of the gateway's `network` message (estimate, tier, loss, RTT, NACKs, PLIs).
//
// `reduceRtcStats` is pure (a list of stats objects in, a plain record out) so the arithmetic — rates from
// deltas between two samples, per-frame averages — is unit-tested without a peer connection.

import { bitrate, count, DASH, ms } from './format.js';

/** The p-th percentile (0–100, nearest rank) of `values`; NaN when empty. */
export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** Median (the 50th percentile) of `values`. */
export function median(values) {
  return percentile(values, 50);
}

/** A fixed-capacity ring of numbers: the newest `capacity` values win. */
export class Ring {
  constructor(capacity) {
    this.capacity = capacity;
    this.buf = [];
    this.next = 0;
  }

  push(v) {
    if (this.buf.length < this.capacity) this.buf.push(v);
    else this.buf[this.next] = v;
    this.next = (this.next + 1) % this.capacity;
  }

  get length() {
    return this.buf.length;
  }

  /** The values, oldest first. */
  values() {
    if (this.buf.length < this.capacity) return this.buf.slice();
    return this.buf.slice(this.next).concat(this.buf.slice(0, this.next));
  }

  clear() {
    this.buf = [];
    this.next = 0;
  }
}

/**
 * Reduces one getStats() report (its values as an array) to the raw counters of the inbound video stream, the
 * codec and the selected candidate pair's RTT. Null when there is no inbound video yet.
 */
export function rawRtcStats(stats) {
  const byId = new Map(stats.map((s) => [s.id, s]));
  const inbound = stats.find((s) => s.type === 'inbound-rtp' && (s.kind === 'video' || s.mediaType === 'video'));
  if (!inbound) return null;
  const codec = inbound.codecId ? byId.get(inbound.codecId) : undefined;
  let pair;
  const transport = stats.find((s) => s.type === 'transport' && s.selectedCandidatePairId);
  if (transport) pair = byId.get(transport.selectedCandidatePairId);
  if (!pair) pair = stats.find((s) => s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded');
  return {
    at: inbound.timestamp,
    framesDecoded: inbound.framesDecoded ?? 0,
    framesDropped: inbound.framesDropped ?? 0,
    framesPerSecond: inbound.framesPerSecond,
    bytesReceived: inbound.bytesReceived ?? 0,
    totalDecodeTime: inbound.totalDecodeTime ?? 0,
    jitterBufferDelay: inbound.jitterBufferDelay ?? 0,
    jitterBufferEmittedCount: inbound.jitterBufferEmittedCount ?? 0,
    packetsLost: inbound.packetsLost ?? 0,
    freezeCount: inbound.freezeCount ?? 0,
    nackCount: inbound.nackCount ?? 0,
    pliCount: inbound.pliCount ?? 0,
    keyFramesDecoded: inbound.keyFramesDecoded ?? 0,
    width: inbound.frameWidth,
    height: inbound.frameHeight,
    decoder: inbound.decoderImplementation,
    codec: codec ? codec.mimeType : undefined,
    fmtp: codec ? codec.sdpFmtpLine : undefined,
    rttMs: pair && pair.currentRoundTripTime !== undefined ? pair.currentRoundTripTime * 1000 : undefined,
  };
}

/**
 * Rates between two raw samples (`prev` may be null: then only instantaneous values are filled).
 * Returns {fps, bitrateKbps, decodeMs, jitterBufferMs, …} with undefined where not measurable.
 */
export function rtcRates(prev, cur) {
  const out = {
    fps: cur.framesPerSecond,
    bitrateKbps: undefined,
    decodeMs: cur.framesDecoded > 0 ? (cur.totalDecodeTime * 1000) / cur.framesDecoded : undefined,
    jitterBufferMs:
      cur.jitterBufferEmittedCount > 0 ? (cur.jitterBufferDelay * 1000) / cur.jitterBufferEmittedCount : undefined,
    rttMs: cur.rttMs,
    width: cur.width,
    height: cur.height,
    codec: cur.codec,
    fmtp: cur.fmtp,
    decoder: cur.decoder,
    framesDecoded: cur.framesDecoded,
    framesDropped: cur.framesDropped,
    packetsLost: cur.packetsLost,
    freezeCount: cur.freezeCount,
  };
  if (prev && cur.at > prev.at) {
    const dt = (cur.at - prev.at) / 1000;
    const frames = cur.framesDecoded - prev.framesDecoded;
    out.fps = frames / dt;
    out.bitrateKbps = ((cur.bytesReceived - prev.bytesReceived) * 8) / 1000 / dt;
    if (frames > 0) out.decodeMs = ((cur.totalDecodeTime - prev.totalDecodeTime) * 1000) / frames;
    const emitted = cur.jitterBufferEmittedCount - prev.jitterBufferEmittedCount;
    if (emitted > 0) out.jitterBufferMs = ((cur.jitterBufferDelay - prev.jitterBufferDelay) * 1000) / emitted;
  }
  return out;
}

/** A `network` message older than this is not shown: the gateway sends one a second while WebRTC runs. */
export const NETWORK_STALE_MS = 5000;

const finite = (v) => typeof v === 'number' && Number.isFinite(v);

/**
 * Rows ([label, value]) for the stats overlay from the gateway's latest `{"type":"network"}` message (see
 * docs/PROTOCOL.md) received `ageMs` ago: the congestion controller's estimate, the encoder's target, the
 * quality tier ("n of m", best = 1) and its switches, loss, the gateway's RTT, NACKs and PLIs. No rows without
 * a message or when it is stale (JPEG, an older gateway, a watch that ended), so the overlay stays as it was.
 */
export function networkRows(msg, ageMs) {
  if (!msg || typeof msg !== 'object' || !(ageMs <= NETWORK_STALE_MS)) return [];
  const estimate = msg.congestion_control === false && !finite(msg.estimate_kbps) ? 'off' : bitrate(msg.estimate_kbps);
  let tier = DASH;
  if (finite(msg.tier)) {
    const name = typeof msg.tier_name === 'string' && msg.tier_name ? `${msg.tier_name} · ` : '';
    const of = finite(msg.tiers) && msg.tiers > 0 ? `${msg.tier + 1} of ${msg.tiers}` : `tier ${msg.tier + 1}`;
    tier = `${name}${of}`;
  }
  if (finite(msg.switches)) tier += ` · ${msg.switches} switch${msg.switches === 1 ? '' : 'es'}`;
  return [
    ['Estimate', estimate],
    ['Target', bitrate(msg.target_kbps)],
    ['Tier', tier],
    ['Loss', finite(msg.loss) ? `${(msg.loss * 100).toFixed(1)} %` : DASH],
    ['RTT (gateway)', ms(msg.rtt_ms)],
    ['NACK / PLI', `${count(msg.nacks)} / ${count(msg.plis)}`],
  ];
}
