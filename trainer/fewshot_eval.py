"""Few-shot evaluation: words the embedding never saw, taught from k drawings each, ranked with trained ones.

`python -m trainer.fewshot_eval models/doodles23` evaluates two sets of held-out words: five unlike each
other (bicycle, clock, guitar, house, tree) and four animals alike in shape (cat, dog, fish, octopus). For
each set it needs a model that never saw those words: when they are the folder's own classes, it trains the
folder's recorded recipe without them (`--held-out`, written under `--work`, reused when already there)
and gives it an embedding as the shipped one got it (trainer.embedding); when the folder never trained on
them, the folder itself. Then, many times over, each held-out word is taught from k ∈ {1, 5, 10} of its
drawings drawn at random (the mean of their embeddings, normalised, as the server does), and judged on
other drawings of it:
- `n_way`: accuracy among the taught words alone;
- `recall`: how often a drawing of a taught word gets it as top guess among all the trained words, ranked
  together as the server ranks them (realtime.model.taught);
- `trained_top1` against `classifier_top1`: the trained words' own test drawings, with and without the taught
  words among the guesses;
- `claimed`: how often some taught word is sure for a drawing of a trained word, and for a shape (squares,
  circles, zigzags, spirals, scribbles, lines, written words).
Each word's drawings are split in two halves: the ranking's scale, offset and least similarity for sure are
chosen on one (trained words' drawings: every other one), the figures reported on the other. `--write` puts
the figures in the folder's metrics.json and card, and the chosen calibration into its calibration.json.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from realtime.model.files import KERAS_FILE, TFLITE_FILE
from realtime.model.litert import EMBEDDING, PROBABILITIES, LiteRTRunner
from realtime.model.taught import TaughtCalibration, prototype, scores, similarities
from trainer.data import DataError

DROPPED = {"--out": 1, "--compare": 1, "--baseline": 1, "--held-out": 1, "--classes": 1}
HELD_OUT = {
    "unlike": ("bicycle", "clock", "guitar", "house", "tree"),
    "animals": ("cat", "dog", "fish", "octopus"),
}
SHOTS = (1, 5, 10)
POOL = 1000  # drawings of each held-out word (half to choose on, half to report on)
QUERIES = 200  # drawings of each taught word judged per repetition
REPETITIONS = 100
SHAPES_PER_KIND = 200
SHAPE_SEED = 3_000_017  # shapes of a seed no training run uses
MAX_CLAIMED = 0.03  # the target: a taught word sure for at most 3 % of other drawings
SCALES = (8.0, 12.0, 16.0, 20.0, 24.0, 32.0, 48.0)
HEAD_SIZE = 128  # the metric-learning lever's projection
HEAD_EPOCHS = 5
OFFSETS = tuple(np.round(np.arange(-20.0, 0.01, 1.0), 1))
TRAINED_LOSS = 0.008  # of the trained words' top-1 a ranking may cost, where it is chosen
SIMILARITIES = tuple(np.round(np.arange(0.3, 0.96, 0.025), 3))


def held_out_command(recorded: str, classes: Sequence[str], held_out: Sequence[str], out: Path) -> list[str]:
    """Return the trainer's arguments for the recorded recipe with `held_out` words left out of training."""
    given, kept, skip = shlex.split(recorded), [], 0
    for arg in given:
        if skip:
            skip -= 1
        elif arg in DROPPED:
            skip = DROPPED[arg]
        else:
            kept.append(arg)
    trained = ",".join(c for c in classes if c not in held_out)
    return [
        *kept,
        *("--classes", trained, "--held-out", ",".join(held_out), "--out", str(out), "--baseline", "none"),
    ]


@dataclass
class Outputs:
    """A model's outputs for a set of drawings: probabilities and embeddings."""

    probs: np.ndarray
    embedded: np.ndarray

    @classmethod
    def of(cls, runner: LiteRTRunner, images: np.ndarray) -> Outputs:
        """Run the model on (N, 28, 28) images."""
        out = runner.run_all(images)
        return cls(out[PROBABILITIES], out[EMBEDDING])

    def rows(self, index: np.ndarray) -> Outputs:
        """Return the outputs of some drawings."""
        return Outputs(self.probs[index], self.embedded[index])


