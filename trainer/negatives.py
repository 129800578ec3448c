"""The "something else" class: drawings of none of a model's classes, so that it can tell it is not sure.

Two sources, each rendered as the server renders what it is sent:
- other Quick, Draw! classes (official bitmaps), as players drew them;
- synthetic doodles of the kinds people draw to test a recognizer: squares and other polygons, circles,
  zigzags, spirals, scribbles, straight lines (strokes through `realtime.core.preprocess`), and written words
  (OpenCV's stroke fonts, through the image path of `realtime.core.images`).
A generator seeded apart from the training one makes fresh doodles for checking.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from realtime.core import images, preprocess
from realtime.core.errors import InputError
from trainer.data import DataError, Dataset, find_bitmap_file, load_bitmaps

OTHER = "_other"  # the reject class's label: a name Quick, Draw! never uses; never shown as a guess
SHAPES = ("square", "circle", "zigzag", "spiral", "scribble", "lines", "word")
WORDS = [
    "hello",
    "cat",
    "dog",
    "fish",
    "camel",
    "giraffe",
    "octopus",
    "test",
    "draw",
    "doodle",
    "sketch",
    "house",
    "tree",
    "sun",
    "car",
    "bird",
    "apple",
    "banana",
    "yes",
    "no",
    "hi",
    "ok",
    "abc",
    "xyz",
    "name",
    "quick",
    "draw",
    "game",
    "play",
    "love",
    "home",
    "school",
    "class",
    "art",
    "pen",
    "paper",
    "python",
    "hello",
    "world",
    "one",
    "two",
    "three",
    "four",
    "five",
    "cool",
    "wow",
    "lol",
    "why",
    "what",
    "who",
    "where",
    "when",
    "how",
    "my",
    "your",
    "the",
    "and",
]
FONTS = (
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_PLAIN,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
    cv2.FONT_HERSHEY_SCRIPT_COMPLEX,
)
Strokes = list[np.ndarray]


def _wobble(points: np.ndarray, rng: np.random.Generator, amount: float = 4.0) -> np.ndarray:
    """Add a hand's unsteadiness: smooth noise along a stroke (canvas pixels)."""
    noise = rng.normal(0.0, amount, size=points.shape)
    kernel = np.ones(5) / 5.0
    smooth = np.column_stack([np.convolve(noise[:, k], kernel, mode="same") for k in range(2)])
    return points + smooth


def _square(rng: np.random.Generator) -> Strokes:
    """A square, rectangle or other polygon, in one stroke or one per side."""
    sides = int(rng.choice([4, 4, 4, 3, 5, 6]))
    angle = math.pi / sides if rng.random() < 0.5 else rng.uniform(0, 2 * math.pi)  # level, or turned
    stretch = rng.uniform(0.5, 1.0)
    corners = [
        (
            250 + 180 * math.cos(angle + 2 * math.pi * k / sides),
            250 + 180 * stretch * math.sin(angle + 2 * math.pi * k / sides),
        )
        for k in range(sides + 1)
    ]
    edges = [np.linspace(corners[k], corners[k + 1], 20) for k in range(sides)]
    if rng.random() < 0.5:
        return [_wobble(np.concatenate(edges), rng)]
    return [_wobble(edge, rng) for edge in edges]


def _circle(rng: np.random.Generator) -> Strokes:
    """One to three circles or ellipses, concentric or side by side."""
    out = []
    for _ in range(int(rng.choice([1, 1, 1, 2, 3]))):
        centre = rng.uniform(150, 350, size=2)
        radii = rng.uniform(60, 200) * np.array([1.0, rng.uniform(0.6, 1.0)])
        turn = rng.uniform(0, 2 * math.pi)
        t = np.linspace(turn, turn + 2 * math.pi * rng.uniform(0.95, 1.1), 60)
        out.append(_wobble(centre + np.column_stack([np.cos(t), np.sin(t)]) * radii, rng))
    return out


def _zigzag(rng: np.random.Generator) -> Strokes:
    """A zigzag or wave across the canvas."""
    teeth = int(rng.integers(3, 12))
    x = np.linspace(0, 500, teeth * 2 + 1)
    y = np.where(np.arange(len(x)) % 2 == 0, 0.0, rng.uniform(40, 250))
    points = np.column_stack([x, y + 200])
    if rng.random() < 0.3:  # a wave
        x = np.linspace(0, 500, 80)
        points = np.column_stack([x, 200 + rng.uniform(40, 150) * np.sin(x / 500 * teeth * math.pi)])
    points = np.concatenate([np.linspace(a, b, 6)[:-1] for a, b in itertools.pairwise(points)])
    return [_wobble(points, rng)]


def _spiral(rng: np.random.Generator) -> Strokes:
    """A spiral of two to six turns."""
    turns = rng.uniform(2, 6)
    t = np.linspace(0, 2 * math.pi * turns, int(60 * turns))
    r = 5 + 200 * t / t[-1]
    direction = rng.choice([-1.0, 1.0])
    return [_wobble(250 + np.column_stack([r * np.cos(direction * t), r * np.sin(t)]), rng, 2.0)]


def _scribble(rng: np.random.Generator) -> Strokes:
    """A random walk with momentum, in one to three strokes."""
    out = []
    for _ in range(int(rng.integers(1, 4))):
        steps = int(rng.integers(20, 120))
        heading = np.cumsum(rng.normal(0, 0.5, steps))
        moves = np.column_stack([np.cos(heading), np.sin(heading)]) * rng.uniform(5, 20)
        out.append(rng.uniform(100, 400, size=2) + np.cumsum(moves, axis=0))
    return out


