"""Collected drawings (realtime.collect): database URLs, SQLite's journal, clean words, the export's folder.

The table and the writer on SQLite and on a real PostgreSQL are in tests/services/test_collect_database.py;
a server that collects in tests/process/test_collect_server.py; the export and a training run on it in
tests/training/test_collected_export.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from realtime.collect.store import DEFAULT_SQLITE, DrawingStore, clean_word, database_url, make_engine
from realtime.core.errors import InputError
from tests.support.collected import kept
from trainer.collected import ExportError, export


def test_sqlite_is_in_wal_mode(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'sub' / 'drawings.sqlite3'}")
    DrawingStore(engine).prepare()
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", f"sqlite:///{DEFAULT_SQLITE}"),
        ("postgres://u:p@db:5432/x", "postgresql+psycopg://u:p@db:5432/x"),
        ("postgresql://u@db/x", "postgresql+psycopg://u@db/x"),
        ("sqlite:////srv/d.db", "sqlite:////srv/d.db"),
    ],
)
def test_database_urls(raw: str, expected: str) -> None:
    assert database_url(raw) == expected


def test_words_are_cleaned_and_bad_ones_refused() -> None:
    assert clean_word("  The  Eiffel Tower ") == "the eiffel tower"
    for bad in ("", "<b>cat</b>", "x" * 65, None, 3, "cat\n; drop table"):
        with pytest.raises(InputError):
            clean_word(bad)


def test_the_export_clears_only_a_folder_it_wrote(tmp_path: Path) -> None:
    others = tmp_path / "strokes"
    (others / "raw").mkdir(parents=True)
    (others / "raw" / "cat.ndjson").write_text("{}\n")
    store = DrawingStore(make_engine(f"sqlite:///{tmp_path / 'drawings.sqlite3'}"))
    with pytest.raises(ExportError, match="no export wrote"):
        export(store, others)
    assert (others / "raw" / "cat.ndjson").read_text() == "{}\n"
    store.insert([kept("cat"), kept("dog", [[[5.0], [5.0], [0]]])])  # the dog is a single dot
    out = tmp_path / "collected"
    for _ in range(2):  # a second export into the first one's folder replaces it
        assert export(store, out) == {"cat": 1}
        assert [p.name for p in (out / "raw").iterdir()] == ["cat.ndjson"]
        assert [p.name for p in (out / "simplified").iterdir()] == ["cat.ndjson"]
