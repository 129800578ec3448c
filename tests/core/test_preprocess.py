"""The rasterizer against Google's own 28×28 bitmaps of the same drawings, and its handling of bad input."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.quickdraw import paired, raw_points
from realtime.core import preprocess
from realtime.core.errors import InputError
from tests.support.images import assert_bitmap_or_typed_error


def mean_abs(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute pixel difference in [0, 1] units."""
    return float(np.abs(a - b).mean())


def test_enough_paired_drawings() -> None:
    assert len(paired()) >= 80
    assert {p.word for p in paired()} == {"cat", "dog", "fish", "octopus"}


@pytest.mark.parametrize("kind", ["simplified", "raw"])
def test_strokes_match_googles_bitmaps(kind: str) -> None:
    diffs = [mean_abs(preprocess.rasterize_quickdraw(getattr(p, kind)), p.bitmap) for p in paired()]
    assert np.mean(diffs) <= 0.02, f"mean {np.mean(diffs):.4f}"
    worst = int(np.argmax(diffs))
    assert diffs[worst] <= 0.03, f"{paired()[worst].key_id}: {diffs[worst]:.4f}"


def test_another_drawing_is_far_from_the_bitmap() -> None:
    """The parity metric can fail: a different drawing of the same class scores far worse."""
    items = [p for p in paired() if p.word == "cat"]
    diffs = [mean_abs(preprocess.rasterize_quickdraw(a.raw), b.bitmap) for a, b in itertools.pairwise(items)]
    assert np.mean(diffs) > 0.1


def test_canvas_size_and_position_do_not_matter() -> None:
    rng = np.random.default_rng(7)
    for item in paired():
        strokes = raw_points(item.raw)
        reference = preprocess.rasterize_strokes(strokes)
        factor = rng.uniform(0.5, 4.0)
        shift = rng.uniform(-300, 300, size=2)
        moved = [[[x * factor + shift[0], y * factor + shift[1]] for x, y in s] for s in strokes]
        assert mean_abs(preprocess.rasterize_strokes(moved), reference) <= 0.005, item.key_id


def test_timestamps_and_arrays_are_accepted() -> None:
    item = paired()[0]
    with_time = [[[x, y, t] for x, y, t in zip(*s, strict=True)] for s in item.raw]
    as_arrays = [np.asarray(s, np.float64) for s in raw_points(item.raw)]
    expected = preprocess.rasterize_quickdraw(item.raw)
    np.testing.assert_allclose(preprocess.rasterize_strokes(with_time), expected)
    np.testing.assert_allclose(preprocess.rasterize_strokes(as_arrays), expected)
    stacked = np.concatenate(as_arrays)
    np.testing.assert_allclose(preprocess.rasterize_points(stacked, [len(s) for s in as_arrays]), expected)


@pytest.mark.parametrize(
    ("xy", "counts", "code"),
    [
        (np.zeros((0, 2)), [], "empty_drawing"),
        (np.zeros((3, 2)), [2], "bad_strokes"),  # a point in no stroke
        (np.zeros((3, 2)), [3, 0], "bad_strokes"),  # an empty stroke
        (np.zeros((3, 2)), [1.5, 1.5], "bad_strokes"),
        (np.zeros((2, 2)), np.array([2**64 - 1, 3], np.uint64), "bad_strokes"),  # a sum that wraps
        (np.zeros((2, 2)), [2**63 - 1, 2**63 - 1, 4], "bad_strokes"),
        (np.zeros((3, 2)), [[3]], "bad_strokes"),
        (np.zeros((3, 2)), [1, [2]], "bad_strokes"),
        ([[0, 0], [1, 1]], [2], "bad_points"),  # a list, not an array
        (np.zeros((3, 3)), [3], "bad_points"),
        (np.array([[0.0, 0.0], [np.nan, 1.0]]), [2], "bad_points"),
        (np.array([[0.0, 0.0], [2e6, 1.0]]), [2], "bad_points"),
        (np.array([[5.0, 5.0], [5.0, 5.0]]), [1, 1], "too_small"),
        (np.zeros((preprocess.MAX_POINTS + 1, 2)), [preprocess.MAX_POINTS + 1], "too_many_points"),
        (np.zeros((600, 2)), [1] * 600, "too_many_strokes"),
    ],
)
def test_bad_point_arrays_raise_typed_errors(xy: np.ndarray, counts: list[int], code: str) -> None:
    with pytest.raises(InputError) as error:
        preprocess.rasterize_points(xy, counts)
    assert error.value.code == code


