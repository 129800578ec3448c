"""Clients of a real server's Socket.IO endpoint: python-socketio (LiveClient) and raw Engine.IO frames."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import socketio
import websocket

from harness.processes import ServerProcess


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
