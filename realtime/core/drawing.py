"""One connection's drawing: its strokes (or snapshot image), kept within the protocol's limits."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from realtime.core import preprocess
from realtime.core.errors import InputError
from realtime.core.incremental import Box, IncrementalRaster
from realtime.core.protocol import Ink, Limits, is_blank


@dataclass(frozen=True)
class Strokes:
    """A drawing's strokes as they were at one moment: stacked points, points per stroke, bounding box.

    Stored points are never modified, so a snapshot is safe to read on another thread; `raster` is the
    drawing's rasterizer, which only the prediction worker uses.
    """

    xy: np.ndarray
    counts: tuple[int, ...]
    box: Box
    raster: IncrementalRaster


# A drawing as the predictor renders it: the bitmap of a snapshot image, or its strokes.
Snapshot = np.ndarray | Strokes


class Drawing:
    """The strokes of one connection's drawing (or the bitmap of its last snapshot image), within limits.

    All points live in one (capacity, 2) buffer, stroke after stroke, grown by doubling: appending costs
    no copy of the drawing, and a snapshot is a view of the points so far. Points a snapshot may see are
    never overwritten: removing points (undo, clear) starts a new buffer.
    """

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._xy = np.empty((0, 2))
        self._counts: list[int] = []  # points per stroke
        self._open = False  # whether the last stroke still takes points
        self._image: np.ndarray | None = None
        self._ink = Ink()
        self._tail: list[float] | None = None  # the open stroke's last point
        self._raster = IncrementalRaster()  # replaced whenever strokes are changed rather than extended
        # (first point, monotonic ms) of each batch of points as it arrived: the drawing's times, for
        # keeping it in Quick, Draw! raw form (realtime.collect); one tuple per message.
        self._arrivals: list[tuple[int, float]] = []
        self.points = 0
        self.version = 0  # bumped whenever what the model would see may change
        # Whether the drawing was last replaced whole (`sync`, a snapshot image) rather than grown: it is
        # then judged as a finished drawing (realtime.model.sureness).
        self.whole = False

    @property
    def strokes(self) -> int:
        """Return how many strokes the drawing has."""
        return len(self._counts)

    def _changed(self) -> None:
        """Record a change of content."""
        self.version += 1
        self.whole = False

    def _stroke_arrays(self) -> list[np.ndarray]:
        """Return each stroke's points (views of the buffer)."""
        out, start = [], 0
        for n in self._counts:
            out.append(self._xy[start : start + n])
            start += n
        return out

    def add_points(self, points: list[list[float]]) -> None:
        """Append checked [x, y] points to the open stroke, opening a new stroke if none is open."""
        fresh = self._image is not None  # strokes after a snapshot image start a new drawing
        opening = fresh or not self._open
        kept_strokes, kept_points = (0, 0) if fresh else (len(self._counts), self.points)
        self.limits.check_counts(kept_strokes + opening, kept_points + len(points))
        tail = None if opening else self._tail
        ink = (Ink() if fresh else self._ink).plus(points, tail).check(self.limits)
        if fresh:
            self.clear()
        end = self.points + len(points)
        if end > len(self._xy):
            grown = np.empty((min(max(end, 2 * len(self._xy), 64), self.limits.max_points), 2))
            grown[: self.points] = self._xy[: self.points]
            self._xy = grown
        self._xy[self.points : end] = points
        self._arrivals.append((self.points, time.monotonic() * 1000.0))
        if opening:
            self._counts.append(0)
            self._open = True
        self._counts[-1] += len(points)
        self._ink = ink
        self._tail = points[-1]
        self.points = end
        self._changed()

    def end_stroke(self) -> None:
        """Close the open stroke, if any (what the model sees does not change)."""
        self._open = False

    def undo(self) -> None:
        """Remove the last stroke (open or not), or the snapshot image."""
        if self._image is not None:
            self._image = None
        elif self._counts:
            self.points -= self._counts.pop()
            self._xy = self._xy[: self.points].copy()  # a new buffer: snapshots keep the old one
            self._arrivals = [a for a in self._arrivals if a[0] < self.points]
            self._ink = Ink.of(self._stroke_arrays())
            self._raster = IncrementalRaster()
        else:
            return
        self._open = False
        self._changed()

    def clear(self) -> None:
        """Remove everything."""
        self._xy = np.empty((0, 2))
        self._counts = []
        self._open = False
        self._image = None
        self._ink = Ink()
        self._tail = None
        self._raster = IncrementalRaster()
        self._arrivals = []
        self.points = 0
        self._changed()

    def replace(self, strokes: list[np.ndarray]) -> None:
        """Replace the drawing with complete strokes (already checked); none is left open."""
        self.clear()
        self._xy = np.concatenate(strokes) if strokes else np.empty((0, 2))
        self._counts = [len(stroke) for stroke in strokes]
        self._ink = Ink.of(strokes)
        self.points = len(self._xy)
        self._arrivals = [(0, time.monotonic() * 1000.0)] if self.points else []
        self.whole = True

    def set_image(self, bitmap: np.ndarray | None) -> None:
        """Replace the drawing with a snapshot image's 28×28 bitmap (None: a blank image)."""
        self.clear()
        self._image = bitmap
        self.whole = True

    def raw(self) -> list[list[list[float]]]:
        """Return the strokes in Quick, Draw! raw form, `[[xs], [ys], [ts]]` each ([] for an image).

        `ts` are milliseconds from the first point, as the server received them: the points of one
        message are spread evenly since the message before (the page sends one every 33 ms). A drawing
        replaced whole (`sync`) has one time for all its points.
        """
        if self._image is not None or not self.points:
            return []
        times = np.empty(self.points)
        starts = [start for start, _ in self._arrivals] + [self.points]
        previous = self._arrivals[0][1]
        for (start, at), end in zip(self._arrivals, starts[1:], strict=True):
            n = end - start
            times[start:end] = previous + (at - previous) * np.arange(1, n + 1) / n
            previous = at
        times = np.rint(times - times[0]).astype(int)
        stroke_times = np.split(times, np.cumsum(self._counts)[:-1])
        return [
            [xy[:, 0].tolist(), xy[:, 1].tolist(), ts.tolist()]
            for xy, ts in zip(self._stroke_arrays(), stroke_times, strict=True)
        ]

    def bitmap(self) -> np.ndarray | None:
        """Return the model's 28×28 view of the drawing, rendered afresh (None: nothing to recognise yet).

        The live worker renders incrementally; this renders from the points, with the same result.
        """
        if self._image is not None:
            return self._image
        try:
            return preprocess.rasterize_strokes(self._stroke_arrays())
        except InputError as exc:
            if is_blank(exc):
                return None
            raise

    def snapshot(self) -> Snapshot:
        """Return the current content in a form that later updates cannot change."""
        if self._image is not None:
            return self._image
        ink = self._ink
        box = (ink.left, ink.top, ink.right, ink.bottom)
        return Strokes(self._xy[: self.points], tuple(self._counts), box, self._raster)


def render(snapshot: Snapshot) -> np.ndarray | None:
    """Rasterize a snapshot to the model's 28×28 bitmap; None when there is nothing to recognise yet."""
    if isinstance(snapshot, np.ndarray):
        return snapshot
    try:
        return snapshot.raster.render(snapshot.xy, snapshot.counts, snapshot.box)
    except InputError as exc:
        if is_blank(exc):
            return None
        raise
