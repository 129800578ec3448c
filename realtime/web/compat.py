"""The one place that touches private internals of python-socketio, python-engineio and eventlet.

Each hook below says what the public API lacks. The lock files pin these libraries exactly, and
`check()` runs at start-up, before the server takes any connection: if a hooked method is missing or its
signature changed (a new release), the server stops with one line naming the library and its version,
never running half hooked. The two hooked attributes (Engine.IO's driver table and payload limit) are
checked where the app is created, with the same kind of error. The tests exercise every hook.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import engineio
import socketio


class IncompatibleLibrary(RuntimeError):
    """An installed library lacks a name this module hooks, or has changed its signature."""


@dataclass(frozen=True)
class Hook:
    """One name this module relies on: where it lives and the parameters it must take.

    With `exact`, the parameters must be exactly these (a method this module calls or replaces); else
    they must include them (a function this module calls with some of its keyword arguments).
    """

    distribution: str  # the package's name on PyPI, for the error message
    owner: Callable[[], Any]  # returns the class or module that holds the name (imported on use)
    name: str
    parameters: tuple[str, ...]
    exact: bool = True

    def problem(self) -> str | None:
        """Return what is wrong with the hooked name in the installed library, or None."""
        try:
            target = getattr(self.owner(), self.name, None)
            if not callable(target):
                return f"has no {self.name}"
            found = tuple(inspect.signature(target).parameters)
        except (ImportError, ValueError, TypeError) as exc:  # a module gone, a signature unreadable
            return f"{self.name} cannot be inspected ({exc})"
        if found != self.parameters if self.exact else not set(self.parameters) <= set(found):
            return f"{self.name} takes ({', '.join(found)}), expected ({', '.join(self.parameters)})"
        return None


def _eventlet_websocket() -> Any:
    """Return eventlet's WebSocket class (imported only in eventlet mode)."""
    from eventlet import websocket

    return websocket.RFC6455WebSocket


def _eventlet_wsgi() -> Any:
    """Return eventlet's WSGI server module (imported only in eventlet mode)."""
    from eventlet import wsgi

    return wsgi


def _eventlet_protocol() -> Any:
    """Return eventlet's HTTP protocol class, which reads each request of a connection."""
    return _eventlet_wsgi().HttpProtocol


# python-socketio has no public hook between receiving a packet and dispatching it, which the gate needs
# (rate limits before decoding, refusing packets no client sends); and Flask-SocketIO's test client calls
# `_handle_eio_message` itself, so the gate must take that name's place too.
SOCKETIO_HOOKS = (
    Hook("python-socketio", lambda: socketio.Server, "_handle_eio_message", ("self", "eio_sid", "data")),
    Hook("python-socketio", lambda: socketio.Server, "_handle_eio_disconnect", ("self", "eio_sid", "reason")),
    Hook(
        "python-socketio",
        lambda: socketio.Server,
        "_handle_event",
        ("self", "eio_sid", "namespace", "id", "data"),
    ),
)
EVENTLET_HOOKS = (
    # eventlet unmasks WebSocket frames byte by byte in Python; no option replaces it.
    Hook("eventlet", _eventlet_websocket, "_apply_mask", ("data", "mask", "length", "offset")),
    # eventlet's server has a timeout per socket operation, but none for a whole request line and its
    # headers: a client sending one header byte at a time holds a request slot for good. The deadline
    # subclasses its protocol (a deprecated but working parameter) around two undocumented methods.
    Hook("eventlet", _eventlet_wsgi, "server", ("protocol", "socket_timeout", "max_size"), exact=False),
    Hook("eventlet", _eventlet_protocol, "handle_one_request", ("self",)),
    Hook("eventlet", _eventlet_protocol, "get_environ", ("self",)),
    # After answering, eventlet reads and throws away whatever body the app left unread, however long
    # (a refused chunked body can go on for ever), to keep the connection; there is no bound to set.
    Hook("eventlet", lambda: _eventlet_wsgi().Input, "discard", ("self", "buffer_size")),
)


def hooks(async_mode: str) -> tuple[Hook, ...]:
    """Return the hooks used in an async mode."""
    return SOCKETIO_HOOKS + (EVENTLET_HOOKS if async_mode == "eventlet" else ())


