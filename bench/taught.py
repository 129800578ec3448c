"""Taught words for the benchmark: a database of N kept words that the server ranks in every prediction.

`python -m bench --taught 100` starts the server with ADMIN_TOKEN and a SQLite file of its own holding 100
words of five examples each (scribbles of a fixed seed, rendered by the server's rasterizer), so that every
drawer's every prediction ranks them with the model's own words: the live path's cost of taught words.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import numpy as np

from realtime.collect.store import make_engine
from realtime.collect.words import TaughtWordStore
from realtime.core.preprocess import rasterize_strokes

EXAMPLES = 5
SEED = 4_000_037


def scribble(rng: np.random.Generator) -> np.ndarray:
    """Return a random scribble's 28×28 bitmap as uint8 (a few strokes of a few points each)."""
    strokes = [rng.uniform(0, 255, size=(int(rng.integers(3, 8)), 2)) for _ in range(int(rng.integers(1, 4)))]
    return np.rint(rasterize_strokes(strokes) * 255).astype(np.uint8)


def word_database(words: int, folder: Path) -> dict[str, str]:
    """Write a SQLite file of `words` kept words into `folder`; return the server settings that serve them."""
    url = f"sqlite:///{folder / 'taught.sqlite3'}"
    store = TaughtWordStore(make_engine(url))
    rng = np.random.default_rng(SEED)
    for k in range(words):
        store.keep(f"word {k:03d}", [{"bitmap": scribble(rng), "strokes": []} for _ in range(EXAMPLES)])
    return {"ADMIN_TOKEN": secrets.token_urlsafe(24), "DATABASE_URL": url}
