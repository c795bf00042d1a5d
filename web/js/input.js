// Keyboard, mouse, wheel, touch, paste and on-screen-keyboard input → protocol commands.
//
// Positions are normalised to the picture's content rectangle as it is on screen — zoomed and panned
// (geometry.js, zoom.js) —, mouse moves and wheel steps are
// coalesced to one message per animation frame, and every key or button this page pressed on the remote is
// released when the page loses focus, so nothing stays stuck down on the remote machine.
//
// Keyboard capture: keys go to the remote while the stage (the picture) has focus — click the picture to
// capture, click elsewhere or press the page's own controls to release.

import { normalise } from './geometry.js';
import { WheelAccumulator } from './gestures.js';
import { ImeState, MODIFIER_CODES, ModifierKeys } from './keys.js';
import { TouchRouter } from './touch.js';
import { movePointer } from './trackpad.js';
import { IDENTITY } from './zoom.js';

/** The protocol's limit on one `text` command. */
export const MAX_TEXT_CHARS = 4096;

/** What the hidden on-screen-keyboard input always contains (see `resetOsk`). */
const OSK_SENTINEL = ' ';

const BUTTONS = ['left', 'middle', 'right'];

export class InputController {
  /**
   * `stage`: the focusable element over the picture; `rect()`: the picture's content rectangle on screen (zoomed)
   * or null; `send(cmd)`: delivers a command; `enabled()`: whether this session may send input; `osk`: the
   * hidden text input behind the on-screen keyboard button; `onStickyChange(mods)`: the key bar's modifiers
   * (a ModifierKeys) changed; `view()` / `setView(view)`: the zoom view (zoom.js; setView clamps and shows it);
   * `onPaste({text} | {blob})`: a local paste (the clipboard bridge sends it); `cursorPos()`: the remote
   * pointer's last reported position ({x, y} normalised) or null; `onPadMove(pos)`: the trackpad moved the pointer.
   */
  constructor({ stage, rect, send, enabled, osk, onStickyChange = () => {}, view = () => IDENTITY, setView = () => {},
    onPaste = () => {}, cursorPos = () => null, onPadMove = () => {} }) {
    this.stage = stage;
    this.rect = rect;
    this.sendRaw = send;
    this.enabled = enabled;
    this.osk = osk;
    this.keysDown = new Set();
    this.buttonsDown = new Set();
    this.pendingMove = null;
    this.lastSentMove = null;
    this.lastMoveAt = 0;
    this.wheel = new WheelAccumulator();
    this.touch = new TouchRouter();
    this.touchTimer = null;
    this.mods = new ModifierKeys(); // the key bar's latched and locked modifiers
    this.ime = new ImeState();
    this.onStickyChange = onStickyChange;
    this.view = view;
    this.setView = setView;
    this.onPasteData = onPaste;
    this.cursorPos = cursorPos;
    this.onPadMove = onPadMove;
    this.pad = null; // trackpad mode's pointer ({x, y} normalised), kept by the page
    this.frameRequested = false;
    this.listeners = [];
  }

  /** 'direct' (touch where you point) or 'trackpad' (relative pointer). */
  get mode() {
    return this.touch.mode;
  }

  setMode(mode) {
    this.apply(this.touch.setMode(mode));
    this.pad = null;
  }

  send(cmd) {
    if (!this.enabled()) return;
    this.sendRaw(cmd);
  }

  attach() {
    const s = this.stage;
    this.on(s, 'pointerdown', (e) => this.onPointerDown(e));
    this.on(s, 'pointermove', (e) => this.onPointerMove(e));
    this.on(s, 'pointerup', (e) => this.onPointerUp(e));
    this.on(s, 'pointercancel', (e) => this.onPointerUp(e));
    this.on(s, 'contextmenu', (e) => e.preventDefault());
    this.on(s, 'wheel', (e) => this.onWheel(e), { passive: false });
    this.on(s, 'touchstart', (e) => this.onTouch(e, 'start'), { passive: false });
    this.on(s, 'touchmove', (e) => this.onTouch(e, 'move'), { passive: false });
    this.on(s, 'touchend', (e) => this.onTouch(e, 'end'), { passive: false });
    this.on(s, 'touchcancel', (e) => this.onTouch(e, 'cancel'), { passive: false });
    this.on(s, 'keydown', (e) => this.onKeyDown(e));
    this.on(s, 'keyup', (e) => this.onKeyUp(e));
    this.on(s, 'blur', () => this.releaseAll());
    this.on(window, 'blur', () => this.releaseAll());
    this.on(document, 'visibilitychange', () => {
      if (document.hidden) this.releaseAll();
    });
    this.on(document, 'paste', (e) => this.onPaste(e));
    if (this.osk) {
      this.on(this.osk, 'beforeinput', (e) => this.onOskBeforeInput(e));
      this.on(this.osk, 'compositionstart', () => this.ime.compositionStart());
      this.on(this.osk, 'compositionend', (e) => this.onOskCompositionEnd(e));
      this.on(this.osk, 'keydown', (e) => this.onOskKeyDown(e));
    }
  }

