"""`python -m harness.cluster`: two workers behind real nginx, sharing a real redis-server, on loopback.

Clients connect to nginx only. WebSocket clients from one address are spread over both workers; long-polling
clients stay on the worker that holds their session (the balancer follows the worker's cookie).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness.cluster import render_nginx
from harness.page import stream_drawing
from harness.quickdraw import drawings
from tests.support.cluster import TOKEN, Balancer
from tests.support.live import LiveClient

DRAWINGS = [("fish", 22), ("cat", 14), ("giraffe", 0)]  # held out by the trainer; the model gets them right


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Balancer]:
    """Two workers behind nginx, for the module."""
    balancer = Balancer(tmp_path_factory.mktemp("cluster") / "cluster.log")
    yield balancer
    balancer.stop()


def draw(client: LiveClient, word: str, index: int) -> str:
    """Stream a real drawing as the page batches it; return the top guess for the whole of it."""
    last = stream_drawing(client.emit, drawings(word)[index]["drawing"])
    return client.prediction(last, timeout=30)["top"][0]["label"]


def in_parallel(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(i) for i < count on threads; return the results in order."""
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        results[i] = work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


def test_websocket_clients_are_spread_over_the_workers_and_guessed_right(cluster: Balancer) -> None:
    clients = in_parallel(40, lambda _: LiveClient().connect_url(cluster.url, ["websocket"]))
    nodes = Counter(client.ready[0]["node"] for client in clients)
    assert set(nodes) == {"w1", "w2"} and min(nodes.values()) >= 10, nodes
    guesses = in_parallel(40, lambda i: draw(clients[i], *DRAWINGS[i % len(DRAWINGS)]))
    assert guesses == [DRAWINGS[i % len(DRAWINGS)][0] for i in range(40)]
    for client in clients:
        client.disconnect()


def test_long_polling_clients_stay_with_their_worker(cluster: Balancer) -> None:
    clients = in_parallel(6, lambda _: LiveClient().connect_url(cluster.url, ["polling"]))
    assert {client.ready[0]["node"] for client in clients} == {"w1", "w2"}
    guesses = in_parallel(6, lambda i: draw(clients[i], *DRAWINGS[i % len(DRAWINGS)]))
    assert guesses == [DRAWINGS[i % len(DRAWINGS)][0] for i in range(6)]
    assert all(not client.errors for client in clients)
    for client in clients:
        client.disconnect()


