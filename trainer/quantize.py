"""Quantize a trained model folder's weights to 8 bits, and keep the result only if its answers hold.

`python -m trainer.quantize models/animals6 --out models/animals6-q8` rebuilds the source folder's held-out
test split exactly as the trainer made it (the same data and seed; the per-class counts are checked
against its metrics.json), converts its model.keras with LiteRT's dynamic-range quantization (int8
weights; float32 input and output, so the server runs it unchanged, about twice as fast), and writes the
new folder only if, on that test split, the quantized model gives the float model's top-1 answer for at
least 99.5 % of the drawings, its top-1 and top-3 accuracy stay within half a point of the float model's,
and (for a model with a calibration.json) it is sure or not sure as the float model is on 99 % of them.
Accuracy is scored on the guesses a person sees: the model's own classes. The folder gets model.tflite,
labels.json, calibration.json (the source's, when it has one: the same "something else" output and
threshold of being sure), check.json, metrics.json and a model card.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from realtime.model.files import (
    CALIBRATION_FILE,
    CARD_FILE,
    CHECK_FILE,
    KERAS_FILE,
    LABELS_FILE,
    METRICS_FILE,
    TFLITE_FILE,
)
from realtime.model.litert import EMBEDDING, PROBABILITIES, LiteRTRunner
from trainer.calibrate import sure
from trainer.card import live_section
from trainer.check import write_check
from trainer.data import DataError, recorded_split
from trainer.evaluate import evaluate_split
from trainer.latency import LATENCY_SETUP, single_image_latency_us

REPO = Path(__file__).resolve().parents[1]  # paths in a model's metrics.json are relative to it
MIN_AGREEMENT = 0.995  # share of held-out drawings where the quantized model's top-1 is the float model's
MAX_ACCURACY_DROP = 0.005  # top-1 and top-3 accuracy on the held-out split, as a fraction
MIN_SURE_AGREEMENT = 0.99  # share of held-out drawings where the quantized model is sure as the float one is
MIN_EMBEDDING_COSINE = 0.99  # mean cosine similarity of the quantized model's embeddings to the float one's
METHOD = "dynamic-range (int8 weights, float32 activations, input and output)"


class QuantizeError(RuntimeError):
    """The source folder cannot be quantized, or the quantized model does not hold up."""


def convert_dynamic_range(keras_path: Path) -> bytes:
    """Convert a .keras model to .tflite bytes with 8-bit weights (a resizable batch dimension kept)."""
    import keras
    import tensorflow as tf

    model = keras.saving.load_model(keras_path, safe_mode=True)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()


def compare(
    float_probs: np.ndarray,
    quantized_probs: np.ndarray,
    labels: np.ndarray,
    sources: np.ndarray,
    classes: list,
) -> dict[str, Any]:
    """Return both models' held-out figures, their top-1 agreement and the largest probability change."""
    agreement = float(np.mean(np.argmax(float_probs, 1) == np.argmax(quantized_probs, 1)))
    return {
        "float": evaluate_split(float_probs, labels, sources, classes),
        "quantized": evaluate_split(quantized_probs, labels, sources, classes),
        "top1_agreement": agreement,  # not rounded: the verdict compares it with MIN_AGREEMENT
        "disagreements": int(np.sum(np.argmax(float_probs, 1) != np.argmax(quantized_probs, 1))),
        "max_abs_probability_difference": round(float(np.max(np.abs(float_probs - quantized_probs))), 4),
    }


def verdict(figures: dict[str, Any]) -> list[str]:
    """Return why the quantized model does not hold up (empty: it does)."""
    problems = []
    if figures["top1_agreement"] < MIN_AGREEMENT:
        problems.append(f"top-1 agreement {figures['top1_agreement']:.2%} < {MIN_AGREEMENT:.1%}")
    if figures.get("sure_agreement", 1.0) < MIN_SURE_AGREEMENT:
        problems.append(
            f"sure as the float model on {figures['sure_agreement']:.2%} < {MIN_SURE_AGREEMENT:.0%}"
        )
    cosine = figures.get("embedding_cosine", {}).get("mean", 1.0)
    if cosine < MIN_EMBEDDING_COSINE:
        problems.append(
            f"embeddings at a mean cosine of {cosine:.4f} < {MIN_EMBEDDING_COSINE} to the float model's"
        )
    for k in ("top1", "top3"):
        before, after = figures["float"]["all"][k], figures["quantized"]["all"][k]
        if before - after > MAX_ACCURACY_DROP:
            problems.append(f"{k} accuracy {after:.2%} against {before:.2%} for the float model")
    return problems


