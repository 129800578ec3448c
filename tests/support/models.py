"""The models the tests use: a deterministic stand-in for the recognizer, and the shipped default's folder."""

from __future__ import annotations

from typing import Any

import numpy as np

from realtime.core import preprocess
from realtime.model.files import MODELS_DIR
from realtime.model.ranking import guesses
from realtime.model.taught import TaughtCalibration

MODEL = MODELS_DIR / "animals6-q8"  # the default model


class FakeModel:
    """A deterministic stand-in for Recognizer: a fixed random projection of the bitmap, softmaxed.

    Its embedding is another fixed random projection, normalised: the same drawing, the same point. It
    records the size of every batch it is asked to classify, and fails on demand.
    """

    def __init__(self) -> None:
        self.name = "fake"
        self.version = "fake-1"
        self.labels = ["alpha", "beta", "gamma", "delta", "epsilon"]
        self.other = None  # no "something else" output
        self.sure_threshold = 0.5
        self.sure_steady = 1
        self.weights = np.random.default_rng(7).normal(size=(28 * 28, len(self.labels))) * 3.0
        self.embedding_size = 16
        self.projection = np.random.default_rng(8).normal(size=(28 * 28, self.embedding_size))
        self.taught = TaughtCalibration(scale=16.0, offset=-8.0, min_similarity=0.9)
        self.batches: list[int] = []
        self.fail = False

    def _probabilities(self, batch: np.ndarray) -> np.ndarray:
        logits = batch.reshape(len(batch), -1) @ self.weights
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Classify a (B, 28, 28) batch."""
        if self.fail:
            raise RuntimeError("model failure (test)")
        self.batches.append(len(batch))
        return self._probabilities(batch)

    def infer(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Classify and embed a (B, 28, 28) batch."""
        probabilities = self.predict(batch)
        embedded = batch.reshape(len(batch), -1) @ self.projection
        return probabilities, (embedded / np.linalg.norm(embedded, axis=1, keepdims=True)).astype(np.float32)

    def top_of_bitmap(self, bitmap: np.ndarray, k: int | None = 3) -> list[dict[str, Any]]:
        """Return the guesses the server should send for `bitmap` (top 3 live; all on the HTTP routes)."""
        return guesses(self, self._probabilities(bitmap[np.newaxis])[0], k)[0]

    def sure_of_bitmap(self, bitmap: np.ndarray) -> bool:
        """Return whether the server should say it is sure of `bitmap`."""
        return guesses(self, self._probabilities(bitmap[np.newaxis])[0])[1]

    def top_of(self, strokes: list[list[list[float]]], k: int | None = 3) -> list[dict[str, Any]]:
        """Return the guesses the server should send for strokes of [x, y] points."""
        return self.top_of_bitmap(preprocess.rasterize_strokes([np.asarray(s, float) for s in strokes]), k)
