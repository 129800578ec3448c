"""The model behind one small class: load a model folder once, predict batches of 28×28 bitmaps."""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
from pathlib import Path

import numpy as np

from realtime.core import preprocess
from realtime.model.files import CALIBRATION_FILE, CHECK_FILE, LABELS_FILE, MODELS_DIR, TFLITE_FILE
from realtime.model.litert import EMBEDDING, PROBABILITIES, LiteRTRunner
from realtime.model.ranking import ModelError, ModelLoader
from realtime.model.taught import TaughtCalibration

CHECK_TOLERANCE = 0.01  # probabilities may differ this much between runtimes and machines
DEFAULT_SURE_THRESHOLD = 0.5  # for a folder without CALIBRATION_FILE (an older model)
MAX_STEADY = 60  # messages: two seconds of drawing
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def _read_calibration(
    path: Path, labels: list[str]
) -> tuple[int | None, float, int, TaughtCalibration | None]:
    """Read a model folder's calibration file: its "something else" output, sure threshold, steadiness
    and how it ranks taught words (None: it was never calibrated for them)."""
    if not path.is_file():
        return None, DEFAULT_SURE_THRESHOLD, 1, None
    try:
        calibration = json.loads(path.read_text(encoding="utf-8"))
        other, threshold = calibration["other_label"], calibration["sure_threshold"]
        steady = calibration.get("sure_steady", 1)  # written since the live evaluation; before, 1
        taught = calibration.get("taught")  # written by trainer.fewshot_eval
        if other is not None and other not in labels:
            raise ValueError(f"other_label {other!r} is not one of {LABELS_FILE}'s classes")
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 < threshold < 1:
            raise ValueError("sure_threshold must be a number between 0 and 1")
        if isinstance(steady, bool) or not isinstance(steady, int) or not 1 <= steady <= MAX_STEADY:
            raise ValueError(f"sure_steady must be a whole number from 1 to {MAX_STEADY}")
        taught = None if taught is None else TaughtCalibration.from_json(taught)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{path} is malformed or unreadable: {exc}") from exc
    return (None if other is None else labels.index(other)), float(threshold), steady, taught


class Recognizer:
    """One model folder, run by LiteRT: `predict(batch)` returns class probabilities, `verify()` checks it.

    A model with an embedding output (and a calibration for taught words) can learn words: `infer(batch)`
    returns the probabilities and the embeddings of one interpreter call.
    """

    def __init__(self, model_dir: Path, num_threads: int = 1) -> None:
        model_path = model_dir / TFLITE_FILE
        labels_path = model_dir / LABELS_FILE
        if not model_path.is_file() or not labels_path.is_file():
            raise ModelError(
                f"{model_dir} must hold {TFLITE_FILE} and {LABELS_FILE} (train it: python -m trainer)"
            )
        labels = json.loads(labels_path.read_text(encoding="utf-8"))
        if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
            raise ModelError(f"{labels_path} must be a JSON list of class names")
        content = model_path.read_bytes()
        self.name = model_dir.name
        self.folder = model_dir
        self.labels: list[str] = labels
        self.other, self.sure_threshold, self.sure_steady, calibration = _read_calibration(
            model_dir / CALIBRATION_FILE, labels
        )
        self.version = f"{self.name}-{hashlib.sha256(content).hexdigest()[:12]}"
        self._runner = LiteRTRunner(content, num_threads)
        outputs = self._runner.outputs
        if outputs != len(labels):
            raise ModelError(
                f"{model_path} has {outputs} outputs but {LABELS_FILE} names {len(labels)} classes"
            )
        self.embedding_size = self._runner.embedding_size
        # Words can be taught only to a model with an embedding that was calibrated for them.
        self.taught = calibration if self.embedding_size else None

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

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Classify a (B, 28, 28) float32 batch in [0, 1]; return (B, classes) probabilities."""
        return self._runner.predict(batch)

    def infer(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Classify and embed a (B, 28, 28) batch in one call: (B, classes) and (B, size) or None."""
        outputs = self._runner.run(batch)
        return outputs[PROBABILITIES], outputs.get(EMBEDDING)


def litert_loader(num_threads: int = 1) -> ModelLoader:
    """Return the app's default way to load a model: models/<name> on LiteRT, `num_threads` threads each."""
    return functools.partial(Recognizer.from_name, num_threads=num_threads)
