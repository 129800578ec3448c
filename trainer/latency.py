"""Measure a model folder's .tflite: size and one-image latency with ai-edge-litert (no TensorFlow).

python -m trainer.latency models/animals6 models/everyday20           # print the figures
python -m trainer.latency --update models/animals6                    # also record them in the model card
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from trainer.card import write_model_card
from trainer.litert import LATENCY_SETUP, single_image_latency_us


def measure(folder: Path, repeats: int = 5000) -> dict[str, float]:
    """Return the .tflite's size and its median/p90 one-image latency in microseconds."""
    path = folder / "model.tflite"
    return {"tflite_bytes": path.stat().st_size, **single_image_latency_us(path, repeats=repeats)}


def update_card(folder: Path, figures: dict[str, float]) -> None:
    """Record new latency figures in metrics.json and rewrite the model card from it."""
    metrics_path = folder / "metrics.json"
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    metrics["latency"] = {
        "runtime": LATENCY_SETUP,
        "median_us": figures["median_us"],
        "p90_us": figures["p90_us"],
    }
    metrics_path.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    write_model_card(metrics, folder / "README.md")


def main(argv: Sequence[str] | None = None) -> int:
    """Print (and optionally record) the figures of each model folder."""
    parser = argparse.ArgumentParser(prog="python -m trainer.latency", description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="model folders holding model.tflite")
    parser.add_argument("--repeats", type=int, default=5000)
    parser.add_argument("--update", action="store_true", help="record them in metrics.json, README.md")
    args = parser.parse_args(argv)
    for folder in args.folders:
        figures = measure(folder, args.repeats)
        print(
            f"{folder}: model.tflite {figures['tflite_bytes'] / 1024:.0f} KiB, one image "
            f"median {figures['median_us']:.1f} µs, p90 {figures['p90_us']:.1f} µs"
        )
        if args.update:
            update_card(folder, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
