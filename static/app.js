// The drawing page: streams strokes to the server over Socket.IO and shows its guesses live.
// Protocol: docs/protocol.md. The Socket.IO client (static/vendor/socket.io.min.js) defines `io`.

import { GuessView } from "./guesses.js";
import { Sketch } from "./sketch.js";

const app = document.querySelector("#app");
const canvas = document.querySelector("#canvas");
const status = document.querySelector("#status");
const statusText = document.querySelector("#status-text");
const notice = document.querySelector("#notice");
const modelName = document.querySelector("#model");
const undoButton = document.querySelector("#undo");
const clearButton = document.querySelector("#clear");
const submitButton = document.querySelector("#submit-drawing");
const form = document.querySelector("#submit-form");
const urlField = document.querySelector("#url");
const seeBitmap = document.querySelector("#see-bitmap");
const bitmapPanel = document.querySelector("#bitmap-panel");

const view = new GuessView(app);
let seq = 0; // the number of the last message this page produced (sent or not)
let shownSeq = 0; // the seq of the prediction on show
let staleBefore = 0; // predictions with a smaller seq describe a drawing that no longer exists
let noticeTimer = 0;
let resyncTimer = 0;
let maxPointsPerMessage = 2000; // until `ready` says otherwise

const socket = io({
  transports: ["websocket", "polling"], // websocket first: lowest latency; long-polling if it fails
  tryAllTransports: true,
  reconnectionDelay: 500,
  reconnectionDelayMax: 2000,
  // Read on every (re)connection, so the server knows at once whether to send the 28×28 image.
  auth: (callback) => callback({ see_bitmap: seeBitmap.checked }),
});

/** Number a message and send it if connected; offline, the drawing is re-sent by `sync` on reconnect. */
function send(event, payload = {}) {
  seq += 1;
  app.dataset.sentSeq = String(seq);
  if (socket.connected) socket.emit(event, { seq, ...payload });
  return seq;
}

/** Send points in messages no larger than the server accepts. */
function sendPoints(points) {
  for (let i = 0; i < points.length; i += maxPointsPerMessage) {
    send("stroke_points", { points: points.slice(i, i + maxPointsPerMessage) });
  }
}

/** Send the whole drawing: finished strokes by `sync`, then the stroke being drawn (if any) as points. */
function sendDrawing() {
  clearTimeout(resyncTimer);
  send("sync", { strokes: sketch.quickDrawStrokes() });
  sendPoints(sketch.currentPoints());
}

const sketch = new Sketch(canvas, {
  onPoints: sendPoints,
  onStrokeEnd: () => send("stroke_end"),
  onChange: updateControls,
});

function updateControls() {
  const finished = sketch.strokes.length > 0;
  undoButton.disabled = !finished;
  clearButton.disabled = !finished;
  submitButton.disabled = !finished;
  app.classList.toggle("has-ink", sketch.hasInk);
}

function undo() {
  if (!sketch.undo()) return;
  staleBefore = send("undo");
  if (!sketch.hasInk) view.reset();
}

function clear() {
  if (!sketch.clear()) return;
  staleBefore = send("clear");
  view.reset();
}

function setStatus(state, text) {
  status.dataset.state = state;
  statusText.textContent = text;
  app.classList.toggle("offline", state === "offline");
}

function showNotice(text) {
  notice.textContent = text;
  notice.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => {
    notice.hidden = true;
  }, 6000);
}

socket.on("connect", () => {
  setStatus("online", "Connected");
  // A new connection starts with an empty drawing on the server: tell it what the page has.
  if (sketch.hasInk) sendDrawing();
});

socket.on("disconnect", (reason) => {
  setStatus("offline", "Offline, reconnecting… your drawing is kept");
  if (reason === "io server disconnect") socket.connect(); // the server hung up: Socket.IO won't retry
});

socket.on("connect_error", () => {
  if (socket.active) {
    setStatus("offline", "Offline, reconnecting… your drawing is kept");
  } else {
    // The server refused the connection (it is full): Socket.IO leaves retrying to us.
    setStatus("offline", "Server busy, retrying soon… your drawing is kept");
    setTimeout(() => socket.connect(), 5000);
  }
});

socket.on("ready", ({ labels, model, limits }) => {
  view.setLabels(labels);
  if (model) modelName.textContent = model;
  if (limits?.max_points_per_message > 0) maxPointsPerMessage = limits.max_points_per_message;
});

// The server switched models (hot reload): new classes to suggest; the drawing is predicted again.
socket.on("model", ({ labels, model }) => {
  view.setLabels(labels);
  if (model) modelName.textContent = model;
});

socket.on("prediction", (prediction) => {
  if (prediction.seq < Math.max(shownSeq, staleBefore)) return; // older than what is on show
  shownSeq = prediction.seq;
  app.dataset.shownSeq = String(shownSeq);
  if (sketch.hasInk) view.show(prediction);
  else view.reset();
});

socket.on("error", ({ code, message }) => {
  if (code === "rate_limited") {
    // Some messages were dropped: once things calm down, send the whole drawing again.
    clearTimeout(resyncTimer);
    resyncTimer = setTimeout(() => socket.connected && sendDrawing(), 1000);
    return;
  }
  showNotice(`The server could not use that: ${message || code}`);
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
});

seeBitmap.addEventListener("change", () => {
  bitmapPanel.hidden = !seeBitmap.checked;
  if (!socket.connected) return; // sent on connect
  socket.emit("options", { see_bitmap: seeBitmap.checked });
  // Ask for a fresh guess now, so the image shows without waiting for the next stroke.
  if (seeBitmap.checked && sketch.hasInk) sendDrawing();
});

updateControls();
view.reset();
