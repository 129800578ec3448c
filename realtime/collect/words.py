"""The deployment's taught words (with ADMIN_TOKEN): one table in the collected drawings' database, shared by
every process through Redis.

A word is kept with its examples as the model saw them (28×28 bitmaps, stored as base64 of their 784 bytes)
and as they were drawn (Quick, Draw! raw strokes, `[]` for an image), as JSON text: never pickled. Words are
told apart casefolded (`key`), as the teacher tells them apart. `KeptWords` is what realtime.model.teacher
calls its `WordKeeper`: the table, and the announcement of every change on the Redis channel
`realtime:words`, which every process hears and answers by reading that word again (`changed`).
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import numpy as np
from redis import RedisError
from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from realtime.collect.store import metadata, migrate, new_key_id, utc
from realtime.core.errors import InputError
from realtime.infra.concurrency import os_thread_lock
from realtime.infra.redis import RedisClients

log = logging.getLogger(__name__)

CHANNEL = "realtime:words"
RETRY_MAX_S = 30.0  # a lost Redis connection or database is tried again after 1, 2, 4, ... up to this
MAX_WORD = 64  # characters of a word as shown (the teacher allows 24)
MAX_KEY = 256  # its casefolded key: casefolding may lengthen it (ß → ss, ﬃ → ffi)
SIDE = 28
DATABASE_DOWN = "the server's taught words are unreachable for now: try again later"

taught_words = Table(
    "taught_words",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("word", String(MAX_WORD), nullable=False),  # as the teacher typed it
    Column("key", String(MAX_KEY), nullable=False, unique=True),  # word.casefold()
    # JSON text: [{bitmap: base64 of 784 uint8, strokes: [[xs], [ys], [ts]], key_id}], oldest first
    Column("examples", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


def encode_bitmap(bitmap: Any) -> str:
    """Return a 28×28 uint8 bitmap as base64 of its 784 bytes; refuse any other shape or type."""
    pixels = np.asarray(bitmap)
    if pixels.shape != (SIDE, SIDE) or pixels.dtype != np.uint8:
        raise ValueError(f"a bitmap is {SIDE}×{SIDE} uint8, not {pixels.shape} {pixels.dtype}")
    return base64.b64encode(pixels.tobytes()).decode("ascii")


def decode_bitmap(text: str) -> np.ndarray:
    """Return the 28×28 uint8 bitmap `encode_bitmap` wrote."""
    raw = base64.b64decode(text, validate=True)
    if len(raw) != SIDE * SIDE:
        raise ValueError(f"a bitmap has {SIDE * SIDE} bytes, not {len(raw)}")
    return np.frombuffer(raw, np.uint8).reshape(SIDE, SIDE).copy()


def ndjson_line(word: str, example: dict[str, Any], kept_at: datetime) -> str:
    """Return one Quick, Draw! raw-format ndjson line for an example, with the collected drawings' fields."""
    fields = {
        "word": word,
        "countrycode": "",  # nothing identifying is kept
        "timestamp": kept_at.isoformat(),
        "recognized": False,  # taught, not recognised by any model
        "key_id": example["key_id"],
        "drawing": example["strokes"],
    }
    return json.dumps(fields, separators=(",", ":")) + "\n"


