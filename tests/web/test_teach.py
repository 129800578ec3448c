"""Teaching words on the live connection (docs/protocol.md, "Teaching words"), through the test client.

The stand-in model embeds a drawing by a fixed random projection, so the same drawing is the same point and
other drawings are far from it: a word taught from one drawing must come out on top for that drawing, sure,
and not for others. The live worker is off; each test flushes where it would run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask_socketio import SocketIOTestClient

from realtime import create_app, socketio
from realtime.config import Config
from realtime.model.words import MAX_EXAMPLES, MIN_EXAMPLES
from realtime.web.state import state_of

SPIRAL = [[[50 + t * np.cos(t / 3), 50 + t * np.sin(t / 3)] for t in range(0, 40, 2)]]
LINE = [[[0, 50], [40, 50], [100, 50]]]
ZIGZAG = [[[x * 10, 0 if x % 2 else 40] for x in range(12)]]


@pytest.fixture
def app(model: Any) -> Flask:
    return create_app(Config(ASYNC_MODE="threading"), load_model=lambda _: model, live_worker=False)


class Page:
    """One connection used as the /teach page uses it."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.client: SocketIOTestClient = socketio.test_client(app)
        self.client.get_received()
        self.seq = 0

    def draw(self, strokes: list[list[list[float]]]) -> None:
        """Clear the canvas and draw `strokes`."""
        self.seq += 1
        self.client.emit("clear", {"seq": self.seq})
        for stroke in strokes:
            self.seq += 1
            self.client.emit(
                "stroke_points", {"seq": self.seq, "points": [[float(x), float(y)] for x, y in stroke]}
            )
            self.seq += 1
            self.client.emit("stroke_end", {"seq": self.seq})

    def events(self, name: str) -> list[dict[str, Any]]:
        """Return the payloads of `name` events since the last call (others are dropped)."""
        return [e["args"][0] for e in self.client.get_received() if e["name"] == name]

    def teach(self, word: str, strokes: list[list[list[float]]], times: int) -> list[dict[str, Any]]:
        """Teach `word` the same drawing `times` times; return the `taught` replies and errors."""
        out = []
        for _ in range(times):
            self.draw(strokes)
            self.client.emit("teach_example", {"word": word})
            for event in self.client.get_received():
                if event["name"] == "error":
                    out.append({"error": event["args"][0]["code"]})
                elif event["name"] == "taught":
                    out.append(event["args"][0])
        return out

    def guess(self, strokes: list[list[list[float]]]) -> dict[str, Any]:
        """Draw `strokes` and return the prediction of the drawing."""
        self.draw(strokes)
        self.client.get_received()
        state_of(self.app).live.flush()
        return self.events("prediction")[-1]


@pytest.fixture
def page(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Page:
    monkeypatch.setattr("realtime.model.teacher.TEACH_BURST", 100)  # no waiting between examples here
    return Page(app)


def test_a_word_taught_five_examples_is_recognised_at_once(page: Page) -> None:
    replies = page.teach("  a   Spiral\u200b ", SPIRAL, MIN_EXAMPLES)
    assert [r["examples"] for r in replies] == list(range(1, MIN_EXAMPLES + 1))
    assert [r["ready"] for r in replies] == [False] * (MIN_EXAMPLES - 1) + [True]
    assert replies[0]["word"] == "a Spiral" and replies[0]["bitmap"].startswith("data:image/png;base64,")
    prediction = page.guess(SPIRAL)
    assert prediction["top"][0]["label"] == "a Spiral" and prediction["sure"]
    assert all(g["label"] != "a Spiral" for g in page.guess(LINE)["top"][:1])


def test_a_word_with_too_few_examples_is_not_guessed(page: Page) -> None:
    page.teach("spiral", SPIRAL, MIN_EXAMPLES - 1)
    assert "spiral" not in [g["label"] for g in page.guess(SPIRAL)["top"]]


def test_a_forgotten_word_is_no_longer_guessed(page: Page) -> None:
    page.teach("spiral", SPIRAL, MIN_EXAMPLES)
    page.client.emit("teach_forget", {"word": "SPIRAL"})
    assert page.events("words")[-1]["words"] == []
    assert "spiral" not in [g["label"] for g in page.guess(SPIRAL)["top"]]


def test_words_are_the_connections_own(app: Flask, page: Page) -> None:
    page.teach("spiral", SPIRAL, MIN_EXAMPLES)
    other = Page(app)
    assert "spiral" not in [g["label"] for g in other.guess(SPIRAL)["top"]]
    page.client.disconnect()
    assert state_of(app).events.teacher.own == {}


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"word": ""}, "bad_word"),
        ({"word": "\u200b \n"}, "bad_word"),
        ({"word": 7}, "bad_word"),
        ({"word": "x" * 201}, "bad_word"),
        ({"word": "Alpha"}, "word_taken"),  # one of the model's own words
    ],
)
def test_bad_words_are_refused(page: Page, payload: dict[str, Any], code: str) -> None:
    page.draw(SPIRAL)
    page.client.emit("teach_example", payload)
    assert [e["code"] for e in page.events("error")] == [code]


