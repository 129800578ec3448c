// The drawing page: streams strokes to the server over Socket.IO and shows its guesses live.
// Protocol: docs/protocol.md.

import { GuessView } from "./guesses.js";
import { LiveDrawing, connect, showNotice } from "./live.js";

const app = document.querySelector("#app");
const canvas = document.querySelector("#canvas");
const modelName = document.querySelector("#model");
const undoButton = document.querySelector("#undo");
const clearButton = document.querySelector("#clear");
const submitButton = document.querySelector("#submit-drawing");
const form = document.querySelector("#submit-form");
const urlField = document.querySelector("#url");
const seeBitmap = document.querySelector("#see-bitmap");
const bitmapPanel = document.querySelector("#bitmap-panel");

const view = new GuessView(app);
// Read on every (re)connection, so the server knows at once whether to send the 28×28 image.
const socket = connect(() => ({ see_bitmap: seeBitmap.checked }));
const live = new LiveDrawing(socket, canvas, app, {
  onPrediction: (prediction) => (sketch.hasInk ? view.show(prediction) : view.reset()),
  onChange: updateControls,
});
const sketch = live.sketch;

function updateControls() {
  const finished = sketch.strokes.length > 0;
  undoButton.disabled = !finished;
  clearButton.disabled = !finished;
  submitButton.disabled = !finished;
  app.classList.toggle("has-ink", sketch.hasInk);
}

function undo() {
  if (live.undo() && !sketch.hasInk) view.reset();
}

function clear() {
  if (live.clear()) view.reset();
}

socket.on("connect", () => {
  // A new connection starts with an empty drawing on the server: tell it what the page has.
  if (sketch.hasInk) live.sendDrawing();
});

socket.on("ready", ({ labels, model }) => {
  view.setLabels(labels);
  if (model) modelName.textContent = model;
});

// The server switched models (hot reload): new classes to suggest; the drawing is predicted again.
socket.on("model", ({ labels, model }) => {
  view.setLabels(labels);
  if (model) modelName.textContent = model;
});

socket.on("error", ({ code, message }) => {
  if (code !== "rate_limited") showNotice(`The server could not use that: ${message || code}`);
});

undoButton.addEventListener("click", undo);
clearButton.addEventListener("click", clear);

document.addEventListener("keydown", (event) => {
  const mod = event.ctrlKey || event.metaKey;
  if (mod && !event.shiftKey && !event.altKey && event.key.toLowerCase() === "z") {
    event.preventDefault();
    undo();
  }
});

form.addEventListener("submit", (event) => {
  if (sketch.strokes.length === 0 || sketch.drawing) {
    event.preventDefault();
    return;
  }
  urlField.value = sketch.toPngDataUrl();
  // Collecting (COLLECT_DRAWINGS): the strokes go too, for "Was it a camel?" on the results page.
  const strokesField = document.querySelector("#strokes");
  if (strokesField) strokesField.value = JSON.stringify(sketch.rawStrokes());
});

seeBitmap.addEventListener("change", () => {
  bitmapPanel.hidden = !seeBitmap.checked;
  if (!socket.connected) return; // sent on connect
  socket.emit("options", { see_bitmap: seeBitmap.checked });
  // Ask for a fresh guess now, so the image shows without waiting for the next stroke.
  if (seeBitmap.checked && sketch.hasInk) live.sendDrawing();
});

updateControls();
view.reset();
