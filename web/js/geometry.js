// Where the picture really is inside its element, and screen-normalised pointer coordinates.
//
// The video and the JPEG canvas use `object-fit: contain`: the picture keeps its aspect ratio and the rest of the
// element is letterbox. Pointer commands carry x, y in 0–1 of the SCREEN (docs/PROTOCOL.md, "Coordinates"), so
// every position is mapped through the content rectangle, never the element's box.

/**
 * The rectangle (client coordinates) the picture occupies inside `box` ({left, top, width, height}) when a
 * `mediaWidth`×`mediaHeight` picture is drawn with object-fit: contain at object-position `position` (fractions
 * of the free space left/above: {x: 0.5, y: 0.5} is centred). Null until the media size is known.
 */
export function contentRect(box, mediaWidth, mediaHeight, position = { x: 0.5, y: 0.5 }) {
  if (!(mediaWidth > 0 && mediaHeight > 0 && box.width > 0 && box.height > 0)) return null;
  const scale = Math.min(box.width / mediaWidth, box.height / mediaHeight);
  const width = mediaWidth * scale;
  const height = mediaHeight * scale;
  return {
    left: box.left + (box.width - width) * position.x,
    top: box.top + (box.height - height) * position.y,
    width,
    height,
  };
}

/**
 * A computed `object-position` ("50% 0%", as getComputedStyle reports it) as fractions {x, y}; anything that is
 * not two percentages counts as centred.
 */
export function parseObjectPosition(value) {
  const m = /^\s*(-?[\d.]+)%\s+(-?[\d.]+)%\s*$/.exec(value || '');
  return m ? { x: Number(m[1]) / 100, y: Number(m[2]) / 100 } : { x: 0.5, y: 0.5 };
}

/**
 * Normalises a client position against a content rectangle. `inside` says whether it falls on the picture;
 * x and y are clamped to [0, 1] either way (a drag that leaves the picture keeps its last edge position).
 */
export function normalise(clientX, clientY, rect) {
  const rx = (clientX - rect.left) / rect.width;
  const ry = (clientY - rect.top) / rect.height;
  const inside = rx >= 0 && rx <= 1 && ry >= 0 && ry <= 1;
  return { x: clamp01(rx), y: clamp01(ry), inside };
}

/** The normalised coordinate that hits screen pixel `p` of a `size`-pixel axis (its centre). */
export function pixelToNormalised(p, size) {
  return (p + 0.5) / size;
}

function clamp01(v) {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}
