"""The pages in Debian's Chromium (Playwright): open one, place a real drawing, replay it with the mouse."""

from __future__ import annotations

import time
from collections.abc import Callable

from playwright.sync_api import Browser, Page

from harness.quickdraw import drawings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# One fixed drawing per class (line index in raw/<class>.ndjson), picked by a rule, not by whether the model
# gets it right: the first raw drawing that the trainer's split (trainer.data.split_indices, seed 0) held out
# of training, in its test split, before `--strokes-to-test` kept them all out (dog had no raw drawing
# there, so its first validation drawing). Every one of them is still held out of the shipped models.
DRAWINGS = {"cat": 14, "dog": 1, "fish": 22, "giraffe": 0, "camel": 0, "octopus": 7}
FAST = 4.0  # replay speed where human pace is not the point
MARGIN = 0.1  # of the canvas side, left free around a replayed drawing


class Console:
    """Console errors and uncaught exceptions of a page."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))


def open_page(browser: Browser, url: str, **context_options) -> tuple[Page, Console]:
    """Open a page in a fresh context (its own storage) and wait until it is connected."""
    context = browser.new_context(**{"viewport": {"width": 1280, "height": 860}, **context_options})
    page = context.new_page()
    console = Console(page)
    page.goto(url)
    page.wait_for_selector("#status[data-state=online]", timeout=10_000)
    return page, console


def load_drawing(label: str, index: int) -> list[list[list[float]]]:
    """Line `index` of raw/<label>.ndjson: strokes [[x...], [y...], [t...]] in canvas pixels and ms."""
    record = drawings(label, "raw")[index]
    assert record["word"] == label
    return record["drawing"]


class Placement:
    """Maps a drawing's coordinates into the canvas on screen, keeping its aspect ratio, centred."""

    def __init__(self, page: Page, drawing: list) -> None:
        box = page.locator("#canvas").bounding_box()
        xs = [x for stroke in drawing for x in stroke[0]]
        ys = [y for stroke in drawing for y in stroke[1]]
        self.left, self.top = min(xs), min(ys)
        extent = max(max(xs) - self.left, max(ys) - self.top, 1.0)
        self.scale = box["width"] * (1 - 2 * MARGIN) / extent
        self.x0 = box["x"] + (box["width"] - (max(xs) - self.left) * self.scale) / 2
        self.y0 = box["y"] + (box["height"] - (max(ys) - self.top) * self.scale) / 2

    def __call__(self, x: float, y: float) -> tuple[float, float]:
        """Return the page position of drawing point (x, y)."""
        return self.x0 + (x - self.left) * self.scale, self.y0 + (y - self.top) * self.scale


def replay(
    page: Page,
    strokes: list,
    place: Placement,
    speed: float = 1.0,
    before_last_up: Callable[[], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> None:
    """Draw strokes with the mouse at `speed` times the pace their timestamps record.

    `stop()`, when given, is checked every few points and after each stroke: once it holds, the pen lifts
    and nothing more is drawn.
    """
    start = time.monotonic()
    origin = strokes[0][2][0]
    for n, (xs, ys, ts) in enumerate(strokes):
        for k, (x, y, t) in enumerate(zip(xs, ys, ts, strict=True)):
            delay = start + (t - origin) / 1000.0 / speed - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            page.mouse.move(*place(x, y))
            if k == 0:
                page.mouse.down()
            if stop is not None and k % 8 == 7 and stop():
                page.mouse.up()
                return
        if n == len(strokes) - 1 and before_last_up:
            before_last_up()
        page.mouse.up()
        if stop is not None and stop():
            return
