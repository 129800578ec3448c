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

from realtime.model.files import (
    CALIBRATION_FILE,
    CARD_FILE,
    CONFUSION_FILE,
    LABELS_FILE,
    METRICS_FILE,
    TFLITE_FILE,
)
from realtime.model.litert import LiteRTRunner
from trainer.architectures import build_model, describe, ensemble, members
from trainer.augment import STYLE_COPIES, augment_training_set, plan_copies
from trainer.calibrate import (
    ECE_BINS,
    THRESHOLD_FLOOR,
    bake_temperature,
    choose_threshold,
    expected_calibration_error,
    fit_temperature,
    log_loss,
    mean_with_temperature,
    sure,
)
from trainer.card import write_model_card
from trainer.check import write_check
from trainer.data import (
    SAME_DRAWING_DISTANCE,
    DataError,
    Dataset,
    SplitSpec,
    load_dataset,
    split_indices,
)
from trainer.evaluate import evaluate_split, save_confusion_png, summarize
from trainer.export import export_model
from trainer.latency import LATENCY_SETUP, single_image_latency_us
from trainer.negatives import OTHER, SHAPES, class_bitmaps, kind_of, shape_bitmaps, with_negatives
from trainer.partials import bitmap_partials, doodle_prefixes, drawing_prefixes
from trainer.train import AFFINE, class_weights, fit

EXPORT_CHECK_SAMPLES = 512
FRESH_DOODLES = 200  # per kind, drawn with another seed than the training doodles, to check "sure"
FRESH_SEED_OFFSET = 1_000_003
HELD_OUT_ROWS = 1000  # per held-out class


@dataclass
class TrainConfig:
    """Everything a training run depends on (recorded in metrics.json so the run can be reproduced)."""

    classes: list[str]
    out: Path
    bitmap_dir: Path | None
    stroke_dirs: list[Path]
    arch: str = "wide"
    members: int = 1  # networks trained from different seeds; the model is their mean
    baseline: str | None = "seed"
    epochs: int = 40
    batch_size: int = 128
    patience: int = 5
    class_weights: str = "none"
    mirror: bool = True
    affine: bool = True
    label_smoothing: float = 0.0
    schedule: str = "plateau"
    max_per_class: int | None = None
    # From `python -m trainer collected export` (its simplified/ is one of the stroke dirs).
    collected_dir: Path | None = None
    # The "something else" class: these classes' bitmaps (at most so many each) and synthetic doodles.
    negatives: list[str] = field(default_factory=list)
    negatives_per_class: int = 500
    doodles_per_kind: int = 0
    # Classes never trained on, to check that the model is not sure of them either (bitmaps).
    held_out: list[str] = field(default_factory=list)
    partials: float = 0.0  # share of the training bitmaps also cut short (trainer.partials); 0: none
    sure_rate: float = 0.9  # the share of its own classes' validation drawings the model must be sure of
    compare: Path | None = None  # a model folder (the one this run replaces) to score on the same test split
    split: SplitSpec = field(default_factory=SplitSpec)
    command: str = ""

    @property
    def rejects(self) -> bool:
        """Tell whether the model gets a "something else" class."""
        return bool(self.negatives) or self.doodles_per_kind > 0


def log(message: str) -> None:
    """Print a progress message on stderr."""
    print(message, file=sys.stderr, flush=True)


