"""Hot model reload: every server process switches to another model folder, without a restart.

`POST /admin/reload` asks one process. It loads and verifies the model first (`Model.verify`: the
folder's check file), so a bad folder changes nothing anywhere; then, with a message queue, it announces
the switch on a Redis channel of its own and every process (itself included) loads, verifies and
switches; without one, it switches alone. A process switches between live passes, tells each of its
clients (`model` event) and predicts every open drawing again with the new model.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from redis import RedisError

from realtime.infra.redis import RedisClients
from realtime.model.live import LivePredictor
from realtime.model.ranking import Model, ModelError, ModelLoader, classes

log = logging.getLogger(__name__)

CHANNEL = "realtime:reload"
RETRY_MAX_S = 30.0  # the listener retries a lost Redis connection after 1, 2, 4, ... up to this many seconds


class ReloadUnavailable(RuntimeError):
    """The switch could not be announced to the other processes (their Redis is unreachable)."""


class ModelSwitcher:
    """Loads, verifies and switches models in this process; announces switches to the others over Redis."""

    def __init__(
        self,
        live: LivePredictor,
        load: ModelLoader,
        run_blocking: Callable[..., Any],
        redis: RedisClients | None = None,
    ) -> None:
        self.live = live
        self.load = load
        self.run_blocking = run_blocking
        # Two clients (None: no message queue, this process switches alone): announcing must fail fast,
        # listening waits for as long as it takes.
        self.redis = redis.quick() if redis else None
        self.subscriber = redis.subscriber() if redis else None
        self._listener: Any = None
        self.after_switch: Callable[[Model], None] | None = None  # e.g. the teacher embeds its words again

    def start(self) -> None:
        """Start listening for switches announced by any process (only with a message queue)."""
        if self.redis is not None and self._listener is None:
            self._listener = self.live.server.start_background_task(self._listen)

    def request(self, name: str) -> Model:
        """Verify `name` here, then switch every process to it; return the verified model.

        ModelError when the folder is missing or fails verification (nothing changes anywhere);
        ReloadUnavailable when the other processes cannot be told (nothing changes anywhere).
        """
        model = self.run_blocking(self._load_verified, name)
        if self.redis is None:
            self.switch(model)
            return model
        try:
            heard = self.redis.publish(CHANNEL, json.dumps({"model": name}))
        except RedisError as exc:
            raise ReloadUnavailable(
                f"the other processes cannot be told: Redis is unreachable: {exc}"
            ) from exc
        if not heard:  # every listener is still reconnecting (Redis has just come back): try again soon
            raise ReloadUnavailable("no process is listening on Redis yet: try again in a few seconds")
        return model

    def switch(self, model: Model) -> None:
        """Serve `model` in this process, tell its clients, predict their drawings again."""
        again = self.live.switch(model)
        if self.after_switch is not None:
            self.after_switch(model)
        self.live.server.emit("model", {"model": model.version, "labels": classes(model)}, ignore_queue=True)
        log.info("now serving %s; predicting %d drawings again", model.version, again)

    def _load_verified(self, name: str) -> Model:
        """Load a model folder and check it against its own check file; ModelError for whatever is wrong."""
        try:
            model = self.load(name)
            model.verify()
        except ModelError:
            raise
        except Exception as exc:  # a corrupt model or labels file, an unreadable folder: runtime, json, OS
            raise ModelError(f"{name} cannot be loaded: {exc}") from exc
        return model

    def _apply(self, data: bytes | str) -> None:
        """Switch to the model a process announced (verified again here: files may differ per machine)."""
        try:
            name = json.loads(data)["model"]
            model = self.run_blocking(self._load_verified, name)
        except (ValueError, KeyError, TypeError, ModelError) as exc:
            log.error("refused an announced model switch: %s", exc)
            return
        if model.version != self.live.model.version:
            self.switch(model)

    def _apply_safely(self, data: bytes | str) -> None:
        """Apply an announced switch; a failure is logged and the listener goes on."""
        try:
            self._apply(data)
        except Exception:
            log.exception("an announced model switch failed")

    def _listen(self) -> None:
        """Apply every announced switch; on a lost Redis connection, say so once and retry with backoff."""
        assert self.subscriber is not None
        delay, failing = 1.0, False
        while True:
            try:
                pubsub = self.subscriber.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(CHANNEL)
                if failing:
                    log.warning("Redis is reachable again: model switches are heard again")
                delay, failing = 1.0, False
                try:
                    for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._apply_safely(message["data"])
                finally:
                    pubsub.close()
            except RedisError as exc:
                if not failing:
                    log.warning("Redis is unreachable (%s): no model switch is heard until it is back", exc)
                failing = True
                time.sleep(delay)
                delay = min(2 * delay, RETRY_MAX_S)
