"""The HTTP routes under bad input, and the server's security defaults, against `python -m realtime`.

One server (shipped model) serves the whole module. It runs with a `sitecustomize` that installs an
audit hook (PEP 578), which records, from inside the server process, the environment OpenCV saw when
`cv2` was first imported and every model-like file the process opened.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import cv2
import numpy as np
import pytest
import requests
import socketio
import websocket
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from harness.processes import ROOT, ServerProcess
from harness.quickdraw import ANIMALS, canvas_png_data_url, drawings, quickdraw_form, raw_points
from realtime.core import preprocess
from realtime.model.recognizer import ModelError, Recognizer
from tests.support.images import data_url, png_bomb
from tests.support.live import LiveClient, RawSocket
from tests.support.models import MODEL
from tests.support.servers import ServerLauncher

MAX_BYTES = 1_000_000
AUDIT_HOOK = """
    import json, os, sys

    _LOG = os.environ["REALTIME_AUDIT_LOG"]
    _MODEL_FILES = (".tflite", ".keras", ".h5", ".json", ".npz", ".npy", ".pkl", ".pickle", ".joblib")
    _busy = False

    def _record(kind, **fields):
        fd = os.open(_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        os.write(fd, (json.dumps({"kind": kind, **fields}) + "\\n").encode())
        os.close(fd)

    def _hook(event, args):
        global _busy
        if _busy:
            return
        _busy = True
        try:
            if event == "import" and args[0] == "cv2":
                frames, frame = [], sys._getframe()
                while frame is not None:
                    frames.append(frame.f_globals.get("__name__", "?"))
                    frame = frame.f_back
                _record("cv2", limit=os.environ.get("OPENCV_IO_MAX_IMAGE_PIXELS"), importers=frames)
            elif event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
                path = os.fsdecode(args[0])
                if path.endswith(_MODEL_FILES):
                    _record("open", path=os.path.realpath(path))
        finally:
            _busy = False

    sys.addaudithook(_hook)
"""


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a folder holding a `sitecustomize` that installs the audit hook."""
    folder = tmp_path_factory.mktemp("audit")
    (folder / "sitecustomize.py").write_text(textwrap.dedent(AUDIT_HOOK))
    return folder


@pytest.fixture(scope="module")
def server(real_model: Path, start_module_server: ServerLauncher, audited: Path) -> Iterator[ServerProcess]:
    """Start the module's server under the audit hook; check its log for tracebacks at the end."""
    running = start_module_server(
        env={
            "PYTHONPATH": str(audited),
            "REALTIME_AUDIT_LOG": str(audited / "audit.jsonl"),
            # These tests send hundreds of requests from one address; the HTTP rate limit has its own test.
            "HTTP_RATE_LIMIT": "100000",
            "HTTP_RATE_BURST": "100000",
        }
    )
    yield running
    assert running.process.poll() is None, "the server died"
    assert "Traceback" not in running.log_text(), running.log_text()[-5000:]


def audit(folder: Path) -> list[dict[str, Any]]:
    """Return what the audit hook recorded."""
    return [json.loads(line) for line in (folder / "audit.jsonl").read_text().splitlines()]


def busiest_drawing() -> list[Any]:
    """Return the raw animal drawing with the most points: the heaviest a person has drawn."""
    records = [record for word in ANIMALS for record in drawings(word)]
    return max(records, key=lambda r: sum(len(stroke[0]) for stroke in r["drawing"]))["drawing"]


def page_canvas_png() -> str:
    """Return the busiest drawing as the page's 1000×1000 canvas would encode it (RGBA, transparent)."""
    return canvas_png_data_url(raw_points(busiest_drawing()), brush=8, transparent=True, side=1000, margin=40)


def chunks(body: bytes, size: int = 65536) -> Iterator[bytes]:
    """Yield a body in pieces, so that requests sends it chunked, without a Content-Length."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


# --- the form and JSON routes ---------------------------------------------------------------------------

PREFIX = "data:image/png;base64,"
OVER = "A" * (MAX_BYTES + 1000)
JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
TINY = np.zeros((9, 9, 3), np.uint8)


def raw(body: Any, headers: dict[str, str]) -> dict[str, Any]:
    """Return request options for a body sent as is."""
    return {"data": body, "headers": headers}


@pytest.mark.parametrize(
    ("route", "options"),
    [
        ("/predict", {"data": {"url": PREFIX + OVER}}),
        ("/predict", {"files": {"url": (None, PREFIX + OVER)}}),  # multipart
        ("/predict", raw(chunks(f"url={OVER}".encode()), FORM)),  # chunked: no Content-Length
        ("/api/predict", {"json": {"image": PREFIX + OVER}}),
        ("/api/predict", raw(chunks(json.dumps({"image": OVER}).encode()), JSON)),
        ("/socket.io/?EIO=4&transport=polling", {"data": b"4" + OVER.encode()}),
    ],
    ids=["form", "multipart", "form-chunked", "json", "json-chunked", "long-polling"],
)
def test_oversized_bodies_get_413(server: ServerProcess, route: str, options: dict[str, Any]) -> None:
    if "polling" in route:
        opened = requests.get(server.url + route, timeout=10)
        route += "&sid=" + json.loads(opened.text[1:])["sid"]
    response = requests.post(server.url + route, timeout=30, **options)
    assert response.status_code == 413, response.text[:300]
    if route == "/api/predict":
        assert response.json()["code"] == "request_entity_too_large"


def test_an_endless_chunked_body_is_refused_and_its_connection_closed(server: ServerProcess) -> None:
    """After the 413, the server throws away at most MAX_MESSAGE_BYTES more of the body, then hangs up."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    head = "POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    sock.sendall((head + "Transfer-Encoding: chunked\r\n\r\n").encode())
    chunk = b"%x\r\n%s\r\n" % (65536, b"A" * 65536)
    sent, answer = 0, b""
    try:
        while sent < 50 * MAX_BYTES:  # far more than the cap and the discard allowance together
            sock.sendall(chunk)
            sent += 65536
    except OSError:  # the server closed the connection
        pass
    sock.settimeout(5)
    with contextlib.suppress(OSError):
        while data := sock.recv(65536):
            answer += data
    sock.close()
    assert sent < 10 * MAX_BYTES, f"the server read {sent} bytes of a refused body"
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


@pytest.mark.parametrize("route", ["/predict", "/api/predict"])
def test_a_chunked_body_under_the_cap_is_read_whole(server: ServerProcess, route: str) -> None:
    image = page_canvas_png()  # about 150 KB of data URL, sent in 64 KiB chunks
    body = f"url={quote(image)}" if route == "/predict" else json.dumps({"image": image})
    response = requests.post(
        server.url + route,
        data=chunks(body.encode()),
        headers=FORM if route == "/predict" else JSON,
        timeout=30,
    )
    assert response.status_code == 200, response.text[:300]


@pytest.mark.parametrize(
    ("route", "options", "status", "code"),
    [
        ("/api/predict", raw(b"{not json", JSON), 400, "bad_payload"),
        ("/api/predict", raw(b"\xff\xfe\x00", JSON), 400, "bad_payload"),
        ("/api/predict", raw(b'{"strokes": []}', {"Content-Type": "text/plain"}), 400, "bad_payload"),
        ("/api/predict", {"json": [1, 2, 3]}, 400, "bad_payload"),
        ("/api/predict", {"json": {"strokes": [[[1, 2], ["x", 3]]]}}, 400, "bad_points"),
        ("/api/predict", raw(b'{"strokes": [[[1e400, 2], [1, 3]]]}', JSON), 400, "bad_points"),
        ("/api/predict", {"json": {"image": png_bomb()}}, 413, "image_too_large"),
        ("/api/predict", {"json": {"image": png_bomb(1025, 10)}}, 413, "image_too_large"),
        ("/api/predict", {"json": {"image": data_url(TINY, ".bmp")}}, 400, "not_image"),
        ("/api/predict", {"json": {"image": PREFIX + "iVBORw0KGgoAAAANSUhEUgAA"}}, 400, "not_image"),
        ("/api/predict", {"json": {"image": data_url(TINY, ".jpg", "image/jpeg")}}, 400, "empty_drawing"),
        ("/predict", {"data": {"nothing": "here"}}, 400, None),
        ("/predict", raw(b"url=%ZZ%00\xff", FORM), 400, None),
        ("/predict", raw(b"--x\r\nbroken", {"Content-Type": "multipart/form-data; boundary=y"}), 400, None),
        ("/predict", {"data": {"url": png_bomb()}}, 413, None),
        ("/predict", {"data": {"url": data_url(TINY, ".bmp")}}, 400, None),
        ("/predict", {"data": {"url": data_url(TINY, ".webp", "image/webp")}}, 400, None),  # blank
    ],
)
def test_malformed_bodies_get_400_and_images_over_the_limits_413(
    server: ServerProcess, route: str, options: dict[str, Any], status: int, code: str | None
) -> None:
    response = requests.post(server.url + route, timeout=30, **options)
    assert response.status_code == status, response.text[:500]
    if code is not None:
        assert response.json()["code"] == code
    else:
        assert f"({status})" in response.text  # the error page


def test_a_huge_real_image_is_refused_before_it_is_decoded(server: ServerProcess) -> None:
    image = np.full((4096, 4096), 255, np.uint8)
    cv2.line(image, (10, 10), (4086, 4086), 0, 8)
    url = data_url(image)
    assert len(url) < 200_000  # a small upload: decoding it would take seconds
    for route, options in (("/predict", {"data": {"url": url}}), ("/api/predict", {"json": {"image": url}})):
        started = time.monotonic()
        response = requests.post(server.url + route, timeout=30, **options)
        assert response.status_code == 413
        assert time.monotonic() - started < 1.0


def test_a_drawing_too_costly_to_rasterize_is_refused_at_once(server: ServerProcess) -> None:
    # 20,000 points zigzagging across the canvas: within the point limit, minutes of rasterizing.
    line = np.zeros((20_000, 2))
    line[1::2, 0] = 1000
    line[:, 1] = np.linspace(0, 1000, len(line))
    started = time.monotonic()
    response = requests.post(
        server.url + "/api/predict", json={"strokes": quickdraw_form([line.tolist()])}, timeout=30
    )
    assert (response.status_code, response.json()["code"]) == (413, "too_much_ink")
    assert time.monotonic() - started < 2.0


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)
@given(
    route=st.sampled_from(["/predict", "/api/predict"]),
    content_type=st.sampled_from(
        [
            "application/json",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=b",
            "text/plain",
            "",
        ]
    ),
    body=st.binary(max_size=300)
    | st.builds(
        lambda s: json.dumps(s).encode(),
        st.recursive(st.none() | st.text(max_size=5) | st.floats(), st.lists),
    )
    | st.text(max_size=100).map(lambda text: f"url={text}".encode()),
)
def test_no_body_ever_gets_a_500(server: ServerProcess, route: str, content_type: str, body: bytes) -> None:
    response = requests.post(
        server.url + route, data=body, headers={"Content-Type": content_type}, timeout=30
    )
    assert response.status_code in (200, 400, 413), (response.status_code, response.text[:300])


