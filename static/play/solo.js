// /play: a solo game of six rounds, and the way into a room (create one, or join one by its code).
// Protocol: docs/protocol.md ("Play").

import { connect, showNotice } from "../live.js";
import { RoundPlayer } from "./round.js";

const $ = (selector) => document.querySelector(selector);
const play = $("#play");
const STORAGE_KEY = "doodle-solo"; // {code, player, token} of this tab's game, for reconnecting

const socket = connect(() => ({ see_bitmap: true }));
const player = new RoundPlayer(socket);
let stored = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || "null");
let revision = -1;

function show(phase) {
  play.dataset.phase = phase;
  $("#intro").hidden = phase !== "intro";
  $("#game").hidden = phase !== "game";
  $("#summary").hidden = phase !== "summary";
}

function forget() {
  stored = null;
  sessionStorage.removeItem(STORAGE_KEY);
}

function start() {
  if (!socket.connected) return;
  forget();
  revision = -1;
  player.reset();
  socket.emit("solo_start", {});
}

socket.on("connect", () => {
  player.connected();
  $("#solo-start").disabled = false;
  $("#create-room-button").disabled = false;
  if (stored) socket.emit("room_rejoin", stored);
});

socket.on("joined", ({ code, player: id, token, mode }) => {
  if (mode !== "solo") return;
  if (token) {
    stored = { code, player: id, token };
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(stored));
  }
  player.me = id;
  show("game");
});

socket.on("game", (game) => {
  if (!stored || game.code !== stored.code || game.revision <= revision) return;
  revision = game.revision;
  player.update(game);
  if (game.phase === "over") {
    const recognised = [...player.results.values()].filter((r) => r.recognised).length;
    const score = game.players[0]?.score ?? 0;
    $("#summary-score").textContent =
      `The machine recognised ${recognised} of your ${game.rounds} drawings. Score: ${score}.`;
    show("summary");
    player.renderSummary($("#drawings"));
    forget();
  } else {
    show("game");
  }
});

// A room was created from this page: its host page takes over (the token stays in this tab).
socket.on("hosted", ({ code, token, board_token: boardToken }) => {
  sessionStorage.setItem(`doodle-host:${code}`, token);
  sessionStorage.setItem(`doodle-board:${code}`, boardToken);
  location.assign(`/room/${code}/host`);
});

socket.on("error", ({ code, message }) => {
  if (code === "rate_limited") return;
  if (stored && (code === "room_not_found" || code === "bad_token")) {
    forget(); // the game ended while this page was away
    show("intro");
    return;
  }
  showNotice(`The server could not use that: ${message || code}`);
});

$("#solo-start").addEventListener("click", start);
$("#again").addEventListener("click", start);
$("#create-room").addEventListener("submit", (event) => {
  event.preventDefault();
  if (socket.connected) socket.emit("room_create", { rounds: Number($("#room-rounds").value) });
});

show("intro");
