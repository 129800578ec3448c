// /teach: teach the machine a word from a few drawings, then see it guessed live with its own words.
// Each kept drawing is the drawing the server holds for this connection (streamed as on the drawing page);
// the server answers `taught` with the 28×28 image it learnt from. Protocol: docs/protocol.md.

import { GuessView } from "./guesses.js";
import { LiveDrawing, connect, showNotice } from "./live.js";

const $ = (selector) => document.querySelector(selector);
const app = $("#app");
const wordInput = $("#word");
const keepButton = $("#keep");
const undoButton = $("#undo");
const clearButton = $("#clear");
const NEEDED = Number(app.dataset.needed) || 5;

// The codes of the teaching events' refusals: an `error` with one of these answers the oldest request.
const TEACH_CODES = new Set([
  "bad_word",
  "word_taken",
  "blank_example",
  "too_many_examples",
  "too_many_words",
  "teaching_too_fast",
  "cannot_teach",
  "cannot_keep",
  "unknown_word",
  "not_connected",
  "database_unreachable",
]);
// What a refusal means to the person at the page; `word` is what they typed, always shown as text.
const SENTENCES = {
  bad_word: () => `Type a word first (at most ${wordInput.maxLength} characters).`,
  word_taken: (word) => `The machine already knows “${word}”: pick another word.`,
  blank_example: () => "Draw the word first, then keep the drawing.",
  too_many_examples: () => "That word has all the examples it can keep.",
  too_many_words: (word, kind) =>
    kind === "keep"
      ? "The server shares as many words as it can: none more for now."
      : "This page has taught as many words as it may: forget one first.",
  teaching_too_fast: () => "Not so fast: wait a second, then keep it again.",
  cannot_teach: () => "This model cannot learn new words.",
  cannot_keep: () => "This server does not share taught words.",
  unknown_word: (word, kind) =>
    kind === "keep" ? `Teach it ${NEEDED} examples first.` : "The server has forgotten that word.",
  database_unreachable: () => "The server cannot share words right now: try again in a moment.",
};
// Where each refusal is shown: beside the word, beside "Keep as an example", or beside the word's buttons.
const WORD_CODES = new Set(["bad_word", "word_taken", "too_many_words"]);

const words = new Map(); // lower-cased name -> {name, examples: [{bitmap, strokes}], count, ready}
let current = null; // the word being taught (one of `words`), or null until its first example is kept
let kept = []; // the server's shared words
let canKeep = false;
const waiting = []; // teaching requests sent and not yet answered, oldest first: the server answers in order
let again = []; // examples to teach a new connection again, oldest first
let hiddenUpTo = 0; // predictions up to this seq are of an example sent again, not of the canvas
let wordsShown = ""; // what the lists of words show, to rebuild them only when it changes

const view = new GuessView(app);
const socket = connect();
const live = new LiveDrawing(socket, $("#canvas"), app, {
  onPrediction: (prediction) => {
    if (prediction.seq <= hiddenUpTo) return;
    if (sketch.hasInk) view.show(prediction);
    else view.reset();
  },
  onChange: render,
});
const sketch = live.sketch;

const key = (name) => name.toLowerCase();
const pendingExample = () => waiting.some((request) => request.kind === "example" && !request.again);

/** Send a teaching event; its answer (`taught`, `words` or an `error`) is matched to it in order. */
function request(event, payload, details) {
  if (!socket.connected) return false;
  waiting.push(details);
  socket.emit(event, payload);
  return true;
}

/** Show a sentence in one of the error lines (empty: hide it). */
function say(id, text) {
  const line = $(id);
  line.textContent = text;
  line.hidden = !text;
}

/** Teach the word the drawing on the canvas ("Keep as an example"). */
function keepExample() {
  if (keepButton.disabled) return;
  const word = current ? current.name : wordInput.value;
  say("#word-error", "");
  say("#keep-error", "");
  say("#shared", "");
  // The strokes are kept too: a new connection (after a reconnect) has to be taught them again.
  if (request("teach_example", { word }, { kind: "example", word, strokes: sketch.quickDrawStrokes() })) {
    sketch.enabled = false; // the drawing on show is the one being taught until the answer comes
    render();
  }
}

/** Forget the current word (`teach_forget`) or share it with everyone (`teach_keep`). */
function wordAction(event, kind) {
  if (!current) return;
  say("#actions-error", "");
  request(event, { word: current.name }, { kind, word: current.name });
}

