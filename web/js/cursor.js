// The remote pointer drawn by the page (docs/PROTOCOL.md, "The remote pointer"): `cursor_image` carries the
// shape (PNG, hot spot, in screen pixels) when it changes, `cursor` the hot spot's normalised position. The
// overlay is an <img> above the picture, scaled like it (zoom included) and placed so the image's hot-spot pixel
// covers the remote pointer's pixel. With a local mouse over the picture (a control session) the shape becomes
// the stage's CSS cursor instead and the overlay hides, so the user's own motion shows with zero latency.
//
// The placement math and message checks are pure (unit-tested in tests/e2e/web_units.mjs); CursorOverlay is the
// DOM part.

/** Browsers ignore CSS cursor images larger than this (px); bigger shapes stay an overlay. */
export const MAX_CSS_CURSOR_PX = 128;
/** Shapes larger than this (screen px) are refused (the gateway clips at 256). */
export const MAX_SHAPE_PX = 256;
/** After a local trackpad move, the gateway's positions are not drawn for this long (ms). */
export const LOCAL_HOLD_MS = 400;

const DATA_URL = /^data:image\/png;base64,[A-Za-z0-9+/]+={0,2}$/;

/** A `cursor_image` message as a shape {serial, width, height, hotX, hotY, screenWidth, screenHeight, image}, or null. */
export function parseCursorImage(msg) {
  const n = (v) => (Number.isFinite(v) ? v : NaN);
  const s = {
    screen: typeof msg.screen === 'string' ? msg.screen : null,
    serial: n(msg.serial),
    width: n(msg.width),
    height: n(msg.height),
    hotX: n(msg.hot_x),
    hotY: n(msg.hot_y),
    screenWidth: n(msg.screen_width),
    screenHeight: n(msg.screen_height),
    image: typeof msg.image === 'string' ? msg.image : '',
  };
  const ok =
    s.width > 0 && s.width <= MAX_SHAPE_PX && s.height > 0 && s.height <= MAX_SHAPE_PX &&
    s.hotX >= 0 && s.hotX < s.width && s.hotY >= 0 && s.hotY < s.height &&
    s.screenWidth > 0 && s.screenHeight > 0 && DATA_URL.test(s.image);
  return ok ? s : null;
}

/** A `cursor` message as {screen, x, y, visible, serial}, or null. */
export function parseCursor(msg) {
  if (!Number.isFinite(msg.x) || !Number.isFinite(msg.y)) return null;
  return {
    screen: typeof msg.screen === 'string' ? msg.screen : null,
    x: Math.min(1, Math.max(0, msg.x)),
    y: Math.min(1, Math.max(0, msg.y)),
    visible: msg.visible !== false,
    serial: Number.isFinite(msg.serial) ? msg.serial : null,
  };
}

/**
 * Where the shape goes: `rect` is the picture's rectangle on screen (zoomed; any origin), `pos` the hot spot
 * ({x, y} normalised: the centre of the pointer's pixel). Returns the image's box {left, top, width, height} and
 * the hot spot {hotLeft, hotTop} in the same coordinates, and the scale (screen px → CSS px).
 */
export function cursorPlacement(rect, shape, pos) {
  const kx = rect.width / shape.screenWidth;
  const ky = rect.height / shape.screenHeight;
  const hotLeft = rect.left + pos.x * rect.width;
  const hotTop = rect.top + pos.y * rect.height;
  return {
    left: hotLeft - (shape.hotX + 0.5) * kx,
    top: hotTop - (shape.hotY + 0.5) * ky,
    width: shape.width * kx,
    height: shape.height * ky,
    hotLeft,
    hotTop,
    scale: kx,
  };
}

/** The CSS `cursor` value that shows the shape as the local mouse cursor, or null when it is too large. */
export function cssCursor(shape) {
  if (!shape || shape.width > MAX_CSS_CURSOR_PX || shape.height > MAX_CSS_CURSOR_PX) return null;
  return `url("${shape.image}") ${shape.hotX} ${shape.hotY}, default`;
}

export class CursorOverlay {
  /**
   * `img`: the overlay image (absolutely positioned in `layer`, which covers the stage); `stage`: gets the CSS
   * cursor; `rect()`: the zoomed picture rectangle in client px or null; `screen()`: the watched screen's id;
   * `mouseMode()`: true while a local mouse hovers the picture in a control session.
   */
  constructor({ img, layer, stage, rect, screen, mouseMode }) {
    this.img = img;
    this.layer = layer;
    this.stage = stage;
    this.rect = rect;
    this.screen = screen;
    this.mouseMode = mouseMode;
    this.shape = null;
    this.pos = null; // {x, y, visible, serial}
    this.lastDraw = null; // {visible, left, top, serial, at}
    this.cssValue = null;
    this.localUntil = 0; // trackpad moves draw at once; the gateway's positions lag them for a moment
  }

  /** Trackpad mode moved the pointer: draw it there now, ahead of the gateway's `cursor` messages. */
  moveLocal(pos) {
    if (!this.pos) this.pos = { x: pos.x, y: pos.y, visible: true, serial: null };
    else this.pos = { ...this.pos, x: pos.x, y: pos.y };
    this.localUntil = performance.now() + LOCAL_HOLD_MS;
    this.draw();
  }

  /** Handles `cursor_image` and `cursor`; returns true when the message was one. */
  handle(msg) {
    if (msg.type === 'cursor_image') {
      const s = parseCursorImage(msg);
      if (!s || (s.screen && s.screen !== this.screen())) return true;
      this.shape = s;
      this.img.src = s.image;
      this.cssValue = cssCursor(s);
      this.draw();
      return true;
    }
    if (msg.type === 'cursor') {
      const p = parseCursor(msg);
      if (!p || (p.screen && p.screen !== this.screen())) return true;
      // Right after a local trackpad move, the gateway's (older) positions would pull the drawing back.
      this.pos = performance.now() < this.localUntil && this.pos ? { ...p, x: this.pos.x, y: this.pos.y } : p;
      this.draw();
      return true;
    }
    return false;
  }

  /** Forgets the shape and position (another screen, a new watch). */
  reset() {
    this.shape = null;
    this.pos = null;
    this.cssValue = null;
    this.img.hidden = true;
    this.img.removeAttribute('src');
    this.stage.style.cursor = '';
    this.lastDraw = null;
  }

  /** Places (or hides) the overlay for the current state, zoom and layout. */
  draw() {
    const mouse = this.mouseMode();
    this.stage.style.cursor = mouse ? this.cssValue || '' : '';
    const r = this.rect();
    const show = !!(r && this.shape && this.pos && this.pos.visible && !mouse);
    const at = performance.timeOrigin + performance.now();
    if (!show) {
      this.img.hidden = true;
      this.lastDraw = { visible: false, left: null, top: null, serial: this.shape && this.shape.serial, at };
      return;
    }
    const box = this.layer.getBoundingClientRect();
    const p = cursorPlacement({ left: r.left - box.left, top: r.top - box.top, width: r.width, height: r.height }, this.shape, this.pos);
    const st = this.img.style;
    st.width = `${p.width}px`;
    st.height = `${p.height}px`;
    st.transform = `translate(${p.left}px, ${p.top}px)`;
    st.imageRendering = p.scale >= 1.5 ? 'pixelated' : 'auto';
    this.img.hidden = false;
    this.lastDraw = { visible: true, left: p.hotLeft + box.left, top: p.hotTop + box.top, serial: this.shape.serial, at };
  }
}
