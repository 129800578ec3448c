// The QR code of a room's link, drawn on a canvas (qrcode-generator, vendored from npm).

import qrcode from "../vendor/qrcode.mjs";

/** Draw `text` as a QR code (error correction M) filling the canvas, with a quiet zone of 4 modules. */
export function drawQr(canvas, text) {
  const code = qrcode(0, "M");
  code.addData(text);
  code.make();
  const modules = code.getModuleCount();
  const cell = Math.floor(canvas.width / (modules + 8));
  const offset = Math.floor((canvas.width - cell * modules) / 2);
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = "#000";
  for (let row = 0; row < modules; row += 1) {
    for (let col = 0; col < modules; col += 1) {
      if (code.isDark(row, col)) ctx.fillRect(offset + col * cell, offset + row * cell, cell, cell);
    }
  }
  canvas.dataset.modules = String(modules);
}
