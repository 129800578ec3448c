"""Where games live: in this process, or in Redis when the server processes share a message queue.

Both stores do the same thing: `update` reads a game, applies a change and writes it back atomically, so
two processes (or two green threads) changing one room never lose each other's change. Whether there is
anything to write is the store's business, not the change's: it compares the game before and after, and
saves any difference with a new revision (a change that changes nothing writes nothing). `due` lists the
games whose deadline (`Game.deadline`) has passed, for whichever process's clock gets there first.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from redis import Redis, WatchError

from realtime.core.errors import InputError
from realtime.game.rules import Game, Timing

T = TypeVar("T")
KEY = "realtime:game:"
DUE = "realtime:games:due"  # sorted set: game code -> its next deadline
KEEP_S = 3600.0  # Redis forgets a game this long after its idle deadline, whatever happens to the processes


class Deleted(Exception):
    """Raised by a change to delete the game."""


class Store(Protocol):
    """What the game coordinator needs of a store."""

    timing: Timing

    def create(self, game: Game) -> bool: ...

    def get(self, code: str) -> Game | None: ...

    def update(self, code: str, change: Callable[[Game], T], now: float) -> tuple[Game, T]: ...

    def due(self, now: float) -> list[str]: ...

    def drop_due(self, code: str) -> None: ...


def no_such_room() -> InputError:
    """Return the error for a room that does not exist (never did, expired, or closed long ago)."""
    return InputError("room_not_found", "no such room: it may have expired, or the code is mistyped")


def _mark_if_changed(game: Game, before: str, now: float) -> bool:
    """Tell whether a change left `game` different from its JSON `before`; if so, mark it changed at `now`."""
    if game.to_json() == before:
        return False
    game.revision += 1
    game.touched_at = now
    return True


class MemoryStore:
    """Games in this process's memory: one server process on its own."""

    def __init__(self, timing: Timing) -> None:
        self.timing = timing
        self._games: dict[str, str] = {}  # code -> JSON: every update works on a copy, as in Redis
        self._due: dict[str, float] = {}
        self._lock = threading.Lock()

    def create(self, game: Game) -> bool:
        """Store a new game; False if its code is taken."""
        with self._lock:
            if game.code in self._games:
                return False
            self._write(game)
            return True

    def get(self, code: str) -> Game | None:
        """Return a copy of a game, or None."""
        text = self._games.get(code)
        return None if text is None else Game.from_json(text)

    def update(self, code: str, change: Callable[[Game], T], now: float) -> tuple[Game, T]:
        """Apply `change` to a game at `now` and store the result; `room_not_found` when there is none.

        A change that raises changes nothing; one that raises `Deleted` deletes the game.
        """
        with self._lock:
            text = self._games.get(code)
            if text is None:
                raise no_such_room()
            game = Game.from_json(text)
            before = game.to_json()
            try:
                result = change(game)
            except Deleted:
                del self._games[code]
                self._due.pop(code, None)
                raise
            if _mark_if_changed(game, before, now):
                self._write(game)
            return game, result

    def due(self, now: float) -> list[str]:
        """Return the codes of the games with something due at `now`."""
        with self._lock:
            return [code for code, at in self._due.items() if at <= now]

    def drop_due(self, code: str) -> None:
        """Stop offering a game as due (its changes fail); it stays until it is deleted or changed."""
        with self._lock:
            self._due.pop(code, None)

    def _write(self, game: Game) -> None:
        self._games[game.code] = game.to_json()
        self._due[game.code] = game.deadline(self.timing)


class RedisStore:
    """Games in Redis, shared by every server process of a cluster (optimistic transactions: WATCH)."""

    def __init__(self, redis: Redis, timing: Timing) -> None:
        self.redis = redis
        self.timing = timing

    def create(self, game: Game) -> bool:
        """Store a new game; False if its code is taken."""
        if not self.redis.set(KEY + game.code, game.to_json(), nx=True, ex=self._ttl()):
            return False
        with self.redis.pipeline() as pipe:
            self._schedule(pipe, game)
            pipe.execute()
        return True

    def get(self, code: str) -> Game | None:
        """Return a game, or None."""
        text = self.redis.get(KEY + code)
        return None if text is None else Game.from_json(text)

    def update(self, code: str, change: Callable[[Game], T], now: float) -> tuple[Game, T]:
        """Apply `change` to a game at `now` atomically (again, if another process changed it meanwhile)."""
        key = KEY + code
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    text = pipe.get(key)
                    if text is None:
                        pipe.unwatch()
                        self.redis.zrem(DUE, code)  # expired by Redis itself: no longer due either
                        raise no_such_room()
                    game = Game.from_json(text)
                    before = game.to_json()
                    try:
                        result = change(game)
                    except Deleted:
                        pipe.multi()
                        pipe.delete(key)
                        pipe.zrem(DUE, code)
                        pipe.execute()
                        raise
                    if not _mark_if_changed(game, before, now):
                        pipe.unwatch()
                        return game, result
                    pipe.multi()
                    pipe.set(key, game.to_json(), ex=self._ttl())
                    self._schedule(pipe, game)
                    pipe.execute()
                    return game, result
                except WatchError:  # another process changed the game first: read it again, soon
                    time.sleep(random.uniform(0.0, 0.005))

    def due(self, now: float) -> list[str]:
        """Return the codes of the games with something due at `now`."""
        return [code.decode() for code in self.redis.zrangebyscore(DUE, "-inf", now)]

    def drop_due(self, code: str) -> None:
        """Stop offering a game as due (its changes fail); Redis forgets it at its TTL."""
        self.redis.zrem(DUE, code)

    def _schedule(self, pipe: Any, game: Game) -> None:
        pipe.zadd(DUE, {game.code: game.deadline(self.timing)})

    def _ttl(self) -> int:
        return int(self.timing.idle_s + KEEP_S)
