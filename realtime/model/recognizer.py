"""The model behind one small class: load a .tflite once, predict batches of 28×28 bitmaps."""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from realtime.infra.concurrency import os_thread_lock
from realtime.model.files import MODELS_DIR

SIDE = 28
CHECK_FILE = "check.json"  # a drawing and what this model answers for it (written by python -m trainer.check)
CHECK_TOLERANCE = 0.01  # probabilities may differ this much between runtimes and machines
# How sure the model is, written by the trainer: its "something else" output and its threshold. A folder
# without it (an older model) has no such output and is sure at DEFAULT_SURE_THRESHOLD.
CALIBRATION_FILE = "calibration.json"
DEFAULT_SURE_THRESHOLD = 0.5
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class ModelError(RuntimeError):
    """The configured model is missing, outside the models folder, or malformed."""


def _read_calibration(path: Path, labels: list[str]) -> tuple[int | None, float]:
    """Read a model folder's calibration file: its "something else" output and its sure threshold."""
    if not path.is_file():
        return None, DEFAULT_SURE_THRESHOLD
    try:
        calibration = json.loads(path.read_text(encoding="utf-8"))
        other, threshold = calibration["other_label"], calibration["sure_threshold"]
        if other is not None and other not in labels:
            raise ValueError(f"other_label {other!r} is not one of labels.json's classes")
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 < threshold < 1:
            raise ValueError("sure_threshold must be a number between 0 and 1")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{path} is malformed or unreadable: {exc}") from exc
    return (None if other is None else labels.index(other)), float(threshold)


class Recognizer:
    """A LiteRT interpreter for one model folder: `predict(batch)` returns class probabilities."""

    def __init__(self, model_dir: Path, num_threads: int = 1) -> None:
        model_path = model_dir / "model.tflite"
        labels_path = model_dir / "labels.json"
        if not model_path.is_file() or not labels_path.is_file():
            raise ModelError(
                f"{model_dir} must hold model.tflite and labels.json (train it: python -m trainer)"
            )
        labels = json.loads(labels_path.read_text(encoding="utf-8"))
        if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
            raise ModelError(f"{labels_path} must be a JSON list of class names")
        content = model_path.read_bytes()
        self.name = model_dir.name
        self.folder = model_dir
        self.labels: list[str] = labels
        self.other, self.sure_threshold = _read_calibration(model_dir / CALIBRATION_FILE, labels)
        self.version = f"{self.name}-{hashlib.sha256(content).hexdigest()[:12]}"
        self._interpreter = Interpreter(model_content=content, num_threads=num_threads)
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        # The interpreter is not thread-safe: live rounds and tpool's OS threads (classic path) share it.
        self._lock = os_thread_lock()
        self._batch = 0
        self._resize(1)
        classes = self._interpreter.get_output_details()[0]["shape"][-1]
        if classes != len(labels):
            raise ModelError(
                f"{model_path} has {classes} outputs but labels.json names {len(labels)} classes"
            )

    @classmethod
    def from_name(cls, name: str, models_dir: Path = MODELS_DIR, num_threads: int = 1) -> Recognizer:
        """Load models/<name>, refusing names that would lead outside the models folder."""
        if not _MODEL_NAME.fullmatch(name):
            raise ModelError(f"model name {name!r} must be a plain folder name under {models_dir.name}/")
        root = models_dir.resolve()
        model_dir = (root / name).resolve()
        if model_dir.parent != root:
            raise ModelError(f"model {name!r} resolves outside {root}")
        return cls(model_dir, num_threads=num_threads)

    def verify(self) -> None:
        """Predict the folder's check drawing; raise ModelError unless the answer is the one it records."""
        from realtime.core import preprocess  # the rasterizer, only for this check

        path = self.folder / CHECK_FILE
        if not path.is_file():
            raise ModelError(
                f"{self.name} has no {CHECK_FILE}: write it with `python -m trainer.check models/{self.name}`"
            )
        try:
            check = json.loads(path.read_text(encoding="utf-8"))
            bitmap = preprocess.rasterize_quickdraw(check["drawing"])
            expected = {item["label"]: float(item["p"]) for item in check["top"]}
            if not expected or not all(math.isfinite(p) for p in expected.values()):
                raise ValueError("top must list labels with finite probabilities")
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise ModelError(f"{path.name} of {self.name} is malformed: {exc}") from exc
        probabilities = self.predict(bitmap[np.newaxis])[0]
        found = {
            label: float(probabilities[self.labels.index(label)])
            for label in expected
            if label in self.labels
        }
        wrong = [
            label
            for label, p in expected.items()
            if label not in found or abs(found[label] - p) > CHECK_TOLERANCE
        ]
        if wrong or self.labels[int(probabilities.argmax())] != check["top"][0]["label"]:
            raise ModelError(
                f"{self.name} fails its check: {CHECK_FILE} expects {check['top'][0]['label']!r} at "
                f"{check['top'][0]['p']:.4f}, the model answers {self.labels[int(probabilities.argmax())]!r} "
                f"at {float(probabilities.max()):.4f}"
            )

    def _resize(self, batch: int) -> None:
        """Give the interpreter room for `batch` images (only when the size changes)."""
        if batch != self._batch:
            self._interpreter.resize_tensor_input(self._input, [batch, SIDE, SIDE, 1])
            self._interpreter.allocate_tensors()
            self._batch = batch

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Classify a (B, 28, 28) float32 batch in [0, 1]; return (B, classes) probabilities."""
        batch = np.asarray(batch, dtype=np.float32)
        if batch.ndim != 3 or batch.shape[1:] != (SIDE, SIDE) or len(batch) == 0:
            raise ValueError(f"expected a (B, {SIDE}, {SIDE}) batch, got {batch.shape}")
        # The exact size: a resize costs about 8 µs, while padding costs inference on every padded image.
        with self._lock:
            self._resize(len(batch))
            self._interpreter.set_tensor(self._input, batch[..., np.newaxis])
            self._interpreter.invoke()
            return self._interpreter.get_tensor(self._output).copy()
