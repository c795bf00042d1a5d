// Per-viewer network plots of the monitor dashboard (issue 10): a connection's `series` (at most one sample a
// second, the `Sample` of docs/openapi.yaml) drawn as inline SVG in three bands — bitrate (the congestion
// controller's estimate, what was sent, the encoder's target), round-trip time and loss — with tier switches
// marked across all three; and the rule that calls a viewer struggling.
//
// `viewerHealth` and `chartModel` are pure (plain data in, plain data out) and unit-tested in
// tests/e2e/web_units.mjs; `networkChart` only turns a model into SVG elements.

import * as fmt from './format.js';

/** Longest time span of the plots: the monitor keeps 300 samples at one a second (monitor::SERIES_LEN). */
export const NET_WINDOW_MS = 5 * 60 * 1000;
/** Shortest span: a young connection's first minute fills the plot instead of a sliver at its right edge. */
export const NET_MIN_WINDOW_MS = 60 * 1000;

/**
 * Loss at or above which a viewer is struggling: 5 % is the issue's lossy scenario, half way to the 10 % above
 * which GCC's loss-based controller (draft-ietf-rmcat-gcc §6) cuts the rate.
 */
export const LOSS_BAD = 0.05;
/** Loss from which GCC stops increasing the rate (same draft): not in trouble yet, but not improving either. */
export const LOSS_WARN = 0.02;
/** Round-trip times that make interactive control sluggish (warn) or painful (bad), in ms. */
export const RTT_WARN_MS = 200;
export const RTT_BAD_MS = 400;
/**
 * Sending (or aiming at) more than this times the estimate means the path cannot carry the stream: a queue
 * builds in front of the bottleneck and latency grows. A one-second rate can exceed the estimate a little on a
 * keyframe, hence the margin.
 */
export const OVERSHOOT = 1.25;

/** Samples further apart than this leave a gap in the lines (a stalled stats loop is not a straight line). */
const GAP_MS = 2500;

const isNum = (v) => typeof v === 'number' && Number.isFinite(v);

/**
 * How a viewer is doing, from its counters (the monitor's `Counters`, or the viewer page's `network` message
 * with `loss` for `loss_fraction`): `{level: 'ok' | 'warn' | 'bad', reasons: [text…]}`, worst reason first.
 * Missing values (no congestion control, no receiver report yet) are not held against it.
 */
export function viewerHealth(c) {
  const bad = [];
  const warn = [];
  if (!c) return { level: 'ok', reasons: [] };
  const loss = isNum(c.loss_fraction) ? c.loss_fraction : c.loss;
  if (isNum(loss) && loss >= LOSS_BAD) bad.push(`loss ${fmt.percent(loss * 100)}`);
  else if (isNum(loss) && loss >= LOSS_WARN) warn.push(`loss ${fmt.percent(loss * 100)}`);
  if (isNum(c.rtt_ms) && c.rtt_ms >= RTT_BAD_MS) bad.push(`RTT ${fmt.ms(c.rtt_ms)}`);
  else if (isNum(c.rtt_ms) && c.rtt_ms >= RTT_WARN_MS) warn.push(`RTT ${fmt.ms(c.rtt_ms)}`);
  if (isNum(c.estimate_kbps)) {
    const demand = Math.max(isNum(c.bitrate_kbps) ? c.bitrate_kbps : 0, isNum(c.target_kbps) ? c.target_kbps : 0);
    if (demand > c.estimate_kbps * OVERSHOOT) bad.push(`needs ${fmt.bitrate(demand)}, path ${fmt.bitrate(c.estimate_kbps)}`);
  }
  if (isNum(c.tier) && c.tier > 0) warn.push(`below top tier${c.tier_name ? ` (${c.tier_name})` : ` (t${c.tier})`}`);
  const level = bad.length ? 'bad' : warn.length ? 'warn' : 'ok';
  return { level, reasons: [...bad, ...warn] };
}

/** The smallest 1, 2 or 5 × 10^n at or above `v` (and at least `floor`): a readable top of an axis. */
export function niceMax(v, floor) {
  const x = Math.max(isNum(v) ? v : 0, floor);
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 5, 10]) if (m * p >= x * (1 - 1e-9)) return m * p;
  return 10 * p;
}

/** The span to plot `series` over: its own length rounded up to whole minutes, from 1 to 5 minutes. */
export function plotWindow(series) {
  const times = (series || []).map((s) => s && s.at_ms).filter(isNum);
  const span = times.length ? Math.max(...times) - Math.min(...times) : 0;
  const minutes = Math.ceil(span / 60000) * 60000;
  return Math.min(NET_WINDOW_MS, Math.max(NET_MIN_WINDOW_MS, minutes));
}

/**
 * The plot of `series` as geometry in a `width` × `height` box, time running from `end - windowMs` (left) to
 * `end` (right), where `end` is `nowMs` or the newest sample if that is later (the detail may be fetched after the
 * summary that gave "now"), and `windowMs` is by default [`plotWindow`]: `{width, height, windowMs, empty, bands:
 * [{name, top, bottom, max, lines: [{name, d}], threshold}], switches: [{x, down}]}`. `d` is an SVG path (`M x y L x y …`, a new `M` after a missing value or
 * a gap); `threshold` is the y of a band's alarm line (loss) or null; a switch is `down` when the tier got worse.
 */
