"""Load Quick, Draw! bitmaps and stroke drawings into one dataset, and split it reproducibly."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from realtime.core.errors import InputError
from realtime.core.preprocess import SIDE, rasterize_quickdraw, strokes_from_quickdraw

PIXELS = SIDE * SIDE
BITMAP_NAMES = ("{c}.npz", "full_numpy_bitmap_{c}.npy", "{c}.npy")
STROKE_NAMES = ("{c}.ndjson", "full_simplified_{c}.ndjson", "full_raw_{c}.ndjson")
MAX_LINE_CHARS = 2_000_000  # one drawing; the official files stay far below
# A rendered stroke drawing this close (mean absolute pixel difference) to a bitmap row, and much closer to
# it than to any other row, is that same drawing: it must land in the same split as the bitmap.
SAME_DRAWING_DISTANCE = 0.05
SAME_DRAWING_MARGIN = 0.5


class DataError(ValueError):
    """A data folder or file that cannot be used; the message names the file."""


@dataclass
class Dataset:
    """Images in [0, 1] with their labels, split groups, sources and (for stroke drawings) strokes."""

    classes: list[str]
    images: np.ndarray  # float32 (N, 28, 28) in [0, 1], white ink on black
    labels: np.ndarray  # int32 (N,)
    groups: np.ndarray  # str (N,): samples sharing a group are one drawing and share a split
    sources: np.ndarray  # str (N,): "bitmap" or "strokes"
    drawings: list[Any]  # Quick, Draw! strokes for "strokes" samples, None for bitmaps
    keys: list[Any]  # the Quick, Draw! key_id of "strokes" samples (None without one), None for bitmaps
    files: dict[str, list[str]] = field(default_factory=dict)  # class -> files read
    skipped: dict[str, int] = field(default_factory=dict)  # class -> stroke drawings that could not render

    def __len__(self) -> int:
        """Return the number of samples."""
        return len(self.labels)

    def counts(self) -> dict[str, dict[str, int]]:
        """Return per-class sample counts by source."""
        out = {}
        for k, name in enumerate(self.classes):
            mine = self.labels == k
            out[name] = {
                "bitmap": int(np.sum(mine & (self.sources == "bitmap"))),
                "strokes": int(np.sum(mine & (self.sources == "strokes"))),
            }
            if np.any(mine & (self.sources == "other")):  # "something else": other classes and doodles
                out[name]["other"] = int(np.sum(mine & (self.sources == "other")))
        return out


def find_bitmap_file(folder: Path, name: str) -> Path | None:
    """Return the bitmap file of class `name` in `folder` (official or compact name), if any."""
    return _first_file(folder, BITMAP_NAMES, name)


def find_stroke_file(folder: Path, name: str) -> Path | None:
    """Return the ndjson stroke file of class `name` in `folder`, if any."""
    return _first_file(folder, STROKE_NAMES, name)


def _first_file(folder: Path, patterns: Sequence[str], name: str) -> Path | None:
    """Return the first existing file among `patterns` (formatted with the class name) in `folder`."""
    for pattern in patterns:
        path = folder / pattern.format(c=name)
        if path.is_file():
            return path
    return None


def load_bitmaps(path: Path, limit: int | None = None) -> np.ndarray:
    """Read an (N, 784) uint8 bitmap file (.npy, or .npz with array `x`), keeping at most `limit` rows."""
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                if "x" not in archive.files:
                    raise DataError(f"{path}: no array 'x' in the .npz (found {archive.files})")
                rows = archive["x"]
        else:
            rows = np.load(path, mmap_mode="r", allow_pickle=False)
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise DataError(f"{path}: not a readable numpy bitmap file ({exc})") from exc
    if rows.dtype != np.uint8 or rows.ndim != 2 or rows.shape[1] != PIXELS:
        raise DataError(f"{path}: expected uint8 rows of {PIXELS} pixels, found {rows.dtype} {rows.shape}")
    if rows.shape[0] == 0:
        raise DataError(f"{path}: holds no drawings")
    return np.array(rows[:limit], dtype=np.uint8)


def load_strokes(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Read Quick, Draw! ndjson (simplified or raw), checking every line, keeping at most `limit` drawings."""
    drawings = []
    try:
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if limit is not None and len(drawings) >= limit:
                    break
                if not line.strip():
                    continue
                if len(line) > MAX_LINE_CHARS:
                    raise DataError(f"{path}:{number}: line longer than {MAX_LINE_CHARS} characters")
                try:
                    record = json.loads(line)
                    strokes_from_quickdraw(record["drawing"])
                except (ValueError, KeyError, TypeError) as exc:
                    raise DataError(f"{path}:{number}: not a Quick, Draw! drawing ({exc})") from exc
                drawings.append(record)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc})") from exc
    if not drawings:
        raise DataError(f"{path}: holds no drawings")
    return drawings


