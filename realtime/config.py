"""Every setting of the server, read once from environment variables with safe defaults.

`Config.from_env()` reads the environment; `Config(...)` takes values directly (tests) and checks them
the same way. Values are clamped to what the rasterizer accepts, and derived values (the limits sent to
clients, Flask's body caps) are computed here, once.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import os
import re
import secrets
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from realtime.core import images, preprocess
from realtime.core.protocol import Limits
from realtime.infra.concurrency import ASYNC_MODES
from realtime.infra.ratelimit import Network

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
MIN_ADMIN_TOKEN = 16  # characters: a token must be too long to guess


def _setting(
    default: Any, low: float | None = None, high: float | None = None, most: float | None = None
) -> Any:
    """Declare a setting: its default, the least and `most` it may be, and a ceiling `high` it is cut to."""
    return field(default=default, metadata={"low": low, "high": high, "most": most})


def _origins(raw: str) -> str | tuple[str, ...] | None:
    """Parse CORS_ORIGINS: empty means same origin only, `*` any origin, else a comma-separated list."""
    raw = raw.strip()
    if not raw:
        return None
    if raw == "*":
        return "*"
    return tuple(origin.strip().rstrip("/") for origin in raw.split(",") if origin.strip())


def _networks(raw: str) -> tuple[Network, ...]:
    """Parse TRUSTED_PROXIES: comma-separated addresses or networks (`10.0.0.0/8`)."""
    try:
        return tuple(ipaddress.ip_network(item.strip()) for item in raw.split(",") if item.strip())
    except ValueError as exc:
        raise ValueError(f"TRUSTED_PROXIES must list IP addresses or networks, not {raw!r}") from exc


@dataclass(frozen=True)
class Config:
    """The server's settings; the upper-case names are the environment variables (README, Configuration)."""

    HOST: str = "127.0.0.1"
    PORT: int = _setting(5000, low=1, most=65535)
    MODEL: str = "animals6-q8"
    ASYNC_MODE: str = "eventlet"
    CORS_ORIGINS: str | tuple[str, ...] | None = None
    SECRET_KEY: str = ""  # empty: a random key per process
    LOG_LEVEL: str = "INFO"
    MAX_MESSAGE_BYTES: int = _setting(DEFAULT_MAX_MESSAGE_BYTES, low=1024)
    MAX_IMAGE_BYTES: int = _setting(DEFAULT_MAX_IMAGE_BYTES, low=1024, high=images.MAX_IMAGE_BYTES)
    MAX_IMAGE_SIDE: int = _setting(DEFAULT_MAX_IMAGE_SIDE, low=64, high=preprocess.MAX_IMAGE_SIDE)
    MAX_POINTS: int = _setting(preprocess.MAX_POINTS, low=1, high=preprocess.MAX_POINTS)
    MAX_STROKES: int = _setting(preprocess.MAX_STROKES, low=1, high=preprocess.MAX_STROKES)
    MAX_POINTS_PER_MESSAGE: int = _setting(2000, low=1)
    # Line length at 256×256 (realtime.core.protocol.Ink checks it per message): 10,000 zigzag units still
    # rasterize in about 30 ms, 700,000 take seconds. preprocess.MAX_INK is the ceiling.
    MAX_INK: int = _setting(preprocess.MAX_INK, low=256, high=preprocess.MAX_INK)
    MAX_CONNECTIONS: int = _setting(1000, low=1)
    RATE_LIMIT: float = _setting(120.0, low=0.001)
    RATE_BURST: int = _setting(240, low=1)
    RATE_LIMIT_BYTES: float = _setting(float(DEFAULT_RATE_LIMIT_BYTES), low=0.001)
    # Default: 2 × MAX_MESSAGE_BYTES; never below MAX_MESSAGE_BYTES.
    RATE_BURST_BYTES: int | None = _setting(None, low=1)
    # POST /predict and /api/predict per client address: each costs a decode and an inference (1–15 ms).
    HTTP_RATE_LIMIT: float = _setting(10.0, low=0.001)
    HTTP_RATE_BURST: int = _setting(20, low=1)
    TRUSTED_PROXIES: tuple[Network, ...] = ()  # whose X-Forwarded-For names the client
    # Seconds a new connection has to send its request line and headers (eventlet mode).
    HEADER_TIMEOUT: float = _setting(10.0, low=0.001)
    # Redis for Flask-SocketIO's message queue between server processes (the variable Heroku's Redis add-on
    # sets; `rediss://` for TLS). Empty: one process on its own, no Redis needed.
    REDIS_URL: str = ""
    # For `rediss://`: "none" accepts a self-signed certificate (Heroku's Redis add-on); empty: verified.
    REDIS_SSL_CERT_REQS: str = ""
    # This process's id in `ready` and /healthz (and the cluster's sticky cookie). Empty: a random one.
    NODE_NAME: str = ""
    # Bearer token of the admin routes (POST /admin/reload, the review of collected drawings). Empty: they do
    # not exist (404).
    ADMIN_TOKEN: str = ""
    # Drawings per live pass (one interpreter call); a pass's guesses go out before the next starts.
    MAX_BATCH: int = _setting(64, low=1)
    # A connection gets at most one prediction per this many milliseconds (its newest state; the last is
    # never dropped). 0: a prediction whenever the worker is free.
    MIN_GUESS_INTERVAL_MS: float = _setting(0.0, low=0.0, most=1000.0)
    INTERPRETER_THREADS: int = _setting(1, low=1)
    # OS threads for PNG decoding and the classic path under eventlet (its tpool; eventlet's default
    # is 20). Each thread that decodes keeps its own malloc arena resident: ten POSTs in flight took
    # the server from 100 to 159 MiB with 20 threads, to 125 MiB with 2, which also served 15 % more.
    BLOCKING_THREADS: int = _setting(2, low=1)
    # Play (/play and rooms): seconds per round; players per room; how long a room waits for its host to
    # come back, for anyone once empty, and for anything at all before it ends.
    ROUND_SECONDS: float = _setting(20.0, low=3.0, most=300.0)
    ROOM_MAX_PLAYERS: int = _setting(60, low=1, most=500)
    ROOM_HOST_GRACE_S: float = _setting(60.0, low=0.5)
    ROOM_EMPTY_S: float = _setting(120.0, low=0.5)
    ROOM_IDLE_S: float = _setting(1800.0, low=1.0)
    # Keep what people draw (realtime.collect): off unless 1. DATABASE_URL: any SQLAlchemy URL (postgres://
    # as Heroku sets it included); empty: a SQLite file under data/. COLLECT_BUFFER: drawings waiting for
    # the database at most (more are dropped, and counted).
    COLLECT_DRAWINGS: bool = False
    DATABASE_URL: str = ""
    COLLECT_BUFFER: int = _setting(10_000, low=1)
    # Taught words the deployment keeps (with ADMIN_TOKEN, in DATABASE_URL's database) at most: every
    # process embeds them all at start and ranks every drawing against them.
    TAUGHT_MAX_WORDS: int = _setting(100, low=1, most=1000)
    limits: Limits = field(init=False, repr=False)  # derived: what `ready.limits` advertises

    def __post_init__(self) -> None:
        """Check every value against its range, clamp it to its ceiling, fill in the derived values."""
        for item in dataclasses.fields(self):
            if not item.init:
                continue
            low, high, most = (item.metadata.get(key) for key in ("low", "high", "most"))
            value = getattr(self, item.name)
            if value is None:
                continue
            if low is not None and not value >= low:
                raise ValueError(f"{item.name} must be at least {low:g}, not {value!r}")
            if most is not None and value > most:
                raise ValueError(f"{item.name} must be at most {most:g}, not {value!r}")
            if high is not None and value > high:
                object.__setattr__(self, item.name, type(value)(high))
        if self.ASYNC_MODE not in ASYNC_MODES:
            raise ValueError(f"ASYNC_MODE must be one of {', '.join(ASYNC_MODES)}, not {self.ASYNC_MODE!r}")
        if not self.SECRET_KEY:
            object.__setattr__(self, "SECRET_KEY", secrets.token_hex(32))
        if not self.NODE_NAME:
            object.__setattr__(self, "NODE_NAME", secrets.token_hex(4))
        elif not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", self.NODE_NAME):
            raise ValueError(
                f"NODE_NAME must be 1 to 64 letters, digits, '_', '.' or '-', not {self.NODE_NAME!r}"
            )
        if self.ADMIN_TOKEN and len(self.ADMIN_TOKEN) < MIN_ADMIN_TOKEN:
            raise ValueError(f"ADMIN_TOKEN must be at least {MIN_ADMIN_TOKEN} characters (a random one)")
        if self.REDIS_SSL_CERT_REQS not in ("", "none", "optional", "required"):
            raise ValueError("REDIS_SSL_CERT_REQS must be none, optional or required")
        if self.REDIS_URL and not self.REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("REDIS_URL must start with redis://, rediss:// or unix://")
        object.__setattr__(self, "LOG_LEVEL", self.LOG_LEVEL.upper())
        # At least one whole message: a client within its byte rate can always send the largest one.
        burst = 2 * self.MAX_MESSAGE_BYTES if self.RATE_BURST_BYTES is None else self.RATE_BURST_BYTES
        object.__setattr__(self, "RATE_BURST_BYTES", max(burst, self.MAX_MESSAGE_BYTES))
        object.__setattr__(self, "limits", self._limits())

    def _limits(self) -> Limits:
        """Gather the limits every client must keep to (sent in `ready`): each is the setting of its name."""
        return Limits(**{item.name: getattr(self, item.name.upper()) for item in dataclasses.fields(Limits)})

    def redis_options(self) -> dict[str, Any]:
        """Return the options every Redis client of the app is made with (beyond REDIS_URL)."""
        tls = self.REDIS_URL.startswith("rediss://") and self.REDIS_SSL_CERT_REQS
        return {"ssl_cert_reqs": self.REDIS_SSL_CERT_REQS} if tls else {}

    def flask_settings(self) -> dict[str, Any]:
        """Return Flask's own settings: the signing key and the caps on a request body and a form field."""
        return {
            "SECRET_KEY": self.SECRET_KEY,
            "MAX_CONTENT_LENGTH": self.MAX_MESSAGE_BYTES,
            "MAX_FORM_MEMORY_SIZE": self.MAX_MESSAGE_BYTES,
        }

    def replace(self, **changes: Any) -> Config:
        """Return a copy with some settings changed (checked again)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        """Read every setting from `env` (default: the process environment); unset or empty: the default."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for name, parse in _parsers(cls).items():  # every setting has one, set or not
            raw = env.get(name, "").strip()
            if raw:
                values[name] = _parse(name, raw, parse)
        return cls(**values)


