"""Replay drawings as the page sends them and collect every state the server would predict.

A drawing goes through `harness.page.page_batches` (a batch of points per 33 ms, `stroke_end` per stroke) into
the server's own `realtime.core.drawing.Drawing` and its incremental rasterizer, one message at a time; the
bitmap after each message is a state. Raw Quick, Draw! drawings carry their times; a simplified drawing (no
times) is drawn at the median pace of the raw drawings here, with the median pause between strokes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from harness.page import page_batches
from realtime.core import preprocess
from realtime.core.drawing import Drawing, render
from realtime.core.protocol import Limits

# The median of the 131 raw drawings in ../shared/quickdraw/strokes/raw: ink drawn per millisecond, in units
# of the drawing scaled to span 255, and the pause between two strokes.
PACE_UNITS_PER_MS = 0.174
PAUSE_MS = 470.0
# Nothing a person draws comes near these: a replay must never be refused.
LIMITS = Limits(
    max_points=preprocess.MAX_POINTS,
    max_strokes=preprocess.MAX_STROKES,
    max_points_per_message=100_000,
    max_ink=preprocess.MAX_INK,
    max_message_bytes=10**9,
    max_image_bytes=10**9,
    max_image_side=preprocess.MAX_IMAGE_SIDE,
    rate_limit=1e9,
    rate_burst=10**9,
    rate_limit_bytes=1e18,
    rate_burst_bytes=10**18,
)

TimedStroke = list[tuple[float, float, float]]


@dataclass
class States:
    """One drawing replayed: the bitmap after each message (None while blank) and the messages' events."""

    bitmaps: list[np.ndarray | None]
    events: list[str]

    def __len__(self) -> int:
        """Return the number of messages."""
        return len(self.events)


def timed_strokes(drawing: Any) -> list[TimedStroke]:
    """Return a Quick, Draw! drawing's strokes as (x, y, t ms) points: its own times, or the median pace's."""
    if all(len(stroke) >= 3 for stroke in drawing):
        return [[(float(x), float(y), float(t)) for x, y, t in zip(*s[:3], strict=True)] for s in drawing]
    return paced([np.column_stack([s[0], s[1]]).astype(float) for s in drawing])


def paced(strokes: Sequence[np.ndarray]) -> list[TimedStroke]:
    """Give (N, 2) strokes the times of a person drawing at the median pace, pausing between strokes."""
    points = np.concatenate(strokes)
    extent = max(float(np.ptp(points, axis=0).max()), 1.0)
    per_ms = PACE_UNITS_PER_MS * extent / 255.0
    out, now = [], 0.0
    for stroke in strokes:
        steps = np.linalg.norm(np.diff(stroke, axis=0), axis=1) if len(stroke) > 1 else np.zeros(0)
        times = now + np.concatenate([[0.0], np.cumsum(steps) / per_ms])
        out.append([(float(x), float(y), float(t)) for (x, y), t in zip(stroke, times, strict=True)])
        now = float(times[-1]) + PAUSE_MS
    return out


def replay(strokes: Sequence[TimedStroke]) -> States:
    """Send timed strokes through the page's batching into a server `Drawing`: each message's bitmap."""
    drawing = Drawing(LIMITS)
    bitmaps: list[np.ndarray | None] = []
    events = []
    for step in page_batches(strokes):
        if step.event == "stroke_points":
            drawing.add_points(step.points or [])
        else:
            drawing.end_stroke()
        bitmaps.append(render(drawing.snapshot()))
        events.append(step.event)
    return States(bitmaps, events)


def written_word(text: str, font: int, scale: float = 2.0) -> list[np.ndarray]:
    """Return a word written in an OpenCV stroke font as strokes: each traced line of its 1-pixel outline."""
    (width, height), base = cv2.getTextSize(text, font, scale, 1)
    ink = np.zeros((height + base + 20, width + 20), np.uint8)
    cv2.putText(ink, text, (10, height + 10), font, scale, 255, 1, cv2.LINE_8, False)
    contours, _ = cv2.findContours(ink, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    strokes = [c.reshape(-1, 2).astype(float) for c in contours if len(c) >= 2]
    return sorted(strokes, key=lambda s: float(s[:, 0].min()))  # written left to right
