// Clipboard both ways (docs/PROTOCOL.md, "The clipboard"; docs/VIEWER.md, "Clipboard").
//
// Remote → local: a `clipboard` message is written to the browser's clipboard when the browser lets a page do
// that without a click (focused page, permission); otherwise the page offers a "Copy" button, because a click
// always may. Local → remote: a paste in the page sets the remote clipboard (`clipboard` command, with an id),
// and once the gateway acknowledged it, Ctrl+V goes to the remote so its application pastes. A refusal (too
// large, not allowed) is shown and nothing is pasted.
//
// The functions at the top are pure (unit-tested in tests/e2e/web_units.mjs); ClipboardBridge is the DOM part.

import { pasteKeys } from './keys.js';

/** The largest clipboard any gateway accepts (`[clipboard] max_bytes` tops out here): bigger pastes are refused
 * by the page itself, before they could exceed the socket's message limit. */
export const MAX_CLIPBOARD_BYTES = 184320;

/** How long the page waits for the gateway to acknowledge a clipboard before giving up on the paste. */
export const ACK_TIMEOUT_MS = 4000;

/** Clipboards this page set recently, remembered so they are not copied back when the gateway echoes them. */
export const RECENT_SENT = 4;

/**
 * What to do with a `clipboard` message: {kind: 'text', text} | {kind: 'image', data} | {kind: 'too_large',
 * bytes} | {kind: 'empty'} | {kind: 'own'} (one of the page's recent pastes, `sent`: [{text} | {data}], coming
 * back) | null (not for this page).
 */
export function incomingClipboard(msg, sent) {
  const recent = Array.isArray(sent) ? sent : [];
  if (msg.selection && msg.selection !== 'clipboard') return null;
  if (msg.too_large) return { kind: 'too_large', bytes: Number(msg.bytes) || 0 };
  if (typeof msg.text === 'string' && (!msg.mime || msg.mime === 'text/plain')) {
    if (msg.text === '') return { kind: 'empty' };
    if (recent.some((s) => s && s.text === msg.text)) return { kind: 'own' };
    return { kind: 'text', text: msg.text };
  }
  if (typeof msg.data === 'string' && msg.mime === 'image/png') {
    if (recent.some((s) => s && s.data === msg.data)) return { kind: 'own' };
    return { kind: 'image', data: msg.data };
  }
  return { kind: 'empty' };
}

/** The UTF-8 size of a string, in bytes. */
export function utf8Bytes(text) {
  return new TextEncoder().encode(text).length;
}

