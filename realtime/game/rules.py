"""The game's rules: a solo game or a room, its players, rounds, prompts, recognitions and scores.

Everything here is plain data and pure rules: a `Game` is what the room store keeps (as JSON, in Redis
when the server processes share one), and every change is a method that checks first and then changes,
so a refused change leaves the game as it was. A change records nothing else: the store sees that the
game differs and saves it with a new `revision` (realtime.game.rooms). Times are wall-clock seconds, the
clock that every process of a cluster shares; the caller passes `now` (realtime.game.clock).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import random
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from realtime.core.errors import InputError
from realtime.core.text import clean_text

SOLO_ROUNDS = 6
MAX_ROUNDS = 20
BREAK_S = 2.5  # solo: how long the verdict shows before the next round starts
MAX_NAME = 24  # characters of a display name
MAX_HOST_CONNECTIONS = 8  # host and board pages of one room
MAX_TOKEN = 64  # characters of a secret token (they are 32)
# Room codes: no 0/O, 1/I/L, 2/Z, 5/S, 8/B look-alikes. 8 of these 25 characters: 1.5 × 10^11 codes.
CODE_ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
CODE_LENGTH = 8
MIN_POINTS, SPEED_POINTS = 10, 90  # a recognised drawing scores 10, plus up to 90 the faster it was


def new_code() -> str:
    """Return a random room code such as `KQ7M-XPDA` (shown with a dash; stored without)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def parse_code(value: Any) -> str:
    """Return a room code as typed (any case, spaces or dashes), or refuse it with `bad_code`."""
    code = re.sub(r"[\s-]", "", value).upper() if isinstance(value, str) and len(value) <= 32 else ""
    if len(code) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in code):
        raise InputError("bad_code", f"a room code is {CODE_LENGTH} letters and digits, such as KQ7M-XPDA")
    return code


def shown_code(code: str) -> str:
    """Return a code as people read it: `KQ7M-XPDA`."""
    return f"{code[:4]}-{code[4:]}"


def clean_name(value: Any) -> str:
    """Return a display name: control and format characters removed, spaces collapsed, at most MAX_NAME."""
    return clean_text(value, MAX_NAME, "bad_name", "a name")


def token_hash(token: str) -> str:
    """Return what the store keeps of a secret token."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: Any, digest: str) -> bool:
    """Tell whether `token` is the secret hashed to `digest` (never for anything but short ASCII text)."""
    if not isinstance(token, str) or not token.isascii() or not 0 < len(token) <= MAX_TOKEN or not digest:
        return False
    return hmac.compare_digest(token_hash(token), digest)


def points(ms: float, seconds: float) -> int:
    """Return the score of a drawing recognised after `ms` of a `seconds`-long round."""
    left = max(0.0, 1.0 - ms / 1000.0 / seconds)
    return MIN_POINTS + round(SPEED_POINTS * left)


@dataclass
class Player:
    """One person drawing: their name, their secret's hash, their score and connection."""

    id: str
    name: str
    token: str  # hash of the player's secret (token_hash)
    score: int = 0
    sid: str | None = None  # the connection that draws for them now (None: disconnected)


@dataclass
class Round:
    """One round: its prompt, when it started and ends, and who was recognised when (ms into the round)."""

    index: int
    prompt: str
    started_at: float
    ends_at: float
    recognised: dict[str, int] = field(default_factory=dict)  # player id -> ms, in order of recognition
    ended_at: float | None = None