def load_dataset(
    classes: Sequence[str],
    bitmap_dir: Path | None,
    stroke_dirs: Sequence[Path] = (),
    max_per_class: int | None = None,
) -> Dataset:
    """Load every class from its bitmap file and/or stroke files; a class with neither is an error."""
    for folder in ([bitmap_dir] if bitmap_dir else []) + list(stroke_dirs):
        if not folder.is_dir():
            raise DataError(f"{folder}: data folder not found")
    images, labels, groups, sources, drawings, keys = [], [], [], [], [], []
    files: dict[str, list[str]] = {}
    skipped: dict[str, int] = {}
    for k, name in enumerate(classes):
        bitmap_path = find_bitmap_file(bitmap_dir, name) if bitmap_dir else None
        stroke_paths = [p for p in (find_stroke_file(d, name) for d in stroke_dirs) if p]
        if bitmap_path is None and not stroke_paths:
            expected = [str(bitmap_dir / BITMAP_NAMES[0].format(c=name))] if bitmap_dir else []
            expected += [str(d / STROKE_NAMES[0].format(c=name)) for d in stroke_dirs]
            raise DataError(f"class {name!r}: no data file found (looked for {', '.join(expected)})")
        files[name] = [str(p) for p in ([bitmap_path] if bitmap_path else []) + stroke_paths]
        rows = load_bitmaps(bitmap_path, max_per_class) if bitmap_path else np.zeros((0, PIXELS), np.uint8)
        bitmap_images = rows.reshape(-1, SIDE, SIDE).astype(np.float32) / 255.0
        images.append(bitmap_images)
        groups += [f"{name}/bitmap/{i}" for i in range(len(rows))]
        sources += ["bitmap"] * len(rows)
        drawings += [None] * len(rows)
        keys += [None] * len(rows)
        rendered, records = _render_unique(stroke_paths, max_per_class)
        skipped[name] = sum(1 for r in rendered if r is None)
        kept = [(r, d) for r, d in zip(rendered, records, strict=True) if r is not None]
        matches = _match_bitmaps([r for r, _ in kept], bitmap_images)
        for (image, record), row in zip(kept, matches, strict=True):
            images.append(image[None])
            key = record.get("key_id", f"line{len(groups)}")
            groups.append(f"{name}/bitmap/{row}" if row is not None else f"{name}/strokes/{key}")
            sources.append("strokes")
            drawings.append(record["drawing"])
            keys.append(record.get("key_id"))
        labels += [k] * (len(rows) + len(kept))
    return Dataset(
        classes=list(classes),
        images=np.concatenate(images).astype(np.float32),
        labels=np.asarray(labels, np.int32),
        groups=np.asarray(groups),
        sources=np.asarray(sources),
        drawings=drawings,
        keys=keys,
        files=files,
        skipped=skipped,
    )


def _render_unique(paths: Sequence[Path], limit: int | None) -> tuple[list[np.ndarray | None], list[dict]]:
    """Render the drawings of several stroke files, each `key_id` once (the first file wins)."""
    seen: set[Any] = set()
    records = []
    for path in paths:
        for record in load_strokes(path):
            key = record.get("key_id")
            if key is not None and key in seen:
                continue
            seen.add(key)
            records.append(record)
    records = records[:limit]
    rendered: list[np.ndarray | None] = []
    for record in records:
        try:
            rendered.append(rasterize_quickdraw(record["drawing"]))
        except InputError:
            rendered.append(None)  # a degenerate drawing (a single dot): nothing to learn from
    return rendered, records


def _match_bitmaps(rendered: Sequence[np.ndarray], bitmaps: np.ndarray) -> list[int | None]:
    """Return, per rendered drawing, the bitmap row that is the same drawing, or None."""
    if len(bitmaps) < 2:
        return [None] * len(rendered)
    flat = bitmaps.reshape(len(bitmaps), -1)
    out: list[int | None] = []
    for image in rendered:
        distance = np.abs(flat - image.reshape(1, -1)).mean(axis=1)
        first, second = np.partition(distance, 1)[:2]
        same = first < SAME_DRAWING_DISTANCE and first < SAME_DRAWING_MARGIN * second
        out.append(int(np.argmin(distance)) if same else None)
    return out


@dataclass(frozen=True)
class SplitSpec:
    """How a dataset is split: fractions of each class's drawings, with floors for tiny classes.

    `strokes_to_test` keeps every stroke drawing of a class that also has bitmaps out of training (they are
    the drawings with times, which `python -m trainer.live_eval` replays). `fold` (0 to `folds` - 1) makes
    the test split of each class without bitmaps one of `folds` parts of its drawings: a cross-validation
    run (`python -m trainer.crossval`).
    """

    seed: int = 0
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    min_val: int = 2
    min_test: int = 5
    strokes_to_test: bool = False
    fold: int | None = None
    folds: int = 5

    @classmethod
    def from_recorded(cls, recorded: dict[str, Any]) -> SplitSpec:
        """Return the spec a metrics.json's "split" entry (as `as_dict` wrote it) records."""
        return cls(**{k: v for k, v in recorded.items() if k in cls.__dataclass_fields__})

    def as_dict(self) -> dict[str, Any]:
        """Return the spec as a JSON-ready dict (recorded in metrics.json)."""
        return {
            "method": "per-class shuffle of whole drawings (groups) with numpy default_rng(seed), "
            "classes in label order; test first, then validation, rest train",
            "function": "trainer.data.split_indices",
            "seed": self.seed,
            "val_fraction": self.val_fraction,
            "test_fraction": self.test_fraction,
            "min_val": self.min_val,
            "min_test": self.min_test,
            "strokes_to_test": self.strokes_to_test,
            "fold": self.fold,
            "folds": self.folds,
        }


