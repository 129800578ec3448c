"""A room's taught words in the game's two stores (realtime.game.rooms), the Redis one on a real
redis-server: written with the game in one transaction, read back whole, expiring and deleted with it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from redis import Redis

from harness.processes import RedisProcess
from realtime.core.errors import InputError
from realtime.game import rooms
from realtime.game.rooms import WORDS, Deleted, MemoryStore, RedisStore
from realtime.game.rules import Game, Timing
from realtime.game.words import Entry
from tests.support.games import T0, TIMING, make_game, refused

ENTRY: Entry = {"word": "Spiral", "examples": [{"bitmap": "AAAA", "strokes": [[[1, 2], [3, 4], [0, 5]]]}]}


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    """A private redis-server for this module."""
    server = RedisProcess(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis(redis_server: RedisProcess) -> Iterator[Redis]:
    client = Redis.from_url(redis_server.url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> MemoryStore | RedisStore:
    """Each store, empty."""
    if request.param == "memory":
        return MemoryStore(TIMING)
    return RedisStore(request.getfixturevalue("redis"), TIMING)


def choose(entries: list[Entry]):
    """Return a change that makes `entries` the room's taught words (and its only prompts)."""

    def change(game: Game, room: list[Entry]) -> list[Entry]:
        game.choose_words([entry["word"] for entry in entries] or ["cat"], [e["word"] for e in entries])
        return entries

    return change


def test_a_rooms_words_are_written_with_the_game_and_read_back(store: MemoryStore | RedisStore) -> None:
    game = make_game()
    store.create(game)
    assert store.words(game.code) == (0, [])
    chosen = store.update_words(game.code, choose([ENTRY]), T0 + 1)
    assert (chosen.taught, chosen.taught_rev, chosen.revision) == (["Spiral"], 1, 1)
    assert store.get(game.code) == chosen
    assert store.words(game.code) == (1, [ENTRY])
    seen: list[list[Entry]] = []

    def keep(g: Game, room: list[Entry]) -> list[Entry]:
        seen.append(room)
        raise InputError("no", "refused")

    with pytest.raises(InputError):
        store.update_words(game.code, keep, T0 + 2)
    assert seen == [[ENTRY]], "the change is given the room's words"
    assert store.get(game.code) == chosen, "a refusal writes nothing"
    assert store.words(game.code) == (1, [ENTRY])
    store.update_words(game.code, choose([]), T0 + 3)
    assert store.words(game.code) == (0, []), "no taught word: no entry"
    refused("room_not_found", store.update_words, "AAAAAAAA", choose([ENTRY]), T0)


def test_a_rooms_words_are_deleted_with_it(store: MemoryStore | RedisStore) -> None:
    game = make_game()
    store.create(game)
    store.update_words(game.code, choose([ENTRY]), T0 + 1)

    def delete(g: Game) -> None:
        raise Deleted()

    with pytest.raises(Deleted):
        store.update(game.code, delete, T0 + 2)
    assert store.words(game.code) == (0, [])


def test_in_redis_a_rooms_words_live_exactly_as_long_as_the_game(redis: Redis) -> None:
    store = RedisStore(redis, TIMING)
    game = make_game()
    store.create(game)
    store.update_words(game.code, choose([ENTRY]), T0 + 1)
    key = rooms.KEY + game.code
    assert redis.ttl(WORDS + game.code) == redis.ttl(key) > 0
    redis.expire(WORDS + game.code, 5)
    store.update(game.code, lambda g: g.add_player("Ann", "t", "s", 60), T0 + 2)
    assert redis.ttl(WORDS + game.code) == redis.ttl(key) > 5, "every change of the game renews both"


def test_in_redis_a_rooms_words_expire_with_the_game(redis: Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rooms, "KEEP_S", 0.0)
    store = RedisStore(redis, Timing(host_grace_s=1.0, empty_s=1.0, idle_s=1.0))
    game = make_game()
    store.create(game)
    store.update_words(game.code, choose([ENTRY]), T0 + 1)
    assert redis.exists(WORDS + game.code)
    time.sleep(2.2)  # past the TTL: Redis forgets both, whatever the processes do
    assert store.get(game.code) is None and store.words(game.code) == (0, [])
    refused("room_not_found", store.update_words, game.code, choose([ENTRY]), T0 + 3)


def test_in_redis_a_change_of_the_words_by_another_process_meanwhile_is_never_lost(redis: Redis) -> None:
    store = RedisStore(redis, TIMING)
    game = make_game()
    store.create(game)
    other = {"word": "Zigzag", "examples": ENTRY["examples"]}
    calls = []

    def late(g: Game, room: list[Entry]) -> list[Entry]:
        calls.append(list(room))
        if len(calls) == 1:  # another process chooses the words between this one's read and write
            store.update_words(game.code, choose([other]), T0 + 1)
        g.choose_words(["Spiral", *(e["word"] for e in room)], ["Spiral", *(e["word"] for e in room)])
        return [ENTRY, *room]

    chosen = store.update_words(game.code, late, T0 + 2)
    assert calls == [[], [other]], "read again after the other process's write"
    assert chosen.taught == ["Spiral", "Zigzag"] and chosen.taught_rev == 2
    assert store.words(game.code) == (2, [ENTRY, other])
