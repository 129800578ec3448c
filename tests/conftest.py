"""Shared fixtures: a stand-in model, the shipped model, and `python -m realtime` servers on free ports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from realtime import preprocess
from realtime.live import ranked

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "animals6"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeModel:
    """A deterministic stand-in for Recognizer: a fixed random projection of the bitmap, softmaxed.

    It records the size of every batch it is asked to classify, and fails on demand.
    """

    def __init__(self) -> None:
        self.name = "fake"
        self.version = "fake-1"
        self.labels = ["alpha", "beta", "gamma", "delta", "epsilon"]
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
        return ranked(self.labels, self._probabilities(bitmap[np.newaxis])[0], k)

    def top_of(self, strokes: list[list[list[float]]], k: int | None = 3) -> list[dict[str, Any]]:
        """Return the guesses the server should send for strokes of [x, y] points."""
        return self.top_of_bitmap(preprocess.rasterize_strokes([np.asarray(s, float) for s in strokes]), k)


@pytest.fixture
def model() -> FakeModel:
    """Return a fresh stand-in model."""
    return FakeModel()


@pytest.fixture
def real_model() -> Path:
    """Return the shipped default model's folder; fail (not skip) when it has not been trained yet."""
    if not (MODEL / "model.tflite").is_file():
        pytest.fail(f"{MODEL.relative_to(ROOT)}/model.tflite is missing: train it with `python -m trainer`")
    return MODEL


@dataclass
class RunningServer:
    """A `python -m realtime` subprocess listening on 127.0.0.1."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_text(self) -> str:
        """Return what the server has written to stdout and stderr so far."""
        return self.log.read_text(encoding="utf-8", errors="replace")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a server process: politely first, then for sure."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., RunningServer]]:
    """Start `python -m realtime` servers on free 127.0.0.1 ports; all of them are stopped afterwards."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(
        *args: str, env: dict[str, str] | None = None, port_option: bool = True, timeout: float = 60.0
    ) -> RunningServer:
        port = free_port()
        command = [sys.executable, "-m", "realtime", "--host", "127.0.0.1", *args]
        environment = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        if port_option:
            command += ["--port", str(port)]
        else:
            environment["PORT"] = str(port)
        log = tmp_path / f"server-{port}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                command, cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT
            )
        processes.append(process)
        server = RunningServer(f"http://127.0.0.1:{port}", process, log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"the server exited with {process.returncode}:\n{server.log_text()[-3000:]}")
            try:
                if requests.get(server.url + "/healthz", timeout=2).status_code == 200:
                    return server
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        pytest.fail(f"no healthy /healthz within {timeout} s:\n{server.log_text()[-3000:]}")

    yield start
    for process in processes:
        _stop(process)
