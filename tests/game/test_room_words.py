"""A room's taught words (realtime.game.words): the host teaches a word on its own connection, chooses the
round words (`room_words`), and a player's drawing of a taught prompt is recognised like a trained one.

Through Flask-SocketIO's test client, with the stand-in model (its embedding: the same drawing is the same
point, so a spiral drawn as taught is sure), games on a fake clock and nothing in the background: each
drawing is predicted message by message. The Redis store's part is tests/services/test_room_words_store.py;
across two workers with the shipped model, tests/cluster/test_room_words_cluster.py.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from realtime import create_app
from realtime.config import Config
from realtime.game import rules
from realtime.game.words import choose
from realtime.model.words import MIN_EXAMPLES
from realtime.web.state import state_of
from tests.support.models import FakeModel
from tests.support.players import AppClient, FakeClock
from tests.support.spirals import WORD, spiral

SECONDS = 6.0
EMPTY_S = 1.5
SPIRAL = spiral()
BOX = [[[100, 900, 900, 100, 100], [100, 100, 900, 900, 100], [0, 200, 400, 600, 800]]]  # sure: gamma
TRAINED = "gamma"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(clock: FakeClock, model: FakeModel, monkeypatch: pytest.MonkeyPatch) -> Flask:
    """An app with the stand-in model, short rounds, no background task, on `clock`."""
    monkeypatch.setattr("realtime.model.teacher.TEACH_BURST", 100)  # no waiting between examples here
    config = Config(ASYNC_MODE="threading", ROUND_SECONDS=SECONDS, ROOM_EMPTY_S=EMPTY_S, RATE_BURST=100_000)
    return create_app(config, load_model=lambda _name: model, live_worker=False, clock=clock)


@pytest.fixture
def connect(app: Flask, clock: FakeClock) -> Callable[[], AppClient]:
    return lambda: AppClient(app, clock)


class Host:
    """A room's host page: its connection, the room's code and the host's token."""

    def __init__(self, connect: Callable[[], AppClient]) -> None:
        self.client = connect()
        self.client.emit("room_create", {"rounds": 6})
        hosted = self.client.hosted[0]
        self.code, self.token = hosted["code"], hosted["token"]

    def teach(self, word: str, drawing: list, times: int = MIN_EXAMPLES) -> dict:
        """Draw `drawing` and keep it as an example of `word`, `times` times; return the last `taught`."""
        for _ in range(times):
            self.client.send("clear")
            self.client.draw(drawing)
            self.client.emit("teach_example", {"word": word})
        taught = self.client.received("taught")
        assert len(taught) >= times, self.client.errors
        return taught[-1]

    def choose(self, *words: str) -> None:
        """Send `room_words`."""
        self.client.emit("room_words", {"code": self.code, "token": self.token, "words": list(words)})

    def start(self) -> dict:
        """Start the next round; return the game as it starts."""
        self.client.emit("round_start", {"code": self.code, "token": self.token})
        state = self.client.game
        assert state["phase"] == "drawing", self.client.errors
        return state


def join(connect: Callable[[], AppClient], code: str, name: str) -> tuple[AppClient, str]:
    """Join a room as a new player; return the client and the player's id."""
    player = connect()
    player.emit("room_join", {"code": code, "name": name})
    assert player.joined, player.errors
    return player, player.joined[0]["player"]


def draw_round(player: AppClient, me: str, round_index: int, drawing: list) -> bool:
    """Draw a round's drawing (from `round_ready` on) until recognised; tell whether it was."""
    player.round_ready(round_index)
    player.draw(drawing, stop=lambda: player.recognised(me, round_index))
    return player.recognised(me, round_index)


def test_a_player_draws_a_word_the_host_taught_and_is_recognised(connect, clock) -> None:
    host = Host(connect)
    early, early_id = join(connect, host.code, "Early")  # seated before the words are chosen
    taught = host.teach(WORD, SPIRAL)
    assert taught["ready"] and taught["examples"] == MIN_EXAMPLES
    host.choose(WORD.lower())
    state = host.client.game
    assert (state["words"], state["taught"]) == ([WORD], [WORD]), host.client.errors
    early.draw(SPIRAL)
    assert early.predictions[-1]["top"][0]["label"] == WORD, "a player seated already ranks it at once"
    early.send("clear")
    late, late_id = join(connect, host.code, "Late")  # seated after
    started = host.start()
    assert started["round"]["prompt"] == WORD, "the only word"
    began = clock.now()
    assert draw_round(early, early_id, 1, SPIRAL)
    ms = early.game["round"]["recognised"][0]["ms"]
    assert ms == round((clock.now() - began) * 1000) > 0
    assert next(p for p in early.game["players"] if p["id"] == early_id)["score"] == rules.points(ms, SECONDS)
    assert early.predictions[-1]["top"][0]["label"] == WORD and early.predictions[-1]["sure"]
    assert draw_round(late, late_id, 1, SPIRAL)
    assert host.client.game["phase"] == "between", "everyone was recognised"