def split_indices(
    labels: np.ndarray,
    groups: np.ndarray,
    spec: SplitSpec,
    names: Sequence[str] | None = None,
    sources: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split samples into train/validation/test indices, stratified by class, keeping each group together.

    `sources` (the dataset's) are needed for the spec's `strokes_to_test` and `fold`.
    """
    rng = np.random.default_rng(spec.seed)
    if (spec.strokes_to_test or spec.fold is not None) and sources is None:
        raise ValueError("this split needs the samples' sources")
    parts: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]] = ([], [], [])
    for k in np.unique(labels):
        members = np.flatnonzero(labels == k)
        unique, first, inverse = np.unique(groups[members], return_index=True, return_inverse=True)
        order = np.argsort(first)  # groups in order of first appearance, independent of their names
        rank = np.empty(len(unique), np.int64)
        rank[order] = np.arange(len(unique))
        n = len(unique)
        if n < 3:
            name = names[k] if names else str(k)
            raise DataError(f"class {name!r} has {n} drawings: 3 are needed to train, validate and test")
        position = np.empty(n, np.int64)
        position[rng.permutation(n)] = np.arange(n)
        kinds = set(sources[members]) if sources is not None else set()
        if spec.fold is not None and kinds == {"strokes"}:
            position = _fold_first(position, spec.fold, spec.folds)
            n_test = len(range(spec.fold, n, spec.folds))
        else:
            n_test = int(np.clip(max(spec.min_test, round(n * spec.test_fraction)), 1, n - 2))
        if spec.strokes_to_test and "bitmap" in kinds:
            pinned = np.zeros(n, bool)
            pinned[rank[inverse[sources[members] == "strokes"]]] = True
            position = _pinned_first(position, pinned)
            n_test = max(n_test, int(pinned.sum()))
        n_val = int(np.clip(max(spec.min_val, round(n * spec.val_fraction)), 1, n - n_test - 1))
        where = position[rank[inverse]]
        parts[2].append(members[where < n_test])
        parts[1].append(members[(where >= n_test) & (where < n_test + n_val)])
        parts[0].append(members[where >= n_test + n_val])
    train, val, test = (np.sort(np.concatenate(p)) for p in parts)
    return train, val, test


def _fold_first(position: np.ndarray, fold: int, folds: int) -> np.ndarray:
    """Reorder shuffled positions so that the drawings of `fold` (position % folds == fold) come first."""
    chosen = position % folds == fold
    return _pinned_first(position, chosen)


def _pinned_first(position: np.ndarray, pinned: np.ndarray) -> np.ndarray:
    """Return new positions: the pinned groups first, the others after them, each in their shuffled order."""
    order = np.argsort(position, kind="stable")  # groups in shuffled order
    first = order[pinned[order]]
    rest = order[~pinned[order]]
    out = np.empty_like(position)
    out[np.concatenate([first, rest])] = np.arange(len(position))
    return out


def recorded_split(metrics: dict[str, Any], root: Path) -> tuple[Dataset, np.ndarray, np.ndarray]:
    """Rebuild the split a model folder's metrics.json records: the dataset, its validation and test indices.

    Paths in metrics.json are relative to the repository `root`. Raises DataError when the data differ
    from the model's (the per-class validation and test counts must match the recorded ones).
    """
    from trainer.negatives import with_negatives  # it builds on this module

    data = metrics["data"]
    negatives = data.get("negatives")
    bitmap_dir = root / data["bitmap_dir"] if data["bitmap_dir"] else None
    spec = SplitSpec.from_recorded(metrics["split"])
    own = [c for c in metrics["classes"] if not negatives or c != negatives["label"]]
    dataset = load_dataset(own, bitmap_dir, [root / d for d in data["stroke_dirs"]], data["max_per_class"])
    if negatives:
        dataset = with_negatives(
            dataset,
            bitmap_dir,
            negatives["classes"],
            negatives["per_class"],
            negatives["doodles_per_kind"],
            negatives["seed"],
        )
    _, val, test = split_indices(dataset.labels, dataset.groups, spec, dataset.classes, dataset.sources)
    for key, part, indices in (("val", "validation", val), ("test", "test", test)):
        for k, name in enumerate(metrics["classes"]):
            expected, found = data["counts"][name][key], int(np.sum(dataset.labels[indices] == k))
            if found != expected:
                raise DataError(
                    f"the {part} split differs from the recorded one ({name}: {found} drawings, metrics.json "
                    f"says {expected}); is ../shared/quickdraw the same data?"
                )
    return dataset, val, test
