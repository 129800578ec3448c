"""The shipped models: labels match outputs, and each .tflite meets its target on its held-out split."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from trainer.data import DataError, recorded_test_split
from trainer.litert import load_interpreter, predict_tflite
from trainer.quantize import verdict

REPO = Path(__file__).resolve().parents[1]
TRAINED = ("animals6", "everyday20")  # by `python -m trainer`, with their model.keras
QUANTIZED = ("animals6-q8", "everyday20-q8")  # by `python -m trainer.quantize` from those
MODELS = TRAINED + QUANTIZED


def read_json(path: Path) -> Any:
    """Parse a JSON file."""
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", MODELS)
def test_labels_match_the_output_size(name: str) -> None:
    folder = REPO / "models" / name
    labels = read_json(folder / "labels.json")
    interpreter = load_interpreter(folder / "model.tflite")
    interpreter.allocate_tensors()
    (source,) = interpreter.get_input_details()
    (target,) = interpreter.get_output_details()
    assert list(source["shape_signature"]) == [-1, 28, 28, 1] and source["dtype"] == np.float32
    assert list(target["shape"]) == [1, len(labels)]
    assert labels == read_json(folder / "metrics.json")["classes"]
    assert len(set(labels)) == len(labels)
    assert (folder / "model.tflite").stat().st_size <= 2 * 1024 * 1024


def held_out(name: str) -> tuple[dict[str, Any], Any, np.ndarray, np.ndarray]:
    """Re-create a shipped model's held-out test split (its source's, for a quantized one) and run it."""
    folder = REPO / "models" / name
    metrics = read_json(folder / "metrics.json")
    trained = (
        read_json(REPO / "models" / metrics["source"] / "metrics.json") if "source" in metrics else metrics
    )
    if not (REPO / trained["data"]["bitmap_dir"]).is_dir():
        pytest.skip(f"training data not present at {REPO / trained['data']['bitmap_dir']}")
    dataset, test = recorded_test_split(trained, REPO)
    probs = predict_tflite(folder / "model.tflite", dataset.images[test])
    assert len(test) == recorded(metrics)["n"]
    return metrics, dataset, test, probs


def recorded(metrics: dict[str, Any]) -> dict[str, Any]:
    """Return the held-out figures a model folder records for itself (over all test drawings)."""
    return metrics["held_out"]["quantized"]["all"] if "held_out" in metrics else metrics["test"]["all"]


@pytest.mark.parametrize("name", ["animals6", "animals6-q8"])
def test_animals6_meets_its_targets(name: str) -> None:
    metrics, dataset, test, probs = held_out(name)
    classes = dataset.classes
    predicted = probs.argmax(axis=1)
    labels, sources = dataset.labels[test], dataset.sources[test]
    common = np.isin(labels, [classes.index(c) for c in ("cat", "dog", "fish", "octopus")]) & (
        sources == "bitmap"
    )
    assert common.sum() > 1000
    top1 = np.mean(predicted[common] == labels[common])
    assert top1 >= 0.91, f"top-1 on cat/dog/fish/octopus test bitmaps {top1:.4f}"
    for name in ("giraffe", "camel"):
        mine = (labels == classes.index(name)) & (sources == "strokes")
        assert mine.sum() >= 5
        recall = np.mean(predicted[mine] == labels[mine])
        assert recall >= 0.70, f"{name} recall {recall:.2f} on {mine.sum()} held-out drawings"
    assert abs(np.mean(predicted == labels) - recorded(metrics)["top1"]) < 2e-3


@pytest.mark.parametrize("name", ["everyday20", "everyday20-q8"])
def test_everyday20_meets_its_target(name: str) -> None:
    metrics, dataset, test, probs = held_out(name)
    labels = dataset.labels[test]
    top1 = np.mean(probs.argmax(axis=1) == labels)
    assert top1 >= 0.88, f"top-1 {top1:.4f}"
    assert abs(top1 - recorded(metrics)["top1"]) < 2e-3


@pytest.mark.parametrize("name", QUANTIZED)
def test_a_quantized_model_answers_as_its_float_source_does(name: str) -> None:
    metrics, _, _, probs = held_out(name)
    _, _, _, float_probs = held_out(metrics["source"])
    agreement = np.mean(probs.argmax(axis=1) == float_probs.argmax(axis=1))
    assert agreement >= 0.995 and agreement == pytest.approx(metrics["held_out"]["top1_agreement"], abs=1e-4)
    assert np.max(np.abs(probs - float_probs)) < 0.1
    size, source_size = (REPO / "models" / n / "model.tflite" for n in (name, metrics["source"]))
    assert size.stat().st_size < source_size.stat().st_size / 3  # int8 weights: a quarter, plus the graph


@pytest.mark.parametrize("name", TRAINED)
def test_keras_source_loads_safely_and_agrees_with_tflite(name: str) -> None:
    import keras

    folder = REPO / "models" / name
    model = keras.saving.load_model(folder / "model.keras", safe_mode=True)
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in model.layers)
    images = np.random.default_rng(0).random((16, 28, 28), dtype=np.float32) ** 4  # sparse bright strokes
    expected = model.predict(images[..., None], verbose=0)
    assert np.max(np.abs(predict_tflite(folder / "model.tflite", images) - expected)) <= 1e-4


def test_quantizing_refuses_a_model_that_answers_differently() -> None:
    def figures(agreement: float, top1: float, top3: float) -> dict[str, Any]:
        return {
            "top1_agreement": agreement,
            "float": {"all": {"top1": 0.91, "top3": 0.99}},
            "quantized": {"all": {"top1": top1, "top3": top3}},
        }

    assert verdict(figures(0.997, 0.908, 0.99)) == []
    assert verdict(figures(0.990, 0.91, 0.99)) == ["top-1 agreement 99.00% < 99.5%"]
    assert len(verdict(figures(0.996, 0.90, 0.98))) == 2  # top-1 and top-3 each a point down


def test_a_test_split_from_other_data_is_refused() -> None:
    metrics = read_json(REPO / "models" / "animals6" / "metrics.json")
    if not (REPO / metrics["data"]["bitmap_dir"]).is_dir():
        pytest.skip("training data not present")
    metrics["data"]["counts"]["cat"]["test"] += 1  # as if the data had changed since training
    with pytest.raises(DataError, match=r"cat: 536 drawings, metrics\.json says 537"):
        recorded_test_split(metrics, REPO)
