"""Images for tests: any array as a (possibly mislabelled) data URL, PNG bombs, and the check on bitmaps."""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from realtime.core.errors import InputError


def data_url(image: np.ndarray, extension: str = ".png", media: str = "image/png") -> str:
    """Encode an image with OpenCV as a data URL (the media type may lie, on purpose)."""
    ok, encoded = cv2.imencode(extension, image)
    assert ok
    return f"data:{media};base64," + base64.b64encode(encoded.tobytes()).decode("ascii")


def png_bomb(side: int = 60_000, height: int | None = None) -> str:
    """Return a PNG data URL of a few hundred bytes that declares a side × side (or side × height) image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side if height is None else height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 65536, 9)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def assert_bitmap_or_typed_error(fn: Callable[[Any], np.ndarray], value: Any) -> None:
    """`fn(value)` returns a valid 28×28 bitmap or raises InputError, nothing else."""
    try:
        bitmap = fn(value)
    except InputError as error:
        assert error.code and error.message
        return
    assert bitmap.shape == (28, 28) and bitmap.dtype == np.float32
    assert np.isfinite(bitmap).all() and bitmap.min() >= 0.0 and bitmap.max() <= 1.0
