"""Drawings in progress for training: what the live path sees before a drawing is finished.

The server predicts every state of a drawing as it grows, each one scaled to fill the 28×28 box as a
finished drawing would. A model trained on finished drawings only is sometimes sure of a wrong class on
those states (half a dog is a fine camel). Three sources of such states, each labelled as what the whole
drawing is (a half drawing of a cat is still a cat; a half square is still "something else"):
- stroke drawings cut short: their first strokes and part of the next, after the same augmentation as the
  finished renders, rendered by the server's rasterizer;
- bitmaps cut short: the official rows have no strokes, so the ink on one side of a random line is kept and
  redrawn in the dataset's geometry and line width (the server's image path), as a drawing stopped early is;
- the synthetic doodles of "something else", cut short like stroke drawings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from realtime.core import images
from realtime.core.errors import InputError
from realtime.core.preprocess import SIDE, rasterize_strokes, strokes_from_quickdraw
from trainer.augment import jitter_strokes
from trainer.negatives import DRAWERS, FONTS, WORDS
from trainer.replay import written_word

SHARE = (0.25, 0.9)  # of a drawing's points (strokes) or ink (bitmaps) that a partial state keeps
UPSCALE = 4  # a bitmap is cut at 4× its size, so that the cut edge is redrawn cleanly
MIN_INK = 0.2  # a cut keeping less of the ink than this is drawn again


def stroke_prefix(strokes: Sequence[np.ndarray], share: float) -> list[np.ndarray]:
    """Return the strokes drawn up to `share` of the points: whole strokes, then part of the next."""
    total = sum(len(s) for s in strokes)
    keep = max(2, round(share * total))
    out = []
    for stroke in strokes:
        if keep <= 0:
            break
        out.append(stroke[:keep])
        keep -= len(stroke)
    return out


def render_prefix(strokes: Sequence[np.ndarray], rng: np.random.Generator) -> np.ndarray | None:
    """Render a random prefix of jittered strokes (None when it comes out as a dot)."""
    try:
        return rasterize_strokes(stroke_prefix(jitter_strokes(strokes, rng), rng.uniform(*SHARE)))
    except InputError:
        return None


def drawing_prefixes(
    drawings: Sequence[Any], labels: np.ndarray, copies: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Render `copies` partial states of each Quick, Draw! drawing: images (M, 28, 28) and labels (M,)."""
    rng = np.random.default_rng(seed)
    out, out_labels = [], []
    for drawing, label in zip(drawings, labels, strict=True):
        strokes = strokes_from_quickdraw(drawing)
        for _ in range(copies):
            image = render_prefix(strokes, rng)
            if image is not None:
                out.append(image)
                out_labels.append(int(label))
    return _stack(out), np.asarray(out_labels, np.int32)


def bitmap_partial(bitmap: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """Keep the ink of a (28, 28) bitmap on one side of a random line and redraw it as the server would."""
    big = cv2.resize(
        (bitmap * 255).astype(np.uint8), None, fx=UPSCALE, fy=UPSCALE, interpolation=cv2.INTER_LINEAR
    )
    ys, xs = np.nonzero(big > 64)
    if len(xs) < 8:
        return None
    angle = rng.uniform(0, 2 * np.pi)
    along = xs * np.cos(angle) + ys * np.sin(angle)
    cut = np.quantile(along, rng.uniform(*SHARE))
    h, w = big.shape
    gy, gx = np.mgrid[0:h, 0:w]
    kept = np.where(gx * np.cos(angle) + gy * np.sin(angle) <= cut, big, 0)
    if (kept > 64).sum() < MIN_INK * len(xs):
        return None
    try:
        return images.image_to_bitmap(kept)
    except InputError:
        return None


def bitmap_partials(
    bitmaps: np.ndarray, labels: np.ndarray, share: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Cut `share` of the given (N, 28, 28) bitmaps short at random: images (M, 28, 28) and labels (M,)."""
    rng = np.random.default_rng(seed)
    chosen = np.flatnonzero(rng.random(len(bitmaps)) < share)
    out, out_labels = [], []
    for i in chosen:
        image = bitmap_partial(bitmaps[i], rng)
        if image is not None:
            out.append(image)
            out_labels.append(int(labels[i]))
    return _stack(out), np.asarray(out_labels, np.int32)


def doodle_prefixes(per_kind: int, label: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Render partial states of synthetic doodles and of words written as lines, all labelled `label`."""
    rng = np.random.default_rng(seed)
    out = []
    for kind in [*DRAWERS, "word"]:
        made = 0
        while made < per_kind:
            strokes = (
                written_word(str(rng.choice(WORDS)), int(rng.choice(FONTS)))
                if kind == "word"
                else DRAWERS[kind](rng)
            )
            image = render_prefix(strokes, rng)
            if image is not None:
                out.append(image)
                made += 1
    return _stack(out), np.full(len(out), label, np.int32)


def _stack(images_: list[np.ndarray]) -> np.ndarray:
    """Stack 28×28 images into float32 (M, 28, 28), also when there are none."""
    if not images_:
        return np.zeros((0, SIDE, SIDE), np.float32)
    return np.asarray(images_, np.float32).reshape(-1, SIDE, SIDE)
