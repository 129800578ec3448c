"""Socket.IO event handlers: validate each message, apply it to the connection's drawing, report errors.

The handlers sit directly on the app's python-socketio server rather than behind Flask-SocketIO's
decorators: those push a Flask request context (and open a signed-cookie session) for every message,
which costs more than handling a typical `stroke_points` itself. Nothing here needs Flask. Every packet
reaches them through the gate (realtime.gate): within its connection's rate limits, and a well-formed event.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
from socketio import Server
from socketio.exceptions import ConnectionRefusedError

from realtime import preprocess
from realtime.drawing import (
    Drawing,
    ProtocolError,
    parse_payload,
    parse_points,
    parse_seq,
    parse_strokes,
)
from realtime.gate import Gate, Rates
from realtime.live import LivePredictor

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 1


def _points(drawing: Drawing, payload: dict[str, Any]) -> None:
    """Apply `stroke_points`."""
    drawing.add_points(parse_points(payload.get("points"), drawing.limits))


def _sync(drawing: Drawing, payload: dict[str, Any]) -> None:
    """Apply `sync`."""
    drawing.replace(parse_strokes(payload.get("strokes"), drawing.limits))


def register(
    server: Server,
    live: LivePredictor,
    run_blocking: Callable[..., Any],
    rates: Rates,
    limits: dict[str, Any],
) -> None:
    """Put the gate and the protocol's handlers on an app's Socket.IO server; `limits` go out in `ready`."""

    def error(sid: str, code: str, message: str, seq: int | None = None) -> None:
        """Tell a client that its message was refused."""
        server.emit("error", {"code": code, "message": message, "seq": seq}, to=sid)

    def on(event: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
        """Register a handler that never lets an exception escape: it is logged and reported instead."""

        def decorator(handler: Callable[..., None]) -> Callable[..., None]:
            @functools.wraps(handler)
            def guarded(*args: Any) -> None:
                try:
                    handler(*args)
                except ConnectionRefusedError:
                    raise
                except Exception:
                    log.exception("handler for %r failed", event)
                    sid = args[1] if event == "*" else args[0]
                    error(sid, "internal_error", "the server failed to handle that message")

            server.on(event, guarded)
            return handler

        return decorator

    def update(
        sid: str,
        args: tuple[Any, ...],
        change: Callable[[Drawing, Any], None],
        prepare: Callable[[dict[str, Any]], Any] | None = None,
    ) -> None:
        """Run one drawing update: payload and seq checks, `prepare` (unlocked), the change, a prediction."""
        session = live.get(sid)
        if session is None:
            return
        seq = None
        try:
            payload = parse_payload(args)
            seq = parse_seq(payload, session.last_seq)
            value = payload if prepare is None else prepare(payload)
            with live.lock:
                change(session.drawing, value)
                live.accept(session, seq)
        except ProtocolError as exc:
            error(sid, exc.code, exc.message, exc.seq if seq is None else seq)

    @on("connect")
    def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        """Open a session and send `ready`; refuse the connection when the server is full."""
        see_bitmap = isinstance(auth, dict) and auth.get("see_bitmap") is True
        if live.open(sid, see_bitmap) is None:
            log.warning("refused a connection: %d sessions open", len(live))
            raise ConnectionRefusedError("server_full")
        model = live.model
        ready = {
            "protocol": PROTOCOL_VERSION,
            "labels": model.labels,
            "model": model.version,
            "limits": limits,
        }
        server.emit("ready", ready, to=sid)

    @on("disconnect")
    def disconnect(sid: str, reason: Any = None) -> None:
        """Free the connection's session."""
        live.close(sid)

    @on("stroke_points")
    def stroke_points(sid: str, *args: Any) -> None:
        """Append points to the current stroke: `{seq, points: [[x, y], ...]}`."""
        update(sid, args, _points)

    @on("stroke_end")
    def stroke_end(sid: str, *args: Any) -> None:
        """Close the current stroke: `{seq}`."""
        update(sid, args, lambda drawing, _: drawing.end_stroke())

    @on("undo")
    def undo(sid: str, *args: Any) -> None:
        """Remove the last stroke: `{seq}`."""
        update(sid, args, lambda drawing, _: drawing.undo())

    @on("clear")
    def clear(sid: str, *args: Any) -> None:
        """Remove the whole drawing: `{seq}`."""
        update(sid, args, lambda drawing, _: drawing.clear())

    @on("sync")
    def sync(sid: str, *args: Any) -> None:
        """Replace the drawing: `{seq, strokes}` in Quick, Draw! form."""
        update(sid, args, _sync)

    @on("snapshot")
    def snapshot(sid: str, *args: Any) -> None:
        """Replace the drawing with a canvas image: `{seq, image: "data:image/png;base64,..."}`."""
        update(sid, args, lambda drawing, bitmap: drawing.set_image(bitmap), decode_snapshot)

    def decode_snapshot(payload: dict[str, Any]) -> np.ndarray | None:
        """Decode a snapshot's image to the model's 28×28 (None: a blank canvas); refuse bad images."""
        try:
            # Decoding takes milliseconds: off the event loop. This connection's next messages wait
            # (its handlers run in order), other connections do not.
            return run_blocking(
                preprocess.data_url_to_bitmap,
                payload.get("image"),
                limits["max_image_bytes"],
                limits["max_image_side"],
            )
        except preprocess.PreprocessError as exc:
            if exc.code in ("empty_drawing", "too_small"):
                return None  # a blank canvas: nothing to recognise
            raise ProtocolError(exc.code, exc.message) from exc

    @on("options")
    def options(sid: str, *args: Any) -> None:
        """Set options: `{see_bitmap: bool}` adds the model's 28×28 input to each prediction."""
        session = live.get(sid)
        if session is None:
            return
        try:
            payload = parse_payload(args)
            see_bitmap = payload.get("see_bitmap", session.see_bitmap)
            if not isinstance(see_bitmap, bool):
                raise ProtocolError("bad_payload", "see_bitmap must be true or false")
        except ProtocolError as exc:
            error(sid, exc.code, exc.message)
            return
        session.see_bitmap = see_bitmap

    @on("*")
    def unknown_event(event: Any, sid: str, *args: Any) -> None:
        """Answer events the protocol does not define."""
        if live.get(sid) is not None:
            error(sid, "unknown_event", f"unknown event {str(event)[:64]!r}")

    Gate(server, rates, error).install()
