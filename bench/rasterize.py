"""Benchmark the rasterizer: strokes → 28×28, in microseconds per drawing (images: `python -m bench.images`).

Run: `.venv/bin/python -m bench.rasterize` (from the repo root). Prints a table; `--json PATH` also writes it.
The strokes case takes (N, 2) arrays, as the server holds a drawing; the `lists` case adds the conversion
of JSON-style nested lists, which the server does once per message when the points arrive.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from realtime.core import preprocess

RAW = Path(__file__).resolve().parents[2] / "shared" / "quickdraw" / "strokes" / "raw"


def reference_drawing(strokes: int = 20, points: int = 500) -> list[list[list[float]]]:
    """Build a drawing of real pen motion with exactly `strokes` strokes and `points` points."""
    pool = []
    for path in sorted(RAW.glob("*.ndjson")):
        for line in path.read_text().splitlines():
            for x, y, _t in json.loads(line)["drawing"]:
                if len(x) >= points // strokes:
                    pool.append(np.column_stack((x, y)))
    per = points // strokes
    chosen = pool[:strokes]
    drawing = []
    for i, stroke in enumerate(chosen):
        idx = np.linspace(0, len(stroke) - 1, per).round().astype(int)
        drawing.append((stroke[idx] + [i * 13.0, i * 7.0]).tolist())
    return drawing


def per_call_us(fn: Callable[[], object], repeat: int = 7, number: int = 200) -> dict[str, float]:
    """Time `fn`: median and best of `repeat` batches of `number` calls, in microseconds per call."""
    fn()
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - start) / number * 1e6)
    return {"median_us": statistics.median(runs), "best_us": min(runs)}


def main() -> None:
    """Print the rasterizer's costs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    drawing = reference_drawing()
    arrays = [np.array(stroke) for stroke in drawing]  # how the server holds strokes (parsed on arrival)
    results = {
        "strokes_20x500_to_28x28": per_call_us(lambda: preprocess.rasterize_strokes(arrays)),
        "strokes_20x500_lists_to_28x28": per_call_us(lambda: preprocess.rasterize_strokes(drawing)),
    }
    print(f"{'case':32s} {'median µs':>10s} {'best µs':>10s}")
    for name, r in results.items():
        print(f"{name:32s} {r['median_us']:10.1f} {r['best_us']:10.1f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
