"""The application factory: Flask app, Socket.IO server, model and live predictor, wired together."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from flask_socketio import SocketIO

from realtime import events, routes, transport, wire
from realtime.concurrency import blocking_caller, size_tpool
from realtime.config import Config
from realtime.drawing import Limits
from realtime.gate import Rates
from realtime.live import LivePredictor, Model
from realtime.recognizer import Recognizer

ROOT = Path(__file__).resolve().parent.parent
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

socketio = SocketIO()


@dataclass
class AppState:
    """What the handlers of one app share: the model, the live predictor and how to run slow calls."""

    model: Model
    live: LivePredictor
    run_blocking: Callable[..., Any]
    started: float  # time.monotonic() at creation


def configure_logging(level: str) -> None:
    """Log to stdout (what Procfile platforms collect), unless the host process already set up logging."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)
    root.setLevel(level)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Create the app from environment settings, overridden by `config` (tests pass a dict)."""
    settings = vars(Config())
    settings.update(config or {})
    for derived in ("MAX_CONTENT_LENGTH", "MAX_FORM_MEMORY_SIZE"):  # a whole body, one form field
        if derived not in (config or {}):
            settings[derived] = settings["MAX_MESSAGE_BYTES"]
    configure_logging(settings["LOG_LEVEL"])

    app = Flask("realtime", template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"))
    app.config.update(settings)

    model = settings["RECOGNIZER"] or Recognizer.from_name(
        settings["MODEL"], num_threads=settings["INTERPRETER_THREADS"]
    )
    socketio.init_app(
        app,
        async_mode=settings["ASYNC_MODE"],
        cors_allowed_origins=settings["CORS_ORIGINS"],
        max_http_buffer_size=settings["MAX_MESSAGE_BYTES"],
        # One connection's messages are handled in order, by its own reader: no thread per message.
        async_handlers=False,
        json=wire,
    )
    transport.harden(socketio.server.eio)
    if socketio.async_mode == "eventlet":
        size_tpool(settings["BLOCKING_THREADS"])
    run_blocking = blocking_caller(socketio.async_mode)
    limits = Limits(
        max_points=settings["MAX_POINTS"],
        max_strokes=settings["MAX_STROKES"],
        max_points_per_message=settings["MAX_POINTS_PER_MESSAGE"],
        max_ink=settings["MAX_INK"],
    )
    live = LivePredictor(
        socketio.server,
        model,
        limits,
        max_connections=settings["MAX_CONNECTIONS"],
        max_batch=settings["MAX_BATCH"],
        background=settings["LIVE_WORKER"],
    )
    rates = Rates(
        messages=settings["RATE_LIMIT"],
        message_burst=settings["RATE_BURST"],
        bytes=settings["RATE_LIMIT_BYTES"],
        byte_burst=max(settings["RATE_BURST_BYTES"], settings["MAX_MESSAGE_BYTES"]),
    )
    events.register(
        socketio.server,
        live,
        run_blocking,
        rates,
        {
            "max_points": limits.max_points,
            "max_strokes": limits.max_strokes,
            "max_points_per_message": limits.max_points_per_message,
            "max_ink": limits.max_ink,
            "max_message_bytes": settings["MAX_MESSAGE_BYTES"],
            "max_image_bytes": settings["MAX_IMAGE_BYTES"],
            "max_image_side": settings["MAX_IMAGE_SIDE"],
            "rate_limit": rates.messages,
            "rate_burst": rates.message_burst,
            "rate_limit_bytes": rates.bytes,
            "rate_burst_bytes": rates.byte_burst,
        },
    )
    app.extensions["realtime"] = AppState(model, live, run_blocking, time.monotonic())
    app.register_blueprint(routes.bp)
    logging.getLogger(__name__).info(
        "model %s (%d classes), async mode %s", model.version, len(model.labels), socketio.async_mode
    )
    return app
