"""Live predictions: per-connection sessions and one coalescing, micro-batching prediction worker.

Handlers only update a session's drawing and mark it dirty. A single background worker repeatedly takes
the newest state of the sessions that have waited longest (MAX_BATCH at most), rasterizes them, classifies
them in one interpreter call and emits one `prediction` per session, until no session is dirty. Updates
that arrive meanwhile just mark the session dirty again, so stale states are never predicted, work never
queues up, and each session's predictions go out in `seq` order.

Under eventlet the worker is a green thread on the event loop, and a pass lets other work in every few
milliseconds. (Handing passes to tpool's OS threads made the worker and the event loop fight over the
GIL: at 50 drawers p99 latency was 130 ms that way, 5 ms this way; bench/RESULTS.md.)
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from realtime.core import images
from realtime.core.drawing import Drawing, Snapshot, render
from realtime.core.protocol import Limits
from realtime.infra.metrics import Metrics
from realtime.model.ranking import TOP_K, Model, guesses
from realtime.model.sureness import Streak
from realtime.model.words import EMPTY, WordBook, taught_guesses

log = logging.getLogger(__name__)

# A live pass works for up to this long at a time before it lets other work in: it checks after each
# drawing it rasterizes (0.1–0.5 ms, at most about 3 ms within the limits), each batch it classifies
# (about 8 ms for 64 drawings) and each prediction it sends.
PAUSE_EVERY_S = 0.005


@dataclass
class Outcome:
    """What one prediction found: the top guesses, whether the model is sure, the bitmap it saw (if any).

    `sure` is first whether the model is confident of this state alone; what a session is sent (and its
    observer gets) is whether it is sure of the drawing so far (realtime.model.sureness).
    """

    top: list[dict[str, Any]]
    sure: bool
    bitmap: np.ndarray | None
    model: str  # the version of the model that found it
    words: tuple[int, ...] = ()  # the key of the book of taught words ranked with the model's


@dataclass
class Session:
    """One connection: its drawing, the last accepted `seq` and its options."""

    sid: str
    drawing: Drawing
    see_bitmap: bool = False
    last_seq: int = -1
    received_at: float = 0.0  # perf_counter() when the message `last_seq` was accepted
    predicted_at: float = -math.inf  # perf_counter() when its last prediction pass took it
    cached: tuple[int, Outcome] | None = None  # (drawing version, outcome) of the last prediction
    streak: Streak = dataclasses.field(default_factory=Streak)  # the class it has been confident of, since
    # Its own taught words (its room's, or those taught on /teach), ranked after the deployment's.
    book: WordBook = EMPTY


@dataclass
class _Job:
    """A session's state taken for one pass of predictions."""

    session: Session
    seq: int
    received_at: float
    version: int
    snapshot: Snapshot | None  # None: the drawing did not change since the cached outcome
    whole: bool  # the drawing was last replaced whole (sync, snapshot image), not grown
    book: WordBook  # the taught words it is ranked with


def predict_snapshots(
    model: Model,
    snapshots: list[Snapshot],
    max_batch: int,
    pause: Callable[[], None] = lambda: None,
    books: list[WordBook] | None = None,
) -> list[Outcome]:
    """Rasterize snapshots and classify all non-blank ones in batches of at most `max_batch`.

    `pause` is called after each rasterization and each batch: the server's live passes let other work in.
    `books` (one per snapshot) are the taught words each is ranked with; the embeddings they need come
    from the same interpreter call as the probabilities.
    """
    books = books or [EMPTY] * len(snapshots)
    bitmaps = []
    for snapshot in snapshots:
        bitmaps.append(render(snapshot))
        pause()
    drawn = [i for i, bitmap in enumerate(bitmaps) if bitmap is not None]
    outcomes = [Outcome([], False, None, model.version, books[i].key) for i in range(len(snapshots))]
    taught = model.taught is not None
    for start in range(0, len(drawn), max_batch):
        chunk = drawn[start : start + max_batch]
        batch = np.stack([bitmaps[i] for i in chunk])
        embedded = None
        if taught and any(books[i].names for i in chunk):
            probabilities, embedded = model.infer(batch)
        else:
            probabilities = model.predict(batch)
        pause()
        # Drawings ranked with the same taught words (usually the deployment's) are ranked together.
        together: dict[tuple[int, ...], list[int]] = {}
        for j, i in enumerate(chunk):
            if embedded is not None and books[i].names:
                together.setdefault(books[i].key, []).append(j)
            else:
                outcomes[i] = Outcome(*guesses(model, probabilities[j], TOP_K), bitmaps[i], model.version)
        for rows in together.values():
            book = books[chunk[rows[0]]]
            found = taught_guesses(model, probabilities[rows], embedded[rows], book, TOP_K)
            for j, (top, sure) in zip(rows, found, strict=True):
                i = chunk[j]
                outcomes[i] = Outcome(top, sure, bitmaps[i], model.version, book.key)
    return outcomes


