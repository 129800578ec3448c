"""Engine.IO transport guards: input that is not Engine.IO ends cleanly, and big WebSocket frames stay cheap.

python-engineio decodes WebSocket frames and long-polling bodies itself, before any handler of the app
runs, and input it cannot decode ends in a logged traceback (long-polling bodies; WebSocket frames under
Werkzeug) or in an HTTP 500 written into the open WebSocket (eventlet). Here a WebSocket that sends a
frame that is not an Engine.IO packet is closed, as the JavaScript Engine.IO server does on a parse
error. Long-polling POSTs that Engine.IO would mishandle are refused before it sees them: bodies that are
not Engine.IO payloads (a traceback and a 200), bodies over the size limit or with packets no client
sends (the request hangs forever); and a request for a session that has just closed gets a 400 (Engine.IO
raises a KeyError for it: a 500). Each is logged on one line.

Eventlet's WebSocket also unmasks every incoming frame byte by byte in Python (about 0.35 s per MB, on
the event loop, so every client waits); `fast_unmask` does the same XOR on whole integers. The hooks that
put these guards in place are in realtime.web.compat; the POST guard is plain WSGI middleware.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable
from typing import Any

from engineio import packet, payload
from werkzeug.http import parse_cookie

from realtime.web import compat

log = logging.getLogger(__name__)

ENGINEIO_PACKET_TYPES = frozenset("0123456")  # open, close, ping, pong, message, upgrade, noop
CLIENT_POLLING_PACKETS = frozenset({packet.CLOSE, packet.PONG, packet.MESSAGE})


def is_engineio_frame(frame: Any) -> bool:
    """Tell whether a WebSocket message can be an Engine.IO packet: binary, or text led by a packet type."""
    if isinstance(frame, bytes | bytearray):
        return True
    return isinstance(frame, str) and frame[:1] in ENGINEIO_PACKET_TYPES


class CheckedWebSocket:
    """A server-side WebSocket whose `wait` reports the connection closed at the first non-Engine.IO frame."""

    def __init__(self, ws: Any) -> None:
        self._ws = ws

    def wait(self) -> Any:
        """Return the next frame; None (closed) for a frame that is not an Engine.IO packet."""
        frame = self._ws.wait()
        if frame is None or is_engineio_frame(frame):
            return frame
        log.info("closed a WebSocket that sent a frame that is not an Engine.IO packet: %.40r", frame)
        return None

    def __getattr__(self, name: str) -> Any:
        """Pass everything else (send, close, the socket) to the real WebSocket."""
        return getattr(self._ws, name)


class PollingGuard:
    """WSGI middleware in front of Engine.IO's endpoint: refuse long-polling POSTs it would mishandle."""

    def __init__(self, app: Callable[..., Iterable[Any]], max_bytes: int, path: str = "/socket.io/") -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.path = path

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[Any]:
        """Check Engine.IO POSTs; answer a request for a just-closed session with 400."""
        if not environ.get("PATH_INFO", "").startswith(self.path):
            return self.app(environ, start_response)
        if environ.get("REQUEST_METHOD") == "POST":
            status, problem, body = _check_post(environ, self.max_bytes)
            if problem:
                log.info("refused a long-polling POST: %s", problem)
                start_response(status, [("Content-Type", "text/plain")])
                return [problem.encode()]
            environ["wsgi.input"] = io.BytesIO(body)  # read once here; Engine.IO reads it again
        try:
            return self.app(environ, start_response)
        except KeyError as exc:  # Engine.IO found the session closed between looking it up and using it
            log.info("refused a request for a closed Engine.IO session: %s", exc)
            start_response("400 BAD REQUEST", [("Content-Type", "text/plain")])
            return [b"session closed"]


class NodeCookie:
    """WSGI middleware: Engine.IO responses set a cookie naming this process, for a balancer's stickiness.

    A long-polling session lives in one process; behind a load balancer every request of it must reach that
    process. deploy/nginx.conf routes a request carrying the cookie to the process it names.
    """

    NAME = "realtime_node"

    def __init__(self, app: Callable[..., Iterable[Any]], node: str, path: str = "/socket.io/") -> None:
        self.app = app
        self.cookie = f"{self.NAME}={node}; Path=/; HttpOnly; SameSite=Lax"
        self.node = node
        self.path = path

    def _has_cookie(self, environ: dict[str, Any]) -> bool:
        """Tell whether the request already carries this process's cookie (exactly)."""
        return parse_cookie(environ.get("HTTP_COOKIE", "")).get(self.NAME) == self.node

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[Any]:
        """Pass the request on; add the cookie to the answer unless the client already has it."""
        if not environ.get("PATH_INFO", "").startswith(self.path) or self._has_cookie(environ):
            return self.app(environ, start_response)

        def with_cookie(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            return start_response(status, [*headers, ("Set-Cookie", self.cookie)], *exc_info)

        return self.app(environ, with_cookie)


def harden(app: Any, eio: Any, max_packets: int) -> None:
    """Guard a Flask app's Engine.IO server: non-Engine.IO WebSocket frames close the connection, bad POSTs
    get 4xx, and eventlet's WebSockets unmask frames quickly.

    A long-polling client sends what it queued while its last POST was out as one payload: python-engineio
    refuses a payload of over 16 packets whole (400, every message in it lost), a count a drawer reaches
    in a quarter of a second. It takes up to `max_packets` (the message burst the rate limit allows).
    """
    compat.allow_payload_packets(max_packets)
    compat.wrap_websockets(eio, CheckedWebSocket)
    app.wsgi_app = PollingGuard(app.wsgi_app, eio.max_http_buffer_size)
    if eio.async_mode == "eventlet":
        compat.replace_websocket_unmasking(fast_unmask)


def _check_post(environ: dict[str, Any], max_bytes: int) -> tuple[str, str, bytes]:
    """Read a long-polling POST body; return (HTTP status, what is wrong with it or '', the body).

    Engine.IO answers a body over its size limit, or a packet that clients do not send over long-polling
    (open, ping, upgrade, noop, or an unknown type), by closing the session and waiting, in the request,
    for a poll that can no longer come: the request hangs for good and holds one of the server's
    request slots. Such bodies, and bodies that are not Engine.IO payloads at all, are refused here.
    """
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return "400 BAD REQUEST", "no valid Content-Length", b""
    if length > max_bytes:
        return "413 REQUEST ENTITY TOO LARGE", f"over {max_bytes} bytes", b""
    body = environ["wsgi.input"].read(length)
    try:
        packets = payload.Payload(encoded_payload=body.decode("utf-8")).packets
    except (ValueError, TypeError, KeyError, IndexError) as exc:  # what the payload decoder raises
        return "400 BAD REQUEST", f"not an Engine.IO payload ({str(exc)[:60]})", body
    kinds = {pkt.packet_type for pkt in packets} - CLIENT_POLLING_PACKETS
    if kinds:
        return "400 BAD REQUEST", f"Engine.IO packet types {sorted(kinds)} are not sent by clients", body
    return "200 OK", "", body


def fast_unmask(data: bytes, mask: Any, length: int | None = None, offset: int = 0) -> bytes:
    """XOR `data` with the 4-byte WebSocket `mask` (rotated by `offset`), as one big-integer operation."""
    length = len(data) if length is None else length
    key = bytes(mask[(offset + i) % 4] for i in range(4))
    repeated = key * (length // 4 + 1)
    masked = int.from_bytes(data[:length], "little") ^ int.from_bytes(repeated[:length], "little")
    return masked.to_bytes(length, "little")
