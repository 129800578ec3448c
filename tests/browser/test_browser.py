"""The drawing page in a real browser: Debian's Chromium, driven by Playwright, against the real server.

Real Quick, Draw! drawings from ../shared/quickdraw/strokes/raw are replayed as pointer events at the pace
their timestamps record (sped up where a test only needs the shape), while the page streams them to a
`python -m realtime` subprocess. Screenshots go to test-output/browser/.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, Page, Route

from harness.processes import ServerProcess
from tests.support.browser import DRAWINGS, FAST, Placement, load_drawing, open_page, replay
from tests.support.players import known_drawings

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "animals6-q8"  # the default model
OUTPUT = ROOT / "test-output" / "browser"

INK_COUNT_JS = """() => {
  const c = document.querySelector('#canvas');
  const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n += 1;
  return n;
}"""
FIRST_GUESS_JS = """() => {
  addEventListener('pointerdown', () => { window.firstDown ??= performance.now(); });
  new MutationObserver(() => {
    if (window.firstDown !== null) window.firstGuess ??= performance.now();
  }).observe(document.querySelector('#app'), { attributes: true, attributeFilter: ['data-shown-seq'] });
}"""
CAUGHT_UP_JS = """() => {
  const app = document.querySelector('#app');
  return app.dataset.shownSeq === app.dataset.sentSeq;
}"""


# --- server -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(output: Path) -> Iterator[ServerProcess]:
    """A server with the shipped model, shared by the tests that do not stop it."""
    assert (MODEL / "model.tflite").is_file(), f"{MODEL} has no model.tflite: train it with python -m trainer"
    srv = ServerProcess(output / "server.log")
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def live_page(browser: Browser, server: ServerProcess) -> Iterator[Page]:
    """The drawing page, connected to the shared server; fails the test on any console error."""
    page, console = open_page(browser, server.url + "/")
    yield page
    page.context.close()
    assert console.errors == []


# --- drawings -----------------------------------------------------------------------------------------


def wait_caught_up(page: Page, timeout: float = 10_000) -> None:
    """Wait until the page shows the prediction for the last message it sent."""
    page.wait_for_function(CAUGHT_UP_JS, timeout=timeout)


def shown_guesses(page: Page) -> list[tuple[str, str]]:
    """The (label, percentage) rows of the top-3 list on show."""
    rows = page.locator("#top li:not([hidden])")
    return [
        (rows.nth(i).locator(".label").inner_text(), rows.nth(i).locator(".pct").inner_text())
        for i in range(rows.count())
    ]


def top_label(page: Page) -> str:
    """The label of the first row of the guess list."""
    return page.locator("#top li").first.get_attribute("data-label") or ""


def ink(page: Page) -> int:
    """How many canvas pixels hold ink."""
    return page.evaluate(INK_COUNT_JS)


# --- tests --------------------------------------------------------------------------------------------


def test_live_guesses_for_six_classes(live_page, output):
    """Guesses appear while drawing, and the final guess names the drawn animal for at least 5 of 6."""
    page = live_page
    page.check("#see-bitmap")
    page.evaluate(FIRST_GUESS_JS)
    results = {}
    for n, (label, index) in enumerate(DRAWINGS.items()):
        drawing = load_drawing(label, index)
        during: dict[str, object] = {}
        page.evaluate("() => { window.firstDown = null; window.firstGuess = null; }")

        def check_during(label=label, during=during):
            during["guesses"] = shown_guesses(page)
            during["guess"] = page.locator("#guess").inner_text()
            page.screenshot(path=output / f"drawing-{label}.png")

        speed = 1.0 if n == 0 else FAST  # the first drawing at true human pace
        replay(page, drawing, Placement(page, drawing), speed=speed, before_last_up=check_during)
        wait_caught_up(page)
        results[label] = {
            "index": index,
            "speed": speed,
            "guesses_before_last_stroke_ended": during["guesses"],
            "final": shown_guesses(page),
            "final_top": top_label(page),
            "first_prediction_ms_after_pen_down": page.evaluate(
                "Math.round(window.firstGuess - window.firstDown)"
            ),
        }
        assert during["guesses"], f"{label}: no guesses shown before the last stroke ended"
        assert during["guess"] != "Draw something!"
        assert page.get_attribute("#bitmap", "src").startswith("data:image/png;base64,")
        page.click("#clear")
        wait_caught_up(page)
    (output / "six-classes.json").write_text(json.dumps(results, indent=2))
    right = [label for label, r in results.items() if r["final_top"] == label]
    assert len(right) >= 5, f"right for {right} only: {json.dumps(results, indent=1)}"


def test_undo_and_clear_change_what_is_shown(live_page, output):
    """Undo (button, Ctrl+Z) takes the last stroke off screen and server; Clear (by keyboard) empties both."""
    page = live_page
    page.get_by_label("Show what the model sees").check()
    drawing = load_drawing("cat", 0)  # nine strokes
    replay(page, drawing, Placement(page, drawing), speed=FAST * 2)
    wait_caught_up(page)
    full_ink, full_bitmap = ink(page), page.get_attribute("#bitmap", "src")
    assert full_bitmap.startswith("data:image/png;base64,")

    page.get_by_role("button", name="Undo").click()
    wait_caught_up(page)
    one_less_ink, one_less_bitmap = ink(page), page.get_attribute("#bitmap", "src")
    assert 0 < one_less_ink < full_ink
    assert one_less_bitmap != full_bitmap

    page.keyboard.press("Control+z")
    wait_caught_up(page)
    assert 0 < ink(page) < one_less_ink
    assert page.get_attribute("#bitmap", "src") not in (full_bitmap, one_less_bitmap)

    page.get_by_role("button", name="Clear").focus()  # keyboard only: focus and Enter
    page.keyboard.press("Enter")
    assert ink(page) == 0
    assert page.locator("#guess").inner_text() == "Draw something!"
    assert shown_guesses(page) == []
    assert page.locator("#bitmap").is_hidden()
    for button in ("#undo", "#clear", "#submit-drawing"):
        assert page.locator(button).is_disabled()
    page.screenshot(path=output / "cleared.png")


def square(side: float = 200.0, step: float = 20.0) -> list[list[list[float]]]:
    """A square drawn side by side, four strokes, at a steady hand's pace: [[x...], [y...], [t...]]."""
    corners = [(100.0, 100.0), (100.0 + side, 100.0), (100.0 + side, 100.0 + side), (100.0, 100.0 + side)]
    strokes, t = [], 0.0
    for (x0, y0), (x1, y1) in zip(corners, corners[1:] + corners[:1], strict=True):
        n = int(side / step) + 1
        xs = [x0 + (x1 - x0) * k / (n - 1) for k in range(n)]
        ys = [y0 + (y1 - y0) * k / (n - 1) for k in range(n)]
        strokes.append([xs, ys, [t + 16.0 * k for k in range(n)]])
        t += 16.0 * n + 200.0
    return strokes


