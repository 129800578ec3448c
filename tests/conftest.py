"""Shared fixtures: stand-in and shipped models, `python -m realtime` servers, screenshot folders."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import socketio
import websocket

from harness.processes import ServerError, ServerProcess
from realtime.core import preprocess
from realtime.model.ranking import guesses

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "animals6-q8"  # the default model


class FakeModel:
    """A deterministic stand-in for Recognizer: a fixed random projection of the bitmap, softmaxed.

    It records the size of every batch it is asked to classify, and fails on demand.
    """

    def __init__(self) -> None:
        self.name = "fake"
        self.version = "fake-1"
        self.labels = ["alpha", "beta", "gamma", "delta", "epsilon"]
        self.other = None  # no "something else" output
        self.sure_threshold = 0.5
        self.weights = np.random.default_rng(7).normal(size=(28 * 28, len(self.labels))) * 3.0
        self.batches: list[int] = []
        self.fail = False

    def _probabilities(self, batch: np.ndarray) -> np.ndarray:
        logits = batch.reshape(len(batch), -1) @ self.weights
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Classify a (B, 28, 28) batch."""
        if self.fail:
            raise RuntimeError("model failure (test)")
        self.batches.append(len(batch))
        return self._probabilities(batch)

    def top_of_bitmap(self, bitmap: np.ndarray, k: int | None = 3) -> list[dict[str, Any]]:
        """Return the guesses the server should send for `bitmap` (top 3 live; all on the HTTP routes)."""
        return guesses(self, self._probabilities(bitmap[np.newaxis])[0], k)[0]

    def sure_of_bitmap(self, bitmap: np.ndarray) -> bool:
        """Return whether the server should say it is sure of `bitmap`."""
        return guesses(self, self._probabilities(bitmap[np.newaxis])[0])[1]

    def top_of(self, strokes: list[list[list[float]]], k: int | None = 3) -> list[dict[str, Any]]:
        """Return the guesses the server should send for strokes of [x, y] points."""
        return self.top_of_bitmap(preprocess.rasterize_strokes([np.asarray(s, float) for s in strokes]), k)


@pytest.fixture
def model() -> FakeModel:
    """Return a fresh stand-in model."""
    return FakeModel()


@pytest.fixture(scope="module")
def output(request: pytest.FixtureRequest) -> Path:
    """The test module's folder for screenshots and logs (its OUTPUT), emptied first."""
    folder: Path = request.module.OUTPUT
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@pytest.fixture(scope="session")
def real_model() -> Path:
    """Return the shipped default model's folder; fail (not skip) when it has not been trained yet."""
    if not (MODEL / "model.tflite").is_file():
        pytest.fail(f"{MODEL.relative_to(ROOT)}/model.tflite is missing: train it with `python -m trainer`")
    return MODEL


