"""Words taught from a few drawings, ranked together with the words the model was trained on.

A model with an embedding output (trainer.embedding) puts each drawing at a point on the unit sphere, near
the drawings of the same word. A taught word is the mean of its examples' points, normalised: its
*prototype*. For one drawing, the trained words keep their logits (the log of the model's probabilities)
and each taught word gets `scale × cosine similarity + offset`; one softmax over both ranks them all, so a
model with no taught word answers exactly as before. A taught word is *confident* at the model's sure
threshold only when the drawing is also at least `min_similarity` from its prototype. `scale`, `offset`
and `min_similarity` are chosen by `python -m trainer.fewshot_eval` on words the embedding never saw
and kept in the model's calibration.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

EPSILON = np.float32(1e-30)  # probabilities are clipped to it before their log is taken (float32 holds it)


@dataclass(frozen=True)
class TaughtCalibration:
    """How taught words are ranked with trained ones, and how close a drawing must be to be sure of one."""

    scale: float
    offset: float
    min_similarity: float

    @classmethod
    def from_json(cls, value: Any) -> TaughtCalibration:
        """Read the calibration a calibration.json's "taught" entry holds; ValueError when malformed."""
        if not isinstance(value, dict):
            raise ValueError('"taught" must be an object')
        numbers = {}
        for key in ("scale", "offset", "min_similarity"):
            number = value.get(key)
            if isinstance(number, bool) or not isinstance(number, int | float) or not np.isfinite(number):
                raise ValueError(f'"taught" needs a finite number {key!r}')
            numbers[key] = float(number)
        if not 0 < numbers["scale"] <= 100 or not -1 <= numbers["min_similarity"] <= 1:
            raise ValueError('"taught" needs 0 < scale <= 100 and -1 <= min_similarity <= 1')
        return cls(**numbers)

    def as_json(self) -> dict[str, float]:
        """Return the calibration as calibration.json keeps it."""
        return {"scale": self.scale, "offset": self.offset, "min_similarity": self.min_similarity}


def prototype(embedded: np.ndarray) -> np.ndarray:
    """Return the prototype of a word from its examples' embeddings (K, D): their mean, normalised."""
    mean = np.asarray(embedded, np.float64).mean(axis=0)
    norm = float(np.linalg.norm(mean))
    if not np.isfinite(norm) or norm == 0.0:
        raise ValueError("the examples' embeddings cancel out: no prototype")
    return (mean / norm).astype(np.float32)


def scores(
    probs: np.ndarray, embedded: np.ndarray, prototypes: np.ndarray, calibration: TaughtCalibration
) -> np.ndarray:
    """Return probabilities over the model's outputs then the taught words, for (B, C) and (B, D) rows."""
    logits = np.log(np.clip(np.asarray(probs, np.float32), EPSILON, 1.0))
    if len(prototypes):
        similarity = similarities(embedded, prototypes)
        logits = np.concatenate([logits, calibration.scale * similarity + calibration.offset], axis=1)
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def similarities(embedded: np.ndarray, prototypes: np.ndarray) -> np.ndarray:
    """Return the cosine similarity of each drawing (B, D) to each prototype (W, D): (B, W)."""
    return np.asarray(embedded, np.float32) @ np.asarray(prototypes, np.float32).T