  detach() {
    for (const [target, type, fn, opts] of this.listeners) target.removeEventListener(type, fn, opts);
    this.listeners = [];
    clearTimeout(this.touchTimer);
  }

  on(target, type, fn, opts) {
    target.addEventListener(type, fn, opts);
    this.listeners.push([target, type, fn, opts]);
  }

  position(clientX, clientY) {
    const r = this.rect();
    return r ? normalise(clientX, clientY, r) : null;
  }

  // --- mouse -------------------------------------------------------------------------------------------------

  onPointerDown(e) {
    if (e.pointerType === 'touch') return; // touch events carry the gestures
    this.stage.focus({ preventScroll: true });
    if (!this.enabled()) return;
    const p = this.position(e.clientX, e.clientY);
    if (!p || !p.inside) return;
    e.preventDefault();
    const button = BUTTONS[e.button] || 'left';
    this.pendingMove = null;
    this.send({ type: 'pointer', action: 'down', x: p.x, y: p.y, button });
    this.lastSentMove = p;
    this.buttonsDown.add(button);
    try {
      this.stage.setPointerCapture(e.pointerId);
    } catch {
      // The pointer may already be gone.
    }
  }

  onPointerMove(e) {
    if (e.pointerType === 'touch' || !this.enabled()) return;
    const p = this.position(e.clientX, e.clientY);
    if (!p || (!p.inside && this.buttonsDown.size === 0)) return;
    this.pendingMove = p;
    this.requestFrame();
  }

  onPointerUp(e) {
    if (e.pointerType === 'touch') return;
    const button = BUTTONS[e.button] || 'left';
    if (!this.buttonsDown.has(button)) return;
    this.buttonsDown.delete(button);
    const p = this.position(e.clientX, e.clientY) || this.lastSentMove;
    this.pendingMove = null;
    if (p) this.send({ type: 'pointer', action: 'up', x: p.x, y: p.y, button });
    else this.send({ type: 'pointer', action: 'up', button });
  }

  onWheel(e) {
    if (!this.enabled()) return;
    e.preventDefault();
    this.wheel.addDom(e.deltaX, e.deltaY, e.deltaMode);
    this.requestFrame();
  }

  requestFrame() {
    if (this.frameRequested) return;
    this.frameRequested = true;
    requestAnimationFrame(() => this.flush());
  }

  /** Sends the coalesced move and wheel steps of this animation frame. */
  flush() {
    this.frameRequested = false;
    const m = this.pendingMove;
    this.pendingMove = null;
    if (m && !(this.lastSentMove && this.lastSentMove.x === m.x && this.lastSentMove.y === m.y)) {
      this.send({ type: 'pointer', action: 'move', x: m.x, y: m.y });
      this.lastSentMove = m;
      this.lastMoveAt = performance.now();
    }
    const w = this.wheel.take();
    if (w) {
      this.send({ type: 'wheel', dx: w.dx, dy: w.dy });
      // Whole steps per message are capped; what is left goes out with the next frame.
      if (Math.abs(this.wheel.x) >= 1 || Math.abs(this.wheel.y) >= 1) this.requestFrame();
    }
  }

  // --- touch -------------------------------------------------------------------------------------------------

  onTouch(e, phase) {
    e.preventDefault(); // no emulated mouse events, no browser scrolling or zooming of the page
    if (phase === 'start') this.stage.focus({ preventScroll: true });
    const box = this.stage.getBoundingClientRect();
    this.origin = { x: box.left, y: box.top };
    const touches = Array.from(e.touches, (t) => ({ id: t.identifier, x: t.clientX - box.left, y: t.clientY - box.top }));
    const now = performance.now();
    let actions;
    if (phase === 'start') {
      if (this.mode === 'trackpad' && touches.length === 1) this.syncPad(now);
      actions = this.touch.start(touches, now, this.view());
    } else if (phase === 'move') actions = this.touch.move(touches, now);
    else if (phase === 'end') actions = this.touch.end(touches, now, this.view());
    else actions = this.touch.cancel();
    // View-only sessions zoom and pan too; nothing else they do is sent.
    this.apply(this.enabled() ? actions : actions.filter((a) => a.kind === 'view'));
    clearTimeout(this.touchTimer);
    const deadline = this.touch.deadline();
    if (deadline !== null) {
      const tick = () => this.apply(this.touch.tick(performance.now()).filter((a) => this.enabled() || a.kind === 'view'));
      this.touchTimer = setTimeout(tick, Math.max(0, deadline - now));
    }
  }

