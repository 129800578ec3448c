"""Cross-validate the few-shot classes live: every stroke drawing judged by a model that never saw it.

Giraffe and camel have no bitmaps here, only 19 stroke drawings each, which are also their training data:
a model's own test split holds 5 of them. `python -m trainer.crossval models/animals6 --folds 5` trains the
folder's recipe (its metrics.json's command) once per fold with `--fold K/N`, so that each drawing of those
classes is in exactly one fold's test split, replays each fold's held-out drawings state by state
(trainer.live_eval) and judges them with the folder's rule of being sure. The other classes' unseen stroke
drawings are judged by every fold model: how often they are taken for a few-shot class, averaged over the
folds, gives its precision. The figures go into the folder's metrics.json and card. A smaller budget
(`--epochs`, `--max-per-class`) makes the folds affordable; the card says which was used.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from realtime.model.ranking import ModelError
from realtime.model.recognizer import Recognizer
from realtime.model.sureness import SureRule
from trainer.data import DataError
from trainer.live_eval import judge, model_split, predict_states, read_metrics, summarize, unseen_strokes
from trainer.pipeline import write_outputs
from trainer.replay import replay, timed_strokes

DROPPED = {"--out": 1, "--compare": 1, "--baseline": 1, "--epochs": 1, "--max-per-class": 1, "--fold": 1}


def fold_command(recorded: str, out: Path, fold: int, folds: int, budget: Sequence[str]) -> list[str]:
    """Return the trainer's arguments for one fold: the recorded recipe, its folder, the fold, the budget."""
    given, kept, skip = shlex.split(recorded), [], 0
    for arg in given:
        if skip:
            skip -= 1
        elif arg in DROPPED:
            skip = DROPPED[arg]
        else:
            kept.append(arg)
    return [*kept, "--out", str(out), "--fold", f"{fold}/{folds}", "--baseline", "none", *budget]


def few_shot(metrics: dict[str, Any]) -> list[str]:
    """Return the classes with stroke drawings and no bitmaps."""
    counts = metrics["data"]["counts"]
    return [c for c, n in counts.items() if n["bitmap"] == 0 and n["strokes"] > 0]


def crossvalidate(folder: Path, folds: int, work: Path, budget: Sequence[str]) -> dict[str, Any]:
    """Train and judge every fold; return the few-shot classes' live figures over all their drawings."""
    from trainer.__main__ import main as train

    metrics = read_metrics(folder)
    shipped = Recognizer(folder)
    rule = SureRule(shipped.sure_threshold, shipped.sure_steady, shipped.other)
    rare = few_shot(metrics)
    if not rare:
        raise DataError(f"{folder} has no class without bitmaps: nothing to cross-validate")
    verdicts: dict[str, list[dict[str, Any]]] = {c: [] for c in rare}
    claims = {c: 0 for c in rare}  # other classes' drawings whose final guess is c, summed over the folds
    others = 0
    started = time.perf_counter()
    for fold in range(folds):
        out = work / f"fold-{fold}"
        args = fold_command(metrics["command"], out, fold, folds, budget)
        print(f"fold {fold + 1}/{folds}: python -m trainer {shlex.join(args)}", file=sys.stderr, flush=True)
        if train(args) != 0:
            raise DataError(f"the training of fold {fold} failed")
        model = Recognizer(out)
        dataset, train_idx, test_idx = model_split(out)
        # The few-shot classes' drawings of this fold's test split (each is in one fold's only), and every
        # unseen drawing of the others.
        not_test = np.setdiff1d(np.arange(len(dataset)), test_idx)
        own = [c for i, c in enumerate(model.labels) if i != model.other and c not in rare]
        found = unseen_strokes(dataset, not_test, rare) + unseen_strokes(dataset, train_idx, own)
        drawings = [(n, True, replay(timed_strokes(d))) for n, d in found]
        for replayed in predict_states(model, drawings):
            verdict = judge(replayed, model.labels, SureRule(rule.threshold, rule.steady, model.other))
            if replayed.truth in verdicts:
                verdicts[replayed.truth].append(verdict)
                continue
            others += 1
            final = replayed.probs[-1].copy()
            if model.other is not None:
                final[model.other] = -1.0
            guess = model.labels[int(np.argmax(final))]
            if guess in claims:
                claims[guess] += 1
    by_class = {}
    for name in rare:
        figures = summarize(verdicts[name])
        right = sum(v["final_right"] for v in verdicts[name])
        false = claims[name] / folds
        figures["precision"] = round(right / (right + false), 4) if right + false else None
        by_class[name] = figures
    return {
        "folds": folds,
        "budget": list(budget),
        "rule": {"threshold": rule.threshold, "steady": rule.steady},
        "by_class": by_class,
        "all": summarize([v for name in rare for v in verdicts[name]]),
        "other_drawings_per_fold": others // folds,
        "seconds": round(time.perf_counter() - started, 1),
        "command": f"python -m trainer.crossval {folder.as_posix()} --folds {folds} " + shlex.join(budget),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Cross-validate one model folder's few-shot classes and record the figures."""
    parser = argparse.ArgumentParser(prog="python -m trainer.crossval", description=__doc__.splitlines()[0])
    parser.add_argument(
        "folder", type=Path, help="a model folder written by the trainer, e.g. models/animals6"
    )
    parser.add_argument("--folds", type=int, default=5, help="parts of each few-shot class (default 5)")
    parser.add_argument("--epochs", type=int, help="train each fold for at most this many epochs")
    parser.add_argument("--max-per-class", type=int, help="use at most this many drawings per class and file")
    parser.add_argument(
        "--work", type=Path, default=Path(".cache/crossval"), help="where the fold models are written"
    )
    args = parser.parse_args(argv)
    if args.folds < 2:
        parser.error("--folds must be at least 2")
    budget = []
    if args.epochs:
        budget += ["--epochs", str(args.epochs)]
    if args.max_per_class:
        budget += ["--max-per-class", str(args.max_per_class)]
    try:
        figures = crossvalidate(args.folder, args.folds, args.work / args.folder.name, budget)
        metrics = read_metrics(args.folder)
    except (DataError, ModelError, OSError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    metrics.setdefault("live", {})["crossval"] = figures
    write_outputs(metrics, args.folder)
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
