"""The game over the live protocol, in this process: Flask-SocketIO's test client as players, hosts and
boards, the shipped model, real drawings, and games on a fake clock.

Nothing runs in the background (`live_worker=False`): a drawing is predicted message by message
(`AppClient.flush`), and time passes only when a test moves the clock and ticks the games (`later`), so
every time the server reports is exact. The cluster tests (tests/cluster/test_play_cluster.py) play the
same game across processes with Redis; the browser tests play it from the pages.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable

import pytest
from flask import Flask

from realtime import create_app
from realtime.config import Config
from realtime.game import rules
from realtime.game.board import THUMB_INTERVAL_S
from realtime.web.events import CLIENT_EVENTS, LiveEvents
from realtime.web.state import state_of
from tests.support.players import (
    FRAME_S,
    AppClient,
    FakeClock,
    known_drawings,
    shipped_model,
    unknown_drawing,
)

SECONDS = 6.0  # ROUND_SECONDS here
EMPTY_S = 1.5
HOST_GRACE_S = 2.5
MAX_PLAYERS = 3
STEP_S = 0.125  # a moment on the fake clock (exact in binary, as the settings above)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(clock: FakeClock) -> Flask:
    """An app with short rounds and short waits, the shipped model, no background task, on `clock`."""
    config = Config(
        ASYNC_MODE="threading",
        ROUND_SECONDS=SECONDS,
        ROOM_EMPTY_S=EMPTY_S,
        ROOM_HOST_GRACE_S=HOST_GRACE_S,
        ROOM_MAX_PLAYERS=MAX_PLAYERS,
        # Drawings are streamed here in no real time: beyond the gate's budget of messages per second
        # (tests/web/test_socket_events.py tests that budget).
        RATE_BURST=100_000,
    )
    return create_app(config, load_model=lambda _name: shipped_model(), live_worker=False, clock=clock)


@pytest.fixture
def later(app: Flask, clock: FakeClock) -> Callable[[float], None]:
    """Return `later(seconds)`: move the clock on and let the game clock apply what is due."""

    def move(seconds: float) -> None:
        clock.advance(seconds)
        state_of(app).play.tick()

    return move


@pytest.fixture
def connect(app: Flask, clock: FakeClock) -> Callable[[], AppClient]:
    """Return `connect()`: a new client of the app, its `ready` received."""

    def make() -> AppClient:
        client = AppClient(app, clock)
        assert len(client.ready) == 1
        return client

    return make


def solo(connect: Callable[[], AppClient]) -> tuple[AppClient, dict]:
    """Start a solo game; return the client and its `joined` answer."""
    client = connect()
    client.emit("solo_start", {})
    assert client.joined, client.errors
    assert client.game["phase"] == "drawing"
    return client, client.joined[-1]


def host_room(connect: Callable[[], AppClient], rounds: int = 2) -> tuple[AppClient, str, str]:
    """Create a room; return the host's client, the code and the host's token."""
    host = connect()
    host.emit("room_create", {"rounds": rounds})
    assert host.hosted, host.errors
    assert host.game["code"] == host.hosted[0]["code"]
    return host, host.hosted[0]["code"], host.hosted[0]["token"]


def join(connect: Callable[[], AppClient], code: str, name: str) -> tuple[AppClient, str]:
    """Join a room as a new player; return the client and the player's id."""
    player = connect()
    player.emit("room_join", {"code": code, "name": name})
    assert player.joined, player.errors
    return player, player.joined[0]["player"]


def recognised(state: dict, player: str) -> bool:
    """Tell whether a game state says `player` was recognised in some round."""
    return any(player in entry["recognised"] for entry in state["history"])


def test_every_client_event_has_its_own_handler_method() -> None:
    handlers = {name[3:] for name in dir(LiveEvents) if name.startswith("on_")}
    assert handlers - {"connect", "disconnect", "unknown_event"} == CLIENT_EVENTS


# --- solo -----------------------------------------------------------------------------------------------


