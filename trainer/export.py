"""Export a trained model: .keras (source of truth) and a verified .tflite, written only once they agree."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import keras
import numpy as np

from realtime.model.files import KERAS_FILE, TFLITE_FILE
from realtime.model.litert import LiteRTRunner

MAX_ABS_DIFF = 1e-4


class ExportError(RuntimeError):
    """The exported formats disagree or the model cannot be converted."""


def convert_to_tflite(model: keras.Model) -> bytes:
    """Convert a Keras model to .tflite bytes with a resizable batch dimension."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    return converter.convert()


def export_model(model: keras.Model, out_dir: Path, sample: np.ndarray) -> dict[str, float | int]:
    """Save model.keras and model.tflite into `out_dir` after checking both agree on `sample` (N, 28, 28)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".export-") as scratch:
        keras_path = Path(scratch) / KERAS_FILE
        model.save(keras_path)
        reloaded = keras.saving.load_model(keras_path, safe_mode=True)
        tflite = convert_to_tflite(reloaded)
        expected = reloaded.predict(sample[..., None], batch_size=256, verbose=0)
        runner = LiteRTRunner(tflite)
        if isinstance(expected, dict):  # probabilities and an embedding (trainer.embedding)
            got = runner.run_all(sample, batch_size=64)
            diff = max(float(np.max(np.abs(expected[name] - got[name]))) for name in expected)
        else:
            diff = float(np.max(np.abs(expected - runner.predict_all(sample, batch_size=64))))
        if not np.isfinite(diff) or diff > MAX_ABS_DIFF:
            raise ExportError(
                f".tflite and .keras disagree: max abs difference {diff:.2e} > {MAX_ABS_DIFF:g}"
            )
        shutil.move(keras_path, out_dir / KERAS_FILE)
        (out_dir / TFLITE_FILE).write_bytes(tflite)
    return {
        "max_abs_diff": diff,
        "checked_samples": len(sample),
        "tflite_bytes": len(tflite),
        "keras_bytes": (out_dir / KERAS_FILE).stat().st_size,
    }
