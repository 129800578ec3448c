// /admin/drawings: the collected drawings by word, as a grid with pages; relabel or delete each one.
// Every request carries the admin token (typed once, kept in this tab's sessionStorage).

import { drawStrokes, element } from "../play/draw.js";

const $ = (selector) => document.querySelector(selector);
const STORAGE_KEY = "doodle-admin-token";
let token = sessionStorage.getItem(STORAGE_KEY) || "";
let word = null;
let page = 0;

function say(text) {
  $("#notice").textContent = text;
  $("#notice").hidden = !text;
}

async function call(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.message || `HTTP ${response.status}`);
  return data;
}

function card(drawing) {
  const item = element("li", `drawing-card ${drawing.recognized ? "recognised" : "missed"}`);
  item.dataset.id = String(drawing.id);
  item.dataset.word = drawing.word;
  const canvas = element("canvas", "drawing-canvas");
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", `A drawing kept as ${drawing.word}`);
  const title = element("h3", "", drawing.word);
  const guess = drawing.top?.[0] ? `${drawing.top[0].label} ${Math.round(drawing.top[0].p * 100)}%` : "nothing";
  const facts = element(
    "p",
    "guesses-line",
    `${drawing.recognized ? "Recognised" : "Not recognised"} · guessed ${guess} · ${drawing.source} · ` +
      new Date(drawing.created_at).toLocaleString(),
  );
  const form = element("form", "inline-form relabel");
  const input = element("input");
  input.value = drawing.word;
  input.maxLength = 64;
  input.setAttribute("aria-label", "Word");
  const save = element("button", "", "Relabel");
  save.type = "submit";
  const remove = element("button", "danger", "Delete");
  remove.type = "button";
  form.append(input, save, remove);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await call("POST", `/admin/api/drawings/${drawing.id}`, { word: input.value });
      await load();
    } catch (error) {
      say(error.message);
    }
  });
  remove.addEventListener("click", async () => {
    if (!confirm("Delete this drawing?")) return;
    try {
      await call("DELETE", `/admin/api/drawings/${drawing.id}`);
      await load();
    } catch (error) {
      say(error.message);
    }
  });
  item.append(canvas, title, facts, form);
  return [item, canvas];
}

async function load() {
  const query = new URLSearchParams({ page: String(page) });
  if (word) query.set("word", word);
  const data = await call("GET", `/admin/api/drawings?${query}`);
  say(data.total ? "" : "Nothing kept yet.");
  $("#token-form").hidden = true;
  const words = $("#words");
  words.hidden = false;
  const all = element("button", word === null ? "chip current" : "chip", "All");
  all.addEventListener("click", () => choose(null));
  words.replaceChildren(
    all,
    ...data.words.map(({ word: w, count }) => {
      const chip = element("button", w === word ? "chip current" : "chip", `${w} (${count})`);
      chip.addEventListener("click", () => choose(w));
      return chip;
    }),
  );
  const made = data.drawings.map(card);
  $("#grid").replaceChildren(...made.map(([item]) => item));
  for (const [index, [, canvas]] of made.entries()) drawStrokes(canvas, data.drawings[index].drawing);
  $("#pager").hidden = data.pages < 2;
  $("#page-text").textContent = `Page ${data.page + 1} of ${data.pages}`;
  $("#previous").disabled = data.page === 0;
  $("#next").disabled = data.page + 1 >= data.pages;
}

function choose(next) {
  word = next;
  page = 0;
  load().catch((error) => say(error.message));
}

$("#token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  token = $("#token").value;
  load()
    .then(() => sessionStorage.setItem(STORAGE_KEY, token))
    .catch((error) => say(error.message));
});
$("#previous").addEventListener("click", () => {
  page -= 1;
  load().catch((error) => say(error.message));
});
$("#next").addEventListener("click", () => {
  page += 1;
  load().catch((error) => say(error.message));
});

if (token) load().catch((error) => say(error.message));
