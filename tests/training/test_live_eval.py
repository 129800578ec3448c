"""The live evaluation: replays as the page sends them, verdicts per drawing, the split it relies on, and
the trainer's drawings in progress; end to end on the tiny dataset (train, choose the rule, cross-validate).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.page import page_batches
from realtime.core.preprocess import rasterize_quickdraw, rasterize_strokes
from realtime.model.files import CALIBRATION_FILE
from realtime.model.recognizer import Recognizer
from realtime.model.sureness import SureRule
from tests.support.tiny_data import write_tiny_data
from trainer.__main__ import main as train
from trainer.crossval import fold_command
from trainer.crossval import main as crossval
from trainer.data import SplitSpec, split_indices
from trainer.live_eval import Replayed, choose_rule, halves, judge, sure_labels, unseen_strokes
from trainer.live_eval import main as live_eval
from trainer.partials import bitmap_partial, stroke_prefix
from trainer.replay import PAUSE_MS, replay, timed_strokes

ZIGZAG = [
    [[10, 60, 110, 160, 210], [40, 215, 40, 215, 40], [0, 90, 180, 270, 360]],
    [[10, 210], [128, 128], [900, 1300]],
]


def test_a_replay_sends_the_pages_messages_and_ends_on_the_whole_drawing() -> None:
    strokes = timed_strokes(ZIGZAG)
    states = replay(strokes)
    assert states.events == [step.event for step in page_batches(strokes)]
    assert states.events.count("stroke_end") == 2 and len(states) > 4
    final = rasterize_quickdraw([[xs, ys] for xs, ys, _ in ZIGZAG])
    assert np.abs(states.bitmaps[-1] - final).max() < 0.05  # the server's incremental rasterizer, in parity
    assert states.bitmaps[0] is None or states.bitmaps[0].sum() < final.sum()  # it grows


def test_a_drawing_without_times_is_drawn_at_a_persons_pace() -> None:
    strokes = timed_strokes([[[0, 100, 200], [0, 0, 0]], [[0, 200], [50, 50]]])
    times = [[t for _, _, t in stroke] for stroke in strokes]
    assert times[0][0] == 0 and times[0][1] < times[0][2]
    assert times[1][0] == pytest.approx(times[0][-1] + PAUSE_MS)


def run(rows: list[list[float]], truth: str = "a", own: bool = True) -> Replayed:
    """A replayed drawing whose states the model answered with `rows` (NaN: blank)."""
    return Replayed(truth, own, np.asarray(rows, np.float32))


LABELS = ["a", "b", "_other"]


def test_a_wrong_class_for_a_moment_is_a_false_recognition_unless_the_rule_waits_for_it_to_hold() -> None:
    replayed = run([[np.nan] * 3, [0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.8, 0.1, 0.1], [0.9, 0.05, 0.05]])
    hasty = judge(replayed, LABELS, SureRule(0.7, 1, other=2))
    assert hasty["wrong_sure"] and hasty["right_sure"] and hasty["share"] == pytest.approx(4 / 5)
    steady = judge(replayed, LABELS, SureRule(0.7, 2, other=2))
    assert not steady["wrong_sure"] and steady["right_sure"] and steady["share"] == 1.0
    assert sure_labels(replayed.probs, SureRule(0.7, 2, other=2)) == [None, None, None, None, 0]
    assert steady["final_right"]


def test_the_finished_drawings_guess_leaves_out_something_else() -> None:
    replayed = run([[0.3, 0.2, 0.5]])
    verdict = judge(replayed, LABELS, SureRule(0.7, 1, other=2))
    assert verdict["final_right"] and not verdict["sure"]
    assert judge(run([[0.1, 0.8, 0.1]], "b", own=False), LABELS, SureRule(0.7, 1, other=2))["sure"]


def test_the_rule_chosen_meets_the_targets_with_the_most_drawings_sure_and_right() -> None:
    early_spike = [[0.02, 0.96, 0.02], [0.76, 0.2, 0.04], [0.9, 0.05, 0.05], [0.95, 0.03, 0.02]]
    replays = [run(early_spike) for _ in range(10)] + [run([[0.05, 0.05, 0.9]], "square", own=False)]
    rule, levers = choose_rule(replays, LABELS, other=2)
    # Only waiting filters a spike of one message; then the earliest, with the highest threshold.
    assert (rule.steady, rule.threshold) == (2, 0.75)
    assert len(levers) > 10 and all(
        {"threshold", "steady", "wrong_sure", "other_sure"} <= set(x) for x in levers
    )
    first, second = halves([run([[1, 0, 0]], truth) for truth in "aabbb"])
    assert [r.truth for r in first] == ["a", "b", "b"] and [r.truth for r in second] == ["a", "b"]


def test_the_split_can_keep_stroke_drawings_for_replay_and_fold_the_few_shot_classes() -> None:
    labels = np.array([0] * 40 + [1] * 19)
    groups = np.array([f"a{i}" for i in range(40)] + [f"b{i}" for i in range(19)])
    sources = np.array(["bitmap"] * 30 + ["strokes"] * 10 + ["strokes"] * 19)
    plain = split_indices(labels, groups, SplitSpec(), None, sources)
    for part, before in zip(plain, split_indices(labels, groups, SplitSpec()), strict=True):
        assert part.tolist() == before.tolist()  # unchanged by default
    _, _, test = split_indices(labels, groups, SplitSpec(strokes_to_test=True), None, sources)
    assert {f"a{i}" for i in range(30, 40)} <= set(groups[test])
    held = []
    for fold in range(5):
        train, val, test = split_indices(labels, groups, SplitSpec(fold=fold), None, sources)
        few = test[labels[test] == 1]
        assert len(few) in (3, 4) and not set(few) & (set(train) | set(val))
        held += groups[few].tolist()
    assert sorted(held) == sorted(groups[labels == 1].tolist())  # each drawing in exactly one fold
    with pytest.raises(ValueError, match="sources"):
        split_indices(labels, groups, SplitSpec(fold=0))


def test_a_partial_state_keeps_the_first_strokes_and_part_of_the_next() -> None:
    strokes = [np.zeros((4, 2)), np.ones((6, 2))]
    assert [len(s) for s in stroke_prefix(strokes, 0.7)] == [4, 3]
    assert [len(s) for s in stroke_prefix(strokes, 0.1)] == [2]
    full = rasterize_strokes([np.array([[0.0, 0], [255, 0], [255, 255], [0, 255], [0, 0]])])
    cut = bitmap_partial(full, np.random.default_rng(1))
    assert cut is not None and cut.shape == (28, 28) and 0 < cut.sum() < full.sum()


def test_fold_runs_repeat_the_recorded_recipe_with_their_own_folder_and_budget(tmp_path: Path) -> None:
    args = fold_command(
        "--out models/x --arch small --compare models/x --epochs 40 --partials 0.3",
        tmp_path,
        1,
        5,
        ["--epochs", "5"],
    )
    assert args == [
        "--arch",
        "small",
        "--partials",
        "0.3",
        "--out",
        str(tmp_path),
        "--fold",
        "1/5",
        "--baseline",
        "none",
        "--epochs",
        "5",
    ]


@pytest.fixture(scope="module")
def live_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model trained on drawings in progress, zigzag strokes kept for replay, its rule chosen live."""
    bitmaps, simplified, raw = write_tiny_data(tmp_path_factory.mktemp("tiny"))
    out = tmp_path_factory.mktemp("model") / "tiny3"
    argv = ["--out", str(out), "--classes", "square,line,zigzag", "--bitmaps", str(bitmaps)]
    argv += ["--strokes", str(simplified), "--strokes", str(raw), "--arch", "tiny", "--epochs", "1"]
    argv += ["--baseline", "none", "--partials", "0.5", "--doodles-per-kind", "5"]
    assert train(argv) == 0
    assert live_eval([str(out), "--choose", "--write"]) == 0
    return out


