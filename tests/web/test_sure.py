"""`sure`, as each way in tells it: the JSON API, the results page (POST /predict) and the live `prediction`.

The stand-in model answers a probability vector each test chooses, whatever the drawing, so whether the
model is sure is known from that vector and the threshold alone (docs/protocol.md: its most likely output
is one of its classes, at the threshold or above), not from the server's own ranking code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import cv2
import numpy as np
import pytest
from flask import Flask

from realtime import create_app, socketio
from realtime.config import Config
from realtime.web.state import state_of
from tests.support.images import data_url

LABELS = ["cat", "dog", "fish", "_other"]  # the last output is "something else"


@dataclass(frozen=True)
class Case:
    """A chosen output vector (exact in float32), the model's threshold, and what a person must be told."""

    probabilities: tuple[float, ...]
    threshold: float
    sure: bool
    best: str  # the guess shown first: a class, never "something else"


CASES = {
    "a class above the threshold": Case((0.75, 0.125, 0.0625, 0.0625), 0.5, True, "cat"),
    "a class at the threshold": Case((0.125, 0.5, 0.25, 0.125), 0.5, True, "dog"),
    "a class below the threshold": Case((0.25, 0.375, 0.25, 0.125), 0.5, False, "dog"),
    "something else over a class over the threshold": Case((0.125, 0.0625, 0.3125, 0.5), 0.25, False, "fish"),
}  # fmt: skip


class Chosen:
    """A stand-in model that answers its `answer` for every drawing."""

    name, version, labels, other = "chosen", "chosen-1", LABELS, 3
    embedding_size, taught = 0, None  # it cannot learn words

    def __init__(self, case: Case) -> None:
        self.sure_threshold = case.threshold
        self.sure_steady = 1
        self.answer = np.array(case.probabilities, np.float32)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Answer the chosen vector for each drawing of the batch."""
        return np.tile(self.answer, (len(batch), 1))


@pytest.fixture(params=list(CASES), ids=list(CASES))
def case(request: pytest.FixtureRequest) -> Case:
    return CASES[request.param]


@pytest.fixture
def app(case: Case) -> Flask:
    return create_app(Config(ASYNC_MODE="threading"), load_model=lambda _: Chosen(case), live_worker=False)


def square_png() -> str:
    """Return a PNG data URL of a square drawn in black on white, as a canvas holds it."""
    image = np.full((300, 300, 3), 255, np.uint8)
    cv2.rectangle(image, (60, 60), (240, 240), (0, 0, 0), 8)
    return data_url(image)


SQUARE = [[0, 100, 100, 0, 0], [0, 0, 100, 100, 0]]  # one stroke in Quick, Draw! form


def test_the_api_says_whether_the_model_is_sure(app: Flask, case: Case) -> None:
    answer = app.test_client().post("/api/predict", json={"strokes": [SQUARE]}).json
    assert answer["sure"] is case.sure
    labels = [guess["label"] for guess in answer["top"]]
    assert labels[0] == case.best and sorted(labels) == ["cat", "dog", "fish"]


def test_the_results_page_says_not_sure_exactly_when_the_model_is_not(app: Flask, case: Case) -> None:
    response = app.test_client().post("/predict", data={"url": square_png()})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    heading = re.search(r'<h1 class="guess">(.*?)</h1>', html, re.S)
    assert heading, html[:2000]
    shown = " ".join(re.sub(r"<[^>]+>", "", heading.group(1)).split())
    assert shown == (f"I see… a {case.best}" if case.sure else f"Not sure… maybe a {case.best}?")


def test_the_live_prediction_says_whether_the_model_is_sure(app: Flask, case: Case) -> None:
    client = socketio.test_client(app)
    client.emit("stroke_points", {"seq": 1, "points": [list(point) for point in zip(*SQUARE, strict=True)]})
    client.emit("stroke_end", {"seq": 2})
    state_of(app).live.flush()
    predictions = [event["args"][0] for event in client.get_received() if event["name"] == "prediction"]
    assert [(p["seq"], p["top"][0]["label"], p["sure"]) for p in predictions] == [(2, case.best, case.sure)]
    client.emit("clear", {"seq": 3})
    client.emit("stroke_points", {"seq": 4, "points": [[10, 10]]})  # a single dot: nothing to recognise
    state_of(app).live.flush()
    nothing = [event["args"][0] for event in client.get_received() if event["name"] == "prediction"]
    assert [(p["seq"], p["top"], p["sure"]) for p in nothing] == [(4, [], False)]
