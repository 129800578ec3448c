"""The game across processes: rooms on `python -m harness.cluster` (two workers behind real nginx, a real
redis-server between them), players on different workers, all through the balancer.

A room lives in Redis and its events travel through the Socket.IO message queue, so the host, the board
and the players may each sit on any worker; whichever worker's clock gets there first ends a round.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from tests.support.cluster import Balancer
from tests.support.players import GameClient, known_drawings

SECONDS = 8.0
ENV = {"ROUND_SECONDS": str(SECONDS), "ROOM_HOST_GRACE_S": "3", "ROOM_EMPTY_S": "2"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Balancer]:
    """Two workers behind nginx with short rounds, for the module."""
    balancer = Balancer(tmp_path_factory.mktemp("play-cluster") / "cluster.log", env=ENV)
    yield balancer
    balancer.stop()


@pytest.fixture
def clients() -> Iterator[list[GameClient]]:
    """Game clients made by a test, disconnected afterwards."""
    made: list[GameClient] = []
    yield made
    for client in made:
        client.disconnect()


def on_node(cluster: Balancer, clients: list[GameClient], node: str) -> GameClient:
    """Connect through nginx to worker `node` (w1 or w2): the balancer follows the worker's cookie."""
    client = GameClient().connect_url(cluster.url, ["websocket"], headers={"Cookie": f"realtime_node={node}"})
    assert node_of(client) == node
    clients.append(client)
    return client


def node_of(client: GameClient) -> str:
    """Return the worker a client is connected to."""
    return client.ready[0]["node"]


def test_players_on_different_workers_play_one_room(cluster: Balancer, clients: list[GameClient]) -> None:
    host = on_node(cluster, clients, "w1")
    host.emit("room_create", {"rounds": 2})
    assert host.wait(lambda: host.hosted, 10), host.errors
    code, token = host.hosted[0]["code"], host.hosted[0]["token"]
    # Two players on the other worker, one beside the host.
    far = [on_node(cluster, clients, "w2") for _ in range(2)]
    near = on_node(cluster, clients, "w1")
    players = [*far, near]
    ids = []
    for n, player in enumerate(players):
        player.emit("room_join", {"code": code, "name": f"P{n}"})
        assert player.wait(lambda p=player: p.joined, 10), player.errors
        ids.append(player.joined[0]["player"])
    assert len({node_of(c) for c in (host, *players)}) == 2, "the room spans both workers"
    host.wait_game(lambda g: len(g["players"]) == 3, what="three players")

    host.emit("round_start", {"code": code, "token": token})
    states = [c.wait_game(lambda g: g["phase"] == "drawing", what="round 1") for c in (host, *players)]
    assert len({(s["round"]["index"], s["round"]["prompt"]) for s in states}) == 1, "one prompt for all"
    prompt = states[0]["round"]["prompt"]
    for player in players:
        player.round_ready(1)
    # The far players draw; the host (on the other worker) sees the order of recognition.
    for player, player_id, drawing in zip(far, ids, known_drawings(prompt), strict=False):
        player.draw(drawing, stop=lambda p=player, i=player_id: p.recognised(i, 1))
    state = host.wait_game(lambda g: len(g["round"]["recognised"]) == 2, what="both far players recognised")
    assert [entry["player"] for entry in state["round"]["recognised"]] == ids[:2]
    # The board's thumbnails crossed the queue too.
    assert host.wait(lambda: {t["player"] for t in host.thumbs} >= set(ids[:2]), 5)
    assert near.wait_game(lambda g: len(g["round"]["recognised"]) == 2, what="seen beside the host")

    # The near player does not draw: whichever worker's clock comes first ends the round, once.
    state = host.wait_game(lambda g: g["phase"] == "between", timeout=SECONDS + 3, what="time up")
    assert ids[2] not in state["history"][0]["recognised"]
    revisions = [g["revision"] for g in host.games]
    assert revisions == sorted(set(revisions)), "no state is sent twice or out of order"

    # A far player reconnects and lands on the other worker: same name, same score.
    score = {p["id"]: p["score"] for p in state["players"]}[ids[0]]
    token0 = far[0].joined[0]["token"]
    far[0].disconnect()
    back = on_node(cluster, clients, "w1")
    back.emit("room_rejoin", {"code": code, "player": ids[0], "token": token0})
    assert back.wait(lambda: back.joined, 10), back.errors
    state = host.wait_game(
        lambda g: next(p for p in g["players"] if p["id"] == ids[0])["connected"], what="P0 back"
    )
    assert next(p for p in state["players"] if p["id"] == ids[0]) == {
        "id": ids[0],
        "name": "P0",
        "score": score,
        "connected": True,
    }

    # The host reconnects on the other worker and starts round 2 from there.
    host.disconnect()
    new_host = on_node(cluster, clients, "w2")
    new_host.emit("room_host", {"code": code, "token": token})
    new_host.wait_game(lambda g: g["code"] == code, what="host back")
    new_host.emit("round_start", {"code": code, "token": token})
    for player in (back, far[1], near):
        player.wait_game(lambda g: g["round"]["index"] == 2 and g["phase"] == "drawing", what="round 2")
    time.sleep(3.5)  # past the host's grace: the host came back, so the room goes on
    assert new_host.game["phase"] == "drawing"
    new_host.emit("room_close", {"code": code, "token": token})
    for client in (new_host, back, far[1], near):
        assert client.wait_game(lambda g: g["phase"] == "over", what="closed")["reason"] == "closed"


def test_a_room_expires_on_every_worker(cluster: Balancer, clients: list[GameClient]) -> None:
    host = on_node(cluster, clients, "w1")
    host.emit("room_create", {})
    assert host.wait(lambda: host.hosted, 10)
    code = host.hosted[0]["code"]
    for _ in range(4):  # nginx spreads page requests over both workers
        assert requests.get(f"{cluster.url}/room/{code}", timeout=10).status_code == 200
    host.disconnect()
    time.sleep(2.0 + 1.0)
    late = on_node(cluster, clients, "w2")
    late.emit("room_join", {"code": code, "name": "Late"})
    late.wait_error("room_not_found")
    for _ in range(4):
        assert requests.get(f"{cluster.url}/room/{code}", timeout=10).status_code == 404
