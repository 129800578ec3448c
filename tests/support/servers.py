"""Start `python -m realtime` servers for a test, stop them afterwards; raise the file limit they inherit."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest

from harness.processes import ServerError, ServerProcess


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


def raise_file_limit(wanted: int) -> None:
    """Raise this process's soft limit on open files (servers started later inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        limit = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= wanted, "the hard limit on open files is too low"