def test_words_another_process_chose_count_from_the_next_round(app, connect) -> None:
    host = Host(connect)
    player, me = join(connect, host.code, "Ann")
    host.teach(WORD, SPIRAL)
    play = state_of(app).play
    own = state_of(app).events.teacher.own[host.client.sid]

    def chosen_elsewhere(game: rules.Game, room: list) -> list:
        labels, entries = choose([WORD], ["alpha"], own, room)
        game.choose_words(labels, [entry["word"] for entry in entries])
        return entries

    # Another worker's `room_words`: the store changes, and this process hears of it from the game alone.
    play.store.update_words(host.code, chosen_elsewhere, play.clock.now())
    player.draw(SPIRAL)
    assert WORD not in [g["label"] for g in player.predictions[-1]["top"]], "not heard of yet"
    host.start()
    player.send("clear")
    assert draw_round(player, me, 1, SPIRAL), "round_ready read the game, and its words with it"


def test_a_drawing_of_something_else_is_not_the_taught_word(connect) -> None:
    host = Host(connect)
    host.teach(WORD, SPIRAL)
    host.choose(WORD)
    player, me = join(connect, host.code, "Ann")
    host.start()
    assert not draw_round(player, me, 1, BOX)
    assert WORD not in [g["label"] for g in player.predictions[-1]["top"][:1]]


def test_taught_and_trained_words_make_the_rounds_together(connect) -> None:
    host = Host(connect)
    host.teach(WORD, SPIRAL)
    host.choose(WORD, TRAINED.upper(), WORD)  # a word chosen twice counts once; the model's own spelling
    assert (host.client.game["words"], host.client.game["taught"]) == ([WORD, TRAINED], [WORD])
    player, me = join(connect, host.code, "Ann")
    prompts = []
    for index in (1, 2):
        prompt = host.start()["round"]["prompt"]
        prompts.append(prompt)
        assert draw_round(player, me, index, SPIRAL if prompt == WORD else BOX), prompt
    assert sorted(prompts) == sorted([WORD, TRAINED]), "no prompt again until every word was drawn"


def test_a_player_who_comes_back_ranks_the_rooms_words_again(connect) -> None:
    host = Host(connect)
    host.teach(WORD, SPIRAL)
    host.choose(WORD)
    player, me = join(connect, host.code, "Ann")
    token = player.joined[0]["token"]
    host.start()
    player.disconnect()
    back = connect()
    back.emit("room_rejoin", {"code": host.code, "player": me, "token": token})
    assert back.joined, back.errors
    assert draw_round(back, me, 1, SPIRAL)


def test_the_words_stay_in_the_room_when_a_player_leaves_it(connect) -> None:
    host = Host(connect)
    host.teach(WORD, SPIRAL)
    host.choose(WORD)
    player, _ = join(connect, host.code, "Ann")
    player.draw(SPIRAL)
    assert player.predictions[-1]["top"][0]["label"] == WORD, "the room's words, in the lobby too"
    player.emit("solo_start", {})  # leaves the room for a game of its own
    player.send("clear")
    player.draw(SPIRAL)
    assert WORD not in [g["label"] for g in player.predictions[-1]["top"]]


def test_a_new_host_page_keeps_the_rooms_words_and_may_drop_them(app, connect) -> None:
    host = Host(connect)
    host.teach(WORD, SPIRAL)
    host.choose(WORD)
    host.client.disconnect()  # the words taught on that connection are gone with it; the room's stay
    again = connect()
    again.emit("room_host", {"code": host.code, "token": host.token})
    host.client = again
    host.choose("alpha", WORD)
    assert (again.game["words"], again.game["taught"]) == (["alpha", WORD], [WORD]), again.errors
    store = state_of(app).play.store
    assert [entry["word"] for entry in store.words(host.code)[1]] == [WORD]
    host.choose("alpha")
    assert (again.game["words"], again.game["taught"]) == (["alpha"], [])
    assert store.words(host.code) == (0, []), "no taught word left: the entry is deleted"
    host.choose(WORD)
    assert again.error("unknown_word")


