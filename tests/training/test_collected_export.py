"""The export of collected drawings that the trainer reads (`python -m trainer collected export`), and a
training run that learns a new word from it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from harness.processes import ROOT
from harness.quickdraw import drawings
from realtime.collect.store import DrawingStore, database_url, make_engine
from realtime.core import preprocess
from tests.support.collected import kept


def test_the_export_round_trips_and_trains_a_new_class(db_url: str, tmp_path: Path) -> None:
    originals = {"cat": [d["drawing"] for d in drawings("cat", "raw")[:12]]}
    originals["snow leopard"] = [d["drawing"] for d in drawings("dog", "raw")[:12]]  # a new word
    store = DrawingStore(make_engine(database_url(db_url)))
    store.insert([kept(word, drawing) for word, group in originals.items() for drawing in group])
    out = tmp_path / "collected"
    env = {"DATABASE_URL": db_url}
    done = subprocess.run(
        [sys.executable, "-m", "trainer", "collected", "export", "--out", str(out)],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "24 drawings of 2 words" in done.stdout
    keys, diffs = set(), []
    for word, group in originals.items():
        raw = [json.loads(line) for line in (out / "raw" / f"{word}.ndjson").read_text().splitlines()]
        small = [
            json.loads(line) for line in (out / "simplified" / f"{word}.ndjson").read_text().splitlines()
        ]
        assert [r["word"] for r in raw] == [word] * len(group) and len(small) == len(group)
        keys |= {r["key_id"] for r in raw}
        for original, r, s in zip(group, raw, small, strict=True):
            assert r["drawing"] == original and r["key_id"] == s["key_id"] and r["countrycode"] == ""
            expected = preprocess.rasterize_quickdraw(original)
            diffs.append(np.abs(preprocess.rasterize_quickdraw(s["drawing"]) - expected).mean())
            xs = [x for stroke in s["drawing"] for x in stroke[0]]
            assert 0 <= min(xs) <= 2 and max(xs) <= 255 and all(isinstance(x, int) for x in xs)
    assert len(keys) == 24, "unique key_ids"
    # The simplified form is in whole units, as Google's: it renders as close as Google's own simplified
    # files do to their bitmaps (tests/core/test_preprocess.py).
    assert np.mean(diffs) <= 0.02 and max(diffs) <= 0.03, diffs
    # Exported again after a relabel: no file is left from the word that no longer has drawings.
    for row in store.page("snow leopard", 0)[0]:
        store.relabel(row["id"], "dog")
    again = subprocess.run(
        done.args, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in (out / "raw").iterdir()) == ["cat.ndjson", "dog.ndjson"]
    if db_url.startswith("postgres"):
        return  # the training run below needs only one database
    for row in store.page("dog", 0)[0]:
        store.relabel(row["id"], "snow leopard")
    assert subprocess.run(done.args, cwd=ROOT, env={**os.environ, **env}, timeout=120).returncode == 0
    model = tmp_path / "model"
    trained = subprocess.run(
        [
            sys.executable, "-m", "trainer", "--out", str(model), "--classes", "cat,snow leopard",
            "--collected", str(out), "--arch", "tiny", "--epochs", "1", "--baseline", "none",
            "--max-per-class", "60",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-3000:]
    metrics = json.loads((model / "metrics.json").read_text())
    assert metrics["classes"] == ["cat", "snow leopard"]
    assert metrics["data"]["collected"]["per_class"] == {"cat": 12, "snow leopard": 12}
    assert "snow leopard 12" in (model / "README.md").read_text()


def test_the_export_needs_a_database(tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path / 'none.sqlite3'}"
    command = [
        sys.executable,
        "-m",
        "trainer",
        "collected",
        "export",
        "--out",
        str(tmp_path / "x"),
        "--database",
        missing,
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "no database at" in done.stderr
    assert not (tmp_path / "none.sqlite3").exists(), "none was made"
