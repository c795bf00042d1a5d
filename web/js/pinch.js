// Two-finger gestures over the picture (pinch to zoom, pan, or scroll the remote) and the double tap, as pure
// state machines that take touches ({id, x, y} in stage-local px) and `now` (ms). Unit-tested in
// tests/e2e/web_units.mjs; input.js feeds them and zoom.js turns a pinch into a view.

/** The fingers' distance must change this much (px) before two fingers count as a pinch. */
export const PINCH_SLOP_PX = 24;
/** The fingers' centroid must move this much (px) before two fingers count as a drag (scroll or pan). */
export const DRAG_SLOP_PX = 12;
/** Two taps at most this far apart in time (ms)… */
export const DOUBLE_TAP_MS = 300;
/** …and space (px) are a double tap. */
export const DOUBLE_TAP_PX = 30;

/**
 * Classifies a two-finger gesture once: `pinch` (the distance changed first) or `drag` (the centroid moved
 * first). `start(touches)` with two or more fingers begins it; `move(touches)` returns null while undecided, else
 * {kind, c0, d0, c1, d1}: where it began (centroid, distance) and where the fingers are now. `lockTo(kind)`
 * decides at once (a zoomed picture is panned and pinched by any two-finger motion).
 */
export class TwoFingers {
  constructor({ pinchSlop = PINCH_SLOP_PX, dragSlop = DRAG_SLOP_PX } = {}) {
    this.pinchSlop = pinchSlop;
    this.dragSlop = dragSlop;
    this.kind = null;
    this.active = false;
    this.c0 = null;
    this.d0 = 0;
  }

  start(touches) {
    if (touches.length < 2) return;
    this.active = true;
    this.kind = null;
    this.c0 = centroidOf(touches);
    this.d0 = distanceOf(touches);
  }

  lockTo(kind) {
    this.kind = kind;
  }

  move(touches) {
    if (!this.active || touches.length < 2) return null;
    const c1 = centroidOf(touches);
    const d1 = distanceOf(touches);
    if (!this.kind) {
      if (Math.abs(d1 - this.d0) > this.pinchSlop) this.kind = 'pinch';
      else if (Math.hypot(c1.x - this.c0.x, c1.y - this.c0.y) > this.dragSlop) this.kind = 'drag';
      else return null;
    }
    return { kind: this.kind, c0: this.c0, d0: this.d0, c1, d1 };
  }

  /** Fingers lifted: the gesture ends once fewer than two remain. */
  end(touches) {
    if (touches.length < 2) this.active = false;
  }
}

/**
 * Turns taps into double taps: `tap(x, y, now)` returns true when this tap completes a double tap (and forgets
 * it, so a third tap starts over).
 */
export class DoubleTap {
  constructor({ ms = DOUBLE_TAP_MS, px = DOUBLE_TAP_PX } = {}) {
    this.ms = ms;
    this.px = px;
    this.last = null;
  }

  tap(x, y, now) {
    const l = this.last;
    if (l && now - l.at <= this.ms && Math.hypot(x - l.x, y - l.y) <= this.px) {
      this.last = null;
      return true;
    }
    this.last = { x, y, at: now };
    return false;
  }

  reset() {
    this.last = null;
  }
}

export function centroidOf(touches) {
  const [a, b] = touches;
  return { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
}

export function distanceOf(touches) {
  const [a, b] = touches;
  return Math.hypot(a.x - b.x, a.y - b.y);
}
