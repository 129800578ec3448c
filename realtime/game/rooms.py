"""Where games live: in this process, or in Redis when the server processes share a message queue.

Both stores do the same thing: `update` reads a game, applies a change and writes it back atomically, so
two processes (or two green threads) changing one room never lose each other's change. Whether there is
anything to write is the store's business, not the change's: it compares the game before and after, and
saves any difference with a new revision (a change that changes nothing writes nothing). `due` lists the
games whose deadline (`Game.deadline`) has passed, for whichever process's clock gets there first.

A room's taught words (realtime.game.words) are an entry of their own beside the game: `update_words`
changes both in one transaction, and the entry expires and is deleted with the game.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any, NoReturn, Protocol, TypeVar

from redis import Redis, WatchError

from realtime.core.errors import InputError
from realtime.game import words
from realtime.game.rules import Game, Timing
from realtime.game.words import Entry

T = TypeVar("T")
KEY = "realtime:game:"
DUE = "realtime:games:due"  # sorted set: game code -> its next deadline
WORDS = "realtime:game-words:"  # + code: the room's taught words (realtime.game.words), as long as the game
# Changes a game and returns its new taught words, given the words it has (`update_words`).
WordsChange = Callable[[Game, list[Entry]], list[Entry]]
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

    def words(self, code: str) -> tuple[int, list[Entry]]: ...

    def update_words(self, code: str, change: WordsChange, now: float) -> Game: ...


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
        self._words: dict[str, str] = {}  # code -> the room's taught words (words.dump)
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
                self._words.pop(code, None)
                raise
            if _mark_if_changed(game, before, now):
                self._write(game)
            return game, result

    def words(self, code: str) -> tuple[int, list[Entry]]:
        """Return a room's taught words and the revision of the game that chose them ((0, []): none)."""
        return words.load(self._words.get(code))

    def update_words(self, code: str, change: WordsChange, now: float) -> Game:
        """Apply `change(game, its words)`, which returns the room's new words, to both at once."""
        with self._lock:
            text = self._games.get(code)
            if text is None:
                raise no_such_room()
            game = Game.from_json(text)
            before = game.to_json()
            entries = change(game, self.words(code)[1])
            if _mark_if_changed(game, before, now):
                self._write(game)
            if entries:
                self._words[code] = words.dump(game.taught_rev, entries)
            else:
                self._words.pop(code, None)
            return game

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
                        self._expired(code)
                    game = Game.from_json(text)
                    before = game.to_json()
                    try:
                        result = change(game)
                    except Deleted:
                        pipe.multi()
                        pipe.delete(key, WORDS + code)
                        pipe.zrem(DUE, code)
                        pipe.execute()
                        raise
                    if not _mark_if_changed(game, before, now):
                        pipe.unwatch()
                        return game, result
                    pipe.multi()
                    pipe.set(key, game.to_json(), ex=self._ttl())
                    if game.taught:  # the words live as long as the game
                        pipe.expire(WORDS + code, self._ttl())
                    self._schedule(pipe, game)
                    pipe.execute()
                    return game, result
                except WatchError:  # another process changed the game first: read it again, soon
                    time.sleep(random.uniform(0.0, 0.005))

    def words(self, code: str) -> tuple[int, list[Entry]]:
        """Return a room's taught words and the revision of the game that chose them ((0, []): none)."""
        return words.load(self.redis.get(WORDS + code))

    def update_words(self, code: str, change: WordsChange, now: float) -> Game:
        """Apply `change(game, its words)`, which returns the room's new words, to both atomically."""
        key, words_key = KEY + code, WORDS + code
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key, words_key)
                    text = pipe.get(key)
                    if text is None:
                        pipe.unwatch()
                        self._expired(code)
                    game = Game.from_json(text)
                    before = game.to_json()
                    entries = change(game, words.load(pipe.get(words_key))[1])
                    _mark_if_changed(game, before, now)
                    pipe.multi()
                    pipe.set(key, game.to_json(), ex=self._ttl())
                    if entries:
                        pipe.set(words_key, words.dump(game.taught_rev, entries), ex=self._ttl())
                    else:
                        pipe.delete(words_key)
                    self._schedule(pipe, game)
                    pipe.execute()
                    return game
                except WatchError:  # another process changed the game or its words first: again, soon
                    time.sleep(random.uniform(0.0, 0.005))

    def due(self, now: float) -> list[str]:
        """Return the codes of the games with something due at `now`."""
        return [code.decode() for code in self.redis.zrangebyscore(DUE, "-inf", now)]

    def drop_due(self, code: str) -> None:
        """Stop offering a game as due (its changes fail); Redis forgets it at its TTL."""
        self.redis.zrem(DUE, code)

    def _expired(self, code: str) -> NoReturn:
        """Refuse a game that Redis itself expired: no longer due either, and its words gone with it."""
        with self.redis.pipeline() as pipe:
            pipe.zrem(DUE, code)
            pipe.delete(WORDS + code)
            pipe.execute()
        raise no_such_room()

    def _schedule(self, pipe: Any, game: Game) -> None:
        pipe.zadd(DUE, {game.code: game.deadline(self.timing)})

    def _ttl(self) -> int:
        return int(self.timing.idle_s + KEEP_S)
