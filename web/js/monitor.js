// The monitor dashboard (issue 5): polls the gateway's admin REST endpoints and shows the live summary,
// sessions (with a Kick button), each WebRTC/WHEP viewer's network over the last minutes (issue 10: estimate,
// sent bitrate, RTT, loss, tier switches; struggling viewers first and highlighted), connections (click one for
// its state history, timeline and network plots), pipelines, the SFU instances and publications (issue 12,
// monitor-sfu.js), operations and tasks (leaked ones highlighted).
//
// Shapes are those of docs/openapi.yaml (the monitor crate's snapshot types). Rendering is tolerant: a missing
// field shows "—", unknown fields are ignored, and an endpoint this gateway does not have shows as unavailable in
// its own panel without breaking the others. The admin token comes from the fragment (#token=…) or a sign-in
// form, and is kept in sessionStorage only.

import * as fmt from './format.js';
import { chartModel, networkChart, networkLegend, viewerHealth } from './netplot.js';
import { renderSfuPanel } from './monitor-sfu.js';
import { renderDevicesPanel } from './monitor-devices.js';
import { fragmentWithoutToken, parseFragment } from './options.js';

/** Refresh period of the whole dashboard (and of an open connection's detail). */
export const POLL_MS = 2000;
const TOKEN_KEY = 'sightline.admin-token';
const MONITOR = '/api/v0/mcp/monitor/webrtc';
const ENDPOINTS = {
  summary: `${MONITOR}/summary`,
  connections: `${MONITOR}/connections`,
  operations: `${MONITOR}/operations`,
  tasks: `${MONITOR}/tasks`,
  status: '/api/v1/status',
  sessions: '/api/v1/sessions',
  performance: '/api/v1/performance',
  sfu: '/api/v1/sfu',
  devices: '/api/v1/devices',
};
/** How long a Kick button waits for its confirming second click. */
const KICK_CONFIRM_MS = 4000;
/** Rows shown per list; the REST snapshots are bounded too, this keeps the DOM small on phones. */
const MAX_ROWS = 200;
/**
 * Viewers plotted in the network panel, the most troubled first. Each costs one connection-detail request per
 * refresh (the list endpoint carries no history); the rest stay in the connections table.
 */
const MAX_NET_VIEWERS = 12;
/** Connection kinds that are RTP viewers: they have an estimate, a tier, loss and NACKs to plot. */
const NET_KINDS = new Set(['webrtc', 'whep']);
const HEALTH_RANK = { bad: 0, warn: 1, ok: 2 };

const $ = (id) => document.getElementById(id);

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Creates an element: h('td', {class: 'num'}, 'text', child…). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

const pill = (text, cls = '') => h('span', { class: `pill ${cls || String(text).toLowerCase()}` }, text);
const td = (content, cls) => h('td', { class: cls }, content ?? fmt.DASH);
const num = (content) => td(content, 'num');

/** A table with a header row and body rows; `empty` shows when there are none. */
function fillTable(table, headers, rows, empty) {
  const head = h('thead', {}, h('tr', {}, headers.map((x) => (x.startsWith('#') ? h('th', { class: 'num' }, x.slice(1)) : h('th', {}, x)))));
  const body = h('tbody');
  if (rows.length === 0) body.append(h('tr', {}, h('td', { class: 'empty', colspan: headers.length }, empty)));
  else body.append(...rows.slice(0, MAX_ROWS));
  table.replaceChildren(head, body);
}

function unavailable(table, headers, err) {
  const why = err.status === 404 ? 'Not available in this gateway version.' : `Could not load: ${err.message}`;
  fillTable(table, headers, [], why);
}

class Monitor {
  constructor() {
    this.token = null;
    this.data = {};
    this.errors = {};
    this.selected = null;
    this.detail = null;
    this.detailError = null;
    this.netDetails = new Map(); // viewer connection id → its latest detail (for `series`)
    this.paused = false;
    this.timer = null;
    this.inFlight = false;
    this.kickArmed = null; // {id, until}
    this.lastOk = null;
  }

