"""The game's two stores (realtime.game.rooms): the same contract for the in-process store and the Redis
store on a real redis-server, including concurrent changes from threads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from harness.processes import RedisProcess
from realtime.core.errors import InputError
from realtime.game.rooms import Deleted, MemoryStore, RedisStore
from realtime.game.rules import Game
from tests.support.games import T0, TIMING, make_game, refused


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    """A private redis-server for this module."""
    server = RedisProcess(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MemoryStore | RedisStore]:
    """Each store, empty."""
    if request.param == "memory":
        yield MemoryStore(TIMING)
        return
    server: RedisProcess = request.getfixturevalue("redis_server")
    redis = Redis.from_url(server.url)
    redis.flushdb()
    yield RedisStore(redis, TIMING)
    redis.close()


def test_a_store_creates_reads_updates_and_deletes(store: MemoryStore | RedisStore) -> None:
    game = make_game()
    assert store.create(game)
    assert not store.create(game), "a code is taken once"
    assert store.get(game.code) == game
    changed, player = store.update(game.code, lambda g: g.add_player("Ann", "t", "s", 60), T0 + 1)
    assert store.get(game.code) == changed and player.id in changed.players
    assert store.due(T0) == []
    assert store.due(T0 + 1 + TIMING.idle_s) == [game.code]

    def fail(g: Game) -> None:
        g.players.clear()
        raise InputError("no", "refused")

    with pytest.raises(InputError):
        store.update(game.code, fail, T0 + 2)
    assert store.get(game.code) == changed, "a refused change changes nothing"

    def delete(g: Game) -> None:
        raise Deleted()

    with pytest.raises(Deleted):
        store.update(game.code, delete, T0 + 2)
    assert store.get(game.code) is None and store.due(T0 + 10 * TIMING.idle_s) == []
    refused("room_not_found", store.update, game.code, lambda g: None, T0 + 2)


def test_any_change_is_saved_with_a_new_revision_and_no_change_writes_nothing(
    store: MemoryStore | RedisStore,
) -> None:
    game = make_game()
    store.create(game)

    def change(g: Game) -> None:
        g.deck = ["camel"]  # a change that calls nothing to say so

    changed, _ = store.update(game.code, change, T0 + 5)
    stored = store.get(game.code)
    assert stored == changed and stored.deck == ["camel"]
    assert (stored.revision, stored.touched_at) == (game.revision + 1, T0 + 5)
    assert store.due(T0 + TIMING.idle_s) == [], "the idle deadline moved with the change"
    assert store.due(T0 + 5 + TIMING.idle_s) == [game.code]
    same, playing = store.update(game.code, lambda g: g.playing(), T0 + 9)
    assert playing == 0 and same == stored and store.get(game.code) == stored, "nothing written"


def test_concurrent_changes_are_never_lost(store: MemoryStore | RedisStore) -> None:
    game = make_game()
    store.create(game)
    workers, each = 8, 10

    def join(n: int) -> None:
        for k in range(each):
            name = f"p{n}-{k}"
            store.update(game.code, lambda g, name=name: g.add_player(name, "t", "s-" + name, 500), T0)

    threads = [threading.Thread(target=join, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    stored = store.get(game.code)
    assert len(stored.players) == workers * each
    assert stored.revision == workers * each