class LivePredictor:
    """Hold every connection's session and turn their updates into coalesced, batched predictions."""

    def __init__(
        self,
        server: Any,
        model: Model,
        limits: Limits,
        *,
        max_connections: int,
        max_batch: int,
        metrics: Metrics,
        min_interval: float = 0.0,
        background: bool = True,
    ) -> None:
        self.server = server  # the python-socketio Server of this app
        self.model = model
        self.limits = limits
        self.max_connections = max_connections
        self.max_batch = max_batch
        self.min_interval = min_interval  # seconds between two predictions of one connection
        self.metrics = metrics
        self.draining = False  # shutting down (SIGTERM): new connections are refused, readiness is 503
        self._background = background
        self.lock = threading.Lock()  # green under eventlet's monkey patching; a real lock otherwise
        self._sessions: dict[str, Session] = {}
        self._dirty: dict[str, Session] = {}  # insertion order: sessions are served first come, first served
        self._wake = server.eio.create_event()
        self._worker: Any = None
        self._resumed_at = 0.0  # perf_counter() when the running pass last had or gave up the loop
        # Called with (session, seq, outcome) after each prediction sent (realtime.game.play looks for the
        # prompt).
        self.observer: Callable[[Session, int, Outcome], None] | None = None
        self.book: WordBook = EMPTY  # the deployment's taught words, ranked for every connection

    def __len__(self) -> int:
        """Return the number of open sessions."""
        return len(self._sessions)

    def open(self, sid: str, see_bitmap: bool) -> Session | None:
        """Start a session for a new connection; None when the server is full."""
        with self.lock:
            if len(self._sessions) >= self.max_connections:
                return None
            session = Session(sid, Drawing(self.limits), see_bitmap)
            self._sessions[sid] = session
            self.metrics.connections.set(len(self._sessions))
            if self._background and self._worker is None:
                self._worker = self.server.start_background_task(self._run)
        return session

    def close(self, sid: str) -> None:
        """Forget a connection's session and any prediction it was waiting for."""
        with self.lock:
            self._sessions.pop(sid, None)
            self._dirty.pop(sid, None)
            self.metrics.connections.set(len(self._sessions))

    def get(self, sid: str) -> Session | None:
        """Return a connection's session, if it is open."""
        return self._sessions.get(sid)

    def accept(self, session: Session, seq: int) -> None:
        """Record that message `seq` changed the session (caller holds `lock`) and wake the worker."""
        session.last_seq = seq
        session.received_at = time.perf_counter()
        if session.sid in self._sessions:
            if session.sid in self._dirty:
                self.metrics.coalesced.inc()  # the previous update will never be predicted on its own
            self._dirty[session.sid] = session
            if not self._wake.is_set():  # setting it again would cost a lock and a notify per message
                self._wake.set()

    def flush(self) -> int:
        """Predict the newest state of the `max_batch` longest-waiting dirty sessions and emit the results.

        Returns how many were predicted (0: none was dirty, or none is due yet under MIN_GUESS_INTERVAL_MS).
        A pass is one interpreter call: the first drawings of a burst get their guesses without waiting
        for the whole burst to be rasterized.
        """
        with self.lock:
            jobs = []
            model = self.model  # the whole pass uses one model, even if it is switched meanwhile
            now = time.perf_counter()
            due = (s for s in self._dirty.values() if now - s.predicted_at >= self.min_interval)
            taken = list(itertools.islice(due, self.max_batch))
            for session in taken:
                del self._dirty[session.sid]
                session.predicted_at = now
                drawing = session.drawing
                cached = session.cached
                book = self.book.plus(session.book)
                unchanged = cached is not None and (cached[0], cached[1].model, cached[1].words) == (
                    drawing.version,
                    model.version,
                    book.key,
                )
                snapshot = None if unchanged else drawing.snapshot()
                jobs.append(
                    _Job(
                        session,
                        session.last_seq,
                        session.received_at,
                        drawing.version,
                        snapshot,
                        drawing.whole,
                        book,
                    )
                )
        fresh = [job for job in jobs if job.snapshot is not None]
        started = time.perf_counter()
        if fresh:
            try:
                snapshots = [job.snapshot for job in fresh]
                books = [job.book for job in fresh]
                outcomes = predict_snapshots(model, snapshots, self.max_batch, self._pause, books)
            except Exception:
                log.exception("prediction of %d drawings failed", len(fresh))
                for job in fresh:
                    error = {
                        "code": "internal_error",
                        "message": "the server could not predict",
                        "seq": job.seq,
                    }
                    self.server.emit("error", error, to=job.session.sid, ignore_queue=True)
                    self.metrics.errors.labels(code="internal_error").inc()
                jobs = [job for job in jobs if job.snapshot is None]
            else:
                for job, outcome in zip(fresh, outcomes, strict=True):
                    job.session.cached = (job.version, outcome)
                with self.lock:
                    if self.model is not model:  # switched during the pass: these need the new one too
                        for job in fresh:
                            if job.session.sid in self._sessions:
                                self._dirty[job.session.sid] = job.session
                        self._wake.set()
        for job in jobs:
            self._emit(job.session, job.seq, job.received_at, job.whole)
            self._pause()
        if jobs:
            self.metrics.rounds.observe(time.perf_counter() - started)
        return len(jobs)

    def set_book(self, book: WordBook) -> None:
        """Rank the deployment's taught words `book` for every connection from now on; predict again."""
        with self.lock:
            self.book = book
            self._again()

    def set_session_book(self, session: Session, book: WordBook) -> None:
        """Rank a connection's own taught words `book` from now on; predict its drawing again."""
        with self.lock:
            session.book = book
            if session.cached is not None and session.sid in self._sessions:
                self._dirty[session.sid] = session
                self._wake.set()

    def _again(self) -> int:
        """Mark every drawing predicted before for another prediction (caller holds `lock`)."""
        for session in self._sessions.values():
            if session.cached is not None:
                self._dirty[session.sid] = session
        self._wake.set()
        return len(self._dirty)

    def switch(self, model: Model) -> int:
        """Serve `model` from the next pass on; every drawing predicted before is predicted again at once.

        Returns how many drawings will be predicted again.
        """
        with self.lock:
            self.model = model
            again = self._again()
        self.metrics.serving(model.name, model.version)
        return again

    def _pause(self) -> None:
        """Yield to other green threads when a pass has held the event loop for PAUSE_EVERY_S."""
        now = time.perf_counter()
        if now - self._resumed_at >= PAUSE_EVERY_S:
            self.server.sleep(0)
            self._resumed_at = time.perf_counter()

    def _emit(self, session: Session, seq: int, received_at: float, whole: bool) -> None:
        """Send one session the prediction (its cached outcome) for its state at `seq`."""
        assert session.cached is not None  # flush has just set it, or found it current
        confident = session.cached[1]
        label = confident.top[0]["label"] if confident.sure else None
        sure = session.streak.sure(self.model.sure_steady, seq, label, whole)
        outcome = Outcome(confident.top, sure, confident.bitmap, confident.model)
        waited = time.perf_counter() - received_at
        payload: dict[str, Any] = {
            "seq": seq,
            "top": outcome.top,
            "sure": outcome.sure,
            "model": outcome.model,
            "ms": round(waited * 1000.0, 2),
        }
        if session.see_bitmap and outcome.bitmap is not None:
            payload["bitmap"] = images.bitmap_to_png_data_url(outcome.bitmap)
        # The session's connection is this process's own: no detour through the message queue.
        self.server.emit("prediction", payload, to=session.sid, ignore_queue=True)
        self.metrics.predictions.inc()
        self.metrics.latency.observe(waited)
        if self.observer is not None:
            try:
                self.observer(session, seq, outcome)
            except Exception:
                log.exception("the prediction observer failed")

    def _due_in(self) -> float | None:
        """Return the seconds until the next paced session is due (None: no session is dirty)."""
        with self.lock:
            if not self._dirty:
                return None
            first = min(session.predicted_at for session in self._dirty.values())
        return max(0.0, first + self.min_interval - time.perf_counter())

    def _run(self) -> None:
        """Worker loop: wait for dirty sessions, predict them, repeat; never dies on an error."""
        timeout = None
        while True:
            self._wake.wait(timeout)
            self._wake.clear()
            self._resumed_at = time.perf_counter()
            try:
                while self.flush():
                    self._pause()
            except Exception:
                log.exception("live prediction pass failed")
            timeout = self._due_in()