def training_set(
    dataset: Dataset, train: np.ndarray, seed: int, partials: float = 0.0, other: int | None = None
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Return the training images and labels, rare classes filled up with augmented stroke renders.

    With `partials` > 0, drawings in progress join them (trainer.partials): that share of the bitmaps cut
    short, as many stroke prefixes as augmented stroke renders, and (with an `other` class) as many
    prefixes of synthetic doodles as it has finished ones.
    """
    n_classes = len(dataset.classes)
    strokes = train[dataset.sources[train] == "strokes"]
    plan = plan_copies(
        np.bincount(dataset.labels[train], minlength=n_classes).tolist(),
        np.bincount(dataset.labels[strokes], minlength=n_classes).tolist(),
    )
    stroke_drawings = [dataset.drawings[i] for i in strokes]
    extra, extra_labels = augment_training_set(stroke_drawings, dataset.labels[strokes], plan, seed)
    parts, part_labels = [dataset.images[train], extra], [dataset.labels[train], extra_labels]
    if partials > 0:
        bitmaps = train[dataset.sources[train] != "strokes"]
        doodles = bitmaps[np.char.find(dataset.groups[bitmaps].astype(str), " doodle/") >= 0]
        made = [
            bitmap_partials(dataset.images[bitmaps], dataset.labels[bitmaps], partials, seed),
            augment_prefixes(stroke_drawings, dataset.labels[strokes], plan, seed),
        ]
        if other is not None and len(doodles):
            made.append(doodle_prefixes(max(1, len(doodles) // len(SHAPES)), other, seed))
        parts += [images for images, _ in made]
        part_labels += [labels for _, labels in made]
    images, labels = np.concatenate(parts), np.concatenate(part_labels)
    partial_labels = np.concatenate(part_labels[2:]) if partials > 0 else np.zeros(0, np.int32)
    report = {
        name: {
            "copies_per_drawing": plan[k],
            "augmented": int(np.sum(extra_labels == k)),
            "partial": int(np.sum(partial_labels == k)),
        }
        for k, name in enumerate(dataset.classes)
    }
    return images, labels, report


def augment_prefixes(
    drawings: list[Any], labels: np.ndarray, copies_per_class: list[int], seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Render as many partial states of each stroke drawing as its class gets augmented renders."""
    out, out_labels = [np.zeros((0, 28, 28), np.float32)], [np.zeros(0, np.int32)]
    for k, copies in enumerate(copies_per_class):
        mine = [d for d, label in zip(drawings, labels, strict=True) if label == k]
        if copies and mine:
            images, made = drawing_prefixes(mine, np.full(len(mine), k), copies, seed + k)
            out.append(images)
            out_labels.append(made)
    return np.concatenate(out), np.concatenate(out_labels)


def train_one(
    arch: str,
    config: TrainConfig,
    n_classes: int,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    seed: int,
) -> tuple[keras.Model, dict[str, Any]]:
    """Build and fit one architecture from `seed` (its weights, and the order and changes of its images)."""
    keras.utils.set_random_seed(seed)
    model = build_model(arch, n_classes)
    weights = class_weights(train[1], n_classes, config.class_weights)
    log(f"[{arch}] {model.count_params():,} parameters, {len(train[1]):,} training images, seed {seed}")
    history = fit(
        model,
        train,
        val,
        epochs=config.epochs,
        batch_size=config.batch_size,
        patience=config.patience,
        class_weight=weights,
        mirror=config.mirror,
        affine=config.affine,
        label_smoothing=config.label_smoothing,
        schedule=config.schedule,
        seed=seed,
        label=f"[{arch}] ",
    )
    log(f"[{arch}] done in {history['wall_seconds']:.0f}s, best epoch {history['best_epoch']}")
    return model, {**history, "seed": seed}


def training_history(histories: list[dict[str, Any]]) -> dict[str, Any]:
    """Return one network's history, or an ensemble's: the first network's, fitting time summed."""
    if len(histories) == 1:
        return histories[0]
    return {
        **histories[0],
        "wall_seconds": round(sum(h["wall_seconds"] for h in histories), 1),
        "members": [{k: v for k, v in h.items() if k != "history"} for h in histories],
    }


def versions() -> dict[str, str]:
    """Return the versions of the packages a model depends on."""
    out = {"python": platform.python_version()}
    for package in ("tensorflow", "keras", "numpy", "opencv-python-headless", "ai-edge-litert"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "not installed"
    return out


def load_training_data(config: TrainConfig) -> Dataset:
    """Load the model's classes and, when it rejects, the "something else" class after them."""
    dataset = load_dataset(config.classes, config.bitmap_dir, config.stroke_dirs, config.max_per_class)
    if config.rejects:
        dataset = with_negatives(
            dataset,
            config.bitmap_dir,
            config.negatives,
            config.negatives_per_class,
            config.doodles_per_kind,
            config.split.seed,
        )
    return dataset


def predict(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """Return the model's probabilities for (N, 28, 28) images."""
    return model.predict(images[..., None], batch_size=512, verbose=0)


def calibrate(
    model: keras.Model, val: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray], n_own: int
) -> tuple[dict[str, Any], np.ndarray]:
    """Fit a temperature on the validation split and bake it into the model (into each of an ensemble's).

    Return the report on the test split and the calibrated model's probabilities for it.
    """
    nets = members(model)
    val_probs = [predict(net, val[0]) for net in nets]
    member_test_probs = [predict(net, test[0]) for net in nets]
    temperature = fit_temperature(val_probs, val[1])
    for net in nets:
        bake_temperature(net, temperature)
    calibrated = predict(model, test[0])
    if not np.allclose(calibrated, mean_with_temperature(member_test_probs, temperature), atol=1e-3):
        raise RuntimeError("the baked-in temperature does not give the calibrated probabilities")
    test_probs = np.mean(member_test_probs, axis=0)
    own = test[1] < n_own
    report = {
        "method": "temperature scaling fitted on the validation split (log loss), baked into the last layer"
        + (f" of each of the {len(nets)} networks" if len(nets) > 1 else ""),
        "temperature": round(temperature, 4),
        "ece_bins": ECE_BINS,
        "test_ece_before": round(expected_calibration_error(test_probs, test[1]), 4),
        "test_ece_after": round(expected_calibration_error(calibrated, test[1]), 4),
        # The probabilities people see: the model's classes' drawings, its classes' outputs.
        "test_ece_own_classes": round(
            expected_calibration_error(calibrated[own][:, :n_own], test[1][own]), 4
        ),
        "test_log_loss_before": round(log_loss(test_probs, test[1]), 4),
        "test_log_loss_after": round(log_loss(calibrated, test[1]), 4),
    }
    return report, calibrated


def rejection_report(
    model: keras.Model,
    config: TrainConfig,
    dataset: Dataset,
    val: np.ndarray,
    test: np.ndarray,
    test_probs: np.ndarray,
    threshold: float | None = None,
) -> dict[str, Any]:
    """Choose the "sure" threshold on the validation split; report how often the model is sure of what.

    `test_probs` are the (calibrated) model's probabilities for `test`, in its order. A `threshold` given
    (chosen live, trainer.live_eval) is used instead of choosing one.
    """
    n_own = len(config.classes)
    other = n_own if config.rejects else None
    if threshold is None:
        threshold = choose_threshold(
            predict(model, dataset.images[val]), dataset.labels[val], other, config.sure_rate
        )

    def rate(said: np.ndarray) -> dict[str, float | int]:
        return {"n": len(said), "sure": round(float(said.mean()), 4)}

    labels, sources = dataset.labels[test], dataset.sources[test]
    said = sure(test_probs, threshold, other)
    own = labels < n_own
    right = test_probs[:, :n_own].argmax(axis=1) == labels
    report: dict[str, Any] = {
        "other_label": OTHER if other is not None else None,
        "threshold": threshold,
        "rule": "sure when the top output is one of the model's classes, at the threshold or above",
        "threshold_chosen_for": f"sure of {config.sure_rate:.0%} of its classes' validation drawings",
        "own_classes_test": rate(said[own]),
        # What "I see… a cat" promises: how often the guess is right when the model says it is sure.
        "right_when_sure": round(float(right[own & said].mean()), 4) if (own & said).any() else None,
        "right_when_not_sure": round(float(right[own & ~said].mean()), 4) if (own & ~said).any() else None,
        "threshold_at_floor": threshold == THRESHOLD_FLOOR,
        "own_classes_test_by_source": {
            source: rate(said[own & (sources == source)])
            for source in ("bitmap", "strokes")
            if np.any(own & (sources == source))
        },
    }
    if other is not None:
        negatives = labels == other
        kinds = np.asarray([kind_of(group) for group in dataset.groups[test][negatives]])
        report["trained_kinds_test"] = {
            kind: rate(said[negatives][kinds == kind]) for kind in sorted(set(kinds))
        }
    fresh, names = shape_bitmaps(SHAPES, FRESH_DOODLES, config.split.seed + FRESH_SEED_OFFSET)
    fresh_said = sure(predict(model, fresh), threshold, other)
    report["fresh_doodles"] = {kind: rate(fresh_said[np.asarray(names) == kind]) for kind in SHAPES}
    held_out, held_out_said = {}, []
    for name in config.held_out:
        _, rows = class_bitmaps(config.bitmap_dir, name, HELD_OUT_ROWS)
        held_out_said.append(sure(predict(model, rows), threshold, other))
        held_out[name] = rate(held_out_said[-1])
    report["held_out_classes"] = held_out
    report["other_things_sure"] = round(float(np.concatenate([fresh_said, *held_out_said]).mean()), 4)
    return report


def previous_model(folder: Path, classes: list[str]) -> tuple[bytes, list[int], dict[str, Any]]:
    """Read a model folder to compare with: its .tflite, the outputs of `classes` in it, its metrics."""
    labels = json.loads((folder / LABELS_FILE).read_text(encoding="utf-8"))
    missing = [c for c in classes if c not in labels]
    if missing:
        raise DataError(f"{folder} has no output for {', '.join(missing)}: it cannot be compared")
    metrics = json.loads((folder / METRICS_FILE).read_text(encoding="utf-8"))
    return (folder / TFLITE_FILE).read_bytes(), [labels.index(c) for c in classes], metrics


def collected_counts(folder: Path | None, classes: list[str]) -> dict[str, Any] | None:
    """Return how many collected drawings each class has in `folder` (None: no collected drawings used)."""
    if folder is None:
        return None
    per_class = {}
    for name in classes:
        path = folder / "simplified" / f"{name}.ndjson"
        per_class[name] = (
            sum(1 for line in path.open(encoding="utf-8") if line.strip()) if path.is_file() else 0
        )
    return {"dir": str(folder), "per_class": per_class}


def run(config: TrainConfig) -> dict[str, Any]:
    """Train, evaluate and export one model folder; return its metrics."""
    started = time.perf_counter()
    # Read before anything is written: the folder compared with may be the one this run replaces.
    previous = previous_model(config.compare, config.classes) if config.compare else None
    log(f"loading {len(config.classes)} classes ...")
    dataset = load_training_data(config)
    train, val, test = split_indices(
        dataset.labels, dataset.groups, config.split, dataset.classes, dataset.sources
    )
    log(f"split: {len(train)} train, {len(val)} validation, {len(test)} test (seed {config.split.seed})")
    other = len(config.classes) if config.rejects else None
    x_train, y_train, augmentation = training_set(dataset, train, config.split.seed, config.partials, other)
    val_set = (dataset.images[val], dataset.labels[val])
    test_set = (dataset.images[test], dataset.labels[test])
    prepared = time.perf_counter() - started
    n_own, n_outputs = len(config.classes), len(dataset.classes)

    nets, histories = [], []
    for k in range(config.members):
        net, net_history = train_one(
            config.arch, config, n_outputs, (x_train, y_train), val_set, config.split.seed + k
        )
        nets.append(net)
        histories.append(net_history)
    model = ensemble(nets) if len(nets) > 1 else nets[0]
    history = training_history(histories)
    calibration, test_probs = calibrate(model, val_set, test_set, n_own)
    log(
        f"[{config.arch}] temperature {calibration['temperature']}, test ECE "
        f"{calibration['test_ece_before']:.4f} -> {calibration['test_ece_after']:.4f}"
    )
    own = test[dataset.labels[test] < n_own]
    test_labels, test_sources = dataset.labels[own], dataset.sources[own]
    # The guesses a person sees: the model's own classes, most likely first ("something else" is never one).
    probs = test_probs[test_set[1] < n_own][:, :n_own]
    evaluation = evaluate_split(probs, test_labels, test_sources, config.classes)
    with_other = summarize(test_probs, test_set[1], dataset.classes)
    rejection = rejection_report(model, config, dataset, val, test, test_probs)
    log(
        f"[{config.arch}] sure at p >= {rejection['threshold']}: own classes "
        f"{rejection['own_classes_test']['sure']:.3f}, other things {rejection['other_things_sure']:.3f}"
    )

    baseline = None
    if config.baseline:
        base_model, base_history = train_one(
            config.baseline, config, n_outputs, (x_train, y_train), val_set, config.split.seed
        )
        base_probs = predict(base_model, dataset.images[own])[:, :n_own]
        baseline = {
            "arch": config.baseline,
            "architecture": describe(base_model),
            "parameters": base_model.count_params(),
            "training": {k: v for k, v in base_history.items() if k != "history"},
            "test": evaluate_split(base_probs, test_labels, test_sources, config.classes),
        }

    compared = None
    if previous:
        content, outputs, old_metrics = previous
        old_probs = LiteRTRunner(content).predict_all(dataset.images[own])[:, outputs]
        compared = {
            "folder": str(config.compare),
            "arch": old_metrics.get("arch"),
            "architecture": old_metrics.get("architecture"),
            "parameters": old_metrics.get("parameters"),
            "test": evaluate_split(old_probs, test_labels, test_sources, config.classes),
        }

    test_images = test_set[0]
    spread = test_images[:: max(1, len(test_images) // EXPORT_CHECK_SAMPLES)][:EXPORT_CHECK_SAMPLES]
    export = export_model(model, config.out, spread)
    latency = single_image_latency_us(config.out / TFLITE_FILE)
    counts = dataset.counts()
    for k, name in enumerate(dataset.classes):
        counts[name].update(
            train=int(np.sum(dataset.labels[train] == k)),
            val=int(np.sum(dataset.labels[val] == k)),
            test=int(np.sum(dataset.labels[test] == k)),
            **augmentation[name],
            files=dataset.files[name],
            skipped=dataset.skipped[name],
        )
    metrics = {
        "model": config.out.name,
        "classes": dataset.classes,
        "arch": config.arch,
        "members": config.members,
        "architecture": describe(model),
        "parameters": model.count_params(),
        "data": {
            "same_drawing_distance": SAME_DRAWING_DISTANCE,
            "bitmap_dir": str(config.bitmap_dir) if config.bitmap_dir else None,
            "stroke_dirs": [str(d) for d in config.stroke_dirs],
            "collected": collected_counts(config.collected_dir, dataset.classes),
            "max_per_class": config.max_per_class,
            "negatives": {
                "label": OTHER,
                "classes": config.negatives,
                "per_class": config.negatives_per_class,
                "doodles": list(SHAPES),
                "doodles_per_kind": config.doodles_per_kind,
                "seed": config.split.seed,
            }
            if config.rejects
            else None,
            "held_out": config.held_out,
            "counts": counts,
        },
        "split": config.split.as_dict(),
        "augmentation": {
            "style_copies": STYLE_COPIES,
            "class_weights": config.class_weights,
            "mirror": config.mirror,
            "affine": AFFINE if config.affine else None,
            "label_smoothing": config.label_smoothing,
            "partials": config.partials,
        },
        "test": evaluation,
        "test_with_other": with_other,
        "calibration": calibration,
        "rejection": rejection,
        "baseline": baseline,
        "previous": compared,
        "training": {
            "schedule": config.schedule,
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
    """Write labels.json, calibration.json, metrics.json, confusion.png and the card beside the model."""
    (out / LABELS_FILE).write_text(json.dumps(metrics["classes"]) + "\n", encoding="utf-8")
    (out / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    serving = {
        "temperature": metrics["calibration"]["temperature"],
        "temperature_baked_in": True,
        "other_label": metrics["rejection"]["other_label"],
        "sure_threshold": metrics["rejection"]["threshold"],
        "sure_steady": metrics["rejection"].get("steady", 1),
    }
    if metrics.get("embedding") and metrics.get(
        "fewshot"
    ):  # how taught words are ranked (trainer.fewshot_eval)
        serving["taught"] = metrics["fewshot"]["calibration"]
    (out / CALIBRATION_FILE).write_text(json.dumps(serving, indent=2) + "\n", encoding="utf-8")
    save_confusion_png(
        np.asarray(metrics["test_with_other"]["confusion"]),
        metrics["classes"],
        out / CONFUSION_FILE,
        f"{metrics['model']} ({metrics['arch']}): held-out test split",
    )
    write_model_card(metrics, out / CARD_FILE)
    write_check(out)