  boot() {
    const opts = parseFragment(location.hash);
    if (opts.token) {
      sessionStorage.setItem(TOKEN_KEY, opts.token);
      history.replaceState(null, '', location.pathname + location.search + fragmentWithoutToken(location.hash));
    }
    this.token = opts.token || sessionStorage.getItem(TOKEN_KEY);
    $('btn-pause').addEventListener('click', () => this.togglePause());
    $('show-closed').addEventListener('change', () => this.render());
    $('errors-only').addEventListener('change', () => this.render());
    $('drawer-close').addEventListener('click', () => this.closeDrawer());
    $('network-legend').replaceChildren(networkLegend());
    document.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') this.closeDrawer();
    });
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden) this.refresh();
    });
    $('token-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const t = $('token-input').value.trim();
      if (!t) return;
      this.token = t;
      sessionStorage.setItem(TOKEN_KEY, t);
      $('token-overlay').hidden = true;
      this.refresh();
    });
    // Read-only diagnostics for tests: when the last successful refresh happened.
    const self = this;
    window.sightlineMonitor = {
      get lastOk() {
        return self.lastOk;
      },
    };
    if (!this.token) this.askToken(null);
    else this.refresh();
    this.timer = setInterval(() => this.refresh(), POLL_MS);
  }

  askToken(error) {
    $('token-error').textContent = error || '';
    $('token-error').hidden = !error;
    $('token-overlay').hidden = false;
    $('token-input').focus();
  }

  togglePause() {
    this.paused = !this.paused;
    $('btn-pause').textContent = this.paused ? 'Resume' : 'Pause';
    $('btn-pause').setAttribute('aria-pressed', String(this.paused));
    this.renderUpdated();
    if (!this.paused) this.refresh();
  }

  async get(path) {
    let res;
    try {
      res = await fetch(path, { headers: { Authorization: `Bearer ${this.token}` }, cache: 'no-store' });
    } catch (e) {
      throw new HttpError(0, 'the gateway is unreachable');
    }
    if (!res.ok) {
      let message = `HTTP ${res.status}`;
      try {
        const body = await res.json();
        if (body && body.message) message = body.message;
      } catch {
        // Not JSON: keep the status line.
      }
      throw new HttpError(res.status, message);
    }
    return res.json();
  }

  async refresh() {
    if (this.paused || this.inFlight || !this.token || document.hidden) return;
    this.inFlight = true;
    try {
      const keys = Object.keys(ENDPOINTS);
      const results = await Promise.allSettled(keys.map((k) => this.get(ENDPOINTS[k])));
      const errors = {};
      results.forEach((r, i) => {
        if (r.status === 'fulfilled') this.data[keys[i]] = r.value;
        else errors[keys[i]] = r.reason;
      });
      this.errors = errors;
      const failures = Object.values(errors);
      if (failures.some((e) => e.status === 401 || e.status === 403)) {
        const forbidden = failures.some((e) => e.status === 403);
        sessionStorage.removeItem(TOKEN_KEY);
        this.token = null;
        this.data = {};
        this.askToken(forbidden ? 'This token is valid but not an admin token.' : 'The gateway did not accept this token.');
        return;
      }
      const offline = failures.length === keys.length && failures.every((e) => e.status === 0);
      $('conn-error').hidden = !offline;
      if (offline) $('conn-error').textContent = 'The gateway is unreachable. Showing the last data; retrying every 2 s.';
      else this.lastOk = Date.now();
      await Promise.all([this.loadNetwork(), this.selected ? this.loadDetail() : null]);
      this.render(offline);
    } finally {
      this.inFlight = false;
    }
  }

  /** The gateway's "now" (its clock decides ages, not this device's). */
  now() {
    return (this.data.summary && this.data.summary.generated_ms) || Date.now();
  }

  render(offline = false) {
    this.renderHealth(offline);
    this.renderCards();
    this.renderSessions();
    this.renderNetwork();
    this.renderConnections();
    this.renderPipelines();
    const sfu = this.data.sfu || (this.data.summary && this.data.summary.sfu);
    renderSfuPanel(sfu, this.errors.sfu, { h, pill, td, num, fillTable }, this.now());
    renderDevicesPanel(this.data.devices, this.errors.devices, { h, pill, td, num, fillTable }, this.now());
    this.renderOperations();
    this.renderTasks();
    this.renderDrawer();
    this.renderUpdated();
  }

  renderUpdated() {
    const t = this.lastOk ? `Updated ${fmt.clock(this.lastOk)}` : '';
    $('updated').textContent = this.paused ? `Paused · ${t}` : t;
  }

  renderHealth(offline) {
    const el = $('health');
    const perf = this.data.performance;
    const health = perf && perf.health;
    if (offline) {
      el.dataset.status = 'offline';
      $('health-text').textContent = 'Offline';
    } else if (health) {
      el.dataset.status = health.status || 'unknown';
      $('health-text').textContent = `${capitalise(health.status || 'unknown')} · ${health.score ?? fmt.DASH}`;
    } else {
      el.dataset.status = 'unknown';
      $('health-text').textContent = this.errors.performance ? 'Health unknown' : 'Loading…';
    }
    const panel = $('health-panel');
    const reasons = (health && health.reasons) || [];
    const recs = (health && health.recommendations) || [];
    panel.hidden = reasons.length === 0 && recs.length === 0;
    if (!panel.hidden) {
      $('health-body').replaceChildren(
        reasons.length ? h('div', {}, h('strong', {}, 'Why'), h('ul', { class: 'health-list' }, reasons.map((r) => h('li', {}, r)))) : '',
        recs.length ? h('div', {}, h('strong', {}, 'What to do'), h('ul', { class: 'health-list' }, recs.map((r) => h('li', {}, r)))) : '',
      );
    }
  }

  renderCards() {
    const s = this.data.summary;
    const st = this.data.status;
    const perf = this.data.performance;
    const proc = perf && perf.process;
    const card = (title, big, sub, alert = false, id = undefined) =>
      h('div', { class: `cardlet${alert ? ' alert' : ''}`, id }, h('h3', {}, title), h('div', { class: 'big' }, big), h('div', { class: 'sub' }, sub));
    const byKind = (obj) =>
      Object.entries(obj || {})
        .filter(([, n]) => n > 0)
        .map(([k, n]) => `${k} ${n}`)
        .join(' · ') || 'none';
    const cards = [];
    const uptimeMs = s ? s.uptime_ms : st ? st.uptime_s * 1000 : undefined;
    cards.push(card('Uptime', fmt.duration(uptimeMs), st ? `v${st.version} · ${st.source}` : fmt.DASH));
    cards.push(card('Connections', s ? fmt.count(s.connections && s.connections.live) : fmt.DASH, s ? byKind(s.connections && s.connections.by_kind) : fmt.DASH));
    const sessions = this.data.sessions && this.data.sessions.sessions;
    cards.push(
      card('Sessions', st ? fmt.count(st.sessions) : sessions ? fmt.count(sessions.length) : fmt.DASH, st ? `watching: ${byKind(st.viewers)}` : fmt.DASH),
    );
    const leaked = s ? s.leaked : undefined;
    cards.push(
      card(
        'Leaked tasks',
        fmt.count(leaked),
        s && s.tasks ? `${fmt.count(s.tasks.running)} running · ${fmt.count(s.tasks.pending)} pending` : fmt.DASH,
        leaked > 0,
        'card-leaked',
      ),
    );
    const totals = s && s.totals;
    cards.push(
      card(
        'Operations',
        totals ? fmt.count(totals.operations) : fmt.DASH,
        totals ? `${fmt.count(totals.operations_failed)} failed · ${fmt.count(s.running_operations)} running` : fmt.DASH,
      ),
    );
    cards.push(
      card(
        'CPU',
        proc && proc.available !== false ? fmt.percent(proc.cpu_percent) : fmt.DASH,
        proc ? (proc.available === false ? proc.unavailable_reason || 'unavailable' : `${fmt.count(proc.cpus)} cores · ${fmt.count(proc.threads)} threads`) : fmt.DASH,
      ),
    );
    cards.push(card('Memory', proc ? fmt.bytes(proc.rss_bytes) : fmt.DASH, proc ? `peak ${fmt.bytes(proc.rss_peak_bytes)}` : fmt.DASH));
    cards.push(card('Pipelines', s ? fmt.count(s.pipelines) : fmt.DASH, totals ? `${fmt.count(totals.frames_dropped)} frames dropped` : fmt.DASH));
    $('cards').replaceChildren(...cards);
  }

  renderSessions() {
    const headers = ['Session', 'Kind', 'Role', 'Remote', 'Started', 'Watching', '#FPS', '#Bitrate', '#RTT', ''];
    const table = $('sessions');
    if (this.errors.sessions && !this.data.sessions) return unavailable(table, headers, this.errors.sessions);
    const list = (this.data.sessions && this.data.sessions.sessions) || [];
    const now = this.now();
    $('sessions-note').textContent = list.length ? `${list.length} connected` : '';
    const rows = list.map((s) => {
      const w = s.watch;
      const st = s.stats || {};
      const armed = this.kickArmed && this.kickArmed.id === s.id && this.kickArmed.until > Date.now();
      const kick = h(
        'button',
        {
          class: `btn btn-small btn-danger${armed ? ' armed' : ''}`,
          type: 'button',
          dataset: { kick: s.id },
          onclick: (e) => {
            e.stopPropagation();
            this.kick(s.id);
          },
        },
        armed ? 'Confirm kick' : 'Kick',
      );
      return h(
        'tr',
        { dataset: { id: s.id } },
        td(s.id, 'mono'),
        td(pill(s.kind || fmt.DASH, 'kind')),
        td(s.role),
        td(s.remote, 'mono muted'),
        td(fmt.ago(s.started_at_ms, now), 'muted'),
        td(w ? `${w.screen} · ${w.transport}` : 'not watching', w ? '' : 'muted'),
        num(fmt.rate(st.fps)),
        num(fmt.bitrate(st.bitrate_kbps)),
        num(fmt.ms(st.rtt_ms)),
        td(kick, 'num'),
      );
    });
    fillTable(table, headers, rows, 'No sessions.');
  }

  async kick(id) {
    const armed = this.kickArmed && this.kickArmed.id === id && this.kickArmed.until > Date.now();
    if (!armed) {
      this.kickArmed = { id, until: Date.now() + KICK_CONFIRM_MS };
      this.renderSessions();
      setTimeout(() => this.renderSessions(), KICK_CONFIRM_MS + 50);
      return;
    }
    this.kickArmed = null;
    try {
      const res = await fetch(`/api/v1/sessions/${encodeURIComponent(id)}`, {
        method: 'DELETE',
        headers: { Authorization: `Bearer ${this.token}` },
      });
      if (res.ok) this.toast(`Session ${id} ended.`);
      else if (res.status === 404) this.toast(`Session ${id} had already ended.`);
      else this.toast(`Could not end session ${id}: HTTP ${res.status}`);
    } catch {
      this.toast(`Could not end session ${id}: the gateway is unreachable.`);
    }
    this.refresh();
  }

  // --- viewers' network ------------------------------------------------------------------------------------------

  /** Open WebRTC/WHEP connections with their health, the most troubled first. */
  netViewers() {
    const list = (this.data.connections && this.data.connections.connections) || [];
    return list
      .filter((c) => c.lifecycle !== 'closed' && NET_KINDS.has(c.kind))
      .map((c) => ({ c, health: viewerHealth(c.counters) }))
      .sort((a, b) => HEALTH_RANK[a.health.level] - HEALTH_RANK[b.health.level] || idNumber(a.c.id) - idNumber(b.c.id));
  }

  /** Fetches the details (for their `series`) of the viewers the panel plots; a failed one keeps its last data. */
  async loadNetwork() {
    const viewers = this.netViewers().slice(0, MAX_NET_VIEWERS);
    const results = await Promise.allSettled(viewers.map(({ c }) => this.get(`${MONITOR}/connections/${encodeURIComponent(c.id)}`)));
    const next = new Map();
    results.forEach((r, i) => {
      const id = viewers[i].c.id;
      if (r.status === 'fulfilled') next.set(id, r.value);
      else if (this.netDetails.has(id)) next.set(id, this.netDetails.get(id));
    });
    this.netDetails = next;
  }

  renderNetwork() {
    const body = $('network');
    const note = $('network-note');
    if (!this.data.connections) {
      const e = this.errors.connections;
      note.textContent = '';
      body.replaceChildren(h('p', { class: 'unavailable' }, e ? `Could not load: ${e.message}` : 'Loading…'));
      return;
    }
    const viewers = this.netViewers();
    const struggling = viewers.filter((v) => v.health.level === 'bad').length;
    note.textContent = viewers.length ? `${viewers.length} watching${struggling ? ` · ${struggling} struggling` : ''}` : '';
    if (viewers.length === 0) {
      body.replaceChildren(h('p', { class: 'unavailable' }, 'No WebRTC or WHEP viewers.'));
      return;
    }
    const now = this.now();
    const cards = viewers.slice(0, MAX_NET_VIEWERS).map(({ c, health }) => this.netCard(c, health, now));
    const more = viewers.length - MAX_NET_VIEWERS;
    if (more > 0) cards.push(h('p', { class: 'panel-note' }, `${more} more viewers are in the connections table (the worst are plotted here).`));
    body.replaceChildren(...cards);
  }

  /** One viewer: who, tier, why it is highlighted, its numbers now and its plot over the last minutes. */
  netCard(c, health, now) {
    const k = c.counters || {};
    const d = this.netDetails.get(c.id);
    const open = () => this.openDrawer(c.id);
    return h(
      'article',
      { class: `netcard ${health.level}`, dataset: { id: c.id, kind: c.kind, health: health.level }, tabindex: '0', onclick: open,
        onkeydown: (e) => { if (e.key === 'Enter') open(); } },
      h(
        'div',
        { class: 'netcard-head' },
        h('b', { class: 'mono' }, c.id),
        pill(c.kind, 'kind'),
        h('span', { class: 'netcard-who' }, [c.screen && `screen ${c.screen}`, c.remote].filter(Boolean).join(' · ')),
        h('span', { class: 'tier', title: 'Quality tier' }, tierText(k)),
      ),
      health.reasons.length ? h('div', { class: 'netcard-why' }, health.reasons.join(' · ')) : null,
      netNumbers(k, true),
      networkChart(chartModel((d && d.series) || [], { nowMs: now, height: 120 }), `Network of ${c.id} over the last minutes`),
    );
  }

  renderConnections() {
    const headers = ['ID', 'Kind', 'State', 'ICE / peer', 'Session', 'Screen', 'Remote', 'Age', '#Bitrate', '#FPS', '#RTT', '#Lost', '#Tasks'];
    const table = $('connections');
    if (this.errors.connections && !this.data.connections) return unavailable(table, headers, this.errors.connections);
    const showClosed = $('show-closed').checked;
    const list = ((this.data.connections && this.data.connections.connections) || []).filter((c) => showClosed || c.lifecycle !== 'closed');
    const rows = list.map((c) => {
      const states = c.states || {};
      const rtc = [states.ice, states.peer].filter(Boolean).join(' / ');
      const k = c.counters || {};
      const cls = [c.lifecycle === 'closed' ? 'closed' : '', this.selected === c.id ? 'selected' : ''].join(' ').trim();
      return h(
        'tr',
        { class: cls || undefined, dataset: { id: c.id, kind: c.kind, lifecycle: c.lifecycle }, onclick: () => this.openDrawer(c.id), tabindex: '0',
          onkeydown: (e) => { if (e.key === 'Enter') this.openDrawer(c.id); } },
        td(c.id, 'mono'),
        td(pill(c.kind || fmt.DASH, 'kind')),
        td(pill(c.lifecycle || fmt.DASH)),
        td(rtc || fmt.DASH, 'muted'),
        td(c.session, 'mono'),
        td(c.screen),
        td(c.remote, 'mono muted'),
        td(fmt.duration(c.duration_ms), 'muted'),
        num(fmt.bitrate(k.bitrate_kbps)),
        num(fmt.rate(k.fps)),
        num(fmt.ms(k.rtt_ms)),
        num(fmt.count(k.packets_lost)),
        num(fmt.count(c.tasks_alive)),
      );
    });
    fillTable(table, headers, rows, showClosed ? 'No connections.' : 'No open connections.');
  }

  renderPipelines() {
    const headers = ['Screen', 'Kind', 'Profile', '#Subs', '#Capture fps', '#Encode fps', '#Bitrate', '#Frame', '#Capture', '#Convert', '#Encode', '#Keyframes', '#Dropped', 'Uptime'];
    const table = $('pipelines');
    const src = this.data.performance || this.data.status;
    if (!src && (this.errors.performance || this.errors.status)) return unavailable(table, headers, this.errors.performance || this.errors.status);
    const list = (src && src.pipelines) || [];
    const timing = (t) => (t && t.samples ? `${fmt.ms(t.median_ms)} / ${fmt.ms(t.p95_ms)}` : fmt.DASH);
    const rows = list.map((p) =>
      h(
        'tr',
        { class: p.dropped_total > 0 ? 'bad' : undefined, dataset: { screen: p.screen, kind: p.kind } },
        td(p.screen),
        td(pill(p.kind || fmt.DASH, 'kind')),
        td(p.profile || fmt.DASH, 'mono muted'),
        num(fmt.count(p.subscribers)),
        num(fmt.rate(p.capture_fps)),
        num(fmt.rate(p.encode_fps)),
        num(fmt.bitrate(p.bitrate_kbps)),
        num(fmt.bytes(p.mean_frame_bytes && Math.round(p.mean_frame_bytes))),
        num(timing(p.capture)),
        num(timing(p.convert)),
        num(timing(p.encode)),
        num(fmt.count(p.keyframes_total)),
        num(fmt.count(p.dropped_total)),
        td(fmt.duration(p.uptime_ms), 'muted'),
      ),
    );
    fillTable(table, headers, rows, 'No pipeline runs: nobody is watching.');
  }

  renderOperations() {
    const kindHeaders = ['Kind', '#Running', '#OK', '#Failed', '#Abandoned', '#Mean', '#p95', '#Max'];
    const listHeaders = ['ID', 'Kind', 'Connection', 'Started', '#Duration', 'Result', 'Error'];
    const ops = this.data.operations;
    if (!ops && this.errors.operations) {
      unavailable($('op-kinds'), kindHeaders, this.errors.operations);
      unavailable($('operations'), listHeaders, this.errors.operations);
      return;
    }
    const kinds = (ops && ops.by_kind) || (this.data.summary && this.data.summary.operations) || [];
    fillTable(
      $('op-kinds'),
      kindHeaders,
      kinds.map((k) =>
        h(
          'tr',
          { class: k.failed > 0 ? 'bad' : undefined },
          td(k.kind, 'mono'),
          num(fmt.count(k.running)),
          num(fmt.count(k.ok)),
          num(fmt.count(k.failed)),
          num(fmt.count(k.abandoned)),
          num(fmt.ms(k.mean_ms)),
          num(fmt.ms(k.p95_ms)),
          num(fmt.ms(k.max_ms)),
        ),
      ),
      'No operations yet.',
    );
    const errorsOnly = $('errors-only').checked;
    const list = [...((ops && ops.running) || []), ...((ops && ops.recent) || [])].filter(
      (o) => !errorsOnly || o.result === 'error' || o.result === 'abandoned',
    );
    fillTable($('operations'), listHeaders, list.map((o) => operationRow(o, this.now())), errorsOnly ? 'No failures.' : 'No operations yet.');
  }

  renderTasks() {
    const headers = ['ID', 'Name', 'Owner', 'Kind', 'State', '#Age', 'Owner closed'];
    const t = this.data.tasks;
    if (!t && this.errors.tasks) {
      $('task-counts').replaceChildren();
      return unavailable($('tasks'), headers, this.errors.tasks);
    }
    const c = (t && t.counts) || (this.data.summary && this.data.summary.tasks) || {};
    const chip = (label, v, alert = false) => h('span', { class: `chip${alert && v > 0 ? ' alert' : ''}` }, `${label} `, h('b', {}, fmt.count(v)));
    $('task-counts').replaceChildren(
      chip('running', c.running),
      chip('pending', c.pending),
      chip('leaked', c.leaked, true),
      chip('panicked', c.panicked, true),
      chip('spawned', c.spawned),
      chip('finished', c.finished),
      chip('cancelled', c.cancelled),
      chip('ever leaked', c.leaked_total, true),
    );
    $('tasks-note').textContent = c.leaked > 0 ? `${c.leaked} leaked` : '';
    const leaked = (t && t.leaked) || [];
    const leakedIds = new Set(leaked.map((x) => x.id));
    const live = ((t && t.live) || []).filter((x) => !leakedIds.has(x.id));
    fillTable($('tasks'), headers, [...leaked, ...live].map((x) => taskRow(x, this.now())), 'No live tasks.');
  }

  // --- drawer ----------------------------------------------------------------------------------------------------

  openDrawer(id) {
    this.selected = id;
    this.detail = null;
    this.detailError = null;
    $('drawer').hidden = false;
    this.renderConnections();
    this.renderDrawer();
    this.loadDetail().then(() => this.renderDrawer());
  }

  closeDrawer() {
    if (!this.selected) return;
    this.selected = null;
    this.detail = null;
    $('drawer').hidden = true;
    this.renderConnections();
  }

  async loadDetail() {
    const id = this.selected;
    if (!id) return;
    try {
      const d = await this.get(`${MONITOR}/connections/${encodeURIComponent(id)}`);
      if (this.selected === id) {
        this.detail = d;
        this.detailError = null;
      }
    } catch (e) {
      if (this.selected === id) this.detailError = e;
    }
  }

  renderDrawer() {
    if (!this.selected) return;
    const d = this.detail;
    const body = $('drawer-body');
    $('drawer-title').textContent = d ? `${d.id} · ${d.kind}` : this.selected;
    if (!d) {
      const e = this.detailError;
      body.replaceChildren(
        h('p', { class: 'unavailable' }, e ? (e.status === 404 ? 'The monitor no longer knows this connection.' : `Could not load: ${e.message}`) : 'Loading…'),
      );
      return;
    }
    const now = this.now();
    const kv = (pairs) =>
      h('dl', { class: 'kv' }, pairs.map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', { title: typeof v === 'string' ? v : undefined }, v ?? fmt.DASH))));
    const k = d.counters || {};
    const opened = d.opened_ms;
    const rel = (t) => (typeof t === 'number' && typeof opened === 'number' ? `+${fmt.duration(t - opened)}` : fmt.DASH);
    const history = (d.history || []).slice().sort((a, b) => a.at_ms - b.at_ms);
    const events = (d.timeline || []).slice().sort((a, b) => a.at_ms - b.at_ms);
    const states = d.states || {};
    body.replaceChildren(
      h('div', { class: 'chips' }, pill(d.lifecycle || fmt.DASH), ...Object.entries(states).map(([m, s]) => h('span', { class: 'chip' }, `${m} `, h('b', {}, s)))),
      kv([
        ['Session', d.session],
        ['Screen', d.screen],
        ['Role', d.role],
        ['Remote', d.remote],
        ['Parent', d.parent],
        ['Opened', fmt.clock(d.opened_ms)],
        ['Open for', fmt.duration(d.duration_ms)],
        ['Closed', d.closed_ms ? `${fmt.clock(d.closed_ms)} (${fmt.ago(d.closed_ms, now)})` : 'open'],
        ['Close reason', d.close_reason],
        ['Tasks alive', fmt.count(d.tasks_alive)],
      ]),
      h('h3', {}, 'Counters'),
      kv([
        ['Sent', fmt.bytes(k.bytes_sent)],
        ['Received', fmt.bytes(k.bytes_received)],
        ['Bitrate', fmt.bitrate(k.bitrate_kbps)],
        ['FPS', fmt.rate(k.fps)],
        ['RTT', fmt.ms(k.rtt_ms)],
        ['Jitter', fmt.ms(k.jitter_ms)],
        ['Frames sent', fmt.count(k.frames_sent)],
        ['Keyframes', fmt.count(k.keyframes_sent)],
        ['Frames dropped', fmt.count(k.frames_dropped)],
        ['Packets sent', fmt.count(k.packets_sent)],
        ['Packets lost', fmt.count(k.packets_lost)],
        ['NACK / PLI / FIR', `${fmt.count(k.nack_received)} / ${fmt.count(k.pli_received)} / ${fmt.count(k.fir_received)}`],
        ['Messages out / in', `${fmt.count(k.messages_sent)} / ${fmt.count(k.messages_received)}`],
      ]),
      ...this.drawerNetwork(d, now),
      h('h3', {}, 'State history'),
      history.length
        ? h(
            'div',
            { class: 'table-wrap' },
            tableEl(
              ['At', 'Machine', 'From', 'To'],
              history.map((c) => h('tr', {}, td(rel(c.at_ms), 'mono muted'), td(c.machine), td(c.from ? pill(c.from) : fmt.DASH), td(pill(c.to)))),
              'detail-history',
            ),
          )
        : h('p', { class: 'unavailable' }, 'No state changes recorded yet.'),
      d.history_dropped ? h('p', { class: 'panel-note' }, `${d.history_dropped} older state changes were dropped (bounded history).`) : '',
      h('h3', {}, 'Timeline'),
      events.length
        ? h('ul', { class: 'timeline', id: 'detail-timeline' }, events.map((e) => h('li', {}, h('span', { class: 't' }, rel(e.at_ms)), ' ', e.text)))
        : h('p', { class: 'unavailable' }, 'Nothing recorded yet.'),
      d.timeline_dropped ? h('p', { class: 'panel-note' }, `${d.timeline_dropped} older events were dropped (bounded timeline).`) : '',
      (d.data_channels || []).length ? h('h3', {}, 'Data channels') : '',
      (d.data_channels || []).length
        ? tableOf(['Label', 'State', 'Opened', 'Changed'], d.data_channels.map((c) => [c.label, pill(c.state), rel(c.opened_ms), rel(c.changed_ms)]))
        : '',
      (d.tracks || []).length ? h('h3', {}, 'Tracks') : '',
      (d.tracks || []).length ? tableOf(['ID', 'Kind', 'State', 'Added'], d.tracks.map((t) => [t.id, t.kind, pill(t.state), rel(t.added_ms)])) : '',
      Object.keys(d.drops || {}).length ? h('h3', {}, 'Dropped frames by reason') : '',
      Object.keys(d.drops || {}).length ? kv(Object.entries(d.drops).map(([r, n]) => [r, fmt.count(n)])) : '',
      (d.operations || []).length ? h('h3', {}, 'Operations') : '',
      (d.operations || []).length
        ? h('div', { class: 'table-wrap' }, tableEl(['ID', 'Kind', 'Connection', 'Started', '#Duration', 'Result', 'Error'], d.operations.map((o) => operationRow(o, now))))
        : '',
      (d.tasks || []).length ? h('h3', {}, 'Tasks') : '',
      (d.tasks || []).length
        ? h('div', { class: 'table-wrap' }, tableEl(['ID', 'Name', 'Owner', 'Kind', 'State', '#Age', 'Owner closed'], d.tasks.map((t) => taskRow(t, now))))
        : '',
    );
  }

  /**
   * The detail's network section: current numbers and a large plot of `series`. For RTP viewers, and for other
   * video connections (JPEG, MJPEG) once their history has a bitrate to show.
   */
  drawerNetwork(d, now) {
    const series = d.series || [];
    if (!NET_KINDS.has(d.kind) && !series.some((x) => x.bitrate_kbps > 0)) return [];
    const k = d.counters || {};
    const health = viewerHealth(k);
    return [
      h('h3', {}, 'Network'),
      health.reasons.length ? h('p', { class: `netcard-why ${health.level}`, id: 'detail-network-why' }, health.reasons.join(' · ')) : '',
      netNumbers(k, false),
      networkLegend(),
      h('div', { id: 'detail-network' }, networkChart(chartModel(series, { nowMs: now, height: 240 }), `Network of ${d.id}`)),
    ];
  }

  toast(text) {
    const t = $('toast');
    t.textContent = text;
    t.hidden = false;
    clearTimeout(this.toastTimer);
    this.toastTimer = setTimeout(() => (t.hidden = true), 4000);
  }
}

