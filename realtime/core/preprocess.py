"""Turn drawings into the 28×28 bitmaps of Google's Quick, Draw! dataset.

Pure functions: lists and arrays in, arrays out. The trainer and the server share them, so the model
sees live drawings exactly as it saw its training data.

Geometry (see ../shared/quickdraw/RENDERING.md): strokes are aligned to the top-left, scaled uniformly
so the longest side spans 0–255, resampled at 1-unit spacing and simplified with Ramer–Douglas–Peucker
(ε = 2); the result is centred on its bounding box in a 256 box, drawn with round caps and joins and a
line diameter of 16, padded by 16 + 8 on every side (304 units in all) and scaled down to 28×28.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from realtime.core.errors import InputError

# OpenCV reads this once, at import: refuse giant images (realtime.core.images) before any pixel buffer
# exists.
MAX_IMAGE_SIDE = 4096
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_IMAGE_SIDE * MAX_IMAGE_SIDE))
import cv2  # noqa: E402

SIDE = 28
BOX = 256.0
LINE_DIAMETER = 16
PADDING = 16
CANVAS = int(BOX) + 2 * PADDING + LINE_DIAMETER  # 304 units, drawn at one pixel per unit
RDP_EPSILON = 2.0
# Supersampled canvas: a whole multiple of 28, so the area downsample is an exact box filter. OpenCV draws
# a thick line as a band `thickness` px wide with a disc of whole-pixel radius round(thickness / 2) at each
# joint, so the line diameter comes in whole pixels. 6× (168 px for 304 units, 16 units ≈ 8.8 px) with
# thickness 8 is 0.0084 from Google's bitmaps (mean absolute difference over the paired drawings), against
# 0.0065 at 10× and 0.0060 at 14×, for a fifth of 14×'s pixels and about half of its drawing time.
_FINE = SIDE * 6
_FINE_LINE = 8
_SHIFT = 4  # fractional bits of OpenCV's fixed-point coordinates
_TO_FINE = _FINE / CANVAS * (1 << _SHIFT)  # 256-box units to fixed-point fine pixels

MAX_STROKES = 512
MAX_POINTS = 20_000  # per drawing, all strokes together
# Total line length after scaling to 0–255: resampling makes one point per unit, and a zigzag makes RDP
# quadratic, so this bounds the work. People draw about 1,000 units (2,200 at most in the sample data).
MAX_INK = 10_000
MAX_COORDINATE = 1_000_000.0  # canvas pixels, either sign: raw Quick, Draw! data has negative ones
MIN_EXTENT = 1e-6  # canvas units: a drawing smaller than this is a single point

_STROKE_TYPES = (list, tuple, np.ndarray)  # what a stroke may arrive as
# The ufuncs' own reductions: `array.min()` and friends add a Python-level wrapper per call, which counts
# on arrays of a few hundred points.
_min, _max, _sum = np.minimum.reduce, np.maximum.reduce, np.add.reduce


# --- strokes ---------------------------------------------------------------------------------------


def strokes_from_quickdraw(drawing: Any) -> list[np.ndarray]:
    """Convert Quick, Draw! strokes `[[xs], [ys]]` (or `[[xs], [ys], [ts]]`) to (N, 2) float arrays."""
    if not isinstance(drawing, list | tuple):
        raise InputError("bad_strokes", "strokes must be a list of [[x...], [y...]] strokes")
    if len(drawing) > MAX_STROKES:
        raise InputError("too_many_strokes", f"a drawing may have at most {MAX_STROKES} strokes")
    strokes = []
    for i, stroke in enumerate(drawing):
        if not isinstance(stroke, list | tuple) or len(stroke) not in (2, 3):
            raise InputError(
                "bad_strokes", f"stroke {i} must be [[x...], [y...]] or [[x...], [y...], [t...]]"
            )
        xs, ys = stroke[0], stroke[1]
        if not isinstance(xs, list | tuple) or not isinstance(ys, list | tuple) or len(xs) != len(ys):
            raise InputError("bad_strokes", f"stroke {i} needs x and y lists of the same length")
        strokes.append(_as_points(np.column_stack((_numbers(xs, i), _numbers(ys, i))), i))
    return strokes


def checked_coordinates(array: np.ndarray, what: str) -> np.ndarray:
    """Return numeric coordinates as float64, refusing non-finite ones and any beyond ±MAX_COORDINATE."""
    if array.dtype.kind not in "iuf":
        raise InputError("bad_points", f"{what}: coordinates must be numbers")
    array = array.astype(np.float64)
    if array.size and not (np.isfinite(array).all() and _max(np.abs(array), axis=None) <= MAX_COORDINATE):
        raise InputError("bad_points", f"{what}: coordinates must be finite and within ±{MAX_COORDINATE:g}")
    return array


def _numbers(values: Sequence[Any], index: int) -> np.ndarray:
    """Return one coordinate list of a Quick, Draw! stroke as a numeric array."""
    try:
        array = np.asarray(values)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InputError("bad_points", f"stroke {index}: coordinates must be numbers") from exc
    if array.dtype.kind not in "iuf" or array.ndim != 1:
        raise InputError("bad_points", f"stroke {index}: coordinates must be numbers")
    return array


def normalize_strokes(strokes: Sequence[Any]) -> list[np.ndarray]:
    """Align, scale to 0–255, resample at 1 unit and RDP-simplify strokes, as Quick, Draw! did."""
    xy, counts = _stacked(_validated(strokes))
    return _pieces(*_simplify(xy, counts, *_frame(xy)))


def rasterize_strokes(strokes: Sequence[Any]) -> np.ndarray:
    """Render strokes in canvas coordinates ([x, y] or [x, y, t] points) to a float32 28×28 in [0, 1]."""
    xy, counts = _stacked(_validated(strokes))
    return _render(*_simplify(xy, counts, *_frame(xy)))


def rasterize_points(xy: np.ndarray, counts: Sequence[int]) -> np.ndarray:
    """Render one (N, 2) array of canvas points, stroke after stroke, given each stroke's point count."""
    if not isinstance(xy, np.ndarray) or xy.ndim != 2 or xy.shape[1] != 2 or xy.dtype.kind not in "iuf":
        raise InputError("bad_points", "points must be an (N, 2) numeric array")
    try:
        counts = np.asarray(counts)
    except (ValueError, TypeError) as exc:
        raise InputError("bad_strokes", "counts must be whole numbers of points per stroke") from exc
    if counts.ndim != 1:
        raise InputError("bad_strokes", "counts must be a flat list of points per stroke")
    if len(counts) == 0:
        raise InputError("empty_drawing", "the drawing is empty")
    if len(counts) > MAX_STROKES:
        raise InputError("too_many_strokes", f"a drawing may have at most {MAX_STROKES} strokes")
    if len(xy) > MAX_POINTS:
        raise InputError("too_many_points", f"a drawing may have at most {MAX_POINTS} points")
    # The bounds first: a sum of absurd counts could wrap around.
    if counts.dtype.kind not in "iu" or _min(counts) < 1 or _max(counts) > len(xy) or _sum(counts) != len(xy):
        raise InputError("bad_strokes", "every stroke needs at least one point, and all points a stroke")
    counts = counts.astype(np.int64)
    xy = np.array(xy, np.float64, order="C")  # a copy: the steps below work in place
    return _render(*_simplify(xy, counts, *_frame(xy)))


