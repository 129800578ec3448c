"""Drawings to keep and what the table holds, for the tests of collected drawings (COLLECT_DRAWINGS)."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from harness.quickdraw import drawings
from realtime.collect.store import DrawingStore, Kept, database_url, make_engine


@functools.cache
def cat() -> list:
    """A real cat as the page draws it (raw strokes with times); read when a test first asks for it."""
    return drawings("cat", "raw")[14]["drawing"]


def kept(word: str = "cat", drawing: list | None = None, recognized: bool = True) -> Kept:
    """A drawing to keep."""
    return Kept(word, drawing or cat(), recognized, "play", "test-model", [{"label": word, "p": 0.9}])


def rows(url: str) -> list[dict]:
    """Every row of the table, oldest first."""
    return sorted(DrawingStore(make_engine(database_url(url))).everything(), key=lambda row: row["id"])


def wait_for(condition: Callable[[], Any], timeout: float = 15.0) -> bool:
    """Wait until `condition()` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False
