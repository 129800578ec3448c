"""The clock the games run on: one object that `Play` reads, so that a test can run games on its own time.

`now()` is wall-clock time, the clock that every process of a cluster shares: a game's times (a round's
start and end, when its host left) are stored in it and read by whichever process ticks the game next.
`monotonic()` measures intervals within this process (the thumbnails' throttle), immune to the wall clock
being set. A `Ticker` moves the games on: every so often it calls the one method that applies what is
due (`Play.tick`), which a test calls itself after moving a fake clock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Clock(Protocol):
    """Where the game reads the time."""

    def now(self) -> float:
        """Return wall-clock seconds since the epoch."""
        ...

    def monotonic(self) -> float:
        """Return seconds on a clock that never goes back (for intervals only)."""
        ...


class SystemClock:
    """The real clock: `time.time()` and `time.monotonic()`."""

    def now(self) -> float:
        """Return `time.time()`."""
        return time.time()

    def monotonic(self) -> float:
        """Return `time.monotonic()`."""
        return time.monotonic()


class Ticker:
    """Call `tick` every `interval` seconds in a background task, from `start` on; it never dies."""

    def __init__(self, server: Any, tick: Callable[[], None], interval: float) -> None:
        self.server = server  # the python-socketio Server: its background tasks and sleep
        self.tick = tick
        self.interval = interval
        self._task: Any = None

    def start(self) -> None:
        """Start ticking (once)."""
        if self._task is None:
            self._task = self.server.start_background_task(self._run)

    def _run(self) -> None:
        while True:
            self.server.sleep(self.interval)
            try:
                self.tick()
            except Exception:
                log.exception("the game clock failed a tick")
