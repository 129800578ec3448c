"""The whole training run: data → split → augment → fit → evaluate → export, each step a function."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import keras
import numpy as np

from trainer.architectures import build_model, describe
from trainer.augment import STYLE_COPIES, augment_training_set, plan_copies
from trainer.card import write_model_card
from trainer.check import write_check
from trainer.data import SAME_DRAWING_DISTANCE, Dataset, SplitSpec, load_dataset, split_indices
from trainer.evaluate import evaluate_split, save_confusion_png
from trainer.export import export_model
from trainer.litert import LATENCY_SETUP, single_image_latency_us
from trainer.train import class_weights, fit

EXPORT_CHECK_SAMPLES = 512


@dataclass
class TrainConfig:
    """Everything a training run depends on (recorded in metrics.json so the run can be reproduced)."""

    classes: list[str]
    out: Path
    bitmap_dir: Path | None
    stroke_dirs: list[Path]
    arch: str = "small"
    baseline: str | None = "seed"
    epochs: int = 40
    batch_size: int = 128
    patience: int = 5
    class_weights: str = "none"
    mirror: bool = True
    max_per_class: int | None = None
    split: SplitSpec = field(default_factory=SplitSpec)
    command: str = ""


def log(message: str) -> None:
    """Print a progress message on stderr."""
    print(message, file=sys.stderr, flush=True)


def training_set(dataset: Dataset, train: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """Return the training images and labels, rare classes filled up with augmented stroke renders."""
    n_classes = len(dataset.classes)
    strokes = train[dataset.sources[train] == "strokes"]
    plan = plan_copies(
        np.bincount(dataset.labels[train], minlength=n_classes).tolist(),
        np.bincount(dataset.labels[strokes], minlength=n_classes).tolist(),
    )
    extra, extra_labels = augment_training_set(
        [dataset.drawings[i] for i in strokes], dataset.labels[strokes], plan, seed
    )
    images = np.concatenate([dataset.images[train], extra])
    labels = np.concatenate([dataset.labels[train], extra_labels])
    report = {
        name: {"copies_per_drawing": plan[k], "augmented": int(np.sum(extra_labels == k))}
        for k, name in enumerate(dataset.classes)
    }
    return images, labels, report


def train_one(
    arch: str, config: TrainConfig, train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray]
) -> tuple[keras.Model, dict[str, Any]]:
    """Build and fit one architecture from the run's seed."""
    keras.utils.set_random_seed(config.split.seed)
    model = build_model(arch, len(config.classes))
    weights = class_weights(train[1], len(config.classes), config.class_weights)
    log(f"[{arch}] {model.count_params():,} parameters, {len(train[1]):,} training images")
    history = fit(
        model,
        train,
        val,
        epochs=config.epochs,
        batch_size=config.batch_size,
        patience=config.patience,
        class_weight=weights,
        mirror=config.mirror,
        seed=config.split.seed,
        label=f"[{arch}] ",
    )
    log(f"[{arch}] done in {history['wall_seconds']:.0f}s, best epoch {history['best_epoch']}")
    return model, history


