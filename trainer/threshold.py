"""Choose a trained model's threshold of being sure again, for another share of its classes, without training.

`python -m trainer.threshold models/everyday20 --sure-rate 0.87` rebuilds the folder's recorded validation and
test splits (the per-class counts are checked against its metrics.json), picks the highest threshold at which
the model is sure of that share of its own classes' validation drawings, exactly as the trainer does, and
rewrites the folder's rejection figures: metrics.json, calibration.json, the model card and check.json
(labels.json and confusion.png are written again, the same). The weights are not touched. A lower share
makes the model say "not sure" of more drawings, its own and other things alike; the card shows both. A
quantized folder made from this one must then be made again with `python -m trainer.quantize`, which copies
the new threshold and checks that it is sure as this model is.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from realtime.model.files import KERAS_FILE, METRICS_FILE, TFLITE_FILE
from trainer.data import DataError, SplitSpec, recorded_split
from trainer.pipeline import TrainConfig, predict, rejection_report, write_outputs

REPO = Path(__file__).resolve().parents[1]  # paths in a model's metrics.json are relative to it


class ThresholdError(RuntimeError):
    """The folder is not a trainer's model folder, or its data have changed since training."""


def recorded_config(metrics: dict[str, Any], folder: Path, sure_rate: float) -> TrainConfig:
    """Return the parts of a run's configuration that its rejection report depends on, from metrics.json."""
    data = metrics["data"]
    negatives = data["negatives"] or {"label": None, "classes": [], "per_class": 1, "doodles_per_kind": 0}
    return TrainConfig(
        classes=[c for c in metrics["classes"] if c != negatives["label"]],
        out=folder,
        bitmap_dir=REPO / data["bitmap_dir"] if data["bitmap_dir"] else None,
        stroke_dirs=[REPO / d for d in data["stroke_dirs"]],
        negatives=negatives["classes"],
        negatives_per_class=negatives["per_class"],
        doodles_per_kind=negatives["doodles_per_kind"],
        held_out=data.get("held_out", []),
        sure_rate=sure_rate,
        split=SplitSpec.from_recorded(metrics["split"]),
    )


def rechoose(folder: Path, sure_rate: float) -> dict[str, Any]:
    """Choose the folder's threshold for `sure_rate`, rewrite its figures and files; return its metrics."""
    import keras

    paths = [folder / name for name in (KERAS_FILE, METRICS_FILE)]
    if not all(path.is_file() for path in paths):
        quantized = (folder / METRICS_FILE).is_file() and (folder / TFLITE_FILE).is_file()
        raise ThresholdError(
            f"{folder} needs {KERAS_FILE} and {METRICS_FILE} (a trainer's folder)"
            + (
                "; for a quantized folder, choose its source's threshold, then quantize again"
                if quantized
                else ""
            )
        )
    try:
        metrics = json.loads((folder / METRICS_FILE).read_text(encoding="utf-8"))
        config = recorded_config(metrics, folder, sure_rate)
        before = metrics["rejection"]
        model = keras.saving.load_model(folder / KERAS_FILE, safe_mode=True)
    except (KeyError, TypeError, ValueError) as exc:
        raise ThresholdError(f"{folder} does not hold a trainer's model and figures ({exc!r})") from exc
    print(f"rebuilding the validation and test splits of {folder.name} ...", file=sys.stderr, flush=True)
    try:
        dataset, val, test = recorded_split(metrics, REPO)
    except DataError as exc:
        raise ThresholdError(str(exc)) from exc
    rejection = rejection_report(model, config, dataset, val, test, predict(model, dataset.images[test]))
    rejection["rechosen"] = {
        "command": f"python -m trainer.threshold {folder.as_posix()} --sure-rate {sure_rate:g}",
        "threshold_before": before["threshold"],
        "chosen_for_before": before["threshold_chosen_for"],
    }
    metrics["rejection"] = rejection
    write_outputs(metrics, folder)
    return metrics


def main(argv: list[str] | None = None) -> int:
    """Re-choose one folder's threshold of being sure."""
    parser = argparse.ArgumentParser(prog="python -m trainer.threshold", description=__doc__.splitlines()[0])
    parser.add_argument(
        "folder", type=Path, help="a model folder written by the trainer, e.g. models/everyday20"
    )
    parser.add_argument(
        "--sure-rate",
        type=float,
        required=True,
        help="share of its own classes' validation drawings the model must be sure of, in [0.5, 1)",
    )
    args = parser.parse_args(argv)
    if not 0.5 <= args.sure_rate < 1:
        parser.error("--sure-rate must be in [0.5, 1)")
    try:
        metrics = rechoose(args.folder, args.sure_rate)
    except ThresholdError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    r = metrics["rejection"]
    print(
        f"wrote {args.folder}: sure at p >= {r['threshold']} (was {r['rechosen']['threshold_before']}); "
        f"own classes' test drawings {r['own_classes_test']['sure']:.1%}, other things "
        f"{r['other_things_sure']:.1%}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
