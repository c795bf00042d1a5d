// Number, size, rate and time formatting shared by the viewer and the monitor. Missing values print as "—" so
// pages stay tolerant of fields a gateway version does not send.

export const DASH = '—';

const isNum = (v) => typeof v === 'number' && Number.isFinite(v);

/** A duration in ms as "850 ms", "4.2 s", "3 min 20 s", "2 h 5 min", "3 d 4 h". */
export function duration(ms) {
  if (!isNum(ms)) return DASH;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.floor(s % 60)} s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** Milliseconds with one decimal below 10 ms ("2.4 ms", "37 ms"). */
export function ms(v) {
  if (!isNum(v)) return DASH;
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ms`;
}

/** Bytes as "512 B", "1.5 KiB", "23.4 MiB", "1.20 GiB". */
export function bytes(n) {
  if (!isNum(n)) return DASH;
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

/** kbit/s as "850 kbit/s" or "2.40 Mbit/s". */
export function bitrate(kbps) {
  if (!isNum(kbps)) return DASH;
  return kbps >= 1000 ? `${(kbps / 1000).toFixed(2)} Mbit/s` : `${Math.round(kbps)} kbit/s`;
}

/** A count with thousands separators. */
export function count(n) {
  return isNum(n) ? Math.round(n).toLocaleString('en-US') : DASH;
}

/** A rate with one decimal ("29.9"). */
export function rate(v, unit = '') {
  return isNum(v) ? `${v.toFixed(1)}${unit}` : DASH;
}

/** Percent with no decimals ("42 %"). */
export function percent(v) {
  return isNum(v) ? `${Math.round(v)} %` : DASH;
}

/** An epoch-ms time as local HH:MM:SS. */
export function clock(epochMs) {
  if (!isNum(epochMs)) return DASH;
  const d = new Date(epochMs);
  const p = (x) => String(x).padStart(2, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** "3.2 s ago", from an epoch-ms time and the current epoch-ms time. */
export function ago(epochMs, nowMs) {
  if (!isNum(epochMs) || !isNum(nowMs)) return DASH;
  return `${duration(Math.max(0, nowMs - epochMs))} ago`;
}
