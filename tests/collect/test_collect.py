"""Collected drawings (COLLECT_DRAWINGS): the table on SQLite and on a real PostgreSQL, the writer's buffer,
a server that keeps game rounds and confirmed results, the review API, and the export the trainer reads.

PostgreSQL is Debian's, a throw-away cluster started here on 127.0.0.1 (tests/postgres.py) and stopped.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import requests
from sqlalchemy import create_engine, text

from harness.processes import ROOT, ServerProcess
from harness.quickdraw import canvas_png_data_url, drawings, raw_points
from realtime.collect.collector import Collector
from realtime.collect.store import (
    DEFAULT_SQLITE,
    PAGE_SIZE,
    DrawingStore,
    Kept,
    clean_word,
    database_url,
    make_engine,
)
from realtime.core import preprocess
from realtime.core.errors import InputError
from realtime.infra.metrics import Metrics
from tests.conftest import ServerLauncher
from tests.support.players import GameClient, known_drawings
from tests.support.postgres import PostgresProcess
from trainer.collected import ExportError, export

pytestmark = pytest.mark.slow
TOKEN = "collect-test-admin-token-0123456789"


@functools.cache
def cat() -> list:
    """A real cat as the page draws it (raw strokes with times); read when a test first asks for it."""
    return drawings("cat", "raw")[14]["drawing"]


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresProcess]:
    """A throw-away PostgreSQL for the module (in a folder the `postgres` user can reach)."""
    folder = Path(tempfile.mkdtemp(prefix="collect-pg-"))
    server = PostgresProcess(folder)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind, as DATABASE_URL would name it."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'drawings.sqlite3'}"
    server: PostgresProcess = request.getfixturevalue("postgres")
    engine = create_engine(database_url(server.url))
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS drawings, alembic_version"))
    engine.dispose()
    return server.url.replace("postgresql://", "postgres://")  # as Heroku's add-on writes it


def kept(word: str = "cat", drawing: list | None = None, recognized: bool = True) -> Kept:
    """A drawing to keep."""
    return Kept(word, drawing or cat(), recognized, "play", "test-model", [{"label": word, "p": 0.9}])


def rows(url: str) -> list[dict]:
    """Every row of the table, oldest first."""
    return sorted(DrawingStore(make_engine(database_url(url))).everything(), key=lambda row: row["id"])


# --- the table ------------------------------------------------------------------------------------------


def test_the_table_keeps_lists_pages_relabels_and_deletes(url: str) -> None:
    store = DrawingStore(make_engine(database_url(url)))
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


def wait_for(condition, timeout: float = 15.0) -> bool:
    """Wait until `condition()` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


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


def test_a_flush_writes_everything_left(url: str) -> None:
    writer, _ = collector(url, max_buffer=1000)
    writer.start_task = lambda task: None  # no writer task: only the flush writes
    for n in range(450):
        writer.keep(kept("cat" if n % 2 else "dog"))
    assert writer.flush(20.0) == 0
    assert len(rows(url)) == 450


