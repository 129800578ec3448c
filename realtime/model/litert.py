"""The one LiteRT runner: a .tflite model's interpreter, fed batches of 28×28 bitmaps from any thread.

The server's recognizer and the trainer (export, quantizing, evaluation, latency) both run models here.
A model has one output, the probabilities, or two named in its signature: `probabilities` and `embedding`
(trainer.embedding), both computed by the same call.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from realtime.core.preprocess import SIDE
from realtime.infra.concurrency import os_thread_lock

PROBABILITIES = "probabilities"
EMBEDDING = "embedding"


class LiteRTRunner:
    """A LiteRT interpreter for one .tflite model: `predict(batch)` returns its outputs for each bitmap."""

    def __init__(self, content: bytes, num_threads: int = 1) -> None:
        self._interpreter = Interpreter(model_content=content, num_threads=num_threads)
        self._input = self._interpreter.get_input_details()[0]["index"]
        # Output tensors are in no fixed order in the file: a two-output model's are found by their names.
        named = {}
        if self._interpreter.get_signature_list():
            named = {
                name: details["index"]
                for name, details in self._interpreter.get_signature_runner().get_output_details().items()
            }
        if PROBABILITIES in named:
            self._outputs = {name: named[name] for name in (PROBABILITIES, EMBEDDING) if name in named}
        else:
            self._outputs = {PROBABILITIES: self._interpreter.get_output_details()[0]["index"]}
        # The interpreter is not thread-safe: the server's live passes and tpool's OS threads share it.
        self._lock = os_thread_lock()
        self._batch = 0
        self._resize(1)
        shapes = {d["index"]: d["shape"] for d in self._interpreter.get_output_details()}
        self.outputs = int(shapes[self._outputs[PROBABILITIES]][-1])
        self.embedding_size = int(shapes[self._outputs[EMBEDDING]][-1]) if EMBEDDING in self._outputs else 0

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

    def run(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Run a (B, 28, 28) float32 batch in [0, 1]; return each output by name, (B, values) each."""
        batch = np.asarray(batch, dtype=np.float32)
        if batch.ndim != 3 or batch.shape[1:] != (SIDE, SIDE) or len(batch) == 0:
            raise ValueError(f"expected a (B, {SIDE}, {SIDE}) batch, got {batch.shape}")
        # The exact size: a resize costs about 8 µs, while padding costs inference on every padded image.
        with self._lock:
            self._resize(len(batch))
            self._interpreter.set_tensor(self._input, batch[..., np.newaxis])
            self._interpreter.invoke()
            return {name: self._interpreter.get_tensor(index).copy() for name, index in self._outputs.items()}

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Run a (B, 28, 28) float32 batch in [0, 1]; return the (B, outputs) probabilities."""
        return self.run(batch)[PROBABILITIES]

    def run_all(self, images: np.ndarray, batch_size: int = 256) -> dict[str, np.ndarray]:
        """Run any number of bitmaps (N, 28, 28), `batch_size` at a time; return each output by name."""
        parts = [self.run(images[start : start + batch_size]) for start in range(0, len(images), batch_size)]
        return {name: np.concatenate([part[name] for part in parts]) for name in self._outputs}

    def predict_all(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Run any number of bitmaps (N, 28, 28), `batch_size` at a time; return the (N, outputs) outputs."""
        return self.run_all(images, batch_size)[PROBABILITIES]
