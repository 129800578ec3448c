"""What the browser tests of taught words share: the shape they teach, and how to know a page caught up."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "animals6-q8"  # the default model
NEEDED = 5  # examples before a word is recognised (realtime.model.words.MIN_EXAMPLES)

# The page has shown the prediction of the last message it sent.
CAUGHT_UP_JS = """() => {
  const app = document.querySelector('#app');
  return app.dataset.shownSeq === app.dataset.sentSeq;
}"""


def zigzag(height: float = 150.0, step: float = 10.0) -> list[list[list[float]]]:
    """A zigzag, eight lines down and up in one stroke, at a steady hand's pace: [[x...], [y...], [t...]]."""
    corners = [(60.0 * k, 0.0 if k % 2 == 0 else height) for k in range(9)]
    xs, ys = [corners[0][0]], [corners[0][1]]
    for (x0, y0), (x1, y1) in pairwise(corners):
        n = int(max(abs(x1 - x0), abs(y1 - y0)) / step)
        xs += [x0 + (x1 - x0) * k / n for k in range(1, n + 1)]
        ys += [y0 + (y1 - y0) * k / n for k in range(1, n + 1)]
    return [[xs, ys, [16.0 * k for k in range(len(xs))]]]
