// The monitor dashboard against a real gateway, in headless Chromium: a viewer page watches over WebRTC, then
// the dashboard (admin token) must show the viewer's session, its network card with a plot (issue 10), its
// WebRTC connection (and, on click, that connection's state history and network plot), the running H.264
// pipeline and live tasks; "Kick" (two clicks) must end the
// viewer's session, which the viewer page must report. A wrong token gets the sign-in form, and a phone-sized
// dashboard must not scroll sideways.
//
// Usage: node monitor_page.mjs --base URL --admin TOKEN --control TOKEN --shots DIR

import { args, launch, run, sleep, viewerState, waitFor } from './chromium.mjs';

const a = args(['base', 'admin', 'control', 'shots']);

run(async (out, cleanup) => {
  const browser = await launch({ contextOptions: { viewport: { width: 1440, height: 900 } } });
  cleanup(() => browser.close());
  const errors = [];

  const viewer = await browser.context.newPage();
  viewer.on('pageerror', (e) => errors.push(`viewer: ${e.message}`));
  await viewer.goto(`${a.base}/#token=${encodeURIComponent(a.control)}&e2e=1`);
  const vs = await waitFor('the viewer to be live', async () => {
    const s = await viewerState(viewer);
    return s && s.connected && s.picture ? s : false;
  }, { timeoutMs: 15000 });
  out.viewerSession = vs.session;

  const mon = await browser.context.newPage();
  mon.on('pageerror', (e) => errors.push(`monitor: ${e.message}`));
  await mon.goto(`${a.base}/monitor#token=${encodeURIComponent(a.admin)}`);
  await mon.waitForSelector('#connections tr[data-kind="webrtc"][data-lifecycle="connected"]', { timeout: 10000 });
  out.tokenHiddenFromUrl = !(await mon.evaluate(() => location.href.includes('token=')));
  out.health = await mon.textContent('#health-text');
  out.cards = await mon.$$eval('.cardlet', (cs) => cs.map((c) => c.querySelector('h3').textContent + ': ' + c.querySelector('.big').textContent));
  out.sessionRow = await mon.$$eval(`#sessions tr[data-id="${vs.session}"] td`, (tds) => tds.map((t) => t.textContent.trim()));
  await mon.waitForSelector('#pipelines tr[data-kind="h264"]', { timeout: 5000 });
  out.pipelineRow = await mon.$$eval('#pipelines tr[data-kind="h264"] td', (tds) => tds.map((t) => t.textContent.trim()));
  out.taskRows = await mon.$$eval('#tasks tbody tr', (trs) => trs.filter((t) => !t.querySelector('.empty')).length);
  out.operationKinds = await mon.$$eval('#op-kinds tbody tr td:first-child', (tds) => tds.map((t) => t.textContent.trim()));

  // The viewers' network panel: a card per WebRTC viewer whose plot has lines once samples exist.
  const card = '#network .netcard[data-kind="webrtc"]';
  await mon.waitForSelector(`${card} .netchart path.net-line`, { timeout: 8000 });
  out.netCard = await mon.$eval(card, (c) => ({
    health: c.dataset.health,
    tier: c.querySelector('.tier').textContent,
    numbers: [...c.querySelectorAll('.netnums dt')].map((d) => d.textContent),
    lines: [...c.querySelectorAll('path.net-line')].map((p) => p.getAttribute('class')),
    labels: [...c.querySelectorAll('.netchart-label')].map((l) => l.textContent),
  }));

  // Connection detail: state history and timeline.
  await mon.click('#connections tr[data-kind="webrtc"]');
  await mon.waitForSelector('#detail-timeline li', { timeout: 5000 });
  out.drawerTitle = await mon.textContent('#drawer-title');
  await mon.waitForSelector('#detail-history tbody tr', { timeout: 5000 });
  out.history = await mon.$$eval('#detail-history tbody tr', (trs) => trs.map((t) => [...t.cells].map((c) => c.textContent.trim()).join(' ')));
  out.timelineEvents = await mon.$$eval('#detail-timeline li', (lis) => lis.length);
  out.detailNetworkLines = await mon.$$eval('#detail-network path.net-line', (ps) => ps.length);
  await mon.screenshot({ path: `${a.shots}/monitor-desktop-detail.png` });
  await mon.keyboard.press('Escape');
  out.drawerClosed = await mon.isHidden('#drawer');
  await mon.screenshot({ path: `${a.shots}/monitor-desktop.png`, fullPage: true });

  // Kick: the first click arms, the second ends the session.
  const kick = `#sessions button[data-kick="${vs.session}"]`;
  await mon.click(kick);
  out.kickArmedText = (await mon.textContent(kick)).trim();
  await mon.click(kick);
  const kicked = await waitFor('the viewer to report the kick', async () => {
    const s = await viewerState(viewer);
    return s && s.status === 'Session ended' ? s : false;
  }, { timeoutMs: 5000 });
  out.viewerAfterKick = { status: kicked.status, watching: kicked.watching };
  out.viewerNotice = await viewer.evaluate(() => {
    const n = document.getElementById('notice');
    return n.hidden ? null : document.getElementById('notice-title').textContent;
  });
  await waitFor('the session row to go', async () => (await mon.$(`#sessions tr[data-id="${vs.session}"]`)) === null, { timeoutMs: 6000 });
  out.sessionGoneFromTable = true;

  // A phone-sized dashboard.
  await mon.setViewportSize({ width: 390, height: 844 });
  await sleep(300);
  out.phone = await mon.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth }));
  await mon.screenshot({ path: `${a.shots}/monitor-phone.png` });

  // A wrong token gets the sign-in form.
  const bad = await browser.context.newPage();
  await bad.goto(`${a.base}/monitor#token=not-a-token-at-all`);
  await bad.waitForSelector('#token-overlay:not([hidden])', { timeout: 5000 });
  out.badTokenError = (await bad.textContent('#token-error')).trim();
  out.pageErrors = errors;
  return out;
});