@dataclass
class Trial:
    """What one evaluation set gives: the model's outputs for every drawing it is judged on."""

    words: tuple[str, ...]
    labels: list[str]  # the evaluation model's outputs
    other: int | None
    threshold: float  # the evaluation model's sure threshold
    pools: list[Outputs]  # per held-out word
    trained: Outputs  # the evaluation model's test drawings of its own classes
    trained_labels: np.ndarray
    shapes: Outputs


def evaluation_model(folder: Path, words: Sequence[str], work: Path) -> Path:
    """Return a folder whose model never saw `words`, with an embedding: `folder` itself, or one trained."""
    from trainer.__main__ import main as train
    from trainer.embedding import embed_folder
    from trainer.live_eval import read_metrics
    from trainer.pipeline import write_outputs

    metrics = read_metrics(folder)
    classes = [c for c in metrics["classes"] if c != "_other"]
    negatives = (metrics["data"].get("negatives") or {}).get("classes", [])
    if not set(words) & (set(classes) | set(negatives)):
        return folder
    if not set(words) <= set(classes):
        raise DataError(
            f"{folder.name} trained on some of {', '.join(words)} but not all: no fair evaluation"
        )
    args = held_out_command(metrics["command"], classes, words, work)
    done = work / "metrics.json"
    if not done.is_file() or json.loads(done.read_text(encoding="utf-8"))["command"] != shlex.join(args):
        print(f"training without {', '.join(words)}: python -m trainer {shlex.join(args)}", file=sys.stderr)
        if train(args) != 0:
            raise DataError(f"the training without {', '.join(words)} failed")
    trained = read_metrics(work)
    if "embedding" not in trained:
        trained["embedding"] = embed_folder(work)
        write_outputs(trained, work)
    return work


def trial(folder: Path, words: Sequence[str], work: Path) -> Trial:
    """Gather the outputs one evaluation set is judged on."""
    from trainer.live_eval import model_split, read_metrics
    from trainer.negatives import SHAPES, class_bitmaps, shape_bitmaps

    model_dir = evaluation_model(folder, words, work)
    metrics = read_metrics(model_dir)
    runner = LiteRTRunner.from_file(model_dir / TFLITE_FILE)
    if not runner.embedding_size:
        raise DataError(f"{model_dir} has no embedding: run python -m trainer.embedding {model_dir}")
    bitmap_dir = Path(metrics["data"]["bitmap_dir"])
    if not bitmap_dir.is_absolute():
        bitmap_dir = Path(__file__).resolve().parents[1] / bitmap_dir
    pools = [Outputs.of(runner, class_bitmaps(bitmap_dir, word, POOL)[1]) for word in words]
    dataset, _, test = model_split(model_dir)
    calibration = json.loads((model_dir / "calibration.json").read_text(encoding="utf-8"))
    other = dataset.classes.index(calibration["other_label"]) if calibration["other_label"] else None
    own = test[dataset.labels[test] != (other if other is not None else -1)]
    shapes, _ = shape_bitmaps(SHAPES, SHAPES_PER_KIND, SHAPE_SEED)
    return Trial(
        tuple(words),
        dataset.classes,
        other,
        float(calibration["sure_threshold"]),
        pools,
        Outputs.of(runner, dataset.images[own]),
        dataset.labels[own],
        Outputs.of(runner, shapes),
    )


