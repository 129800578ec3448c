"""Fit a model with per-epoch progress and ETA, early stopping on validation loss, best weights restored."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

import keras
import numpy as np


class EpochProgress(keras.callbacks.Callback):
    """Print one line per epoch: losses, accuracies, epoch time and an ETA for the remaining epochs."""

    def __init__(self, epochs: int, stream: TextIO | None = None, label: str = "") -> None:
        super().__init__()
        self.epochs = epochs
        self.stream = stream or sys.stderr
        self.label = label
        self.started = 0.0
        self.epoch_started = 0.0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Start the clock."""
        self.started = time.perf_counter()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Start the epoch's clock."""
        self.epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Print the epoch's figures and the time left if it runs every epoch."""
        logs = logs or {}
        now = time.perf_counter()
        per_epoch = (now - self.started) / (epoch + 1)
        eta = per_epoch * (self.epochs - epoch - 1)
        names = (("loss", "loss"), ("acc", "accuracy"), ("val_loss", "val_loss"), ("val_acc", "val_accuracy"))
        figures = "  ".join(f"{name} {logs.get(key, float('nan')):.4f}" for name, key in names)
        print(
            f"{self.label}epoch {epoch + 1}/{self.epochs}  {figures}  {now - self.epoch_started:.1f}s"
            f"  ETA {eta:.0f}s (at most; stops early when val_loss stalls)",
            file=self.stream,
            flush=True,
        )


CLASS_WEIGHTS = ("balanced", "sqrt", "none")
SCHEDULES = ("plateau", "cosine")


def class_weights(labels: np.ndarray, n_classes: int, mode: str) -> dict[int, float] | None:
    """Return loss weights per class: `balanced` (equal total weight), `sqrt` (its square root) or None."""
    if mode == "none":
        return None
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    counts[counts == 0] = 1.0
    weights = len(labels) / (n_classes * counts)
    if mode == "sqrt":
        weights = np.sqrt(weights)
    return {k: round(float(w), 4) for k, w in enumerate(weights)}


# Random affine changes of official bitmaps: players draw a little turned, larger or smaller, off centre.
# Small on purpose, as the dataset centres and scales every drawing (fractions of the image, and of a turn).
AFFINE = {"rotation": 0.03, "zoom": 0.1, "translation": 0.05}


def training_batches(
    images: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    batch_size: int,
    seed: int,
    mirror: bool = True,
    affine: bool = False,
) -> Any:
    """Return shuffled tf.data batches of (image, one-hot label), mirrored and/or moved at random."""
    import tensorflow as tf

    moves = keras.Sequential(
        [
            keras.layers.RandomRotation(AFFINE["rotation"], fill_mode="constant", seed=seed),
            keras.layers.RandomZoom((-AFFINE["zoom"], AFFINE["zoom"]), fill_mode="constant", seed=seed),
            keras.layers.RandomTranslation(
                AFFINE["translation"], AFFINE["translation"], fill_mode="constant", seed=seed
            ),
        ]
    )

    def augment(x: Any, y: Any) -> tuple[Any, Any]:
        if mirror:
            flip = tf.random.uniform([tf.shape(x)[0], 1, 1, 1], seed=seed) < 0.5
            x = tf.where(flip, tf.reverse(x, axis=[2]), x)
        if affine:
            x = moves(x, training=True)
        return x, tf.one_hot(y, n_classes)

    data = tf.data.Dataset.from_tensor_slices((images[..., None], labels))
    data = data.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    return data.map(augment, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def fit(
    model: keras.Model,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    epochs: int,
    batch_size: int = 128,
    patience: int = 5,
    class_weight: dict[int, float] | None = None,
    mirror: bool = True,
    affine: bool = False,
    label_smoothing: float = 0.0,
    schedule: str = "plateau",
    seed: int = 0,
    label: str = "",
) -> dict[str, Any]:
    """Train `model` in place and return its history, best epoch and wall time.

    Adam from a learning rate of 1e-3, `plateau`: halved when the validation loss stalls, or `cosine`:
    annealed to nearly zero over the epochs (the better use of a fixed, short budget).
    """
    n_classes = model.output_shape[-1]
    batches = training_batches(train[0], train[1], n_classes, batch_size, seed, mirror, affine)
    callbacks: list[keras.callbacks.Callback] = [
        EpochProgress(epochs, label=label),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True),
    ]
    if schedule == "cosine":
        steps = epochs * int(np.ceil(len(train[1]) / batch_size))
        rate: Any = keras.optimizers.schedules.CosineDecay(1e-3, steps, alpha=0.01)
    else:
        rate = 1e-3
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, min_lr=1e-5)
        )
    model.compile(
        optimizer=keras.optimizers.Adam(rate),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing),
        metrics=["accuracy"],
    )
    started = time.perf_counter()
    history = model.fit(
        batches,
        validation_data=(val[0][..., None], keras.utils.to_categorical(val[1], n_classes)),
        epochs=epochs,
        class_weight=class_weight,
        verbose=0,
        callbacks=callbacks,
    )
    losses = history.history["val_loss"]
    return {
        "epochs_run": len(losses),
        "best_epoch": int(np.argmin(losses)) + 1,
        "best_val_loss": float(np.min(losses)),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "history": {k: [round(float(v), 5) for v in vs] for k, vs in history.history.items()},
    }
