// Keyboard, mouse, wheel, touch, paste and on-screen-keyboard input → protocol commands.
//
// Positions are normalised to the picture's content rectangle (geometry.js), mouse moves and wheel steps are
// coalesced to one message per animation frame, and every key or button this page pressed on the remote is
// released when the page loses focus, so nothing stays stuck down on the remote machine.
//
// Keyboard capture: keys go to the remote while the stage (the picture) has focus — click the picture to
// capture, click elsewhere or press the page's own controls to release.

import { normalise } from './geometry.js';
import { TouchGestures, WheelAccumulator } from './gestures.js';

/** The protocol's limit on one `text` command. */
export const MAX_TEXT_CHARS = 4096;

/** What the hidden on-screen-keyboard input always contains (see `resetOsk`). */
const OSK_SENTINEL = ' ';

const BUTTONS = ['left', 'middle', 'right'];
const MODIFIERS = new Set(['ShiftLeft', 'ShiftRight', 'ControlLeft', 'ControlRight', 'AltLeft', 'AltRight', 'MetaLeft', 'MetaRight']);

export class InputController {
  /**
   * `stage`: the focusable element over the picture; `rect()`: the picture's content rectangle or null;
   * `send(cmd)`: delivers a command; `enabled()`: whether this session may send input; `osk`: the hidden text
   * input behind the on-screen keyboard button; `onStickyChange(set)`: the latched key-bar modifiers changed.
   */
  constructor({ stage, rect, send, enabled, osk, onStickyChange = () => {} }) {
    this.stage = stage;
    this.rect = rect;
    this.sendRaw = send;
    this.enabled = enabled;
    this.osk = osk;
    this.keysDown = new Set();
    this.buttonsDown = new Set();
    this.pendingMove = null;
    this.lastSentMove = null;
    this.wheel = new WheelAccumulator();
    this.touch = new TouchGestures();
    this.touchTimer = null;
    this.sticky = new Set(); // latched modifiers from the key bar
    this.onStickyChange = onStickyChange;
    this.frameRequested = false;
    this.listeners = [];
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
    if (!this.enabled()) return;
    const touches = Array.from(e.touches, (t) => ({ id: t.identifier, x: t.clientX, y: t.clientY }));
    const now = performance.now();
    let actions;
    if (phase === 'start') actions = this.touch.start(touches, now);
    else if (phase === 'move') actions = this.touch.move(touches, now);
    else if (phase === 'end') actions = this.touch.end(touches, now);
    else actions = this.touch.cancel();
    this.apply(actions);
    clearTimeout(this.touchTimer);
    const deadline = this.touch.deadline();
    if (deadline !== null) {
      this.touchTimer = setTimeout(() => this.apply(this.touch.tick(performance.now())), Math.max(0, deadline - now));
    }
  }

  apply(actions) {
    for (const a of actions) {
      if (a.kind === 'scroll') {
        this.wheel.addTouch(a.dx, a.dy);
        this.requestFrame();
        continue;
      }
      const p = this.position(a.x, a.y);
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
    if (!this.enabled() || e.isComposing || !e.code) return;
    // Ctrl/Cmd+V: let the browser paste (the `paste` event sends the clipboard as text) instead of sending V.
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

  onPaste(e) {
    if (!this.enabled() || document.activeElement !== this.stage) return;
    const text = e.clipboardData ? e.clipboardData.getData('text/plain') : '';
    e.preventDefault();
    if (!text) return;
    // The remote still sees Ctrl (or Cmd) held from the shortcut: lift modifiers around the text, or it would
    // type Ctrl+letters.
    const held = [...this.keysDown].filter((c) => MODIFIERS.has(c));
    for (const c of held) this.send({ type: 'key', action: 'up', code: c });
    this.sendText(text);
    for (const c of held) this.send({ type: 'key', action: 'down', code: c });
  }

  sendText(text) {
    const chars = Array.from(text);
    for (let i = 0; i < chars.length; i += MAX_TEXT_CHARS) {
      this.send({ type: 'text', text: chars.slice(i, i + MAX_TEXT_CHARS).join('') });
    }
  }

  /** Lifts every key and button this page holds down on the remote. */
  releaseAll() {
    for (const code of this.keysDown) this.sendRaw({ type: 'key', action: 'up', code });
    this.keysDown.clear();
    for (const button of this.buttonsDown) this.sendRaw({ type: 'pointer', action: 'up', button });
    this.buttonsDown.clear();
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
   * A special key from the key bar: pressed with the sticky modifiers (then released), or a modifier toggled.
   * Modifiers stay latched until the next key, like a phone's shift key.
   */
  specialKey({ key, mod }) {
    if (!this.enabled()) return;
    if (mod) {
      if (this.sticky.has(mod)) this.sticky.delete(mod);
      else this.sticky.add(mod);
      this.onStickyChange(this.sticky);
      return;
    }
    this.pressWithSticky(key);
  }

  pressWithSticky(code) {
    const mods = [...this.sticky];
    for (const m of mods) this.send({ type: 'key', action: 'down', code: m });
    this.send({ type: 'key', action: 'press', code });
    for (const m of mods.reverse()) this.send({ type: 'key', action: 'up', code: m });
    this.clearSticky();
  }

  clearSticky() {
    if (this.sticky.size === 0) return;
    this.sticky.clear();
    this.onStickyChange(this.sticky);
  }

  /** Text from the on-screen keyboard: with a latched modifier, a letter or digit becomes a shortcut (Ctrl+C). */
  oskText(text) {
    const code = this.sticky.size > 0 ? codeOfChar(text) : null;
    if (code) this.pressWithSticky(code);
    else this.sendText(text);
  }

  onOskBeforeInput(e) {
    if (!this.enabled()) return;
    switch (e.inputType) {
      case 'insertText':
      case 'insertReplacementText':
        if (e.data) this.oskText(e.data);
        e.preventDefault();
        break;
      case 'insertFromPaste': {
        const text = e.dataTransfer ? e.dataTransfer.getData('text/plain') : e.data;
        if (text) this.sendText(text);
        e.preventDefault();
        break;
      }
      case 'insertLineBreak':
      case 'insertParagraph':
        this.pressWithSticky('Enter');
        e.preventDefault();
        break;
      case 'deleteContentBackward':
        this.pressWithSticky('Backspace');
        e.preventDefault();
        break;
      case 'deleteContentForward':
        this.pressWithSticky('Delete');
        e.preventDefault();
        break;
      default:
        // Composition (IME, swipe typing) cannot be cancelled: compositionend sends the result.
        break;
    }
  }

  onOskCompositionEnd(e) {
    if (this.enabled() && e.data) this.sendText(e.data);
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
