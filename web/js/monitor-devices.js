// The monitor dashboard's devices panel (issue 15): the devices dialled in to this gateway as their hub — online or
// not, pending approval, their screens, version, the link's round-trip time and when each was last heard from. Their
// links and relayed streams are also in the connections table (kinds `device` and `upstream`).
//
// Fed by GET /api/v1/devices. The panel stays hidden while the hub knows no device.

import * as fmt from './format.js';

/**
 * Fills the panel. `list` is the endpoint's `{devices: […]}` or undefined, `err` its error if it failed, `ui` the
 * dashboard's element helpers ({h, pill, td, num, fillTable}), `now` the gateway's time (epoch ms).
 */
export function renderDevicesPanel(list, err, ui, now) {
  const panel = document.getElementById('devices-panel');
  if (!panel) return;
  const devices = (list && list.devices) || [];
  panel.hidden = devices.length === 0 && !(err && err.status && err.status !== 404);
  if (panel.hidden) return;
  const { h, pill, td, num, fillTable } = ui;
  const online = devices.filter((d) => d.online).length;
  const pending = devices.filter((d) => d.state === 'pending').length;
  document.getElementById('devices-note').textContent = err && !list
    ? `Could not load: ${err.message}`
    : `${online} of ${devices.length} online${pending ? ` · ${pending} pending approval` : ''}`;
  const rows = devices.map((d) => {
    const state = d.state === 'pending' ? pill('pending') : d.online ? pill('online', 'ok') : pill('offline', 'failed');
    const seen = d.last_seen ? Date.parse(d.last_seen) : NaN;
    return h(
      'tr',
      { class: d.online ? undefined : 'muted', dataset: { device: d.id, online: String(!!d.online), state: d.state } },
      td(d.name),
      td(d.id, 'mono'),
      td(state),
      td((d.screens || []).map((s) => `${d.id}/${s.id} ${s.width}×${s.height}`).join(', ') || fmt.DASH, 'mono wrap'),
      td(d.version || fmt.DASH, 'mono muted'),
      num(d.rtt_ms == null ? fmt.DASH : `${d.rtt_ms.toFixed(1)} ms`),
      td(Number.isFinite(seen) ? fmt.ago(seen, now) : fmt.DASH, 'muted'),
      td(d.remote || '', 'mono muted'),
    );
  });
  fillTable(
    document.getElementById('devices'),
    ['Name', 'Id', 'State', 'Screens', 'Version', '#RTT', 'Last seen', 'From'],
    rows,
    'No devices.',
  );
}