def admin_reload(cluster: Balancer, model: str) -> dict[str, Any]:
    """Ask the cluster, through nginx, to serve another model."""
    request = urllib.request.Request(
        cluster.url + "/admin/reload",
        data=json.dumps({"model": model}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def test_a_reload_reaches_every_client_on_every_worker_within_2_s(cluster: Balancer) -> None:
    clients = in_parallel(12, lambda _: LiveClient().connect_url(cluster.url, ["websocket"]))
    assert {client.ready[0]["node"] for client in clients} == {"w1", "w2"}
    for client in clients:
        client.emit("sync", {"seq": 1, "strokes": drawings("cat")[14]["drawing"]})
    assert all(client.prediction(1)["top"][0]["label"] == "cat" for client in clients)
    try:
        started = time.monotonic()
        answer = admin_reload(cluster, "everyday20")
        assert answer["processes"] == "all"
        for client in clients:
            assert client.wait(lambda c=client: c.models, 2.0 - (time.monotonic() - started) + 0.05)
            assert client.models[-1] == {"model": answer["model"], "labels": answer["labels"]}
        assert time.monotonic() - started < 2.0
        for client in clients:  # the open drawing, predicted again with the new model (cat is in both)
            assert client.wait(lambda c=client: c.predictions[-1]["model"] == answer["model"], 5)
            assert client.predictions[-1]["seq"] == 1 and client.predictions[-1]["top"][0]["label"] == "cat"
    finally:
        admin_reload(cluster, "animals6")
    for client in clients:
        client.disconnect()


def test_a_worker_that_dies_is_started_again_with_a_line_saying_so(cluster: Balancer) -> None:
    victim = cluster.workers()[0]
    victim.send_signal(signal.SIGKILL)
    deadline = time.monotonic() + 60
    while "is back on port" not in cluster.log_text():
        assert time.monotonic() < deadline, cluster.log_text()[-3000:]
        time.sleep(0.2)
    assert "exited with status -9: starting it again" in cluster.log_text()
    with urllib.request.urlopen(cluster.url + "/healthz", timeout=10) as response:
        assert response.status == 200


class SyncingClient(LiveClient):
    """A live client that, as the page does, sends its whole drawing (`sync`) whenever it reconnects."""

    def __init__(self) -> None:
        super().__init__(reconnection=True, reconnection_delay=0.2, reconnection_delay_max=1)
        self.strokes: list[list[list[float]]] = []  # Quick, Draw! form, as sent so far
        self.seq = 0

    def _connected(self) -> None:
        if self.connects:  # a reconnection: the new process knows nothing of this drawing
            self.seq += 1
            self.sio.emit("sync", {"seq": self.seq, "strokes": self.strokes})
        super()._connected()

    def send_strokes(self, drawing: list) -> int:
        """Send whole strokes (`sync` of all strokes so far, as after a reconnect); return the last seq."""
        for xs, ys, *_ in drawing:
            self.strokes.append([list(xs), list(ys)])
            self.seq += 1
            self.emit("sync", {"seq": self.seq, "strokes": self.strokes})
            time.sleep(0.02)
        return self.seq


def worker_pid(cluster: Balancer, node: str) -> int:
    """Return the pid of the worker called `node`."""
    for process in cluster.workers():
        port = process.cmdline()[process.cmdline().index("--port") + 1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
            if json.load(response)["node"] == node:
                return process.pid
    raise AssertionError(f"no worker {node}")


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_a_worker_going_away_loses_no_drawing(cluster: Balancer, how: signal.Signals) -> None:
    clients = in_parallel(10, lambda _: SyncingClient().connect_url(cluster.url, ["websocket"]))
    words = [DRAWINGS[i % len(DRAWINGS)] for i in range(10)]
    records = [drawings(word)[index]["drawing"] for word, index in words]
    halves = [len(record) // 2 for record in records]
    in_parallel(10, lambda i: clients[i].prediction(clients[i].send_strokes(records[i][: halves[i]])))
    node = clients[0].ready[0]["node"]
    affected = [client for client in clients if client.ready[0]["node"] == node]
    pid = worker_pid(cluster, node)
    started = time.monotonic()
    os.kill(pid, how)
    while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() - started < 10, "the worker did not exit within 10 s"
        time.sleep(0.05)
    for client in affected:
        assert client.wait(lambda c=client: c.connects >= 2, 20), cluster.log_text()[-2500:]
    last = in_parallel(10, lambda i: clients[i].send_strokes(records[i][halves[i] :]))
    guesses = [clients[i].prediction(last[i], timeout=20)["top"][0]["label"] for i in range(10)]
    assert guesses == [word for word, _ in words]  # each covers the whole drawing: nothing was lost
    for client in clients:
        client.disconnect()


def test_sigterm_stops_every_child(tmp_path: Path) -> None:
    balancer = Balancer(tmp_path / "cluster.log", workers=1)
    family = balancer.family()
    assert {p.name() for p in family} >= {"redis-server", "nginx"}, [p.name() for p in family]
    balancer.stop()
    assert balancer.process.returncode == 0, balancer.log_text()[-3000:]
    _, alive = psutil.wait_procs(family, timeout=10)
    assert alive == [], alive
    assert "Traceback" not in balancer.log_text()
    lines = [line for line in balancer.log_text().splitlines() if line.strip()]
    assert all(" | " in line for line in lines), [line for line in lines if " | " not in line][:5]


def test_the_nginx_template_fills_in_to_a_valid_configuration(tmp_path: Path) -> None:
    workers = [("w1", 40001), ("w2", 40002), ("w3", 40003)]
    text = render_nginx(workers, "127.0.0.1:40000", tmp_path, 2048, 10.0)
    assert "{{" not in text
    assert (
        "upstream node_w2 { server 127.0.0.1:40002 max_fails=0; server 127.0.0.1:40001 max_fails=0 backup;"
        in text
    )
    assert "        w3 node_w3;" in text and "listen 127.0.0.1:40000;" in text
    for folder in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / folder).mkdir()
    conf = tmp_path / "nginx.conf"
    conf.write_text(text)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    checked = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(conf), "-e", "stderr"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