def versions() -> dict[str, str]:
    """Return the versions of the packages a model depends on."""
    out = {"python": platform.python_version()}
    for package in ("tensorflow", "keras", "numpy", "opencv-python-headless", "ai-edge-litert"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "not installed"
    return out


def run(config: TrainConfig) -> dict[str, Any]:
    """Train, evaluate and export one model folder; return its metrics."""
    started = time.perf_counter()
    log(f"loading {len(config.classes)} classes ...")
    dataset = load_dataset(config.classes, config.bitmap_dir, config.stroke_dirs, config.max_per_class)
    train, val, test = split_indices(dataset.labels, dataset.groups, config.split, dataset.classes)
    log(f"split: {len(train)} train, {len(val)} validation, {len(test)} test (seed {config.split.seed})")
    x_train, y_train, augmentation = training_set(dataset, train, config.split.seed)
    val_set = (dataset.images[val], dataset.labels[val])
    prepared = time.perf_counter() - started

    model, history = train_one(config.arch, config, (x_train, y_train), val_set)
    test_images, test_labels, test_sources = dataset.images[test], dataset.labels[test], dataset.sources[test]
    probs = model.predict(test_images[..., None], batch_size=512, verbose=0)
    evaluation = evaluate_split(probs, test_labels, test_sources, config.classes)

    baseline = None
    if config.baseline:
        base_model, base_history = train_one(config.baseline, config, (x_train, y_train), val_set)
        base_probs = base_model.predict(test_images[..., None], batch_size=512, verbose=0)
        baseline = {
            "arch": config.baseline,
            "architecture": describe(base_model),
            "parameters": base_model.count_params(),
            "training": {k: v for k, v in base_history.items() if k != "history"},
            "test": evaluate_split(base_probs, test_labels, test_sources, config.classes),
        }

    spread = test_images[:: max(1, len(test_images) // EXPORT_CHECK_SAMPLES)][:EXPORT_CHECK_SAMPLES]
    export = export_model(model, config.out, spread)
    latency = single_image_latency_us(config.out / "model.tflite")
    counts = dataset.counts()
    for k, name in enumerate(config.classes):
        counts[name].update(
            train=int(np.sum(dataset.labels[train] == k)),
            val=int(np.sum(dataset.labels[val] == k)),
            test=int(np.sum(test_labels == k)),
            **augmentation[name],
            files=dataset.files[name],
            skipped=dataset.skipped[name],
        )
    metrics = {
        "model": config.out.name,
        "classes": config.classes,
        "arch": config.arch,
        "architecture": describe(model),
        "parameters": model.count_params(),
        "data": {
            "same_drawing_distance": SAME_DRAWING_DISTANCE,
            "bitmap_dir": str(config.bitmap_dir) if config.bitmap_dir else None,
            "stroke_dirs": [str(d) for d in config.stroke_dirs],
            "max_per_class": config.max_per_class,
            "counts": counts,
        },
        "split": config.split.as_dict(),
        "augmentation": {
            "style_copies": STYLE_COPIES,
            "class_weights": config.class_weights,
            "mirror": config.mirror,
        },
        "test": evaluation,
        "baseline": baseline,
        "training": {
            "epochs_max": config.epochs,
            "batch_size": config.batch_size,
            "patience": config.patience,
            "data_seconds": round(prepared, 1),
            **{k: v for k, v in history.items() if k != "history"},
            "history": history["history"],
            "total_seconds": round(time.perf_counter() - started, 1),
            "cpu_count": os.cpu_count(),
            "machine": platform.machine(),
        },
        "export": export,
        "latency": {"runtime": LATENCY_SETUP, **latency},
        "versions": versions(),
        "command": config.command,
    }
    write_outputs(metrics, config.out)
    bitmaps = evaluation.get("bitmap", {}).get("top1", float("nan"))
    log(
        f"test top-1 {evaluation['all']['top1']:.4f} (bitmaps {bitmaps:.4f}), "
        f"top-3 {evaluation['all']['top3']:.4f}; wrote {config.out} "
        f"in {metrics['training']['total_seconds']:.0f}s"
    )
    return metrics


def write_outputs(metrics: dict[str, Any], out: Path) -> None:
    """Write labels.json, metrics.json, confusion.png and the model card next to the exported model."""
    (out / "labels.json").write_text(json.dumps(metrics["classes"]) + "\n", encoding="utf-8")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    save_confusion_png(
        np.asarray(metrics["test"]["all"]["confusion"]),
        metrics["classes"],
        out / "confusion.png",
        f"{metrics['model']} ({metrics['arch']}): held-out test split",
    )
    write_model_card(metrics, out / "README.md")
    write_check(out)
