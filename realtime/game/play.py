"""Play: this process's part of every game (realtime.game.rules) whose players or host pages it holds.

A game lives in the room store (realtime.game.rooms), in Redis when processes share a message queue, so
any process can change it; every change is broadcast as a `game` event to the game's Socket.IO room
through the message queue, which reaches the game's connections on every process. What only this process
knows stays here: which of its connections sit in which game (realtime.game.seats), and each drawing's
predictions. The server alone decides that a drawing was recognised: when its own prediction of a
player's drawing of the current round is sure and names the prompt, before the round's end.

A room's taught words (realtime.game.words) are ranked in its players' predictions: each process embeds
them with its own model and sets them on its players' sessions when it seats them and at every
`round_ready`, which reads the game on the player's own process. The words change only between rounds
(`room_words` is refused while one runs), so every round is drawn with the words the game held at its
start, on every process; the host's process passes a change on to its own players at once.

Time comes from one clock (realtime.game.clock). `tick` applies what is due (a round's end, the next solo
round, an absent host, an empty or idle room) and sends the board the thumbnails held back by the
throttle (realtime.game.board): a background task calls it every TICK_S, or a test, after moving its clock.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from realtime.collect.collector import Collector
from realtime.core.errors import InputError
from realtime.game import rules
from realtime.game.board import Thumbnails, board_room, game_room
from realtime.game.clock import Clock, Ticker
from realtime.game.keeping import Keeper
from realtime.game.rooms import Deleted, Store, no_such_room
from realtime.game.rules import Game
from realtime.game.seats import Attempts, Seat, Ticket
from realtime.game.words import Entry, RoomBooks, choose, parse_choice
from realtime.model.live import LivePredictor, Outcome, Session
from realtime.model.ranking import classes
from realtime.model.words import EMPTY, TaughtWord

log = logging.getLogger(__name__)
T = TypeVar("T")

TICK_S = 0.2  # how often the clock looks for due games and held-back thumbnails
# Attempts to name or create a game (create, join, rejoin, attach a host or board page), per connection
# and per client address: a room code has 25^8 values, so guessing one of even a thousand open rooms takes
# 10^8 attempts. A classroom behind one address joins in one burst.
ATTEMPT_RATE, ATTEMPT_BURST = 1.0, 5
ADDRESS_RATE, ADDRESS_BURST = 2.0, 60
SOLO_NAME = "You"


class Play:
    """The game events' handlers, this process's seats, the recognition check, what the clock makes due."""

    def __init__(
        self,
        live: LivePredictor,
        store: Store,
        *,
        clock: Clock,
        seconds: float,
        max_players: int,
        collector: Collector | None = None,
        background: bool = True,
    ) -> None:
        self.live = live
        self.keeper = Keeper(live, collector)  # keeps each round's drawing when COLLECT_DRAWINGS is on
        self.server = live.server
        self.store = store
        self.clock = clock
        self.seconds = seconds
        self.max_players = max_players
        self.seats: dict[str, Seat] = {}
        self.attempts = Attempts(ATTEMPT_RATE, ATTEMPT_BURST, ADDRESS_RATE, ADDRESS_BURST, clock.monotonic)
        self.thumbnails = Thumbnails(self.server, clock)
        self.books = RoomBooks(store.words)  # the taught words of the rooms this process seats players of
        # Without background tasks (tests, no ticker), nothing calls `tick` but the test, and a recognition
        # is recorded before `observe` returns.
        self._ticker = Ticker(self.server, self.tick, TICK_S) if background else None

    # --- events ---------------------------------------------------------------------------------------

    def solo_start(self, sid: str, payload: dict[str, Any]) -> None:
        """Start a solo game of six rounds for this connection; its first round starts at once."""
        self.attempts.spend(sid)
        token = secrets.token_urlsafe(24)

        def setup(game: Game, now: float) -> str:
            player = game.add_player(SOLO_NAME, token, sid, 1)
            game.start_round(now)
            return player.id

        game, player_id = self._create(sid, "solo", token, rules.SOLO_ROUNDS, setup)
        self._seat_player(sid, game, player_id, token)

    def room_create(self, sid: str, payload: dict[str, Any]) -> None:
        """Create a room hosted by this connection: `{rounds}` (default 6); answer `hosted`."""
        rounds = payload.get("rounds", rules.SOLO_ROUNDS)
        if type(rounds) is not int or not 1 <= rounds <= rules.MAX_ROUNDS:
            raise InputError("bad_payload", f"rounds must be a whole number from 1 to {rules.MAX_ROUNDS}")
        self.attempts.spend(sid)
        token, board_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)

        def setup(game: Game, now: float) -> None:
            game.board = rules.token_hash(board_token)
            game.add_host(sid)

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
        game, _ = self._update(code, lambda g, now: g.add_host(sid))
        self._seat_host(sid, game)

    def room_join(self, sid: str, payload: dict[str, Any]) -> None:
        """Join a room as a new player: `{code, name}`; answer `joined` with the token for rejoining."""
        code = self._code(sid, payload)
        name = rules.clean_name(payload.get("name"))
        seat = self.seats.get(sid)
        if seat is not None and seat.code == code and seat.player is not None:
            raise InputError("already_joined", "this connection already plays in that room")
        if self.store.get(code) is None:
            raise no_such_room()
        self._leave(sid)
        token = secrets.token_urlsafe(24)
        game, player = self._update(code, lambda g, now: g.add_player(name, token, sid, self.max_players))
        self._seat_player(sid, game, player.id, token)

    def room_rejoin(self, sid: str, payload: dict[str, Any]) -> None:
        """Take one's place again after a reconnect: `{code, player, token}`; name and score are kept."""
        code = self._code(sid, payload)

        def seat(game: Game, now: float) -> str:
            player = game.player_by_token(payload.get("player"), payload.get("token"))
            game.seat(player, sid)
            return player.id

        self._leave(sid)
        game, player_id = self._update(code, seat)
        self._seat_player(sid, game, player_id, None)

    def round_start(self, sid: str, payload: dict[str, Any]) -> None:
        """Start the next round (the host): `{code, token}`."""
        self._as_host(payload, lambda g, now: g.start_round(now))

    def round_skip(self, sid: str, payload: dict[str, Any]) -> None:
        """End the round being drawn (the host): `{code, token}`."""
        self._as_host(payload, lambda g, now: g.end_round(now))

    def room_close(self, sid: str, payload: dict[str, Any]) -> None:
        """End the game for everyone (the host): `{code, token}`."""

        def close(game: Game, now: float) -> None:
            if game.phase == "over":
                raise InputError("room_over", "this game is over")
            game.finish("closed", now)

        self._as_host(payload, close)

    def room_words(self, sid: str, payload: dict[str, Any], own: Mapping[str, TaughtWord]) -> None:
        """Choose a room's round words (the host, between rounds): `{code, token, words: [word, ...]}`.

        Each word is one of the model's, one of this connection's ready taught words (`own`, the Teacher's
        by casefolded name), or one of the room's taught words already; the taught ones are copied into
        the room beside the game, and the game's prompts become the words chosen.
        """
        code = rules.parse_code(payload.get("code"))
        names = parse_choice(payload.get("words"))
        trained = classes(self.live.model)
        token = payload.get("token")

        def change(game: Game, room: list[Entry]) -> list[Entry]:
            if not game.is_host(token):
                raise InputError("bad_token", "no room has that code and host's token")
            game.words_open()
            labels, entries = choose(names, trained, own, room)
            game.choose_words(labels, [entry["word"] for entry in entries])
            return entries

        try:
            game = self.store.update_words(code, change, self.clock.now())
        except InputError as exc:
            if exc.code == "room_not_found":
                raise InputError("bad_token", "no room has that code and host's token") from exc
            raise
        log.info("room %s draws from %d words (%d taught)", code, len(game.labels), len(game.taught))
        revision = game.taught_rev if game.taught else None
        for other, seat in list(self.seats.items()):  # this process's players have them at once
            if seat.code == code and seat.player is not None:
                self._rank_words(other, revision)
        self.broadcast(game)

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
        self._rank_words(sid, game.taught_rev if game.taught else None)
        old = seat.ticket
        fresh = old is None or old.round != index
        if fresh and old is not None:
            self.keeper.keep(sid, old, None)  # the round before is over: its drawing, if not kept yet
        same = old if old is not None and not fresh else None  # the same round again, after a reconnect
        claimed, kept = (same.claimed, same.kept) if same is not None else (False, False)
        seat.ticket = Ticket(index, current.prompt, current.ends_at, payload["seq"], claimed, kept)
        return fresh

    # --- connections and the clock --------------------------------------------------------------------

    def connected(self, sid: str, address: str) -> None:
        """Note a new connection's client address."""
        self.attempts.connected(sid, address)

    def leave(self, sid: str) -> None:
        """Forget a closed connection: its seat here, its place in its game (name and score are kept)."""
        seat = self.seats.get(sid)
        if seat is not None and seat.ticket is not None and self.clock.now() > seat.ticket.ends_at:
            self.keeper.keep(sid, seat.ticket, None)
        self.attempts.forget(sid)
        self._leave(sid)

    def observe(self, session: Session, seq: int, outcome: Outcome) -> None:
        """Look at a prediction just sent: recognise the prompt, update the board's thumbnail."""
        seat = self.seats.get(session.sid)
        ticket = seat.ticket if seat is not None else None
        if seat is None or ticket is None or ticket.claimed:
            return  # not drawing a round; or recognised, and the board keeps the drawing that was
        if seat.book is not None and seat.book_for[1] != outcome.model:
            return  # ranked with words another model embedded (a hot reload): `tick` embeds them again
        now = self.clock.now()
        recognised = ticket.recognised_by(seq, outcome, now)
        if seat.mode == "room":
            with self.live.lock:
                snapshot = session.drawing.snapshot()
            # The drawing that was recognised goes to the board at once, before the news of it.
            self.thumbnails.show(seat, ticket, (outcome, snapshot), at_once=recognised)
        if recognised:
            ticket.claimed = True
            self.keeper.keep(session.sid, ticket, outcome)
            if self._ticker is not None:  # the store may be remote: not on the prediction worker's time
                self.server.start_background_task(self._recognised, seat, ticket.round, now)
            else:
                self._recognised(seat, ticket.round, now)

    def broadcast(self, game: Game) -> None:
        """Send the game as it is now to everyone in it, on every process."""
        self.server.emit("game", game.view(self.clock.now()), room=game_room(game.code))

    def tick(self) -> None:
        """Apply what is due now in every game, and send the thumbnails the throttle held back."""
        now = self.clock.now()
        for code in self.store.due(now):
            try:
                self._tick(code, now)
            except Exception:  # one bad game (unreadable, say) must not stop the others' clocks
                log.exception("the game clock failed on game %s: it is no longer timed", code)
                self.store.drop_due(code)
        version = self.live.model.version
        for sid, seat in list(self.seats.items()):
            if seat.ticket is not None and now > seat.ticket.ends_at:
                self.keeper.keep(sid, seat.ticket, None)  # time is up: the drawing as it stands
            self.thumbnails.send_held(seat)
            if seat.book is not None and seat.book_for[1] != version:  # the model was switched
                self._rank_words(sid, seat.book_for[0])

    # --- internals ------------------------------------------------------------------------------------

    def _update(self, code: str, change: Callable[[Game, float], T]) -> tuple[Game, T]:
        """Apply `change(game, now)` to a game in the store, now."""
        now = self.clock.now()
        return self.store.update(code, lambda game: change(game, now), now)

    def _tick(self, code: str, now: float) -> None:
        """Apply what is due in one game; broadcast what changed."""

        def due(game: Game) -> int:
            revision = game.revision
            if game.tick(self.store.timing, now):
                raise Deleted()
            return revision

        try:
            game, before = self.store.update(code, due, now)
        except InputError:  # gone meanwhile
            return
        except Deleted:
            log.info("game %s ended and was forgotten", code)
            return
        if game.revision != before:
            self.broadcast(game)

    def _create(
        self, sid: str, mode: str, token: str, rounds: int, setup: Callable[[Game, float], T]
    ) -> tuple[Game, T]:
        """Create a game with a fresh code, `setup` applied before it is stored."""
        self._leave(sid, abandon=True)
        now, labels = self.clock.now(), classes(self.live.model)
        while True:
            game = Game.new(mode, token, labels, rounds, self.seconds, now)
            result = setup(game, now)
            if self.store.create(game):
                log.info("%s %s created", mode, game.code)
                return game, result

    def _seat_host(self, sid: str, game: Game) -> None:
        """Seat a host or board page's connection and broadcast."""
        if self._seat(sid, game, None):
            self.broadcast(game)

    def _seat_player(self, sid: str, game: Game, player_id: str, token: str | None) -> None:
        """Seat a player's connection, answer `joined` (with the token when it is new) and broadcast."""
        if not self._seat(sid, game, player_id):
            return
        for other, seat in list(self.seats.items()):  # this player's old connection, not yet noticed gone
            if other != sid and seat.code == game.code and seat.player == player_id:
                if seat.ticket is not None:
                    seat.ticket.claimed = seat.ticket.kept = True  # its drawing is the new connection's now
                del self.seats[other]
        self._rank_words(sid, game.taught_rev if game.taught else None)
        name = game.players[player_id].name
        joined = {"code": game.code, "player": player_id, "mode": game.mode, "name": name}
        if token is not None:
            joined["token"] = token
        self._emit_to(sid, "joined", joined)
        self.broadcast(game)

    def _seat(self, sid: str, game: Game, player_id: str | None) -> bool:
        """Seat a connection (a host or board page: no player) and start the clock; False: it closed."""
        if self._gone(sid, game.code):
            return False
        self.seats[sid] = Seat(game.code, player_id, game.mode)
        self.server.enter_room(sid, game_room(game.code))
        if player_id is None:
            self.server.enter_room(sid, board_room(game.code))
        if self._ticker is not None:
            self._ticker.start()
        return True

    def _gone(self, sid: str, code: str) -> bool:
        """Tell whether a connection closed while its handler waited on the store (then take it out again)."""
        if self.live.get(sid) is not None:
            return False
        with contextlib.suppress(InputError):
            self._update(code, lambda g, now: g.leave(sid, now))
        return True

    def _as_host(self, payload: dict[str, Any], change: Callable[[Game, float], Any]) -> None:
        """Apply a change the host asked for, after checking the host's token.

        A room that does not exist gets the same answer as a wrong token: these events tell nobody which
        codes are in use (so they need no rate limit: a token of 32 characters is not guessed).
        """
        code = rules.parse_code(payload.get("code"))

        def checked(game: Game, now: float) -> None:
            if not game.is_host(payload.get("token")):
                raise InputError("bad_token", "no room has that code and host's token")
            change(game, now)

        try:
            game, _ = self._update(code, checked)
        except InputError as exc:
            if exc.code == "room_not_found":
                raise InputError("bad_token", "no room has that code and host's token") from exc
            raise
        self.broadcast(game)

    def _code(self, sid: str, payload: dict[str, Any]) -> str:
        """Spend one attempt (see `Attempts`) and return the room code the payload names."""
        self.attempts.spend(sid)
        return rules.parse_code(payload.get("code"))

    def _leave(self, sid: str, abandon: bool = False) -> None:
        """Take a connection out of the game it sits in, if any; `abandon`: delete its solo game."""
        seat = self.seats.pop(sid, None)
        if seat is None:
            return
        self.server.leave_room(sid, game_room(seat.code))
        self.server.leave_room(sid, board_room(seat.code))
        session = self.live.get(sid)
        if seat.book is not None and session is not None and session.book is seat.book:
            self.live.set_session_book(session, EMPTY)  # the room's words stay in the room
        if all(other.code != seat.code for other in self.seats.values()):
            self.books.forget(seat.code)

        def leave(game: Game, now: float) -> bool:
            if abandon and game.mode == "solo":
                raise Deleted()  # a new game replaces it: nobody comes back to this one
            return game.leave(sid, now)

        try:
            game, found = self._update(seat.code, leave)
        except (InputError, Deleted):  # gone already, or just deleted
            return
        except Exception:  # the store is unreachable: the game forgets this connection when it idles out
            log.exception("could not take a connection out of game %s", seat.code)
            return
        if found:
            self.broadcast(game)

    def _rank_words(self, sid: str, revision: int | None) -> None:
        """Rank its room's taught words (at `revision`; None: none) in a seated player's predictions."""
        seat, session = self.seats.get(sid), self.live.get(sid)
        if seat is None or session is None or seat.player is None:
            return
        if revision is None:
            if seat.book is not None:
                seat.book, seat.book_for = None, (0, "")
                self.live.set_session_book(session, EMPTY)
            return
        model = self.live.model
        if seat.book is not None and seat.book_for[0] >= revision and seat.book_for[1] == model.version:
            return  # the words it ranks already
        try:
            found, book = self.books.get(seat.code, revision, model)
        except Exception:  # the store is unreachable: the words it has stand, tried again at the next chance
            log.exception("could not read the taught words of game %s", seat.code)
            return
        seat.book, seat.book_for = book, (found, model.version)
        self.live.set_session_book(session, book)

    def _emit_to(self, sid: str, event: str, data: dict[str, Any]) -> None:
        """Answer one of this process's connections directly (not through the message queue)."""
        self.server.emit(event, data, to=sid, ignore_queue=True)

    def _recognised(self, seat: Seat, round_index: int, at: float) -> None:
        """Record a recognition in the game and tell everyone (the store may be remote)."""
        try:
            game, gained = self.store.update(
                seat.code, lambda g: g.recognise(seat.player or "", round_index, at), at
            )
        except InputError:  # the game ended meanwhile
            return
        except Exception:
            log.exception("recording a recognition in %s failed", seat.code)
            return
        if gained is not None:
            self.broadcast(game)
