"""What harness.page sends for a drawing: the page's batches (static/sketch.js), numbered, on its clock."""

from __future__ import annotations

import math
from typing import Any

import pytest

from harness import page
from harness.page import page_messages, stream_drawing
from harness.quickdraw import drawings

# One stroke with a point every 10 ms (off the 60 Hz frames' edges), then a dot 200 ms after the pen lifted.
STROKE = [[float(x) for x in range(0, 110, 10)], [5.0] * 11, list(range(5, 115, 10))]
DOT = [[7.0], [8.0], [310]]


def xs(message: tuple[str, dict[str, Any]]) -> list[float]:
    """The x of each point a stroke_points message carries."""
    return [x for x, _ in message[1]["points"]]


def test_points_go_at_most_once_per_send_interval_and_the_rest_when_the_pen_lifts() -> None:
    """Worked by hand from static/sketch.js: painted at the end of each 60 Hz frame, sent ≥ 33 ms apart.

    Frames end at 16.7, 33.3, 50, 66.7, 83.3, 100 and 116.7 ms: the batches go at 16.7 (0, 10), 49.7 (20),
    82.7 (30 to 60) and 115.7 ms (70 to 90); the pen lifts at 116.7 ms, and 100 goes with it.
    """
    messages = page_messages([STROKE, DOT], first_seq=7)
    events = ["stroke_points"] * 5 + ["stroke_end", "stroke_points", "stroke_end"]
    assert [event for event, _ in messages] == events
    assert [xs(m) for m in messages[:5]] == [[0, 10], [20], [30, 40, 50, 60], [70, 80, 90], [100]]
    assert messages[6][1]["points"] == [[7.0, 8.0]]
    assert [payload["seq"] for _, payload in messages] == list(range(7, 15))
    assert messages[5][1] == {"seq": 12}, "stroke_end carries its seq only"


def test_a_real_drawing_is_sent_whole_in_its_own_coordinates() -> None:
    drawing = drawings("cat")[14]["drawing"]
    messages = page_messages(drawing)
    sent = [point for event, payload in messages if event == "stroke_points" for point in payload["points"]]
    assert sent == [
        [float(x), float(y)] for stroke in drawing for x, y in zip(stroke[0], stroke[1], strict=True)
    ]
    assert [event for event, _ in messages].count("stroke_end") == len(drawing)
    assert len(messages) < sum(len(stroke[0]) for stroke in drawing), "points go in batches"


class Clock:
    """A stand-in for the time module: sleeping moves it on at once."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        """Return the current time."""
        return self.now

    def sleep(self, seconds: float) -> None:
        """Move the clock on."""
        self.now += seconds


@pytest.mark.parametrize("speed", [1.0, 4.0, math.inf])
def test_streaming_sends_the_page_messages_on_the_drawings_own_schedule(
    monkeypatch: pytest.MonkeyPatch, speed: float
) -> None:
    clock = Clock()
    monkeypatch.setattr(page, "time", clock)
    sent: list[tuple[float, str, dict[str, Any]]] = []
    last = stream_drawing(
        lambda event, payload: sent.append((clock.now, event, payload)), [STROKE, DOT], 3, speed
    )
    assert last == 10
    assert [(event, payload) for _, event, payload in sent] == page_messages([STROKE, DOT], first_seq=3)
    assert sent[0][0] == 1000.0, "the first message goes at once, wherever the drawing's clock starts"
    # From the first batch (16.7 ms): 33, 66 and 99 ms later, the pen-up at 100 ms, the dot at 300 ms.
    offsets = [at - sent[0][0] for at, _, _ in sent]
    expected = [0.0, 0.033, 0.066, 0.099, 0.1, 0.1, 0.3, 0.3]
    assert offsets == pytest.approx([0.0 if math.isinf(speed) else t / speed for t in expected])
