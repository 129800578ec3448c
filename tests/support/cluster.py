"""A `python -m harness.cluster` process for the tests: two or more workers behind nginx, sharing Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from harness.processes import ROOT, free_port

TOKEN = "cluster-test-token-0123456789"  # the cluster's ADMIN_TOKEN


class Balancer:
    """A `python -m harness.cluster` process: its balancer's URL, its log, its children."""

    def __init__(self, log: Path, workers: int = 2, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "harness.cluster",
                    "--workers",
                    str(workers),
                    "--port",
                    str(self.port),
                ],
                cwd=ROOT,
                env={
                    **os.environ,
                    "PYTHONUNBUFFERED": "1",
                    "ADMIN_TOKEN": TOKEN,
                    # With the token the workers keep taught words: in the test's folder, not data/.
                    "DATABASE_URL": f"sqlite:///{log.parent / 'words.sqlite3'}",
                    **(env or {}),
                },
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 90
        while "workers behind nginx" not in self.log_text():
            assert self.process.poll() is None, self.log_text()[-3000:]
            assert time.monotonic() < deadline, self.log_text()[-3000:]
            time.sleep(0.2)

    def log_text(self) -> str:
        """Return what the cluster printed so far."""
        return self.log.read_text(errors="replace")

    def family(self) -> list[psutil.Process]:
        """Return the cluster's child processes (Redis, workers, nginx and its worker)."""
        return psutil.Process(self.process.pid).children(recursive=True)

    def workers(self) -> list[psutil.Process]:
        """Return the server processes."""
        return [p for p in self.family() if p.cmdline()[1:3] == ["-m", "realtime"]]

    def stop(self) -> None:
        """Stop the cluster as a user would (SIGTERM)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)
