"""What this process alone knows of its connections in games: where each sits, the round it draws, the
room's taught words its predictions rank, and how many attempts it has left to name or create a game.
"""

from __future__ import annotations

from dataclasses import dataclass

from realtime.core.drawing import Snapshot
from realtime.core.errors import InputError
from realtime.infra.ratelimit import AddressLimiter, Monotonic, TokenBucket, rate_key
from realtime.model.live import Outcome
from realtime.model.words import WordBook


@dataclass
class Ticket:
    """What a player's connection draws in a round: replaced whole, so the prediction worker reads one."""

    round: int
    prompt: str
    ends_at: float
    ready_seq: int  # predictions of messages up to this one show the drawing from before the round
    claimed: bool = False  # recognised (or being recorded as recognised)
    kept: bool = False  # handed to the collector (COLLECT_DRAWINGS)

    def recognised_by(self, seq: int, outcome: Outcome, now: float) -> bool:
        """Tell whether the prediction of message `seq` at `now` recognises the prompt.

        Only the server's own prediction counts: sure, naming the prompt, of a message sent after
        `round_ready`, before the round's end.
        """
        top = outcome.top
        return (
            seq > self.ready_seq
            and outcome.sure
            and bool(top)
            and top[0]["label"] == self.prompt
            and now <= self.ends_at
        )


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
    # The room's taught words set on this player's session (None: none), and the (words revision, model
    # version) they were embedded for: another model's prototypes mean nothing to this one's embeddings.
    book: WordBook | None = None
    book_for: tuple[int, str] = (0, "")


class Attempts:
    """Attempts to name or create a game: a budget per connection and one per client address."""

    def __init__(
        self, rate: float, burst: int, address_rate: float, address_burst: int, clock: Monotonic
    ) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.addresses: dict[str, str] = {}  # sid -> client address
        self._buckets: dict[str, TokenBucket] = {}  # per connection
        self._by_address = AddressLimiter(address_rate, address_burst, clock=clock)

    def connected(self, sid: str, address: str) -> None:
        """Note a new connection's client address."""
        self.addresses[sid] = address

    def spend(self, sid: str) -> None:
        """Spend one attempt of this connection's and its address's budgets, or refuse."""
        bucket = self._buckets.setdefault(sid, TokenBucket(self.rate, self.burst, self.clock))
        address = rate_key(self.addresses.get(sid, "unknown"))
        if not bucket.has() or self._by_address.retry_after(address) > 0:
            raise InputError("too_many_attempts", "too many attempts: wait a few seconds")
        bucket.spend()

    def forget(self, sid: str) -> None:
        """Forget a closed connection."""
        self._buckets.pop(sid, None)
        self.addresses.pop(sid, None)