def test_a_blank_example_is_refused(page: Page) -> None:
    page.draw([])
    page.client.emit("teach_example", {"word": "nothing"})
    assert [e["code"] for e in page.events("error")] == ["blank_example"]


def test_caps_on_examples_and_words(page: Page) -> None:
    replies = page.teach("spiral", SPIRAL, MAX_EXAMPLES + 1)
    assert replies[-1] == {"error": "too_many_examples"} and replies[-2]["examples"] == MAX_EXAMPLES
    for k in range(9):
        page.teach(f"word {k}", LINE, 1)
    assert page.teach("one too many", LINE, 1) == [{"error": "too_many_words"}]


def test_teaching_is_rate_limited(app: Flask) -> None:
    page = Page(app)
    replies = page.teach("spiral", SPIRAL, 8)
    assert {"error": "teaching_too_fast"} in replies
    assert sum("examples" in r for r in replies) == 5  # the burst


def test_one_broken_word_never_breaks_the_others(page: Page, model: Any) -> None:
    page.teach("spiral", SPIRAL, MIN_EXAMPLES)
    page.teach("zigzag", ZIGZAG, MIN_EXAMPLES)
    teacher = state_of(page.app).events.teacher
    sid = next(iter(teacher.own))
    broken = teacher.own[sid]["zigzag"]
    teacher.own[sid]["zigzag"] = type(broken)(
        broken.name, broken.bitmaps, broken.strokes, np.full_like(broken.embedded, np.nan), broken.model
    )
    page.draw(LINE)  # any change: the words are ranked again
    teacher._own_changed(sid, state_of(page.app).live.get(sid))
    assert page.guess(SPIRAL)["top"][0]["label"] == "spiral"


def test_a_model_without_an_embedding_refuses_to_learn(model: Any) -> None:
    model.embedding_size, model.taught = 0, None
    app = create_app(Config(ASYNC_MODE="threading"), load_model=lambda _: model, live_worker=False)
    page = Page(app)
    page.draw(SPIRAL)
    page.client.emit("teach_example", {"word": "spiral"})
    assert [e["code"] for e in page.events("error")] == ["cannot_teach"]


def test_keeping_a_word_needs_a_server_that_keeps_words(page: Page) -> None:
    page.teach("spiral", SPIRAL, MIN_EXAMPLES)
    page.client.emit("teach_keep", {"word": "spiral"})
    assert [e["code"] for e in page.events("error")] == ["cannot_keep"]
    page.client.emit("teach_words", {})
    listing = page.events("words")[-1]
    assert listing["words"] == [{"word": "spiral", "examples": MIN_EXAMPLES, "ready": True}]
    assert listing["can_keep"] is False and listing["min_examples"] == MIN_EXAMPLES