/** Base64 of bytes (chunked, so large images do not overflow the argument list). */
export function bytesToBase64(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/** Bytes of base64 text. */
export function base64ToBytes(b64) {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** A short preview of clipboard text for the copy offer. */
export function preview(text, max = 40) {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

/** Writes text to the local clipboard: the async API, else a selected textarea and execCommand('copy'). */
export async function copyText(text) {
  try {
    if (navigator.clipboard && navigator.clipboard.writeText) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // Not focused, not allowed, or not a secure context: try the old way.
  }
  const ta = document.createElement('textarea');
  ta.value = text;
  ta.setAttribute('readonly', '');
  ta.style.cssText = 'position:fixed;left:-9999px;top:0;opacity:0';
  document.body.append(ta);
  ta.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch {
    ok = false;
  }
  ta.remove();
  return ok;
}

/** Writes a PNG to the local clipboard where the browser has ClipboardItem; false otherwise. */
export async function copyPng(blob) {
  try {
    if (navigator.clipboard && navigator.clipboard.write && typeof ClipboardItem === 'function') {
      await navigator.clipboard.write([new ClipboardItem({ 'image/png': blob })]);
      return true;
    }
  } catch {
    // Refused: the caller offers a button or a download.
  }
  return false;
}

export class ClipboardBridge {
  /**
   * `send(cmd)` sends a command; `held()` the key codes this page holds down on the remote; `toast(text)` shows
   * a message; `offer` the copy-offer element (with .clip-text, .clip-copy, .clip-download, .clip-close inside);
   * `typeInstead(text)` types text when the gateway does not share its clipboard with this session (`forbidden`).
   */
  constructor({ send, held, toast, offer, typeInstead }) {
    this.send = send;
    this.typeInstead = typeInstead;
    this.held = held;
    this.toast = toast;
    this.offer = offer;
    this.sent = []; // the last RECENT_SENT clipboards this page set: {text} | {data}
    this.lastReceived = null; // for the e2e hook: {kind, text?, bytes?, mime, at}
    this.pending = new Map(); // id → {timer, text (a text paste, typed if refused)}
    this.seq = 0;
    this.offered = null;
    offer.querySelector('.clip-copy').addEventListener('click', () => this.copyOffered());
    offer.querySelector('.clip-close').addEventListener('click', () => (offer.hidden = true));
  }

  /** Local paste of text: set the remote clipboard, then Ctrl+V there. */
  pasteText(text) {
    if (!text) return;
    const bytes = utf8Bytes(text);
    if (bytes > MAX_CLIPBOARD_BYTES) {
      this.toast(`Paste refused: ${bytes} bytes is over the largest clipboard a gateway accepts (${MAX_CLIPBOARD_BYTES}).`);
      return;
    }
    this.setRemote({ type: 'clipboard', text }, { text }, text);
  }

  /** Local paste of an image (a Blob); converted to PNG when it is another format. */
  async pasteImage(blob) {
    const png = blob.type === 'image/png' ? blob : await toPng(blob).catch(() => null);
    if (!png) {
      this.toast('This image cannot be pasted (not convertible to PNG).');
      return;
    }
    if (png.size > MAX_CLIPBOARD_BYTES) {
      this.toast(`Paste refused: the image is ${png.size} bytes as PNG, over the largest clipboard a gateway accepts (${MAX_CLIPBOARD_BYTES}).`);
      return;
    }
    const data = bytesToBase64(new Uint8Array(await png.arrayBuffer()));
    this.setRemote({ type: 'clipboard', mime: 'image/png', data }, { data });
  }

  setRemote(cmd, sent, text = null) {
    const id = `clip${++this.seq}`;
    this.sent.push(sent);
    if (this.sent.length > RECENT_SENT) this.sent.shift();
    const timer = setTimeout(() => {
      this.pending.delete(id);
      this.toast('The gateway did not confirm the clipboard; nothing was pasted.');
    }, ACK_TIMEOUT_MS);
    this.pending.set(id, { timer, text });
    this.send({ ...cmd, id });
  }

  /** An `ack`: presses Ctrl+V for a confirmed clipboard. True when it was ours. */
  handleAck(msg) {
    const p = this.pending.get(msg.id);
    if (!p) return false;
    clearTimeout(p.timer);
    this.pending.delete(msg.id);
    // The keys held at this moment (not at the paste: Ctrl may have been let go meanwhile).
    for (const k of pasteKeys(this.held())) this.send(k);
    return true;
  }

  /** An `error` answering a clipboard command: shown, nothing pasted. True when it was ours. */
  handleError(msg) {
    const p = msg.id !== undefined ? this.pending.get(msg.id) : null;
    if (!p && msg.code !== 'too_large') return false;
    if (p) {
      clearTimeout(p.timer);
      this.pending.delete(msg.id);
    }
    if (p && p.text && msg.code === 'forbidden') {
      // Clipboard sharing is off for this session: type the text, as the page did before clipboard sharing.
      this.typeInstead(p.text);
      this.toast('The remote clipboard is not shared with this session: the text was typed instead.');
      return true;
    }
    this.toast(`Paste refused: ${msg.message || msg.code}`);
    return true;
  }

  /** A `clipboard` message from the gateway. */
  async handleMessage(msg) {
    const item = incomingClipboard(msg, this.sent);
    if (!item || item.kind === 'own') return;
    const at = performance.timeOrigin + performance.now();
    this.lastReceived = { ...item, mime: msg.mime || 'text/plain', bytes: Number(msg.bytes) || 0, at };
    if (item.kind === 'too_large') {
      this.toast(`The remote clipboard is too large to copy here (${item.bytes} bytes, over [clipboard] max_bytes).`);
      return;
    }
    if (item.kind === 'empty') return;
    if (item.kind === 'text') {
      let ok = false;
      try {
        // Without a click only the async API may write (and only where the browser allows it, see docs/VIEWER.md).
        if (navigator.clipboard && navigator.clipboard.writeText) {
          await navigator.clipboard.writeText(item.text);
          ok = true;
        }
      } catch {
        ok = false;
      }
      this.lastReceived.written = ok;
      if (ok) this.toast('Copied the remote clipboard.');
      else this.showOffer(item, `“${preview(item.text)}”`);
      return;
    }
    const blob = new Blob([base64ToBytes(item.data)], { type: 'image/png' });
    const ok = await copyPng(blob);
    this.lastReceived.written = ok;
    if (ok) this.toast('Copied the remote image.');
    else this.showOffer({ ...item, blob }, 'an image');
  }

  showOffer(item, what) {
    this.offered = item;
    const o = this.offer;
    o.querySelector('.clip-text').textContent = `Remote clipboard: ${what}`;
    const dl = o.querySelector('.clip-download');
    if (dl.href && dl.href.startsWith('blob:')) URL.revokeObjectURL(dl.href);
    dl.hidden = item.kind !== 'image';
    if (item.kind === 'image') dl.href = URL.createObjectURL(item.blob);
    o.hidden = false;
  }

  /** The offer's button (a click: the browser lets the page write now). */
  async copyOffered() {
    const item = this.offered;
    if (!item) return;
    const ok = item.kind === 'text' ? await copyText(item.text) : await copyPng(item.blob);
    if (ok) {
      this.offer.hidden = true;
      this.toast('Copied.');
    } else {
      this.toast(item.kind === 'image' ? 'This browser cannot copy images: use Download.' : 'Copying is not allowed here.');
    }
  }
}

/** Any image Blob as a PNG Blob (through a canvas). */
async function toPng(blob) {
  const bmp = await createImageBitmap(blob);
  const c = document.createElement('canvas');
  c.width = bmp.width;
  c.height = bmp.height;
  c.getContext('2d').drawImage(bmp, 0, 0);
  return new Promise((resolve, reject) => c.toBlob((b) => (b ? resolve(b) : reject(new Error('no PNG'))), 'image/png'));
}