def card(metrics: dict[str, Any]) -> str:
    """Return the quantized folder's model card (README.md)."""
    name, source = metrics["model"], metrics["source"]
    held = metrics["held_out"]
    q, f = held["quantized"], held["float"]
    groups = (("all", "all test drawings"), ("bitmap", "official bitmaps"), ("strokes", "stroke drawings"))
    rows = [
        f"| {label} (n={q[group]['n']}), top-{k[3:]} | {q[group][k]:.1%} | {f[group][k]:.1%} |"
        for group, label in groups
        if group in q
        for k in ("top1", "top3")
    ]
    latency = metrics["latency"]
    lines = [
        f"# Model card: `{name}`",
        "",
        f"`{source}` with its weights quantized to 8 bits: {METHOD}. Made by",
        f"`python -m trainer.quantize models/{source} --out models/{name}`",
        f"from `models/{source}/{KERAS_FILE}`;",
        f"the classes, the training and the data are `{source}`'s (see its card).",
        "",
        "## Files",
        "",
        f"- `{TFLITE_FILE}`: {metrics['tflite_bytes']:,} bytes (the float model: "
        f"{metrics['source_tflite_bytes']:,}). Input float32 `[batch, 28, 28, 1]` in [0, 1], output float32",
        "  softmax, as the float model.",
        f"- `{LABELS_FILE}`, `{CALIBRATION_FILE}` (when the float model has one), `{CHECK_FILE}` (what a "
        f"server verifies before a hot reload), `{METRICS_FILE}`.",
        "",
        f"## Held-out test split of `{source}` (rebuilt: same data, same seed, same counts)",
        "",
        f"| held-out test set | `{name}` | `{source}` (float) |",
        "|---|---|---|",
        *rows,
        "",
        f"Top-1 answers the same as the float model's: {held['top1_agreement']:.2%}",
        f"({held['disagreements']} of {q['all']['n']} differ; kept only at ≥ {MIN_AGREEMENT:.1%}).",
        f"Largest change of any probability: {held['max_abs_probability_difference']}.",
        *(
            [
                f"Sure or not sure as the float model (`{CALIBRATION_FILE}`): {held['sure_agreement']:.2%}",
                f"(kept only at ≥ {MIN_SURE_AGREEMENT:.0%}).",
            ]
            if "sure_agreement" in held
            else []
        ),
        *(
            [
                f"Its embedding (taught words are ranked by it) at a mean cosine similarity of "
                f"{held['embedding_cosine']['mean']:.4f} to the float model's (least "
                f"{held['embedding_cosine']['min']}; kept only at ≥ {MIN_EMBEDDING_COSINE}).",
            ]
            if "embedding_cosine" in held
            else []
        ),
        "",
        "## Speed",
        "",
        f"One-image inference ({LATENCY_SETUP}), timed in turn on the quantizing machine:",
        f"median {latency['quantized']['median_us']} µs against {latency['float']['median_us']} µs for the",
        "float model. The machine's load changes these figures; `python -m bench --capacity` measures the",
        "server.",
        "",
        *(live_section(metrics["live"]) if metrics.get("live") else []),
    ]
    return "\n".join(lines) + "\n"


