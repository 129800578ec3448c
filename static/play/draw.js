// Drawings redrawn from their strokes: the summary's cards and the board's thumbnails.

/** Draw Quick, Draw! strokes ([[x...], [y...]] each) fitted into a canvas, with a margin, in dark ink. */
export function drawStrokes(canvas, strokes, { margin = 0.08, width = 2.5 } = {}) {
  const ratio = window.devicePixelRatio || 1;
  const side = Math.max(1, Math.round(canvas.clientWidth * ratio));
  if (canvas.width !== side || canvas.height !== side) {
    canvas.width = side;
    canvas.height = side;
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, side, side);
  const xs = strokes.flatMap((stroke) => stroke[0]);
  const ys = strokes.flatMap((stroke) => stroke[1]);
  if (xs.length === 0) return;
  const left = Math.min(...xs);
  const top = Math.min(...ys);
  const extent = Math.max(Math.max(...xs) - left, Math.max(...ys) - top, 1);
  const scale = (side * (1 - 2 * margin)) / extent;
  const offsetX = (side - (Math.max(...xs) - left) * scale) / 2;
  const offsetY = (side - (Math.max(...ys) - top) * scale) / 2;
  ctx.lineWidth = width * ratio;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.strokeStyle = "#1c2333";
  for (const [sx, sy] of strokes) {
    ctx.beginPath();
    ctx.moveTo(offsetX + (sx[0] - left) * scale, offsetY + (sy[0] - top) * scale);
    if (sx.length === 1) ctx.lineTo(offsetX + (sx[0] - left) * scale + 0.01, offsetY + (sy[0] - top) * scale);
    for (let i = 1; i < sx.length; i += 1) {
      ctx.lineTo(offsetX + (sx[i] - left) * scale, offsetY + (sy[i] - top) * scale);
    }
    ctx.stroke();
  }
}

/** "3.2 s". */
export function seconds(ms) {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** Make an element with a class and text (always text: names come from other people). */
export function element(tag, className = "", text = "") {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  return node;
}
