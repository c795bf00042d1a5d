// Zoom and pan of the picture: a view {scale, tx, ty} applied as the CSS transform
// `translate(tx px, ty px) scale(scale)` (transform-origin 0 0) to the layer that holds the video or canvas.
//
// Everything is in stage-local CSS pixels (0, 0 = the stage's top-left corner). `base` is the picture's content
// rectangle at 1× (geometry.js contentRect, made stage-local); the zoomed rectangle is `zoomedRect(base, view)`,
// and input positions are normalised against it (geometry.js normalise), so a touch hits the same remote pixel
// at every zoom and pan. Pure functions: unit-tested in tests/e2e/web_units.mjs.

/** Pinch can zoom this far in. */
export const MAX_ZOOM = 5;
/** A double tap in direct-touch mode zooms to this. */
export const DOUBLE_TAP_ZOOM = 2.5;
/** Below this a view counts as not zoomed (and snaps back to exactly 1×). */
export const ZOOM_EPSILON = 0.02;

/** The identity view. */
export const IDENTITY = Object.freeze({ scale: 1, tx: 0, ty: 0 });

/** Whether `view` is zoomed in. */
export function isZoomed(view) {
  return view.scale > 1 + ZOOM_EPSILON;
}

/** Where a stage-local point goes under `view`. */
export function applyView(view, x, y) {
  return { x: view.tx + view.scale * x, y: view.ty + view.scale * y };
}

/** The inverse: the untransformed stage-local point shown at (x, y). */
export function invertView(view, x, y) {
  return { x: (x - view.tx) / view.scale, y: (y - view.ty) / view.scale };
}

/** The picture's rectangle on screen (stage-local) for its 1× rectangle `base`. */
export function zoomedRect(base, view) {
  const p = applyView(view, base.left, base.top);
  return { left: p.x, top: p.y, width: base.width * view.scale, height: base.height * view.scale };
}

/**
 * Keeps the picture on the stage (`stage` = {width, height}): on an axis where the zoomed picture is larger than
 * the stage it covers the stage edge to edge (no black margin can be panned in); where it is smaller it keeps
 * the place it has at 1× (the same fraction of the free space, so 1× is exactly the identity). Scale is clamped
 * to [1, MAX_ZOOM].
 */
export function clampView(view, base, stage, maxZoom = MAX_ZOOM) {
  let scale = Math.min(maxZoom, Math.max(1, Number.isFinite(view.scale) ? view.scale : 1));
  if (scale < 1 + ZOOM_EPSILON / 4) scale = 1;
  if (scale === 1) return { ...IDENTITY };
  const axis = (t, lo, size, stageSize) => {
    const zs = size * scale;
    const free = stageSize - size;
    if (zs <= stageSize) {
      const frac = free > 0.5 ? lo / free : 0.5;
      return (stageSize - zs) * frac - lo * scale;
    }
    const min = stageSize - (lo + size) * scale;
    const max = 0 - lo * scale;
    return Math.min(max, Math.max(min, Number.isFinite(t) ? t : 0)) + 0; // + 0: no -0
  };
  return {
    scale,
    tx: axis(view.tx, base.left, base.width, stage.width),
    ty: axis(view.ty, base.top, base.height, stage.height),
  };
}

/** Zooms to `scale` keeping the stage-local point (cx, cy) where it is (the pinch centre, a double-tapped point). */
export function zoomAt(view, scale, cx, cy) {
  const k = scale / view.scale;
  return { scale, tx: cx - (cx - view.tx) * k, ty: cy - (cy - view.ty) * k };
}

/** Moves the view by (dx, dy) stage pixels. */
export function panBy(view, dx, dy) {
  return { scale: view.scale, tx: view.tx + dx, ty: view.ty + dy };
}

/**
 * A pinch step: the fingers started at centroid `c0` with distance `d0` on view `v0`, and are now at `c1`, `d1`.
 * The picture point that was under `c0` ends up under `c1`, scaled by d1/d0 (pinch and pan at once).
 */
export function pinchView(v0, c0, d0, c1, d1) {
  const scale = d0 > 0 && d1 > 0 ? v0.scale * (d1 / d0) : v0.scale;
  const z = zoomAt(v0, scale, c0.x, c0.y);
  return panBy(z, c1.x - c0.x, c1.y - c0.y);
}

/** The double tap of direct-touch mode: zoomed → back to 1×; at 1× → DOUBLE_TAP_ZOOM around the tapped point. */
export function doubleTapView(view, cx, cy, zoom = DOUBLE_TAP_ZOOM) {
  return isZoomed(view) ? { ...IDENTITY } : zoomAt(view, zoom, cx, cy);
}

/**
 * Pans the least needed so the on-screen point (x, y) (stage-local, after the view) stays at least `margin` px
 * inside the stage: the view follows the trackpad pointer.
 */
export function followPoint(view, x, y, stage, margin = 40) {
  const m = Math.min(margin, stage.width / 4, stage.height / 4);
  let dx = 0;
  let dy = 0;
  if (x < m) dx = m - x;
  else if (x > stage.width - m) dx = stage.width - m - x;
  if (y < m) dy = m - y;
  else if (y > stage.height - m) dy = stage.height - m - y;
  return dx === 0 && dy === 0 ? view : panBy(view, dx, dy);
}

/** The CSS transform of a view. */
export function cssTransform(view) {
  return view.scale === 1 && view.tx === 0 && view.ty === 0
    ? 'none'
    : `translate(${view.tx}px, ${view.ty}px) scale(${view.scale})`;
}