class TaughtWordStore:
    """The table of kept words: blocking calls, made from an OS thread (never the event loop).

    One call at a time, under a lock between OS threads, as the collected drawings' store does.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._prepared = False
        self._lock = os_thread_lock()

    def prepare(self) -> None:
        """Bring the schema up to date, once (every other call does this first)."""
        with self._lock:
            self._prepare()

    def _prepare(self) -> None:
        if not self._prepared:
            migrate(self.engine)
            self._prepared = True

    @contextmanager
    def _connection(self, write: bool = False) -> Iterator[Connection]:
        """Hold the lock, with the schema up to date, around one connection (a transaction to `write`)."""
        with self._lock:
            self._prepare()
            with self.engine.begin() if write else self.engine.connect() as connection:
                yield connection

    def _rows(self) -> list[dict[str, Any]]:
        """Return every word's row, oldest first, its examples parsed (a row that is not is left out)."""
        with self._connection() as connection:
            rows = [
                dict(row._mapping)
                for row in connection.execute(select(taught_words).order_by(taught_words.c.id))
            ]
        parsed = []
        for row in rows:
            try:
                row["examples"] = [
                    {**example, "bitmap": decode_bitmap(example["bitmap"])}
                    for example in json.loads(row["examples"])
                ]
            except (ValueError, KeyError, TypeError) as exc:
                log.error("the kept word %r cannot be read, left out: %s", row["word"], exc)
                continue
            row["created_at"], row["updated_at"] = utc(row["created_at"]), utc(row["updated_at"])
            parsed.append(row)
        return parsed

    def load(self) -> list[dict[str, Any]]:
        """Return every kept word, oldest first: `{word, examples: [{bitmap: (28, 28) uint8, strokes}]}`."""
        return [
            {
                "word": row["word"],
                "examples": [{"bitmap": e["bitmap"], "strokes": e["strokes"]} for e in row["examples"]],
            }
            for row in self._rows()
        ]

    def keep(self, word: str, examples: list[dict[str, Any]]) -> None:
        """Keep a word and its examples, replacing a word of the same casefolded name."""
        if not examples:
            raise ValueError("a word is kept with its examples")
        # Each example's key_id is fixed now: the export names it the same every time.
        stored = json.dumps(
            [
                {
                    "bitmap": encode_bitmap(e["bitmap"]),
                    "strokes": e.get("strokes") or [],
                    "key_id": new_key_id(),
                }
                for e in examples
            ],
            separators=(",", ":"),
        )
        now = datetime.now(UTC)
        key = word.casefold()
        replace = update(taught_words).where(taught_words.c.key == key)
        replace = replace.values(word=word, examples=stored, updated_at=now)
        row = {"word": word, "key": key, "examples": stored, "created_at": now, "updated_at": now}
        try:
            with self._connection(write=True) as connection:
                if connection.execute(replace).rowcount == 0:
                    connection.execute(insert(taught_words), [row])
        except IntegrityError:  # another process kept the same word between our update and insert
            with self._connection(write=True) as connection:
                connection.execute(replace)

    def forget(self, word: str) -> bool:
        """Delete a kept word (by its casefolded name); False when there was none."""
        query = delete(taught_words).where(taught_words.c.key == word.casefold())
        with self._connection(write=True) as connection:
            return connection.execute(query).rowcount == 1

    def listing(self) -> list[dict[str, Any]]:
        """Return every kept word for the admin page: its bitmaps, how many examples have strokes, when."""
        return [
            {
                "word": row["word"],
                "bitmaps": [e["bitmap"] for e in row["examples"]],
                "with_strokes": sum(1 for e in row["examples"] if e["strokes"]),
                "created_at": row["created_at"],
                "updated_at": row["updated_at"],
            }
            for row in self._rows()
        ]

    def export(self) -> tuple[list[str], int]:
        """Return every example drawn with strokes as a Quick, Draw! raw ndjson line, and how many were not
        (an image taught as a snapshot has no strokes: there is nothing to write for it)."""
        lines, skipped = [], 0
        for row in self._rows():
            for example in row["examples"]:
                if example["strokes"]:
                    lines.append(ndjson_line(row["word"], example, row["updated_at"]))
                else:
                    skipped += 1
        return lines, skipped


