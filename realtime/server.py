"""The application factory: Flask app, Socket.IO server, model and live predictor, wired together."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flask import Flask
from flask_socketio import SocketIO

from realtime.collect.collector import Collector
from realtime.collect.store import DrawingStore, database_url, make_engine
from realtime.collect.words import KeptWords, TaughtWordStore
from realtime.config import Config
from realtime.game.clock import Clock, SystemClock
from realtime.game.play import ADDRESS_BURST, ADDRESS_RATE, Play
from realtime.game.rooms import MemoryStore, RedisStore
from realtime.game.rules import Timing
from realtime.infra.concurrency import blocking_caller, size_tpool
from realtime.infra.metrics import Metrics
from realtime.infra.ratelimit import AddressLimiter
from realtime.infra.redis import RedisClients
from realtime.model.live import LivePredictor
from realtime.model.ranking import ModelLoader, classes
from realtime.model.recognizer import litert_loader
from realtime.model.switcher import ModelSwitcher
from realtime.model.teacher import Teacher
from realtime.web import admin, api, compat, http, pages, probes, transport, wire
from realtime.web.events import LiveEvents
from realtime.web.gate import Gate
from realtime.web.state import EXTENSION, AppState

ROOT = Path(__file__).resolve().parent.parent
# The admin routes, per client address: a guessed token costs a second, a burst of five tries at most.
ADMIN_RATE, ADMIN_BURST = 1.0, 5
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

socketio = SocketIO()


def configure_logging(level: str) -> None:
    """Log to stdout (what Procfile platforms collect), unless the host process already set up logging."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)
    root.setLevel(level)


