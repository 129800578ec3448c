"""Collecting drawings in a real browser: a drawing submitted on the page, confirmed on the results page
("Was it a fish?"), reviewed, relabelled and deleted on /admin/drawings. Screenshots go to
test-output/collect/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from harness.processes import ServerProcess
from realtime.collect.store import DrawingStore, make_engine
from tests.support.browser import DRAWINGS, FAST, Placement, load_drawing, open_page, replay

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output" / "collect"
TOKEN = "collect-browser-admin-token-0123"


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The SQLite file the server keeps drawings in."""
    return f"sqlite:///{tmp_path_factory.mktemp('kept') / 'drawings.sqlite3'}"


@pytest.fixture(scope="module")
def server(output: Path, database: str) -> Iterator[ServerProcess]:
    """A server that collects, with the review on."""
    env = {"COLLECT_DRAWINGS": "1", "DATABASE_URL": database, "ADMIN_TOKEN": TOKEN}
    srv = ServerProcess(output / "server.log", env=env)
    srv.start()
    yield srv
    srv.stop()


def test_a_confirmed_drawing_is_kept_and_reviewed(
    browser: Browser,
    server: ServerProcess,
    database: str,
    output: Path,
) -> None:
    page, console = open_page(browser, server.url + "/")
    assert "Drawings made here are kept" in page.inner_text("#collecting")
    drawing = load_drawing("fish", DRAWINGS["fish"])
    replay(page, drawing, Placement(page, drawing), speed=FAST)
    with page.expect_navigation():
        page.click("#submit-drawing")
    assert page.inner_text("#confirm-heading") == "Was it a fish?"
    page.screenshot(path=output / "confirm.png", full_page=True)
    with page.expect_navigation():
        page.click("#keep-yes")
    assert page.inner_text("#kept-word") == "fish"

    store = DrawingStore(make_engine(database))
    rows = list(store.everything())
    assert len(rows) == 1 and rows[0]["word"] == "fish" and rows[0]["source"] == "page"
    strokes = rows[0]["drawing"]
    assert len(strokes) == len(drawing) and all(len(s) == 3 for s in strokes), "kept with its times"
    assert strokes[-1][2][-1] > 0

    page.goto(server.url + "/admin/drawings")
    page.fill("#token", TOKEN)
    page.click("#token-form button")
    page.wait_for_selector(".drawing-card")
    assert page.locator(".chip").all_inner_texts() == ["All", "fish (1)"]
    inked = page.evaluate(
        """() => { const c = document.querySelector('.drawing-canvas');
          const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n += 1; return n; }"""
    )
    assert inked > 200, "the drawing is redrawn from its strokes"
    page.screenshot(path=output / "review.png", full_page=True)
    page.fill(".relabel input", "whale")
    page.click(".relabel button[type=submit]")
    page.wait_for_function("() => document.querySelector('.drawing-card')?.dataset.word === 'whale'")
    assert [row["word"] for row in store.everything()] == ["whale"]
    page.on("dialog", lambda dialog: dialog.accept())
    page.click(".relabel .danger")
    page.wait_for_function("() => document.querySelectorAll('.drawing-card').length === 0")
    assert list(store.everything()) == []
    page.context.close()
    assert console.errors == []