class ServerLauncher:
    """Start `python -m realtime` servers on 127.0.0.1 (free ports unless told), logging to `log_dir`."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.servers: list[ServerProcess] = []

    def __call__(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        port_option: bool = True,
        timeout: float = 60.0,
        port: int | None = None,
    ) -> ServerProcess:
        """Start a server and wait until /healthz answers; fail the test if it does not."""
        log = self.log_dir / f"server-{len(self.servers)}.log"
        server = ServerProcess(log, args=args, env=env, port=port, port_option=port_option)
        self.servers.append(server)
        try:
            server.start(timeout)
        except ServerError as exc:
            pytest.fail(str(exc))
        return server

    def stop_all(self) -> None:
        """Stop every server this launcher started."""
        for server in self.servers:
            server.stop()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[ServerLauncher]:
    """Start `python -m realtime` servers on free 127.0.0.1 ports; all of them are stopped afterwards."""
    launcher = ServerLauncher(tmp_path)
    yield launcher
    launcher.stop_all()


@pytest.fixture(scope="module")
def start_module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerLauncher]:
    """Like `start_server`, for servers shared by the tests of one module."""
    launcher = ServerLauncher(tmp_path_factory.mktemp("servers"))
    yield launcher
    launcher.stop_all()


class LiveClient:
    """A python-socketio client on the WebSocket transport that records what the server sends."""

    def __init__(self, **options: Any) -> None:
        self.sio = socketio.Client(**{"reconnection": False, **options})
        self.ready: list[dict[str, Any]] = []
        self.predictions: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.connects = 0
        self.changed = threading.Condition()
        self.models: list[dict[str, Any]] = []  # `model` events (hot reload)
        for name in ("ready", "prediction", "error", "model"):
            self.sio.on(name, self._recorder(name))
        self.sio.on("connect", self._connected)
        self.sio.on("disconnect", self._disconnected)

    def _recorder(self, name: str) -> Callable[[Any], None]:
        store = {
            "ready": self.ready,
            "prediction": self.predictions,
            "error": self.errors,
            "model": self.models,
        }[name]

        def record(payload: Any) -> None:
            with self.changed:
                store.append(payload)
                self.changed.notify_all()

        return record

    def _connected(self) -> None:
        with self.changed:
            self.connects += 1
            self.changed.notify_all()

    def _disconnected(self, *reason: Any) -> None:
        with self.changed:
            self.changed.notify_all()

    def connect(self, server: ServerProcess, **options: Any) -> LiveClient:
        """Connect over the WebSocket transport and wait for `ready`."""
        return self.connect_url(server.url, ["websocket"], **options)

    def connect_url(self, url: str, transports: list[str], **options: Any) -> LiveClient:
        """Connect to `url` over `transports` and wait for `ready`."""
        self.sio.connect(url, transports=transports, wait_timeout=10, **options)
        assert self.wait(lambda: self.ready, 10), "no ready event"
        return self

    def wait(self, condition: Callable[[], Any], timeout: float) -> bool:
        """Wait until `condition()` holds (checked whenever something arrives); False on timeout."""
        with self.changed:
            return self.changed.wait_for(condition, timeout)

    def prediction(self, seq: int, timeout: float = 10.0) -> dict[str, Any]:
        """Wait for the prediction that covers `seq` and return it."""
        found = self.wait(lambda: self.predictions and self.predictions[-1]["seq"] >= seq, timeout)
        assert found, f"no prediction for seq {seq} within {timeout} s; errors: {self.errors[-3:]}"
        return self.predictions[-1]

    def emit(self, event: str, *args: Any) -> None:
        """Send an event with any number of arguments."""
        if len(args) > 1:
            self.sio.emit(event, args)  # python-socketio sends a tuple as separate arguments
        elif args and args[0] is not None:  # and None as no argument at all
            self.sio.emit(event, args[0])
        else:
            self.sio.emit(event)

    def disconnect(self) -> None:
        """Disconnect (no-op when already disconnected)."""
        self.sio.disconnect()


class RawSocket:
    """A raw Engine.IO WebSocket (websocket-client) that has joined the namespace `/`."""

    def __init__(self, server: ServerProcess, timeout: float = 10.0, **options: Any) -> None:
        self.ws = websocket.create_connection(server.ws_url, timeout=timeout, **options)
        opened = self.ws.recv()
        assert isinstance(opened, str) and opened.startswith("0{"), opened
        self.ws.send("40")
        self.events: list[tuple[str, Any]] = []
        while not any(name == "connected" for name, _ in self.events):
            self._read()

    def _read(self) -> None:
        """Read one frame: answer pings, record events (and the namespace's connect ack as `connected`)."""
        frame = self.ws.recv()
        if frame == "2":
            self.ws.send("3")
        elif isinstance(frame, str) and frame.startswith("42"):
            name, *args = json.loads(frame[2:])
            self.events.append((name, args[0] if args else None))
        elif isinstance(frame, str) and frame.startswith("40"):
            self.events.append(("connected", json.loads(frame[2:])))
        elif isinstance(frame, str) and frame.startswith("44"):
            self.events.append(("connect_error", json.loads(frame[2:])))
        elif frame in ("", "1", None):
            raise websocket.WebSocketConnectionClosedException("closed by the server")

    def send(self, frame: str | bytes) -> None:
        """Send one frame as is (bytes as a binary frame)."""
        if isinstance(frame, bytes):
            self.ws.send_binary(frame)
        else:
            self.ws.send(frame)

    def take(self, name: str, count: int, timeout: float = 10.0) -> list[Any]:
        """Wait for `count` events called `name`; return (and forget) their payloads."""
        deadline = time.monotonic() + timeout
        while sum(1 for n, _ in self.events if n == name) < count:
            self.ws.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                self._read()
            except websocket.WebSocketTimeoutException:
                break
        taken = [payload for n, payload in self.events if n == name][:count]
        assert len(taken) == count, f"{len(taken)} of {count} {name!r} events within {timeout} s"
        self.events = [event for event in self.events if event[0] != name]
        return taken

    def closed_by_server(self, timeout: float = 10.0) -> bool:
        """Tell whether the server closes the connection within `timeout` (reading and dropping frames)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.ws.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                self._read()
            except websocket.WebSocketTimeoutException:
                return False
            except (websocket.WebSocketException, OSError):
                return True
        return False

    def close(self) -> None:
        """Close the connection."""
        self.ws.close()


def quickdraw_form(strokes: list[list[list[float]]]) -> list[list[list[float]]]:
    """Convert strokes of [x, y] points to Quick, Draw! form [[xs], [ys]]."""
    return [[[p[0] for p in stroke], [p[1] for p in stroke]] for stroke in strokes]
