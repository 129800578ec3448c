"""A throw-away PostgreSQL (Debian's package) on a free 127.0.0.1 port, for the collection tests.

`initdb` makes a cluster in a temporary folder, `pg_ctl` serves it on loopback only (no fsync: nothing
here needs to survive) and stops it with a fast shutdown. PostgreSQL refuses to run as root, so as root
both run as the `postgres` user that the package creates.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
from pathlib import Path

import psycopg

from harness.processes import free_port


def postgres_bin(program: str) -> str:
    """Return the path of one of PostgreSQL's programs (they are not on PATH in Debian)."""
    found = shutil.which(program) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{program}"))), None
    )
    assert found, f"{program} is missing: apt-get install postgresql"
    return found


class PostgresProcess:
    """One PostgreSQL cluster in `folder`, served on a free loopback port."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.log = folder / "postgres.log"
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        folder.mkdir(parents=True, exist_ok=True)
        if self._as:
            shutil.chown(folder, "postgres", "postgres")
        subprocess.run(
            [
                *self._as,
                postgres_bin("initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
        )

    def start(self, timeout: float = 30.0) -> None:
        """Start the server (pg_ctl) and wait until it takes connections."""
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        command = [postgres_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options]
        subprocess.run(
            [*self._as, *command, "-w", "-t", str(int(timeout)), "start"], check=True, capture_output=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(self.url, connect_timeout=1):
                    return
            except psycopg.OperationalError:
                time.sleep(0.1)
        raise AssertionError(f"PostgreSQL did not start within {timeout} s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        """Stop the server (a fast shutdown), if it runs."""
        command = [postgres_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]
        subprocess.run([*self._as, *command], capture_output=True, check=False)
