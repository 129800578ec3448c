"""A tiny dataset for the trainer's tests: simple shapes with random wobble, as bitmaps and as strokes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from realtime.core.preprocess import rasterize_quickdraw


def shape_drawing(kind: str, rng: np.random.Generator) -> list[list[list[int]]]:
    """Return a Quick, Draw!-style drawing of a simple shape with random wobble."""

    def wobble(points: list[tuple[float, float]]) -> list[list[int]]:
        xy = np.asarray(points) + rng.normal(0, 6, size=(len(points), 2))
        xy = np.clip(xy, 0, 255).round().astype(int)
        return [xy[:, 0].tolist(), xy[:, 1].tolist()]

    if kind == "square":
        corners = [(20, 20), (230, 20), (230, 230), (20, 230), (20, 20)]
        return [wobble(corners[i : i + 2]) for i in range(4)]
    if kind == "line":
        return [wobble([(10, 128), (128, 120), (245, 130)])]
    return [wobble([(10 + 47 * i, 40 if i % 2 else 215) for i in range(6)])]  # zigzag


def write_tiny_data(root: Path, n_bitmaps: int = 30, n_strokes: int = 12) -> tuple[Path, Path, Path]:
    """Make bitmaps (.npz and official .npy names) and stroke files (simplified, raw) for three classes."""
    rng = np.random.default_rng(7)
    bitmaps, simplified, raw = root / "bitmap", root / "simplified", root / "raw"
    for folder in (bitmaps, simplified, raw):
        folder.mkdir(parents=True)

    def rows(kind: str) -> np.ndarray:
        images = [rasterize_quickdraw(shape_drawing(kind, rng)) for _ in range(n_bitmaps)]
        return (np.asarray(images).reshape(n_bitmaps, 784) * 255).round().astype(np.uint8)

    np.savez_compressed(bitmaps / "square.npz", x=rows("square"))
    np.save(bitmaps / "full_numpy_bitmap_line.npy", rows("line"))
    records = [
        {"word": "zigzag", "key_id": str(1000 + i), "drawing": shape_drawing("zigzag", rng)}
        for i in range(n_strokes)
    ]
    (simplified / "zigzag.ndjson").write_text("".join(json.dumps(r) + "\n" for r in records[:-2]))
    raw_records = [
        dict(r, drawing=[[xs, ys, list(range(len(xs)))] for xs, ys in r["drawing"]]) for r in records
    ]
    (raw / "zigzag.ndjson").write_text("".join(json.dumps(r) + "\n" for r in raw_records))
    return bitmaps, simplified, raw
