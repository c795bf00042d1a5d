// The stage: where the picture (video or JPEG canvas) is on screen, its zoom and pan, and whether a local mouse
// hovers it. The zoom is a CSS transform on the layer holding the video and the canvas (zoom.js), never the
// browser's page zoom; the picture's rectangle on screen is computed from the untransformed layout and the view,
// so input, the cursor overlay and the agent overlay all map through the same numbers.

import { contentRect, parseObjectPosition } from './geometry.js';
import { IDENTITY, clampView, cssTransform, followPoint, zoomedRect } from './zoom.js';

export class StageView {
  /**
   * `stage`: the focusable stage; `layer`: the transformed layer inside it (video + canvas); `hasPicture()`:
   * whether something is shown; `onChange()`: the view or the hover state changed (redraw overlays).
   */
  constructor({ stage, layer, video, canvas, hasPicture, onChange }) {
    this.stage = stage;
    this.layer = layer;
    this.video = video;
    this.canvas = canvas;
    this.hasPicture = hasPicture;
    this.onChange = onChange;
    this.view = { ...IDENTITY };
    this.mouseOver = false;
  }

  attach() {
    const hover = (e, over) => {
      const now = e.pointerType === 'mouse' && over;
      if (now === this.mouseOver) return;
      this.mouseOver = now;
      this.onChange();
    };
    this.stage.addEventListener('pointerenter', (e) => hover(e, true));
    this.stage.addEventListener('pointermove', (e) => hover(e, true));
    this.stage.addEventListener('pointerdown', (e) => hover(e, true));
    this.stage.addEventListener('pointerleave', (e) => hover(e, false));
    // WebKit's own pinch events: the page zooms the picture itself, Safari must not zoom the page.
    for (const type of ['gesturestart', 'gesturechange', 'gestureend']) this.stage.addEventListener(type, (e) => e.preventDefault());
  }

  activeMedia() {
    return this.canvas.hidden ? this.video : this.canvas;
  }

  mediaSize() {
    const m = this.activeMedia();
    return m === this.video ? { w: m.videoWidth, h: m.videoHeight } : { w: m.width, h: m.height };
  }

  /** The picture's 1× rectangle, stage-local, or null. */
  baseRect() {
    const m = this.activeMedia();
    const { w, h } = this.mediaSize();
    if (!this.hasPicture() || !w || !h) return null;
    // offset* ignore the transform: this is the layout box inside the (untransformed) stage.
    const box = { left: m.offsetLeft, top: m.offsetTop, width: m.offsetWidth, height: m.offsetHeight };
    return contentRect(box, w, h, parseObjectPosition(getComputedStyle(m).objectPosition));
  }

  stageSize() {
    return { width: this.stage.clientWidth, height: this.stage.clientHeight };
  }

  /** The picture's rectangle on screen (client coordinates, zoomed and panned), or null. */
  contentRect() {
    const base = this.baseRect();
    if (!base) return null;
    const z = zoomedRect(base, this.view);
    const s = this.stage.getBoundingClientRect();
    return { left: s.left + z.left, top: s.top + z.top, width: z.width, height: z.height };
  }

  /** Sets the view (clamped to keep the picture on the stage) and shows it. */
  setView(view) {
    const base = this.baseRect();
    const next = base ? clampView(view, base, this.stageSize()) : { ...IDENTITY };
    const same = next.scale === this.view.scale && next.tx === this.view.tx && next.ty === this.view.ty;
    this.view = next;
    this.layer.style.transform = cssTransform(next);
    this.stage.classList.toggle('zoomed', next.scale > 1);
    if (!same) this.onChange();
  }

  /** Re-clamps after a layout change (rotation, resize, a new picture size). */
  relayout() {
    this.setView(this.view);
  }

  /** Trackpad mode, zoomed: pans so the pointer at normalised `pos` stays visible. */
  follow(pos) {
    const base = this.baseRect();
    if (!base || this.view.scale === 1) return;
    const z = zoomedRect(base, this.view);
    const next = followPoint(this.view, z.left + pos.x * z.width, z.top + pos.y * z.height, this.stageSize());
    if (next !== this.view) this.setView(next);
  }
}
