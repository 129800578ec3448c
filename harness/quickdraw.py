"""Real Quick, Draw! drawings from ../shared/quickdraw for the tests and the benchmark (read, never copied).

A file of the sample that is not there raises QuickDrawMissing; the tests skip on it, except where CI is set.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "quickdraw"
ANIMALS = ("cat", "dog", "fish", "giraffe", "camel", "octopus")
# For these classes, line i of strokes/simplified is row i of bitmap/ for i below the count (README).
PAIRED = {"cat": 19, "dog": 25, "fish": 19, "octopus": 19}


@dataclass(frozen=True)
class Paired:
    """One drawing three ways: raw canvas strokes, simplified strokes and Google's own 28×28."""

    word: str
    key_id: str
    raw: list
    simplified: list
    bitmap: np.ndarray  # float32 (28, 28) in [0, 1]


class QuickDrawMissing(Exception):
    """A file of the Quick, Draw! sample is not there (the sample is missing, or only part of it)."""


def require_sample() -> None:
    """Raise QuickDrawMissing unless the sample is there (for tests whose subprocesses read it)."""
    _require(SHARED / "README.md")


def _require(path: Path) -> Path:
    """Return a file of the sample; raise QuickDrawMissing, saying which, when it is missing."""
    if not path.is_file():
        raise QuickDrawMissing(
            f"needs the Quick, Draw! sample in {SHARED} (../shared/quickdraw beside the repository), "
            f"but {path.relative_to(SHARED.parent)} is missing"
        )
    return path


@cache
def drawings(word: str, kind: str = "raw") -> tuple[dict, ...]:
    """Return the ndjson records of one class, `kind` being "raw" or "simplified"."""
    path = _require(SHARED / "strokes" / kind / f"{word}.ndjson")
    return tuple(json.loads(line) for line in path.read_text().splitlines() if line.strip())


@cache
def paired() -> tuple[Paired, ...]:
    """Return every drawing whose raw strokes, simplified strokes and official bitmap are all known."""
    out = []
    for word, count in PAIRED.items():
        rows = np.load(_require(SHARED / "bitmap" / f"{word}.npz"))["x"]
        simplified = drawings(word, "simplified")
        raw = {d["key_id"]: d["drawing"] for d in drawings(word, "raw")}
        for i in range(count):
            key = simplified[i]["key_id"]
            if key in raw:
                bitmap = rows[i].reshape(28, 28).astype(np.float32) / 255.0
                out.append(Paired(word, key, raw[key], simplified[i]["drawing"], bitmap))
    return tuple(out)


def raw_points(drawing: list) -> list[list[list[float]]]:
    """Turn a Quick, Draw! drawing into the page's form: one list of [x, y] points per stroke."""
    return [[[float(x), float(y)] for x, y in zip(stroke[0], stroke[1], strict=True)] for stroke in drawing]


def quickdraw_form(strokes: list[list[list[float]]]) -> list[list[list[float]]]:
    """Turn strokes of [x, y] points into Quick, Draw! form [[xs], [ys]] (what `sync` carries)."""
    return [[[p[0] for p in stroke], [p[1] for p in stroke]] for stroke in strokes]


def canvas_image(
    strokes: list,
    brush: float,
    side: int = 400,
    margin: int = 30,
    paper: tuple[int, ...] = (255, 255, 255),
    ink: tuple[int, ...] = (0, 0, 0),
    dtype: type = np.uint8,
) -> np.ndarray:
    """Draw strokes as a browser canvas would (round, anti-aliased brush): (side, side[, channels]).

    `paper` and `ink` have one value per channel (1: grey, 3: BGR, 4: BGRA), in the range of `dtype`.
    """
    import cv2

    arrays = [np.asarray(s, np.float64)[:, :2] for s in strokes]
    points = np.concatenate(arrays)
    low = points.min(axis=0)
    scale = (side - 2 * margin) / float((points.max(axis=0) - low).max())
    image = np.empty((side, side, len(paper)), dtype)
    image[:] = paper
    for stroke in arrays:
        line = np.round(((stroke - low) * scale + margin) * 16).astype(np.int32)
        if len(line) == 1:
            line = np.repeat(line, 2, axis=0)
        cv2.polylines(image, [line], False, ink, int(brush), cv2.LINE_AA, 4)
    return image[:, :, 0] if len(paper) == 1 else image


def canvas_png_data_url(
    strokes: list, brush: float, transparent: bool = False, side: int = 400, margin: int = 30
) -> str:
    """Draw strokes as the page does (black on white, or dark grey on transparent): a PNG data URL."""
    import base64

    import cv2

    colours = {"paper": (0, 0, 0, 0), "ink": (40, 40, 40, 255)} if transparent else {}
    ok, png = cv2.imencode(".png", canvas_image(strokes, brush, side, margin, **colours))
    assert ok
    return "data:image/png;base64," + base64.b64encode(png.tobytes()).decode("ascii")
