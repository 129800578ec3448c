"""Run the server: `python -m realtime [--host H] [--port P] [--model NAME] [--async-mode MODE]`."""

from __future__ import annotations

import argparse
import logging
import os
import resource
import sys
import warnings
from typing import Any

# File descriptors beyond the connections: the listening socket, HTTP requests, the model, logs, tpool.
SPARE_FILES = 256


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line; defaults come from the environment (HOST, PORT, MODEL, ASYNC_MODE)."""
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
        default=os.environ.get("HOST", "127.0.0.1"),
        help="address to listen on (default: $HOST or 127.0.0.1; use 0.0.0.0 to accept outside connections)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=os.environ.get("PORT") or "5000",
        help="TCP port (default: $PORT or 5000)",
    )
    parser.add_argument(
        "--model",
        default=os.environ.get("MODEL", "animals6"),
        help="model folder under models/ (default: $MODEL or animals6)",
    )
    parser.add_argument(
        "--async-mode",
        choices=("eventlet", "threading"),
        default=os.environ.get("ASYNC_MODE", "eventlet"),
        help=(
            "eventlet: green threads, eventlet's production WSGI server (default: $ASYNC_MODE or eventlet); "
            "threading: OS threads, Werkzeug's server with simple-websocket"
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
                "open files are limited to %d: fewer than MAX_CONNECTIONS=%d fit", new, connections
            )


def main(argv: list[str] | None = None) -> None:
    """Start the server and serve until interrupted."""
    args = parse_args(argv)
    # Start-up time (healthy in under a second): eventlet's green DNS resolver costs 0.12 s to import
    # and this server resolves nothing but its own listening address; python-socketio imports its
    # asyncio client's aiohttp when that is installed (a development or benchmark environment) for
    # 0.13 s, and the server never uses it.
    os.environ.setdefault("EVENTLET_NO_GREENDNS", "yes")
    sys.modules.setdefault("aiohttp", None)  # an import of it now fails, as where it is not installed
    if args.async_mode == "eventlet":
        with warnings.catch_warnings():
            # Eventlet is in bugfix-only mode: known and chosen (README); threading mode is the fallback.
            warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
            import eventlet

        # Before Flask, Socket.IO or anything else that uses sockets, threads or time is imported.
        eventlet.monkey_patch()

    # Clients send broken images on purpose: OpenCV's warnings about them would only flood the log.
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    from realtime.recognizer import ModelError
    from realtime.server import create_app, socketio

    try:
        app = create_app(
            {"MODEL": args.model, "ASYNC_MODE": args.async_mode, "HOST": args.host, "PORT": args.port}
        )
    except (ModelError, ValueError) as exc:  # a missing model or a bad setting: say which, no traceback
        print(f"python -m realtime: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    log = logging.getLogger("realtime")
    connections = app.config["MAX_CONNECTIONS"]
    raise_file_limit(connections)
    log.info("serving on http://%s:%d", args.host, args.port)
    if args.async_mode == "threading":
        # Werkzeug's server is the threading mode's only WebSocket-capable server; eventlet is for production.
        socketio.run(app, host=args.host, port=args.port, allow_unsafe_werkzeug=True)
    else:
        serve_eventlet(app, args.host, args.port, max_size=connections + SPARE_FILES)


def serve_eventlet(app: Any, host: str, port: int, max_size: int) -> None:
    """Serve the app with eventlet's production WSGI server, sending each reply without delay."""
    import socket

    import eventlet
    import eventlet.wsgi

    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    listener = eventlet.listen(address, family)
    # Predictions are small writes: without TCP_NODELAY (inherited by accepted sockets), Nagle's
    # algorithm holds one back until the client's delayed ACK, up to 40 ms (bench/RESULTS.md).
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # Each WebSocket holds one of eventlet's request slots for its lifetime (1024 by default): `max_size`
    # leaves room for page loads and long-polling requests when the server is full of live connections.
    # debug=False: eventlet's default sends the traceback of a failed request to the client.
    eventlet.wsgi.server(listener, app, max_size=max_size, debug=False, log_output=False)


if __name__ == "__main__":
    main()
