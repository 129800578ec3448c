// /room/<code>/host and /room/<code>/board: the room as a projector shows it. The code, link and QR code
// to join; every player's drawing live with the machine's guess; who was recognised, in what order; the
// scores across rounds. The host page adds the controls and needs the host's token, which the page that
// created the room left in this tab's sessionStorage. The board needs the board's token, which only lets it
// watch: its link carries it in the #fragment, which is never sent to the server. Protocol:
// docs/protocol.md ("Play").

import { withArticle } from "../guesses.js";
import { connect, showNotice } from "../live.js";
import { Countdown } from "./round.js";
import { drawStrokes, element, seconds } from "./draw.js";
import { drawQr } from "./qr.js";
import { RoomWords } from "./words.js";

const $ = (selector) => document.querySelector(selector);
const board = $("#board");
const code = board.dataset.code;
const isHost = board.dataset.role === "host";
const ORDINALS = ["1st", "2nd", "3rd"];

const fragment = new URLSearchParams(location.hash.slice(1)).get("token");
if (fragment) sessionStorage.setItem(`doodle-board:${code}`, fragment);
const boardToken = fragment || sessionStorage.getItem(`doodle-board:${code}`);
const token = isHost ? sessionStorage.getItem(`doodle-host:${code}`) : boardToken;
const link = `${location.origin}/room/${code}`;
const countdown = new Countdown($("#clock"), $("#clock-bar"));
const cards = new Map(); // player id -> {item, canvas, guess, badge}
let game = null;
let revision = -1;

$("#join-link").href = link;
$("#join-link").textContent = link;
drawQr($("#qr"), link);

const socket = connect();
// The host page's words panel: the round words, and a word taught to the room.
const words = isHost && token ? new RoomWords(socket, { code, token }) : null;

function ordinal(n) {
  return ORDINALS[n - 1] || `${n}th`;
}

/** The card of a player on the board (made on first sight). */
function card(player) {
  let entry = cards.get(player.id);
  if (!entry) {
    const item = element("li", "thumb");
    item.dataset.player = player.id;
    const canvas = element("canvas", "thumb-canvas");
    canvas.setAttribute("role", "img");
    const name = element("p", "thumb-name");
    const guess = element("p", "thumb-guess", "…");
    const badge = element("p", "thumb-badge");
    item.append(canvas, name, guess, badge);
    $("#thumbs").append(item);
    entry = { item, canvas, name, guess, badge, strokes: [] };
    cards.set(player.id, entry);
  }
  entry.name.textContent = player.name;
  entry.canvas.setAttribute("aria-label", `${player.name}’s drawing`);
  entry.item.classList.toggle("away", !player.connected);
  return entry;
}

function render() {
  const round = game.round;
  const drawing = game.phase === "drawing";
  board.dataset.phase = game.phase;
  $("#round-bar").hidden = !round;
  if (round) {
    $("#round-index").textContent = String(round.index);
    $("#round-total").textContent = String(game.rounds);
    $("#prompt").textContent = withArticle(round.prompt);
    if (drawing) countdown.start(round.remaining_ms, round.seconds);
    else countdown.stop();
  }
  const order = new Map((round?.recognised || []).map((entry, i) => [entry.player, [i + 1, entry.ms]]));
  for (const player of game.players) {
    const entry = card(player);
    const place = order.get(player.id);
    entry.badge.textContent = place ? `${ordinal(place[0])} · ${seconds(place[1])}` : "";
    entry.item.classList.toggle("recognised", Boolean(place));
    if (place) entry.item.style.order = String(place[0]);
    else entry.item.style.removeProperty("order");
  }
  $("#board-message").textContent = message();
  renderScores();
  if (isHost) {
    const left = game.rounds - game.history.length;
    const start = $("#start-round");
    start.textContent = `Start round ${game.history.length + 1}`;
    start.disabled = game.phase === "drawing" || game.phase === "over" || left <= 0;
    $("#skip-round").disabled = game.phase !== "drawing";
    $("#close-room").disabled = game.phase === "over";
  }
}

function message() {
  const count = game.players.length;
  const players = `${count} player${count === 1 ? "" : "s"}`;
  if (game.phase === "lobby") return count ? `${players} in the room. Waiting for the host to start…` : "Waiting for players…";
  if (game.phase === "drawing") {
    const done = game.round.recognised.length;
    return `${done} of ${count} recognised so far`;
  }
  if (game.phase === "between") return "Round over. Next round when the host starts it.";
  return { closed: "The host ended the game.", host_left: "The host left: the game is over." }[game.reason] ||
    "Game over. Final scores:";
}

function renderScores() {
  const head = $("#scores thead tr");
  head.replaceChildren(element("th", "", "Player"));
  for (const past of game.history) {
    const th = element("th", "", String(past.index));
    th.title = past.prompt;
    head.append(th);
  }
  head.append(element("th", "total", "Total"));
  const rows = [...game.players].sort((a, b) => b.score - a.score).map((player) => {
    const row = element("tr");
    row.dataset.player = player.id;
    row.append(element("th", "", player.name));
    for (const past of game.history) {
      const ms = past.recognised[player.id];
      row.append(element("td", ms === undefined ? "missed" : "ok", ms === undefined ? "–" : seconds(ms)));
    }
    row.append(element("td", "total", String(player.score)));
    return row;
  });
  $("#scores tbody").replaceChildren(...rows);
}

socket.on("connect", () => {
  if (!token) {
    showNotice(
      isHost
        ? "This page needs the host's token: open it from the page that created the room."
        : "This page needs the board's link, from the host's page.",
    );
    return;
  }
  socket.emit("room_host", { code, token });
});

socket.on("game", (state) => {
  if (state.code !== code || state.revision <= revision) return;
  const newRound = state.round && (!game?.round || game.round.index !== state.round.index);
  game = state;
  revision = state.revision;
  words?.update(state);
  if (newRound) {
    for (const entry of cards.values()) {
      entry.strokes = [];
      drawStrokes(entry.canvas, []);
      entry.guess.textContent = "…";
    }
  }
  render();
});

socket.on("thumb", ({ player, round, strokes, guess, sure }) => {
  const known = game?.players.find((p) => p.id === player);
  if (!known || game.round?.index !== round) return;
  const entry = card(known);
  entry.strokes = strokes;
  drawStrokes(entry.canvas, strokes, { width: 2 });
  entry.guess.textContent = guess ? (sure ? guess : `${guess}?`) : "…";
  entry.guess.classList.toggle("unsure", !sure);
});

socket.on("error", ({ code: error, message, seq }) => {
  if (words?.onError(error, message, seq)) return;
  if (error !== "rate_limited") showNotice(message || error);
});

if (isHost) {
  const send = (event) => socket.emit(event, { code, token });
  $("#start-round").addEventListener("click", () => send("round_start"));
  $("#skip-round").addEventListener("click", () => send("round_skip"));
  $("#close-room").addEventListener("click", () => {
    if (confirm("End the game for everyone?")) send("room_close");
  });
  $("#board-link").href = `/room/${code}/board#token=${encodeURIComponent(boardToken || "")}`;
}