# --- limits ---------------------------------------------------------------------------------------------


def test_limits_fit_the_pages_largest_messages_and_nothing_bigger(server: ServerProcess) -> None:
    client = LiveClient().connect(server)
    limits = client.ready[0]["limits"]
    assert limits["max_message_bytes"] == MAX_BYTES
    assert limits["max_image_side"] == 1024
    # The page's 1000×1000 canvas, with the busiest drawing a person made, fits every way in.
    url = page_canvas_png()
    assert 50_000 < len(url) < limits["max_message_bytes"] / 4
    assert requests.post(server.url + "/predict", data={"url": url}, timeout=30).status_code == 200
    assert requests.post(server.url + "/api/predict", json={"image": url}, timeout=30).status_code == 200
    client.emit("snapshot", {"seq": 1, "image": url})
    assert client.prediction(1)["top"]
    # So does the largest drawing the point limit allows, as the page would sync it: a pen going back
    # and forth across the 1000-unit canvas in steps of 0.5 (the page's smallest), coordinates to 0.1.
    rows = limits["max_points"] // 2000
    xs = np.tile(np.concatenate([np.arange(2000), np.arange(2000)[::-1]]) * 0.5, rows // 2 + 1)
    points = np.column_stack([xs[: rows * 2000], np.repeat(np.linspace(0, 1000, rows), 2000)]).round(1)
    strokes = quickdraw_form([points[i : i + 500].tolist() for i in range(0, len(points), 500)])
    frame = json.dumps(["sync", {"seq": 2, "strokes": strokes}], separators=(",", ":"))
    assert len(frame) < limits["max_message_bytes"]
    client.emit("sync", {"seq": 2, "strokes": strokes})
    assert client.prediction(2)["seq"] == 2
    assert client.errors == []
    client.disconnect()
    # One byte over: a frame closes its connection, a body gets 413.
    sock = RawSocket(server)
    sock.send("4" + "2" * limits["max_message_bytes"])
    assert sock.closed_by_server(10)
    body = b"url=" + b"A" * (limits["max_message_bytes"] - 3)
    response = requests.post(server.url + "/predict", data=body, timeout=30, headers=FORM)
    assert response.status_code == 413
    # A side over the limit is refused, whatever the file size.
    small = np.full((1025, 20), 255, np.uint8)
    small[5:15, 5:15] = 0
    response = requests.post(server.url + "/api/predict", json={"image": data_url(small)}, timeout=30)
    assert (response.status_code, response.json()["code"]) == (413, "image_too_large")


# --- security defaults ----------------------------------------------------------------------------------


@pytest.mark.parametrize("origin", ["https://evil.example", "http://127.0.0.1:1", "null"])
def test_socketio_refuses_other_origins(server: ServerProcess, origin: str) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException):
        websocket.create_connection(server.ws_url, timeout=10, origin=origin)
    polling = requests.get(
        server.url + "/socket.io/?EIO=4&transport=polling", headers={"Origin": origin}, timeout=10
    )
    assert polling.status_code == 400
    client = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(server.url, headers={"Origin": origin}, transports=["websocket"], wait_timeout=5)


