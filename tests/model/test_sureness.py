"""Being sure of a drawing in progress: confident of one class, held for the model's steady messages."""

from __future__ import annotations

import threading

import numpy as np

from realtime.config import Config
from realtime.infra.metrics import Metrics
from realtime.model.live import LivePredictor
from realtime.model.ranking import is_sure
from realtime.model.sureness import Streak, SureRule, confident_of

LIMITS = Config().limits


def test_confident_means_the_top_output_is_a_class_at_the_threshold() -> None:
    assert confident_of(np.array([0.2, 0.7, 0.1]), 0.7, None) == 1
    assert confident_of(np.array([0.2, 0.69, 0.11]), 0.7, None) is None
    assert confident_of(np.array([0.1, 0.1, 0.8]), 0.5, other=2) is None  # "something else" is never a class
    assert SureRule(0.5, 3, other=2).confident(np.array([0.6, 0.1, 0.3])) == 0


def test_a_class_is_sure_once_it_held_for_the_steady_messages() -> None:
    streak = Streak()
    said = [streak.sure(3, seq, label) for seq, label in enumerate(["cat", "cat", "cat", "cat"], start=1)]
    assert said == [False, False, True, True]


def test_another_class_or_none_starts_the_count_again() -> None:
    streak = Streak()
    labels = ["cat", "cat", "dog", "dog", None, "dog", "dog", "dog"]
    said = [streak.sure(3, seq, label) for seq, label in enumerate(labels, start=1)]
    assert said == [False, False, False, False, False, False, False, True]


def test_messages_the_server_coalesced_count_as_held() -> None:
    streak = Streak()
    assert not streak.sure(3, 10, "cat")
    assert streak.sure(3, 12, "cat")  # messages 10, 11 and 12: 11 was never predicted on its own


def test_a_drawing_replaced_whole_is_sure_when_confident_and_held_from_there() -> None:
    streak = Streak()
    assert not streak.sure(3, 1, "cat")
    assert streak.sure(3, 2, "dog", whole=True)  # a sync: judged as a finished drawing
    assert streak.sure(3, 3, "dog")  # the strokes drawn after it keep the class
    assert not streak.sure(3, 4, None, whole=True)  # a blank or unknown one is never sure


def test_steady_one_is_the_threshold_alone() -> None:
    assert Streak().sure(1, 5, "cat") and not Streak().sure(1, 5, None)


class Sequence:
    """A stand-in model whose answers are set per call: [p(a), p(b)] for every drawing of the batch."""

    name, version, labels = "seq", "seq-0", ["a", "b"]
    other, sure_threshold, sure_steady = None, 0.6, 3
    embedding_size, taught = 0, None  # it cannot learn words

    def __init__(self) -> None:
        self.answer = [0.5, 0.5]

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Answer the current row for every drawing."""
        return np.tile(np.asarray(self.answer, np.float32), (len(batch), 1))


class _Server:
    """The little of a python-socketio server that LivePredictor uses, recording what it emits."""

    def __init__(self) -> None:
        self.eio = type("Eio", (), {"create_event": staticmethod(threading.Event)})()
        self.sent: list[dict] = []

    def emit(self, event: str, payload: dict, to: str, ignore_queue: bool) -> None:
        self.sent.append(payload)

    def sleep(self, seconds: float) -> None:
        pass


def test_the_server_says_sure_only_once_the_model_held_its_class_and_its_observer_agrees() -> None:
    model, server = Sequence(), _Server()
    live = LivePredictor(
        server, model, LIMITS, max_connections=4, max_batch=8, metrics=Metrics(), background=False
    )
    observed: list[bool] = []
    live.observer = lambda session, seq, outcome: observed.append(outcome.sure)
    session = live.open("a", False)
    answers = [[0.9, 0.1], [0.9, 0.1], [0.1, 0.9], [0.9, 0.1], [0.9, 0.1], [0.9, 0.1], [0.55, 0.45]]
    for seq, answer in enumerate(answers, start=1):
        model.answer = answer
        with live.lock:
            session.drawing.add_points([[0.0, 0.0], [100.0, 50.0 + seq]])
            live.accept(session, seq)
        assert live.flush() == 1
    said = [payload["sure"] for payload in server.sent]
    assert said == [False, False, False, False, False, True, False]
    assert observed == said  # the game sees what the page is told
    assert all(is_sure(model, np.asarray(a)) == (max(a) >= 0.6) for a in answers)  # one state alone
    model.answer = [0.1, 0.9]  # the page syncs its drawing (after a reconnect): a finished drawing
    with live.lock:
        session.drawing.replace([np.array([[0.0, 0.0], [100.0, 40.0]])])
        live.accept(session, 8)
    live.flush()
    assert server.sent[-1]["sure"] and observed[-1]