def halves(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Return every other index of n: the half to choose on, the half to report on."""
    return np.arange(0, n, 2), np.arange(1, n, 2)


def taught_top(
    found: Trial, drawings: Outputs, prototypes: np.ndarray, calibration: TaughtCalibration
) -> tuple[np.ndarray, np.ndarray]:
    """Return each drawing's top guess (taught words after the model's outputs) and whether a taught
    word is sure of it."""
    probs = scores(drawings.probs, drawings.embedded, prototypes, calibration)
    if found.other is not None:
        probs[:, found.other] = -1.0
    top = probs.argmax(axis=1)
    n = drawings.probs.shape[1]
    close = similarities(drawings.embedded, prototypes)[np.arange(len(top)), np.clip(top - n, 0, None)]
    said = (top >= n) & (probs.max(axis=1) >= found.threshold) & (close >= calibration.min_similarity)
    return top, said


def judge(
    found: Trial, shots: int, half: int, calibration: TaughtCalibration, repetitions: int, seed: int
) -> dict[str, float]:
    """Teach the set's words from `shots` drawings each, many times; return the mean figures on one half."""
    rng = np.random.default_rng(seed)
    n = found.trained.probs.shape[1]
    trained_half = halves(len(found.trained_labels))[half]
    trained = found.trained.rows(trained_half)
    truth = found.trained_labels[trained_half]
    plain = trained.probs.copy()
    if found.other is not None:
        plain[:, found.other] = -1.0
    figures: dict[str, list[float]] = {
        k: [] for k in ("n_way", "recall", "trained_top1", "claimed_trained", "claimed_shapes")
    }
    for _ in range(repetitions):
        prototypes, queries, query_words = [], [], []
        for w, pool in enumerate(found.pools):
            mine = halves(len(pool.probs))[half]
            picked = rng.permutation(mine)
            prototypes.append(prototype(pool.embedded[picked[:shots]]))
            asked = picked[shots : shots + QUERIES]
            queries.append(pool.rows(asked))
            query_words += [w] * len(asked)
        protos = np.stack(prototypes)
        asked = Outputs(
            np.concatenate([q.probs for q in queries]), np.concatenate([q.embedded for q in queries])
        )
        words = np.asarray(query_words)
        figures["n_way"].append(float(np.mean((asked.embedded @ protos.T).argmax(axis=1) == words)))
        top, _ = taught_top(found, asked, protos, calibration)
        figures["recall"].append(float(np.mean(top == n + words)))
        top, said = taught_top(found, trained, protos, calibration)
        figures["trained_top1"].append(float(np.mean(top == truth)))
        figures["claimed_trained"].append(float(np.mean(said)))
        _, said = taught_top(found, found.shapes, protos, calibration)
        figures["claimed_shapes"].append(float(np.mean(said)))
    out = {k: round(float(np.mean(v)), 4) for k, v in figures.items()}
    out["classifier_top1"] = round(float(np.mean(plain.argmax(axis=1) == truth)), 4)
    return out


def choose_calibration(trials: Sequence[Trial], seed: int, repetitions: int = 10) -> TaughtCalibration:
    """Choose the ranking and the least similarity for sure on the halves the figures are not reported on.

    Every set of held-out words and k of 5 and 10 examples is judged; the scale and offset give the best
    mean of taught words' recall and trained words' top-1 while, in each, the trained words lose at most
    TRAINED_LOSS (the target: at most a point); the least similarity is the lowest that keeps taught words
    sure for at most 2.5 % of trained words' drawings and of shapes, in each.
    """

    def runs_of(calibration: TaughtCalibration) -> list[dict[str, float]]:
        return [judge(t, k, 0, calibration, repetitions, seed) for t in trials for k in (5, 10)]

    best, best_score = None, -1.0
    for scale in SCALES:
        for offset in OFFSETS:
            runs = runs_of(TaughtCalibration(scale, float(offset), 1.0))
            if any(run["trained_top1"] < run["classifier_top1"] - TRAINED_LOSS for run in runs):
                continue
            score = float(np.mean([(run["recall"] + run["trained_top1"]) / 2 for run in runs]))
            if score > best_score:
                best, best_score = (scale, float(offset)), score
    if best is None:
        raise DataError("no ranking keeps the trained words' accuracy: the embedding is not usable")
    for similarity in SIMILARITIES:
        calibration = TaughtCalibration(*best, float(similarity))
        claimed = [max(run["claimed_trained"], run["claimed_shapes"]) for run in runs_of(calibration)]
        if max(claimed) <= MAX_CLAIMED - 0.005:
            return calibration
    return TaughtCalibration(*best, float(SIMILARITIES[-1]))


# Other ways to rank taught words with trained ones, weighed at 10 examples (the shipped one: "offset"):
# - offset: the model's log-probabilities, and scale × similarity + offset for each taught word;
# - temperature: the same with the model's log-probabilities halved (its confidence flattened);
# - share: taught words share the model's "something else" probability, by softmax(scale × similarity +
#   offset) against "none of them" at 0.
RANKINGS = (
    ("offset", 16.0, -10.0),
    ("offset", 16.0, -8.0),
    ("offset", 24.0, -10.0),
    ("offset", 24.0, -8.0),
    ("temperature", 16.0, -6.0),
    ("temperature", 24.0, -8.0),
    ("share", 32.0, -8.0),
    ("share", 48.0, 0.0),
)


