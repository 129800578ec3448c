"""Fetch official Quick, Draw! files into a cache: resumable, validated, never fetched twice."""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, TextIO

import numpy as np

from trainer.data import PIXELS

OFFICIAL_BASE_URL = "https://storage.googleapis.com/quickdraw_dataset"
REMOTE_PATHS = {"bitmap": "full/numpy_bitmap/{c}.npy", "simplified": "full/simplified/{c}.ndjson"}
LOCAL_NAMES = {"bitmap": "full_numpy_bitmap_{c}.npy", "simplified": "full_simplified_{c}.ndjson"}
CHUNK = 1 << 16
TIMEOUT_S = 30
MAX_NDJSON_LINE = 2_000_000


class DownloadError(RuntimeError):
    """A download that failed or delivered a file that is not what it should be; names the file."""


def remote_url(base_url: str, kind: str, name: str) -> str:
    """Return the bucket URL of one class file."""
    return f"{base_url.rstrip('/')}/{REMOTE_PATHS[kind].format(c=urllib.parse.quote(name))}"


def validate_npy(path: Path) -> int:
    """Check a numpy_bitmap file (uint8, N×784, complete); return its row count."""
    try:
        with path.open("rb") as handle:
            major, _ = np.lib.format.read_magic(handle)
            reader = (
                np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = reader(handle)
            header_end = handle.tell()
    except (OSError, ValueError) as exc:
        raise DownloadError(f"{path}: not a .npy file ({exc})") from exc
    if dtype != np.uint8 or fortran or len(shape) != 2 or shape[1] != PIXELS:
        raise DownloadError(f"{path}: expected uint8 rows of {PIXELS} pixels, found {dtype} {shape}")
    expected = header_end + shape[0] * PIXELS
    size = path.stat().st_size
    if size != expected:
        raise DownloadError(f"{path}: {size} bytes, the header promises {expected} (truncated or corrupt)")
    return int(shape[0])


def validate_ndjson(path: Path) -> int:
    """Check that every line of a stroke file is a Quick, Draw! drawing; return the drawing count."""
    count = 0
    try:
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if len(line) > MAX_NDJSON_LINE:
                    raise DownloadError(f"{path}:{number}: line too long")
                try:
                    record = json.loads(line)
                except ValueError as exc:
                    raise DownloadError(f"{path}:{number}: not JSON ({exc})") from exc
                if not isinstance(record, dict) or not isinstance(record.get("drawing"), list):
                    raise DownloadError(f"{path}:{number}: no 'drawing' list")
                count += 1
    except UnicodeDecodeError as exc:
        raise DownloadError(f"{path}: not UTF-8 text") from exc
    if count == 0:
        raise DownloadError(f"{path}: holds no drawings")
    return count


VALIDATORS = {"bitmap": validate_npy, "simplified": validate_ndjson}


class Progress:
    """A one-line progress bar on stderr (bytes, percentage, speed)."""

    def __init__(self, label: str, total: int | None, done: int = 0, stream: TextIO | None = None) -> None:
        self.label, self.total, self.done = label, total, done
        self.stream = stream or sys.stderr
        self.started = time.perf_counter()
        self.start_bytes = done
        self.last_draw = 0.0

    def update(self, n: int) -> None:
        """Count `n` more bytes and redraw at most ten times a second."""
        self.done += n
        now = time.perf_counter()
        if now - self.last_draw >= 0.1:
            self.last_draw = now
            self.draw()

    def draw(self, end: str = "") -> None:
        """Draw the bar."""
        speed = (self.done - self.start_bytes) / max(time.perf_counter() - self.started, 1e-6) / 1e6
        if self.total:
            share = min(self.done / self.total, 1.0)
            bar = "#" * int(30 * share)
            sizes = f"{self.done / 1e6:.1f}/{self.total / 1e6:.1f} MB"
            text = f"{self.label} [{bar:<30}] {100 * share:5.1f}% {sizes}"
        else:
            text = f"{self.label} {self.done / 1e6:.1f} MB"
        print(f"\r{text} {speed:.1f} MB/s", end=end, file=self.stream, flush=True)

    def close(self) -> None:
        """Draw the final state and end the line."""
        self.draw(end="\n")


def _copy(response: BinaryIO, target: BinaryIO, progress: Progress) -> None:
    """Stream the response body into the target file."""
    while chunk := response.read(CHUNK):
        target.write(chunk)
        progress.update(len(chunk))


def download_file(url: str, path: Path, kind: str) -> Path:
    """Download `url` to `path` through `path.part` (resumed with an HTTP Range), validate, keep it."""
    validate = VALIDATORS[kind]
    if path.is_file():
        try:
            validate(path)
            print(f"{path}: already complete, not downloading", file=sys.stderr)
            return path
        except DownloadError:
            path.unlink()  # a bad file from an older run: fetch it again
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    offset = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            resumed = offset > 0 and response.status == 206
            length = response.headers.get("Content-Length")
            total = (int(length) + (offset if resumed else 0)) if length else None
            progress = Progress(
                path.name + (" (resumed)" if resumed else ""), total, offset if resumed else 0
            )
            with part.open("ab" if resumed else "wb") as target:
                _copy(response, target, progress)
            progress.close()
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # the .part already holds the whole file
            pass
        else:
            raise DownloadError(f"{path.name}: {url} answered HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise DownloadError(f"{path.name}: downloading {url} failed ({exc}); run again to resume") from exc
    try:
        validate(part)
    except DownloadError as exc:
        part.unlink(missing_ok=True)
        raise DownloadError(f"{url} delivered a corrupt file, removed: {exc}") from exc
    part.replace(path)
    return path


def download_classes(classes: Sequence[str], kind: str, cache: Path, base_url: str | None = None) -> Path:
    """Download each class's official file into `cache/<kind>/`; return that folder."""
    folder = cache / kind
    for name in classes:
        url = remote_url(base_url or OFFICIAL_BASE_URL, kind, name)
        download_file(url, folder / LOCAL_NAMES[kind].format(c=name), kind)
    return folder