/** Start on a new word; the words taught so far stay known. */
function newWord() {
  current = null;
  wordInput.value = "";
  say("#word-error", "");
  say("#actions-error", "");
  render();
  wordInput.focus();
}

/** A `taught` answer: one more example of a word. */
function onTaught(reply, asked) {
  let word = words.get(key(reply.word));
  if (!word) {
    word = { name: reply.word, examples: [], count: 0, ready: false };
    words.set(key(reply.word), word);
  }
  word.count = reply.examples;
  word.ready = reply.ready;
  if (asked.again) {
    again.shift();
    teachNext();
  } else {
    word.examples.push({ bitmap: reply.bitmap, strokes: asked.strokes });
    current = word;
    wordInput.value = word.name;
    sketch.enabled = true;
    live.clear(); // a fresh canvas for the next example
    view.reset();
  }
  render();
}

/** A `words` answer: whether the server shares words and which; after forget or share, this page's words. */
function onWords(reply, asked) {
  canKeep = Boolean(reply.can_keep);
  kept = reply.kept || [];
  // The listing asked for on connecting is of a connection that has not been taught again yet.
  if (asked.kind === "forget" || asked.kind === "keep") {
    const known = new Set((reply.words || []).map((word) => key(word.word)));
    for (const name of words.keys()) if (!known.has(name)) words.delete(name);
  }
  if (asked.kind === "keep") say("#shared", `Shared: everyone’s guesses now include “${asked.word}”.`);
  if (current && !words.has(key(current.name))) newWord();
  render();
}

/** A refused teaching request: say why, beside the control that asked. */
function onRefused(code, message, asked) {
  if (asked.again) {
    // The server forgot this page's words with its old connection: keep teaching them, at its pace.
    if (code === "teaching_too_fast") setTimeout(teachNext, 1100);
    else {
      again.shift();
      teachNext();
    }
    return;
  }
  const sentence = SENTENCES[code]?.(asked.word, asked.kind) || message || code;
  if (asked.kind === "example") {
    sketch.enabled = true;
    say(WORD_CODES.has(code) ? "#word-error" : "#keep-error", sentence);
    if (WORD_CODES.has(code)) wordInput.focus();
  } else if (asked.kind !== "list") {
    say("#actions-error", sentence);
  }
  render();
}

/** After a reconnect: teach the new connection every kept example again, one by one. */
function teachAgain() {
  again = [...words.values()].flatMap((word) =>
    word.examples.map((example) => ({ word: word.name, strokes: example.strokes })),
  );
  teachNext();
}

/** Teach the new connection the next example of `again`, if any. */
function teachNext() {
  if (!socket.connected) return;
  const example = again[0];
  if (example) {
    // The example takes the canvas's place on the server for one message, then the canvas is sent back.
    hiddenUpTo = live.send("sync", { strokes: example.strokes });
    request("teach_example", { word: example.word }, { kind: "example", again: true, ...example });
    live.sendDrawing();
  }
  render();
}

/** Bring every part of the page in line with the state above. */
function render() {
  const finished = sketch.strokes.length > 0;
  undoButton.disabled = !finished;
  clearButton.disabled = !finished;
  keepButton.disabled = !finished || !socket.connected || pendingExample() || again.length > 0;
  app.classList.toggle("has-ink", sketch.hasInk);
  app.dataset.state = current ? (current.ready ? "ready" : "teaching") : "empty";
  app.dataset.again = String(again.length); // examples still to teach a new connection (tests wait on it)
  wordInput.readOnly = current !== null;

  const name = current ? current.name : wordInput.value.trim();
  $("#paper-prompt").textContent = name ? `Draw “${name}” here` : "Draw here";
  const count = current ? current.count : 0;
  $("#progress").textContent =
    count > NEEDED ? `${count} examples` : `${count} of ${NEEDED} example${NEEDED === 1 ? "" : "s"}`;
  renderExamples();
  $("#ready").hidden = !current?.ready;
  $("#ready-word").textContent = current ? current.name : "";
  $("#word-actions").hidden = !current;
  $("#share").hidden = !(canKeep && current?.ready);
  // Guesses are worth showing once they can name a taught word: one of this page's, or a shared one.
  $("#guesses").hidden = ![...words.values()].some((word) => word.ready) && kept.length === 0;
  renderWords();
}

