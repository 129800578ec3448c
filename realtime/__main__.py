"""Run the server: `python -m realtime [--host H] [--port P] [--model NAME] [--async-mode MODE]`."""

from __future__ import annotations

import argparse
import logging
import os
import resource
import sys
import time
import warnings
from typing import TYPE_CHECKING, Any, NoReturn

from realtime.infra.concurrency import ASYNC_MODES

if TYPE_CHECKING:
    from flask import Flask

    from realtime.config import Config
    from realtime.web.state import AppState

# Request slots beyond MAX_CONNECTIONS (each WebSocket holds one): page loads and long-polling requests.
SPARE_SLOTS = 256
# File descriptors beyond the request slots: the listening socket, the model, logs, tpool's pipes.
SPARE_FILES = 64
# After SIGTERM, requests still in flight get this long before the process exits anyway (platforms send
# SIGKILL 10 s after SIGTERM).
SHUTDOWN_S = 8.0
CLOSE_GRACE_S = 0.3  # for the last packets to leave before the process exits
FLUSH_S = 1.0  # for the collected drawings still buffered to reach the database (COLLECT_DRAWINGS)


def parse_args(defaults: Config, argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line; the defaults are the settings read from the environment."""
    parser = argparse.ArgumentParser(
        prog="python -m realtime",
        description=(
            "Serve the real-time doodle recognizer: the drawing page, the Socket.IO live protocol "
            "(docs/protocol.md), POST /predict, POST /api/predict and GET /healthz. Every other setting "
            "(limits, CORS_ORIGINS, SECRET_KEY, LOG_LEVEL, ...) is read from environment variables: "
            "see README.md."
        ),
    )
    parser.add_argument(
        "--host",
        default=defaults.HOST,
        help=f"address to listen on (default: $HOST or {defaults.HOST}; 0.0.0.0 accepts outside connections)",
    )
    parser.add_argument(
        "--port", type=int, default=defaults.PORT, help=f"TCP port (default: $PORT or {defaults.PORT})"
    )
    parser.add_argument(
        "--model",
        default=defaults.MODEL,
        help=f"model folder under models/ (default: $MODEL or {defaults.MODEL})",
    )
    parser.add_argument(
        "--async-mode",
        choices=ASYNC_MODES,
        default=defaults.ASYNC_MODE,
        help=(
            f"eventlet: green threads, eventlet's production WSGI server (default: $ASYNC_MODE or "
            f"{defaults.ASYNC_MODE}); threading: OS threads, Werkzeug's server with simple-websocket"
        ),
    )
    return parser.parse_args(argv)


def raise_file_limit(connections: int) -> None:
    """Raise the soft limit on open files (often 1024) to fit `connections` sockets, up to the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + SPARE_FILES
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        if new < wanted:
            logging.getLogger("realtime").warning(
                "open files are limited to %d: fewer than %d connections fit", new, connections
            )


def needs_dns(url: str) -> bool:
    """Tell whether a Redis URL names its host by a name that must be looked up (not an IP address)."""
    import ipaddress
    from urllib.parse import urlsplit

    host = urlsplit(url).hostname if url else None
    if not host or host == "localhost":
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return False


def fail(message: object) -> NoReturn:
    """Stop with a one-line error and status 2 (a bad setting, a missing model, an unsupported library)."""
    print(f"python -m realtime: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def main(argv: list[str] | None = None) -> None:
    """Start the server and serve until interrupted."""
    # Start-up time (healthy in under a second): python-socketio imports its asyncio client's aiohttp
    # when that is installed (a development or benchmark environment) for 0.13 s, and the server never
    # uses it.
    sys.modules.setdefault("aiohttp", None)  # an import of it now fails, as where it is not installed
    # Clients send broken images on purpose: OpenCV's warnings about them would only flood the log.
    # (Set before the settings import the rasterizer, and with it OpenCV, which reads it once.)
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    from realtime.config import Config

    try:
        config = Config.from_env()
        args = parse_args(config, argv)
        config = config.replace(HOST=args.host, PORT=args.port, MODEL=args.model, ASYNC_MODE=args.async_mode)
    except ValueError as exc:
        fail(exc)
    # eventlet's green DNS resolver costs 0.12 s to import; without it a name lookup blocks every client.
    # Without a Redis host name to look up, this server resolves nothing but its own listening address.
    if not needs_dns(config.REDIS_URL):
        os.environ.setdefault("EVENTLET_NO_GREENDNS", "yes")
    if config.ASYNC_MODE == "eventlet":
        with warnings.catch_warnings():
            # Eventlet is in bugfix-only mode: known and chosen (README); threading mode is the fallback.
            warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
            import eventlet

        # Before Flask, Socket.IO or anything else that uses sockets is imported (the settings import
        # only NumPy and OpenCV, which use none).
        eventlet.monkey_patch()

    from realtime.model.ranking import ModelError
    from realtime.server import create_app, socketio
    from realtime.web.compat import IncompatibleLibrary
    from realtime.web.state import state_of

    try:
        app = create_app(config)
    except (ModelError, ValueError, IncompatibleLibrary) as exc:  # say which, no traceback
        fail(exc)
    raise_file_limit(config.MAX_CONNECTIONS + SPARE_SLOTS)
    logging.getLogger("realtime").info("serving on http://%s:%d", config.HOST, config.PORT)
    if config.ASYNC_MODE == "threading":
        # Werkzeug's server is the threading mode's only WebSocket-capable server; eventlet is for production.
        socketio.run(app, host=config.HOST, port=config.PORT, allow_unsafe_werkzeug=True)
        flush_collected(state_of(app))
    else:
        serve_eventlet(app, config)


def serve_eventlet(app: Flask, config: Config) -> None:
    """Serve the app with eventlet's production WSGI server, sending each reply without delay."""
    import socket

    import eventlet
    import eventlet.wsgi

    from realtime.web import compat
    from realtime.web.state import state_of

    state = state_of(app)
    host, port = config.HOST, config.PORT
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    listener = eventlet.listen(address, family)
    # Predictions are small writes: without TCP_NODELAY (inherited by accepted sockets), Nagle's
    # algorithm holds one back until the client's delayed ACK, up to 40 ms (bench/RESULTS.md).
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # Each WebSocket holds one of eventlet's request slots for its lifetime (1024 by default): `max_size`
    # leaves room for page loads and long-polling requests when the server is full of live connections.
    # A request's line and headers must arrive within HEADER_TIMEOUT, and no read or write may stall for
    # longer (a stalled body); Engine.IO sets its WebSockets' own timeout (ping interval plus timeout).
    # debug=False: eventlet's default sends the traceback of a failed request to the client.
    drain_on_sigterm(state, listener)
    eventlet.wsgi.server(
        listener,
        app,
        max_size=config.MAX_CONNECTIONS + SPARE_SLOTS,
        protocol=compat.header_deadline_protocol(config.HEADER_TIMEOUT, config.MAX_MESSAGE_BYTES),
        socket_timeout=config.HEADER_TIMEOUT,
        debug=False,
        log_output=False,
    )
    # Accepting has stopped (SIGTERM). Give the close packets sent to every client a moment to leave, then
    # exit: the green threads left (the live worker, Engine.IO's) would keep the interpreter running.
    deadline = time.monotonic() + SHUTDOWN_S
    while len(state.live) and time.monotonic() < deadline:
        eventlet.sleep(0.05)
    flush_collected(state)
    eventlet.sleep(CLOSE_GRACE_S)
    logging.getLogger("realtime").info("stopped")
    logging.shutdown()
    os._exit(0)


def flush_collected(state: AppState) -> None:
    """Write the collected drawings still waiting for the database (at shutdown: batches until FLUSH_S)."""
    collector = state.collector
    if collector is not None:
        collector.flush(FLUSH_S)


def drain_on_sigterm(state: AppState, listener: Any) -> None:
    """On SIGTERM: stop accepting, ask every client to reconnect (elsewhere), exit within SHUTDOWN_S.

    Behind a balancer the clients land on another process and `sync` their drawings; /readyz answers 503
    meanwhile. eventlet's server stops accepting when its accepting green thread gets SystemExit, then
    waits for the requests in flight, WebSockets included: closing every Engine.IO session ends those.
    """
    import signal

    import eventlet
    import eventlet.hubs
    import greenlet

    log = logging.getLogger("realtime")
    accepting = greenlet.getcurrent()

    def drain() -> None:
        """Stop accepting, close every session, and give in-flight requests until SHUTDOWN_S."""
        state.live.draining = True
        log.info("SIGTERM: no new connections; asking %d clients to reconnect", len(state.live))
        eventlet.kill(accepting, SystemExit)
        listener.close()
        state.live.server.eio.disconnect()  # every Engine.IO session: clients reconnect on their own
        eventlet.sleep(SHUTDOWN_S + CLOSE_GRACE_S + 1.0)
        log.warning("requests still open after %g s: exiting anyway", SHUTDOWN_S)
        logging.shutdown()
        os._exit(0)

    def wait_for_sigterm() -> None:
        """Sleep until SIGTERM arrives, then drain."""
        # A Python signal handler runs at once, but a green thread it starts would wait for the event
        # loop's next wake-up (up to the next ping, 25 s): the signal's byte on a pipe wakes it instead.
        while True:  # the pipe carries every handled signal's number (Ctrl-C's too): wait for SIGTERM's
            eventlet.hubs.trampoline(wakeup_read, read=True)
            if signal.SIGTERM in os.read(wakeup_read, 64):
                drain()
                return

    wakeup_read, wakeup_write = os.pipe()
    os.set_blocking(wakeup_write, False)
    signal.set_wakeup_fd(wakeup_write)
    signal.signal(signal.SIGTERM, lambda *_: None)  # handled: the wake-up byte does the work
    eventlet.spawn_n(wait_for_sigterm)


if __name__ == "__main__":
    main()