def _lines(rng: np.random.Generator) -> Strokes:
    """One to six straight strokes: a cross, a hash, a star, a tick."""
    out = []
    for _ in range(int(rng.integers(1, 7))):
        a, b = rng.uniform(0, 500, size=(2, 2))
        out.append(_wobble(np.linspace(a, b, 20), rng, 2.0))
    return out


def _word_bitmap(rng: np.random.Generator) -> np.ndarray:
    """A written word (or random letters) in a stroke font, read as an image: float32 28×28."""
    if rng.random() < 0.7:
        text = str(rng.choice(WORDS))
    else:
        text = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), size=int(rng.integers(2, 9))))
    if rng.random() < 0.3:
        text = text.upper()
    font = int(rng.choice(FONTS))
    scale = float(rng.uniform(1.5, 3.0))
    thickness = int(rng.integers(2, 7))
    (width, height), base = cv2.getTextSize(text, font, scale, thickness)
    ink = np.zeros((height + base + 40, width + 40), np.uint8)
    cv2.putText(ink, text, (20, height + 20), font, scale, 255, thickness, cv2.LINE_AA, False)
    if rng.random() < 0.5:  # slanted or turned a little, as handwriting is
        matrix = cv2.getRotationMatrix2D(
            (ink.shape[1] / 2, ink.shape[0] / 2), float(rng.uniform(-15, 15)), 1.0
        )
        matrix[0, 1] += rng.uniform(-0.3, 0.3)
        ink = cv2.warpAffine(ink, matrix, (ink.shape[1], ink.shape[0]), borderValue=0)
    return images.image_to_bitmap(ink)


DRAWERS: dict[str, Callable[[np.random.Generator], Strokes]] = {
    "square": _square,
    "circle": _circle,
    "zigzag": _zigzag,
    "spiral": _spiral,
    "scribble": _scribble,
    "lines": _lines,
}


def shape_bitmap(kind: str, rng: np.random.Generator) -> np.ndarray:
    """Render one synthetic doodle of a kind in SHAPES: float32 28×28, as the server would see it."""
    while True:
        try:
            if kind == "word":
                return _word_bitmap(rng)
            return preprocess.rasterize_strokes(DRAWERS[kind](rng))
        except InputError:
            continue  # a doodle that came out too small: draw another


def shape_bitmaps(kinds: tuple[str, ...], per_kind: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """Render `per_kind` doodles of each kind: float32 (N, 28, 28) and each one's kind."""
    rng = np.random.default_rng(seed)
    out, names = [], []
    for kind in kinds:
        for _ in range(per_kind):
            out.append(shape_bitmap(kind, rng))
            names.append(kind)
    return np.asarray(out, np.float32).reshape(-1, preprocess.SIDE, preprocess.SIDE), names


def class_bitmaps(bitmap_dir: Path | None, name: str, limit: int) -> tuple[Path, np.ndarray]:
    """Return a class's bitmap file and up to `limit` of its rows as float32 (N, 28, 28) in [0, 1]."""
    path = find_bitmap_file(bitmap_dir, name) if bitmap_dir else None
    if path is None:
        raise DataError(f"class {name!r}: no bitmap file in {bitmap_dir}")
    rows = load_bitmaps(path, limit)
    return path, rows.reshape(-1, preprocess.SIDE, preprocess.SIDE).astype(np.float32) / 255.0


def with_negatives(
    dataset: Dataset,
    bitmap_dir: Path | None,
    classes: Sequence[str],
    per_class: int,
    shapes_per_kind: int,
    seed: int,
) -> Dataset:
    """Return the dataset with an OTHER class appended: other classes' official bitmaps and synthetic doodles.

    Every negative is its own drawing (group) with source "other"; its group names its class or kind.
    """
    found, groups = [], []
    files = []
    for name in classes:
        path, rows = class_bitmaps(bitmap_dir, name, per_class)
        found.append(rows)
        groups += [f"{OTHER}/{name}/{i}" for i in range(len(rows))]  # a class: its own bitmaps
        files.append(str(path))
    doodles, kinds = shape_bitmaps(SHAPES, shapes_per_kind, seed)
    found.append(doodles)
    groups += [f"{OTHER}/{kind} doodle/{i}" for i, kind in enumerate(kinds)]  # never a class's name
    extra = np.concatenate(found)
    return Dataset(
        classes=[*dataset.classes, OTHER],
        images=np.concatenate([dataset.images, extra]),
        labels=np.concatenate([dataset.labels, np.full(len(extra), len(dataset.classes), np.int32)]),
        groups=np.concatenate([dataset.groups, np.asarray(groups)]),
        sources=np.concatenate([dataset.sources, np.full(len(extra), "other")]),
        drawings=[*dataset.drawings, *([None] * len(extra))],
        keys=[*dataset.keys, *([None] * len(extra))],
        files={**dataset.files, OTHER: [*files, f"synthetic doodles: {', '.join(SHAPES)} (seed {seed})"]},
        skipped={**dataset.skipped, OTHER: 0},
    )


def kind_of(group: str) -> str:
    """Return the class or doodle kind a negative's group names (`_other/cat/7`, `_other/word doodle/7`)."""
    return group.split("/")[1]
