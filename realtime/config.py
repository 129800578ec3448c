"""Settings for the server, read from environment variables with safe defaults."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from realtime import preprocess

# Models are only ever loaded from this folder of the repository (see Recognizer.from_name).
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"

ASYNC_MODES = ("eventlet", "threading")

# A drawing on the page's 1000×1000 canvas encodes to about 60 KB of PNG (114 KB for the busiest
# dataset drawing at an 8 px brush): 512 KiB leaves room for RGBA canvases and dense scribbles.
DEFAULT_MAX_IMAGE_BYTES = 512 * 1024
# Its base64 data URL (4/3 of that) plus form encoding fits in 1 MB, which also holds the largest
# `sync` the point limit allows; anything bigger is refused before it is read.
DEFAULT_MAX_MESSAGE_BYTES = 1_000_000
# The page's canvas is 1000×1000; decoding and placing an image costs time with its area (about 40 ms at
# 1024² here, 4.5 s at the rasterizer's own cap of 4096²), so anything larger is refused unread.
DEFAULT_MAX_IMAGE_SIDE = 1024
# Per connection: bytes per second on average. A `sync` of the largest drawing, or a full-size snapshot,
# fits in the burst; a stream of them is cut to about one a second.
DEFAULT_RATE_LIMIT_BYTES = 1_000_000


def _int(env: Mapping[str, str], name: str, default: int, low: int = 1) -> int:
    """Read a whole number of at least `low` from the environment, falling back to `default`."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a whole number, not {raw!r}") from exc
    if value < low:
        raise ValueError(f"{name} must be at least {low}, not {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    """Read a positive number from the environment, falling back to `default`."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, not {raw!r}") from exc
    if not value > 0:
        raise ValueError(f"{name} must be positive, not {raw!r}")
    return value


def _origins(raw: str) -> str | list[str] | None:
    """Parse CORS_ORIGINS: empty means same origin only, `*` any origin, else a comma-separated list."""
    raw = raw.strip()
    if not raw:
        return None
    if raw == "*":
        return "*"
    return [origin.strip().rstrip("/") for origin in raw.split(",") if origin.strip()]


class Config:
    """Every setting of the app, as Flask config keys, taken from `env` (default: the process environment)."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.HOST = env.get("HOST", "127.0.0.1")
        self.PORT = _int(env, "PORT", 5000)
        self.MODEL = env.get("MODEL", "animals6")
        self.ASYNC_MODE = env.get("ASYNC_MODE", "eventlet")
        if self.ASYNC_MODE not in ASYNC_MODES:
            raise ValueError(f"ASYNC_MODE must be one of {', '.join(ASYNC_MODES)}, not {self.ASYNC_MODE!r}")
        self.CORS_ORIGINS = _origins(env.get("CORS_ORIGINS", ""))
        self.SECRET_KEY = env.get("SECRET_KEY") or secrets.token_hex(32)
        self.LOG_LEVEL = env.get("LOG_LEVEL", "INFO").upper()
        self.MAX_MESSAGE_BYTES = _int(env, "MAX_MESSAGE_BYTES", DEFAULT_MAX_MESSAGE_BYTES, low=1024)
        self.MAX_CONTENT_LENGTH = self.MAX_MESSAGE_BYTES
        self.MAX_FORM_MEMORY_SIZE = self.MAX_MESSAGE_BYTES
        self.MAX_IMAGE_BYTES = min(
            _int(env, "MAX_IMAGE_BYTES", DEFAULT_MAX_IMAGE_BYTES, low=1024), preprocess.MAX_PNG_BYTES
        )
        self.MAX_IMAGE_SIDE = min(
            _int(env, "MAX_IMAGE_SIDE", DEFAULT_MAX_IMAGE_SIDE, low=64), preprocess.MAX_IMAGE_SIDE
        )
        self.MAX_POINTS = min(_int(env, "MAX_POINTS", preprocess.MAX_POINTS), preprocess.MAX_POINTS)
        self.MAX_STROKES = min(_int(env, "MAX_STROKES", preprocess.MAX_STROKES), preprocess.MAX_STROKES)
        self.MAX_POINTS_PER_MESSAGE = _int(env, "MAX_POINTS_PER_MESSAGE", 2000)
        # Line length at 256×256 (realtime.drawing.Ink checks it per message): 10,000 zigzag units still
        # rasterize in about 30 ms, 700,000 take seconds. preprocess.MAX_INK is the ceiling.
        self.MAX_INK = min(_int(env, "MAX_INK", preprocess.MAX_INK, low=256), preprocess.MAX_INK)
        self.MAX_CONNECTIONS = _int(env, "MAX_CONNECTIONS", 1000)
        self.RATE_LIMIT = _float(env, "RATE_LIMIT", 120.0)
        self.RATE_BURST = _int(env, "RATE_BURST", 240)
        self.RATE_LIMIT_BYTES = _float(env, "RATE_LIMIT_BYTES", DEFAULT_RATE_LIMIT_BYTES)
        # At least two whole messages: a client within its byte rate can always send the largest one.
        self.RATE_BURST_BYTES = max(
            _int(env, "RATE_BURST_BYTES", 2 * self.MAX_MESSAGE_BYTES), self.MAX_MESSAGE_BYTES
        )
        self.MAX_BATCH = _int(env, "MAX_BATCH", 64)
        self.INTERPRETER_THREADS = _int(env, "INTERPRETER_THREADS", 1)
        # OS threads for PNG decoding and the classic path under eventlet (its tpool; eventlet's default
        # is 20). Each thread that decodes keeps its own malloc arena resident: ten POSTs in flight took
        # the server from 100 to 159 MiB with 20 threads, to 125 MiB with 2, which also served 15 % more.
        self.BLOCKING_THREADS = _int(env, "BLOCKING_THREADS", 2)
        # Tests set this to False and call LivePredictor.flush() themselves, for deterministic timing.
        self.LIVE_WORKER = True
        # Tests may hand the app a stand-in with Recognizer's interface instead of loading MODEL.
        self.RECOGNIZER = None
