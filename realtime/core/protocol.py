"""The live protocol's rules (docs/protocol.md): limits, payload parsing and error codes, in one place.

Every refusal is an `InputError` (realtime.core.errors) carrying one of the documented codes, whether the
protocol or the rasterizer below it refuses: handlers send it as an `error` event, HTTP routes as a 4xx.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from realtime.core import preprocess
from realtime.core.errors import InputError

PROTOCOL_VERSION = 1
MAX_SEQ = 2**53 - 1  # the largest integer a JavaScript client can count to exactly

# Codes for input over a limit (HTTP 413); every other input error is a 400.
TOO_LARGE = frozenset({"image_too_large", "too_many_points", "too_many_strokes", "too_much_ink"})
# Codes for a drawing with nothing to recognise yet: an empty prediction, not an error.
BLANK = frozenset({"empty_drawing", "too_small"})
_NUMBERS = (int, float)  # what JSON numbers decode to


def http_status(error: InputError) -> int:
    """Return the HTTP status for an input error: 413 for input over a limit, else 400."""
    return 413 if error.code in TOO_LARGE else 400


def is_blank(error: InputError) -> bool:
    """Tell whether an input error only says that there is nothing to recognise yet."""
    return error.code in BLANK


@dataclass(frozen=True)
class Limits:
    """Every limit a client must keep to: what `ready.limits` advertises, field for field."""

    max_points: int  # per drawing, all strokes together
    max_strokes: int
    max_points_per_message: int
    max_ink: float  # total line length, in the rasterizer's units (the drawing scaled to span 255)
    max_message_bytes: int
    max_image_bytes: int
    max_image_side: int
    rate_limit: float  # messages per second per connection
    rate_burst: int
    rate_limit_bytes: float
    rate_burst_bytes: int

    def advertised(self) -> dict[str, Any]:
        """Return the limits as sent in `ready`."""
        return asdict(self)

    def check_counts(self, strokes: int, points: int) -> None:
        """Refuse a drawing of more strokes or points than allowed."""
        if strokes > self.max_strokes:
            raise InputError("too_many_strokes", f"a drawing may have at most {self.max_strokes} strokes")
        if points > self.max_points:
            raise InputError("too_many_points", f"a drawing may have at most {self.max_points} points")


@dataclass(frozen=True)
class Ink:
    """How much line a drawing has: its strokes' total length and bounding box, in canvas units.

    The rasterizer's work grows with the length of line it resamples and simplifies, measured after
    scaling the drawing to span 255 units, and a zigzag makes its simplification quadratic: 3,000 points
    zigzagging across the canvas take seconds. People draw about 1,000 units (2,200 at most in the
    sample), so the limit is far above any drawing and far below any stall.

    Plain floats, not arrays: a live message carries one or two points, for which NumPy's per-call
    overhead would cost ten times the arithmetic.
    """

    length: float = 0.0
    left: float = math.inf
    top: float = math.inf
    right: float = -math.inf
    bottom: float = -math.inf

    def plus(self, points: Sequence[Sequence[float]], joined_to: Sequence[float] | None = None) -> Ink:
        """Return the ink with `points` added, joined by a segment to `joined_to` if given."""
        length, left, top, right, bottom = self.length, self.left, self.top, self.right, self.bottom
        px, py = points[0] if joined_to is None else joined_to
        for x, y in points:
            length += math.hypot(x - px, y - py)
            px, py = x, y
            left, right = min(left, x), max(right, x)
            top, bottom = min(top, y), max(bottom, y)
        return Ink(length, left, top, right, bottom)

    @property
    def units(self) -> float:
        """Return the length in the rasterizer's units: the drawing scaled so its longer side spans 255."""
        extent = max(self.right - self.left, self.bottom - self.top)
        return self.length * 255.0 / extent if extent > 0 else 0.0

    @classmethod
    def of(cls, strokes: list[np.ndarray]) -> Ink:
        """Measure complete strokes ((N, 2) arrays; in NumPy, as a `sync` may hold 20,000 points)."""
        if not strokes:
            return cls()
        length = sum(float(np.hypot(*np.diff(stroke, axis=0).T).sum()) for stroke in strokes)
        xy = np.concatenate(strokes)
        (left, top), (right, bottom) = xy.min(axis=0).tolist(), xy.max(axis=0).tolist()
        return cls(length, left, top, right, bottom)

    def check(self, limits: Limits) -> Ink:
        """Return the ink, or refuse it when it is over the limit."""
        if self.units > limits.max_ink:
            raise InputError(
                "too_much_ink",
                f"the strokes may be at most {limits.max_ink:g} units long in all (at 256×256)",
            )
        return self


