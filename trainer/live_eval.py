"""Judge a model as people meet it: live, state by state, while drawings it never trained on grow.

`python -m trainer.live_eval models/animals6` replays every stroke drawing of the model's classes that its
recorded split kept out of training (trainer.replay: as the page sends them, through the server's own
incremental rasterizer), predicts every state, and applies the server's rule of being sure
(realtime.model.sureness) to the sequence. Per class and overall it reports:
- `wrong_sure`: the share of drawings with a state sure of another class (a false recognition in a game);
- `right_sure`: the share that become sure of their own class before the end, and `median_share`, the median
  share of the drawing's messages it took;
- `final_top1`: the share whose finished drawing's top guess is right.
Drawings of none of the classes (squares, circles, zigzags, spirals, scribbles, lines and written words from a
seed of their own, drawn at a person's pace) count as `sure` when any state is. `--write` records the figures
in the folder's metrics.json and card (with those of `python -m trainer.crossval`, when it has run).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from realtime.model.files import CARD_FILE, KERAS_FILE, METRICS_FILE
from realtime.model.ranking import ModelError
from realtime.model.recognizer import Recognizer
from realtime.model.sureness import Streak, SureRule
from trainer.data import DataError, Dataset, SplitSpec, load_strokes, recorded_split, split_indices
from trainer.negatives import DRAWERS, FONTS, SHAPES, WORDS
from trainer.replay import States, paced, replay, timed_strokes, written_word

REPLAY = (
    "every message as the page sends it (a batch of points per 33 ms, stroke_end per stroke; raw drawings at "
    "their own pace, simplified ones at the median pace of the raw ones) through the server's Drawing and "
    "incremental rasterizer, every state predicted"
)
REPO = Path(__file__).resolve().parents[1]  # paths in a model's metrics.json are relative to it
OTHER_SEED = 2_000_029  # the doodles of none of the classes: a seed no training run uses
OTHER_PER_KIND = 30
CHOOSE_SEED = 2_000_039  # the doodles a rule is chosen on
BATCH = 512
# The targets (issue 25): drawings with a state sure of a wrong class, drawings of none of the classes with
# a sure state; a rule must also be sure and right of this many drawings to be worth choosing.
MAX_WRONG_SURE = 0.03
MAX_OTHER_SURE = 0.05
MIN_RIGHT_SURE = 0.6
THRESHOLDS = np.round(np.arange(0.5, 0.96, 0.05), 2)
STEADY = (1, 2, 3, 4, 6, 8, 10, 15)


@dataclass
class Replayed:
    """One drawing replayed and predicted: what it is, and the model's outputs after each message."""

    truth: str  # a class of the model, or the kind of a drawing of none of them
    own: bool  # whether `truth` is one of the model's classes
    probs: np.ndarray  # (messages, outputs); NaN rows while the canvas is blank


def predict_states(model: Recognizer, drawings: Sequence[tuple[str, bool, States]]) -> list[Replayed]:
    """Predict every non-blank state of every replayed drawing in large batches."""
    bitmaps = [b for _, _, states in drawings for b in states.bitmaps if b is not None]
    outputs = len(model.labels)
    probs = np.zeros((0, outputs), np.float32)
    if bitmaps:
        probs = np.concatenate(
            [model.predict(np.stack(bitmaps[i : i + BATCH])) for i in range(0, len(bitmaps), BATCH)]
        )
    out, used = [], 0
    for truth, own, states in drawings:
        rows = np.full((len(states), outputs), np.nan, np.float32)
        for i, bitmap in enumerate(states.bitmaps):
            if bitmap is not None:
                rows[i] = probs[used]
                used += 1
        out.append(Replayed(truth, own, rows))
    return out


def sure_labels(probs: np.ndarray, rule: SureRule) -> list[int | None]:
    """Return, after each message, the class the server would say it is sure of (None: not sure)."""
    streak, out = Streak(), []
    for seq, row in enumerate(probs):
        label = None if np.isnan(row[0]) else rule.confident(row)
        out.append(label if streak.sure(rule.steady, seq, label) else None)
    return out


def judge(replayed: Replayed, labels: list[str], rule: SureRule) -> dict[str, Any]:
    """Return one drawing's verdicts: wrong or right sure states, when right, the finished drawing's guess."""
    said = sure_labels(replayed.probs, rule)
    named = [labels[k] if k is not None else None for k in said]
    verdict: dict[str, Any] = {"sure": any(k is not None for k in said)}
    if replayed.own:
        right = [i for i, name in enumerate(named) if name == replayed.truth]
        verdict["wrong_sure"] = any(name is not None and name != replayed.truth for name in named)
        verdict["right_sure"] = bool(right)
        verdict["share"] = (right[0] + 1) / len(named) if right else None
        final = replayed.probs[-1].copy()
        if rule.other is not None:
            final[rule.other] = -1.0
        verdict["final_right"] = bool(
            not np.isnan(final[0]) and labels[int(np.argmax(final))] == replayed.truth
        )
    return verdict


