"""The server under test: `python -m realtime` (the Procfile command) on 127.0.0.1, watched with psutil."""

from __future__ import annotations

from pathlib import Path

import psutil

from harness.processes import ROOT, ServerProcess

__all__ = ["ROOT", "MeasuredServer", "busy_s", "steal_s"]

HEALTH_POLL_S = 0.005  # fine enough to time a start-up of about a second
MB = 1024 * 1024


def busy_s() -> float:
    """Return the CPU seconds the whole machine has spent busy (all cores, all processes), steal excluded."""
    system = psutil.cpu_times()
    return sum(system) - system.idle - getattr(system, "iowait", 0.0) - steal_s()


def steal_s() -> float:
    """Return the CPU seconds the hypervisor has taken from this virtual machine (0 where not reported)."""
    return getattr(psutil.cpu_times(), "steal", 0.0)


class MeasuredServer(ServerProcess):
    """A started server process with its start-up time (`healthy_s`) and resource use."""

    def __init__(self, log: Path, env: dict[str, str] | None = None, timeout: float = 60.0) -> None:
        super().__init__(log, env=env)
        self.health_at_start = self.start(timeout, poll_s=HEALTH_POLL_S)
        assert self.process is not None
        self.psutil = psutil.Process(self.process.pid)

    def cpu_split(self) -> tuple[float, float]:
        """Return the user and system CPU seconds (all threads) the server has used so far."""
        times = self.psutil.cpu_times()
        return times.user, times.system

    def rss_mb(self) -> float:
        """Return the server's resident memory now, in MiB."""
        return self.psutil.memory_info().rss / MB

    def peak_rss_mb(self) -> float:
        """Return the server's peak resident memory so far (VmHWM), in MiB."""
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return self.rss_mb()
