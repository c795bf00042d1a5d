// The agent overlay: while a view-only viewer watches over WebRTC, an MCP client (plain JSON-RPC over the
// gateway's Streamable HTTP endpoint /mcp, with a control token) clicks on the screen; the viewer must draw a
// marker labelled with the action where the agent clicked, and the click must show in the screen's echo row.
//
// Usage: node viewer_agent.mjs --base URL --view TOKEN --control TOKEN --width W --height H [--shots DIR]

import { args, barcodes, launch, run, sleep, viewerState, waitFor } from './chromium.mjs';

const a = args(['base', 'view', 'control', 'width', 'height']);
const W = Number(a.width);
const H = Number(a.height);

/** A minimal MCP client: initialize, initialized, then tool calls, JSON responses (no SSE needed here). */
async function mcpSession() {
  let session = null;
  let id = 0;
  const post = async (body) => {
    const headers = {
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
      Authorization: `Bearer ${a.control}`,
    };
    if (session) headers['Mcp-Session-Id'] = session;
    const res = await fetch(`${a.base}/mcp`, { method: 'POST', headers, body: JSON.stringify(body) });
    if (!session) session = res.headers.get('mcp-session-id');
    const text = await res.text();
    if (!res.ok) throw new Error(`MCP ${body.method}: HTTP ${res.status} ${text}`);
    if (!text) return null;
    // JSON, or one SSE event carrying JSON.
    const json = text.trim().startsWith('{') ? text : text.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5)).join('');
    return JSON.parse(json);
  };
  const init = await post({
    jsonrpc: '2.0',
    id: ++id,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'sightline-viewer-test', version: '1' } },
  });
  if (!init || init.error) throw new Error(`MCP initialize failed: ${JSON.stringify(init)}`);
  await post({ jsonrpc: '2.0', method: 'notifications/initialized' });
  return {
    call: async (name, args) => {
      const r = await post({ jsonrpc: '2.0', id: ++id, method: 'tools/call', params: { name, arguments: args } });
      if (!r || r.error || (r.result && r.result.isError)) throw new Error(`MCP ${name} failed: ${JSON.stringify(r)}`);
      return r.result;
    },
  };
}

run(async (out, cleanup) => {
  const browser = await launch();
  cleanup(() => browser.close());
  const page = await browser.context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${a.base}/#token=${encodeURIComponent(a.view)}&e2e=1`);
  await waitFor('a live picture', async () => {
    const s = await viewerState(page);
    return s && s.connected && s.picture;
  }, { timeoutMs: 15000 });
  const before = await waitFor('readable echo rows', async () => {
    const b = await barcodes(page);
    return b && b.echoA ? b : false;
  });

  const target = { x: Math.round(W * 0.25), y: Math.round(H * 0.6) };
  const mcp = await mcpSession();
  await mcp.call('click', { x: target.x, y: target.y });

  const marker = await waitFor('an agent marker', () =>
    page.evaluate(() => {
      const m = document.querySelector('.agent-marker');
      if (!m) return false;
      const b = m.getBoundingClientRect();
      return { x: b.left + b.width / 2, y: b.top + b.height / 2, label: m.textContent.trim() };
    }), { timeoutMs: 5000, everyMs: 20 });
  const rect = await page.evaluate(() => window.sightline.contentRect());
  // Where the clicked pixel is on the page.
  const expected = { x: rect.left + ((target.x + 0.5) * rect.width) / W, y: rect.top + ((target.y + 0.5) * rect.height) / H };
  out.marker = { label: marker.label, offsetX: marker.x - expected.x, offsetY: marker.y - expected.y };
  if (a.shots) await page.screenshot({ path: `${a.shots}/viewer-agent.png` });

  const after = await waitFor('the agent click in the echo row', async () => {
    const b = await barcodes(page);
    return b && b.echoA && b.echoA.presses > before.echoA.presses ? b : false;
  });
  out.echo = { pressesBefore: before.echoA.presses, pressesAfter: after.echoA.presses, pointer: { x: after.echoA.pointerX, y: after.echoA.pointerY }, target };
  // Markers fade: gone after their lifetime.
  await sleep(3200);
  out.markersLeft = await page.evaluate(() => document.querySelectorAll('.agent-marker').length);
  out.pageErrors = errors;
  return out;
});