def quantize(source: Path, out: Path) -> dict[str, Any]:
    """Quantize `source` into `out`; raise QuantizeError (writing nothing) if the result does not hold up."""
    needed = [source / name for name in (KERAS_FILE, TFLITE_FILE, METRICS_FILE)]
    if not all(path.is_file() for path in needed):
        raise QuantizeError(
            f"{source} needs {KERAS_FILE}, {TFLITE_FILE} and {METRICS_FILE} (a trainer's folder)"
        )
    if out.resolve() == source.resolve():
        raise QuantizeError("--out must be another folder: the float model stays where it is")
    metrics = json.loads((source / METRICS_FILE).read_text(encoding="utf-8"))
    print(f"rebuilding the held-out test split of {source.name} ...", file=sys.stderr, flush=True)
    try:
        dataset, _, test = recorded_split(metrics, REPO)
    except DataError as exc:
        raise QuantizeError(str(exc)) from exc
    except (KeyError, TypeError) as exc:
        raise QuantizeError(f"{source / METRICS_FILE} does not record the data and split ({exc!r})") from exc
    images, labels, sources = dataset.images[test], dataset.labels[test], dataset.sources[test]
    print(f"converting {source / KERAS_FILE} ...", file=sys.stderr, flush=True)
    tflite = convert_dynamic_range(source / KERAS_FILE)
    float_outputs = LiteRTRunner.from_file(source / TFLITE_FILE).run_all(images)
    quantized_outputs = LiteRTRunner(tflite).run_all(images)
    float_probs, quantized_probs = float_outputs[PROBABILITIES], quantized_outputs[PROBABILITIES]
    calibration, other = None, None
    if (source / CALIBRATION_FILE).is_file():
        try:
            calibration = json.loads((source / CALIBRATION_FILE).read_text(encoding="utf-8"))
            threshold = float(calibration["sure_threshold"])
            if calibration["other_label"] is not None:
                other = metrics["classes"].index(calibration["other_label"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise QuantizeError(f"{source / CALIBRATION_FILE} is malformed ({exc!r})") from exc
    # Scored as the float model's card scores it: the guesses a person sees, over the model's own classes.
    own = labels != other if other is not None else np.ones(len(labels), bool)
    n_own = len(metrics["classes"]) - (other is not None)
    figures = compare(
        float_probs[own][:, :n_own],
        quantized_probs[own][:, :n_own],
        labels[own],
        sources[own],
        metrics["classes"][:n_own],
    )
    figures["top1_agreement_all_outputs"] = round(
        float(np.mean(float_probs.argmax(axis=1) == quantized_probs.argmax(axis=1))), 4
    )
    if calibration is not None:
        figures["sure_agreement"] = float(
            np.mean(sure(float_probs, threshold, other) == sure(quantized_probs, threshold, other))
        )
    if EMBEDDING in float_outputs:  # trainer.embedding: taught words are ranked by it
        cosines = np.sum(float_outputs[EMBEDDING] * quantized_outputs[EMBEDDING], axis=1)
        figures["embedding_cosine"] = {
            "mean": float(np.mean(cosines)),
            "min": round(float(np.min(cosines)), 4),
        }
    problems = verdict(figures)
    if problems:
        raise QuantizeError(f"the quantized model does not hold up: {'; '.join(problems)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".quantize-") as scratch:
        staged = Path(scratch)
        (staged / TFLITE_FILE).write_bytes(tflite)
        (staged / LABELS_FILE).write_text(json.dumps(metrics["classes"]) + "\n", encoding="utf-8")
        if calibration is not None:
            (staged / CALIBRATION_FILE).write_text(json.dumps(calibration, indent=2) + "\n", encoding="utf-8")
        float_latency = single_image_latency_us(source / TFLITE_FILE)
        result = {
            "model": out.name,
            "source": source.name,
            "classes": metrics["classes"],
            "quantization": METHOD,
            "tflite_bytes": len(tflite),
            "source_tflite_bytes": (source / TFLITE_FILE).stat().st_size,
            "held_out": figures,
            "thresholds": {"min_top1_agreement": MIN_AGREEMENT, "max_accuracy_drop": MAX_ACCURACY_DROP},
            "latency": {
                "runtime": LATENCY_SETUP,
                "quantized": single_image_latency_us(staged / TFLITE_FILE),
                "float": float_latency,
            },
            "command": " ".join(["python -m trainer.quantize", *sys.argv[1:]]),
        }
        (staged / METRICS_FILE).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        (staged / CARD_FILE).write_text(card(result), encoding="utf-8")
        write_check(staged)
        out.mkdir(exist_ok=True)  # only now: a failure above leaves no folder behind
        for item in staged.iterdir():
            shutil.move(item, out / item.name)
    return result


def main(argv: list[str] | None = None) -> int:
    """Quantize one model folder."""
    parser = argparse.ArgumentParser(prog="python -m trainer.quantize", description=__doc__.splitlines()[0])
    parser.add_argument(
        "source", type=Path, help="a model folder written by the trainer, e.g. models/animals6"
    )
    parser.add_argument("--out", type=Path, required=True, help="the new folder, e.g. models/animals6-q8")
    args = parser.parse_args(argv)
    try:
        result = quantize(args.source, args.out)
    except QuantizeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    figures = result["held_out"]
    print(
        f"wrote {args.out}: top-1 {figures['quantized']['all']['top1']:.2%} (float "
        f"{figures['float']['all']['top1']:.2%}), agreement {figures['top1_agreement']:.2%}, "
        f"{result['latency']['quantized']['median_us']} µs against "
        f"{result['latency']['float']['median_us']} µs per image"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
