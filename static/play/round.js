// One person drawing the rounds of a game (solo or in a room): the prompt and its countdown, the canvas
// that streams to the server, what the machine says, and each round's result for the summary.
// The server decides recognition; this page only shows what the `game` events say.

import { GuessView, withArticle } from "../guesses.js";
import { LiveDrawing } from "../live.js";
import { drawStrokes, element, seconds } from "./draw.js";

const $ = (selector) => document.querySelector(selector);

/** The round's clock: counts down from what the server said was left, on this page's own clock. */
export class Countdown {
  constructor(text, bar) {
    this.text = text;
    this.bar = bar;
    this.timer = 0;
  }

  start(remainingMs, totalSeconds) {
    this.stop();
    const end = performance.now() + remainingMs;
    const tick = () => {
      const left = Math.max(0, end - performance.now());
      const whole = Math.ceil(left / 1000);
      this.text.textContent = `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
      this.bar.value = left / 1000 / totalSeconds;
      this.text.closest(".clock")?.classList.toggle("hurry", left < 5000);
      if (left <= 0) this.stop();
    };
    tick();
    this.timer = setInterval(tick, 200);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = 0;
  }
}

export class RoundPlayer {
  constructor(socket) {
    this.socket = socket;
    this.me = null; // this person's player id
    this.readyFor = null; // the round this connection said `round_ready` for
    this.drawingRound = null; // the round the strokes on the canvas belong to
    this.last = null; // the newest prediction of this round's drawing
    this.results = new Map(); // round index -> {index, prompt, strokes, recognised, ms, top, bitmap}
    this.view = new GuessView($("#app"));
    this.countdown = new Countdown($("#clock"), $("#clock-bar"));
    this.verdict = $("#verdict");
    this.live = new LiveDrawing(socket, $("#canvas"), $("#app"), {
      onPrediction: (prediction) => this.#predicted(prediction),
      onChange: () => this.#controls(),
    });
    this.sketch = this.live.sketch;
    this.sketch.enabled = false;
    $("#undo").addEventListener("click", () => this.live.undo() && !this.sketch.hasInk && this.view.reset());
    $("#clear").addEventListener("click", () => this.live.clear() && this.view.reset());
    document.addEventListener("keydown", (event) => {
      const mod = event.ctrlKey || event.metaKey;
      if (mod && !event.shiftKey && !event.altKey && event.key.toLowerCase() === "z") {
        event.preventDefault();
        if (this.live.undo() && !this.sketch.hasInk) this.view.reset();
      }
    });
    this.#controls();
  }

  /** A new connection: it must say `round_ready` again before its drawing counts. */
  connected() {
    this.readyFor = null;
  }

  /** Follow the game: start drawing a new round, keep drawing after a reconnect, close a finished round. */
  update(game) {
    const round = game.round;
    $("#round-total").textContent = String(game.rounds);
    if (!round) return;
    const mine = round.recognised.find((entry) => entry.player === this.me);
    if (game.phase === "drawing" && this.readyFor !== round.index) {
      this.readyFor = round.index;
      if (this.drawingRound === round.index) {
        // Back after a reconnect, same round: the server's new session gets the drawing again.
        this.live.send("round_ready", { round: round.index });
        this.live.sendDrawing();
      } else {
        this.drawingRound = round.index;
        this.last = null;
        this.live.restart("round_ready", { round: round.index });
        this.view.reset();
        this.#say("");
      }
    }
    $("#round-bar").hidden = false;
    $("#round-index").textContent = String(round.index);
    $("#prompt").textContent = withArticle(round.prompt);
    const drawing = game.phase === "drawing" && this.drawingRound === round.index;
    if (drawing && !mine) {
      this.countdown.start(round.remaining_ms, round.seconds);
      this.sketch.enabled = true;
    } else {
      this.countdown.stop();
      this.sketch.enabled = false;
    }
    if (this.drawingRound === round.index && !this.results.has(round.index)) {
      if (mine) this.#close(round, mine.ms);
      else if (game.phase !== "drawing") this.#close(round, null);
    }
    this.#controls();
  }

  /** Draw the summary: one card per round played, drawing redrawn from its strokes. */
  renderSummary(list) {
    list.replaceChildren();
    for (const result of [...this.results.values()].sort((a, b) => a.index - b.index)) {
      const card = element("li", `drawing-card ${result.recognised ? "recognised" : "missed"}`);
      card.dataset.prompt = result.prompt;
      card.dataset.recognised = String(result.recognised);
      const canvas = element("canvas", "drawing-canvas");
      canvas.setAttribute("role", "img");
      canvas.setAttribute("aria-label", `Your drawing of ${withArticle(result.prompt)}`);
      const title = element("h3", "", withArticle(result.prompt));
      const verdict = result.recognised
        ? element("p", "verdict-line ok", `Recognised in ${seconds(result.ms)}`)
        : element("p", "verdict-line bad", "Not recognised");
      const guesses = element("p", "guesses-line");
      guesses.textContent = result.top?.length
        ? `It thought: ${result.top.map((g) => `${g.label} ${Math.round(g.p * 100)}%`).join(", ")}`
        : "It saw nothing to guess from.";
      card.append(canvas, title, verdict, guesses);
      if (result.bitmap) {
        const seen = element("img", "pixelated small");
        seen.src = result.bitmap;
        seen.alt = "The 28 by 28 pixel image the model saw";
        seen.width = 28;
        seen.height = 28;
        card.append(seen);
      }
      list.append(card);
      drawStrokes(canvas, result.strokes);
    }
  }

  /** Forget every result (a new game). */
  reset() {
    this.results.clear();
    this.drawingRound = null;
    this.readyFor = null;
    this.last = null;
    this.sketch.reset();
    this.view.reset();
    this.#say("");
  }

  #predicted(prediction) {
    if (this.results.has(this.drawingRound)) return; // the round is over for this drawing: keep what was said
    if (!this.sketch.hasInk) {
      this.view.reset();
      return;
    }
    this.view.show(prediction);
    this.last = prediction;
  }

  #close(round, ms) {
    const recognised = ms !== null;
    this.results.set(round.index, {
      index: round.index,
      prompt: round.prompt,
      strokes: this.sketch.quickDrawStrokes(true), // recognised mid-stroke: that stroke counted too
      recognised,
      ms,
      top: this.last?.top || [],
      bitmap: this.last?.bitmap || null,
    });
    this.#say(recognised ? `Oh, I know, it’s ${withArticle(round.prompt)}!` : "Sorry, I couldn’t guess it.");
    this.verdict.classList.toggle("ok", recognised);
  }

  #say(text) {
    this.verdict.textContent = text;
    this.verdict.hidden = !text;
  }

  #controls() {
    const canEdit = this.sketch.enabled && this.sketch.strokes.length > 0;
    $("#undo").disabled = !canEdit;
    $("#clear").disabled = !canEdit;
    $("#app").classList.toggle("has-ink", this.sketch.hasInk);
  }
}
