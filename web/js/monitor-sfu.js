// The monitor dashboard's SFU panel (issue 12): the Janus instances viewers are routed to (up or down, viewers,
// health failures) and the streams the gateway publishes (to a Janus mountpoint or a WHIP endpoint) with their
// bytes, keyframes and the PLIs/FIRs that came back.
//
// Fed by GET /api/v1/sfu (the monitor crate's SfuSnapshot; the summary carries the same object as `sfu`). The panel
// stays hidden while there is nothing to show: no [sfu] configured, nothing published, or a gateway without the
// endpoint.

import * as fmt from './format.js';

/**
 * Fills the panel. `snap` is an SfuSnapshot or undefined, `err` the endpoint's error if it failed, `ui` the
 * dashboard's element helpers ({h, pill, td, num, fillTable}), `now` the gateway's time (epoch ms).
 */
export function renderSfuPanel(snap, err, ui, now) {
  const panel = document.getElementById('sfu-panel');
  if (!panel) return;
  const instances = (snap && snap.instances) || [];
  const pubs = (snap && snap.publications) || [];
  panel.hidden = instances.length === 0 && pubs.length === 0 && !(err && err.status && err.status !== 404);
  if (panel.hidden) return;
  const { h, pill, td, num, fillTable } = ui;
  const up = instances.filter((i) => i.up).length;
  const viewers = instances.reduce((n, i) => n + (i.viewers || 0), 0);
  document.getElementById('sfu-note').textContent = err && !snap
    ? `Could not load: ${err.message}`
    : `${up} of ${instances.length} up · ${fmt.count(viewers)} viewers · ${pubs.length} published`;

  const instanceRows = instances.map((i) =>
    h(
      'tr',
      { class: i.up ? undefined : 'bad', dataset: { instance: i.name, up: String(!!i.up) } },
      td(i.name, 'mono'),
      td(i.up ? pill('up', 'ok') : pill('down', 'error')),
      td(i.url, 'mono muted'),
      num(fmt.count(i.viewers)),
      num(fmt.count(i.publications)),
      num(fmt.count(i.failures_total)),
      td(i.last_error || '', 'wrap muted'),
    ),
  );
  fillTable(
    document.getElementById('sfu-instances'),
    ['Instance', 'State', 'URL', '#Viewers', '#Published', '#Failed checks', 'Last error'],
    instanceRows,
    'No SFU instances configured.',
  );

  const pubRows = pubs.map((p) =>
    h(
      'tr',
      { dataset: { publication: String(p.id), kind: p.kind } },
      td(pill(p.kind || fmt.DASH, 'kind')),
      td(p.mountpoint ? `${p.target} · mp ${p.mountpoint}` : p.target, 'mono'),
      td(p.screen, 'mono'),
      td(p.tier),
      td(fmt.ago(p.started_ms, now), 'muted'),
      num(fmt.count(p.viewers)),
      num(fmt.bytes(p.bytes)),
      num(fmt.count(p.packets)),
      num(fmt.count(p.keyframes)),
      num(`${fmt.count(p.plis)} / ${fmt.count(p.firs)}`),
      num(p.remb_bps ? fmt.bitrate(p.remb_bps / 1000) : fmt.DASH),
      td(fmt.count(p.send_errors || 0), p.send_errors ? 'num bad' : 'num'),
    ),
  );
  fillTable(
    document.getElementById('sfu-publications'),
    ['Kind', 'Target', 'Screen', 'Tier', 'Started', '#Viewers', '#Sent', '#Packets', '#Keyframes', '#PLI / FIR', '#REMB', '#Send errors'],
    pubRows,
    'Nothing published.',
  );
}
