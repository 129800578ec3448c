"""Load generators in their own processes, driven in lock-step over stdin/stdout lines.

A worker connects, prints one JSON line (`ready`), waits for `go`, runs its load, prints its results as one
JSON line, then waits for `bye` before it disconnects, so the server's CPU can be read between the two.
"""

from __future__ import annotations

import json
import selectors
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def tell(message: dict[str, Any]) -> None:
    """Send the orchestrator one JSON line (worker side)."""
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def hear() -> str:
    """Wait for the orchestrator's next word (worker side)."""
    return sys.stdin.readline().strip()


class Worker:
    """A load generator process (`python -m <module> ...`) and the orchestrator's end of its lines."""

    def __init__(self, module: str, args: list[str], log: Path) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", module, *args],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )
        self.log = log

    def expect(self, timeout: float) -> dict[str, Any]:
        """Read the worker's next JSON line within `timeout` seconds."""
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                raise RuntimeError(f"worker silent for {timeout:.0f} s; see {self.log}")
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"worker exited with {self.process.wait(10)}; see {self.log}")
        return json.loads(line)

    def send(self, word: str) -> None:
        """Send the worker one word."""
        assert self.process.stdin is not None
        self.process.stdin.write(word + "\n")
        self.process.stdin.flush()

    def finish(self, timeout: float = 30.0) -> None:
        """Let the worker disconnect and exit; kill it if it does not within `timeout` seconds."""
        if self.process.poll() is None:
            try:
                self.send("bye")
                self.process.wait(timeout)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(10)


def run_workers(
    specs: list[tuple[str, list[str]]],
    log: Path,
    ready_timeout: float,
    run_timeout: float,
    probe: Callable[[], dict[str, Any]],
    on_go: Callable[[], Any] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """Start workers, wait until all are ready, start them together and collect their results.

    `probe()` is read just before `go` and just after the last result (the server's CPU, RSS, ...);
    `on_go()` is called right after `go`. Returns (results, probe before, probe after).
    """
    workers = [Worker(module, args, log) for module, args in specs]
    try:
        deadline = time.monotonic() + ready_timeout
        for worker in workers:
            worker.expect(max(1.0, deadline - time.monotonic()))
        before = probe()
        for worker in workers:
            worker.send("go")
        if on_go is not None:
            on_go()
        deadline = time.monotonic() + run_timeout
        results = [worker.expect(max(1.0, deadline - time.monotonic())) for worker in workers]
        after = probe()
    finally:
        for worker in workers:
            worker.finish()
    return results, before, after