def parse_payload(args: tuple[Any, ...]) -> dict[str, Any]:
    """Return an event's single JSON-object argument, refusing anything else."""
    if len(args) != 1 or not isinstance(args[0], dict):
        raise InputError("bad_payload", "every event carries exactly one JSON object")
    return args[0]


def parse_seq(payload: dict[str, Any], last_seq: int) -> int:
    """Return the payload's `seq`: an integer from 0 to 2^53 - 1, above the last accepted one."""
    seq = payload.get("seq")
    if type(seq) is not int or not 0 <= seq <= MAX_SEQ:
        raise InputError("bad_seq", f"seq must be an integer from 0 to {MAX_SEQ}")
    if seq <= last_seq:
        raise InputError("stale_seq", f"seq {seq} is not above the last accepted seq {last_seq}", seq)
    return seq


def parse_points(value: Any, limits: Limits) -> list[list[float]]:
    """Check `[[x, y], ...]`: a non-empty list of number pairs, within the per-message point limit.

    Returns the list itself: checked in plain Python, which for the one or two points of a typical live
    message is several times faster than converting them to an array first.
    """
    if not isinstance(value, list) or not value:
        raise InputError("bad_points", "points must be a non-empty list of [x, y] pairs")
    if len(value) > limits.max_points_per_message:
        raise InputError(
            "too_many_points",
            f"at most {limits.max_points_per_message} points per message: send smaller batches",
        )
    low, high = -preprocess.MAX_COORDINATE, preprocess.MAX_COORDINATE
    for point in value:
        if type(point) is not list or len(point) != 2:
            raise InputError("bad_points", "points must be [x, y] pairs of numbers")
        x, y = point
        if type(x) not in _NUMBERS or type(y) not in _NUMBERS:  # bool is an int, but not a coordinate
            raise InputError("bad_points", "points: coordinates must be numbers")
        if not (low <= x <= high and low <= y <= high):  # NaN fails every comparison
            raise InputError("bad_points", f"points: coordinates must be finite and within ±{high:g}")
    return value


def parse_strokes(value: Any, limits: Limits) -> list[np.ndarray]:
    """Turn Quick, Draw! strokes `[[[x...], [y...](, [t...])], ...]` into (N, 2) arrays, within the limits."""
    if isinstance(value, list):
        # Count before converting anything, so an oversized drawing costs no more than reading its lengths.
        limits.check_counts(len(value), 0)
        declared = sum(len(s[0]) for s in value if isinstance(s, list) and s and isinstance(s[0], list))
        limits.check_counts(len(value), declared)
    strokes = preprocess.strokes_from_quickdraw(value)
    limits.check_counts(len(strokes), sum(len(s) for s in strokes))
    strokes = [preprocess.checked_coordinates(s, f"stroke {i}") for i, s in enumerate(strokes)]
    Ink.of(strokes).check(limits)
    return strokes


def parse_see_bitmap(payload: dict[str, Any], current: bool) -> bool:
    """Return `options.see_bitmap` (the current setting when absent), refusing anything but a boolean."""
    see_bitmap = payload.get("see_bitmap", current)
    if not isinstance(see_bitmap, bool):
        raise InputError("bad_payload", "see_bitmap must be true or false")
    return see_bitmap
