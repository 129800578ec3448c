"""The live protocol's events (docs/protocol.md): one `on_<event>` method per event on one Socket.IO
namespace class, the drawing's and the game's (realtime.game.play).

Every event answers only the connection that sent it, which this process holds: the answers are emitted
here directly (`ignore_queue`), never through the message queue between processes (REDIS_URL).

The namespace sits directly on the app's python-socketio server rather than behind Flask-SocketIO's
decorators: those push a Flask request context (and open a signed-cookie session) for every message,
which costs more than handling a typical `stroke_points` itself. Nothing here needs Flask. Every packet
reaches it through the gate (realtime.web.gate): within its connection's rate limits, and a well-formed event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import socketio
from socketio.exceptions import ConnectionRefusedError

from realtime.core import images
from realtime.core.drawing import Drawing
from realtime.core.errors import InputError
from realtime.core.protocol import (
    PROTOCOL_VERSION,
    Limits,
    is_blank,
    parse_payload,
    parse_points,
    parse_see_bitmap,
    parse_seq,
    parse_strokes,
)
from realtime.game.play import Play
from realtime.infra.ratelimit import Network, client_address
from realtime.model.live import LivePredictor
from realtime.model.ranking import classes
from realtime.model.teacher import Teacher

log = logging.getLogger(__name__)

# The events a client may send, each handled by the method `on_<event>`; python-socketio itself raises
# `connect` and `disconnect`.
DRAWING_EVENTS = frozenset({"stroke_points", "stroke_end", "undo", "clear", "sync", "snapshot", "options"})
# The game's events (realtime.game.play); `round_ready` is also a drawing message (it empties the drawing).
GAME_EVENTS = frozenset(
    {
        "solo_start",
        "room_create",
        "room_host",
        "room_join",
        "room_rejoin",
        "round_ready",
        "round_start",
        "round_skip",
        "room_close",
        "room_words",
    }
)
# Teaching words (realtime.model.teacher).
TEACH_EVENTS = frozenset({"teach_example", "teach_forget", "teach_keep", "teach_words"})
CLIENT_EVENTS = DRAWING_EVENTS | GAME_EVENTS | TEACH_EVENTS


class LiveEvents(socketio.Namespace):
    """The protocol on namespace `/`: each event is parsed, applied to the connection's drawing and marked
    for prediction; a refused one gets an `error` event and changes nothing."""

    def __init__(
        self,
        live: LivePredictor,
        play: Play,
        teacher: Teacher,
        limits: Limits,
        run_blocking: Callable[..., Any],
        node: str,
        trusted: tuple[Network, ...] = (),
    ) -> None:
        super().__init__("/")
        self.live = live
        self.play = play
        self.teacher = teacher
        self.trusted = trusted  # proxies whose X-Forwarded-For names the client
        self.limits = limits
        self.run_blocking = run_blocking  # runs calls of milliseconds off the event loop
        self.node = node  # this process's id, sent in `ready`
        self.metrics = live.metrics
        # Each event's counter, looked up once: a label lookup per message would cost on the hot path.
        self._counted = {
            event: self.metrics.messages.labels(event=event) for event in (*CLIENT_EVENTS, "unknown")
        }

    def trigger_event(self, event: str, *args: Any) -> Any:
        """Call the event's method; unknown events get `unknown_event`, a failing method `internal_error`."""
        known = event in CLIENT_EVENTS or event in ("connect", "disconnect")
        if event not in ("connect", "disconnect"):
            self._counted[event if known else "unknown"].inc()
        try:
            if known:
                return getattr(self, f"on_{event}")(*args)
            return self.on_unknown_event(event, *args)
        except ConnectionRefusedError:
            raise
        except Exception:
            log.exception("handler for %r failed", event)
            self.error(args[0], "internal_error", "the server failed to handle that message")
            return None

    def error(self, sid: str, code: str, message: str, seq: int | None = None) -> None:
        """Tell a client that its message was refused."""
        self.metrics.errors.labels(code=code).inc()
        self.emit("error", {"code": code, "message": message, "seq": seq}, to=sid, ignore_queue=True)

    def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        """Open a session and send `ready`; refuse the connection when the server is full."""
        see_bitmap = isinstance(auth, dict) and auth.get("see_bitmap") is True
        if self.live.draining:
            raise ConnectionRefusedError("shutting_down")
        if self.live.open(sid, see_bitmap) is None:
            log.warning("refused a connection: %d sessions open", len(self.live))
            raise ConnectionRefusedError("server_full")
        forwarded = environ.get("HTTP_X_FORWARDED_FOR")
        self.play.connected(sid, client_address(environ.get("REMOTE_ADDR"), forwarded, self.trusted))
        model = self.live.model
        ready = {
            "protocol": PROTOCOL_VERSION,
            "labels": classes(model),
            "model": model.version,
            "limits": self.limits.advertised(),
            "node": self.node,
        }
        self.emit("ready", ready, to=sid, ignore_queue=True)

    def on_disconnect(self, sid: str, reason: Any = None) -> None:
        """Free the connection's seat in a game (its drawing may be kept first) and its session."""
        self.play.leave(sid)
        self.teacher.closed(sid)
        self.live.close(sid)

    def on_stroke_points(self, sid: str, *args: Any) -> None:
        """Append points to the open stroke: `{seq, points: [[x, y], ...]}`."""
        self._update(sid, args, lambda drawing, payload: drawing.add_points(self._points(payload)))

    def on_stroke_end(self, sid: str, *args: Any) -> None:
        """Close the open stroke: `{seq}`."""
        self._update(sid, args, lambda drawing, _: drawing.end_stroke())

    def on_undo(self, sid: str, *args: Any) -> None:
        """Remove the last stroke: `{seq}`."""
        self._update(sid, args, lambda drawing, _: drawing.undo())

    def on_clear(self, sid: str, *args: Any) -> None:
        """Remove the whole drawing: `{seq}`."""
        self._update(sid, args, lambda drawing, _: drawing.clear())

    def on_sync(self, sid: str, *args: Any) -> None:
        """Replace the drawing: `{seq, strokes}` in Quick, Draw! form."""
        self._update(sid, args, lambda drawing, payload: drawing.replace(self._strokes(payload)))

    def on_snapshot(self, sid: str, *args: Any) -> None:
        """Replace the drawing with a canvas image: `{seq, image: "data:image/png;base64,..."}`."""
        self._update(sid, args, Drawing.set_image, prepare=self._decode_snapshot)

    def on_options(self, sid: str, *args: Any) -> None:
        """Set options: `{see_bitmap: bool}` adds the model's 28×28 input to each prediction."""
        session = self.live.get(sid)
        if session is None:
            return
        try:
            session.see_bitmap = parse_see_bitmap(parse_payload(args), session.see_bitmap)
        except InputError as exc:
            self.error(sid, exc.code, exc.message)

    def on_round_ready(self, sid: str, *args: Any) -> None:
        """Begin drawing the game's current round: `{seq, round}`; the drawing starts empty."""

        def clear(drawing: Drawing, fresh: bool) -> None:
            if fresh:
                drawing.clear()

        self._update(sid, args, clear, prepare=lambda payload: self.play.round_ready(sid, payload))

    def on_solo_start(self, sid: str, *args: Any) -> None:
        """Start a solo game: `{}`."""
        self._play(sid, args, self.play.solo_start)

    def on_room_create(self, sid: str, *args: Any) -> None:
        """Create a room hosted by this connection: `{rounds}`."""
        self._play(sid, args, self.play.room_create)

    def on_room_host(self, sid: str, *args: Any) -> None:
        """Attach a host or board page to its room: `{code, token}`."""
        self._play(sid, args, self.play.room_host)

    def on_room_join(self, sid: str, *args: Any) -> None:
        """Join a room as a new player: `{code, name}`."""
        self._play(sid, args, self.play.room_join)

    def on_room_rejoin(self, sid: str, *args: Any) -> None:
        """Take one's place in a game again after a reconnect: `{code, player, token}`."""
        self._play(sid, args, self.play.room_rejoin)

    def on_round_start(self, sid: str, *args: Any) -> None:
        """Start the next round (the host): `{code, token}`."""
        self._play(sid, args, self.play.round_start)

    def on_round_skip(self, sid: str, *args: Any) -> None:
        """End the round being drawn (the host): `{code, token}`."""
        self._play(sid, args, self.play.round_skip)

    def on_room_close(self, sid: str, *args: Any) -> None:
        """End the game for everyone (the host): `{code, token}`."""
        self._play(sid, args, self.play.room_close)

    def on_room_words(self, sid: str, *args: Any) -> None:
        """Choose the room's round words (the host): `{code, token, words}`, taught on this connection."""
        own = self.teacher.words_of(sid)
        self._play(sid, args, lambda sid, payload: self.play.room_words(sid, payload, own))

    def on_teach_example(self, sid: str, *args: Any) -> None:
        """Teach a word the drawing on the canvas as one more example: `{word}`; answered by `taught`."""
        self._teach(sid, args, "taught", self.teacher.example)

    def on_teach_forget(self, sid: str, *args: Any) -> None:
        """Forget one of the connection's taught words: `{word}`; answered by `words`."""
        self._teach(sid, args, "words", self.teacher.forget)

    def on_teach_keep(self, sid: str, *args: Any) -> None:
        """Give one of the connection's words to everyone, where the server keeps them: `{word}`."""
        self._teach(sid, args, "words", self.teacher.keep)

    def on_teach_words(self, sid: str, *args: Any) -> None:
        """Ask for the connection's taught words and the server's: `{}`; answered by `words`."""
        self._teach(sid, args, "words", lambda sid, _: self.teacher.listing(sid))

    def _teach(
        self,
        sid: str,
        args: tuple[Any, ...],
        reply: str,
        handler: Callable[[str, dict[str, Any]], dict[str, Any]],
    ) -> None:
        """Run a teaching event and send its reply; a refusal becomes an `error`."""
        if self.live.get(sid) is None:
            return
        try:
            answer = handler(sid, parse_payload(args))
        except InputError as exc:
            self.error(sid, exc.code, exc.message)
            return
        self.emit(reply, answer, to=sid, ignore_queue=True)

    def _play(self, sid: str, args: tuple[Any, ...], handler: Callable[[str, dict[str, Any]], None]) -> None:
        """Hand a game event's payload to its handler in realtime.game.play; a refusal becomes an `error`."""
        if self.live.get(sid) is None:
            return
        try:
            handler(sid, parse_payload(args))
        except InputError as exc:
            self.error(sid, exc.code, exc.message)

    def on_unknown_event(self, event: Any, sid: str, *args: Any) -> None:
        """Answer events the protocol does not define."""
        if self.live.get(sid) is not None:
            self.error(sid, "unknown_event", f"unknown event {str(event)[:64]!r}")

    def _points(self, payload: dict[str, Any]) -> list[list[float]]:
        """Parse `stroke_points.points`."""
        return parse_points(payload.get("points"), self.limits)

    def _strokes(self, payload: dict[str, Any]) -> list[np.ndarray]:
        """Parse `sync.strokes`."""
        return parse_strokes(payload.get("strokes"), self.limits)

    def _decode_snapshot(self, payload: dict[str, Any]) -> np.ndarray | None:
        """Decode a snapshot's image to the model's 28×28 (None: a blank canvas); refuse bad images."""
        try:
            # Decoding takes milliseconds: off the event loop. This connection's next messages wait
            # (its handlers run in order), other connections do not.
            return self.run_blocking(
                images.data_url_to_bitmap,
                payload.get("image"),
                self.limits.max_image_bytes,
                self.limits.max_image_side,
            )
        except InputError as exc:
            if is_blank(exc):
                return None  # a blank canvas: nothing to recognise
            raise

    def _update(
        self,
        sid: str,
        args: tuple[Any, ...],
        change: Callable[[Drawing, Any], None],
        prepare: Callable[[dict[str, Any]], Any] | None = None,
    ) -> None:
        """Run one drawing update: payload and seq checks, `prepare` (unlocked), the change, a prediction."""
        session = self.live.get(sid)
        if session is None:
            return
        seq = None
        try:
            payload = parse_payload(args)
            seq = parse_seq(payload, session.last_seq)
            value = payload if prepare is None else prepare(payload)
            with self.live.lock:
                change(session.drawing, value)
                self.live.accept(session, seq)
        except InputError as exc:
            self.error(sid, exc.code, exc.message, exc.seq if seq is None else seq)
