"""Collected drawings (COLLECT_DRAWINGS=1): one table in a real database, and what goes into it.

`DATABASE_URL` picks the database: unset, a SQLite file under data/ (WAL mode); otherwise any SQLAlchemy
URL, `postgres://` (what Heroku's Postgres add-on sets) included. The schema is Alembic's (migrations/),
brought up to date when the server starts. Nothing identifying is stored: no address, no user agent, no
name from a room, only the drawing, its word and what the model made of it.

The calls of `DrawingStore` block: the server makes them off the event loop (realtime.collect.collector).
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterator, Sequence
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
from sqlalchemy.pool import NullPool

from realtime.core.errors import InputError
from realtime.core.protocol import Limits, parse_strokes
from realtime.infra.concurrency import os_thread_lock

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SQLITE = ROOT / "data" / "drawings.sqlite3"
MIGRATIONS = ROOT / "migrations"
MAX_WORD = 64
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
