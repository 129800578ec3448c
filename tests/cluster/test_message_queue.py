"""REDIS_URL: server processes share Flask-SocketIO's Redis message queue; Redis trouble never stops guesses.

A real `redis-server` on a free loopback port, started and stopped by each test. What goes through the
queue is what one process sends to clients of others (here: an emitter in the test process, as Flask-SocketIO
documents for external processes); answers to a connection never do, so a stalled or stopped Redis cannot
hold up live guesses.
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio

from harness.page import stream_drawing
from harness.processes import RedisProcess, ServerProcess
from harness.quickdraw import drawings
from tests.support.live import LiveClient
from tests.support.servers import ServerLauncher

CHANNEL = "realtime"  # the message queue's channel (realtime.server.create_app)


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisProcess]:
    """A private redis-server, stopped afterwards."""
    server = RedisProcess(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


class Listener(LiveClient):
    """A live client that also records `note` events (sent through the queue by the test)."""

    def __init__(self) -> None:
        super().__init__()
        self.notes: list[Any] = []

        @self.sio.on("note")
        def note(payload: Any) -> None:
            with self.changed:
                self.notes.append(payload)
                self.changed.notify_all()


def external_emit(url: str, *args: Any, **kwargs: Any) -> None:
    """Emit through the queue from outside any server, as Flask-SocketIO documents for other processes."""
    socketio.RedisManager(url, channel=CHANNEL, write_only=True).emit(*args, **kwargs)


def stream(client: LiveClient, word: str, index: int, first_seq: int) -> tuple[str, float]:
    """Clear, stream a real drawing as the page batches it; return its top guess and the seconds it took."""
    started = time.monotonic()
    client.emit("clear", {"seq": first_seq})
    last = stream_drawing(client.emit, drawings(word)[index]["drawing"], first_seq=first_seq + 1)
    return client.prediction(last, timeout=10)["top"][0]["label"], time.monotonic() - started


def readiness(server: ServerProcess) -> tuple[int, str]:
    """Return /readyz's status and what it says of Redis."""
    answer = requests.get(server.url + "/readyz", timeout=10)
    return answer.status_code, answer.json()["redis"]


def test_processes_sharing_redis_reach_each_others_clients(
    start_server: ServerLauncher, redis: RedisProcess
) -> None:
    servers = [start_server(env={"REDIS_URL": redis.url, "NODE_NAME": name}) for name in ("w1", "w2")]
    clients = [Listener().connect(server) for server in servers]
    assert [client.ready[0]["node"] for client in clients] == ["w1", "w2"]
    assert [server.health()["node"] for server in servers] == ["w1", "w2"]
    external_emit(redis.url, "note", {"to": "everyone"})
    for client in clients:
        assert client.wait(lambda c=client: c.notes, 10), "a broadcast did not arrive"
    sid = clients[1].sio.get_sid()
    external_emit(redis.url, "note", {"to": "w2's client"}, to=sid)
    assert clients[1].wait(lambda: len(clients[1].notes) == 2, 10)
    time.sleep(0.5)
    assert clients[0].notes == [{"to": "everyone"}]  # only its addressee gets a targeted message
    for client in clients:
        client.disconnect()