def test_a_solo_round_ends_the_moment_the_server_recognises_the_prompt(connect, clock, later) -> None:
    started = clock.now()
    client, joined = solo(connect)
    me = joined["player"]
    assert joined["mode"] == "solo" and len(joined["token"]) >= 32
    state = client.game
    first = state["round"]
    assert state["rounds"] == rules.SOLO_ROUNDS and first["index"] == 1
    assert first["prompt"] in client.ready[0]["labels"]
    assert first["remaining_ms"] == SECONDS * 1000
    client.round_ready(1)
    client.draw(known_drawings(first["prompt"])[0], stop=lambda: client.recognised(me, 1))
    state = client.game
    assert state["phase"] == "between" and client.recognised(me, 1)
    ms = state["history"][0]["recognised"][me]
    assert ms == round((clock.now() - started) * 1000) > 0, "recognised at the prediction that named it"
    assert state["players"][0]["score"] == rules.points(ms, SECONDS)
    # The next round starts by itself after the break, with another prompt.
    later(rules.BREAK_S - STEP_S)
    assert client.game["phase"] == "between"
    later(STEP_S)
    state = client.game
    assert state["round"]["index"] == 2 and state["phase"] == "drawing"
    assert state["round"]["prompt"] != first["prompt"]


def test_a_round_left_blank_times_out_on_the_servers_clock(connect, later) -> None:
    client, _joined = solo(connect)
    client.round_ready(1)
    later(SECONDS - STEP_S)
    assert client.game["phase"] == "drawing"
    later(STEP_S)
    state = client.game
    assert state["phase"] == "between"
    assert state["history"][0]["recognised"] == {} and state["players"][0]["score"] == 0


def test_a_drawing_of_something_else_is_not_recognised(connect, clock, later) -> None:
    client, _joined = solo(connect)
    ends = clock.now() + SECONDS
    prompt = client.game["round"]["prompt"]
    other = next(label for label in ("cat", "fish", "octopus", "dog") if label != prompt)
    client.round_ready(1)
    client.draw(unknown_drawing(other, prompt))
    assert client.predictions[-1]["seq"] == client.seq and clock.now() < ends, "predicted within the round"
    later(ends - clock.now())
    state = client.game
    assert state["phase"] == "between" and state["history"][0]["recognised"] == {}


def test_a_drawing_recognised_after_the_rounds_end_does_not_count(connect, clock) -> None:
    client, joined = solo(connect)
    client.round_ready(1)
    clock.advance(SECONDS + STEP_S)  # time is up, and the game clock has not ended the round yet
    client.draw(known_drawings(client.game["round"]["prompt"])[0])
    assert client.predictions[-1]["sure"], "the model is sure of the drawing"
    assert not client.recognised(joined["player"], 1)


def test_a_client_cannot_claim_a_recognition(connect) -> None:
    client, joined = solo(connect)
    me, prompt = joined["player"], client.game["round"]["prompt"]
    # Drawn before `round_ready`: it does not count, and `round_ready` starts the drawing afresh.
    client.draw(known_drawings(prompt)[0])
    last = client.predictions[-1]
    assert last["seq"] == client.seq and last["sure"] and last["top"][0]["label"] == prompt
    assert not client.recognised(me, 1)
    client.round_ready(1)
    client.emit("recognised", {"round": 1, "player": me})
    client.error("unknown_event")
    client.round_ready(2)
    client.error("no_round")
    client.flush()
    assert not client.recognised(me, 1)


def test_a_late_prediction_of_the_drawing_from_before_round_ready_does_not_count(app, connect) -> None:
    client, joined = solo(connect)
    client.draw(known_drawings(client.game["round"]["prompt"])[0])
    seq, session = client.seq, state_of(app).live.get(client.sid)
    assert client.predictions[-1]["sure"] and session.cached is not None
    client.round_ready(1)
    # The prediction worker's pass took the drawing before `round_ready` and sends its guess after it.
    state_of(app).play.observe(session, seq, session.cached[1])
    assert not client.recognised(joined["player"], 1)


def test_a_reconnect_mid_round_keeps_the_drawing_and_the_clock(connect, clock, later) -> None:
    client, joined = solo(connect)
    me, code, token = joined["player"], joined["code"], joined["token"]
    round_one, shown_at = client.game["round"], clock.now()
    drawing = known_drawings(round_one["prompt"])[0]
    client.round_ready(1)
    client.draw(drawing, stop=lambda: len(client.predictions) >= 3)  # the start of it
    assert not client.recognised(me, 1)
    client.disconnect()
    later(1.0)
    again = connect()
    again.emit("room_rejoin", {"code": code, "player": me, "token": token})
    assert again.joined, again.errors
    assert again.joined[0]["player"] == me and "token" not in again.joined[0]
    state = again.game
    assert state["code"] == code
    assert state["round"]["index"] == 1 and state["round"]["prompt"] == round_one["prompt"]
    # The clock kept running while away: the drawing time and a second less than before.
    away_ms = (clock.now() - shown_at) * 1000
    assert away_ms > 1000 and state["round"]["remaining_ms"] == round(round_one["remaining_ms"] - away_ms)
    again.round_ready(1)
    again.send("sync", {"strokes": [[xs, ys] for xs, ys, _ in drawing]})
    again.flush()
    assert again.recognised(me, 1), "recognised after the reconnect"


