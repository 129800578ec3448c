"""The server under test: `python -m realtime` (the Procfile command) on 127.0.0.1, watched with psutil."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
HEALTH_POLL_S = 0.005  # fine enough to time a start-up of about a second
MB = 1024 * 1024


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """One `python -m realtime` process on a free 127.0.0.1 port, with its start-up time and resource use."""

    def __init__(self, log: Path, env: dict[str, str] | None = None, timeout: float = 60.0) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = [sys.executable, "-m", "realtime", "--host", "127.0.0.1", "--port", str(self.port)]
        self.env = dict(env or {})
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            started = time.perf_counter()
            self.process = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.psutil = psutil.Process(self.process.pid)
        self.health = self._wait_healthy(timeout)
        self.healthy_s = time.perf_counter() - started

    def _wait_healthy(self, timeout: float) -> dict[str, Any]:
        """Poll /healthz until it answers 200; return its JSON."""
        deadline = time.perf_counter() + timeout
        with requests.Session() as http:
            while time.perf_counter() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the server exited with {self.process.returncode}; see {self.log}")
                try:
                    answer = http.get(self.url + "/healthz", timeout=1)
                    if answer.status_code == 200:
                        return answer.json()
                except requests.ConnectionError:
                    pass
                time.sleep(HEALTH_POLL_S)
        self.stop()
        raise RuntimeError(f"no healthy /healthz within {timeout} s; see {self.log}")

    def cpu_split(self) -> tuple[float, float]:
        """Return the user and system CPU seconds (all threads) the server has used so far."""
        times = self.psutil.cpu_times()
        return times.user, times.system

    def rss_mb(self) -> float:
        """Return the server's resident memory now, in MiB."""
        return self.psutil.memory_info().rss / MB

    def peak_rss_mb(self) -> float:
        """Return the server's peak resident memory so far (VmHWM), in MiB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return self.rss_mb()

    def stop(self) -> None:
        """Stop the server: politely first, then for sure."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