def test_socketio_accepts_its_own_origin(server: ServerProcess) -> None:
    sock = RawSocket(server, origin=server.url)
    sock.send('42["clear",{"seq":1}]')
    assert sock.take("prediction", 1)[0]["top"] == []
    sock.close()


def test_pages_carry_security_headers_and_run_only_the_apps_own_scripts(server: ServerProcess) -> None:
    page = requests.get(server.url + "/", timeout=10)
    url = canvas_png_data_url(raw_points(drawings("cat")[14]["drawing"]), brush=8)
    responses = [
        page,
        requests.post(server.url + "/predict", data={"url": url}, timeout=30),
        requests.post(server.url + "/predict", data={"url": "nope"}, timeout=30),
        requests.get(server.url + "/nowhere", timeout=10),
        requests.get(server.url + "/healthz", timeout=10),
    ]
    for response in responses:
        policy = dict(
            directive.strip().split(" ", 1)
            for directive in response.headers["Content-Security-Policy"].split(";")
            if directive.strip()
        )
        assert policy["default-src"] == "'self'"
        assert policy["script-src"] == "'self'"
        assert policy["object-src"] == "'none'"
        assert policy["frame-ancestors"] == "'none'"
        assert "unsafe" not in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "Traceback" not in response.text
    html = page.text
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
    assert scripts, "the page has no scripts"
    for attributes, body in scripts:
        assert body.strip() == "", "inline script"
        assert re.search(r'src="/static/[^"]+"', attributes), attributes
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handler"
    for source in re.findall(r'src="([^"]+)"', html):
        assert source.startswith("/static/") or source.startswith("data:"), source


