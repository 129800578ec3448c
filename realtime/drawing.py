"""One connection's drawing, and strict checks that turn protocol payloads into its updates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from realtime import preprocess

MAX_SEQ = 2**53 - 1  # the largest integer a JavaScript client can count to exactly


class ProtocolError(ValueError):
    """A message the server refuses; `code` is the `error` event's code (see docs/protocol.md)."""

    def __init__(self, code: str, message: str, seq: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.seq = seq  # the refused message's seq, when it had a valid one


@dataclass(frozen=True)
class Limits:
    """Caps on one connection's drawing and on each message."""

    max_points: int
    max_strokes: int
    max_points_per_message: int
    max_ink: float  # total line length, in the rasterizer's units (the drawing scaled to span 255)


@dataclass(frozen=True)
class Ink:
    """How much line a drawing has: its strokes' total length and bounding box, in canvas units.

    The rasterizer's work grows with the length of line it resamples and simplifies, measured after
    scaling the drawing to span 255 units, and a zigzag makes its simplification quadratic: 3,000 points
    zigzagging across the canvas take seconds. People draw about 1,000 units (2,200 at most in the
    sample), so the limit is far above any drawing and far below any stall.
    """

    length: float = 0.0
    low: np.ndarray | None = None
    high: np.ndarray | None = None

    def plus(self, points: np.ndarray, joined_to: np.ndarray | None = None) -> Ink:
        """Return the ink with `points` added, joined by a segment to `joined_to` if given."""
        length = self.length + float(np.hypot(*np.diff(points, axis=0).T).sum())
        if joined_to is not None:
            length += float(np.hypot(*(points[0] - joined_to)))
        low, high = points.min(axis=0), points.max(axis=0)
        if self.low is not None and self.high is not None:
            low, high = np.minimum(self.low, low), np.maximum(self.high, high)
        return Ink(length, low, high)

    @property
    def units(self) -> float:
        """Return the length in the rasterizer's units: the drawing scaled so its longer side spans 255."""
        if self.low is None or self.high is None:
            return 0.0
        extent = float((self.high - self.low).max())
        return self.length * 255.0 / extent if extent > 0 else 0.0

    @classmethod
    def of(cls, strokes: list[np.ndarray]) -> Ink:
        """Measure complete strokes."""
        ink = cls()
        for stroke in strokes:
            ink = ink.plus(stroke)
        return ink

    def check(self, limits: Limits) -> Ink:
        """Return the ink, or refuse it when it is over the limit."""
        if self.units > limits.max_ink:
            raise ProtocolError(
                "too_much_ink",
                f"the strokes may be at most {limits.max_ink:g} units long in all (at 256×256)",
            )
        return self


def parse_payload(args: tuple[Any, ...]) -> dict[str, Any]:
    """Return an event's single JSON-object argument, refusing anything else."""
    if len(args) != 1 or not isinstance(args[0], dict):
        raise ProtocolError("bad_payload", "every event carries exactly one JSON object")
    return args[0]


def parse_seq(payload: dict[str, Any], last_seq: int) -> int:
    """Return the payload's `seq`: an integer from 0 to 2^53 - 1, above the last accepted one."""
    seq = payload.get("seq")
    if type(seq) is not int or not 0 <= seq <= MAX_SEQ:
        raise ProtocolError("bad_seq", f"seq must be an integer from 0 to {MAX_SEQ}")
    if seq <= last_seq:
        raise ProtocolError("stale_seq", f"seq {seq} is not above the last accepted seq {last_seq}", seq)
    return seq


def _checked_coordinates(array: np.ndarray, what: str) -> np.ndarray:
    """Return numeric coordinates as float64, refusing non-finite or absurd values."""
    if array.dtype.kind not in "iuf":
        raise ProtocolError("bad_points", f"{what}: coordinates must be numbers")
    array = array.astype(np.float64)
    if array.size and not (np.isfinite(array).all() and np.abs(array).max() <= preprocess.MAX_COORDINATE):
        raise ProtocolError(
            "bad_points", f"{what}: coordinates must be finite and within ±{preprocess.MAX_COORDINATE:g}"
        )
    return array


def parse_points(value: Any, limits: Limits) -> np.ndarray:
    """Turn `[[x, y], ...]` into an (N, 2) float64 array, within the per-message point limit."""
    if not isinstance(value, list) or not value:
        raise ProtocolError("bad_points", "points must be a non-empty list of [x, y] pairs")
    if len(value) > limits.max_points_per_message:
        raise ProtocolError(
            "too_many_points",
            f"at most {limits.max_points_per_message} points per message: send smaller batches",
        )
    try:
        array = np.asarray(value)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ProtocolError("bad_points", "points must be [x, y] pairs of numbers") from exc
    if array.ndim != 2 or array.shape[1] != 2:
        raise ProtocolError("bad_points", "points must be [x, y] pairs of numbers")
    return _checked_coordinates(array, "points")


def parse_strokes(value: Any, limits: Limits) -> list[np.ndarray]:
    """Turn Quick, Draw! strokes `[[[x...], [y...](, [t...])], ...]` into (N, 2) arrays, within the limits."""
    if isinstance(value, list):
        # Count before converting anything, so an oversized drawing costs no more than reading its lengths.
        if len(value) > limits.max_strokes:
            raise ProtocolError(
                "too_many_strokes", f"a drawing may have at most {limits.max_strokes} strokes"
            )
        declared = sum(len(s[0]) for s in value if isinstance(s, list) and s and isinstance(s[0], list))
        if declared > limits.max_points:
            raise ProtocolError("too_many_points", f"a drawing may have at most {limits.max_points} points")
    try:
        strokes = preprocess.strokes_from_quickdraw(value)
    except preprocess.PreprocessError as exc:
        raise ProtocolError(exc.code, exc.message) from exc
    if sum(len(s) for s in strokes) > limits.max_points:
        raise ProtocolError("too_many_points", f"a drawing may have at most {limits.max_points} points")
    strokes = [_checked_coordinates(s, f"stroke {i}") for i, s in enumerate(strokes)]
    Ink.of(strokes).check(limits)
    return strokes


# A drawing as the predictor renders it: the bitmap of a snapshot image, or (points, points per stroke).
# Stored points are never modified, so a snapshot is safe to read on another thread.
Snapshot = np.ndarray | tuple[np.ndarray, tuple[int, ...]]


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
        self.points = 0
        self.version = 0  # bumped whenever what the model would see may change

    @property
    def strokes(self) -> int:
        """Return how many strokes the drawing has."""
        return len(self._counts)

    def _changed(self) -> None:
        """Record a change of content."""
        self.version += 1

    def _stroke_arrays(self) -> list[np.ndarray]:
        """Return each stroke's points (views of the buffer)."""
        out, start = [], 0
        for n in self._counts:
            out.append(self._xy[start : start + n])
            start += n
        return out

    def add_points(self, points: np.ndarray) -> None:
        """Append points to the open stroke, opening a new stroke if none is open."""
        fresh = self._image is not None  # strokes after a snapshot image start a new drawing
        opening = fresh or not self._open
        if opening and (0 if fresh else len(self._counts)) >= self.limits.max_strokes:
            raise ProtocolError(
                "too_many_strokes", f"a drawing may have at most {self.limits.max_strokes} strokes"
            )
        if (0 if fresh else self.points) + len(points) > self.limits.max_points:
            raise ProtocolError(
                "too_many_points", f"a drawing may have at most {self.limits.max_points} points"
            )
        tail = None if opening else self._xy[self.points - 1]
        ink = (Ink() if fresh else self._ink).plus(points, tail).check(self.limits)
        if fresh:
            self.clear()
        end = self.points + len(points)
        if end > len(self._xy):
            grown = np.empty((min(max(end, 2 * len(self._xy), 64), self.limits.max_points), 2))
            grown[: self.points] = self._xy[: self.points]
            self._xy = grown
        self._xy[self.points : end] = points
        if opening:
            self._counts.append(0)
            self._open = True
        self._counts[-1] += len(points)
        self._ink = ink
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
            self._ink = Ink.of(self._stroke_arrays())
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
        self.points = 0
        self._changed()

    def replace(self, strokes: list[np.ndarray]) -> None:
        """Replace the drawing with complete strokes (checked by `parse_strokes`); none is left open."""
        self.clear()
        self._xy = np.concatenate(strokes) if strokes else np.empty((0, 2))
        self._counts = [len(stroke) for stroke in strokes]
        self._ink = Ink.of(strokes)
        self.points = len(self._xy)

    def set_image(self, bitmap: np.ndarray | None) -> None:
        """Replace the drawing with a snapshot image's 28×28 bitmap (None: a blank image)."""
        self.clear()
        self._image = bitmap

    def snapshot(self) -> Snapshot:
        """Return the current content in a form that later updates cannot change."""
        if self._image is not None:
            return self._image
        return self._xy[: self.points], tuple(self._counts)


def render(snapshot: Snapshot) -> np.ndarray | None:
    """Rasterize a snapshot to the model's 28×28 bitmap; None when there is nothing to recognise yet."""
    if isinstance(snapshot, np.ndarray):
        return snapshot
    try:
        return preprocess.rasterize_points(*snapshot)
    except preprocess.PreprocessError as exc:
        if exc.code in ("empty_drawing", "too_small"):
            return None
        raise