@functools.cache
def _parsers(cls: type[Config]) -> dict[str, Callable[[str], Any]]:
    """Return how each setting of `cls` is read from its environment variable (worked out once per class)."""
    hints = typing.get_type_hints(cls)
    return {item.name: _parser(item.name, hints[item.name]) for item in dataclasses.fields(cls) if item.init}


def _parser(name: str, annotation: Any) -> Callable[[str], Any]:
    """Return how a setting is read from its environment variable: its own parser, or its type's."""
    if name in _PARSERS:
        return _PARSERS[name]
    kinds = [kind for kind in typing.get_args(annotation) or (annotation,) if kind is not type(None)]
    if len(kinds) != 1 or kinds[0] not in _TYPES:
        raise TypeError(f"{name}: no parser for a setting of type {annotation}")
    return _TYPES[kinds[0]]  # `float | None`: a float when set, else the default


def _parse(name: str, raw: str, parse: Callable[[str], Any]) -> Any:
    """Parse one environment variable, naming it in the error."""
    try:
        return parse(raw)
    except ValueError as exc:
        if name in str(exc):
            raise
        kind = {int: "a whole number", float: "a number", _flag: "1 or 0 (on or off)"}.get(parse, "valid")
        raise ValueError(f"{name} must be {kind}, not {raw!r}") from exc


def _flag(raw: str) -> bool:
    """Parse an on/off setting: 1, true, yes, on; or 0, false, no, off."""
    value = raw.lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected 1 or 0 (on or off), not {raw!r}")


_TYPES: dict[type, Callable[[str], Any]] = {str: str, int: int, float: float, bool: _flag}
_PARSERS: dict[str, Callable[[str], Any]] = {"CORS_ORIGINS": _origins, "TRUSTED_PROXIES": _networks}