export function chartModel(series, { nowMs, windowMs = plotWindow(series), width = 600, height = 160 }) {
  const valid = (series || []).filter((s) => s && isNum(s.at_ms));
  const end = Math.max(isNum(nowMs) ? nowMs : -Infinity, ...valid.map((s) => s.at_ms));
  const t0 = end - windowMs;
  const samples = valid.filter((s) => s.at_ms >= t0);
  const x = (t) => ((t - t0) / windowMs) * width;
  const maxOf = (keys) => Math.max(0, ...samples.flatMap((s) => keys.map((k) => s[k]).filter(isNum)));
  // Bands top to bottom: bitrate gets the most room, RTT and loss a strip each; GAP between bands.
  const GAP = height * 0.05;
  const rateH = height * 0.5;
  const stripH = (height - rateH - 2 * GAP) / 2;
  const specs = [
    { name: 'rate', h: rateH, max: niceMax(maxOf(['estimate_kbps', 'bitrate_kbps', 'target_kbps']), 100), keys: ['target_kbps', 'estimate_kbps', 'bitrate_kbps'] },
    { name: 'rtt', h: stripH, max: niceMax(maxOf(['rtt_ms']), 50), keys: ['rtt_ms'] },
    // Loss: at least twice the alarm level, so the alarm line sits at half height or lower.
    { name: 'loss', h: stripH, max: niceMax(maxOf(['loss_fraction']), LOSS_BAD * 2), keys: ['loss_fraction'] },
  ];
  let top = 0;
  const bands = specs.map((b) => {
    const bottom = top + b.h;
    const y = (v) => bottom - (Math.min(v, b.max) / b.max) * b.h;
    const lines = b.keys.map((k) => ({ name: k, d: linePath(samples, k, x, y) }));
    const band = { name: b.name, top, bottom, max: b.max, lines, threshold: b.name === 'loss' ? y(LOSS_BAD) : null };
    top = bottom + GAP;
    return band;
  });
  const switches = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1];
    const b = samples[i];
    const counted = isNum(a.tier_switches) && isNum(b.tier_switches) && b.tier_switches > a.tier_switches;
    const changed = isNum(a.tier) && isNum(b.tier) && a.tier !== b.tier;
    if (counted || changed) switches.push({ x: x(b.at_ms), down: isNum(a.tier) && isNum(b.tier) ? b.tier > a.tier : false });
  }
  return { width, height, windowMs, empty: samples.length === 0, bands, switches };
}

/** An SVG path through the samples' `key` values; a missing value or a gap in time starts a new segment. */
function linePath(samples, key, x, y) {
  let d = '';
  let prev = null;
  for (const s of samples) {
    const v = s[key];
    if (!isNum(v)) {
      prev = null;
      continue;
    }
    const cmd = prev && s.at_ms - prev.at_ms <= GAP_MS ? 'L' : 'M';
    d += `${d ? ' ' : ''}${cmd}${round(x(s.at_ms))} ${round(y(v))}`;
    prev = s;
  }
  return d;
}

const round = (v) => Math.round(v * 10) / 10;

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/** Axis labels of a band, e.g. "2 Mbit/s", "RTT 200 ms", "loss 10 %". */
function bandLabel(band) {
  if (band.name === 'rate') return fmt.bitrate(band.max);
  if (band.name === 'rtt') return `RTT ${fmt.ms(band.max)}`;
  return `loss ${fmt.percent(band.max * 100)}`;
}

/**
 * A chart element for a model of `chartModel`: the SVG scales to its container's width (lines keep their
 * stroke width), labels are HTML on top so they do not stretch. `label` names it for screen readers.
 */
export function networkChart(model, label) {
  const wrap = document.createElement('div');
  wrap.className = 'netchart';
  wrap.setAttribute('role', 'img');
  wrap.setAttribute('aria-label', label);
  const root = svg('svg', { viewBox: `0 0 ${model.width} ${model.height}`, preserveAspectRatio: 'none', 'aria-hidden': 'true' });
  for (const b of model.bands) {
    root.append(svg('rect', { class: 'net-band', x: 0, y: b.top, width: model.width, height: b.bottom - b.top }));
    if (b.threshold !== null) {
      root.append(svg('line', { class: 'net-threshold', x1: 0, x2: model.width, y1: b.threshold, y2: b.threshold, 'vector-effect': 'non-scaling-stroke' }));
    }
    for (const l of b.lines) {
      if (l.d) root.append(svg('path', { class: `net-line net-${l.name.replace(/_.*/, '')}`, d: l.d, 'vector-effect': 'non-scaling-stroke' }));
    }
  }
  for (const s of model.switches) {
    root.append(svg('line', { class: `net-switch${s.down ? ' down' : ''}`, x1: s.x, x2: s.x, y1: 0, y2: model.height, 'vector-effect': 'non-scaling-stroke' }));
  }
  wrap.append(root);
  for (const b of model.bands) {
    const tag = document.createElement('span');
    tag.className = 'netchart-label';
    tag.style.top = `${(b.top / model.height) * 100}%`;
    tag.textContent = bandLabel(b);
    wrap.append(tag);
  }
  const span = document.createElement('span');
  span.className = 'netchart-span';
  span.textContent = `last ${Math.round(model.windowMs / 60000)} min`;
  wrap.append(span);
  if (model.empty) {
    const note = document.createElement('span');
    note.className = 'netchart-empty';
    note.textContent = 'No samples yet';
    wrap.append(note);
  }
  return wrap;
}

/** The legend of the charts' lines, for the panel heading. */
export function networkLegend() {
  const wrap = document.createElement('div');
  wrap.className = 'netlegend';
  for (const [cls, text] of [
    ['estimate', 'estimate'],
    ['bitrate', 'sent'],
    ['target', 'target'],
    ['rtt', 'RTT'],
    ['loss', 'loss'],
    ['switch', 'tier down'],
    ['switch-up', 'tier up'],
  ]) {
    const item = document.createElement('span');
    const key = document.createElement('i');
    key.className = `key key-${cls}`;
    item.append(key, text);
    wrap.append(item);
  }
  return wrap;
}