  /**
   * The trackpad pointer starts where the remote says its pointer is (the last `cursor` message), else at the
   * centre; it follows the remote again when something else moved it (not within a second of our own moves).
   */
  syncPad(now) {
    const c = this.cursorPos();
    if (!this.pad) this.pad = c ? { x: c.x, y: c.y } : { x: 0.5, y: 0.5 };
    else if (c && now - this.lastMoveAt > 1000) this.pad = { x: c.x, y: c.y };
  }

  apply(actions) {
    const o = this.origin || { x: 0, y: 0 };
    for (const a of actions) {
      if (a.kind === 'view') {
        this.setView(a.view);
        continue;
      }
      if (a.kind === 'scroll') {
        this.wheel.addTouch(a.dx, a.dy);
        this.requestFrame();
        continue;
      }
      if (a.kind === 'rel') {
        const r = this.rect();
        if (!r) continue;
        if (!this.pad) this.syncPad(performance.now());
        this.pad = movePointer(this.pad, a.dx, a.dy, a.dt, r.width, r.height);
        this.pendingMove = { ...this.pad, inside: true };
        this.requestFrame();
        this.onPadMove(this.pad);
        continue;
      }
      let p;
      if (a.pointer) {
        if (!this.pad) this.syncPad(performance.now());
        p = { ...this.pad, inside: true };
      } else {
        p = this.position(a.x + o.x, a.y + o.y);
      }
      if (!p) continue;
      if (a.kind === 'move') {
        this.pendingMove = p;
        this.requestFrame();
        continue;
      }
      if ((a.kind === 'click' || a.kind === 'rightclick' || a.kind === 'down') && !p.inside) continue;
      this.flushMoveNow();
      if (a.kind === 'click') this.send({ type: 'pointer', action: 'click', x: p.x, y: p.y });
      else if (a.kind === 'rightclick') this.send({ type: 'pointer', action: 'click', x: p.x, y: p.y, button: 'right' });
      else if (a.kind === 'down') {
        this.send({ type: 'pointer', action: 'down', x: p.x, y: p.y });
        this.buttonsDown.add('left');
      } else if (a.kind === 'up') {
        this.send({ type: 'pointer', action: 'up', x: p.x, y: p.y });
        this.buttonsDown.delete('left');
      }
      this.lastSentMove = p;
      this.lastMoveAt = performance.now();
    }
  }

  flushMoveNow() {
    const m = this.pendingMove;
    this.pendingMove = null;
    if (m) {
      this.send({ type: 'pointer', action: 'move', x: m.x, y: m.y });
      this.lastSentMove = m;
    }
  }

  // --- keyboard ----------------------------------------------------------------------------------------------

  onKeyDown(e) {
    if (!this.enabled() || e.isComposing || e.keyCode === 229 || !e.code) return;
    // Ctrl/Cmd+V: let the browser paste (the `paste` event sets the remote clipboard, then presses Ctrl+V there)
    // instead of sending V now.
    if (e.code === 'KeyV' && (e.ctrlKey || e.metaKey) && !e.altKey) return;
    e.preventDefault();
    e.stopPropagation();
    this.keysDown.add(e.code);
    this.send({ type: 'key', action: 'down', code: e.code });
  }

  onKeyUp(e) {
    if (!this.keysDown.has(e.code)) return;
    e.preventDefault();
    e.stopPropagation();
    this.keysDown.delete(e.code);
    this.send({ type: 'key', action: 'up', code: e.code });
  }

  /** A paste in the stage or the on-screen keyboard: text or an image goes to the clipboard bridge. */
  onPaste(e) {
    const target = document.activeElement;
    if (!this.enabled() || (target !== this.stage && target !== this.osk)) return;
    e.preventDefault();
    const dt = e.clipboardData;
    if (!dt) return;
    const image = Array.from(dt.items || []).find((i) => i.kind === 'file' && i.type.startsWith('image/'));
    const text = dt.getData('text/plain');
    if (text) this.onPasteData({ text });
    else if (image && image.getAsFile()) this.onPasteData({ blob: image.getAsFile() });
  }

  /** Types text with the modifiers this page holds lifted around it (or the remote would see Ctrl+letters). */
  typeText(text) {
    const held = [...this.keysDown].filter((c) => MODIFIER_CODES.has(c));
    for (const c of held) this.send({ type: 'key', action: 'up', code: c });
    this.sendText(text);
    for (const c of held) this.send({ type: 'key', action: 'down', code: c });
  }

  /** The key codes this page holds down on the remote (the clipboard bridge presses Ctrl+V around them). */
  held() {
    return new Set(this.keysDown);
  }

