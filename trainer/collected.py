"""`python -m trainer collected export --out DIR`: the drawings a server kept (COLLECT_DRAWINGS) as
Quick, Draw! ndjson files, one per word, in raw and simplified form, for `python -m trainer --collected DIR`.

DIR/raw/<word>.ndjson holds each drawing as it was kept (`[[xs], [ys], [ts]]` per stroke); DIR/simplified/
<word>.ndjson the same drawing normalised by the project's own rasterizer (realtime.core.preprocess: aligned,
scaled to 0–255, resampled, simplified), as Google's simplified files are. Each record has the fields of
the official files: word, countrycode (empty: nothing identifying is kept), timestamp, recognized, key_id.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from realtime.collect.store import DrawingStore, database_url, make_engine
from realtime.core.errors import InputError
from realtime.core.preprocess import normalize_strokes, strokes_from_quickdraw

MARKER = ".collected-export"  # in every folder an export wrote: only such a folder is cleared again


def simplified(drawing: list) -> list[list[list[int]]]:
    """Return a raw drawing in Quick, Draw!'s simplified form, by the project's normalisation."""
    return [
        [stroke[:, 0].astype(int).tolist(), stroke[:, 1].astype(int).tolist()]
        for stroke in normalize_strokes(strokes_from_quickdraw(drawing))
    ]


def record(row: dict[str, Any], drawing: list) -> str:
    """Return one ndjson line for a kept drawing."""
    fields = {
        "word": row["word"],
        "countrycode": "",
        "timestamp": row["created_at"].isoformat(),
        "recognized": bool(row["recognized"]),
        "key_id": row["key_id"],
        "drawing": drawing,
    }
    return json.dumps(fields, separators=(",", ":")) + "\n"


class ExportError(RuntimeError):
    """The folder to export into holds files that an export did not write."""


def clear(out: Path) -> None:
    """Make `out` ready for an export: new or empty, or an earlier export's (whose files go: words may have
    been relabelled or deleted since). Any other folder is refused, so that nothing else is deleted."""
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise ExportError(f"{out} holds files that no export wrote: choose a new or empty folder")
    for kind in ("raw", "simplified"):
        (out / kind).mkdir(parents=True, exist_ok=True)
        for old in (out / kind).glob("*.ndjson"):
            old.unlink()
    (out / MARKER).write_text("written by python -m trainer collected export\n", encoding="utf-8")


def export(store: DrawingStore, out: Path) -> dict[str, int]:
    """Write every kept drawing under `out`/raw and `out`/simplified; return how many per word."""
    clear(out)
    counts: dict[str, int] = {}
    for word, rows in itertools.groupby(store.everything(), key=lambda row: row["word"]):
        files = [out / "raw" / f"{word}.ndjson", out / "simplified" / f"{word}.ndjson"]
        with (
            open(files[0], "w", encoding="utf-8") as raw_file,
            open(files[1], "w", encoding="utf-8") as small_file,
        ):
            for row in rows:
                try:
                    small = simplified(row["drawing"])
                except InputError:
                    continue  # a single dot: nothing a model could learn from
                raw_file.write(record(row, row["drawing"]))
                small_file.write(record(row, small))
                counts[word] = counts.get(word, 0) + 1
        if word not in counts:  # only dots: no file, as the trainer refuses an empty one
            for path in files:
                path.unlink()
    return counts


def main(argv: Sequence[str]) -> int:
    """Run `python -m trainer collected ...`; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m trainer collected",
        description="Work with the drawings a server kept (COLLECT_DRAWINGS=1).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    out = commands.add_parser("export", help="write them as Quick, Draw! ndjson, one file per word")
    out.add_argument("--out", type=Path, required=True, help="folder to write (raw/ and simplified/ in it)")
    out.add_argument(
        "--database",
        default=os.environ.get("DATABASE_URL", ""),
        help="the server's DATABASE_URL (default: $DATABASE_URL, or the SQLite file under data/)",
    )
    args = parser.parse_args(argv)
    url = database_url(args.database)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        print(
            f"error: no database at {url}: set --database or DATABASE_URL as the server has it",
            file=sys.stderr,
        )
        return 2
    store = DrawingStore(make_engine(url))
    try:
        counts = export(store, args.out)
    except ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for word, n in sorted(counts.items()):
        print(f"{word}: {n}")
    print(f"{sum(counts.values())} drawings of {len(counts)} words in {args.out}")
    if not counts:
        print("nothing was collected yet", file=sys.stderr)
    return 0
