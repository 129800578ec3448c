"""Each round's drawing handed to the collector (COLLECT_DRAWINGS), once, with the prompt as its word."""

from __future__ import annotations

from realtime.collect.collector import Collector
from realtime.collect.store import Kept
from realtime.game.seats import Ticket
from realtime.model.live import LivePredictor, Outcome


class Keeper:
    """Hand the collector a player's drawing of a round when it is recognised or its time is up."""

    def __init__(self, live: LivePredictor, collector: Collector | None) -> None:
        self.live = live
        self.collector = collector  # None: not collecting

    def keep(self, sid: str, ticket: Ticket, outcome: Outcome | None) -> None:
        """Keep the drawing of `sid`'s round, once (if collecting).

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
