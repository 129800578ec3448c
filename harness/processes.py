"""Start, wait for and stop real processes on loopback: `python -m realtime` servers and `redis-server`.

The tests, the benchmark and the local cluster (harness.cluster) all start their processes through here.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class ServerError(RuntimeError):
    """A server process exited, or never became healthy; the message ends with its log's last lines."""


def stop_process(process: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    """Stop a child process if it runs: SIGTERM, then SIGKILL after `timeout` seconds."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """One `python -m realtime` process on 127.0.0.1, logging to a file; `start()` again restarts it.

    `env` adds to the current environment. With `port_option=False` the port is passed as `PORT`, as a
    Procfile platform does, instead of `--port`.
    """

    def __init__(
        self,
        log: Path,
        *,
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        port: int | None = None,
        port_option: bool = True,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.command = [sys.executable, "-m", "realtime", "--host", "127.0.0.1", *args]
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        if port_option:
            self.command += ["--port", str(self.port)]
        else:
            self.env["PORT"] = str(self.port)
        self.process: subprocess.Popen[bytes] | None = None
        self.healthy_s = 0.0  # seconds from the last start to its first healthy /healthz
        # In a session of its own, a terminal's Ctrl-C reaches only whoever started it, who stops it.
        self.own_session = False

    @property
    def ws_url(self) -> str:
        """Return the URL of a raw Engine.IO WebSocket connection to the server."""
        return f"ws://127.0.0.1:{self.port}/socket.io/?EIO=4&transport=websocket"

    def start(self, timeout: float = 60.0, poll_s: float = 0.05) -> dict[str, Any]:
        """(Re)start the process and wait until /healthz answers 200; return its JSON."""
        self.stop()
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            started = time.perf_counter()
            self.process = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=self.own_session,
            )
        deadline = started + timeout
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"the server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                health = self.health(timeout=1.0)
            except (OSError, ValueError):  # not listening yet (URLError is an OSError)
                time.sleep(poll_s)
                continue
            self.healthy_s = time.perf_counter() - started
            return health
        self.stop()
        raise ServerError(f"no healthy /healthz within {timeout} s:\n{self.log_tail()}")

    def health(self, timeout: float = 10.0) -> dict[str, Any]:
        """Return /healthz's JSON; raise OSError when it does not answer 200."""
        with urllib.request.urlopen(self.url + "/healthz", timeout=timeout) as response:
            return json.load(response)

    def log_text(self) -> str:
        """Return what the server has written to stdout and stderr so far."""
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def log_tail(self, chars: int = 3000) -> str:
        """Return the end of the log, for error messages."""
        return self.log_text()[-chars:]

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server: politely first (SIGTERM), then for sure."""
        stop_process(self.process, timeout)


class RedisProcess:
    """A private `redis-server` (Debian's package) on a free 127.0.0.1 port, without persistence."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.folder = folder
        self.log = folder / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.own_session = False  # as ServerProcess.own_session

    def start(self, timeout: float = 20.0) -> None:
        """(Re)start redis-server on its port and wait until it answers PING."""
        self.stop()
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                self.command(), stdout=out, stderr=subprocess.STDOUT, start_new_session=self.own_session
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(
                    f"redis-server exited with {self.process.returncode}:\n{self.log.read_text()}"
                )
            if self.ping():
                return
            time.sleep(0.05)
        self.stop()
        raise ServerError(f"redis-server did not answer within {timeout} s:\n{self.log.read_text()}")

    def command(self) -> list[str]:
        """Return the redis-server command line: loopback only, no persistence."""
        return [
            "redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
            "--appendonly", "no", "--dir", str(self.folder), "--protected-mode", "yes",
        ]  # fmt: skip

    def ping(self) -> bool:
        """Tell whether the server answers PING."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, timeout: float = 10.0) -> None:
        """Stop redis-server (SIGTERM, then SIGKILL)."""
        stop_process(self.process, timeout)
