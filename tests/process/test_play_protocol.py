"""The game over the live protocol: a real `python -m realtime` with the shipped model, python-socketio
clients as players and hosts, real drawings. One process here (rooms in its memory); the cluster tests
(tests/test_play_cluster.py) play across processes with Redis.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from harness.processes import ServerProcess
from realtime.game import rules
from tests.support.players import GameClient, known_drawings, unknown_drawing
from tests.support.servers import ServerLauncher

SECONDS = 6.0  # ROUND_SECONDS here: long enough to draw, short enough to wait out
EMPTY_S = 1.5
HOST_GRACE_S = 2.5
MAX_PLAYERS = 3
ENV = {
    "ROUND_SECONDS": str(SECONDS),
    "ROOM_EMPTY_S": str(EMPTY_S),
    "ROOM_HOST_GRACE_S": str(HOST_GRACE_S),
    "ROOM_MAX_PLAYERS": str(MAX_PLAYERS),
}


@pytest.fixture(scope="module")
def server(start_module_server: ServerLauncher) -> ServerProcess:
    """One server for the module, with short rounds and short waits."""
    return start_module_server(env=ENV)


@pytest.fixture
def clients(server: ServerProcess) -> Iterator[list[GameClient]]:
    """Connected game clients, made on demand with `clients.append(...)`; all disconnected afterwards."""
    made: list[GameClient] = []
    yield made
    for client in made:
        client.disconnect()


def connect(server: ServerProcess, clients: list[GameClient]) -> GameClient:
    """Connect one more game client (WebSocket) and return it."""
    client = GameClient().connect(server)
    clients.append(client)
    return client


def solo(server: ServerProcess, clients: list[GameClient]) -> tuple[GameClient, dict]:
    """Start a solo game; return the client and its `joined` answer."""
    client = connect(server, clients)
    client.emit("solo_start", {})
    assert client.wait(lambda: client.joined, 10), client.errors
    client.wait_game(lambda g: g["phase"] == "drawing", what="drawing")
    return client, client.joined[-1]


def host_room(
    server: ServerProcess, clients: list[GameClient], rounds: int = 2
) -> tuple[GameClient, str, str]:
    """Create a room; return the host's client, the code and the host's token."""
    host = connect(server, clients)
    host.emit("room_create", {"rounds": rounds})
    assert host.wait(lambda: host.hosted, 10), host.errors
    host.wait_game(lambda g: g["code"] == host.hosted[0]["code"], what="of the new room")
    return host, host.hosted[0]["code"], host.hosted[0]["token"]


def join(server: ServerProcess, clients: list[GameClient], code: str, name: str) -> tuple[GameClient, str]:
    """Join a room as a new player; return the client and the player's id."""
    player = connect(server, clients)
    player.emit("room_join", {"code": code, "name": name})
    assert player.wait(lambda: player.joined, 10), player.errors
    return player, player.joined[0]["player"]


# --- solo -----------------------------------------------------------------------------------------------


def test_a_solo_round_ends_the_moment_the_server_recognises_the_prompt(server, clients) -> None:
    client, joined = solo(server, clients)
    me = joined["player"]
    assert joined["mode"] == "solo" and len(joined["token"]) >= 32
    state = client.game
    first = state["round"]
    assert state["rounds"] == rules.SOLO_ROUNDS and first["index"] == 1
    assert first["prompt"] in client.ready[0]["labels"]
    assert 0 < first["remaining_ms"] <= SECONDS * 1000
    client.round_ready(1)
    started = time.monotonic()
    client.draw(known_drawings(first["prompt"])[0], stop=lambda: client.recognised(me, 1))
    state = client.wait_game(lambda g: g["phase"] != "drawing", what="after recognition")
    took = time.monotonic() - started
    assert state["phase"] == "between" and client.recognised(me, 1)
    ms = state["history"][0]["recognised"][me]
    assert 0 < ms <= took * 1000 + 500
    assert state["players"][0]["score"] == rules.points(ms, SECONDS)
    # The next round starts by itself after the break, with another prompt.
    state = client.wait_game(lambda g: g["round"]["index"] == 2, timeout=rules.BREAK_S + 3, what="round 2")
    assert state["phase"] == "drawing" and state["round"]["prompt"] != first["prompt"]


