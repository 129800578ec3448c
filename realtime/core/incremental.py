"""Rasterize a drawing that grows, reusing what its settled strokes cost the last time.

Only the last stroke of a live drawing takes new points; the ones before it are settled. Their normalised
points depend only on the drawing's frame (its bounding box), and their pixels also on the centring shift,
and both rarely change once the drawing has its size. So each drawing keeps its settled strokes simplified
and drawn on a supersampled canvas, and a new state costs the last stroke's simplification, a copy of the
canvas and the downsampling. The result is the same bitmap as `preprocess.rasterize_points` gives for the
same points (tests/core/test_incremental.py checks every state of the sample drawings, bit for bit).
"""

from __future__ import annotations

import numpy as np

from realtime.core import preprocess
from realtime.core.errors import InputError

Box = tuple[float, float, float, float]  # left, top, right, bottom of the drawing's points


class IncrementalRaster:
    """One drawing's rasterizer: call `render` with each newer state of the same strokes.

    A drawing whose strokes are changed rather than extended (undo, clear, sync) takes a new one.
    """

    def __init__(self) -> None:
        self._reset(None)

    def _reset(self, frame: tuple[float, float, float] | None) -> None:
        """Forget everything: the strokes are to be simplified in `frame`."""
        self._frame = frame
        self._settled = 0  # strokes simplified so far
        self._points = np.empty((0, 2), np.float32)  # their normalised points
        self._counts: list[int] = []
        self._right, self._bottom = -np.inf, -np.inf  # their extent
        self._canvas: np.ndarray | None = None  # the settled strokes drawn, with `_shift`
        self._shift: tuple[float, float] | None = None
        self._drawn = 0  # settled strokes on the canvas

    def render(self, xy: np.ndarray, counts: tuple[int, ...], box: Box) -> np.ndarray:
        """Rasterize checked strokes (stacked points, points per stroke, bounding box) to the 28×28."""
        if not counts:
            raise InputError("empty_drawing", "the drawing is empty")
        frame = preprocess.box_frame(*box)
        settled = len(counts) - 1
        if frame != self._frame or settled < self._settled:  # another size, or not a later state
            self._reset(frame)
        last_start = sum(counts[:settled])
        if self._settled < settled:
            start = sum(counts[: self._settled])
            points, new_counts = preprocess.simplify(
                xy[start:last_start], counts[self._settled : settled], frame
            )
            self._points = np.concatenate((self._points, points))
            self._counts += new_counts
            self._right = max(self._right, float(points[:, 0].max()))
            self._bottom = max(self._bottom, float(points[:, 1].max()))
            self._settled = settled
        last = preprocess.simplify_stroke(xy[last_start:], frame)
        right, bottom = last.max(axis=0).tolist()
        shift = preprocess.centring(max(self._right, right), max(self._bottom, bottom))
        if self._canvas is None or shift != self._shift:
            self._canvas, self._shift, self._drawn = preprocess.blank_canvas(), shift, 0
        if self._drawn < len(self._counts):
            start = sum(self._counts[: self._drawn])
            preprocess.draw(self._canvas, self._points[start:], self._counts[self._drawn :], shift)
            self._drawn = len(self._counts)
        canvas = self._canvas.copy()
        preprocess.draw(canvas, last, [len(last)], shift)
        return preprocess.downsample(canvas)
