// Touch gestures and wheel deltas turned into remote-desktop input, as plain state machines that take `now`.
//
// Neither class touches the DOM or a clock: the viewer feeds them events and timestamps and sends what they
// return, so every rule here is unit-tested without a browser (tests/e2e/web_units.mjs).

/** A finger that moves less than this (CSS px) is still a tap or a long press. */
export const TAP_SLOP_PX = 10;
/** Holding one finger this long without moving is a right click. */
export const LONG_PRESS_MS = 500;

/** DOM wheel deltas in pixels (deltaMode 0) per wheel step: one mouse-wheel notch in Chromium and Firefox. */
export const WHEEL_PIXELS_PER_STEP = 100;
/** DOM wheel deltas in lines (deltaMode 1) per wheel step: a notch usually scrolls three lines, one step each. */
export const WHEEL_LINES_PER_STEP = 1;
/** DOM wheel deltas in pages (deltaMode 2): a page is about ten notches. */
export const WHEEL_STEPS_PER_PAGE = 10;
/** Two-finger scrolling: finger travel (CSS px) per wheel step, shorter than a mouse notch so a swipe feels direct. */
export const TOUCH_PIXELS_PER_STEP = 50;
/** The protocol's limit per wheel message; the excess stays in the accumulator for the next message. */
export const MAX_STEPS_PER_MESSAGE = 100;

/**
 * Accumulates wheel deltas into whole steps. Fractions (trackpads, two-finger swipes) add up until a step is
 * complete; a change of direction drops the opposite remainder so a reversal acts at once.
 */
export class WheelAccumulator {
  constructor() {
    this.x = 0;
    this.y = 0;
  }

  /** Adds a DOM wheel event's deltas. `deltaMode`: 0 pixels, 1 lines, 2 pages. */
  addDom(deltaX, deltaY, deltaMode) {
    const perStep = deltaMode === 1 ? WHEEL_LINES_PER_STEP : deltaMode === 2 ? 1 / WHEEL_STEPS_PER_PAGE : WHEEL_PIXELS_PER_STEP;
    this.addSteps(deltaX / perStep, deltaY / perStep);
  }

  /** Adds a scroll of `dx`, `dy` CSS pixels of finger travel. */
  addTouch(dx, dy) {
    this.addSteps(dx / TOUCH_PIXELS_PER_STEP, dy / TOUCH_PIXELS_PER_STEP);
  }

  /** Adds fractional steps. */
  addSteps(dx, dy) {
    if (!Number.isFinite(dx) || !Number.isFinite(dy)) return;
    if (dx !== 0 && Math.sign(dx) !== Math.sign(this.x)) this.x = 0;
    if (dy !== 0 && Math.sign(dy) !== Math.sign(this.y)) this.y = 0;
    this.x += dx;
    this.y += dy;
  }

  /** Takes the whole steps accumulated so far (at most the per-message limit), or null when there are none. */
  take() {
    const dx = clampSteps(Math.trunc(this.x));
    const dy = clampSteps(Math.trunc(this.y));
    if (dx === 0 && dy === 0) return null;
    this.x -= dx;
    this.y -= dy;
    return { dx, dy };
  }
}

function clampSteps(v) {
  return Math.max(-MAX_STEPS_PER_MESSAGE, Math.min(MAX_STEPS_PER_MESSAGE, v)) || 0;
}

/**
 * One-finger tap = click, one-finger drag = button down / moves / up, hold ≈ 500 ms = right click, two-finger
 * drag = scroll. Methods take the touches still on the surface ({id, x, y} in client px) and `now` (ms), and
 * return actions in client coordinates (a scroll starts with a `move` to the fingers' centroid):
 *   {kind: 'click' | 'rightclick' | 'down' | 'move' | 'up', x, y} and {kind: 'scroll', dx, dy} (px, + = down/right).
 */