def create_app(
    config: Config | None = None,
    *,
    load_model: ModelLoader | None = None,
    live_worker: bool = True,
    clock: Clock | None = None,
) -> Flask:
    """Create the app from `config` (default: read from the environment).

    `load_model` turns a model's name into the model served, at start-up (MODEL) and on every hot reload:
    by default LiteRT runs models/<name>; tests pass a stand-in, another runtime its own loader. With
    `live_worker=False` no background task predicts or moves the games on, and tests call
    `LivePredictor.flush()` and `Play.tick()` themselves, for deterministic timing. `clock` replaces the real
    clock the games run on.
    """
    config = config or Config.from_env()
    configure_logging(config.LOG_LEVEL)
    compat.check(config.ASYNC_MODE)

    app = Flask("realtime", template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"))
    app.config.update(config.flask_settings())

    load_model = load_model or litert_loader(config.INTERPRETER_THREADS)
    model = load_model(config.MODEL)
    origins = config.CORS_ORIGINS
    redis = RedisClients(config.REDIS_URL, config.redis_options()) if config.REDIS_URL else None
    socketio.init_app(
        app,
        # Always given: SocketIO keeps its options between init_app calls (tests create many apps).
        client_manager=redis.message_queue("realtime") if redis else None,
        async_mode=config.ASYNC_MODE,
        cors_allowed_origins=list(origins) if isinstance(origins, tuple) else origins,
        max_http_buffer_size=config.MAX_MESSAGE_BYTES,
        # One connection's messages are handled in order, by its own reader: no thread per message.
        async_handlers=False,
        # Their warnings and errors (Redis trouble, say) through the app's own log, once each; they log
        # every packet at INFO.
        logger=library_logger("realtime.socketio"),
        engineio_logger=library_logger("realtime.engineio"),
        json=wire,
    )
    server = socketio.server
    transport.harden(app, server.eio, config.RATE_BURST)
    app.wsgi_app = transport.NodeCookie(app.wsgi_app, config.NODE_NAME)
    if socketio.async_mode == "eventlet":
        # Collecting: one more OS thread for the database's calls (the writer's batches and the review's,
        # one at a time under the store's lock), so that image decoding keeps about as many as before.
        size_tpool(config.BLOCKING_THREADS + int(config.COLLECT_DRAWINGS))
    run_blocking = blocking_caller(socketio.async_mode)
    metrics = Metrics()
    metrics.serving(model.name, model.version)
    live = LivePredictor(
        server,
        model,
        config.limits,
        max_connections=config.MAX_CONNECTIONS,
        max_batch=config.MAX_BATCH,
        min_interval=config.MIN_GUESS_INTERVAL_MS / 1000.0,
        metrics=metrics,
        background=live_worker,
    )
    timing = Timing(config.ROOM_HOST_GRACE_S, config.ROOM_EMPTY_S, config.ROOM_IDLE_S)
    store = RedisStore(redis.store(), timing) if redis else MemoryStore(timing)
    collector = collector_for(config, run_blocking, server, metrics)
    play = Play(
        live,
        store,
        clock=clock or SystemClock(),
        seconds=config.ROUND_SECONDS,
        max_players=config.ROOM_MAX_PLAYERS,
        collector=collector,
        background=live_worker,
    )
    live.observer = play.observe
    teacher = teacher_for(config, live, run_blocking, redis)
    events = LiveEvents(
        live, play, teacher, config.limits, run_blocking, config.NODE_NAME, config.TRUSTED_PROXIES
    )
    server.register_namespace(events)
    Gate(server, config.limits, events.error)
    limiter = AddressLimiter(config.HTTP_RATE_LIMIT, config.HTTP_RATE_BURST)
    switcher = ModelSwitcher(live, load_model, run_blocking, redis)
    switcher.after_switch = teacher.switched
    switcher.start()
    app.extensions[EXTENSION] = AppState(
        config=config,
        live=live,
        events=events,
        run_blocking=run_blocking,
        http_limiter=limiter,
        metrics=metrics,
        switcher=switcher,
        play=play,
        admin_limiter=AddressLimiter(ADMIN_RATE, ADMIN_BURST),
        room_limiter=AddressLimiter(ADDRESS_RATE, ADDRESS_BURST),
        collector=collector,
        started=time.monotonic(),
        redis=redis.quick() if redis else None,
    )
    http.register(app)
    for blueprint in (pages.bp, api.bp, admin.bp, probes.bp):
        app.register_blueprint(blueprint)
    http.check_bodies(app)
    logging.getLogger(__name__).info(
        "node %s: model %s (%d classes), async mode %s, %s",
        config.NODE_NAME,
        model.version,
        len(classes(model)),
        socketio.async_mode,
        f"message queue {redacted(config.REDIS_URL)}" if config.REDIS_URL else "no message queue",
    )
    return app


def collector_for(
    config: Config, run_blocking: Callable[..., Any], server: Any, metrics: Metrics
) -> Collector | None:
    """Return the collector of drawings if COLLECT_DRAWINGS is on (schema updated, if the database is up)."""
    if not config.COLLECT_DRAWINGS:
        return None
    url = database_url(config.DATABASE_URL)
    drawings = DrawingStore(make_engine(url))
    try:
        drawings.prepare()
    except Exception as exc:  # live guessing goes on; the writer tries again
        logging.getLogger(__name__).warning("the database %s is unreachable for now: %s", redacted(url), exc)
    logging.getLogger(__name__).info("collecting drawings into %s", redacted(url))
    return Collector(
        drawings, run_blocking, server.start_background_task, server.sleep, metrics, config.COLLECT_BUFFER
    )


def teacher_for(
    config: Config, live: LivePredictor, run_blocking: Callable[..., Any], redis: RedisClients | None
) -> Teacher:
    """Return the teacher: with ADMIN_TOKEN, keeping the deployment's words in the database (loaded now if
    it answers, else in the background: live guessing never waits for it) and sharing them through Redis."""
    if not config.ADMIN_TOKEN:
        return Teacher(live)
    url = database_url(config.DATABASE_URL)
    keeper = KeptWords(
        TaughtWordStore(make_engine(url)), run_blocking, live.server.start_background_task, redis
    )
    teacher = Teacher(live, keeper, max_words=config.TAUGHT_MAX_WORDS)
    keeper.changed = teacher.reload
    keeper.start()
    logging.getLogger(__name__).info("keeping taught words in %s", redacted(url))
    return teacher


def library_logger(name: str) -> logging.Logger:
    """Return a logger for python-socketio or python-engineio: warnings and errors only, to the app's log."""
    logger = logging.getLogger(name)
    logger.setLevel(logging.WARNING)
    return logger


def redacted(url: str) -> str:
    """Return a Redis or database URL without its password, for the log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