def test_a_round_left_blank_times_out_on_the_servers_clock(server, clients) -> None:
    client, _joined = solo(server, clients)
    client.round_ready(1)
    started = time.monotonic()
    state = client.wait_game(lambda g: g["phase"] == "between", timeout=SECONDS + 3, what="timed out")
    assert SECONDS - 0.5 <= time.monotonic() - started <= SECONDS + 1.5
    assert state["history"][0]["recognised"] == {} and state["players"][0]["score"] == 0


def test_a_drawing_of_something_else_is_not_recognised(server, clients) -> None:
    client, _joined = solo(server, clients)
    prompt = client.game["round"]["prompt"]
    other = next(label for label in ("cat", "fish", "octopus", "dog") if label != prompt)
    client.round_ready(1)
    client.draw(unknown_drawing(other, prompt))
    state = client.wait_game(lambda g: g["phase"] == "between", timeout=SECONDS + 3, what="timed out")
    assert state["history"][0]["recognised"] == {}


def test_a_client_cannot_claim_a_recognition(server, clients) -> None:
    client, joined = solo(server, clients)
    me, prompt = joined["player"], client.game["round"]["prompt"]
    # Drawn before `round_ready`: it does not count, and `round_ready` starts the drawing afresh.
    client.draw(known_drawings(prompt)[0])
    client.prediction(client.seq)
    time.sleep(0.5)
    assert not client.recognised(me, 1)
    client.round_ready(1)
    client.emit("recognised", {"round": 1, "player": me})
    client.wait_error("unknown_event")
    client.round_ready(2)
    client.wait_error("no_round")
    time.sleep(0.5)
    assert not client.recognised(me, 1)


