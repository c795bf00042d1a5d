// Keys on phones, as pure state machines that return the protocol commands to send (unit-tested in
// tests/e2e/web_units.mjs; input.js feeds them):
// - ModifierKeys: the key bar's Shift / Ctrl / Alt / Super. One tap latches a modifier for the next key; a double
//   tap locks it — pressed on the remote until it is tapped again, across any number of keys, taps and clicks.
// - ImeState: the hidden on-screen-keyboard input and IME composition (CJK, emoji, swipe and predictive
//   keyboards): nothing is sent while a composition runs; its result goes once, as text, when it ends, and the
//   insert some browsers fire after `compositionend` with the same text is swallowed.
// - pasteKeys: the key presses that make the remote application paste after the page set its clipboard.

/** Two taps of one modifier within this long (ms) lock it. */
export const LOCK_TAP_MS = 400;

const key = (action, code) => ({ type: 'key', action, code });

export class ModifierKeys {
  constructor({ lockTapMs = LOCK_TAP_MS } = {}) {
    this.lockTapMs = lockTapMs;
    this.latched = new Map(); // code → when it was latched
    this.locked = new Set();
  }

  /** 'off' | 'latched' | 'locked'. */
  stateOf(code) {
    return this.locked.has(code) ? 'locked' : this.latched.has(code) ? 'latched' : 'off';
  }

  /**
   * A tap on modifier `code`: off → latched; latched → locked when tapped again quickly (the key goes down on the
   * remote), else off; locked → off (the key goes up). Returns the commands to send.
   */
  tap(code, now) {
    if (this.locked.has(code)) {
      this.locked.delete(code);
      return [key('up', code)];
    }
    if (this.latched.has(code)) {
      const at = this.latched.get(code);
      this.latched.delete(code);
      if (now - at <= this.lockTapMs) {
        this.locked.add(code);
        return [key('down', code)];
      }
      return [];
    }
    this.latched.set(code, now);
    return [];
  }

  /** Latched (not locked) modifiers, in the order they were latched. */
  latchedCodes() {
    return [...this.latched.keys()];
  }

  /** Whether any modifier is latched or locked. */
  get active() {
    return this.latched.size > 0 || this.locked.size > 0;
  }

  /**
   * Presses `code` with the modifiers: latched ones go down before and up after (then unlatch); locked ones are
   * already down and stay down.
   */
  press(code) {
    const mods = this.latchedCodes();
    this.latched.clear();
    return [...mods.map((m) => key('down', m)), key('press', code), ...mods.reverse().map((m) => key('up', m))];
  }

  /** Drops the latched (not locked) modifiers, used up by typed text; true when there were any. */
  dropLatched() {
    const had = this.latched.size > 0;
    this.latched.clear();
    return had;
  }

  /** Drops every latch and lock; returns the key-ups of the locked ones. */
  clear() {
    const out = [...this.locked].map((m) => key('up', m));
    this.locked.clear();
    this.latched.clear();
    return out;
  }
}

/**
 * The hidden input's text events. Methods return {text} (send as a `text` command), {key} (press that key), or
 * null (nothing to send); `cancel` says whether the browser's default must be prevented (only possible outside a
 * composition).
 */
export class ImeState {
  constructor() {
    this.composing = false;
    this.justCommitted = null; // the text of the composition that just ended, until the next input event
  }

  /** A keydown in the input: true when it belongs to a composition and must not be sent as a key. */
  keyIsComposing(e) {
    return this.composing || !!e.isComposing || e.keyCode === 229;
  }

  compositionStart() {
    this.composing = true;
    this.justCommitted = null;
  }

  /** The composition ended with `data`: send it (once). */
  compositionEnd(data) {
    this.composing = false;
    this.justCommitted = data || null;
    return data ? { text: data } : null;
  }

  /** A `beforeinput` event ({inputType, data, isComposing}). */
  beforeInput({ inputType, data, isComposing }) {
    const committed = this.justCommitted;
    this.justCommitted = null;
    if (this.composing || isComposing || inputType === 'insertCompositionText' || inputType === 'deleteCompositionText') {
      return { cancel: false, send: null }; // the composition's own edits; compositionend sends the result
    }
    switch (inputType) {
      case 'insertText':
      case 'insertReplacementText':
      case 'insertFromComposition':
        // Safari (and some Android keyboards) insert the committed text again after compositionend.
        if (data && data === committed) return { cancel: true, send: null };
        return { cancel: true, send: data ? { text: data } : null };
      case 'insertLineBreak':
      case 'insertParagraph':
        return { cancel: true, send: { key: 'Enter' } };
      case 'deleteContentBackward':
        return { cancel: true, send: { key: 'Backspace' } };
      case 'deleteContentForward':
        return { cancel: true, send: { key: 'Delete' } };
      case 'insertFromPaste':
        return { cancel: true, send: { paste: true } };
      default:
        return { cancel: false, send: null };
    }
  }
}

/** The modifier keys that are pressed in `held` (DOM codes). */
export const MODIFIER_CODES = new Set(['ShiftLeft', 'ShiftRight', 'ControlLeft', 'ControlRight', 'AltLeft', 'AltRight', 'MetaLeft', 'MetaRight']);

/**
 * The commands that press Ctrl+V on the remote while the keys in `held` are down there: other held modifiers
 * (Cmd on a Mac, Shift) are lifted around it and pressed again after; a Ctrl already held stays held.
 */
export function pasteKeys(held) {
  const heldMods = [...held].filter((c) => MODIFIER_CODES.has(c));
  const ctrlHeld = heldMods.some((c) => c === 'ControlLeft' || c === 'ControlRight');
  const others = heldMods.filter((c) => c !== 'ControlLeft' && c !== 'ControlRight');
  return [
    ...others.map((c) => key('up', c)),
    ...(ctrlHeld ? [] : [key('down', 'ControlLeft')]),
    key('down', 'KeyV'),
    key('up', 'KeyV'),
    ...(ctrlHeld ? [] : [key('up', 'ControlLeft')]),
    ...others.map((c) => key('down', c)),
  ];
}
