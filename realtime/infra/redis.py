"""Redis clients, built in one place: one URL and its options for all, the timeouts each use needs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import socketio
from redis import Redis


@dataclass(frozen=True)
class RedisClients:
    """Build Redis clients for one server: the same URL and options (TLS) for all, timeouts per use."""

    url: str
    options: Mapping[str, Any] = field(default_factory=dict)  # beyond the URL: Config.redis_options()

    def quick(self) -> Redis:
        """Return a client whose calls fail within a second: announcing, probing (never wait on Redis)."""
        return Redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=1, **self.options)

    def store(self) -> Redis:
        """Return a client for the room store: a call waits up to five seconds."""
        return Redis.from_url(self.url, socket_timeout=5, **self.options)

    def subscriber(self) -> Redis:
        """Return a client for listening on a channel: it waits as long as it takes for the next message.

        It pings an idle connection now and then: a half-open one is noticed instead of waited on for good.
        """
        return Redis.from_url(self.url, socket_connect_timeout=2, health_check_interval=30, **self.options)

    def message_queue(self, channel: str) -> socketio.RedisManager:
        """Return Flask-SocketIO's message queue between server processes, on `channel`."""
        return socketio.RedisManager(self.url, channel=channel, redis_options=dict(self.options))