def test_a_model_trained_on_drawings_in_progress_records_them(live_model: Path) -> None:
    metrics = json.loads((live_model / "metrics.json").read_text())
    counts = metrics["data"]["counts"]
    assert metrics["augmentation"]["partials"] == 0.5
    assert (
        counts["square"]["partial"] > 0
        and counts["zigzag"]["partial"] > 0
        and counts["_other"]["partial"] > 0
    )


def test_the_chosen_rule_is_served_and_its_figures_are_on_the_card(live_model: Path) -> None:
    metrics = json.loads((live_model / "metrics.json").read_text())
    live, calibration = metrics["live"], json.loads((live_model / CALIBRATION_FILE).read_text())
    model = Recognizer(live_model)
    assert (model.sure_threshold, model.sure_steady) == (live["rule"]["threshold"], live["rule"]["steady"])
    assert calibration["sure_steady"] == metrics["rejection"]["steady"] == live["rule"]["steady"]
    assert live["chosen"]["levers"] and live["other_things"]["all"]["n"] == 7 * 30
    assert 0 < live["all"]["n"] < 12  # half of the unseen zigzags: the other half chose the rule
    card = (live_model / "README.md").read_text()
    assert "## Live: state by state, as people draw" in card and f"p ≥ {live['rule']['threshold']}" in card


def test_cross_validation_judges_every_few_shot_drawing_once(live_model: Path, tmp_path: Path) -> None:
    assert crossval([str(live_model), "--folds", "3", "--epochs", "1", "--work", str(tmp_path)]) == 0
    cv = json.loads((live_model / "metrics.json").read_text())["live"]["crossval"]
    assert cv["folds"] == 3 and list(cv["by_class"]) == ["zigzag"]
    assert (
        cv["by_class"]["zigzag"]["n"] == 12
    )  # every zigzag drawing, each judged by the fold that held it out
    fold = json.loads((tmp_path / "tiny3" / "fold-2" / "metrics.json").read_text())
    assert fold["split"]["fold"] == 2 and fold["command"].endswith("--fold 2/3 --baseline none --epochs 1")
    assert "Cross-validation of the few-shot classes" in (live_model / "README.md").read_text()


def test_unseen_drawings_are_those_the_split_kept_out_of_training(live_model: Path) -> None:
    from trainer.live_eval import model_split

    dataset, train_idx, _ = model_split(live_model)
    unseen = unseen_strokes(dataset, train_idx, ["zigzag"])
    trained = [dataset.keys[i] for i in train_idx if dataset.sources[i] == "strokes"]
    assert unseen and len(unseen) + len(trained) == 12
    assert all(
        len(stroke) == 3 for _, drawing in unseen for stroke in drawing
    )  # the raw drawings, with times
