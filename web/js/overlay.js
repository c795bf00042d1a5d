// Agent activity overlay: each `{"type":"agent"}` message draws a fading marker where an AI agent acted, with the
// action's name, so people watching see what the agent is doing on their screen.

/** Markers on screen at once; the oldest goes first (an agent typing fast must not flood the page). */
export const MAX_MARKERS = 12;
/** How long a marker stays (ms); matches the CSS fade animation. */
export const MARKER_MS = 2600;

export class AgentOverlay {
  /** `layer`: an absolutely positioned element over the stage; `rect()`: content rect (client coords) or null. */
  constructor({ layer, rect }) {
    this.layer = layer;
    this.rect = rect;
  }

  show(msg) {
    const r = this.rect();
    if (!r) return;
    const box = this.layer.getBoundingClientRect();
    const hasPoint = typeof msg.x === 'number' && typeof msg.y === 'number';
    const x = hasPoint ? r.left - box.left + clamp01(msg.x) * r.width : r.left - box.left + r.width / 2;
    const y = hasPoint ? r.top - box.top + clamp01(msg.y) * r.height : r.top - box.top + 24;
    const marker = document.createElement('div');
    marker.className = hasPoint ? 'agent-marker' : 'agent-marker agent-marker--nopoint';
    marker.style.left = `${x}px`;
    marker.style.top = `${y}px`;
    const label = document.createElement('span');
    label.className = 'agent-label';
    const action = typeof msg.action === 'string' ? msg.action : 'action';
    const who = document.createElement('b');
    who.textContent = 'Agent';
    label.append(who, ` ${action}${msg.detail ? ` · ${String(msg.detail).slice(0, 60)}` : ''}`);
    marker.append(label);
    while (this.layer.childElementCount >= MAX_MARKERS) this.layer.firstElementChild.remove();
    this.layer.append(marker);
    setTimeout(() => marker.remove(), MARKER_MS);
  }
}

function clamp01(v) {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}