export class TouchGestures {
  constructor({ slop = TAP_SLOP_PX, longPressMs = LONG_PRESS_MS } = {}) {
    this.slop = slop;
    this.longPressMs = longPressMs;
    this.state = 'idle';
    this.origin = null; // {x, y, at} of the first finger
    this.last = null; // last position of a single-finger gesture
    this.centroid = null; // last centroid of a scroll
  }

  /** When `tick` should next be called (ms, same clock as `now`), or null. */
  deadline() {
    return this.state === 'pending' ? this.origin.at + this.longPressMs : null;
  }

  start(touches, now) {
    const out = [];
    if (touches.length === 1 && this.state === 'idle') {
      const t = touches[0];
      this.state = 'pending';
      this.origin = { x: t.x, y: t.y, at: now };
      this.last = { x: t.x, y: t.y };
    } else if (touches.length >= 2) {
      if (this.state === 'drag') out.push({ kind: 'up', x: this.last.x, y: this.last.y });
      if (this.state === 'pending' || this.state === 'drag' || this.state === 'idle') {
        // The remote scrolls what is under its pointer: put the pointer between the fingers first.
        this.state = 'scroll';
        this.centroid = centroid(touches);
        out.push({ kind: 'move', x: this.centroid.x, y: this.centroid.y });
      } else if (this.state === 'scroll') {
        this.centroid = centroid(touches);
      }
    }
    return out;
  }

  move(touches) {
    const out = [];
    if (touches.length === 0) return out;
    if (this.state === 'pending') {
      const t = touches[0];
      if (Math.hypot(t.x - this.origin.x, t.y - this.origin.y) > this.slop) {
        // A long press that already fired would have left 'pending'; past the deadline without a tick it still
        // counts as a drag, which is what a moving finger means.
        this.state = 'drag';
        out.push({ kind: 'down', x: this.origin.x, y: this.origin.y });
        out.push({ kind: 'move', x: t.x, y: t.y });
        this.last = { x: t.x, y: t.y };
      }
    } else if (this.state === 'drag') {
      const t = touches[0];
      this.last = { x: t.x, y: t.y };
      out.push({ kind: 'move', x: t.x, y: t.y });
    } else if (this.state === 'scroll' && touches.length >= 2) {
      const c = centroid(touches);
      const dx = this.centroid.x - c.x;
      const dy = this.centroid.y - c.y;
      this.centroid = c;
      if (dx !== 0 || dy !== 0) out.push({ kind: 'scroll', dx, dy });
    }
    return out;
  }

  end(touches, now) {
    const out = [];
    if (this.state === 'pending' && touches.length === 0) {
      const held = now - this.origin.at;
      out.push({ kind: held >= this.longPressMs ? 'rightclick' : 'click', x: this.origin.x, y: this.origin.y });
      this.state = 'idle';
    } else if (this.state === 'drag' && touches.length === 0) {
      out.push({ kind: 'up', x: this.last.x, y: this.last.y });
      this.state = 'idle';
    } else if (this.state === 'scroll') {
      if (touches.length === 0) this.state = 'idle';
      else if (touches.length === 1) this.state = 'done';
      else this.centroid = centroid(touches);
    } else if (touches.length === 0) {
      this.state = 'idle';
    }
    return out;
  }

  /** The system took the touches away (a browser gesture, an alert): end without clicking. */
  cancel() {
    const out = [];
    if (this.state === 'drag') out.push({ kind: 'up', x: this.last.x, y: this.last.y });
    this.state = 'idle';
    return out;
  }

  tick(now) {
    if (this.state === 'pending' && now - this.origin.at >= this.longPressMs) {
      this.state = 'done';
      return [{ kind: 'rightclick', x: this.origin.x, y: this.origin.y }];
    }
    return [];
  }
}

function centroid(touches) {
  let x = 0;
  let y = 0;
  for (const t of touches) {
    x += t.x;
    y += t.y;
  }
  return { x: x / touches.length, y: y / touches.length };
}
