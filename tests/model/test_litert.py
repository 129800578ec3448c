"""The one LiteRT runner: batches of any size, in chunks of any size, from many threads at once."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from realtime.model.files import LABELS_FILE, TFLITE_FILE
from realtime.model.litert import LiteRTRunner


@pytest.fixture
def images() -> np.ndarray:
    """Twenty-three random bitmaps: sparse bright strokes, as drawings are."""
    return np.random.default_rng(0).random((23, 28, 28), dtype=np.float32) ** 4


def test_chunks_of_any_size_answer_as_one_batch(real_model: Path, images: np.ndarray) -> None:
    runner = LiteRTRunner.from_file(real_model / TFLITE_FILE)
    assert runner.outputs == len(json.loads((real_model / LABELS_FILE).read_text()))
    whole = runner.predict(images)
    assert whole.shape == (len(images), runner.outputs)
    for size in (1, 5, 23, 256):
        np.testing.assert_allclose(runner.predict_all(images, batch_size=size), whole, atol=1e-5)
    np.testing.assert_allclose(runner.predict(images[::2]), whole[::2], atol=1e-5)  # a strided view
    np.testing.assert_allclose(runner.predict(images.astype(np.float64)), whole, atol=1e-5)


def test_refuses_what_is_not_a_batch_of_bitmaps(real_model: Path) -> None:
    runner = LiteRTRunner.from_file(real_model / TFLITE_FILE)
    for bad in (np.zeros((0, 28, 28)), np.zeros((28, 28)), np.zeros((2, 28, 27)), np.zeros((1, 28, 28, 1))):
        with pytest.raises(ValueError, match=r"expected a \(B, 28, 28\) batch"):
            runner.predict(bad)


def test_threads_sharing_one_runner_get_their_own_answers(real_model: Path, images: np.ndarray) -> None:
    runner = LiteRTRunner.from_file(real_model / TFLITE_FILE)
    sizes = [1 + k % len(images) for k in range(400)]  # every call resizes the interpreter
    expected = {size: runner.predict(images[:size]) for size in set(sizes)}
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda size: runner.predict(images[:size]), sizes))
    for size, answer in zip(sizes, answers, strict=True):
        np.testing.assert_allclose(answer, expected[size], atol=1e-5)