function operationRow(o, now) {
  return h(
    'tr',
    { class: o.result === 'error' || o.result === 'abandoned' ? 'bad' : undefined },
    td(String(o.id), 'mono muted'),
    td(o.kind, 'mono'),
    td(o.connection, 'mono'),
    td(fmt.ago(o.started_ms, now), 'muted'),
    num(fmt.ms(o.duration_ms)),
    td(pill(o.result || fmt.DASH)),
    td(o.error || '', 'wrap'),
  );
}

function taskRow(t, now) {
  return h(
    'tr',
    { class: t.leaked ? 'leaked' : undefined, dataset: { leaked: String(!!t.leaked) } },
    td(String(t.id), 'mono muted'),
    td(t.name, 'mono'),
    td(t.owner, 'mono'),
    td(t.kind),
    td(t.leaked ? pill('leaked') : pill(t.state || fmt.DASH)),
    num(fmt.duration(t.duration_ms)),
    td(t.owner_closed_ms ? fmt.ago(t.owner_closed_ms, now) : fmt.DASH, 'muted'),
  );
}

function tableEl(headers, rows, id = undefined) {
  const t = h('table', { class: 'table', id });
  fillTable(t, headers, rows, '');
  return t;
}

function tableOf(headers, cells) {
  return h('div', { class: 'table-wrap' }, tableEl(headers, cells.map((r) => h('tr', {}, r.map((c) => td(c))))));
}

