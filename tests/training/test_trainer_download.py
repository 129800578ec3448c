"""Trainer --download against a local HTTP server: progress, resume, validation, no second fetch."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from trainer.__main__ import main
from trainer.download import DownloadError, download_classes, download_file, remote_url


def npy_bytes(rows: np.ndarray) -> bytes:
    """Return the bytes of a .npy file holding `rows`."""
    buffer = io.BytesIO()
    np.save(buffer, rows)
    return buffer.getvalue()


def bitmap_rows(n: int, seed: int) -> np.ndarray:
    """Return n random 28×28 uint8 bitmaps with a bright bar whose position depends on the seed."""
    rng = np.random.default_rng(seed)
    rows = (rng.random((n, 28, 28)) * 40).astype(np.uint8)
    rows[:, 4 + 8 * seed : 10 + 8 * seed, :] = 255
    return rows.reshape(n, 784)


class Bucket:
    """A tiny stand-in for the Quick, Draw! bucket: serves files by path, honours Range, logs requests."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.ignore_range = False
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Return the base URL."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/quickdraw_dataset"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        bucket = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.removeprefix("/quickdraw_dataset/")
                wanted = self.headers.get("Range")
                bucket.requests.append((path, wanted))
                body = bucket.files.get(path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                if wanted and not bucket.ignore_range:
                    start = int(wanted.removeprefix("bytes=").split("-")[0])
                    if start >= len(body):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                self.wfile.write(body[start:])

            def log_message(self, *args: object) -> None:
                pass

        return Handler


@pytest.fixture
def bucket() -> Iterator[Bucket]:
    """Start a local bucket server on a free port and stop it afterwards."""
    served = Bucket()
    served.thread.start()
    yield served
    served.server.shutdown()
    served.server.server_close()


def test_download_shows_progress_and_keeps_a_valid_file(bucket: Bucket, tmp_path: Path, capsys) -> None:
    body = npy_bytes(bitmap_rows(200, 0))
    bucket.files["full/numpy_bitmap/cat.npy"] = body
    folder = download_classes(["cat"], "bitmap", tmp_path, bucket.url)
    assert (folder / "full_numpy_bitmap_cat.npy").read_bytes() == body
    assert not (folder / "full_numpy_bitmap_cat.npy.part").exists()
    err = capsys.readouterr().err
    assert "full_numpy_bitmap_cat.npy" in err and "100.0%" in err and "MB/s" in err


def test_complete_file_is_not_downloaded_again(bucket: Bucket, tmp_path: Path, capsys) -> None:
    bucket.files["full/numpy_bitmap/cat.npy"] = npy_bytes(bitmap_rows(20, 0))
    download_classes(["cat"], "bitmap", tmp_path, bucket.url)
    assert len(bucket.requests) == 1
    download_classes(["cat"], "bitmap", tmp_path, bucket.url)
    assert len(bucket.requests) == 1
    assert "already complete" in capsys.readouterr().err


def test_partial_file_is_resumed_with_a_range_request(bucket: Bucket, tmp_path: Path) -> None:
    body = npy_bytes(bitmap_rows(300, 1))
    bucket.files["full/numpy_bitmap/dog.npy"] = body
    target = tmp_path / "bitmap" / "full_numpy_bitmap_dog.npy"
    target.parent.mkdir()
    (target.parent / (target.name + ".part")).write_bytes(body[:100_000])
    download_file(remote_url(bucket.url, "bitmap", "dog"), target, "bitmap")
    assert bucket.requests == [("full/numpy_bitmap/dog.npy", "bytes=100000-")]
    assert target.read_bytes() == body


def test_server_without_range_support_restarts_the_file(bucket: Bucket, tmp_path: Path) -> None:
    body = npy_bytes(bitmap_rows(50, 1))
    bucket.files["full/numpy_bitmap/dog.npy"] = body
    bucket.ignore_range = True
    target = tmp_path / "full_numpy_bitmap_dog.npy"
    (tmp_path / "full_numpy_bitmap_dog.npy.part").write_bytes(b"stale bytes")
    download_file(remote_url(bucket.url, "bitmap", "dog"), target, "bitmap")
    assert target.read_bytes() == body


def test_truncated_file_is_rejected_and_removed(bucket: Bucket, tmp_path: Path) -> None:
    bucket.files["full/numpy_bitmap/fish.npy"] = npy_bytes(bitmap_rows(100, 0))[:-500]
    with pytest.raises(DownloadError, match=r"corrupt.*full_numpy_bitmap_fish\.npy.*truncated"):
        download_classes(["fish"], "bitmap", tmp_path, bucket.url)
    assert list((tmp_path / "bitmap").iterdir()) == []


def test_wrong_array_shape_is_rejected(bucket: Bucket, tmp_path: Path) -> None:
    bucket.files["full/numpy_bitmap/fish.npy"] = npy_bytes(np.zeros((10, 28, 28), np.uint8))
    with pytest.raises(
        DownloadError, match=r"full_numpy_bitmap_fish\.npy(\.part)?: expected uint8 rows of 784"
    ):
        download_classes(["fish"], "bitmap", tmp_path, bucket.url)


def test_corrupt_ndjson_is_rejected_with_its_line(bucket: Bucket, tmp_path: Path) -> None:
    good = json.dumps({"word": "cat", "drawing": [[[0, 5], [0, 5]]]})
    bucket.files["full/simplified/cat.ndjson"] = f"{good}\n{good}\n{{broken\n".encode()
    with pytest.raises(DownloadError, match=r"full_simplified_cat\.ndjson(\.part)?:3: not JSON"):
        download_classes(["cat"], "simplified", tmp_path, bucket.url)


def test_missing_class_names_the_file(bucket: Bucket, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"full_numpy_bitmap_unicorn\.npy.*HTTP 404"):
        download_classes(["unicorn"], "bitmap", tmp_path, bucket.url)


def test_cli_downloads_then_trains(bucket: Bucket, tmp_path: Path) -> None:
    for seed, name in enumerate(("bar", "band")):
        bucket.files[f"full/numpy_bitmap/{name}.npy"] = npy_bytes(bitmap_rows(60, seed))
    out = tmp_path / "model"
    argv = [
        "--download",
        "--classes",
        "bar,band",
        "--base-url",
        bucket.url,
        "--cache",
        str(tmp_path / "cache"),
    ]
    argv += ["--out", str(out), "--arch", "tiny", "--baseline", "none", "--epochs", "1"]
    assert main(argv) == 0
    assert json.loads((out / "labels.json").read_text()) == ["bar", "band"]
    assert (tmp_path / "cache" / "bitmap" / "full_numpy_bitmap_bar.npy").is_file()
    elsewhere = ["--download", "--classes", "bar,band", "--base-url", bucket.url + "/elsewhere"]
    status = main([*elsewhere, "--cache", str(tmp_path / "c2"), "--out", str(tmp_path / "never")])
    assert status == 2
    assert not (tmp_path / "never").exists()
