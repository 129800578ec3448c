"""Games for the tests of the rules and the stores: a new game at a fixed time; a refusal checked by code."""

from __future__ import annotations

import pytest

from realtime.core.errors import InputError
from realtime.game import rules
from realtime.game.rules import Game, Timing

LABELS = ["cat", "dog", "fish", "giraffe", "camel", "octopus"]
TIMING = Timing(host_grace_s=30.0, empty_s=60.0, idle_s=600.0)
T0 = 1_000_000.0


def make_game(mode: str = "room", rounds: int = 6, seconds: float = 20.0, token: str = "host-secret") -> Game:
    """Return a new game created at T0."""
    return Game(
        code=rules.new_code(),
        mode=mode,
        host=rules.token_hash(token),
        labels=list(LABELS),
        rounds=rounds,
        seconds=seconds,
        created_at=T0,
        touched_at=T0,
    )


def refused(code: str, action, *args) -> None:
    """Assert that `action(*args)` is refused with error code `code`."""
    with pytest.raises(InputError) as info:
        action(*args)
    assert info.value.code == code