def test_a_reconnect_mid_round_keeps_the_drawing_and_the_clock(server, clients) -> None:
    client, joined = solo(server, clients)
    me, code, token = joined["player"], joined["code"], joined["token"]
    round_one = client.game["round"]
    drawing = known_drawings(round_one["prompt"])[0]
    client.round_ready(1)
    first_half = drawing[: max(1, len(drawing) // 3)]
    client.draw(first_half)
    client.disconnect()
    time.sleep(1.0)
    again = connect(server, clients)
    again.emit("room_rejoin", {"code": code, "player": me, "token": token})
    assert again.wait(lambda: again.joined, 10), again.errors
    assert again.joined[0]["player"] == me and "token" not in again.joined[0]
    state = again.wait_game(lambda g: g["code"] == code, what="after rejoin")
    assert state["round"]["index"] == 1 and state["round"]["prompt"] == round_one["prompt"]
    # The clock kept running while away: about a second and the drawing time less than before.
    assert state["round"]["remaining_ms"] <= round_one["remaining_ms"] - 900
    again.round_ready(1)
    again.send("sync", {"strokes": [[xs, ys] for xs, ys, _ in drawing]})
    again.wait_game(lambda g: again.recognised(me, 1), what="recognised after the reconnect")


def test_a_stolen_token_or_a_wrong_one_gets_nothing(server, clients) -> None:
    _client, joined = solo(server, clients)
    thief = connect(server, clients)
    thief.emit("room_rejoin", {"code": joined["code"], "player": joined["player"], "token": "x" * 32})
    assert thief.wait_error("bad_token")
    thief.emit("round_start", {"code": joined["code"], "token": "nope"})
    thief.wait(lambda: len(thief.errors) >= 2, 5)
    assert [e["code"] for e in thief.errors] == ["bad_token", "bad_token"]
    assert thief.games == []


# --- rooms ----------------------------------------------------------------------------------------------


def test_a_room_from_lobby_to_final_scores(server, clients) -> None:
    host, code, token = host_room(server, clients, rounds=2)
    assert host.game["phase"] == "lobby" and host.game["players"] == []
    ann, ann_id = join(server, clients, code, "Ann")
    bob, bob_id = join(server, clients, code, "Bob")
    cy, _cy_id = join(server, clients, code, "Cy")
    late = connect(server, clients)
    late.emit("room_join", {"code": code, "name": "Dee"})
    late.wait_error("room_full")
    host.wait_game(lambda g: len(g["players"]) == 3, what="three players")
    assert [p["name"] for p in host.game["players"]] == ["Ann", "Bob", "Cy"]

    ann.emit("round_start", {"code": code, "token": ann.joined[0]["token"]})
    ann.wait_error("bad_token")
    host.emit("round_start", {"code": code, "token": token})
    states = [c.wait_game(lambda g: g["phase"] == "drawing") for c in (host, ann, bob, cy)]
    prompts = {state["round"]["prompt"] for state in states}
    assert len(prompts) == 1, "everyone gets the same prompt"
    prompt = prompts.pop()
    for player in (ann, bob, cy):
        player.round_ready(1)
    # Ann draws first, Bob a moment later, Cy not at all.
    ann.draw(known_drawings(prompt)[0], stop=lambda: ann.recognised(ann_id, 1))
    bob.draw(known_drawings(prompt)[1], stop=lambda: bob.recognised(bob_id, 1))
    state = host.wait_game(lambda g: len(g["round"]["recognised"]) == 2, what="two recognised")
    assert [entry["player"] for entry in state["round"]["recognised"]] == [ann_id, bob_id]
    assert state["phase"] == "drawing", "Cy is still drawing"

    # The board got thumbnails of the drawings, with the machine's guess; the last one held back by the
    # throttle follows within a tick or two.
    def last_thumb(player: str) -> dict:
        return [t for t in host.thumbs if t["player"] == player][-1]

    assert host.wait(lambda: {t["player"] for t in host.thumbs} >= {ann_id, bob_id}, 5)
    assert host.wait(lambda: last_thumb(ann_id)["guess"] == prompt, 2), last_thumb(ann_id)
    last_ann = last_thumb(ann_id)
    assert last_ann["round"] == 1 and last_ann["strokes"] and last_ann["sure"]
    xs = [x for stroke in last_ann["strokes"] for x in stroke[0]]
    assert min(xs) == 0 and max(xs) <= 255
    assert ann.thumbs == [], "players do not get the board's thumbnails"

    host.emit("round_skip", {"code": code, "token": token})
    state = cy.wait_game(lambda g: g["phase"] == "between", what="skipped")
    scores = {p["name"]: p["score"] for p in state["players"]}
    assert scores["Ann"] >= scores["Bob"] > 0 == scores["Cy"]

    host.emit("round_start", {"code": code, "token": token})
    state = ann.wait_game(lambda g: g["round"]["index"] == 2 and g["phase"] == "drawing")
    assert state["round"]["prompt"] != prompt
    host.emit("room_close", {"code": code, "token": token})
    for client in (host, ann, bob, cy):
        state = client.wait_game(lambda g: g["phase"] == "over", what="closed")
        assert state["reason"] == "closed"
    host.emit("round_start", {"code": code, "token": token})
    host.wait_error("room_over")


def test_the_board_token_watches_but_cannot_steer(server, clients) -> None:
    host, code, token = host_room(server, clients)
    board_token = host.hosted[0]["board_token"]
    assert board_token != token
    board = connect(server, clients)
    board.emit("room_host", {"code": code, "token": board_token})
    board.wait_game(lambda g: g["code"] == code, what="on the board")
    for event in ("round_start", "round_skip", "room_close"):
        board.errors.clear()
        board.emit(event, {"code": code, "token": board_token})
        board.wait_error("bad_token")
    ann, ann_id = join(server, clients, code, "Ann")
    host.emit("round_start", {"code": code, "token": token})
    prompt = ann.wait_game(lambda g: g["phase"] == "drawing")["round"]["prompt"]
    ann.round_ready(1)
    ann.draw(known_drawings(prompt)[0], stop=lambda: ann.recognised(ann_id, 1))
    assert board.wait(lambda: any(t["guess"] == prompt and t["sure"] for t in board.thumbs), 5)


def test_one_connection_joins_a_room_once(server, clients) -> None:
    host, code, _ = host_room(server, clients)
    ann, _ = join(server, clients, code, "Ann")
    ann.emit("room_join", {"code": code, "name": "Ann again"})
    ann.wait_error("already_joined")
    assert len(host.wait_game(lambda g: len(g["players"]) == 1)["players"]) == 1


def test_host_events_do_not_say_whether_a_room_exists(server, clients) -> None:
    client = connect(server, clients)
    _, code, _ = host_room(server, clients)
    for target in (code, rules.new_code()):
        client.errors.clear()
        client.emit("round_start", {"code": target, "token": "x" * 32})
        assert client.wait_error("bad_token")["message"] == "no room has that code and host's token"


def test_crafted_tokens_get_bad_token_not_a_crash(server, clients) -> None:
    _client, joined = solo(server, clients)
    other = connect(server, clients)
    for token in ("\ud800", "é" * 40, "x" * 5000, {"a": 1}):
        other.errors.clear()
        other.emit("room_rejoin", {"code": joined["code"], "player": joined["player"], "token": token})
        other.wait_error("bad_token")
        time.sleep(1.0)  # within the attempt budget
    assert "Traceback" not in server.log_text()


def test_starting_games_is_rate_limited(server, clients) -> None:
    client = connect(server, clients)
    for _ in range(6):
        client.emit("solo_start", {})
    client.wait_error("too_many_attempts")
    assert client.wait(lambda: len(client.joined) == 5, 5)
    time.sleep(0.5)
    assert len({j["code"] for j in client.joined}) == 5


def test_names_are_kept_as_text_and_bad_ones_refused(server, clients) -> None:
    host, code, _ = host_room(server, clients)
    hostile = '<img src=x onerror="alert(1)">'
    _, hostile_id = join(server, clients, code, hostile)
    _, spaced_id = join(server, clients, code, "  \u202eEve\u0000  the\n\tgreat  ")
    state = host.wait_game(lambda g: len(g["players"]) == 2)
    names = {p["id"]: p["name"] for p in state["players"]}
    assert names[hostile_id] == hostile[: rules.MAX_NAME]
    assert names[spaced_id] == "Eve the great"
    for bad in ("", "   ", None, 7, "x" * 300):
        client = connect(server, clients)
        client.emit("room_join", {"code": code, "name": bad})
        client.wait_error("bad_name")


def test_bad_game_messages_get_errors_with_codes(server, clients) -> None:
    client = connect(server, clients)
    host, code, token = host_room(server, clients)
    cases = [
        ("room_join", {"name": "Ann"}, "bad_code"),
        ("room_join", {"code": 12345678, "name": "Ann"}, "bad_code"),
        ("room_create", {"rounds": 0}, "bad_payload"),
        ("room_create", {"rounds": "six"}, "bad_payload"),
        ("round_start", {"code": code}, "bad_token"),
        ("room_host", {"code": code, "token": ["x"]}, "bad_token"),
    ]
    for event, payload, expected in cases:
        client.errors.clear()
        client.emit(event, payload)
        client.wait_error(expected)
    client.errors.clear()
    client.emit("room_join", "not an object")
    client.wait_error("bad_payload")
    client.emit("round_ready", {"seq": 1, "round": 1})
    client.wait_error("not_in_room")
    host.emit("round_skip", {"code": code, "token": token})
    host.wait_error("no_round")


def test_guessing_room_codes_is_rate_limited(server, clients) -> None:
    client = connect(server, clients)
    for _ in range(5):
        client.emit("room_join", {"code": rules.new_code(), "name": "Mallory"})
    client.wait(lambda: len(client.errors) >= 5, 5)
    assert {e["code"] for e in client.errors} == {"room_not_found"}
    client.emit("room_join", {"code": rules.new_code(), "name": "Mallory"})
    client.wait(lambda: len(client.errors) >= 6, 5)
    assert client.errors[-1]["code"] == "too_many_attempts"


def test_a_player_and_the_host_who_reconnect_keep_their_places(server, clients) -> None:
    host, code, token = host_room(server, clients)
    ann, ann_id = join(server, clients, code, "Ann")
    ann_token = ann.joined[0]["token"]
    host.emit("round_start", {"code": code, "token": token})
    prompt = ann.wait_game(lambda g: g["phase"] == "drawing")["round"]["prompt"]
    ann.round_ready(1)
    ann.draw(known_drawings(prompt)[0], stop=lambda: ann.recognised(ann_id, 1))
    score = host.wait_game(lambda g: g["players"][0]["score"] > 0)["players"][0]["score"]
    ann.disconnect()
    host.disconnect()
    time.sleep(0.5)
    back = connect(server, clients)
    back.emit("room_rejoin", {"code": code, "player": ann_id, "token": ann_token})
    assert back.wait(lambda: back.joined, 10)
    new_host = connect(server, clients)
    new_host.emit("room_host", {"code": code, "token": token})
    state = new_host.wait_game(lambda g: g["players"][0]["connected"], what="Ann back")
    assert state["players"][0] == {"id": ann_id, "name": "Ann", "score": score, "connected": True}
    time.sleep(HOST_GRACE_S + 0.5)
    assert new_host.game["phase"] != "over", "the host came back within the grace"


def test_the_host_leaving_ends_the_room_for_everyone(server, clients) -> None:
    host, code, _ = host_room(server, clients)
    ann, _ = join(server, clients, code, "Ann")
    host.disconnect()
    state = ann.wait_game(lambda g: g["phase"] == "over", timeout=HOST_GRACE_S + 3, what="host gone")
    assert state["reason"] == "host_left"


def test_an_empty_room_expires(server, clients) -> None:
    host, code, _ = host_room(server, clients)
    ann, _ = join(server, clients, code, "Ann")
    assert requests.get(f"{server.url}/room/{code}", timeout=10).status_code == 200
    ann.disconnect()
    host.disconnect()
    time.sleep(EMPTY_S + 1.0)
    late = connect(server, clients)
    late.emit("room_join", {"code": code, "name": "Late"})
    late.wait_error("room_not_found")
    page = requests.get(f"{server.url}/room/{code}", timeout=10)
    assert page.status_code == 404 and "No such room" in page.text


def test_the_game_pages(server) -> None:
    page = requests.get(server.url + "/play", timeout=10)
    assert page.status_code == 200 and "Start drawing" in page.text and "giraffe" in page.text
    for bad in ("nope", "KQ7M-XPD0", "a" * 40):
        assert requests.get(f"{server.url}/room/{bad}", timeout=10).status_code == 404
    typed = requests.get(f"{server.url}/room", params={"code": "kq7m xpda"}, timeout=10)
    assert typed.status_code == 404, "a well-formed code of no room"


def test_room_pages_are_rate_limited(server) -> None:
    """Last in the module: it spends this address's budget for room pages."""
    answers = [requests.get(f"{server.url}/room/{rules.new_code()}", timeout=10) for _ in range(70)]
    codes = [answer.status_code for answer in answers]
    assert codes[:50] == [404] * 50 and 429 in codes, codes
    limited = next(answer for answer in answers if answer.status_code == 429)
    assert int(limited.headers["Retry-After"]) >= 1
