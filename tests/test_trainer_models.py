"""The shipped models: labels match outputs, and each .tflite meets its target on its held-out split."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from trainer.data import SplitSpec, load_dataset, split_indices
from trainer.litert import load_interpreter, predict_tflite

REPO = Path(__file__).resolve().parents[1]
MODELS = ("animals6", "everyday20")


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
    """Re-create a shipped model's held-out test split and run its .tflite on it."""
    folder = REPO / "models" / name
    metrics = read_json(folder / "metrics.json")
    data = metrics["data"]
    bitmap_dir = REPO / data["bitmap_dir"]
    if not bitmap_dir.is_dir():
        pytest.skip(f"training data not present at {bitmap_dir}")
    dataset = load_dataset(
        metrics["classes"], bitmap_dir, [REPO / d for d in data["stroke_dirs"]], data["max_per_class"]
    )
    split = metrics["split"]
    spec = SplitSpec(
        seed=split["seed"],
        val_fraction=split["val_fraction"],
        test_fraction=split["test_fraction"],
        min_val=split["min_val"],
        min_test=split["min_test"],
    )
    _, _, test = split_indices(dataset.labels, dataset.groups, spec)
    probs = predict_tflite(folder / "model.tflite", dataset.images[test])
    assert len(test) == metrics["test"]["all"]["n"]
    return metrics, dataset, test, probs


def test_animals6_meets_its_targets() -> None:
    metrics, dataset, test, probs = held_out("animals6")
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
    assert abs(np.mean(predicted == labels) - metrics["test"]["all"]["top1"]) < 2e-3


def test_everyday20_meets_its_target() -> None:
    metrics, dataset, test, probs = held_out("everyday20")
    labels = dataset.labels[test]
    top1 = np.mean(probs.argmax(axis=1) == labels)
    assert top1 >= 0.88, f"top-1 {top1:.4f}"
    assert abs(top1 - metrics["test"]["all"]["top1"]) < 2e-3


@pytest.mark.parametrize("name", MODELS)
def test_keras_source_loads_safely_and_agrees_with_tflite(name: str) -> None:
    import keras

    folder = REPO / "models" / name
    model = keras.saving.load_model(folder / "model.keras", safe_mode=True)
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in model.layers)
    images = np.random.default_rng(0).random((16, 28, 28), dtype=np.float32) ** 4  # sparse bright strokes
    expected = model.predict(images[..., None], verbose=0)
    assert np.max(np.abs(predict_tflite(folder / "model.tflite", images) - expected)) <= 1e-4
