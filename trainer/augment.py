"""Augment stroke drawings before rendering: variety for few-shot classes, the renderer's look for all."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from realtime.core.errors import InputError
from realtime.core.preprocess import rasterize_strokes, strokes_from_quickdraw

MAX_ROTATION_DEG = 15.0
SCALE_RANGE = (0.8, 1.2)  # per axis: uniform scale is undone by normalisation, the aspect ratio is not
MAX_SHEAR = 0.2
STROKE_SHIFT = 0.03  # per-stroke shift, as a fraction of the drawing's extent
POINT_JITTER = 0.01  # per-point noise, as a fraction of the drawing's extent
DROP_STROKE_P = 0.05  # chance of leaving out a stroke (never the only one)
STYLE_COPIES = 4  # augmented renders per stroke drawing of a class that is not rare


def jitter_strokes(strokes: Sequence[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """Return a mirrored (or not), rotated, stretched, sheared copy of (N, 2) strokes, jittered."""
    points = np.concatenate(strokes)
    centre = (points.min(axis=0) + points.max(axis=0)) / 2.0
    extent = max(float(np.ptp(points, axis=0).max()), 1.0)
    angle = math.radians(rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG))
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    shear = np.array([[1.0, rng.uniform(-MAX_SHEAR, MAX_SHEAR)], [0.0, 1.0]])
    mirror = rng.choice([-1.0, 1.0])  # animals face either way
    scale = np.diag(rng.uniform(*SCALE_RANGE, size=2) * [mirror, 1.0])
    matrix = rotation @ shear @ scale
    keep = rng.random(len(strokes)) >= DROP_STROKE_P
    if not keep.any():
        keep[rng.integers(len(strokes))] = True
    out = []
    for stroke, kept in zip(strokes, keep, strict=True):
        if not kept:
            continue
        moved = (stroke - centre) @ matrix.T + rng.normal(0.0, STROKE_SHIFT * extent, size=2)
        out.append(moved + rng.normal(0.0, POINT_JITTER * extent, size=stroke.shape))
    return out


def render_augmented(drawing: Any, copies: int, rng: np.random.Generator) -> np.ndarray:
    """Render `copies` augmented versions of one Quick, Draw! drawing: float32 (copies, 28, 28)."""
    strokes = strokes_from_quickdraw(drawing)
    images = []
    while len(images) < copies:
        try:
            images.append(rasterize_strokes(jitter_strokes(strokes, rng)))
        except InputError:
            continue  # a jitter that collapsed the drawing to a dot: draw another
    return np.asarray(images, np.float32).reshape(copies, 28, 28)


def plan_copies(
    train_counts: Sequence[int], stroke_counts: Sequence[int], style_copies: int = STYLE_COPIES
) -> list[int]:
    """Return augmented copies per stroke drawing for each class.

    A class whose training samples number fewer than half the median class is filled up to that level from
    its stroke drawings; every other class with stroke drawings gets `style_copies` each, so the renderer's
    look is shared by all classes rather than being a cue for the few-shot ones.
    """
    floor = int(np.median(train_counts)) // 2
    plan = []
    for real, strokes in zip(train_counts, stroke_counts, strict=True):
        if strokes == 0:
            plan.append(0)
        elif real < floor:
            plan.append(max(style_copies, math.ceil((floor - real) / strokes)))
        else:
            plan.append(style_copies)
    return plan


def augment_training_set(
    drawings: Sequence[Any], labels: np.ndarray, copies_per_class: Sequence[int], seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Render augmented copies of the given training drawings: images (M, 28, 28) and labels (M,)."""
    rng = np.random.default_rng(seed)
    images, out_labels = [np.zeros((0, 28, 28), np.float32)], []
    for drawing, label in zip(drawings, labels, strict=True):
        copies = copies_per_class[int(label)]
        if copies:
            images.append(render_augmented(drawing, copies, rng))
            out_labels += [int(label)] * copies
    return np.concatenate(images), np.asarray(out_labels, np.int32)
