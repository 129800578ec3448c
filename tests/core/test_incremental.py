"""The live path's incremental rasterizer gives the very bitmap the whole-drawing rasterizer gives."""

from __future__ import annotations

import numpy as np
import pytest

from bench.drawers import replay
from harness.quickdraw import ANIMALS, drawings
from realtime.config import Config
from realtime.core import preprocess
from realtime.core.drawing import Drawing, Strokes, render
from realtime.core.errors import InputError
from realtime.core.incremental import IncrementalRaster

LIMITS = Config().limits


def full(snapshot: Strokes) -> np.ndarray | None:
    """Rasterize a snapshot's points from scratch, as the HTTP routes and the trainer do."""
    try:
        return preprocess.rasterize_points(snapshot.xy, snapshot.counts)
    except InputError as exc:
        assert exc.code in ("empty_drawing", "too_small")
        return None


def same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    """Tell whether two renders are identical (both blank, or equal bit for bit)."""
    return (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))


@pytest.mark.parametrize("word", ANIMALS)
def test_every_state_of_real_drawings_renders_as_the_whole_drawing_does(word: str) -> None:
    # Each drawing replayed message by message, as the page sends it (bench.drawers.replay).
    states = 0
    for record in drawings(word, "raw")[:8]:
        drawing = Drawing(LIMITS)
        for step in replay(record["drawing"], 1.0)[0]:
            if step.event == "stroke_points":
                drawing.add_points(step.points)
            elif step.event == "stroke_end":
                drawing.end_stroke()
            else:
                continue
            snapshot = drawing.snapshot()
            assert same(render(snapshot), full(snapshot)), f"{word}: state {states}"
            states += 1
    assert states > 500


def test_undo_clear_and_sync_start_afresh_and_older_states_still_render_right() -> None:
    strokes = [np.array(s, np.float64).T[:, :2] for s in drawings("cat", "raw")[0]["drawing"]]
    drawing = Drawing(LIMITS)
    taken = []
    for stroke in strokes:
        drawing.add_points(stroke)
        drawing.end_stroke()
        taken.append(drawing.snapshot())
    drawing.undo()
    drawing.add_points(strokes[0][::-1] * 0.5)  # a different last stroke at another size
    taken.append(drawing.snapshot())
    drawing.replace(strokes[:2])
    taken.append(drawing.snapshot())
    drawing.clear()
    drawing.add_points(strokes[1])
    taken.append(drawing.snapshot())
    # In order, then a newer state before an older one of the same strokes.
    for snapshot in [*taken, taken[2], taken[1], taken[-1]]:
        assert same(render(snapshot), full(snapshot))


def test_an_older_state_in_the_same_frame_renders_without_the_later_strokes() -> None:
    # Later strokes inside the first stroke's box keep the frame (and the centring) as they were, so
    # only the stroke count tells the rasterizer that an older state is not a later one.
    square = [[0.0, 0.0], [100.0, 0.0], [100.0, 100.0], [0.0, 100.0], [0.0, 0.0]]
    eyes = [[[20.0, 30.0], [80.0, 30.0]], [[20.0, 70.0], [80.0, 70.0]]]
    drawing = Drawing(LIMITS)
    drawing.add_points(square)
    drawing.end_stroke()
    older = drawing.snapshot()
    for stroke in eyes:
        drawing.add_points(stroke)
        drawing.end_stroke()
    newer = drawing.snapshot()
    assert newer.box == older.box and newer.raster is older.raster
    assert np.array_equal(render(newer), preprocess.rasterize_strokes([square, *eyes]))
    assert np.array_equal(render(older), preprocess.rasterize_strokes([square]))


def test_a_blank_drawing_is_refused_as_blank() -> None:
    raster = IncrementalRaster()
    with pytest.raises(InputError) as empty:
        raster.render(np.empty((0, 2)), (), (np.inf, np.inf, -np.inf, -np.inf))
    assert empty.value.code == "empty_drawing"
    dot = np.array([[5.0, 5.0], [5.0, 5.0]])
    with pytest.raises(InputError) as small:
        raster.render(dot, (2,), (5.0, 5.0, 5.0, 5.0))
    assert small.value.code == "too_small"
