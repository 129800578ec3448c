"""Teaching a word on /teach in a real browser: Debian's Chromium, driven by Playwright, against the real
server with the shipped model (which has an embedding, so it learns words from a few drawings).

A synthetic zigzag is drawn five times with real pointer events and kept each time; the page then guesses
it live, and a real cat from ../shared/quickdraw is still not taken for it. Screenshots go to
test-output/teach/.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from harness.processes import ServerProcess
from tests.support.browser import DRAWINGS, FAST, Placement, load_drawing, open_page, replay
from tests.support.teaching import CAUGHT_UP_JS, MODEL, NEEDED, zigzag

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output" / "teach"
TOKEN = "teach-browser-admin-token-0123"

INK_COUNT_JS = """() => {
  const c = document.querySelector('#canvas');
  const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n += 1;
  return n;
}"""


# --- server and page ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(output: Path) -> Iterator[ServerProcess]:
    """A server with the shipped model, shared by the tests that do not stop it."""
    assert (MODEL / "model.tflite").is_file(), f"{MODEL} has no model.tflite: train it with python -m trainer"
    srv = ServerProcess(output / "server.log")
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def teach_page(browser: Browser, server: ServerProcess) -> Iterator[Page]:
    """The teaching page, connected to the shared server; fails the test on any console error."""
    page, console = open_page(browser, server.url + "/teach")
    yield page
    page.context.close()
    assert console.errors == []


# --- drawings -----------------------------------------------------------------------------------------


def draw(page: Page, strokes: list, speed: float = FAST) -> None:
    """Draw `strokes` on the canvas with the mouse and wait for the guess of the finished drawing."""
    replay(page, strokes, Placement(page, strokes), speed=speed)
    wait_caught_up(page)


def wait_caught_up(page: Page, timeout: float = 10_000) -> None:
    """Wait until the page shows the prediction for the last message it sent."""
    page.wait_for_function(CAUGHT_UP_JS, timeout=timeout)


def keep(page: Page) -> None:
    """Keep the drawing as one more example, and wait until its image joins the strip."""
    before = page.locator("#examples img").count()
    page.get_by_role("button", name="Keep as an example").click()
    page.wait_for_function("(n) => document.querySelectorAll('#examples img').length === n", arg=before + 1)


def teach(page: Page, word: str, times: int, height: float = 150.0) -> None:
    """Type `word`, then draw a zigzag and keep it `times` times (a little taller or shorter each time)."""
    page.fill("#word", word)
    for k in range(times):
        draw(page, zigzag(height + 6 * (k - times // 2)))
        keep(page)
        assert page.evaluate(INK_COUNT_JS) == 0  # a fresh canvas for the next one
        assert page.inner_text("#progress") == f"{k + 1} of {NEEDED} examples"


def top_label(page: Page) -> str:
    """The label of the first row of the guess list."""
    return page.locator("#top li").first.get_attribute("data-label") or ""


# --- tests --------------------------------------------------------------------------------------------


def test_a_word_taught_five_drawings_is_guessed_live(teach_page: Page, output: Path) -> None:
    """Five zigzags kept: five 28×28 thumbnails, ready; a sixth zigzag is guessed, a real cat is not one."""
    page = teach_page
    teach(page, "zigzag", NEEDED - 1)
    assert page.locator("#guesses").is_hidden()  # not yet: nothing to guess it from
    page.screenshot(path=output / "teaching.png")
    draw(page, zigzag(140.0))
    keep(page)
    assert page.inner_text("#progress") == f"{NEEDED} of {NEEDED} examples"

    images = page.locator("#examples img")
    assert images.count() == NEEDED
    for i in range(NEEDED):
        assert images.nth(i).get_attribute("src").startswith("data:image/png;base64,")
        assert images.nth(i).evaluate("img => [img.naturalWidth, img.naturalHeight]") == [28, 28]
        assert images.nth(i).evaluate("img => getComputedStyle(img).imageRendering") == "pixelated"
    assert page.get_attribute("#app", "data-state") == "ready"
    assert page.inner_text("#ready") == "Now draw it again: the machine knows zigzag."
    assert page.locator("#guesses").is_visible()
    page.screenshot(path=output / "ready.png")

    draw(page, zigzag(), speed=1.0)  # at a hand's pace: the guess must hold to be sure
    assert top_label(page) == "zigzag"
    assert page.inner_text("#guess") == "I see… a zigzag"
    page.screenshot(path=output / "guessed.png")

    page.get_by_role("button", name="Clear").click()
    wait_caught_up(page)
    cat = load_drawing("cat", DRAWINGS["cat"])
    draw(page, cat)
    assert top_label(page) not in ("", "zigzag")
    assert "zigzag" not in page.inner_text("#guess")
    page.screenshot(path=output / "cat.png")


def test_refusals_are_shown_beside_the_word(teach_page: Page, output: Path) -> None:
    """No word, or one the model knows: a sentence beside the word, nothing kept. Words are shown as text."""
    page = teach_page
    draw(page, zigzag())
    page.get_by_role("button", name="Keep as an example").click()
    error = page.locator("#word-error")
    error.wait_for(state="visible")
    assert error.inner_text().startswith("Type a word first")
    assert page.locator("#examples img").count() == 0
    assert page.evaluate(INK_COUNT_JS) > 0  # the drawing stays, to keep once the word is there
    page.screenshot(path=output / "no-word.png")

    page.fill("#word", "Cat")
    assert error.is_hidden()  # typing takes the complaint away
    page.get_by_role("button", name="Keep as an example").click()
    page.wait_for_function("() => document.querySelector('#word-error').textContent.includes('already')")
    assert error.inner_text() == "The machine already knows “Cat”: pick another word."

    markup = "<b>bold</b>"
    page.fill("#word", markup)
    keep(page)
    assert page.locator("#taught-words button").inner_text() == f"{markup} (1 of {NEEDED})"
    assert page.locator("#paper-prompt").inner_text() == f"Draw “{markup}” here"
    assert page.locator("#app b").count() == 0  # never markup


def test_forgetting_a_word_starts_again(teach_page: Page) -> None:
    """Forget: the strip, the progress and the word go; the word can be typed anew."""
    page = teach_page
    teach(page, "spiral", 2)
    page.get_by_role("button", name="Forget this word").click()
    page.wait_for_function("() => document.querySelector('#app').dataset.state === 'empty'")
    assert page.locator("#examples img").count() == 0
    assert page.inner_text("#progress") == f"0 of {NEEDED} examples"
    assert page.input_value("#word") == "" and page.locator("#word").is_editable()
    assert page.locator("#taught").is_hidden()


def test_a_phone_teaches_by_touch_and_pen(browser: Browser, server: ServerProcess, output: Path) -> None:
    """On a phone-sized screen a finger, then a pen, draw an example each (no scrolling); both are kept."""
    page, console = open_page(browser, server.url + "/teach", has_touch=True, is_mobile=True)
    page.set_viewport_size({"width": 390, "height": 740})
    page.fill("#word", "wave")
    page.locator("#canvas").scroll_into_view_if_needed()
    scrolled = page.evaluate("scrollY")
    cdp = page.context.new_cdp_session(page)
    keep_button = page.get_by_role("button", name="Keep as an example")

    def touch(kind: str, point: dict[str, float] | None = None) -> None:
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [point] if point else []})

    def pen(kind: str, point: dict[str, float]) -> None:
        event = {"type": kind, "button": "left", "buttons": 1, "pointerType": "pen", "clickCount": 1}
        cdp.send("Input.dispatchMouseEvent", {**event, **point})

    for n, device in enumerate(("touch", "pen"), start=1):
        points = wave(page.locator("#canvas").bounding_box())
        if device == "touch":
            touch("touchStart", points[0])
            for point in points[1:]:  # up and down across the canvas: it would scroll the page if allowed
                touch("touchMove", point)
                time.sleep(0.01)
            # The finger rests before it lifts, as a hand's does: lifted while moving fast, Chrome starts a
            # fling, and the next tap only stops that fling.
            for _ in range(3):
                touch("touchMove", points[-1])
                time.sleep(0.05)
            touch("touchEnd")
        else:
            pen("mousePressed", points[0])
            for point in points[1:]:
                pen("mouseMoved", point)
            pen("mouseReleased", points[-1])
        wait_caught_up(page)
        assert page.evaluate("scrollY") == scrolled
        keep_button.tap()
        page.wait_for_function("(n) => document.querySelectorAll('#examples img').length === n", arg=n)
        assert page.inner_text("#progress") == f"{n} of {NEEDED} examples"
    page.screenshot(path=output / "phone.png", full_page=True)
    page.context.close()
    assert console.errors == []


def wave(box: dict[str, float]) -> list[dict[str, float]]:
    """Page positions of a wave across the canvas whose box is `box`."""
    x, y = box["x"] + box["width"] * 0.15, box["y"] + box["height"] * 0.5
    return [
        {"x": x + i * box["width"] * 0.0175, "y": y + (30 if (i // 8) % 2 else -30) * ((i % 8) / 8)}
        for i in range(40)
    ]


def test_a_word_outlives_a_server_restart(browser: Browser, output: Path) -> None:
    """The server forgets a connection's words with it: after a restart the page teaches them again."""
    srv = ServerProcess(output / "server-restart.log")
    srv.start()
    try:
        page, console = open_page(browser, srv.url + "/teach")
        teach(page, "zigzag", NEEDED)
        srv.stop()
        page.wait_for_selector("#status[data-state=offline]", timeout=10_000)
        srv.start()
        page.wait_for_selector("#status[data-state=online]", timeout=15_000)
        page.wait_for_selector("#app[data-again='0']")  # every example taught to the new connection
        draw(page, zigzag(), speed=1.0)
        assert top_label(page) == "zigzag"
        assert page.locator("#examples img").count() == NEEDED  # taught again, not shown twice
        page.context.close()
        # Only the browser's own reports of the refused connections while the server was down.
        assert all("WebSocket" in e or "ERR_CONNECTION_REFUSED" in e for e in console.errors), console.errors
    finally:
        srv.stop()