def rasterize_quickdraw(drawing: Any) -> np.ndarray:
    """Render a Quick, Draw! drawing (`[[xs], [ys](, [ts])]` per stroke) to a float32 28×28 in [0, 1]."""
    return rasterize_strokes(strokes_from_quickdraw(drawing))


def _as_points(stroke: Any, index: int) -> np.ndarray:
    """Check one stroke of [x, y(, t)] points and return it as an (N, 2) or (N, 3) numeric array."""
    try:
        array = np.asarray(stroke)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InputError("bad_points", f"stroke {index}: points must be [x, y] pairs") from exc
    if array.dtype.kind not in "iuf":
        raise InputError("bad_points", f"stroke {index}: coordinates must be numbers")
    shape = array.shape
    if len(shape) != 2 or shape[1] not in (2, 3) or shape[0] == 0:
        raise InputError("bad_points", f"stroke {index} must hold at least one [x, y] point")
    return array


def _validated(strokes: Sequence[Any]) -> list[np.ndarray]:
    """Check a whole drawing against the limits and return its strokes as numeric arrays."""
    if not isinstance(strokes, list | tuple):
        raise InputError("bad_strokes", "strokes must be a list")
    if not strokes:
        raise InputError("empty_drawing", "the drawing is empty")
    if len(strokes) > MAX_STROKES:
        raise InputError("too_many_strokes", f"a drawing may have at most {MAX_STROKES} strokes")
    total = 0
    arrays = []
    for i, stroke in enumerate(strokes):
        if not isinstance(stroke, _STROKE_TYPES):
            raise InputError("bad_points", f"stroke {i} must be a list of [x, y] points")
        total += len(stroke)
        if total > MAX_POINTS:
            raise InputError("too_many_points", f"a drawing may have at most {MAX_POINTS} points")
        arrays.append(_as_points(stroke, i))
    return arrays


