// The statistics panel (the activity button, `stats=1`): samples getStats() (WebRTC) or the JPEG counters once a
// second and renders the rows (docs/VIEWER.md, "Statistics panel and latency"). Moved out of viewer.js; `v` is
// the Viewer.

import { bitrate as formatBitrate } from './format.js';
import { JpegWatch } from './jpeg.js';
import { networkRows, rawRtcStats, rtcRates } from './stats.js';
import { WebRtcWatch } from './webrtc.js';

/** Samples the transport's counters into `v.rates` (deltas against the previous sample). */
export async function sampleStats(v) {
  const w = v.watch;
  if (w instanceof WebRtcWatch) {
    const list = await w.stats().catch(() => null);
    const raw = list && rawRtcStats(list);
    if (raw && v.watch === w) {
      v.rates = { transport: 'webrtc', ...rtcRates(v.prevRaw, raw) };
      v.prevRaw = raw;
    }
  } else if (w instanceof JpegWatch) {
    const now = performance.now();
    const prev = v.prevRaw;
    const cur = { at: now, drawn: w.drawn, bytes: w.bytes };
    const dt = prev ? (now - prev.at) / 1000 : 0;
    v.rates = {
      transport: 'jpeg',
      fps: dt > 0 ? (cur.drawn - prev.drawn) / dt : undefined,
      bitrateKbps: dt > 0 ? ((cur.bytes - prev.bytes) * 8) / 1000 / dt : undefined,
      rttMs: v.signaling && v.signaling.rttMs,
      width: w.width,
      height: w.height,
      latencyMs: w.lastLatencyMs,
      framesDropped: w.dropped,
      codec: 'JPEG',
    };
    v.prevRaw = cur;
    if (v.signaling) v.signaling.ping();
  }
}

/** Fills the statistics panel from `v.rates`, the latency record and the gateway's network message. */
export function renderStats(v) {
  const r = v.rates || {};
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
    const lat = v.frames.summary();
    rows.push([
      'Latency',
      lat ? `${lat.median.toFixed(0)} ms · p95 ${lat.p95.toFixed(0)}` : v.frames.supported ? '— (test screen only)' : '— (unsupported)',
    ]);
    rows.push(['Lost / dropped', `${r.packetsLost ?? '—'} pkt · ${r.framesDropped ?? '—'} fr`]);
    const n = v.network;
    rows.push(...networkRows(n && n.msg, n ? performance.now() - n.at : Infinity));
  } else {
    rows.push(['Latency', fmt(r.latencyMs, 0, ' ms')]);
    rows.push(['Dropped', `${r.framesDropped ?? 0} frames`]);
  }
  const ff = v.firstFrameMs();
  rows.push(['First frame', ff === null ? '—' : `${ff.toFixed(0)} ms`]);
  const dl = v.el.statsList;
  dl.replaceChildren();
  for (const [k, val] of rows) {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = val;
    dl.append(dt, dd);
  }
}

function profileOf(fmtp) {
  const m = /profile-level-id=([0-9a-f]{6})/i.exec(fmtp || '');
  return m ? ` ${m[1]}` : '';
}
