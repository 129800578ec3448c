// The host page's words: which words the rounds draw from (the model's and the room's taught words), and
// teaching the room a word on the host's own connection, as /teach does (static/teach.js): each kept
// example is the drawing the server holds for this connection; `teach_example` answers `taught` with the
// 28×28 image it learnt from. `room_words` copies the chosen taught words into the room, for every player
// on every worker. Words are shown as text only. Protocol: docs/protocol.md ("Play", "Teaching words").

import { withArticle } from "../guesses.js";
import { LiveDrawing } from "../live.js";
import { element } from "./draw.js";

const $ = (selector) => document.querySelector(selector);

// Refusals of `teach_example`: an `error` with one of these, while an example waits, answers the oldest.
const TEACH_CODES = new Set([
  "bad_word",
  "word_taken",
  "blank_example",
  "too_many_examples",
  "too_many_words",
  "teaching_too_fast",
  "cannot_teach",
  "not_connected",
]);
// Refusals that only `room_words` sends, and those it shares with the host's other events.
const CHOICE_CODES = new Set(["no_words", "unknown_word", "too_many_words", "not_a_room", "bad_payload"]);
const SHARED_CODES = new Set(["round_running", "room_over", "bad_token"]);
const SENTENCES = {
  bad_word: () => `Type a word first (at most ${$("#teach-word").maxLength} characters).`,
  word_taken: (word) => `The machine already knows “${word}”: pick another word.`,
  blank_example: () => "Draw the word first, then keep the drawing.",
  too_many_examples: () => "That word has all the examples it can keep.",
  too_many_words: (_word, kind) =>
    kind === "choice" ? "Too many taught words for one room: untick some." : "This page has taught as many words as it may.",
  teaching_too_fast: () => "Not so fast: wait a second, then keep it again.",
  cannot_teach: () => "This model cannot learn new words.",
  no_words: () => "Tick at least one word.",
  unknown_word: () => "One of those words is no longer known here: teach it again.",
  round_running: () => "Choose the words between rounds.",
};

const key = (name) => name.toLowerCase();