  sendText(text) {
    const chars = Array.from(text);
    for (let i = 0; i < chars.length; i += MAX_TEXT_CHARS) {
      this.send({ type: 'text', text: chars.slice(i, i + MAX_TEXT_CHARS).join('') });
    }
  }

  /** Lifts every key and button this page holds down on the remote (locked modifiers included). */
  releaseAll() {
    for (const code of this.keysDown) this.sendRaw({ type: 'key', action: 'up', code });
    this.keysDown.clear();
    for (const button of this.buttonsDown) this.sendRaw({ type: 'pointer', action: 'up', button });
    this.buttonsDown.clear();
    if (this.mods.active) {
      this.mods.clear(); // their key-ups went out with keysDown
      this.onStickyChange(this.mods);
    }
  }

  // --- on-screen keyboard (phones) ---------------------------------------------------------------------------

  /** Opens the phone's keyboard: focusing a real text input is the only way a page can ask for it. */
  openKeyboard() {
    if (!this.osk) return;
    this.resetOsk();
    this.osk.focus({ preventScroll: true });
  }

  closeKeyboard() {
    if (this.osk && document.activeElement === this.osk) this.osk.blur();
    this.clearSticky();
  }

  /**
   * A key-bar button: a key pressed with the modifiers, or a modifier tapped (keys.js ModifierKeys: one tap
   * latches it for the next key, a quick second tap locks it down until it is tapped again).
   */
  specialKey({ key, mod }) {
    if (!this.enabled()) return;
    if (mod) {
      for (const c of this.mods.tap(mod, performance.now())) this.sendKey(c);
      this.onStickyChange(this.mods);
      return;
    }
    this.pressWithSticky(key);
  }

  /** Sends a key command, tracking what is held down (so blur releases it). */
  sendKey(cmd) {
    if (cmd.action === 'down') this.keysDown.add(cmd.code);
    if (cmd.action === 'up') this.keysDown.delete(cmd.code);
    this.send(cmd);
  }

  pressWithSticky(code) {
    const had = this.mods.latchedCodes().length > 0;
    for (const c of this.mods.press(code)) this.send(c);
    if (had) this.onStickyChange(this.mods);
  }

  clearSticky() {
    if (!this.mods.active) return;
    for (const c of this.mods.clear()) this.sendKey(c);
    this.onStickyChange(this.mods);
  }

  /** Text from the on-screen keyboard: with a modifier in force, a letter or digit becomes a key press (Ctrl+C,
   * Shift+A = "A"); other text is typed, and uses up the latched modifiers. */
  oskText(text) {
    const code = this.mods.active ? codeOfChar(text) : null;
    if (code) {
      this.pressWithSticky(code);
      return;
    }
    this.sendText(text);
    if (this.mods.dropLatched()) this.onStickyChange(this.mods);
  }

  onOskBeforeInput(e) {
    if (!this.enabled()) return;
    const r = this.ime.beforeInput(e);
    if (r.cancel) e.preventDefault();
    const s = r.send;
    if (!s) return;
    if (s.text) this.oskText(s.text);
    else if (s.key) this.pressWithSticky(s.key);
    else if (s.paste) {
      const text = e.dataTransfer ? e.dataTransfer.getData('text/plain') : e.data;
      if (text) this.onPasteData({ text });
    }
  }

  onOskCompositionEnd(e) {
    const r = this.ime.compositionEnd(e.data);
    if (this.enabled() && r) this.oskText(r.text);
    this.resetOsk();
  }

  /**
   * One sentinel character stays in the input so Backspace always has something to delete (an empty input
   * fires no beforeinput for it on many phones); every edit is cancelled, so the sentinel never changes.
   */
  resetOsk() {
    this.osk.value = OSK_SENTINEL;
    this.osk.setSelectionRange(OSK_SENTINEL.length, OSK_SENTINEL.length);
  }

  onOskKeyDown(e) {
    if (this.ime.keyIsComposing(e)) return;
    // Keys that produce no input event (arrows, Escape, Tab) from a hardware keyboard attached to a tablet.
    const passthrough = ['ArrowLeft', 'ArrowRight', 'ArrowUp', 'ArrowDown', 'Escape', 'Tab', 'Home', 'End', 'PageUp', 'PageDown'];
    if (this.enabled() && passthrough.includes(e.code)) {
      e.preventDefault();
      this.pressWithSticky(e.code);
    }
  }
}

/** The DOM code of the US-layout key that types `ch` (letters and digits only), or null. */
export function codeOfChar(ch) {
  if (typeof ch !== 'string' || ch.length !== 1) return null;
  if (/^[a-z]$/i.test(ch)) return `Key${ch.toUpperCase()}`;
  if (/^[0-9]$/.test(ch)) return `Digit${ch}`;
  return null;
}
