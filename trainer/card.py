"""Write a model card (README.md) from a run's metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from realtime.model.files import (
    CALIBRATION_FILE,
    CONFUSION_FILE,
    KERAS_FILE,
    LABELS_FILE,
    METRICS_FILE,
    TFLITE_FILE,
)

DATASET_URL = "https://github.com/googlecreativelab/quickdraw-dataset"
LICENCE_URL = "https://creativecommons.org/licenses/by/4.0/"
CREDIT = (
    f"Training data: the [Quick, Draw! dataset]({DATASET_URL}), Google, "
    f"licensed [CC BY 4.0]({LICENCE_URL}). The drawings were made by players of the Quick, Draw! game."
)
AUGMENTATION = (
    "mirrored half the time, random rotation ±15°, per-axis scale 0.8–1.2, shear ±0.2, per-stroke shifts "
    "and per-point jitter, now and then a dropped stroke, all applied to the strokes before rendering"
)


def _pct(value: float | None) -> str:
    """Format a share as a percentage, or a dash."""
    return "–" if value is None else f"{100 * value:.1f}%"


def few_shot_classes(metrics: dict[str, Any]) -> list[str]:
    """Return the classes trained mostly from augmented renders of a handful of stroke drawings."""
    return [
        name
        for name, c in metrics["data"]["counts"].items()
        if c["augmented"] > c["train"] and name in metrics["test"]["all"]["per_class"]
    ]


def _figures_table(metrics: dict[str, Any]) -> list[str]:
    """Return the headline figures of the model and its baseline, side by side."""
    runs = [(metrics["arch"], metrics["test"])]
    if metrics.get("baseline"):
        runs.append((metrics["baseline"]["arch"] + " (baseline)", metrics["baseline"]["test"]))
    if metrics.get("previous"):
        runs.append(
            (f"{metrics['previous']['arch'] or 'previous'} (previous model)", metrics["previous"]["test"])
        )
    lines = [
        "| held-out test set | " + " | ".join(f"`{arch}`" for arch, _ in runs) + " |",
        "|---|" + "---|" * len(runs),
    ]
    parts = [("all test drawings", "all"), ("official bitmaps (classes that have them)", "bitmap")]
    parts.append(("stroke drawings rendered by `realtime.core.preprocess`", "strokes"))
    for title, key in parts:
        if key not in metrics["test"]:
            continue
        n = metrics["test"][key]["n"]
        for k in ("top1", "top3"):
            cells = [_pct(test[key][k]) for _, test in runs]
            lines.append(f"| {title} (n={n}), {k.replace('top', 'top-')} | " + " | ".join(cells) + " |")
    for name in few_shot_classes(metrics):
        support = metrics["test"]["all"]["per_class"][name]["support"]
        cells = [_pct(test["all"]["per_class"][name]["recall"]) for _, test in runs]
        lines.append(f"| {name} recall (n={support} held-out drawings) | " + " | ".join(cells) + " |")
    return lines


def _per_class_table(metrics: dict[str, Any]) -> list[str]:
    """Return per-class data counts and test precision/recall of the model and the baseline."""
    base = metrics["baseline"]["test"]["all"]["per_class"] if metrics.get("baseline") else None
    header = "| class | bitmaps | stroke drawings | train / val / test | augmented | precision | recall |"
    lines = [header + (" baseline precision | baseline recall |" if base else "")]
    lines.append("|---|---|---|---|---|---|---|" + ("---|---|" if base else ""))
    for name, c in metrics["data"]["counts"].items():
        if name not in metrics["test"]["all"]["per_class"]:
            continue  # "something else": its figures are in the section on being sure
        mine = metrics["test"]["all"]["per_class"][name]
        row = (
            f"| {name} | {c['bitmap']} | {c['strokes']} | {c['train']} / {c['val']} / {c['test']} "
            f"| {c['augmented']} | {_pct(mine['precision'])} | {_pct(mine['recall'])} |"
        )
        if base:
            row += f" {_pct(base[name]['precision'])} | {_pct(base[name]['recall'])} |"
        lines.append(row)
    return lines


def _data_section(metrics: dict[str, Any]) -> list[str]:
    """Return where the data came from and how it was used."""
    data = metrics["data"]
    strokes = ", ".join(f"`{d}`" for d in data["stroke_dirs"]) or "none"
    lines = [
        "## Data",
        "",
        f"Bitmaps: `{data['bitmap_dir']}` (official `numpy_bitmap` rows, 28×28, white ink on black). "
        f"Stroke drawings: {strokes} (Quick, Draw! ndjson, simplified or raw), rendered to 28×28 with "
        "`realtime.core.preprocess.rasterize_quickdraw`, the server's own code path; a drawing found in "
        "several stroke files (same `key_id`) is used once.",
        "",
        "A stroke drawing whose rendering is within a mean pixel difference of "
        f"{data['same_drawing_distance']} of a bitmap row is the same drawing: it joins that row's "
        "group, and the split keeps each group whole, so no drawing is trained on in one form and tested "
        "in another.",
    ]
    collected = data.get("collected")
    if collected:
        counts = ", ".join(f"{name} {n}" for name, n in collected["per_class"].items())
        lines += [
            "",
            f"Collected drawings (`{collected['dir']}`, kept by a server with COLLECT_DRAWINGS=1 and "
            f"exported by `python -m trainer collected export`), per class: {counts}.",
        ]
    if data["max_per_class"]:
        lines.append(f"At most {data['max_per_class']} drawings per class and file were used.")
    lines.append("")
    few = few_shot_classes(metrics)
    if few:
        lines += [
            f"**Few-shot classes: {', '.join(few)}.** No bitmaps of them exist in this data, only the few "
            "stroke drawings counted in the table above. The model learns them from augmented renders "
            f"({AUGMENTATION}) of their training drawings only: held-out drawings are never augmented or "
            "trained on. Their test figures rest on a handful of drawings and are far less certain than "
            "the others', and their precision is low: other drawings are now and then taken for them. "
            "With internet access, `python -m trainer --download` fetches the official files "
            "(over 100,000 drawings per class).",
            "",
        ]
    return lines


def _fitting(training: dict[str, Any]) -> str:
    """Return the epochs run, the best one, the fitting time and whether the cap stopped it (per network)."""
    nets = training.get("members") or [training]
    runs = " / ".join(str(net["epochs_run"]) for net in nets)
    best = " / ".join(str(net["best_epoch"]) for net in nets)
    each = f" for each of the {len(nets)} networks" if len(nets) > 1 else ""
    capped = any(net["best_epoch"] == net["epochs_run"] == training["epochs_max"] for net in nets)
    return (
        f"{runs} of at most {training['epochs_max']} epochs{each}, best epoch {best}, "
        f"{training['wall_seconds']:.0f} s of fitting"
        + (
            " (the epoch cap, set to keep the run short, came while the validation loss was still falling)"
            if capped
            else ""
        )
    )


def _training_section(metrics: dict[str, Any]) -> list[str]:
    """Return how the data was split and the model trained."""
    training, split = metrics["training"], metrics["split"]
    lines = [
        "## Split and training",
        "",
        f"Split: `{split['function']}`: {split['method']}. Seed {split['seed']}; test "
        f"{split['test_fraction']:.0%} of each class (at least {split['min_test']}), validation "
        f"{split['val_fraction']:.0%} (at least {split['min_val']}). The same data and seed give the same "
        f"split; the project's tests re-create it and re-check `{TFLITE_FILE}` on it. Pixels are scaled "
        "to [0, 1].",
        "",
        f"Architecture `{metrics['arch']}` ({metrics['parameters']:,} parameters): "
        f"{metrics['architecture']}.",
        "",
        f"Imbalance: classes with fewer training drawings than half the median class are filled up to that "
        f"level with augmented renders of their stroke drawings; every other class with stroke drawings gets "
        f"{metrics['augmentation']['style_copies']} augmented renders per drawing, so the renderer's look is "
        f"no cue for a few-shot class. Loss weights: {metrics['augmentation']['class_weights']}."
        + ("" if few_shot_classes(metrics) else " No class is few-shot in this model."),
        "",
        (
            "Every epoch, training images are mirrored left-right at random (drawings face either way)."
            if metrics["augmentation"]["mirror"]
            else "Training images are not mirrored."
        )
        + (
            " They are also turned (up to {rotation:.0%} of a full turn), scaled (±{zoom:.0%}) and shifted "
            "(±{translation:.0%} of the side) at random: players do not centre their drawings as the "
            "dataset's normalisation does for strokes.".format(**metrics["augmentation"]["affine"])
            if metrics["augmentation"].get("affine")
            else ""
        )
        + (
            f" Label smoothing {metrics['augmentation']['label_smoothing']}."
            if metrics["augmentation"].get("label_smoothing")
            else ""
        ),
        "",
        "Training: Adam (learning rate 1e-3, "
        + (
            "annealed to 1e-5 over the epochs on a cosine"
            if training.get("schedule") == "cosine"
            else "halved when the validation loss stalls"
        )
        + f"), batch "
        f"{training['batch_size']}, early stopping on validation loss (patience {training['patience']}, best "
        f"weights restored): {_fitting(training)}. The whole run (data, "
        "augmentation, this model and the baseline, evaluation, export) took "
        f"{training['total_seconds']:.0f} s on {training['cpu_count']} CPU cores (a machine shared with "
        "other work).",
        "",
    ]
    if metrics.get("previous"):
        previous = metrics["previous"]
        about = (
            f"`{previous['arch']}`, {previous['parameters']:,} parameters" if previous["parameters"] else ""
        )
        lines += [
            f"Previous model: `{previous['folder']}` as it was before this run"
            + (f" ({about})" if about else "")
            + ", scored on the same test drawings.",
            "",
        ]
    if metrics.get("baseline"):
        base = metrics["baseline"]
        trained = "One network, trained" if metrics.get("members", 1) > 1 else "Trained"
        lines += [
            f"Baseline `{base['arch']}` ({base['parameters']:,} parameters): {base['architecture']}. "
            f"{trained} the same way on the same data and split ({base['training']['epochs_run']} epochs, "
            f"{base['training']['wall_seconds']:.0f} s); not exported, its figures stand beside this "
            "model's.",
            "",
        ]
    return lines


def _own_classes(metrics: dict[str, Any]) -> list[str]:
    """Return the classes the model guesses (all outputs but "something else")."""
    other = metrics.get("rejection", {}).get("other_label")
    return [name for name in metrics["classes"] if name != other]


def _rates(rows: dict[str, dict[str, Any]]) -> list[str]:
    """Return table rows `| name (n) | sure |`."""
    return [f"| {name} (n={r['n']}) | {_pct(r['sure'])} |" for name, r in rows.items()]


def _calibration_section(metrics: dict[str, Any]) -> list[str]:
    """Return how the probabilities were calibrated, and how well."""
    c = metrics["calibration"]
    return [
        "## Calibration",
        "",
        f"The probabilities are calibrated: {c['method']} (temperature {c['temperature']}). On the held-out "
        f'test split (every output, "something else" included), the expected calibration error over '
        f"{c['ece_bins']} bins of the top probability went from {c['test_ece_before']:.4f} to "
        f"{c['test_ece_after']:.4f}, and the log loss from {c['test_log_loss_before']:.4f} to "
        f"{c['test_log_loss_after']:.4f}."
        + (
            f" On its classes' drawings alone, over its classes' outputs (what a person is shown), the ECE "
            f"is {c['test_ece_own_classes']:.4f}."
            if "test_ece_own_classes" in c
            else ""
        )
        + (
            ' Its top output ("something else" included) at 80 % is right about 80 % of the time.'
            if c["test_ece_after"] <= 0.03
            else ""
        ),
        "",
    ]


def _rejection_section(metrics: dict[str, Any]) -> list[str]:
    """Return when the model says it is sure, and how often it is sure of what."""
    r = metrics["rejection"]
    negatives = metrics["data"].get("negatives")
    lines = ["## Sure, or not sure", ""]
    if negatives:
        counts = metrics["data"]["counts"][negatives["label"]]
        lines += [
            f'The model has one more output, `{negatives["label"]}` ("something else"), trained on drawings '
            f"of none of its classes: up to {negatives['per_class']} official bitmaps each of "
            f"{', '.join(negatives['classes']) or 'no other class'}, and {negatives['doodles_per_kind']} "
            f"synthetic doodles of each kind ({', '.join(negatives['doodles'])}; words in OpenCV's stroke "
            "fonts, read through the image path), "
            f"{counts['train']} / {counts['val']} / {counts['test']} for training / validation / test. "
            "It is never shown as a guess.",
            "",
        ]
    steady = r.get("steady", 1)
    held = (
        f" While a drawing grows, the class must also have held for {steady} messages in a row "
        "(see the live figures below)."
        if steady > 1
        else ""
    )
    lines += [
        f"Rule: {r['rule']} (threshold {r['threshold']}, chosen to be {r['threshold_chosen_for']}).{held} "
        'The server sends it as `sure` with every prediction; the page says "Not sure yet…" otherwise. '
        "The table below judges finished drawings, each on its own.",
        "",
        "| drawings | sure |",
        "|---|---|",
        f"| the model's classes, held-out test split (n={r['own_classes_test']['n']}) | "
        f"{_pct(r['own_classes_test']['sure'])} |",
        *_rates({f"… {k}": v for k, v in r["own_classes_test_by_source"].items()}),
    ]
    if r.get("trained_kinds_test"):
        lines += _rates({f"held-out {k} (kind trained on)": v for k, v in r["trained_kinds_test"].items()})
    lines += _rates({f"fresh {k} (new seed)": v for k, v in r["fresh_doodles"].items()})
    lines += _rates({f"{k} (class never trained on)": v for k, v in r["held_out_classes"].items()})
    lines += [
        f"| **other things: fresh doodles, classes never trained on** | **{_pct(r['other_things_sure'])}** |",
        "",
    ]
    if r.get("right_when_sure") is not None:
        lines += [
            f"Of its classes' test drawings, its top guess is right for {_pct(r['right_when_sure'])} of "
            f"those it is sure of, and for {_pct(r.get('right_when_not_sure'))} of the others."
            + (
                " The threshold is at its floor: no higher one kept the share of drawings it is sure of."
                if r.get("threshold_at_floor")
                else ""
            ),
            "",
        ]
    lines += [
        "Limits: the doodles the model was checked on come from the same generator as those it was trained "
        "on (with another seed), not from people; a person's square or word may look otherwise.",
        "",
    ]
    return lines


def _rechosen(metrics: dict[str, Any]) -> list[str]:
    """Return the command that chose the threshold of being sure again after training, if one did."""
    rechosen = (metrics.get("rejection") or {}).get("rechosen")
    if not rechosen:
        return []
    was = f"was {rechosen['threshold_before']}, {rechosen['chosen_for_before']}"
    return [f"{rechosen['command']}   # the threshold of being sure ({was})"]


LIVE_COLUMNS = (
    "| drawings | n | a state sure of a wrong class | sure and right before the end | median share of the "
    "drawing it took | final top-1 |"
)
LEVER_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
LEVER_STEADY = (1, 3, 6, 10)


def _live_row(title: str, f: dict[str, Any]) -> str:
    """Return one row of the live figures."""
    if not f.get("n"):
        return f"| {title} | 0 | – | – | – | – |"
    return (
        f"| {title} | {f['n']} | {_pct(f['wrong_sure'])} | {_pct(f['right_sure'])} | "
        f"{_pct(f['median_share'])} | {_pct(f['final_top1'])} |"
    )


def live_section(live: dict[str, Any]) -> list[str]:
    """Return the live figures: drawings replayed state by state, the rule's levers, cross-validation."""
    rule = live["rule"]
    lines = [
        "## Live: state by state, as people draw",
        "",
        f"`{live['command']}` replays every stroke drawing of the model's classes that it did not train on: "
        f"{live['replay']}. The rule of being sure is the server's (realtime.model.sureness): the top output "
        f"is a class at p ≥ {rule['threshold']}, and the same class has been so for {rule['steady']} "
        "messages in a row.",
        "",
        LIVE_COLUMNS,
        "|---|---|---|---|---|---|",
        *[_live_row(name, f) for name, f in live["by_class"].items()],
        _live_row("**all**", live["all"]),
        "",
        "Drawings of none of the classes, replayed the same way at a person's pace (synthetic doodles of a "
        "seed no training used; written words traced as lines from OpenCV's stroke fonts):",
        "",
        "| drawings | n | any state sure |",
        "|---|---|---|",
        *[
            f"| {kind} | {f['n']} | {_pct(f['sure'])} |"
            for kind, f in live["other_things"].items()
            if kind != "all"
        ],
        f"| **all** | {live['other_things']['all']['n']} | **{_pct(live['other_things']['all']['sure'])}** |",
        "",
    ]
    if live.get("chosen"):
        lines += [
            f"The rule was chosen on {live['chosen']['on']}: the most drawings sure and right among the "
            "rules with at most 3 % of drawings sure of a wrong class and 5 % of other things sure, or "
            "(when none has) the closest to those targets. The levers, on those drawings:",
            "",
            "| threshold | steady messages | sure of a wrong class | sure and right | median share | "
            "other things sure |",
            "|---|---|---|---|---|---|",
        ]
        for lever in live["chosen"]["levers"]:
            chosen = lever["threshold"] == rule["threshold"] and lever["steady"] == rule["steady"]
            if chosen or (lever["threshold"] in LEVER_THRESHOLDS and lever["steady"] in LEVER_STEADY):
                mark = " (chosen)" if chosen else ""
                lines.append(
                    f"| {lever['threshold']}{mark} | {lever['steady']} | {_pct(lever['wrong_sure'])} | "
                    f"{_pct(lever['right_sure'])} | {_pct(lever['median_share'])} | "
                    f"{_pct(lever['other_sure'])} |"
                )
        lines.append("")
    cv = live.get("crossval")
    if cv:
        budget = " ".join(cv["budget"]) or "the recorded recipe's"
        lines += [
            f"**Cross-validation of the few-shot classes** (`{cv['command']}`): the recipe trained "
            f"{cv['folds']} times (budget: {budget}), each time with one part of these classes' drawings "
            "held out, so that every drawing is judged by a model that never saw it, with the rule above. "
            "Precision: of the finished drawings a fold model names this class, the share that are; the "
            f"other classes' {cv['other_drawings_per_fold']} unseen drawings are judged by every fold, "
            "their false claims averaged over the folds.",
            "",
            LIVE_COLUMNS + " precision |",
            "|---|---|---|---|---|---|---|",
            *[_live_row(name, f) + f" {_pct(f.get('precision'))} |" for name, f in cv["by_class"].items()],
            _live_row("**all**", cv["all"]) + " |",
            "",
        ]
    return lines