def version(distribution: str) -> str:
    """Return an installed distribution's version."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "(not installed)"


def check(async_mode: str) -> None:
    """Raise IncompatibleLibrary, in one line, if any name hooked in `async_mode` is missing or changed."""
    for hook in hooks(async_mode):
        problem = hook.problem()
        if problem:
            raise IncompatibleLibrary(
                f"{hook.distribution} {version(hook.distribution)} is not supported: {problem} "
                "(install from the lock file: requirements.txt)"
            )


def _driver_table(eio: engineio.Server) -> dict[str, Any]:
    """Return an Engine.IO server's async driver table (checked when the app is created).

    python-engineio builds each WebSocket from this table; there is no option to wrap them.
    """
    table = getattr(eio, "_async", None)
    if not isinstance(table, dict) or not callable(table.get("websocket")):
        raise IncompatibleLibrary(
            f"python-engineio {version('python-engineio')} is not supported: "
            "its server has no async driver table with a WebSocket class"
        )
    return table


def wrap_websockets(eio: engineio.Server, wrap: Callable[[Any], Any]) -> None:
    """Make every WebSocket that `eio` accepts reach Engine.IO's handler as `wrap(ws)`."""
    table = _driver_table(eio)
    websocket_class = table["websocket"]

    def make(handler: Callable[[Any], Any], server: Any) -> Any:
        return websocket_class(lambda ws: handler(wrap(ws)), server)

    eio._async = {**table, "websocket": make}  # a copy: the driver's table is shared by every server


def intercept_packets(
    server: socketio.Server,
    message: Callable[[str, Any], None],
    disconnect: Callable[[str, Any], None],
) -> tuple[Callable[[str, Any], None], Callable[[str, Any], None]]:
    """Route a server's incoming Socket.IO packets and disconnects to `message` and `disconnect`.

    Returns python-socketio's own dispatcher and disconnect handler, for the interceptors to call on.
    """
    dispatch, closed = server._handle_eio_message, server._handle_eio_disconnect
    server._handle_eio_message = message  # what Flask-SocketIO's test client calls
    server.eio.on("message", message)  # what Engine.IO calls
    server.eio.on("disconnect", disconnect)
    return dispatch, closed


def dispatch_event(server: socketio.Server, eio_sid: str, namespace: str | None, id: Any, data: Any) -> None:
    """Hand python-socketio an event packet that is already decoded (its dispatcher would parse it again)."""
    server._handle_event(eio_sid, namespace, id, data)


def allow_payload_packets(count: int) -> None:
    """Let python-engineio decode long-polling payloads of up to `count` packets (its default is 16).

    The limit is a class attribute shared by every server; there is no option for it.
    """
    from engineio import payload

    limit = getattr(payload.Payload, "max_decode_packets", None)
    if not isinstance(limit, int):
        distribution = "python-engineio"
        raise IncompatibleLibrary(
            f"{distribution} {version(distribution)} is not supported: Payload has no max_decode_packets"
        )
    payload.Payload.max_decode_packets = max(limit, count)


def replace_websocket_unmasking(unmask: Callable[..., bytes]) -> None:
    """Make eventlet's WebSockets unmask incoming frames with `unmask` (same arguments as its own)."""
    _eventlet_websocket()._apply_mask = staticmethod(unmask)


def header_deadline_protocol(seconds: float, max_discard: int) -> type:
    """Return eventlet's HTTP protocol with a deadline: a request line and headers arrive within `seconds`.

    The deadline covers the wait for each request of a connection (a keep-alive connection idle that
    long is closed too) and ends when the headers are parsed, before the app runs: an upgraded WebSocket
    or a long-polling request is never cut by it. eventlet closes a connection whose deadline passed
    quietly, as it does on any socket timeout. A body the app leaves unread is thrown away up to
    `max_discard` bytes; beyond that the connection is closed instead.
    """

    import eventlet

    base = _eventlet_protocol()

    class HeaderDeadlineProtocol(base):  # type: ignore[misc, valid-type]
        """eventlet's HttpProtocol, with a deadline on each request's line and headers."""

        def handle_one_request(self) -> None:
            """Read and answer one request; give up on it when its headers are late."""
            self.header_deadline = eventlet.Timeout(seconds, TimeoutError("request headers too slow"))
            try:
                super().handle_one_request()
            finally:
                self.header_deadline.cancel()

        def get_environ(self) -> dict[str, Any]:
            """Build the request's environ: the headers are in, so the deadline is over."""
            self.header_deadline.cancel()
            environ = super().get_environ()
            body = environ["eventlet.input"]

            def discard(buffer_size: int = 16 << 10) -> None:
                """Read and drop what is left of the body, up to `max_discard` bytes (OSError beyond)."""
                left = max_discard
                while left > 0:
                    data = body.read(min(buffer_size, left))
                    if not data:
                        return
                    left -= len(data)
                if body.read(1):
                    raise OSError(f"the unread request body is longer than {max_discard} bytes")

            body.discard = discard  # eventlet treats an OSError here by closing the connection
            return environ

    return HeaderDeadlineProtocol