def test_a_stolen_token_or_a_wrong_one_gets_nothing(connect) -> None:
    _client, joined = solo(connect)
    thief = connect()
    thief.emit("room_rejoin", {"code": joined["code"], "player": joined["player"], "token": "x" * 32})
    thief.emit("round_start", {"code": joined["code"], "token": "nope"})
    assert [e["code"] for e in thief.errors] == ["bad_token", "bad_token"]
    assert thief.games == []


# --- rooms ----------------------------------------------------------------------------------------------


def test_a_room_from_lobby_to_final_scores(connect) -> None:
    host, code, token = host_room(connect, rounds=2)
    assert host.game["phase"] == "lobby" and host.game["players"] == []
    ann, ann_id = join(connect, code, "Ann")
    bob, bob_id = join(connect, code, "Bob")
    cy, _cy_id = join(connect, code, "Cy")
    late = connect()
    late.emit("room_join", {"code": code, "name": "Dee"})
    late.error("room_full")
    assert [p["name"] for p in host.game["players"]] == ["Ann", "Bob", "Cy"]

    ann.emit("round_start", {"code": code, "token": ann.joined[0]["token"]})
    ann.error("bad_token")
    host.emit("round_start", {"code": code, "token": token})
    states = [c.game for c in (host, ann, bob, cy)]
    assert all(state["phase"] == "drawing" for state in states)
    prompts = {state["round"]["prompt"] for state in states}
    assert len(prompts) == 1, "everyone gets the same prompt"
    prompt = prompts.pop()
    for player in (ann, bob, cy):
        player.round_ready(1)
    # Ann draws first, Bob a moment later, Cy not at all.
    ann.draw(known_drawings(prompt)[0], stop=lambda: ann.recognised(ann_id, 1))
    bob.draw(known_drawings(prompt)[1], stop=lambda: bob.recognised(bob_id, 1))
    state = host.game
    assert [entry["player"] for entry in state["round"]["recognised"]] == [ann_id, bob_id]
    assert state["phase"] == "drawing", "Cy is still drawing"

    # The board got thumbnails of the drawings, with the machine's guess: the drawing that was recognised
    # at once, before the news of it.
    assert {t["player"] for t in host.thumbs} >= {ann_id, bob_id}
    last_ann = [t for t in host.thumbs if t["player"] == ann_id][-1]
    assert last_ann["guess"] == prompt and last_ann["sure"] and last_ann["round"] == 1 and last_ann["strokes"]
    xs = [x for stroke in last_ann["strokes"] for x in stroke[0]]
    assert min(xs) == 0 and max(xs) <= 255
    told = [i for i, (event, g) in enumerate(host.log) if event == "game" and recognised(g, ann_id)]
    assert host.log.index(("thumb", last_ann)) < told[0], "the recognised drawing before the news of it"
    assert ann.thumbs == [], "players do not get the board's thumbnails"

    host.emit("round_skip", {"code": code, "token": token})
    state = cy.game
    assert state["phase"] == "between"
    scores = {p["name"]: p["score"] for p in state["players"]}
    assert scores["Ann"] >= scores["Bob"] > 0 == scores["Cy"]

    host.emit("round_start", {"code": code, "token": token})
    state = ann.game
    assert state["round"]["index"] == 2 and state["phase"] == "drawing"
    assert state["round"]["prompt"] != prompt
    host.emit("room_close", {"code": code, "token": token})
    for client in (host, ann, bob, cy):
        assert (client.game["phase"], client.game["reason"]) == ("over", "closed")
    host.emit("round_start", {"code": code, "token": token})
    host.error("room_over")


