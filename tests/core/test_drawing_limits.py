"""A drawing within its limits, alone: ink measured as the rasterizer scales it, capped, given back."""

from __future__ import annotations

import numpy as np
import pytest

from realtime.config import Config
from realtime.core import preprocess
from realtime.core.drawing import Drawing
from realtime.core.errors import InputError
from realtime.core.protocol import Ink, parse_strokes

LIMITS = Config().limits


def test_ink_is_measured_as_the_rasterizer_scales_the_drawing() -> None:
    square = np.array([[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]], float)
    assert Ink.of([square]).units == pytest.approx(4 * 255)
    assert Ink.of([square * 37 + 5]).units == pytest.approx(4 * 255)  # position and scale do not matter
    assert Ink().plus(square[:2]).plus(square[2:], joined_to=square[1]).units == pytest.approx(4 * 255)
    assert Ink.of([np.array([[3.0, 3.0]])]).units == 0  # a dot


def test_a_drawing_refuses_ink_over_the_limit_and_undo_gives_it_back() -> None:
    drawing = Drawing(LIMITS)
    line = np.array([[0.0, 0.0], [1000.0, 0.0]])  # one crossing of the canvas: 255 units
    for _ in range(39):  # 9,945 units
        drawing.add_points(line)
        drawing.end_stroke()
    with pytest.raises(InputError) as refused:
        drawing.add_points(line)
    assert refused.value.code == "too_much_ink"
    assert drawing.strokes == 39  # the refused points changed nothing
    drawing.undo()
    drawing.add_points(line)  # room again
    drawing.end_stroke()
    with pytest.raises(InputError) as refused:
        parse_strokes([[[0, 1000] * 30, [0, 0] * 30]], LIMITS)  # 59 crossings in one stroke
    assert refused.value.code == "too_much_ink"


def test_a_snapshot_never_changes_while_the_drawing_goes_on() -> None:
    drawing = Drawing(LIMITS)
    rng = np.random.default_rng(3)
    frame = np.array([[0.0, 0.0], [500.0, 500.0]])  # sets the scale: the later points stay close together
    drawing.add_points(frame)
    drawing.end_stroke()
    taken = [drawing.snapshot()]
    copies = [(s.xy.copy(), s.counts) for s in taken]
    for step in range(200):  # appends that grow the buffer, strokes ended, undone and cleared
        drawing.add_points(rng.uniform(200, 202, (int(rng.integers(1, 9)), 2)))
        if step % 7 == 0:
            drawing.end_stroke()
        if step % 23 == 5:
            drawing.undo()
        if step == 150:
            drawing.clear()
            drawing.add_points(frame)
            drawing.end_stroke()
        taken.append(drawing.snapshot())
        copies.append((taken[-1].xy.copy(), taken[-1].counts))
    for snapshot, (xy_then, counts_then) in zip(taken, copies, strict=True):
        np.testing.assert_array_equal(snapshot.xy, xy_then)
        assert snapshot.counts == counts_then and sum(snapshot.counts) == len(snapshot.xy)
    last = drawing.snapshot()
    assert drawing.points == len(last.xy) and drawing.strokes == len(last.counts)


def test_a_drawing_never_holds_room_for_more_points_than_its_limit() -> None:
    limits = Config(MAX_POINTS=100, MAX_STROKES=10, MAX_POINTS_PER_MESSAGE=100).limits
    drawing = Drawing(limits)
    line = np.column_stack((np.arange(100.0), np.zeros(100)))
    for start in range(0, 100, 5):  # the buffer grows from 64 rows to 100, not 128
        drawing.add_points(line[start : start + 5])
    assert drawing.points == 100 and len(drawing._xy) == 100


def zigzag(points: int, amplitude: float = 4.0) -> np.ndarray:
    """Return a zigzag 255 units tall whose teeth are just over the simplification tolerance."""
    line = np.zeros((points, 2))
    line[1::2, 0] = amplitude
    line[:, 1] = np.linspace(0, 255, points)
    return line


def test_the_ink_cap_bounds_what_the_costliest_step_of_the_rasterizer_gets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Ramer–Douglas–Peucker (quadratic at worst) runs on the strokes resampled at one point per unit of
    # ink: the cap on ink bounds its work on any machine (how fast it runs is for the benchmarks).
    sizes: list[int] = []
    simplify = preprocess.cv2.approxPolyDP

    def counted(curve: np.ndarray, *args: object) -> np.ndarray:
        sizes.append(len(curve))
        return simplify(curve, *args)

    monkeypatch.setattr(preprocess.cv2, "approxPolyDP", counted)
    under, over = zigzag(2500), zigzag(2501)
    assert Ink.of([under]).units <= preprocess.MAX_INK < Ink.of([over]).units
    preprocess.rasterize_strokes([under])
    assert preprocess.MAX_INK - 10 < sum(sizes) <= preprocess.MAX_INK + 1, sizes
    sizes.clear()
    with pytest.raises(InputError) as refused:
        preprocess.rasterize_strokes([over])
    assert refused.value.code == "too_much_ink" and sizes == []  # refused before any simplification


def test_a_drawing_knows_whether_it_was_replaced_whole_or_grown() -> None:
    drawing = Drawing(LIMITS)
    assert not drawing.whole
    drawing.replace([np.array([[0.0, 0.0], [50.0, 20.0]])])
    assert drawing.whole  # a sync: judged as a finished drawing
    drawing.add_points([[60.0, 30.0], [80.0, 10.0]])
    assert not drawing.whole
    drawing.set_image(np.zeros((28, 28), np.float32))
    assert drawing.whole
    drawing.undo()
    assert not drawing.whole