def test_output_format() -> None:
    bitmap = preprocess.rasterize_quickdraw(paired()[0].raw)
    assert bitmap.shape == (28, 28) and bitmap.dtype == np.float32
    assert bitmap.min() >= 0.0 and bitmap.max() <= 1.0 and bitmap.max() > 0.9


def test_normalisation_follows_the_dataset() -> None:
    strokes = preprocess.normalize_strokes([[[100, 50], [300, 50]], [[100, 150], [100, 150]]])
    points = np.concatenate(strokes)
    assert points.min() == 0 and points.max() == 255  # aligned top-left, longest side 0..255
    np.testing.assert_array_equal(points, np.round(points))  # whole units, as the simplified files
    assert len(strokes[0]) == 2  # a straight line simplifies to its two ends


def test_a_dot_is_drawn_round() -> None:
    bitmap = preprocess.rasterize_strokes([[[0, 0], [100, 0]], [[50, 80]]])
    dot = bitmap[19:24, 11:17]
    assert dot.max() > 0.5  # the single-point stroke below the line's middle left ink


# --- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("strokes", "code"),
    [
        ([], "empty_drawing"),
        ([[[5, 5]]], "too_small"),
        ([[[5, 5], [5, 5]]], "too_small"),
        ([[[0, 0], [math.nan, 1]]], "bad_points"),
        ([[[0, 0], [math.inf, 1]]], "bad_points"),
        ([[[0, 0], [1e12, 1]]], "bad_points"),
        ([[[0, 0], [-1e12, 1]]], "bad_points"),
        ([[[0, 0], ["1", 1]]], "bad_points"),
        ([[[0, 0, 0, 0]]], "bad_points"),
        ([[0, 1]], "bad_points"),
        ([[]], "bad_points"),
        ("0,0", "bad_strokes"),
        ([[[0, 0], [1, 1]]] * (preprocess.MAX_STROKES + 1), "too_many_strokes"),
        ([[[i, i] for i in range(preprocess.MAX_POINTS + 1)]], "too_many_points"),
        ([[[0, 0], [100, 0]] * 30], "too_much_ink"),  # a zigzag: 59 lines across the drawing
    ],
)
def test_bad_strokes_raise_typed_errors(strokes: object, code: str) -> None:
    with pytest.raises(InputError) as error:
        preprocess.rasterize_strokes(strokes)
    assert error.value.code == code
    assert error.value.message


@pytest.mark.parametrize(
    "drawing",
    [[[[0, 1], [0]]], [[[0, 1]]], [["ab", "cd"]], [[[0, 1], [0, "x"]]], {"x": 1}, [[[[0]], [[1]]]]],
)
def test_bad_quickdraw_strokes_raise_typed_errors(drawing: object) -> None:
    with pytest.raises(InputError):
        preprocess.rasterize_quickdraw(drawing)


# --- properties --------------------------------------------------------------------------------------

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.text(max_size=3),
    st.booleans(),
    st.none(),
)
junk = st.recursive(numbers, lambda inner: st.lists(inner, max_size=4), max_leaves=12)
plausible = st.lists(
    st.lists(st.tuples(st.floats(-2000, 2000), st.floats(-2000, 2000)).map(list), min_size=1, max_size=30),
    min_size=1,
    max_size=8,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(plausible, st.lists(junk, max_size=5), junk))
def test_any_strokes_give_a_bitmap_or_a_typed_error(strokes: object) -> None:
    assert_bitmap_or_typed_error(preprocess.rasterize_strokes, strokes)
    assert_bitmap_or_typed_error(preprocess.rasterize_quickdraw, strokes)