export class RoomWords {
  /** socket: the host page's connection; `code` and `token`: the room's and the host's. */
  constructor(socket, { code, token }) {
    this.socket = socket;
    this.code = code;
    this.token = token;
    this.root = $("#room-words");
    this.root.hidden = false; // the page has the host's token: the panel works
    this.needed = 5; // examples a word needs, until a `taught` says
    this.trained = []; // the model's words, from `ready`
    this.own = new Map(); // lower-cased name -> {name, examples: [{bitmap, strokes}], count, ready}
    this.current = null; // the word being taught (one of `own`), null until its first example is kept
    this.game = null;
    this.roomWords = ""; // the game's words when last seen (JSON), to notice when they change
    this.selected = new Set(); // lower-cased names ticked
    this.choicesKey = "";
    this.choosing = false; // a `room_words` is on its way
    this.sentAt = -1; // the game's revision when it was sent
    this.waiting = []; // teaching requests not yet answered, oldest first (the server answers in order)
    this.again = []; // examples to teach a new connection again (after a reconnect), oldest first
    this.hiddenUpTo = 0; // predictions up to this seq are of an example sent again, not of the canvas

    this.live = new LiveDrawing(socket, $("#teach-canvas"), this.root, {
      onPrediction: (prediction) => this.#guess(prediction),
      onChange: () => this.render(),
    });
    this.sketch = this.live.sketch;

    // The model's words: on connecting, and after a hot reload (`model`).
    for (const event of ["ready", "model"]) {
      socket.on(event, ({ labels }) => {
        this.trained = labels || [];
        this.render();
      });
    }
    socket.on("connect", () => {
      this.waiting.length = 0; // the old connection's answers will never come
      this.choosing = false;
      this.sketch.enabled = true;
      if (this.sketch.hasInk) this.live.sendDrawing();
      this.#teachAgain();
    });
    socket.on("disconnect", () => {
      this.waiting.length = 0;
      this.sketch.enabled = true;
      this.render();
    });
    socket.on("taught", (reply) => this.#taught(reply, this.waiting.shift() || {}));

    $("#words-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.#choose();
    });
    $("#teach-keep").addEventListener("click", () => this.#keep());
    $("#teach-undo").addEventListener("click", () => this.live.undo() && this.#say("#teach-guess", ""));
    $("#teach-clear").addEventListener("click", () => this.live.clear() && this.#say("#teach-guess", ""));
    $("#teach-new").addEventListener("click", () => this.#newWord());
    $("#teach-word").addEventListener("input", () => {
      this.#say("#teach-error", "");
      this.render();
    });
    $("#teach-word").addEventListener("keydown", (event) => {
      if (event.key !== "Enter") return;
      event.preventDefault(); // Enter keeps the drawing, when there is one
      this.#keep();
    });
    this.render();
  }

  /** A new game state: the room's words, and whether they may be chosen now. */
  update(game) {
    if (game.phase === "drawing" && this.game?.phase !== "drawing") this.root.open = false; // room to watch
    this.game = game;
    const words = JSON.stringify(game.words || []);
    if (words !== this.roomWords) {
      // The room's words changed (here, or on another host page): the ticks show them as they are now.
      this.roomWords = words;
      this.selected = new Set((game.words || []).map(key));
      this.#say("#words-error", "");
    }
    if (game.revision > this.sentAt) this.choosing = false; // the room changed since: answered (or moot)
    this.render();
  }

  /** An `error` event: true when it answers this panel's request (it is then shown here). */
  onError(code, message, seq) {
    const internal = code === "internal_error" && seq == null;
    if (this.waiting.length && (TEACH_CODES.has(code) || internal)) {
      this.#refused(code, message, this.waiting.shift());
      return true;
    }
    if (this.choosing && (CHOICE_CODES.has(code) || SHARED_CODES.has(code) || internal)) {
      this.choosing = false;
      this.#say("#words-error", SENTENCES[code]?.("", "choice") || message || code);
      this.render();
      return true;
    }
    return false;
  }

  #say(id, text) {
    const line = $(id);
    line.textContent = text;
    line.hidden = !text;
  }

  #guess(prediction) {
    if (prediction.seq <= this.hiddenUpTo || !this.sketch.hasInk) return;
    const top = prediction.top?.[0];
    const text = !top ? "Keep drawing…" : prediction.sure ? `I see… ${withArticle(top.label)}` : "Not sure yet…";
    this.#say("#teach-guess", text);
  }

  /** Send a teaching event; its answer (`taught` or an `error`) is matched to it in order. */
  #request(payload, details) {
    if (!this.socket.connected) return false;
    this.waiting.push(details);
    this.socket.emit("teach_example", payload);
    return true;
  }

  #keep() {
    if ($("#teach-keep").disabled) return;
    const word = this.current ? this.current.name : $("#teach-word").value;
    this.#say("#teach-error", "");
    // The strokes are kept too: a new connection (after a reconnect) has to be taught them again.
    if (this.#request({ word }, { word, strokes: this.sketch.quickDrawStrokes() })) {
      this.sketch.enabled = false; // the drawing on show is the one being taught until the answer comes
      this.render();
    }
  }

