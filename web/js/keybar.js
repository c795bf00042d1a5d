// The special-key bar under the picture on touch devices: Esc, Tab, the modifiers (Shift, Ctrl, Alt, Super),
// arrows, Backspace, Enter, Home, End, PgUp, PgDn, and a second row of F1–F12 behind "Fn". A modifier shows its
// state: latched (aria-pressed="true") or locked (aria-pressed="true" and data-locked), see keys.js.

/** Wires the bar to `input` (an InputController); returns `render(mods)` for its onStickyChange. */
export function bindKeybar(bar, input) {
  // The buttons must not take the focus from the hidden input (that would close the phone's keyboard): cancel
  // the focus change on press and act on release.
  for (const type of ['pointerdown', 'mousedown']) bar.addEventListener(type, (e) => e.preventDefault());
  bar.addEventListener('click', (e) => {
    const b = e.target.closest('button');
    if (!b) return;
    if (b.dataset.toggle === 'fn') {
      const row = bar.querySelector('.keybar-fn');
      row.hidden = !row.hidden;
      b.setAttribute('aria-expanded', String(!row.hidden));
      return;
    }
    input.specialKey({ key: b.dataset.key, mod: b.dataset.mod });
  });
  return (mods) => {
    for (const b of bar.querySelectorAll('[data-mod]')) {
      const state = mods.stateOf(b.dataset.mod);
      b.setAttribute('aria-pressed', String(state !== 'off'));
      b.toggleAttribute('data-locked', state === 'locked');
    }
  };
}
