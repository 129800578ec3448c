"""Honest probabilities and "something else": calibration, the reject class, and a run that writes both."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest

from realtime.model.files import CALIBRATION_FILE
from realtime.model.litert import LiteRTRunner
from realtime.model.ranking import classes, guesses
from realtime.model.recognizer import Recognizer
from tests.support.tiny_data import write_tiny_data
from trainer.__main__ import main
from trainer.architectures import members
from trainer.calibrate import (
    bake_temperature,
    choose_threshold,
    expected_calibration_error,
    fit_temperature,
    sure,
    with_temperature,
)
from trainer.data import recorded_split
from trainer.negatives import OTHER, SHAPES, shape_bitmaps
from trainer.threshold import main as threshold_main

ROOT = Path(__file__).resolve().parents[2]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax."""
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def calibrated_sample(n: int = 20_000, classes: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels drawn from the softmax of those logits: probabilities that are right on average."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2.0, size=(n, classes))
    probs = softmax(logits)
    labels = np.array([rng.choice(classes, p=p) for p in probs])
    return logits, labels


def test_temperature_scaling_undoes_overconfidence() -> None:
    logits, labels = calibrated_sample()
    overconfident = softmax(logits * 2.0)  # as a network that learnt its training set too well
    temperature = fit_temperature([overconfident], labels)
    assert 1.8 <= temperature <= 2.2
    before = expected_calibration_error(overconfident, labels)
    after = expected_calibration_error(with_temperature(overconfident, temperature), labels)
    assert before > 0.1 and after < 0.02
    assert expected_calibration_error(softmax(logits), labels) < 0.02  # already calibrated: nothing to fix


def test_a_baked_temperature_is_the_same_as_scaling_the_probabilities() -> None:
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(4, activation="softmax")]
    )
    images = np.random.default_rng(2).random((16, 28, 28, 1), dtype=np.float32)
    before = model.predict(images, verbose=0)
    bake_temperature(model, 1.7)
    np.testing.assert_allclose(model.predict(images, verbose=0), with_temperature(before, 1.7), atol=1e-5)
    flat = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="softmax"):
        bake_temperature(flat, 2.0)


def test_the_threshold_keeps_the_model_sure_of_its_own_share() -> None:
    logits, labels = calibrated_sample(classes=4)
    probs = softmax(logits)
    other = 3  # the last output means "something else"
    own = labels != other
    rates = (0.5, 0.7, 0.85)
    thresholds = [choose_threshold(probs, labels, other, rate) for rate in rates]
    assert thresholds == sorted(thresholds, reverse=True) and thresholds[0] > thresholds[-1]
    for rate, threshold in zip(rates, thresholds, strict=True):
        assert sure(probs[own], threshold, other).mean() >= rate
        assert sure(probs[own], threshold + 0.01, other).mean() < rate  # the highest such threshold
    # Out of reach ("something else" is on top too often): the lowest threshold considered.
    assert choose_threshold(probs, labels, other, 0.99) == 0.2
    assert not sure(np.array([[0.1, 0.1, 0.1, 0.7]]), 0.5, other)[0]  # "something else" on top


def test_doodles_are_valid_drawings_reproducible_from_their_seed() -> None:
    first, kinds = shape_bitmaps(SHAPES, 3, seed=5)
    again, _ = shape_bitmaps(SHAPES, 3, seed=5)
    other, _ = shape_bitmaps(SHAPES, 3, seed=6)
    assert first.shape == (3 * len(SHAPES), 28, 28) and kinds == [k for k in SHAPES for _ in range(3)]
    assert first.dtype == np.float32 and first.min() >= 0.0 and first.max() <= 1.0
    assert all(image.max() > 0.5 for image in first)  # every doodle has ink
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).mean() > 0.05


