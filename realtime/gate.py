"""The gate in front of python-socketio's dispatcher: each packet is rate limited, checked, then passed on.

python-socketio decodes each Engine.IO message into a Socket.IO packet and dispatches it. What it cannot
decode or dispatch (bad JSON, a payload that is not an event, binary attachments) raises inside Engine.IO,
which logs a traceback and answers nothing; and a client could send the event names python-socketio
keeps for itself (`connect`, `disconnect`, the catch-all `*`) straight to the app's handlers for those.

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
from dataclasses import dataclass
from typing import Any

from socketio import Server, packet

from realtime.drawing import ProtocolError

RATE_ERROR_INTERVAL_S = 1.0  # at most one `rate_limited` error per second: a flooder gets no flood back
MAX_PENALTY_S = 0.1  # the longest a dropped packet holds up the next read of its own connection
# A connection's reader handles the packets already buffered one after another. Once this much time has
# passed since the gate last yielded (one timer for the whole server), the next packet handled yields,
# so no connection holds the event loop much longer than this. (A yield after every packet costs a
# green-thread switch per message.)
YIELD_EVERY_S = 0.002
# python-socketio's own names: a client sending these would reach the connection handlers or the catch-all.
RESERVED_EVENTS = frozenset({"connect", "disconnect", "*"})


class TokenBucket:
    """Allow `rate` units per second on average, with bursts of up to `burst`."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def refill(self) -> None:
        """Add the tokens earned since the last refill."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def seconds_until(self, amount: float) -> float:
        """Return how long until `amount` tokens are there (0 if they already are)."""
        return max(0.0, (amount - self.tokens) / self.rate)


@dataclass(frozen=True)
class Rates:
    """Per-connection limits: messages and bytes per second, each with a burst allowance."""

    messages: float
    message_burst: int
    bytes: float
    byte_burst: int


class RateLimiter:
    """One connection's message and byte budgets."""

    def __init__(self, rates: Rates) -> None:
        self.messages = TokenBucket(rates.messages, rates.message_burst)
        self.bytes = TokenBucket(rates.bytes, rates.byte_burst)
        self.last_notice = -math.inf  # monotonic time of the last `rate_limited` error sent

    def admit(self, size: int) -> bool:
        """Spend one message and `size` bytes if both budgets allow it; False means drop the message."""
        self.messages.refill()
        self.bytes.refill()
        if self.messages.tokens >= 1.0 and self.bytes.tokens >= size:
            self.messages.tokens -= 1.0
            self.bytes.tokens -= size
            return True
        return False

    def seconds_until(self, size: int) -> float:
        """Return how long until a message of `size` bytes would be admitted."""
        return max(self.messages.seconds_until(1.0), self.bytes.seconds_until(size))


def decode(packet_class: type[packet.Packet], data: Any) -> packet.Packet:
    """Decode one Socket.IO packet, refusing what no client of the protocol sends (as ProtocolError)."""
    if isinstance(data, bytes | bytearray):
        raise ProtocolError("bad_packet", "binary messages are not part of the protocol")
    if not isinstance(data, str):  # Engine.IO found JSON where a Socket.IO packet should be
        raise ProtocolError("bad_packet", "not a Socket.IO packet")
    try:
        decoded = packet_class(encoded_packet=data)
    except (ValueError, TypeError, IndexError, KeyError) as exc:  # what python-socketio's decoder raises
        raise ProtocolError("bad_packet", "not a Socket.IO packet") from exc
    kind = decoded.packet_type
    if kind in (packet.CONNECT, packet.DISCONNECT):
        return decoded  # python-socketio answers unknown namespaces and repeated connects itself
    if kind in (packet.BINARY_EVENT, packet.BINARY_ACK):
        raise ProtocolError("bad_packet", "binary attachments are not part of the protocol")
    if kind != packet.EVENT:
        raise ProtocolError("bad_packet", "a client sends only connect, disconnect and event packets")
    if (decoded.namespace or "/") != "/":
        raise ProtocolError("bad_packet", "only the namespace / is served")
    event = decoded.data
    if not isinstance(event, list) or not event or not isinstance(event[0], str):
        raise ProtocolError("bad_packet", "an event is a JSON array that starts with the event's name")
    if event[0] in RESERVED_EVENTS:
        raise ProtocolError("unknown_event", f"{event[0]!r} is reserved: no client may send it")
    return decoded


class Gate:
    """Stand in for python-socketio's packet dispatcher on one server: limit, check, then dispatch."""

    def __init__(self, server: Server, rates: Rates, report: Callable[[str, str, str], None]) -> None:
        self.server = server
        self.rates = rates
        self.report = report  # report(sid, code, message): send an `error` event
        self.limiters: dict[str, RateLimiter] = {}  # by Engine.IO session: namespace reconnects keep theirs
        self._dispatch = server._handle_eio_message
        self._closed = server._handle_eio_disconnect
        self._yielded_at = time.perf_counter()

    def install(self) -> None:
        """Put the gate in front of the server's dispatcher."""
        # Engine.IO calls its registered handlers; Flask-SocketIO's test client calls the method directly.
        self.server._handle_eio_message = self.message
        self.server.eio.on("message", self.message)
        self.server.eio.on("disconnect", self.disconnect)

    def message(self, eio_sid: str, data: Any) -> None:
        """Take one Socket.IO packet from a connection."""
        sid = self.server.manager.sid_from_eio_sid(eio_sid, "/")
        limiter = self.limiters.get(eio_sid)
        if limiter is None:
            limiter = self.limiters[eio_sid] = RateLimiter(self.rates)
        size = len(data) if isinstance(data, str | bytes | bytearray) else 0
        joining = sid is None and isinstance(data, str) and data[:1] == str(packet.CONNECT)
        if not joining and not limiter.admit(size):  # a connection's way in is free, the rest is not
            self._drop(sid, limiter, size)
            return
        try:
            decoded = decode(self.server.packet_class, data)
        except ProtocolError as exc:
            if sid is not None:
                self.report(sid, exc.code, exc.message)
        else:
            if decoded.packet_type == packet.EVENT:  # already decoded: skip the dispatcher's second parse
                self.server._handle_event(eio_sid, decoded.namespace, decoded.id, decoded.data)
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
            message = (
                f"over {self.rates.messages:g} messages or {self.rates.bytes:g} bytes per second: "
                "messages dropped; send `sync` later"
            )
            self.report(sid, "rate_limited", message)
        self.server.sleep(min(limiter.seconds_until(size), MAX_PENALTY_S))
