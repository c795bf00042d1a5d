// The viewer page forced onto a TURN relay, in headless Chromium (tests/turn.rs starts coturn and the gateway).
//
// An init script wraps RTCPeerConnection before the page runs: every connection the page makes gets
// `iceTransportPolicy: "relay"` (only relay candidates, so the stream can only come through the TURN server), and
// its configuration, gathered candidate types and states are recorded. Each case opens the real viewer page, which
// takes its ICE servers from `welcome`.
//
// Cases (--cases, a JSON array): {name} uses welcome's credential and must play; {name, username, credential}
// replaces the credential of the TURN entries first (a wrong or an expired one), and the case reports what was
// gathered once gathering is over. Then a WHEP offer from the same browser reports the `Link` headers of its 201.
//
// Usage: node turn_relay.mjs --base http://127.0.0.1:PORT --token TOKEN --cases '[{"name":"ok"}, ...]'

import { args, launch, run, sleep, viewerState, waitFor } from './chromium.mjs';

const a = args(['base', 'token', 'cases']);
const cases = JSON.parse(a.cases);

/** Runs in the page before its scripts: forces relay and records every peer connection. */
function forceRelay(override) {
  const Native = window.RTCPeerConnection;
  const log = { configs: [], pcs: [], candidateTypes: [], states: [] };
  window.__turn = log;
  class RelayOnly extends Native {
    constructor(config = {}, ...rest) {
      const iceServers = (config.iceServers || []).map((s) => {
        const urls = [].concat(s.urls);
        const turn = urls.some((u) => /^turns?:/.test(u));
        return turn && override ? { ...s, username: override.username, credential: override.credential } : s;
      });
      const cfg = { ...config, iceServers, iceTransportPolicy: 'relay' };
      super(cfg, ...rest);
      log.configs.push(JSON.parse(JSON.stringify(cfg)));
      log.pcs.push(this);
      this.addEventListener('icecandidate', (e) => {
        if (e.candidate && e.candidate.candidate) log.candidateTypes.push(e.candidate.type);
      });
      this.addEventListener('connectionstatechange', () => log.states.push(this.connectionState));
    }
  }
  window.RTCPeerConnection = RelayOnly;
}

/** The last peer connection's selected pair and video counters, as plain data. */
function pcReport() {
  const log = window.__turn;
  const pc = log && log.pcs[log.pcs.length - 1];
  if (!pc) return null;
  return pc.getStats().then((stats) => {
    const all = [...stats.values()];
    const transport = all.find((s) => s.type === 'transport');
    const pair = transport && stats.get(transport.selectedCandidatePairId);
    const local = pair && stats.get(pair.localCandidateId);
    const remote = pair && stats.get(pair.remoteCandidateId);
    const video = all.find((s) => s.type === 'inbound-rtp' && s.kind === 'video');
    return {
      peerConnections: log.pcs.length,
      connectionState: pc.connectionState,
      iceGatheringState: pc.iceGatheringState,
      states: log.states,
      candidateTypes: log.candidateTypes,
      turnServers: log.configs.map((c) => c.iceServers.filter((s) => [].concat(s.urls).some((u) => /^turns?:/.test(u)))),
      policy: log.configs.map((c) => c.iceTransportPolicy),
      selected: pair
        ? {
            state: pair.state,
            local: local && { type: local.candidateType, address: local.address, port: local.port, relayProtocol: local.relayProtocol },
            remote: remote && { type: remote.candidateType, address: remote.address, port: remote.port },
          }
        : null,
      framesDecoded: video ? video.framesDecoded || 0 : 0,
      bytesReceived: video ? video.bytesReceived || 0 : 0,
    };
  });
}

run(async (out, cleanup) => {
  const browser = await launch();
  cleanup(() => browser.close());
  for (const c of cases) {
    const page = await browser.context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const override = c.username !== undefined ? { username: c.username, credential: c.credential } : null;
    await page.addInitScript(forceRelay, override);
    await page.goto(`${a.base}/#token=${encodeURIComponent(a.token)}&e2e=1`);
    const r = { name: c.name };
    if (!override) {
      await waitFor(`a live WebRTC picture through the relay (${c.name})`, async () => {
        const s = await viewerState(page);
        return s && s.watching === 'webrtc' && s.connected && s.picture;
      }, { timeoutMs: 20000 });
      // Frames keep coming through the relay for a few seconds.
      await sleep(3000);
    } else {
      // A credential the TURN server refuses: gathering ends with no relay candidate.
      await waitFor(`ICE gathering to end (${c.name})`, async () => {
        const p = await page.evaluate(pcReport);
        return p && (p.iceGatheringState === 'complete' || p.connectionState === 'failed');
      }, { timeoutMs: 20000 });
      // Time for anything late (a retried allocation, a connection) to show up.
      await sleep(2000);
    }
    Object.assign(r, await page.evaluate(pcReport));
    r.watching = (await viewerState(page))?.watching ?? null;
    r.pageErrors = errors;
    out[c.name] = r;
    await page.close();
  }

  // WHEP: a player's offer gets the same ICE servers as `Link` headers on the 201 (CORS exposes them).
  const page = await browser.context.newPage();
  await page.goto(`${a.base}/favicon.svg`);
  out.whep = await page.evaluate(async (token) => {
    const pc = new RTCPeerConnection();
    pc.addTransceiver('video', { direction: 'recvonly' });
    await pc.setLocalDescription(await pc.createOffer());
    const r = await fetch('/whep/0', {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${token}` },
      body: pc.localDescription.sdp,
    });
    const result = { status: r.status, link: r.headers.get('link') };
    const location = r.headers.get('location');
    if (location) await fetch(location, { method: 'DELETE', headers: { Authorization: `Bearer ${token}` } });
    pc.close();
    return result;
  }, a.token);
  await page.close();
  return out;
});
