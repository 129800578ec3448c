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
the event loop, so every client waits); `fast_unmask` does the same XOR on whole integers.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable
from typing import Any

from engineio import packet, payload

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


def _checked_websockets(websocket_class: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap an Engine.IO async driver's WebSocket class so that its handler sees a CheckedWebSocket."""

    def make(handler: Callable[[Any], Any], server: Any) -> Any:
        return websocket_class(lambda ws: handler(CheckedWebSocket(ws)), server)

    return make


def harden(eio: Any) -> None:
    """Guard an engineio.Server: non-Engine.IO WebSocket frames close the connection, bad POSTs get 4xx."""
    # A copy: the driver's table is shared by every server of the process.
    eio._async = {**eio._async, "websocket": _checked_websockets(eio._async["websocket"])}
    handle_request = eio.handle_request

    def guarded_handle_request(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[Any]:
        """Refuse long-polling POSTs Engine.IO would mishandle; answer a just-closed session with 400."""
        if environ.get("REQUEST_METHOD") == "POST":
            status, problem, body = _check_post(environ, eio.max_http_buffer_size)
            if problem:
                log.info("refused a long-polling POST: %s", problem)
                start_response(status, [("Content-Type", "text/plain")])
                return [problem.encode()]
            environ["wsgi.input"] = io.BytesIO(body)  # read once here; Engine.IO reads it again
        try:
            return handle_request(environ, start_response)
        except KeyError as exc:  # Engine.IO found the session closed between looking it up and using it
            log.info("refused a request for a closed Engine.IO session: %s", exc)
            start_response("400 BAD REQUEST", [("Content-Type", "text/plain")])
            return [b"session closed"]

    eio.handle_request = guarded_handle_request
    if eio.async_mode == "eventlet":
        speed_up_eventlet_websockets()


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


def speed_up_eventlet_websockets() -> None:
    """Replace eventlet's byte-by-byte WebSocket unmasking with `fast_unmask` (same result, ~80× faster)."""
    from eventlet import websocket

    websocket.RFC6455WebSocket._apply_mask = staticmethod(fast_unmask)