class KeptWords:
    """The deployment's words (the teacher's `WordKeeper`): the table, and every change told to every process.

    With Redis, each keep and forget is announced on `realtime:words` and every process (this one too) hears
    it and calls `changed([word])`; without, this process calls it itself. The table's calls run through
    `run_blocking` (an OS thread under eventlet). Live guessing never depends on the database: while it is
    down, `load` returns the words last read (a hot reload embeds them again) and a background task reads
    every word again, with backoff, until it answers; keeping or forgetting a word is refused with the
    InputError `database_unreachable`, which the teacher sends the client.
    """

    def __init__(
        self,
        store: TaughtWordStore,
        run_blocking: Callable[..., Any],
        start_task: Callable[..., Any],
        redis: RedisClients | None = None,
    ) -> None:
        self.store = store
        self.run_blocking = run_blocking
        self.start_task = start_task
        # Announcing must fail fast; listening waits for as long as it takes (as the model switcher's).
        self.redis = redis.quick() if redis else None
        self.subscriber = redis.subscriber() if redis else None
        # Read the words named again (None: every word); the server sets it to the teacher's `reload`.
        self.changed: Callable[[list[str] | None], None] = lambda names: None
        self._last: list[dict[str, Any]] | None = None  # the words last read from the table
        self._stale = False  # `load` returned the words last read: the table did not answer
        self._repairing = False  # the task that reads every word again until the table answers runs
        self._listener: Any = None

    def load(self) -> list[dict[str, Any]]:
        """Return every kept word: `{word, examples: [{bitmap: (28, 28) uint8, strokes}]}` (the words last
        read while the database does not answer; `database_unreachable` if none was ever read)."""
        try:
            words = self._call(self.store.load)
        except InputError:
            if self._last is None:
                raise
            self._stale = True
            self._repair()
            return self._last
        self._last = words
        return words

    def keep(self, word: str, examples: list[dict[str, Any]]) -> None:
        """Keep a word (replacing one of that name) and tell every process."""
        self._call(self.store.keep, word, examples)
        self._announce(word)

    def forget(self, word: str) -> bool:
        """Delete a kept word and tell every process; False when there was none."""
        if not self._call(self.store.forget, word):
            return False
        self._announce(word)
        return True

    def start(self) -> None:
        """Read every kept word (`changed(None)`), then follow the changes of every process.

        Subscribed before reading, so that nothing announced meanwhile is missed. A database or Redis that
        is unreachable now is not waited for: background tasks try again with backoff.
        """
        if self._listener is not None:
            return
        pubsub = None
        if self.subscriber is not None:
            try:
                pubsub = self._subscribe()
            except RedisError as exc:
                log.warning("Redis is unreachable (%s): no taught word is heard until it is back", exc)
        self._refresh(None)
        if self.subscriber is not None:
            self._listener = self.start_task(self._follow, pubsub)

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a call of the table off the event loop; a database error becomes `database_unreachable`."""
        try:
            return self.run_blocking(fn, *args)
        except SQLAlchemyError as exc:
            # Once per outage: the repair's tries say nothing more until it answers again.
            (log.debug if self._repairing else log.warning)("the taught words' database failed: %s", exc)
            raise InputError("database_unreachable", DATABASE_DOWN) from exc

    def _announce(self, word: str) -> None:
        """Tell every process that `word` changed; this one alone when Redis cannot tell the others."""
        if self.redis is not None:
            try:
                if self.redis.publish(CHANNEL, json.dumps({"word": word})):
                    return  # this process hears it too
                log.warning("no process listens for taught words yet: %r changes here only for now", word)
            except RedisError as exc:
                # The others read every word again when their listener is back (`_follow`).
                log.warning("Redis is unreachable (%s): %r changes here only for now", exc, word)
        self._refresh([word])

    def _refresh(self, names: list[str] | None) -> bool:
        """Call `changed(names)`; True when it read the table. Otherwise (a failure is logged, never raised)
        every word is read again in the background until the table answers."""
        self._stale = False
        try:
            self.changed(names)
        except InputError:  # the database's failure, said already
            self._stale = True
        except Exception:
            log.exception("taught words not read")
            self._stale = True
        if self._stale:
            self._repair()
        return not self._stale

    def _repair(self) -> None:
        """Start reading every word again in the background until the table answers (once at a time)."""
        if not self._repairing:
            self._repairing = True
            log.warning("taught words may be out of date: reading them again once the database answers")
            self.start_task(self._read_until_answered)

    def _read_until_answered(self) -> None:
        """Read every word again after 1, 2, 4, ... up to RETRY_MAX_S seconds, until the table answers."""
        delay = 1.0
        try:
            while True:
                time.sleep(delay)
                self._stale = False
                try:
                    self.changed(None)
                except Exception as exc:  # said once, when the repair started: tried again, quietly
                    log.debug("taught words still not read: %s", exc)
                    self._stale = True
                if not self._stale:
                    log.warning("taught words read again: the database answers")
                    return
                delay = min(2 * delay, RETRY_MAX_S)
        finally:
            self._repairing = False

    def _subscribe(self) -> Any:
        """Return a subscription to the channel (its confirmations included: see `_read`)."""
        assert self.subscriber is not None
        pubsub = self.subscriber.pubsub()
        pubsub.subscribe(CHANNEL)
        return pubsub

    def _follow(self, pubsub: Any) -> None:
        """Read again every word announced; on a lost Redis connection, say so once and retry with backoff;
        once it is back, read every word again (changes were announced while it was away)."""
        delay, failing = 1.0, pubsub is None
        while True:
            try:
                if pubsub is None:
                    pubsub = self._subscribe()
                    if failing:
                        log.warning("Redis is reachable again: taught words are heard again")
                    self._refresh(None)
                delay, failing = 1.0, False
                try:
                    self._read(pubsub)
                finally:
                    pubsub.close()
                    pubsub = None
            except RedisError as exc:
                if not failing:
                    log.warning("Redis is unreachable (%s): no taught word is heard until it is back", exc)
                failing = True
                time.sleep(delay)
                delay = min(2 * delay, RETRY_MAX_S)

    def _read(self, pubsub: Any) -> None:
        """Apply the announcements of one subscription for as long as it lasts (RedisError ends it).

        redis-py reconnects by itself after a short outage and subscribes again: a second confirmation of
        the subscription says so, and that changes may have been announced meanwhile.
        """
        confirmations = 0
        while True:
            message = pubsub.get_message(timeout=None)
            kind = message.get("type") if message else None
            if kind == "subscribe":
                confirmations += 1
                if confirmations > 1:
                    self._refresh(None)
            elif kind == "message":
                self._refresh(self._names(message["data"]))

    @staticmethod
    def _names(data: bytes | str) -> list[str] | None:
        """Return the word an announcement names (None, every word, when it names none)."""
        try:
            word = json.loads(data)["word"]
        except (ValueError, KeyError, TypeError):
            word = None
        if not isinstance(word, str):
            log.error("an announcement of taught words names no word: %r; reading them all", data)
            return None
        return [word]