def ranked_by(
    way: str, found: Trial, drawings: Outputs, prototypes: np.ndarray, scale: float, offset: float
) -> np.ndarray:
    """Return the top guess of each drawing (taught words after the model's outputs) under one ranking."""
    similarity = drawings.embedded @ prototypes.T
    logs = np.log(np.clip(drawings.probs.astype(np.float64), 1e-30, 1.0))
    if way == "share" and found.other is not None:
        taught = np.concatenate([scale * similarity + offset, np.zeros((len(similarity), 1))], axis=1)
        taught = np.exp(taught - taught.max(axis=1, keepdims=True))
        taught /= taught.sum(axis=1, keepdims=True)
        probs = np.concatenate([drawings.probs, drawings.probs[:, [found.other]] * taught[:, :-1]], axis=1)
    else:
        probs = np.concatenate(
            [logs * (0.5 if way == "temperature" else 1.0), scale * similarity + offset], axis=1
        )
    if found.other is not None:
        probs[:, found.other] = -np.inf
    return probs.argmax(axis=1)


def ranking_levers(found: Trial, seed: int, shots: int = 10, repetitions: int = 20) -> list[dict[str, Any]]:
    """Return taught words' recall and trained words' top-1 under each of RANKINGS, on the report half."""
    rng = np.random.default_rng(seed)
    n = found.trained.probs.shape[1]
    trained_half = halves(len(found.trained_labels))[1]
    trained, truth = found.trained.rows(trained_half), found.trained_labels[trained_half]
    draws = []
    for _ in range(repetitions):
        protos, asked, words = [], [], []
        for w, pool in enumerate(found.pools):
            picked = rng.permutation(halves(len(pool.probs))[1])
            protos.append(prototype(pool.embedded[picked[:shots]]))
            asked.append(pool.rows(picked[shots : shots + QUERIES]))
            words += [w] * len(asked[-1].probs)
        joined = Outputs(
            np.concatenate([a.probs for a in asked]), np.concatenate([a.embedded for a in asked])
        )
        draws.append((np.stack(protos), joined, np.asarray(words)))
    out = []
    for way, scale, offset in RANKINGS:
        recall = [np.mean(ranked_by(way, found, q, p, scale, offset) == n + w) for p, q, w in draws]
        right = [np.mean(ranked_by(way, found, trained, p, scale, offset) == truth) for p, _, _ in draws]
        out.append(
            {
                "ranking": way,
                "scale": scale,
                "offset": offset,
                "recall": round(float(np.mean(recall)), 4),
                "trained_top1": round(float(np.mean(right)), 4),
            }
        )
    return out


