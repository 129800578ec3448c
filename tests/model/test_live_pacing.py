"""The live predictor's passes, alone: other work let in after each drawing, and pacing on a fake clock."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from realtime.config import Config
from realtime.core.drawing import Drawing
from realtime.infra.metrics import Metrics
from realtime.model import live as live_module
from realtime.model.live import LivePredictor, predict_snapshots

LIMITS = Config().limits


class Uniform:
    """A stand-in model that answers the same for every drawing."""

    name, version, labels = "uniform", "uniform-0", ["a", "b"]
    other, sure_threshold, sure_steady = None, 0.5, 1
    embedding_size, taught = 0, None  # it cannot learn words

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Two classes at one half each."""
        return np.full((len(batch), 2), 0.5, np.float32)


def test_a_live_pass_lets_other_work_in_after_each_drawing() -> None:
    events: list[str] = []
    drawing = Drawing(LIMITS)
    drawing.add_points(np.array([[0.0, 0.0], [100.0, 50.0]]))
    snapshots = [drawing.snapshot(), Drawing(LIMITS).snapshot(), drawing.snapshot()]  # one is blank
    outcomes = predict_snapshots(Uniform(), snapshots, max_batch=64, pause=lambda: events.append("pause"))
    assert events == ["pause"] * 4  # after each of three drawings and after the one batch
    assert [len(o.top) for o in outcomes] == [2, 0, 2] and outcomes[0].bitmap.shape == (28, 28)


class _Server:
    """The little of a python-socketio server that LivePredictor uses, recording what it emits."""

    def __init__(self) -> None:
        self.eio = type("Eio", (), {"create_event": staticmethod(threading.Event)})()
        self.sent: list[tuple[str, dict]] = []

    def emit(self, event: str, payload: dict, to: str, ignore_queue: bool) -> None:
        self.sent.append((to, payload))

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class Clock:
    """Stands in for the `time` module of realtime.model.live: `perf_counter` moves only when told."""

    def __init__(self) -> None:
        self.now = 100.0  # seconds; the steps below are exact in binary

    def perf_counter(self) -> float:
        """Return the time as set."""
        return self.now


def test_pacing_predicts_a_connection_at_most_once_per_interval_and_never_drops_the_last(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock()
    monkeypatch.setattr(live_module, "time", clock)
    server = _Server()
    live = LivePredictor(
        server, Uniform(), LIMITS, max_connections=10, max_batch=2, metrics=Metrics(), background=False,
        min_interval=0.5,
    )  # fmt: skip
    sessions = [live.open(sid, False) for sid in ("a", "b", "c")]
    for seq, session in enumerate(sessions):
        with live.lock:
            session.drawing.add_points([[0.0, 0.0], [100.0, 50.0 + seq]])
            live.accept(session, seq)
    clock.now += 0.125
    assert live.flush() == 2 and live.flush() == 1  # rounds of at most max_batch, oldest first
    assert [(to, payload["ms"]) for to, payload in server.sent] == [("a", 125.0), ("b", 125.0), ("c", 125.0)]
    clock.now += 0.125
    with live.lock:
        sessions[0].drawing.add_points([[120.0, 80.0]])
        live.accept(sessions[0], 5)
    assert live.flush() == 0  # predicted 0.125 s ago: it waits...
    assert live._due_in() == 0.375
    clock.now += 0.25
    assert live.flush() == 0 and live._due_in() == 0.125  # ...for the whole interval...
    clock.now += 0.125
    assert live.flush() == 1  # ...and then gets its guess, for its newest state
    to, payload = server.sent[-1]
    assert (to, payload["seq"], payload["ms"]) == ("a", 5, 375.0)  # ms: from its message to its guess
    assert live._due_in() is None
