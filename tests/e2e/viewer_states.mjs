// What the viewer page tells people when things are not simply working, against a real gateway that this
// script starts, stops and restarts itself (same port) from --bin and --config:
// - a wrong token: the sign-in form with an error; entering the right token there connects;
// - a view-only token: "View only" is shown and a click or a key on the picture reaches nothing;
// - a screen id that does not exist (#screen=…): a notice, and the primary screen is shown instead;
// - the gateway going away and coming back: "offline, retrying in N s", then live again by itself.
//
// Usage: node viewer_states.mjs --bin PATH --config PATH --base URL --control TOKEN --view TOKEN

import { spawn } from 'node:child_process';
import { args, barcodes, clientPointOf, launch, run, sleep, viewerState, waitFor } from './chromium.mjs';

const a = args(['bin', 'config', 'base', 'control', 'view']);

/** Starts the gateway and waits for its ready line. */
async function startGateway() {
  const child = spawn(a.bin, ['--config', a.config, 'serve'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: 'warn' } });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-20000);
  });
  await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`the gateway did not start in 30 s:\n${stderr}`)), 30000);
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('ready: open http://')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the gateway exited with ${code}:\n${stderr}`));
    });
  });
  child.removeAllListeners('exit');
  return child;
}

async function stopGateway(child) {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(15000)]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

const live = (page, what) =>
  waitFor(what, async () => {
    const s = await viewerState(page);
    return s && s.connected && s.picture ? s : false;
  }, { timeoutMs: 20000 });

run(async (out, cleanup) => {
  let gw = await startGateway();
  cleanup(() => stopGateway(gw));
  const browser = await launch();
  cleanup(() => browser.close());
  const errors = [];

  // 1. Wrong token → sign-in form with an error → the right token connects.
  const page = await browser.context.newPage();
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${a.base}/#token=wrong-token-123&e2e=1`);
  await page.waitForSelector('#token-overlay:not([hidden])', { timeout: 10000 });
  out.badToken = {
    error: (await page.textContent('#token-error')).trim(),
    status: (await viewerState(page)).status,
    tokenInUrl: await page.evaluate(() => location.href.includes('token=')),
  };
  await page.fill('#token-input', a.control);
  await page.click('#token-form button[type="submit"]');
  const s1 = await live(page, 'live after entering the right token');
  out.afterSignIn = { status: s1.status, role: s1.role, watching: s1.watching };

  // 2. View-only: badge, and no input reaches the screen.
  const viewOnly = await browser.context.newPage();
  viewOnly.on('pageerror', (e) => errors.push(e.message));
  await viewOnly.goto(`${a.base}/#token=${encodeURIComponent(a.view)}&e2e=1`);
  const sv = await live(viewOnly, 'the view-only page to be live');
  const before = await waitFor('readable echo rows', async () => {
    const b = await barcodes(viewOnly);
    return b && b.echoA && b.echoB ? b : false;
  });
  const p = await clientPointOf(viewOnly, 100, 100, 1280, 720);
  await viewOnly.mouse.click(p.x, p.y);
  await viewOnly.keyboard.type('nope');
  await sleep(1500);
  const after = await barcodes(viewOnly);
  out.viewOnly = {
    role: sv.role,
    badgeVisible: await viewOnly.isVisible('#role-badge'),
    badgeText: (await viewOnly.textContent('#role-badge')).trim(),
    keyboardButtonVisible: await viewOnly.isVisible('#btn-keyboard'),
    pressesBefore: before.echoA.presses,
    pressesAfter: after.echoA.presses,
    keysBefore: before.echoB.keyPresses,
    keysAfter: after.echoB.keyPresses,
  };
  await viewOnly.close();

  // 3. A screen that does not exist.
  const ghost = await browser.context.newPage();
  await ghost.goto(`${a.base}/#token=${encodeURIComponent(a.control)}&e2e=1&screen=no-such-screen`);
  const sg = await live(ghost, 'the page with an unknown screen id to show the primary screen');
  out.unknownScreen = { screen: sg.screen, toast: (await ghost.textContent('#toast')).trim(), toastVisible: await ghost.isVisible('#toast') };
  await ghost.close();

  // 4. The gateway goes away and comes back on the same port.
  await stopGateway(gw);
  const down = await waitFor('the offline state', async () => {
    const s = await viewerState(page);
    return s && s.phase === 'bad' && /Offline|Reconnecting/.test(s.status) ? s : false;
  }, { timeoutMs: 5000, everyMs: 20 });
  out.offline = {
    status: down.status,
    notice: await page.evaluate(() => (document.getElementById('notice').hidden ? null : document.getElementById('notice-title').textContent)),
  };
  await sleep(2500); // a few failed attempts, so backoff is exercised
  const attempts = await page.evaluate(() => window.sightline.state.status);
  out.offline.statusWhileDown = attempts;
  gw = await startGateway();
  const back = await live(page, 'the page to come back by itself');
  out.reconnected = { status: back.status, watching: back.watching, session: back.session };
  out.pageErrors = errors;
  return out;
});
