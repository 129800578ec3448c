// The drawing surface: pointer input (mouse, touch, pen), the strokes drawn so far, and their rendering.
//
// Strokes are stored in logical units (a SIZE × SIZE square) rather than screen pixels, so the drawing
// survives window resizes and device-pixel-ratio changes unchanged, and the server sees one coordinate
// system for the whole drawing.

export const SIZE = 1000;
const INK = "#1c2333";
const LINE_WIDTH = 9; // logical units: about 4 px on a 450 px canvas
const MIN_STEP = 0.5; // logical units: closer points add nothing but bytes
// At most one batch of points per this many ms (about 30 a second), though painted every frame: pens report
// about 30 points a second, so sending per 60 Hz frame would cost the server 40 % more messages and guesses
// for guesses 8 ms fresher on average (bench/RESULTS.md, "Capacity").
const SEND_INTERVAL_MS = 33;

// The submitted PNG is small: decoding is most of the server's work on it, and the server redraws lines at
// the dataset's width anyway (a 256 px PNG matches Google's bitmaps as closely as a 512 px one).
const PNG_DRAWING_SIDE = 224; // px: the drawing's long side in the submitted PNG
const PNG_MARGIN = 16; // px of white around it
const PNG_BRUSH = 4; // px

/** Round a coordinate to 0.1 logical units: plenty of precision, fewer bytes on the wire. */
function round(value) {
  return Math.round(value * 10) / 10;
}

/** Draw one stroke as a polyline (a dot for a single point) with the context's current style. */
function traceStroke(ctx, stroke) {
  ctx.beginPath();
  ctx.moveTo(stroke[0][0], stroke[0][1]);
  if (stroke.length === 1) {
    ctx.lineTo(stroke[0][0] + 0.01, stroke[0][1]); // zero-length segment: round caps make a dot
  }
  for (let i = 1; i < stroke.length; i += 1) {
    ctx.lineTo(stroke[i][0], stroke[i][1]);
  }
  ctx.stroke();
}

export class Sketch {
  /**
   * canvas: the <canvas> to draw on.
   * onPoints(points): new points of the stroke being drawn, at most once per SEND_INTERVAL_MS (and at once
   *   when the stroke ends).
   * onStrokeEnd(): the stroke being drawn is finished.
   * onChange(): the set of strokes changed (a stroke started, ended, was undone or cleared).
   */
  constructor(canvas, { onPoints, onStrokeEnd, onChange }) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.onPoints = onPoints;
    this.onStrokeEnd = onStrokeEnd;
    this.onChange = onChange;
    this.strokes = []; // finished strokes, each an array of [x, y]
    this.current = null; // the stroke being drawn, or null
    this.times = []; // per finished stroke, each point's ms since the drawing's first point
    this.currentTimes = null;
    this.startedAt = null; // performance.now() at the drawing's first point
    this.pointerId = null;
    this.rect = null; // the canvas's screen rectangle, cached for the stroke being drawn
    this.pending = []; // points of the current stroke not yet handed to onPoints
    this.drawn = 0; // how many points of the current stroke are painted
    this.frame = 0;
    this.sentAt = -Infinity; // performance.now() of the last batch handed on
    this.sendTimer = 0;
    this.enabled = true; // false: pointers do not draw (between the rounds of a game)

