"""Game clients for the play tests, and drawings the model knows.

`GameClient` plays on a real server (python-socketio over a WebSocket); `AppClient` plays on an app in
this process (Flask-SocketIO's test client), whose games run on a `FakeClock` that moves only when told.

The drawings are real Quick, Draw! stroke drawings from ../shared/quickdraw, picked by a rule: for each
class, the raw drawings the shipped default model is sure of and right about once finished, as the server
decides it (every message of the page replayed through the server's rasterizer, the model's steady rule), in
file order. Which ones those are is the model's business; that a drawing the
model recognises ends a round is the game's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
from flask import Flask

from harness.page import page_messages
from harness.quickdraw import drawings
from realtime import socketio
from realtime.core import preprocess
from realtime.core.errors import InputError
from realtime.model.ranking import guesses
from realtime.model.recognizer import Recognizer
from realtime.model.sureness import SureRule
from realtime.web.state import state_of
from tests.support.live import LiveClient
from trainer.live_eval import predict_states, sure_labels
from trainer.replay import replay, timed_strokes

MODEL = "animals6-q8"


FRAME_S = 1 / 64  # the time a page's frame of points takes to draw, on a FakeClock (exact in binary)


@cache
def shipped_model() -> Recognizer:
    """Return the shipped default model (loaded once)."""
    return Recognizer.from_name(MODEL)


@cache
def known_drawings(label: str, count: int = 3) -> tuple[list, ...]:
    """Return the first `count` raw drawings of `label` that the shipped model names, sure, when complete."""
    model = shipped_model()
    rule = SureRule(model.sure_threshold, model.sure_steady, model.other)
    found = []
    for record in drawings(label, "raw"):
        states = replay(timed_strokes(record["drawing"]))
        (replayed,) = predict_states(model, [(label, True, states)])
        last = sure_labels(replayed.probs, rule)[-1]
        if last is not None and model.labels[last] == label:
            found.append(record["drawing"])
            if len(found) == count:
                break
    assert found, f"the model is sure of none of the {label} drawings"
    return tuple(found)


@cache
def unknown_drawing(label: str, prompt: str) -> list:
    """Return a raw drawing of `label` that the shipped model is never sure is `prompt`, at any stage.

    Every stage: the drawing as the server holds it after each message the page sends (`page_messages`).
    """
    model = shipped_model()
    for record in drawings(label, "raw"):
        bitmaps = []
        for strokes in _stages(record["drawing"]):
            try:
                bitmaps.append(preprocess.rasterize_strokes(strokes))
            except InputError:  # nothing to recognise yet: a single point
                continue
        stages = [guesses(model, row) for row in model.predict(np.stack(bitmaps))]
        if not any(sure and top[0]["label"] == prompt for top, sure in stages):
            return record["drawing"]
    raise AssertionError(f"the model is sure that every {label} drawing is {prompt} at some stage")


def _stages(drawing: list) -> list[list[np.ndarray]]:
    """Return the strokes the server holds after each of the page's messages for a raw drawing."""
    stages, done, stroke = [], [], []
    for event, payload in page_messages(drawing):
        if event == "stroke_points":
            stroke = stroke + payload["points"]
            stages.append([*done, np.asarray(stroke, float)])
        else:  # stroke_end
            done.append(np.asarray(stroke, float))
            stroke = []
    return stages


class Numbered:
    """What both players send the same way: drawing events numbered by `seq`, through their own `emit`."""

    seq: int
    emit: Callable[..., None]  # each client's own way to send an event

    def send(self, event: str, payload: dict[str, Any] | None = None) -> int:
        """Send a drawing event with the next seq; return it."""
        self.seq += 1
        self.emit(event, {"seq": self.seq, **(payload or {})})
        return self.seq

    def round_ready(self, round_index: int) -> int:
        """Say `round_ready` for a round."""
        return self.send("round_ready", {"round": round_index})


class GameClient(Numbered, LiveClient):
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


class FakeClock:
    """A game clock (realtime.game.clock.Clock) that moves only when told."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.wall = start
        self.steady = 1000.0

    def now(self) -> float:
        """Return the wall-clock time."""
        return self.wall

    def monotonic(self) -> float:
        """Return the monotonic time."""
        return self.steady

    def advance(self, seconds: float) -> None:
        """Move both clocks on by `seconds`."""
        self.wall += seconds
        self.steady += seconds


def _events(name: str) -> property:
    """Return a property: the payloads of every `name` event an AppClient received so far."""
    return property(lambda client: client.received(name), doc=f"The `{name}` events received so far.")


class AppClient(Numbered):
    """A page connected to an in-process app (made with `live_worker=False` and a FakeClock).

    Nothing happens in the background: the predictions are made when `flush` is called, and the games
    move on when `tick` is called. What the client received is kept by event, and in order in `log`.
    """

    def __init__(self, app: Flask, clock: FakeClock) -> None:
        self.app = app
        self.clock = clock
        self.client = socketio.test_client(app)
        assert self.client.is_connected(), "the connection was refused"
        self.log: list[tuple[str, Any]] = []
        self.seq = 0

    @property
    def sid(self) -> str:
        """Return this connection's Socket.IO session id on the server."""
        return socketio.server.manager.sid_from_eio_sid(self.client.eio_sid, "/")

    def received(self, name: str) -> list[Any]:
        """Return the payloads of every `name` event received so far."""
        if self.client.is_connected():
            for event in self.client.get_received():
                self.log.append((event["name"], event["args"][0] if event["args"] else None))
        return [payload for event, payload in self.log if event == name]

    ready = _events("ready")
    games = _events("game")
    joined = _events("joined")
    hosted = _events("hosted")
    thumbs = _events("thumb")
    errors = _events("error")
    predictions = _events("prediction")

    @property
    def game(self) -> dict[str, Any]:
        """Return the newest game state received (by revision)."""
        games = self.games
        assert games, f"no game event; errors: {self.errors}"
        return max(games, key=lambda g: g["revision"])

    def error(self, code: str) -> dict[str, Any]:
        """Return the `error` event with `code` (there must be one)."""
        errors = self.errors
        found = [e for e in errors if e["code"] == code]
        assert found, f"no {code} error; errors: {errors}"
        return found[-1]

    def emit(self, event: str, *args: Any) -> None:
        """Send an event with any number of arguments."""
        self.client.emit(event, *args)

    def flush(self) -> None:
        """Predict every drawing that changed, as the live predictor's worker would."""
        state_of(self.app).live.flush()

    def draw(self, drawing: list, stop: Callable[[], bool] | None = None) -> None:
        """Stream a raw drawing as the page batches it, FRAME_S apart, each predicted, until `stop()`."""
        for event, payload in page_messages(drawing):
            if stop is not None and stop():
                return
            self.clock.advance(FRAME_S)
            payload.pop("seq")
            self.send(event, payload)
            self.flush()

    def recognised(self, player: str, round_index: int) -> bool:
        """Tell whether the newest state says `player` was recognised in round `round_index`."""
        return any(
            entry["index"] == round_index and player in entry["recognised"] for entry in self.game["history"]
        )

    def disconnect(self) -> None:
        """Close the connection."""
        self.client.disconnect()
