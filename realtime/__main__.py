"""Run the server: `python -m realtime [--host H] [--port P] [--model NAME] [--async-mode MODE]`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings


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


def main(argv: list[str] | None = None) -> None:
    """Start the server and serve until interrupted."""
    args = parse_args(argv)
    if args.async_mode == "eventlet":
        with warnings.catch_warnings():
            # Eventlet is in bugfix-only mode: known and chosen (README); threading mode is the fallback.
            warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
            import eventlet

        # Before Flask, Socket.IO or anything else that uses sockets, threads or time is imported.
        eventlet.monkey_patch()

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
    log.info("serving on http://%s:%d", args.host, args.port)
    # Werkzeug's server is the threading mode's only WebSocket-capable server; eventlet is for production.
    options = {"allow_unsafe_werkzeug": True} if args.async_mode == "threading" else {}
    socketio.run(app, host=args.host, port=args.port, **options)


if __name__ == "__main__":
    main()