def test_the_page_says_whether_the_model_is_sure(live_page, output):
    """A real cat: "I see… a cat". A square, none of the model's classes: "Not sure yet…", no guess named.

    The cat is the first one the model is sure of when finished (drawn at its own pace, as the page sends it):
    the test is about what the page says, not about which cats the model knows.
    """
    page = live_page
    cat = known_drawings("cat", 1)[0]
    replay(page, cat, Placement(page, cat))
    wait_caught_up(page)
    assert page.locator("#guess").inner_text() == "I see… a cat"
    page.click("#clear")
    wait_caught_up(page)
    drawing = square()
    replay(page, drawing, Placement(page, drawing), speed=FAST)
    wait_caught_up(page)
    assert page.locator("#guess").inner_text() == "Not sure yet…"
    assert all(int(pct.rstrip("%")) <= 5 for _, pct in shown_guesses(page))  # "something else" took it
    page.screenshot(path=output / "not-sure.png")


def test_drawing_survives_server_restart(browser, output):
    """Stopping the server mid-drawing keeps the drawing; after a restart the page syncs, guesses resume."""
    label = "dog"
    drawing = load_drawing(label, DRAWINGS[label])
    assert len(drawing) >= 3
    half = len(drawing) // 2
    srv = ServerProcess(output / "server-restart.log")
    srv.start()
    try:
        page, console = open_page(browser, srv.url + "/")
        page.check("#see-bitmap")
        place = Placement(page, drawing)
        replay(page, drawing[:half], place, speed=FAST)
        wait_caught_up(page)
        before_ink, before_bitmap = ink(page), page.get_attribute("#bitmap", "src")

        srv.stop()
        page.wait_for_selector("#status[data-state=offline]", timeout=10_000)
        assert ink(page) == before_ink
        replay(page, drawing[half : half + 1], place, speed=FAST)  # drawn while offline
        offline_ink = ink(page)
        assert offline_ink > before_ink
        page.screenshot(path=output / "offline.png")

        srv.start()
        page.wait_for_selector("#status[data-state=online]", timeout=15_000)
        wait_caught_up(page)
        assert ink(page) == offline_ink
        assert page.get_attribute("#bitmap", "src") != before_bitmap  # the offline stroke reached the server
        page.click("#undo")
        wait_caught_up(page)
        assert page.get_attribute("#bitmap", "src") == before_bitmap  # and so did every earlier one, exactly

        replay(page, drawing[half:], place, speed=FAST)
        wait_caught_up(page)
        assert top_label(page) == label
        page.context.close()
        # Only the browser's own reports of the refused connections while the server was down.
        assert all("WebSocket" in e or "ERR_CONNECTION_REFUSED" in e for e in console.errors), console.errors
    finally:
        srv.stop()


