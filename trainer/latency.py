"""Measure a model folder's .tflite: size and one-image latency on the server's LiteRT runner (no TensorFlow).

python -m trainer.latency models/animals6 models/everyday20           # print the figures
python -m trainer.latency --update models/animals6                    # also record them in the model card
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from realtime.core.preprocess import SIDE
from realtime.model.files import CARD_FILE, METRICS_FILE, TFLITE_FILE
from realtime.model.litert import LiteRTRunner
from trainer.card import write_model_card

LATENCY_SETUP = "ai-edge-litert Interpreter, 1 image, 1 thread (as the server runs it)"


def single_image_latency_us(model: Path, repeats: int = 2000, warmup: int = 200) -> dict[str, float]:
    """Time one 28×28 image through the server's runner, one thread; return median and p90 in microseconds."""
    runner = LiteRTRunner.from_file(model, num_threads=1)
    image = np.random.default_rng(0).random((1, SIDE, SIDE), dtype=np.float32)
    timings = []
    for i in range(warmup + repeats):
        started = time.perf_counter()
        runner.predict(image)
        if i >= warmup:
            timings.append(time.perf_counter() - started)
    return {
        "median_us": round(float(np.median(timings)) * 1e6, 1),
        "p90_us": round(float(np.percentile(timings, 90)) * 1e6, 1),
    }


def measure(folder: Path, repeats: int = 5000) -> dict[str, float]:
    """Return the .tflite's size and its median/p90 one-image latency in microseconds."""
    path = folder / TFLITE_FILE
    return {"tflite_bytes": path.stat().st_size, **single_image_latency_us(path, repeats=repeats)}


def update_card(folder: Path, figures: dict[str, float]) -> None:
    """Record new latency figures in metrics.json and rewrite the model card from it."""
    metrics_path = folder / METRICS_FILE
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    metrics["latency"] = {
        "runtime": LATENCY_SETUP,
        "median_us": figures["median_us"],
        "p90_us": figures["p90_us"],
    }
    metrics_path.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    write_model_card(metrics, folder / CARD_FILE)


def main(argv: Sequence[str] | None = None) -> int:
    """Print (and optionally record) the figures of each model folder."""
    parser = argparse.ArgumentParser(prog="python -m trainer.latency", description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help=f"model folders holding {TFLITE_FILE}")
    parser.add_argument("--repeats", type=int, default=5000)
    parser.add_argument("--update", action="store_true", help=f"record them in {METRICS_FILE}, {CARD_FILE}")
    args = parser.parse_args(argv)
    for folder in args.folders:
        figures = measure(folder, args.repeats)
        print(
            f"{folder}: {TFLITE_FILE} {figures['tflite_bytes'] / 1024:.0f} KiB, one image "
            f"median {figures['median_us']:.1f} µs, p90 {figures['p90_us']:.1f} µs"
        )
        if args.update:
            update_card(folder, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
