"""Collected drawings (COLLECT_DRAWINGS=1): one table in a real database, written off the event loop.

`DATABASE_URL` picks the database: unset, a SQLite file under data/ (WAL mode); otherwise any SQLAlchemy
URL, `postgres://` (what Heroku's Postgres add-on sets) included. The schema is Alembic's (migrations/),
brought up to date when the server starts. Nothing identifying is stored: no address, no user agent, no
name from a room, only the drawing, its word and what the model made of it.

`Collector` keeps drawings in a bounded buffer and hands them to the database in batches from a background
task, through the app's blocking caller (eventlet's OS thread pool, or a plain thread), so that a slow or
unreachable database never holds up a live guess. When the buffer is full, new drawings are dropped and
counted (`realtime_collected_drawings_dropped_total`); a clean shutdown writes what is left.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.pool import NullPool

from realtime.core.errors import InputError
from realtime.core.protocol import Limits, parse_strokes
from realtime.infra.concurrency import os_thread_lock

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SQLITE = ROOT / "data" / "drawings.sqlite3"
MIGRATIONS = ROOT / "migrations"
MAX_WORD = 64
BATCH = 200  # drawings per write
RETRY_MAX_S = 10.0  # a failing database is tried again after 1, 2, 4, ... up to this many seconds
DB_TIMEOUT_S = 5.0  # the longest a connection attempt or a statement may take
PAGE_SIZE = 48  # drawings per page of the review
MAX_TIME_MS = 10 * 60 * 1000  # a drawing's times: at most ten minutes from its first point

metadata = MetaData()
drawings = Table(
    "drawings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key_id", String(20), nullable=False, unique=True),  # as the Quick, Draw! files name drawings
    Column("word", String(MAX_WORD), nullable=False, index=True),
    Column("drawing", JSON, nullable=False),  # raw Quick, Draw! form: [[xs], [ys], [ts]] per stroke
    Column("recognized", Boolean, nullable=False),  # the model's top guess was the word, and it was sure
    Column("source", String(8), nullable=False),  # "play" (a game's round) or "page" (the results page)
    Column("model", String(128), nullable=False),  # the model version that guessed
    Column("top", JSON, nullable=False),  # its guesses: [{label, p}, ...]
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
)


def database_url(raw: str) -> str:
    """Return the SQLAlchemy URL for DATABASE_URL (empty: data/'s SQLite file; PostgreSQL: psycopg 3)."""
    if not raw:
        return f"sqlite:///{DEFAULT_SQLITE}"
    for prefix in ("postgres://", "postgresql://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix) :]
    return raw


def make_engine(url: str) -> Engine:
    """Create the engine: SQLite in WAL mode (its folder made); PostgreSQL with every wait bounded.

    No connection pool: a connection per call (a batch of waiting drawings, or a click in the review) costs
    little, and a pool's locks would be eventlet's green locks, which OS threads (where
    these calls run) must not contend for.
    """
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, poolclass=NullPool, connect_args={"timeout": DB_TIMEOUT_S})

        @event.listens_for(engine, "connect")
        def wal(connection: Any, _: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        return engine
    connect_args: dict[str, Any] = {}
    if url.startswith("postgresql"):
        # A database that stops answering (a dropped network path) is given up on within seconds.
        connect_args = {
            "connect_timeout": int(DB_TIMEOUT_S),
            "keepalives": 1,
            "keepalives_idle": 5,
            "keepalives_interval": 2,
            "keepalives_count": 2,
            "tcp_user_timeout": int(DB_TIMEOUT_S * 1000),
            "options": f"-c statement_timeout={int(DB_TIMEOUT_S * 1000)}",
        }
    return create_engine(url, poolclass=NullPool, connect_args=connect_args)


def migrate(engine: Engine) -> None:
    """Bring the database's schema up to date with Alembic's migrations (migrations/)."""
    from alembic import command
    from alembic.config import Config as AlembicConfig

    logging.getLogger("alembic").setLevel(logging.WARNING)  # its INFO lines name every plugin, every start
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def clean_word(value: Any) -> str:
    """Return a word as Quick, Draw! spells them (lower case; letters, digits, spaces, ' and -), or refuse."""
    word = " ".join(value.lower().split()) if isinstance(value, str) and len(value) <= 200 else ""
    if not word or len(word) > MAX_WORD or not re.fullmatch(r"[a-z0-9 '\-]+", word):
        raise InputError("bad_word", f"a word is 1 to {MAX_WORD} letters, digits, spaces, ' and -")
    return word


def raw_drawing(value: Any, limits: Limits) -> tuple[list[np.ndarray], list]:
    """Check a drawing in Quick, Draw! raw form within the limits; return its points and the drawing to keep.

    Strokes are `[[xs], [ys], [ts]]`; a stroke without times is kept with times 0.
    """
    strokes = parse_strokes(value, limits)
    kept = []
    for stroke, given in zip(strokes, value, strict=True):
        times = given[2] if len(given) == 3 else None
        if times is None:
            times = [0] * len(stroke)
        if not isinstance(times, list) or len(times) != len(stroke):
            raise InputError("bad_strokes", "each stroke's times must be as many as its points")
        if not all(type(t) in (int, float) and 0 <= t <= MAX_TIME_MS for t in times):
            raise InputError("bad_strokes", f"times are milliseconds from 0 to {MAX_TIME_MS}")
        kept.append([stroke[:, 0].tolist(), stroke[:, 1].tolist(), [round(t) for t in times]])
    return strokes, kept


def new_key_id() -> str:
    """Return a fresh key_id: 19 digits, as in the Quick, Draw! files."""
    return str(secrets.randbelow(9 * 10**18) + 10**18)


@dataclass(frozen=True)
class Kept:
    """One drawing to keep (its key and time fixed when it is kept, not when it is written)."""

    word: str
    drawing: list  # raw Quick, Draw! form
    recognized: bool
    source: str
    model: str
    top: list[dict[str, Any]]
    key_id: str = field(default_factory=new_key_id)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def row(self) -> dict[str, Any]:
        """Return it as a row of the table."""
        return {
            "key_id": self.key_id,
            "word": self.word,
            "drawing": self.drawing,
            "recognized": self.recognized,
            "source": self.source,
            "model": self.model,
            "top": self.top,
            "created_at": self.created_at,
        }


class DrawingStore:
    """The table of collected drawings: blocking calls, made from an OS thread (never the event loop).

    One call at a time, under a lock between OS threads: the writer's batches and the review's clicks
    never contend inside SQLAlchemy, whose own locks eventlet has made green.
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

    def _rows(self, connection: Connection, query: Any) -> list[dict[str, Any]]:
        """Return a query's drawings as dicts, `created_at` in UTC."""
        rows = [dict(row._mapping) for row in connection.execute(query)]
        for row in rows:
            row["created_at"] = utc(row["created_at"])
        return rows

    def insert(self, kept: Sequence[Kept]) -> None:
        """Write drawings in one transaction."""
        with self._connection(write=True) as connection:
            connection.execute(insert(drawings), [k.row() for k in kept])

    def words(self) -> list[tuple[str, int]]:
        """Return every word with how many drawings it has, most first."""
        count = func.count(drawings.c.id)
        query = (
            select(drawings.c.word, count).group_by(drawings.c.word).order_by(count.desc(), drawings.c.word)
        )
        with self._connection() as connection:
            return [(word, n) for word, n in connection.execute(query)]

    def page(self, word: str | None, page: int, size: int = PAGE_SIZE) -> tuple[list[dict[str, Any]], int]:
        """Return one page of drawings (newest first), of one word or all, and how many there are."""
        where = [] if word is None else [drawings.c.word == word]
        query = select(drawings).where(*where).order_by(drawings.c.id.desc()).offset(page * size).limit(size)
        with self._connection() as connection:
            total = connection.execute(select(func.count(drawings.c.id)).where(*where)).scalar_one()
            rows = self._rows(connection, query)
        for row in rows:
            row["created_at"] = row["created_at"].isoformat()
        return rows, int(total)

    def relabel(self, drawing_id: int, word: str) -> bool:
        """Give a drawing another word; False if there is no such drawing."""
        query = update(drawings).where(drawings.c.id == drawing_id).values(word=word)
        with self._connection(write=True) as connection:
            return connection.execute(query).rowcount == 1

    def delete(self, drawing_id: int) -> bool:
        """Delete a drawing; False if there is no such drawing."""
        with self._connection(write=True) as connection:
            return connection.execute(delete(drawings).where(drawings.c.id == drawing_id)).rowcount == 1

    def everything(self) -> list[dict[str, Any]]:
        """Return every drawing, by word, oldest first (`created_at` in UTC)."""
        with self._connection() as connection:
            return self._rows(connection, select(drawings).order_by(drawings.c.word, drawings.c.id))


def utc(moment: datetime) -> datetime:
    """Return a time in UTC (SQLite gives back the stored UTC time without its zone)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class Collector:
    """The bounded buffer of drawings to keep and the background task that writes them in batches.

    Only the writer (or the flush at shutdown, while no batch is with the database) takes drawings out of
    the buffer, and only once the database has them; the database call itself runs through `run_blocking`
    (an OS thread under eventlet), so it never holds up the event loop. A drawing the database refuses for
    itself (a value it cannot store) is dropped and counted, so it cannot hold up the others.
    """

    def __init__(
        self,
        store: DrawingStore,
        run_blocking: Callable[..., Any],
        start_task: Callable[..., Any],
        sleep: Callable[[float], None],
        metrics: Any,
        max_buffer: int,
    ) -> None:
        self.store = store
        self.run_blocking = run_blocking
        self.start_task = start_task
        self.sleep = sleep
        self.metrics = metrics
        self.max_buffer = max_buffer
        self.buffer: deque[Kept] = deque()
        self.closing = False
        self.failing = False  # the last write failed: the database is unreachable
        self._writing = False  # a batch is with the database
        self._started = False  # the writer task has been started
        self._state = os_thread_lock()  # guards starting the writer, and the writer against the flush

    def keep(self, kept: Kept) -> None:
        """Queue a drawing to be written; dropped (and counted) when the buffer is full."""
        if len(self.buffer) >= self.max_buffer:
            self.metrics.collect_dropped.inc()
            return
        self.buffer.append(kept)
        self.metrics.collect_buffered.set(len(self.buffer))
        with self._state:
            start = not self._started and not self.closing
            self._started = self._started or start
        if start:
            self.start_task(self._run)

    def flush(self, deadline_s: float) -> int:
        """Stop the writer and write what is buffered, within `deadline_s`; return how many are left."""
        end = time.monotonic() + deadline_s
        with self._state:
            self.closing = True
        while self._writing and time.monotonic() < end:
            self.sleep(0.05)
        if self.failing:
            log.warning("the database is unreachable: %d collected drawings are lost", len(self.buffer))
            return len(self.buffer)
        try:
            while self.buffer and time.monotonic() < end and not self._writing:
                self._write(self.store.insert)
        except Exception as exc:
            log.warning("could not write the collected drawings at shutdown: %s", exc)
        if self.buffer:
            log.warning("%d collected drawings were not written", len(self.buffer))
        return len(self.buffer)

    def _write(self, insert: Callable[[list[Kept]], Any]) -> int:
        """Write one batch from the buffer with `insert`; return how many left it (0: none waiting)."""
        with self._state:
            if self._writing:
                return 0
            batch = [self.buffer[i] for i in range(min(BATCH, len(self.buffer)))]
            self._writing = bool(batch)
        if not batch:
            return 0
        try:
            try:
                insert(batch)
                written = len(batch)
            except (DataError, IntegrityError):  # one drawing the database will never take: find it
                written = 0
                for one in batch:
                    try:
                        insert([one])
                        written += 1
                    except (DataError, IntegrityError) as exc:
                        log.warning("the database refused a drawing of %r: %s", one.word, exc)
                        self.metrics.collect_dropped.inc()
        finally:
            self._writing = False
        for _ in batch:
            self.buffer.popleft()
        self.metrics.collect_buffered.set(len(self.buffer))
        self.metrics.collected.inc(written)
        return len(batch)

    def _run(self) -> None:
        """Write batches while any are waiting; on a failing database, wait longer and longer; never die."""
        delay = 1.0
        while not self.closing:
            try:
                written = self._write(lambda batch: self.run_blocking(self.store.insert, batch))
            except Exception as exc:
                if not self.failing:
                    log.warning("the database is unreachable (%s): drawings wait in the buffer", exc)
                self.failing = True
                self.sleep(delay)
                delay = min(2 * delay, RETRY_MAX_S)
                continue
            if self.failing:
                log.warning("the database is reachable again: writing the buffered drawings")
            delay, self.failing = 1.0, False
            if not written:
                self.sleep(0.5)