def test_submit_shows_results(live_page, output):
    """Submit posts the canvas PNG to /predict; the results page names the class and shows the 28×28."""
    page = live_page
    label = "fish"
    drawing = load_drawing(label, DRAWINGS[label])
    replay(page, drawing, Placement(page, drawing), speed=FAST)
    wait_caught_up(page)
    with page.expect_navigation():
        page.click("#submit-drawing")
    assert page.url.endswith("/predict")
    assert page.locator("#result-label").inner_text() == label
    assert page.locator("#top li").first.get_attribute("data-label") == label
    image = page.locator("img.pixelated")
    assert image.get_attribute("src").startswith("data:image/png;base64,")
    assert image.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [28, 28]
    page.screenshot(path=output / "results.png", full_page=True)
    page.click("#again")
    page.wait_for_selector("#status[data-state=online]")
    assert page.locator("#canvas").is_visible()


def test_bad_image_gives_the_error_page(browser, server, output):
    """A form post the server cannot read shows the error page: status, message and a way back."""
    page, console = open_page(browser, server.url + "/")
    with page.expect_navigation():
        page.evaluate(
            """() => {
              document.querySelector('#url').value = 'data:image/png;base64,AAAA';
              HTMLFormElement.prototype.submit.call(document.querySelector('#submit-form'));
            }"""
        )
    assert "(400)" in page.locator("h1").inner_text()
    assert "PNG" in page.locator(".message").inner_text()
    page.screenshot(path=output / "error.png")
    page.click("text=Back to drawing")
    page.wait_for_selector("#status[data-state=online]")
    page.context.close()
    assert [e for e in console.errors if "status of 400" not in e] == []


def test_hint_and_labels_come_from_the_server(browser, server):
    """The class hint lists the model's classes, from the page template and again from the `ready` event."""
    other = json.loads((MODEL / "calibration.json").read_text())["other_label"]
    labels = [label for label in json.loads((MODEL / "labels.json").read_text()) if label != other]
    assert len(labels) == 6  # "something else" is never offered
    expected = f"Try: {', '.join(labels[:-1])} or {labels[-1]}."
    page, console = open_page(browser, server.url + "/")
    assert page.locator("#hint").inner_text() == expected

    def without_hint(route: Route) -> None:
        response = route.fetch()
        html = re.sub(r'(<p class="hint" id="hint">)[^<]*', r"\1", response.text())
        route.fulfill(response=response, body=html)

    page.route(server.url + "/", without_hint)  # the page as served, less the template's hint
    page.reload()
    page.wait_for_selector("#status[data-state=online]")
    page.wait_for_function("(text) => document.querySelector('#hint').textContent === text", arg=expected)
    page.context.close()
    # Chromium may refuse a WebSocket from a document that Playwright fulfilled (Local Network Access
    # checks); the page then connects by long-polling, which is fine here.
    assert [e for e in console.errors if "LOCAL_NETWORK_ACCESS" not in e] == []


