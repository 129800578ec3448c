"""Play: this process's part of every game (realtime.game) whose players or host pages it holds.

A game lives in the room store (realtime.rooms), in Redis when processes share a message queue, so any
process can change it; every change is broadcast as a `game` event to the game's Socket.IO room through
the message queue, which reaches the game's connections on every process. What only this process knows
stays here: which of its connections sit in which game (seats), and each drawing's predictions. The
server alone decides that a drawing was recognised: when its own prediction of a player's drawing of the
current round is sure and names the prompt, before the round's end.

A clock (one background task per process) applies what is due (a round's end, the next solo round, an
absent host, an empty or idle room) and sends the board the thumbnails held back by the throttle.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from realtime.collect.drawings import Collector, Kept
from realtime.core import preprocess
from realtime.core.drawing import Snapshot, Strokes
from realtime.core.errors import InputError
from realtime.game import rules
from realtime.game.rooms import Deleted, Store, missing
from realtime.game.rules import Game, Timing
from realtime.infra.ratelimit import AddressLimiter, TokenBucket, rate_key
from realtime.model.live import LivePredictor, Outcome, Session
from realtime.model.ranking import classes

log = logging.getLogger(__name__)
T = TypeVar("T")

TICK_S = 0.2  # how often the clock looks for due games and held-back thumbnails
THUMB_INTERVAL_S = 0.25  # a player's thumbnail goes to the board at most this often
# Attempts to name or create a game (create, join, rejoin, attach a host or board page), per connection
# and per client address: a room code has 25^8 values, so guessing one of even a thousand open rooms takes
# 10^8 attempts. A classroom behind one address joins in one burst.
ATTEMPT_RATE, ATTEMPT_BURST = 1.0, 5
ADDRESS_RATE, ADDRESS_BURST = 2.0, 60
SOLO_NAME = "You"


@dataclass
class Ticket:
    """What a player's connection draws in a round: replaced whole, so the prediction worker reads one."""

    round: int
    prompt: str
    ends_at: float
    ready_seq: int  # predictions of messages up to this one show the drawing from before the round
    claimed: bool = False  # recognised (or being recorded as recognised)
    kept: bool = False  # handed to the collector (COLLECT_DRAWINGS)


@dataclass
class Seat:
    """One of this process's connections in a game: a player drawing, or a host or board page."""

    code: str
    player: str | None  # None: a host or board page
    mode: str
    ticket: Ticket | None = None  # the round this connection draws, once it said `round_ready`
    thumb_at: float = 0.0  # monotonic time of the last thumbnail sent
    thumb_outcome: Outcome | None = None  # the prediction it showed
    thumb_due: tuple[Outcome, Snapshot] | None = None  # held back by the throttle


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