def summarize(verdicts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Return the shares over drawings of the model's classes: wrong and right sure, median share, top-1."""
    n = len(verdicts)
    if n == 0:
        return {"n": 0}
    shares = [v["share"] for v in verdicts if v["share"] is not None]
    return {
        "n": n,
        "wrong_sure": round(sum(v["wrong_sure"] for v in verdicts) / n, 4),
        "right_sure": round(sum(v["right_sure"] for v in verdicts) / n, 4),
        "median_share": round(float(np.median(shares)), 4) if shares else None,
        "final_top1": round(sum(v["final_right"] for v in verdicts) / n, 4),
    }


def report(replays: Sequence[Replayed], labels: list[str], rule: SureRule) -> dict[str, Any]:
    """Return the live figures per class and overall, and how often drawings of none of them are sure."""
    own = [(r.truth, judge(r, labels, rule)) for r in replays if r.own]
    other = [(r.truth, judge(r, labels, rule)) for r in replays if not r.own]
    classes = sorted({t for t, _ in own}, key=labels.index)
    kinds = sorted({t for t, _ in other})
    return {
        "rule": {"threshold": rule.threshold, "steady": rule.steady},
        "by_class": {c: summarize([v for t, v in own if t == c]) for c in classes},
        "all": summarize([v for _, v in own]),
        "other_things": {
            **{k: _sure_share([v for t, v in other if t == k]) for k in kinds},
            "all": _sure_share([v for _, v in other]),
        },
    }


def _sure_share(verdicts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Return how many drawings there are and the share with any sure state."""
    n = len(verdicts)
    return {"n": n, "sure": round(sum(v["sure"] for v in verdicts) / n, 4) if n else None}


def other_drawings(per_kind: int = OTHER_PER_KIND, seed: int = OTHER_SEED) -> list[tuple[str, States]]:
    """Replay doodles of none of the classes at a person's pace: the trainer's kinds, words as lines."""
    rng = np.random.default_rng(seed)
    out = []
    for kind in SHAPES:
        for _ in range(per_kind):
            if kind == "word":
                text = str(rng.choice(WORDS))
                strokes = written_word(text, int(rng.choice(FONTS)))
            else:
                strokes = DRAWERS[kind](rng)
            out.append((kind, replay(paced(strokes))))
    return out


def unseen_strokes(dataset: Dataset, seen: np.ndarray, classes: Iterable[str]) -> list[tuple[str, Any]]:
    """Return (class, drawing) per stroke drawing of `classes` not in `seen`, with its times if known."""
    trained = np.zeros(len(dataset), bool)
    trained[seen] = True
    raw = _timed_records(dataset)
    out = []
    wanted = set(classes)
    for i in np.flatnonzero((dataset.sources == "strokes") & ~trained):
        name = dataset.classes[dataset.labels[i]]
        if name in wanted:
            out.append((name, raw.get(dataset.keys[i], dataset.drawings[i])))
    return out


def _timed_records(dataset: Dataset) -> dict[Any, Any]:
    """Return key_id -> drawing for every stroke drawing with times in the dataset's stroke files."""
    out = {}
    for paths in dataset.files.values():
        for path in paths:
            if not path.endswith(".ndjson"):
                continue
            for record in load_strokes(Path(path)):
                if all(len(stroke) >= 3 for stroke in record["drawing"]) and "key_id" in record:
                    out.setdefault(record["key_id"], record["drawing"])
    return out


def model_split(folder: Path) -> tuple[Dataset, np.ndarray, np.ndarray]:
    """Rebuild a model folder's dataset, training and test indices from its metrics.json (a quantized
    copy's: its source's, beside it)."""
    metrics = read_metrics(folder)
    if "source" in metrics:
        metrics = read_metrics(folder.parent / metrics["source"])
    dataset, _, test = recorded_split(metrics, REPO)
    spec = SplitSpec.from_recorded(metrics["split"])
    train, _, _ = split_indices(dataset.labels, dataset.groups, spec, dataset.classes, dataset.sources)
    return dataset, train, test


def read_metrics(folder: Path) -> dict[str, Any]:
    """Read a model folder's metrics.json."""
    path = folder / METRICS_FILE
    if not path.is_file():
        raise DataError(f"{path} not found: live evaluation needs a folder written by the trainer")
    return json.loads(path.read_text(encoding="utf-8"))


def halves(replays: Sequence[Replayed]) -> tuple[list[Replayed], list[Replayed]]:
    """Split each class's (and kind's) drawings alternately: one half to choose a rule, one to report on."""
    seen: dict[str, int] = {}
    first, second = [], []
    for r in replays:
        k = seen.get(r.truth, 0)
        seen[r.truth] = k + 1
        (first if k % 2 == 0 else second).append(r)
    return first, second


def meets(figures: dict[str, Any]) -> bool:
    """Tell whether live figures meet the project's targets for being sure (docs/protocol.md)."""
    own, other = figures["all"], figures["other_things"]["all"]
    return own["wrong_sure"] <= MAX_WRONG_SURE and other["sure"] <= MAX_OTHER_SURE


def choose_rule(replays: Sequence[Replayed], labels: list[str], other: int | None) -> tuple[SureRule, list]:
    """Return the rule that is sure and right of most drawings while meeting the targets on `replays`.

    When no rule meets them, the one that comes closest (the largest of its two shares over its target)
    among those sure and right of at least MIN_RIGHT_SURE of the drawings. Also return every rule tried
    with its figures (the levers, for the model card).
    """
    tried = []
    for threshold in THRESHOLDS:
        for steady in STEADY:
            rule = SureRule(float(threshold), steady, other)
            tried.append((rule, report(replays, labels, rule)))

    def over(figures: dict[str, Any]) -> float:
        own, doodles = figures["all"], figures["other_things"]["all"]
        return max(own["wrong_sure"] / MAX_WRONG_SURE, doodles["sure"] / MAX_OTHER_SURE)

    good = [(r, f) for r, f in tried if meets(f)]
    if good:
        # Most drawings sure and right, then the earliest, the fewest messages, the highest threshold.
        best = max(
            good,
            key=lambda rf: (
                rf[1]["all"]["right_sure"],
                -(rf[1]["all"]["median_share"] or 1.0),
                -rf[0].steady,
                rf[0].threshold,
            ),
        )
    else:
        usable = [(r, f) for r, f in tried if f["all"]["right_sure"] >= MIN_RIGHT_SURE] or tried
        best = min(usable, key=lambda rf: (over(rf[1]), -rf[1]["all"]["right_sure"]))
    levers = [
        {
            "threshold": r.threshold,
            "steady": r.steady,
            **{k: f["all"][k] for k in ("wrong_sure", "right_sure", "median_share")},
            "other_sure": f["other_things"]["all"]["sure"],
        }
        for r, f in tried
    ]
    return best[0], levers


def replays_of(folder: Path, model: Recognizer, seed: int = OTHER_SEED, per_kind: int = OTHER_PER_KIND):
    """Replay and predict a folder's unseen stroke drawings, then doodles of none of its classes (`seed`)."""
    dataset, train, _ = model_split(folder)
    own = [c for i, c in enumerate(model.labels) if i != model.other]
    drawings = [(name, True, replay(timed_strokes(d))) for name, d in unseen_strokes(dataset, train, own)]
    drawings += [(kind, False, states) for kind, states in other_drawings(per_kind, seed)]
    return predict_states(model, drawings)


def evaluate(folder: Path, rule: SureRule | None = None, per_kind: int = OTHER_PER_KIND) -> dict[str, Any]:
    """Replay a folder's unseen stroke drawings and doodles of none of its classes; return the figures."""
    model = Recognizer(folder)
    rule = rule or SureRule(model.sure_threshold, model.sure_steady, model.other)
    return report(replays_of(folder, model, per_kind=per_kind), model.labels, rule)


def reported(replays: Sequence[Replayed], halved: bool) -> list[Replayed]:
    """Return the drawings the figures stand on: all, or (when the rule was chosen on half) the other half."""
    own = [r for r in replays if r.own]
    return (halves(own)[1] if halved else own) + [r for r in replays if not r.own]


def source_metrics(folder: Path, metrics: dict[str, Any]) -> dict[str, Any]:
    """Return the metrics of the trainer's folder behind `folder` (itself, or a quantized copy's source)."""
    return read_metrics(folder.parent / metrics["source"]) if "source" in metrics else metrics


def figures_of(folder: Path) -> dict[str, Any]:
    """Replay a folder as `record` did and return its figures (the model tests check the card with them)."""
    model = Recognizer(folder)
    halved = bool((source_metrics(folder, read_metrics(folder)).get("live") or {}).get("chosen"))
    rule = SureRule(model.sure_threshold, model.sure_steady, model.other)
    return report(reported(replays_of(folder, model), halved), model.labels, rule)


def record(folder: Path, choose: bool, command: str) -> dict[str, Any]:
    """Evaluate a folder live (choosing its rule first, if asked) and record the figures in its files.

    A quantized copy is judged with its own (copied) rule on the drawings its source's figures stand on.
    """
    from trainer.pipeline import write_outputs  # TensorFlow: only when writing

    model = Recognizer(folder)
    metrics = read_metrics(folder)
    quantized = "source" in metrics
    if choose and quantized:
        raise DataError(f"{folder} is a quantized copy: choose its source's rule, then quantize again")
    replays = replays_of(folder, model)
    chosen = None
    if choose:
        fit = halves([r for r in replays if r.own])[0]
        fit_doodles = replays_of_doodles(model, CHOOSE_SEED)
        rule, levers = choose_rule(fit + fit_doodles, model.labels, model.other)
        chosen = {
            "on": f"{len(fit)} of the drawings (every other one of each class) and {len(fit_doodles)} "
            "doodles of another seed; the figures above stand on the other drawings",
            "levers": levers,
        }
        halved = True
    else:
        rule = SureRule(model.sure_threshold, model.sure_steady, model.other)
        halved = bool((source_metrics(folder, metrics).get("live") or {}).get("chosen"))
    live = {
        **report(reported(replays, halved), model.labels, rule),
        "replay": REPLAY,
        "command": command,
        "chosen": chosen,
        # A quantized copy shows its source's cross-validation: it is the recipe's, not the weights'.
        "crossval": (source_metrics(folder, metrics).get("live") or {}).get("crossval"),
    }
    if quantized:
        from trainer.quantize import card

        metrics["live"] = live
        (folder / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
        (folder / CARD_FILE).write_text(card(metrics), encoding="utf-8")
        return metrics
    if rule.threshold != metrics["rejection"]["threshold"]:
        metrics["rejection"] = rejection_with(folder, metrics, rule.threshold)
    metrics["rejection"]["steady"] = rule.steady
    metrics["live"] = live
    write_outputs(metrics, folder)
    return metrics


def replays_of_doodles(model: Recognizer, seed: int) -> list[Replayed]:
    """Replay and predict doodles of none of the classes from `seed`."""
    return predict_states(
        model, [(kind, False, states) for kind, states in other_drawings(OTHER_PER_KIND, seed)]
    )


def rejection_with(folder: Path, metrics: dict[str, Any], threshold: float) -> dict[str, Any]:
    """Return the folder's "sure or not sure" figures again, at another threshold (its Keras model's)."""
    import keras

    from trainer.pipeline import predict, rejection_report
    from trainer.threshold import recorded_config

    config = recorded_config(metrics, folder, 0.9)
    net = keras.saving.load_model(folder / KERAS_FILE, safe_mode=True)
    dataset, val, test = recorded_split(metrics, REPO)
    out = rejection_report(net, config, dataset, val, test, predict(net, dataset.images[test]), threshold)
    out["threshold_chosen_for"] = "the live evaluation: a rule chosen on drawings replayed state by state"
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Evaluate one model folder live; print the figures, or record them in its files."""
    parser = argparse.ArgumentParser(prog="python -m trainer.live_eval", description=__doc__.splitlines()[0])
    parser.add_argument(
        "folder", type=Path, help="a model folder written by the trainer, e.g. models/animals6"
    )
    parser.add_argument(
        "--choose",
        action="store_true",
        help="choose the rule of being sure (threshold, steady messages) on half of the drawings first, "
        "and report on the other half (with --write: the folder's rule from then on)",
    )
    parser.add_argument(
        "--write", action="store_true", help="record the figures in metrics.json and the card"
    )
    parser.add_argument("--threshold", type=float, help="judge with this threshold instead of the model's")
    parser.add_argument(
        "--steady", type=int, help="judge with this many steady messages instead of the model's"
    )
    args = parser.parse_args(argv)
    try:
        if args.write or args.choose:
            command = "python -m trainer.live_eval " + " ".join(argv if argv is not None else sys.argv[1:])
            figures = record(args.folder, args.choose, command)["live"]
        else:
            model = Recognizer(args.folder)
            rule = SureRule(
                args.threshold if args.threshold is not None else model.sure_threshold,
                args.steady if args.steady is not None else model.sure_steady,
                model.other,
            )
            figures = evaluate(args.folder, rule)
    except (DataError, ModelError, OSError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    own, other = figures["all"], figures["other_things"]["all"]
    print(json.dumps({k: v for k, v in figures.items() if k not in ("chosen",)}, indent=1))
    print(
        f"rule: p >= {figures['rule']['threshold']} for {figures['rule']['steady']} messages; "
        f"n={own['n']}: wrong sure {own['wrong_sure']:.1%}, sure and right {own['right_sure']:.1%} at a "
        f"median {own['median_share'] or 0:.0%} of the drawing, final top-1 {own['final_top1']:.1%}; "
        f"other things sure {other['sure']:.1%}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
