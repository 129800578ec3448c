// /room/<code>: a player's page in a room. A name to join with, the lobby, the rounds the host starts,
// and the final scores. Protocol: docs/protocol.md ("Play").

import { connect, showNotice } from "../live.js";
import { element } from "./draw.js";
import { RoundPlayer } from "./round.js";

const $ = (selector) => document.querySelector(selector);
const play = $("#play");
const code = play.dataset.code;
const STORAGE_KEY = `doodle-room:${code}`; // {code, player, token}: rejoin with the same name and score
const REASONS = {
  finished: "That was the last round.",
  closed: "The host ended the game.",
  host_left: "The host left, so the game ended.",
  idle: "Nothing happened for a long time, so the game ended.",
};

const socket = connect(() => ({ see_bitmap: true }));
const player = new RoundPlayer(socket);
let stored = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || "null");
let revision = -1;

function show(step) {
  play.dataset.phase = step;
  $("#name-step").hidden = step !== "name";
  $("#lobby").hidden = step !== "lobby";
  $("#game").hidden = step !== "game";
  $("#summary").hidden = step !== "summary";
}

function listScores(list, players) {
  list.replaceChildren(
    ...[...players]
      .sort((a, b) => b.score - a.score)
      .map((p) => {
        const item = element("li", p.id === player.me ? "me" : "");
        item.append(element("span", "name", p.name), element("span", "score", String(p.score)));
        if (!p.connected) item.classList.add("away");
        return item;
      }),
  );
}

socket.on("connect", () => {
  player.connected();
  $("#join").disabled = false;
  if (stored) socket.emit("room_rejoin", stored);
});

socket.on("joined", ({ code: joinedCode, player: id, token, name }) => {
  if (joinedCode !== code) return;
  if (token) {
    stored = { code, player: id, token };
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(stored));
  }
  player.me = id;
  $("#me").textContent = name;
  show("lobby");
});

socket.on("game", (game) => {
  if (game.code !== code || !player.me || game.revision <= revision) return;
  revision = game.revision;
  player.update(game);
  listScores($("#players"), game.players);
  if (game.phase === "over") {
    $("#over-reason").textContent = REASONS[game.reason] || "The game is over.";
    listScores($("#final-scores"), game.players);
    player.renderSummary($("#drawings"));
    show("summary");
  } else if (game.round) {
    show("game");
  } else {
    show("lobby");
  }
});

socket.on("error", ({ code: error, message }) => {
  if (error === "rate_limited") return;
  if (stored && (error === "room_not_found" || error === "bad_token")) {
    sessionStorage.removeItem(STORAGE_KEY);
    stored = null;
  }
  if (!player.me) {
    $("#join-error").textContent = message || error;
    $("#join-error").hidden = false;
    show("name");
    return;
  }
  showNotice(`The server could not use that: ${message || error}`);
});

$("#name-form").addEventListener("submit", (event) => {
  event.preventDefault();
  $("#join-error").hidden = true;
  if (socket.connected) socket.emit("room_join", { code, name: $("#name").value });
});

show(stored ? "lobby" : "name");