def test_a_shared_word_is_guessed_on_the_drawing_page(browser: Browser, output: Path, tmp_path: Path) -> None:
    """Where the server keeps words (ADMIN_TOKEN), "Share with everyone" gives the word to every page."""
    env = {"ADMIN_TOKEN": TOKEN, "DATABASE_URL": f"sqlite:///{tmp_path / 'words.sqlite3'}"}
    srv = ServerProcess(output / "server-share.log", env=env)
    srv.start()
    try:
        page, console = open_page(browser, srv.url + "/teach")
        teach(page, "zigzag", NEEDED)
        page.get_by_role("button", name="Share with everyone").click()
        page.wait_for_selector("#shared:not([hidden])")
        assert page.inner_text("#shared") == "Shared: everyone’s guesses now include “zigzag”."
        assert page.locator("#kept-words .shared-word").all_inner_texts() == ["zigzag"]
        assert page.input_value("#word") == ""  # ready for the next word
        page.screenshot(path=output / "shared.png")

        other, other_console = open_page(browser, srv.url + "/")  # the drawing page, another visitor
        draw(other, zigzag(), speed=1.0)
        assert top_label(other) == "zigzag"
        assert other.inner_text("#guess") == "I see… a zigzag"
        for opened, errors in ((page, console), (other, other_console)):
            opened.context.close()
            assert errors.errors == []
    finally:
        srv.stop()
