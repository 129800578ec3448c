"""What the app's handlers share (`AppState`, built by the app factory), and `app_state()` to reach it."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from flask import Flask, current_app
from redis import Redis, RedisError

from realtime.collect.collector import Collector
from realtime.config import Config
from realtime.game.play import Play
from realtime.infra.metrics import Metrics
from realtime.infra.ratelimit import AddressLimiter
from realtime.model.live import LivePredictor
from realtime.model.ranking import Model
from realtime.model.switcher import ModelSwitcher
from realtime.web.events import LiveEvents

EXTENSION = "realtime"  # the app's `extensions` key of its AppState
REDIS_CHECK_S = 1.0  # how long a readiness check of Redis is trusted


@dataclass
class AppState:
    """What the handlers of one app share: settings, model, live predictor, how to run slow calls."""

    config: Config
    live: LivePredictor
    events: LiveEvents
    run_blocking: Callable[..., Any]
    http_limiter: AddressLimiter  # the routes that run the model (`costly`), per client address
    metrics: Metrics
    switcher: ModelSwitcher
    play: Play
    admin_limiter: AddressLimiter  # wrong admin tokens, per client address
    room_limiter: AddressLimiter  # a room's pages, per client address: they say whether a code is in use
    collector: Collector | None  # COLLECT_DRAWINGS: what is kept, and the database it goes to
    started: float  # time.monotonic() at creation
    redis: Redis | None  # the readiness probe's own client (fails within a second); None: no message queue
    _redis_checked: tuple[float, bool] = (-math.inf, False)  # (monotonic time, reachable) of the last PING

    @property
    def model(self) -> Model:
        """Return the model being served (hot reload switches it)."""
        return self.live.model

    def classify(
        self, model: Model, make_bitmap: Callable[..., np.ndarray], *args: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """Build the 28×28 bitmap with `make_bitmap(*args)` and classify it, in one call off the loop."""
        return self.run_blocking(_classify, model, make_bitmap, *args)

    def redis_reachable(self) -> bool | None:
        """Tell whether the message queue's Redis answers (None: no message queue configured).

        The answer is kept for a second: a burst of probes costs one PING, not one connection each.
        """
        redis = self.redis
        if redis is None:
            return None
        now = time.monotonic()
        if now - self._redis_checked[0] >= REDIS_CHECK_S:
            try:
                reachable = bool(redis.ping())
            except RedisError:
                reachable = False
            self._redis_checked = (time.monotonic(), reachable)
        return self._redis_checked[1]


def app_state() -> AppState:
    """Return the current app's shared state."""
    return state_of(current_app)


def state_of(app: Flask) -> AppState:
    """Return `app`'s shared state (outside a request: the entry point, tests)."""
    state: AppState = app.extensions[EXTENSION]
    return state


def _classify(
    model: Model, make_bitmap: Callable[..., np.ndarray], *args: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Build the bitmap and classify it (the blocking call itself)."""
    bitmap = make_bitmap(*args)
    return bitmap, model.predict(bitmap[np.newaxis])[0]