@pytest.fixture(scope="module")
def rejecting_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Train the tiny architecture with a "something else" class (lines, doodles); circles held out."""
    root = tmp_path_factory.mktemp("tiny")
    bitmaps, simplified, raw = write_tiny_data(root)
    circles, _ = shape_bitmaps(("circle",), 25, seed=9)
    np.savez_compressed(bitmaps / "circle.npz", x=(circles.reshape(-1, 784) * 255).round().astype(np.uint8))
    out = tmp_path_factory.mktemp("model") / "tiny-sure"
    argv = ["--out", str(out), "--classes", "square,zigzag", "--bitmaps", str(bitmaps)]
    argv += ["--strokes", str(simplified), "--strokes", str(raw), "--arch", "tiny", "--epochs", "2"]
    argv += ["--baseline", "none", "--negatives", "line", "--negatives-per-class", "20"]
    argv += ["--doodles-per-kind", "6", "--held-out", "circle"]
    assert main(argv) == 0
    return out


def test_a_rejecting_run_writes_its_calibration_and_report(rejecting_model: Path) -> None:
    labels = json.loads((rejecting_model / "labels.json").read_text())
    assert labels == ["square", "zigzag", OTHER]
    calibration = json.loads((rejecting_model / CALIBRATION_FILE).read_text())
    assert calibration["other_label"] == OTHER and 0 < calibration["sure_threshold"] < 1
    metrics = json.loads((rejecting_model / "metrics.json").read_text())
    assert metrics["classes"] == labels
    assert metrics["calibration"]["temperature"] == calibration["temperature"] > 0
    assert 0 <= metrics["calibration"]["test_ece_after"] <= 1
    rejection = metrics["rejection"]
    assert rejection["threshold"] == calibration["sure_threshold"]
    assert set(rejection["fresh_doodles"]) == set(SHAPES)
    assert rejection["held_out_classes"]["circle"]["n"] == 25
    assert metrics["data"]["counts"][OTHER]["test"] > 0
    assert set(metrics["test"]["all"]["per_class"]) == {"square", "zigzag"}  # guesses: own classes only
    card = (rejecting_model / "README.md").read_text()
    assert "## Calibration" in card and "## Sure, or not sure" in card and "circle (class never" in card


def test_the_server_reads_the_rejecting_model(rejecting_model: Path) -> None:
    recognizer = Recognizer(rejecting_model)
    assert recognizer.other == 2 and classes(recognizer) == ["square", "zigzag"]
    probabilities = recognizer.predict(np.zeros((1, 28, 28), np.float32) + 0.01)[0]
    top, _ = guesses(recognizer, probabilities)
    expected = sorted(["square", "zigzag"], key=lambda c: -probabilities[recognizer.labels.index(c)])
    assert [g["label"] for g in top] == expected


def test_the_test_split_of_a_rejecting_model_can_be_rebuilt(rejecting_model: Path) -> None:
    metrics = json.loads((rejecting_model / "metrics.json").read_text())
    dataset, _, test = recorded_split(metrics, ROOT)
    assert dataset.classes == metrics["classes"]
    for k, name in enumerate(dataset.classes):
        assert int(np.sum(dataset.labels[test] == k)) == metrics["data"]["counts"][name]["test"]


def test_the_threshold_is_chosen_again_without_training(rejecting_model: Path, tmp_path: Path) -> None:
    folder = tmp_path / "tiny-sure"
    shutil.copytree(rejecting_model, folder)
    weights = (folder / "model.tflite").read_bytes()
    before = json.loads((folder / CALIBRATION_FILE).read_text())["sure_threshold"]
    assert threshold_main([str(folder), "--sure-rate", "0.5"]) == 0
    metrics = json.loads((folder / "metrics.json").read_text())
    dataset, val, _ = recorded_split(metrics, ROOT)
    model = keras.saving.load_model(folder / "model.keras")
    probs = model.predict(dataset.images[val][..., None], verbose=0)
    expected = choose_threshold(probs, dataset.labels[val], dataset.classes.index(OTHER), 0.5)
    after = json.loads((folder / CALIBRATION_FILE).read_text())["sure_threshold"]
    assert after == metrics["rejection"]["threshold"] == expected >= before
    assert metrics["rejection"]["rechosen"]["threshold_before"] == before
    assert metrics["rejection"]["threshold_chosen_for"].startswith("sure of 50%")
    assert (folder / "model.tflite").read_bytes() == weights
    assert (
        f"python -m trainer.threshold {folder.as_posix()} --sure-rate 0.5"
        in (folder / "README.md").read_text()
    )


def test_the_threshold_needs_a_trainers_folder(
    rejecting_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert threshold_main([str(tmp_path), "--sure-rate", "0.8"]) == 1
    assert "needs model.keras and metrics.json" in capsys.readouterr().err
    quantized = ROOT / "models" / "animals6-q8"
    assert threshold_main([str(quantized), "--sure-rate", "0.8"]) == 1
    assert "for a quantized folder, choose its source's threshold" in capsys.readouterr().err
    broken = tmp_path / "broken"
    shutil.copytree(rejecting_model, broken)
    (broken / "model.keras").write_bytes(b"")
    assert threshold_main([str(broken), "--sure-rate", "0.8"]) == 1
    assert "does not hold a trainer's model and figures" in capsys.readouterr().err
    assert json.loads((broken / CALIBRATION_FILE).read_text()) == json.loads(
        (rejecting_model / CALIBRATION_FILE).read_text()
    )


def test_an_ensemble_ships_as_one_model_the_mean_of_its_networks(tmp_path: Path) -> None:
    bitmaps, simplified, raw = write_tiny_data(tmp_path / "data")
    out = tmp_path / "tiny-ensemble"
    argv = ["--out", str(out), "--classes", "square,zigzag", "--bitmaps", str(bitmaps), "--members", "2"]
    argv += ["--strokes", str(simplified), "--strokes", str(raw), "--arch", "tiny", "--epochs", "2"]
    argv += ["--baseline", "none", "--negatives", "line", "--negatives-per-class", "20"]
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["members"] == 2 and len(metrics["training"]["members"]) == 2
    assert metrics["architecture"].startswith(
        "the mean of 2 networks trained from different seeds, each: conv"
    )
    model = keras.saving.load_model(out / "model.keras", safe_mode=True)
    nets = members(model)
    assert len(nets) == 2 and nets[0].count_params() == nets[1].count_params()
    images = np.random.default_rng(3).random((32, 28, 28), dtype=np.float32)
    each = [net.predict(images[..., None], verbose=0) for net in nets]
    assert not np.allclose(each[0], each[1], atol=1e-3)  # two networks, not one twice
    np.testing.assert_allclose(
        LiteRTRunner.from_file(out / "model.tflite").predict_all(images), np.mean(each, axis=0), atol=1e-5
    )
    card = (out / "README.md").read_text()
    assert "for each of the 2 networks" in card and "of each of the 2 networks" in card
