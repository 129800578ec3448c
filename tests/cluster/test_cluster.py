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
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests

from harness.cluster import render_nginx
from harness.page import stream_drawing
from harness.quickdraw import drawings
from realtime.core import images, preprocess
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


class PageClient(LiveClient):
    """A live client that sends what the drawing page sends (static/live.js, static/app.js).

    New points only, in batches (`stroke_points`), and `stroke_end` when the pen lifts; on every connection
    after the first (the server's drawing starts empty), the whole drawing once: `sync` of the finished
    strokes, then the stroke being drawn as points. Like a browser, it keeps its cookies between
    connections (the balancer's realtime_node).
    """

    BATCH = 8  # points per `stroke_points`, about what the page sends per 33 ms

    def __init__(self) -> None:
        self.http = requests.Session()
        super().__init__(
            reconnection=True, reconnection_delay=0.2, reconnection_delay_max=1, http_session=self.http
        )
        self.finished: list[list[list[float]]] = []  # [x, y] points per finished stroke
        self.current: list[list[float]] = []  # the stroke being drawn
        self.seq = 0

    def _send(self, event: str, payload: dict[str, Any]) -> int:
        """Number a message and send it; return its seq."""
        self.seq += 1
        self.sio.emit(event, {"seq": self.seq, **payload})
        return self.seq

    def _connected(self) -> None:
        if self.connects:
            self._send("sync", {"strokes": [[[x for x, _ in s], [y for _, y in s]] for s in self.finished]})
            if self.current:
                self._send("stroke_points", {"points": self.current})
        super()._connected()

    def draw(
        self, record: list[Any], start: tuple[int, int] = (0, 0), stop: tuple[int, int] | None = None
    ) -> int:
        """Draw a raw record's points from `start` to `stop` ((stroke, point) pairs; None: to the end) as
        the page does, lifting the pen at each stroke's end; return the last seq."""
        stop = stop or (len(record), 0)
        for index in range(start[0], min(stop[0] + 1, len(record))):
            xs, ys, *_ = record[index]
            first = start[1] if index == start[0] else 0
            last = stop[1] if index == stop[0] else len(xs)
            points = [[float(x), float(y)] for x, y in zip(xs[first:last], ys[first:last], strict=True)]
            for begin in range(0, len(points), self.BATCH):
                self.current += points[begin : begin + self.BATCH]
                self._send("stroke_points", {"points": points[begin : begin + self.BATCH]})
                time.sleep(0.01)
            if last == len(xs) and self.current:  # not if the pen was lifted before `start`
                self.finished.append(self.current)
                self.current = []
                self._send("stroke_end", {})
        return self.seq


def answering(cluster: Balancer, node: str) -> str:
    """Return the node that answers /healthz for a client whose realtime_node cookie names `node`."""
    request = urllib.request.Request(cluster.url + "/healthz", headers={"Cookie": f"realtime_node={node}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["node"]


def every_worker_answers(cluster: Balancer) -> None:
    """Wait until each worker answers its own cookie (one killed by an earlier test is back)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            if [answering(cluster, node) for node in ("w1", "w2")] == ["w1", "w2"]:
                return
        except urllib.error.HTTPError:  # 502: one is down, and nginx has no backup for it
            pass
        assert time.monotonic() < deadline, cluster.log_text()[-3000:]
        time.sleep(0.2)


def worker_pid(cluster: Balancer, node: str) -> int:
    """Return the pid of the worker called `node`."""
    for process in cluster.workers():
        port = process.cmdline()[process.cmdline().index("--port") + 1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
            if json.load(response)["node"] == node:
                return process.pid
    raise AssertionError(f"no worker {node}")


def end(pid: int, how: signal.Signals) -> None:
    """Send a worker a signal and wait until it has exited (within 10 s)."""
    started = time.monotonic()
    os.kill(pid, how)
    while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() - started < 10, "the worker did not exit within 10 s"
        time.sleep(0.05)


def test_a_worker_that_dies_is_started_again_with_a_line_saying_so(cluster: Balancer) -> None:
    every_worker_answers(cluster)
    client = PageClient().connect_url(cluster.url, ["polling"])
    victim = client.ready[0]["node"]
    other = {"w1": "w2", "w2": "w1"}[victim]
    assert client.http.cookies.get("realtime_node") == victim
    client.prediction(client.draw(drawings("cat")[14]["drawing"]), timeout=30)
    pid, restarts = worker_pid(cluster, victim), cluster.log_text().count("is back on port")
    end(pid, signal.SIGKILL)
    # While it is down, nginx's backup takes its clients: a request that names it is answered...
    assert answering(cluster, victim) == other
    # ...and its long-polling client reconnects there, sends its drawing again and gets it guessed.
    assert client.wait(lambda: client.connects >= 2, 20), cluster.log_text()[-2500:]
    assert client.ready[-1]["node"] == other and client.http.cookies.get("realtime_node") == other
    assert client.prediction(client.seq, timeout=30)["top"][0]["label"] == "cat"
    deadline = time.monotonic() + 60
    while cluster.log_text().count("is back on port") == restarts:
        assert time.monotonic() < deadline, cluster.log_text()[-3000:]
        time.sleep(0.2)
    assert f"{victim} exited with status -9: starting it again" in cluster.log_text()
    assert answering(cluster, victim) == victim and worker_pid(cluster, victim) != pid  # a new process
    client.disconnect()


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_a_worker_going_away_loses_no_drawing(cluster: Balancer, how: signal.Signals) -> None:
    every_worker_answers(cluster)
    clients = in_parallel(
        10, lambda _: PageClient().connect_url(cluster.url, ["websocket"], auth={"see_bitmap": True})
    )
    words = [DRAWINGS[i % len(DRAWINGS)] for i in range(10)]
    records = [drawings(word)[index]["drawing"] for word, index in words]
    # Cut in the middle of the middle stroke: the worker goes away while the pen is down.
    cuts = [(len(record) // 2, (len(record[len(record) // 2][0]) + 1) // 2) for record in records]
    in_parallel(10, lambda i: clients[i].prediction(clients[i].draw(records[i], stop=cuts[i])))
    node = clients[0].ready[0]["node"]
    affected = [client for client in clients if client.ready[0]["node"] == node]
    end(worker_pid(cluster, node), how)
    for client in affected:
        assert client.wait(lambda c=client: c.connects >= 2, 20), cluster.log_text()[-2500:]
    last = in_parallel(10, lambda i: clients[i].draw(records[i], start=cuts[i]))
    for i, client in enumerate(clients):
        prediction = client.prediction(last[i], timeout=20)
        # The server holds the whole drawing, what was sent before the reconnection included.
        expected = images.bitmap_to_png_data_url(preprocess.rasterize_quickdraw(records[i]))
        assert prediction["bitmap"] == expected, (i, client.ready[-1]["node"], node)
        assert prediction["top"][0]["label"] == words[i][0]
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
