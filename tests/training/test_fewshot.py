"""The embedding output and the few-shot evaluation, end to end on the tiny dataset, and the shipped models'.

A tiny model gets its embedding (trainer.embedding): the probabilities must be the classifier's exactly, the
embedding a unit vector from the same call. The few-shot evaluation trains the recipe without a held-out
word, teaches it, and writes the figures and the chosen calibration, which the server then reads.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from realtime.model.files import MODELS_DIR
from realtime.model.litert import EMBEDDING, PROBABILITIES, LiteRTRunner
from realtime.model.recognizer import Recognizer
from realtime.model.taught import TaughtCalibration, prototype, scores
from tests.support.tiny_data import write_tiny_data
from trainer.__main__ import main as train
from trainer.embedding import main as embed
from trainer.fewshot_eval import evaluate, held_out_command


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model of three shapes (a hidden layer: the seed CNN), trained for one epoch."""
    bitmaps, simplified, raw = write_tiny_data(tmp_path_factory.mktemp("tiny"), n_bitmaps=60)
    out = tmp_path_factory.mktemp("model") / "tiny3"
    argv = ["--out", str(out), "--classes", "square,line,zigzag", "--bitmaps", str(bitmaps)]
    argv += ["--strokes", str(simplified), "--strokes", str(raw), "--arch", "seed", "--epochs", "1"]
    argv += ["--baseline", "none", "--doodles-per-kind", "5"]
    assert train(argv) == 0
    return out


@pytest.fixture(scope="module")
def embedded(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny model's folder before and after `python -m trainer.embedding`."""
    before = tmp_path_factory.mktemp("before") / "tiny3"
    shutil.copytree(tiny, before)
    assert embed([str(tiny)]) == 0
    return before, tiny


def test_the_embedding_comes_from_the_same_call_and_leaves_the_probabilities_as_they_were(
    embedded: tuple[Path, Path],
) -> None:
    before, after = embedded
    images = np.random.default_rng(0).random((40, 28, 28)).astype(np.float32)
    old = LiteRTRunner.from_file(before / "model.tflite")
    new = LiteRTRunner.from_file(after / "model.tflite")
    assert old.embedding_size == 0 and new.embedding_size == 5 * 5 * 15  # the seed CNN's flattened last stage
    out = new.run(images)
    np.testing.assert_array_equal(out[PROBABILITIES], old.predict(images))
    np.testing.assert_allclose(np.linalg.norm(out[EMBEDDING], axis=1), 1.0, atol=1e-5)
    metrics = json.loads((after / "metrics.json").read_text())
    assert metrics["embedding"]["size"] == new.embedding_size
    assert "## Taught words" in (after / "README.md").read_text()


def test_the_held_out_recipe_is_the_recorded_one_less_the_words() -> None:
    recorded = "--out models/x --classes a,b,c,d --arch small --epochs 20 --held-out e --baseline seed"
    args = held_out_command(recorded, ["a", "b", "c", "d"], ("b", "d"), Path("w/x"))
    assert args == [
        *("--arch", "small", "--epochs", "20", "--classes", "a,c", "--held-out", "b,d"),
        *("--out", "w/x", "--baseline", "none"),
    ]


def test_the_few_shot_evaluation_trains_without_the_word_and_records_the_calibration(
    embedded: tuple[Path, Path], tmp_path: Path
) -> None:
    _, folder = embedded
    figures = evaluate(folder, {"lines": ("line",)}, tmp_path, repetitions=3, seed=0)
    trained = json.loads((tmp_path / folder.name / "lines" / "metrics.json").read_text())
    assert trained["classes"][:2] == ["square", "zigzag"] and trained["data"]["held_out"] == ["line"]
    assert "embedding" in trained  # the evaluation model got its embedding as the shipped one did
    shots = figures["sets"]["lines"]["by_shots"]
    assert set(shots) == {"1", "5", "10"}
    assert shots["5"]["n_way"] == 1.0  # one taught word: always itself among the taught words
    assert all(0 <= shots[k][f] <= 1 for k in shots for f in ("recall", "trained_top1", "claimed_shapes"))
    TaughtCalibration.from_json(figures["calibration"])


def test_a_ranking_with_no_taught_word_is_the_models_own() -> None:
    probs = np.array([[0.7, 0.2, 0.1]], np.float32)
    out = scores(probs, np.ones((1, 4)) / 2, np.zeros((0, 4)), TaughtCalibration(16, -8, 0.5))
    np.testing.assert_allclose(out, probs, rtol=1e-6)


def test_a_prototype_is_the_normalised_mean_and_refuses_examples_that_cancel_out() -> None:
    np.testing.assert_allclose(prototype(np.array([[1.0, 0.0], [0.0, 1.0]])), [2**-0.5, 2**-0.5], rtol=1e-6)
    with pytest.raises(ValueError):
        prototype(np.array([[1.0, 0.0], [-1.0, 0.0]]))


@pytest.mark.parametrize("name", ["animals6", "animals6-q8", "doodles23", "doodles23-q8"])
def test_the_shipped_models_can_learn_words(name: str) -> None:
    model = Recognizer.from_name(name, MODELS_DIR)
    assert model.embedding_size == 576 and model.taught is not None
    bitmap = np.zeros((1, 28, 28), np.float32)
    bitmap[0, 5:20, 10] = 1.0
    probabilities, embedded = model.infer(bitmap)
    np.testing.assert_allclose(probabilities, model.predict(bitmap))
    assert embedded is not None and abs(float(np.linalg.norm(embedded)) - 1) < 1e-4
