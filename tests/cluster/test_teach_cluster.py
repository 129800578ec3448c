"""Taught words across processes: `python -m harness.cluster` (two workers behind real nginx, a real
redis-server between them) serving the shipped default model, keeping words in one database (a SQLite file
both workers share, and a real PostgreSQL).

A word taught and kept on one worker is every connection's on the other at once: its open drawings are
predicted again with it. Deleted on the admin route of one worker, every worker forgets it at once.
"""

from __future__ import annotations

import json
import math
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import psutil
import psycopg
import pytest

from realtime.model.words import MIN_EXAMPLES
from tests.support.cluster import TOKEN, Balancer
from tests.support.live import LiveClient
from tests.support.postgres import PostgresProcess

WORD = "Curly Spiral"
# A spiral drawn from the middle out, as points of one stroke on the page's 1000×1000 canvas.
SPIRAL = [[500 + 7 * t * math.cos(t / 4), 500 + 7 * t * math.sin(t / 4)] for t in range(0, 64)]
AT_ONCE_S = 2.0


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Balancer]:
    """Two workers behind nginx keeping taught words in one database, for the module."""
    folder = tmp_path_factory.mktemp(f"teach-cluster-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{folder / 'words.sqlite3'}"
    else:
        server: PostgresProcess = request.getfixturevalue("postgres")
        with psycopg.connect(server.url, autocommit=True) as connection:
            connection.execute("DROP DATABASE IF EXISTS teach_cluster")
            connection.execute("CREATE DATABASE teach_cluster")
        url = server.url.rsplit("/", 1)[0] + "/teach_cluster"
    balancer = Balancer(folder / "cluster.log", env={"DATABASE_URL": url})
    yield balancer
    balancer.stop()


class TeachingClient(LiveClient):
    """A live client that also records the teaching replies (`taught`, `words`) and draws one stroke."""

    def __init__(self) -> None:
        super().__init__()
        self.taught: list[dict[str, Any]] = []
        self.words: list[dict[str, Any]] = []
        for name, store in (("taught", self.taught), ("words", self.words)):
            self.sio.on(name, self._keeper(store))
        self.seq = 0

    def _keeper(self, store: list[dict[str, Any]]) -> Any:
        def record(payload: dict[str, Any]) -> None:
            with self.changed:
                store.append(payload)
                self.changed.notify_all()

        return record

    def draw(self, points: list[list[float]]) -> int:
        """Clear the canvas and draw one stroke; return the last seq."""
        for event, payload in (("clear", {}), ("stroke_points", {"points": points}), ("stroke_end", {})):
            self.seq += 1
            self.emit(event, {"seq": self.seq, **payload})
        return self.seq

    def top(self) -> str | None:
        """Return the top guess of the newest prediction (None: nothing recognised)."""
        top = self.predictions[-1]["top"] if self.predictions else []
        return top[0]["label"] if top else None


def on_node(cluster: Balancer, node: str) -> TeachingClient:
    """Connect through nginx to worker `node` (w1 or w2): the balancer follows the worker's cookie."""
    client = TeachingClient()
    client.connect_url(cluster.url, ["websocket"], headers={"Cookie": f"realtime_node={node}"})
    assert client.ready[0]["node"] == node
    return client


def admin_delete(cluster: Balancer, node: str, word: str) -> dict[str, Any]:
    """Delete a kept word through nginx, on worker `node`."""
    request = urllib.request.Request(
        cluster.url + "/admin/api/words/" + urllib.request.quote(word, safe=""),
        method="DELETE",
        headers={"Authorization": f"Bearer {TOKEN}", "Cookie": f"realtime_node={node}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def worker(cluster: Balancer, node: str) -> psutil.Process:
    """Return the server process called `node`."""
    for process in cluster.workers():
        port = process.cmdline()[process.cmdline().index("--port") + 1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
            if json.load(response)["node"] == node:
                return process
    raise AssertionError(f"no worker {node}")


def teach(client: TeachingClient, word: str) -> None:
    """Teach `word` MIN_EXAMPLES drawings of the spiral, then keep it for everyone."""
    for n in range(1, MIN_EXAMPLES + 1):
        client.prediction(client.draw(SPIRAL), timeout=10)
        client.emit("teach_example", {"word": word})
        assert client.wait(lambda n=n: len(client.taught) == n, 10), client.errors
    assert client.taught[-1]["ready"]
    assert client.wait(lambda: client.top() == word, AT_ONCE_S), "the teacher's own word first"
    client.emit("teach_keep", {"word": word})
    assert client.wait(lambda: client.words, 10), client.errors
    assert client.words[-1]["kept"] == [word]


def test_a_word_kept_on_one_worker_is_guessed_on_the_other_at_once_and_deleted_everywhere(
    cluster: Balancer,
) -> None:
    teacher, far = on_node(cluster, "w1"), on_node(cluster, "w2")
    try:
        # The far client's drawing is open before the word exists: it must be predicted again with it.
        far.prediction(far.draw(SPIRAL), timeout=10)
        assert far.top() != WORD
        teach(teacher, WORD)
        kept = time.monotonic()
        assert far.wait(lambda: far.top() == WORD, AT_ONCE_S), (
            far.predictions[-1],
            cluster.log_text()[-2000:],
        )
        assert time.monotonic() - kept < AT_ONCE_S
        # Deleted on the far worker's admin route: the teacher's worker forgets it at once.
        assert admin_delete(cluster, "w2", WORD) == {"word": WORD, "deleted": True}
        deleted = time.monotonic()
        assert teacher.wait(lambda: teacher.top() != WORD, AT_ONCE_S), teacher.predictions[-1]
        assert far.wait(lambda: far.top() != WORD, AT_ONCE_S), far.predictions[-1]
        assert time.monotonic() - deleted < AT_ONCE_S
        teacher.emit("teach_words", {})
        assert teacher.wait(lambda: len(teacher.words) == 2, 10) and teacher.words[-1]["kept"] == []
        assert not teacher.errors and not far.errors
    finally:
        teacher.disconnect()
        far.disconnect()


def test_kept_words_are_loaded_by_a_worker_started_again(cluster: Balancer) -> None:
    teacher = on_node(cluster, "w1")
    try:
        teach(teacher, WORD)
    finally:
        teacher.disconnect()
    restarts = cluster.log_text().count("is back on port")
    worker(cluster, "w2").kill()
    deadline = time.monotonic() + 60
    while cluster.log_text().count("is back on port") == restarts:
        assert time.monotonic() < deadline, cluster.log_text()[-3000:]
        time.sleep(0.2)
    fresh = on_node(cluster, "w2")
    try:
        fresh.prediction(fresh.draw(SPIRAL), timeout=10)
        assert fresh.top() == WORD
        assert admin_delete(cluster, "w2", WORD)["deleted"]
    finally:
        fresh.disconnect()
