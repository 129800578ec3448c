"""Score predictions on the held-out split: top-1/top-3, per-class precision/recall, a confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def top_k_accuracy(probs: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Return the share of samples whose label is among the k most probable classes."""
    if len(labels) == 0:
        return float("nan")
    top = np.argsort(-probs, axis=1)[:, :k]
    return float(np.mean(np.any(top == labels[:, None], axis=1)))


def confusion_matrix(predicted: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Return counts[true, predicted]."""
    matrix = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def per_class(matrix: np.ndarray, classes: Sequence[str]) -> dict[str, dict[str, float]]:
    """Return precision, recall and support per class from a confusion matrix."""
    out = {}
    for k, name in enumerate(classes):
        predicted = matrix[:, k].sum()
        support = matrix[k].sum()
        out[name] = {
            "precision": round(float(matrix[k, k] / predicted), 4) if predicted else None,
            "recall": round(float(matrix[k, k] / support), 4) if support else None,
            "support": int(support),
        }
    return out


def summarize(probs: np.ndarray, labels: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """Return top-1, top-3, per-class figures and the confusion matrix for one set of predictions."""
    matrix = confusion_matrix(np.argmax(probs, axis=1), labels, len(classes))
    return {
        "n": len(labels),
        "top1": round(top_k_accuracy(probs, labels, 1), 4),
        "top3": round(top_k_accuracy(probs, labels, 3), 4),
        "per_class": per_class(matrix, classes),
        "confusion": matrix.tolist(),
    }


def evaluate_split(
    probs: np.ndarray, labels: np.ndarray, sources: np.ndarray, classes: Sequence[str]
) -> dict[str, Any]:
    """Summarise a test split overall and per source (official bitmaps, rendered stroke drawings)."""
    out = {"all": summarize(probs, labels, classes)}
    for source in ("bitmap", "strokes"):
        mine = sources == source
        if mine.any():
            out[source] = summarize(probs[mine], labels[mine], classes)
    return out


def save_confusion_png(matrix: np.ndarray, classes: Sequence[str], path: Path, title: str) -> None:
    """Draw a row-normalised confusion matrix with counts to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.asarray(matrix)
    rows = matrix.sum(axis=1, keepdims=True)
    share = matrix / np.maximum(rows, 1)
    size = 2.5 + 0.45 * len(classes)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    shown = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(classes)), classes, rotation=60, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if len(classes) <= 24:
        for i in range(len(classes)):
            for j in range(len(classes)):
                if matrix[i, j]:
                    colour = "white" if share[i, j] > 0.5 else "black"
                    ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7, color=colour)
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
