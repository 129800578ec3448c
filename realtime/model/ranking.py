"""What the server needs of a model (the `Model` protocol, its loader) and how its outputs become guesses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from realtime.model.sureness import confident_of
from realtime.model.taught import TaughtCalibration

TOP_K = 3  # guesses a person is shown


class ModelError(RuntimeError):
    """A model cannot be served: its name or folder is bad, its files are malformed, or it fails its check."""


class Model(Protocol):
    """What the server needs of a model (realtime.model.recognizer.Recognizer, or a test's stand-in)."""

    name: str
    labels: list[str]
    version: str
    other: int | None  # the output that means "none of my classes", never a guess (None: the model has none)
    sure_threshold: (
        float  # the model is confident when its top output is a class at this probability or above
    )
    sure_steady: (
        int  # ...and sure of a drawing in progress once that class held this many messages (sureness)
    )
    embedding_size: int  # the length of its embedding output (0: it has none)
    taught: TaughtCalibration | None  # how it ranks taught words (None: it cannot learn words)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Classify a (B, 28, 28) float32 batch in [0, 1]; return (B, outputs) probabilities."""
        ...

    def infer(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Classify and embed a batch in one call: (B, outputs) probabilities, (B, size) or None."""
        ...

    def verify(self) -> None:
        """Raise ModelError unless the model answers as its folder records (before a hot reload serves it)."""
        ...


# Where the app gets its models, at start-up and for every hot reload: a model's name -> the model, loaded
# (ModelError for a bad name or folder). By default realtime.model.recognizer.litert_loader.
ModelLoader = Callable[[str], Model]


def ranked(
    labels: list[str], probabilities: np.ndarray, k: int | None = None, skip: int | None = None
) -> list[dict[str, Any]]:
    """Return `[{label, p}, ...]` from most to least likely (the first `k` only, if given), less `skip`."""
    order = np.argsort(-probabilities, kind="stable")
    if k is not None:
        order = order[: k + 1]  # enough once `skip` is left out
    order = [int(i) for i in order if i != skip][:k]
    return [{"label": labels[i], "p": round(float(probabilities[i]), 4)} for i in order]


def classes(model: Model) -> list[str]:
    """Return the labels a model can guess: all its outputs but "something else"."""
    return [label for i, label in enumerate(model.labels) if i != model.other]


def is_sure(model: Model, probabilities: np.ndarray) -> bool:
    """Tell whether the model is sure: its top output is one of its classes, at its threshold or above."""
    return confident_of(probabilities, model.sure_threshold, model.other) is not None


def guesses(
    model: Model, probabilities: np.ndarray, k: int | None = None
) -> tuple[list[dict[str, Any]], bool]:
    """Return what a person is told: the model's classes, most likely first, and whether it is sure."""
    return ranked(model.labels, probabilities, k, model.other), is_sure(model, probabilities)