@dataclass
class Game:
    """A solo game (one player, who is also the host) or a room (a host, players, a board)."""

    code: str
    mode: str  # "solo" or "room"
    host: str  # hash of the host's secret
    labels: list[str]  # the prompts this game draws from: the model's classes, or the words its host chose
    rounds: int
    seconds: float
    created_at: float
    players: dict[str, Player] = field(default_factory=dict)  # in order of joining
    history: list[Round] = field(default_factory=list)  # the last one is the current round
    deck: list[str] = field(default_factory=list)  # prompts not used yet, in the order they will come
    phase: str = "lobby"  # lobby, drawing, between (rounds), over
    reason: str = ""  # why the game is over: finished, closed, host_left, idle
    host_sids: list[str] = field(default_factory=list)  # connections of the host's pages
    host_gone_at: float | None = None  # when the last host page disconnected
    empty_at: float | None = None  # when the last connection of the game closed
    touched_at: float = 0.0  # when the store last saved a change
    next_at: float | None = None  # solo: when the next round starts
    board: str = ""  # hash of the board's secret: it watches, but cannot start, skip or close
    revision: int = 0  # grows with every change the store saves
    # The prompts among `labels` that are the room's taught words: their examples are kept beside the game
    # in the store (realtime.game.words), not in this document, which is rewritten on every change.
    taught: list[str] = field(default_factory=list)
    taught_rev: int = 0  # grows whenever the host chooses the words: each process then embeds them again

    @classmethod
    def new(cls, mode: str, token: str, labels: list[str], rounds: int, seconds: float, now: float) -> Game:
        """Return a new game with a random code, hosted by the holder of `token`, created at `now`."""
        host = token_hash(token)
        return cls(new_code(), mode, host, labels, rounds, seconds, created_at=now, touched_at=now)

    # --- reading -------------------------------------------------------------------------------------

    @property
    def current(self) -> Round | None:
        """Return the round being drawn or just drawn (None before the first)."""
        return self.history[-1] if self.history else None

    def is_host(self, token: Any) -> bool:
        """Tell whether `token` is the host's secret."""
        return token_matches(token, self.host)

    def may_watch(self, token: Any) -> bool:
        """Tell whether `token` opens the board: the host's secret or the board's."""
        return token_matches(token, self.host) or token_matches(token, self.board)

    def player_by_token(self, player_id: Any, token: Any) -> Player:
        """Return the player whose id and secret these are; refuse with `bad_token` otherwise."""
        player = self.players.get(player_id) if isinstance(player_id, str) else None
        if player is None or not token_matches(token, player.token):
            raise InputError("bad_token", "that player is not in this room, or the token is wrong")
        return player

    def playing(self) -> int:
        """Return how many players are connected."""
        return sum(player.sid is not None for player in self.players.values())

    def connected(self) -> int:
        """Return how many connections the game has (players and host pages)."""
        return len(self.host_sids) + sum(player.sid is not None for player in self.players.values())

    def deadline(self, timing: Timing) -> float:
        """Return the next time at which `tick` has something to do (at the latest, when it goes idle)."""
        times = [self.touched_at + timing.idle_s]
        if self.phase == "drawing" and self.current is not None:
            times.append(self.current.ends_at)
        if self.next_at is not None:
            times.append(self.next_at)
        if self.host_gone_at is not None and self.mode == "room" and self.phase != "over":
            times.append(self.host_gone_at + timing.host_grace_s)
        if self.empty_at is not None:
            times.append(self.empty_at + timing.empty_s)
        return min(times)

    def view(self, now: float) -> dict[str, Any]:
        """Return the game as everyone in it may see it: no secrets, no connection ids."""
        current = self.current
        round_view = None
        if current is not None:
            remaining = max(0.0, current.ends_at - now) if self.phase == "drawing" else 0.0
            round_view = {
                "index": current.index,
                "prompt": current.prompt,
                "seconds": self.seconds,
                "remaining_ms": round(remaining * 1000),
                "recognised": [{"player": pid, "ms": ms} for pid, ms in current.recognised.items()],
            }
        return {
            "code": self.code,
            "mode": self.mode,
            "phase": self.phase,
            "reason": self.reason,
            "rounds": self.rounds,
            "round": round_view,
            "players": [
                {"id": p.id, "name": p.name, "score": p.score, "connected": p.sid is not None}
                for p in self.players.values()
            ],
            "history": [
                {"index": r.index, "prompt": r.prompt, "recognised": dict(r.recognised)} for r in self.history
            ],
            "revision": self.revision,
            "words": list(self.labels),
            "taught": list(self.taught),
        }

    # --- changes -------------------------------------------------------------------------------------

    def add_player(self, name: str, token: str, sid: str, max_players: int) -> Player:
        """Add a player (refused when the room is full or over); return them."""
        if self.phase == "over":
            raise InputError("room_over", "this game is over")
        # Players who left keep their place (to come back), up to as many again as may play at once.
        if self.playing() >= max_players or len(self.players) >= 2 * max_players:
            raise InputError("room_full", f"this room is full: {max_players} players at most")
        player = Player(id=secrets.token_hex(4), name=name, token=token_hash(token), sid=sid)
        while player.id in self.players:
            player.id = secrets.token_hex(4)
        self.players[player.id] = player
        self.empty_at = None
        return player

    def seat(self, player: Player, sid: str) -> None:
        """Make `sid` the connection that draws for `player` (a reconnect)."""
        player.sid = sid
        self.empty_at = None

    def add_host(self, sid: str) -> None:
        """Add a host or board page's connection."""
        if sid not in self.host_sids:
            if len(self.host_sids) >= MAX_HOST_CONNECTIONS:
                raise InputError("too_many_hosts", f"at most {MAX_HOST_CONNECTIONS} host and board pages")
            self.host_sids.append(sid)
        self.host_gone_at = self.empty_at = None

    def leave(self, sid: str, now: float) -> bool:
        """Forget a closed connection; True if it was this game's. A round goes on: they may be back."""
        found = False
        if sid in self.host_sids:
            self.host_sids.remove(sid)
            found = True
            if not self.host_sids:
                self.host_gone_at = now
        for player in self.players.values():
            if player.sid == sid:
                player.sid = None
                found = True
        if found and self.connected() == 0:
            self.empty_at = now
        return found

    def words_open(self) -> None:
        """Refuse choosing the words now: in a solo game, while a round is drawn, once the game is over."""
        if self.mode != "room":
            raise InputError("not_a_room", "only a room's host chooses its words")
        if self.phase == "over":
            raise InputError("room_over", "this game is over")
        if self.phase == "drawing":
            raise InputError("round_running", "a round is running: choose the words between rounds")

    def choose_words(self, labels: list[str], taught: list[str]) -> None:
        """Make `labels` the room's prompts (`taught`: those of them that are taught words), deck anew.

        Refused in a solo game, while a round is being drawn (its players' predictions rank the taught
        words the round started with) and once the game is over.
        """
        self.words_open()
        self.labels, self.taught, self.deck = list(labels), list(taught), []
        self.taught_rev += 1

    def start_round(self, now: float) -> Round:
        """Start the next round with the deck's next prompt (refused while one runs or when it is over)."""
        if self.phase == "over":
            raise InputError("room_over", "this game is over")
        if self.phase == "drawing":
            raise InputError("round_running", "a round is running: skip it first")
        if len(self.history) >= self.rounds:
            raise InputError("no_rounds_left", f"all {self.rounds} rounds were played")
        if not self.deck:  # every prompt used: a new shuffle, not starting with the last one
            deck = random.sample(self.labels, len(self.labels))
            if self.history and len(deck) > 1 and deck[0] == self.history[-1].prompt:
                deck.append(deck.pop(0))
            self.deck = deck
        prompt = self.deck.pop(0)
        current = Round(len(self.history) + 1, prompt, now, now + self.seconds)
        self.history.append(current)
        self.phase = "drawing"
        self.next_at = None
        return current

    def recognise(self, player_id: str, round_index: int, now: float) -> int | None:
        """Record that a player's drawing of the round was recognised; return its points (None: late)."""
        current = self.current
        player = self.players.get(player_id)
        late = (
            self.phase != "drawing"
            or current is None
            or current.index != round_index
            or now > current.ends_at
        )
        if late or player is None or player_id in current.recognised:
            return None
        ms = max(0, round((now - current.started_at) * 1000))
        current.recognised[player_id] = ms
        gained = points(ms, self.seconds)
        player.score += gained
        self._end_if_all_recognised(now)
        return gained

    def end_round(self, now: float) -> None:
        """End the round being drawn (time is up, everyone was recognised, or the host skipped it)."""
        if self.phase != "drawing" or self.current is None:
            raise InputError("no_round", "no round is running")
        self.current.ended_at = now
        if len(self.history) >= self.rounds:
            self.finish("finished", now)
            return
        self.phase = "between"
        if self.mode == "solo":
            self.next_at = now + BREAK_S

    def finish(self, reason: str, now: float) -> None:
        """End the game for everyone."""
        if self.current is not None and self.current.ended_at is None:
            self.current.ended_at = now
        self.phase, self.reason, self.next_at = "over", reason, None

    def tick(self, timing: Timing, now: float) -> bool:
        """Apply whatever is due at `now`; return True when the game is to be deleted.

        Due: a round's end, the next solo round, the host's or everyone's absence, idleness.
        """
        if self.empty_at is not None and now >= self.empty_at + timing.empty_s:
            return True
        if now >= self.touched_at + timing.idle_s:
            if self.phase == "over":
                return True
            self.finish("idle", now)
            return False
        if self.phase == "drawing" and self.current is not None and now >= self.current.ends_at:
            self.end_round(now)
        if self.phase == "between" and self.next_at is not None and now >= self.next_at:
            self.start_round(now)
        if (
            self.mode == "room"
            and self.phase != "over"
            and self.host_gone_at is not None
            and now >= self.host_gone_at + timing.host_grace_s
        ):
            self.finish("host_left", now)
        return False

    def _end_if_all_recognised(self, now: float) -> None:
        """End the round once every connected player was recognised (and at least one was)."""
        current = self.current
        drawing = [pid for pid, player in self.players.items() if player.sid is not None]
        if current is not None and current.recognised and all(pid in current.recognised for pid in drawing):
            self.end_round(now)

    # --- storage -------------------------------------------------------------------------------------

    def to_json(self) -> str:
        """Serialise for the store."""
        return json.dumps(dataclasses.asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> Game:
        """Read back what `to_json` wrote."""
        data = json.loads(text)
        data["players"] = {pid: Player(**p) for pid, p in data["players"].items()}
        data["history"] = [Round(**r) for r in data["history"]]
        return cls(**data)


@dataclass(frozen=True)
class Timing:
    """How long a game waits: for a host to come back, for anyone when empty, for anything when idle."""

    host_grace_s: float
    empty_s: float
    idle_s: float
