// The live link: a canvas whose strokes stream to the server over Socket.IO, and the predictions that come
// back, newest only. Used by the drawing page (app.js) and the game's pages (play/*.js).
// Protocol: docs/protocol.md. The Socket.IO client (static/vendor/socket.io.min.js) defines `io`.

import { Sketch } from "./sketch.js";

const status = document.querySelector("#status");
const statusText = document.querySelector("#status-text");
const notice = document.querySelector("#notice");

/** Say whether the page is connected (the header's status line). */
export function setStatus(state, text) {
  if (!status) return;
  status.dataset.state = state;
  statusText.textContent = text;
  document.body.classList.toggle("offline", state === "offline");
}

let noticeTimer = 0;

/** Show a passing message (an error the server sent, say) for six seconds. */
export function showNotice(text) {
  if (!notice) return;
  notice.textContent = text;
  notice.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => {
    notice.hidden = true;
  }, 6000);
}

/** Open the Socket.IO connection every page uses: WebSocket first, long-polling if it fails. */
export function connect(auth = () => ({})) {
  const socket = io({
    transports: ["websocket", "polling"],
    tryAllTransports: true,
    reconnectionDelay: 500,
    reconnectionDelayMax: 2000,
    // Read on every (re)connection.
    auth: (callback) => callback(auth()),
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
  socket.on("connect", () => setStatus("online", "Connected"));
  return socket;
}

export class LiveDrawing {
  /**
   * socket: from connect(); canvas: the <canvas> to draw on; root: the element whose data-sent-seq and
   * data-shown-seq say how far the page is (tests read them).
   * onPrediction(prediction): a prediction newer than any shown, of the drawing as it is.
   * onChange(): the strokes changed.
   */
  constructor(socket, canvas, root, { onPrediction, onChange = () => {} }) {
    this.socket = socket;
    this.root = root;
    this.onPrediction = onPrediction;
    this.seq = 0; // the number of the last message this page produced (sent or not)
    this.shownSeq = 0; // the seq of the prediction on show
    this.staleBefore = 0; // predictions with a smaller seq describe a drawing that no longer exists
    this.resyncTimer = 0;
    this.maxPointsPerMessage = 2000; // until `ready` says otherwise
    this.sketch = new Sketch(canvas, {
      onPoints: (points) => this.sendPoints(points),
      onStrokeEnd: () => this.send("stroke_end"),
      onChange,
    });
    socket.on("ready", ({ limits }) => {
      if (limits?.max_points_per_message > 0) this.maxPointsPerMessage = limits.max_points_per_message;
    });
    socket.on("prediction", (prediction) => {
      if (prediction.seq < Math.max(this.shownSeq, this.staleBefore)) return; // older than what is on show
      this.shownSeq = prediction.seq;
      root.dataset.shownSeq = String(this.shownSeq);
      this.onPrediction(prediction);
    });
    socket.on("error", ({ code }) => {
      if (code !== "rate_limited") return;
      // Some messages were dropped: once things calm down, send the whole drawing again.
      clearTimeout(this.resyncTimer);
      this.resyncTimer = setTimeout(() => socket.connected && this.sendDrawing(), 1000);
    });
  }

  /** Number a message and send it if connected; offline, the drawing is sent again (`sync`) on reconnect. */
  send(event, payload = {}) {
    this.seq += 1;
    this.root.dataset.sentSeq = String(this.seq);
    if (this.socket.connected) this.socket.emit(event, { seq: this.seq, ...payload });
    return this.seq;
  }

  /** Send points in messages no larger than the server accepts. */
  sendPoints(points) {
    for (let i = 0; i < points.length; i += this.maxPointsPerMessage) {
      this.send("stroke_points", { points: points.slice(i, i + this.maxPointsPerMessage) });
    }
  }

  /** Send the whole drawing: finished strokes by `sync`, then the stroke being drawn (if any) as points. */
  sendDrawing() {
    clearTimeout(this.resyncTimer);
    this.send("sync", { strokes: this.sketch.quickDrawStrokes() });
    this.sendPoints(this.sketch.currentPoints());
  }

  /** Remove the last stroke; false if there was none to remove. */
  undo() {
    if (!this.sketch.undo()) return false;
    this.staleBefore = this.send("undo");
    return true;
  }

  /** Remove the whole drawing; false if a stroke is being drawn. */
  clear() {
    if (!this.sketch.clear()) return false;
    this.staleBefore = this.send("clear");
    return true;
  }

  /** Empty the canvas, stroke in progress and all, with a message that empties the server's drawing too. */
  restart(event, payload = {}) {
    clearTimeout(this.resyncTimer);
    this.sketch.reset();
    this.staleBefore = this.send(event, payload);
  }
}