def _stacked(arrays: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Stack strokes' [x, y] points into one new float64 (N, 2) array, with the points per stroke."""
    xy = np.concatenate([a if a.shape[1] == 2 else a[:, :2] for a in arrays], dtype=np.float64)
    return xy, np.fromiter(map(len, arrays), np.int64, len(arrays))


def _frame(xy: np.ndarray) -> tuple[float, float, float]:
    """Return the (left, top, scale) that align a drawing to the top-left and scale it to 0–255."""
    x, y = xy[:, 0], xy[:, 1]
    left, right, top, bottom = float(_min(x)), float(_max(x)), float(_min(y)), float(_max(y))
    # These comparisons refuse NaN (every comparison with it is false), infinities and absurd values.
    low, high = -MAX_COORDINATE, MAX_COORDINATE
    if not (left >= low and top >= low and right <= high and bottom <= high):
        checked_coordinates(xy, "points")  # says which: not finite, or out of range
        raise InputError("bad_points", f"coordinates must be finite and within ±{MAX_COORDINATE:g}")
    return box_frame(left, top, right, bottom)


def box_frame(left: float, top: float, right: float, bottom: float) -> tuple[float, float, float]:
    """Return the (left, top, scale) that align a drawing with this bounding box and scale it to 0–255."""
    extent = max(right - left, bottom - top)
    # Below a millionth of a unit the drawing is a point: scaling it up to 255 would overflow to infinity.
    if not extent >= MIN_EXTENT:
        raise InputError("too_small", "the drawing is a single point: draw a line")
    return left, top, 255.0 / extent


def simplify(
    xy: np.ndarray, counts: Sequence[int], frame: tuple[float, float, float]
) -> tuple[np.ndarray, list[int]]:
    """Normalise checked, stacked strokes in a given frame (see `_simplify`); `xy` is left as it is."""
    return _simplify(np.array(xy, np.float64, order="C"), np.asarray(counts, np.int64), *frame)


def _simplify(
    xy: np.ndarray, counts: np.ndarray, left: float, top: float, scale: float
) -> tuple[np.ndarray, list[int]]:
    """Normalise stacked strokes (in place) into whole 0–255 units: (M, 2) points and points per stroke."""
    z = xy.view(np.complex128)[:, 0]  # x + iy, no copy: one operation per step for both coordinates
    z -= complex(left, top)
    z *= scale
    resampled, ends = _resample(z, counts)
    out = []
    start = 0
    for end in ends.tolist():
        n = end - start
        if n > 2:
            out.append(cv2.approxPolyDP(resampled[start:end], RDP_EPSILON, False))
        else:  # a dot is a zero-length line, whose round cap OpenCV then draws
            out.append(resampled[start:end] if n == 2 else resampled[[start, start]])
        start = end
    points = np.concatenate(out).reshape(-1, 2)
    return np.rint(points, out=points), [len(s) for s in out]


def _resample(z: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Resample every stroke at 1-unit arc-length spacing, keeping its end points (all strokes at once).

    Each stroke is laid on one global arc-length axis starting at a whole number, so its samples are
    simply the whole numbers of its span. Takes the points as complex numbers x + iy; returns float32
    points shaped (M, 1, 2), as OpenCV's polygon functions take them, and where each stroke's samples end.
    """
    ends = counts.cumsum()
    steps = np.abs(z[1:] - z[:-1])
    steps[ends[:-1] - 1] = 0.0  # no line between one stroke's end and the next one's start
    arc = np.empty(len(z))
    arc[0] = 0.0
    steps.cumsum(out=arc[1:])
    if arc[-1] > MAX_INK:  # the strokes' total length: the axis skips the gaps between strokes
        raise InputError(
            "too_much_ink", f"the strokes may be at most {MAX_INK} units long in all (at 256×256)"
        )
    start_arc = arc[ends - counts]
    # Samples at 0, 1, ... below each stroke's length, then at its end.
    samples = np.ceil(arc[ends - 1] - start_arc).astype(np.int64) + 1
    sample_ends = samples.cumsum()
    knots = arc + (sample_ends - samples - start_arc).repeat(counts)
    path = np.interp(np.arange(int(sample_ends[-1]), dtype=np.float64), knots, z)
    path[sample_ends - 1] = z[ends - 1]  # each stroke's last sample is its end point
    return path.view(np.float64).astype(np.float32).reshape(-1, 1, 2), sample_ends


def simplify_stroke(xy: np.ndarray, frame: tuple[float, float, float]) -> np.ndarray:
    """Normalise one checked stroke in a given frame: what `simplify` gives for it alone, in fewer steps.

    The live path calls this for every new state of the stroke being drawn, so each NumPy call it saves
    counts: the steps are `_simplify`'s and `_resample`'s for a single stroke, value for value.
    """
    left, top, scale = frame
    z = np.array(xy, np.float64, order="C").view(np.complex128)[:, 0]
    z -= complex(left, top)
    z *= scale
    arc = np.empty(len(z))
    arc[0] = 0.0
    np.abs(z[1:] - z[:-1]).cumsum(out=arc[1:])
    if arc[-1] > MAX_INK:
        raise InputError(
            "too_much_ink", f"the strokes may be at most {MAX_INK} units long in all (at 256×256)"
        )
    samples = math.ceil(arc[-1]) + 1
    path = np.interp(np.arange(samples, dtype=np.float64), arc, z)
    path[-1] = z[-1]
    resampled = path.view(np.float64).astype(np.float32).reshape(-1, 1, 2)
    if samples > 2:
        points = cv2.approxPolyDP(resampled, RDP_EPSILON, False).reshape(-1, 2)
    else:  # a dot is a zero-length line, whose round cap OpenCV then draws
        points = (resampled if samples == 2 else resampled[[0, 0]]).reshape(-1, 2)
    return np.rint(points, out=points)


def _pieces(points: np.ndarray, counts: Sequence[int]) -> list[np.ndarray]:
    """Split concatenated strokes back into one view per stroke (cheaper than np.split)."""
    out = []
    start = 0
    for n in counts:
        out.append(points[start : start + n])
        start += n
    return out


def _render(points: np.ndarray, counts: list[int]) -> np.ndarray:
    """Draw normalised strokes, centred, with round caps and joins: float32 28×28 in [0, 1]."""
    canvas = blank_canvas()
    draw(canvas, points, counts, centring(float(_max(points[:, 0])), float(_max(points[:, 1]))))
    return downsample(canvas)


def centring(right: float, bottom: float) -> tuple[float, float]:
    """Return the fixed-point shift that centres normalised strokes reaching `right`, `bottom` on the canvas.

    Pixel centres: OpenCV puts fine pixel i's centre at coordinate i, the dataset's renderer at i + 0.5
    (a pixel spans [i, i + 1)), hence the half-pixel shift.
    """
    offset_x = (BOX - right) / 2.0 + PADDING + LINE_DIAMETER / 2.0
    offset_y = (BOX - bottom) / 2.0 + PADDING + LINE_DIAMETER / 2.0
    # Fixed point, rounded: + 0.5 then truncation (every coordinate is positive here).
    return (
        offset_x * _TO_FINE - (1 << _SHIFT) / 2.0 + 0.5,
        offset_y * _TO_FINE - (1 << _SHIFT) / 2.0 + 0.5,
    )


def blank_canvas() -> np.ndarray:
    """Return an empty supersampled canvas."""
    return np.zeros((_FINE, _FINE), np.uint8)


def draw(canvas: np.ndarray, points: np.ndarray, counts: list[int], shift: tuple[float, float]) -> None:
    """Draw normalised strokes on a supersampled canvas, moved by a `centring` shift."""
    fixed = (points * _TO_FINE + shift).astype(np.int32)
    cv2.polylines(canvas, _pieces(fixed, counts), False, 255, _FINE_LINE, cv2.LINE_8, _SHIFT)


def downsample(canvas: np.ndarray) -> np.ndarray:
    """Average a supersampled canvas down to the float32 28×28 in [0, 1] the model takes."""
    small = cv2.resize(canvas, (SIDE, SIDE), interpolation=cv2.INTER_AREA)  # a box filter: 6 divides 168
    return np.multiply(small, np.float32(1.0 / 255.0), dtype=np.float32)