def test_opencv_limits_are_set_before_cv2_is_imported_in_the_server(
    server: ServerProcess, audited: Path
) -> None:
    events = [event for event in audit(audited) if event["kind"] == "cv2"]  # the package, then its binary
    assert events, "cv2 was never imported"
    assert "realtime.core.preprocess" in events[0]["importers"], events[0]["importers"]
    for event in events:
        assert event["limit"] is not None and int(event["limit"]) <= preprocess.MAX_IMAGE_SIDE**2


def test_model_files_come_only_from_the_configured_folder(server: ServerProcess, audited: Path) -> None:
    opened = {Path(event["path"]) for event in audit(audited) if event["kind"] == "open"}
    weights = {path for path in opened if path.suffix not in (".json",)}
    assert weights == {MODEL.resolve() / "model.tflite"}  # never model.keras, never anything pickled
    ours = {path for path in opened if path.is_relative_to(ROOT) and not path.is_relative_to(ROOT / ".venv")}
    assert ours == {MODEL.resolve() / name for name in ("model.tflite", "labels.json", "calibration.json")}


@pytest.mark.parametrize(
    "name", ["../trainer", "/etc", "animals6/../../trainer", "..", ".hidden", "a" * 100, ""]
)
def test_model_names_cannot_leave_the_models_folder(name: str) -> None:
    with pytest.raises(ModelError):
        Recognizer.from_name(name)


def test_a_symlink_out_of_the_models_folder_is_refused(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / "escape").symlink_to(MODEL.resolve())
    with pytest.raises(ModelError, match="outside"):
        Recognizer.from_name("escape", models_dir=models)


def test_nothing_in_the_repository_unpickles() -> None:
    forbidden = re.compile(
        r"\bimport\s+(c?pickle|joblib|dill|shelve|marshal)\b|\bfrom\s+(c?pickle|joblib|dill|shelve)\b"
        r"|\b(pickle|joblib|dill|marshal)\.loads?\b|allow_pickle\s*=\s*True|torch\.load\(|yaml\.load\("
    )
    sources = [
        path
        for path in ROOT.rglob("*.py")
        if not {".venv", ".git", "node_modules"} & set(path.relative_to(ROOT).parts)
        and path != Path(__file__)
    ]
    assert len(sources) > 20
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sources
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if forbidden.search(line)
    ]
    assert offenders == []
    np_loads = [
        f"{path.relative_to(ROOT)}: {line.strip()}"
        for path in sources
        for line in path.read_text(encoding="utf-8").splitlines()
        if "np.load(" in line and "allow_pickle" in line and "allow_pickle=False" not in line
    ]
    assert np_loads == []
    pickles = [
        p
        for suffix in ("pkl", "pickle", "joblib")
        for p in ROOT.rglob(f"*.{suffix}")
        if ".venv" not in p.parts
    ]
    assert pickles == []