def test_live_guesses_go_on_while_redis_stalls_or_is_down(
    start_server: ServerLauncher, redis: RedisProcess
) -> None:
    server: ServerProcess = start_server(env={"REDIS_URL": redis.url})
    clients = [Listener().connect(server) for _ in range(5)]
    assert redis.process is not None and redis.ping()

    def everyone_draws(first_seq: int) -> list[tuple[str, float]]:
        """Let all clients stream a drawing at once (under eventlet, on one event loop)."""
        results: list[tuple[str, float]] = [("", 0.0)] * len(clients)

        def draw(i: int) -> None:
            results[i] = stream(clients[i], "cat" if i % 2 else "fish", 14 if i % 2 else 22, first_seq)

        threads = [threading.Thread(target=draw, args=(i,)) for i in range(len(clients))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        return results

    expected = ["fish" if i % 2 == 0 else "cat" for i in range(len(clients))]
    assert [label for label, _ in everyone_draws(1)] == expected
    assert readiness(server) == (200, "ok")
    os.kill(redis.process.pid, signal.SIGSTOP)  # Redis hangs: its socket stays open, nothing answers
    try:
        assert not redis.ping()
        stalled = everyone_draws(1000)
    finally:
        os.kill(redis.process.pid, signal.SIGCONT)
    assert [label for label, _ in stalled] == expected
    assert max(seconds for _, seconds in stalled) < 5, stalled
    redis.stop()  # Redis gone
    assert [label for label, _ in everyone_draws(2000)] == expected
    assert readiness(server) == (503, "unreachable")  # alive (/healthz), but not fit to join a cluster
    time.sleep(2)
    redis.start()  # back, on the same port: the queue works again without a restart
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not clients[0].notes:
        external_emit(redis.url, "note", {"back": True})
        clients[0].wait(lambda: clients[0].notes, 1)
    assert clients[0].notes, "the queue did not recover after Redis came back"
    assert readiness(server) == (200, "ok")
    for client in clients:
        client.disconnect()
    log = server.log_text().splitlines()
    complaints = [
        line for line in log if "redis" in line.lower() and (" ERROR " in line or " WARNING " in line)
    ]
    assert 1 <= len(complaints) <= 10, complaints  # a few clear lines, not one per message
    assert "Traceback" not in server.log_text()


TOKEN = "queue-test-token-0123456789"


def reload_via(server: ServerProcess, model: str) -> requests.Response:
    """Ask one process to switch every process to `model`."""
    return requests.post(
        server.url + "/admin/reload",
        json={"model": model},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )


def test_a_reload_reaches_every_process_and_waits_out_a_redis_outage(
    start_server: ServerLauncher, redis: RedisProcess, tmp_path: Path
) -> None:
    # With the token the servers keep taught words: in the test's folder, not data/.
    env = {"REDIS_URL": redis.url, "ADMIN_TOKEN": TOKEN, "DATABASE_URL": f"sqlite:///{tmp_path / 'words.db'}"}
    servers = [start_server(env={**env, "NODE_NAME": name}) for name in ("w1", "w2")]
    clients = [Listener().connect(server) for server in servers]
    answer = reload_via(servers[0], "everyday20")
    assert answer.status_code == 200, answer.text
    for client in clients:
        assert client.wait(lambda c=client: c.models, 5), "a process did not switch"
        assert client.models[-1]["model"] == answer.json()["model"]
    redis.stop()
    refused = reload_via(servers[1], "animals6")
    assert (refused.status_code, refused.json()["code"]) == (503, "redis_unreachable")
    time.sleep(1)
    assert all(len(client.models) == 1 for client in clients)  # nothing changed anywhere
    assert all(server.health()["version"] == answer.json()["model"] for server in servers)
    redis.start()
    deadline = time.monotonic() + 40
    while not all(len(client.models) == 2 for client in clients):  # the listeners come back with backoff
        assert time.monotonic() < deadline, [len(client.models) for client in clients]
        if reload_via(servers[1], "animals6").status_code == 200:
            for client in clients:
                client.wait(lambda c=client: len(c.models) == 2, 2)
        else:
            time.sleep(1)
    assert all(server.health()["model"] == "animals6" for server in servers)
    for client in clients:
        client.disconnect()
    assert all("Traceback" not in server.log_text() for server in servers)


class TlsRedis(RedisProcess):
    """redis-server speaking TLS only, with a self-signed certificate (as Heroku's Redis add-on does)."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.url = f"rediss://127.0.0.1:{self.port}/0"
        self.cert, self.key = folder / "redis.crt", folder / "redis.key"

    def command(self) -> list[str]:
        """Make a certificate on first use; serve TLS on the port, nothing in plain text."""
        if not self.cert.exists():
            subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                 "-subj", "/CN=redis", "-keyout", str(self.key), "-out", str(self.cert)],
                check=True, capture_output=True, timeout=60,
            )  # fmt: skip
        plain = super().command()
        plain[plain.index("--port") + 1] = "0"
        return [*plain, "--tls-port", str(self.port), "--tls-cert-file", str(self.cert),
                "--tls-key-file", str(self.key), "--tls-auth-clients", "no"]  # fmt: skip

    def ping(self) -> bool:
        """Tell whether the server answers PING over TLS."""
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        try:
            with (
                socket.create_connection(("127.0.0.1", self.port), timeout=1) as raw,
                context.wrap_socket(raw) as conn,
            ):
                conn.sendall(b"PING\r\n")
                return conn.recv(64).startswith(b"+PONG")
        except OSError:
            return False


def test_rediss_urls_work(start_server: ServerLauncher, tmp_path: Path) -> None:
    redis = TlsRedis(tmp_path / "tls-redis")
    redis.start()
    try:
        env = {"REDIS_URL": redis.url, "REDIS_SSL_CERT_REQS": "none"}  # as for Heroku's Redis add-on
        servers = [start_server(env={**env, "NODE_NAME": name}) for name in ("w1", "w2")]
        clients = [Listener().connect(server) for server in servers]
        external_emit(redis.url + "?ssl_cert_reqs=none", "note", {"over": "tls"})
        assert all(client.wait(lambda c=client: c.notes, 10) for client in clients)
        assert all(readiness(server) == (200, "ok") for server in servers)
        for client in clients:
            client.disconnect()
    finally:
        redis.stop()
