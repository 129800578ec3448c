"""The one LiteRT runner: a .tflite model's interpreter, fed batches of 28×28 bitmaps from any thread.

The server's recognizer and the trainer (export, quantizing, evaluation, latency) both run models here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from realtime.core.preprocess import SIDE
from realtime.infra.concurrency import os_thread_lock


class LiteRTRunner:
    """A LiteRT interpreter for one .tflite model: `predict(batch)` returns its outputs for each bitmap."""

    def __init__(self, content: bytes, num_threads: int = 1) -> None:
        self._interpreter = Interpreter(model_content=content, num_threads=num_threads)
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        # The interpreter is not thread-safe: the server's live passes and tpool's OS threads share it.
        self._lock = os_thread_lock()
        self._batch = 0
        self._resize(1)
        self.outputs = int(self._interpreter.get_output_details()[0]["shape"][-1])

    @classmethod
    def from_file(cls, path: Path, num_threads: int = 1) -> LiteRTRunner:
        """Load a .tflite file."""
        return cls(path.read_bytes(), num_threads)

    def _resize(self, batch: int) -> None:
        """Give the interpreter room for `batch` images (only when the size changes)."""
        if batch != self._batch:
            self._interpreter.resize_tensor_input(self._input, [batch, SIDE, SIDE, 1])
            self._interpreter.allocate_tensors()
            self._batch = batch

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Run a (B, 28, 28) float32 batch in [0, 1]; return the (B, outputs) outputs."""
        batch = np.asarray(batch, dtype=np.float32)
        if batch.ndim != 3 or batch.shape[1:] != (SIDE, SIDE) or len(batch) == 0:
            raise ValueError(f"expected a (B, {SIDE}, {SIDE}) batch, got {batch.shape}")
        # The exact size: a resize costs about 8 µs, while padding costs inference on every padded image.
        with self._lock:
            self._resize(len(batch))
            self._interpreter.set_tensor(self._input, batch[..., np.newaxis])
            self._interpreter.invoke()
            return self._interpreter.get_tensor(self._output).copy()

    def predict_all(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Run any number of bitmaps (N, 28, 28), `batch_size` at a time; return the (N, outputs) outputs."""
        return np.concatenate(
            [self.predict(images[start : start + batch_size]) for start in range(0, len(images), batch_size)]
        )
