"""Profile the server with py-spy while a scenario runs: which functions are on the CPU, and how often.

The server is one process: the event loop, with the live prediction passes on a green thread of its own,
and eventlet's tpool threads for PNG decoding. py-spy samples every thread that is running on a CPU (idle
ones are left out) without pausing the server (`--nonblocking`), so the share of samples per function is
where the server's CPU goes, including the time LiteRT and OpenCV spend computing with the GIL released
(a GIL-only profile leaves that out: it put inference at 7 % of the server's time, against 23–25 % this way).
py-spy needs ptrace rights over the server process (root, or CAP_SYS_PTRACE).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

RATE_HZ = 100


def py_spy() -> str | None:
    """Return the py-spy executable (next to this Python, or on PATH), or None if it is not installed."""
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.is_file() else shutil.which("py-spy")


def record(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    """Sample `pid`'s running threads for `seconds` into `out` (collapsed stacks); None without py-spy."""
    executable = py_spy()
    if executable is None:
        return None
    duration = str(max(1, round(seconds)))
    command = [
        executable, "record", "--pid", str(pid), "--rate", str(RATE_HZ), "--duration", duration,
        "--nonblocking", "--format", "raw", "--output", str(out),
    ]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


# Library code that works for its caller: a sample there is charged to the first frame above it.
HELPERS = (
    "numpy/",
    "json/",
    "<frozen",
    "cv2/",
    "abc.py",
    "typing.py",
    "functools.py",
    "contextlib.py",
    "re/",
)
# Where the server's time goes, by the file of the first frame (from the top of the stack) that is no helper.
AREAS = (
    ("rasterizer (realtime/core/preprocess.py)", ("realtime/core/preprocess.py",)),
    (
        "inference (Recognizer, LiteRT)",
        ("realtime/model/recognizer.py", "realtime/model/litert.py", "ai_edge_litert/"),
    ),
    (
        "live predictor: passes, results, emits (realtime/model/live.py)",
        ("realtime/model/live.py", "realtime/core/drawing.py", "realtime/core/protocol.py"),
    ),
    ("other realtime code (handlers, transport)", ("realtime/",)),
    ("Socket.IO and Engine.IO packets", ("socketio/", "engineio/", "flask_socketio/")),
    ("WebSocket frames and socket I/O (eventlet)", ("eventlet/websocket.py", "eventlet/greenio/")),
    (
        "wake-ups and hand-offs (threading events, queues, eventlet tpool)",
        ("eventlet/tpool.py", "threading.py", "queue.py"),
    ),
    ("event loop (eventlet hub, green threads)", ("eventlet/",)),
)


def _name(frame: str) -> str:
    """Shorten py-spy's `function (package/file.py:line)` to `function (file.py)`."""
    function, _, where = frame.partition(" (")
    return f"{function} ({where.split(':')[0].rsplit('/', 1)[-1]})" if where else function


def _area(frames: list[str]) -> str:
    """Name the part of the server a sample belongs to, from its stack (outermost frame first)."""
    for frame in reversed(frames):
        where = frame.partition(" (")[2]
        if any(where.startswith(helper) or f"/{helper}" in where for helper in HELPERS):  # whole names
            continue
        for area, files in AREAS:
            if any(name in where for name in files):
                return area
        return f"other ({where.split(':')[0]})"
    return "other"


def summary(path: Path, top: int = 15) -> dict[str, Any]:
    """Return the share of samples per area of the server, and per function on top of the stack (self)."""
    areas: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        total += int(count)
        areas[_area(frames)] += int(count)
        own[_name(frames[-1])] += int(count)

    def shares(counter: Counter[str], k: int | None = None) -> list[list[Any]]:
        return [[name, round(n / max(total, 1), 4)] for name, n in counter.most_common(k)]

    return {"samples": total, "rate_hz": RATE_HZ, "areas": shares(areas), "self": shares(own, top)}


def finish(spy: subprocess.Popen[bytes], out: Path, timeout: float) -> dict[str, Any]:
    """Wait for py-spy to write its file and summarise it (or say why there is nothing)."""
    try:
        _, err = spy.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        spy.kill()
        _, err = spy.communicate()
    if not out.is_file() or spy.returncode != 0:
        return {
            "error": err.decode(errors="replace").strip()[-500:] or f"py-spy exited with {spy.returncode}"
        }
    return {"file": str(out), **summary(out)}