def _live_commands(metrics: dict[str, Any]) -> list[str]:
    """Return the commands that evaluated the model live (and chose its rule), cross-validated it, gave it
    an embedding and evaluated taught words."""
    live = metrics.get("live") or {}
    out = [live["command"]] if live.get("command") else []
    if live.get("crossval"):
        out.append(live["crossval"]["command"])
    for key in ("embedding", "fewshot"):
        if metrics.get(key):
            out.append(metrics[key]["command"])
    return out


FEWSHOT_TARGETS = {"unlike": {"5": 0.92, "10": 0.94}, "animals": {"10": 0.80}}


def taught_section(metrics: dict[str, Any]) -> list[str]:
    """Return the embedding and the few-shot figures: words taught from k drawings, ranked with the rest."""
    embedding = metrics["embedding"]
    lines = [
        "## Taught words: the embedding and the few-shot evaluation",
        "",
        f"`{TFLITE_FILE}` has a second output, `embedding`: {embedding['reads']} "
        f"({embedding['centred_on']}), "
        "from the same interpreter call as the probabilities (`python -m trainer.embedding`). A word taught "
        "from a few drawings is the mean of their embeddings; the server ranks taught words with the trained "
        "ones (realtime.model.taught).",
        "",
    ]
    fewshot = metrics.get("fewshot")
    if not fewshot:
        return [*lines, "No few-shot evaluation yet: `python -m trainer.fewshot_eval` writes it here.", ""]
    calibration = fewshot["calibration"]
    lines += [
        f"`{fewshot['command']}`: for each set of held-out words, a model that never saw them; each word "
        f"taught from k drawings drawn at random ({fewshot['repetitions']} times), judged on "
        f"{fewshot['queries_per_word']} other drawings of it each time. n-way: among the taught words alone; "
        "recall: top guess among all the trained words too; trained top-1: the trained words' own test "
        "drawings with the taught words among the guesses (the classifier alone in brackets); claimed: a "
        "taught word sure of a trained word's drawing, of a shape. The ranking (scale "
        f"{calibration['scale']:g}, offset {calibration['offset']:g}) and the least similarity for sure "
        f"({calibration['min_similarity']:g}) were chosen on one half of each word's drawings; the figures "
        "are the other half's.",
        "",
        "| held-out words | k | n-way | recall among all | trained top-1 | claimed: trained | "
        "claimed: shapes |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, found in fewshot["sets"].items():
        for k, f in found["by_shots"].items():
            target = FEWSHOT_TARGETS.get(name, {}).get(k)
            aim = f" (target ≥ {target:.0%})" if target else ""
            lines.append(
                f"| {name}: {', '.join(found['words'])} | {k} | {_pct(f['n_way'])}{aim} | "
                f"{_pct(f['recall'])} | "
                f"{_pct(f['trained_top1'])} ({_pct(f['classifier_top1'])}) | {_pct(f['claimed_trained'])} | "
                f"{_pct(f['claimed_shapes'])} |"
            )
    lines += [
        "",
        "Levers, n-way accuracy of other embeddings of the same evaluation networks: the last hidden layer "
        "(normalised), and a projection of the flattened features trained with a metric-learning loss "
        "(normalised softmax over one proxy per trained word):",
        "",
        "| held-out words | k | shipped: flattened, centred | last hidden layer | metric-learning head |",
        "|---|---|---|---|---|",
    ]
    for name, found in fewshot["sets"].items():
        levers = found["levers_n_way"]
        for k, f in found["by_shots"].items():
            lines.append(
                f"| {name} | {k} | {_pct(f['n_way'])} | {_pct(levers['hidden'][k])} | "
                f"{_pct(levers['metric_head'][k])} |"
            )
    rankings = [(n, f["ranking_levers"]) for n, f in fewshot["sets"].items() if f.get("ranking_levers")]
    if rankings:
        lines += [
            "",
            "Levers of the ranking, with 10 examples (report halves): the model's log-probabilities and "
            "scale × similarity + offset per taught word (offset: the shipped way), the same with the "
            'log-probabilities halved (temperature), or taught words sharing the "something else" '
            "probability (share):",
            "",
            "| held-out words | ranking | scale | offset | recall among all | trained top-1 |",
            "|---|---|---|---|---|---|",
            *[
                f"| {name} | {r['ranking']} | {r['scale']:g} | {r['offset']:g} | {_pct(r['recall'])} | "
                f"{_pct(r['trained_top1'])} |"
                for name, rows in rankings
                for r in rows
            ],
        ]
    lines += [
        "",
        "Evaluation models: "
        + "; ".join(f"{n}: {f['evaluation_model']}" for n, f in fewshot["sets"].items())
        + ".",
        "",
    ]
    return lines


def write_model_card(metrics: dict[str, Any], path: Path) -> None:
    """Write the model card for one trained model."""
    export, latency = metrics["export"], metrics["latency"]
    lines = [
        f"# Model card: `{metrics['model']}`",
        "",
        f"A small CNN that recognises {len(_own_classes(metrics))} Quick, Draw! classes in a 28×28 drawing: "
        + ", ".join(_own_classes(metrics))
        + f". Trained by this project's `python -m trainer`; served by `realtime` from `{TFLITE_FILE}`.",
        "",
        "## Files",
        "",
        f"- `{KERAS_FILE}`: the source of truth (Keras 3, no Lambda layers; load with `safe_mode=True`).",
        f"- `{TFLITE_FILE}`: what the server runs with `ai-edge-litert`. Input float32 `[batch, 28, 28, 1]` "
        "in [0, 1] (white ink on black: the official bitmap / 255), batch resizable; output float32 "
        f"`[batch, {len(metrics['classes'])}]` softmax. Checked against `{KERAS_FILE}` on "
        f"{export['checked_samples']} test images before writing: max abs difference "
        f"{export['max_abs_diff']:.1e}.",
        f'- `{LABELS_FILE}`: class names in output order. `{CALIBRATION_FILE}`: the "something else" '
        "output and the threshold of being sure (the temperature is already in the weights). "
        f"`{METRICS_FILE}`: every figure here and more. `{CONFUSION_FILE}`: the test confusion matrix.",
        "",
        "## Figures on the held-out test split",
        "",
        *_figures_table(metrics),
        "",
        f"Size: `{TFLITE_FILE}` {export['tflite_bytes'] / 1024:.0f} KiB, `{KERAS_FILE}` "
        f"{export['keras_bytes'] / 1024:.0f} KiB. One-image inference with `ai-edge-litert` "
        f"(set input, invoke, read output): median {latency['median_us']:.0f} µs, "
        f"p90 {latency['p90_us']:.0f} µs, on the training machine (2 CPU cores shared with other work: "
        "the figure rises and falls with their load; `python -m trainer.latency` measures it again).",
        "",
        "Per class (data counts are drawings before augmentation):",
        "",
        *_per_class_table(metrics),
        "",
        *(_calibration_section(metrics) if metrics.get("calibration") else []),
        *(_rejection_section(metrics) if metrics.get("rejection") else []),
        *(live_section(metrics["live"]) if metrics.get("live", {}).get("rule") else []),
        *(taught_section(metrics) if metrics.get("embedding") else []),
        *_data_section(metrics),
        *_training_section(metrics),
        "Versions: " + ", ".join(f"{k} {v}" for k, v in metrics["versions"].items()) + ".",
        "",
        "## Reproduce",
        "",
        "From the repository root, with `requirements/train.txt` installed:",
        "",
        "```",
        f"python -m trainer {metrics['command']}".rstrip(),
        *_rechosen(metrics),
        *_live_commands(metrics),
        "```",
        "",
        "## Credit and licence",
        "",
        CREDIT,
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