def test_a_hot_reload_changes_the_hint_and_the_guesses_on_an_open_page(browser, output, tmp_path):
    """POST /admin/reload while a drawing is on the page: the hint, the model name and the guess follow."""
    token = "browser-test-token-0123456789"
    words = f"sqlite:///{tmp_path / 'words.sqlite3'}"  # with the token it keeps taught words: not in data/
    srv = ServerProcess(tmp_path / "server-reload.log", env={"ADMIN_TOKEN": token, "DATABASE_URL": words})
    srv.start()
    try:
        page, console = open_page(browser, srv.url + "/")
        drawing = load_drawing("cat", DRAWINGS["cat"])
        replay(page, drawing, Placement(page, drawing), speed=FAST)
        wait_caught_up(page)
        assert top_label(page) == "cat"
        answer = requests.post(
            srv.url + "/admin/reload",
            json={"model": "everyday20"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        version = answer.json()["model"]
        page.wait_for_function("() => document.querySelector('#hint').textContent.includes('airplane')")
        page.wait_for_function(f"() => document.querySelector('#model').textContent === '{version}'")
        labels = [label for label, _ in shown_guesses(page)]
        assert labels and set(labels) <= set(answer.json()["labels"])  # guesses from the new model
        page.screenshot(path=output / "reloaded.png")
        page.context.close()
        assert console.errors == []
    finally:
        srv.stop()


def pen_down_watching_points(page, inset: float) -> tuple[list[dict], float, float]:
    """Reload the page, recording each `stroke_points` it sends; press the mouse `inset` px into the canvas.

    Returns the list the messages' payloads go into and where the pen is; the page keeps the pointer's id in
    `window.pointerIdSeen`, for synthetic moves of the same pointer.
    """
    sent: list[dict] = []

    def on_frame(payload):
        if isinstance(payload, str) and payload.startswith('42["stroke_points"'):
            sent.append(json.loads(payload[2:])[1])

    page.on("websocket", lambda ws: ws.on("framesent", on_frame))
    page.reload()  # so that the socket opens after the listener above
    page.wait_for_selector("#status[data-state=online]")
    box = page.locator("#canvas").bounding_box()
    x, y = box["x"] + inset, box["y"] + inset
    page.evaluate("() => addEventListener('pointerdown', (e) => { window.pointerIdSeen = e.pointerId; })")
    page.mouse.move(x, y)
    page.mouse.down()
    return sent, x, y


def test_points_are_batched_per_frame(live_page):
    """Many pointer events within one animation frame reach the server in one stroke_points message."""
    page = live_page
    sent, x, y = pen_down_watching_points(page, 100)
    moves = 120
    # A fast pen reports many samples per frame; dispatch them all within one task, hence one frame.
    page.evaluate(
        """([x, y, n]) => {
          const canvas = document.querySelector('#canvas');
          for (let i = 1; i <= n; i += 1) {
            canvas.dispatchEvent(new PointerEvent('pointermove', {
              pointerId: window.pointerIdSeen, isPrimary: true, pointerType: 'mouse', bubbles: true,
              clientX: x + i * 3, clientY: y + (i % 20) * 5,
            }));
          }
        }""",
        [x, y, moves],
    )
    page.mouse.up()
    wait_caught_up(page)
    points = sum(len(m["points"]) for m in sent)
    assert points >= moves  # every sample arrives...
    assert len(sent) <= 4  # ...in a handful of messages: the pointerdown's frame, the burst's, the pointerup
    assert max(len(m["points"]) for m in sent) >= moves - 1
    assert [m["seq"] for m in sent] == sorted(m["seq"] for m in sent)


def test_a_steady_stroke_is_sent_about_thirty_times_a_second(live_page):
    """A pen moving every frame for a second is painted every frame but sent about every 33 ms, all of it."""
    page = live_page
    sent, x, y = pen_down_watching_points(page, 60)
    # One move per animation frame for about a second, as a pen reports them.
    frames = page.evaluate(
        """([x, y]) => new Promise((done) => {
          const canvas = document.querySelector('#canvas');
          const start = performance.now();
          let i = 0;
          const step = () => {
            i += 1;
            canvas.dispatchEvent(new PointerEvent('pointermove', {
              pointerId: window.pointerIdSeen, isPrimary: true, pointerType: 'pen', bubbles: true,
              clientX: x + i * 2, clientY: y + (i % 30) * 3,
            }));
            if (performance.now() - start < 1000) requestAnimationFrame(step); else done(i);
          };
          requestAnimationFrame(step);
        })""",
        [x, y],
    )
    page.mouse.up()
    wait_caught_up(page)
    assert frames >= 40  # headless Chromium animates at 60 frames a second: more frames than messages
    assert sum(len(m["points"]) for m in sent) >= frames  # every sample arrives...
    # ...in about one message per 33 ms (plus the pen-down's and the pen-up's), not one per frame.
    assert len(sent) <= 2 + 1.1 * 1000 / 33


def test_touch_and_pen_draw_without_scrolling(browser, server, output):
    """Touch and pen strokes draw and get guesses; a finger on the canvas does not scroll the page."""
    page, console = open_page(browser, server.url + "/", has_touch=True, is_mobile=True)
    page.set_viewport_size({"width": 390, "height": 640})  # a phone: the page is taller than the screen
    assert page.evaluate("document.documentElement.scrollHeight > innerHeight")
    cdp = page.context.new_cdp_session(page)
    box = page.locator("#canvas").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.8

    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
    for i in range(1, 30):  # an upward swipe: it would scroll the page if the canvas let it
        point = {"x": x + i * 2, "y": y - i * 8}
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [point]})
        time.sleep(0.01)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    wait_caught_up(page)
    assert page.evaluate("scrollY") == 0
    after_touch = ink(page)
    assert after_touch > 0
    assert shown_guesses(page)

    def pen(kind: str, px: float, py: float) -> None:
        cdp.send(
            "Input.dispatchMouseEvent",
            {
                "type": kind,
                "x": px,
                "y": py,
                "button": "left",
                "buttons": 1,
                "pointerType": "pen",
                "clickCount": 1,
            },
        )

    pen("mousePressed", x - 60, y - 100)
    for i in range(1, 20):
        pen("mouseMoved", x - 60 + i * 4, y - 100 + i * 2)
    pen("mouseReleased", x + 16, y - 62)
    wait_caught_up(page)
    assert ink(page) > after_touch
    page.screenshot(path=output / "phone.png")
    page.context.close()
    assert console.errors == []


def test_high_dpi_and_resize_keep_the_drawing(browser, server, output):
    """On a 2× screen the canvas has 2× the pixels; resizing the window redraws the same drawing."""
    page, console = open_page(browser, server.url + "/", device_scale_factor=2)
    size = page.evaluate(
        "[document.querySelector('#canvas').width, document.querySelector('#canvas').clientWidth]"
    )
    assert size[0] == 2 * size[1]
    drawing = load_drawing("giraffe", DRAWINGS["giraffe"])
    replay(page, drawing, Placement(page, drawing), speed=FAST * 2)
    wait_caught_up(page)
    before = ink(page) / size[0] ** 2
    page.screenshot(path=output / "high-dpi.png")
    page.set_viewport_size({"width": 900, "height": 600})
    page.wait_for_function("(w) => document.querySelector('#canvas').width !== w", arg=size[0])
    resized = page.evaluate("document.querySelector('#canvas').width")
    after = ink(page) / resized**2
    assert resized < size[0]
    assert after == pytest.approx(before, rel=0.35)  # same drawing, scaled: same share of the canvas
    page.context.close()
    assert console.errors == []
