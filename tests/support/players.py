"""Game clients for the play tests: python-socketio players and hosts, and drawings the model knows.

The drawings are real Quick, Draw! stroke drawings from ../shared/quickdraw, picked by a rule: for each
class, the raw drawings the shipped default model is sure of and right about (rasterized here with the
server's own rasterizer), in file order. Which ones those are is the model's business; that a drawing the
model recognises ends a round is the game's.
"""

from __future__ import annotations

import time
from functools import cache
from typing import Any

import numpy as np

from harness.page import page_messages
from harness.quickdraw import drawings
from realtime.core import preprocess
from realtime.core.errors import InputError
from realtime.model.ranking import guesses
from realtime.model.recognizer import Recognizer
from tests.support.live import LiveClient

MODEL = "animals6-q8"


@cache
def _model() -> Recognizer:
    return Recognizer.from_name(MODEL)


@cache
def known_drawings(label: str, count: int = 3) -> tuple[list, ...]:
    """Return the first `count` raw drawings of `label` that the shipped model names, sure, when complete."""
    model = _model()
    found = []
    for record in drawings(label, "raw"):
        strokes = [np.asarray(list(zip(xs, ys, strict=True)), float) for xs, ys, *_ in record["drawing"]]
        top, sure = guesses(model, model.predict(preprocess.rasterize_strokes(strokes)[np.newaxis])[0])
        if sure and top[0]["label"] == label:
            found.append(record["drawing"])
            if len(found) == count:
                break
    assert found, f"the model is sure of none of the {label} drawings"
    return tuple(found)


def unknown_drawing(label: str, prompt: str) -> list:
    """Return a raw drawing of `label` that the shipped model does not take for `prompt` at any stage."""
    model = _model()
    for record in drawings(label, "raw"):
        strokes = [np.asarray(list(zip(xs, ys, strict=True)), float) for xs, ys, *_ in record["drawing"]]
        named = False
        for end in range(1, len(strokes) + 1):
            try:
                bitmap = preprocess.rasterize_strokes(strokes[:end])
            except InputError:
                continue
            top, _ = guesses(model, model.predict(bitmap[np.newaxis])[0])
            named = named or top[0]["label"] == prompt
        if not named:
            return record["drawing"]
    raise AssertionError(f"every {label} drawing looks like {prompt} at some stage")


class GameClient(LiveClient):
    """A live client that also records the game's events: `game`, `joined`, `hosted` and `thumb`."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.games: list[dict[str, Any]] = []
        self.joined: list[dict[str, Any]] = []
        self.hosted: list[dict[str, Any]] = []
        self.thumbs: list[dict[str, Any]] = []
        self.seq = 0
        for name, store in (
            ("game", self.games),
            ("joined", self.joined),
            ("hosted", self.hosted),
            ("thumb", self.thumbs),
        ):
            self.sio.on(name, self._keeper(store))

    def _keeper(self, store: list[dict[str, Any]]) -> Any:
        def keep(payload: dict[str, Any]) -> None:
            with self.changed:
                store.append(payload)
                self.changed.notify_all()

        return keep

    @property
    def game(self) -> dict[str, Any]:
        """Return the newest game state received (by revision)."""
        assert self.games, "no game event yet"
        return max(self.games, key=lambda g: g["revision"])

    def wait_game(self, condition: Any, timeout: float = 10.0, what: str = "") -> dict[str, Any]:
        """Wait until the newest game state satisfies `condition`; return it."""
        found = self.wait(lambda: self.games and condition(self.game), timeout)
        last = self.games[-1:]
        assert found, f"no game state {what} within {timeout} s; last: {last}; errors: {self.errors}"
        return self.game

    def wait_error(self, code: str, timeout: float = 10.0) -> dict[str, Any]:
        """Wait for an `error` event with `code`."""
        found = self.wait(lambda: any(e["code"] == code for e in self.errors), timeout)
        assert found, f"no {code} error within {timeout} s; errors: {self.errors}"
        return next(e for e in self.errors if e["code"] == code)

    def send(self, event: str, payload: dict[str, Any] | None = None) -> int:
        """Send a drawing event with the next seq; return it."""
        self.seq += 1
        self.emit(event, {"seq": self.seq, **(payload or {})})
        return self.seq

    def round_ready(self, round_index: int) -> int:
        """Say `round_ready` for a round."""
        return self.send("round_ready", {"round": round_index})

    def draw(self, drawing: list, pace: float = 0.004, stop: Any = None) -> None:
        """Stream a raw drawing as the page batches it, a message every `pace` seconds, until `stop()`."""
        for event, payload in page_messages(drawing):
            if stop is not None and stop():
                return
            payload.pop("seq")
            self.send(event, payload)
            time.sleep(pace)

    def recognised(self, player: str, round_index: int) -> bool:
        """Tell whether the newest state says `player` was recognised in round `round_index`."""
        return any(
            entry["index"] == round_index and player in entry["recognised"] for entry in self.game["history"]
        )
