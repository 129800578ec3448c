"""A room's taught words across processes: `python -m harness.cluster` (two workers behind real nginx, a real
redis-server between them) serving the shipped default model.

The host, on one worker, teaches a spiral on its own connection and makes it the room's only word; a player
on the other worker, seated before the word existed, draws a spiral at a person's pace and is recognised:
the other worker read the room's words from Redis and embedded them with its own model.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from realtime.game import rules
from realtime.model.words import MIN_EXAMPLES
from tests.support.cluster import Balancer
from tests.support.players import GameClient
from tests.support.spirals import WORD, examples, spiral

SECONDS = 20.0
ENV = {"ROUND_SECONDS": str(SECONDS)}
PACE_S = 0.033  # a message every 33 ms, as the page sends them while the pen moves
TEACH_PACE_S = 0.012  # the host's examples, faster: within the 120 messages a second a connection may send


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Balancer]:
    """Two workers behind nginx with the shipped model, for the module."""
    balancer = Balancer(tmp_path_factory.mktemp("room-words-cluster") / "cluster.log", env=ENV)
    yield balancer
    balancer.stop()


class Client(GameClient):
    """A game client that also records `taught` (the host page teaches on its own connection)."""

    def __init__(self) -> None:
        super().__init__()
        self.taught: list[dict[str, Any]] = []
        self.sio.on("taught", self._keeper(self.taught))


@pytest.fixture
def on_node(cluster: Balancer) -> Iterator[Any]:
    """Return `on_node(node)`: a client connected through nginx to worker `node`; all closed afterwards."""
    made: list[Client] = []

    def connect(node: str) -> Client:
        client = Client()
        client.connect_url(cluster.url, ["websocket"], headers={"Cookie": f"realtime_node={node}"})
        assert client.ready[0]["node"] == node
        made.append(client)
        return client

    yield connect
    for client in made:
        client.disconnect()


def test_a_word_the_host_taught_on_one_worker_is_recognised_on_the_other(on_node: Any) -> None:
    host = on_node("w1")
    host.emit("room_create", {"rounds": 2})
    assert host.wait(lambda: host.hosted, 10), host.errors
    code, token = host.hosted[0]["code"], host.hosted[0]["token"]
    early = on_node("w2")  # seated before the room has the word: its worker hears of it from the game
    early.emit("room_join", {"code": code, "name": "Early"})
    assert early.wait(lambda: early.joined, 10), early.errors

    for n, drawing in enumerate(examples(MIN_EXAMPLES), start=1):
        host.send("clear")
        host.draw(drawing, pace=TEACH_PACE_S)
        host.emit("teach_example", {"word": WORD})
        assert host.wait(lambda n=n: len(host.taught) == n, 10), host.errors
    assert host.taught[-1]["ready"]
    host.emit("room_words", {"code": code, "token": token, "words": [WORD]})
    host.wait_game(lambda g: g["taught"] == [WORD], what="the taught word chosen")
    late = on_node("w2")  # seated after
    late.emit("room_join", {"code": code, "name": "Late"})
    assert late.wait(lambda: late.joined, 10), late.errors

    host.emit("round_start", {"code": code, "token": token})
    for player in (early, late):
        state = player.wait_game(lambda g: g["phase"] == "drawing", what="round 1")
        assert state["round"]["prompt"] == WORD
        player.round_ready(1)
    for player, phase in ((early, 0.7), (late, 2.0)):
        me = player.joined[0]["player"]
        player.draw(spiral(phase=phase), pace=PACE_S, stop=lambda p=player, i=me: p.recognised(i, 1))
        state = player.wait_game(lambda g, i=me: any(r["player"] == i for r in g["round"]["recognised"]), 5)
        ms = next(r["ms"] for r in state["round"]["recognised"] if r["player"] == me)
        assert next(p["score"] for p in state["players"] if p["id"] == me) == rules.points(ms, SECONDS)
        assert player.predictions[-1]["top"][0]["label"] == WORD
    state = host.wait_game(lambda g: g["phase"] == "between", what="everyone recognised")
    assert list(state["history"][0]["recognised"]) == [
        early.joined[0]["player"],
        late.joined[0]["player"],
    ]
