"""Collected drawings kept in a database: the table on SQLite and on a real PostgreSQL, and the writer's
buffer while the database is down or refuses a drawing.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from realtime.collect.collector import Collector
from realtime.collect.store import PAGE_SIZE, DrawingStore, database_url, make_engine
from realtime.infra.metrics import Metrics
from tests.support.collected import cat, kept, rows, wait_for
from tests.support.postgres import PostgresProcess


def test_the_table_keeps_lists_pages_relabels_and_deletes(db_url: str) -> None:
    store = DrawingStore(make_engine(database_url(db_url)))
    store.prepare()
    store.prepare()  # the migrations run once; running them again changes nothing
    store.insert([kept("cat") for _ in range(3)] + [kept("camel", recognized=False) for _ in range(50)])
    assert store.words() == [("camel", 50), ("cat", 3)]
    page, total = store.page("camel", 0)
    assert total == 50 and len(page) == PAGE_SIZE
    assert len(store.page("camel", 1)[0]) == 2 and store.page("camel", 2)[0] == []
    assert page[0]["id"] > page[-1]["id"], "newest first"
    first = page[0]
    assert first["drawing"] == cat() and first["recognized"] is False and first["top"][0]["label"] == "camel"
    assert len({row["key_id"] for row in store.everything()}) == 53, "key_ids are unique"
    assert store.relabel(first["id"], "dog") and store.words()[-1] == ("dog", 1)
    assert store.delete(first["id"]) and not store.delete(first["id"])
    assert not store.relabel(first["id"], "dog")
    assert store.words() == [("camel", 49), ("cat", 3)]


# --- the writer -----------------------------------------------------------------------------------------


def collector(url: str, max_buffer: int = 100) -> tuple[Collector, Metrics]:
    """A collector on plain threads, as in the server's threading mode."""
    metrics = Metrics()

    def start(task) -> threading.Thread:
        thread = threading.Thread(target=task, daemon=True)
        thread.start()
        return thread

    store = DrawingStore(make_engine(database_url(url)))
    return Collector(store, lambda f, *a: f(*a), start, time.sleep, metrics, max_buffer), metrics


def test_the_writer_keeps_drawings_while_the_database_is_down(postgres: PostgresProcess) -> None:
    url = postgres.url
    before = len(rows(url))
    writer, metrics = collector(url, max_buffer=5)
    writer.store.prepare()
    postgres.stop()
    try:
        for n in range(7):
            writer.keep(kept(f"word {n}"))
        time.sleep(1.0)
        assert len(writer.buffer) == 5, "waiting, not lost"
        assert metrics.collect_dropped._value.get() == 2, "the two over the buffer are counted"
    finally:
        postgres.start()
    back = datetime.now(UTC)
    assert wait_for(lambda: not writer.buffer, 40), "written once the database is back"
    written = rows(url)[before:]
    assert sorted(row["word"] for row in written) == [f"word {n}" for n in range(5)]
    assert metrics.collected._value.get() == 5
    assert all(row["created_at"] < back for row in written), "dated when kept, not when written"


def test_a_drawing_the_database_refuses_does_not_hold_up_the_others(postgres: PostgresProcess) -> None:
    writer, metrics = collector(postgres.url)
    before = len(rows(postgres.url))
    writer.keep(kept("cat"))
    writer.keep(kept("x" * 100))  # longer than the column: PostgreSQL refuses it, every time
    writer.keep(kept("dog"))
    assert wait_for(lambda: not writer.buffer, 20)
    assert sorted(row["word"] for row in rows(postgres.url)[before:]) == ["cat", "dog"]
    assert metrics.collect_dropped._value.get() == 1 and metrics.collected._value.get() == 2


def test_a_flush_writes_everything_left(db_url: str) -> None:
    writer, _ = collector(db_url, max_buffer=1000)
    writer.start_task = lambda task: None  # no writer task: only the flush writes
    for n in range(450):
        writer.keep(kept("cat" if n % 2 else "dog"))
    assert writer.flush(20.0) == 0
    assert len(rows(db_url)) == 450
