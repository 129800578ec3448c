"""The collector: a bounded buffer of drawings to keep, written to the database in batches off the event loop.

`Collector` hands drawings to the database from a background task, through the app's blocking caller
(eventlet's OS thread pool, or a plain thread), so that a slow or unreachable database never holds up a live
guess. When the buffer is full, new drawings are dropped and counted
(`realtime_collected_drawings_dropped_total`); a clean shutdown writes what is left.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import DataError, IntegrityError

from realtime.collect.store import DrawingStore, Kept
from realtime.infra.concurrency import os_thread_lock

log = logging.getLogger(__name__)

BATCH = 200  # drawings per write
RETRY_MAX_S = 10.0  # a failing database is tried again after 1, 2, 4, ... up to this many seconds


class Collector:
    """The bounded buffer of drawings to keep and the background task that writes them in batches.

    Only the writer (or the flush at shutdown, while no batch is with the database) takes drawings out of
    the buffer, and only once the database has them; the database call itself runs through `run_blocking`
    (an OS thread under eventlet), so it never holds up the event loop. A drawing the database refuses for
    itself (a value it cannot store) is dropped and counted, so it cannot hold up the others.
    """

    def __init__(
        self,
        store: DrawingStore,
        run_blocking: Callable[..., Any],
        start_task: Callable[..., Any],
        sleep: Callable[[float], None],
        metrics: Any,
        max_buffer: int,
    ) -> None:
        self.store = store
        self.run_blocking = run_blocking
        self.start_task = start_task
        self.sleep = sleep
        self.metrics = metrics
        self.max_buffer = max_buffer
        self.buffer: deque[Kept] = deque()
        self.closing = False
        self.failing = False  # the last write failed: the database is unreachable
        self._writing = False  # a batch is with the database
        self._started = False  # the writer task has been started
        self._state = os_thread_lock()  # guards starting the writer, and the writer against the flush

    def keep(self, kept: Kept) -> None:
        """Queue a drawing to be written; dropped (and counted) when the buffer is full."""
        if len(self.buffer) >= self.max_buffer:
            self.metrics.collect_dropped.inc()
            return
        self.buffer.append(kept)
        self.metrics.collect_buffered.set(len(self.buffer))
        with self._state:
            start = not self._started and not self.closing
            self._started = self._started or start
        if start:
            self.start_task(self._run)

    def flush(self, deadline_s: float) -> int:
        """Stop the writer and write what is buffered, within `deadline_s`; return how many are left."""
        end = time.monotonic() + deadline_s
        with self._state:
            self.closing = True
        while self._writing and time.monotonic() < end:
            self.sleep(0.05)
        if self.failing:
            log.warning("the database is unreachable: %d collected drawings are lost", len(self.buffer))
            return len(self.buffer)
        try:
            while self.buffer and time.monotonic() < end and not self._writing:
                self._write(self.store.insert)
        except Exception as exc:
            log.warning("could not write the collected drawings at shutdown: %s", exc)
        if self.buffer:
            log.warning("%d collected drawings were not written", len(self.buffer))
        return len(self.buffer)

    def _write(self, insert: Callable[[list[Kept]], Any]) -> int:
        """Write one batch from the buffer with `insert`; return how many left it (0: none waiting)."""
        with self._state:
            if self._writing:
                return 0
            batch = [self.buffer[i] for i in range(min(BATCH, len(self.buffer)))]
            self._writing = bool(batch)
        if not batch:
            return 0
        try:
            try:
                insert(batch)
                written = len(batch)
            except (DataError, IntegrityError):  # one drawing the database will never take: find it
                written = 0
                for one in batch:
                    try:
                        insert([one])
                        written += 1
                    except (DataError, IntegrityError) as exc:
                        log.warning("the database refused a drawing of %r: %s", one.word, exc)
                        self.metrics.collect_dropped.inc()
        finally:
            self._writing = False
        for _ in batch:
            self.buffer.popleft()
        self.metrics.collect_buffered.set(len(self.buffer))
        self.metrics.collected.inc(written)
        return len(batch)

    def _run(self) -> None:
        """Write batches while any are waiting; on a failing database, wait longer and longer; never die."""
        delay = 1.0
        while not self.closing:
            try:
                written = self._write(lambda batch: self.run_blocking(self.store.insert, batch))
            except Exception as exc:
                if not self.failing:
                    log.warning("the database is unreachable (%s): drawings wait in the buffer", exc)
                self.failing = True
                self.sleep(delay)
                delay = min(2 * delay, RETRY_MAX_S)
                continue
            if self.failing:
                log.warning("the database is reachable again: writing the buffered drawings")
            delay, self.failing = 1.0, False
            if not written:
                self.sleep(0.5)