    canvas.addEventListener("pointerdown", (event) => this.#down(event));
    canvas.addEventListener("pointermove", (event) => this.#move(event));
    canvas.addEventListener("pointerup", (event) => this.#up(event));
    canvas.addEventListener("pointercancel", (event) => this.#up(event));
    canvas.addEventListener("lostpointercapture", (event) => this.#up(event));
    new ResizeObserver(() => this.resize()).observe(canvas);
    window.addEventListener("resize", () => this.resize()); // zooming changes devicePixelRatio
    this.resize();
  }

  /** True while a stroke is being drawn. */
  get drawing() {
    return this.current !== null;
  }

  /** True if there is anything on the canvas. */
  get hasInk() {
    return this.strokes.length > 0 || this.current !== null;
  }

  /** Finished strokes (and the one being drawn, if `withCurrent`) in Quick, Draw! form: [[x...], [y...]]. */
  quickDrawStrokes(withCurrent = false) {
    const strokes = withCurrent && this.current ? [...this.strokes, this.current] : this.strokes;
    return strokes.map((stroke) => [stroke.map((p) => p[0]), stroke.map((p) => p[1])]);
  }

  /** Finished strokes in Quick, Draw! raw form, with times: [[x...], [y...], [ms...]]. */
  rawStrokes() {
    return this.strokes.map((stroke, i) => [stroke.map((p) => p[0]), stroke.map((p) => p[1]), this.times[i]]);
  }

  /** The points of the stroke being drawn that onPoints has had so far (the rest come in its next batch). */
  currentPoints() {
    return this.current ? this.current.slice(0, this.current.length - this.pending.length) : [];
  }

  /** Remove the last finished stroke; false if there is none or a stroke is being drawn. */
  undo() {
    if (this.current || this.strokes.length === 0) return false;
    this.strokes.pop();
    this.times.pop();
    this.redraw();
    this.onChange();
    return true;
  }

  /** Remove every stroke; false if a stroke is being drawn. */
  clear() {
    if (this.current) return false;
    this.strokes = [];
    this.times = [];
    this.startedAt = null;
    this.redraw();
    this.onChange();
    return true;
  }

  /** Remove everything, the stroke being drawn too (a new round starts); nothing is handed on. */
  reset() {
    if (this.pointerId !== null && this.canvas.hasPointerCapture(this.pointerId)) {
      this.canvas.releasePointerCapture(this.pointerId);
    }
    clearTimeout(this.sendTimer);
    this.sendTimer = 0;
    this.pointerId = null;
    this.current = null;
    this.pending = [];
    this.strokes = [];
    this.times = [];
    this.currentTimes = null;
    this.startedAt = null;
    this.redraw();
    this.onChange();
  }

  /** Match the backing store to the canvas's size on screen times devicePixelRatio, then redraw. */
  resize() {
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(this.canvas.clientWidth * ratio));
    const height = Math.max(1, Math.round(this.canvas.clientHeight * ratio));
    if (width === this.canvas.width && height === this.canvas.height) return;
    this.canvas.width = width;
    this.canvas.height = height;
    this.redraw();
  }

  /** Repaint every stroke from the stored points. */
  redraw() {
    const { ctx, canvas } = this;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    this.#style(ctx, canvas.width / SIZE, LINE_WIDTH);
    for (const stroke of this.strokes) traceStroke(ctx, stroke);
    if (this.current) traceStroke(ctx, this.current);
  }

  /** The drawing as a PNG data URL: black ink on white, fitted into at most 256 × 256 px. */
  toPngDataUrl() {
    let [left, top, right, bottom] = [Infinity, Infinity, -Infinity, -Infinity];
    for (const stroke of this.strokes) {
      for (const [x, y] of stroke) {
        left = Math.min(left, x);
        top = Math.min(top, y);
        right = Math.max(right, x);
        bottom = Math.max(bottom, y);
      }
    }
    const extent = Math.max(right - left, bottom - top);
    const scale = extent > 0 ? PNG_DRAWING_SIDE / extent : 1;
    const out = document.createElement("canvas");
    out.width = Math.ceil((right - left) * scale) + 2 * PNG_MARGIN;
    out.height = Math.ceil((bottom - top) * scale) + 2 * PNG_MARGIN;
    const ctx = out.getContext("2d");
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, out.width, out.height);
    ctx.setTransform(scale, 0, 0, scale, PNG_MARGIN - left * scale, PNG_MARGIN - top * scale);
    ctx.lineWidth = PNG_BRUSH / scale;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.strokeStyle = "#000";
    for (const stroke of this.strokes) traceStroke(ctx, stroke);
    return out.toDataURL("image/png");
  }

  #style(ctx, scale, lineWidth) {
    ctx.setTransform(scale, 0, 0, scale, 0, 0);
    ctx.lineWidth = lineWidth;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.strokeStyle = INK;
  }

  /** Pointer position in logical units, kept inside the canvas. */
  #point(event) {
    const scale = SIZE / this.rect.width; // the canvas is square: one scale for both axes
    const x = (event.clientX - this.rect.left) * scale;
    const y = (event.clientY - this.rect.top) * scale;
    return [round(Math.min(SIZE, Math.max(0, x))), round(Math.min(SIZE, Math.max(0, y)))];
  }

  #down(event) {
    // One stroke at a time: a second finger or the pen's eraser end does not draw.
    if (!this.enabled || this.pointerId !== null || event.button !== 0) return;
    event.preventDefault();
    this.pointerId = event.pointerId;
    this.canvas.setPointerCapture(event.pointerId);
    this.rect = this.canvas.getBoundingClientRect();
    const point = this.#point(event);
    this.startedAt ??= performance.now();
    this.current = [point];
    this.currentTimes = [Math.round(performance.now() - this.startedAt)];
    this.pending = [point];
    this.drawn = 0;
    this.#schedule();
    this.onChange();
  }

  #move(event) {
    if (event.pointerId !== this.pointerId) return;
    // Coalesced events carry every sample the device reported since the last event, not only the last.
    const samples = event.getCoalescedEvents?.() ?? [];
    for (const sample of samples.length ? samples : [event]) this.#add(this.#point(sample));
  }

  #up(event) {
    if (event.pointerId !== this.pointerId) return;
    if (event.type === "pointerup") this.#add(this.#point(event));
    this.pointerId = null;
    this.#flush();
    this.#send(true);
    this.strokes.push(this.current);
    this.times.push(this.currentTimes);
    this.current = null;
    this.currentTimes = null;
    this.onStrokeEnd();
    this.onChange();
  }

  #add(point) {
    const last = this.current[this.current.length - 1];
    if (Math.abs(point[0] - last[0]) < MIN_STEP && Math.abs(point[1] - last[1]) < MIN_STEP) return;
    this.current.push(point);
    this.currentTimes.push(Math.round(performance.now() - this.startedAt));
    this.pending.push(point);
    this.#schedule();
  }

  #schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.#flush());
  }

  /** Paint the points that arrived since the last frame, and hand them on if a batch is due. */
  #flush() {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    if (!this.current || this.drawn === this.current.length) return;
    const { ctx, canvas } = this;
    this.#style(ctx, canvas.width / SIZE, LINE_WIDTH);
    const from = Math.max(0, this.drawn - 1);
    traceStroke(ctx, this.current.slice(from));
    this.drawn = this.current.length;
    this.#send(false);
  }

  /** Hand the points not yet sent to onPoints: now if `force` or due, else when SEND_INTERVAL_MS is up. */
  #send(force) {
    if (!this.current || this.pending.length === 0) return;
    const wait = this.sentAt + SEND_INTERVAL_MS - performance.now();
    if (!force && wait > 0) {
      if (!this.sendTimer) this.sendTimer = setTimeout(() => this.#send(true), wait);
      return;
    }
    clearTimeout(this.sendTimer);
    this.sendTimer = 0;
    this.sentAt = performance.now();
    const batch = this.pending;
    this.pending = [];
    this.onPoints(batch);
  }
}
