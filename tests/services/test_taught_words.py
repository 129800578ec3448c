"""The deployment's taught words (realtime.collect.words): the table on SQLite and a real PostgreSQL, its
Quick, Draw! export, the announcements between processes on a real redis-server, and the app that keeps
them (Socket.IO test client, the stand-in model): kept words reach every connection and survive a restart,
the deployment's cap, and the admin's routes.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import psycopg
import pytest
from flask import Flask
from flask_socketio import SocketIOTestClient
from redis import RedisError

from harness.processes import RedisProcess
from realtime import create_app, socketio
from realtime.collect.store import database_url, make_engine
from realtime.collect.words import KeptWords, TaughtWordStore
from realtime.config import Config
from realtime.core.errors import InputError
from realtime.infra.redis import RedisClients
from realtime.model.words import MIN_EXAMPLES
from realtime.web.state import state_of
from tests.support.models import FakeModel
from tests.support.postgres import PostgresProcess
from trainer.collected import record

TOKEN = "taught-words-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SPIRAL = [[[50 + t * np.cos(t / 3), 50 + t * np.sin(t / 3)] for t in range(0, 40, 2)]]
ZIGZAG = [[[x * 10, 0 if x % 2 else 40] for x in range(12)]]
LINE = [[[0, 50], [40, 50], [100, 50]]]
NASTY = "<img src=x onerror=1>"  # a word that would run script if a page set it as HTML


def bitmap(seed: int) -> np.ndarray:
    """Return a 28×28 uint8 bitmap of every value (the round trip must keep each byte)."""
    return np.random.default_rng(seed).integers(0, 256, (28, 28), dtype=np.uint8)


def strokes(n: int) -> list[list[list[float]]]:
    """Return a raw Quick, Draw! drawing of one stroke, different for each `n`."""
    return [[[0.0, 10.0 + n, 20.5], [5.0, 15.0, 25.0 + n], [0, 40, 80]]]


def store_of(url: str) -> TaughtWordStore:
    """Return the table of kept words of DATABASE_URL `url`, brought up to date."""
    store = TaughtWordStore(make_engine(database_url(url)))
    store.prepare()
    return store


# --- the table ------------------------------------------------------------------------------------------


def test_the_table_keeps_loads_replaces_and_forgets_words(db_url: str) -> None:
    store = store_of(db_url)
    store.prepare()  # the migrations run once; running them again changes nothing
    assert store.load() == []
    store.keep("Spiral", [{"bitmap": bitmap(1), "strokes": strokes(1)}, {"bitmap": bitmap(2), "strokes": []}])
    store.keep("Straße", [{"bitmap": bitmap(3), "strokes": strokes(3)}])
    loaded = store.load()
    assert [entry["word"] for entry in loaded] == ["Spiral", "Straße"]
    first = loaded[0]["examples"]
    assert [e["strokes"] for e in first] == [strokes(1), []]
    assert all(e["bitmap"].dtype == np.uint8 and e["bitmap"].shape == (28, 28) for e in first)
    assert np.array_equal(first[0]["bitmap"], bitmap(1)) and np.array_equal(first[1]["bitmap"], bitmap(2))
    # The same word, however it is cased, replaces the kept one: its name as typed, its new examples.
    store.keep("SPIRAL", [{"bitmap": bitmap(4), "strokes": strokes(4)}])
    loaded = store.load()
    assert [entry["word"] for entry in loaded] == ["SPIRAL", "Straße"]
    assert len(loaded[0]["examples"]) == 1 and np.array_equal(loaded[0]["examples"][0]["bitmap"], bitmap(4))
    assert store.forget("spiral") and not store.forget("spiral")
    assert store.forget("STRASSE"), "casefolded, as the teacher tells words apart"
    assert store.load() == []
    with pytest.raises(ValueError, match="28×28 uint8"):
        store.keep("float", [{"bitmap": bitmap(5).astype(np.float32), "strokes": []}])


def test_the_export_writes_quickdraw_raw_lines_as_the_collected_drawings_export(db_url: str) -> None:
    store = store_of(db_url)
    store.keep("Spiral", [{"bitmap": bitmap(n), "strokes": strokes(n)} for n in range(3)])
    store.keep("snapshot", [{"bitmap": bitmap(9), "strokes": []}])  # taught from an image: no strokes
    lines, skipped = store.export()
    assert skipped == 1 and len(lines) == 3 and all(line.endswith("\n") for line in lines)
    records = [json.loads(line) for line in lines]
    assert [r["drawing"] for r in records] == [strokes(n) for n in range(3)]
    assert {r["word"] for r in records} == {"Spiral"}
    # The fields, their order and their types, as `python -m trainer collected export` writes them.
    collected = json.loads(
        record(
            {
                "word": "cat",
                "created_at": datetime.now().astimezone(),
                "recognized": False,
                "key_id": "1" * 19,
            },
            strokes(0),
        )
    )
    for found in records:
        assert list(found) == list(collected)
        assert {k: type(v) for k, v in found.items()} == {k: type(v) for k, v in collected.items()}
        assert found["key_id"].isdigit() and len(found["key_id"]) == 19
        assert datetime.fromisoformat(found["timestamp"]).utcoffset() is not None
    assert len({r["key_id"] for r in records}) == 3
    assert store.export()[0] == lines, "the same key_ids every time"


# --- announcements between processes, on a real redis-server ----------------------------------------------


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisProcess]:
    """A private redis-server for one test."""
    server = RedisProcess(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


class Heard:
    """What a KeptWords told its process: the names of each `changed` call (None: every word)."""

    def __init__(self) -> None:
        self.calls: list[list[str] | None] = []
        self.lock = threading.Condition()

    def __call__(self, names: list[str] | None) -> None:
        with self.lock:
            self.calls.append(names)
            self.lock.notify_all()

    def wait(self, call: list[str] | None, timeout: float) -> bool:
        """Wait until `changed(call)` has been made."""
        with self.lock:
            return self.lock.wait_for(lambda: call in self.calls, timeout)


def process(url: str, redis: RedisProcess) -> tuple[KeptWords, Heard]:
    """Return a KeptWords as one server process has it (threading mode), started, and what it hears."""

    def start(task: Callable[..., Any], *args: Any) -> threading.Thread:
        thread = threading.Thread(target=task, args=args, daemon=True)
        thread.start()
        return thread

    keeper = KeptWords(store_of(url), lambda f, *a: f(*a), start, RedisClients(redis.url))
    heard = Heard()
    keeper.changed = heard
    keeper.start()
    assert heard.calls == [None], "every word read at start"
    return keeper, heard


def test_a_change_reaches_every_process_at_once_and_one_missed_is_caught_up(
    tmp_path: Path, redis_server: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'words.sqlite3'}"
    one, heard_one = process(url, redis_server)
    two, heard_two = process(url, redis_server)
    time.sleep(0.3)  # both listeners subscribed
    started = time.monotonic()
    one.keep("Spiral", [{"bitmap": bitmap(1), "strokes": []}])
    assert heard_two.wait(["Spiral"], 2.0) and heard_one.wait(["Spiral"], 2.0)
    assert time.monotonic() - started < 2.0
    assert two.forget("spiral") and heard_one.wait(["spiral"], 2.0)
    # Redis away: a change is made where it is made (and said), and the others read every word once it is
    # back, whatever they missed meanwhile.
    caplog.set_level(logging.WARNING, "realtime.collect.words")
    redis_server.stop()
    calls = len(heard_two.calls)
    one.keep("Zigzag", [{"bitmap": bitmap(2), "strokes": []}])
    assert heard_one.calls[-1] == ["Zigzag"], "this process changes at once"
    assert "Redis is unreachable" in caplog.text
    redis_server.start()
    with heard_two.lock:
        assert heard_two.lock.wait_for(lambda: None in heard_two.calls[calls:], 20), heard_two.calls
    assert [entry["word"] for entry in two.load()] == ["Zigzag"]


class ScriptedSubscription:
    """A subscription that hands out the given messages, then loses its connection."""

    def __init__(self, *messages: dict[str, Any]) -> None:
        self.messages = list(messages)

    def get_message(self, timeout: float | None = None) -> dict[str, Any] | None:
        """Return the next message; RedisError once there are none."""
        if not self.messages:
            raise RedisError("connection lost (test)")
        return self.messages.pop(0)


def test_a_subscription_confirmed_again_means_changes_may_have_been_missed() -> None:
    # redis-py reconnects by itself after a blip, and subscribes again: all that shows is a confirmation.
    keeper = KeptWords(TaughtWordStore(make_engine("sqlite://")), lambda f, *a: f(*a), lambda *_: None)
    heard = Heard()
    keeper.changed = heard
    confirmed = {"type": "subscribe", "channel": b"realtime:words", "data": 1}
    said = {"type": "message", "channel": b"realtime:words", "data": b'{"word": "Spiral"}'}
    subscription = ScriptedSubscription(confirmed, said, confirmed, said)
    with pytest.raises(RedisError):
        keeper._read(subscription)
    assert heard.calls == [["Spiral"], None, ["Spiral"]]


def test_a_database_down_is_refused_as_database_unreachable(tmp_path: Path) -> None:
    keeper = KeptWords(
        TaughtWordStore(make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")),
        lambda f, *a: f(*a),
        lambda *_: None,
    )
    for call in (keeper.load, lambda: keeper.keep("x", [{"bitmap": bitmap(1)}]), lambda: keeper.forget("x")):
        with pytest.raises(InputError) as refused:
            call()
        assert refused.value.code == "database_unreachable"


# --- the app: kept words for every connection ------------------------------------------------------------


class Page:
    """One connection used as the /teach page uses it (as tests/web/test_teach.py's)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.client: SocketIOTestClient = socketio.test_client(app)
        self.client.get_received()
        self.seq = 0

    def draw(self, drawing: list[list[list[float]]]) -> None:
        """Clear the canvas and draw `drawing` ([x, y] points per stroke)."""
        self.seq += 1
        self.client.emit("clear", {"seq": self.seq})
        for stroke in drawing:
            self.seq += 1
            points = [[float(x), float(y)] for x, y in stroke]
            self.client.emit("stroke_points", {"seq": self.seq, "points": points})
            self.seq += 1
            self.client.emit("stroke_end", {"seq": self.seq})

    def send(self, event: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
        """Send an event; return the replies (`error`s as `{"error": code}`)."""
        self.client.emit(event, payload)
        return [
            {"error": e["args"][0]["code"]} if e["name"] == "error" else {e["name"]: e["args"][0]}
            for e in self.client.get_received()
            if e["name"] in ("error", "taught", "words")
        ]

    def teach(self, word: str, drawing: list[list[list[float]]]) -> None:
        """Teach `word` the same drawing MIN_EXAMPLES times."""
        for _ in range(MIN_EXAMPLES):
            self.draw(drawing)
            replies = self.send("teach_example", {"word": word})
            assert "taught" in replies[-1], replies

    def guess(self, drawing: list[list[list[float]]]) -> str:
        """Draw `drawing`; return the top guess."""
        self.draw(drawing)
        self.client.get_received()
        state_of(self.app).live.flush()
        return [e for e in self.client.get_received() if e["name"] == "prediction"][-1]["args"][0]["top"][0][
            "label"
        ]


@pytest.fixture
def make_app(model: Any, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Flask]:
    """Return a factory of apps keeping taught words in `db_url` (each call: a server started again)."""
    monkeypatch.setattr("realtime.model.teacher.TEACH_BURST", 100)  # no waiting between examples here

    def make(**settings: Any) -> Flask:
        config = Config(ASYNC_MODE="threading", ADMIN_TOKEN=TOKEN, DATABASE_URL=db_url, **settings)
        return create_app(config, load_model=lambda _: model, live_worker=False)

    return make


def test_a_kept_word_is_everyones_and_survives_a_restart(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    teacher, other = Page(app), Page(app)
    teacher.teach("Spiral", SPIRAL)
    assert other.guess(SPIRAL) != "Spiral", "taught, not kept: the teacher's own"
    listing = teacher.send("teach_keep", {"word": "spiral"})[-1]["words"]
    assert listing["kept"] == ["Spiral"] and listing["words"] == [] and listing["can_keep"]
    assert other.guess(SPIRAL) == "Spiral" and teacher.guess(SPIRAL) == "Spiral"
    assert other.guess(LINE) != "Spiral"
    restarted = make_app()  # a new server process on the same database
    assert Page(restarted).guess(SPIRAL) == "Spiral"
    assert Page(restarted).send("teach_words", {})[-1]["words"]["kept"] == ["Spiral"]


def test_the_deployment_keeps_at_most_taught_max_words(make_app: Callable[..., Flask]) -> None:
    page = Page(make_app(TAUGHT_MAX_WORDS=1))
    page.teach("spiral", SPIRAL)
    page.send("teach_keep", {"word": "spiral"})
    page.teach("zigzag", ZIGZAG)
    assert page.send("teach_keep", {"word": "zigzag"}) == [{"error": "too_many_words"}]
    page.draw(ZIGZAG)
    assert page.send("teach_example", {"word": "SPIRAL"}) == [{"error": "word_taken"}]


def test_the_admin_lists_deletes_and_exports_kept_words_with_the_token(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app()
    teacher, other = Page(app), Page(app)
    for word, drawing in (("Spiral", SPIRAL), (NASTY, ZIGZAG)):
        teacher.teach(word, drawing)
        teacher.send("teach_keep", {"word": word})
    http = app.test_client()
    assert http.get("/admin/words").status_code == 200, "the page asks for the token; its data needs it"
    for route in ("/admin/api/words", "/admin/api/words.ndjson"):
        for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}):
            refused = http.get(route, headers=headers)
            assert (refused.status_code, refused.json["code"]) == (401, "unauthorized"), route
    assert http.delete("/admin/api/words/Spiral").status_code == 401
    listed = http.get("/admin/api/words", headers=AUTH)
    assert listed.status_code == 200 and listed.mimetype == "application/json"
    words = listed.json["words"]
    assert [w["word"] for w in words] == ["Spiral", NASTY], "the word as text, nothing escaped or cut"
    assert words[0]["examples"] == MIN_EXAMPLES == len(words[0]["bitmaps"]) == words[0]["with_strokes"]
    assert all(url.startswith("data:image/png;base64,") for url in words[0]["bitmaps"])
    assert listed.json["max_words"] == 100
    exported = http.get("/admin/api/words.ndjson", headers=AUTH)
    assert exported.status_code == 200 and exported.mimetype == "application/x-ndjson"
    assert exported.headers["X-Skipped-Examples"] == "0"
    lines = [json.loads(line) for line in exported.get_data(as_text=True).splitlines()]
    assert [line["word"] for line in lines] == ["Spiral"] * MIN_EXAMPLES + [NASTY] * MIN_EXAMPLES
    [(xs, ys, ts)] = lines[0]["drawing"]  # the strokes as the server received them, with their times
    assert np.allclose(np.stack([xs, ys], axis=1), SPIRAL[0]) and len(ts) == len(xs)
    # Deleted: every connection forgets it at once, and a restarted server does not bring it back.
    assert other.guess(SPIRAL) == "Spiral"
    deleted = http.delete("/admin/api/words/spiral", headers=AUTH)
    assert deleted.status_code == 200 and deleted.json["deleted"] is True
    assert other.guess(SPIRAL) != "Spiral"
    assert http.delete("/admin/api/words/spiral", headers=AUTH).status_code == 404
    gone = http.delete("/admin/api/words/" + quote(NASTY, safe=""), headers=AUTH)  # as the page sends it
    assert gone.status_code == 200
    assert Page(make_app()).send("teach_words", {})[-1]["words"]["kept"] == []


def test_while_the_database_is_down_the_words_last_read_stand_in(
    model: Any, postgres: PostgresProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("realtime.model.teacher.TEACH_BURST", 100)
    with psycopg.connect(postgres.url, autocommit=True) as connection:
        connection.execute("DROP DATABASE IF EXISTS taught_down")
        connection.execute("CREATE DATABASE taught_down")
    url = postgres.url.rsplit("/", 1)[0] + "/taught_down"
    config = Config(ASYNC_MODE="threading", ADMIN_TOKEN=TOKEN, DATABASE_URL=url)
    app = create_app(config, load_model=lambda _: model, live_worker=False)
    teacher, other = Page(app), Page(app)
    teacher.teach("Spiral", SPIRAL)
    teacher.send("teach_keep", {"word": "Spiral"})
    postgres.stop()
    try:
        newer = FakeModel()
        newer.version = "fake-2"
        state_of(app).switcher.switch(newer)  # a hot reload embeds every kept word again: those last read
        assert other.guess(SPIRAL) == "Spiral"
        teacher.teach("Zigzag", ZIGZAG)
        assert teacher.send("teach_keep", {"word": "Zigzag"}) == [{"error": "database_unreachable"}]
        refused = app.test_client().delete("/admin/api/words/Spiral", headers=AUTH)
        assert (refused.status_code, refused.json["code"]) == (503, "database_unreachable")
        assert app.test_client().get("/admin/api/words", headers=AUTH).status_code == 503
    finally:
        postgres.start()
    # Meanwhile another process kept a word this one could not hear of: read once the database answers.
    store_of(url).keep("Line", [{"bitmap": bitmap(1), "strokes": []}] * MIN_EXAMPLES)
    kept = state_of(app).events.teacher.kept
    deadline = time.monotonic() + 40
    while "line" not in kept or "spiral" not in kept:
        assert time.monotonic() < deadline, sorted(kept)
        time.sleep(0.2)
        kept = state_of(app).events.teacher.kept


def test_without_a_token_no_word_is_kept_and_the_routes_do_not_exist(model: Any, db_url: str) -> None:
    app = create_app(
        Config(ASYNC_MODE="threading", DATABASE_URL=db_url), load_model=lambda _: model, live_worker=False
    )
    assert state_of(app).events.teacher.keeper is None
    http = app.test_client()
    for route in ("/admin/words", "/admin/api/words", "/admin/api/words.ndjson"):
        assert http.get(route, headers=AUTH).status_code == 404, route
    assert http.delete("/admin/api/words/spiral", headers=AUTH).status_code == 404


def test_the_words_page_sets_words_as_text_only() -> None:
    script = (Path(__file__).resolve().parents[2] / "static" / "admin" / "words.js").read_text()
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script and "outerHTML" not in script
