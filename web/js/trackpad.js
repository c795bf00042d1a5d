// Trackpad mode: the phone's screen drives the remote pointer like a laptop touchpad. Pure state machine and
// motion math (no DOM, no clock: callers pass `now` in ms); unit-tested in tests/e2e/web_units.mjs.
//
// One finger moves the pointer relatively; a tap is a left click at the pointer (sent once the double-tap window
// has passed, so that tap + touch-and-drag can be a drag instead); tap, then touch again and move = drag with the
// left button held; two quick taps = double click; a two-finger tap = right click; two-finger drag = scroll.
// The protocol only has absolute positions: the page keeps the pointer (`movePointer`) and sends `pointer move`.

/** A touch shorter than this (ms) that did not move is a tap. */
export const TAP_MS = 250;
/** Finger travel (px) that still counts as not moving. */
export const TAP_SLOP_PX = 10;
/** After a tap, a touch within this long (ms) can turn it into a drag or a double click. */
export const DRAG_WINDOW_MS = 280;
/** Finger speed (px/ms) below which pointer motion is 1:1 with the picture on screen. */
export const ACCEL_THRESHOLD = 0.25;
/** Gain added per px/ms above the threshold. */
export const ACCEL = 1.6;
/** The largest gain. */
export const MAX_GAIN = 4;

/** The pointer acceleration for a finger moving at `speed` px/ms. */
export function gain(speed) {
  return Math.min(MAX_GAIN, 1 + ACCEL * Math.max(0, speed - ACCEL_THRESHOLD));
}

/**
 * Moves the normalised pointer `pos` by a finger motion of (dx, dy) px over `dtMs`, on a picture shown
 * `width`×`height` px on screen (the zoomed content rectangle: at 4× the same swipe moves the pointer a quarter
 * as far, so zoomed-in work is precise). Clamped to the screen.
 */
export function movePointer(pos, dx, dy, dtMs, width, height) {
  if (!(width > 0 && height > 0)) return pos;
  const g = gain(Math.hypot(dx, dy) / Math.max(dtMs, 4));
  return { x: clamp01(pos.x + (dx * g) / width), y: clamp01(pos.y + (dy * g) / height) };
}

/**
 * The trackpad gesture machine. Methods take the touches on the surface ({id, x, y}) and `now`; they return
 * actions: {kind: 'move', dx, dy, dt} (finger px), {kind: 'click' | 'rightclick' | 'down' | 'up'} (at the
 * pointer), {kind: 'scroll', dx, dy} (px, + = down/right, like TouchGestures).
 */
export class TrackpadGestures {
  constructor() {
    this.state = 'idle';
    this.origin = null; // {x, y, at} of the current touch
    this.last = null; // {x, y, at}: last finger (or centroid) position
    this.clickAt = null; // deadline of a pending tap click
    this.twoTap = false; // the two-finger touch may still be a right click
  }

  /** When `tick` should next be called, or null. */
  deadline() {
    return this.state === 'tapped' ? this.clickAt : null;
  }

  start(touches, now) {
    const out = [];
    if (touches.length === 1) {
      const t = touches[0];
      if (this.state === 'idle') this.state = 'one';
      else if (this.state === 'tapped') this.state = 'second';
      else return out;
      this.origin = { x: t.x, y: t.y, at: now };
      this.last = { x: t.x, y: t.y, at: now };
    } else if (touches.length >= 2) {
      if (this.state === 'drag') out.push({ kind: 'up' });
      if (this.state === 'tapped' || this.state === 'second') out.push({ kind: 'click' });
      if (this.state !== 'two' && this.state !== 'scroll') {
        this.twoTap = this.state === 'one' || this.state === 'idle' || this.state === 'tapped';
        this.state = 'two';
        const c = centroid(touches);
        this.origin = { x: c.x, y: c.y, at: now };
        this.last = { x: c.x, y: c.y, at: now };
      }
    }
    return out;
  }

  move(touches, now) {
    const out = [];
    if (touches.length === 0) return out;
    const s = this.state;
    if (s === 'one' || s === 'second' || s === 'moving' || s === 'drag') {
      const t = touches[0];
      if (s === 'one' || s === 'second') {
        if (Math.hypot(t.x - this.origin.x, t.y - this.origin.y) <= TAP_SLOP_PX) return out;
        if (s === 'second') out.push({ kind: 'down' });
        this.state = s === 'second' ? 'drag' : 'moving';
      }
      out.push({ kind: 'move', dx: t.x - this.last.x, dy: t.y - this.last.y, dt: now - this.last.at });
      this.last = { x: t.x, y: t.y, at: now };
    } else if ((s === 'two' || s === 'scroll') && touches.length >= 2) {
      const c = centroid(touches);
      if (s === 'two') {
        if (Math.hypot(c.x - this.origin.x, c.y - this.origin.y) <= TAP_SLOP_PX) return out;
        this.state = 'scroll';
        this.twoTap = false;
      }
      const dx = this.last.x - c.x;
      const dy = this.last.y - c.y;
      this.last = { x: c.x, y: c.y, at: now };
      if (dx !== 0 || dy !== 0) out.push({ kind: 'scroll', dx, dy });
    }
    return out;
  }

  end(touches, now) {
    const out = [];
    const s = this.state;
    const quick = this.origin && now - this.origin.at <= TAP_MS;
    if (touches.length === 0) {
      if (s === 'one' && quick) {
        this.state = 'tapped';
        this.clickAt = now + DRAG_WINDOW_MS;
        return out;
      }
      if (s === 'second') out.push({ kind: 'click' }, ...(quick ? [{ kind: 'click' }] : []));
      else if (s === 'drag') out.push({ kind: 'up' });
      else if (s === 'two' && this.twoTap && quick) out.push({ kind: 'rightclick' });
      this.state = 'idle';
    } else if (touches.length === 1 && (s === 'two' || s === 'scroll')) {
      if (s === 'two' && this.twoTap && quick) out.push({ kind: 'rightclick' });
      this.state = 'done'; // the last finger lifting ends it; it does not move the pointer
    }
    return out;
  }

  /** The system took the touches away: release a held button, drop a pending click. */
  cancel() {
    const out = this.state === 'drag' ? [{ kind: 'up' }] : [];
    this.state = 'idle';
    return out;
  }

  /** A pinch took over the two fingers: no right click, no scroll until they lift. */
  abandon() {
    if (this.state === 'two' || this.state === 'scroll') this.state = 'done';
  }

  tick(now) {
    if (this.state === 'tapped' && now >= this.clickAt) {
      this.state = 'idle';
      return [{ kind: 'click' }];
    }
    return [];
  }
}

function centroid(touches) {
  const [a, b] = touches;
  return { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
}

function clamp01(v) {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}
