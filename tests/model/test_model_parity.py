"""The shipped model sees live strokes and canvas PNGs as it sees Google's bitmaps: same answers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.quickdraw import PAIRED, canvas_png_data_url, drawings, paired, raw_points
from realtime.core import images, preprocess
from realtime.model.recognizer import Recognizer

MODEL = Path(__file__).resolve().parents[2] / "models" / "animals6"


@pytest.fixture(scope="module")
def model() -> Recognizer:
    """The shipped default model, run by the serving runtime."""
    return Recognizer(MODEL)


def top1(model: Recognizer, bitmaps: list[np.ndarray]) -> np.ndarray:
    """Return the index of the most likely class of each bitmap."""
    return model.predict(np.stack(bitmaps)).argmax(axis=1)


def held_out_bitmap_accuracy(words: list[str]) -> float:
    """Top-1 on the held-out test bitmaps of these classes, from the model's (tested) metrics.json."""
    metrics = json.loads((MODEL / "metrics.json").read_text())
    confusion = np.array(metrics["test"]["bitmap"]["confusion"])
    rows = [metrics["classes"].index(w) for w in words]
    return float(sum(confusion[i, i] for i in rows) / confusion[rows].sum())


def test_strokes_and_googles_bitmaps_of_the_same_drawings_get_the_same_answers(model: Recognizer) -> None:
    items = paired()
    truth = np.array([model.labels.index(p.word) for p in items])
    from_strokes = top1(model, [preprocess.rasterize_quickdraw(p.raw) for p in items])
    from_google = top1(model, [p.bitmap for p in items])
    assert abs(np.mean(from_strokes == truth) - np.mean(from_google == truth)) <= 0.03
    assert np.mean(from_strokes == from_google) >= 0.95


def test_real_stroke_drawings_score_no_worse_than_held_out_bitmaps(model: Recognizer) -> None:
    """Every real stroke drawing of the bitmap classes, rasterized, against the held-out bitmaps' top-1.

    Most of these drawings are also bitmap rows the model trained on, so they may score higher than
    held-out bitmaps; what the rasterizer must not do is score lower. The exact two-sided comparison is
    the test above, on the very same drawings in both forms.
    """
    words = list(PAIRED)
    strokes, truth = [], []
    for word in words:
        for record in drawings(word, "raw"):
            strokes.append(preprocess.rasterize_quickdraw(record["drawing"]))
            truth.append(model.labels.index(word))
    accuracy = float(np.mean(top1(model, strokes) == np.array(truth)))
    reference = held_out_bitmap_accuracy(words)
    assert len(strokes) >= 90
    assert accuracy >= reference - 0.03, f"strokes {accuracy:.3f} vs held-out bitmaps {reference:.3f}"


@pytest.mark.parametrize("transparent", [False, True], ids=["white", "transparent"])
def test_canvas_pngs_get_the_strokes_answer(model: Recognizer, transparent: bool) -> None:
    items = paired()
    from_strokes = top1(model, [preprocess.rasterize_quickdraw(p.raw) for p in items])
    for brush in (4, 8, 16):
        urls = [canvas_png_data_url(raw_points(p.raw), brush, transparent) for p in items]
        from_canvas = top1(model, [images.data_url_to_bitmap(url) for url in urls])
        assert np.mean(from_canvas == from_strokes) >= 0.9, f"brush {brush}"