@pytest.mark.parametrize(
    ("words", "code"),
    [
        ([], "no_words"),
        ("Spiral", "bad_payload"),
        ([7], "bad_payload"),
        (["zigzag"], "unknown_word"),
        (["alpha"] * 65, "too_many_words"),
    ],
)
def test_bad_choices_are_refused_and_change_nothing(app, connect, words, code: str) -> None:
    host = Host(connect)
    store = state_of(app).play.store
    before = store.get(host.code)
    host.client.emit("room_words", {"code": host.code, "token": host.token, "words": words})
    assert host.client.error(code)
    assert store.get(host.code) == before


def test_a_word_not_ready_or_taught_on_another_connection_is_unknown(connect) -> None:
    host = Host(connect)
    host.teach(WORD, SPIRAL, MIN_EXAMPLES - 1)
    host.choose(WORD)
    assert host.client.error("unknown_word")
    other = Host(connect)
    other.teach("Zigzag", SPIRAL)
    host.choose("Zigzag")
    assert len([e for e in host.client.errors if e["code"] == "unknown_word"]) == 2


def test_a_room_keeps_at_most_so_many_taught_words(connect, monkeypatch) -> None:
    monkeypatch.setattr("realtime.game.words.MAX_ROOM_WORDS", 1)
    host = Host(connect)
    host.teach(WORD, SPIRAL)
    host.teach("Box", BOX)
    host.choose(WORD, "Box")
    assert host.client.error("too_many_words")
    host.choose(WORD, TRAINED)
    assert host.client.game["taught"] == [WORD]


def test_only_the_host_between_rounds_chooses_a_rooms_words(connect) -> None:
    host = Host(connect)
    host.teach(WORD, SPIRAL)
    host.client.emit("room_words", {"code": host.code, "token": "not-the-token", "words": [WORD]})
    host.client.emit("room_words", {"code": "AAAAAAAA", "token": host.token, "words": [WORD]})
    assert len([e for e in host.client.errors if e["code"] == "bad_token"]) == 2
    host.client.emit("room_words", {"code": "0", "token": host.token, "words": [WORD]})
    assert host.client.error("bad_code")
    join(connect, host.code, "Ann")
    host.start()
    host.choose(WORD)
    assert host.client.error("round_running")
    assert host.client.game["taught"] == []
    host.client.emit("room_close", {"code": host.code, "token": host.token})
    host.choose(WORD)
    assert host.client.error("room_over")
    solo = connect()
    solo.emit("solo_start", {})
    token = solo.joined[0]["token"]  # a solo player holds its game's host token
    solo.emit("room_words", {"code": solo.joined[0]["code"], "token": token, "words": ["alpha"]})
    assert solo.error("not_a_room")


def test_a_rooms_words_are_forgotten_with_the_room(app, connect, clock) -> None:
    host = Host(connect)
    host.teach(WORD, SPIRAL)
    host.choose(WORD)
    store = state_of(app).play.store
    assert store.words(host.code)[1][0]["word"] == WORD
    host.client.disconnect()
    clock.advance(EMPTY_S + 1)
    state_of(app).play.tick()
    assert store.get(host.code) is None
    assert store.words(host.code) == (0, [])


def test_after_a_hot_reload_the_words_count_once_the_new_model_embedded_them(app, connect) -> None:
    host = Host(connect)
    host.teach(WORD, SPIRAL)
    host.choose(WORD)
    player, me = join(connect, host.code, "Ann")
    host.start()
    player.round_ready(1)
    reloaded = FakeModel()
    reloaded.version = "fake-2"
    play = state_of(app).play
    play.live.switch(reloaded)
    player.draw(SPIRAL)
    assert not player.recognised(me, 1), "words the old model embedded mean nothing to the new one's"
    play.tick()  # the game's clock embeds them again
    player.send("clear")
    player.draw(SPIRAL, stop=lambda: player.recognised(me, 1))
    assert player.recognised(me, 1)
    assert play.seats[player.sid].book_for[1] == "fake-2"
