"""`python -m realtime` refuses to start, with one line saying why, on a library that lacks a hooked name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.processes import ROOT, free_port

SITE = """
import socketio
del socketio.Server._handle_event  # as if a new release had renamed it
"""


@pytest.mark.parametrize("mode", ["eventlet", "threading"])
def test_the_server_refuses_to_start_on_an_unsupported_library(tmp_path: Path, mode: str) -> None:
    (tmp_path / "sitecustomize.py").write_text(SITE)
    result = subprocess.run(
        [sys.executable, "-m", "realtime", "--async-mode", mode, "--port", str(free_port())],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("python -m realtime: error:")]
    assert len(lines) == 1 and "python-socketio" in lines[0] and "_handle_event" in lines[0], result.stderr
    assert "Traceback" not in result.stderr
