"""A word taught to a room from the host page, then drawn by a player in a round, in a real browser: Debian's
Chromium, driven by Playwright, against the real server with the shipped model (which learns words).

The host opens "Teach the room a word", draws a synthetic zigzag five times with real pointer events and
keeps each, ticks only "zigzag" in "Words for the rounds" and uses it; a player joins, the host starts a
round, the player is asked for a zigzag, draws one at a hand's pace and is recognised: the player's page says
so and the host page shows the player recognised and scored. Screenshots go to test-output/room-words/
(docs/room-words.png is a copy of host-taught.png).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from harness.processes import ServerProcess
from tests.support.browser import FAST, MARGIN, Placement, open_page, replay
from tests.support.teaching import CAUGHT_UP_JS, MODEL, NEEDED, zigzag

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output" / "room-words"
WORD = "zigzag"
SECONDS = 25.0  # a round: ample for one zigzag drawn at a hand's pace
WAIT = 10_000  # ms, for anything the server answers at once

# The host page's teaching panel reports how far its live drawing is, as /teach's #app does.
HOST_CAUGHT_UP_JS = CAUGHT_UP_JS.replace("#app", "#room-words")


@pytest.fixture(scope="module")
def server(output: Path) -> Iterator[ServerProcess]:
    """One server with the shipped model (it learns words) and 25-second rounds."""
    assert (MODEL / "model.tflite").is_file(), f"{MODEL} has no model.tflite: train it with python -m trainer"
    srv = ServerProcess(output / "server.log", env={"ROUND_SECONDS": str(SECONDS)})
    srv.start()
    yield srv
    srv.stop()


class CanvasPlacement(Placement):
    """Placement (tests.support.browser) in the canvas `selector`, scrolled into view first."""

    def __init__(self, page: Page, drawing: list, selector: str) -> None:
        canvas = page.locator(selector)
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        assert box is not None and box["width"] > 100, box
        xs = [x for stroke in drawing for x in stroke[0]]
        ys = [y for stroke in drawing for y in stroke[1]]
        self.left, self.top = min(xs), min(ys)
        extent = max(max(xs) - self.left, max(ys) - self.top, 1.0)
        self.scale = box["width"] * (1 - 2 * MARGIN) / extent
        self.x0 = box["x"] + (box["width"] - (max(xs) - self.left) * self.scale) / 2
        self.y0 = box["y"] + (box["height"] - (max(ys) - self.top) * self.scale) / 2


def teach_room(host: Page, word: str, times: int) -> None:
    """On the host page: type `word`, then draw a zigzag and keep it `times` times."""
    host.click("#teach-room > summary")
    host.wait_for_selector("#teach-canvas", state="visible", timeout=WAIT)
    host.fill("#teach-word", word)
    for k in range(times):
        strokes = zigzag(150.0 + 6 * (k - times // 2))
        replay(host, strokes, CanvasPlacement(host, strokes, "#teach-canvas"), speed=FAST)
        host.wait_for_function(HOST_CAUGHT_UP_JS, timeout=WAIT)
        host.click("#teach-keep")
        host.wait_for_function(
            "(n) => document.querySelectorAll('#teach-examples img').length === n", arg=k + 1, timeout=WAIT
        )
        assert host.inner_text("#teach-progress") == f"{k + 1} of {NEEDED} examples"
        assert host.locator("#teach-error").is_hidden()


def test_a_word_taught_on_the_host_page_is_a_round_a_player_is_recognised_in(browser, server, output) -> None:
    # The host creates a room from /play and lands on the host page.
    host, host_console = open_page(browser, server.url + "/play", viewport={"width": 1280, "height": 1000})
    host.click("#create-room-button")
    host.wait_for_url("**/room/*/host", timeout=WAIT)
    host.wait_for_selector("#status[data-state=online]", timeout=WAIT)
    host.wait_for_selector("#room-words:not([hidden]) #trained-choices input", timeout=WAIT)
    code = host.get_attribute("#board", "data-code")
    trained = host.locator("#trained-choices input")
    assert trained.count() >= 2 and WORD not in host.locator("#trained-choices").inner_text()
    assert host.locator("#no-taught").is_visible()

    # Five zigzags kept: five 28×28 examples; the word is ready, offered among the room's words and ticked.
    teach_room(host, WORD, NEEDED)
    images = host.locator("#teach-examples img")
    assert images.count() == NEEDED
    for i in range(NEEDED):
        assert images.nth(i).get_attribute("src").startswith("data:image/png;base64,")
        assert images.nth(i).evaluate("img => [img.naturalWidth, img.naturalHeight]") == [28, 28]
    assert host.locator("#teach-word").evaluate("input => input.readOnly")
    taught = host.locator("#taught-choices input")
    assert taught.count() == 1 and taught.first.get_attribute("value") == WORD
    assert taught.first.is_checked() and taught.first.is_enabled()
    assert host.locator("#no-taught").is_hidden()

    # Only the taught word for the rounds: every model word unticked, so the prompt can only be "zigzag".
    for i in range(trained.count()):
        trained.nth(i).uncheck()
    assert taught.first.is_checked()
    assert host.inner_text("#words-state") == "Not used yet: press “Use these words”."
    host.click("#use-words")
    host.wait_for_function(
        "(w) => document.querySelector('#words-now').textContent === w", arg=WORD, timeout=WAIT
    )
    host.wait_for_function("() => document.querySelector('#words-state').textContent === ''", timeout=WAIT)
    assert host.locator("#words-error").is_hidden()

    # The host page guesses the word live too (on the host's own connection), at a hand's pace.
    strokes = zigzag()
    replay(host, strokes, CanvasPlacement(host, strokes, "#teach-canvas"))
    host.wait_for_function(HOST_CAUGHT_UP_JS, timeout=WAIT)
    host.wait_for_function(
        "(t) => document.querySelector('#teach-guess').textContent === t",
        arg=f"I see… a {WORD}",
        timeout=WAIT,
    )
    host.locator("#room-words").scroll_into_view_if_needed()
    host.screenshot(path=output / "host-taught.png", full_page=True)

    # A player joins the room; the host starts a round; the prompt is the taught word.
    player, player_console = open_page(
        browser, f"{server.url}/room/{code}", viewport={"width": 1100, "height": 800}
    )
    player.fill("#name", "Ada")
    player.click("#join")
    player.wait_for_selector("#lobby:not([hidden])", timeout=WAIT)
    host.wait_for_function("() => document.querySelectorAll('#thumbs li').length === 1", timeout=WAIT)
    host.click("#start-round")
    player.wait_for_function(
        "() => document.querySelector('#round-index').textContent === '1'"
        " && document.querySelector('#verdict').hidden && !document.querySelector('#round-bar').hidden",
        timeout=WAIT,
    )
    assert player.inner_text("#prompt") == f"a {WORD}"
    assert host.inner_text("#prompt") == f"a {WORD}"

    # The player draws the zigzag at a hand's pace with the mouse, and is recognised.
    drawing = zigzag(140.0)
    replay(player, drawing, Placement(player, drawing), stop=lambda: player.is_visible("#verdict"))
    player.wait_for_selector("#verdict:not([hidden])", timeout=SECONDS * 1000)
    assert player.inner_text("#verdict") == f"Oh, I know, it’s a {WORD}!"
    assert player.inner_text("#guess") == f"I see… a {WORD}"
    assert player.locator("#top li").first.get_attribute("data-label") == WORD
    player.wait_for_function(
        "() => Number(document.querySelector('#players li.me .score')?.textContent) > 0", timeout=WAIT
    )
    player.screenshot(path=output / "player-recognised.png")

    # The host page shows the player recognised first, with the drawing and a score.
    host.wait_for_selector(".thumb.recognised", timeout=WAIT)
    assert host.locator(".thumb.recognised .thumb-name").inner_text() == "Ada"
    assert host.locator(".thumb.recognised .thumb-badge").inner_text().startswith("1st")
    host.wait_for_function(
        "(w) => document.querySelector('.thumb.recognised .thumb-guess').textContent === w",
        arg=WORD,
        timeout=WAIT,
    )
    host.wait_for_function(
        "() => Number(document.querySelector('#scores tbody tr td.total')?.textContent) > 0", timeout=WAIT
    )
    host.screenshot(path=output / "host-recognised.png", full_page=True)

    for page, console in ((host, host_console), (player, player_console)):
        page.context.close()
        assert console.errors == []
