"""Command line: `python -m trainer --out models/animals6` (see --help)."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from realtime.model.files import (
    CALIBRATION_FILE,
    CARD_FILE,
    CHECK_FILE,
    CONFUSION_FILE,
    KERAS_FILE,
    LABELS_FILE,
    METRICS_FILE,
    TFLITE_FILE,
)
from trainer.architectures import ARCHITECTURES
from trainer.data import DataError, SplitSpec
from trainer.train import CLASS_WEIGHTS, SCHEDULES

DEFAULT_CLASSES = "cat,dog,fish,giraffe,camel,octopus"
DATA = Path("../shared/quickdraw")
DEFAULT_STROKES = [DATA / "strokes" / "simplified", DATA / "strokes" / "raw"]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m trainer",
        description="Train a Quick, Draw! doodle classifier and export it as a model folder "
        f"({KERAS_FILE}, {TFLITE_FILE}, {LABELS_FILE}, {CALIBRATION_FILE}, {CHECK_FILE}, {METRICS_FILE}, "
        f"{CONFUSION_FILE}, {CARD_FILE}).",
    )
    parser.add_argument("--out", type=Path, required=True, help="model folder to write, e.g. models/animals6")
    parser.add_argument(
        "--classes", default=DEFAULT_CLASSES, help=f"comma-separated (default {DEFAULT_CLASSES})"
    )
    parser.add_argument(
        "--bitmaps", type=Path, default=DATA / "bitmap", help="folder of <class>.npz / .npy bitmaps"
    )
    parser.add_argument(
        "--strokes",
        type=Path,
        action="append",
        help="folder of <class>.ndjson stroke drawings, simplified or raw; repeat for several "
        "(default: ../shared/quickdraw/strokes/simplified and .../raw)",
    )
    parser.add_argument(
        "--collected",
        type=Path,
        help="a folder from `python -m trainer collected export`: its drawings join their classes' "
        "(a word no other file has becomes a class of its own when named in --classes)",
    )
    parser.add_argument(
        "--arch", choices=sorted(ARCHITECTURES), default="wide", help="architecture (default wide)"
    )
    parser.add_argument(
        "--members",
        type=int,
        default=1,
        help="train this many networks from successive seeds and ship their mean: one model, as many times "
        "the training and inference cost (default 1)",
    )
    parser.add_argument(
        "--baseline",
        choices=[*sorted(ARCHITECTURES), "none"],
        default="seed",
        help="architecture also trained on the same split for comparison in the model card (default seed)",
    )
    parser.add_argument("--epochs", type=int, default=40, help="at most this many epochs (default 40)")
    parser.add_argument(
        "--patience", type=int, default=5, help="early-stopping patience in epochs (default 5)"
    )
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--class-weights",
        choices=CLASS_WEIGHTS,
        default="none",
        help="loss weights per class on top of the rare classes' augmentation (default none)",
    )
    parser.add_argument(
        "--no-mirror",
        dest="mirror",
        action="store_false",
        help="do not mirror training images left-right at random (on by default)",
    )
    parser.add_argument(
        "--no-affine",
        dest="affine",
        action="store_false",
        help="do not turn, scale and shift training images a little at random (on by default)",
    )
    parser.add_argument("--label-smoothing", type=float, default=0.0, help="label smoothing (default 0)")
    parser.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default="plateau",
        help="learning rate: halved when the validation loss stalls (plateau, default), or annealed to "
        "nearly zero over --epochs (cosine: the better use of a fixed budget)",
    )
    parser.add_argument(
        "--negatives",
        default="",
        help="comma-separated classes whose bitmaps teach the model 'something else' (default none)",
    )
    parser.add_argument(
        "--negatives-per-class", type=int, default=500, help="bitmaps per negative class (default 500)"
    )
    parser.add_argument(
        "--doodles-per-kind",
        type=int,
        default=0,
        help="synthetic squares, circles, zigzags, spirals, scribbles, lines and words per kind for "
        "'something else' (default 0)",
    )
    parser.add_argument(
        "--held-out",
        default="",
        help="comma-separated classes never trained on, to check that the model is not sure of them",
    )
    parser.add_argument(
        "--partials",
        type=float,
        default=0.0,
        help="train on drawings in progress too: this share of the bitmaps cut short, and as many prefixes "
        "of stroke drawings and doodles as finished ones (trainer.partials; default 0: none)",
    )
    parser.add_argument(
        "--strokes-to-test",
        action="store_true",
        help="keep every stroke drawing of a class that has bitmaps out of training, for trainer.live_eval",
    )
    parser.add_argument(
        "--fold",
        help="K/N: a cross-validation run: the test split of each class without bitmaps is part K of N "
        "(python -m trainer.crossval runs them all)",
    )
    parser.add_argument(
        "--sure-rate",
        type=float,
        default=0.9,
        help="share of its own classes' validation drawings the model must be sure of (default 0.9)",
    )
    parser.add_argument(
        "--compare",
        type=Path,
        help="a model folder to score on the same test drawings, e.g. the one this run replaces",
    )
    parser.add_argument("--seed", type=int, default=0, help="split, augmentation and initialisation seed")
    parser.add_argument("--max-per-class", type=int, help="use at most this many drawings per class and file")
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--test-fraction", type=float, default=0.1)
    parser.add_argument("--download", action="store_true", help="fetch the official files into --cache first")
    parser.add_argument(
        "--download-format",
        choices=["bitmap", "simplified"],
        default="bitmap",
        help="official numpy_bitmap .npy (default) or simplified .ndjson",
    )
    parser.add_argument("--cache", type=Path, default=Path(".cache/quickdraw"), help="download cache folder")
    parser.add_argument(
        "--base-url", help="bucket URL to download from (default: the official Quick, Draw! bucket)"
    )
    args = parser.parse_args(argv)
    args.class_list = [c.strip() for c in args.classes.split(",") if c.strip()]
    args.negative_list = [c.strip() for c in args.negatives.split(",") if c.strip()]
    args.held_out_list = [c.strip() for c in args.held_out.split(",") if c.strip()]
    overlap = set(args.class_list) & (set(args.negative_list) | set(args.held_out_list))
    if overlap or set(args.negative_list) & set(args.held_out_list):
        parser.error("--classes, --negatives and --held-out must not share a class")
    if not 0.5 <= args.sure_rate < 1 or not 0 <= args.label_smoothing < 1:
        parser.error("--sure-rate must be in [0.5, 1) and --label-smoothing in [0, 1)")
    args.fold_spec = (None, 5)
    if args.fold:
        try:
            fold, folds = (int(x) for x in args.fold.split("/"))
        except ValueError:
            parser.error("--fold must be K/N, e.g. 0/5")
        if not 0 <= fold < folds or folds < 2:
            parser.error("--fold K/N needs 0 <= K < N and N >= 2")
        args.fold_spec = (fold, folds)
    if not 0 <= args.partials <= 1:
        parser.error("--partials must be in [0, 1]")
    if not 1 <= args.members <= 8:
        parser.error("--members must be 1 to 8")
    if args.negatives_per_class < 1 or args.doodles_per_kind < 0:
        parser.error("--negatives-per-class must be positive and --doodles-per-kind not negative")
    if len(args.class_list) < 2 or len(set(args.class_list)) != len(args.class_list):
        parser.error("--classes needs at least two distinct class names")
    if args.epochs < 1 or args.batch_size < 1 or args.patience < 0:
        parser.error("--epochs and --batch-size must be positive, --patience not negative")
    if args.max_per_class is not None and args.max_per_class < 3:
        parser.error("--max-per-class must be at least 3")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the trainer (or `collected ...`, trainer.collected); return the exit status."""
    given = sys.argv[1:] if argv is None else list(argv)
    if given[:1] == ["collected"]:
        from trainer.collected import main as collected

        return collected(given[1:])
    args = parse_args(argv)
    from trainer.download import DownloadError, download_classes
    from trainer.export import ExportError
    from trainer.pipeline import TrainConfig, run

    bitmap_dir, stroke_dirs = args.bitmaps, list(args.strokes or DEFAULT_STROKES)
    try:
        if args.download:
            folder = download_classes(args.class_list, args.download_format, args.cache, args.base_url)
            bitmap_dir, stroke_dirs = (folder, []) if args.download_format == "bitmap" else (None, [folder])
        if args.collected is not None:  # with downloaded files as with the local ones
            stroke_dirs.append(args.collected / "simplified")
        config = TrainConfig(
            classes=args.class_list,
            out=args.out,
            bitmap_dir=bitmap_dir,
            stroke_dirs=stroke_dirs,
            collected_dir=args.collected,
            arch=args.arch,
            members=args.members,
            baseline=None if args.baseline == "none" else args.baseline,
            epochs=args.epochs,
            batch_size=args.batch_size,
            patience=args.patience,
            class_weights=args.class_weights,
            mirror=args.mirror,
            affine=args.affine,
            label_smoothing=args.label_smoothing,
            schedule=args.schedule,
            max_per_class=args.max_per_class,
            negatives=args.negative_list,
            negatives_per_class=args.negatives_per_class,
            doodles_per_kind=args.doodles_per_kind,
            held_out=args.held_out_list,
            partials=args.partials,
            sure_rate=args.sure_rate,
            compare=args.compare,
            split=SplitSpec(
                seed=args.seed,
                val_fraction=args.val_fraction,
                test_fraction=args.test_fraction,
                strokes_to_test=args.strokes_to_test,
                fold=args.fold_spec[0],
                folds=args.fold_spec[1],
            ),
            command=shlex.join(sys.argv[1:] if argv is None else list(argv)),
        )
        run(config)
    except (DataError, DownloadError, ExportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
