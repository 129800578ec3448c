"""Trainer: a 1-epoch run on a tiny dataset, reproducible splits, clear errors on bad data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from realtime.core.preprocess import rasterize_quickdraw
from realtime.model.files import CALIBRATION_FILE
from realtime.model.litert import LiteRTRunner
from tests.support.tiny_data import shape_drawing, write_tiny_data
from trainer.__main__ import main
from trainer.augment import jitter_strokes, plan_copies, render_augmented
from trainer.data import DataError, SplitSpec, load_bitmaps, load_dataset, load_strokes, split_indices
from trainer.threshold import main as threshold_main


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """Write the tiny dataset once for the module."""
    return write_tiny_data(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, tiny_data: tuple[Path, Path, Path]) -> Path:
    """Train the tiny architecture for one epoch on the tiny dataset (seed arch as baseline)."""
    bitmaps, simplified, raw = tiny_data
    out = tmp_path_factory.mktemp("model") / "tiny3"
    argv = ["--out", str(out), "--classes", "square,line,zigzag", "--bitmaps", str(bitmaps)]
    argv += ["--strokes", str(simplified), "--strokes", str(raw), "--arch", "tiny", "--epochs", "1"]
    assert main(argv) == 0
    return out


def test_one_epoch_run_writes_every_artifact(tiny_model: Path) -> None:
    names = {p.name for p in tiny_model.iterdir()}
    assert {
        "model.keras",
        "model.tflite",
        "labels.json",
        "metrics.json",
        "confusion.png",
        "README.md",
    } <= names
    assert json.loads((tiny_model / "labels.json").read_text()) == ["square", "line", "zigzag"]
    assert (tiny_model / "confusion.png").read_bytes().startswith(b"\x89PNG")
    metrics = json.loads((tiny_model / "metrics.json").read_text())
    assert metrics["training"]["epochs_run"] == 1
    assert metrics["split"]["seed"] == 0 and metrics["split"]["function"] == "trainer.data.split_indices"
    assert metrics["baseline"]["arch"] == "seed"
    assert metrics["export"]["max_abs_diff"] <= 1e-4
    counts = metrics["data"]["counts"]
    assert counts["zigzag"] == {
        **counts["zigzag"],
        "bitmap": 0,
        "strokes": 12,
    }  # raw adds the two missing lines
    assert counts["zigzag"]["augmented"] > 0 and counts["square"]["augmented"] == 0
    card = (tiny_model / "README.md").read_text()
    assert "CC BY 4.0" in card and "Quick, Draw! dataset" in card
    assert "Few-shot classes: zigzag" in card
    assert "`seed`" in card and "`tiny`" in card


def test_keras_and_tflite_agree_with_resizable_batch(
    tiny_model: Path, tiny_data: tuple[Path, Path, Path]
) -> None:
    import keras

    model = keras.saving.load_model(tiny_model / "model.keras", safe_mode=True)
    images = load_bitmaps(tiny_data[0] / "square.npz")[:7].reshape(-1, 28, 28).astype(np.float32) / 255.0
    expected = model.predict(images[..., None], verbose=0)
    for batch_size in (1, 3, 7):
        got = LiteRTRunner.from_file(tiny_model / "model.tflite").predict_all(images, batch_size=batch_size)
        assert got.shape == (7, 3)
        assert np.max(np.abs(got - expected)) <= 1e-4
    assert np.allclose(got.sum(axis=1), 1.0, atol=1e-5)


def test_split_is_reproducible_stratified_and_keeps_drawings_together() -> None:
    labels = np.repeat(np.arange(3), [50, 40, 19]).astype(np.int32)
    groups = np.asarray([f"g{i}" for i in range(len(labels))])
    groups[5] = groups[4]  # two samples of one drawing (a bitmap and its strokes)
    first = split_indices(labels, groups, SplitSpec(seed=1))
    again = split_indices(labels, groups, SplitSpec(seed=1))
    other = split_indices(labels, groups, SplitSpec(seed=2))
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))
    train, val, test = first
    assert sorted(np.concatenate(first).tolist()) == list(range(len(labels)))
    for part in first:
        assert set(labels[part].tolist()) == {0, 1, 2}
    assert np.sum(labels[test] == 2) == 5  # min_test for a 19-drawing class
    assert np.sum(labels[test] == 0) == 5 and np.sum(labels[val] == 0) == 5
    assert {4, 5} <= set(train.tolist()) or {4, 5} <= set(val.tolist()) or {4, 5} <= set(test.tolist())


def test_stroke_copies_of_bitmap_rows_share_their_split(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    bitmaps, strokes = tmp_path / "bitmap", tmp_path / "strokes"
    bitmaps.mkdir()
    strokes.mkdir()
    for kind in ("square", "line"):
        drawings = [shape_drawing(kind, rng) for _ in range(20)]
        rows = np.asarray([rasterize_quickdraw(d) for d in drawings]).reshape(20, 784)
        np.savez(bitmaps / f"{kind}.npz", x=(rows * 255).round().astype(np.uint8))
        lines = [
            json.dumps({"key_id": f"{kind}{i}", "drawing": d}) + "\n" for i, d in enumerate(drawings[:6])
        ]
        (strokes / f"{kind}.ndjson").write_text("".join(lines))
    data = load_dataset(["square", "line"], bitmaps, [strokes])
    stroke_groups = data.groups[data.sources == "strokes"].tolist()
    assert stroke_groups == [f"{k}/bitmap/{i}" for k in ("square", "line") for i in range(6)]
    train, val, test = split_indices(data.labels, data.groups, SplitSpec(seed=0))
    where = {i: name for name, part in zip("tvs", (train, val, test), strict=True) for i in part.tolist()}
    for i in np.flatnonzero(data.sources == "strokes"):
        row = int(data.groups[i].rsplit("/", 1)[1])
        bitmap_index = row if data.labels[i] == 0 else 20 + 6 + row
        assert where[i] == where[bitmap_index]


def test_missing_class_names_the_expected_file(
    tiny_data: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bitmaps, simplified, _ = tiny_data
    with pytest.raises(DataError, match=r"'unicorn'.*unicorn\.npz.*unicorn\.ndjson"):
        load_dataset(["square", "unicorn"], bitmaps, [simplified])
    argv = ["--out", str(tmp_path / "never"), "--classes", "square,unicorn", "--bitmaps", str(bitmaps)]
    assert main([*argv, "--strokes", str(simplified)]) == 2
    assert "unicorn.npz" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()


def test_missing_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nowhere.*not found"):
        load_dataset(["a", "b"], tmp_path / "nowhere", [])


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("cat.npz", b"PK\x03\x04 not really a zip", "cat.npz: not a readable"),
        ("cat.npy", b"\x93NUMPY garbage", "cat.npy: not a readable"),
        ("cat.npz", None, "cat.npz: no array 'x'"),
        ("cat.npy", "wrong-shape", "cat.npy: expected uint8 rows of 784"),
    ],
)
def test_corrupt_bitmap_file_is_named(
    tmp_path: Path, name: str, content: bytes | str | None, message: str
) -> None:
    path = tmp_path / name
    if content is None:
        np.savez(path, y=np.zeros((2, 784), np.uint8))
    elif content == "wrong-shape":
        np.save(path, np.zeros((2, 100), np.uint8))
    else:
        path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        load_dataset(["cat", "dog"], tmp_path, [])


def test_corrupt_stroke_line_is_named_with_its_line(tmp_path: Path) -> None:
    good = json.dumps({"drawing": [[[0, 10], [0, 10]]]})
    path = tmp_path / "cat.ndjson"
    path.write_text(f"{good}\n{good}\n{{not json\n")
    with pytest.raises(DataError, match=r"cat\.ndjson:3: not a Quick, Draw! drawing"):
        load_strokes(path)
    path.write_text(f'{good}\n{{"drawing": [[[1, 2], [3]]]}}\n')
    with pytest.raises(DataError, match=r"cat\.ndjson:2"):
        load_strokes(path)


def test_rare_classes_are_filled_up_from_their_strokes_only() -> None:
    assert plan_copies([4000, 3000, 12, 1000], [15, 0, 12, 15], style_copies=4) == [4, 0, 83, 4]
    #  median 2000 -> floor 1000: class 2 needs ceil((1000 - 12) / 12) = 83 copies; class 3 is at the floor
    rng = np.random.default_rng(0)
    drawing = shape_drawing("zigzag", rng)
    images = render_augmented(drawing, 6, rng)
    assert images.shape == (6, 28, 28) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert len({im.tobytes() for im in images}) == 6  # every copy differs
    original = rasterize_quickdraw(drawing)
    ink = images.sum(axis=(1, 2)) / original.sum()
    assert np.all((ink > 0.5) & (ink < 2.0))  # the same drawing, moved about: about as much ink


def test_jitter_keeps_at_least_one_stroke_and_moves_points() -> None:
    rng = np.random.default_rng(1)
    strokes = [np.array([[0.0, 0.0], [100.0, 0.0]]), np.array([[0.0, 50.0], [100.0, 60.0], [50.0, 90.0]])]
    for _ in range(50):
        out = jitter_strokes(strokes, rng)
        assert 1 <= len(out) <= 2
        assert all(s.shape[1] == 2 for s in out)
    assert not np.allclose(jitter_strokes(strokes, rng)[0], strokes[0])


def test_a_class_too_small_to_split_is_named() -> None:
    labels = np.asarray([0] * 10 + [1] * 2, np.int32)
    groups = np.asarray([str(i) for i in range(12)])
    with pytest.raises(DataError, match="'camel' has 2 drawings"):
        split_indices(labels, groups, SplitSpec(), ["cat", "camel"])


def test_export_writes_nothing_when_formats_disagree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import trainer.export
    from trainer.architectures import build_model

    model = build_model("tiny", 3)
    sample = np.random.default_rng(0).random((8, 28, 28), dtype=np.float32)
    real = LiteRTRunner.predict_all
    monkeypatch.setattr(LiteRTRunner, "predict_all", lambda *a, **k: real(*a, **k) + 1e-3)
    with pytest.raises(trainer.export.ExportError, match="disagree"):
        trainer.export.export_model(model, tmp_path / "out", sample)
    assert list((tmp_path / "out").iterdir()) == []
    monkeypatch.setattr(LiteRTRunner, "predict_all", real)
    figures = trainer.export.export_model(model, tmp_path / "out", sample)
    assert figures["max_abs_diff"] <= 1e-4
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["model.keras", "model.tflite"]


def test_a_model_without_something_else_gets_its_threshold_chosen_again(
    tiny_model: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "tiny3"
    shutil.copytree(tiny_model, folder)
    before = json.loads((folder / CALIBRATION_FILE).read_text())["sure_threshold"]
    assert threshold_main([str(folder), "--sure-rate", "0.5"]) == 0
    calibration = json.loads((folder / CALIBRATION_FILE).read_text())
    rejection = json.loads((folder / "metrics.json").read_text())["rejection"]
    assert calibration["other_label"] is None and calibration["sure_threshold"] == rejection["threshold"]
    assert rejection["threshold_chosen_for"].startswith("sure of 50%")
    assert rejection["rechosen"]["threshold_before"] == before <= rejection["threshold"]