  #taught(reply, asked) {
    this.needed = reply.needed || this.needed;
    let word = this.own.get(key(reply.word));
    if (!word) {
      word = { name: reply.word, examples: [], count: 0, ready: false };
      this.own.set(key(reply.word), word);
    }
    if (reply.ready && !word.ready && !asked.again) this.selected.add(key(reply.word)); // ticked, not sent yet
    word.count = reply.examples;
    word.ready = reply.ready;
    if (asked.again) {
      this.again.shift();
      this.#teachNext();
    } else {
      word.examples.push({ bitmap: reply.bitmap, strokes: asked.strokes });
      this.current = word;
      $("#teach-word").value = word.name;
      this.sketch.enabled = true;
      this.live.clear(); // a fresh canvas for the next example
      this.#say("#teach-guess", "");
    }
    this.render();
  }

  #refused(code, message, asked) {
    if (asked.again) {
      // The server forgot this page's words with its old connection: keep teaching them, at its pace.
      if (code === "teaching_too_fast") setTimeout(() => this.#teachNext(), 1100);
      else {
        this.again.shift();
        this.#teachNext();
      }
      return;
    }
    this.sketch.enabled = true;
    this.#say("#teach-error", SENTENCES[code]?.(asked.word, "teach") || message || code);
    this.render();
  }

  /** After a reconnect: teach the new connection every kept example again, one by one. */
  #teachAgain() {
    this.again = [...this.own.values()].flatMap((word) =>
      word.examples.map((example) => ({ word: word.name, strokes: example.strokes })),
    );
    this.#teachNext();
  }

  #teachNext() {
    if (!this.socket.connected) return;
    const example = this.again[0];
    if (example) {
      // The example takes the canvas's place on the server for one message, then the canvas is sent back.
      this.hiddenUpTo = this.live.send("sync", { strokes: example.strokes });
      this.#request({ word: example.word }, { again: true, ...example });
      this.live.sendDrawing();
    }
    this.render();
  }

  #newWord() {
    this.current = null;
    $("#teach-word").value = "";
    this.#say("#teach-error", "");
    this.render();
    $("#teach-word").focus();
  }

  #choose() {
    const words = this.#choices()
      .filter((choice) => !choice.disabled && this.selected.has(key(choice.name)))
      .map((choice) => choice.name);
    this.#say("#words-error", "");
    if (!this.socket.connected || $("#use-words").disabled) return;
    this.choosing = true;
    this.sentAt = this.game.revision;
    this.socket.emit("room_words", { code: this.code, token: this.token, words });
    this.render();
  }

  /** Every word that may be ticked: the model's, the room's taught ones, this page's (ready or not). */
  #choices() {
    const seen = new Set();
    const out = [];
    const add = (name, kind, note = "", disabled = false) => {
      if (seen.has(key(name))) return;
      seen.add(key(name));
      out.push({ name, kind, note, disabled });
    };
    for (const name of this.trained) add(name, "trained");
    for (const word of this.own.values()) {
      if (word.ready) add(word.name, "taught");
    }
    for (const name of this.game?.taught || []) add(name, "taught");
    for (const word of this.own.values()) {
      add(word.name, "taught", `${word.count} of ${this.needed} examples`, true);
    }
    return out;
  }

  /** Bring the panel in line with the state above. */
  render() {
    const drawing = this.game?.phase === "drawing";
    const over = this.game?.phase === "over";
    this.#renderChoices();
    const ticked = this.#choices().filter((c) => !c.disabled && this.selected.has(key(c.name)));
    const use = $("#use-words");
    use.disabled = !this.game || drawing || over || this.choosing || this.waiting.length > 0 || !ticked.length;
    const current = this.game?.words || [];
    const same = ticked.length === current.length && current.every((name) => this.selected.has(key(name)));
    $("#words-now").textContent = current.join(", ");
    $("#words-state").textContent = this.choosing
      ? "Saving…"
      : drawing
        ? "Choose the words between rounds."
        : same
          ? ""
          : "Not used yet: press “Use these words”.";

    const finished = this.sketch.strokes.length > 0;
    $("#teach-undo").disabled = !finished;
    $("#teach-clear").disabled = !finished;
    const pendingExample = this.waiting.some((request) => !request.again);
    $("#teach-keep").disabled =
      !finished || !this.socket.connected || pendingExample || this.again.length > 0 || this.choosing;
    this.root.classList.toggle("has-ink", this.sketch.hasInk);
    this.root.dataset.again = String(this.again.length); // examples still to teach a new connection
    $("#teach-word").readOnly = this.current !== null;
    $("#teach-new").hidden = this.current === null;
    const count = this.current ? this.current.count : 0;
    $("#teach-progress").textContent =
      count > this.needed ? `${count} examples` : `${count} of ${this.needed} examples`;
    this.#renderExamples();
  }

  #renderChoices() {
    const choices = this.#choices();
    const listKey = JSON.stringify(choices);
    if (listKey !== this.choicesKey) {
      this.choicesKey = listKey;
      const item = (choice) => {
        const row = element("li", "words-choice");
        const label = element("label");
        const box = element("input");
        box.type = "checkbox";
        box.value = choice.name;
        box.disabled = choice.disabled;
        box.addEventListener("change", () => {
          if (box.checked) this.selected.add(key(choice.name));
          else this.selected.delete(key(choice.name));
          this.render();
        });
        label.append(box, element("span", "words-name", choice.name));
        if (choice.note) label.append(element("span", "words-note", choice.note));
        row.append(label);
        return row;
      };
      $("#trained-choices").replaceChildren(...choices.filter((c) => c.kind === "trained").map(item));
      const taught = choices.filter((c) => c.kind === "taught");
      $("#taught-choices").replaceChildren(...taught.map(item));
      $("#no-taught").hidden = taught.length > 0;
    }
    for (const box of this.root.querySelectorAll(".words-choice input")) {
      box.checked = !box.disabled && this.selected.has(key(box.value));
    }
  }

  /** The current word's examples, as the model saw them (28×28, scaled up without blur). */
  #renderExamples() {
    const strip = $("#teach-examples");
    const shown = this.current ? this.current.examples : [];
    const name = this.current?.name ?? "";
    if (strip.children.length === shown.length && strip.dataset.word === name) return;
    strip.replaceChildren(
      ...shown.map(({ bitmap }, i) => {
        const item = element("li");
        const image = element("img", "words-example");
        image.src = bitmap;
        image.width = 28;
        image.height = 28;
        image.alt = `Example ${i + 1} of “${name}”, as the model sees it`;
        item.append(image);
        return item;
      }),
    );
    strip.dataset.word = name;
  }
}
