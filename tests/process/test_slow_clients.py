"""Slow clients: connections that never finish their request headers are closed after HEADER_TIMEOUT.

Each connection eventlet serves holds one of its request slots. Without a deadline, about as many
half-open connections as there are slots (MAX_CONNECTIONS + 256) lock everyone else out for good. With
it, they are closed after HEADER_TIMEOUT (default 10 s), while established WebSockets and long-polling
sessions, which are idle for longer than that between messages, stay open.
"""

from __future__ import annotations

import contextlib
import errno
import math
import socket
import time
from collections.abc import Iterator

import pytest
import requests

from harness.page import stream_drawing
from harness.processes import ServerProcess
from harness.quickdraw import drawings
from tests.support.live import LiveClient
from tests.support.servers import ServerLauncher, raise_file_limit

HALF_OPEN = 1500


def draw(client: LiveClient, word: str, first_seq: int = 1) -> str:
    """Clear, then stream a real drawing as the page batches it; return the top guess for the whole of it."""
    client.emit("clear", {"seq": first_seq})
    last = stream_drawing(client.emit, drawing(word), first_seq=first_seq + 1, speed=math.inf)
    return client.prediction(last, timeout=20)["top"][0]["label"]


def drawing(word: str) -> list:
    """Return a held-out raw drawing of `word` (the trainer's test split)."""
    return {"cat": drawings("cat")[14], "fish": drawings("fish")[22]}[word]["drawing"]


def open_half_open(port: int, count: int, batch: int = 25) -> list[socket.socket]:
    """Open `count` connections that send the start of a request line and never finish it.

    They are opened a batch at a time, so that the server's listen backlog (50) does not overflow and
    drop their handshakes: every one reaches the server within about a second.
    """
    sockets = []
    for start in range(0, count, batch):
        for _ in range(min(batch, count - start)):
            s = socket.socket()
            s.setblocking(False)
            code = s.connect_ex(("127.0.0.1", port))
            assert code in (0, errno.EINPROGRESS), errno.errorcode.get(code)
            sockets.append(s)
        time.sleep(0.02)
    time.sleep(0.5)
    for s in sockets:
        # One still waiting in the listen backlog cannot send yet: it will simply never send anything.
        with contextlib.suppress(OSError):
            s.send(b"GET / HTTP/1.1\r\n")
    return sockets


@pytest.fixture
def many_files() -> Iterator[None]:
    """Let this process (and the servers it starts) open a few thousand sockets."""
    raise_file_limit(HALF_OPEN + 1000)
    yield


def test_half_open_connections_cannot_lock_out_new_clients(
    start_server: ServerLauncher, many_files: None
) -> None:
    server = start_server()  # HEADER_TIMEOUT defaults to 10 s
    early = LiveClient().connect(server)  # a drawer who was there before the flood
    assert draw(early, "cat") == "cat"
    started = time.monotonic()
    attackers = open_half_open(server.port, HALF_OPEN)
    try:
        # The flood works: every request slot is held, a new page load does not get through.
        with pytest.raises(requests.RequestException):
            requests.get(server.url + "/", timeout=3)
        time.sleep(max(0.0, 15.0 - (time.monotonic() - started)))
        page = requests.get(server.url + "/", timeout=10)
        assert page.status_code == 200
        late = LiveClient().connect(server)
        assert draw(late, "fish") == "fish"
        # The early drawer's WebSocket was idle for longer than HEADER_TIMEOUT and is still served.
        assert early.sio.connected
        assert draw(early, "cat", first_seq=1000) == "cat"
        late.disconnect()
        early.disconnect()
    finally:
        for s in attackers:
            s.close()
    assert "Traceback" not in server.log_text()


@pytest.fixture
def quick_timeout_server(start_server: ServerLauncher) -> ServerProcess:
    """A server that gives request headers 2 s."""
    return start_server(env={"HEADER_TIMEOUT": "2"})


def test_headers_sent_a_byte_at_a_time_are_cut_at_the_deadline(quick_timeout_server: ServerProcess) -> None:
    drip = socket.create_connection(("127.0.0.1", quick_timeout_server.port))
    drip.sendall(b"GET / HTTP/1.1\r\n")
    start = time.monotonic()
    while time.monotonic() - start < 8:
        try:
            drip.sendall(b"X")  # a header, one byte every 0.25 s: each read makes progress
            drip.settimeout(0.25)
            if drip.recv(4096) == b"":
                break
        except TimeoutError:
            continue
        except OSError:  # reset by the server
            break
    closed = time.monotonic() - start
    drip.close()
    assert 1.5 < closed < 4.0, f"closed after {closed:.2f} s"


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_live_sessions_idle_past_the_deadline_stay_open(
    quick_timeout_server: ServerProcess, transport: str
) -> None:
    client = LiveClient()
    client.sio.connect(quick_timeout_server.url, transports=[transport], wait_timeout=10)
    assert client.wait(lambda: client.ready, 10)
    time.sleep(5)  # idle for 2.5 times HEADER_TIMEOUT
    assert client.sio.connected
    assert draw(client, "fish") == "fish"
    client.disconnect()