def test_the_board_gets_a_drawing_at_most_four_times_a_second(connect, clock, later) -> None:
    host, code, token = host_room(connect)
    ann, ann_id = join(connect, code, "Ann")
    host.emit("round_start", {"code": code, "token": token})
    prompt = ann.game["round"]["prompt"]
    other = next(label for label in ("cat", "fish", "octopus", "dog") if label != prompt)
    ann.round_ready(1)
    sent_at: list[float] = []  # when each thumbnail went out

    def three_sent() -> bool:  # checked before each message: stop just after one that sent a thumbnail
        if len(host.thumbs) == len(sent_at):
            return False
        sent_at.append(clock.monotonic())
        return len(sent_at) >= 3

    ann.draw(unknown_drawing(other, prompt), stop=three_sent)
    assert len(sent_at) == 3 and len(ann.predictions) > 2 * THUMB_INTERVAL_S / FRAME_S, "one per frame"
    assert all(b - a >= THUMB_INTERVAL_S for a, b in itertools.pairwise(sent_at))
    # The next prediction comes too soon: held back, then sent by the game clock once the interval passed.
    ann.send("stroke_points", {"points": [[0.0, 0.0]]})
    ann.flush()
    assert len(host.thumbs) == 3
    later(THUMB_INTERVAL_S)
    assert len(host.thumbs) == 4 and host.thumbs[-1]["player"] == ann_id
    assert host.thumbs[-1]["guess"] == ann.predictions[-1]["top"][0]["label"]
    later(THUMB_INTERVAL_S)
    assert len(host.thumbs) == 4, "nothing new: nothing sent"


def test_the_board_token_watches_but_cannot_steer(connect) -> None:
    host, code, token = host_room(connect)
    board_token = host.hosted[0]["board_token"]
    assert board_token != token
    board = connect()
    board.emit("room_host", {"code": code, "token": board_token})
    assert board.game["code"] == code
    for event in ("round_start", "round_skip", "room_close"):
        board.emit(event, {"code": code, "token": board_token})
    assert [e["code"] for e in board.errors] == ["bad_token"] * 3
    ann, ann_id = join(connect, code, "Ann")
    host.emit("round_start", {"code": code, "token": token})
    prompt = ann.game["round"]["prompt"]
    ann.round_ready(1)
    ann.draw(known_drawings(prompt)[0], stop=lambda: ann.recognised(ann_id, 1))
    assert any(t["guess"] == prompt and t["sure"] for t in board.thumbs)


def test_one_connection_joins_a_room_once(connect) -> None:
    host, code, _ = host_room(connect)
    ann, _ = join(connect, code, "Ann")
    ann.emit("room_join", {"code": code, "name": "Ann again"})
    ann.error("already_joined")
    assert len(host.game["players"]) == 1


def test_host_events_do_not_say_whether_a_room_exists(connect) -> None:
    client = connect()
    _, code, _ = host_room(connect)
    for target in (code, rules.new_code()):
        client.emit("round_start", {"code": target, "token": "x" * 32})
    assert [e["message"] for e in client.errors] == ["no room has that code and host's token"] * 2
    assert {e["code"] for e in client.errors} == {"bad_token"}


def test_crafted_tokens_get_bad_token_not_a_crash(connect, caplog) -> None:
    _client, joined = solo(connect)
    other = connect()
    with caplog.at_level(logging.WARNING):
        for token in ("\ud800", "é" * 40, "x" * 5000, {"a": 1}):
            other.emit("room_rejoin", {"code": joined["code"], "player": joined["player"], "token": token})
    assert [e["code"] for e in other.errors] == ["bad_token"] * 4
    assert not [record for record in caplog.records if record.exc_info], "no traceback"


def test_starting_games_is_rate_limited(connect) -> None:
    client = connect()
    for _ in range(6):
        client.emit("solo_start", {})
    assert [e["code"] for e in client.errors] == ["too_many_attempts"]
    assert len(client.joined) == 5 and len({j["code"] for j in client.joined}) == 5


def test_names_are_kept_as_text_and_bad_ones_refused(connect) -> None:
    host, code, _ = host_room(connect)
    hostile = '<img src=x onerror="alert(1)">'
    _, hostile_id = join(connect, code, hostile)
    _, spaced_id = join(connect, code, "  \u202eEve\u0000  the\n\tgreat  ")
    names = {p["id"]: p["name"] for p in host.game["players"]}
    assert names == {hostile_id: hostile[: rules.MAX_NAME], spaced_id: "Eve the great"}
    for bad in ("", "   ", None, 7, "x" * 300):
        client = connect()
        client.emit("room_join", {"code": code, "name": bad})
        client.error("bad_name")


