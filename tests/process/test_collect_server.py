"""A server that collects drawings (COLLECT_DRAWINGS): game rounds and confirmed results are kept, nothing
is kept when collection is off, the review API, and live guessing while the database is down.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import requests

from harness.processes import ServerProcess
from harness.quickdraw import canvas_png_data_url, raw_points
from realtime.collect.store import DrawingStore, make_engine
from tests.support.collected import cat, kept, rows, wait_for
from tests.support.players import GameClient, known_drawings
from tests.support.postgres import PostgresProcess
from tests.support.servers import ServerLauncher

TOKEN = "collect-test-admin-token-0123456789"


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


def test_game_rounds_are_kept_with_their_prompt(start_server: ServerLauncher, db_url: str) -> None:
    server = collecting(start_server, db_url)
    client, prompt = play_round(server, draw=True)
    assert wait_for(lambda: rows(db_url)), "the recognised drawing was written"
    row = rows(db_url)[0]
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
    assert wait_for(lambda: len(rows(db_url)) == 2, 15)
    second = rows(db_url)[-1]
    assert (second["word"], second["recognized"]) == (state["round"]["prompt"], False)
    assert [s[:2] for s in second["drawing"]] == [[[10.0, 300.0], [10.0, 12.0]]]
    client.disconnect()
    page = requests.get(server.url + "/play", timeout=10).text
    assert "Drawings made here are kept" in page


def test_the_results_page_keeps_the_confirmed_word(start_server: ServerLauncher, db_url: str) -> None:
    server = collecting(start_server, db_url)
    drawing = known_drawings("cat", 1)[0]  # a cat the model is sure of: "recognized" is the model's word
    strokes = [[xs, ys, [t - drawing[0][2][0] for t in ts]] for xs, ys, ts in drawing]
    answer = requests.post(
        server.url + "/predict",
        data={"url": canvas_png_data_url(raw_points(drawing), brush=8), "strokes": json.dumps(strokes)},
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
    assert wait_for(lambda: len(rows(db_url)) == 2)
    confirmed, leopard = rows(db_url)
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