# --- a server that collects -----------------------------------------------------------------------------


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file for one server."""
    return f"sqlite:///{tmp_path / 'kept.sqlite3'}"


def collecting(start_server: ServerLauncher, url: str, **env: str) -> ServerProcess:
    """A server that keeps drawings in `url`, with 6-second rounds and the review routes on."""
    settings = {"COLLECT_DRAWINGS": "1", "DATABASE_URL": url, "ROUND_SECONDS": "6", "ADMIN_TOKEN": TOKEN}
    return start_server(env={**settings, **env})


def play_round(server: ServerProcess, draw: bool) -> tuple[GameClient, str]:
    """Play one solo round (a known drawing of the prompt, or nothing); return the client and the prompt."""
    client = GameClient().connect(server)
    client.emit("solo_start", {})
    assert client.wait(lambda: client.joined, 10), client.errors
    me = client.joined[0]["player"]
    prompt = client.wait_game(lambda g: g["phase"] == "drawing")["round"]["prompt"]
    client.round_ready(1)
    if draw:
        client.draw(known_drawings(prompt)[0], stop=lambda: client.recognised(me, 1))
        client.wait_game(lambda g: client.recognised(me, 1), what="recognised")
    return client, prompt


def test_game_rounds_are_kept_with_their_prompt(start_server: ServerLauncher, url: str) -> None:
    server = collecting(start_server, url)
    client, prompt = play_round(server, draw=True)
    assert wait_for(lambda: rows(url)), "the recognised drawing was written"
    row = rows(url)[0]
    assert (row["word"], row["recognized"], row["source"]) == (prompt, True, "play")
    assert row["top"][0]["label"] == prompt and row["model"].startswith("animals6")
    xs, ys, ts = row["drawing"][0]
    assert len(xs) == len(ys) == len(ts) and ts == sorted(ts) and ts[0] == 0
    assert row["drawing"][-1][2][-1] > 100, "the times span the drawing"
    # Round 2: drawn badly (a dot and a line, say nothing), it is kept unrecognised when time is up.
    state = client.wait_game(lambda g: g["round"]["index"] == 2 and g["phase"] == "drawing", timeout=10)
    client.round_ready(2)
    client.send("stroke_points", {"points": [[10, 10], [300, 12]]})
    client.send("stroke_end")
    assert wait_for(lambda: len(rows(url)) == 2, 15)
    second = rows(url)[-1]
    assert (second["word"], second["recognized"]) == (state["round"]["prompt"], False)
    assert [s[:2] for s in second["drawing"]] == [[[10.0, 300.0], [10.0, 12.0]]]
    client.disconnect()
    page = requests.get(server.url + "/play", timeout=10).text
    assert "Drawings made here are kept" in page


def test_the_results_page_keeps_the_confirmed_word(start_server: ServerLauncher, url: str) -> None:
    server = collecting(start_server, url)
    strokes = [[xs, ys, [t - cat()[0][2][0] for t in ts]] for xs, ys, ts in cat()]
    answer = requests.post(
        server.url + "/predict",
        data={"url": canvas_png_data_url(raw_points(cat()), brush=8), "strokes": json.dumps(strokes)},
        timeout=20,
    )
    assert answer.status_code == 200 and "Was it a" in answer.text
    kept_page = requests.post(
        server.url + "/keep", data={"word": "Cat", "strokes": json.dumps(strokes)}, timeout=20
    )
    assert kept_page.status_code == 200 and 'id="kept-word">cat<' in kept_page.text
    no_page = requests.post(
        server.url + "/keep", data={"word": "snow leopard", "strokes": json.dumps(strokes)}, timeout=20
    )
    assert no_page.status_code == 200
    assert wait_for(lambda: len(rows(url)) == 2)
    confirmed, leopard = rows(url)
    assert (confirmed["word"], confirmed["recognized"], confirmed["source"]) == ("cat", True, "page")
    assert (leopard["word"], leopard["recognized"]) == ("snow leopard", False)
    assert confirmed["drawing"] == strokes
    for word, strokes_field in (
        ("<script>", "[]"),
        ("cat", "[" * 100_000),
        ("cat", "{}"),
        ("cat", "[[[1],[2],[3,4]]]"),
    ):
        bad = requests.post(server.url + "/keep", data={"word": word, "strokes": strokes_field}, timeout=20)
        assert bad.status_code == 400, (word, strokes_field[:20])


def test_nothing_is_kept_when_collection_is_off(start_server: ServerLauncher, tmp_path: Path) -> None:
    path = tmp_path / "never.sqlite3"
    server = start_server(env={"DATABASE_URL": f"sqlite:///{path}", "ROUND_SECONDS": "4"})
    client, _ = play_round(server, draw=True)
    client.wait_game(lambda g: g["round"]["index"] == 2, timeout=10)
    client.disconnect()
    strokes = json.dumps([[xs, ys] for xs, ys, _ in cat()])
    assert (
        requests.post(server.url + "/keep", data={"word": "cat", "strokes": strokes}, timeout=10).status_code
        == 404
    )
    assert "Drawings made here are kept" not in requests.get(server.url + "/", timeout=10).text
    time.sleep(1.0)
    assert not path.exists(), "no database was even opened"


def test_the_review_api_needs_the_token_and_relabels_and_deletes(
    start_server: ServerLauncher, sqlite_url: str
) -> None:
    DrawingStore(make_engine(sqlite_url)).insert(
        [kept("cat") for _ in range(2)] + [kept("dog") for _ in range(60)]
    )
    server = collecting(start_server, sqlite_url)
    api = server.url + "/admin/api/drawings"
    assert requests.get(api, timeout=10).status_code == 401
    assert requests.get(api, headers={"Authorization": "Bearer wrong"}, timeout=10).status_code == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}
    listing = requests.get(api, params={"word": "dog", "page": 1}, headers=auth, timeout=10).json()
    assert listing["words"] == [{"word": "dog", "count": 60}, {"word": "cat", "count": 2}]
    assert (listing["page"], listing["pages"], listing["total"], len(listing["drawings"])) == (1, 2, 60, 12)
    target = listing["drawings"][0]["id"]
    assert (
        requests.post(f"{api}/{target}", json={"word": "cat"}, headers=auth, timeout=10).json()["word"]
        == "cat"
    )
    assert requests.post(f"{api}/{target}", json={"word": "<b>"}, headers=auth, timeout=10).status_code == 400
    assert requests.delete(f"{api}/{target}", headers=auth, timeout=10).json()["deleted"]
    assert requests.delete(f"{api}/{target}", headers=auth, timeout=10).status_code == 404
    words = requests.get(api, headers=auth, timeout=10).json()["words"]
    assert words == [{"word": "dog", "count": 59}, {"word": "cat", "count": 2}]
    assert requests.get(server.url + "/admin/drawings", timeout=10).status_code == 200
    assert listing["drawings"][0]["created_at"].endswith("+00:00"), "times are UTC"
    huge = requests.get(api, params={"page": 10**30}, headers=auth, timeout=10)
    assert huge.status_code == 400 and huge.json()["code"] == "bad_payload"
    assert requests.delete(f"{api}/{10**30}", headers=auth, timeout=10).status_code == 404
    off = start_server(env={"COLLECT_DRAWINGS": "1", "DATABASE_URL": sqlite_url})
    assert requests.get(off.url + "/admin/drawings", timeout=10).status_code == 404, (
        "no ADMIN_TOKEN: no review"
    )


def test_live_guessing_goes_on_while_the_database_is_down(
    start_server: ServerLauncher, postgres: PostgresProcess
) -> None:
    url = postgres.url.replace("postgresql://", "postgres://")
    server = collecting(start_server, url)
    before = len(rows(url))
    postgres.stop()
    try:
        client, prompt = play_round(server, draw=True)  # recognised: the live path never waited
        assert client.predictions and not client.errors
        metrics = requests.get(server.url + "/metrics", timeout=10).text
        buffered = re.search(r"^realtime_collected_drawings_buffered (\S+)$", metrics, re.MULTILINE)
        assert buffered and float(buffered.group(1)) >= 1.0, "the drawing waits in the buffer"
        client.disconnect()
    finally:
        postgres.start()
    assert wait_for(lambda: len(rows(url)) == before + 1, 45), "written once the database is back"
    assert rows(url)[-1]["word"] == prompt


# --- export and training --------------------------------------------------------------------------------


def test_the_export_round_trips_and_trains_a_new_class(url: str, tmp_path: Path) -> None:
    originals = {"cat": [d["drawing"] for d in drawings("cat", "raw")[:12]]}
    originals["snow leopard"] = [d["drawing"] for d in drawings("dog", "raw")[:12]]  # a new word
    store = DrawingStore(make_engine(database_url(url)))
    store.insert([kept(word, drawing) for word, group in originals.items() for drawing in group])
    out = tmp_path / "collected"
    env = {"DATABASE_URL": url}
    done = subprocess.run(
        [sys.executable, "-m", "trainer", "collected", "export", "--out", str(out)],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "24 drawings of 2 words" in done.stdout
    keys, diffs = set(), []
    for word, group in originals.items():
        raw = [json.loads(line) for line in (out / "raw" / f"{word}.ndjson").read_text().splitlines()]
        small = [
            json.loads(line) for line in (out / "simplified" / f"{word}.ndjson").read_text().splitlines()
        ]
        assert [r["word"] for r in raw] == [word] * len(group) and len(small) == len(group)
        keys |= {r["key_id"] for r in raw}
        for original, r, s in zip(group, raw, small, strict=True):
            assert r["drawing"] == original and r["key_id"] == s["key_id"] and r["countrycode"] == ""
            expected = preprocess.rasterize_quickdraw(original)
            diffs.append(np.abs(preprocess.rasterize_quickdraw(s["drawing"]) - expected).mean())
            xs = [x for stroke in s["drawing"] for x in stroke[0]]
            assert 0 <= min(xs) <= 2 and max(xs) <= 255 and all(isinstance(x, int) for x in xs)
    assert len(keys) == 24, "unique key_ids"
    # The simplified form is in whole units, as Google's: it renders as close as Google's own simplified
    # files do to their bitmaps (tests/test_preprocess.py).
    assert np.mean(diffs) <= 0.02 and max(diffs) <= 0.03, diffs
    # Exported again after a relabel: no file is left from the word that no longer has drawings.
    for row in store.page("snow leopard", 0)[0]:
        store.relabel(row["id"], "dog")
    again = subprocess.run(
        done.args, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in (out / "raw").iterdir()) == ["cat.ndjson", "dog.ndjson"]
    if url.startswith("postgres"):
        return  # the training run below needs only one database
    for row in store.page("dog", 0)[0]:
        store.relabel(row["id"], "snow leopard")
    assert subprocess.run(done.args, cwd=ROOT, env={**os.environ, **env}, timeout=120).returncode == 0
    model = tmp_path / "model"
    trained = subprocess.run(
        [
            sys.executable, "-m", "trainer", "--out", str(model), "--classes", "cat,snow leopard",
            "--collected", str(out), "--arch", "tiny", "--epochs", "1", "--baseline", "none",
            "--max-per-class", "60",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-3000:]
    metrics = json.loads((model / "metrics.json").read_text())
    assert metrics["classes"] == ["cat", "snow leopard"]
    assert metrics["data"]["collected"]["per_class"] == {"cat": 12, "snow leopard": 12}
    assert "snow leopard 12" in (model / "README.md").read_text()


def test_the_export_needs_a_database(tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path / 'none.sqlite3'}"
    command = [
        sys.executable,
        "-m",
        "trainer",
        "collected",
        "export",
        "--out",
        str(tmp_path / "x"),
        "--database",
        missing,
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "no database at" in done.stderr
    assert not (tmp_path / "none.sqlite3").exists(), "none was made"


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
