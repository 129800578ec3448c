"""Real-time doodle recognizer: a Flask-SocketIO server streaming Quick, Draw! guesses.

`create_app` and `socketio` live in realtime.server and are imported on first use, so that
`python -m realtime` can monkey-patch the standard library for eventlet before Flask is imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from realtime.server import create_app, socketio

__all__ = ["create_app", "socketio"]


def __getattr__(name: str) -> Any:
    """Import the server's public names lazily."""
    if name in __all__:
        from realtime import server

        return getattr(server, name)
    raise AttributeError(f"module 'realtime' has no attribute {name!r}")