def metric_head(feats: np.ndarray, labels: np.ndarray, seed: int) -> Any:
    """Fit a projection of features with a metric-learning loss (normalised softmax over one proxy per
    word, cosine × 16); return the model that embeds features with it."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(feats.shape[1],))
    embedded = layers.UnitNormalization()(layers.Dense(HEAD_SIZE)(inputs))
    proxies = layers.Dense(
        int(labels.max()) + 1, use_bias=False, kernel_constraint=keras.constraints.UnitNorm(axis=0)
    )
    net = keras.Model(inputs, layers.Rescaling(16.0)(proxies(embedded)))
    steps = HEAD_EPOCHS * len(feats) // 512
    net.compile(
        optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(3e-3, steps)),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    net.fit(feats, labels, batch_size=512, epochs=HEAD_EPOCHS, verbose=0)
    return keras.Model(inputs, embedded)


def levers(folder: Path, words: Sequence[str], work: Path, seed: int) -> dict[str, dict[str, float]]:
    """Return the n-way accuracy of other embeddings of the same network: the levers weighed against it.

    - `hidden`: the last hidden dense layer, normalised;
    - `metric_head`: a projection of the flattened features trained with a metric-learning loss on the
      evaluation model's training split (the trained words) and their mirror images.
    """
    import keras

    from trainer.embedding import features, training_images
    from trainer.live_eval import model_split, read_metrics
    from trainer.negatives import class_bitmaps

    model_dir = evaluation_model(folder, words, work)
    model = keras.saving.load_model(model_dir / KERAS_FILE, safe_mode=True)
    bitmap_dir = Path(read_metrics(model_dir)["data"]["bitmap_dir"])
    if not bitmap_dir.is_absolute():
        bitmap_dir = Path(__file__).resolve().parents[1] / bitmap_dir
    images = [class_bitmaps(bitmap_dir, word, POOL)[1] for word in words]
    dataset, train, _ = model_split(model_dir)
    seen = training_images(model_dir)
    head = metric_head(
        np.concatenate([features(model, seen), features(model, seen, mirrored=True)]),
        np.concatenate([dataset.labels[train]] * 2),
        seed,
    )
    embedded = {
        "hidden": [features(model, pool, "hidden") for pool in images],
        "metric_head": [head.predict(features(model, pool), verbose=0) for pool in images],
    }
    out = {}
    for name, pools in embedded.items():
        pools = [p / np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-12) for p in pools]
        out[name] = {str(k): n_way(pools, k, seed) for k in SHOTS}
    return out


def n_way(pools: Sequence[np.ndarray], shots: int, seed: int) -> float:
    """Return the mean n-way accuracy of prototypes of `shots` examples over the report halves."""
    rng = np.random.default_rng(seed)
    right = []
    for _ in range(REPETITIONS):
        protos, asked, truth = [], [], []
        for w, pool in enumerate(pools):
            picked = rng.permutation(halves(len(pool))[1])
            protos.append(prototype(pool[picked[:shots]]))
            asked.append(pool[picked[shots : shots + QUERIES]])
            truth += [w] * len(asked[-1])
        guess = (np.concatenate(asked) @ np.stack(protos).T).argmax(axis=1)
        right.append(float(np.mean(guess == np.asarray(truth))))
    return round(float(np.mean(right)), 4)


def evaluate(
    folder: Path, sets: dict[str, tuple[str, ...]], work: Path, repetitions: int, seed: int
) -> dict[str, Any]:
    """Evaluate each named set of held-out words; return the calibration chosen and the figures reported."""
    started = time.perf_counter()
    trials = {name: trial(folder, words, work / folder.name / name) for name, words in sets.items()}
    calibration = choose_calibration(list(trials.values()), seed)
    figures: dict[str, Any] = {}
    for name, found in trials.items():
        place = work / folder.name / name
        figures[name] = {
            "words": list(found.words),
            "evaluation_model": "the folder itself (it never saw these words)"
            if evaluation_model(folder, found.words, place) == folder
            else f"the folder's recipe trained without these words ({place.as_posix()})",
            "by_shots": {str(k): judge(found, k, 1, calibration, repetitions, seed + k) for k in SHOTS},
            "levers_n_way": levers(folder, found.words, place, seed),
            "ranking_levers": ranking_levers(found, seed),
        }
    return {
        "calibration": calibration.as_json(),
        "sets": figures,
        "repetitions": repetitions,
        "queries_per_word": QUERIES,
        "pool_per_word": POOL,
        "targets": {
            "n_way_5": 0.92,
            "n_way_10": 0.94,
            "animals_10": 0.80,
            "recall_10": 0.80,
            "claimed": MAX_CLAIMED,
        },
        "seconds": round(time.perf_counter() - started, 1),
        "command": f"python -m trainer.fewshot_eval {folder.as_posix()} --sets {','.join(sets)} --write",
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the few-shot evaluation of a model folder; with --write, record it and its calibration."""
    from realtime.model.ranking import ModelError
    from trainer.live_eval import read_metrics
    from trainer.pipeline import write_outputs

    parser = argparse.ArgumentParser(
        prog="python -m trainer.fewshot_eval", description=__doc__.splitlines()[0]
    )
    parser.add_argument("folder", type=Path, help="a model folder with an embedding, e.g. models/doodles23")
    parser.add_argument(
        "--sets", default=",".join(HELD_OUT), help=f"held-out sets (default {','.join(HELD_OUT)})"
    )
    parser.add_argument(
        "--repetitions", type=int, default=REPETITIONS, help=f"draws per figure (default {REPETITIONS})"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--work", type=Path, default=Path(".cache/fewshot"), help="where evaluation models go"
    )
    parser.add_argument(
        "--write", action="store_true", help="record the figures and calibration in the folder"
    )
    args = parser.parse_args(argv)
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    unknown = [s for s in sets if s not in HELD_OUT]
    if not sets or unknown or args.repetitions < 1:
        parser.error(f"--sets must name some of {', '.join(HELD_OUT)}; --repetitions must be positive")
    try:
        figures = evaluate(
            args.folder, {s: HELD_OUT[s] for s in sets}, args.work, args.repetitions, args.seed
        )
        if args.write:
            metrics = read_metrics(args.folder)
            metrics["fewshot"] = figures
            write_outputs(metrics, args.folder)
    except (DataError, ModelError, OSError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