/** The strip of the current word's examples, as the model saw them (28×28, scaled up without blur). */
function renderExamples() {
  const strip = $("#examples");
  const shown = current ? current.examples : [];
  const images = shown.map(({ bitmap }, i) => {
    const item = document.createElement("li");
    const image = document.createElement("img");
    image.className = "example-image";
    image.src = bitmap;
    image.width = 28;
    image.height = 28;
    image.alt = `Example ${i + 1} of “${current.name}”, as the model sees it`;
    item.append(image);
    return item;
  });
  if (strip.children.length !== images.length || strip.dataset.word !== (current?.name ?? "")) {
    strip.replaceChildren(...images);
    strip.dataset.word = current?.name ?? "";
  }
}

/** The words taught on this page (each a button that makes it the current one), and the shared ones. */
function renderWords() {
  // Rebuilt only when they change: a button rebuilt under the keyboard's focus would lose it.
  const shown = JSON.stringify([[...words.values()].map((w) => [w.name, w.count, w === current]), kept]);
  if (shown === wordsShown) return;
  wordsShown = shown;
  const own = [...words.values()].map((word) => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = word === current ? "chip current" : "chip";
    button.textContent = word.ready ? word.name : `${word.name} (${word.count} of ${NEEDED})`;
    button.addEventListener("click", () => {
      current = word;
      wordInput.value = word.name;
      render();
    });
    return button;
  });
  const shared = kept.map((name) => {
    const chip = document.createElement("span");
    chip.className = "chip shared-word";
    chip.textContent = name;
    return chip;
  });
  fillList("#taught", "#taught-words", own);
  fillList("#kept", "#kept-words", shared);
}

/** Put each element in an item of a list, and show the list's section only when it has any. */
function fillList(section, list, elements) {
  $(list).replaceChildren(
    ...elements.map((element) => {
      const item = document.createElement("li");
      item.append(element);
      return item;
    }),
  );
  $(section).hidden = elements.length === 0;
}

socket.on("connect", () => {
  waiting.length = 0; // the old connection's answers will never come
  sketch.enabled = true;
  // A new connection starts with an empty drawing and no taught words: send both again.
  if (sketch.hasInk) live.sendDrawing();
  request("teach_words", {}, { kind: "list" });
  teachAgain();
});

socket.on("disconnect", () => {
  waiting.length = 0;
  sketch.enabled = true;
  render();
});

/** Name the model's own words and version (on connecting, and after a hot reload switched models). */
function showModel({ labels, model }) {
  if (labels?.length) $("#labels").textContent = labels.join(", ");
  if (model) $("#model").textContent = model;
}

socket.on("ready", showModel);
socket.on("model", showModel);

socket.on("taught", (reply) => onTaught(reply, waiting.shift() || {}));
socket.on("words", (reply) => onWords(reply, waiting.shift() || {}));
socket.on("error", ({ code, message, seq }) => {
  if (TEACH_CODES.has(code) || (code === "internal_error" && seq == null && waiting.length)) {
    onRefused(code, message, waiting.shift() || {});
  } else if (code !== "rate_limited") {
    showNotice(`The server could not use that: ${message || code}`);
  }
});

keepButton.addEventListener("click", keepExample);
undoButton.addEventListener("click", () => live.undo() && !sketch.hasInk && view.reset());
clearButton.addEventListener("click", () => live.clear() && view.reset());
$("#forget").addEventListener("click", () => wordAction("teach_forget", "forget"));
$("#share").addEventListener("click", () => wordAction("teach_keep", "keep"));
$("#new-word").addEventListener("click", newWord);
$("#word-form").addEventListener("submit", (event) => {
  event.preventDefault(); // Enter in the word keeps the drawing, when there is one
  keepExample();
});
wordInput.addEventListener("input", () => {
  say("#word-error", "");
  render();
});

document.addEventListener("keydown", (event) => {
  const mod = event.ctrlKey || event.metaKey;
  if (event.target === wordInput) return; // Ctrl+Z in the word undoes typing
  if (mod && !event.shiftKey && !event.altKey && event.key.toLowerCase() === "z") {
    event.preventDefault();
    if (live.undo() && !sketch.hasInk) view.reset();
  }
});

render();
view.reset();