class Play:
    """This process's seats in games, the handlers of the game events, the recognition check and the clock."""

    def __init__(
        self,
        live: LivePredictor,
        store: Store,
        *,
        seconds: float,
        max_players: int,
        collector: Collector | None = None,
    ) -> None:
        self.live = live
        self.collector = collector  # keeps each round's drawing when COLLECT_DRAWINGS is on
        self.server = live.server
        self.store = store
        self.seconds = seconds
        self.max_players = max_players
        self.seats: dict[str, Seat] = {}
        self.addresses: dict[str, str] = {}  # sid -> client address, for the rate limit
        self._attempts: dict[str, TokenBucket] = {}  # per connection
        self._address_attempts = AddressLimiter(ADDRESS_RATE, ADDRESS_BURST)
        self._clock: Any = None

    @property
    def timing(self) -> Timing:
        """Return how long games wait for their host, when empty and when idle."""
        return self.store.timing

    # --- events ---------------------------------------------------------------------------------------

    def solo_start(self, sid: str, payload: dict[str, Any]) -> None:
        """Start a solo game of six rounds for this connection; its first round starts at once."""
        self._spend(sid)
        token = secrets.token_urlsafe(24)

        def setup(game: Game) -> str:
            player = game.add_player(SOLO_NAME, token, sid, 1, time.time())
            game.start_round(time.time())
            return player.id

        game, player_id = self._create(sid, "solo", token, rules.SOLO_ROUNDS, setup)
        self._seat_player(sid, game, player_id, token)

    def room_create(self, sid: str, payload: dict[str, Any]) -> None:
        """Create a room hosted by this connection: `{rounds}` (default 6); answer `hosted`."""
        rounds = payload.get("rounds", rules.SOLO_ROUNDS)
        if type(rounds) is not int or not 1 <= rounds <= rules.MAX_ROUNDS:
            raise InputError("bad_payload", f"rounds must be a whole number from 1 to {rules.MAX_ROUNDS}")
        self._spend(sid)
        token, board_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)

        def setup(game: Game) -> None:
            game.board = rules.token_hash(board_token)
            game.add_host(sid, time.time())

        game, _ = self._create(sid, "room", token, rounds, setup)
        hosted = {
            "code": game.code,
            "shown": rules.shown_code(game.code),
            "token": token,
            "board_token": board_token,
        }
        self._emit_to(sid, "hosted", hosted)
        self._seat_host(sid, game)

    def room_host(self, sid: str, payload: dict[str, Any]) -> None:
        """Attach a host or board page to its room: `{code, token}` (the host's or the board's token)."""
        code = self._code(sid, payload)
        game = self.store.get(code)
        if game is None or not game.may_watch(payload.get("token")):
            raise InputError("bad_token", "no room has that code and token")
        self._leave(sid)
        game, _ = self.store.update(code, lambda g: g.add_host(sid, time.time()))
        self._seat_host(sid, game)

    def room_join(self, sid: str, payload: dict[str, Any]) -> None:
        """Join a room as a new player: `{code, name}`; answer `joined` with the token for rejoining."""
        code = self._code(sid, payload)
        name = rules.clean_name(payload.get("name"))
        seat = self.seats.get(sid)
        if seat is not None and seat.code == code and seat.player is not None:
            raise InputError("already_joined", "this connection already plays in that room")
        if self.store.get(code) is None:
            raise missing()
        self._leave(sid)
        token = secrets.token_urlsafe(24)
        game, player = self.store.update(
            code, lambda g: g.add_player(name, token, sid, self.max_players, time.time())
        )
        self._seat_player(sid, game, player.id, token)

    def room_rejoin(self, sid: str, payload: dict[str, Any]) -> None:
        """Take one's place again after a reconnect: `{code, player, token}`; name and score are kept."""
        code = self._code(sid, payload)

        def seat(game: Game) -> str:
            player = game.player_by_token(payload.get("player"), payload.get("token"))
            game.seat(player, sid, time.time())
            return player.id

        self._leave(sid)
        game, player_id = self.store.update(code, seat)
        self._seat_player(sid, game, player_id, None)

    def round_start(self, sid: str, payload: dict[str, Any]) -> None:
        """Start the next round (the host): `{code, token}`."""
        self._as_host(payload, lambda g: g.start_round(time.time()))

    def round_skip(self, sid: str, payload: dict[str, Any]) -> None:
        """End the round being drawn (the host): `{code, token}`."""
        self._as_host(payload, lambda g: g.end_round(time.time()))

    def room_close(self, sid: str, payload: dict[str, Any]) -> None:
        """End the game for everyone (the host): `{code, token}`."""

        def close(game: Game) -> None:
            if game.phase == "over":
                raise InputError("room_over", "this game is over")
            game.finish("closed", time.time())

        self._as_host(payload, close)

    def round_ready(self, sid: str, payload: dict[str, Any]) -> bool:
        """Begin drawing round `{round}` of this connection's game; True: its drawing is to be cleared.

        The page sends it when a round starts (and again after a reconnect, before its drawing): from its
        `seq` on, the drawing's predictions count for the round.
        """
        seat = self.seats.get(sid)
        if seat is None or seat.player is None:
            raise InputError("not_in_room", "join a room or start a game first")
        game = self.store.get(seat.code)
        current = game.current if game is not None else None
        index = payload.get("round")
        if game is None or game.phase != "drawing" or current is None or index != current.index:
            raise InputError("no_round", "that round is not being drawn")
        old = seat.ticket
        fresh = old is None or old.round != index
        if fresh and old is not None:
            self._keep(sid, old, None)  # the round before is over: its drawing, if not kept yet
        kept = old is not None and not fresh and old.kept
        claimed = old is not None and not fresh and old.claimed
        seat.ticket = Ticket(index, current.prompt, current.ends_at, payload["seq"], claimed, kept)
        return fresh

    # --- connections ----------------------------------------------------------------------------------

    def connected(self, sid: str, address: str) -> None:
        """Note a new connection's client address."""
        self.addresses[sid] = address

    def leave(self, sid: str) -> None:
        """Forget a closed connection: its seat here, its place in its game (name and score are kept)."""
        seat = self.seats.get(sid)
        if seat is not None and seat.ticket is not None and time.time() > seat.ticket.ends_at:
            self._keep(sid, seat.ticket, None)
        self._attempts.pop(sid, None)
        self.addresses.pop(sid, None)
        self._leave(sid)

    def observe(self, session: Session, seq: int, outcome: Outcome) -> None:
        """Look at a prediction just sent: recognise the prompt, update the board's thumbnail."""
        seat = self.seats.get(session.sid)
        ticket = seat.ticket if seat is not None else None
        if seat is None or ticket is None or ticket.claimed:
            return  # not drawing a round; or recognised, and the board keeps the drawing that was
        top = outcome.top
        recognised = (
            seq > ticket.ready_seq
            and outcome.sure
            and bool(top)
            and top[0]["label"] == ticket.prompt
            and time.time() <= ticket.ends_at
        )
        if seat.mode == "room":
            with self.live.lock:
                snapshot = session.drawing.snapshot()
            # The drawing that was recognised goes to the board at once, before the news of it.
            self._thumb(seat, ticket, (outcome, snapshot), now=recognised)
        if recognised:
            ticket.claimed = True
            self._keep(session.sid, ticket, outcome)
            self.server.start_background_task(self._recognised, seat, ticket.round, time.time())

    def broadcast(self, game: Game) -> None:
        """Send the game as it is now to everyone in it, on every process."""
        self.server.emit("game", game.view(time.time()), room=room(game.code))

    def tick(self, now: float) -> None:
        """Apply what is due at `now` in every game, and send the thumbnails the throttle held back."""
        for code in self.store.due(now):
            try:
                self._tick(code, now)
            except Exception:  # one bad game (unreadable, say) must not stop the others' clocks
                log.exception("the game clock failed on game %s: it is no longer timed", code)
                self.store.drop_due(code)
        for sid, seat in list(self.seats.items()):
            if seat.ticket is not None and now > seat.ticket.ends_at:
                self._keep(sid, seat.ticket, None)  # time is up: the drawing as it stands
            held, ticket = seat.thumb_due, seat.ticket
            if (
                held is not None
                and ticket is not None
                and time.monotonic() - seat.thumb_at >= THUMB_INTERVAL_S
            ):
                self._thumb(seat, ticket, held)

    # --- internals ------------------------------------------------------------------------------------

    def _tick(self, code: str, now: float) -> None:
        """Apply what is due in one game; broadcast what changed."""

        def due(game: Game) -> int:
            revision = game.revision
            if game.tick(self.timing, now):
                raise Deleted()
            return revision

        try:
            game, before = self.store.update(code, due)
        except InputError:  # gone meanwhile
            return
        except Deleted:
            log.info("game %s ended and was forgotten", code)
            return
        if game.revision != before:
            self.broadcast(game)

    def _create(
        self, sid: str, mode: str, token: str, rounds: int, setup: Callable[[Game], T]
    ) -> tuple[Game, T]:
        """Create a game with a fresh code, `setup` applied before it is stored."""
        self._leave(sid, abandon=True)
        now = time.time()
        while True:
            game = Game(
                code=rules.new_code(),
                mode=mode,
                host=rules.token_hash(token),
                labels=classes(self.live.model),
                rounds=rounds,
                seconds=self.seconds,
                created_at=now,
                touched_at=now,
            )
            result = setup(game)
            if self.store.create(game):
                log.info("%s %s created", mode, game.code)
                return game, result

    def _seat_host(self, sid: str, game: Game) -> None:
        """Seat a host or board page's connection and broadcast."""
        if self._gone(sid, game.code):
            return
        self.seats[sid] = Seat(game.code, None, game.mode)
        self.server.enter_room(sid, room(game.code))
        self.server.enter_room(sid, board(game.code))
        self._start_clock()
        self.broadcast(game)

    def _seat_player(self, sid: str, game: Game, player_id: str, token: str | None) -> None:
        """Seat a player's connection, answer `joined` (with the token when it is new) and broadcast."""
        if self._gone(sid, game.code):
            return
        for other, seat in list(self.seats.items()):  # this player's old connection, not yet noticed gone
            if other != sid and seat.code == game.code and seat.player == player_id:
                if seat.ticket is not None:
                    seat.ticket.claimed = seat.ticket.kept = True  # its drawing is the new connection's now
                del self.seats[other]
        self.seats[sid] = Seat(game.code, player_id, game.mode)
        self.server.enter_room(sid, room(game.code))
        self._start_clock()
        name = game.players[player_id].name
        joined = {"code": game.code, "player": player_id, "mode": game.mode, "name": name}
        if token is not None:
            joined["token"] = token
        self._emit_to(sid, "joined", joined)
        self.broadcast(game)

    def _gone(self, sid: str, code: str) -> bool:
        """Tell whether a connection closed while its handler waited on the store (then take it out again)."""
        if self.live.get(sid) is not None:
            return False
        with contextlib.suppress(InputError):
            self.store.update(code, lambda g: g.leave(sid, time.time()))
        return True

    def _as_host(self, payload: dict[str, Any], change: Callable[[Game], Any]) -> None:
        """Apply a change the host asked for, after checking the host's token.

        A room that does not exist gets the same answer as a wrong token: these events tell nobody which
        codes are in use (so they need no rate limit: a token of 32 characters is not guessed).
        """
        code = rules.parse_code(payload.get("code"))

        def checked(game: Game) -> None:
            if not game.is_host(payload.get("token")):
                raise InputError("bad_token", "no room has that code and host's token")
            change(game)

        try:
            game, _ = self.store.update(code, checked)
        except InputError as exc:
            if exc.code == "room_not_found":
                raise InputError("bad_token", "no room has that code and host's token") from exc
            raise
        self.broadcast(game)

    def _spend(self, sid: str) -> None:
        """Spend one attempt of this connection's and its address's budgets, or refuse."""
        bucket = self._attempts.setdefault(sid, TokenBucket(ATTEMPT_RATE, ATTEMPT_BURST))
        address = rate_key(self.addresses.get(sid, "unknown"))
        if not bucket.has() or self._address_attempts.retry_after(address) > 0:
            raise InputError("too_many_attempts", "too many attempts: wait a few seconds")
        bucket.spend()

    def _code(self, sid: str, payload: dict[str, Any]) -> str:
        """Spend one attempt (see `_spend`) and return the room code the payload names."""
        self._spend(sid)
        return rules.parse_code(payload.get("code"))

    def _leave(self, sid: str, abandon: bool = False) -> None:
        """Take a connection out of the game it sits in, if any; `abandon`: delete its solo game."""
        seat = self.seats.pop(sid, None)
        if seat is None:
            return
        self.server.leave_room(sid, room(seat.code))
        self.server.leave_room(sid, board(seat.code))

        def leave(game: Game) -> bool:
            if abandon and game.mode == "solo":
                raise Deleted()  # a new game replaces it: nobody comes back to this one
            return game.leave(sid, time.time())

        try:
            game, found = self.store.update(seat.code, leave)
        except (InputError, Deleted):  # gone already, or just deleted
            return
        except Exception:  # the store is unreachable: the game forgets this connection when it idles out
            log.exception("could not take a connection out of game %s", seat.code)
            return
        if found:
            self.broadcast(game)

    def _keep(self, sid: str, ticket: Ticket, outcome: Outcome | None) -> None:
        """Hand a round's drawing to the collector, once, with the prompt as its word (if collecting).

        `outcome`: the prediction that recognised it; otherwise the last one made of it.
        """
        if self.collector is None or ticket.kept:
            return
        session = self.live.get(sid)
        if session is None:
            return
        ticket.kept = True
        with self.live.lock:
            drawing = session.drawing.raw()
        if outcome is None and session.cached is not None:
            outcome = session.cached[1]
        if not drawing or outcome is None:
            return  # nothing was drawn, or nothing predicted of it
        kept = Kept(ticket.prompt, drawing, ticket.claimed, "play", outcome.model, outcome.top)
        self.collector.keep(kept)

    def _emit_to(self, sid: str, event: str, data: dict[str, Any]) -> None:
        """Answer one of this process's connections directly (not through the message queue)."""
        self.server.emit(event, data, to=sid, ignore_queue=True)

    def _recognised(self, seat: Seat, round_index: int, at: float) -> None:
        """Record a recognition in the game and tell everyone (a background task: the store may be remote)."""
        try:
            game, gained = self.store.update(
                seat.code, lambda g: g.recognise(seat.player or "", round_index, at)
            )
        except InputError:  # the game ended meanwhile
            return
        except Exception:
            log.exception("recording a recognition in %s failed", seat.code)
            return
        if gained is not None:
            self.broadcast(game)

    def _thumb(self, seat: Seat, ticket: Ticket, state: tuple[Outcome, Snapshot], now: bool = False) -> None:
        """Send the board a player's drawing and guess: `now`, or once THUMB_INTERVAL_S since the last."""
        outcome, snapshot = state
        if outcome is seat.thumb_outcome:
            return
        if not now and time.monotonic() - seat.thumb_at < THUMB_INTERVAL_S:
            seat.thumb_due = state
            return
        seat.thumb_at, seat.thumb_outcome, seat.thumb_due = time.monotonic(), outcome, None
        top = outcome.top[0] if outcome.top else None
        thumb = {
            "player": seat.player,
            "round": ticket.round,
            "strokes": thumbnail(snapshot),
            "guess": top["label"] if top else None,
            "sure": outcome.sure,
        }
        self.server.emit("thumb", thumb, room=board(seat.code))

    def _start_clock(self) -> None:
        if self._clock is None:
            self._clock = self.server.start_background_task(self._run_clock)

    def _run_clock(self) -> None:
        """Apply what is due in every game, and send held-back thumbnails, every TICK_S; never dies."""
        while True:
            self.server.sleep(TICK_S)
            try:
                self.tick(time.time())
            except Exception:
                log.exception("the game clock failed a tick")


def room(code: str) -> str:
    """Return the Socket.IO room of everyone in a game."""
    return f"game:{code}"


def board(code: str) -> str:
    """Return the Socket.IO room of a game's host and board pages."""
    return f"board:{code}"