/** The numeric part of a connection id ("c42" → 42), for sorting. */
function idNumber(id) {
  const n = parseInt(String(id).replace(/^c/, ''), 10);
  return Number.isFinite(n) ? n : 0;
}

function tierText(k) {
  if (k.tier_name) return k.tier_name;
  return typeof k.tier === 'number' ? `tier ${k.tier}` : 'no tiers';
}

/** A viewer's network numbers now; `compact` for the panel's cards. */
function netNumbers(k, compact) {
  const loss = typeof k.loss_fraction === 'number' ? fmt.percent(k.loss_fraction * 100) : fmt.DASH;
  const pairs = [
    ['Estimate', fmt.bitrate(k.estimate_kbps)],
    ['Sent', fmt.bitrate(k.bitrate_kbps)],
    ['Target', fmt.bitrate(k.target_kbps)],
    ['RTT', fmt.ms(k.rtt_ms)],
    ['Loss', loss],
    ['Tier switches', fmt.count(k.tier_switches)],
    ['NACK / PLI', `${fmt.count(k.nack_received)} / ${fmt.count(k.pli_received)}`],
    ['Retransmitted', fmt.bytes(k.retransmitted_bytes)],
  ];
  if (!compact) pairs.splice(3, 0, ['Tier', tierText(k)]);
  return h('dl', { class: compact ? 'netnums' : 'kv' }, pairs.map(([t, v]) => h('div', {}, h('dt', {}, t), h('dd', {}, v))));
}

function capitalise(s) {
  return s ? s[0].toUpperCase() + s.slice(1) : s;
}

new Monitor().boot();
