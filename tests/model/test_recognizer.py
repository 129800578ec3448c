"""The model behind one small class: loading, batching, versions, and refusing paths outside models/."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from harness.quickdraw import drawings
from realtime.core import preprocess
from realtime.model.files import CALIBRATION_FILE
from realtime.model.ranking import ModelError, classes, guesses
from realtime.model.recognizer import Recognizer


def test_loads_the_shipped_model_and_predicts_batches(real_model: Path) -> None:
    recognizer = Recognizer.from_name("animals6")
    assert recognizer.labels == json.loads((real_model / "labels.json").read_text())
    assert recognizer.name == "animals6"
    assert recognizer.version.startswith("animals6-") and len(recognizer.version) == len("animals6-") + 12
    batch = np.stack([preprocess.rasterize_quickdraw(d["drawing"]) for d in drawings("cat")[:5]])
    batch = np.concatenate([batch, np.random.default_rng(0).random((60, 28, 28), np.float32)])
    together = recognizer.predict(batch)
    assert together.shape == (65, len(recognizer.labels))
    np.testing.assert_allclose(together.sum(axis=1), 1.0, atol=1e-5)
    # Batch size (and the padding to a power of two) does not change any answer.
    one_by_one = np.concatenate([recognizer.predict(image[np.newaxis]) for image in batch[:9]])
    np.testing.assert_allclose(together[:9], one_by_one, atol=1e-5)
    np.testing.assert_allclose(recognizer.predict(batch[:3]), together[:3], atol=1e-5)


def test_refuses_malformed_batches(real_model: Path) -> None:
    recognizer = Recognizer.from_name("animals6")
    for bad in (np.zeros((0, 28, 28)), np.zeros((28, 28)), np.zeros((2, 28, 27))):
        with pytest.raises(ValueError):
            recognizer.predict(bad)


@pytest.mark.parametrize("name", ["..", "../models", "/etc", "a/b", "", ".hidden", "x" * 65, "cat\n"])
def test_refuses_names_that_are_not_a_plain_folder(tmp_path: Path, name: str) -> None:
    with pytest.raises(ModelError, match="plain folder name"):
        Recognizer.from_name(name, models_dir=tmp_path)


def test_refuses_a_symlink_out_of_the_models_folder(real_model: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / "elsewhere").symlink_to(real_model)
    with pytest.raises(ModelError, match="outside"):
        Recognizer.from_name("elsewhere", models_dir=models)


def test_reports_missing_and_inconsistent_models(real_model: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"must hold model\.tflite"):
        Recognizer.from_name("absent", models_dir=tmp_path)
    folder = tmp_path / "three"
    folder.mkdir()
    shutil.copy(real_model / "model.tflite", folder / "model.tflite")
    (folder / "labels.json").write_text(json.dumps(["a", "b", "c"]))
    with pytest.raises(ModelError, match=r"outputs but labels\.json names 3"):
        Recognizer.from_name("three", models_dir=tmp_path)
    (folder / "labels.json").write_text(json.dumps({"not": "a list"}))
    with pytest.raises(ModelError, match="JSON list"):
        Recognizer.from_name("three", models_dir=tmp_path)


def test_reads_how_sure_the_model_is_from_its_calibration_file(real_model: Path, tmp_path: Path) -> None:
    folder = tmp_path / "calibrated"
    folder.mkdir()
    shutil.copy(real_model / "model.tflite", folder / "model.tflite")
    shutil.copy(real_model / "labels.json", folder / "labels.json")
    labels = json.loads((folder / "labels.json").read_text())
    plain = Recognizer(folder)  # no calibration.json: no "something else" output, sure from 0.5
    assert plain.other is None and plain.sure_threshold == 0.5
    calibration = folder / CALIBRATION_FILE
    calibration.write_text(json.dumps({"other_label": labels[-1], "sure_threshold": 0.7, "temperature": 1.2}))
    calibrated = Recognizer(folder)
    assert calibrated.other == len(labels) - 1 and calibrated.sure_threshold == 0.7
    assert calibrated.sure_steady == 1  # written before the live evaluation: the threshold alone
    assert classes(calibrated) == labels[:-1]
    calibration.write_text(json.dumps({"other_label": None, "sure_threshold": 0.7, "sure_steady": 4}))
    assert Recognizer(folder).sure_steady == 4
    for bad in (
        {"other_label": None, "sure_threshold": 0.5, "sure_steady": 0},
        {"other_label": None, "sure_threshold": 0.5, "sure_steady": 2.5},
        {"other_label": None, "sure_threshold": 0.5, "sure_steady": True},
        {"other_label": None, "sure_threshold": 0.5, "sure_steady": 61},
        {"other_label": "zebra", "sure_threshold": 0.5},
        {"other_label": None, "sure_threshold": 1.5},
        {"other_label": None, "sure_threshold": True},
        {"sure_threshold": 0.5},
        [],
        "sure",
    ):
        calibration.write_text(json.dumps(bad))
        with pytest.raises(ModelError, match=CALIBRATION_FILE):
            Recognizer(folder)


class Calibrated:
    """A model's answer-relevant fields: three outputs, the last meaning "something else"."""

    def __init__(self) -> None:
        self.labels = ["cat", "dog", "_other"]
        self.other = 2
        self.sure_threshold = 0.6


@pytest.mark.parametrize(
    ("probabilities", "top", "sure"),
    [
        ([0.30, 0.10, 0.60], ["cat", "dog"], False),  # "something else" is likeliest: never shown, not sure
        ([0.65, 0.30, 0.05], ["cat", "dog"], True),
        ([0.15, 0.62, 0.23], ["dog", "cat"], True),
        ([0.55, 0.40, 0.05], ["cat", "dog"], False),  # the top guess under the threshold
    ],
)
def test_guesses_never_include_something_else_and_say_whether_sure(
    probabilities: list[float], top: list[str], sure: bool
) -> None:
    shown, said = guesses(Calibrated(), np.asarray(probabilities, np.float32))
    assert [g["label"] for g in shown] == top and said is sure
    assert [g["label"] for g in guesses(Calibrated(), np.asarray(probabilities), 1)[0]] == top[:1]
