// /admin/words: the deployment's taught words, each with its examples as the model saw them; delete one
// (every server process forgets it at once) or export them all as Quick, Draw! ndjson.
// Every request carries the admin token (typed once, kept in this tab's sessionStorage). Words are people's
// text: they are only ever set as textContent or attributes, never as HTML.

import { element } from "../play/draw.js";

const $ = (selector) => document.querySelector(selector);
const STORAGE_KEY = "doodle-admin-token";
let token = sessionStorage.getItem(STORAGE_KEY) || "";

function say(text) {
  $("#notice").textContent = text;
  $("#notice").hidden = !text;
}

async function call(method, path) {
  const response = await fetch(path, { method, headers: { Authorization: `Bearer ${token}` } });
  if (!response.ok) {
    const data = await response.json().catch(() => ({}));
    throw new Error(data.message || `HTTP ${response.status}`);
  }
  return response;
}

function card(word) {
  // Laid out with the teach page's classes: its examples as sharp 28 × 28 squares, its word actions.
  const item = element("li", "card taught-word");
  item.dataset.word = word.word;
  const title = element("h3", "", word.word);
  const examples = element("ol", "examples");
  for (const [index, url] of word.bitmaps.entries()) {
    const image = element("img", "example-image");
    image.src = url;
    image.alt = `Example ${index + 1} of ${word.word}, as the model saw it`;
    const entry = element("li");
    entry.append(image);
    examples.append(entry);
  }
  const strokes = word.with_strokes === word.examples ? "" : ` (${word.with_strokes} with strokes)`;
  const facts = element(
    "p",
    "guesses-line",
    `${word.examples} examples${strokes} · kept ${new Date(word.updated_at).toLocaleString()}`,
  );
  const actions = element("div", "word-actions");
  const remove = element("button", "danger", "Delete");
  remove.type = "button";
  remove.addEventListener("click", async () => {
    if (!confirm(`Delete the taught word “${word.word}” for everyone?`)) return;
    try {
      await call("DELETE", `/admin/api/words/${encodeURIComponent(word.word)}`);
      await load();
    } catch (error) {
      say(error.message);
    }
  });
  actions.append(remove);
  item.append(title, examples, facts, actions);
  return item;
}

async function load() {
  const data = await (await call("GET", "/admin/api/words")).json();
  say(data.words.length ? "" : "No word is kept yet.");
  $("#token-form").hidden = true;
  $("#actions").hidden = false;
  $("#count").textContent = `${data.words.length} of at most ${data.max_words} words`;
  $("#grid").replaceChildren(...data.words.map(card));
}

async function download() {
  const response = await call("GET", "/admin/api/words.ndjson");
  const skipped = Number(response.headers.get("X-Skipped-Examples") || 0);
  const link = element("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = "taught-words.ndjson";
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000); // once the download has begun
  say(skipped ? `${skipped} examples taught as images have no strokes: they are not in the file.` : "");
}

$("#token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  token = $("#token").value;
  load()
    .then(() => sessionStorage.setItem(STORAGE_KEY, token))
    .catch((error) => say(error.message));
});
$("#export").addEventListener("click", () => download().catch((error) => say(error.message)));

if (token) load().catch((error) => say(error.message));
