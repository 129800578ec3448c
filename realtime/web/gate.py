"""The gate in front of python-socketio's dispatcher: each packet is rate limited, checked, then passed on.

python-socketio decodes each Engine.IO message into a Socket.IO packet and dispatches it. What it cannot
decode or dispatch (bad JSON, a payload that is not an event, binary attachments) raises inside Engine.IO,
which logs a traceback and answers nothing; and a client could send the event names python-socketio
raises itself (`connect`, `disconnect`) straight to the app's handlers for those.

The gate takes the dispatcher's place. Each packet first passes its connection's rate limits, before
anything is decoded, so that a flood costs the server almost nothing; a dropped packet also holds up that
connection's next read a little, which pushes back on the sender through TCP. Then the packet must be one
that a client of the protocol sends; anything else gets an `error` event. Only then does python-socketio
dispatch it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from socketio import Server, packet

from realtime.core.errors import InputError
from realtime.core.protocol import Limits
from realtime.infra.ratelimit import Monotonic, TokenBucket
from realtime.web import compat

RATE_ERROR_INTERVAL_S = 1.0  # at most one `rate_limited` error per second: a flooder gets no flood back
MAX_PENALTY_S = 0.1  # the longest a dropped packet holds up the next read of its own connection
# A connection's reader handles the packets already buffered one after another. Once this much time has
# passed since the gate last yielded (one timer for the whole server), the next packet handled yields,
# so no connection holds the event loop much longer than this. (A yield after every packet costs a
# green-thread switch per message.)
YIELD_EVERY_S = 0.002
# python-socketio's own names: a client sending these would reach the connection handlers or the catch-all.
RESERVED_EVENTS = frozenset({"connect", "disconnect", "*"})


class RateLimiter:
    """One connection's message and byte budgets."""

    def __init__(self, limits: Limits, clock: Monotonic = time.monotonic) -> None:
        self.messages = TokenBucket(limits.rate_limit, limits.rate_burst, clock)
        self.bytes = TokenBucket(limits.rate_limit_bytes, limits.rate_burst_bytes, clock)
        self.last_notice = -math.inf  # monotonic time of the last `rate_limited` error sent

    def admit(self, size: int) -> bool:
        """Spend one message and `size` bytes if both budgets allow it; False means drop the message."""
        messages, data = self.messages.has(1.0), self.bytes.has(size)  # both refilled: see seconds_until
        if messages and data:
            self.messages.spend(1.0)
            self.bytes.spend(size)
        return messages and data

    def seconds_until(self, size: int) -> float:
        """Return how long until a message of `size` bytes would be admitted."""
        return max(self.messages.seconds_until(1.0), self.bytes.seconds_until(size))


def decode(packet_class: type[packet.Packet], data: Any) -> packet.Packet:
    """Decode one Socket.IO packet, refusing what no client of the protocol sends (as InputError)."""
    if isinstance(data, bytes | bytearray):
        raise InputError("bad_packet", "binary messages are not part of the protocol")
    if not isinstance(data, str):  # Engine.IO found JSON where a Socket.IO packet should be
        raise InputError("bad_packet", "not a Socket.IO packet")
    try:
        decoded = packet_class(encoded_packet=data)
    except (ValueError, TypeError, IndexError, KeyError) as exc:  # what python-socketio's decoder raises
        raise InputError("bad_packet", "not a Socket.IO packet") from exc
    kind = decoded.packet_type
    if kind in (packet.CONNECT, packet.DISCONNECT):
        return decoded  # python-socketio answers unknown namespaces and repeated connects itself
    if kind in (packet.BINARY_EVENT, packet.BINARY_ACK):
        raise InputError("bad_packet", "binary attachments are not part of the protocol")
    if kind != packet.EVENT:
        raise InputError("bad_packet", "a client sends only connect, disconnect and event packets")
    if (decoded.namespace or "/") != "/":
        raise InputError("bad_packet", "only the namespace / is served")
    event = decoded.data
    if not isinstance(event, list) or not event or not isinstance(event[0], str):
        raise InputError("bad_packet", "an event is a JSON array that starts with the event's name")
    if event[0] in RESERVED_EVENTS:
        raise InputError("unknown_event", f"{event[0]!r} is reserved: no client may send it")
    return decoded


class Gate:
    """Stand in for python-socketio's packet dispatcher on one server: limit, check, then dispatch.

    Creating a gate puts it in front of the server's dispatcher (through realtime.web.compat).
    """

    def __init__(self, server: Server, limits: Limits, report: Callable[[str, str, str], None]) -> None:
        self.server = server
        self.limits = limits
        self.report = report  # report(sid, code, message): send an `error` event
        self.limiters: dict[str, RateLimiter] = {}  # by Engine.IO session: namespace reconnects keep theirs
        self._yielded_at = time.perf_counter()
        self._dispatch, self._closed = compat.intercept_packets(server, self.message, self.disconnect)

    def message(self, eio_sid: str, data: Any) -> None:
        """Take one Socket.IO packet from a connection."""
        sid = self.server.manager.sid_from_eio_sid(eio_sid, "/")
        limiter = self.limiters.get(eio_sid)
        if limiter is None:
            limiter = self.limiters[eio_sid] = RateLimiter(self.limits)
        size = len(data) if isinstance(data, str | bytes | bytearray) else 0
        joining = sid is None and isinstance(data, str) and data[:1] == str(packet.CONNECT)
        if not joining and not limiter.admit(size):  # a connection's way in is free, the rest is not
            self._drop(sid, limiter, size)
            return
        try:
            decoded = decode(self.server.packet_class, data)
        except InputError as exc:
            if sid is not None:
                self.report(sid, exc.code, exc.message)
        else:
            if decoded.packet_type == packet.EVENT:  # already decoded: skip the dispatcher's second parse
                compat.dispatch_event(self.server, eio_sid, decoded.namespace, decoded.id, decoded.data)
            else:
                self._dispatch(eio_sid, data)
        now = time.perf_counter()
        if now - self._yielded_at >= YIELD_EVERY_S:  # let other connections in
            self.server.sleep(0)
            self._yielded_at = time.perf_counter()

    def disconnect(self, eio_sid: str, reason: Any = None) -> None:
        """Forget a closed connection's budgets, then let python-socketio clean up after it."""
        self.limiters.pop(eio_sid, None)
        self._closed(eio_sid, reason)

    def _drop(self, sid: str | None, limiter: RateLimiter, size: int) -> None:
        """Drop a packet over the limits: tell the client (at most once a second) and slow its reads."""
        now = time.monotonic()
        if sid is not None and now - limiter.last_notice >= RATE_ERROR_INTERVAL_S:
            limiter.last_notice = now
            limits = self.limits
            message = (
                f"over {limits.rate_limit:g} messages or {limits.rate_limit_bytes:g} bytes per second: "
                "messages dropped; send `sync` later"
            )
            self.report(sid, "rate_limited", message)
        self.server.sleep(min(limiter.seconds_until(size), MAX_PENALTY_S))
