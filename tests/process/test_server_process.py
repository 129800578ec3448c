"""The server as deployed: `python -m realtime` in a subprocess on 127.0.0.1, spoken to over real sockets.

A python-socketio client streams a real drawing over the WebSocket transport, batched as the page sends
it (harness.page), in both async modes; the classic form POST and /healthz go over HTTP. The serving
process must never load TensorFlow.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio

from harness.page import page_messages
from harness.processes import ROOT, ServerProcess
from harness.quickdraw import canvas_png_data_url, drawings, raw_points


def tensorflow_mappings(pid: int) -> list[str]:
    """Return the TensorFlow libraries mapped into a process (LiteRT's own libraries live elsewhere)."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return sorted(
        {line.split()[-1] for line in maps.splitlines() if "/tensorflow/" in line or "libtensorflow" in line}
    )


def stream(server: ServerProcess, messages: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Send messages over a WebSocket at 100 per second; return the predictions up to the last one."""
    predictions: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    ready = threading.Event()
    done = threading.Event()
    last = messages[-1][1]["seq"]
    client = socketio.Client()
    client.on("ready", lambda payload: ready.set())
    client.on("error", errors.append)

    @client.on("prediction")
    def prediction(payload: dict[str, Any]) -> None:
        predictions.append(payload)
        if payload["seq"] == last:
            done.set()

    client.connect(server.url, transports=["websocket"], wait_timeout=10)
    try:
        assert client.transport() == "websocket"
        assert ready.wait(10), "no ready event"
        for event, payload in messages:
            client.emit(event, payload)
            time.sleep(0.01)
        assert done.wait(10), f"no prediction for seq {last}; got {[p['seq'] for p in predictions]}"
    finally:
        client.disconnect()
    assert errors == []
    return predictions


def oversized_frame_disconnects(server: ServerProcess) -> bool:
    """Send a frame just over the 1 MB message limit; tell whether the server closed the connection."""
    closed = threading.Event()
    client = socketio.Client(reconnection=False)
    client.on("disconnect", lambda *reason: closed.set())
    client.connect(server.url, transports=["websocket"], wait_timeout=10)
    client.emit("snapshot", {"seq": 1, "image": "data:image/png;base64," + "A" * 1_000_000})
    try:
        return closed.wait(10)
    finally:
        client.disconnect()


@pytest.mark.parametrize(
    ("mode", "word", "index"),
    [("eventlet", "cat", 14), ("threading", "fish", 22)],  # raw drawings held out by the trainer's split
)
def test_streaming_a_real_drawing_over_a_websocket(
    real_model: Path, start_server: Callable[..., ServerProcess], mode: str, word: str, index: int
) -> None:
    # The eventlet run binds $PORT, as the Procfile does; the threading run takes --port.
    server = start_server("--async-mode", mode, port_option=mode != "eventlet")
    health = requests.get(server.url + "/healthz", timeout=5).json()
    assert health["status"] == "ok" and health["version"].startswith("animals6-")
    record = drawings(word)[index]
    messages = page_messages(record["drawing"])
    predictions = stream(server, messages)
    seqs = [p["seq"] for p in predictions]
    assert seqs == sorted(set(seqs)), "predictions must arrive in seq order, each seq once"
    assert len(predictions) >= 5  # live guesses while drawing, not just one at the end
    final = predictions[-1]
    assert final["seq"] == len(messages)
    assert final["top"][0]["label"] == word
    assert final["model"] == health["version"]
    assert tensorflow_mappings(server.process.pid) == []
    # The classic path, over the same server.
    url = canvas_png_data_url(raw_points(record["drawing"]), brush=8)
    page = requests.post(server.url + "/predict", data={"url": url}, timeout=10)
    assert page.status_code == 200
    assert f'id="result-label">{word}<' in page.text
    # A frame over the message limit is dropped with its connection; the server carries on.
    assert oversized_frame_disconnects(server)
    # Sessions are freed once their clients have gone.
    deadline = time.monotonic() + 5
    while (
        requests.get(server.url + "/healthz", timeout=5).json()["connections"] and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    assert requests.get(server.url + "/healthz", timeout=5).json()["connections"] == 0
    assert "Traceback" not in server.log_text()


def test_help_documents_the_options() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "realtime", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    for option in ("--host", "--port", "--model", "--async-mode", "$PORT", "eventlet", "threading"):
        assert option in result.stdout


def test_a_model_name_outside_models_is_refused() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "realtime", "--model", "../trainer", "--port", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "must be a plain folder name" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_app_never_imports_tensorflow(real_model: Path) -> None:
    script = (
        "import sys\n"
        "from realtime import create_app\n"
        "app = create_app()\n"
        "page = app.test_client().post('/api/predict', json={'strokes': [[[0, 50, 90], [0, 60, 10]]]})\n"
        "assert page.status_code == 200, page.json\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras'))\n"
        "assert not loaded, loaded\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")


@pytest.mark.parametrize("path", ["requirements/serve.in", "requirements.txt"])
def test_serving_requirements_do_not_contain_tensorflow(path: str) -> None:
    lines = (ROOT / path).read_text().splitlines()
    requirements = [line.split("#")[0].strip().lower() for line in lines]
    requirements = [line for line in requirements if line]
    assert not [line for line in requirements if line.startswith(("-r", "--requirement", "-c"))]
    assert not [
        line for line in requirements if "tensorflow" in line or "keras" in line or line.startswith("tf")
    ]
    assert any(line.startswith("ai-edge-litert") for line in requirements)


def test_procfile_runs_the_apps_own_entry_point() -> None:
    assert (ROOT / "Procfile").read_text().strip() == "web: python -m realtime --host 0.0.0.0"
