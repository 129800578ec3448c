"""Honest probabilities: temperature scaling fitted on the validation split, and when to say "sure".

Temperature scaling divides the logits by one number T fitted to the validation split's log loss. A softmax
model's last layer is `softmax(W x + b)`, so dividing W and b by T bakes it into the exported model: the
server's probabilities are the calibrated ones with no step of its own. Calibration is reported as the
expected calibration error (ECE): the gap between confidence and accuracy, over bins of the top guess's
probability, weighted by how many guesses fall in each.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

ECE_BINS = 15
THRESHOLD_FLOOR = 0.2  # the lowest "sure" threshold considered
TEMPERATURES = np.exp(np.linspace(np.log(0.25), np.log(4.0), 241))
# Logits are recovered as log-probabilities (a softmax is unchanged by a constant added to every logit).
# The model's float32 outputs keep about 7 digits down to 1e-38, so only outputs that underflow to zero
# (logits 87 below the top one) are clipped, and those change nothing at temperatures near 1.
EPSILON = 1e-30


def with_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Return softmax probabilities as if the logits had been divided by `temperature`."""
    logits = np.log(np.clip(np.asarray(probs, np.float64), EPSILON, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    scaled = np.exp(logits)
    return scaled / scaled.sum(axis=1, keepdims=True)


def log_loss(probs: np.ndarray, labels: np.ndarray) -> float:
    """Return the mean negative log probability of the true labels."""
    picked = np.asarray(probs, np.float64)[np.arange(len(labels)), labels]
    return float(-np.mean(np.log(np.clip(picked, EPSILON, 1.0))))


def mean_with_temperature(member_probs: Sequence[np.ndarray], temperature: float) -> np.ndarray:
    """Return the mean of networks' probabilities, each as if its logits had been divided by `temperature`."""
    return np.mean([with_temperature(probs, temperature) for probs in member_probs], axis=0)


def fit_temperature(member_probs: Sequence[np.ndarray], labels: np.ndarray) -> float:
    """Return the temperature (0.25–4) minimising the log loss on `labels` of the members' mean probabilities.

    A single network is a list of one. An ensemble (the mean of its networks' softmax outputs) gets one
    temperature for all its networks, baked into each.
    """
    losses = [log_loss(mean_with_temperature(member_probs, t), labels) for t in TEMPERATURES]
    return float(TEMPERATURES[int(np.argmin(losses))])


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """Return the ECE of the top guesses: Σ over confidence bins of |accuracy − confidence| × share."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        mine = which == b
        if mine.any():
            error += abs(float(correct[mine].mean()) - float(confidence[mine].mean())) * float(mine.mean())
    return error


def bake_temperature(model: keras.Model, temperature: float) -> None:
    """Divide the last (softmax) Dense layer's weights by `temperature`, in place."""
    last = model.layers[-1]
    if not isinstance(last, keras.layers.Dense) or last.get_config()["activation"] != "softmax":
        raise ValueError("temperature scaling needs a model that ends in a softmax Dense layer")
    kernel, bias = last.get_weights()
    last.set_weights([kernel / temperature, bias / temperature])


def sure(probs: np.ndarray, threshold: float, other: int | None) -> np.ndarray:
    """Tell for each row whether the model is sure: its top output is a real class, at `threshold` or more."""
    top = probs.argmax(axis=1)
    confident = probs.max(axis=1) >= threshold
    return confident & (top != other) if other is not None else confident


def choose_threshold(probs: np.ndarray, labels: np.ndarray, other: int | None, own_rate: float) -> float:
    """Return the highest threshold at which the model is sure of `own_rate` of its classes' drawings.

    Thresholds from THRESHOLD_FLOOR to 0.95 are considered; when none reaches `own_rate`, the lowest.
    """
    own = labels != other if other is not None else np.ones(len(labels), bool)
    candidates = np.round(np.linspace(THRESHOLD_FLOOR, 0.95, 76), 2)
    best = float(candidates[0])
    for threshold in candidates:
        if sure(probs[own], float(threshold), other).mean() >= own_rate:
            best = float(threshold)
    return best
