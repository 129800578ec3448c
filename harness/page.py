"""What the drawing page sends while someone draws (static/sketch.js): batches of points, then `stroke_end`.

The page paints new points once per 60 Hz animation frame and hands the painted ones on at most once per
SEND_INTERVAL_S; when the pen lifts, the rest of the stroke goes at once, followed by `stroke_end`. The
tests and the benchmark's simulated drawers replay real drawings through here, so that both send what the
page would.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

FRAME_S = 1 / 60  # the page paints new points once per animation frame...
SEND_INTERVAL_S = 0.033  # ...and sends them at most once per this long (static/sketch.js, SEND_INTERVAL_MS)

TimedStroke = Sequence[Sequence[float]]  # one stroke's (x, y, t in ms) points
RawDrawing = Sequence[Sequence[Sequence[float]]]  # Quick, Draw!'s raw form: [[xs], [ys], [ts]] per stroke
Message = tuple[str, dict[str, Any]]  # (event, payload) as emitted over Socket.IO


@dataclass(frozen=True)
class Step:
    """One message of a replayed drawing, `at` seconds after the drawing starts."""

    at: float
    event: str  # "stroke_points", "stroke_end" (or, in the benchmark's scripts, "clear")
    points: list[list[float]] | None = None


def page_batches(
    strokes: Sequence[TimedStroke], speed: float = 1.0, send_interval: float = SEND_INTERVAL_S
) -> list[Step]:
    """Turn strokes of (x, y, t ms) points, drawn at `speed` × their recorded pace, into the page's messages.

    A point is painted at the end of the 60 Hz frame it falls in, and the points painted go out as one
    message once `send_interval` has passed since the last message (0: every frame); the rest of a stroke
    goes at once when the pen lifts, with `stroke_end` after it.
    """
    steps: list[Step] = []
    at = 0.0
    sent_at = -math.inf
    for stroke in strokes:
        batch: list[list[float]] = []
        due = painted = 0.0  # when the batch goes out; the end of the frame the last point fell in
        for x, y, t in stroke:
            painted = (int(t / 1000.0 / speed / FRAME_S) + 1) * FRAME_S
            if batch and painted > due:
                at = sent_at = max(at, due)
                steps.append(Step(at, "stroke_points", batch))
                batch = []
            if not batch:
                due = max(painted, sent_at + send_interval)
            batch.append([x, y])
        at = sent_at = max(at, painted)  # the pen lifts: what is left goes at once
        steps.append(Step(at, "stroke_points", batch))
        steps.append(Step(at, "stroke_end"))
    return steps


def timed_points(drawing: RawDrawing) -> list[list[tuple[float, float, float]]]:
    """Turn a raw Quick, Draw! drawing into strokes of (x, y, t) points."""
    return [[(float(x), float(y), float(t)) for x, y, t in zip(*stroke, strict=True)] for stroke in drawing]


def page_messages(drawing: RawDrawing, first_seq: int = 1) -> list[Message]:
    """Return the page's messages for a raw drawing made at its recorded pace, numbered from `first_seq`."""
    return [message for _, message in _timed_messages(drawing, first_seq)]


def stream_drawing(
    emit: Callable[[str, dict[str, Any]], Any],
    drawing: RawDrawing,
    first_seq: int = 1,
    speed: float = 4.0,
) -> int:
    """Send a raw drawing through `emit` as the page would, `speed` × faster than drawn; return the last seq.

    The messages are those of the drawing made at its recorded pace, sent on the same schedule compressed
    `speed` times (`math.inf`: all at once), counting from the drawing's first point.
    """
    timed = _timed_messages(drawing, first_seq)
    started = time.monotonic()
    for at, (event, payload) in timed:
        delay = started + (at - timed[0][0]) / speed - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        emit(event, payload)
    return first_seq + len(timed) - 1


def _timed_messages(drawing: RawDrawing, first_seq: int) -> list[tuple[float, Message]]:
    """Return the page's messages for a raw drawing, each with the time it goes out."""
    timed = []
    for seq, step in enumerate(page_batches(timed_points(drawing)), start=first_seq):
        payload = {"seq": seq} if step.points is None else {"seq": seq, "points": step.points}
        timed.append((step.at, (step.event, payload)))
    return timed
