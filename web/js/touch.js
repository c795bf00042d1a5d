// Which touch gesture means what: direct touch (gestures.js), trackpad (trackpad.js), pinch / pan and double tap
// (pinch.js, zoom.js), combined into one pure router (no DOM, no clock; unit-tested in tests/e2e/web_units.mjs).
//
// Touches are stage-local ({id, x, y} px from the stage's top-left). Actions out:
//   direct mode: {kind: 'click' | 'rightclick' | 'down' | 'move' | 'up', x, y} at a touched point;
//   trackpad mode: {kind: 'rel', dx, dy, dt} (finger motion) and {kind: 'click' | 'rightclick' | 'down' | 'up',
//   pointer: true} at the page's pointer;
//   both: {kind: 'scroll', dx, dy} (wheel) and {kind: 'view', view} (a new zoom view, to be clamped).
// Two fingers: a pinch zooms (and pans with the fingers) in both modes; a two-finger drag scrolls the remote —
// except in direct mode on a zoomed picture, where any two-finger motion pans and pinches the view. In direct
// mode a double tap zooms to DOUBLE_TAP_ZOOM at that point, or back to 1× (the first tap is a click; in trackpad
// mode two taps are a double click).

import { TouchGestures } from './gestures.js';
import { DoubleTap, TwoFingers } from './pinch.js';
import { TrackpadGestures } from './trackpad.js';
import { doubleTapView, isZoomed, pinchView } from './zoom.js';

export class TouchRouter {
  constructor({ mode = 'direct' } = {}) {
    this.mode = mode;
    this.direct = new TouchGestures();
    this.pad = new TrackpadGestures();
    this.two = new TwoFingers();
    this.dbl = new DoubleTap();
    this.v0 = null; // the view when the two-finger gesture began
  }

  machine() {
    return this.mode === 'trackpad' ? this.pad : this.direct;
  }

  /** Switches mode; returns what ends the current gesture (a held button is released). */
  setMode(mode) {
    const out = this.cancel();
    this.mode = mode === 'trackpad' ? 'trackpad' : 'direct';
    this.dbl.reset();
    return out;
  }

  deadline() {
    return this.machine().deadline();
  }

  start(touches, now, view) {
    if (touches.length >= 2 && !this.two.active) {
      this.two.start(touches);
      this.v0 = view;
      if (this.mode === 'direct' && isZoomed(view)) this.two.lockTo('pinch');
    }
    return this.wrap(this.machine().start(touches, now));
  }

  move(touches, now) {
    const out = [];
    const g = this.two.active ? this.two.move(touches) : null;
    if (g && g.kind === 'pinch') {
      out.push({ kind: 'view', view: pinchView(this.v0, g.c0, g.d0, g.c1, g.d1) });
      if (this.mode === 'trackpad') this.pad.abandon();
    }
    for (const a of this.wrap(this.machine().move(touches, now))) {
      // Two-finger scrolling only once the gesture is known to be a drag (not a pinch, not a pan).
      if (a.kind === 'scroll' && !(g && g.kind === 'drag')) continue;
      out.push(a);
    }
    return out;
  }

  end(touches, now, view) {
    const acts = this.wrap(this.machine().end(touches, now));
    this.two.end(touches);
    if (this.mode !== 'direct') return acts;
    const out = [];
    for (const a of acts) {
      if (a.kind === 'click' && this.dbl.tap(a.x, a.y, now)) out.push({ kind: 'view', view: doubleTapView(view, a.x, a.y) });
      else out.push(a);
    }
    return out;
  }

  cancel() {
    this.two.active = false;
    return this.wrap(this.machine().cancel());
  }

  tick(now) {
    return this.wrap(this.machine().tick(now));
  }

  wrap(actions) {
    if (this.mode !== 'trackpad') return actions;
    return actions.map((a) => {
      if (a.kind === 'move') return { kind: 'rel', dx: a.dx, dy: a.dy, dt: a.dt };
      if (a.kind === 'scroll') return a;
      return { kind: a.kind, pointer: true };
    });
  }
}