def test_bad_game_messages_get_errors_with_codes(connect) -> None:
    client = connect()
    host, code, token = host_room(connect)
    cases = [
        ("room_join", {"name": "Ann"}, "bad_code"),
        ("room_join", {"code": 12345678, "name": "Ann"}, "bad_code"),
        ("room_create", {"rounds": 0}, "bad_payload"),
        ("room_create", {"rounds": "six"}, "bad_payload"),
        ("round_start", {"code": code}, "bad_token"),
        ("room_host", {"code": code, "token": ["x"]}, "bad_token"),
    ]
    for event, payload, expected in cases:
        client.emit(event, payload)
        assert client.errors[-1]["code"] == expected, (event, payload)
    client.emit("room_join", "not an object")
    assert client.errors[-1]["code"] == "bad_payload"
    client.emit("round_ready", {"seq": 1, "round": 1})
    assert client.errors[-1]["code"] == "not_in_room"
    assert len(client.errors) == len(cases) + 2
    host.emit("round_skip", {"code": code, "token": token})
    host.error("no_round")


def test_guessing_room_codes_is_rate_limited(connect) -> None:
    client = connect()
    for _ in range(5):
        client.emit("room_join", {"code": rules.new_code(), "name": "Mallory"})
    assert [e["code"] for e in client.errors] == ["room_not_found"] * 5
    client.emit("room_join", {"code": rules.new_code(), "name": "Mallory"})
    assert client.errors[-1]["code"] == "too_many_attempts"


def test_a_player_and_the_host_who_reconnect_keep_their_places(connect, later) -> None:
    host, code, token = host_room(connect)
    ann, ann_id = join(connect, code, "Ann")
    ann_token = ann.joined[0]["token"]
    host.emit("round_start", {"code": code, "token": token})
    prompt = ann.game["round"]["prompt"]
    ann.round_ready(1)
    ann.draw(known_drawings(prompt)[0], stop=lambda: ann.recognised(ann_id, 1))
    score = host.game["players"][0]["score"]
    assert score > 0
    ann.disconnect()
    host.disconnect()
    later(0.5)
    back = connect()
    back.emit("room_rejoin", {"code": code, "player": ann_id, "token": ann_token})
    assert back.joined, back.errors
    new_host = connect()
    new_host.emit("room_host", {"code": code, "token": token})
    state = new_host.game
    assert state["players"][0] == {"id": ann_id, "name": "Ann", "score": score, "connected": True}
    later(HOST_GRACE_S + 0.5)
    assert new_host.game["phase"] != "over", "the host came back within the grace"


def test_the_host_leaving_ends_the_room_for_everyone(connect, later) -> None:
    host, code, _ = host_room(connect)
    ann, _ = join(connect, code, "Ann")
    host.disconnect()
    later(HOST_GRACE_S - STEP_S)
    assert ann.game["phase"] == "lobby", "the host may come back within the grace"
    later(STEP_S)
    assert (ann.game["phase"], ann.game["reason"]) == ("over", "host_left")


def test_an_empty_room_expires(app, connect, later) -> None:
    pages = app.test_client()
    host, code, _ = host_room(connect)
    ann, _ = join(connect, code, "Ann")
    assert pages.get(f"/room/{code}").status_code == 200
    ann.disconnect()
    host.disconnect()
    later(EMPTY_S - STEP_S)
    assert pages.get(f"/room/{code}").status_code == 200, "not empty for long enough yet"
    later(STEP_S)
    late = connect()
    late.emit("room_join", {"code": code, "name": "Late"})
    late.error("room_not_found")
    page = pages.get(f"/room/{code}")
    assert page.status_code == 404 and "No such room" in page.text


def test_the_game_pages(app) -> None:
    pages = app.test_client()
    page = pages.get("/play")
    assert page.status_code == 200 and "Start drawing" in page.text and "giraffe" in page.text
    for bad in ("nope", "KQ7M-XPD0", "a" * 40):
        assert pages.get(f"/room/{bad}").status_code == 404
    typed = pages.get("/room", query_string={"code": "kq7m xpda"})
    assert typed.status_code == 404, "a well-formed code of no room"


def test_room_pages_are_rate_limited(app) -> None:
    pages = app.test_client()
    answers = [pages.get(f"/room/{rules.new_code()}") for _ in range(70)]
    codes = [answer.status_code for answer in answers]
    assert codes[:50] == [404] * 50 and 429 in codes, codes
    limited = next(answer for answer in answers if answer.status_code == 429)
    assert int(limited.headers["Retry-After"]) >= 1
