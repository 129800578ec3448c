"""What a room's host and board pages see of the players' drawings (`thumb` events), and the Socket.IO rooms
that reach a game's connections on every process.

A player's thumbnail goes out at most every THUMB_INTERVAL_S; the prediction that arrives sooner is held
back and sent by the game's clock once the interval has passed (`send_held`). A recognised drawing goes
out at once, and that player's thumbnail then stays.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from realtime.core import preprocess
from realtime.core.drawing import Snapshot, Strokes
from realtime.core.errors import InputError
from realtime.game.clock import Clock
from realtime.game.seats import Seat, Ticket
from realtime.model.live import Outcome

THUMB_INTERVAL_S = 0.25  # a player's thumbnail goes to the board at most this often


def game_room(code: str) -> str:
    """Return the name of the Socket.IO room of everyone in a game."""
    return f"game:{code}"


def board_room(code: str) -> str:
    """Return the name of the Socket.IO room of a game's host and board pages."""
    return f"board:{code}"


def thumbnail(snapshot: Snapshot) -> list[list[list[int]]]:
    """Return a drawing as the board draws it: Quick, Draw! simplified strokes (0–255), [] for none."""
    if not isinstance(snapshot, Strokes) or not snapshot.counts:
        return []
    try:
        frame = preprocess.box_frame(*snapshot.box)
    except InputError:  # a single point
        return []
    xy, counts = preprocess.simplify(snapshot.xy, snapshot.counts, frame)
    strokes, start = [], 0
    for n in counts:
        stroke = xy[start : start + n].astype(np.int64)
        strokes.append([stroke[:, 0].tolist(), stroke[:, 1].tolist()])
        start += n
    return strokes


class Thumbnails:
    """Send the board each player's drawing and the machine's guess, throttled per player."""

    def __init__(self, server: Any, clock: Clock) -> None:
        self.server = server  # the python-socketio Server
        self.clock = clock

    def show(self, seat: Seat, ticket: Ticket, state: tuple[Outcome, Snapshot], at_once: bool) -> None:
        """Send a player's drawing and guess: `at_once`, or once THUMB_INTERVAL_S since the last (held)."""
        outcome, snapshot = state
        if outcome is seat.thumb_outcome:
            return
        if not at_once and self.clock.monotonic() - seat.thumb_at < THUMB_INTERVAL_S:
            seat.thumb_due = state
            return
        seat.thumb_at, seat.thumb_outcome, seat.thumb_due = self.clock.monotonic(), outcome, None
        top = outcome.top[0] if outcome.top else None
        thumb = {
            "player": seat.player,
            "round": ticket.round,
            "strokes": thumbnail(snapshot),
            "guess": top["label"] if top else None,
            "sure": outcome.sure,
        }
        self.server.emit("thumb", thumb, room=board_room(seat.code))

    def send_held(self, seat: Seat) -> None:
        """Send the thumbnail the throttle held back, if its interval has passed."""
        held, ticket = seat.thumb_due, seat.ticket
        if held is not None and ticket is not None:
            self.show(seat, ticket, held, at_once=False)
